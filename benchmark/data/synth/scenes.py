"""Scenarios: head motion, talking, lighting and camera behaviour over time, as per-frame trajectories.

A scenario is a level per nuisance (`LEVELS`: none < low < medium < high) for head motion, talking,
lighting and the camera, plus an optional forced skin tone. `trajectories()` turns it into arrays with one
value per frame. The signals are aperiodic, as in real recordings: head motion is 1/f^beta noise (a
smoothed random walk) plus occasional turns, talking is syllables at irregular times grouped in phrases,
lighting is slow drift, occasional steps and a little coloured flicker from a second light source.

Scenario names (`SCENARIOS`):
- the four defaults, `still`, `motion`, `lighting`, `combined`, whose nuisances are at `medium` (`still`:
  the micro-motion, light drift and camera of a recording where the person keeps still);
- a ladder per nuisance, `<nuisance>-<level>` (e.g. `motion-high`, `camera-none`, `skin-low`): the `still`
  recording of the same subject (same heart rhythm, same random draws) with that one nuisance at that level.

Every nuisance draws from its own random stream, so changing one level leaves the others' signals as they
were: `motion-low` is byte for byte the `still` recording. Amplitudes stay inside what the frontal-face
detector tolerates (in-plane rotation within about 10 degrees, the face inside the frame).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from benchmark.data.synth.portable import tanh

LEVELS = ("none", "low", "medium", "high")
NUISANCES = ("motion", "talking", "lighting", "camera", "skin")
DEFAULT_SCENARIOS = ("still", "motion", "lighting", "combined")

# Head motion. sway: RMS translation (fraction of the frame width; vertical 0.7x); beta: spectral slope of
# the 1/f^beta translation and rotation noise (2 = random walk, 1 = pink); roll: RMS in-plane rotation (deg);
# yaw: RMS head turn (deg; rendered as a horizontal squeeze and a shading gradient across the face);
# scale: RMS distance change (relative); turns: larger turns per minute (each 0.4-1 s to turn, held 0.5-3 s,
# then back), turn_deg: their size; breath: breathing motion (fraction of frame height, peak).
MOTION_LEVELS = {
    "none": dict(sway=0.0, beta=2.0, roll=0.0, yaw=0.0, scale=0.0, turns=0.0, turn_deg=0.0, breath=0.0),
    "low": dict(sway=0.0025, beta=1.8, roll=0.3, yaw=0.7, scale=0.002, turns=0.0, turn_deg=0.0, breath=0.002),
    "medium": dict(
        sway=0.011, beta=1.6, roll=2.0, yaw=5.0, scale=0.014, turns=6.0, turn_deg=15.0, breath=0.002
    ),
    "high": dict(
        sway=0.02, beta=1.4, roll=3.5, yaw=8.0, scale=0.025, turns=10.0, turn_deg=25.0, breath=0.003
    ),
}
# Talking: fraction of the time in phrases, syllables per second (irregular, gamma-distributed intervals),
# mouth opening (0..1) and the head's jaw-driven bob (fraction of frame height) and nod (deg) per unit mouth.
TALKING_LEVELS = {
    "none": dict(fraction=0.0, rate=4.0, mouth=0.0, bob=0.0, nod=0.0),
    "low": dict(fraction=0.25, rate=3.5, mouth=0.5, bob=0.003, nod=0.5),
    "medium": dict(fraction=0.55, rate=4.0, mouth=0.8, bob=0.008, nod=2.0),
    "high": dict(fraction=0.85, rate=4.5, mouth=1.0, bob=0.015, nod=3.0),
}
# Lighting: drift, RMS relative change of the main (daylight-like) source, 1/f^2 below 0.1 Hz; steps per
# minute and their size (a cloud, a door, a lamp switched); flicker, RMS relative fluctuation of the second
# (warm, lamp-like) source, aperiodic 1/f^0.5 noise over 0.1-3 Hz, which changes the illuminant's colour;
# spot: strength of a light moving across the scene (a person passing, a screen), relative to the ambient.
# Medium and high were raised in version 7 with motion's and talking's medium, so that the classic methods'
# errors on the default scenarios match published real-data anchors (bench/synth_calibration.py).
LIGHTING_LEVELS = {
    "none": dict(drift=0.0, steps=0.0, step_size=0.0, flicker=0.0, spot=0.0, wb=0.0),
    "low": dict(drift=0.01, steps=0.0, step_size=0.0, flicker=0.002, spot=0.0, wb=0.004),
    "medium": dict(drift=0.08, steps=5.0, step_size=0.15, flicker=0.045, spot=0.5, wb=0.02),
    "high": dict(drift=0.15, steps=8.0, step_size=0.25, flicker=0.07, spot=0.7, wb=0.04),
}
# Camera: sensor noise (x the subject's base level), auto-exposure (off: locked at the first frame; else its
# time constant in s, a dead band within which it does not react, and the relative step of its gain when it
# moves), white-balance drift (RMS, per channel).
# exposure: RMS relative fluctuation of the camera's effective exposure that its metering does not see
# (gain and exposure-table hunting, the face's own shading as it sways), 1/f^3 above 0.1 Hz (flat below),
# rolled off above 3 Hz; jitter: RMS per-frame exposure noise (rolling shutter against mains flicker, codec
# rate control);
# colour: RMS per-channel gain fluctuation, 1/f over 0.1-3 Hz (white-balance and per-channel gain hunting,
# codec chroma noise): the part of the real clip's heart-rate band that is not intensity and not pulse.
# Calibrated on the real PhysRecorder clip (`bench/synth_vs_real.py`): its face crop's mean brightness varies
# by ~1.8 % RMS at 0.1-0.7 Hz, ~0.24 % in the heart-rate band and ~0.06 % at 6-15 Hz, nearly all of it common
# to the three channels.
CAMERA_LEVELS = {
    "none": dict(
        noise=0.0, ae=False, ae_tau=0.8, deadband=0.0, step=0.0, wb=0.0, exposure=0.0, jitter=0.0, colour=0.0
    ),
    "low": dict(
        noise=0.5,
        ae=True,
        ae_tau=0.8,
        deadband=0.0,
        step=0.0,
        wb=0.002,
        exposure=0.015,
        jitter=3e-4,
        colour=7e-4,
    ),
    "medium": dict(
        noise=1.0,
        ae=True,
        ae_tau=0.5,
        deadband=0.03,
        step=0.03,
        wb=0.006,
        exposure=0.045,
        jitter=8e-4,
        colour=1.5e-3,
    ),
    "high": dict(
        noise=5.0,
        ae=True,
        ae_tau=0.3,
        deadband=0.05,
        step=0.06,
        wb=0.015,
        exposure=0.09,
        jitter=2e-3,
        colour=3e-3,
    ),
}
# Skin: the `skin-<level>` ladder renders every subject with one tone (pulse weaker and skin darker as the
# tone darkens); the other scenarios keep each subject's own tone (subjects cycle through I..VI).
SKIN_LEVELS = {"none": "I", "low": "III", "medium": "IV", "high": "VI"}


@dataclass(frozen=True)
class Scenario:
    name: str
    motion: str = "low"
    talking: str = "none"
    lighting: str = "low"
    camera: str = "medium"
    skin: str | None = None  # None: the subject's own tone; a level forces SKIN_LEVELS[level]
    base: str = ""  # the scenario whose random draws (heart rhythm, signals) this one shares; "" = itself

    @property
    def seed_name(self) -> str:
        return self.base or self.name

    @property
    def skin_tone(self) -> str | None:
        return None if self.skin is None else SKIN_LEVELS[self.skin]

    @property
    def levels(self) -> dict[str, str]:
        return {n: getattr(self, n) or "subject" for n in NUISANCES}

    @property
    def motion_tag(self) -> str:
        return f"{self.motion}+talking-{self.talking}" if self.talking != "none" else self.motion

    @property
    def lighting_tag(self) -> str:
        return self.lighting


def _build_scenarios() -> dict[str, Scenario]:
    still = Scenario("still")
    out = {
        "still": still,
        "motion": replace(still, name="motion", motion="medium", talking="medium"),
        "lighting": replace(still, name="lighting", lighting="medium"),
        "combined": replace(still, name="combined", motion="medium", talking="medium", lighting="medium"),
    }
    for nuisance in NUISANCES:
        for level in LEVELS:
            name = f"{nuisance}-{level}"
            out[name] = replace(still, name=name, base="still", **{nuisance: level})
    return out


SCENARIOS: dict[str, Scenario] = _build_scenarios()
SCENARIO_NAMES = tuple(SCENARIOS)


@dataclass(frozen=True)
class Trajectories:
    """Per-frame values [n_frames] (arrays) for one recording."""

    dx: np.ndarray  # face offset, fraction of frame width
    dy: np.ndarray  # fraction of frame height
    angle_deg: np.ndarray  # in-plane rotation
    yaw_deg: np.ndarray  # head turn: horizontal squeeze and a shading gradient across the face
    scale: np.ndarray
    mouth: np.ndarray  # 0 closed .. 1 open
    light: np.ndarray  # [n_frames, 3] illuminant per channel, relative (ambient + lamp, with colour)
    spot_x: np.ndarray  # moving light centre, fraction of frame width
    spot_y: np.ndarray
    spot_gain: np.ndarray  # strength of the moving light relative to ambient
    specular: np.ndarray  # specular strength (head pose, light)
    white_balance: np.ndarray  # [n_frames, 3] camera channel gains


def coloured_noise(
    rng: np.random.Generator, n: int, fps: float, beta: float, f_lo: float, f_hi: float = 4.0
) -> np.ndarray:
    """Unit-RMS Gaussian noise whose power falls as 1/f^beta above f_lo (flat below) and rolls off above
    f_hi: aperiodic, with no spectral line. Drawn on twice the length, so the clip's ends are not joined."""
    m = 2 * n
    f = np.fft.rfftfreq(m, 1.0 / fps)
    spectrum = rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)
    shape = np.maximum(f, f_lo) ** (-beta / 2) / (1.0 + (f / f_hi) ** 4)
    shape[0] = 0.0
    x = np.fft.irfft(spectrum * shape, m)[:n]
    return (x - x.mean()) / (x.std() + 1e-12)


