"""Subject-disjoint splits, the batch contract on real clips, normalisations against methods.md by hand."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from test_preprocess import real_clips, write_video

from benchmark.data.datamodule import RPPGDataModule, chunk_starts, interleave_recordings, split_by_subject
from benchmark.data.recording import Recording
from benchmark.data.transforms import normalize_frames, normalize_label
from benchmark.errors import ConfigError
from benchmark.methods.base import InputSpec


def fake_recordings(n_subjects: int, per_subject: int = 2, dataset: str = "d") -> list[Recording]:
    return [
        Recording(
            dataset, f"s{s}_r{r}", f"s{s}", f"/nonexistent/s{s}_{r}.avi", np.zeros(3), np.arange(3.0), 30.0
        )
        for s in range(n_subjects)
        for r in range(per_subject)
    ]


def test_split_is_subject_disjoint_and_deterministic():
    recs = fake_recordings(10)
    train, val, test = split_by_subject(recs, (0.6, 0.2, 0.2), seed=0)
    subjects = [{r.subject for r in part} for part in (train, val, test)]
    assert [len(s) for s in subjects] == [6, 2, 2]
    assert not (subjects[0] & subjects[1] or subjects[0] & subjects[2] or subjects[1] & subjects[2])
    assert sorted(r.key for r in train + val + test) == sorted(r.key for r in recs)
    again = split_by_subject(list(reversed(recs)), (0.6, 0.2, 0.2), seed=0)
    assert [[r.key for r in p] for p in again] == [[r.key for r in p] for p in (train, val, test)]
    other = split_by_subject(recs, (0.6, 0.2, 0.2), seed=1)
    assert [r.key for r in other[0]] != [r.key for r in train]
    two = split_by_subject(recs, (0.8, 0.2), seed=0)
    assert [len({r.subject for r in p}) for p in two] == [8, 2]
    small = split_by_subject(fake_recordings(3), (0.6, 0.2, 0.2))
    assert [len(p) for p in small] == [2, 2, 2]  # every non-empty part gets a subject when possible
    # Same subject id in two datasets: two different people.
    both = fake_recordings(2, dataset="a") + fake_recordings(2, dataset="b")
    assert sum(len({(r.dataset, r.subject) for r in p}) for p in split_by_subject(both, (0.5, 0.5))) == 4
    with pytest.raises(ConfigError):
        split_by_subject(recs, (0.5, 0.2))


def test_chunk_starts_cover_the_end():
    assert chunk_starts(150, 64, 32, cover=False) == [0, 32, 64]
    assert chunk_starts(150, 64, 64, cover=True) == [0, 64, 86]
    assert chunk_starts(128, 64, 64, cover=True) == [0, 64]
    assert chunk_starts(50, 64, 64, cover=True) == []


def test_validation_chunks_take_turns_across_recordings():
    """A limited validation (the first few batches) must see every recording, not the first one's chunks."""
    chunks = [(0, 0, 64), (0, 64, 64), (0, 128, 64), (1, 0, 64), (1, 64, 64), (2, 0, 64)]
    assert interleave_recordings(chunks) == [
        (0, 0, 64), (1, 0, 64), (2, 0, 64), (0, 64, 64), (1, 64, 64), (0, 128, 64)
    ]  # fmt: skip
    assert interleave_recordings([]) == []


def test_diff_normalized_and_standardized_by_hand():
    """methods.md: d_t = (x_{t+1} - x_t) / (x_{t+1} + x_t + 1e-7), / the chunk's std, zero frame appended;
    label: diff / std, zero appended; Standardized: (x - mean) / std over the chunk."""
    frames = np.zeros((3, 1, 1, 3), np.uint8)
    frames[:, 0, 0, 0] = [1, 3, 6]  # R; G stays 2, B stays 0 (0 / (0 + eps) = 0)
    frames[:, 0, 0, 1] = 2
    d = [2 / 4, 3 / 9, 0, 0, 0, 0]  # (R diffs, G diffs, B diffs)
    mean = sum(d) / 6
    std = math.sqrt(sum((v - mean) ** 2 for v in d) / 6)
    out = normalize_frames(frames, "diff")
    assert out.shape == (3, 1, 1, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.5 / std, (1 / 3) / std, 0], rtol=1e-5)
    np.testing.assert_allclose(out[:, 0, 0, 1:], 0, atol=1e-6)

    np.testing.assert_allclose(
        normalize_label(np.array([1.0, 2, 4, 7]), "diff"),
        [1.5**0.5, 2 * 1.5**0.5, 3 * 1.5**0.5, 0],
        rtol=1e-6,
    )

    flat = np.array([1, 2, 3, 4], np.uint8).reshape(4, 1, 1, 1)
    np.testing.assert_allclose(
        normalize_frames(flat, "standardized").ravel(), np.array([-3, -1, 1, 3]) / math.sqrt(5), rtol=1e-6
    )
    np.testing.assert_allclose(
        normalize_label(np.array([1.0, 2, 3, 4]), "standardized"),
        np.array([-3, -1, 1, 3]) / math.sqrt(5),
        rtol=1e-6,
    )
    both = normalize_frames(frames, "diff+standardized")
    assert both.shape == (3, 1, 1, 6)
    np.testing.assert_allclose(both[..., :3], out)
    np.testing.assert_allclose(normalize_frames(frames, "rgb_mean"), frames[:, 0, 0].astype(np.float32))


