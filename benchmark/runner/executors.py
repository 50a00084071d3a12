"""Executors: where a sweep's training units are computed (`run --executor local|ray`, or `executor:`).

A training unit is one trained model and the cells that reuse it (`training_units`, in `cells.expand`'s
order). `local`, the default, computes the units in this process one after another, as the sweep always has.
`ray` sends each unit to a Ray cluster as one task with its resources (`unit_resources`), so units run side
by side. Either way a `CellRunner` computes and the `Driver` writes (benchmark.runner.sweep).

Why the driver is the one writer: SQLite takes one writer at a time and a worker on another node may not see
the database at all. A Ray worker returns its unit's results and the checkpoints it trained, and the driver
writes them, cell by cell in one transaction each. A worker that dies (killed, out of memory, its node lost)
returns nothing, so nothing of its unit was written: the unit is sent again, up to `retries` times, then
its cells are stored as failed with the reason. Files are shared instead: the preprocessed cache and
SynthPulse data (RPPG_CACHE_DIR) and the checkpoints (RPPG_RESULTS_DIR) must be on a filesystem every node
sees; their entries publish atomically, so two workers building the same one is safe.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

from benchmark.methods.config import RESOURCE_KEYS
from benchmark.registry import Registry
from benchmark.runner.cells import Cell

log = logging.getLogger(__name__)

EXECUTORS: Registry[type] = Registry("executor")

# Fault injection for tests: "METHOD:N" makes the Ray worker of a unit of METHOD exit (os._exit) after its
# first cell in each of the unit's first N attempts, as a worker killed mid-unit would.
FAULT_ENV = "RPPG_FAULT_WORKER_EXIT"
FAULT_EXIT_CODE = 77


@dataclass(frozen=True)
class ExecutorOptions:
    """Settings of how cells run, not of what they compute (so none is part of a cell's key)."""

    address: str | None = None  # ray: an existing cluster ("auto"); None starts a local Ray
    cpus: int | None = None  # ray: CPUs of that local Ray (None: all of this machine's)
    retries: int = 2  # ray: new attempts of a unit whose worker died


def training_units(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped by the model they need (training key), each group in the order given."""
    units: dict[str, list[Cell]] = {}
    for cell in cells:
        units.setdefault(cell.training_key, []).append(cell)
    return list(units.values())


def unit_resources(cell: Cell, cluster_gpus: float = 0) -> dict:
    """The Ray resources of `cell`'s unit: the sweep's `resources.methods` entry of its method, else its
    recipe's `num_cpus` / `num_gpus`, else the sweep's `resources` defaults, else 1 CPU, and `devices` GPUs
    for a unit that trains on `device: cuda` (or `auto` on a cluster with GPUs), no GPU otherwise."""
    sweep = cell.sweep
    gpu = cell.trains and (sweep.device.startswith("cuda") or (sweep.device == "auto" and cluster_gpus > 0))
    defaults = {k: v for k, v in sweep.resources.items() if k in RESOURCE_KEYS}
    recipe = {k: v for k, v in cell.recipe.items() if k in RESOURCE_KEYS}
    per_method = sweep.resources.get("methods", {}).get(cell.method, {})
    return {"num_cpus": 1, "num_gpus": int(gpu) * sweep.devices, **defaults, **recipe, **per_method}


@EXECUTORS.register("local")
class LocalExecutor:
    """Every unit in this process, in order; each result is written as its cell ends."""

    def __init__(self, options: ExecutorOptions):
        self.options = options

    def run(self, units: list[list[Cell]], work, driver) -> None:
        from benchmark.runner.sweep import CellRunner

        runner = CellRunner(work, driver.store, driver.data, driver.progress, loggers=driver.loggers)
        for unit in units:
            runner.run(unit, driver.deliver)


@dataclass
class UnitOutcome:
    """What a Ray worker sends back: its unit's results (in the unit's order), the checkpoints it trained
    (rows for the checkpoints table) and the results other cells may reuse (twin_key -> CellResult)."""

    results: list
    checkpoints: list[tuple]
    twins: dict = field(default_factory=dict)


class CheckpointBook:
    """The part of the results store a worker's Trainer uses, in memory: the checkpoints the driver's
    database knew when the unit was sent, plus those trained here, which go back to the driver."""

    def __init__(self, known: dict[str, str]):
        self.known = dict(known)
        self.new: list[tuple] = []

    def checkpoint(self, key: str) -> str | None:
        return self.known.get(key)

    def put_checkpoint(self, key: str, method: str, path: str, date: str) -> None:
        self.known[key] = str(path)
        self.new.append((key, method, str(path), date))


def shared_env() -> dict[str, str]:
    """The driver's variables that place files and data (RPPG_* folders, dataset roots): a worker given them
    resolves the same paths, whatever environment its node was started with."""
    from benchmark.data.datasets import DATASETS

    roots = {cls.env_var for _, cls in DATASETS.items() if cls.env_var}
    return {k: v for k, v in os.environ.items() if k.startswith("RPPG_") or k in roots}


def run_unit(work, cells: list[Cell], checkpoints: dict, twins: dict, env: dict, exit_mid_unit: bool):
    """A Ray task: compute one unit's cells and return them (UnitOutcome); no database is opened here."""
    from benchmark.paths import cache_dir
    from benchmark.runner.datasets import DatasetCache
    from benchmark.runner.sweep import CellRunner, Progress

    for key in [k for k in os.environ if k.startswith("RPPG_") and k not in env]:
        del os.environ[key]  # a reused worker process keeps no setting of an earlier sweep
    os.environ.update(env)
    for folder in (work.work_dir, cache_dir()):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} (made by the driver) is not visible on {os.uname().nodename}: RPPG_CACHE_DIR and "
                "RPPG_RESULTS_DIR must be on a filesystem every Ray node shares"
            )
    book = CheckpointBook(checkpoints)
    runner = CellRunner(work, book, DatasetCache(work.sweep), Progress(len(cells), enabled=False))
    runner.twins.update(twins)
    results = []

    def keep(cell, result):
        results.append(result)
        if exit_mid_unit:
            os._exit(FAULT_EXIT_CODE)

    runner.run(cells, keep)
    return UnitOutcome(results, book.new, runner.twins)


