"""FactorizePhys (issue 19.3): its exact size from the released files, each of rPPG-Toolbox's four releases
loaded strictly, the NMF behind FSAM, shapes and gradients, that it can learn, and the released PURE and
UBFC-rPPG weights on the real PhysRecorder clip (oximeter ~70.8 bpm) through `predict`."""

from __future__ import annotations

import json
import urllib.request

import pytest
import torch

from benchmark.cli import main
from benchmark.errors import DataError
from benchmark.methods import METHODS, create_method
from benchmark.methods.factorizephys import map_toolbox_keys, nmf_approximation
from benchmark.methods.losses import negative_pearson
from benchmark.methods.weights import RELEASES, load_state_dict_file

PARAMS = 52_168  # 16 tensors in each released file; no BatchNorm, so no buffers
TOOLBOX = ("data", "pretrained", "rppg_toolbox")
TRAIN_SETS = ("PURE", "UBFC-rPPG", "SCAMPS", "iBVP")
REFERENCE_BPM = 70.8


def release_file(shared_dir, train_set: str):
    return shared_dir(*TOOLBOX, f"{train_set}_FactorizePhys_FSAM_Res.pth")


def clip(batch: int = 2, frames: int = 16, seed: int = 0) -> torch.Tensor:
    """Raw frames: a face-like level in [0, 255] with a small per-pixel flicker."""
    g = torch.Generator().manual_seed(seed)
    return 120.0 + 40.0 * torch.rand(batch, 3, frames, 72, 72, generator=g)


def test_catalogue_entry_and_input_spec():
    assert METHODS.get("factorizephys").kind == "supervised"
    spec = create_method("factorizephys").input_spec
    assert (spec.frames, spec.size, spec.inputs, spec.label, spec.output) == (
        160, 72, "raw", "standardized", "bvp"
    )  # fmt: skip
    with pytest.raises(ValueError, match="at least 71 x 71"):
        create_method("factorizephys", size=36)


@pytest.mark.parametrize("train_set", TRAIN_SETS)
def test_each_release_loads_strictly_and_has_the_exact_size(shared_dir, train_set):
    path = release_file(shared_dir, train_set)
    state = load_state_dict_file(path)
    assert len(state) == 16 and sum(v.numel() for v in state.values()) == PARAMS
    module = create_method("factorizephys", weights=path)  # strict load through the key map
    assert sum(p.numel() for p in module.net.parameters()) == PARAMS
    ours = module.net.state_dict()
    assert set(map_toolbox_keys(state)) == set(ours)  # every tensor of ours comes from the file
    for key, value in map_toolbox_keys(state).items():
        assert torch.equal(ours[key], value), key


def test_the_four_releases_are_registered_with_their_input():
    releases = {r.file: r for _, r in RELEASES.items() if r.method == "factorizephys"}
    assert {r.train_set.split(" ")[0] for r in releases.values()} == set(TRAIN_SETS)
    for release in releases.values():
        assert release.factory == {"size": 72, "frames": 160}
        assert release.url.endswith("final_model_release/" + release.file)
    names = {r.name for r in releases.values()}
    assert names == {f"factorizephys@{t}-rppgtoolbox" for t in ("pure", "ubfc-rppg", "scamps", "ibvp")}


def test_a_file_with_a_missing_or_foreign_key_is_refused(shared_dir, tmp_path):
    state = load_state_dict_file(release_file(shared_dir, "PURE"))
    cut = dict(state)
    cut.pop(next(iter(cut)))
    torch.save(cut, tmp_path / "cut.pth")
    with pytest.raises(DataError, match="cut.pth.*FactorizePhys_FSAM_Res"):
        create_method("factorizephys", weights=tmp_path / "cut.pth")
    torch.save({**state, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(DataError, match="extra.weight"):
        create_method("factorizephys", weights=tmp_path / "extra.pth")


def test_nmf_recovers_a_rank_one_matrix_and_passes_a_gradient():
    torch.manual_seed(0)
    w, h = torch.rand(3, 20, 1) + 0.1, torch.rand(3, 50, 1) + 0.1
    v = (w @ h.transpose(1, 2)).requires_grad_(True)
    approx = nmf_approximation(v, rank=1, steps=4)
    assert approx.shape == v.shape
    assert torch.allclose(approx, v, rtol=1e-4, atol=1e-5)
    approx.sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


def test_forward_shape_and_every_parameter_gets_a_finite_gradient():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    module = create_method("factorizephys").train()  # training mode: FSAM is on
    x = clip()
    y = module(x)
    assert y.shape == (2, 16) and torch.isfinite(y).all()
    t = torch.arange(16, dtype=torch.float32)
    target = torch.stack([torch.sin(2 * torch.pi * t / p) for p in (7.0, 11.0)])
    module.loss_fn(y, target, {}).backward()
    for name, p in module.net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_fsam_runs_in_training_and_only_on_request_in_eval():
    """Eval without FSAM is the toolbox's inference: its weights do not touch the output; with
    `fsam_inference` they do."""
    torch.manual_seed(0)
    x = clip(batch=1, frames=8)
    plain = create_method("factorizephys").eval()
    with_fsam = create_method("factorizephys", fsam_inference=True).eval()
    with_fsam.net.load_state_dict(plain.net.state_dict())
    with torch.no_grad():
        before = plain(x), with_fsam(x)
        for module in (plain, with_fsam):
            module.net.fsam.expand[2].weight.mul_(3.0)
        after = plain(x), with_fsam(x)
    assert torch.equal(before[0], after[0])
    assert not torch.allclose(before[1], after[1])
    assert not torch.allclose(before[0], before[1])


def test_overfits_one_small_batch():
    """A few dozen Adam steps on one batch of two 'pulses' cut the eval-mode NP loss clearly."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    module = create_method("factorizephys")
    frames = 16
    t = torch.arange(frames, dtype=torch.float32)
    y = torch.stack([torch.sin(2 * torch.pi * t / p) for p in (7.0, 11.0)])
    x = clip(frames=frames) + 2.0 * y[:, None, :, None, None]  # the pulse is in the pixels
    opt = torch.optim.Adam(module.net.parameters(), lr=3e-3)

    def eval_loss() -> float:
        module.eval()
        with torch.no_grad():
            return float(negative_pearson(module(x), y))

    before = eval_loss()
    for _ in range(30):
        module.train()
        opt.zero_grad()
        negative_pearson(module(x), y).backward()
        opt.step()
    after = eval_loss()
    assert after < before / 10, f"loss {before:.4f} -> {after:.4f}"


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("train_set", ["PURE", "UBFC-rPPG"])
def test_predict_with_released_weights_matches_the_oximeter(
    train_set, shared_dir, physrecorder_dir, monkeypatch, capsys
):
    """`predict --weights factorizephys@...` (no network: RPPG_WEIGHTS_DIR) on the real clip, within 3 bpm of
    the oximeter (measured: PURE 70.73, UBFC-rPPG 70.78; SCAMPS 70.73 and iBVP 70.96 too)."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("RPPG_WEIGHTS_DIR", str(shared_dir(*TOOLBOX)))
    torch.set_num_threads(2)
    name = f"factorizephys@{train_set.lower()}-rppgtoolbox"
    video = physrecorder_dir / "video_ZIP_H264.avi"
    assert main(["predict", str(video), "--method", "factorizephys", "--weights", name, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert abs(result["hr_bpm"] - REFERENCE_BPM) < 3.0, result["hr_bpm"]
