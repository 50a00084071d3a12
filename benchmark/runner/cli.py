"""`python -m benchmark run` (the default command): a sweep from configs/sweeps/*.yaml plus flag overrides.

`--retrain` ignores the model zoo (zoo/) and trains each learned method with its `quick` recipe.
A run that changes what the sweep computes (methods, datasets, levels, protocol, profile, epochs, seeds) is
ad hoc: unless --name, --db or --leaderboard-dir says otherwise it gets its own name (`<sweep>-adhoc`), its
own database and its tables under the results folder, so it never rewrites the committed leaderboards/.
`--seeds` naming some of the sweep's own seeds is not ad hoc: those cells are the sweep's, run in parts.
`--executor ray` computes each trained model's cells as a Ray task (benchmark.runner.executors).
Exit code 1 when any cell of the sweep is failed (the tables are still written), 2 for a bad sweep.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sweep", help="sweep YAML (default configs/sweeps/<profile>.yaml, profile quick)")
    parser.add_argument("--methods", help="comma-separated method names (default: the sweep's)")
    parser.add_argument("--exclude-methods", help="comma-separated methods to leave out")
    parser.add_argument("--datasets", help="comma-separated dataset names (roots from env vars or the sweep)")
    parser.add_argument("--compression", help="comma-separated compression levels (`list compression`)")
    parser.add_argument("--protocol", choices=["intra", "cross"], help="intra-dataset split or cross-dataset")
    parser.add_argument("--train-on", help="cross protocol: dataset(s) to train on")
    parser.add_argument("--test-on", help="cross protocol: dataset(s) to test on")
    parser.add_argument(
        "--train-level",
        choices=["raw", "same"],
        help="train on raw video (default) or on each tested compression level",
    )
    parser.add_argument(
        "--profile", choices=["smoke", "quick", "zoo", "full"], help="training budget profile"
    )
    parser.add_argument("--max-epochs", type=int, help="cap on every recipe's epochs")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train every learned method from scratch (quick recipes unless --profile) instead of loading "
        "zoo/ (an ad-hoc run: its own database and tables under runs/)",
    )
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto | cpu | cuda")
    parser.add_argument(
        "--devices", type=int, help="GPUs each model trains on (Lightning; default 1; refused on CPU)"
    )
    parser.add_argument("--strategy", help="Lightning strategy with --devices > 1: ddp (default auto)")
    parser.add_argument("--db", help="results database (default <results dir>/<sweep name>.sqlite)")
    parser.add_argument("--leaderboard-dir", help="where the tables go (default: the sweep's)")
    parser.add_argument("--name", help="sweep name (database and leaderboard folder names)")
    parser.add_argument(
        "--wandb", action="store_true", help="log cells and tables to wandb (offline by default)"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="plain log lines instead of a progress bar"
    )
    parser.add_argument("--no-tables", action="store_true", help="do not write the leaderboards at the end")
    parser.add_argument("--skip-failed", action="store_true", help="do not retry cells that failed before")
    parser.add_argument(
        "--executor",
        help="where cells run: local (this process, one cell after another; the default) or ray (one Ray "
        "task per trained model and the cells that reuse it)",
    )
    parser.add_argument(
        "--ray-address", help="ray: address of a running cluster (`auto`); default: start a local Ray"
    )
    parser.add_argument("--ray-cpus", type=int, help="ray: CPUs of the local Ray (default: all)")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="ray: new attempts of a unit whose worker died, before its cells are stored as failed",
    )
    parser.add_argument(
        "--efficiency",
        action="store_true",
        default=None,
        help="also profile each method's efficiency into the database (quick.yaml does)",
    )


# flags that change which cells a sweep computes: with any of them the run is ad hoc
CONTENT_FLAGS = (
    "methods", "exclude_methods", "datasets", "compression", "protocol", "train_on", "test_on",
    "train_level", "max_epochs", "seeds", "devices", "strategy",
)  # fmt: skip


def is_ad_hoc(args: argparse.Namespace, sweep_seeds: tuple[int, ...] = ()) -> bool:
    """The sweep file's content was changed by flags, and no output place was named. `--seeds` naming some
    of the sweep's own seeds is not a change: its cells are the sweep's, so seeds can be spread over runs."""
    flags = [f for f in CONTENT_FLAGS if getattr(args, f) is not None]
    if "seeds" in flags and set(parse_seeds(args.seeds)) <= set(sweep_seeds):
        flags.remove("seeds")
    changed = bool(flags) or (args.sweep is not None and args.profile is not None) or args.retrain
    named = args.name or args.db or args.leaderboard_dir
    return changed and not named


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        return ()  # not a seed list: load_sweep names the problem


def sweep_from_args(args: argparse.Namespace):
    from benchmark.paths import config_dir, results_dir
    from benchmark.runner.cells import load_sweep

    path = args.sweep or config_dir() / "sweeps" / f"{args.profile or 'quick'}.yaml"
    datasets = None
    if args.datasets:
        datasets = {d.strip(): {} for d in args.datasets.split(",") if d.strip()}
    sweep = load_sweep(
        path,
        check_runnable=True,
        methods=args.methods,
        exclude_methods=args.exclude_methods,
        datasets=datasets,
        compression=args.compression,
        protocol=args.protocol,
        train_on=args.train_on,
        test_on=args.test_on,
        train_level=args.train_level,
        profile=args.profile or ("quick" if args.retrain else None),
        max_epochs=args.max_epochs,
        seeds=args.seeds,
        device=args.device,
        devices=args.devices,
        strategy=args.strategy,
        efficiency=args.efficiency,
        executor=args.executor,
        database=args.db,
        leaderboard=args.leaderboard_dir,
        name=args.name,
    )
    if not is_ad_hoc(args, file_seeds(path)):
        return sweep
    name = f"{sweep.name}-adhoc"
    leaderboard = str(results_dir() / name / "leaderboards")
    database = str(results_dir() / f"{name}.sqlite")  # never the sweep file's committed database
    return replace(sweep, name=name, leaderboard=leaderboard, database=database)


def file_seeds(path) -> tuple[int, ...]:
    """The sweep file's own seeds. Read after the full check, so that a bad file has all its problems listed
    at once; a file that is only valid with the flags' changes has none (any --seeds then changes it)."""
    from benchmark.errors import ConfigError
    from benchmark.runner.cells import load_sweep

    try:
        return load_sweep(path).seeds
    except ConfigError:
        return ()


