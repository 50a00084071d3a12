"""SSPD: exact inference size, label-free training, self-similarity pieces, EMA schedule, loss falls."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from benchmark.methods import METHODS, create_method
from benchmark.methods.sspd import band_term, diagonals, ema_momentum, self_similarity


class NoLabels(dict):
    """A batch that fails the test if anything reads its label."""

    def __getitem__(self, key):
        if key == "y":
            raise AssertionError("SSPD read the label batch['y']")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "y":
            raise AssertionError("SSPD read the label batch['y']")
        return super().get(key, default)


def _pulsing_faces(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    """Raw 128x128 clips (0-255) of a skin patch whose colour pulses at ~1.2 Hz (30 fps), with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    clips = []
    for _ in range(batch):
        pulse = np.sin(2 * np.pi * rng.uniform(1.0, 1.5) * t)
        base = np.array([190.0, 130.0, 110.0])[:, None, None, None] + rng.normal(0, 8, (3, 1, 128, 128))
        clip = base + np.array([1.0, 3.0, 1.0])[:, None, None, None] * pulse[None, :, None, None]
        clips.append(clip + rng.normal(0, 1.5, (3, frames, 128, 128)))
    return torch.tensor(np.stack(clips).clip(0, 255), dtype=torch.float32)


def test_sspd_inference_model_has_exactly_786079_parameters():
    module = create_method("sspd", frames=24)
    assert sum(p.numel() for p in module.net.parameters()) == 786_079
    assert METHODS.get("sspd").group == "unsupervised (learned)"
    trained = {id(p) for g in module.parameter_groups() for p in g["params"]}
    assert all(id(p) in trained for p in module.ts_blocks.parameters())
    assert not any(p.requires_grad for p in module.target_net.parameters())
    assert module(_pulsing_faces(1, 24)).shape == (1, 24)


def test_training_never_reads_labels():
    torch.manual_seed(0)
    module = create_method("sspd", frames=24)
    batch = NoLabels(x=_pulsing_faces(1, 24), y=torch.full((1, 24), float("nan")), fps=torch.tensor([30.0]))
    loss = module.training_step(batch, 0)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(module.validation_step(batch, 0))


def test_self_similarity_pieces():
    t = torch.arange(40.0)
    tokens = torch.stack([torch.sin(2 * math.pi * t / 10), torch.cos(2 * math.pi * t / 10)])[
        None
    ]  # [1, 2, 40]
    sim = self_similarity(tokens)
    assert torch.allclose(torch.diagonal(sim[0]), torch.ones(40), atol=1e-5)
    wave, spread = diagonals(sim)  # a periodic signal has a Toeplitz similarity: each diagonal is constant
    assert spread.max() < 1e-3
    assert torch.allclose(wave[0, :20], torch.cos(2 * math.pi * torch.arange(20.0) / 10), atol=1e-4)
    fps = torch.tensor([30.0])
    in_band = torch.sin(2 * math.pi * 1.2 * torch.arange(300.0) / 30)[None]
    out_band = torch.sin(2 * math.pi * 8.0 * torch.arange(300.0) / 30)[None]
    assert band_term(in_band, fps) < 0.5 < 10 * 0.5 < band_term(out_band, fps)


def test_ema_momentum_follows_a_cosine_from_0_9_to_1():
    values = [ema_momentum(s, 100) for s in range(101)]
    assert values[0] == pytest.approx(0.9) and values[-1] == pytest.approx(1.0)
    assert values[50] == pytest.approx(0.95)
    assert all(a <= b for a, b in zip(values, values[1:]))


def test_target_network_follows_the_online_network():
    module = create_method("sspd", frames=24)
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(1.0)
    before = [p.clone() for p in module.target_net.parameters()]
    module.update_target(0.9)
    for b, t, o in zip(before, module.target_net.parameters(), module.net.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * o)


@pytest.mark.slow
def test_self_supervised_loss_falls_and_lightning_trains_without_labels(tmp_path):
    pl.seed_everything(0)
    module = create_method("sspd", frames=24, lr=3e-3)
    x = _pulsing_faces(1, 24, seed=1)
    fps = torch.tensor([30.0])

    def measured() -> float:
        torch.manual_seed(123)  # same augmentation draws before and after training
        with torch.no_grad():
            return float(module.compute_loss({"x": x, "fps": fps}))

    module.train()
    before = measured()
    items = [{"x": x[0], "y": torch.full((24,), float("nan")), "fps": 30.0}]
    loader = DataLoader(items * 6, batch_size=1)  # labels are NaN: reading them would make the loss NaN
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=DataLoader(items, batch_size=1))
    module.train()
    after = measured()
    assert math.isfinite(after) and after < before
    assert math.isfinite(trainer.callback_metrics["val_loss"].item())
