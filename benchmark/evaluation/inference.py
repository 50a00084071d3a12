"""The one predict path: cached face crops of a recording -> the method's BVP over every frame.

Used by `predict`, the sweep runner and the profiler alike, so a method is evaluated the same way
everywhere: resize to the method's frame size, normalise per chunk exactly as in training, cut into
overlapping chunks of T frames (the last one aligned to the recording's end), run without gradients, stitch
back to [N] by windowed overlap-add, and integrate difference-signal outputs.

Why overlap-add: a network's output has edge transients at fixed positions inside each chunk (temporal
padding). Chunks laid end to end repeat them every T frames, and after integration their harmonics (56 and
70 bpm for T = 128 at 30 fps) compete with the pulse. A Hann-weighted average of half-overlapping chunks
gives each frame mostly the prediction of a chunk that sees it near its centre.

The network runs in its inference form (benchmark.methods.optimize: BatchNorm folded, fused oneDNN convs,
channels-last), which gives the same output as the trained network.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from benchmark.data.transforms import normalize_frames
from benchmark.errors import DataError, SignalError
from benchmark.evaluation.hr import estimate_hr
from benchmark.methods.optimize import optimize_for_inference


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """[N, S, S, 3] -> [N, size, size, 3] with INTER_AREA (what the cache's crops were made with).

    One cv2 call per frame: cv2's area interpolation takes at most 4 channels at non-integer scales, so
    frames cannot be stacked into one call; the loop only dispatches, cv2 does the work."""
    n, h, w, c = frames.shape
    if (h, w) == (size, size):
        return frames
    out = np.empty((n, size, size, c), dtype=frames.dtype)
    for i, frame in enumerate(frames):
        out[i] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return out


def chunk_starts(n_frames: int, chunk: int, stride: int | None = None) -> np.ndarray:
    """Starts of chunks every `stride` frames (default: `chunk`, no overlap) covering [0, n): the last chunk
    ends at n."""
    starts = np.arange(0, n_frames - chunk + 1, stride or chunk)
    if starts[-1] + chunk < n_frames:
        starts = np.append(starts, n_frames - chunk)
    return starts


def overlap_weights(chunk: int) -> np.ndarray:
    """Hann taper sampled at frame centres: largest mid-chunk, small but never zero at the edges, so a frame
    that only one chunk covers (the recording's first and last frames) keeps that chunk's value."""
    return np.sin(np.pi * (np.arange(chunk) + 0.5) / chunk) ** 2


def _module_device(module: torch.nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def predict_bvp(
    module,
    frames: np.ndarray,
    fps: float,
    *,
    batch_size: int = 4,
    overlap: float = 0.5,
    source: str | Path | None = None,
) -> np.ndarray:
    """BVP [N] (float64) of one recording from its uint8 face crops [N, S, S, 3].

    Args:
        module: a MethodModule (anything with `input_spec`, `net` and a forward over the batch contract).
        frames: uint8 face crops of the whole recording.
        fps: frame rate; given to networks that need it (classic methods' `fps` attribute).
        batch_size: chunks per forward pass.
        overlap: fraction of a chunk shared with the next one (0 lays chunks end to end).
        source: the recording, named in errors.

    Raises:
        DataError: frames of the wrong shape, or a recording shorter than one chunk of the method.
    """
    spec = module.input_spec
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise DataError(source, f"expected face crops [N, S, S, 3], got shape {frames.shape}")
    n = frames.shape[0]
    chunk = n if spec.frames is None else int(spec.frames)
    name = getattr(module, "method_name", "") or type(module).__name__
    if n < chunk:
        raise DataError(
            source, f"recording has {n} frames, fewer than the {chunk} per chunk that {name} needs"
        )
    if hasattr(module.net, "fps"):
        module.net.fps = float(fps)
    if spec.inputs != "rgb_mean":
        frames = resize_frames(frames, spec.size)

    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    starts = chunk_starts(n, chunk, max(1, round(chunk * (1.0 - overlap))))
    weights = overlap_weights(chunk)
    device = _module_device(module)
    weighted = np.zeros(n, dtype=np.float64)
    total = np.zeros(n, dtype=np.float64)
    was_training = module.training
    module.eval()
    try:
        forward = optimize_for_inference(module)  # eval-only fused copy where the network offers one
        with torch.inference_mode():
            for first in range(0, len(starts), batch_size):
                batch_starts = starts[first : first + batch_size]
                x = np.stack([_network_input(frames[s : s + chunk], spec.inputs) for s in batch_starts])
                out = forward(torch.from_numpy(x).to(device)).detach().to("cpu", torch.float64).numpy()
                if out.shape != (len(batch_starts), chunk):
                    raise DataError(source, f"{name} returned shape {out.shape}, expected [B, {chunk}]")
                for s, row in zip(batch_starts, out):
                    weighted[s : s + chunk] += weights * row
                    total[s : s + chunk] += weights
    finally:
        module.train(was_training)
    bvp = weighted / total
    return np.cumsum(bvp) if spec.output == "diff" else bvp


def _network_input(frames: np.ndarray, inputs: str) -> np.ndarray:
    """One chunk, normalised as in training, in the batch layout: [3, T] (rgb_mean) or [C, T, H, W]."""
    x = normalize_frames(frames, inputs)
    return np.ascontiguousarray(x.T if inputs == "rgb_mean" else x.transpose(3, 0, 1, 2), dtype=np.float32)


def hr_from_bvp(bvp: np.ndarray, fps: float, **kwargs) -> tuple[float, str | None]:
    """(heart rate, None), or (NaN, why) when no heart rate can be read: failures are recorded, not raised."""
    try:
        return estimate_hr(bvp, fps, **kwargs), None
    except SignalError as err:
        return float("nan"), str(err)
