"""rPPGNet (exact size, skin labels, loss, overfit) and STVEN (exact size, labels, enhancement, stages)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from benchmark.errors import DataError
from benchmark.methods import create_method
from benchmark.methods.rppgnet import RPPGNet, skin_labels
from benchmark.methods.stven import STVEN, compression_label, encode_clip, psnr, stven_loss
from benchmark.methods.training import trainer_factory


def _pulse_clip(frames: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A skin-coloured clip [3, T, S, S] (0-255) whose brightness follows a pulse, and that pulse [T]."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    pulse = np.sin(2 * np.pi * t / rng.uniform(8, 14))
    skin = np.array([200.0, 140.0, 120.0])[:, None, None, None]
    texture = rng.normal(0, 6, (3, 1, size, size))
    clip = skin + texture + 4.0 * pulse[None, :, None, None] + rng.normal(0, 1, (3, frames, size, size))
    return torch.tensor(clip.clip(0, 255), dtype=torch.float32), torch.tensor(pulse, dtype=torch.float32)


def test_rppgnet_has_exactly_550779_parameters_and_all_get_gradients():
    module = create_method("rppgnet", frames=16, size=32)
    assert sum(p.numel() for p in module.parameters()) == 550_779
    x, y = _pulse_clip(16, 32)
    loss = module.compute_loss({"x": x[None].repeat(2, 1, 1, 1, 1), "y": y[None].repeat(2, 1)})
    loss.backward()
    # the heads' biases only shift the signals, which every (offset-blind) NP term then ignores
    offsets = {n for n, _ in module.named_parameters() if ".head_" in n and n.endswith(".bias")}
    assert len(offsets) == 6
    trained = [(n, p) for n, p in module.named_parameters() if n not in offsets]
    assert [n for n, p in trained if p.grad is None or not p.grad.abs().sum() > 0] == []
    assert module(x[None]).shape == (1, 16)


def test_rppgnet_has_four_separate_quadrant_heads():
    net = RPPGNet()
    heads = [net.head_global, net.head_aux, *net.head_parts]
    assert len({id(h) for h in heads}) == 6
    out = net.outputs(torch.rand(1, 3, 8, 32, 32) * 2 - 1)
    assert len(out["parts"]) == 4 and out["skin_logits"].shape == (1, 8, 16, 16)


def test_skin_labels_from_ycrcb():
    frame = torch.zeros(1, 3, 2, 32, 32)
    frame[:, :, :, :, :16] = torch.tensor([200.0, 140.0, 120.0])[None, :, None, None, None]  # skin tone
    frame[:, :, :, :, 16:] = torch.tensor([30.0, 60.0, 200.0])[None, :, None, None, None]  # blue
    labels = skin_labels(frame, 16)
    assert labels.shape == (1, 2, 16, 16)
    assert labels[..., :8].min() == 1.0 and labels[..., 8:].max() == 0.0


@pytest.mark.slow
def test_rppgnet_overfits_a_tiny_batch():
    torch.manual_seed(0)
    module = create_method("rppgnet", frames=16, size=32)
    clips = [_pulse_clip(16, 32, seed) for seed in (1, 2)]
    batch = {"x": torch.stack([c for c, _ in clips]), "y": torch.stack([p for _, p in clips])}
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    first = float(module.compute_loss(batch).detach())
    for _ in range(25):
        opt.zero_grad()
        loss = module.compute_loss(batch)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_stven_full_size_has_exactly_37326784_parameters():
    assert sum(p.numel() for p in STVEN(width=64).parameters()) == 37_326_784


def test_compression_labels_of_our_levels():
    labels = {name: compression_label(name) for name in ("raw", "x264-1000k", "x265-500k", "mpeg4-250k")}
    assert labels == {"raw": 0, "x264-1000k": 1, "x265-500k": 2, "mpeg4-250k": 3}
    assert compression_label("x264-crf38") == 3 and compression_label("mpeg4-q4") == 1


def test_input_level_reaches_stven():
    module = create_method("stven-rppgnet", frames=8, size=32, stven_width=4)
    module.input_level = "x264-250k"
    assert module.net.input_label == 3
    x = _pulse_clip(8, 32)[0][None]
    # untrained, STVEN is the identity (its last conv starts at zero); give it weights to see the label act
    assert torch.equal(module.net.enhance(x, 3), x / 127.5 - 1)
    torch.nn.init.normal_(module.net.stven.up[-2].weight, std=0.02)
    enhanced_250k = module.net.enhance(x, 3)
    assert not torch.allclose(enhanced_250k, module.net.enhance(x, 0))
    assert torch.allclose(module(x), module.net.rppgnet.forward_normalized(enhanced_250k))


def _moving_pattern(frames: int = 8, size: int = 32) -> np.ndarray:
    t = np.arange(frames)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size]
    base = 128 + 60 * np.sin((xx[None] + 2 * t) / 4.0) * np.cos(yy[None] / 5.0) + 20 * np.sin(t / 2)
    clip = np.repeat(base[..., None], 3, axis=-1)
    clip[..., 0] = clip[..., 0] / 2 + 60
    return clip.clip(0, 255).astype(np.uint8)


@pytest.mark.slow
def test_stven_output_is_closer_to_the_less_compressed_clip_than_its_input():
    torch.manual_seed(0)
    raw = _moving_pattern()
    compressed = encode_clip(raw, "x264-250k")  # real libx264 at a low bitrate
    as_tensor = lambda a: torch.from_numpy(a).permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # noqa: E731
    target, source = as_tensor(raw), as_tensor(compressed)
    stven = STVEN(width=8)  # reduced width for a CPU test; the reconstruction term of stage 2
    opt = torch.optim.Adam(stven.parameters(), lr=2e-3)
    for _ in range(90):
        opt.zero_grad()
        stven_loss(stven(source, compression_label("x264-250k")), target).backward()
        opt.step()
    stven.eval()  # inference mode: InstanceNorm running statistics, as at test time
    with torch.no_grad():
        enhanced = stven(source, compression_label("x264-250k"))
    assert psnr(enhanced, target) > psnr(source, target) + 3.0


class _ClipData(pl.LightningDataModule):
    """A tiny in-memory datamodule in the batch contract (raw crops, standardized pulse labels)."""

    def __init__(self, n: int = 4, frames: int = 8, size: int = 32):
        super().__init__()
        self.items = []
        for i in range(n):
            clip, pulse = _pulse_clip(frames, size, seed=i)
            self.items.append({"x": clip, "y": pulse, "subject_index": i, "fps": 30.0})
        self.batch_size = 2
        self.ready = False

    def setup(self, stage=None):
        self.ready = True

    def train_dataloader(self):
        assert self.ready, "setup() was never called: a real datamodule has no batches yet"
        return DataLoader(self.items, batch_size=2)

    def val_dataloader(self):
        return DataLoader(self.items[:2], batch_size=2)


@pytest.mark.slow
def test_stven_rppgnet_runs_its_three_stages_through_lightning(tmp_path):
    pl.seed_everything(0)
    module = create_method(
        "stven-rppgnet", frames=8, size=32, stven_width=4, stven_epochs=1, joint_epochs=1, max_pairs=4
    )
    rppgnet_before = {k: v.clone() for k, v in module.net.rppgnet.state_dict().items()}
    make_trainer = trainer_factory(max_epochs=1, out_dir=tmp_path)
    best = module.custom_fit(_ClipData(), make_trainer)
    assert best is not None and best.endswith(".ckpt")
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.startswith("net.stven.") for k in state) and any(k.startswith("net.rppgnet.") for k in state)
    changed = [k for k, v in module.net.rppgnet.state_dict().items() if not torch.equal(v, rppgnet_before[k])]
    assert changed  # stage 1 trained rPPGNet
    out = module(_pulse_clip(8, 32)[0][None])
    assert out.shape == (1, 8) and torch.isfinite(out).all()
    with torch.no_grad():
        loss = module.compute_loss(
            {"x": _pulse_clip(8, 32)[0][None].repeat(2, 1, 1, 1, 1), "y": torch.randn(2, 8)}
        )
    assert math.isfinite(float(loss))


def test_stage_one_from_an_rppgnet_checkpoint_is_kept_and_not_retrained(tmp_path):
    """In a sweep, stage 1 is the rppgnet row's model: loaded bit for bit, frozen through stages 2 and 3."""
    pl.seed_everything(1)
    trained = create_method("rppgnet", frames=8, size=32)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)  # anything but the seed's initial weights
    ckpt = tmp_path / "rppgnet.pt"
    torch.save(trained.state_dict(), ckpt)
    pl.seed_everything(0)
    module = create_method(
        "stven-rppgnet",
        frames=8,
        size=32,
        stven_width=4,
        stven_epochs=1,
        joint_epochs=1,
        max_pairs=4,
        dependencies={"rppgnet": str(ckpt)},
    )
    assert module.stage_one_done
    module.custom_fit(_ClipData(), trainer_factory(max_epochs=1, out_dir=tmp_path / "fit"))
    expected = {k.removeprefix("net."): v for k, v in trained.state_dict().items() if k.startswith("net.")}
    got = module.net.rppgnet.state_dict()
    assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)
    with pytest.raises(DataError, match="rppgnet checkpoint"):
        create_method(
            "stven-rppgnet", frames=8, size=32, stven_width=4, dependencies={"rppgnet": str(_bad(tmp_path))}
        )


def _bad(tmp_path):
    path = tmp_path / "not-rppgnet.pt"
    torch.save({"net.other.weight": torch.zeros(2)}, path)
    return path


@pytest.mark.parametrize("profile", ["smoke", "quick", "zoo", "full"])
def test_stven_stage_one_input_is_rppgnets_at_every_profile(profile):
    """Stage 1 is the rppgnet row's model, so both must read the same crops."""
    from benchmark.methods.config import load_recipe

    ours, theirs = load_recipe("stven-rppgnet", profile), load_recipe("rppgnet", profile)
    assert (ours.get("size"), ours.get("frames")) == (theirs.get("size"), theirs.get("frames"))
