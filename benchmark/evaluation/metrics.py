"""Heart-rate metrics over recordings: plain functions, torchmetrics Metrics, bootstrap confidence intervals.

One pair per recording (predicted HR, true HR, in bpm). A recording whose prediction is NaN failed (the
heart-rate stage raised a SignalError): it is excluded from every metric and counted in `n_failed`, never
replaced by a number. Each function takes optional per-pair weights so the bootstrap can evaluate all its
resamples at once (a resample is a vector of how many times each recording was drawn).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from benchmark.registry import Registry

Array = np.ndarray


def _weights(pred: Array, weights: Array | None) -> Array:
    return np.ones_like(pred) if weights is None else np.asarray(weights, dtype=np.float64)


def _wmean(values: Array, w: Array) -> Array:
    return np.sum(w * values, axis=-1) / np.sum(w, axis=-1)


def mae(pred: Array, true: Array, weights: Array | None = None) -> Array:
    """Mean absolute error (bpm)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    return _wmean(np.abs(pred - true), _weights(pred, weights))


def rmse(pred: Array, true: Array, weights: Array | None = None) -> Array:
    """Root mean squared error (bpm)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    return np.sqrt(_wmean((pred - true) ** 2, _weights(pred, weights)))


def mape(pred: Array, true: Array, weights: Array | None = None) -> Array:
    """Mean absolute percentage error (%)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    return 100.0 * _wmean(np.abs(pred - true) / np.abs(true), _weights(pred, weights))


def pearson(pred: Array, true: Array, weights: Array | None = None) -> Array:
    """Pearson correlation of predicted and true HR across recordings (NaN when either is constant)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    w = _weights(pred, weights)
    mp, mt = _wmean(pred, w)[..., None], _wmean(true, w)[..., None]
    cov = _wmean((pred - mp) * (true - mt), w)
    var_p, var_t = _wmean((pred - mp) ** 2, w), _wmean((true - mt) ** 2, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = cov / np.sqrt(var_p * var_t)
    return np.where((var_p > 1e-12) & (var_t > 1e-12), np.clip(r, -1.0, 1.0), np.nan)


@dataclass(frozen=True)
class MetricInfo:
    fn: Callable[..., Array]
    higher_is_better: bool
    unit: str


METRICS: Registry[MetricInfo] = Registry("metric")
METRICS.add("mae", MetricInfo(mae, False, "bpm"))
METRICS.add("rmse", MetricInfo(rmse, False, "bpm"))
METRICS.add("mape", MetricInfo(mape, False, "%"))
METRICS.add("pearson", MetricInfo(pearson, True, ""))


# ------------------------------------------------------------------------------------------ bootstrap
def _resample_weights(groups: Array, n_boot: int, seed: int) -> Array:
    """[n_boot, N] draw counts: subjects drawn with replacement, each bringing all its recordings."""
    _, group_index = np.unique(groups, return_inverse=True)
    n_groups = int(group_index.max()) + 1
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, n_groups, size=(n_boot, n_groups))
    counts = np.zeros((n_boot, n_groups))
    np.add.at(counts, (np.arange(n_boot)[:, None], drawn), 1.0)
    return counts[:, group_index]


def bootstrap_ci(
    pred: Array,
    true: Array,
    metric: str | Callable[..., Array],
    groups: Array | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(point, low, high): percentile bootstrap over recordings, resampled by subject when `groups` is given.

    Recordings of one subject are not independent, so whole subjects are resampled. Pairs must be finite
    (`summarize` drops failed recordings first).
    """
    fn = METRICS.get(metric).fn if isinstance(metric, str) else metric
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    if pred.size == 0:
        return np.nan, np.nan, np.nan
    groups = np.arange(pred.size) if groups is None else np.asarray(groups)
    point = float(fn(pred, true))
    weights = _resample_weights(groups, n_boot, seed)
    values = np.asarray(
        fn(np.broadcast_to(pred, weights.shape), np.broadcast_to(true, weights.shape), weights)
    )
    values = values[np.isfinite(values)]
    if values.size == 0:
        return point, np.nan, np.nan
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return point, float(min(low, point)), float(max(high, point))