@pytest.fixture(scope="module")
def clips(physrecorder_dir, tmp_path_factory):
    return real_clips(physrecorder_dir, tmp_path_factory.mktemp("dm_clips"), n_clips=4)


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("dm_cache")


def make_dm(clips, cache_root, spec, **kw) -> RPPGDataModule:
    dm = RPPGDataModule(clips[:2], clips[2:3], clips[3:], spec, cache_size=48, cache_root=cache_root, **kw)
    dm.setup("fit")
    return dm


def test_batches_follow_the_contract(clips, cache_root):
    spec = InputSpec(frames=64, size=36, inputs="diff", label="diff")
    dm = make_dm(clips, cache_root, spec, batch_size=4)
    assert dm.train_subjects == ["physclips/s0", "physclips/s1"] and not dm.failed
    train = list(dm.train_dataloader())
    assert sum(len(b["recording"]) for b in train) == 6  # 150 frames, T 64, stride 32: 3 chunks each
    batch = train[0]
    assert batch["x"].shape == (4, 3, 64, 36, 36) and batch["x"].dtype == torch.float32
    assert batch["y"].shape == (4, 64) and batch["y"].dtype == torch.float32
    assert batch["subject_index"].dtype == torch.int64 and set(batch["subject_index"].tolist()) <= {0, 1}
    assert batch["start"].dtype == torch.int64 and batch["fps"].dtype == torch.float32
    assert all(isinstance(k, str) for k in batch["recording"])
    # The values are the cached crops resized and normalised, and the label the cached PPG normalised.
    key, start = batch["recording"][0], int(batch["start"][0])
    entry = dm.preprocessed["train"][key]
    crop = np.stack(
        [cv2.resize(f, (36, 36), interpolation=cv2.INTER_AREA) for f in entry.frames[start : start + 64]]
    )
    np.testing.assert_allclose(
        batch["x"][0].numpy(), normalize_frames(crop, "diff").transpose(3, 0, 1, 2), rtol=1e-5
    )
    np.testing.assert_allclose(
        batch["y"][0].numpy(), normalize_label(entry.ppg[start : start + 64], "diff"), rtol=1e-5
    )
    assert int(batch["subject_index"][0]) == int(key[-1])  # clip i is subject s{i}
    # Same seed, same order.
    again = list(make_dm(clips, cache_root, spec, batch_size=4).train_dataloader())
    assert [b["recording"] for b in again] == [b["recording"] for b in train]
    assert [b["start"].tolist() for b in again] == [b["start"].tolist() for b in train]


def test_predict_covers_each_test_recording(clips, cache_root):
    spec = InputSpec(frames=64, size=36, inputs="diff+standardized", label="standardized")
    dm = make_dm(clips, cache_root, spec, batch_size=2)
    batches = list(dm.predict_dataloader())
    starts = [s for b in batches for s in b["start"].tolist()]
    assert starts == [0, 64, 86] and {k for b in batches for k in b["recording"]} == {"physclips/clip3"}
    assert batches[0]["x"].shape == (2, 6, 64, 36, 36)
    assert all((b["subject_index"] == -1).all() for b in batches)
    val = list(dm.val_dataloader())
    assert [s for b in val for s in b["start"].tolist()] == [0, 64]


def test_rgb_mean_and_whole_recording_chunks(clips, cache_root):
    dm = make_dm(
        clips, cache_root, InputSpec(frames=None, size=36, inputs="rgb_mean", label="raw"), batch_size=8
    )
    batches = list(dm.predict_dataloader())
    assert len(batches) == 1 and batches[0]["x"].shape == (1, 3, 150) and batches[0]["y"].shape == (1, 150)
    entry = dm.preprocessed["test"]["physclips/clip3"]
    np.testing.assert_allclose(
        batches[0]["x"][0].numpy(), normalize_frames(np.asarray(entry.frames), "rgb_mean").T, rtol=1e-5
    )
    np.testing.assert_allclose(batches[0]["y"][0].numpy(), entry.ppg)


