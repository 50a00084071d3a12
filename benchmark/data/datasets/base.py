"""The adapter contract and its registry."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.data.recording import Recording
from benchmark.errors import ConfigError
from benchmark.registry import Registry

DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset")


def register_dataset(name: str):
    """Class decorator: registers an adapter under `name` and stores the name on the class."""

    def decorator(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
        cls.name = name
        return DATASETS.add(name, cls)

    return decorator


class DatasetAdapter:
    """Reads one dataset layout. Subclasses set `env_var` and implement `recordings()`.

    The root comes from the argument, else from the environment variable `env_var`; a missing root is a
    ConfigError that names the variable to set.
    """

    name: str = ""
    env_var: str = ""
    description: str = ""

    def __init__(self, root: str | Path | None = None, **options):
        self.root = self.resolve_root(root)
        self.options = options

    @classmethod
    def resolve_root(cls, root: str | Path | None) -> Path:
        if root is None:
            value = os.environ.get(cls.env_var, "") if cls.env_var else ""
            if not value:
                raise ConfigError(
                    f"dataset {cls.name!r}: no root given; set the environment variable {cls.env_var} "
                    "or pass root in the dataset config"
                )
            root = value
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ConfigError(f"dataset {cls.name!r}: root {path} is not a directory")
        return path

    def recordings(self) -> list[Recording]:
        raise NotImplementedError


def load_dataset(name: str, root: str | Path | None = None, **options) -> list[Recording]:
    """All recordings of dataset `name`, sorted by id."""
    adapter = DATASETS.get(name)(root, **options)
    return sorted(adapter.recordings(), key=lambda r: r.id)
