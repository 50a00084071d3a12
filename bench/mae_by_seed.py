"""All-scenario and per-scenario MAE of every finished cell of one or more results databases, one line per
(method, level, seed), then one summary line per method over its seeds: the per-seed view the leaderboard
(which pools seeds) does not print, and how often a seed clears a threshold on one scenario.

The MAE here is over recordings, each scored by its whole-recording heart rate (the predictions rows with
window -1), as the leaderboard's MAE is; scenarios are the last dash-separated part of a recording's name
(SynthPulse: still, lighting, motion, combined). Several databases (e.g. seeds 0-2 and 3-5 run apart) are
read as one; a (method, seed) present in two of them is listed twice.

    .venv/bin/python bench/mae_by_seed.py runs/quick.sqlite [more.sqlite ...] [--level raw]
        [--methods physnet,tdm] [--scenario still --below 5]
"""

from __future__ import annotations

import argparse
import sqlite3
from collections import defaultdict
from pathlib import Path

import numpy as np


def seed_rows(db: str, level: str) -> list[tuple[str, int, dict[str, float]]]:
    """(method, seed, recording -> absolute error) of each finished cell at `level`."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    cells = con.execute(
        "SELECT key, method, seed FROM cells WHERE status = 'done' AND level = ? ORDER BY method, seed",
        (level,),
    ).fetchall()
    out = []
    for key, method, seed in cells:
        rows = con.execute(
            "SELECT recording, hr_pred, hr_true FROM predictions WHERE cell_key = ? AND window = -1", (key,)
        ).fetchall()
        out.append((method, seed, {rec: abs(p - t) for rec, p, t in rows if p is not None and t is not None}))
    con.close()
    return out


def by_scenario(errors: dict[str, float]) -> dict[str, float]:
    groups = defaultdict(list)
    for rec, err in errors.items():
        groups[rec.rsplit("-", 1)[-1]].append(err)
    return {s: float(np.mean(e)) for s, e in sorted(groups.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+", help="sweep SQLite databases")
    parser.add_argument("--level", default="raw", help="compression level of the test videos")
    parser.add_argument("--methods", help="comma-separated (default: all)")
    parser.add_argument("--scenario", default="still", help="scenario of the summary's threshold count")
    parser.add_argument("--below", type=float, default=5.0, help="threshold (bpm) of the summary's count")
    args = parser.parse_args()
    for db in args.db:
        if not Path(db).is_file():
            parser.error(f"{db}: no such results database")
    wanted = set(args.methods.split(",")) if args.methods else None
    summary = defaultdict(list)
    for db in args.db:
        for method, seed, errors in seed_rows(db, args.level):
            if (wanted and method not in wanted) or not errors:
                continue
            scenarios = by_scenario(errors)
            overall = float(np.mean(list(errors.values())))
            summary[method].append((seed, overall, scenarios.get(args.scenario, float("nan"))))
            text = " ".join(f"{s} {v:6.2f}" for s, v in scenarios.items())
            print(f"{method:16s} {args.level:10s} seed {seed} all {overall:6.2f}  {text}")
    print(
        f"\nover seeds ({args.level}): mean all-scenario MAE, mean {args.scenario} MAE, seeds with "
        f"{args.scenario} MAE below {args.below:g}"
    )
    for method, rows in sorted(summary.items()):
        target = np.array([r[2] for r in rows])
        seeds = ",".join(str(r[0]) for r in rows)
        print(
            f"{method:16s} seeds {seeds}: all {np.mean([r[1] for r in rows]):6.2f}"
            f"  {args.scenario} {np.nanmean(target):6.2f}  below {args.below:g}: "
            f"{int((target < args.below).sum())}/{len(rows)}"
        )


if __name__ == "__main__":
    main()
