"""A manifest CSV for anyone's own videos: one row per recording, paths relative to the manifest.

Columns: `subject`, `video`, `ground_truth` (required); `id`, `fps`, `frame_times` (optional); any other
column becomes a tag. The ground truth is a CSV with `time_s,ppg` (seconds from the first frame) or a single
`ppg` column with one value per frame. `frame_times` is a CSV with a `time_s` column, one row per frame.
See docs/datasets.md.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, numeric, read_csv, require_columns
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import ConfigError, DataError

DEFAULT_NAME = "manifest.csv"
REQUIRED = ["subject", "video", "ground_truth"]
OPTIONAL = ["id", "fps", "frame_times"]


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


@register_dataset("manifest")
class Manifest(DatasetAdapter):
    env_var = "RPPG_MANIFEST"
    description = (
        "your own videos: a CSV of subject,video,ground_truth rows (ground truth: time_s,ppg or ppg)"
    )

    def __init__(self, root: str | Path | None = None, manifest: str | Path | None = None, **options):
        self.manifest = self.find_manifest(root, manifest)
        self.root = self.manifest.parent
        self.options = options

    @classmethod
    def find_manifest(cls, root: str | Path | None, manifest: str | Path | None) -> Path:
        """The manifest file: `manifest` (relative to `root` when given), else `root` itself when it is a
        file, else `root/manifest.csv`; with neither, the variable RPPG_MANIFEST (file or folder)."""
        if manifest is not None:
            path = Path(root, manifest) if root is not None else Path(manifest)
        else:
            if root is None:
                root = os.environ.get(cls.env_var, "")
                if not root:
                    raise ConfigError(
                        "dataset 'manifest': no manifest given; set the environment variable "
                        f"{cls.env_var} to the manifest CSV (or its folder), or pass manifest= in the config"
                    )
            path = Path(root)
            path = path / DEFAULT_NAME if path.is_dir() else path
        path = path.expanduser()
        if not path.is_file():
            raise DataError(path, "manifest CSV not found")
        return path

    def candidates(self) -> list[Candidate]:
        """One per row; the manifest itself (unreadable, required columns missing, an id repeated) is wrong as
        a whole, a row's files fail that row only."""
        table = read_csv(self.manifest, "manifest CSV")
        require_columns(table, self.manifest, REQUIRED)
        tag_columns = [c for c in table.columns if c not in REQUIRED + OPTIONAL]
        candidates, seen = [], {}
        for row_number, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
            rec_id, subject = self._names(row, row_number)
            if rec_id in seen:
                problem = f"line {row_number}: id {rec_id!r} repeats line {seen[rec_id]}"
                raise DataError(self.manifest, problem)
            seen[rec_id] = row_number
            load = partial(self._recording, row, row_number, tag_columns)
            candidates.append(Candidate(rec_id, subject, load))
        return candidates

    @staticmethod
    def _names(row: dict, row_number: int) -> tuple[str, str]:
        """(id, subject) of a row: the columns, else the video's file name (else `line<N>`)."""
        stem = Path(_text(row.get("video"))).stem or f"line{row_number}"
        return _text(row.get("id")) or stem, _text(row.get("subject")) or stem

    def _path(self, row: dict, column: str, row_number: int) -> Path:
        text = _text(row.get(column))
        if not text:
            raise DataError(self.manifest, f"line {row_number}: empty {column!r}")
        path = (self.root / text).expanduser()
        if not path.exists():
            raise DataError(self.manifest, f"line {row_number}: {column} {path} does not exist")
        return path

    def _recording(self, row: dict, row_number: int, tag_columns: list[str]) -> Recording:
        video = self._path(row, "video", row_number)
        gt_path = self._path(row, "ground_truth", row_number)
        fps_text = _text(row.get("fps"))
        try:
            fps_given = float(fps_text) if fps_text else None
        except ValueError:
            raise DataError(self.manifest, f"line {row_number}: fps {fps_text!r} is not a number") from None
        fps, num_frames = probe_video(video, fps_given)
        frame_times = None
        if _text(row.get("frame_times")):
            frame_times = self._frame_times(self._path(row, "frame_times", row_number))
        ppg, ppg_times = self._ground_truth(gt_path, fps, frame_times)
        rec_id, subject = self._names(row, row_number)
        recording = Recording(
            dataset=self.name,
            id=rec_id,
            subject=subject,
            video=video,
            ppg=ppg,
            ppg_times=ppg_times,
            fps=fps,
            frame_times=frame_times,
            tags={c: _text(row.get(c)) for c in tag_columns if _text(row.get(c))},
            source=gt_path,
        )
        return checked(recording, num_frames)

    @staticmethod
    def _frame_times(path: Path) -> np.ndarray:
        table = read_csv(path, "frame-times CSV")
        require_columns(table, path, ["time_s"])
        return numeric(table, "time_s", path)

    @staticmethod
    def _ground_truth(
        path: Path, fps: float, frame_times: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ppg, seconds from the first frame): timed samples, or one sample per frame."""
        table = read_csv(path, "ground-truth CSV")
        if "time_s" in table.columns:
            require_columns(table, path, ["time_s", "ppg"])
            return numeric(table, "ppg", path), numeric(table, "time_s", path)
        if "ppg" not in table.columns:
            found = ", ".join(map(str, table.columns))
            raise DataError(path, f"expected columns time_s,ppg or a per-frame ppg column (found: {found})")
        ppg = numeric(table, "ppg", path)
        if frame_times is not None and len(frame_times) >= len(ppg):
            return ppg, frame_times[: len(ppg)]
        return ppg, np.arange(len(ppg)) / fps
