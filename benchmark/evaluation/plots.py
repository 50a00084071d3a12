"""PNG plots: Bland-Altman and predicted-vs-true HR across recordings; one recording's BVP, HR over time and
spectrum.

Matplotlib's Agg backend (no display needed); every function writes one file and returns its path, except
bvp_figure, which returns the figure bvp_and_spectrum saves.
Failed recordings (NaN) are left out of the points and counted in the title.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmark.errors import SignalError  # noqa: E402
from benchmark.evaluation.hr import DEFAULT_BAND, fine_nfft, prepare  # noqa: E402


def _finite_pairs(pred, true) -> tuple[np.ndarray, np.ndarray, int]:
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    ok = np.isfinite(pred) & np.isfinite(true)
    return pred[ok], true[ok], int((~ok).sum())


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_bland_altman(
    ax, pred, true, title: str = "", *, color=None, marker: str = "o", s: float = 14, fontsize: float = 8
) -> tuple[int, int]:
    """Bland-Altman into an existing axes; returns (points drawn, failed pairs left out)."""
    p, t, n_failed = _finite_pairs(pred, true)
    mean, diff = (p + t) / 2.0, p - t
    ax.scatter(mean, diff, s=s, alpha=0.8, color=color, marker=marker)
    if diff.size:
        bias, sd = float(np.mean(diff)), float(np.std(diff, ddof=1)) if diff.size > 1 else 0.0
        ax.axhline(bias, color="k", lw=1, label=f"bias {bias:+.2f} bpm")
        for sign in (-1, 1):
            ax.axhline(bias + sign * 1.96 * sd, color="k", ls="--", lw=0.8)
        ax.legend(loc="best", fontsize=fontsize, title=f"LoA \u00b1{1.96 * sd:.2f}", title_fontsize=fontsize)
    ax.set_xlabel("mean of predicted and true HR (bpm)")
    ax.set_ylabel("predicted - true (bpm)")
    ax.set_title(_title(title, p.size, n_failed))
    return int(p.size), n_failed


def bland_altman(pred, true, path: str | Path, title: str = "") -> Path:
    """Difference (pred - true) against the mean of the two, with the bias and 95% limits of agreement."""
    fig, ax = plt.subplots(figsize=(5, 4))
    draw_bland_altman(ax, pred, true, title)
    return _save(fig, path)


def hr_limits(*values, pad: float = 5.0) -> tuple[float, float]:
    """Common axis limits of heart-rate arrays (finite values only), padded; 40..160 bpm when all empty."""
    both = np.concatenate([np.asarray(v, float).ravel() for v in values]) if values else np.array([])
    both = both[np.isfinite(both)]
    if not both.size:
        both = np.array([40.0, 160.0])
    return float(both.min()) - pad, float(both.max()) + pad


def draw_scatter(
    ax,
    pred,
    true,
    title: str = "",
    *,
    color=None,
    marker: str = "o",
    s: float = 14,
    lims: tuple[float, float] | None = None,
    fontsize: float = 8,
) -> tuple[int, int]:
    """Predicted against true HR into an existing axes, identity line dashed; returns (points, failed)."""
    p, t, n_failed = _finite_pairs(pred, true)
    ax.scatter(t, p, s=s, alpha=0.8, color=color, marker=marker)
    lo, hi = lims if lims is not None else hr_limits(p, t)
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("true HR (bpm)")
    ax.set_ylabel("predicted HR (bpm)")
    ax.set_title(_title(title, p.size, n_failed))
    return int(p.size), n_failed


def scatter(pred, true, path: str | Path, title: str = "") -> Path:
    """Predicted against true HR with the identity line."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    draw_scatter(ax, pred, true, title)
    return _save(fig, path)


def _title(title: str, n: int, n_failed: int) -> str:
    counts = f"n={n}" + (f", {n_failed} failed" if n_failed else "")
    return f"{title} ({counts})" if title else counts


