"""Sweep definitions (configs/sweeps/*.yaml) and their expansion into cells.

A cell is (method, train set, test set, compression level, seed). Its key is the hash of its full resolved
config, so a rerun of the same sweep skips what is done and a changed setting makes a new cell.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from benchmark.errors import ConfigError
from benchmark.methods.config import RESOURCE_KEYS
from benchmark.spec import DEFAULT_BAND

PROTOCOLS = ("intra", "cross")


@dataclass(frozen=True)
class Evaluation:
    """How heart rate is read and scored (the same estimator for prediction and ground truth)."""

    band: tuple[float, float] = DEFAULT_BAND
    estimator: str = "fft"
    window_s: float = 10.0
    stride_s: float = 5.0
    chunk_overlap: float = 0.5  # networks' chunks overlap-added (benchmark.evaluation.inference.predict_bvp)


@dataclass(frozen=True)
class Sweep:
    """A versioned protocol: what to train and test on, at which compression levels, with which methods.

    Attributes:
        version: protocol version, stored in every result row; bump it when behaviour changes.
        datasets: dataset name -> adapter options (root, preset...).
        protocol: intra (subject-disjoint split of each dataset) or cross (train on `train_on`, test on the
            whole of `test_on`).
        split: train / val / test fractions of subjects (intra) or train / val (cross), and its seed.
        compression: levels to test at; `train_level` is the level training sees ("raw", or "same" to train
            on each tested level).
        methods: method names, or ["all"].
        exclude_methods: names left out of "all" (and releases left out of `pretrained`); a method that
            `methods` names outright still runs.
        pretrained: released weights (`weights list`) tested as they are, no training: rows of group
            "pretrained (real data)" named by the release (e.g. physnet@pure-rppgtoolbox).
        profile: recipe profile (smoke / quick / full) from configs/methods.
        max_epochs: cap on every recipe's epochs (None: the recipe's own).
        face: FaceConfig options.
        efficiency: profile the methods (params, MACs, latency) into the database before writing the tables.
        executor: where the cells run: `local` (this process, one after another) or `ray` (one Ray task per
            trained model and the cells that reuse it; benchmark.runner.executors).
        devices, strategy: train each model on `devices` GPUs with Lightning's `strategy` (`ddp`: each rank a
            process spawned by the fit); more than one device is refused on CPU.
        resources: what each Ray task asks for: `num_cpus`, `num_gpus` defaults, and per-method ones under
            `methods:` (a recipe's own `num_cpus` / `num_gpus` come between the two).
    """

    name: str = "custom"
    version: int = 1
    datasets: dict = field(default_factory=lambda: {"synth": {"preset": "smoke"}})
    protocol: str = "intra"
    train_on: tuple[str, ...] = ()
    test_on: tuple[str, ...] = ()
    split: dict = field(default_factory=lambda: {"fractions": [0.6, 0.2, 0.2], "seed": 0})
    compression: tuple[str, ...] = ("raw",)
    train_level: str = "raw"
    methods: tuple[str, ...] = ("all",)
    exclude_methods: tuple[str, ...] = ()
    pretrained: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    profile: str = "smoke"
    max_epochs: int | None = None
    device: str = "cpu"
    devices: int = 1
    strategy: str = "auto"
    evaluation: Evaluation = field(default_factory=Evaluation)
    face: dict = field(default_factory=dict)
    efficiency: bool = False
    executor: str = "local"
    resources: dict = field(default_factory=dict)
    database: str | None = None
    leaderboard: str | None = None

    def check(self) -> Sweep:
        """Raise one ConfigError listing every problem of this sweep's values (see validate.py)."""
        from benchmark.runner.validate import raise_problems, sweep_problems

        raise_problems(self.name, sweep_problems(self))
        return self

    def db_path(self) -> Path:
        """Its results database: `database` if set, else <results dir>/<name>.sqlite."""
        from benchmark.paths import results_dir

        return Path(self.database) if self.database else results_dir() / f"{self.name}.sqlite"

    def leaderboard_dir(self) -> Path:
        """Where its tables go: `leaderboard` (relative to the project) if set, else leaderboards/<name>."""
        from benchmark.paths import leaderboard_dir

        if self.leaderboard:
            path = Path(self.leaderboard)
            return path if path.is_absolute() else leaderboard_dir().parent / path
        return leaderboard_dir() / self.name

    def resolved(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=list))


