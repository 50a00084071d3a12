"""Subjects: face layers (albedo, pulse map, specular map, alpha) and backgrounds, in linear reflectance.

Two families of faces, both detected by OpenCV's Haar frontal-face cascade:
- procedural faces drawn from a few dozen shape parameters (eye sockets, brows, nose, mouth, hair, jaw);
- scikit-image's astronaut photo, warped and recoloured, for real skin detail.
Everything is vectorised over the pixel grid; a subject is built once per recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.data.synth.portable import exp32, gaussian_blur, pow32, resize, warp_affine

# Linear-RGB diffuse albedo of skin, from very light (Fitzpatrick-like I) to very dark (VI).
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "I": (0.62, 0.45, 0.37),
    "II": (0.54, 0.37, 0.28),
    "III": (0.44, 0.28, 0.19),
    "IV": (0.32, 0.19, 0.12),
    "V": (0.19, 0.11, 0.065),
    "VI": (0.095, 0.055, 0.035),
}
TONE_NAMES = list(SKIN_TONES)
HAIR_COLOURS = [
    (0.02, 0.015, 0.012),
    (0.09, 0.05, 0.03),
    (0.30, 0.20, 0.09),
    (0.25, 0.24, 0.23),
    (0.16, 0.05, 0.02),
]


@dataclass(frozen=True)
class FaceLayer:
    """A head on a square canvas, premultiplied by alpha, plus where the face sits on it.

    albedo: [L,L,3] linear diffuse reflectance x alpha; maps: [L,L,4] = (pulse amplitude weight, specular
    weight, alpha, open-mouth darkening), each already x alpha. centre/face_width are in canvas pixels.
    """

    albedo: np.ndarray
    maps: np.ndarray
    centre: tuple[float, float]
    face_width: float


def _smooth_inside(d: np.ndarray, soft: float) -> np.ndarray:
    """1 inside (d < 1), 0 outside, with a soft edge of relative width `soft`."""
    return np.clip((1.0 - d) / soft + 0.5, 0.0, 1.0).astype(np.float32)


def _lowfreq_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field in about [-1, 1] (bicubic upsampling of a coarse grid)."""
    grid = rng.standard_normal((cells, cells)).astype(np.float32)
    return resize(grid, (size, size), cv2.INTER_CUBIC)


def _ellipse(u, v, cu, cv_, ru, rv):
    return ((u - cu) / ru) ** 2 + ((v - cv_) / rv) ** 2


