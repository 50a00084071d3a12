"""Command line: `python -m benchmark <command>` (or `rppg-benchmark <command>`); with no command, flags go
to `run` (the sweep).

Each command lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`; heavy imports
(torch, Lightning) happen inside `main`, so `--help` and `list` stay fast.

Exit codes, the same for every command: 0 success; 2 a usage error, a bad configuration or bad input (argparse
errors and every BenchmarkError: the message names the file or value and what is wrong); 1 a runtime failure
(a sweep with failed cells, a video with no estimable heart rate, a regression in the gate).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
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
    "export": ("benchmark.export", "a network in its inference form as an ONNX or TorchScript file"),
    "weights": ("benchmark.methods.weights_cli", "released weights (rPPG-Toolbox PhysNets...): list, fetch"),
    "zoo": ("benchmark.zoo.cli", "train the model zoo (resumable), list it, verify its files"),
    "leaderboard": ("benchmark.leaderboard.cli", "write leaderboard tables and plots from the results"),
    "compare": (
        "benchmark.leaderboard.compare",
        "two methods' MAE difference on the same recordings, with a subject-bootstrap CI",
    ),
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
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


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rppg-benchmark")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


GLOBAL_FLAGS = ("-h", "--help", "-v", "--verbose", "--version")


def with_default_command(argv: list[str]) -> list[str]:
    """Flags without a command go to `run`; a bare word that is no command is a usage error (a typo such as
    `lsit` must not start a sweep)."""
    first = next((a for a in argv if a not in ("-v", "--verbose")), None)
    if first is None or first in COMMANDS or first in GLOBAL_FLAGS:
        return argv
    if first.startswith("-"):
        i = argv.index(first)
        return [*argv[:i], "run", *argv[i:]]
    close = difflib.get_close_matches(first, list(COMMANDS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown command {first!r}{hint} (commands: {', '.join(COMMANDS)})")


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = with_default_command(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help / --version (0) or a usage error (2)
        return int(exit_.code or 0)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "_unavailable", None):
        print(f"error: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        rc = int(args._main(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return rc
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
