"""The code fingerprint: a hash of the sources a result depends on, part of every cell's key.

Why: a cell's key covers its config (method, recipe, data, level, evaluation), so a rerun reuses finished
rows; without the code in the key, a changed code path (a decoder, a face crop, a network, the HR estimator)
would leave old rows standing as if the new code had made them. With it, a changed source recomputes every
cell, the tables are written from rows of the current code only, and leaderboards/README.md states the
fingerprint its tables were made with (tests/test_fingerprint.py compares it with the checkout's).

What counts: everything on the path from a video file to a scored row (readers, SynthPulse, codecs, face
stage, preprocessing, networks, losses and training, inference, heart-rate estimation, scoring, the cell
runner) and the compression levels. Not: command-line front ends, tables, plots, profiling, export, the
zoo's own CLI. Trained weights are not re-derived: the zoo's entries keep the commit they were trained at.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from benchmark.paths import PROJECT_ROOT

RESULT_SOURCES = (
    "benchmark/data/**/*.py",
    "benchmark/methods/**/*.py",
    "benchmark/evaluation/hr.py",
    "benchmark/evaluation/inference.py",
    "benchmark/evaluation/metrics.py",
    "benchmark/dsp.py",
    "benchmark/spec.py",
    "benchmark/results/scoring.py",
    "benchmark/runner/cells.py",
    "benchmark/runner/datasets.py",
    "benchmark/runner/evaluate.py",
    "benchmark/runner/training.py",
    "configs/compression.yaml",
)
# front ends inside those folders: they print, parse or plot, and compute no row
EXCLUDED = ("benchmark/data/datasets/cli.py", "benchmark/data/synth/cli.py")


def result_files(root: Path = PROJECT_ROOT) -> list[Path]:
    files = {p for pattern in RESULT_SOURCES for p in Path(root).glob(pattern) if p.is_file()}
    return sorted(p for p in files if p.relative_to(root).as_posix() not in EXCLUDED)


def compute_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """sha256 over (relative path, bytes) of every result source, 12 hex digits."""
    digest = hashlib.sha256()
    for path in result_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """This checkout's fingerprint (computed once per process)."""
    return compute_fingerprint(PROJECT_ROOT)
