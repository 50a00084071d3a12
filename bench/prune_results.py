"""Drops the rows of other code fingerprints from a results database and compacts it.

Why: a committed claim database re-run on the current code holds every cell twice (the superseded code's and
this one's) and can outgrow what the repository should carry; the superseded rows stay in git history.

    python bench/prune_results.py leaderboards/stven-gain/stven-gain.sqlite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.store import ResultStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="results database (SQLite)")
    args = parser.parse_args()
    if not args.db.is_file():
        parser.error(f"{args.db}: no such results database")
    before = args.db.stat().st_size
    with ResultStore(args.db) as store:
        dropped = store.drop_other_code(code_fingerprint())
        kept = len(store.done_keys())
    print(f"{args.db}: {dropped} cells of other code dropped, {kept} of code {code_fingerprint()} kept; "
          f"{before / 1e6:.1f} -> {args.db.stat().st_size / 1e6:.1f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
