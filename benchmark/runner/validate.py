"""A sweep checked before any work starts: every key, name and value, all problems reported at once.

Two passes. `parse_sweep_fields` + `sweep_problems` run whenever a sweep is loaded (types, unknown keys at
every level, registered names of methods, datasets and levels, ranges); `runnable_problems` runs before a
sweep does work (dataset roots and manifests exist, recipes load for the profile, the device exists), since a
`leaderboard` command that only reads a sweep's database must not need the data.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import fields as dataclass_fields

from benchmark.errors import ConfigError

LIST_FIELDS = ("train_on", "test_on", "compression", "methods", "exclude_methods", "pretrained")
SPLIT_KEYS = ("fractions", "seed", "train_val")
STRATEGIES = ("auto", "ddp", "ddp_spawn")  # ddp runs as ddp_spawn (runner.training.lightning_strategy)
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def raise_problems(where: str, problems: list[str]) -> None:
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{where}: {len(problems)} problem(s):\n{lines}")


def _unknown(keys, known, what: str) -> list[str]:
    out = []
    for key in sorted(set(keys) - set(known), key=str):
        close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(map(str, known))}"
        out.append(f"unknown key {key!r} in {what}{hint}")
    return out


def _as_list(value) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"expected a list or a comma-separated string, got {type(value).__name__}")


def _int(value, what: str, minimum: int | None = None) -> int:
    """An integer from YAML or a flag; bools and non-integral floats are errors, not silently cast."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    return number


