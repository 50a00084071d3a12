"""Signal helpers shared by the data side (labels), the methods (classic pipelines) and the evaluation (heart
rate): detrending and band-pass filtering, below all three so none imports another for them."""

from __future__ import annotations

import numpy as np
from scipy import linalg, signal

DETREND_CUTOFF_HZ = 0.25  # smoothness-priors trend cutoff: well below the band, so the pulse is untouched
FILTER_ORDER = 3


def smoothness_detrend(x: np.ndarray, fs: float, cutoff_hz: float = DETREND_CUTOFF_HZ) -> np.ndarray:
    """Smoothness-priors detrending (Tarvainen et al. 2002) with its cutoff set in Hz, not in samples.

    The trend solves (I + lam^2 D2'D2) z = x, D2 the second difference; the residual x - z is a zero-phase
    high-pass whose half-power point is `cutoff_hz` whatever fs. Solved as a banded system: O(N).
    """
    n = x.size
    if n < 3:
        return x - x.mean()
    lam2 = 1.0 / (16.0 * np.sin(np.pi * cutoff_hz / fs) ** 4)
    # D2'D2 is pentadiagonal and symmetric: upper-form bands for solveh_banded.
    d0 = np.full(n, 6.0)
    d0[[0, -1]] = 1.0
    d0[[1, -2]] = 5.0
    d1 = np.full(n - 1, -4.0)
    d1[[0, -1]] = -2.0
    d2 = np.ones(n - 2)
    ab = np.zeros((3, n))
    ab[0, 2:] = lam2 * d2
    ab[1, 1:] = lam2 * d1
    ab[2] = 1.0 + lam2 * d0
    trend = linalg.solveh_banded(ab, x, check_finite=False)
    return x - trend


def bandpass(x: np.ndarray, fs: float, band: tuple[float, float], axis: int = -1) -> np.ndarray:
    """Zero-phase Butterworth band-pass (forward-backward second-order sections)."""
    sos = signal.butter(FILTER_ORDER, [band[0], band[1]], btype="bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, x, axis=axis)
