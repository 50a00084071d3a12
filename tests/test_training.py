"""Training entry point: a method defined here goes through the registry, fit_method, load and predict;
seeded fits are reproducible; staged methods use custom_fit; the KD student learns from a teacher checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmark.data.datamodule import RPPGDataModule
from benchmark.data.datasets.synth import SynthPulse
from benchmark.data.transforms import normalize_frames, normalize_label
from benchmark.errors import ConfigError, DataError
from benchmark.evaluation.hr import estimate_hr
from benchmark.evaluation.inference import predict_bvp
from benchmark.methods import METHODS, MethodEntry, create_method
from benchmark.methods.base import InputSpec, MethodModule
from benchmark.methods.losses import create_loss
from benchmark.methods.training import best_checkpoint, fit_method, load_state_dict_file, load_trained

FPS = 30.0
EPOCHS = 25


def pulsing_video(n: int, size: int, bpm: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames [n, size, size, 3] of a textured patch whose brightness follows a pulse, and the pulse."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    ppg = np.sin(2 * np.pi * bpm / 60 * t) + 0.3 * np.sin(4 * np.pi * bpm / 60 * t + 0.5)
    base = rng.uniform(90, 160, size=(1, size, size, 3))
    frames = base * (1 + 0.02 * ppg[:, None, None, None]) + rng.normal(0, 0.5, size=(n, size, size, 3))
    return np.clip(frames, 0, 255).astype(np.uint8), ppg


class ChunkDataset(Dataset):
    """Chunks of T frames from a few synthetic recordings, normalised per the method's InputSpec."""

    def __init__(self, spec: InputSpec, bpms: list[float], n_frames: int, seed: int):
        self.items = []
        for i, bpm in enumerate(bpms):
            frames, ppg = pulsing_video(n_frames, spec.size, bpm, seed + i)
            for start in range(0, n_frames - spec.frames + 1, spec.frames):
                sl = slice(start, start + spec.frames)
                x = normalize_frames(frames[sl], spec.inputs).transpose(3, 0, 1, 2)
                y = normalize_label(ppg[sl], spec.label)
                self.items.append((np.ascontiguousarray(x), y, i, f"rec{i}", start))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        x, y, subject, rec, start = self.items[i]
        return {
            "x": torch.from_numpy(x),
            "y": torch.from_numpy(y),
            "subject_index": subject,
            "recording": rec,
            "start": start,
            "fps": FPS,
        }


class TinyDataModule(pl.LightningDataModule):
    """Yields the batch contract of benchmark/methods/base.py from synthetic pulsing videos."""

    def __init__(self, spec: InputSpec, n_frames: int = 160, batch_size: int = 4):
        super().__init__()
        self.train = ChunkDataset(spec, [60.0, 72.0, 84.0, 96.0], n_frames, seed=0)
        self.val = ChunkDataset(spec, [66.0, 90.0], n_frames, seed=10)
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)


