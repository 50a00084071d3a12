"""`python -m benchmark profile`: efficiency of every method, stored in the results database.

Each run adds (or replaces) the rows of the device it runs on, so running the same command on a Jetson or a
GPU machine against the same database adds their rows; a Jetson Nano roofline estimate is added, labelled,
for each method measured here.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", help="comma-separated method names (default: all registered)")
    parser.add_argument("--device", default="cpu", type=device_name, help="cpu | cuda | cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the latency runs (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up (default 5)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per method at most")
    parser.add_argument(
        "--db", help="results database (default: <results dir>/quick.sqlite, the default sweep's)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--no-store", action="store_true", help="print only; do not write the database")


def device_name(value: str) -> str:
    """argparse type: a closed set with an index (cuda:N), checked before any work."""
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"invalid device {value!r} (choose cpu, cuda or cuda:N)")
    return value


def profile_methods(
    names: list[str], store=None, overrides: dict | None = None, label: str = "default", **kwargs
) -> list[dict]:
    """Measured rows (plus Jetson estimates) for `names`; a method that fails is logged, skipped."""
    import datetime
    import logging

    from benchmark.profiling.profile import profile_method
    from benchmark.profiling.roofline import estimate_row

    log = logging.getLogger(__name__)
    rows = []
    for name in names:
        try:
            row = profile_method(name, (overrides or {}).get(name), label, **kwargs)
        except Exception as err:  # noqa: BLE001 - one broken method must not hide the others' numbers
            log.error("profile %s failed: %s: %s", name, type(err).__name__, err)
            continue
        new = [row] + ([estimate_row(row)] if row["macs_per_chunk"] is not None else [])
        rows += new
        if store is not None:
            date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            for r in new:
                store.put_efficiency(r, date)
    return rows


def main(args: argparse.Namespace) -> int:
    from benchmark.errors import ConfigError
    from benchmark.methods import METHODS
    from benchmark.runner.store import ResultStore
    from benchmark.runner.sweep import default_db_path

    names = [m.strip() for m in args.methods.split(",")] if args.methods else METHODS.names()
    for name in names:
        METHODS.get(name)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but torch sees no CUDA device")
    store = None if args.no_store else ResultStore(args.db or default_db_path())
    rows = profile_methods(
        names, store, device=args.device, threads=args.threads, repeats=args.repeats, budget_s=args.budget
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        from benchmark.leaderboard.tables import efficiency_table

        print(efficiency_table(rows).markdown())
    if store is not None:
        store.close()
    return 0 if len({r["method"] for r in rows}) == len(names) else 1
