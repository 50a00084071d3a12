"""Is the pulse really in the pixels? Classic methods on the face region of SynthPulse videos, per scenario.

Deliberately simple and independent of the suite's face stage: Haar boxes every few frames, the central part
of the box (forehead, cheeks, nose) averaged per frame, then the catalogue's GREEN and POS algorithms and the
suite's heart-rate estimator. Used by `python -m benchmark synth --evaluate` and by tests/test_synth.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.signal import medfilt

from benchmark.data.synth.subjects import detect_faces
from benchmark.errors import NoFaceError

# Forehead and cheeks+nose, as fractions of the Haar box (y0, y1, x0, x1): skin, no eyes, brows or mouth.
SKIN_PATCHES = ((0.06, 0.24, 0.28, 0.72), (0.52, 0.72, 0.18, 0.82))


def _span(origin: float, size: float, lo: float, hi: float) -> slice:
    return slice(int(round(origin + lo * size)), int(round(origin + hi * size)))


def face_rgb_trace(video: Path, every: int = 10) -> tuple[np.ndarray, float]:
    """Mean RGB [T, 3] of the face box's centre per frame, and the fraction of sampled frames with one face.

    Boxes are detected every `every` frames and interpolated linearly in between, so the region glides
    instead of jumping (a jumping box adds steps that swamp a sub-grey-level pulse).
    """
    import cv2  # noqa: F401  (before decord: decord's zlib breaks OpenCV's PNG codec otherwise)
    import decord

    reader = decord.VideoReader(str(video), ctx=decord.cpu(0), num_threads=1)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    n = len(frames)
    sampled = np.arange(0, n, every)
    found = [(i, detect_faces(frames[i])) for i in sampled]
    hits = [(i, f[0]) for i, f in found if len(f) == 1]
    if not hits:
        raise NoFaceError(video, "no face in any sampled frame")
    at = np.array([i for i, _ in hits], dtype=float)
    boxes = np.array([b for _, b in hits], dtype=float)
    # Haar box sizes jump between scale steps (x1.2): a running median keeps the region steady.
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    size = medfilt(boxes[:, 2], min(5, len(boxes) // 2 * 2 + 1 if len(boxes) % 2 else len(boxes) - 1 or 1))
    t = np.arange(n)
    cx, cy, s = np.interp(t, at, centre[:, 0]), np.interp(t, at, centre[:, 1]), np.interp(t, at, size)
    trace = np.empty((n, 3))
    for i in range(n):
        x, y = cx[i] - s[i] / 2, cy[i] - s[i] / 2
        parts = [
            frames[i, _span(y, s[i], a, b), _span(x, s[i], c, d)].reshape(-1, 3)
            for a, b, c, d in SKIN_PATCHES
        ]
        trace[i] = np.concatenate(parts).mean(axis=0)
    return trace, len(hits) / len(sampled)


def estimate(trace: np.ndarray, fps: float, method: str) -> float:
    """Heart rate (bpm) of a face trace with one classic algorithm ("green", "pos", ...)."""
    from benchmark.evaluation.hr import estimate_hr
    from benchmark.methods.classic import CLASSIC

    bvp = CLASSIC.get(method)(trace.T[None].astype(np.float64), fps)[0]
    return estimate_hr(bvp, fps)


def evaluate(recordings, methods=("green", "pos")) -> list[dict]:
    """One row per recording: truth, each method's estimate, and the face detection rate."""
    rows = []
    for rec in recordings:
        trace, rate = face_rgb_trace(rec.video)
        row = {"id": rec.id, "scenario": rec.tags["scenario"], "skin_tone": rec.tags["skin_tone"]}
        row.update(hr_true=rec.hr_reference, detection_rate=rate)
        for m in methods:
            row[m] = estimate(trace, rec.fps, m)
        rows.append(row)
    return rows


def mae_by(rows: list[dict], key: str, methods=("green", "pos")) -> dict[str, dict[str, float]]:
    """{group: {method: MAE in bpm, "n": count}} over the rows grouped by `key`."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return {
        g: {"n": len(rs), **{m: float(np.mean([abs(r[m] - r["hr_true"]) for r in rs])) for m in methods}}
        for g, rs in groups.items()
    }
