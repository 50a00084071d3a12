"""Image operations whose results do not depend on the CPU, so SynthPulse's pixels are the same on any x86-64.

numpy and OpenCV pick SIMD code at run time, and several of their float32 paths round differently per
instruction set: numpy's float32 exp/log/sin/cos/tanh (AVX2 and AVX-512 kernels) and power (AVX-512 SVML);
OpenCV's GaussianBlur on float32 and float64 (its dispatched row/column filters, with or without FMA),
warpAffine on 1-channel float32 (a dispatched SIMD kernel), and resize INTER_LINEAR / INTER_CUBIC on 1-4
channel float32 (Intel IPP, whose own dispatch picks SSE4.2, AVX2 or AVX-512 code). A 1-ulp difference there
is enough to flip a few uint8 pixels per recording, which lossy codecs then amplify.

The replacements below stay within operations that are exact (IEEE +, -, *, / and sqrt one at a time, which
numpy never fuses) or that OpenCV and numpy run as plain scalar float64 code on every x86-64 CPU (checked by
tests/test_synth_reproducible.py, which renders with the SIMD features and IPP turned off). Transcendental
functions are evaluated in float64: on AVX-512 machines numpy may still use other float64 kernels (within an
ulp or so), a difference 2^29 times smaller than a float32 ulp, which does not realistically reach the uint8
output. Everything here runs once per subject or on a few hundred values per frame, so it costs nothing.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def exp32(x: np.ndarray) -> np.ndarray:
    """exp of a float32 array, computed in float64 and rounded back to float32."""
    return np.exp(np.asarray(x, np.float64)).astype(np.float32)


def pow32(x: np.ndarray, p: float) -> np.ndarray:
    """x ** p of a float32 array, computed in float64 and rounded back to float32."""
    return (np.asarray(x, np.float64) ** float(p)).astype(np.float32)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh of a (short) float64 array with the C library's tanh: numpy's float64 tanh has AVX2 and AVX-512
    kernels that differ in the last bit."""
    x = np.asarray(x, np.float64)
    return np.fromiter(map(math.tanh, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """cv2.GaussianBlur(img, (0, 0), sigma) of a float [H, W] or [H, W, C] image (same kernel size and
    reflect-101 border), separable, accumulated in float64; returns float32."""
    n = int(round(sigma * 8 + 1)) | 1  # OpenCV's kernel size for float images
    r = n // 2
    k = np.array([math.exp(-0.5 * ((i - r) / sigma) ** 2) for i in range(n)])
    k /= k.sum()
    a = np.asarray(img, np.float64)
    h, w = a.shape[:2]
    p = np.pad(a, [(r, r), (r, r)] + [(0, 0)] * (a.ndim - 2), mode="reflect")
    rows = k[0] * p[:, 0:w]
    for j in range(1, n):
        rows += k[j] * p[:, j : j + w]
    out = k[0] * rows[0:h]
    for j in range(1, n):
        out += k[j] * rows[j : j + h]
    return out.astype(np.float32)


def _linear_taps(dst: int, src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of OpenCV's INTER_LINEAR resize (pixel centres aligned, edges clamped)."""
    f = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    i0 = np.floor(f).astype(np.intp)
    t = f - i0
    outside = (i0 < 0) | (i0 >= src - 1)
    t[outside] = 0.0
    i0 = np.clip(i0, 0, src - 1)
    return i0, np.minimum(i0 + 1, src - 1), t


def resize_linear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.resize(img, size, interpolation=cv2.INTER_LINEAR) of a float [H, W] or [H, W, C] image, in
    float64 numpy; returns float32."""
    w, h = size
    a = np.asarray(img, np.float64)
    x0, x1, tx = _linear_taps(w, a.shape[1])
    y0, y1, ty = _linear_taps(h, a.shape[0])
    extra = (None,) * (a.ndim - 2)
    tx, ty = tx[(None, slice(None)) + extra], ty[(slice(None), None) + extra]
    rows = a[:, x0] * (1.0 - tx) + a[:, x1] * tx
    return (rows[y0] * (1.0 - ty) + rows[y1] * ty).astype(np.float32)


def resize(img: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize of a float image without OpenCV's CPU-dependent float32 paths; returns float32.
    INTER_AREA and INTER_CUBIC run in float64 (plain scalar code in OpenCV, no IPP); INTER_LINEAR in numpy
    (OpenCV hands float64 INTER_LINEAR to IPP too)."""
    if interpolation == cv2.INTER_LINEAR:
        return resize_linear(img, size)
    if interpolation not in (cv2.INTER_AREA, cv2.INTER_CUBIC):
        raise ValueError(f"resize: unsupported interpolation {interpolation}")
    return cv2.resize(np.asarray(img, np.float64), size, interpolation=interpolation).astype(np.float32)


def warp_affine(img: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine(img, m, size) (bilinear, constant 0 border) of a float image, in float64 (OpenCV's
    float64 warp is plain scalar code; its 1-channel float32 warp is a dispatched SIMD kernel); returns
    float32."""
    out = cv2.warpAffine(np.asarray(img, np.float64), np.asarray(m, np.float64), size, flags=cv2.INTER_LINEAR)
    return out.astype(np.float32)
