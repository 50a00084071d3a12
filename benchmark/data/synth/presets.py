"""Built-in sizes of SynthPulse. configs/datasets/synth.yaml picks one and may override its fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from benchmark.data.synth.scenes import DEFAULT_SCENARIOS, SCENARIO_NAMES
from benchmark.errors import ConfigError

SCENARIO_ORDER = DEFAULT_SCENARIOS  # the default four, whose nuisances are at `medium`


@dataclass(frozen=True)
class Preset:
    name: str
    subjects: int
    scenarios: tuple[str, ...]
    duration_s: float
    fps: float
    width: int
    height: int

    @property
    def n_frames(self) -> int:
        return int(round(self.duration_s * self.fps))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scenarios"] = list(self.scenarios)
        return d


PRESETS: dict[str, Preset] = {
    # CI: a few short, small clips; generated in seconds.
    "smoke": Preset("smoke", 6, ("still", "combined"), 10.0, 30.0, 160, 120),
    # make bench-all: 12 subjects x every scenario, enough for an 8/2/2 subject-disjoint split.
    "quick": Preset("quick", 12, SCENARIO_ORDER, 20.0, 30.0, 256, 192),
    # GPUs: twice the subjects, 30 s clips, 320x240 (VGA would be ~55 GB of lossless video).
    "full": Preset("full", 24, SCENARIO_ORDER, 30.0, 30.0, 320, 240),
}


def get_preset(name: str, **overrides) -> Preset:
    """A built-in preset with some fields replaced (subjects, scenarios, duration_s, fps, width, height)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown SynthPulse preset {name!r}; choose one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    unknown = set(overrides) - set(preset.to_dict()) - {"name"}
    if unknown:
        raise ConfigError(f"SynthPulse preset {name!r}: unknown field(s) {sorted(unknown)}")
    if "scenarios" in overrides:
        overrides["scenarios"] = tuple(overrides["scenarios"])
        bad = [s for s in overrides["scenarios"] if s not in SCENARIO_NAMES]
        if bad:
            raise ConfigError(
                f"SynthPulse: unknown scenario(s) {bad}; choose from {list(SCENARIO_ORDER)} or "
                "<nuisance>-<level> (nuisance: motion, talking, lighting, camera, skin; "
                "level: none, low, medium, high)"
            )
    preset = replace(preset, **overrides)
    if (
        preset.subjects < 1
        or preset.duration_s <= 0
        or preset.fps <= 0
        or min(preset.width, preset.height) < 96
    ):
        raise ConfigError(f"SynthPulse preset {preset.name!r} has impossible values: {preset.to_dict()}")
    return preset
