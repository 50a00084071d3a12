"""The spectral loss: blind to the lag between the face pulse and the reference PPG, not to the rate."""

from __future__ import annotations

import math

import torch

from benchmark.methods.losses import create_loss, negative_pearson


def _pulse(hz: float, lag_s: float = 0.0, n: int = 128, fps: float = 30.0) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float32) / fps
    return torch.sin(2 * math.pi * hz * (t + lag_s))[None]


def test_spectral_loss_ignores_the_lag_but_not_the_heart_rate():
    loss = create_loss("spectral")
    label = _pulse(1.5)
    lagged = _pulse(1.5, lag_s=0.35)  # about half a beat: NP sees an inverted pulse
    assert negative_pearson(lagged, label) > 1.5
    assert loss(lagged, label, {"fps": torch.tensor([30.0])}) < 1e-3
    assert loss(_pulse(1.0), label, {"fps": torch.tensor([30.0])}) > 0.9
    noisy = torch.randn(1, 128, generator=torch.Generator().manual_seed(0))
    assert 0.2 < float(loss(noisy, label)) < 0.9


def test_spectral_loss_trains_a_prediction_towards_the_label_rate():
    loss = create_loss("spectral", weight_np=0.0)
    pred = torch.randn(2, 128, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    label = torch.cat([_pulse(1.2), _pulse(2.0)])
    opt = torch.optim.Adam([pred], lr=0.05)
    first = float(loss(pred, label))
    for _ in range(100):
        opt.zero_grad()
        value = loss(pred, label)
        value.backward()
        opt.step()
    assert float(value) < first / 10