def bvp_figure(
    bvp,
    fps: float,
    hr_bpm: float | None = None,
    band=DEFAULT_BAND,
    title: str = "",
    *,
    window_t_s=None,
    window_hr_bpm=None,
    snr_db: float | None = None,
    snr_half_width_bpm: float = 6.0,
):
    """The figure bvp_and_spectrum writes, not yet saved (the caller closes it): the BVP over time; when
    `window_t_s` is given, the heart rate of each window at its centre time (NaN or None windows left as
    gaps) under it on the same time axis; and the power spectrum in bpm with the estimated heart rate, its
    SNR and the SNR's signal bins (+-`snr_half_width_bpm` around the HR and its second harmonic) marked."""
    x = np.asarray(bvp, float)
    t = np.arange(x.size) / fps
    with_hr = window_t_s is not None
    fig, axes = plt.subplots(3 if with_hr else 2, 1, figsize=(8, 7.5 if with_hr else 5))
    ax1, ax2 = axes[0], axes[-1]
    ax1.plot(t, x, lw=0.8, color="0.6", label="method output")
    try:  # what the heart-rate estimator sees: detrended and band-passed
        ax1.plot(t, prepare(x, fps, band), lw=1.0, color="C0", label="band-passed")
    except SignalError:
        pass
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("BVP (a.u.)")
    ax1.set_title(title)
    has_hr = hr_bpm is not None and np.isfinite(hr_bpm)
    if with_hr:
        _hr_over_time(axes[1], window_t_s, window_hr_bpm, hr_bpm if has_hr else None, t)
    centred = np.nan_to_num(x - np.nanmean(x)) if x.size else x
    nfft = fine_nfft(max(centred.size, 1), fps)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fps) * 60.0
    power = np.abs(np.fft.rfft(centred * np.hanning(centred.size), n=nfft)) ** 2
    view = (freqs >= 30) & (freqs <= 240)
    ax2.plot(freqs[view], power[view], lw=0.8)
    ax2.axvspan(band[0] * 60, band[1] * 60, color="0.9", zorder=0)
    if has_hr:
        label = f"HR {hr_bpm:.1f} bpm"
        if snr_db is not None and np.isfinite(snr_db):
            label += f", SNR {snr_db:.1f} dB around it"
            for centre in (hr_bpm, 2 * hr_bpm):
                ax2.axvspan(centre - snr_half_width_bpm, centre + snr_half_width_bpm, color="r", alpha=0.1)
        ax2.axvline(hr_bpm, color="r", ls="--", lw=1, label=label)
        ax2.legend(loc="upper right", fontsize=8)
    ax2.set_xlabel("frequency (bpm)")
    ax2.set_ylabel("power")
    fig.tight_layout()
    return fig


def _hr_over_time(ax, window_t_s, window_hr_bpm, hr_bpm: float | None, t: np.ndarray) -> None:
    times = np.asarray(window_t_s, float)
    rates = np.array([np.nan if h is None else h for h in (window_hr_bpm or [])], float)
    if times.size:
        ax.plot(times, rates, "o-", ms=3, lw=1, color="C1", label="window heart rate (at window centre)")
    else:
        ax.text(
            0.5,
            0.5,
            "clip shorter than one heart-rate window",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
    if hr_bpm is not None:
        ax.axhline(hr_bpm, color="r", ls="--", lw=1, label=f"whole clip {hr_bpm:.1f} bpm")
    finite = np.append(rates[np.isfinite(rates)], [] if hr_bpm is None else [hr_bpm])
    if finite.size:  # at least +-5 bpm around the values, so small changes do not fill the panel
        mid, half = (finite.max() + finite.min()) / 2, max(5.0, (finite.max() - finite.min()) / 2 + 2)
        ax.set_ylim(mid - half, mid + half)
    if t.size:
        ax.set_xlim(t[0], t[-1])
    if times.size or hr_bpm is not None:
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("HR (bpm)")


def bvp_and_spectrum(bvp, fps: float, path: str | Path, *args, **kwargs) -> Path:
    """The BVP over time, its heart rate over time (when `window_t_s` is given) and its power spectrum in
    bpm with the estimated heart rate and its SNR marked, saved to `path`; arguments as bvp_figure's."""
    return _save(bvp_figure(bvp, fps, *args, **kwargs), path)
