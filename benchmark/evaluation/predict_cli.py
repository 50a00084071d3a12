"""`python -m benchmark predict VIDEO`: heart rate from anyone's own video file.

video -> face stage (benchmark.data.face) -> the method's BVP (the shared predict path, predict_bvp) ->
heart rate over the whole clip (and in 10 s windows when the clip is long enough). Optionally writes the BVP
as CSV and a plot of the BVP and its spectrum; `--json` prints a machine-readable result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FACE_CHUNK = 128  # frames decoded and cropped at a time: memory stays flat whatever the video's length


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file or folder of frame images")
    parser.add_argument("--method", default="pos", help="registered method (see `list methods`); default pos")
    parser.add_argument(
        "--weights",
        type=Path,
        help="trained weights: state_dict, Lightning checkpoint, or the method's own format",
    )
    parser.add_argument(
        "--fps", type=float, help="frame rate, for image folders or to override the container"
    )
    parser.add_argument("--estimator", default="fft", help="heart-rate estimator: fft | welch | peaks")
    parser.add_argument(
        "--band", type=float, nargs=2, default=(0.75, 2.5), metavar=("LOW", "HIGH"), help="Hz"
    )
    parser.add_argument("--csv", type=Path, help="write the BVP: frame,time_s,bvp")
    parser.add_argument("--plot", type=Path, help="write a PNG of the BVP and its spectrum")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def load_weights(module, method: str, path: Path, factory=None):
    """Weights into a built method. Our own state_dicts and Lightning checkpoints load directly (strict);
    anything else goes to the method's own loader: `module.load_pretrained(path)`, or the factory's
    `weights=` argument (key maps for foreign formats, e.g. rPPG-Toolbox PhysNet weights)."""
    import inspect

    from benchmark.errors import ConfigError, DataError
    from benchmark.methods.weights import load_state_dict_file

    if not module.trains:
        raise ConfigError(f"method {method!r} is a classic method: it has no weights to load")
    state = load_state_dict_file(path)
    target = module if any(k.startswith("net.") for k in state) else module.net
    try:
        target.load_state_dict(state, strict=True)
        return module
    except RuntimeError as exc:
        own_error = exc
    if hasattr(module, "load_pretrained"):
        module.load_pretrained(path)
        return module
    if factory is not None and "weights" in inspect.signature(factory).parameters:
        return factory(weights=path)
    raise DataError(path, f"weights do not fit method {method!r}: {own_error}")


def build_method(name: str, weights: Path | None):
    """The method, with `weights` loaded when given (see load_weights)."""
    from benchmark.methods import METHODS

    factory = METHODS.get(name).load_factory()
    module = factory()
    return module if weights is None else load_weights(module, name, weights, factory)


def face_crops(video: Path, size: int, fps: float | None = None) -> tuple[np.ndarray, float, dict]:
    """uint8 face crops [N, size, size, 3] of the whole video, its frame rate, and face statistics."""
    from benchmark.data.face import FaceConfig, FaceTracker
    from benchmark.data.video import open_video

    with open_video(video, fps=fps) as reader:
        tracker = FaceTracker(FaceConfig(), size, reader.fps, video)
        crops, start = [], 0
        for chunk in reader.iter_chunks(FACE_CHUNK):
            crops.append(tracker.process(chunk, start).crops)
            start += len(chunk)
        stats = tracker.finish()
        return np.concatenate(crops), float(reader.fps), stats


def predict_video(video: Path, method: str = "pos", weights: Path | None = None, **options) -> dict:
    """Everything `predict` reports, as a dict (also the API for scripts)."""
    from benchmark.errors import SignalError
    from benchmark.evaluation.hr import estimate_hr, windowed_hr
    from benchmark.evaluation.inference import predict_bvp

    module = build_method(method, weights)
    crops, fps, face = face_crops(video, module.input_spec.size, options.get("fps"))
    bvp = predict_bvp(module, crops, fps, source=video)
    kw = {"band": tuple(options.get("band", (0.75, 2.5))), "estimator": options.get("estimator", "fft")}
    result = {"hr_bpm": None, "method": method, "n_frames": int(len(bvp)), "fps": fps}
    result.update({"duration_s": len(bvp) / fps, "estimator": kw["estimator"], "band_hz": list(kw["band"])})
    result.update({"video": str(video), "weights": None if weights is None else str(weights), "face": face})
    try:
        result["hr_bpm"] = round(estimate_hr(bvp, fps, **kw), 2)
    except SignalError as err:
        result["error"] = str(err)
    try:
        result["window_hr_bpm"] = [round(float(h), 2) for h in windowed_hr(bvp, fps, 10.0, 1.0, **kw)]
    except SignalError:
        result["window_hr_bpm"] = []
    result["bvp"] = bvp
    return result


def write_csv(path: Path, bvp: np.ndarray, fps: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.arange(len(bvp))
    table = np.column_stack([frames, frames / fps, bvp])
    np.savetxt(path, table, delimiter=",", header="frame,time_s,bvp", comments="", fmt=["%d", "%.4f", "%.6g"])


def main(args: argparse.Namespace) -> int:
    result = predict_video(
        args.video, args.method, args.weights, fps=args.fps, estimator=args.estimator, band=args.band
    )
    bvp = result.pop("bvp")
    if args.csv:
        write_csv(args.csv, bvp, result["fps"])
        result["csv"] = str(args.csv)
    if args.plot:
        from benchmark.evaluation.plots import bvp_and_spectrum

        title = f"{args.video.name}: {args.method}"
        bvp_and_spectrum(bvp, result["fps"], args.plot, result["hr_bpm"], tuple(args.band), title)
        result["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["hr_bpm"] is None:
        print(f"{args.video}: no heart rate ({result['error']})", file=sys.stderr)
    else:
        print(
            f"{args.video}: {result['hr_bpm']:.1f} bpm ({args.method}, {result['n_frames']} frames at "
            f"{result['fps']:g} fps, {args.estimator} estimator)"
        )
    return 0 if result["hr_bpm"] is not None else 1
