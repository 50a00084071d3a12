"""`python -m benchmark gate`: fail when a method's MAE regresses against the committed baseline.

Runs the smoke sweep into a fresh database (or reads `--db` / `--results`), compares every (protocol and its
version, profile, train set, test set, method, compression level) MAE with the baseline CSV, and exits 1 with
a table of the regressions: MAE worse than baseline + max(tolerance, rel-tolerance x baseline), a cell that
now fails, or a baseline row that disappeared. A row without a baseline (a new method) is reported, not
failed. `--update` rewrites the baseline on purpose.

The tolerance is measured, not guessed: bench/gate_spread.py runs the smoke sweep as this CPU does and with
every library held to older SIMD code (the stand-in for another machine), and writes each method's largest
|MAE difference| to spread.json beside the baseline. A method's default tolerance is SPREAD_FACTOR times its
own (at least FLOOR_BPM; a method not measured gets the largest of all), with no relative part; without a
spread.json it is max(0.5 bpm, 5 %) for every row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from benchmark.leaderboard.tables import ENTRY_KEY as KEY  # rows of another version/profile are other rows

SPREAD_FACTOR = 3.0  # headroom over the largest cross-CPU difference measured
FLOOR_BPM = 0.05  # never tighter than this, even when no cell moved
UNMEASURED = (0.5, 0.05)  # (bpm, fraction of the baseline) when no spread.json is there


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--baseline", default="leaderboards/baseline/smoke.csv", help="committed baseline CSV"
    )
    parser.add_argument("--sweep", help="sweep YAML to run (default configs/sweeps/smoke.yaml)")
    parser.add_argument(
        "--tolerance",
        type=float,
        help=f"allowed MAE increase in bpm (default: {SPREAD_FACTOR:g} x the spread measured in spread.json "
        f"beside the baseline, at least {FLOOR_BPM}; {UNMEASURED[0]} without one)",
    )
    parser.add_argument(
        "--rel-tolerance",
        type=float,
        help="allowed MAE increase as a fraction of the baseline; the larger wins (default: 0 with a "
        f"measured spread, {UNMEASURED[1]} without)",
    )
    parser.add_argument("--db", help="read this results database instead of running the sweep")
    parser.add_argument("--results", help="read this leaderboard CSV instead of running the sweep")
    parser.add_argument("--update", action="store_true", help="write the current results as the new baseline")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while the sweep runs")


def read_rows(path: str | Path) -> dict[tuple, dict]:
    with open(path, newline="") as f:
        return {tuple(r[k] for k in KEY): r for r in csv.DictReader(f)}


def _mae(row: dict) -> float | None:
    value = row.get("mae") or ""
    return float(value) if value and row.get("status") != "failed" else None


def compare(
    baseline: dict[tuple, dict],
    current: dict[tuple, dict],
    tolerance: float,
    rel_tolerance: float,
    per_method: dict[str, float] | None = None,
):
    """(regressions, new rows, improvements): lists of dicts for the report. `per_method` (method -> bpm)
    replaces `tolerance` for the methods it names."""
    regressions, new, improved = [], [], []
    for key, base in sorted(baseline.items()):
        row = dict(zip(KEY, key))
        now = current.get(key)
        b = _mae(base)
        if now is None:
            regressions.append({**row, "baseline": b, "current": None, "allowed": None, "why": "missing"})
            continue
        c = _mae(now)
        if b is None:
            continue  # failed in the baseline: anything now is no regression
        margin = max((per_method or {}).get(row["method"], tolerance), rel_tolerance * b)
        allowed = b + margin
        if c is None:
            why = f"failed: {now.get('error') or 'no recording scored'}"
            regressions.append({**row, "baseline": b, "current": None, "allowed": allowed, "why": why})
        elif c > allowed:
            regressions.append({**row, "baseline": b, "current": c, "allowed": allowed, "why": "MAE worse"})
        elif c < b - margin:
            improved.append({**row, "baseline": b, "current": c, "allowed": allowed, "why": "better"})
    for key in sorted(set(current) - set(baseline)):
        new.append(
            {
                **dict(zip(KEY, key)),
                "baseline": None,
                "current": _mae(current[key]),
                "allowed": None,
                "why": "no baseline row (new): not gated",
            }
        )
    return regressions, new, improved


def report(title: str, rows: list[dict]) -> str:
    if not rows:
        return ""

    def fmt(v):
        return "—" if v is None else f"{v:.2f}"

    lines = [
        title,
        "| method | test set | level | baseline MAE | current MAE | allowed | why |",
        "|---" * 7 + "|",
    ]
    lines += [
        f"| {r['method']} | {r['test_set']} | {r['level']} | {fmt(r['baseline'])} | {fmt(r['current'])} | "
        f"{fmt(r['allowed'])} | {r['why']} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def current_csv(args: argparse.Namespace) -> str:
    """The leaderboard CSV of the current code: read, or computed from a database, or from a fresh sweep."""
    import tempfile

    from benchmark.leaderboard.tables import collect_entries, entries_csv
    from benchmark.paths import config_dir, results_dir
    from benchmark.results.store import ResultStore
    from benchmark.runner.cells import load_sweep
    from benchmark.runner.sweep import run_sweep

    if args.results:
        return Path(args.results).read_text()
    if args.db:
        with ResultStore(args.db) as store:
            return entries_csv(collect_entries(store))
    sweep = load_sweep(args.sweep or config_dir() / "sweeps" / "smoke.yaml")
    results_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gate-", dir=results_dir()) as tmp:
        db = Path(tmp) / "gate.sqlite"
        run_sweep(
            sweep, db=db, progress=not args.no_progress, write_tables=False, work_dir=Path(tmp) / "work"
        )
        with ResultStore(db) as store:
            return entries_csv(collect_entries(store))


def measured_spread(path: Path) -> dict[str, float]:
    """method -> largest cross-CPU |MAE difference| in bpm, from a spread.json (bench/gate_spread.py)."""
    try:
        return {m: float(v) for m, v in json.loads(path.read_text())["by_method"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        from benchmark.errors import ConfigError

        raise ConfigError(f"{path}: needs a by_method mapping of numbers ({err})") from None


def tolerances(
    baseline_path: Path, tolerance: float | None, rel: float | None
) -> tuple[float, float, dict[str, float], str]:
    """(bpm, fraction, method -> bpm, where from): the measured spread's unless given on the command line."""
    spread_path = baseline_path.with_name("spread.json")
    if tolerance is not None or rel is not None or not spread_path.is_file():
        bpm = UNMEASURED[0] if tolerance is None else tolerance
        fraction = UNMEASURED[1] if rel is None else rel
        source = "command line" if tolerance is not None or rel is not None else "no spread.json: default"
        return bpm, fraction, {}, source
    by_method = measured_spread(spread_path)
    largest = max(by_method.values(), default=0.0)
    per_method = {m: max(SPREAD_FACTOR * v, FLOOR_BPM) for m, v in by_method.items()}
    source = (
        f"per method {SPREAD_FACTOR:g} x its measured cross-CPU spread, at least {FLOOR_BPM} bpm "
        f"(largest: {largest:.4f} bpm, {spread_path.name})"
    )
    return max(SPREAD_FACTOR * largest, FLOOR_BPM), 0.0, per_method, source


