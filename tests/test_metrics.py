"""Metrics against hand-computed values and scipy; bootstrap CIs; failed recordings counted, not scored."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from benchmark.evaluation.metrics import (
    METRIC_CLASSES,
    METRICS,
    bootstrap_ci,
    mae,
    mape,
    pearson,
    rmse,
    summarize,
)

PRED = np.array([70.0, 82.0, 60.0, 95.0])
TRUE = np.array([72.0, 80.0, 65.0, 95.0])


def test_hand_computed_values():
    # errors: -2, +2, -5, 0
    assert mae(PRED, TRUE) == pytest.approx(9 / 4)
    assert rmse(PRED, TRUE) == pytest.approx(np.sqrt((4 + 4 + 25 + 0) / 4))
    assert mape(PRED, TRUE) == pytest.approx(100 / 4 * (2 / 72 + 2 / 80 + 5 / 65 + 0))


def test_pearson_matches_scipy():
    rng = np.random.default_rng(0)
    true = rng.uniform(55, 110, 40)
    pred = true + rng.normal(0, 6, 40)
    assert pearson(pred, true) == pytest.approx(scipy.stats.pearsonr(pred, true).statistic, abs=1e-12)
    assert np.isnan(pearson(np.full(5, 70.0), np.arange(5.0)))  # constant prediction: undefined


def test_weights_equal_repeating_pairs():
    w = np.array([1.0, 3.0, 0.0, 2.0])
    rep_p, rep_t = np.repeat(PRED, w.astype(int)), np.repeat(TRUE, w.astype(int))
    for name, info in METRICS.items():
        assert info.fn(PRED, TRUE, w) == pytest.approx(info.fn(rep_p, rep_t)), name


def test_metric_classes_match_functions_over_batches():
    rng = np.random.default_rng(3)
    true = rng.uniform(55, 110, 30)
    pred = true + rng.normal(0, 4, 30)
    for name, cls in METRIC_CLASSES.items():
        m = cls()
        for chunk in np.array_split(np.arange(30), 4):
            m.update(torch.from_numpy(pred[chunk]), torch.from_numpy(true[chunk]))
        assert m.compute().item() == pytest.approx(float(METRICS.get(name).fn(pred, true))), name
    assert METRIC_CLASSES["mae"].higher_is_better is False
    assert METRIC_CLASSES["pearson"].higher_is_better is True


def test_metric_class_skips_failed_recordings():
    m = METRIC_CLASSES["mae"]()
    m.update(torch.tensor([70.0, float("nan"), 80.0]), torch.tensor([71.0, 75.0, 78.0]))
    assert m.compute().item() == pytest.approx(1.5)


def test_bootstrap_ci_contains_point_and_narrows_with_more_recordings():
    rng = np.random.default_rng(7)
    widths = []
    for n in (10, 40, 160):
        true = rng.uniform(55, 110, n)
        pred = true + rng.normal(0, 5, n)
        point, low, high = bootstrap_ci(pred, true, "mae", n_boot=500, seed=0)
        assert low <= point <= high and point == pytest.approx(mae(pred, true))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_bootstrap_is_deterministic_and_resamples_by_subject():
    rng = np.random.default_rng(2)
    true = rng.uniform(55, 110, 12)
    pred = true + rng.normal(0, 5, 12)
    a = bootstrap_ci(pred, true, "rmse", n_boot=300, seed=5)
    assert a == bootstrap_ci(pred, true, "rmse", n_boot=300, seed=5)
    # one subject holding every recording: each resample is the whole set, so the CI collapses to the point
    point, low, high = bootstrap_ci(pred, true, "mae", groups=np.zeros(12), n_boot=200)
    assert low == pytest.approx(point) and high == pytest.approx(point)
    # a subject with one bad recording (error 30) among well-predicted ones: subject resampling keeps
    # its recordings together, so the CI is wider than when each recording is resampled on its own
    err = np.r_[np.full(3, 30.0), np.ones(3), np.ones(6)]
    groups = np.r_[np.zeros(3), np.ones(3), np.arange(2, 8)]
    by_subject = bootstrap_ci(80 + err, np.full(12, 80.0), "mae", groups=groups, n_boot=2000)
    by_recording = bootstrap_ci(80 + err, np.full(12, 80.0), "mae", n_boot=2000)
    assert by_subject[2] - by_subject[1] > by_recording[2] - by_recording[1]


def test_summarize_counts_failed_recordings():
    pred = np.array([70.0, np.nan, 60.0, 95.0, 88.0])
    true = np.array([72.0, 80.0, 65.0, 95.0, np.nan])
    out = summarize(pred, true, groups=np.array(["a", "a", "b", "c", "c"]), n_boot=200)
    assert (out["n"], out["n_failed"], out["n_no_reference"]) == (3, 1, 1)
    assert out["mae"] == pytest.approx((2 + 5 + 0) / 3)
    for name in ("mae", "rmse", "mape", "pearson"):
        assert out[f"{name}_low"] <= out[name] <= out[f"{name}_high"]


def test_summarize_all_failed_gives_nan_not_numbers():
    out = summarize(np.full(3, np.nan), np.array([70.0, 80.0, 90.0]), n_boot=50)
    assert out["n"] == 0 and out["n_failed"] == 3 and np.isnan(out["mae"])


def test_snr_summary_and_metric_class():
    from benchmark.evaluation.metrics import BVPSignalToNoise, higher_is_better, summarize_snr

    snr = np.array([2.0, np.nan, 4.0, 9.0])
    out = summarize_snr(snr, n_boot=200)
    assert out["snr"] == pytest.approx(5.0) and out["n_snr"] == 3
    assert out["snr_low"] <= 5.0 <= out["snr_high"]
    m = BVPSignalToNoise()
    m.update(torch.tensor(snr[:2]))
    m.update(torch.tensor(snr[2:]))
    assert m.compute().item() == pytest.approx(5.0)
    assert higher_is_better("snr") and higher_is_better("pearson") and not higher_is_better("mae")


def test_plots_are_written_as_png(tmp_path):
    import matplotlib.image

    from benchmark.evaluation.plots import bland_altman, bvp_and_spectrum, scatter

    rng = np.random.default_rng(4)
    true = rng.uniform(55, 110, 25)
    pred = np.append(true[:-1] + rng.normal(0, 4, 24), np.nan)  # one failed recording
    paths = [
        bland_altman(pred, true, tmp_path / "ba.png", title="pos"),
        scatter(pred, true, tmp_path / "sub" / "scatter.png", title="pos"),
        bvp_and_spectrum(
            np.sin(np.arange(300) / 30 * 2 * np.pi * 1.2), 30.0, tmp_path / "bvp.png", hr_bpm=72.0
        ),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image[..., :3].std() > 0.05
