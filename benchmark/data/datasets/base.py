"""The adapter contract and its registry.

An adapter lists its recordings as candidates (id, subject, a loader) before reading any of them, so one bad
recording (corrupt ground truth, truncated video) fails alone: `scan_dataset` loads every candidate and
returns the good recordings plus each bad one with its reason. `load_dataset` is the strict form: all or the
first error. A problem with the dataset as a whole (missing root, unreadable manifest) is raised by both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.data.recording import Recording
from benchmark.errors import BenchmarkError, ConfigError, DataError
from benchmark.registry import Registry

DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset")

# what one recording may raise while it loads; anything else is a bug and propagates
RECORDING_ERRORS = (BenchmarkError, OSError)


def register_dataset(name: str):
    """Class decorator: registers an adapter under `name` and stores the name on the class."""

    def decorator(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
        cls.name = name
        return DATASETS.add(name, cls)

    return decorator


@dataclass(frozen=True)
class Candidate:
    """A recording the layout promises, not read yet: its id and subject (None when only its files know
    it) and the function that reads it."""

    id: str
    subject: str | None
    load: Callable[[], Recording]


@dataclass(frozen=True, eq=False)
class FailedRecording:
    """A recording that could not be loaded, kept with its reason.

    It has what the runner needs to place it (key, subject for the subject split) and to record it as a
    failed prediction; `reason` is "<ErrorType>: <file>: <problem>", as a failed prediction's error.
    """

    dataset: str
    id: str
    subject: str | None
    error: Exception
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.id}"

    @property
    def path(self) -> Path | None:
        """The file the error names, where it names one."""
        path = getattr(self.error, "path", None) or getattr(self.error, "filename", None)
        return None if path is None else Path(path)

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class DatasetLoad:
    """What `scan_dataset` found: the good recordings and the bad ones, each sorted by id."""

    name: str
    recordings: list[Recording]
    failures: list[FailedRecording]

    def require_some(self) -> list[Recording]:
        """The good recordings; a DataError listing every reason when there is none."""
        if self.recordings:
            return self.recordings
        if not self.failures:
            raise DataError(None, f"dataset {self.name!r}: no recordings found")
        reasons = "; ".join(f"{f.id}: {f.reason}" for f in self.failures)
        problem = f"none of its {len(self.failures)} recording(s) could be loaded: {reasons}"
        raise DataError(None, f"dataset {self.name!r}: {problem}")


class DatasetAdapter:
    """Reads one dataset layout. Subclasses set `env_var` and implement `candidates()`.

    The root comes from the argument, else from the environment variable `env_var`; a missing root is a
    ConfigError that names the variable to set.
    """

    name: str = ""
    env_var: str = ""
    description: str = ""
    # the version of the code that makes the recordings (SynthPulse's generator), None for recorded data: part
    # of a trained model's key, so the zoo's models of one generator version are not reused on another
    content_version: int | None = None

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

    def candidates(self) -> list[Candidate]:
        """Every recording of the layout, not read yet; a layout that is wrong as a whole raises here."""
        raise NotImplementedError

    def recordings(self) -> list[Recording]:
        """Every recording, read in order; the first one that cannot be read raises its error."""
        return [candidate.load() for candidate in self.candidates()]

    def load(self) -> DatasetLoad:
        """Every recording that can be read, and each one that cannot with its error."""
        if type(self).candidates is DatasetAdapter.candidates:  # an adapter that only reads all at once
            return DatasetLoad(self.name, sorted(self.recordings(), key=lambda r: r.id), [])
        good, bad = [], []
        for candidate in self.candidates():
            try:
                good.append(candidate.load())
            except RECORDING_ERRORS as err:
                bad.append(FailedRecording(self.name, candidate.id, candidate.subject, err))
        return DatasetLoad(self.name, sorted(good, key=lambda r: r.id), sorted(bad, key=lambda f: f.id))


def load_dataset(name: str, root: str | Path | None = None, **options) -> list[Recording]:
    """All recordings of dataset `name`, sorted by id; the first bad recording raises its error."""
    adapter = DATASETS.get(name)(root, **options)
    return sorted(adapter.recordings(), key=lambda r: r.id)


def scan_dataset(name: str, root: str | Path | None = None, **options) -> DatasetLoad:
    """The good recordings of dataset `name` and every bad one with its reason (a missing root or a layout
    that is wrong as a whole still raises)."""
    return DATASETS.get(name)(root, **options).load()
