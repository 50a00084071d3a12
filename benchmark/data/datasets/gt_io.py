"""Reading ground-truth files for the adapters: each failure is a DataError naming the file and problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark.data.recording import Recording
from benchmark.errors import DataError


def require_file(path: Path, what: str) -> Path:
    """`path` when it is a file, else a DataError saying which file of the layout is missing."""
    if not path.is_file():
        raise DataError(path, f"{what} not found")
    return path


def read_csv(path: Path, what: str = "ground-truth CSV", header: bool = True):
    """A CSV as a pandas DataFrame (column names stripped of spaces); empty or unparsable files are errors."""
    import pandas as pd

    require_file(path, what)
    try:
        table = pd.read_csv(path, header=0 if header else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(path, f"{what} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(path, f"{what} is not a readable CSV: {str(err).strip()[:200]}") from None
    if header:
        table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise DataError(path, f"{what} has no data rows")
    return table


def require_columns(table, path: Path, columns: list[str]) -> None:
    """Wrong column names name the expected and the found ones."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns)) or "none"
        raise DataError(
            path, f"expected columns {', '.join(columns)}; missing {', '.join(missing)} (found: {found})"
        )


def numeric(table, column, path: Path) -> np.ndarray:
    """A column as float64; text that is not a number is an error (NaN stays NaN for Recording to reject)."""
    import pandas as pd

    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & table[column].notna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(path, f"column {column!r} row {row + 1}: {table[column].iloc[row]!r} is not a number")
    return values


def read_json(path: Path, what: str = "ground-truth JSON"):
    require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(path, f"unreadable JSON: {err}") from None


def json_field(doc, path: Path, *keys):
    """doc[k1][k2]...; a missing key names the JSON path that is missing."""
    node = doc
    for i, key in enumerate(keys):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            where = "".join(f"[{k!r}]" for k in keys[: i + 1])
            raise DataError(path, f"JSON has no field {where}") from None
    return node


def read_number_lines(path: Path, what: str) -> list[np.ndarray]:
    """Whitespace-separated numbers, one array per non-empty line (UBFC-rPPG ground_truth.txt)."""
    require_file(path, what)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [np.array(line.replace(",", " ").split(), dtype=np.float64) for line in lines if line.strip()]
    except (UnicodeDecodeError, ValueError) as err:
        raise DataError(path, f"{what} holds something that is not a number: {str(err)[:200]}") from None
    if not rows:
        raise DataError(path, f"{what} is empty")
    return rows


def checked(recording: Recording, num_frames: int) -> Recording:
    """The recording, once its ground truth is known to cover all `num_frames` frames of its video."""
    recording.aligned_ppg(num_frames)
    return recording
