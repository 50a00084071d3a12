"""Classic methods: known pulse recovered from synthetic skin-colour traces, batching, fps, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.evaluation.hr import estimate_hr
from benchmark.methods import METHODS, create_method
from benchmark.methods.classic import CLASSIC, fast_ica

CLASSIC_NAMES = ["green", "ica", "chrom", "pos", "pbv", "lgi", "omit"]
SKIN = np.array([180.0, 130.0, 105.0])  # mean face RGB
PULSE_SIGNATURE = np.array([0.33, 0.77, 0.53])  # relative pulsatile amplitude per channel (de Haan 2014)


def skin_traces(
    hr_bpm: float, fps: float, seconds: float, seed: int = 0, lighting: float = 0.0, light_hz: float = 0.2
) -> np.ndarray:
    """Per-frame mean RGB [3, T]: skin colour modulated by a pulse (1% in green), camera noise, and optionally
    a multiplicative illumination change (same relative change in every channel)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fps))) / fps
    pulse = np.sin(2 * np.pi * hr_bpm / 60 * t) + 0.3 * np.sin(2 * np.pi * 2 * hr_bpm / 60 * t + 0.8)
    light = 1.0 + lighting * np.sin(2 * np.pi * light_hz * t + 0.5)
    rgb = SKIN[:, None] * light[None] * (1.0 + 0.013 * PULSE_SIGNATURE[:, None] * pulse[None])
    return rgb + 0.05 * rng.standard_normal(rgb.shape)


def test_every_classic_method_is_registered_without_parameters():
    for name in CLASSIC_NAMES:
        entry = METHODS.get(name)
        assert (entry.kind, entry.family, entry.group) == ("none", "classic", "classic")
        module = create_method(name)
        assert module.kind == "none" and not module.trains
        assert sum(p.numel() for p in module.parameters()) == 0
        assert module.configure_optimizers() is None
        assert module.input_spec.inputs == "rgb_mean" and module.input_spec.output == "bvp"
    assert sorted(CLASSIC.names()) == sorted(CLASSIC_NAMES)


@pytest.mark.parametrize("name", CLASSIC_NAMES)
@pytest.mark.parametrize("hr", [54.0, 78.0, 117.0])
def test_recovers_the_pulse_rate(name, hr):
    module = create_method(name)
    x = torch.from_numpy(skin_traces(hr, 30.0, 20.0, seed=int(hr))[None]).float()
    bvp = module(x)
    assert bvp.shape == (1, 600) and bvp.dtype == torch.float32 and torch.isfinite(bvp).all()
    assert abs(estimate_hr(bvp[0].numpy(), 30.0) - hr) < 1.0


def test_chrominance_methods_cancel_in_band_illumination_flicker():
    # a 2% illumination flicker at 96 bpm is ~3x the pulse (66 bpm) and along the skin-tone direction:
    # CHROM, POS, LGI and OMIT project it out; GREEN (the control) locks onto it
    x = torch.from_numpy(skin_traces(66.0, 30.0, 20.0, seed=3, lighting=0.02, light_hz=1.6)[None]).float()
    hr = {name: estimate_hr(create_method(name)(x)[0].numpy(), 30.0) for name in CLASSIC_NAMES}
    for name in ("chrom", "pos", "lgi", "omit"):
        assert abs(hr[name] - 66.0) < 1.0, hr
    assert abs(hr["green"] - 96.0) < 1.0, hr


@pytest.mark.parametrize("name", CLASSIC_NAMES)
def test_batch_equals_one_by_one(name):
    module = create_method(name)
    x = torch.from_numpy(np.stack([skin_traces(hr, 30.0, 12.0, seed=i) for i, hr in enumerate([60, 90, 72])]))
    batched = module(x.float())
    single = torch.cat([module(x[i : i + 1].float()) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["chrom", "pos", "ica"])
def test_frame_rate_attribute_is_used(name):
    # at 60 fps the 1.6 s windows hold 96 frames; the HR must come out right only with the right fps
    module = create_method(name, fps=60.0)
    assert module.net.fps == 60.0
    x = torch.from_numpy(skin_traces(66.0, 60.0, 15.0)[None]).float()
    assert abs(estimate_hr(module(x)[0].numpy(), 60.0) - 66.0) < 1.0


def test_fast_ica_separates_mixed_sources():
    t = np.linspace(0, 10, 3000)
    sources = np.stack(
        [np.sin(2 * np.pi * 1.3 * t), np.sign(np.sin(2 * np.pi * 0.31 * t)), ((3.7 * t) % 1) - 0.5]
    )
    mixed = np.array([[1.0, 0.6, 0.3], [0.4, 1.0, 0.5], [0.2, 0.7, 1.0]]) @ sources
    found = fast_ica(mixed)
    corr = np.abs(np.corrcoef(np.vstack([sources, found]))[:3, 3:])
    assert np.all(corr.max(axis=1) > 0.98)
    assert np.allclose(fast_ica(mixed), found)  # deterministic


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\[B, 3, T\]"):
        create_method("pos")(torch.zeros(1, 3, 8, 4, 4))