def _ramp(t: np.ndarray, t0: float, duration: float) -> np.ndarray:
    """0 before t0, 1 after t0 + duration, a raised-cosine transition in between."""
    x = np.clip((t - t0) / max(duration, 1e-3), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _events(rng: np.random.Generator, per_minute: float, duration_s: float) -> np.ndarray:
    """Event times of a Poisson process (a fixed number of draws, so the stream does not depend on rate)."""
    gaps = rng.exponential(1.0, 64)
    if per_minute <= 0:
        return np.zeros(0)
    times = np.cumsum(gaps) * 60.0 / per_minute - rng.uniform(0, 60.0 / per_minute)
    return times[(times > -2.0) & (times < duration_s)]


def head_motion(level: str, times: np.ndarray, fps: float, rng: np.random.Generator) -> dict:
    p = MOTION_LEVELS[level]
    n = times.size
    beta = p["beta"]
    noise = {k: coloured_noise(rng, n, fps, beta, 0.03) for k in ("dx", "dy", "roll", "yaw", "scale")}
    breath = np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * times + rng.uniform(0, 6.3))
    turn = np.zeros(n)
    starts = _events(rng, p["turns"], times[-1])
    draws = rng.uniform(0, 1, (64, 4))
    for t0, (a, b, c, d) in zip(starts, draws):
        size = p["turn_deg"] * (0.5 + 0.5 * a) * (1 if b < 0.5 else -1)
        move, hold = 0.4 + 0.6 * c, 0.5 + 2.5 * d
        turn += size * (_ramp(times, t0, move) - _ramp(times, t0 + move + hold, move))
    yaw = p["yaw"] * noise["yaw"] + turn
    return dict(
        dx=p["sway"] * noise["dx"],
        dy=0.7 * p["sway"] * noise["dy"] + p["breath"] * breath,
        angle_deg=np.clip(p["roll"] * noise["roll"] + 0.15 * turn, -10.0, 10.0),
        yaw_deg=np.clip(yaw, -35.0, 35.0),
        scale=1.0 + p["scale"] * np.clip(noise["scale"], -2.5, 2.5),
    )


