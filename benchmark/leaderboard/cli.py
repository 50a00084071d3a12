"""`python -m benchmark leaderboard`: Markdown + CSV tables and PNG plots from the results database.

Also called at the end of every sweep. Everything here is computed from database rows; README.md indexes the
files and states how they were made (profile, seeds, machine, date, commit).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="results database (default: <results dir>/<sweep>.sqlite of --sweep)")
    parser.add_argument("--sweep", default=None, help="sweep YAML whose database to read (default quick)")
    parser.add_argument("--out", help="output folder (default: the sweep's leaderboard folder)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--note", action="append", default=[], help="a line added to README.md (repeatable)")


def main(args: argparse.Namespace) -> int:
    from benchmark.leaderboard.writer import write_leaderboards
    from benchmark.paths import config_dir
    from benchmark.results.store import ResultStore
    from benchmark.runner.cells import load_sweep

    sweep = load_sweep(args.sweep or config_dir() / "sweeps" / "quick.yaml")
    db = Path(args.db) if args.db else sweep.db_path()
    if not db.is_file():
        from benchmark.errors import ConfigError

        raise ConfigError(f"no results database at {db}: run a sweep first (python -m benchmark run)")
    with ResultStore(db) as store:
        paths = write_leaderboards(
            store,
            args.out or sweep.leaderboard_dir(),
            plots=not args.no_plots,
            levels=list(sweep.compression),
            extra_notes=args.note,
        )
    for p in paths:
        print(p)
    return 0
