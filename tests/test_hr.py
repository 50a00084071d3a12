"""Heart rate from BVP: known rates from synthetic signals, a real contact PPG's beats, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from benchmark.errors import SignalError
from benchmark.evaluation.hr import ESTIMATORS, estimate_hr, snr_db, windowed_hr

ESTIMATOR_NAMES = ["fft", "welch", "peaks"]


def sinusoid(
    hr_bpm: float, fs: float, seconds: float, harmonic: float = 0.5, drift: float = 0.05
) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    f = hr_bpm / 60.0
    return np.sin(2 * np.pi * f * t + 0.3) + harmonic * np.sin(2 * np.pi * 2 * f * t + 1.0) + drift * t


def realistic_ppg(hr_bpm: float, fs: float, seconds: float, seed: int = 0, hrv: float = 0.02) -> tuple:
    """Beats as a systolic and a dicrotic Gaussian, jittered intervals, respiration wander and noise.

    Returns (signal, true heart rate = beats per minute actually placed)."""
    rng = np.random.default_rng(seed)
    period = 60.0 / hr_bpm
    beats = np.cumsum(period * (1 + hrv * rng.standard_normal(int(seconds / period) + 5)))
    beats = beats[beats < seconds]
    t = np.arange(int(round(seconds * fs))) / fs
    x = np.zeros_like(t)
    for b in beats:
        x += np.exp(-0.5 * ((t - b - 0.12) / 0.06) ** 2) + 0.4 * np.exp(-0.5 * ((t - b - 0.40) / 0.08) ** 2)
    x += 0.3 * np.sin(2 * np.pi * 0.25 * t) + 0.05 * rng.standard_normal(t.size)
    true_hr = 60.0 * (beats.size - 1) / (beats[-1] - beats[0])
    return x, true_hr


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
@pytest.mark.parametrize("hr", [47.3, 72.0, 96.6, 131.2])
@pytest.mark.parametrize("fs", [25.0, 30.0])
def test_sinusoid_rate_recovered_within_resolution(estimator, hr, fs):
    got = estimate_hr(sinusoid(hr, fs, 20.0), fs, estimator=estimator)
    assert abs(got - hr) < 0.1, (estimator, hr, fs, got)


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
@pytest.mark.parametrize("hr", [58.0, 84.0, 110.0])
def test_realistic_ppg_rate_recovered(estimator, hr):
    x, true_hr = realistic_ppg(hr, 30.0, 30.0, seed=int(hr), hrv=0.0)
    assert abs(estimate_hr(x, 30.0, estimator=estimator) - true_hr) < 0.3


def test_difference_signal_is_integrated_first():
    x, true_hr = realistic_ppg(75.0, 30.0, 30.0, hrv=0.0)
    d = np.diff(x, prepend=x[0])
    assert abs(estimate_hr(d, 30.0, integrate=True) - true_hr) < 0.3


def test_band_is_respected():
    # 2 Hz = 120 bpm lies outside a 45-100 bpm band: the estimate must stay inside the band
    got = estimate_hr(
        sinusoid(120.0, 30.0, 20.0, harmonic=0.0) + 0.2 * sinusoid(80.0, 30.0, 20.0, 0.0, 0.0),
        30.0,
        band=(0.75, 100 / 60),
    )
    assert abs(got - 80.0) < 0.1


@pytest.fixture(scope="module")
def contact_ppg(shared_dir):
    mat = scipy.io.loadmat(
        shared_dir("data", "contact_ppg", "iphys_toolbox", "PPGData.mat"),
        squeeze_me=True,
        struct_as_record=False,
    )["PPG"]
    fs = float(mat.fs)
    beats = np.asarray(mat.peaks, dtype=np.float64) / fs
    assert beats.size == 68
    beat_hr = 60.0 * (beats.size - 1) / (beats[-1] - beats[0])  # = 60 / mean inter-beat interval
    return np.asarray(mat.data, dtype=np.float64), fs, beat_hr


@pytest.mark.shared
@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
def test_real_contact_ppg_matches_annotated_beats(contact_ppg, estimator):
    x, fs, beat_hr = contact_ppg
    assert abs(estimate_hr(x, fs, estimator=estimator) - beat_hr) < 1.0


@pytest.mark.shared
def test_real_contact_ppg_windows(contact_ppg):
    x, fs, beat_hr = contact_ppg
    hr = windowed_hr(x, fs, window_s=10.0, step_s=1.0)
    assert hr.shape == (51,)  # 60 s, 10 s windows, 1 s steps
    assert np.all(np.isfinite(hr)) and np.all((hr > 55) & (hr < 80))
    assert abs(np.mean(hr) - beat_hr) < 1.5
    assert snr_db(x, fs, beat_hr) > 3.0  # a clean contact PPG: harmonic power dominates


def test_windowed_tracks_a_rate_change():
    fs = 30.0
    a, b = sinusoid(60.0, fs, 30.0, drift=0.0), sinusoid(90.0, fs, 30.0, drift=0.0)
    hr = windowed_hr(np.concatenate([a, b]), fs, window_s=10.0, step_s=5.0)
    assert hr.shape == (11,)
    assert np.allclose(hr[:3], 60.0, atol=0.5) and np.allclose(hr[-3:], 90.0, atol=0.5)


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
def test_windowed_matches_whole_signal_on_a_steady_rate(estimator):
    x = sinusoid(77.0, 30.0, 25.0)
    hr = windowed_hr(x, 30.0, window_s=10.0, step_s=2.5, estimator=estimator)
    assert np.allclose(hr, 77.0, atol=0.3)


def test_snr_is_higher_for_a_cleaner_signal():
    rng = np.random.default_rng(1)
    clean = sinusoid(70.0, 30.0, 20.0, drift=0.0)
    noisy = clean + 2.0 * rng.standard_normal(clean.size)
    assert snr_db(clean, 30.0, 70.0) > snr_db(noisy, 30.0, 70.0) + 5.0
    assert snr_db(clean, 30.0, 70.0) > snr_db(clean, 30.0, 100.0) + 10.0  # wrong HR: power is "noise"


BAD_INPUTS = {
    "constant": (np.full(600, 3.0), 30.0, "constant"),
    "all-nan": (np.full(600, np.nan), 30.0, "NaN"),
    "some-nan": (np.where(np.arange(600) == 5, np.nan, sinusoid(70.0, 30.0, 20.0)), 30.0, "NaN"),
    "too-short": (sinusoid(70.0, 30.0, 1.0), 30.0, "too short"),
    "undersampled": (sinusoid(70.0, 4.0, 60.0), 4.0, "twice the band"),
    "2-d": (np.zeros((2, 300)), 30.0, "1-D"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
def test_bad_input_raises_signal_error(case, estimator):
    x, fs, words = BAD_INPUTS[case]
    with pytest.raises(SignalError, match=words):
        estimate_hr(x, fs, estimator=estimator)


def test_windowed_shorter_than_one_window_raises():
    with pytest.raises(SignalError, match="too short"):
        windowed_hr(sinusoid(70.0, 30.0, 8.0), 30.0, window_s=10.0)


def test_unknown_estimator_is_a_config_error():
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="fft"):
        estimate_hr(sinusoid(70.0, 30.0, 20.0), 30.0, estimator="nope")
    assert set(ESTIMATOR_NAMES) <= set(ESTIMATORS.names())