def main(args: argparse.Namespace) -> int:
    from benchmark.errors import ConfigError

    text = current_csv(args)
    baseline_path = Path(args.baseline)
    if args.update:
        baseline_path.parent.mkdir(parents=True, exist_ok=True)
        baseline_path.write_text(text)
        print(f"gate: baseline written to {baseline_path} ({len(text.splitlines()) - 1} rows)")
        return 0
    if not baseline_path.is_file():
        raise ConfigError(
            f"no baseline at {baseline_path}: create one with `python -m benchmark gate --update`"
        )
    current = {tuple(r[k] for k in KEY): r for r in csv.DictReader(io.StringIO(text))}
    bpm, fraction, per_method, source = tolerances(baseline_path, args.tolerance, args.rel_tolerance)
    regressions, new, improved = compare(read_rows(baseline_path), current, bpm, fraction, per_method)
    print(report("New rows (not gated):", new) + report("Improved beyond tolerance:", improved), end="")
    if regressions:
        print(report(f"gate: FAILED, {len(regressions)} regression(s) against {baseline_path}:", regressions))
        return 1
    print(
        f"gate: passed ({len(current)} rows checked against {baseline_path}, tolerance: {source}"
        + ("" if per_method else f", max({bpm:.3g} bpm, {fraction:.0%})")
        + ")"
    )
    return 0
