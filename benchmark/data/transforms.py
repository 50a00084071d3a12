"""Input and label normalisations, applied on the fly to uint8 cached frames (definitions: docs/methods.md).

Frames are [T, H, W, 3] uint8 or float; outputs are float32. Labels are [T] float.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from benchmark.registry import Registry

EPS = 1e-7

FRAME_NORMALIZATIONS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("frame normalisation")
LABEL_NORMALIZATIONS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("label normalisation")


def _safe_std(x: np.ndarray) -> float:
    std = float(np.std(x))
    return std if std > 0 and np.isfinite(std) else 1.0


def diff_normalize_frames(frames: np.ndarray) -> np.ndarray:
    """d_t = (x_{t+1} - x_t) / (x_{t+1} + x_t + eps), over the chunk's std, NaN -> 0, zero frame appended."""
    x = frames.astype(np.float32)
    d = (x[1:] - x[:-1]) / (x[1:] + x[:-1] + EPS)
    d = d / _safe_std(d)
    d = np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
    return np.concatenate([d, np.zeros_like(x[:1])], axis=0).astype(np.float32)


def standardize_frames(frames: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the whole chunk."""
    x = frames.astype(np.float32)
    out = (x - x.mean()) / _safe_std(x)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def raw_frames(frames: np.ndarray) -> np.ndarray:
    """Pixel values as float32 in [0, 255]; the network normalises (e.g. SSPD's BatchNorm)."""
    return frames.astype(np.float32)


def diff_and_standardized_frames(frames: np.ndarray) -> np.ndarray:
    """DiffNormalized then Standardized stacked on the channel axis (6 channels, motion first)."""
    return np.concatenate([diff_normalize_frames(frames), standardize_frames(frames)], axis=-1)


def rgb_means(frames: np.ndarray) -> np.ndarray:
    """Per-frame spatial mean RGB [T, 3], for the classic methods.

    uint8 frames are summed by cv2 in float64, which is exact for integers (every partial sum is far below
    2**53), so the result is the float64 mean bit for bit, ~100x faster than numpy's cast-then-mean (the
    classic methods' whole cost on a recording)."""
    if frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3:
        sums = np.array([cv2.sumElems(np.ascontiguousarray(f))[:3] for f in frames], dtype=np.float64)
        return (sums / (frames.shape[1] * frames.shape[2])).astype(np.float32).reshape(-1, 3)
    flat = frames.reshape(frames.shape[0], -1, frames.shape[-1]).astype(np.float64)
    return flat.mean(axis=1).astype(np.float32)


def diff_normalize_label(ppg: np.ndarray) -> np.ndarray:
    """Diff of the PPG over its std, a zero appended so T stays T."""
    d = np.diff(np.asarray(ppg, dtype=np.float64))
    d = d / _safe_std(d)
    return np.append(d, 0.0).astype(np.float32)


def standardize_label(ppg: np.ndarray) -> np.ndarray:
    y = np.asarray(ppg, dtype=np.float64)
    return ((y - y.mean()) / _safe_std(y)).astype(np.float32)


def raw_label(ppg: np.ndarray) -> np.ndarray:
    return np.asarray(ppg, dtype=np.float32)


FRAME_NORMALIZATIONS.add("raw", raw_frames)
FRAME_NORMALIZATIONS.add("diff", diff_normalize_frames)
FRAME_NORMALIZATIONS.add("standardized", standardize_frames)
FRAME_NORMALIZATIONS.add("diff+standardized", diff_and_standardized_frames)
FRAME_NORMALIZATIONS.add("rgb_mean", rgb_means)
LABEL_NORMALIZATIONS.add("raw", raw_label)
LABEL_NORMALIZATIONS.add("diff", diff_normalize_label)
LABEL_NORMALIZATIONS.add("standardized", standardize_label)


def normalize_frames(frames: np.ndarray, mode: str) -> np.ndarray:
    """Apply the named frame normalisation: [T,H,W,3] -> [T,H,W,C] float32 ([T,3] for rgb_mean)."""
    return FRAME_NORMALIZATIONS.get(mode)(frames)


def normalize_label(ppg: np.ndarray, mode: str) -> np.ndarray:
    return LABEL_NORMALIZATIONS.get(mode)(ppg)
