"""Cell metrics from per-recording prediction rows: the one function the sweep and the leaderboards share.

Whole-recording HR pairs give MAE / RMSE / MAPE / r with bootstrap CIs resampled by subject; windows give a
windowed MAE; SNR is the mean per-recording BVP SNR. Recordings that failed count in n_failed, once (not
also in n_no_reference).
"""

from __future__ import annotations

import numpy as np

WHOLE = -1


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def score(rows: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Metrics of one cell (or of several seeds pooled) from prediction rows (store columns)."""
    from benchmark.evaluation.metrics import mae, summarize, summarize_snr

    whole = [r for r in rows if r["window"] == WHOLE]
    pred = np.array([_nan(r["hr_pred"]) for r in whole])
    true = np.array([_nan(r["hr_true"]) for r in whole])
    groups = np.array([r["subject"] for r in whole]) if whole else None
    out = summarize(pred, true, groups, n_boot=n_boot, seed=seed)
    # a recording whose truth is unusable failed too: count it, never score it. A failed recording is
    # counted once, as failed: n_no_reference only counts the rows without an error and without a truth
    out["n_failed"] = int(sum(1 for r in whole if r["error"]))
    out["n_no_reference"] = int(
        sum(1 for r in whole if not r["error"] and not np.isfinite(_nan(r["hr_true"])))
    )
    out.update(summarize_snr(np.array([_nan(r["snr_db"]) for r in whole]), groups, n_boot=n_boot, seed=seed))
    windows = [r for r in rows if r["window"] != WHOLE]
    wp = np.array([_nan(r["hr_pred"]) for r in windows])
    wt = np.array([_nan(r["hr_true"]) for r in windows])
    ok = np.isfinite(wp) & np.isfinite(wt)
    out["mae_windowed"] = float(mae(wp[ok], wt[ok])) if ok.any() else np.nan
    out["n_windows"] = int(ok.sum())
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}
