"""Heart rate from a BVP signal: detrend, zero-phase band-pass, then a spectral or a peak-interval estimate.

Every estimator refuses signals from which no heart rate can honestly be read (constant, NaN, too short,
undersampled) with a SignalError; callers record those as failed (NaN), never as a made-up number.
The ground-truth HR is computed from the ground-truth PPG with these same functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from benchmark.dsp import FILTER_ORDER, bandpass, smoothness_detrend
from benchmark.errors import SignalError
from benchmark.registry import Registry
from benchmark.spec import DEFAULT_BAND

SNR_BAND = (0.6, 3.3)  # Hz: wide enough to hold the second harmonic of most heart rates
RESOLUTION_BPM = 0.1  # zero-padding target of the spectral estimators
MIN_CYCLES = 2.0  # a signal must hold at least this many periods of the band's lowest frequency

Estimator = Callable[[np.ndarray, float, tuple[float, float]], np.ndarray]
ESTIMATORS: Registry[Estimator] = Registry("heart-rate estimator")


# ----------------------------------------------------------------------------------------------- checks
def check_signal(bvp: np.ndarray, fs: float, band: tuple[float, float], min_seconds: float | None = None):
    """Return bvp as float64 1-D, or raise SignalError saying why no heart rate can be read from it."""
    x = np.asarray(bvp, dtype=np.float64)
    if x.ndim != 1:
        raise SignalError(f"BVP must be 1-D, got shape {x.shape}")
    low, high = band
    if not (0 < low < high):
        raise SignalError(f"invalid band {band!r} Hz: need 0 < low < high")
    if not (fs > 2 * high):
        raise SignalError(f"sampling rate {fs} Hz is below twice the band's upper edge ({high} Hz)")
    n_bad = int(np.sum(~np.isfinite(x)))
    if n_bad == x.size:
        raise SignalError(f"BVP is all NaN/inf ({x.size} samples)")
    if n_bad:
        raise SignalError(f"BVP has {n_bad} NaN/inf samples out of {x.size}")
    need = MIN_CYCLES / low if min_seconds is None else min_seconds
    if x.size < max(need * fs, 3 * (2 * FILTER_ORDER + 1) + 1):
        raise SignalError(f"BVP is too short: {x.size / fs:.2f} s at {fs} Hz, need at least {need:.2f} s")
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.max(np.abs(x)))):
        raise SignalError("BVP is constant: it holds no pulse")
    return x


def prepare(
    bvp: np.ndarray,
    fs: float,
    band: tuple[float, float] = DEFAULT_BAND,
    *,
    detrend_signal: bool = True,
    integrate: bool = False,
    min_seconds: float | None = None,
) -> np.ndarray:
    """Checked, integrated (for difference signals), detrended and band-passed BVP."""
    x = check_signal(bvp, fs, band, min_seconds)
    if integrate:
        x = np.cumsum(x)
    if detrend_signal:
        x = smoothness_detrend(x, fs)
    return bandpass(x - x.mean(), fs, band)


# ------------------------------------------------------------------------------------------ estimators
def fine_nfft(n: int, fs: float, resolution_bpm: float = RESOLUTION_BPM) -> int:
    """FFT length (power of two) giving a bin spacing of at most `resolution_bpm`."""
    need = max(n, int(np.ceil(60.0 * fs / resolution_bpm)))
    return 1 << int(np.ceil(np.log2(need)))


def spectral_peak_hz(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Frequency of the largest in-band bin of each row of `power`, refined by a parabola through 3 bins."""
    power = np.atleast_2d(power)
    in_band = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
    p = power[:, in_band]
    k = np.argmax(p, axis=1)
    rows = np.arange(p.shape[0])
    inner = (k > 0) & (k < p.shape[1] - 1)
    kc = np.clip(k, 1, p.shape[1] - 2)
    a, b, c = p[rows, kc - 1], p[rows, kc], p[rows, kc + 1]
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(inner & (denom < 0), 0.5 * (a - c) / denom, 0.0)
    df = freqs[1] - freqs[0]
    hz = freqs[in_band][k] + np.clip(delta, -0.5, 0.5) * df
    return np.where(np.max(p, axis=1) > 0, hz, np.nan)


