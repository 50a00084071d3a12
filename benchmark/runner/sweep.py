"""Run a sweep: train once per (method, train set, seed), then predict and score every cell.

The order of work follows `cells.expand`: all cells of one trained model come together (a training unit), so
the model is loaded once and reused across test sets and compression levels. An executor
(benchmark.runner.executors) computes the units, here one after another or on a Ray cluster side by side,
with a `CellRunner`, which writes nothing; each result reaches the database through the `Driver`, the one
writer, in one transaction per cell. A failing cell is stored as failed with its error and the sweep goes on.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import BenchmarkError, ConfigError
from benchmark.paths import results_dir
from benchmark.results.provenance import now, provenance
from benchmark.results.store import CellResult, ResultStore
from benchmark.runner.cells import Cell, Sweep, expand
from benchmark.runner.evaluate import evaluate_cell
from benchmark.runner.training import Trainer

log = logging.getLogger(__name__)


def method_entries(sweep: Sweep) -> dict:
    """Catalogue entries of the sweep's methods, in catalogue order, each after the methods it requires;
    then its released weights (`pretrained:`)."""
    from benchmark.methods import METHODS

    names = METHODS.names() if "all" in sweep.methods else list(sweep.methods)
    # exclusions trim "all"; a method named outright runs (`run --methods sspd` on a sweep that leaves it out)
    names = [n for n in names if n not in sweep.exclude_methods or n in sweep.methods]
    for n in names:
        METHODS.get(n)  # unknown names fail loudly, listing the known ones
    entries = {n: METHODS.get(n) for n in names}
    for name in sweep.pretrained:
        if name not in sweep.exclude_methods:
            entries[name] = PretrainedEntry(name)
    return entries


class PretrainedEntry:
    """A sweep row of released weights: not trained, tested as released (benchmark.methods.weights)."""

    kind = "none"

    def __init__(self, name: str):
        from benchmark.methods.registry import PRETRAINED_GROUP
        from benchmark.methods.weights import RELEASES

        self.name, self.group, self.release = name, PRETRAINED_GROUP, RELEASES.get(name)


def recipes_of(entries: dict, profile: str) -> tuple[dict[str, dict], dict[str, str]]:
    """(recipes, errors): a method whose recipe cannot be loaded fails its own cells, not the sweep."""
    from benchmark.methods.config import load_recipe

    recipes, errors = {}, {}
    for name, entry in entries.items():
        if entry.kind == "none":
            continue
        try:
            recipes[name] = load_recipe(name, profile)
        except BenchmarkError as err:
            errors[name] = f"{type(err).__name__}: {err}"
    return recipes, errors


def profile_missing(store, names: list[str], recipes: dict, profile: str) -> None:
    """Efficiency rows for the methods that have none on this host yet (tables and Pareto plot need them)."""
    from benchmark.methods import METHODS
    from benchmark.methods.weights import RELEASES
    from benchmark.profiling.measure import cpu_model
    from benchmark.profiling.profile import profile_methods

    have = {r["method"] for r in store.efficiency() if r.get("host") == cpu_model()}
    todo = [n for n in names if n not in have and (n in METHODS or n in RELEASES)]
    if todo:
        log.info("profiling efficiency of %d method(s): %s", len(todo), ", ".join(todo))
        from benchmark.methods.config import split_recipe

        overrides = {n: split_recipe(r)[0] for n, r in recipes.items()}  # as trained: same input size
        profile_methods(todo, store, overrides, f"{profile} recipe", repeats=3, budget_s=10.0)


def warn_missing_zoo(sweep: Sweep, cells: list[Cell]) -> None:
    """A zoo-profile sweep trains what the zoo lacks at the zoo budget (hours on CPU): say so up front."""
    if sweep.profile != "zoo":
        return
    from benchmark import zoo

    keys = {e.training_key for e in zoo.entries()}
    missing = sorted({c.method for c in cells if c.trains and c.training_key not in keys})
    if missing:
        log.warning(
            "the zoo has no model for %s under this sweep's training config: they are trained now at "
            "their zoo budget (`python -m benchmark zoo train --methods %s` trains and saves them; "
            "`zoo list` shows what is stale)",
            ", ".join(missing),
            ",".join(missing),
        )


def failed_result(cell: Cell, error: str, prov: dict, seconds: float) -> CellResult:
    return CellResult(
        cell.key, "failed", cell.identity(), {}, cell.config(), prov, error=error, seconds=seconds
    )


def twin_key(trainer: Trainer, cell: Cell) -> tuple | None:
    """What a learned cell's model is, whatever its method's name: the same network trained alike (the
    trainer's content key) from the same checkpoint file. kd-teacher is PhysNet trained with PhysNet's recipe,
    so on the same test set and level its cells are PhysNet's predictions. None: not shareable."""
    if not cell.trains:
        return None
    content = trainer.content_key(cell)
    return (content, str(trainer.checkpoint(cell))) if content else None


def twin_result(cell: Cell, twin: CellResult, prov: dict) -> CellResult:
    """`cell`'s result from the predictions of an identical computation met earlier in this run."""
    log.info(
        "%s: the predictions of %s (same network, weights and input)", cell.label(), twin.identity["method"]
    )
    return CellResult(
        cell.key,
        twin.status,
        cell.identity(),
        twin.metrics,
        cell.config(),
        prov,
        predictions=twin.predictions,
    )


class Progress:
    """A bar (rich) for cells and the current cell's recordings when a person watches a terminal, and in
    every case one timestamped line per finished cell on stdout (its MAE and seconds), so a log file of
    `make bench-all > log` or CI says what ran, how well and how long."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.finished = 0
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.cells = self.bar.add_task("cells", total=total)
            self.current = self.bar.add_task("current cell", total=1)

    def start_cell(self, label: str, n_recordings: int) -> None:
        if self.bar:
            self.bar.reset(self.current, total=max(n_recordings, 1), description=label[:60])
        else:
            log.info("cell %s", label)

    def recording_done(self) -> None:
        if self.bar:
            self.bar.advance(self.current)

    def cell_done(self, cell: Cell, result: CellResult) -> None:
        self.finished += 1
        line = cell_line(self.finished, self.total, cell, result)
        if self.bar:
            self.bar.advance(self.cells)
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, flush=True)

    def note(self, line: str) -> None:
        """A timestamped line between cells (a training epoch), above the bar or on stdout."""
        line = f"[{now()}] {line}"
        if self.bar:
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, flush=True)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


def cell_line(i: int, total: int, cell: Cell, result: CellResult) -> str:
    """`[time] cell i/total label: MAE x bpm (n recordings), s` or the failure's first line."""
    if result.status == "done":
        mae = result.metrics.get("mae")
        n, failed = result.metrics.get("n", 0), result.metrics.get("n_failed", 0)
        what = f"MAE {mae:.2f} bpm" if mae is not None else "no MAE"
        what += f" ({n} recordings" + (f", {failed} failed)" if failed else ")")
    else:
        what = "FAILED " + (result.error or "").splitlines()[0] if result.error else "FAILED"
    return f"[{now()}] cell {i}/{total} {cell.label()}: {what}, {result.seconds or 0.0:.1f} s"


def record_test_recordings(store, data, cells) -> None:
    """Store the tags of every test recording of the sweep, reused cells included, so breakdown tables
    (by scenario, lighting...) cover all rows. A dataset that cannot load is left to its cells to report."""
    for test_set in sorted({c.test_set for c in cells}):
        cell = next(c for c in cells if c.test_set == test_set)
        try:
            store.put_recordings(data.test_recordings(cell))
        except Exception as err:  # noqa: BLE001 - the cells of this test set fail with the reason
            log.debug("tags of %s not recorded: %s", test_set, err)


@dataclass(frozen=True)
class SweepWork:
    """What computing cells needs besides the cells: plain data an executor can ship to a worker."""

    sweep: Sweep
    work_dir: Path
    recipe_errors: dict = field(default_factory=dict)  # method -> why its recipe did not load
    use_zoo: bool = True
    crop_sides: tuple[int, ...] = ()  # every crop side the sweep's cells read (evaluate.crop_sides)


class CellRunner:
    """Computes cells unit after unit and hands each result to `deliver`, writing no row itself: the same code
    runs in the sweep's process and in a Ray worker. A model is built once per training key, and a cell that
    computes what an earlier one did (twin_key) takes its predictions. `store` serves checkpoints (the results
    store, or a worker's CheckpointBook)."""

    def __init__(self, work: SweepWork, store, data, progress: Progress, loggers=None):
        self.work, self.data, self.progress = work, data, progress
        self.trainer = Trainer(work.sweep, store, data, work.work_dir, loggers=loggers, use_zoo=work.use_zoo)
        self.trainer.report = progress.note
        self.twins: dict[tuple, CellResult] = {}  # done cells of this run by what they compute (twin_key)
        self.models: dict[str, tuple | None] = {}  # training key -> twin_key: built once, not per cell

    def run(self, cells: list[Cell], deliver) -> None:
        for cell in cells:
            t0 = time.perf_counter()
            prov = provenance()
            try:
                result = self.compute(cell, prov)
            except Exception as err:  # noqa: BLE001 - a failing cell is recorded, never stops the sweep
                log.debug("cell %s failed:\n%s", cell.label(), traceback.format_exc())
                result = failed_result(cell, f"{type(err).__name__}: {err}", prov, 0.0)
            result.seconds = time.perf_counter() - t0
            deliver(cell, result)

    def compute(self, cell: Cell, prov: dict) -> CellResult:
        if cell.method in self.work.recipe_errors:
            raise ConfigError(self.work.recipe_errors[cell.method])
        test = self.data.test_recordings(cell)
        self.progress.start_cell(cell.label(), len(test))
        if cell.training_key not in self.models:
            self.models[cell.training_key] = twin_key(self.trainer, cell)
        model = self.models[cell.training_key]
        key = model and (*model, cell.test_set, cell.level)
        if key in self.twins:
            return twin_result(cell, self.twins[key], prov)
        module = self.trainer.module_for(cell)
        # the first cell of a test set and level cuts every side of the sweep in one pass (a unit holds one
        # model's cells: its own sides alone would cost a face-stage pass per side)
        done, sides = self.progress.recording_done, self.work.crop_sides
        result = evaluate_cell(cell, module, test, prov, on_recording=done, also_sizes=sides)
        if key and result.status == "done":
            self.twins[key] = result
        return result


class Driver:
    """The sweep's one writer: every cell result reaches the database through it, whichever executor computed
    it; it keeps the counts, the progress lines and the wandb log."""

    def __init__(self, store: ResultStore, data, progress: Progress, sink=None):
        self.store, self.data, self.progress, self.sink = store, data, progress, sink
        self.loggers = sink.lightning_loggers if sink else None
        self.counts = {"done": 0, "failed": 0, "failures": []}

    def deliver(self, cell: Cell, result: CellResult) -> None:
        self.store.write_cell(result)
        self.counts[result.status] += 1
        if result.status == "failed":
            log.warning("cell %s failed: %s", cell.label(), result.error)
            self.counts["failures"].append((cell.label(), result.error))
        if self.sink:
            self.sink.log_cell(cell, result)
        self.progress.cell_done(cell, result)


def run_sweep(
    sweep: Sweep,
    *,
    db: str | Path | None = None,
    progress: bool = True,
    wandb: bool = False,
    write_tables: bool = True,
    retry_failed: bool = True,
    work_dir: str | Path | None = None,
    use_zoo: bool = True,
    executor_options=None,
) -> dict:
    """Run every cell of `sweep` not already done in the database; returns counts and the paths written.
    `use_zoo`: load a learned method from zoo/ when the zoo holds a model trained under its cell's training
    config (False: train it, as `run --retrain` does). The sweep's `executor` computes the cells, with
    `executor_options` (ExecutorOptions: Ray address, CPUs, retries)."""
    from benchmark.runner.datasets import DatasetCache
    from benchmark.runner.executors import EXECUTORS, ExecutorOptions, training_units
    from benchmark.runner.validate import raise_problems, runnable_problems

    started = time.perf_counter()
    raise_problems(f"sweep {sweep.name!r}", runnable_problems(sweep))
    entries = method_entries(sweep)
    recipes, recipe_errors = recipes_of(entries, sweep.profile)
    cells = expand(sweep, entries, recipes)
    db = Path(db) if db else sweep.db_path()
    work = Path(work_dir) if work_dir else results_dir() / sweep.name
    store = ResultStore(db)
    todo = [
        c for c in cells if store.status(c.key) != "done" and (retry_failed or store.status(c.key) is None)
    ]
    log.info(
        "sweep %s: %d cells, %d already done, %d to run (database %s)",
        sweep.name,
        len(cells),
        len(cells) - len(todo),
        len(todo),
        db,
    )
    sink = None
    if wandb:
        from benchmark.runner.wandb_log import WandbSink

        sink = WandbSink(sweep, work)
    data = DatasetCache(sweep)
    if use_zoo:
        warn_missing_zoo(sweep, cells)
    record_test_recordings(store, data, cells)
    bar = Progress(len(todo), progress)
    driver = Driver(store, data, bar, sink)
    executor = EXECUTORS.get(sweep.executor)(executor_options or ExecutorOptions())
    try:
        from benchmark.runner.evaluate import crop_sides

        sweep_work = SweepWork(sweep, work, recipe_errors, use_zoo, crop_sides(todo))
        executor.run(training_units(todo), sweep_work, driver)
    finally:
        bar.stop()
    counts = {"cells": len(cells), "skipped": len(cells) - len(todo), **driver.counts}
    counts["failed_in_database"] = sum(store.status(c.key) == "failed" for c in cells)
    if sweep.efficiency:
        profile_missing(store, list(entries), recipes, sweep.profile)
    note = (
        f"last `run` of sweep {sweep.name}: {counts['done'] + counts['failed']} cells computed, "
        f"{counts['skipped']} reused from the database, {time.perf_counter() - started:.0f} s wall time "
        f"on {provenance()['host']}"
    )
    store.put_run_note(sweep.name, note, now())  # tables written later by `leaderboard` state it too
    if write_tables:
        from benchmark.leaderboard.writer import write_leaderboards

        written = write_leaderboards(store, sweep.leaderboard_dir(), levels=list(sweep.compression))
        counts["written"] = [str(p) for p in written]
        if sink:
            sink.log_tables(sweep.leaderboard_dir())
    if sink:
        sink.finish()
    store.close()
    return counts
