"""The physiological signal: heart rhythm, PPG pulse shape, respiration and the pulse-transit offset.

Everything is a deterministic function of a numpy Generator. The pulse is built on a fine time grid
(FINE_HZ) from the instantaneous heart rate, so beat-to-beat intervals vary smoothly (respiratory sinus
arrhythmia, Mayer waves, slow drift) and the mean heart rate is known exactly from the integrated phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FINE_HZ = 240.0
HR_LIMITS = (45.0, 150.0)
# A seated adult's resting heart rate: normal, mean 80 bpm, SD 13 (the clinical normal range 60-100 bpm holds
# ~87 % of it), truncated to 50-125 bpm so a lab task's raised rate keeps a tail. Until generator version 6
# it was uniform in 52-135 bpm, which put a third of the subjects above 107 bpm.
RESTING_HR = dict(mean=80.0, sd=13.0, low=50.0, high=125.0)
# Relative absorption of the pulsatile (blood volume) component per camera channel, green = 1:
# the shape of the usual hemoglobin signature for RGB cameras (green strongest, then blue, then red).
HEMOGLOBIN_WEIGHTS = np.array([0.43, 1.0, 0.69], dtype=np.float32)


def smooth_noise(rng: np.random.Generator, t: np.ndarray, f_lo: float, f_hi: float, n: int = 6) -> np.ndarray:
    """A smooth random function of time with its power in [f_lo, f_hi] Hz, unit RMS (sum of sinusoids)."""
    freqs = rng.uniform(f_lo, f_hi, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    amps = rng.uniform(0.5, 1.0, n)
    out = np.sum(amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None]), axis=0)
    return out / np.sqrt(np.sum(amps**2) / 2)


@dataclass(frozen=True)
class PulseParams:
    """Per-recording physiology. ptt_offset_s is per subject: the reference PPG lags the face by it."""

    hr_base_bpm: float
    hr_drift_bpm: float
    hrv_bpm: float
    resp_hz: float
    rsa_bpm: float
    ptt_offset_s: float
    systole_rise: float
    systole_fall: float
    dicrotic_delay: float
    dicrotic_ratio: float
    resp_baseline: float
    resp_amplitude: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


def resting_hr(u: float) -> float:
    """The RESTING_HR quantile of u in [0, 1): one uniform draw, so every later draw stays as it was."""
    from scipy.special import ndtr, ndtri

    mean, sd = RESTING_HR["mean"], RESTING_HR["sd"]
    lo, hi = ndtr((RESTING_HR["low"] - mean) / sd), ndtr((RESTING_HR["high"] - mean) / sd)
    return float(mean + sd * ndtri(lo + u * (hi - lo)))


def sample_pulse_params(rng: np.random.Generator, ptt_offset_s: float) -> PulseParams:
    """Draw one recording's physiology; heart rates stay inside HR_LIMITS including drift and variability."""
    return PulseParams(
        hr_base_bpm=resting_hr(rng.uniform()),
        hr_drift_bpm=float(rng.uniform(1.0, 6.0)),
        hrv_bpm=float(rng.uniform(0.5, 3.0)),
        resp_hz=float(rng.uniform(0.15, 0.35)),
        rsa_bpm=float(rng.uniform(0.5, 3.0)),
        ptt_offset_s=float(ptt_offset_s),
        systole_rise=float(rng.uniform(0.035, 0.055)),
        systole_fall=float(rng.uniform(0.07, 0.10)),
        dicrotic_delay=float(rng.uniform(0.24, 0.32)),
        dicrotic_ratio=float(rng.uniform(0.25, 0.6)),
        resp_baseline=float(rng.uniform(0.05, 0.2)),
        resp_amplitude=float(rng.uniform(0.05, 0.2)),
    )


def _wrap(x: np.ndarray) -> np.ndarray:
    """Distance on the unit circle of phases, in [-0.5, 0.5)."""
    return (x + 0.5) % 1.0 - 0.5


def beat_shape(cycle: np.ndarray, p: PulseParams) -> np.ndarray:
    """One PPG cycle at phase fraction `cycle` in [0, 1): fast systolic upstroke, slower fall, a dicrotic
    wave after a notch. Asymmetric Gaussians on the circle, so consecutive beats join smoothly."""
    d1 = _wrap(cycle - 0.2)
    systole = np.exp(-0.5 * (d1 / np.where(d1 < 0, p.systole_rise, p.systole_fall)) ** 2)
    d2 = _wrap(cycle - 0.2 - p.dicrotic_delay)
    diastole = p.dicrotic_ratio * np.exp(-0.5 * (d2 / 0.075) ** 2)
    return systole + diastole


class PulseModel:
    """Reference PPG and the face's blood-volume signal as functions of time (seconds from frame 0)."""

    def __init__(self, params: PulseParams, duration_s: float, rng: np.random.Generator):
        self.params = p = params
        pad = 2.0  # room for the pulse-transit offset on both sides
        self.t = np.arange(-pad, duration_s + pad, 1.0 / FINE_HZ)
        drift = p.hr_drift_bpm * smooth_noise(rng, self.t, 0.005, 0.03, 3)
        mayer = p.hrv_bpm * smooth_noise(rng, self.t, 0.04, 0.15, 4)
        resp_phase = rng.uniform(0, 2 * np.pi)
        self.resp = np.sin(2 * np.pi * p.resp_hz * self.t + resp_phase)
        hr = np.clip(p.hr_base_bpm + drift + mayer + p.rsa_bpm * self.resp, *HR_LIMITS)
        self.hr = hr
        self.phase = np.cumsum(hr / 60.0) / FINE_HZ + rng.uniform(0, 1)
        shape = beat_shape(self.phase % 1.0, p)
        shape = (shape - shape.mean()) / (shape.max() - shape.min())
        self.ppg = (1.0 + p.resp_amplitude * self.resp) * shape + p.resp_baseline * self.resp
        self.duration_s = duration_s

    def mean_hr(self) -> float:
        """Mean heart rate over the video (bpm): the beats counted by the phase, over the duration."""
        start, end = np.interp([0.0, self.duration_s], self.t, self.phase)
        return float(60.0 * (end - start) / self.duration_s)

    def hr_range(self) -> tuple[float, float]:
        inside = (self.t >= 0) & (self.t <= self.duration_s)
        return float(self.hr[inside].min()), float(self.hr[inside].max())

    def reference(self, times: np.ndarray) -> np.ndarray:
        """Ground-truth PPG (a finger sensor) at `times`."""
        return np.interp(times, self.t, self.ppg)

    def face(self, times: np.ndarray) -> np.ndarray:
        """Blood volume in the face at `times`: the reference shifted by the pulse-transit offset, so that
        reference(t) == face(t - ptt_offset_s)."""
        return np.interp(times + self.params.ptt_offset_s, self.t, self.ppg)
