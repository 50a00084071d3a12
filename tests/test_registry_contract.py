"""Every registered method and dataset adapter meets the suite's contract (registry-looping, as timm does):
one file + one `register_method` line adds a method these tests cover the day it lands; a method or adapter
left out must be named in an opt-out set with the reason and the test file that covers it instead.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_layouts import make_manifest, make_mmpd, make_pure, make_rlap, make_ubfc_phys, make_ubfc_rppg

from benchmark.data.datasets import DATASETS, load_dataset
from benchmark.data.video import probe_video
from benchmark.methods import METHODS, create_method
from benchmark.methods.config import PROFILES, load_recipe, split_recipe
from benchmark.methods.optimize import optimize_for_inference

NO_GRADIENT_CHECK = {
    "sspd": "self-supervised: its loss needs augmented views of one clip (tests/test_sspd.py)",
    "stven-rppgnet": "staged training (STVEN, then joint) on codec pairs (tests/test_rppgnet_stven.py)",
}
PARAMETER_FREE = ("none", "baseline")  # classic methods and the chance row: nothing learned by gradients


def build(name: str, tmp_path, profile: str = "smoke"):
    """The method as its recipe builds it; methods that require others get their random-weight checkpoints
    (what the runner passes after training them)."""
    entry = METHODS.get(name)
    kwargs = {} if entry.kind == "none" else dict(split_recipe(load_recipe(name, profile))[0])
    if entry.requires:
        deps = {}
        for dep in entry.requires:
            path = tmp_path / f"{dep}.ckpt"
            dep_kwargs = split_recipe(load_recipe(dep, profile))[0]
            torch.save({"state_dict": create_method(dep, **dep_kwargs).state_dict()}, path)
            deps[dep] = str(path)
        kwargs["dependencies"] = deps
    torch.manual_seed(0)
    return create_method(name, **kwargs)


def chunk(module, batch: int = 2) -> torch.Tensor:
    spec = module.input_spec
    frames = spec.frames or 64
    g = torch.Generator().manual_seed(1)
    if spec.inputs == "rgb_mean":
        return 0.5 + 0.01 * torch.randn(batch, 3, frames, generator=g)
    return torch.randn(batch, spec.channels, frames, spec.size, spec.size, generator=g)


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("profile", PROFILES)
def test_every_method_builds_from_each_profiles_recipe(name, profile, tmp_path):
    entry = METHODS.get(name)
    if entry.kind == "none":
        assert sum(p.numel() for p in create_method(name).parameters()) == 0
        return
    recipe = load_recipe(name, profile)
    assert recipe["budget_note"] and recipe["recipe_version"] >= 1
    assert split_recipe(recipe)[1]["epochs"] >= 1
    module = build(name, tmp_path, profile)
    assert module.kind == entry.kind and module.trains


# rPPGNet divides each clip's signal by its std (+1e-6): at random init that std is ~1e-8, so the output is
# float32 rounding noise scaled up, and the two forms are compared in float64 (trained weights: ~1e-6 apart).
DOUBLE_PRECISION_FORMS = {"rppgnet", "stven-rppgnet"}


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_maps_a_chunk_of_its_input_to_a_finite_bvp_in_both_forms(name, tmp_path):
    torch.set_num_threads(1)
    module = build(name, tmp_path).eval()
    if METHODS.get(name).kind == "baseline":
        module.net.hr_bpm.fill_(72.0)  # what its training sets
    x = chunk(module)
    if name in DOUBLE_PRECISION_FORMS:
        module, x = module.double(), x.double()
    with torch.inference_mode():
        y, fast = module(x), optimize_for_inference(module)(x)
    assert y.shape == (x.shape[0], x.shape[2]) and torch.isfinite(y).all()
    assert float((y - fast).abs().max()) <= 1e-4 * max(1.0, float(y.abs().max()))


@pytest.mark.parametrize("name", METHODS.names())
def test_every_learned_parameter_gets_a_gradient_from_the_training_loss(name, tmp_path):
    entry = METHODS.get(name)
    if entry.kind in PARAMETER_FREE:
        assert not any(p.requires_grad for p in build(name, tmp_path).net.parameters())
        return
    if name in NO_GRADIENT_CHECK:
        pytest.skip(NO_GRADIENT_CHECK[name])
    torch.set_num_threads(1)
    module = build(name, tmp_path).train()
    x = chunk(module)
    t = torch.arange(x.shape[2], dtype=torch.float32)
    y = torch.stack([torch.sin(2 * torch.pi * t / p) for p in (17.0, 23.0)])
    batch = {"x": x, "y": y, "subject_index": torch.zeros(2, dtype=torch.long), "fps": torch.full((2,), 30.0)}
    module.compute_loss(batch).backward()
    missing = [n for n, p in module.net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"


# ------------------------------------------------------------------------------------------- datasets
LAYOUTS = {
    "ubfc-rppg": lambda root: {"root": make_ubfc_rppg(root)},
    "pure": lambda root: {"root": make_pure(root)},
    "ubfc-phys": lambda root: {"root": make_ubfc_phys(root)},
    "mmpd": lambda root: {"root": make_mmpd(root)},
    "rlap": lambda root: {"root": make_rlap(root)},
    "manifest": lambda root: {"manifest": make_manifest(root)},
}
NO_LAYOUT = {"synth": "generated, not laid out by hand (tests/test_synth.py)"}


def test_every_adapter_has_a_layout_here_or_a_reason():
    assert set(DATASETS.names()) == set(LAYOUTS) | set(NO_LAYOUT)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_adapter_reads_its_layout_into_aligned_recordings(name, tmp_path):
    options = LAYOUTS[name](tmp_path)
    recordings = load_dataset(name, options.pop("root", None), **options)
    assert recordings and len({r.id for r in recordings}) == len(recordings)
    for recording in recordings:
        fps, frames = probe_video(recording.video, recording.fps)
        assert frames > 0 and fps > 0 and recording.subject
        aligned = recording.aligned_ppg(frames)
        assert aligned.shape == (frames,) and np.isfinite(aligned).all()
