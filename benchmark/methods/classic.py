"""The classic (training-free) rPPG methods: GREEN, ICA, CHROM, POS, PBV, LGI, OMIT.

Each reads the per-frame spatial mean RGB of the face crop, x [B, 3, T], and returns a BVP [B, T]. The
algorithms are plain numpy functions `(rgb [B, 3, T] float64, fps) -> bvp [B, T]` in the CLASSIC registry,
vectorised over windows (strided views, batched linear algebra, overlap-add by index): no loop per frame.

Frame rate: CHROM and POS work in windows of 1.6 s, and ICA picks its component by its in-band spectrum, so
the algorithms need fps. MethodModule.forward only receives x, so each network carries an `fps` attribute
(default 30) that benchmark.evaluation.inference.predict_bvp sets from the recording before predicting.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import signal
from torch import nn

from benchmark.methods.base import InputSpec, MethodModule
from benchmark.registry import Registry

Algorithm = Callable[[np.ndarray, float], np.ndarray]
CLASSIC: Registry[Algorithm] = Registry("classic rPPG algorithm")

WINDOW_S = 1.6  # CHROM (de Haan 2013) and POS (Wang 2017) window length
PULSE_BAND = (0.7, 2.5)  # Hz: CHROM's in-window band-pass and ICA's component selection
EPS = 1e-9


# ------------------------------------------------------------------------------------------- helpers
def _windows(rgb: np.ndarray, length: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Strided windows [B, 3, W, L] of rgb [B, 3, T] and their start frames [W] (the last one ends at T)."""
    t = rgb.shape[-1]
    length = min(length, t)
    starts = np.arange(0, t - length + 1, step)
    if starts[-1] != t - length:
        starts = np.append(starts, t - length)
    view = np.lib.stride_tricks.sliding_window_view(rgb, length, axis=-1)  # [B, 3, T-L+1, L]
    return view[:, :, starts], starts


def _overlap_add(segments: np.ndarray, starts: np.ndarray, t: int) -> np.ndarray:
    """Sum segments [B, W, L] placed at `starts` into [B, T] (one scatter-add, no loop)."""
    b, _, length = segments.shape
    idx = (starts[:, None] + np.arange(length)[None, :]).ravel()
    out = np.zeros((b, t))
    np.add.at(out, (slice(None), idx), segments.reshape(b, -1))
    return out


def _temporal_normalise(windows: np.ndarray) -> np.ndarray:
    """Each channel divided by its mean over the window: removes the skin tone and light intensity."""
    return windows / (windows.mean(axis=-1, keepdims=True) + EPS)


def _std_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.std(axis=-1, keepdims=True) / (b.std(axis=-1, keepdims=True) + EPS)


