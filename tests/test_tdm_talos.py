"""TDM (lightweight, Taylor-like derivative modules) and the TALOS loss."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmark.methods import create_method
from benchmark.methods.losses import LOSSES, TALOSLoss, create_loss
from benchmark.methods.tdm import TDMNet, TemporalDerivativeModule

TSCAN_PARAMS = 532_899
TSCAN_MMAC_PER_FRAME = 51.2


def test_tdm_is_lighter_than_tscan_in_params_and_macs():
    module = create_method("tdm")
    params = sum(p.numel() for p in module.parameters())
    assert 0 < params < TSCAN_PARAMS
    frames = 60
    x = torch.randn(1, module.input_spec.channels, frames, 36, 36)
    with FlopCounterMode(display=False) as counter:
        module(x)
    mmac_per_frame = counter.get_total_flops() / 2 / frames / 1e6
    assert 0 < mmac_per_frame < TSCAN_MMAC_PER_FRAME


def test_derivative_module_starts_as_a_taylor_expansion():
    """At initialisation D is the central difference: on a ramp x_t = t, D x = 1 inside and D^2 x = 0."""
    tdm = TemporalDerivativeModule(channels=2, order=3)
    ramp = torch.arange(20.0).reshape(1, 1, 20).repeat(1, 2, 1)
    out = tdm(ramp)
    # x + Dx + D^2x/2 + D^3x/6 with Dx = 1, higher derivatives 0, away from the borders
    assert torch.allclose(out[..., 4:-4], ramp[..., 4:-4] + 1.0)
    quadratic = (torch.arange(20.0) ** 2).reshape(1, 1, 20).repeat(1, 2, 1)
    t = torch.arange(20.0)
    # central differences of t^2: D = 2t, D^2 = 2 (exact), D^3 = 0
    expected = t**2 + 2 * t + 2 / math.factorial(2)
    assert torch.allclose(tdm(quadratic)[0, 0, 5:-5], expected[5:-5])


def test_tdm_mask_comes_from_the_appearance_frame():
    """Default TDM reads diff + appearance (6 channels); the appearance half only steers the spatial mask."""
    torch.manual_seed(0)
    module = create_method("tdm", frames=8, size=16)
    assert module.input_spec.channels == 6
    x = torch.randn(1, 6, 8, 16, 16)
    skin_left, skin_right = x.clone(), x.clone()
    skin_left[:, 3:, :, :, :8] += 3.0
    skin_right[:, 3:, :, :, 8:] += 3.0
    assert not torch.allclose(module(skin_left), module(skin_right))
    plain = create_method("tdm", frames=8, size=16, appearance=False)
    assert plain.input_spec.channels == 3 and plain.net.encoder.appearance is None


def test_tdm_order_is_configurable():
    assert len(TDMNet(order=1).blocks[0].tdm.derivatives) == 1
    assert len(TDMNet(order=4).blocks[0].tdm.derivatives) == 4
    with pytest.raises(ValueError):
        TemporalDerivativeModule(4, order=0)


@pytest.mark.slow
def test_tdm_overfits_a_tiny_batch():
    torch.manual_seed(0)
    module = create_method("tdm", frames=32, size=16)
    x = torch.randn(2, module.input_spec.channels, 32, 16, 16)
    t = torch.arange(32.0)
    y = torch.stack([torch.sin(2 * math.pi * t / 12), torch.cos(2 * math.pi * t / 9)])
    batch = {"x": x, "y": y, "subject_index": torch.tensor([0, 1])}
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    first = float(module.compute_loss(batch).detach())
    for _ in range(60):
        opt.zero_grad()
        loss = module.compute_loss(batch)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def _shifted(signal: torch.Tensor, k: int) -> torch.Tensor:
    """y_t = signal_{t-k}: the label lags the prediction by k frames, zero outside."""
    out = torch.zeros_like(signal)
    if k >= 0:
        out[..., k:] = signal[..., : signal.shape[-1] - k]
    else:
        out[..., :k] = signal[..., -k:]
    return out


def test_talos_recovers_known_shifts_as_the_modes():
    torch.manual_seed(0)
    t = torch.arange(150.0)
    pred = torch.stack(
        [torch.sin(2 * math.pi * t / 23) + 0.3 * torch.sin(2 * math.pi * t / 7.3) for _ in range(3)]
    )
    pred = pred + 0.1 * torch.randn_like(pred)
    true_shifts = [7, -4, 0]
    target = torch.stack([_shifted(pred[i], k) for i, k in enumerate(true_shifts)])
    loss = create_loss("talos", num_subjects=3, fps=30.0)
    assert loss.max_shift == 30 and loss.shift_distribution().shape == (3, 61)
    opt = torch.optim.Adam(loss.parameters(), lr=loss.lr)
    batch = {"subject_index": torch.tensor([0, 1, 2])}
    for _ in range(150):
        opt.zero_grad()
        loss(pred, target, batch).backward()
        opt.step()
    assert loss.shift_modes() == true_shifts
    assert float(loss.shift_distribution().max(dim=1).values.min()) > 0.5


def test_talos_warmup_scores_best_shifts_then_starts_its_logits_from_them():
    torch.manual_seed(0)
    t = torch.arange(150.0)
    pred = torch.sin(2 * math.pi * t / 23).repeat(3, 1) + 0.1 * torch.randn(3, 150)
    true_shifts = [7, -4, 0]
    target = torch.stack([_shifted(pred[i], k) for i, k in enumerate(true_shifts)])
    loss = TALOSLoss(num_subjects=3, fps=30.0, warmup_steps=3)
    batch = {"subject_index": torch.tensor([0, 1, 2, -1])}
    pred4, target4 = torch.cat([pred, pred[:1]]), torch.cat([target, target[:1]])
    for step in range(3):
        value = loss(pred4, target4, batch)
        if step < 2:  # the logits stay untouched until the last warm-up step sets them
            assert torch.all(loss.logits == 0)
    assert loss.shift_modes() == true_shifts
    # the second half of the warm-up (steps 1-2) is recorded; unknown subjects are not
    assert int(loss.steps) == 3 and torch.equal(loss.chunk_counts, torch.full((3,), 2.0))
    assert float(value) < 0.05  # scored at the best shift, not over a uniform spread of shifts
    assert loss.logits.requires_grad
    # the posterior is sharp where the residual at the best shift is small: training starts at the offsets
    assert float(loss.shift_distribution().max(dim=1).values.min()) > 0.9
    never_seen = TALOSLoss(num_subjects=2, fps=30.0, warmup_steps=1)
    never_seen(pred[:1], target[:1], {"subject_index": torch.tensor([0])})
    assert torch.all(never_seen.logits[1] == 0)  # a subject the warm-up never saw starts uniform
    loss.eval()  # validation never advances or uses the warm-up
    loss(pred4, target4, batch)
    assert int(loss.steps) == 3


def test_talos_unknown_subject_is_scored_at_its_best_shift_or_zero_and_bad_index_raises():
    pred, target = torch.randn(2, 40), torch.randn(2, 40)
    unknown = {"subject_index": torch.tensor([-1, -1])}
    plain = TALOSLoss(num_subjects=2, fps=10.0, unknown="zero")
    assert torch.allclose(plain(pred, target, unknown), torch.mean((pred - target) ** 2))
    # "best": a prediction that is the target delayed by 3 frames scores ~0 although k = 0 does not
    best = TALOSLoss(num_subjects=2, fps=10.0)
    delayed = _shifted(target, -3)
    assert float(best(delayed, target, unknown)) < 0.05 * float(plain(delayed, target, unknown))
    with pytest.raises(ValueError):
        plain(pred, target, {"subject_index": torch.tensor([0, 2])})
    with pytest.raises(ValueError):
        TALOSLoss(num_subjects=2, unknown="mean")


def test_talos_prefers_no_shift_for_its_label_energy_alone():
    """A zero prediction matches every shift equally: the logits must not move (no window-energy bias)."""
    torch.manual_seed(0)
    t = torch.arange(90.0)
    target = torch.sin(2 * math.pi * t / 20) * torch.linspace(0.2, 3.0, 90)  # energy grows along the chunk
    loss = TALOSLoss(num_subjects=1, fps=10.0)
    value = loss(torch.zeros(1, 90), target[None], {"subject_index": torch.tensor([0])})
    value.backward()
    assert float(loss.logits.grad.abs().max()) < 1e-6


def test_talos_has_its_own_optimiser_group_with_any_method():
    assert "talos" in LOSSES
    module = create_method("tdm", loss="talos", num_subjects=4, fps=30.0)
    groups = module.parameter_groups()
    assert len(groups) == 2 and groups[1]["lr"] == 1.0
    assert groups[1]["params"][0].shape == (4, 61)
    # any other supervised network can swap it in: the base module gives the loss its own group
    physnet = create_method("physnet", size=36, frames=32)
    physnet.loss_fn = create_loss("talos", num_subjects=2, fps=30.0)
    assert [g.get("lr") for g in physnet.parameter_groups()] == [None, 1.0]
