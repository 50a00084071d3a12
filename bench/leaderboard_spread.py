"""How far one leaderboard moves when the same code and weights run on another machine (issue 24.2).

Compares two leaderboard CSVs (`leaderboards/<board>.csv`, e.g. the committed one from `git show` and the
one a fresh `make bench-all` wrote) cell by cell, (method, level), and prints |MAE difference| per cell and
its largest value per group. Only rows whose model is the same on both sides mean anything: pass the methods
whose zoo entry changed between the two runs with --skip.

    git show REV:leaderboards/synth-to-synth-test.csv > /tmp/before.csv
    python bench/leaderboard_spread.py /tmp/before.csv leaderboards/synth-to-synth-test.csv \
        --skip tscan,deepphys
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def read_board(path: Path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as f:
        return {(r["method"], r["level"]): r for r in csv.DictReader(f) if r.get("status") == "done"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--skip", default="", help="comma-separated methods whose model differs between runs")
    args = parser.parse_args(argv)
    skip = {m for m in args.skip.split(",") if m}
    before, after = read_board(args.before), read_board(args.after)
    common = sorted(k for k in before.keys() & after.keys() if k[0] not in skip)
    if not common:
        print("no common cells")
        return 1
    worst: dict[str, float] = defaultdict(float)
    moved: dict[str, int] = defaultdict(int)
    print(f"{'method':18} {'level':12} {'before':>8} {'after':>8} {'|diff|':>7}")
    for key in common:
        b, a = float(before[key]["mae"]), float(after[key]["mae"])
        diff = abs(a - b)
        group = after[key]["group"]
        worst[group] = max(worst[group], diff)
        moved[group] += diff > 0
        print(f"{key[0]:18} {key[1]:12} {b:8.2f} {a:8.2f} {diff:7.2f}")
    print()
    for group in sorted(worst):
        n = sum(after[k]["group"] == group for k in common)
        print(f"{group:24} cells {n:3}  moved {moved[group]:3}  largest |MAE diff| {worst[group]:.2f} bpm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
