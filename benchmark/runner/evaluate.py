"""Score one cell: predict a BVP for every test recording at the cell's compression level, read heart rates.

The ground-truth HR comes from the PPG aligned to the frames, through the same estimator, band and windows
as the prediction. A recording that cannot be read or scored (ground truth or video the dataset could not
load, no face, unusable signal) is kept as a failed prediction with its reason; the cell fails only when no
recording could be scored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from benchmark.errors import BenchmarkError
from benchmark.results.store import WHOLE, CellResult, Prediction
from benchmark.runner.cells import Cell
from benchmark.spec import CROP_SIZE, crop_side

log = logging.getLogger(__name__)


def heart_rates(bvp: np.ndarray, ppg: np.ndarray, fps: float, ev) -> list[tuple]:
    """[(window, start_s, hr_pred, hr_true, snr_db, error)] for the whole recording and each window.

    A window where either side has no in-band peak is kept with NaN (and excluded from the windowed MAE).
    """
    from benchmark.evaluation.hr import estimate_hr, snr_db, windowed_hr

    kw = {"band": tuple(ev.band), "estimator": ev.estimator}
    hr_true = estimate_hr(ppg, fps, **kw)  # a bad ground truth fails the recording: no number without truth
    try:
        hr_pred = estimate_hr(bvp, fps, **kw)
    except BenchmarkError as err:
        return [(WHOLE, 0.0, None, hr_true, None, f"prediction: {type(err).__name__}: {err}")]
    try:
        snr = snr_db(bvp, fps, hr_true)
    except BenchmarkError:
        snr = None
    rows = [(WHOLE, 0.0, hr_pred, hr_true, snr, None)]
    if len(bvp) / fps >= ev.window_s:
        wp = windowed_hr(bvp, fps, ev.window_s, ev.stride_s, **kw)
        wt = windowed_hr(ppg, fps, ev.window_s, ev.stride_s, **kw)
        for i, (p, t) in enumerate(zip(wp, wt)):
            rows.append((i, i * ev.stride_s, float(p), float(t), None, None))
    return rows


def predict_recording(cell: Cell, module, recording, prepared=None) -> list[Prediction]:
    """Preprocess at the cell's level, predict, read heart rates; a BenchmarkError fails the recording, as
    does a recording the dataset could not load (a FailedRecording, which carries its reason). `prepared`:
    what prepare_recordings gave for it (its entry, or the error building it), if it ran."""
    from benchmark.data.datasets.base import FailedRecording
    from benchmark.data.preprocess import Preprocessed, preprocess_recording
    from benchmark.evaluation.inference import predict_bvp

    key, subject = recording.key, recording.subject
    if isinstance(recording, FailedRecording):
        return [Prediction(key, subject or "", WHOLE, 0.0, None, None, None, recording.reason)]
    try:
        if isinstance(prepared, BenchmarkError):
            raise prepared
        if isinstance(prepared, Preprocessed):
            pre = prepared
        else:
            side = crop_side(module.input_spec)
            pre = preprocess_recording(recording, cell.level, face_config(cell.sweep.face), side)
        module.set_input_level(cell.level)
        # predict_bvp already integrates difference-signal outputs: the BVP here is a pulse wave
        bvp = predict_bvp(
            module, pre.frames, pre.fps, overlap=cell.sweep.evaluation.chunk_overlap, source=recording.video
        )
        bvp = np.asarray(bvp, dtype=np.float64)
        ppg = np.asarray(pre.ppg, dtype=np.float64)
        rows = heart_rates(bvp, ppg, float(pre.fps), cell.sweep.evaluation)
    except BenchmarkError as err:
        return [Prediction(key, subject, WHOLE, 0.0, None, None, None, f"{type(err).__name__}: {err}")]
    return [Prediction(key, subject, *row) for row in rows]


def prepare_recordings(
    recordings: list, level: str, face_options: dict, encode_with=(), size: int = CROP_SIZE, also_sizes=()
) -> dict:
    """The preprocessed entries of `recordings` at `level` and crop side `size`, built on every core
    (preprocess_many: a pool of worker processes) the first time a dataset is needed at that level; cache hits
    cost a manifest read. `encode_with`: the sweep's other levels, encoded in the same pass over each video
    (one decode for all); `also_sizes`: the sweep's other crop sides, cut in the same pass.
    Returns key -> entry or the error building it; recordings the dataset could not load are left out."""
    from benchmark.data.datasets.base import FailedRecording
    from benchmark.data.preprocess import preprocess_many

    good = [r for r in recordings if not isinstance(r, FailedRecording)]
    if not good:
        return {}
    face = face_config(face_options)
    return preprocess_many(good, level, face, size, encode_with=encode_with, also_sizes=also_sizes)


def crop_side_hint(cell: Cell) -> int:
    """The side `cell`'s method will read crops at, told from its release or recipe without building it (a
    hint for building every side in one pass; the side used is the built module's, crop_side)."""
    from benchmark.methods.config import split_recipe
    from benchmark.methods.weights import RELEASES

    if cell.method in RELEASES:
        return int(RELEASES.get(cell.method).factory.get("size", CROP_SIZE))
    if not cell.trains:
        return CROP_SIZE
    return int(split_recipe(cell.recipe)[0].get("size", CROP_SIZE))


def crop_sides(cells: list[Cell]) -> tuple[int, ...]:
    """Every crop side the cells will read, each once."""
    return tuple(sorted({crop_side_hint(cell) for cell in cells}))


def face_config(options: dict):
    from benchmark.data.face import FaceConfig

    return FaceConfig(**options)


def evaluate_cell(
    cell: Cell,
    module,
    recordings: list,
    provenance: dict,
    on_recording: Callable[[], None] | None = None,
    also_sizes=(),
) -> CellResult:
    """The cell's result: per-recording predictions plus the metrics scored from them. Crops are cut at the
    module's side (crop_side); `also_sizes`: the other cells' sides, cut in the same pass when it runs."""
    from benchmark.results.scoring import score

    predictions: list[Prediction] = []
    side = crop_side(module.input_spec)
    sweep = cell.sweep
    prepared = prepare_recordings(recordings, cell.level, sweep.face, sweep.compression, side, also_sizes)
    for recording in recordings:
        predictions += predict_recording(cell, module, recording, prepared.get(recording.key))
        if on_recording:
            on_recording()
    rows = [p.__dict__ for p in predictions]
    metrics = score(rows)
    status, error = "done", None
    if not metrics.get("n"):
        status = "failed"
        reasons = sorted({p.error for p in predictions if p.error and p.window == WHOLE})
        error = "no recording could be scored: " + "; ".join(reasons) if reasons else "no test recordings"
    return CellResult(
        cell.key,
        status,
        cell.identity(),
        metrics,
        cell.config(),
        provenance,
        error=error,
        predictions=predictions,
    )