def load_sweep(path: str | Path, *, check_runnable: bool = False, **overrides) -> Sweep:
    """Read a sweep YAML; `overrides` (from CLI flags, None = keep) replace its fields. `check_runnable` also
    checks what running it needs (dataset roots, recipes, device), reported with the other problems."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"sweep file {path}: invalid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep file {path}: expected a mapping of keys, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    return sweep_from_dict(raw, where=str(path), check_runnable=check_runnable, **overrides)


def sweep_from_dict(raw: dict, where: str = "sweep", *, check_runnable: bool = False, **overrides) -> Sweep:
    """A checked Sweep; every problem (unknown key at any level, unparsable or invalid value, unknown method,
    dataset or level; with `check_runnable` also missing data roots, broken recipes, absent device) is
    collected and raised as one ConfigError before any work starts."""
    from benchmark.runner.validate import (
        parse_sweep_fields,
        raise_problems,
        runnable_problems,
        sweep_problems,
    )

    raw = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    fields, problems = parse_sweep_fields(raw)
    sweep = Sweep(**fields)
    problems += sweep_problems(sweep)
    if check_runnable:
        problems += runnable_problems(sweep)
    raise_problems(where, problems)
    return sweep


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Cell:
    """One leaderboard entry to compute."""

    method: str
    group: str
    trains: bool
    train_set: str
    test_set: str
    level: str
    seed: int
    sweep: Sweep
    recipe: dict = field(default_factory=dict)

    @property
    def train_level(self) -> str:
        return self.level if self.sweep.train_level == "same" else "raw"

    def identity(self) -> dict:
        s = self.sweep
        return {
            "method": self.method,
            "group": self.group,
            "train_set": self.train_set,
            "test_set": self.test_set,
            "level": self.level,
            "seed": self.seed,
            "protocol": s.protocol,
            "protocol_version": s.version,
            "sweep": s.name,
            "profile": s.profile,
        }

    def training_config(self) -> dict:
        """Everything the trained model depends on (the checkpoint is reused across test sets and levels).
        Not the sweep's version: that versions the test protocol, and bumping it must not orphan the zoo's
        models; a change to training is a new recipe `version:` or a change to the data, split or seed."""
        s = self.sweep
        datasets = {d: s.datasets.get(d, {}) for d in self.train_set.split("+")}
        return {
            "method": self.method,
            "train_set": self.train_set,
            "datasets": datasets,
            "protocol": s.protocol,
            "split": s.split,
            "train_level": self.train_level,
            "seed": self.seed,
            "recipe": {k: v for k, v in self.recipe.items() if k not in RESOURCE_KEYS},
            "max_epochs": s.max_epochs,
            "face": s.face,
            **self._devices_config(),
            **self._dependency_configs(),
            **_content_versions(datasets),
        }

    def _devices_config(self) -> dict:
        """{"devices", "strategy"} when a model trains on several GPUs (its batches are split across them, so
        its weights differ from a one-device fit's), else {}: one-device keys are as before."""
        s = self.sweep
        return {"devices": s.devices, "strategy": s.strategy} if s.devices > 1 else {}

    def dependency(self, method: str) -> Cell:
        """The cell of a method this one requires (the KD student's teacher): same data, seed and profile."""
        from benchmark.methods import METHODS
        from benchmark.methods.config import load_recipe

        recipe = load_recipe(method, self.sweep.profile)
        return Cell(
            method, METHODS.get(method).group, True, self.train_set, self.test_set, self.level, self.seed,
            self.sweep, recipe,
        )  # fmt: skip

    def _dependency_configs(self) -> dict:
        """{"dependencies": training configs of the required methods}, or {} for a method that needs none,
        so a change to the teacher's recipe reruns the student's cells and no other method's key moves."""
        from benchmark.methods import METHODS

        requires = METHODS.get(self.method).requires if self.method in METHODS else ()
        if not requires:
            return {}
        return {"dependencies": {dep: self.dependency(dep).training_config() for dep in requires}}

    def config(self) -> dict:
        """The full resolved config of the cell: its key is this dict's hash. It holds the code fingerprint
        (benchmark.results.fingerprint), so changed code recomputes the cell instead of reusing its row."""
        from benchmark.results.fingerprint import code_fingerprint

        s = self.sweep
        return {
            **self.identity(),
            "code": code_fingerprint(),
            "training": self.training_config() if self.trains else None,
            **self._release_config(),
            "test_datasets": {d: s.datasets.get(d, {}) for d in self.test_set.split("+")},
            "split": s.split,
            "evaluation": asdict(s.evaluation),
            "face": s.face,
        }

    def _release_config(self) -> dict:
        """{"weights": the release's name, file and sha256} for a row of released weights, else {}."""
        from benchmark.methods.weights import RELEASES

        if self.method not in RELEASES:
            return {}
        release = RELEASES.get(self.method)
        return {"weights": {"release": release.name, "file": release.file, "sha256": release.sha256}}

    @property
    def key(self) -> str:
        return config_hash(self.config())

    @property
    def training_key(self) -> str:
        return config_hash(self.training_config())

    def label(self) -> str:
        return f"{self.method} | {self.train_set}->{self.test_set} | {self.level} | seed {self.seed}"


def _content_versions(datasets: dict) -> dict:
    """{"content_versions": {dataset: version}} for generated datasets (SynthPulse), else {}: a new generator
    version is new training data, so models trained on the old one no longer match."""
    from benchmark.data.datasets.base import DATASETS

    adapters = {d: (options or {}).get("adapter", d) for d, options in datasets.items()}  # a named dataset
    versions = {d: DATASETS.get(adapter).content_version for d, adapter in adapters.items()}
    versions = {d: v for d, v in versions.items() if v is not None}
    return {"content_versions": versions} if versions else {}


def train_test_pairs(sweep: Sweep) -> list[tuple[str, str]]:
    """(train set, test set) names: each dataset with itself (intra), or every train_on x test_on (cross)."""
    if sweep.protocol == "intra":
        return [(d, d) for d in sweep.datasets]
    missing = [d for d in (*sweep.train_on, *sweep.test_on) if d not in sweep.datasets]
    if missing:
        raise ConfigError(f"sweep {sweep.name!r}: train_on/test_on name datasets not listed: {missing}")
    return [("+".join(sweep.train_on), t) for t in sweep.test_on]


def expand(sweep: Sweep, entries: dict, recipes: dict[str, dict]) -> list[Cell]:
    """All cells, ordered so that each trained model is reused by the cells that follow it.

    `entries` maps method name -> catalogue entry (with .group, .kind); methods that do not train run for the
    first seed only (they are deterministic, extra seeds would be copies).
    """
    cells = []
    for method, entry in entries.items():
        trains = entry.kind != "none"
        seeds = sweep.seeds if trains else sweep.seeds[:1]
        for seed in seeds:
            for train_set, test_set in train_test_pairs(sweep):
                for level in sweep.compression:
                    cells.append(
                        Cell(
                            method,
                            entry.group,
                            trains,
                            train_set,
                            test_set,
                            level,
                            seed,
                            sweep,
                            recipes.get(method, {}),
                        )
                    )
    return cells


__all__ = [
    "Cell",
    "Evaluation",
    "Sweep",
    "expand",
    "load_sweep",
    "sweep_from_dict",
]