def _number(value, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None


def parse_sweep_fields(raw: dict) -> tuple[dict, list[str]]:
    """Sweep constructor arguments from YAML / flag values, and the problems found; a field that cannot be
    parsed is left at its default so the other fields are still checked."""
    from benchmark.runner.cells import Sweep

    problems = _unknown(raw, Sweep.__dataclass_fields__, "the sweep")
    parsed = {k: v for k, v in raw.items() if k in Sweep.__dataclass_fields__}
    out: dict = {}
    for key, value in parsed.items():
        try:
            out[key] = _parse_field(key, value, problems)
        except (TypeError, ValueError) as err:
            problems.append(f"{key}: {err}")
    return out, problems


def _parse_field(key: str, value, problems: list[str]):
    if key in LIST_FIELDS:
        items = _as_list(value)
        bad = [v for v in items if not isinstance(v, str)]
        if bad:
            raise ValueError(f"names must be strings, got {bad}")
        return tuple(items)
    if key == "seeds":
        seeds = []
        for seed in _as_list(value):
            try:
                seeds.append(_int(seed, "a seed", minimum=0))
            except ValueError as err:
                problems.append(f"seeds: {err}")
        return tuple(seeds) or (0,)
    if key == "version":
        return _int(value, "version", minimum=1)
    if key == "devices":
        return _int(value, "devices", minimum=1)
    if key == "max_epochs":
        return None if value is None else _int(value, "max_epochs", minimum=1)
    if key == "datasets":
        return _parse_datasets(value)
    if key == "evaluation":
        return _parse_evaluation(value, problems)
    if key == "split":
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping with keys {', '.join(SPLIT_KEYS)}")
        problems += [f"split: {p}" for p in _unknown(value, SPLIT_KEYS, "split")]
        split = {k: v for k, v in value.items() if k in SPLIT_KEYS}
        split["seed"] = _int(split.get("seed", 0), "split seed", minimum=0)
        return split
    if key == "face":
        return _parse_face(value, problems)
    if key == "resources":
        return _parse_resources(value, problems)
    if key == "efficiency":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if key in ("name", "protocol", "train_level", "profile", "device", "executor", "strategy"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        return value
    if key in ("database", "leaderboard"):
        return None if value is None else str(value)
    return value


def _parse_datasets(value) -> dict:
    if isinstance(value, list | tuple | str):
        return {name: {} for name in _as_list(value)}
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of dataset name -> options, or a list of names")
    bad = [name for name, options in value.items() if options is not None and not isinstance(options, dict)]
    if bad:
        raise ValueError(f"options of {bad} must be mappings (e.g. `synth: {{preset: quick}}`)")
    return {name: dict(options or {}) for name, options in value.items()}


def _parse_evaluation(value, problems: list[str]):
    from benchmark.runner.cells import Evaluation

    if not isinstance(value, dict):
        raise ValueError("must be a mapping (band, estimator, window_s, stride_s, chunk_overlap)")
    known = [f.name for f in dataclass_fields(Evaluation)]
    problems += [f"evaluation: {p}" for p in _unknown(value, known, "evaluation")]
    ev = {}
    for key in known:
        if key not in value:
            continue
        try:
            if key == "band":
                band = value[key]
                if not isinstance(band, list | tuple) or len(band) != 2:
                    raise ValueError(f"band must be [low, high] in Hz, got {band!r}")
                ev[key] = tuple(_number(b, "a band edge") for b in band)
            elif key == "estimator":
                ev[key] = str(value[key])
            else:
                ev[key] = _number(value[key], key)
        except ValueError as err:
            problems.append(f"evaluation: {err}")
    return Evaluation(**ev)


def _parse_face(value, problems: list[str]) -> dict:
    from benchmark.data.face import FaceConfig

    if not isinstance(value, dict):
        raise ValueError("must be a mapping of FaceConfig options")
    known = [f.name for f in dataclass_fields(FaceConfig)]
    problems += [f"face: {p}" for p in _unknown(value, known, "face")]
    return {k: v for k, v in value.items() if k in known}


def _parse_resources(value, problems: list[str]) -> dict:
    """`resources: {num_cpus: 1, num_gpus: 0, methods: {physnet: {num_gpus: 1}}}`, numbers >= 0 (a fraction
    of a GPU is a Ray request like any other)."""
    from benchmark.methods.config import RESOURCE_KEYS

    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping with keys {', '.join(RESOURCE_KEYS)}, methods")
    problems += [f"resources: {p}" for p in _unknown(value, (*RESOURCE_KEYS, "methods"), "resources")]
    out = _resource_numbers(value, "resources", problems)
    methods = value.get("methods") or {}
    if not isinstance(methods, dict):
        problems.append("resources: methods must map method names to {num_cpus: N, num_gpus: N}")
        return out
    for name, asked in methods.items():
        where = f"resources of {name}"
        if not isinstance(asked, dict):
            problems.append(f"{where}: must be a mapping {{num_cpus: N, num_gpus: N}}, got {asked!r}")
            continue
        problems += [f"{where}: {p}" for p in _unknown(asked, RESOURCE_KEYS, where)]
        out.setdefault("methods", {})[name] = _resource_numbers(asked, where, problems)
    return out


def _resource_numbers(asked: dict, where: str, problems: list[str]) -> dict:
    from benchmark.methods.config import RESOURCE_KEYS

    out = {}
    for key in (k for k in RESOURCE_KEYS if k in asked):
        try:
            number = _number(asked[key], key)
        except ValueError as err:
            problems.append(f"{where}: {err}")
            continue
        if number < 0:
            problems.append(f"{where}: {key} must be >= 0, got {number:g}")
        else:
            out[key] = number
    return out


# ----------------------------------------------------------------------------------- semantic checks
def sweep_problems(sweep) -> list[str]:
    """Problems of a parsed sweep's values and names (no file system access)."""
    from benchmark.runner.cells import PROTOCOLS

    problems = []
    if not NAME_PATTERN.match(sweep.name):
        problems.append(
            f"name {sweep.name!r} must be a plain file name (letters, digits, . _ + -): it names the database"
        )
    if sweep.protocol not in PROTOCOLS:
        problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {sweep.protocol!r}")
    if sweep.protocol == "cross" and (not sweep.train_on or not sweep.test_on):
        problems.append("the cross protocol needs train_on and test_on")
    missing = [d for d in (*sweep.train_on, *sweep.test_on) if d not in sweep.datasets]
    if missing:
        problems.append(f"train_on/test_on name datasets not listed under datasets: {missing}")
    if sweep.train_level not in ("raw", "same"):
        problems.append(f"train_level must be raw or same, got {sweep.train_level!r}")
    if not sweep.seeds:
        problems.append("seeds: at least one seed is needed")
    elif len(set(sweep.seeds)) != len(sweep.seeds):
        problems.append(f"seeds: repeated seeds {list(sweep.seeds)}")
    if not DEVICE_PATTERN.match(sweep.device):
        problems.append(f"device must be auto, cpu, cuda or cuda:N, got {sweep.device!r}")
    if sweep.strategy not in STRATEGIES:
        problems.append(f"strategy must be one of {', '.join(STRATEGIES)}, got {sweep.strategy!r}")
    problems += _profile_problems(sweep.profile)
    problems += _executor_problems(sweep)
    problems += _split_problems(sweep)
    problems += _evaluation_problems(sweep.evaluation)
    problems += _name_problems(sweep)
    problems += _face_problems(sweep.face)
    return problems


def _profile_problems(profile: str) -> list[str]:
    from benchmark.methods.config import PROFILES

    if profile not in PROFILES:
        return [f"profile must be one of {', '.join(PROFILES)}, got {profile!r}"]
    return []


def _executor_problems(sweep) -> list[str]:
    from benchmark.methods import METHODS
    from benchmark.methods.weights import RELEASES
    from benchmark.runner.executors import EXECUTORS

    problems = []
    if sweep.executor not in EXECUTORS:
        problems.append(f"executor must be one of {', '.join(EXECUTORS.names())}, got {sweep.executor!r}")
    named = [n for n in sweep.resources.get("methods", {}) if n not in RELEASES]
    problems += [f"resources: {p}" for p in _unknown_names(named, METHODS, "method")]
    return problems


def _fractions_problem(values, count: int, what: str) -> str | None:
    try:
        numbers = [_number(v, "a fraction") for v in _as_list(values)]
    except (TypeError, ValueError) as err:
        return f"{what}: {err}"
    if len(numbers) != count or any(f < 0 for f in numbers) or abs(sum(numbers) - 1) > 1e-6:
        return f"{what} must be {count} non-negative fractions summing to 1, got {values!r}"
    return None


def _split_problems(sweep) -> list[str]:
    split = sweep.split
    if sweep.protocol == "intra":
        problem = _fractions_problem(split.get("fractions"), 3, "split fractions (train, val, test)")
    else:
        problem = (
            _fractions_problem(split["train_val"], 2, "split train_val (train, val)")
            if "train_val" in split
            else None
        )
    return [problem] if problem else []


def _evaluation_problems(ev) -> list[str]:
    from benchmark.evaluation.hr import ESTIMATORS

    problems = []
    low, high = ev.band
    if not 0 < low < high:
        problems.append(f"evaluation: band must be 0 < low < high (Hz), got {list(ev.band)}")
    if ev.estimator not in ESTIMATORS:
        problems.append(
            f"evaluation: unknown estimator {ev.estimator!r}; known: {', '.join(ESTIMATORS.names())}"
        )
    for key in ("window_s", "stride_s"):
        if not getattr(ev, key) > 0:
            problems.append(f"evaluation: {key} must be > 0, got {getattr(ev, key)}")
    if not 0 <= ev.chunk_overlap < 1:
        problems.append(f"evaluation: chunk_overlap must be in [0, 1), got {ev.chunk_overlap}")
    return problems


def _unknown_names(names, registry, what: str) -> list[str]:
    out = []
    for name in names:
        if name not in registry:
            close = difflib.get_close_matches(name, registry.names(), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(registry.names())}"
            out.append(f"unknown {what} {name!r}; {hint}")
    return out


def _name_problems(sweep) -> list[str]:
    from benchmark.data.compression import compression_levels
    from benchmark.data.datasets import DATASETS
    from benchmark.methods import METHODS

    problems = []
    methods = [m for m in sweep.methods if m != "all"]
    from benchmark.methods.weights import RELEASES

    problems += _unknown_names(methods, METHODS, "method")
    excluded = [m for m in sweep.exclude_methods if m not in RELEASES]
    problems += _unknown_names(excluded, METHODS, "method")
    problems += _unknown_names(sweep.pretrained, RELEASES, "weights release")
    if not sweep.methods:
        problems.append("methods: at least one method (or `all`) is needed")
    adapters = [str((options or {}).get("adapter", name)) for name, options in sweep.datasets.items()]
    problems += _unknown_names(adapters, DATASETS, "dataset")
    if not sweep.datasets:
        problems.append("datasets: at least one dataset is needed")
    levels = compression_levels()
    for level in sweep.compression:
        if level not in levels:
            close = difflib.get_close_matches(level, list(levels), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see `python -m benchmark list compression`"
            problems.append(f"unknown compression level {level!r}; {hint}")
    if not sweep.compression:
        problems.append("compression: at least one level is needed (e.g. raw)")
    return problems


def _face_problems(face: dict) -> list[str]:
    from benchmark.data.face import FACE_DETECTORS

    detector = face.get("detector")
    if detector is not None and detector not in FACE_DETECTORS:
        return [f"face: unknown detector {detector!r}; known: {', '.join(FACE_DETECTORS.names())}"]
    return []


# ------------------------------------------------------------------------------------- before work
def runnable_problems(sweep) -> list[str]:
    """What would make the sweep's cells fail for a reason known before any work: a dataset root or manifest
    that is missing, a recipe that does not load for the profile, a device or executor that is not there."""
    problems = _dataset_root_problems(sweep)
    problems += _recipe_problems(sweep)
    if sweep.executor == "ray" and importlib.util.find_spec("ray") is None:
        problems.append("executor ray needs Ray: make install EXTRAS=ray (or pip install -e '.[ray]')")
    if sweep.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            problems.append(f"device {sweep.device!r}: torch sees no CUDA device (use auto or cpu)")
    return problems + _devices_problems(sweep)


def _devices_problems(sweep) -> list[str]:
    """Training on several devices needs as many GPUs: on CPU a fit keeps one process and its fixed threads
    (deterministic weights), and several CPU processes would only share the same cores. With Ray the GPUs
    are the workers' (each such unit asks for `devices` GPUs), not this machine's."""
    if sweep.devices == 1:
        return []
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if sweep.device == "cpu" or (sweep.executor == "local" and gpus == 0):
        return [
            f"devices {sweep.devices}: training on several devices needs CUDA GPUs and this run trains on "
            f"CPU (device {sweep.device!r}, {gpus} GPUs seen); leave --devices at 1"
        ]
    if sweep.executor == "local" and gpus < sweep.devices:
        return [f"devices {sweep.devices}: torch sees only {gpus} GPU(s) on this machine"]
    return []


def _dataset_root_problems(sweep) -> list[str]:
    """Each dataset's adapter built as the sweep will build it: its constructor resolves the root (argument
    or environment variable) and checks it exists; no recording is read."""
    from benchmark.data.datasets import DATASETS
    from benchmark.errors import BenchmarkError

    problems = []
    for name, options in sweep.datasets.items():
        options = dict(options or {})
        root = options.pop("root", None)
        adapter = options.pop("adapter", name)
        if adapter not in DATASETS:
            continue  # reported by sweep_problems
        try:
            DATASETS.get(adapter)(root, **options)
        except BenchmarkError as err:
            text = str(err)
            problems.append(text if text.startswith(f"dataset {name!r}") else f"dataset {name!r}: {text}")
        except TypeError as err:
            problems.append(f"dataset {name!r}: bad options {sorted(options)} ({err})")
    return problems


def _recipe_problems(sweep) -> list[str]:
    from benchmark.errors import BenchmarkError
    from benchmark.methods import METHODS
    from benchmark.methods.config import PROFILES, load_recipe

    if sweep.profile not in PROFILES:
        return []  # reported once by sweep_problems
    names = METHODS.names() if "all" in sweep.methods else list(sweep.methods)
    problems = []
    for name in names:
        if name in sweep.exclude_methods or name not in METHODS or METHODS.get(name).kind == "none":
            continue
        try:
            load_recipe(name, sweep.profile)
        except BenchmarkError as err:
            problems.append(f"method {name!r}: {err}")
    return problems
