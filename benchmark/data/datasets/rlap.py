"""RLAP / PhysRecorder: a folder per recording with its frames, `BVP.csv` and `frames_timestamp.csv`.

RLAP lays recordings out as `pNNN/<task>/` (tasks R1-R4, E1-E6, T1-T3) holding `pictures_ZIP_RAW_RGB/`
(lossless PNG frames), `video_ZIP_H264.mp4`, `video_ZIP_MJPG.avi`; a lone PhysRecorder recording may hold
only one video. `BVP.csv` is `timestamp,bvp` in UNIX seconds at an irregular rate (~20-60 Hz);
`frames_timestamp.csv` is `frame,timestamp` in UNIX seconds. Both become seconds from the first frame, so the
BVP is aligned to the frames by their recorded times. The root may be one recording folder or a tree of them:
the first folder level under the root is the subject.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, numeric, read_csv, require_columns
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import DataError

VIDEO_SUFFIXES = (".avi", ".mkv", ".mp4", ".mov")
# The source of the frames, first match wins: lossless PNG frames, then lossless, then compressed videos.
VIDEO_PREFERENCE = ("pictures_ZIP_RAW_RGB", "video_RAW*", "video_ZIP_H264*", "video*", "*")
TASKS = {
    "R1": "relaxed",
    "R2": "relaxed (dark)",
    "R3": "play a game",
    "R4": "read an article",
    "E1": "watch natural sceneries",
    "E2": "watch a puzzle game",
    "E3": "watch a comedy",
    "E4": "watch an illusion picture",
    "E5": "watch an academic paper",
    "E6": "watch yawn videos",
    "T1": "video-based learning",
    "T2": "textbook-based learning",
    "T3": "watch a public class",
}


def _is_source(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES if path.is_file() else path.name.startswith("pictures")


def find_video(folder: Path, name: str | None = None) -> Path:
    """The recording's frames: `name` (a file or folder in the recording folder) when given, else by
    VIDEO_PREFERENCE."""
    if name:
        return folder / name
    for pattern in VIDEO_PREFERENCE:
        found = sorted(p for p in folder.glob(pattern) if _is_source(p))
        if found:
            return found[0]
    raise DataError(folder, f"no video ({', '.join(VIDEO_SUFFIXES)}) or pictures_* folder beside BVP.csv")


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
    """(UNIX seconds, BVP) sorted by time; samples logged with the same timestamp are averaged into one."""
    table = read_csv(path, "PhysRecorder BVP.csv")
    require_columns(table, path, ["timestamp", "bvp"])
    stamps, values = numeric(table, "timestamp", path), numeric(table, "bvp", path)
    unique, inverse = np.unique(stamps, return_inverse=True)  # sorted
    if len(unique) < len(stamps):
        values = np.bincount(inverse, weights=values) / np.bincount(inverse)
    else:
        values = values[np.argsort(stamps, kind="stable")]
    return unique, values


@register_dataset("rlap")
class RLAP(DatasetAdapter):
    env_var = "RLAP_ROOT"
    description = "RLAP / PhysRecorder: video + BVP.csv (timestamp,bvp UNIX s) + frames_timestamp.csv"

    def candidates(self) -> list[Candidate]:
        folders = sorted({p.parent for p in self.root.rglob("BVP.csv")})
        if not folders:
            raise DataError(self.root, "no BVP.csv found: not an RLAP / PhysRecorder root")
        out = []
        for folder in folders:
            parts = self._parts(folder)
            out.append(Candidate("_".join(parts), parts[0], partial(self._recording, folder)))
        return out

    def _parts(self, folder: Path) -> tuple[str, ...]:
        return folder.relative_to(self.root).parts or (folder.name,)

    def _recording(self, folder: Path) -> Recording:
        parts = self._parts(folder)
        video = find_video(folder, self.options.get("video"))
        frames_path = folder / "frames_timestamp.csv"
        frame_unix = read_frame_times(frames_path)
        bvp_unix, bvp = read_bvp(folder / "BVP.csv")
        # PNG frames carry no rate: take the recorded one (a video file's own rate wins over it)
        recorded_fps = (
            (len(frame_unix) - 1) / (frame_unix[-1] - frame_unix[0]) if len(frame_unix) > 1 else None
        )
        fps, num_frames = probe_video(video, recorded_fps)
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
            tags=self._tags(parts),
            source=folder / "BVP.csv",
        )
        return checked(recording, num_frames)

    @staticmethod
    def _tags(parts: tuple[str, ...]) -> dict[str, str]:
        if len(parts) < 2:
            return {}
        task = parts[-1]
        tags = {"task": task}
        if task in TASKS:
            tags["activity"] = TASKS[task]
            tags["lighting"] = "dark" if task == "R2" else "normal"
        return tags
