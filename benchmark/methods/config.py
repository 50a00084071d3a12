"""Method training recipes: configs/methods/<name>.yaml, the paper's recipe plus per-profile overrides.

A recipe file:

    method: physnet
    version: 1
    source: where the numbers come from
    recipe:        # the paper / reference-code recipe (= the `full` profile)
      optimizer: adamw
      lr: 0.009
      ...
    profiles:      # smoke / quick: reduced CPU budgets, each with a budget_note the leaderboard shows
      quick: {epochs: 8, size: 36, budget_note: "..."}

`load_recipe(name, profile)` merges the profile over the recipe. Keys split in two (`split_recipe`):
training keys (`TRAINING_KEYS`: epochs, batch_size, patience, budget_note...) go to the runner and
`fit_method`; every other key is a keyword argument of the method's factory (checked against its signature
when the recipe is loaded, so a typo fails here and not in the middle of a sweep).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from benchmark.errors import ConfigError
from benchmark.paths import config_dir

PROFILES = ("smoke", "quick", "zoo", "full")
TRAINING_KEYS = (
    "epochs",
    "batch_size",
    "patience",
    "budget_note",
    "limit_train_batches",
    "limit_val_batches",
    "speed_augment",
    "log_every_n_steps",
)
FULL_NOTE = "paper recipe"
# labels of a merged recipe, neither training settings nor factory arguments: they enter the cell's training
# config (and so its key), so a recipe whose `version:` is bumped trains again instead of reusing old rows
RECIPE_LABELS = ("profile", "recipe_version")
# what a unit of work asks of a Ray cluster (benchmark.runner.executors): not what the model computes, so
# neither a factory argument nor part of a training config
RESOURCE_KEYS = ("num_cpus", "num_gpus")


def recipe_path(name: str) -> Path:
    return config_dir() / "methods" / f"{name}.yaml"


def _read(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: no recipe file for this method")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("recipe"), dict):
        raise ConfigError(f"{path}: a recipe file needs a `recipe:` mapping")
    profiles = doc.get("profiles") or {}
    unknown = set(profiles) - set(PROFILES)
    if unknown:
        raise ConfigError(f"{path}: unknown profiles {sorted(unknown)}; known: {', '.join(PROFILES)}")
    for prof, over in profiles.items():
        if prof != "full" and not (isinstance(over, dict) and over.get("budget_note")):
            raise ConfigError(f"{path}: profile {prof!r} reduces the budget and must state it in budget_note")
    return doc


def split_recipe(recipe: dict) -> tuple[dict, dict]:
    """(factory keyword arguments, training settings) of a merged recipe."""
    factory = {k: v for k, v in recipe.items() if k not in TRAINING_KEYS + RECIPE_LABELS + RESOURCE_KEYS}
    training = {k: v for k, v in recipe.items() if k in TRAINING_KEYS}
    return factory, training


def factory_arguments(factory) -> set[str] | None:
    """The keyword arguments a method factory takes; None when it takes any (**kwargs)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return set(params)


def _check_factory_kwargs(name: str, kwargs: dict, path: Path) -> None:
    from benchmark.methods import METHODS

    if name not in METHODS:
        return
    accepted = factory_arguments(METHODS.get(name).load_factory())
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(f"{path}: keys {unknown} are neither training keys nor arguments of {name!r}")


def load_recipe(name: str, profile: str = "quick") -> dict:
    """The merged recipe of method `name` for `profile` (smoke | quick | full), flat, with `profile` set.

    `full` is the paper's recipe unless the file overrides it; its budget_note says "paper recipe".
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown recipe profile {profile!r}; known: {', '.join(PROFILES)}")
    path = recipe_path(name)
    doc = _read(path)
    merged = {**doc["recipe"], **((doc.get("profiles") or {}).get(profile) or {})}
    merged.setdefault("budget_note", FULL_NOTE)
    merged["profile"] = profile
    merged["recipe_version"] = doc.get("version", 1)
    _check_factory_kwargs(name, split_recipe(merged)[0], path)
    return merged