def test_failed_recording_is_reported_and_left_out(clips, cache_root, tmp_path, caplog):
    no_face = write_video(
        tmp_path / "wall.mp4", [np.full((120, 160, 3), 90 + i, np.uint8) for i in range(80)]
    )
    bad = [
        Recording("physclips", "wall", "s7", no_face, np.zeros(90), np.arange(90) / 30, 30.0),
        Recording(
            "physclips", "gone", "s8", tmp_path / "missing.avi", np.zeros(90), np.arange(90) / 30, 30.0
        ),
    ]
    spec = InputSpec(frames=64, size=36, inputs="standardized", label="standardized")
    dm = RPPGDataModule(clips[:1] + bad, clips[2:3], [], spec, cache_size=48, cache_root=cache_root)
    with caplog.at_level("WARNING"):
        dm.setup("fit")
    assert set(dm.failed) == {"physclips/wall", "physclips/gone"}
    assert "NoFaceError" in dm.failed["physclips/wall"] and "not found" in dm.failed["physclips/gone"]
    assert "left out physclips/wall" in caplog.text
    assert {k for b in dm.train_dataloader() for k in b["recording"]} == {"physclips/clip0"}
    assert dm.train_subjects == ["physclips/s0", "physclips/s7", "physclips/s8"]


@pytest.mark.slow
def test_lightning_fits_and_predicts_through_the_datamodule(clips, cache_root):
    import pytorch_lightning as pl

    from benchmark.methods.base import MethodModule

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv3d(3, 1, 1)

        def forward(self, x):
            return self.conv(x).mean(dim=(3, 4))[:, 0]

    torch.manual_seed(0)
    spec = InputSpec(frames=64, size=36, inputs="diff", label="diff")
    module = MethodModule(Tiny(), spec, loss=lambda p, y, b: ((p - y) ** 2).mean(), name="tiny")
    dm = RPPGDataModule(
        clips[:2], clips[2:3], clips[3:], spec, cache_size=48, cache_root=cache_root, num_workers=1
    )
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(module, datamodule=dm)
    out = trainer.predict(module, datamodule=dm)
    assert [int(s) for o in out for s in o["start"]] == [0, 64, 86]
    assert all(o["bvp"].shape[1] == 64 and torch.isfinite(o["bvp"]).all() for o in out)


def test_speed_positions_stay_inside_the_recording():
    from benchmark.data.datamodule import speed_positions

    pos = speed_positions(start=90, length=64, n=150, speed=1.25)
    assert len(pos) == 64 and pos[-1] <= 149 + 1e-9 and pos[0] >= 0
    np.testing.assert_allclose(np.diff(pos), 1.25)
    assert speed_positions(0, 64, 100, speed=3.0)[-1] == pytest.approx(99)  # capped to fit: (100-1)/(64-1)
    np.testing.assert_allclose(speed_positions(10, 64, 150, speed=1.0), 10 + np.arange(64))


def test_speed_augment_scales_the_heart_rate_of_frames_and_label_alike(clips, cache_root):
    from benchmark.data.datamodule import resample_frames, speed_positions

    spec = InputSpec(frames=64, size=36, inputs="standardized", label="raw")
    plain = make_dm(clips, cache_root, spec, batch_size=1).train_dataset()
    fast = make_dm(clips, cache_root, spec, batch_size=1, speed_augment=(1.5, 1.5)).train_dataset()
    entry = plain._entry(0)
    ref_index, start, length = fast.chunks[0]
    item = fast[0]
    positions = speed_positions(start, length, len(entry), 1.5)
    np.testing.assert_allclose(
        item["y"].numpy(), np.interp(positions, np.arange(len(entry)), entry.ppg), rtol=1e-5
    )
    first = int(positions[0])
    raw = resample_frames(np.asarray(entry.frames[first:]), positions, first)
    assert raw.shape == (64, 48, 48, 3)
    # frame i of the chunk lies between cached frames floor(p_i) and ceil(p_i)
    lo, hi = (
        entry.frames[int(positions[3])].astype(np.float32),
        entry.frames[int(positions[3]) + 1].astype(np.float32),
    )
    assert np.all(raw[3] >= np.minimum(lo, hi) - 1e-3) and np.all(raw[3] <= np.maximum(lo, hi) + 1e-3)
    # a sinusoid label read 1.5x faster has 1.5x its frequency
    t = np.arange(400) / 30.0
    sine = np.sin(2 * np.pi * 1.2 * t)
    resampled = np.interp(speed_positions(0, 200, 400, 1.5), np.arange(400), sine)
    spectrum = np.abs(np.fft.rfft(resampled, 8192))
    assert np.fft.rfftfreq(8192, 1 / 30.0)[spectrum.argmax()] == pytest.approx(1.8, abs=0.01)
    # seeded torch generator -> the same draws
    wide = make_dm(clips, cache_root, spec, batch_size=1, speed_augment=(0.7, 1.4)).train_dataset()
    torch.manual_seed(3)
    a = [wide[i]["y"] for i in range(3)]
    torch.manual_seed(3)
    b = [wide[i]["y"] for i in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(plain[0]["y"], item["y"])


def test_speed_augment_range_is_checked(clips, cache_root):
    spec = InputSpec(frames=64, size=36, inputs="diff", label="diff")
    with pytest.raises(ConfigError, match="speed_augment"):
        RPPGDataModule(clips[:2], clips[2:3], clips[3:], spec, speed_augment=(1.4, 0.7))