def main(args: argparse.Namespace) -> int:
    import time

    from benchmark.errors import ConfigError
    from benchmark.runner.executors import ExecutorOptions
    from benchmark.runner.sweep import run_sweep

    if args.retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {args.retries}")
    if args.ray_cpus is not None and args.ray_cpus < 1:
        raise ConfigError(f"--ray-cpus must be >= 1, got {args.ray_cpus}")
    sweep = sweep_from_args(args)
    options = ExecutorOptions(address=args.ray_address, cpus=args.ray_cpus, retries=args.retries)
    start = time.perf_counter()
    counts = run_sweep(
        sweep,
        progress=not args.no_progress,
        wandb=args.wandb,
        write_tables=not args.no_tables,
        retry_failed=not args.skip_failed,
        use_zoo=not args.retrain,
        executor_options=options,
    )
    print(
        f"sweep {sweep.name}: {counts['cells']} cells, {counts['skipped']} skipped (already done), "
        f"{counts['done']} done, {counts['failed']} failed in {time.perf_counter() - start:.1f} s; "
        f"database {sweep.db_path()}"
    )
    for path in counts.get("written", []):
        if path.endswith(".md"):
            print(f"  {path}")
    return report_failures(counts)


def report_failures(counts: dict) -> int:
    """1 when any cell of the sweep is failed (this run's, or earlier ones kept by --skip-failed), with each
    reason printed; 0 otherwise."""
    failed = counts.get("failed_in_database", counts["failed"])
    if not failed:
        return 0
    print(f"error: {failed} cell(s) failed", file=sys.stderr)
    for label, error in counts["failures"]:
        print(f"  - {label}: {error}", file=sys.stderr)
    kept = failed - len(counts["failures"])
    if kept > 0:
        print(
            f"  - {kept} cell(s) failed in an earlier run and were skipped (--skip-failed)", file=sys.stderr
        )
    return 1