@ESTIMATORS.register("fft")
def fft_hr(x: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """Hann-windowed periodogram, zero-padded to <= 0.1 bpm bins; x is [W, n] windows (or [n])."""
    x = np.atleast_2d(x)
    n = x.shape[-1]
    nfft = fine_nfft(n, fs)
    power = np.abs(np.fft.rfft(x * np.hanning(n), n=nfft, axis=-1)) ** 2
    return 60.0 * spectral_peak_hz(np.fft.rfftfreq(nfft, 1.0 / fs), power, band)


@ESTIMATORS.register("welch")
def welch_hr(x: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """Welch's averaged periodogram (8 s Hann segments, half overlap): steadier, coarser in time."""
    x = np.atleast_2d(x)
    n = x.shape[-1]
    nperseg = min(n, int(round(8.0 * fs)))
    freqs, power = signal.welch(x, fs=fs, nperseg=nperseg, nfft=fine_nfft(nperseg, fs), axis=-1)
    return 60.0 * spectral_peak_hz(freqs, power, band)


def _refined_peaks(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample peak positions from a parabola through each peak and its neighbours."""
    peaks = peaks[(peaks > 0) & (peaks < x.size - 1)]
    a, b, c = x[peaks - 1], x[peaks], x[peaks + 1]
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    return peaks + np.clip(delta, -0.5, 0.5)


def _peak_interval_bpm(x: np.ndarray, fs: float, band: tuple[float, float]) -> float:
    """Median inter-beat interval of systolic peaks at least 60% of the spectral period apart.

    The spacing guard comes from the FFT estimate so a dicrotic notch or a strong second harmonic is never
    counted as a beat; the rate itself comes from the intervals only.
    """
    guide = float(fft_hr(x, fs, band)[0])
    if not np.isfinite(guide):
        return np.nan
    distance = max(1, int(0.6 * fs * 60.0 / guide))
    peaks, _ = signal.find_peaks(x, distance=distance, prominence=0.2 * np.std(x))
    positions = _refined_peaks(x, peaks)
    if positions.size < 3:
        return np.nan
    return 60.0 * fs / float(np.median(np.diff(positions)))


@ESTIMATORS.register("peaks")
def peaks_hr(x: np.ndarray, fs: float, band: tuple[float, float]) -> np.ndarray:
    """Peak-interval heart rate per window (one find_peaks per window: not vectorisable)."""
    x = np.atleast_2d(x)
    return np.array([_peak_interval_bpm(row, fs, band) for row in x])


# ------------------------------------------------------------------------------------------ public API
def estimate_hr(
    bvp: np.ndarray,
    fs: float,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    estimator: str = "fft",
    detrend: bool = True,
    integrate: bool = False,
) -> float:
    """Heart rate (bpm) of a whole BVP signal.

    Args:
        bvp: 1-D signal; a difference signal (d/dt of the BVP) needs integrate=True.
        fs: sampling rate (Hz).
        band: pass band (Hz); the estimate lies inside it.
        estimator: "fft", "welch" or "peaks" (ESTIMATORS).
        detrend: remove slow drift first (smoothness priors).
        integrate: cumsum first, for difference-signal outputs.

    Raises:
        SignalError: constant, NaN, too short, undersampled, or no beat found.
    """
    estimate = ESTIMATORS.get(estimator)
    x = prepare(bvp, fs, band, detrend_signal=detrend, integrate=integrate)
    hr = float(estimate(x, fs, band)[0])
    if not np.isfinite(hr):
        raise SignalError(f"no heart rate found by the {estimator!r} estimator (no pulse in {band} Hz)")
    return hr


def windowed_hr(
    bvp: np.ndarray,
    fs: float,
    window_s: float = 10.0,
    step_s: float = 1.0,
    *,
    band: tuple[float, float] = DEFAULT_BAND,
    estimator: str = "fft",
    detrend: bool = True,
    integrate: bool = False,
) -> np.ndarray:
    """Heart rate (bpm) in sliding windows: [n_windows], window i starting at i * step_s seconds.

    The whole signal is detrended and filtered once (no filter edge effects per window), then the windows
    are estimated together (the spectral estimators in one batched FFT). A window with no in-band power is
    NaN. Raises SignalError when the signal is shorter than one window or otherwise unusable.
    """
    estimate = ESTIMATORS.get(estimator)
    win = int(round(window_s * fs))
    step = max(1, int(round(step_s * fs)))
    x = prepare(bvp, fs, band, detrend_signal=detrend, integrate=integrate, min_seconds=window_s)
    if win < MIN_CYCLES / band[0] * fs:
        raise SignalError(f"window of {window_s} s is too short for the band's lowest frequency {band[0]} Hz")
    windows = np.lib.stride_tricks.sliding_window_view(x, win)[::step]
    return np.asarray(estimate(windows, fs, band), dtype=np.float64)


def snr_db(
    bvp: np.ndarray,
    fs: float,
    hr_true: float,
    *,
    band: tuple[float, float] = SNR_BAND,
    half_width_bpm: float = 6.0,
    integrate: bool = False,
) -> float:
    """SNR of a BVP (de Haan & Jeanne 2013): power within +-6 bpm of the true HR's first two harmonics
    against the rest of the band, in dB. Computed on the detrended (not band-passed) signal."""
    x = check_signal(bvp, fs, band)
    if not (np.isfinite(hr_true) and hr_true > 0):
        raise SignalError(f"true heart rate {hr_true!r} is not a positive number")
    if integrate:
        x = np.cumsum(x)
    x = smoothness_detrend(x, fs)
    x = x - x.mean()
    nfft = fine_nfft(x.size, fs)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    power = np.abs(np.fft.rfft(x * np.hanning(x.size), n=nfft)) ** 2
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    f0, hw = hr_true / 60.0, half_width_bpm / 60.0
    signal_mask = (np.abs(freqs - f0) <= hw) | (np.abs(freqs - 2 * f0) <= hw)
    p_signal = float(np.sum(power[in_band & signal_mask]))
    p_noise = float(np.sum(power[in_band & ~signal_mask]))
    if p_signal <= 0 or p_noise <= 0:
        raise SignalError("SNR undefined: no power inside or outside the heart-rate bins")
    return 10.0 * np.log10(p_signal / p_noise)
