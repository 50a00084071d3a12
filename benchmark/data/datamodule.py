"""LightningDataModule over preprocessed caches: chunks of T frames, per-method normalisation on the fly.

The cache holds uint8 face crops at one size S per (recording, level, face config); each method's input
size and normalisation are applied when a chunk is read, so one cache serves every method. Batches follow
the contract in benchmark/methods/base.py: x [B, C, T, H, W] (or [B, 3, T] for rgb_mean), y [B, T],
subject_index, recording, start, fps.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from benchmark.data.face import FaceConfig
from benchmark.data.preprocess import Preprocessed, load_entry, preprocess_recording
from benchmark.data.recording import Recording
from benchmark.data.transforms import normalize_frames, normalize_label
from benchmark.errors import ConfigError, DataError
from benchmark.spec import InputSpec, crop_side

log = logging.getLogger(__name__)


def subject_of(recording: Recording) -> str:
    """Subject identity across datasets (subject ids are only unique within a dataset)."""
    return f"{recording.dataset}/{recording.subject}"


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Subjects per part: largest remainders, and at least one for each non-zero part when n allows."""
    raw = np.asarray(fractions, dtype=np.float64) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((counts == 0) & (np.asarray(fractions) > 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[i] += 1
    return counts.tolist()


def split_by_subject(
    recordings: Sequence[Recording], fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0
) -> tuple[list[Recording], ...]:
    """Subject-disjoint parts (train, val, test by default), deterministic for a seed.

    Subjects are sorted, shuffled with `seed`, and cut by `fractions` (one part per fraction); each part
    keeps its recordings sorted by key.
    """
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be non-negative and sum to 1, got {list(fractions)}")
    subjects = sorted({subject_of(r) for r in recordings})
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    part_of, first = {}, 0
    for part, count in enumerate(_allocate(len(subjects), fractions)):
        part_of.update({s: part for s in order[first : first + count]})
        first += count
    parts: tuple[list[Recording], ...] = tuple([] for _ in fractions)
    for recording in sorted(recordings, key=lambda r: r.key):
        parts[part_of[subject_of(recording)]].append(recording)
    return parts


def chunk_starts(n: int, length: int, stride: int, cover: bool) -> list[int]:
    """First frames of the chunks of `length` in n frames; `cover` adds a last chunk aligned to the end."""
    if n < length:
        return []
    starts = list(range(0, n - length + 1, stride))
    if cover and starts[-1] + length < n:
        starts.append(n - length)
    return starts


@dataclass(frozen=True)
class CacheRef:
    """What a dataset needs to reopen an entry in any worker (a memmap is not shipped between processes)."""

    path: Path
    key: str
    subject_index: int
    fps: float
    n_frames: int


def speed_positions(start: int, length: int, n: int, speed: float) -> np.ndarray:
    """Fractional frame positions of a chunk of `length` frames played `speed` times faster, starting at
    `start` or earlier so that it ends inside the recording's `n` frames (speed is capped to fit)."""
    speed = min(speed, (n - 1) / max(length - 1, 1))
    span = speed * (length - 1)
    first = min(float(start), n - 1 - span)
    return first + speed * np.arange(length)


def resample_frames(frames: np.ndarray, positions: np.ndarray, first: int) -> np.ndarray:
    """Linear interpolation in time of frames[first:] at fractional `positions` -> float32 [T, H, W, C]."""
    pos = positions - first
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (pos - lo).astype(np.float32)[:, None, None, None]
    return frames[lo].astype(np.float32) * (1 - w) + frames[hi].astype(np.float32) * w


class ChunkDataset(Dataset):
    """Chunks (recording, start, length) of preprocessed entries, normalised for one input spec.

    `speed` (lo, hi) turns on speed augmentation (training only): each chunk is read at a speed drawn
    log-uniformly from [lo, hi], frames and PPG resampled alike, so its heart rate is scaled by that factor.
    Why: with a handful of training recordings, a network can tie the heart rates it saw to the faces and
    clips it memorised instead of reading the pulse (PhysNet on SynthPulse `quick`: training loss falling,
    validation loss flat); rates scaled at random break that link. It is a recipe option, off in the shipped
    recipes: there it did not fix PhysNet's miss of one test face. A sped-up chunk may reach past its
    start's face-checked span into frames the face check did not cover. Draws use torch's global
    generator, which Lightning seeds, so a seeded run is reproducible.
    """

    def __init__(
        self,
        refs: list[CacheRef],
        chunks: list[tuple[int, int, int]],
        spec: InputSpec,
        speed: tuple[float, float] | None = None,
    ):
        self.refs, self.chunks, self.spec = refs, chunks, spec
        self.speed = None if speed is None else (float(speed[0]), float(speed[1]))
        self._open: dict[int, Preprocessed] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}

    def __len__(self) -> int:
        return len(self.chunks)

    def _entry(self, i: int) -> Preprocessed:
        if i not in self._open:
            entry = load_entry(self.refs[i].path)
            if entry is None:
                raise DataError(self.refs[i].path, "preprocessed entry vanished or is incomplete")
            self._open[i] = entry
        return self._open[i]

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        spec = self.spec
        if spec.inputs == "rgb_mean":
            return normalize_frames(frames, "rgb_mean").T  # [3, T]
        if frames.shape[1] != spec.size:
            size = (spec.size, spec.size)
            frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        return normalize_frames(frames, spec.inputs).transpose(3, 0, 1, 2)  # [C, T, H, W]

    def _draw_speed(self) -> float:
        lo, hi = np.log(self.speed[0]), np.log(self.speed[1])
        return float(np.exp(lo + (hi - lo) * torch.rand(()).item()))

    def _read(self, entry: Preprocessed, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """(frames [T, S, S, 3], ppg [T]) of one chunk, speed-augmented when the dataset is."""
        if self.speed is None:
            return np.asarray(entry.frames[start : start + length]), np.asarray(
                entry.ppg[start : start + length]
            )
        positions = speed_positions(start, length, len(entry), self._draw_speed())
        first, last = int(np.floor(positions[0])), int(np.ceil(positions[-1]))
        frames = resample_frames(np.asarray(entry.frames[first : last + 1]), positions, first)
        ppg = np.interp(positions, np.arange(first, last + 1), np.asarray(entry.ppg[first : last + 1], float))
        return frames, ppg

    def __getitem__(self, index: int) -> dict:
        ref_index, start, length = self.chunks[index]
        ref, entry = self.refs[ref_index], self._entry(ref_index)
        frames, ppg = self._read(entry, start, length)
        x = self._frames(frames)
        y = normalize_label(ppg, self.spec.label)
        return {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "y": torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)),
            "subject_index": torch.tensor(ref.subject_index, dtype=torch.int64),
            "recording": ref.key,
            "start": torch.tensor(start, dtype=torch.int64),
            "fps": torch.tensor(ref.fps, dtype=torch.float32),
        }


