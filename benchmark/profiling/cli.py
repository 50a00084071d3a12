"""`python -m benchmark profile`: efficiency of every method, stored in the results database.

Each run adds (or replaces) the rows of the device, runtime, precision and batch it measures, so running the
same command on a GPU machine against the same database adds their rows. `--runtime onnxruntime` (or
`tensorrt`, when onnxruntime has that provider) times the exported network instead of PyTorch's.

Edge devices: `--import CSV --device-name NAME` reads the CSV of tools/edge_latency.py, run on the device,
as measured rows of NAME (see benchmark/profiling/edge_import.py). A labelled Jetson Nano roofline estimate
is added for each method measured here, unless a measured jetson-nano row of that method exists.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RUNTIMES = ("torch", "onnxruntime", "tensorrt")
LEARNED_KINDS = ("supervised", "self-supervised")


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value!r} (a whole number >= 1)")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", help="comma-separated method names (default: all registered)")
    parser.add_argument("--device", default="cpu", type=device_name, help="cpu | cuda | cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the latency runs (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs after the warm-up (default 5)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of timing per method at most")
    parser.add_argument(
        "--db", help="results database (default: <results dir>/quick.sqlite, the default sweep's)"
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="torch (what predict runs, default) | onnxruntime | tensorrt (the exported network)",
    )
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32", help="default fp32")
    parser.add_argument("--batch", type=positive_int, default=1, help="chunks per run (default 1)")
    parser.add_argument(
        "--import",
        dest="import_csv",
        type=Path,
        metavar="CSV",
        help="add the rows of tools/edge_latency.py's CSV as measured on --device-name (no profiling here)",
    )
    parser.add_argument("--device-name", help="the edge device an --import CSV was measured on")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--no-store", action="store_true", help="print only; do not write the database")


def device_name(value: str) -> str:
    """argparse type: a closed set with an index (cuda:N), checked before any work."""
    import re

    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"invalid device {value!r} (choose cpu, cuda or cuda:N)")
    return value


def import_main(args: argparse.Namespace) -> int:
    """--import CSV --device-name NAME: validate the whole file, then write its rows; print the table."""
    from benchmark.errors import ConfigError
    from benchmark.leaderboard.tables import efficiency_table
    from benchmark.profiling.edge_import import import_edge_csv
    from benchmark.results.provenance import default_db_path
    from benchmark.results.store import ResultStore

    if not args.device_name:
        raise ConfigError("--import needs --device-name NAME (the device the CSV was measured on)")
    store = None if args.no_store else ResultStore(args.db or default_db_path())
    try:
        rows = import_edge_csv(args.import_csv, args.device_name, store)
        shown = rows
        if store is not None:
            methods = {r["method"] for r in rows}
            shown = [r for r in store.efficiency() if r["method"] in methods]
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(f"imported {len(rows)} measured row(s) of {args.device_name} from {args.import_csv}")
        print(efficiency_table(shown).markdown())
    return 0


def main(args: argparse.Namespace) -> int:
    from benchmark.errors import ConfigError
    from benchmark.methods import METHODS
    from benchmark.profiling.profile import profile_methods
    from benchmark.results.provenance import default_db_path
    from benchmark.results.store import ResultStore

    if args.import_csv is not None:
        return import_main(args)
    if args.device_name:
        raise ConfigError("--device-name names the device of an --import CSV; profile measures this machine")
    exported = args.runtime != "torch"
    if args.methods:
        names = [m.strip() for m in args.methods.split(",")]
    else:  # another runtime runs exported networks: only the learned methods have one
        names = [n for n in METHODS.names() if not exported or METHODS.get(n).kind in LEARNED_KINDS]
    for name in names:
        entry = METHODS.get(name)
        if exported and entry.kind not in LEARNED_KINDS:
            raise ConfigError(
                f"--runtime {args.runtime}: method {name!r} has no network to export (it runs in numpy); "
                f"profile it with the default --runtime torch"
            )
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but torch sees no CUDA device")
    from benchmark.profiling.profile import _check_runtime

    _check_runtime(args.runtime, args.precision, args.device)
    if exported:
        try:
            from benchmark.profiling.profile import onnx_providers

            onnx_providers(args.runtime, args.device, args.precision)
        except ImportError as err:
            raise ConfigError(f"--runtime {args.runtime} needs onnxruntime installed ({err})") from err
    store = None if args.no_store else ResultStore(args.db or default_db_path())
    rows = profile_methods(
        names,
        store,
        device=args.device,
        threads=args.threads,
        repeats=args.repeats,
        budget_s=args.budget,
        runtime=args.runtime,
        precision=args.precision,
        batch=args.batch,
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        from benchmark.leaderboard.tables import efficiency_table

        print(efficiency_table(rows).markdown())
    if store is not None:
        store.close()
    return 0 if len({r["method"] for r in rows}) == len(names) else 1
