"""`python -m benchmark weights list|fetch`: released weights (rPPG-Toolbox's PhysNets...) by name.

    weights list                         # name, method, training set, source, licence, where the file is
    weights fetch physnet@pure-rppgtoolbox [--all]

A file already in RPPG_WEIGHTS_DIR or the cache is checked (sha256) and used without network; a download goes
to the cache and is checked before use. Exit 0 when every asked release is there and intact, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_command", metavar="action", required=True)
    listing = sub.add_parser("list", help="every registered release and whether its file is here")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    fetch = sub.add_parser("fetch", help="download (or find locally) releases and check their sha256")
    fetch.add_argument("names", nargs="*", help="release names (`weights list`)")
    fetch.add_argument("--all", action="store_true", help="every registered release")


def release_rows() -> list[dict]:
    from benchmark.errors import DataError
    from benchmark.methods.weights import RELEASES, local_release

    rows = []
    for name, release in RELEASES.items():
        try:
            path = local_release(name)
            where = str(path) if path else "not fetched"
        except DataError as err:
            where = f"BAD: {err}"
        rows.append(
            {
                "name": name,
                "method": release.method,
                "train_set": release.train_set,
                "source": release.source,
                "licence": release.licence,
                "sha256": release.sha256,
                "url": release.url,
                "file": where,
            }
        )
    return rows


def main(args: argparse.Namespace) -> int:
    from benchmark.errors import BenchmarkError
    from benchmark.methods.weights import RELEASES, fetch_release

    if args.weights_command == "list":
        rows = release_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for r in rows:
            print(f"{r['name']:34} {r['method']:9} {r['train_set']:38} {r['file']}")
        print(f"licence of the rPPG-Toolbox files: {rows[0]['licence']}" if rows else "(none registered)")
        return 0
    names = RELEASES.names() if args.all else args.names
    if not names:
        print("error: name releases to fetch, or --all (see `weights list`)", file=sys.stderr)
        return 2
    for name in names:
        RELEASES.get(name)  # unknown names: a ConfigError listing the known ones, before any download
    bad = 0
    for name in names:
        try:
            print(f"{name}: {fetch_release(name)}")
        except BenchmarkError as err:
            bad += 1
            print(f"{name}: FAILED {err}", file=sys.stderr)
    return 1 if bad else 0