def interleave_recordings(chunks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(recording, start, length) chunks reordered round-robin: every recording's first chunk, then every
    recording's second, ...

    Why: a limited validation (`limit_val_batches`) reads the first batches only; in recording order those
    would all come from one subject's first recordings (SynthPulse quick: one subject's combined, lighting and
    motion videos, never `still`), and early stopping and the kept checkpoint would follow that one subject.
    """
    turns: Counter[int] = Counter()
    ranked = []
    for chunk in chunks:
        ranked.append((turns[chunk[0]], chunk))
        turns[chunk[0]] += 1
    return [chunk for _, chunk in sorted(ranked)]


class RPPGDataModule(pl.LightningDataModule):
    """Train / val / test recordings -> DataLoaders of normalised chunks.

    Args:
        train, val, test: recordings of each split (subject-disjoint: see split_by_subject).
        input_spec: the method's frames per chunk T, size, input and label normalisation.
        level: compression level of the test split (and of training unless train_level is given).
        face: face stage settings.
        cache_size: side S of the cached crops (resized to input_spec.size on the fly when it differs);
            default: crop_side(input_spec), the input's own side cut from the full-resolution box.
        batch_size: chunks per batch (1 when input_spec.frames is None: whole recordings).
        stride: frames between chunk starts for training (default T // 2; validation uses T).
        num_workers: DataLoader workers.
        seed: shuffling seed.
        train_level: compression level of the train and val splits (default: `level`).
        cache_root: preprocessed cache root (default: cache_dir()/"preprocessed").
        rebuild: rebuild cache entries even when complete ones exist.
        speed_augment: (lo, hi) speed range of the training chunks (see ChunkDataset), or None.

    Recordings that fail to preprocess are logged, kept in `failed` (key -> error) and left out. Train and
    val chunks that contain face_missing frames are skipped; predict chunks keep them (full coverage), the
    flags stay in `preprocessed[split][key].face_missing` for the caller.
    """

    def __init__(
        self,
        train: Sequence[Recording],
        val: Sequence[Recording],
        test: Sequence[Recording],
        input_spec: InputSpec,
        level: str = "raw",
        face: FaceConfig | None = None,
        cache_size: int | None = None,
        batch_size: int = 4,
        stride: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        train_level: str | None = None,
        cache_root: Path | None = None,
        rebuild: bool = False,
        speed_augment: Sequence[float] | None = None,
    ):
        super().__init__()
        if speed_augment is not None and not (
            len(speed_augment) == 2 and 0 < float(speed_augment[0]) <= float(speed_augment[1])
        ):
            raise ConfigError(f"speed_augment must be [lo, hi] with 0 < lo <= hi, got {speed_augment!r}")
        self.speed_augment = None if speed_augment is None else tuple(float(v) for v in speed_augment)
        self.splits = {"train": list(train), "val": list(val), "test": list(test)}
        self.input_spec = input_spec
        self.level, self.train_level = level, train_level or level
        self.face = face or FaceConfig()
        self.cache_size = crop_side(input_spec) if cache_size is None else int(cache_size)
        self.stride, self.num_workers, self.seed = stride, num_workers, seed
        self.batch_size = 1 if input_spec.frames is None else batch_size
        self.cache_root, self.rebuild = cache_root, rebuild
        self.train_subjects = sorted({subject_of(r) for r in self.splits["train"]})
        self.failed: dict[str, str] = {}
        self.preprocessed: dict[str, dict[str, Preprocessed]] = {}

    def _preprocess(self, split: str) -> dict[str, Preprocessed]:
        level = self.level if split == "test" else self.train_level
        done: dict[str, Preprocessed] = {}
        for recording in self.splits[split]:
            if recording.key in self.failed:
                continue
            try:
                done[recording.key] = preprocess_recording(
                    recording, level, self.face, self.cache_size, self.cache_root, rebuild=self.rebuild
                )
            except Exception as err:  # noqa: BLE001 - one bad recording must not take the run down
                self.failed[recording.key] = f"{type(err).__name__}: {err}"
                log.warning("left out %s: %s", recording.key, self.failed[recording.key])
        return done

    def setup(self, stage: str | None = None) -> None:
        """Preprocesses each split's recordings once (cache hits cost a manifest read)."""
        for split in ("train", "val", "test"):
            if split not in self.preprocessed and self.splits[split]:
                self.preprocessed[split] = self._preprocess(split)
        if self.splits["train"] and not self.preprocessed.get("train") and stage in (None, "fit"):
            raise DataError(None, f"no training recording could be preprocessed: {self.failed}")

    def _dataset(
        self, split: str, stride: int | None, cover: bool, skip_missing: bool, speed=None, interleave=False
    ) -> ChunkDataset:
        subject_index = {s: i for i, s in enumerate(self.train_subjects)}
        by_key = {r.key: r for r in self.splits[split]}
        refs, chunks = [], []
        for key, entry in self.preprocessed.get(split, {}).items():
            n = len(entry)
            length = self.input_spec.frames or n
            starts = chunk_starts(n, length, stride or length, cover)
            if skip_missing:
                starts = [s for s in starts if not entry.face_missing[s : s + length].any()]
            if not starts:
                log.warning("%s: no usable chunk of %d frames in %d frames (%s split)", key, length, n, split)
                if cover:
                    self.failed[key] = f"shorter than one chunk ({n} < {length} frames)"
                continue
            index = subject_index.get(subject_of(by_key[key]), -1) if split == "train" else -1
            refs.append(CacheRef(entry.path, key, index, entry.fps, n))
            chunks += [(len(refs) - 1, s, length) for s in starts]
        if interleave:
            chunks = interleave_recordings(chunks)
        return ChunkDataset(refs, chunks, self.input_spec, speed=speed)

    def _loader(self, dataset: ChunkDataset, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataset(self) -> ChunkDataset:
        t = self.input_spec.frames
        stride = self.stride or (t // 2 if t else None)
        return self._dataset("train", stride, cover=False, skip_missing=True, speed=self.speed_augment)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset(), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        val = self._dataset("val", None, cover=False, skip_missing=True, interleave=True)
        return self._loader(val, shuffle=False)

    def predict_dataset(self) -> ChunkDataset:
        """Each test recording fully covered by non-overlapping chunks, the last aligned to its end."""
        return self._dataset("test", None, cover=True, skip_missing=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.predict_dataset(), shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_dataset(), shuffle=False)
