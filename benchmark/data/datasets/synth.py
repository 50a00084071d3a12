"""SynthPulse adapter: the built-in synthetic dataset, generated on first use and cached.

Options (configs/datasets/synth.yaml): preset (smoke | quick | full), seed, generate (default true: create
the data when missing), jobs, and any preset field to override (subjects, scenarios, duration_s, fps,
width, height). Each Recording carries the generator's truth: hr_reference is the mean heart rate of the
pulse that was rendered, and tags hold scenario, motion, lighting, skin_tone, face_kind, ptt_offset_s
(reference PPG lags the face signal by this many seconds) and split (subject-disjoint train/val/test).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, DatasetLoad, register_dataset
from benchmark.data.recording import Recording
from benchmark.data.synth.generate import (
    GENERATOR_VERSION,
    MARKER,
    VIDEO_FILE,
    dataset_dir,
    default_root,
    generate,
    is_complete,
)
from benchmark.data.synth.presets import get_preset
from benchmark.errors import ConfigError, DataError

SPLIT_FRACTIONS = (("test", 0.2), ("val", 0.2))


def split_subjects(subjects: list[str], seed: int = 0) -> dict[str, str]:
    """Deterministic subject-disjoint split: subject -> "train" | "val" | "test".

    About 20 % test and 20 % val (at least one each when there are 3 or more subjects), drawn by a seeded
    permutation of the sorted subject ids, so the same subjects always land in the same split.
    """
    ordered = sorted(set(subjects))
    perm = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(len(ordered))
    shuffled = [ordered[i] for i in perm]
    split: dict[str, str] = {}
    pos = 0
    for name, fraction in SPLIT_FRACTIONS:
        count = max(1, round(fraction * len(ordered))) if len(ordered) >= 3 else 0
        for s in shuffled[pos : pos + count]:
            split[s] = name
        pos += count
    for s in shuffled[pos:]:
        split[s] = "train"
    return split


def read_recording(folder: Path) -> Recording:
    """One SynthPulse recording folder (video.avi, ppg.csv, meta.json) as a Recording."""
    meta_file, ppg_file, video = folder / "meta.json", folder / "ppg.csv", folder / VIDEO_FILE
    for f in (meta_file, ppg_file, video):
        if not f.is_file():
            raise DataError(f, "missing SynthPulse file (delete the folder's COMPLETE.json to regenerate)")
    try:
        meta = json.loads(meta_file.read_text())
        fps, n_frames = float(meta["fps"]), int(meta["n_frames"])
        tags = {str(k): str(v) for k, v in meta["tags"].items()}
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(meta_file, f"unreadable SynthPulse metadata: {err}") from err
    try:
        table = np.loadtxt(ppg_file, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as err:
        raise DataError(ppg_file, f"unreadable ground truth: {err}") from err
    if table.shape[1] != 2 or table.shape[0] != n_frames:
        raise DataError(ppg_file, f"expected {n_frames} rows of time_s,ppg, found shape {table.shape}")
    return Recording(
        dataset="synth",
        id=meta["id"],
        subject=meta["subject"],
        video=video,
        ppg=table[:, 1],
        ppg_times=table[:, 0],
        fps=fps,
        tags=tags,
        hr_reference=float(meta["hr_mean_bpm"]),
        source=ppg_file,
    )


@register_dataset("synth")
class SynthPulse(DatasetAdapter):
    content_version = GENERATOR_VERSION
    env_var = "RPPG_SYNTH_DIR"
    description = "SynthPulse: built-in synthetic face videos with known PPG (generated on first use, cached)"

    def __init__(
        self,
        root: str | Path | None = None,
        preset: str = "quick",
        seed: int = 0,
        generate: bool = True,
        jobs: int | None = None,
        **overrides,
    ):
        super().__init__(root)
        self.preset = get_preset(preset, **overrides)
        self.seed = int(seed)
        self.generate = bool(generate)
        self.jobs = jobs

    @classmethod
    def resolve_root(cls, root: str | Path | None) -> Path:
        """The given root, else $RPPG_SYNTH_DIR, else <cache>/synthpulse; created when missing."""
        path = Path(root or os.environ.get(cls.env_var) or default_root()).expanduser()
        if path.exists() and not path.is_dir():
            raise ConfigError(f"dataset 'synth': root {path} is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def folder(self) -> Path:
        return dataset_dir(self.root, self.preset, self.seed)

    def candidates(self) -> list[Candidate]:
        folder = self.folder
        if not is_complete(folder):
            if not self.generate:
                raise DataError(
                    folder,
                    f"SynthPulse {self.preset.name} seed {self.seed} is not generated; run "
                    f"`python -m benchmark synth --preset {self.preset.name} --seed {self.seed}`",
                )
            generate(self.preset, self.seed, self.root, self.jobs)
        try:
            ids = json.loads((folder / MARKER).read_text())["recordings"]
        except (ValueError, KeyError) as err:
            raise DataError(folder / MARKER, f"unreadable completion marker: {err}") from err
        return [Candidate(rec_id, None, partial(read_recording, folder / rec_id)) for rec_id in ids]

    def recordings(self) -> list[Recording]:
        return self._with_split(super().recordings())

    def load(self) -> DatasetLoad:
        loaded = super().load()
        loaded.recordings = self._with_split(loaded.recordings)
        return loaded

    def _with_split(self, recs: list[Recording]) -> list[Recording]:
        """The `split` tag (train / val / test by subject) on every recording."""
        split = split_subjects([r.subject for r in recs], self.seed)
        return [replace(r, tags={**r.tags, "split": split[r.subject]}) for r in recs]