class TinyNet(nn.Module):
    """A learned per-frame colour projection (no temporal filter, so it is not tuned to the training HR)."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Conv3d(3, 4, 1)
        self.out = nn.Conv3d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.mix(x))).mean(dim=(3, 4))[:, 0]


def tiny_method(lr: float = 0.02) -> MethodModule:
    """The factory the test registers: one file's worth of method, nothing else.

    Spectral loss: SynthPulse's pulse-transit lag (here -0.44 s, 0.7 of a beat) puts the face pulse out of
    phase with the label, which a per-frame network cannot undo under a zero-lag loss such as NP."""
    spec = InputSpec(frames=32, size=8, inputs="diff", label="diff", output="diff")
    from benchmark.methods.base import OptimConfig

    return MethodModule(
        TinyNet(), spec, create_loss("spectral"), optim=OptimConfig("adam", lr=lr), name="tiny-test"
    )


@pytest.fixture
def tiny_registered(monkeypatch):
    """Registers `tiny-test` for this test only (removed afterwards, so registry-wide tests never see it)."""
    entry = MethodEntry("tiny-test", f"{__name__}:tiny_method", kind="supervised", family="test")
    monkeypatch.setitem(METHODS._items, "tiny-test", entry)
    return "tiny-test"


@pytest.fixture(scope="module")
def synth_recordings(tmp_path_factory) -> dict[str, list]:
    """Three SynthPulse subjects (one per split), 6 s of `still` without camera noise (`camera-none`: a
    test of the machinery, which one training subject and 25 epochs of a per-frame net must pass): real
    video files."""
    root = tmp_path_factory.mktemp("synth")
    adapter = SynthPulse(root, preset="smoke", subjects=3, scenarios=("camera-none",), duration_s=6.0, jobs=1)
    recordings = adapter.recordings()
    return {s: [r for r in recordings if r.tags["split"] == s] for s in ("train", "val", "test")}


def synth_datamodule(splits: dict, spec: InputSpec, cache: Path) -> RPPGDataModule:
    return RPPGDataModule(
        splits["train"], splits["val"], splits["test"], spec, cache_size=32, cache_root=cache
    )


@pytest.mark.slow
def test_a_new_method_goes_through_registry_fit_load_and_predict(tiny_registered, synth_recordings, tmp_path):
    torch.set_num_threads(1)
    torch.manual_seed(0)  # initial weights: drawn when the method is created, before fit_method seeds
    module = create_method(tiny_registered)
    dm = synth_datamodule(synth_recordings, module.input_spec, tmp_path / "cache")
    ckpt = fit_method(module, dm, max_epochs=EPOCHS, seed=0, out_dir=tmp_path / "a", patience=EPOCHS)
    assert ckpt is not None and ckpt.is_file()
    assert (tmp_path / "a" / "logs").is_dir()  # CSVLogger always on

    trained = load_trained(tiny_registered, ckpt)
    (entry,) = dm.preprocessed["test"].values()
    bvp = predict_bvp(trained, entry.frames, entry.fps)
    assert bvp.shape == (len(entry.frames),) and np.isfinite(bvp).all()
    (test_recording,) = synth_recordings["test"]
    assert abs(estimate_hr(bvp, entry.fps) - test_recording.hr_reference) < 5.0

    torch.manual_seed(0)
    again = fit_method(
        create_method(tiny_registered), dm, max_epochs=EPOCHS, seed=0, out_dir=tmp_path / "b", patience=EPOCHS
    )
    first, second = load_state_dict_file(ckpt), load_state_dict_file(again)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_classic_methods_are_not_fitted(tmp_path):
    module = MethodModule(nn.Identity(), InputSpec(frames=None, inputs="rgb_mean"), kind="none")
    assert fit_method(module, None, max_epochs=1, out_dir=tmp_path) is None


class StagedModule(MethodModule):
    """A method with two training stages (the STVEN pattern)."""

    def custom_fit(self, datamodule, make_trainer):
        self.stages = []
        for stage, epochs in (("first", 1), ("second", 2)):
            trainer = make_trainer(stage=stage, max_epochs=epochs)
            trainer.fit(self, datamodule=datamodule)
            self.stages.append((stage, trainer.current_epoch))
        return best_checkpoint(trainer)


@pytest.mark.slow
def test_custom_fit_runs_stages_with_trainers_configured_like_the_default(tmp_path):
    torch.set_num_threads(1)
    spec = InputSpec(frames=32, size=8, inputs="diff", label="diff", output="diff")
    module = StagedModule(TinyNet(), spec, create_loss("np"), name="staged")
    ckpt = fit_method(module, TinyDataModule(spec), max_epochs=50, out_dir=tmp_path)
    assert module.stages == [("first", 1), ("second", 2)]
    assert (tmp_path / "first" / "checkpoints" / "best.ckpt").is_file()
    assert ckpt == tmp_path / "second" / "checkpoints" / "best.ckpt" and ckpt.is_file()


def test_load_trained_names_the_file_when_weights_do_not_fit(tmp_path):
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {"net.nope": torch.zeros(1)}}, bad)
    with pytest.raises(DataError, match="bad.ckpt"):
        load_trained("physnet", bad)
    with pytest.raises(DataError, match="not found"):
        load_trained("physnet", tmp_path / "missing.ckpt")


@pytest.mark.slow
def test_kd_student_distils_from_a_trained_teacher_checkpoint(tmp_path):
    torch.set_num_threads(1)
    small = {"size": 16, "frames": 32, "lr": 3e-3, "scheduler": "none"}
    teacher = create_method("kd-teacher", **small)
    dm = TinyDataModule(teacher.input_spec, n_frames=64, batch_size=4)
    teacher_ckpt = fit_method(teacher, dm, max_epochs=1, out_dir=tmp_path / "teacher")

    with pytest.raises(ConfigError, match="kd-teacher"):
        create_method("kd-student", **small).teacher  # noqa: B018 - the property raises without a teacher

    student = create_method("kd-student", dependencies={"kd-teacher": teacher_ckpt}, **small)
    frozen = {k: v.clone() for k, v in student.teacher.state_dict().items()}
    batch = next(iter(dm.train_dataloader()))
    kd_loss = student.compute_loss(batch)
    plain = create_loss("np")(student(batch["x"]), batch["y"], batch)
    assert kd_loss > plain  # the feature term is added

    ckpt = fit_method(student, dm, max_epochs=2, out_dir=tmp_path / "student")
    assert all(torch.equal(frozen[k], v) for k, v in student.teacher.state_dict().items())
    state = load_state_dict_file(ckpt)
    assert not any(k.startswith("_teacher") for k in state) and any(k.startswith("adapters.") for k in state)
    reloaded = load_trained("kd-student", ckpt, **small)  # predicting needs no teacher
    assert torch.allclose(reloaded(batch["x"]), student.eval()(batch["x"]), atol=1e-6)
