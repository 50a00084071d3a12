"""Command line: `python -m benchmark <command>`; with no command, flags go to `run` (the sweep).

Each command lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`; heavy imports
(torch, Lightning) happen inside `main`, so `--help` and `list` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from benchmark.errors import BenchmarkError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("benchmark.runner.cli", "sweep datasets x compression levels x methods (the default)"),
    "list": ("benchmark.list_cli", "list registered methods, datasets and compression levels"),
    "data": ("benchmark.data.datasets.cli", "check a dataset's layout: one line per recording it finds"),
    "synth": ("benchmark.data.synth.cli", "generate SynthPulse recordings"),
    "predict": ("benchmark.evaluation.predict_cli", "heart rate from your own video"),
    "profile": ("benchmark.profiling.cli", "parameters, MACs, latency and memory of each method"),
    "leaderboard": ("benchmark.leaderboard.cli", "write leaderboard tables and plots from the results"),
    "gate": (
        "benchmark.leaderboard.gate",
        "fail when a method's MAE regresses against the committed baseline",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="rppg-benchmark: remote photoplethysmography methods x datasets x compression levels.",
        epilog="With no command, arguments go to `run`: `python -m benchmark --methods tdm,sspd,rppgnet`.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                p.set_defaults(_unavailable=f"command {name!r} is not built yet ({module_name})")
                continue
            raise
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "-v", "--verbose"):
        argv = ["run", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "_unavailable", None):
        print(f"error: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._main(args) or 0)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
