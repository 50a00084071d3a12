"""`python -m benchmark predict VIDEO`: heart rate from anyone's own video file.

video -> face stage (benchmark.data.face) -> the method's BVP (the shared predict path, predict_bvp) ->
heart rate over the whole clip, its SNR, and heart rate in 10 s windows every 1 s when the clip is long
enough. Optionally writes the BVP as CSV and a plot (BVP, heart rate over time, spectrum); `--json` prints a
machine-readable result.

The SNR (benchmark.evaluation.hr.snr_db, de Haan & Jeanne 2013) needs a heart rate to centre its signal bins
on; a video comes with no reference, so it is taken around the predicted heart rate: power within +-6 bpm of
`hr_bpm` and of its second harmonic against the rest of 0.6-3.3 Hz. It says how clearly the BVP holds the
pulse it reports, not whether that pulse is right, and it runs higher than an SNR around a reference HR.

A learned method (catalogue kind supervised or self-supervised) needs trained weights: without `--weights`
it uses the model zoo's entry for that method (zoo/<method>.pt, trained on SynthPulse, sha256-checked; the
JSON's `weights` names it; the network is built at the input size its weights were trained at, see
trained_factory_kwargs), and a method the zoo lacks is refused (ConfigError) before any decoding, rather
than report a heart rate from random weights.

Errors and exit codes, one convention with or without `--json`:

- 0: a heart rate was estimated.
- 2: the input or the configuration cannot be used (BenchmarkError raised before a BVP exists: ConfigError
  for an unknown method or estimator, an invalid band, a learned method without --weights, weights given to
  a classic method; DataError for a missing or unreadable video or weights file, a file that is not a video,
  no face found, a video too short for one heart rate in the band or for one chunk of the method, a frame
  rate too low for the band, weights that do not fit, an output file that cannot be written). Nothing is
  written (all of these come before the outputs, except an unwritable --plot, which follows the --csv).
- 1: predict ran to the end but no heart rate could be estimated from the BVP (the estimator's SignalError:
  a constant or NaN BVP, no pulse in the band). The BVP is kept: --csv and --plot are still written, and
  --json prints the whole result with `hr_bpm` null.

Without `--json` an error is one line on stderr, `error: ...` (rc 2 printed by benchmark.cli, rc 1 here).
With `--json` every error is one JSON object on stdout and nothing on stderr:
`{"error": "<message>", "kind": "<exception class, e.g. DataError>", "exit_code": 2, "video": ..., ...}`
(DataError adds `path`; rc 1 adds the whole result). Two exceptions, both outside this convention: argparse's
own usage errors (an unknown flag, `--fps abc`) happen before `--json` is read, so they are argparse's text on
stderr with rc 2; and an unexpected exception (a bug) is not caught: a traceback, rc 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from benchmark.spec import DEFAULT_BAND, crop_side

FACE_CHUNK = 128  # frames decoded and cropped at a time: memory stays flat whatever the video's length
WINDOW_S = 10.0  # windowed heart rate: window length ...
WINDOW_STRIDE_S = 1.0  # ... and the step between window starts (seconds)
SNR_HALF_WIDTH_BPM = 6.0  # SNR signal bins: +-6 bpm around the HR and its second harmonic
EXIT_OK, EXIT_NO_HR, EXIT_INPUT = 0, 1, 2
SNR_RELATIVE_TO = (
    "hr_bpm, the predicted heart rate (no reference heart rate is given): power within +-6 bpm of it and "
    "of its second harmonic against the rest of 0.6-3.3 Hz"
)

# Weights a learned method uses when --weights is not given, before the zoo is asked: method name -> file.
DEFAULT_WEIGHTS: dict[str, Path] = {}


# benchmark.evaluation.hr.ESTIMATORS names (a test keeps them equal): --help imports no scipy
ESTIMATOR_NAMES = ("fft", "welch", "peaks")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file or folder of frame images")
    parser.add_argument("--method", default="pos", help="registered method (see `list methods`); default pos")
    parser.add_argument(
        "--weights",
        type=Path,
        help="trained weights, required by learned methods: state_dict, Lightning checkpoint, the "
        "method's own format (e.g. rPPG-Toolbox PhysNet .pth), or a release name (`weights list`, e.g. "
        "physnet@pure-rppgtoolbox: fetched and sha256-checked)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of an image folder (a video file's own rate is used when it has one)",
    )
    parser.add_argument(
        "--estimator", default="fft", choices=ESTIMATOR_NAMES, help="heart-rate estimator (default fft)"
    )
    parser.add_argument(
        "--band", type=float, nargs=2, default=DEFAULT_BAND, metavar=("LOW", "HIGH"), help="Hz"
    )
    parser.add_argument("--csv", type=Path, help="write the BVP: frame,time_s,bvp")
    parser.add_argument(
        "--plot", type=Path, help="write a PNG: the BVP, heart rate over time, and the spectrum with SNR"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON (errors too: {error, kind, exit_code}; exit codes as without it)",
    )


def default_weights(method: str) -> Path | None:
    """The weights a learned method uses when none are given: DEFAULT_WEIGHTS, else the zoo's entry for the
    method (sha256-checked), else None."""
    if method in DEFAULT_WEIGHTS:
        return DEFAULT_WEIGHTS[method]
    from benchmark import zoo

    entry = zoo.find_method(method)
    return entry.verified() if entry else None


def resolve_weights(method: str, weights: Path | None) -> Path | None:
    """The weights to load into `method`: the given ones, else its default; None for a classic method.

    Raises:
        ConfigError: unknown method, or a learned method with no weights given and no default.
    """
    from benchmark.errors import ConfigError
    from benchmark.methods import METHODS

    entry = METHODS.get(method)
    if weights is not None or entry.kind == "none":
        return weights
    found = default_weights(method)
    if found is not None:
        return found
    raise ConfigError(
        f"method {method!r} is a learned ({entry.kind}) method and needs trained weights: without them it "
        f"would report a heart rate from random weights. Give them with --weights FILE (a checkpoint or "
        f"state_dict from `python -m benchmark run`, or the method's own format, e.g. an rPPG-Toolbox "
        f"PhysNet .pth for physnet), or use a classic method, which needs none (e.g. --method pos)"
    )


def load_weights(module, method: str, path: Path, factory=None):
    """Weights into a built method. Our own state_dicts and Lightning checkpoints load directly (strict);
    anything else goes to the method's own loader: `module.load_pretrained(path)`, or the factory's
    `weights=` argument (key maps for foreign formats, e.g. rPPG-Toolbox PhysNet weights)."""
    import inspect

    from benchmark.errors import ConfigError, DataError
    from benchmark.methods.training import load_inference_state
    from benchmark.methods.weights import load_state_dict_file

    if not module.trains:
        raise ConfigError(f"method {method!r} is a classic method: it has no weights to load")
    state = load_state_dict_file(path)
    target = module if any(k.startswith("net.") for k in state) else module.net
    try:
        load_inference_state(target, state, path)
        return module
    except DataError as exc:
        own_error = exc
    if hasattr(module, "load_pretrained"):
        module.load_pretrained(path)
        return module
    if factory is not None and "weights" in inspect.signature(factory).parameters:
        return factory(weights=path)
    raise own_error


def trained_factory_kwargs(method: str, weights: Path, factory) -> dict:
    """The factory arguments `weights` were trained with, so that the network is built at the input size
    (and chunk length) it learned: a model trained at 36x36 and run on 72x72 crops sees its face at another
    scale, and fully convolutional ones (PhysNet, the KD student) run without complaint and read the wrong
    heart rate (the zoo's PhysNet: 81.49 bpm on the real PhysRecorder clip at 72 px, 71.21 at 36; oximeter
    70.8). From the zoo entry's recipe when the weights are a zoo entry's, else from a Lightning checkpoint's
    saved input spec (`benchmark run`'s checkpoints), else none (a foreign format such as rPPG-Toolbox's
    .pth, trained at the method's paper size, its default)."""
    from benchmark import zoo
    from benchmark.methods.config import factory_arguments, split_recipe

    entry = zoo.find_method(method)
    if entry is not None and "recipe" in entry.meta and zoo_weights(entry, weights):
        kwargs = split_recipe(entry.meta["recipe"])[0]
    else:
        spec = checkpoint_input_spec(weights)
        kwargs = {k: spec[k] for k in ("size", "frames") if k in spec}
    accepted = factory_arguments(factory)
    return kwargs if accepted is None else {k: v for k, v in kwargs.items() if k in accepted}


def zoo_weights(entry, path: Path) -> bool:
    """Whether `path` holds the zoo entry's weights: its file, or a copy of it anywhere (same sha256)."""
    from benchmark.paths import file_sha256

    if entry.loads_from(path):
        return True
    return Path(path).is_file() and file_sha256(Path(path)) == entry.meta["sha256"]


def checkpoint_input_spec(path: Path) -> dict:
    """The input spec a Lightning checkpoint of ours saved in its hyper-parameters ({} for anything else)."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable or foreign: load_weights reports it with the file's name
        return {}
    hparams = obj.get("hyper_parameters") if isinstance(obj, dict) else None
    spec = hparams.get("input_spec") if isinstance(hparams, dict) else None
    return spec if isinstance(spec, dict) else {}


def build_method(name: str, weights: Path | None):
    """The method, with its weights loaded (see resolve_weights and load_weights).

    Raises:
        ConfigError: unknown method, a learned method without weights, weights for a classic method.
        DataError: a weights file that is missing, unreadable, or does not fit the method.
    """
    from benchmark.methods import METHODS
    from benchmark.methods.weights import RELEASES, load_release

    if weights is not None and str(weights) in RELEASES:
        release = RELEASES.get(str(weights))
        if release.method != name:
            from benchmark.errors import ConfigError

            raise ConfigError(
                f"weights release {release.name!r} is for method {release.method!r}, not {name!r}"
            )
        return load_release(release.name)
    weights = resolve_weights(name, weights)
    factory = METHODS.get(name).load_factory()
    if weights is None:
        return factory()
    return load_weights(factory(**trained_factory_kwargs(name, weights, factory)), name, weights, factory)


def check_options(band, estimator: str) -> tuple[float, float]:
    """The band as a tuple, after checking it and the estimator name (ConfigError), before any decoding."""
    from benchmark.errors import ConfigError
    from benchmark.evaluation.hr import ESTIMATORS

    ESTIMATORS.get(estimator)
    low, high = (float(b) for b in band)
    if not (0 < low < high):
        raise ConfigError(f"invalid --band {low:g} {high:g} Hz: need 0 < LOW < HIGH")
    return low, high


def check_length(
    video: Path, fps: float, n_frames: int, band: tuple[float, float], chunk: int | None, method: str
):
    """DataError when the video cannot give a heart rate in `band` at all: a frame rate not above twice the
    band's upper edge, fewer frames than two periods of its lower edge (what the estimators need), or
    fewer than one chunk of the method. Checked on the container's frame count, before decoding."""
    from benchmark.errors import DataError
    from benchmark.evaluation.hr import FILTER_ORDER, MIN_CYCLES

    low, high = band
    if not fps > 2 * high:
        raise DataError(
            video,
            f"frame rate {fps:g} fps is too low for the band {low:g}-{high:g} Hz (need above {2 * high:g})",
        )
    need_s = MIN_CYCLES / low
    need = max(math.ceil(need_s * fps - 1e-9), 3 * (2 * FILTER_ORDER + 1) + 1)
    what = f"a heart rate in {low:g}-{high:g} Hz needs at least {need} frames ({need_s:.2f} s)"
    if chunk is not None and chunk > need:
        need, what = chunk, f"{method} needs at least {chunk} frames (one chunk)"
    if n_frames < need:
        raise DataError(
            video, f"video is too short: {n_frames} frames ({n_frames / fps:.2f} s at {fps:g} fps); {what}"
        )


def window_centres(n_windows: int, fps: float) -> tuple[np.ndarray, float, float]:
    """Centre time (s) of each window of windowed_hr(bvp, fps, WINDOW_S, WINDOW_STRIDE_S), and the window
    length and stride in seconds as windowed_hr rounds them to whole frames (window i starts at i * stride).
    """
    win = int(round(WINDOW_S * fps))
    step = max(1, int(round(WINDOW_STRIDE_S * fps)))
    return (np.arange(n_windows) * step + win / 2) / fps, win / fps, step / fps


@contextlib.contextmanager
def frames_bar(total: int, label: str):
    """advance(n) for a progress bar of the face stage on a terminal's stderr; silent elsewhere, so piped or
    --json output carries nothing but the result."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"{label}: faces"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("frames", total=total)
        yield lambda n: bar.advance(task, n)


def face_crops(video: Path, size: int, fps: float | None = None) -> tuple[np.ndarray, float, dict]:
    """uint8 face crops [N, size, size, 3] of the whole video, its frame rate, and face statistics.

    The sweep's tracker and FaceConfig, with the box resized straight to `size` (crop_side: the network's
    input, as rPPG-Toolbox does, so its weights see what they were trained on): the crops the sweep's cache
    holds for the same video and side (tested). Through a 128-px intermediate instead, PhysNet (PURE weights)
    read 59.19 bpm on the real PhysRecorder clip where direct 72-px crops give 70.73 (70.94 via 144 px,
    101.37 via 216 px)."""
    from benchmark.data.face import FaceConfig, FaceTracker
    from benchmark.data.video import open_video

    with open_video(video, fps=fps) as reader, frames_bar(reader.num_frames, video.name) as advance:
        tracker = FaceTracker(FaceConfig(), size, reader.fps, video)
        crops, start = [], 0
        for chunk in reader.iter_chunks(FACE_CHUNK):
            crops.append(tracker.process(chunk, start).crops)
            start += len(chunk)
            advance(len(chunk))
        stats = tracker.finish()
        return np.concatenate(crops), float(reader.fps), stats


def predict_video(video: Path, method: str = "pos", weights: Path | None = None, **options) -> dict:
    """Everything `predict` reports, as a dict (also the API for scripts).

    Raises (BenchmarkError, all before the BVP exists): ConfigError for the method, its weights, the band or
    the estimator; DataError for the video (missing, unreadable, too short, no face) or the weights file.
    When the BVP holds no heart rate the dict has `hr_bpm` None, `error` and `kind` (not raised).
    """
    from benchmark.data.video import probe_video
    from benchmark.errors import SignalError
    from benchmark.evaluation.hr import estimate_hr, snr_db, windowed_hr
    from benchmark.evaluation.inference import predict_bvp

    weights = resolve_weights(method, weights)  # before anything is built, opened or decoded
    band = check_options(options.get("band", DEFAULT_BAND), options.get("estimator", "fft"))
    module = build_method(method, weights)
    fps, n_frames = probe_video(video, options.get("fps"))
    check_length(video, fps, n_frames, band, module.input_spec.frames, method)
    crops, fps, face = face_crops(video, crop_side(module.input_spec), options.get("fps"))
    bvp = predict_bvp(module, crops, fps, source=video)
    kw = {"band": band, "estimator": options.get("estimator", "fft")}
    result = {"hr_bpm": None, "method": method, "n_frames": int(len(bvp)), "fps": fps}
    result.update({"duration_s": len(bvp) / fps, "estimator": kw["estimator"], "band_hz": list(band)})
    result.update({"video": str(video), "weights": None if weights is None else str(weights), "face": face})
    result.update({"snr_db": None, "snr_relative_to": SNR_RELATIVE_TO})
    try:
        result["hr_bpm"] = round(estimate_hr(bvp, fps, **kw), 2)
    except SignalError as err:
        result.update({"error": f"no heart rate could be estimated: {err}", "kind": type(err).__name__})
    if result["hr_bpm"] is not None:
        try:
            result["snr_db"] = round(snr_db(bvp, fps, result["hr_bpm"], half_width_bpm=SNR_HALF_WIDTH_BPM), 2)
        except SignalError:
            pass
    try:
        window_hr = windowed_hr(bvp, fps, WINDOW_S, WINDOW_STRIDE_S, **kw)
    except SignalError:  # shorter than one window: no windowed heart rate, not an error
        window_hr = np.array([])
    centres, window_s, stride_s = window_centres(len(window_hr), fps)
    result["window_s"], result["window_stride_s"] = round(window_s, 4), round(stride_s, 4)
    result["window_t_s"] = [round(float(t), 3) for t in centres]
    result["window_hr_bpm"] = [round(float(h), 2) if np.isfinite(h) else None for h in window_hr]
    result["bvp"] = bvp
    return result


def write_csv(path: Path, bvp: np.ndarray, fps: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.arange(len(bvp))
    table = np.column_stack([frames, frames / fps, bvp])
    np.savetxt(path, table, delimiter=",", header="frame,time_s,bvp", comments="", fmt=["%d", "%.4f", "%.6g"])


def error_json(err: Exception, args: argparse.Namespace, exit_code: int) -> dict:
    """The JSON object `--json` prints for an error."""
    out = {"error": str(err), "kind": type(err).__name__, "exit_code": exit_code}
    if getattr(err, "path", None) is not None:
        out["path"] = str(err.path)
    out.update({"video": str(args.video), "method": args.method})
    return out


def main(args: argparse.Namespace) -> int:
    """Exit codes and how errors are printed: see the module docstring."""
    from benchmark.errors import BenchmarkError

    try:
        return _predict(args)
    except BenchmarkError as err:
        if not args.json:
            raise  # benchmark.cli prints `error: ...` on stderr and returns 2
        print(json.dumps(error_json(err, args, EXIT_INPUT), indent=2))
        return EXIT_INPUT


def _predict(args: argparse.Namespace) -> int:
    from benchmark.errors import DataError

    result = predict_video(
        args.video, args.method, args.weights, fps=args.fps, estimator=args.estimator, band=args.band
    )
    bvp = result.pop("bvp")
    try:
        if args.csv:
            write_csv(args.csv, bvp, result["fps"])
            result["csv"] = str(args.csv)
        if args.plot:
            from benchmark.evaluation.plots import bvp_and_spectrum

            bvp_and_spectrum(
                bvp,
                result["fps"],
                args.plot,
                result["hr_bpm"],
                tuple(result["band_hz"]),
                f"{args.video.name}: {args.method}",
                window_t_s=result["window_t_s"],
                window_hr_bpm=result["window_hr_bpm"],
                snr_db=result["snr_db"],
                snr_half_width_bpm=SNR_HALF_WIDTH_BPM,
            )
            result["plot"] = str(args.plot)
    except OSError as err:
        raise DataError(err.filename, f"cannot write the output: {err.strerror or err}") from err
    code = EXIT_OK if result["hr_bpm"] is not None else EXIT_NO_HR
    if args.json:
        if code != EXIT_OK:
            result = {"error": result.pop("error"), "kind": result.pop("kind"), "exit_code": code, **result}
        print(json.dumps(result, indent=2))
    elif code != EXIT_OK:
        print(f"error: {args.video}: {result['error']}", file=sys.stderr)
    else:
        snr = "" if result["snr_db"] is None else f", SNR {result['snr_db']:.1f} dB around it"
        print(
            f"{args.video}: {result['hr_bpm']:.1f} bpm{snr} ({args.method}, {result['n_frames']} frames at "
            f"{result['fps']:g} fps, {args.estimator} estimator)"
        )
    return code