def summarize(
    pred: Array,
    true: Array,
    groups: Array | None = None,
    *,
    metrics: tuple[str, ...] = ("mae", "rmse", "mape", "pearson"),
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Every metric with its CI over the recordings that did not fail.

    Returns a flat dict: n (recordings scored), n_failed (NaN predictions), n_no_reference (NaN truths),
    and for each metric m: m, m_low, m_high.
    """
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in shape: {pred.shape} vs {true.shape}")
    has_ref = np.isfinite(true)
    ok = has_ref & np.isfinite(pred)
    out: dict = {"n": int(ok.sum()), "n_failed": int((has_ref & ~np.isfinite(pred)).sum())}
    out["n_no_reference"] = int((~has_ref).sum())
    g = None if groups is None else np.asarray(groups)[ok]
    for name in metrics:
        point, low, high = bootstrap_ci(pred[ok], true[ok], name, g, n_boot=n_boot, seed=seed, level=level)
        out.update({name: point, f"{name}_low": low, f"{name}_high": high})
    return out


def mean_snr(snr: Array, weights: Array | None = None) -> Array:
    """Mean per-recording BVP SNR (dB, hr.snr_db)."""
    snr = np.asarray(snr, float)
    return _wmean(snr, _weights(snr, weights))


def summarize_snr(snr: Array, groups: Array | None = None, *, n_boot: int = 1000, seed: int = 0, level=0.95):
    """{"snr", "snr_low", "snr_high", "n_snr"}: mean SNR over the recordings where it is defined."""
    snr = np.asarray(snr, float)
    ok = np.isfinite(snr)
    g = None if groups is None else np.asarray(groups)[ok]
    point, low, high = bootstrap_ci(
        snr[ok], snr[ok], lambda p, t, w=None: mean_snr(p, w), g, n_boot=n_boot, seed=seed, level=level
    )
    return {"snr": point, "snr_low": low, "snr_high": high, "n_snr": int(ok.sum())}


def higher_is_better(name: str) -> bool:
    """Sort direction of a metric (SNR: higher is better)."""
    if name == "snr":
        return True

    return METRICS.get(name).higher_is_better


# ------------------------------------------------------------------------------------- torchmetrics
class _HeartRateMetric(Metric):
    """Per-recording (pred, true) HR pairs kept as "cat" states; failed (NaN) predictions are skipped."""

    full_state_update = False
    metric_name = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.preds.append(torch.as_tensor(preds, dtype=torch.float64).flatten())
        self.target.append(torch.as_tensor(target, dtype=torch.float64).flatten())

    def _pairs(self) -> tuple[Array, Array]:
        if isinstance(self.preds, list) and not self.preds:
            return np.empty(0), np.empty(0)
        p, t = dim_zero_cat(self.preds).cpu().numpy(), dim_zero_cat(self.target).cpu().numpy()
        ok = np.isfinite(p) & np.isfinite(t)
        return p[ok], t[ok]

    def compute(self) -> torch.Tensor:
        p, t = self._pairs()
        value = METRICS.get(self.metric_name).fn(p, t) if p.size else np.nan
        return torch.tensor(float(value), dtype=torch.float64)


class HeartRateMAE(_HeartRateMetric):
    metric_name, higher_is_better, is_differentiable = "mae", False, False


class HeartRateRMSE(_HeartRateMetric):
    metric_name, higher_is_better, is_differentiable = "rmse", False, False


class HeartRateMAPE(_HeartRateMetric):
    metric_name, higher_is_better, is_differentiable = "mape", False, False


class HeartRatePearson(_HeartRateMetric):
    metric_name, higher_is_better, is_differentiable = "pearson", True, False


class BVPSignalToNoise(Metric):
    """Mean SNR (dB) of the predicted BVPs, one value per recording; NaN (undefined) values are skipped."""

    full_state_update, higher_is_better, is_differentiable = False, True, False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("snr", default=[], dist_reduce_fx="cat")

    def update(self, snr: torch.Tensor) -> None:
        self.snr.append(torch.as_tensor(snr, dtype=torch.float64).flatten())

    def compute(self) -> torch.Tensor:
        if isinstance(self.snr, list) and not self.snr:
            return torch.tensor(float("nan"), dtype=torch.float64)
        values = dim_zero_cat(self.snr)
        values = values[torch.isfinite(values)]
        return values.mean() if values.numel() else torch.tensor(float("nan"), dtype=torch.float64)


METRIC_CLASSES = {c.metric_name: c for c in (HeartRateMAE, HeartRateRMSE, HeartRateMAPE, HeartRatePearson)}
