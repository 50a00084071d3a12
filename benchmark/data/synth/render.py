"""Image formation, one frame at a time, in linear light; quantised last.

    radiance = E(x, t) * [ diffuse(x, t) + k_s(t) * specular(x) ]                 (dichromatic model)
    diffuse  = albedo(x) * (1 - a * pulse_map(x) * w_c * b(t))  on skin, background elsewhere
    pixel    = LUT_sRGB( ADC12( gain(t) * wb_c(t) * (radiance + flare_c(t)) + noise ) )

b(t) is the face's blood volume (more blood absorbs more light: the skin gets darker), w_c the hemoglobin
channel weights, E the illuminant (ambient level with drift and flicker, plus a moving light), gain the
auto-exposure, wb the white balance, flare the lens's veiling glare (a fraction of the frame's mean radiance
spread over every pixel). Noise is shot + read noise before a 12-bit ADC, so the sub-grey-level pulse survives
the 8-bit output as dithering, as in a real camera.

Shadows are calibrated against a real camera (the PhysRecorder video; `bench/diff_input_noise.py --real`).
Without flare and with a read noise nearly 4x larger (generator version 2), dark hair and clothing sat at
0-3 of 255 with +-3 levels of noise, which DiffNormalized inputs (x1 - x0) / (x1 + x0) turn into most of
their energy: 49-62 % on the photo faces, against 6 % in the real video (now 0-9 %).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from benchmark.data.synth.physics import HEMOGLOBIN_WEIGHTS
from benchmark.data.synth.portable import exp32
from benchmark.data.synth.scenes import Trajectories
from benchmark.data.synth.subjects import Subject

ADC_LEVELS = 4095
AE_TARGET = 0.18  # centre-weighted mean in linear light
AE_TIME_CONSTANT_S = 0.8
READ_NOISE = 0.0004  # ~2.5 e- at a 6000 e- full well: a small webcam/phone sensor at base gain
FLARE = 0.01  # veiling glare, as a fraction of the mean radiance per channel; 0.5-3 % for real lenses
SHOT_NOISE = 0.00005  # variance per unit of linear signal


def srgb_lut() -> np.ndarray:
    """12-bit linear -> 8-bit sRGB."""
    x = np.arange(ADC_LEVELS + 1, dtype=np.float64) / ADC_LEVELS
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    return np.clip(np.round(y * 255), 0, 255).astype(np.uint8)


class Renderer:
    """Renders the frames of one recording of one subject, as planar [3, H, W] float32 arrays.

    Planar layout keeps every array operation contiguous (interleaved [H, W, 1] x [3] broadcasts are
    an order of magnitude slower); the face layer is warped once per frame as one 9-channel image.
    """

    def __init__(self, subject: Subject, width: int, height: int, light_colour: np.ndarray):
        self.s = subject
        self.w, self.h = width, height
        layer = subject.layer
        pulse_albedo = layer.albedo * layer.maps[..., :1] * (HEMOGLOBIN_WEIGHTS * subject.pulse_amplitude)
        self.stack = np.ascontiguousarray(
            np.concatenate([layer.albedo, pulse_albedo, layer.maps[..., 1:4]], axis=-1), dtype=np.float32
        )
        self.background = np.ascontiguousarray(subject.background.transpose(2, 0, 1))
        self.xs = (np.arange(width, dtype=np.float32) + 0.5) / width
        self.ys = (np.arange(height, dtype=np.float32) + 0.5) / height
        self.light_colour = light_colour.astype(np.float32).reshape(3, 1, 1)
        self.spot_colour = self.light_colour * np.float32([0.9, 1.0, 1.15]).reshape(3, 1, 1)

    def pose_matrix(self, tr: Trajectories, i: int) -> np.ndarray:
        cx, cy = self.s.layer.centre
        ax = self.s.anchor[0] + tr.dx[i] * self.w
        ay = self.s.anchor[1] + tr.dy[i] * self.h
        m = cv2.getRotationMatrix2D((cx, cy), float(tr.angle_deg[i]), float(tr.scale[i]))
        # A head turn (yaw) foreshortens the face horizontally about its centre.
        squeeze = np.array([[math.cos(math.radians(float(tr.yaw_deg[i]))), 0.0], [0.0, 1.0]])
        m[:, :2] = squeeze @ m[:, :2]
        m[:, 2] = squeeze @ (m[:, 2] - (cx, cy)) + (cx, cy)
        m[:, 2] += (ax - cx, ay - cy)
        return m

    def radiance(self, tr: Trajectories, i: int, blood: float) -> np.ndarray:
        """Linear radiance [3, H, W] float32 of frame i, with face blood volume `blood` (about -0.5..0.5)."""
        # 9 float32 channels: OpenCV warps them with plain scalar code, the same with its SIMD features and
        # IPP off (tests/test_synth_reproducible.py); a 1-channel float32 warp would not be (portable.py).
        geo = cv2.warpAffine(self.stack, self.pose_matrix(tr, i), (self.w, self.h), flags=cv2.INTER_LINEAR)
        planes = np.ascontiguousarray(geo.transpose(2, 0, 1))
        albedo, pulse_albedo = planes[0:3], planes[3:6]
        spec, alpha, mouth = planes[6:7], planes[7:8], planes[8:9]
        # Python floats keep float32 arrays float32 (numpy float64 scalars would promote).
        if tr.mouth[i] > 0:
            albedo *= 1.0 - float(tr.mouth[i]) * mouth
        out = albedo
        out -= float(blood) * pulse_albedo
        out += float(tr.specular[i]) * spec
        yaw = float(tr.yaw_deg[i])
        if yaw != 0.0:
            # The side turned towards the key light brightens, the other darkens (Lambertian, about
            # sin(yaw) of the face's horizontal normal), on the face layer only.
            u = np.clip(
                (self.xs * self.w - (self.s.anchor[0] + tr.dx[i] * self.w)) / self.s.layer.face_width, -1, 1
            )
            out *= (1.0 + np.float32(0.5 * math.sin(math.radians(yaw))) * u.astype(np.float32))[None, None, :]
        out += (1.0 - alpha) * self.background
        illum = self.light_colour * np.asarray(tr.light[i], np.float32).reshape(3, 1, 1)
        if tr.spot_gain[i] > 0:
            # exp in float64: numpy's float32 exp differs between AVX2 and AVX-512 (portable.py)
            gx = exp32(-0.5 * ((self.xs - float(tr.spot_x[i])) / 0.35) ** 2)
            gy = exp32(-0.5 * ((self.ys - float(tr.spot_y[i])) / 0.45) ** 2)
            level = float(np.mean(tr.light[i]))
            spot = np.outer(gy, gx * np.float32(tr.spot_gain[i] * level))[None] * self.spot_colour
            spot += illum
            out *= spot
        else:
            out *= illum
        return out


class Camera:
    """Auto-exposure (centre-weighted), white balance, sensor noise, ADC, sRGB.

    Auto-exposure is a first-order lag towards the gain that meters AE_TARGET, with the camera level's time
    constant; with a dead band it only moves when the metered level is off by more than that fraction, and
    with a step its gain changes in steps of that relative size (exposure/gain tables of real webcams), so it
    ramps and jumps now and then instead of tracking smoothly. `ae=False` locks the first frame's gain.
    Noise comes from OpenCV's generator, seeded per recording (twice as fast as numpy's here).
    """

    def __init__(
        self,
        fps: float,
        noise_level: float,
        seed: int,
        *,
        ae: bool = True,
        ae_tau: float = AE_TIME_CONSTANT_S,
        deadband: float = 0.0,
        step: float = 0.0,
    ):
        self.alpha = 1.0 - math.exp(-1.0 / (fps * ae_tau))  # the C library's exp, not numpy's SIMD one
        self.noise_level = noise_level
        self.seed = seed
        self.ae, self.deadband, self.step = ae, deadband, step
        self.gain: float | None = None
        self.target: float | None = None
        self.adjusting = False
        self.lut = srgb_lut()
        self.noise: np.ndarray | None = None

    def _update_gain(self, ideal: float) -> None:
        if not self.ae:
            return
        error = ideal / self.gain - 1.0
        if self.deadband > 0:
            # start adjusting when off by more than the dead band, stop when within a third of it
            if abs(error) > self.deadband:
                self.adjusting = True
            elif abs(error) < self.deadband / 3:
                self.adjusting = False
            if not self.adjusting:
                return
        self.target = (self.target or self.gain) + self.alpha * (ideal - (self.target or self.gain))
        if self.step > 0:
            ratio = math.log(self.target / self.gain) / math.log1p(self.step)
            if abs(ratio) >= 1:
                self.gain *= (1.0 + self.step) ** math.trunc(ratio)
        else:
            self.gain = self.target

    def expose(self, radiance: np.ndarray, wb: np.ndarray) -> np.ndarray:
        """uint8 RGB frame [H, W, 3] from planar radiance; the exposure follows the metering with a lag."""
        _, h, w = radiance.shape
        metered = float(radiance[:, h // 4 : 3 * h // 4 : 2, w // 4 : 3 * w // 4 : 2].mean())
        ideal = AE_TARGET / max(metered, 1e-6)
        if self.gain is None:
            self.gain = self.target = ideal
            self.noise = np.empty((3 * h, w), np.float32)
            cv2.setRNGSeed(self.seed)
        v = radiance * (np.asarray(wb, np.float32).reshape(3, 1, 1) * np.float32(self.gain))
        v += np.float32(FLARE) * v.mean(axis=(1, 2), keepdims=True)
        self._update_gain(ideal)
        if self.noise_level > 0:
            k = self.noise_level**2
            sigma = np.maximum(v, 0.0) * (k * SHOT_NOISE)
            sigma += k * READ_NOISE**2
            np.sqrt(sigma, out=sigma)
            cv2.randn(self.noise, 0.0, 1.0)
            sigma *= self.noise.reshape(3, h, w)
            v += sigma
        v *= ADC_LEVELS
        v += 0.5
        np.clip(v, 0, ADC_LEVELS, out=v)
        return np.ascontiguousarray(self.lut[v.astype(np.uint16)].transpose(1, 2, 0))
