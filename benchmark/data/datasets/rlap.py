"""RLAP / PhysRecorder: a folder per recording with a video, `BVP.csv` and `frames_timestamp.csv`.

`BVP.csv` is `timestamp,bvp` in UNIX seconds at an irregular rate (~20-60 Hz); `frames_timestamp.csv` is
`frame,timestamp` in UNIX seconds. Both become seconds from the first frame, so the BVP is aligned to the
frames by their recorded times. The root may be one recording folder or a tree of them (`pNNN/vNN/`):
the first folder level under the root is the subject.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, numeric, read_csv, require_columns
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import DataError

VIDEO_SUFFIXES = (".avi", ".mkv", ".mp4", ".mov")
# When a folder holds several videos, the first pattern that matches wins (lossless before compressed).
VIDEO_PREFERENCE = ("video_RAW*", "video*", "*")


def find_video(folder: Path, name: str | None = None) -> Path:
    """The recording's video: `name` when given, else by VIDEO_PREFERENCE."""
    if name:
        return folder / name
    for pattern in VIDEO_PREFERENCE:
        found = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in VIDEO_SUFFIXES)
        if found:
            return found[0]
    raise DataError(folder, f"no video file ({', '.join(VIDEO_SUFFIXES)}) beside BVP.csv")


def read_frame_times(path: Path) -> np.ndarray:
    """UNIX seconds of each frame, ordered by frame number."""
    table = read_csv(path, "PhysRecorder frames_timestamp.csv")
    require_columns(table, path, ["frame", "timestamp"])
    frames = numeric(table, "frame", path)
    stamps = numeric(table, "timestamp", path)
    order = np.argsort(frames, kind="stable")
    if not np.array_equal(frames[order], np.arange(len(frames))):
        raise DataError(path, "frame numbers are not 0..N-1 without gaps or repeats")
    stamps = stamps[order]
    if not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) <= 0):
        raise DataError(path, "frame timestamps are not finite and strictly increasing")
    return stamps


def read_bvp(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(UNIX seconds, BVP) sorted by time."""
    table = read_csv(path, "PhysRecorder BVP.csv")
    require_columns(table, path, ["timestamp", "bvp"])
    stamps = numeric(table, "timestamp", path)
    order = np.argsort(stamps, kind="stable")
    return stamps[order], numeric(table, "bvp", path)[order]


@register_dataset("rlap")
class RLAP(DatasetAdapter):
    env_var = "RLAP_ROOT"
    description = "RLAP / PhysRecorder: video + BVP.csv (timestamp,bvp UNIX s) + frames_timestamp.csv"

    def recordings(self) -> list[Recording]:
        folders = sorted({p.parent for p in self.root.rglob("BVP.csv")})
        if not folders:
            raise DataError(self.root, "no BVP.csv found: not an RLAP / PhysRecorder root")
        return [self._recording(folder) for folder in folders]

    def _recording(self, folder: Path) -> Recording:
        parts = folder.relative_to(self.root).parts or (folder.name,)
        video = find_video(folder, self.options.get("video_name"))
        frames_path = folder / "frames_timestamp.csv"
        frame_unix = read_frame_times(frames_path)
        bvp_unix, bvp = read_bvp(folder / "BVP.csv")
        fps, num_frames = probe_video(video)
        if len(frame_unix) < num_frames:
            raise DataError(
                frames_path,
                f"lists {len(frame_unix)} timestamps but {video.name} has {num_frames} frames",
            )
        t0 = frame_unix[0]
        recording = Recording(
            dataset=self.name,
            id="_".join(parts),
            subject=parts[0],
            video=video,
            ppg=bvp,
            ppg_times=bvp_unix - t0,
            fps=fps,
            frame_times=frame_unix - t0,
            tags={"session": parts[-1]} if len(parts) > 1 else {},
            source=folder / "BVP.csv",
        )
        return checked(recording, num_frames)
