"""Scenarios: head motion, lighting and camera behaviour over time, as per-frame trajectories.

A scenario is a named set of nuisance switches; `trajectories()` turns it into arrays with one value per
frame, drawn from a Generator. Amplitudes stay inside what the frontal-face detector tolerates (in-plane
rotation within about 8 degrees, the face inside the frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.synth.physics import smooth_noise


@dataclass(frozen=True)
class Scenario:
    name: str
    translation: bool = False
    rotation: bool = False
    scale: bool = False
    talking: bool = False
    light_drift: bool = False
    flicker: bool = False
    moving_light: bool = False

    @property
    def motion_tag(self) -> str:
        parts = [n for n in ("translation", "rotation", "scale", "talking") if getattr(self, n)]
        return "+".join(parts) or "none"

    @property
    def lighting_tag(self) -> str:
        names = {"light_drift": "drift", "flicker": "flicker", "moving_light": "moving-light"}
        return "+".join(v for k, v in names.items() if getattr(self, k)) or "constant"


_MOTION = dict(translation=True, rotation=True, scale=True, talking=True)
_LIGHT = dict(light_drift=True, flicker=True, moving_light=True)
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("still"),
        Scenario("motion", **_MOTION),
        Scenario("lighting", **_LIGHT),
        Scenario("combined", **_MOTION, **_LIGHT),
    )
}


@dataclass(frozen=True)
class Trajectories:
    """Per-frame values [n_frames] (arrays) for one recording."""

    dx: np.ndarray  # face offset, fraction of frame width
    dy: np.ndarray  # fraction of frame height
    angle_deg: np.ndarray
    scale: np.ndarray
    mouth: np.ndarray  # 0 closed .. 1 open
    light: np.ndarray  # ambient illuminance, relative
    spot_x: np.ndarray  # moving light centre, fraction of frame width
    spot_y: np.ndarray
    spot_gain: np.ndarray  # strength of the moving light relative to ambient
    specular: np.ndarray  # specular strength (head pose, light)
    white_balance: np.ndarray  # [n_frames, 3] camera channel gains


def trajectories(scenario: Scenario, times: np.ndarray, rng: np.random.Generator) -> Trajectories:
    """Draw the nuisance signals of one recording; every scenario breathes and drifts a little."""
    n = times.size
    on = {k: float(getattr(scenario, k)) for k in ("translation", "rotation", "scale", "talking")}
    breath = np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * times + rng.uniform(0, 6.3))
    dx = 0.004 * smooth_noise(rng, times, 0.02, 0.1) + on["translation"] * (
        0.05 * smooth_noise(rng, times, 0.05, 0.4) + 0.012 * smooth_noise(rng, times, 0.5, 2.0)
    )
    dy = 0.002 * breath + on["translation"] * (
        0.035 * smooth_noise(rng, times, 0.05, 0.4) + 0.01 * smooth_noise(rng, times, 0.5, 2.0)
    )
    angle = 0.3 * smooth_noise(rng, times, 0.02, 0.1) + on["rotation"] * 5.0 * np.clip(
        smooth_noise(rng, times, 0.05, 0.6), -1.5, 1.5
    )
    scale = 1.0 + on["scale"] * 0.07 * np.clip(smooth_noise(rng, times, 0.03, 0.3), -1.5, 1.5)
    # Talking: syllables at 3-5 Hz in bursts, with small nods of the jaw.
    bursts = np.clip(smooth_noise(rng, times, 0.1, 0.4) + 0.3, 0, 1)
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(rng.uniform(3, 5, n)) / max(n / times[-1], 1))
    mouth = on["talking"] * bursts * syllables
    dy = dy + on["talking"] * 0.004 * mouth
    angle = angle + on["talking"] * 1.0 * mouth * np.sign(rng.uniform(-1, 1))

    light = np.ones(n)
    if scenario.light_drift:
        light *= 1.0 + 0.25 * np.tanh(smooth_noise(rng, times, 0.01, 0.08, 3))
    if scenario.flicker:
        light *= (
            1.0
            + 0.012 * smooth_noise(rng, times, 0.3, 3.0)
            + 0.008 * np.sin(2 * np.pi * rng.uniform(0.7, 2.5) * times)
        )
    spot_x = 0.5 + 0.6 * np.sin(2 * np.pi * times / rng.uniform(15, 30) + rng.uniform(0, 6.3))
    spot_y = 0.3 + 0.2 * np.sin(2 * np.pi * times / rng.uniform(10, 20))
    spot_gain = np.full(n, 0.5 if scenario.moving_light else 0.0)
    specular = 0.04 * (1.0 + np.abs(angle) / 5.0) * (1.0 + spot_gain * 0.5)
    wb_amp = 0.03 if scenario.light_drift else 0.006
    white_balance = np.stack(
        [
            1.0 + wb_amp * smooth_noise(rng, times, 0.005, 0.05, 3),
            np.ones(n),
            1.0 + wb_amp * smooth_noise(rng, times, 0.005, 0.05, 3),
        ],
        axis=1,
    )
    return Trajectories(
        dx, dy, angle, scale, mouth, light, spot_x, spot_y, spot_gain, specular, white_balance
    )