def talking(level: str, times: np.ndarray, fps: float, rng: np.random.Generator) -> dict:
    """Mouth opening from syllables at irregular times, in phrases separated by pauses; the jaw moves the
    head a little with each syllable (bob) and the head nods with the phrase."""
    p = TALKING_LEVELS[level]
    n, duration = times.size, float(times[-1]) + 1.0 / fps
    mouth = np.zeros(n)
    # Phrases: talking for 1-4 s, pauses so that `fraction` of the time is speech.
    t, phrases = -rng.uniform(0, 2.0), []
    phrase_draws, pause_draws = rng.uniform(1.0, 4.0, 64), rng.exponential(1.0, 64)
    for k in range(64):
        length = phrase_draws[k]
        phrases.append((t, t + length))
        mean_pause = length * (1 - p["fraction"]) / max(p["fraction"], 1e-3)
        t += length + max(0.2, pause_draws[k] * mean_pause)
        if t > duration:
            break
    syllable_gaps = rng.gamma(4.0, 1.0 / (4.0 * p["rate"]), 512)
    heights = rng.uniform(0.4, 1.0, 512)
    if p["fraction"] > 0:
        t_syl, k = 0.0, 0
        for start, end in phrases:
            t_syl = max(t_syl, start)
            while t_syl < end and k < 511:
                width = syllable_gaps[k]
                bump = np.clip((times - t_syl) / width, 0.0, 1.0)
                mouth += heights[k] * np.sin(np.pi * bump) ** 2 * (times < t_syl + width)
                t_syl += width
                k += 1
    mouth = p["mouth"] * np.clip(mouth, 0, 1)
    phrase_env = coloured_noise(rng, n, fps, 2.0, 0.1)
    return dict(
        mouth=mouth,
        dy=p["bob"] * mouth,
        angle_deg=p["nod"] * (0.5 * mouth + 0.5 * phrase_env * (mouth > 0)),
    )


