"""The one record every dataset adapter yields, whatever its on-disk layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.errors import DataError


@dataclass(frozen=True, eq=False)
class Recording:
    """One video with its ground-truth PPG.

    Times are seconds from the first video frame. The PPG keeps its own sampling (timestamps), and is
    aligned to the frames by interpolation on time, never by index.

    Attributes:
        dataset: registry name of the dataset (e.g. "ubfc-rppg").
        id: unique within the dataset (e.g. "subject3" or "s1_T2").
        subject: subject id, for subject-disjoint splits.
        video: a video file, or a folder of image frames (PURE).
        ppg: ground-truth PPG waveform, float64 [M].
        ppg_times: seconds from the first frame for each PPG sample, float64 [M], increasing.
        fps: nominal video frame rate.
        frame_times: seconds from the first frame for each frame where the dataset records them, else None
            (then frame i is at i / fps).
        tags: metadata for breakdowns (scenario, lighting, motion, task, skin_color...).
        hr_reference: the dataset's own heart rate for the recording where it ships one (bpm).
        source: the ground-truth file, for error messages.
    """

    dataset: str
    id: str
    subject: str
    video: Path
    ppg: np.ndarray
    ppg_times: np.ndarray
    fps: float
    frame_times: np.ndarray | None = None
    tags: dict[str, str] = field(default_factory=dict)
    hr_reference: float | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        where = self.source or self.video
        ppg = np.asarray(self.ppg, dtype=np.float64)
        times = np.asarray(self.ppg_times, dtype=np.float64)
        if ppg.ndim != 1 or ppg.size == 0:
            raise DataError(where, "ground-truth PPG is empty")
        if times.shape != ppg.shape:
            raise DataError(where, f"PPG has {ppg.size} samples but {times.size} timestamps")
        if not np.all(np.isfinite(ppg)):
            raise DataError(where, f"ground-truth PPG has {int(np.sum(~np.isfinite(ppg)))} NaN/inf values")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise DataError(where, "PPG timestamps are not finite and strictly increasing")
        if not (self.fps > 0):
            raise DataError(self.video, f"invalid frame rate {self.fps!r}")
        object.__setattr__(self, "ppg", ppg)
        object.__setattr__(self, "ppg_times", times)
        object.__setattr__(self, "video", Path(self.video))
        if self.frame_times is not None:
            object.__setattr__(self, "frame_times", np.asarray(self.frame_times, dtype=np.float64))

    @property
    def key(self) -> str:
        """Globally unique name: dataset/id."""
        return f"{self.dataset}/{self.id}"

    def times_of_frames(self, n_frames: int) -> np.ndarray:
        """Seconds from the first frame for frames 0..n_frames-1 (recorded timestamps when known)."""
        if self.frame_times is not None:
            if len(self.frame_times) < n_frames:
                raise DataError(
                    self.source or self.video,
                    f"video has {n_frames} frames but only {len(self.frame_times)} frame timestamps",
                )
            return self.frame_times[:n_frames]
        return np.arange(n_frames, dtype=np.float64) / self.fps

    def aligned_ppg(self, n_frames: int, tolerance_s: float | None = None) -> np.ndarray:
        """PPG interpolated at the frame times (float64 [n_frames]).

        Raises DataError when the ground truth does not cover the video: a frame more than `tolerance_s`
        (default: two frame periods) beyond either end of the PPG.
        """
        t = self.times_of_frames(n_frames)
        tol = 2.0 / self.fps if tolerance_s is None else tolerance_s
        where = self.source or self.video
        if t[-1] > self.ppg_times[-1] + tol:
            raise DataError(
                where,
                f"ground truth ends at {self.ppg_times[-1]:.2f} s but the video runs to {t[-1]:.2f} s "
                "(ground truth shorter than the video)",
            )
        if t[0] < self.ppg_times[0] - tol:
            raise DataError(where, f"ground truth starts at {self.ppg_times[0]:.2f} s, after the first frame")
        return np.interp(t, self.ppg_times, self.ppg)
