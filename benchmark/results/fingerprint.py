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

What is hashed is the code, not its text: Python sources as their token stream without comments, line
breaks inside brackets, indentation widths and bare string statements (docstrings), YAML as its parsed
content. So a comment, a docstring or a re-wrapped line leaves the committed tables standing, while any
change a computation could see (a name, a number, an operator, a string used as a value) moves it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tokenize
from pathlib import Path

import yaml

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


_LAYOUT = ("COMMENT", "NL", "ENCODING")
_STATEMENT_START = ("NEWLINE", "INDENT", "DEDENT", None)


def _tokens(source: bytes) -> list[tuple[str, str]]:
    """(token name, text) of a Python source; an f-string is one STRING token, as before Python 3.12 (which
    splits it into parts), so the fingerprint does not depend on the Python version."""
    lines = source.decode("utf-8").splitlines(keepends=True)
    out, depth, start = [], 0, (0, 0)
    for tok in tokenize.tokenize(io.BytesIO(source).readline):
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":
            start = tok.start if depth == 0 else start
            depth += 1
        elif depth:
            depth -= name == "FSTRING_END"
            if depth == 0:
                out.append(("STRING", _text(lines, start, tok.end)))
        elif name not in _LAYOUT:
            out.append((name, "" if name in ("INDENT", "DEDENT") else tok.string))
    return out


def _text(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (row0, col0), (row1, col1) = start, end
    if row0 == row1:
        return lines[row0 - 1][col0:col1]
    return lines[row0 - 1][col0:] + "".join(lines[row0 : row1 - 1]) + lines[row1 - 1][:col1]


def python_code(source: bytes) -> bytes:
    """The token stream of a Python source without what cannot change a result: comments, line breaks inside
    brackets, indentation widths, and bare string statements (docstrings)."""
    tokens = _tokens(source)
    kept, i = [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and tokens[j][0] == "STRING":
            j += 1
        starts_statement = (tokens[i - 1][0] if i else None) in _STATEMENT_START
        if j > i and starts_statement and j < len(tokens) and tokens[j][0] == "NEWLINE":
            i = j + 1  # a statement of string literals only: it computes nothing
            continue
        kept.append(":".join(tokens[i]))
        i += 1
    return "\n".join(kept).encode()


def source_code(path: Path) -> bytes:
    """What of a result source is hashed: Python as python_code, YAML as canonical JSON, else the bytes."""
    data = path.read_bytes()
    if path.suffix == ".py":
        return python_code(data)
    if path.suffix in (".yaml", ".yml"):
        return json.dumps(yaml.safe_load(data), sort_keys=True).encode()
    return data


def compute_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """sha256 over (relative path, code) of every result source, 12 hex digits."""
    digest = hashlib.sha256()
    for path in result_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(source_code(path) + b"\0")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """This checkout's fingerprint (computed once per process)."""
    return compute_fingerprint(PROJECT_ROOT)