def _project_out_first_axis(rgb: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Remove the direction basis[..., :, 0] from every frame's colour and keep the green component."""
    s = basis[..., :, :1]  # [B, 3, 1]
    p = np.eye(3)[None] - s @ np.swapaxes(s, -1, -2)  # [B, 3, 3]
    return (p @ rgb)[:, 1, :]


# ---------------------------------------------------------------------------------------- algorithms
@CLASSIC.register("green")
def green_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """GREEN (Verkruysse et al. 2008): the green trace, relative to its mean and negated (more blood, less
    reflected green), so systolic peaks point up."""
    g = rgb[:, 1, :]
    return -(g / (g.mean(axis=-1, keepdims=True) + EPS) - 1.0)


@CLASSIC.register("chrom")
def chrom_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """CHROM (de Haan & Jeanne 2013): two chrominance signals X = 3R - 2G, Y = 1.5R + G - 1.5B of the
    normalised colour, band-passed, S = X - (std X / std Y) Y per 1.6 s window, Hann overlap-add (50%)."""
    t = rgb.shape[-1]
    length = min(int(round(WINDOW_S * fps)) // 2 * 2, t)
    win, starts = _windows(rgb, length, max(1, length // 2))
    n = _temporal_normalise(win)
    x = 3.0 * n[:, 0] - 2.0 * n[:, 1]
    y = 1.5 * n[:, 0] + n[:, 1] - 1.5 * n[:, 2]
    sos = signal.butter(3, PULSE_BAND, btype="bandpass", fs=fps, output="sos")
    pad = min(length - 1, 3 * (2 * len(sos) + 1))
    xf = signal.sosfiltfilt(sos, x, axis=-1, padlen=pad)
    yf = signal.sosfiltfilt(sos, y, axis=-1, padlen=pad)
    s = (xf - _std_ratio(xf, yf) * yf) * np.hanning(length)
    return _overlap_add(s, starts, t)


@CLASSIC.register("pos")
def pos_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """POS (Wang et al. 2017): project the normalised colour onto the plane orthogonal to skin tone,
    S1 = G - B, S2 = G + B - 2R, h = S1 + (std S1 / std S2) S2, per 1.6 s window, overlap-add with step 1."""
    t = rgb.shape[-1]
    length = int(round(WINDOW_S * fps))
    win, starts = _windows(rgb, length, 1)
    n = _temporal_normalise(win)
    s1 = n[:, 1] - n[:, 2]
    s2 = n[:, 1] + n[:, 2] - 2.0 * n[:, 0]
    h = s1 + _std_ratio(s1, s2) * s2
    return _overlap_add(h - h.mean(axis=-1, keepdims=True), starts, t)


@CLASSIC.register("pbv")
def pbv_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """PBV (de Haan & van Leest 2014): the pulse as the colour combination W = Q^-1 Pbv that matches the blood
    volume signature Pbv (relative channel amplitudes, here measured from the recording), Q = C C^T."""
    c = rgb / (rgb.mean(axis=-1, keepdims=True) + EPS) - 1.0  # [B, 3, T] zero-mean normalised colour
    sig = c.std(axis=-1)  # [B, 3]
    pbv_vec = sig / (np.linalg.norm(sig, axis=-1, keepdims=True) + EPS)
    q = c @ np.swapaxes(c, -1, -2)  # [B, 3, 3]
    w = np.linalg.solve(q + EPS * np.eye(3), pbv_vec[..., None])  # [B, 3, 1]
    bvp = (np.swapaxes(c, -1, -2) @ w)[..., 0]  # [B, T]
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat trace gives NaN: the HR stage refuses it
        return bvp / (np.swapaxes(pbv_vec[..., None], -1, -2) @ w)[..., 0]


@CLASSIC.register("lgi")
def lgi_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """LGI (Pilz et al. 2018): remove the principal colour direction (SVD of C C^T), keep green's residual."""
    u, _, _ = np.linalg.svd(rgb @ np.swapaxes(rgb, -1, -2))
    return _project_out_first_axis(rgb, u)


@CLASSIC.register("omit")
def omit_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """OMIT (Casado & Lopez 2023): like LGI with the principal direction from a QR decomposition of C."""
    q, _ = np.linalg.qr(rgb)
    return _project_out_first_axis(rgb, q)


@CLASSIC.register("ica")
def ica_bvp(rgb: np.ndarray, fps: float) -> np.ndarray:
    """ICA (Poh et al. 2010): FastICA of the detrended, standardised traces; the component with the strongest
    spectral peak in the pulse band, signed to correlate with the negated green trace."""
    from benchmark.dsp import smoothness_detrend

    out = np.empty((rgb.shape[0], rgb.shape[-1]))
    for b, traces in enumerate(rgb):  # one FastICA per recording: a 3x3 problem, not a per-frame loop
        x = np.stack([smoothness_detrend(ch, fps) for ch in traces])
        x = (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + EPS)
        sources = fast_ica(x)
        k = int(np.argmax(_band_peak_power(sources, fps)))
        sign = np.sign(np.dot(sources[k], -x[1])) or 1.0
        out[b] = sign * sources[k]
    return out


def _band_peak_power(sources: np.ndarray, fps: float) -> np.ndarray:
    nfft = max(1024, 1 << int(np.ceil(np.log2(sources.shape[-1]))))
    power = np.abs(np.fft.rfft(sources, n=nfft, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(nfft, 1.0 / fps)
    band = (freqs >= PULSE_BAND[0]) & (freqs <= PULSE_BAND[1])
    return power[:, band].max(axis=-1) / (power[:, 1:].sum(axis=-1) + EPS)


def fast_ica(x: np.ndarray, max_iter: int = 200, tol: float = 1e-6) -> np.ndarray:
    """Symmetric FastICA (Hyvarinen 1999, log-cosh contrast) of x [C, T] -> unit-variance sources [C, T].

    Deterministic: the unmixing starts from the identity in the whitened space.
    """
    x = x - x.mean(axis=-1, keepdims=True)
    cov = x @ x.T / x.shape[-1]
    d, e = np.linalg.eigh(cov)
    d = np.maximum(d, EPS)
    whiten = (e / np.sqrt(d)) @ e.T
    z = whiten @ x
    w = np.eye(z.shape[0])
    for _ in range(max_iter):
        wz = np.tanh(w @ z)
        w_new = wz @ z.T / z.shape[-1] - np.diag((1.0 - wz**2).mean(axis=-1)) @ w
        u, _, vt = np.linalg.svd(w_new)
        w_new = u @ vt  # symmetric decorrelation
        converged = np.max(np.abs(np.abs(np.diag(w_new @ w.T)) - 1.0)) < tol
        w = w_new
        if converged:
            break
    return w @ z


# ------------------------------------------------------------------------------------------- modules
class ClassicNet(nn.Module):
    """A classic algorithm as an nn.Module without parameters: forward(x [B, 3, T]) -> bvp [B, T].

    Attributes:
        fps: frame rate of the recording being predicted; set by predict_bvp (default 30).
    """

    def __init__(self, algorithm: str, fps: float = 30.0):
        super().__init__()
        self.algorithm = algorithm
        self.fn = CLASSIC.get(algorithm)
        self.fps = float(fps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 3:
            raise ValueError(f"{self.algorithm}: expected RGB means [B, 3, T], got {tuple(x.shape)}")
        rgb = x.detach().to("cpu", torch.float64).numpy()
        bvp = self.fn(rgb, self.fps)
        return torch.from_numpy(np.ascontiguousarray(bvp, dtype=np.float32)).to(x.device)

    def extra_repr(self) -> str:
        return f"algorithm={self.algorithm!r}, fps={self.fps}"


CLASSIC_SPEC = InputSpec(frames=None, size=72, inputs="rgb_mean", label="raw", output="bvp")


def create_classic(algorithm: str, fps: float = 30.0, **_ignored) -> MethodModule:
    """MethodModule around a classic algorithm: no parameters, no loss, kind "none" (nothing to train)."""
    return MethodModule(ClassicNet(algorithm, fps), CLASSIC_SPEC, loss=None, kind="none", name=algorithm)


def _factory(algorithm: str) -> Callable[..., MethodModule]:
    def factory(**overrides) -> MethodModule:
        return create_classic(algorithm, **overrides)

    factory.__name__ = algorithm
    factory.__doc__ = f"The classic method {algorithm!r} as a MethodModule (CLASSIC[{algorithm!r}])."
    return factory


# Catalogue targets: "benchmark.methods.classic:<name>" (benchmark/methods/__init__.py).
green = _factory("green")
ica = _factory("ica")
chrom = _factory("chrom")
pos = _factory("pos")
pbv = _factory("pbv")
lgi = _factory("lgi")
omit = _factory("omit")
