"""The model zoo (zoo/ at the project root): see benchmark.zoo.store; `python -m benchmark zoo` is its CLI."""

from benchmark.zoo.store import (
    ZooEntry,
    curve_summary,
    entries,
    find,
    find_method,
    fp16_error,
    save_entry,
    zoo_dir,
)

__all__ = [
    "ZooEntry",
    "curve_summary",
    "entries",
    "find",
    "find_method",
    "fp16_error",
    "save_entry",
    "zoo_dir",
]
