"""`python -m benchmark compare A B`: is method A's heart-rate error lower than B's on the same recordings?

The question a researcher asks of a new method against a baseline. For every board and compression level
where both have heart rates, each one's mean |error| on the recordings they share and the difference A - B,
paired by recording, with a 95% CI that resamples subjects (as every board's CIs do). Two CIs that overlap
on the MAE table can still be a resolved paired difference, and the other way round.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("methods", nargs=2, metavar="METHOD", help="two rows of a board, e.g. physnet pos")
    parser.add_argument("--db", help="results database (default: <results dir>/<sweep>.sqlite of --sweep)")
    parser.add_argument("--sweep", default=None, help="sweep YAML whose database to read (default quick)")
    parser.add_argument("--level", action="append", help="only this compression level (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")


def paired_comparisons(
    store, a: str, b: str, levels: list[str] | None = None, order: list[str] | None = None
) -> list[dict]:
    """One row per (board, level) where both methods have heart rates on common recordings; `levels`: only
    these, `order`: the levels' order (a sweep's compression list)."""
    import numpy as np

    from benchmark.evaluation.metrics import bootstrap_ci
    from benchmark.leaderboard import tables

    rows = []
    # boards group the current code's cells as they group entries; no entry needs scoring here
    for name, board in sorted(tables.boards(tables.current_cells(store)).items()):
        errors = tables.abs_errors(store, board)
        for level in tables.ordered_levels(board, order):
            if levels and level not in levels:
                continue
            of_a, of_b = errors.get((a, level), {}), errors.get((b, level), {})
            keys = sorted(of_a.keys() & of_b.keys())
            if not keys:
                continue
            abs_a, abs_b = [of_a[k][1] for k in keys], [of_b[k][1] for k in keys]
            subjects = [of_a[k][0] for k in keys]
            point, low, high = bootstrap_ci(abs_a, abs_b, tables._mean_difference, subjects)
            verdict = f"{a} lower" if high < 0 else (f"{b} lower" if low > 0 else "not separated")
            rows.append({
                "board": name, "level": level, "a": a, "b": b, "recordings": len(keys),
                "subjects": len(set(subjects)), "mae_a": float(np.mean(abs_a)),
                "mae_b": float(np.mean(abs_b)), "difference": point, "low": low, "high": high,
                "verdict": verdict,
            })  # fmt: skip
    return rows


def format_rows(rows: list[dict]) -> list[str]:
    a, b = rows[0]["a"], rows[0]["b"]
    wa, wb = (max(14, len(name) + 5) for name in (a, b))  # columns as wide as their "<method> MAE" heads
    lines = [
        f"{'board':24s} {'level':16s} {'n':>9s} {a + ' MAE':>{wa}s} {b + ' MAE':>{wb}s}  {a} - {b} (95% CI)"
    ]
    for r in rows:
        lines.append(
            f"{r['board']:24s} {r['level']:16s} {r['recordings']:>3d}/{r['subjects']:<3d}   "
            f"{r['mae_a']:{wa}.2f} {r['mae_b']:{wb}.2f}  "
            f"{r['difference']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]  {r['verdict']}"
        )
    lines.append("n: recordings / subjects both methods have a heart rate for; CIs resample subjects")
    return lines


def main(args: argparse.Namespace) -> int:
    from benchmark.paths import config_dir
    from benchmark.results.store import ResultStore
    from benchmark.runner.cells import load_sweep

    a, b = args.methods
    if a == b:
        raise ConfigError(f"compare needs two different methods, got {a} twice")
    sweep = load_sweep(args.sweep or config_dir() / "sweeps" / "quick.yaml")
    db = Path(args.db) if args.db else sweep.db_path()
    if not db.is_file():
        raise ConfigError(f"no results database at {db}: run a sweep first (python -m benchmark run)")
    with ResultStore(db) as store:
        known = sorted({c["method"] for c in store.cells()})
        for method in (a, b):
            if method not in known:
                raise ConfigError(f"{db}: no rows of method {method!r}; it has: {', '.join(known) or 'none'}")
        rows = paired_comparisons(store, a, b, args.level, list(sweep.compression))
    if not rows:
        where = f" at level(s) {', '.join(args.level)}" if args.level else ""
        raise ConfigError(f"{db}: {a} and {b} have no heart rates on common recordings{where}")
    for line in map(json.dumps, rows) if args.json else format_rows(rows):
        print(line)
    return 0