def fault_applies(unit: list[Cell], attempt: int) -> bool:
    """The test hook FAULT_ENV: should this attempt of the unit's worker die mid-unit?"""
    method, _, attempts = os.environ.get(FAULT_ENV, "").partition(":")
    return bool(method) and unit[0].method == method and attempt <= int(attempts or 1)


def unit_order(units: list[list[Cell]], trainer) -> tuple[list[set[int]], list[str | None]]:
    """(after, content): for each unit, the units of this run it waits for, and its content key. A unit waits
    for those that train a model it requires (the KD student's teacher) and for the first one that trains
    the same network alike (Trainer.content_key: kd-teacher is PhysNet), whose checkpoint and predictions it
    then takes, as a local run does, instead of training and predicting them again."""
    from benchmark.methods import METHODS

    index = {unit[0].training_key: i for i, unit in enumerate(units)}
    after: list[set[int]] = [set() for _ in units]
    content: list[str | None] = [None] * len(units)
    first: dict[str, int] = {}
    for i, unit in enumerate(units):
        cell = unit[0]
        if not cell.trains or cell.method not in METHODS:
            continue
        for dep in METHODS.get(cell.method).requires:
            j = index.get(cell.dependency(dep).training_key)
            if j is not None:
                after[i].add(j)
        try:
            content[i] = trainer.content_key(cell)
        except Exception as err:  # noqa: BLE001 - the unit's own worker reports it; it just shares nothing
            log.debug("no content key for %s: %s", cell.label(), err)
        if content[i] is not None:
            after[i].add(first.setdefault(content[i], i))
            after[i].discard(i)
    return after, content


@EXECUTORS.register("ray")
class RayExecutor:
    """Each unit a Ray task (`ray.init(address=...)` for a running cluster, else a local Ray); the driver
    sends units whose prerequisites are done, writes what comes back, and sends again a unit whose worker
    died, up to `retries` times. With --wandb the driver logs every cell; a worker's training curves stay in
    its Lightning CSV log (under the shared results folder)."""

    def __init__(self, options: ExecutorOptions):
        self.options = options

    def run(self, units: list[list[Cell]], work, driver) -> None:
        import ray

        started = not ray.is_initialized()
        if started and self.options.address:
            ray.init(address=self.options.address, logging_level=logging.WARNING)
        elif started:
            ray.init(num_cpus=self.options.cpus, include_dashboard=False, logging_level=logging.WARNING)
        try:
            RayRun(units, work, driver, self.options).run()
        finally:
            if started:
                ray.shutdown()


