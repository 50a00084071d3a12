"""All-scenario and per-scenario MAE of every finished cell of a results database, one line per (method,
level, seed): the per-seed view the leaderboard (which pools seeds) does not print.

The MAE here is over recordings, each scored by its whole-recording heart rate (the predictions rows with
window -1), as the leaderboard's MAE is; scenarios are the last dash-separated part of a recording's name
(SynthPulse: still, lighting, motion, combined).

    .venv/bin/python bench/mae_by_seed.py runs/quick.sqlite [--level raw] [--methods physnet,tdm]
"""

from __future__ import annotations

import argparse
import sqlite3
from collections import defaultdict

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="a sweep's SQLite database")
    parser.add_argument("--level", default="raw", help="compression level of the test videos")
    parser.add_argument("--methods", help="comma-separated (default: all)")
    args = parser.parse_args()
    wanted = set(args.methods.split(",")) if args.methods else None
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    cells = con.execute(
        "SELECT key, method, seed FROM cells WHERE status = 'done' AND level = ? ORDER BY method, seed",
        (args.level,),
    ).fetchall()
    for key, method, seed in cells:
        if wanted and method not in wanted:
            continue
        rows = con.execute(
            "SELECT recording, hr_pred, hr_true FROM predictions WHERE cell_key = ? AND window = -1", (key,)
        ).fetchall()
        errors = {rec: abs(p - t) for rec, p, t in rows if p is not None and t is not None}
        by_scenario = defaultdict(list)
        for rec, err in errors.items():
            by_scenario[rec.rsplit("-", 1)[-1]].append(err)
        scenarios = " ".join(f"{s} {np.mean(e):6.2f}" for s, e in sorted(by_scenario.items()))
        print(
            f"{method:16s} {args.level:10s} seed {seed} "
            f"all {np.mean(list(errors.values())):6.2f}  {scenarios}"
        )


if __name__ == "__main__":
    main()
