"""The lag-tolerant NP loss: blind to a constant lag within its range, and only within it."""

from __future__ import annotations

import math

import pytest
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


def test_recipe_loss_gives_talos_to_any_factory_that_uses_it():
    from benchmark.methods import create_method
    from benchmark.methods.losses import TALOSLoss, recipe_loss

    net = create_method("physnet", size=36, frames=64, loss="talos", num_subjects=5, talos_max_shift_s=0.5)
    assert isinstance(net.loss_fn, TALOSLoss)
    assert net.loss_fn.logits.shape == (5, 31) and net.loss_fn.max_shift == 15
    # its logits train in their own parameter group at TALOS's lr
    groups = net.parameter_groups()
    assert len(groups) == 2 and groups[1]["lr"] == 1.0 and groups[1]["params"][0] is net.loss_fn.logits
    tdm = create_method("tdm", loss="talos", num_subjects=3, fps=25.0, talos_max_shift_s=1.0)
    assert tdm.loss_fn.max_shift == 25
    with pytest.raises(ValueError, match="num_subjects"):
        recipe_loss("talos")
    assert type(recipe_loss("mse", num_subjects=4)).__name__ == "MSELoss"  # others ignore the TALOS settings