class RayRun:
    """One sweep's units on Ray: what waits, what is in flight, what came back."""

    def __init__(self, units, work, driver, options: ExecutorOptions):
        import ray

        from benchmark.runner.training import Trainer

        self.units, self.work, self.driver, self.options = units, work, driver, options
        trainer = Trainer(work.sweep, driver.store, driver.data, work.work_dir, use_zoo=work.use_zoo)
        self.after, self.content = unit_order(units, trainer)
        self.task = ray.remote(max_retries=0)(run_unit)  # retries are ours (a new attempt, fresh checkpoints)
        self.pending: dict = {}  # ObjectRef -> (unit index, attempt)
        self.finished: set[int] = set()
        self.twins: dict[tuple, object] = {}
        self.env = shared_env()
        total = ray.cluster_resources()
        self.gpus = total.get("GPU", 0)
        # a local Ray has no more than it started with: a unit asking more would wait forever
        self.capacity = None
        if not options.address:
            self.capacity = {"num_cpus": total.get("CPU", 0), "num_gpus": total.get("GPU", 0)}
        work.work_dir.mkdir(parents=True, exist_ok=True)  # workers check they see it (a shared filesystem)
        from benchmark.paths import cache_dir

        cache_dir().mkdir(parents=True, exist_ok=True)
        driver.progress.note(
            f"ray: {len(units)} training units ({sum(map(len, units))} cells) on "
            f"{total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs"
        )

    def run(self) -> None:
        import ray

        waiting = list(range(len(self.units)))
        try:
            while waiting or self.pending:
                for i in [i for i in waiting if self.after[i] <= self.finished]:
                    waiting.remove(i)
                    self.submit(i, attempt=1)
                if not self.pending:
                    raise RuntimeError(f"units {waiting} wait for each other")  # unit_order makes no cycle
                (ref,), _ = ray.wait(list(self.pending), num_returns=1)
                i, attempt = self.pending.pop(ref)
                self.collect(ref, i, attempt)
        finally:
            for ref in self.pending:  # the driver stops (Ctrl-C, an error): its tasks stop too
                ray.cancel(ref, force=True)

    def submit(self, i: int, attempt: int) -> None:
        unit = self.units[i]
        resources = unit_resources(unit[0], self.gpus)
        short = [k for k, v in resources.items() if self.capacity is not None and v > self.capacity[k]]
        if short:
            asked = ", ".join(f"{k} {resources[k]:g} (the local Ray has {self.capacity[k]:g})" for k in short)
            return self.fail(i, f"its Ray task asks for more than the cluster has: {asked}")
        content = self.content[i]
        twins = {k: v for k, v in self.twins.items() if content and k[0] == content}
        env = {**self.env}
        env.setdefault("RPPG_PREPROCESS_WORKERS", str(max(1, math.floor(resources["num_cpus"]))))
        ref = self.task.options(**resources, name=f"unit {unit[0].label()}").remote(
            self.work, unit, self.driver.store.checkpoints(), twins, env, fault_applies(unit, attempt)
        )
        self.pending[ref] = (i, attempt)

    def collect(self, ref, i: int, attempt: int) -> None:
        import ray
        from ray.exceptions import RayError, RayTaskError

        unit = self.units[i]
        try:
            outcome = ray.get(ref)
        except RayTaskError as err:  # the task's own code raised outside any cell: another try would too
            return self.fail(i, f"{type(err.cause).__name__}: {err.cause}")
        except RayError as err:  # the worker died (killed, out of memory, its node lost): nothing was written
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if attempt <= self.options.retries:
                self.driver.progress.note(
                    f"ray: the worker of {unit[0].label()} died ({type(err).__name__}); "
                    f"attempt {attempt + 1} of {self.options.retries + 1}"
                )
                return self.submit(i, attempt + 1)
            return self.fail(i, f"its Ray worker died in each of {attempt} attempts; last: {reason}")
        self.accept(i, outcome)

    def accept(self, i: int, outcome: UnitOutcome) -> None:
        from benchmark.runner.sweep import failed_result

        for row in outcome.checkpoints:
            self.driver.store.put_checkpoint(*row)
        for cell, result in zip(self.units[i], outcome.results, strict=True):
            if result.key != cell.key:  # another code fingerprint (or config) on that node
                result = failed_result(
                    cell,
                    f"the worker computed it under key {result.key}, not {cell.key}: it runs other code",
                    result.provenance,
                    result.seconds or 0.0,
                )
            self.driver.deliver(cell, result)
        self.twins.update(outcome.twins)
        self.finished.add(i)

    def fail(self, i: int, reason: str) -> None:
        from benchmark.results.provenance import provenance
        from benchmark.runner.sweep import failed_result

        for cell in self.units[i]:
            self.driver.deliver(cell, failed_result(cell, reason, provenance(), 0.0))
        self.finished.add(i)


__all__ = ["EXECUTORS", "ExecutorOptions", "training_units", "unit_resources"]
