"""The lag-tolerant NP loss: blind to a constant lag within its range, and only within it."""

from __future__ import annotations

import math

import torch

from benchmark.methods.losses import create_loss, lagged_np, negative_pearson


def pulse(n: int, shift: int, fps: float = 30.0) -> torch.Tensor:
    """[1, n] 72 bpm pulse with a little second harmonic, delayed by `shift` frames."""
    t = (torch.arange(n, dtype=torch.float64) - shift) / fps
    return (torch.sin(2 * math.pi * 1.2 * t) + 0.3 * torch.sin(2 * math.pi * 2.4 * t + 0.5)).float()[None]


def test_lag_within_range_costs_nothing_and_plain_np_pays_for_it():
    pred, label = pulse(128, 0), pulse(128, 9)  # 0.3 s lag, ~0.36 of a beat
    loss = create_loss("np_lag")(pred, label, {"fps": torch.tensor([30.0])})
    assert loss < 1e-3
    assert negative_pearson(pred, label) > 0.5


def test_lag_beyond_range_is_not_forgiven():
    pred, label = pulse(128, 0), pulse(128, 12)
    assert lagged_np(pred, label, max_shift=3) > 0.3
    assert lagged_np(pred, label, max_shift=15) < 1e-3


def test_gradient_reaches_the_prediction_and_noise_costs():
    noise = 0.5 * torch.randn(1, 96, generator=torch.Generator().manual_seed(0))
    pred = (pulse(96, 0) + noise).requires_grad_(True)
    loss_fn = create_loss("np_lag", max_lag_s=0.2)
    loss = loss_fn(pred, pulse(96, 4), {"fps": 30.0})
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert loss > loss_fn(pulse(96, 0), pulse(96, 4), {"fps": 30.0}) + 0.05