def _skin_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Multiplicative blotchiness (coarse) and pores (fine) around 1."""
    coarse = 1.0 + 0.05 * _lowfreq_noise(rng, size, 6)
    fine = 1.0 + 0.025 * gaussian_blur(rng.standard_normal((size, size)).astype(np.float32), 0.8)
    return (coarse * fine).astype(np.float32)


def procedural_face(rng: np.random.Generator, size: int, tone: np.ndarray, hair: np.ndarray) -> FaceLayer:
    """Draw a frontal face on a size x size canvas from random shape parameters."""
    aspect = rng.uniform(0.78, 0.92)  # face width / height
    b = size * rng.uniform(0.30, 0.34)
    a = b * aspect
    cx, cy = size * 0.5, size * 0.52
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u, v = (xx - cx) / a, (yy - cy) / b
    jaw = rng.uniform(0.1, 0.35)
    uj = u / (1.0 - jaw * np.clip(v, 0, None) ** 2)
    r = np.sqrt(uj**2 + v**2)
    face = _smooth_inside(r, 0.04)
    neck = _smooth_inside(np.abs(u) / 0.5, 0.1) * ((v > 0.5) & (v < 1.6))
    skin = np.maximum(face, neck)

    # 3-D shading of an ellipsoid lit from slightly above and one side, plus the eye sockets and under-chin.
    nz = np.sqrt(np.clip(1.0 - r**2, 0.0, 1.0))
    side = rng.uniform(-0.25, 0.25)
    shade = 0.55 + 0.45 * pow32(nz, 0.6) - side * 0.15 * np.clip(u, -1, 1)
    for s in (-1, 1):
        shade -= 0.42 * exp32(-_ellipse(u, v, s * 0.36, -0.18, 0.28, 0.2))
    shade -= 0.25 * exp32(-_ellipse(u, v, 0.0, 1.05, 0.5, 0.12)) * (v > 0.9)
    # Nose: bright bridge, shadowed sides, dark nostrils; mouth: red lips with a dark line.
    shade += 0.12 * exp32(-_ellipse(u, v, 0.0, 0.05, 0.07, 0.28))
    for s in (-1, 1):
        shade += 0.12 * exp32(-_ellipse(u, v, s * 0.42, 0.15, 0.22, 0.14))
    for s in (-1, 1):
        shade -= 0.10 * exp32(-_ellipse(u, v, s * 0.14, 0.12, 0.05, 0.2))
    shade = shade.astype(np.float32)
    albedo = tone[None, None, :] * _skin_texture(rng, size)[..., None] * shade[..., None]

    dark = np.zeros((size, size), np.float32)  # 0..1: how much the feature replaces skin by its colour
    feature_colour = np.zeros((size, size, 3), np.float32)

    def paint(mask: np.ndarray, colour) -> None:
        nonlocal dark
        m = np.clip(mask, 0, 1).astype(np.float32)
        feature_colour[:] = (
            feature_colour * (1 - m[..., None]) + np.asarray(colour, np.float32) * m[..., None]
        )
        dark = np.maximum(dark, m)

    eye_y, eye_dx = rng.uniform(-0.16, -0.08), rng.uniform(0.33, 0.40)
    eye_w, eye_h = rng.uniform(0.13, 0.17), rng.uniform(0.055, 0.075)
    iris = np.asarray([0.05, 0.03, 0.02]) * rng.uniform(0.5, 3.0)
    for s in (-1, 1):
        ex = s * eye_dx
        brow_y = eye_y - rng.uniform(0.15, 0.2)
        bu = (u - ex) / 0.2
        brow = (np.abs(v - (brow_y - 0.05 * (1 - bu**2))) < 0.045) & (np.abs(bu) < 1)
        paint(gaussian_blur(brow.astype(np.float32), size / 250), np.minimum(hair, tone * 0.3))
        paint(
            _smooth_inside(_ellipse(u, v, ex, eye_y, eye_w, eye_h), 0.3),
            0.05 * np.asarray((0.55, 0.52, 0.5)) + 0.5 * tone,
        )
        iris_r = eye_h * b * 1.1  # pixels: a circle, whatever the face aspect
        paint(_smooth_inside(_ellipse(u, v, ex, eye_y, iris_r / a, iris_r / b), 0.3), iris)
        paint(
            _smooth_inside(_ellipse(u, v, ex, eye_y - eye_h * 0.8, eye_w * 1.05, 0.03), 0.5),
            (0.02, 0.015, 0.01),
        )
        paint(_smooth_inside(_ellipse(u, v, s * 0.075, 0.32, 0.045, 0.03), 0.4), tone * 0.15)
    mouth_y, mouth_w = rng.uniform(0.52, 0.6), rng.uniform(0.2, 0.28)
    lips = _smooth_inside(_ellipse(u, v, 0.0, mouth_y, mouth_w, 0.07), 0.3)
    paint(lips * 0.8, tone * np.asarray([0.9, 0.55, 0.55]))
    paint(_smooth_inside(_ellipse(u, v, 0.0, mouth_y, mouth_w * 0.95, 0.012), 0.5), tone * 0.2)
    mouth_open = _smooth_inside(_ellipse(u, v, 0.0, mouth_y + 0.01, mouth_w * 0.75, 0.06), 0.4)

    # Hair: a cap above a hairline, and down the sides; some subjects are bald.
    hairline = rng.uniform(-0.62, -0.45)
    cap = _smooth_inside(_ellipse(u, v, 0.0, -0.12, 1.13, 1.06), 0.04)
    hair_mask = cap * np.clip((hairline + 0.12 * u**2 - v) / 0.05, 0, 1)
    sides = cap * ((np.abs(u) > 0.93) & (v < rng.uniform(-0.1, 0.4)))
    hair_mask = np.maximum(hair_mask, sides) if rng.random() < 0.85 else hair_mask * 0
    hair_tex = hair[None, None, :] * (1.0 + 0.3 * _lowfreq_noise(rng, size, 40))[..., None]
    paint(hair_mask, np.zeros(3))
    feature_colour = np.where(hair_mask[..., None] > 0, hair_tex, feature_colour)

    albedo = albedo * (1 - dark[..., None]) + feature_colour * dark[..., None]
    alpha = np.maximum(skin, hair_mask)

    # Pulse amplitude: strong on forehead and cheeks, weaker on nose, chin and neck, none on features.
    region = 0.65 + 0.35 * exp32(-_ellipse(u, v, 0.0, -0.55, 0.7, 0.25))
    for s in (-1, 1):
        region += 0.35 * exp32(-_ellipse(u, v, s * 0.5, 0.2, 0.25, 0.22))
    region = np.clip(region, 0, 1) * np.where(v > 0.95, 0.5, 1.0)
    pulse = skin * region * (1 - dark) * (1 - hair_mask)
    shine = rng.uniform(0.3, 1.0)
    spec = (
        shine
        * skin
        * (1 - dark)
        * (
            exp32(-_ellipse(u, v, 0.0, -0.55, 0.45, 0.2))
            + exp32(-_ellipse(u, v, 0.0, 0.15, 0.06, 0.2))
            + 0.6 * sum(exp32(-_ellipse(u, v, s * 0.45, 0.05, 0.15, 0.1)) for s in (-1, 1))
        )
    )
    mouth_dark = mouth_open * 0.85
    maps = np.stack([pulse, spec, np.ones_like(alpha), mouth_dark], axis=-1) * alpha[..., None]
    maps[..., 2] = alpha
    return FaceLayer((albedo * alpha[..., None]).astype(np.float32), maps.astype(np.float32), (cx, cy), 2 * a)


def _srgb_to_linear(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, pow32((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def photo_face(rng: np.random.Generator, size: int, tone: np.ndarray, hair: np.ndarray) -> FaceLayer:
    """scikit-image's astronaut portrait, reshaped and recoloured to the given skin tone and hair colour."""
    from skimage.data import astronaut

    crop = _srgb_to_linear(astronaut()[20:240, 115:335])  # 220 x 220, face box centre near (109, 94)
    yy, xx = np.mgrid[0:220, 0:220].astype(np.float32)
    face = _smooth_inside(np.sqrt(_ellipse(xx, yy, 109, 100, 40, 56)), 0.1)
    head = _smooth_inside(np.sqrt(_ellipse(xx, yy, 109, 92, 74, 96)), 0.08) * (yy < 205)
    hsv = cv2.cvtColor(astronaut()[20:240, 115:335], cv2.COLOR_RGB2HSV)
    backdrop = ((hsv[..., 1] < 50) & (hsv[..., 2] > 150)).astype(np.float32)
    head = head * (1 - gaussian_blur(cv2.dilate(backdrop, np.ones((5, 5))), 2.0) * (1 - face))
    eyes = sum(exp32(-_ellipse(xx, yy, ex, 89, 12, 6)) for ex in (88, 129))
    brows = sum(exp32(-_ellipse(xx, yy, ex, 75, 15, 5)) for ex in (86, 131))
    mouth = _smooth_inside(np.sqrt(_ellipse(xx, yy, 109, 127, 19, 7)), 0.3)
    features = np.clip(eyes + brows + mouth, 0, 1)
    skin_ref = crop[(face > 0.9) & (features < 0.05)].mean(axis=0)
    # Skin beyond the face oval (jaw, ears, neck): skin-coloured pixels below the eyes, near the face.
    ycrcb = cv2.cvtColor(astronaut()[20:240, 115:335], cv2.COLOR_RGB2YCrCb)
    skin_colour = (ycrcb[..., 1] > 135) & (ycrcb[..., 1] < 180) & (ycrcb[..., 2] > 85) & (ycrcb[..., 2] < 135)
    near = _smooth_inside(np.sqrt(_ellipse(xx, yy, 109, 130, 58, 80)), 0.1) * (yy > 85)
    skin = np.maximum(face, gaussian_blur(skin_colour.astype(np.float32) * near, 1.5))
    hair_mask = head * (1 - skin) * (yy < 120)
    hair_ref = crop[hair_mask > 0.9].mean(axis=0)
    recoloured = crop * (tone / skin_ref)[None, None, :]
    # Brows and eyes stay darker than the new skin; hair takes the subject's colour.
    recoloured = recoloured * (1 - 0.5 * (eyes + brows)[..., None].clip(0, 1))
    albedo = recoloured * skin[..., None] + crop * (1 - skin[..., None])
    albedo = albedo * (1 - hair_mask[..., None]) + (crop * (hair / hair_ref))[...] * hair_mask[..., None]
    albedo = albedo * (1 + 0.04 * _lowfreq_noise(rng, 220, 5))[..., None]

    pulse = face * (1 - features) * (0.6 + 0.4 * exp32(-_ellipse(xx, yy, 109, 62, 35, 14)))
    pulse += 0.4 * (skin - face).clip(0, 1)
    pulse += face * (1 - features) * 0.4 * sum(exp32(-_ellipse(xx, yy, cx, 110, 14, 12)) for cx in (82, 136))
    spec = (
        rng.uniform(0.3, 1.0)
        * face
        * (1 - features)
        * (exp32(-_ellipse(xx, yy, 109, 62, 30, 12)) + exp32(-_ellipse(xx, yy, 109, 105, 6, 12)))
    )
    stack = np.concatenate(
        [albedo, np.stack([np.clip(pulse, 0, 1), spec, np.ones_like(head), mouth * 0.85], -1)], axis=-1
    )
    # A different head: stretch, flip and resample to the canvas size.
    sx, sy = size / 220 * rng.uniform(0.85, 1.1), size / 220 * rng.uniform(0.92, 1.08)
    flip = rng.random() < 0.5
    m = np.array([[-sx if flip else sx, 0, 0], [0, sy, 0]], np.float32)
    m[:, 2] = np.array([size / 2, size * 0.52]) - m[:, :2] @ np.array([109.0, 100.0])
    stack = warp_affine(stack, m, (size, size))  # bilinear (warpAffine has no INTER_AREA)
    warped_head = warp_affine(head, m, (size, size))
    albedo = stack[..., :3] * warped_head[..., None]
    maps = stack[..., 3:] * warped_head[..., None]
    return FaceLayer(albedo.astype(np.float32), maps.astype(np.float32), (size / 2, size * 0.52), 95 * sx)
