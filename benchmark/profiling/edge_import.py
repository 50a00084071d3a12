"""Measured edge rows: the CSV of tools/edge_latency.py read into efficiency rows of a named device.

`python -m benchmark profile --import edge.csv --device-name jetson-orin-nano` checks the whole file first: a
missing column, an unknown method, a value that is not a positive number, a chunk length that does not match
the method... is an `EdgeCSVError` naming the file, the line and what is wrong, and nothing is written. Then
each row becomes a measured efficiency row (device = the name given, host = what the harness read on the
device), with the parameter and MAC counts of the method's own measured row when the database has one
(counts do not depend on the device), and the roofline estimate of that device, if any, is removed for the
imported methods: an estimate stays only where no measured row exists.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from benchmark.errors import DataError

# the columns tools/edge_latency.py writes (its COLUMNS); all are required
REQUIRED = (
    "format",
    "method",
    "model",
    "runtime",
    "provider",
    "precision",
    "batch",
    "threads",
    "chunk_frames",
    "chunks_per_30s",
    "repeats",
    "latency_30s_ms",
    "latency_p90_30s_ms",
    "latency_chunk_ms",
    "host",
)
FORMATS = ("1",)
RUNTIMES = ("onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16")
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COUNT_KEYS = (
    "params_trainable",
    "params_total",
    "macs_per_chunk",
    "macs_per_frame",
    "macs_per_30s",
    "activations",
)


class EdgeCSVError(DataError):
    """A malformed edge-latency CSV: the file, the line and what is wrong."""


def check_device_name(name: str) -> str:
    from benchmark.errors import ConfigError

    if not DEVICE_NAME.fullmatch(name or ""):
        raise ConfigError(
            f"--device-name {name!r}: use letters, digits, '.', '_' or '-' (e.g. jetson-orin-nano)"
        )
    if name in ("cpu", "cuda") or name.endswith("(estimate)"):
        raise ConfigError(f"--device-name {name!r} is reserved; name the edge device (e.g. jetson-orin-nano)")
    return name


def _number(path: Path, line: int, column: str, text: str, integer: bool) -> float | int:
    try:
        value = int(text) if integer else float(text)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise EdgeCSVError(path, f"line {line}: column {column!r} is {text!r}, not {kind}") from None
    if not math.isfinite(value) or value <= 0:
        raise EdgeCSVError(path, f"line {line}: column {column!r} is {text!r}, not a positive value")
    return value


def read_edge_csv(path: str | Path) -> list[dict]:
    """The validated rows of an edge-latency CSV (typed), or an EdgeCSVError at the first problem."""
    from benchmark.methods import METHODS, create_method

    path = Path(path)
    if not path.is_file():
        raise EdgeCSVError(path, "edge latency CSV not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EdgeCSVError(path, f"cannot read it as UTF-8 text: {err}") from err
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise EdgeCSVError(
            path,
            f"line 1: header lacks column(s) {', '.join(missing)} (not a CSV of tools/edge_latency.py)",
        )
    rows, frames_of = [], {}
    for row in reader:
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise EdgeCSVError(
                path, f"line {line}: {len(header)} columns expected, the row has another count"
            )
        if row["format"] not in FORMATS:
            raise EdgeCSVError(path, f"line {line}: format {row['format']!r} unknown (known: {FORMATS})")
        name = row["method"].strip()
        if name not in METHODS:
            raise EdgeCSVError(path, f"line {line}: unknown method {name!r} (see python -m benchmark list)")
        for column, allowed in (("runtime", RUNTIMES), ("precision", PRECISIONS)):
            if row[column] not in allowed:
                raise EdgeCSVError(
                    path, f"line {line}: {column} {row[column]!r} is not one of {', '.join(allowed)}"
                )
        typed = {
            c: _number(path, line, c, row[c], integer=True)
            for c in ("batch", "threads", "chunk_frames", "chunks_per_30s", "repeats")
        }
        typed |= {
            c: _number(path, line, c, row[c], integer=False)
            for c in ("latency_30s_ms", "latency_p90_30s_ms", "latency_chunk_ms")
        }
        if typed["latency_p90_30s_ms"] < typed["latency_30s_ms"]:
            raise EdgeCSVError(path, f"line {line}: latency_p90_30s_ms is below the median latency_30s_ms")
        if typed["chunks_per_30s"] != math.ceil(900 / typed["chunk_frames"]):
            raise EdgeCSVError(
                path,
                f"line {line}: chunks_per_30s {typed['chunks_per_30s']} is not ceil(900 / chunk_frames "
                f"{typed['chunk_frames']})",
            )
        if name not in frames_of:
            frames_of[name] = create_method(name).input_spec.frames
        if frames_of[name] is not None and typed["chunk_frames"] != frames_of[name]:
            raise EdgeCSVError(
                path,
                f"line {line}: {name} was exported with {typed['chunk_frames']}-frame chunks, the method "
                f"takes {frames_of[name]} (export it again with python -m benchmark export)",
            )
        if not row["host"].strip():
            raise EdgeCSVError(path, f"line {line}: host is empty")
        rows.append({**row, **typed, "method": name, "line": line})
    if not rows:
        raise EdgeCSVError(path, "no rows after the header")
    return rows


def edge_rows(csv_rows: list[dict], device_name: str, measured: list[dict] | None = None) -> list[dict]:
    """Efficiency rows of `device_name` from validated CSV rows; counts from `measured` rows of the same
    method (any device: they do not depend on it) when there are some."""
    from benchmark.methods import METHODS

    counts = {}
    for r in measured or []:
        if not r.get("estimated") and r.get("macs_per_30s") is not None:
            counts.setdefault(r["method"], {k: r.get(k) for k in COUNT_KEYS})
    out = []
    for r in csv_rows:
        out.append(
            {
                "method": r["method"],
                "group": METHODS.get(r["method"]).group,
                "config": "default",
                "device": device_name,
                "host": r["host"].strip(),
                "runtime": r["runtime"],
                "precision": r["precision"],
                "batch": r["batch"],
                "threads": r["threads"],
                "estimated": False,
                **counts.get(r["method"], {k: None for k in COUNT_KEYS}),
                "chunk_frames": r["chunk_frames"],
                "chunks_per_30s": r["chunks_per_30s"],
                "latency_30s_ms": r["latency_30s_ms"],
                "latency_p90_30s_ms": r["latency_p90_30s_ms"],
                "latency_chunk_ms": r["latency_chunk_ms"],
                "latency_repeats": r["repeats"],
                "provider": r["provider"],
                "model": r["model"],
                "note": f"measured on {device_name} by tools/edge_latency.py ({r['provider']}, onnxruntime "
                f"{r.get('onnxruntime') or '?'}): median of {r['repeats']} x 30 s",
            }
        )
    return out


def import_edge_csv(path: str | Path, device_name: str, store) -> list[dict]:
    """Validate `path` whole, then write its rows as measured rows of `device_name` and drop that device's
    roofline estimates of the imported methods. Nothing is written when the file is malformed."""
    import datetime

    device_name = check_device_name(device_name)
    csv_rows = read_edge_csv(path)
    existing = store.efficiency() if store is not None else []
    rows = edge_rows(csv_rows, device_name, existing)
    if store is None:
        return rows
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for row in rows:
        store.put_efficiency(row, date)
    drop_superseded_estimates(store, {r["method"] for r in rows}, device_name)
    return rows


def estimate_device(device_name: str) -> str:
    """The device label of a roofline estimate for `device_name` (benchmark.profiling.roofline)."""
    return f"{device_name} (estimate)"


def drop_superseded_estimates(store, methods: set[str], device_name: str) -> int:
    """Remove the roofline estimates of `device_name` for `methods` (they have measured rows now)."""
    with store.conn:
        cur = store.conn.executemany(
            "DELETE FROM efficiency WHERE method = ? AND estimated = 1 AND device = ?",
            [(m, estimate_device(device_name)) for m in sorted(methods)],
        )
    return cur.rowcount


def has_measured_row(rows: list[dict], method: str, device_name: str) -> bool:
    return any(r["method"] == method and r["device"] == device_name and not r.get("estimated") for r in rows)
