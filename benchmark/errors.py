"""Errors a user sees: each names the file (or recording) and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class BenchmarkError(Exception):
    """Base of every error the suite raises on purpose; the CLI prints it without a traceback."""


class DataError(BenchmarkError):
    """Bad input data: a missing, corrupt or inconsistent file."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class ConfigError(BenchmarkError):
    """A configuration that cannot work: unknown name, missing dataset root, bad value."""


class SignalError(BenchmarkError):
    """A signal from which no heart rate can honestly be computed (constant, NaN, too short, undersampled)."""


class NoFaceError(DataError):
    """No face was found in a recording: never silently replaced by the full frame."""