def lighting(level: str, times: np.ndarray, fps: float, rng: np.random.Generator) -> dict:
    """Illuminant per channel: a daylight-like main source with slow drift and occasional steps, plus a warm
    lamp whose small aperiodic fluctuation (flicker) shifts the colour; a light moving across the scene."""
    p = LIGHTING_LEVELS[level]
    n = times.size
    drift = p["drift"] * coloured_noise(rng, n, fps, 2.0, 0.01, 0.1)
    steps = np.zeros(n)
    starts = _events(rng, p["steps"], times[-1])
    sizes = rng.uniform(0.5, 1.0, 64) * np.where(rng.uniform(0, 1, 64) < 0.5, -1, 1)
    durations = rng.uniform(0.2, 1.5, 64)
    for t0, s, d in zip(starts, sizes, durations):
        steps += p["step_size"] * s * _ramp(times, t0, d)
    main = np.exp(drift + steps)
    flicker = p["flicker"] * coloured_noise(rng, n, fps, 0.5, 0.1, 3.0)
    lamp_share = rng.uniform(0.2, 0.5)
    daylight = np.array([0.95, 1.0, 1.08])
    lamp = np.array([1.2, 1.0, 0.75])
    light = (1 - lamp_share) * main[:, None] * daylight + lamp_share * (1.0 + flicker)[:, None] * lamp
    base_colour = (1 - lamp_share) * daylight + lamp_share * lamp
    light = light / base_colour[1]
    path = coloured_noise(rng, n, fps, 2.0, 0.02, 0.3)
    spot_x = 0.5 + 0.5 * tanh(path + rng.uniform(-1, 1))
    spot_y = 0.3 + 0.1 * coloured_noise(rng, n, fps, 2.0, 0.02, 0.3)
    spot_gain = p["spot"] * (0.6 + 0.4 * tanh(coloured_noise(rng, n, fps, 1.5, 0.05, 2.0)))
    wb = np.stack([1.0 + p["wb"] * coloured_noise(rng, n, fps, 2.0, 0.01, 0.2) for _ in range(2)], axis=1)
    return dict(light=light, spot_x=spot_x, spot_y=spot_y, spot_gain=spot_gain, wb=wb)


def camera_wb(level: str, times: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """The camera's own white-balance drift, [n, 2] gains for red and blue."""
    p = CAMERA_LEVELS[level]
    return np.stack(
        [1.0 + p["wb"] * coloured_noise(rng, times.size, fps, 2.0, 0.01, 0.2) for _ in range(2)], 1
    )


def camera_exposure(level: str, times: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """The camera's unmetered exposure fluctuation, [n, 3] relative gains (drawn after camera_wb's noise)."""
    p = CAMERA_LEVELS[level]
    slow = p["exposure"] * coloured_noise(rng, times.size, fps, 3.0, 0.1, 3.0)
    common = np.exp(slow + p["jitter"] * rng.standard_normal(times.size))
    colour = np.stack([coloured_noise(rng, times.size, fps, 1.0, 0.1, 3.0) for _ in range(3)], axis=1)
    return common[:, None] * (1.0 + p["colour"] * colour)


def trajectories(scenario: Scenario, times: np.ndarray, fps: float, seeds: dict) -> Trajectories:
    """Draw the nuisance signals of one recording; `seeds` holds one SeedSequence per nuisance."""
    rngs = {k: np.random.default_rng(s) for k, s in seeds.items()}
    head = head_motion(scenario.motion, times, fps, rngs["motion"])
    talk = talking(scenario.talking, times, fps, rngs["talking"])
    light = lighting(scenario.lighting, times, fps, rngs["lighting"])
    cam_wb = camera_wb(scenario.camera, times, fps, rngs["camera"])
    exposure = camera_exposure(scenario.camera, times, fps, rngs["camera"])
    angle = head["angle_deg"] + talk["angle_deg"]
    yaw = head["yaw_deg"]
    # Highlights on forehead, nose and cheekbones brighten or fade as the head turns against the light.
    pose = 1.0 + 0.03 * yaw + 0.02 * angle + 0.3 * (np.abs(yaw) / 10.0) ** 2
    specular = 0.05 * np.clip(pose, 0.2, 3.0) * (1.0 + light["spot_gain"])
    wb = light["wb"] * cam_wb
    white_balance = np.stack([wb[:, 0], np.ones(times.size), wb[:, 1]], axis=1) * exposure
    return Trajectories(
        dx=head["dx"],
        dy=head["dy"] + talk["dy"],
        angle_deg=angle,
        yaw_deg=yaw,
        scale=head["scale"],
        mouth=talk["mouth"],
        light=light["light"],
        spot_x=light["spot_x"],
        spot_y=light["spot_y"],
        spot_gain=light["spot_gain"],
        specular=specular,
        white_balance=white_balance,
    )
