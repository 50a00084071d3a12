"""Subjects: a face layer, a room behind it, and the person's constants (skin tone, pulse strength, PTT).

Subject k of seed s is a pure function of (s, k, frame size). Skin tones cycle through the six tones from
very light to very dark, so any 6 consecutive subjects span the whole range; every third subject is the
recoloured photo face, the others are procedural. A candidate face that OpenCV's Haar cascade does not
find in its neutral pose is redrawn (deterministically), so every subject is detectable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from benchmark.data.synth.faces import (
    HAIR_COLOURS,
    SKIN_TONES,
    TONE_NAMES,
    FaceLayer,
    photo_face,
    procedural_face,
)
from benchmark.data.synth.portable import gaussian_blur, pow32, resize, warp_affine

HAAR_FILE = "haarcascade_frontalface_default.xml"
# The pulse's strength, a lumped factor (skin's pulsatile absorption x how much of the face crop is skin):
# set so that the face stage's crops carry as much pulse as the real PhysRecorder clip's
# (`bench/synth_vs_real.py`: 0.08 % RMS of the crop's mean green, locked to the reference).
PULSE_GAIN = 3.5


@lru_cache(maxsize=1)
def haar_cascade() -> cv2.CascadeClassifier:
    """The suite's face detector (scaleFactor 1.2, minNeighbors 5 at the call sites)."""
    return cv2.CascadeClassifier(cv2.data.haarcascades + HAAR_FILE)


def detect_faces(rgb: np.ndarray) -> np.ndarray:
    """Haar detections [(x, y, w, h)] in an RGB uint8 frame."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    found = haar_cascade().detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5)
    return np.asarray(found).reshape(-1, 4)


@dataclass(frozen=True)
class Subject:
    index: int
    id: str
    kind: str  # "procedural" | "photo"
    skin_tone: str
    layer: FaceLayer
    background: np.ndarray  # [H, W, 3] linear reflectance
    anchor: tuple[float, float]  # face centre in the frame at rest (pixels)
    pulse_amplitude: float  # relative modulation of green diffuse reflectance, peak to peak
    noise_level: float
    ptt_offset_s: float
    attempts: int


def _background(rng: np.random.Generator, w: int, h: int, torso: tuple[float, float, float]) -> np.ndarray:
    """A room: tinted wall with a gradient, a few furniture-like blocks, soft texture, and the torso."""
    wall = rng.uniform(0.04, 0.45) * (1 + rng.uniform(-0.25, 0.25, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = wall[None, None, :] * (1 + rng.uniform(-0.3, 0.3) * (yy / h - 0.5))[..., None]
    for _ in range(rng.integers(2, 5)):
        x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(-0.1, 0.8) * h
        bw, bh = rng.uniform(0.1, 0.35) * w, rng.uniform(0.15, 0.6) * h
        block = (xx > x0) & (xx < x0 + bw) & (yy > y0) & (yy < y0 + bh)
        img[block] = rng.uniform(0.02, 0.6, 3)
    grain = resize(rng.standard_normal((12, 16)).astype(np.float32), (w, h), cv2.INTER_CUBIC)
    img = img * (1 + 0.08 * grain)[..., None]
    img = gaussian_blur(img.astype(np.float32), max(w / 320, 0.6))
    cx, cy, fw = torso  # face centre and face width: shoulders start just above the end of the neck
    body = ((xx - cx) / (1.35 * fw)) ** 2 + ((yy - (cy + 1.9 * fw)) / (1.2 * fw)) ** 2 < 1
    img[body] = rng.uniform(0.02, 0.5, 3) * 0.9
    return np.clip(img, 0.005, 0.9).astype(np.float32)


def _neutral_render(layer: FaceLayer, bg: np.ndarray, anchor: tuple[float, float]) -> np.ndarray:
    """The subject at rest, exposed for middle grey, gamma-encoded to uint8 (for the detectability check)."""
    h, w = bg.shape[:2]
    m = np.float32([[1, 0, anchor[0] - layer.centre[0]], [0, 1, anchor[1] - layer.centre[1]]])
    alb = warp_affine(layer.albedo, m, (w, h))
    alpha = warp_affine(layer.maps[..., 2], m, (w, h))
    img = alb + (1 - alpha[..., None]) * bg
    centre = img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean()
    img = pow32(np.clip(img * (0.18 / centre), 0, 1), 1 / 2.2)
    return (img * 255 + 0.5).astype(np.uint8)


def build_subject(
    seed: int, index: int, width: int, height: int, max_attempts: int = 40, tone: str | None = None
) -> Subject:
    """Subject `index` of `seed` for frames of width x height (deterministic); `tone` replaces the subject's
    own skin tone (the `skin-<level>` scenarios), with the same draws of everything else."""
    tone_name = tone or TONE_NAMES[index % len(TONE_NAMES)]
    tone = np.asarray(SKIN_TONES[tone_name], np.float32)
    kind = "photo" if index % 3 == 2 else "procedural"
    make = photo_face if kind == "photo" else procedural_face
    for attempt in range(max_attempts):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index, attempt]))
        hair = np.asarray(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], np.float32) * rng.uniform(0.7, 1.3)
        face_frac = rng.uniform(0.28, 0.38)  # face width / frame width
        canvas = int(round(face_frac * width / 0.54))
        layer = make(rng, canvas, tone * rng.uniform(0.9, 1.1, 3).astype(np.float32), hair)
        scale = face_frac * width / layer.face_width
        if abs(scale - 1) > 0.02:
            layer = _rescale(layer, scale)
        anchor = (width * rng.uniform(0.42, 0.58), height * rng.uniform(0.45, 0.55))
        bg = _background(rng, width, height, (anchor[0], anchor[1], layer.face_width))
        if len(detect_faces(_neutral_render(layer, bg, anchor))) == 1:
            break
    else:
        raise RuntimeError(
            f"SynthPulse subject {index} (seed {seed}): no detectable face in {max_attempts} draws"
        )
    # Darker skin absorbs more light in the epidermis, so less pulsatile light comes back.
    tone_factor = 1.0 - 0.08 * TONE_NAMES.index(tone_name)
    return Subject(
        index=index,
        id=f"s{index:02d}",
        kind=kind,
        skin_tone=tone_name,
        layer=layer,
        background=bg,
        anchor=anchor,
        pulse_amplitude=float(rng.uniform(0.008, 0.016) * PULSE_GAIN * tone_factor),
        noise_level=float(rng.uniform(0.7, 1.3)),
        ptt_offset_s=float(np.round(rng.uniform(-0.5, 0.5), 3)),
        attempts=attempt + 1,
    )


def _rescale(layer: FaceLayer, scale: float) -> FaceLayer:
    size = max(8, int(round(layer.albedo.shape[0] * scale)))
    f = size / layer.albedo.shape[0]
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    albedo = resize(layer.albedo, (size, size), interp)
    maps = resize(layer.maps, (size, size), interp)
    return FaceLayer(albedo, maps, (layer.centre[0] * f, layer.centre[1] * f), layer.face_width * f)
