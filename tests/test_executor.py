"""Executors: `--executor ray` computes what the serial run computes, row for row; a worker that dies is
retried, then its cells fail with the reason, and a rerun completes them without duplicates.

The sweeps are the runner tests' smallest (tests/sweep_data.py: SynthPulse clips as a manifest dataset, the
smoke profile). Ray runs locally with 2 CPUs; the worker deaths are real (os._exit in the worker process,
through the executor's fault hook), Ray is not mocked.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys

import pytest
import yaml
from sweep_data import build_datasets, smoke_training_sweep, sweep_file
from test_runner import _run_here

from benchmark.errors import ConfigError
from benchmark.paths import PROJECT_ROOT
from benchmark.results.store import ResultStore, integrity_problems
from benchmark.runner.cells import Cell, expand, sweep_from_dict
from benchmark.runner.executors import FAULT_ENV, training_units, unit_resources

SMOKE = PROJECT_ROOT / "configs" / "sweeps" / "smoke.yaml"


def needs_ray():
    """Skip without Ray (the optional `ray` extra), except under CI, which installs it."""
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("CI"):
            pytest.fail("Ray is missing under CI: .ci/run installs the ray extra")
        pytest.skip("Ray is not installed (make install EXTRAS=ray)")


# ------------------------------------------------------------------------------------ configuration
def test_the_executor_is_checked_and_unknown_ones_list_the_known(capsys):
    from benchmark.cli import main

    assert sweep_from_dict({"executor": "ray"}).executor == "ray"
    assert sweep_from_dict({}).executor == "local"
    with pytest.raises(ConfigError, match="executor must be one of local, ray, got 'dask'"):
        sweep_from_dict({"executor": "dask"})
    with pytest.raises(ConfigError) as err:
        sweep_from_dict({"resources": {"num_cpu": 1, "num_gpus": -1, "methods": {"physnt": {"num_gpus": 1}}}})
    for problem in ("did you mean 'num_cpus'", "num_gpus must be >= 0", "unknown method 'physnt'"):
        assert problem in str(err.value)
    assert main(["run", "--sweep", str(SMOKE), "--executor", "dask", "--no-progress"]) == 2
    assert "executor must be one of local, ray" in capsys.readouterr().err
    assert main(["run", "--sweep", str(SMOKE), "--executor", "ray", "--retries", "-1"]) == 2
    assert "--retries must be >= 0" in capsys.readouterr().err


class _Entry:
    def __init__(self, kind, group):
        self.kind, self.group = kind, group


def test_units_group_the_cells_of_one_model_and_ask_their_resources():
    sweep = sweep_from_dict(
        {
            "compression": ["raw", "x264-250k"],
            "seeds": [0, 1],
            "resources": {"num_cpus": 2, "methods": {"tscan": {"num_gpus": 0.5}}},
        }
    )
    entries = {"pos": _Entry("none", "classic"), "tscan": _Entry("supervised", "supervised")}
    cells = expand(sweep, entries, {"tscan": {"epochs": 1}})
    units = training_units(cells)
    assert [len(u) for u in units] == [2, 2, 2]  # pos (first seed only), tscan seed 0, tscan seed 1
    assert [c for u in units for c in u] == cells  # expand's order is kept
    assert all(len({c.training_key for c in u}) == 1 for u in units)
    assert unit_resources(units[0][0]) == {"num_cpus": 2, "num_gpus": 0}  # the sweep's defaults
    assert unit_resources(units[1][0]) == {"num_cpus": 2, "num_gpus": 0.5}  # its method's entry

    def tscan(recipe):
        return Cell("tscan", "supervised", True, "synth", "synth", "raw", 0, sweep, recipe)

    asked = tscan({"epochs": 1, "num_cpus": 4, "num_gpus": 1})
    assert unit_resources(asked) == {"num_cpus": 4, "num_gpus": 0.5}  # recipe over defaults, under methods
    assert asked.training_key == tscan({"epochs": 1}).training_key  # resources are not part of a model

    auto = sweep_from_dict({"device": "auto", "methods": ["pos", "tscan"]})
    pos, model = (c for u in training_units(expand(auto, entries, {"tscan": {}})) for c in u)
    assert unit_resources(model, cluster_gpus=0) == {"num_cpus": 1, "num_gpus": 0}  # device auto, no GPU
    assert unit_resources(model, cluster_gpus=4) == {"num_cpus": 1, "num_gpus": 1}  # a GPU to train on
    assert unit_resources(pos, cluster_gpus=4) == {"num_cpus": 1, "num_gpus": 0}  # nothing to train


def test_a_shared_cache_keeps_temporaries_of_other_hosts(tmp_path):
    """Ray workers on several machines share the preprocessed cache: a temporary entry whose process id is
    not alive here is stale only if it was made on this host."""
    from benchmark.data import preprocess

    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    key = "0123456789abcdef01234567"
    here = tmp_path / f".tmp-{key}-{dead.pid}-deadbeef-{socket.gethostname()}"
    legacy = tmp_path / f".tmp-{key}-{dead.pid}-0badcafe"
    elsewhere = tmp_path / f".tmp-{key}-{dead.pid}-feedf00d-another-node-7"
    alive = tmp_path / preprocess._temporary_name(key)
    for folder in (here, legacy, elsewhere, alive):
        folder.mkdir()
    preprocess._remove_stale_temporaries(tmp_path, key)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([elsewhere.name, alive.name])


# ------------------------------------------------------------------------------------------ ray runs
def _rows(db):
    """Every cell row (status, metrics, error) and its predictions, by key; the same for the checkpoints."""
    with ResultStore(db) as store:
        cells = {
            c["key"]: (c["status"], c["method"], c["level"], c["metrics"], c["error"]) for c in store.cells()
        }
        predictions = {key: store.predictions(key) for key in cells}
        checkpoints = store.checkpoints()
    return cells, predictions, checkpoints


@pytest.mark.slow
def test_a_ray_run_computes_what_the_serial_run_does(tmp_path, monkeypatch, capsys):
    """Same keys, metrics, predictions and tables as the serial run, with the KD teacher (PhysNet trained
    alike) taking PhysNet's model and predictions across Ray tasks as it does in one process."""
    import torch

    needs_ray()
    monkeypatch.setenv("RPPG_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a Ray worker's torch threads; inference sums depend on them
    methods = ["pos", "chance", "physnet", "kd-teacher"]
    path = smoke_training_sweep(tmp_path / "s.yaml", "exec", tmp_path / "manifests", methods)
    doc = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**doc, "compression": ["raw", "x264-crf28"]}))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        monkeypatch.setenv("RPPG_RESULTS_DIR", str(tmp_path / "serial"))  # its own checkpoints
        assert _run_here(path, tmp_path / "serial.sqlite", tmp_path / "lb_serial") == 0
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setenv("RPPG_RESULTS_DIR", str(tmp_path / "ray"))
    assert (
        _run_here(path, tmp_path / "ray.sqlite", tmp_path / "lb_ray", "--executor", "ray", "--ray-cpus", "2")
        == 0
    )
    out = capsys.readouterr().out
    assert "ray: 4 training units (8 cells) on 2 CPUs" in out and "8 done, 0 failed" in out

    serial, ray = _rows(tmp_path / "serial.sqlite"), _rows(tmp_path / "ray.sqlite")
    assert len(serial[0]) == 8 and all(row[0] == "done" for row in serial[0].values())
    assert ray[0] == serial[0]  # same keys, statuses and metrics (floats exact)
    assert ray[1] == serial[1]
    assert ray[2].keys() == serial[2].keys()  # training keys and the PhysNet content key
    assert all(str(tmp_path / "ray") in p for p in ray[2].values())  # trained by the workers, written here
    teacher = {p for k, p in ray[2].items() if k in {c.training_key for c in _cells(path, "kd-teacher")}}
    physnet = {p for k, p in ray[2].items() if k in {c.training_key for c in _cells(path, "physnet")}}
    assert teacher == physnet  # one training
    tables = sorted(p.name for p in (tmp_path / "lb_serial").glob("*") if p.suffix in (".md", ".csv"))
    assert "good-to-good.md" in tables and "good-to-good.csv" in tables
    for name in tables:
        if name != "README.md":  # states the run's wall time
            assert (tmp_path / "lb_ray" / name).read_text() == (tmp_path / "lb_serial" / name).read_text()
    assert integrity_problems(tmp_path / "ray.sqlite") == []
    with ResultStore(tmp_path / "serial.sqlite") as store:  # the run's line, kept for `leaderboard`
        (note,) = store.run_notes()
    assert note.startswith("last `run` of sweep exec: 8 cells computed") and note.endswith(")")
    assert f"- {note}" in (tmp_path / "lb_serial" / "README.md").read_text().splitlines()


def _cells(path, method):
    from benchmark.runner.cells import load_sweep
    from benchmark.runner.sweep import method_entries, recipes_of

    sweep = load_sweep(path, methods=[method])
    entries = method_entries(sweep)
    return expand(sweep, entries, recipes_of(entries, sweep.profile)[0])


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs) for the runs below; the executor uses a Ray it finds started and leaves it."""
    needs_ray()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.mark.slow
def test_a_killed_worker_is_retried_then_failed_with_its_reason_and_a_rerun_completes(
    tmp_path, tmp_path_factory, monkeypatch, capsys, local_ray
):
    datasets = build_datasets(tmp_path_factory.mktemp("manifests"))
    path = sweep_file(tmp_path / "s.yaml", "killed", datasets, ["good"], ["raw"], ["pos", "green"])
    ray_flags = ("--executor", "ray")

    monkeypatch.setenv(FAULT_ENV, "green:1")  # green's worker dies mid-unit in its first attempt
    assert _run_here(path, tmp_path / "retried.sqlite", tmp_path / "lb", *ray_flags) == 0
    assert "died (WorkerCrashedError); attempt 2 of 3" in capsys.readouterr().out
    retried = _rows(tmp_path / "retried.sqlite")
    assert [row[0] for row in retried[0].values()] == ["done", "done"]

    monkeypatch.setenv(FAULT_ENV, "green:9")  # it dies in every attempt
    db = tmp_path / "killed.sqlite"
    assert _run_here(path, db, tmp_path / "lb", *ray_flags, "--retries", "1") == 1
    with ResultStore(db) as store:
        cells = {c["method"]: c for c in store.cells()}
        assert cells["pos"]["status"] == "done"
        assert cells["green"]["status"] == "failed"
        assert "its Ray worker died in each of 2 attempts" in cells["green"]["error"]
        assert store.predictions(cells["green"]["key"]) == []

    monkeypatch.delenv(FAULT_ENV)
    assert _run_here(path, db, tmp_path / "lb", *ray_flags) == 0
    assert "1 skipped (already done), 1 done, 0 failed" in capsys.readouterr().out
    assert _rows(db) == retried  # the same rows, each once
    with ResultStore(db) as store:
        assert store.count("cells") == 2 and store.count("predictions") == len(
            [p for k in retried[1] for p in retried[1][k]]
        )
    assert integrity_problems(db) == []


# ---------------------------------------------------------------------------------- several devices
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available(),
    reason="checks the refusal on a machine without CUDA",
)
def test_several_devices_are_refused_on_cpu_before_any_work_and_reach_lightning_otherwise(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.methods.training import trainer_factory
    from benchmark.runner.training import lightning_strategy

    db = tmp_path / "r.sqlite"
    assert main(["run", "--sweep", str(SMOKE), "--devices", "2", "--strategy", "ddp", "--db", str(db)]) == 2
    assert "devices 2: training on several devices needs CUDA GPUs" in capsys.readouterr().err
    assert not db.exists()
    with pytest.raises(ConfigError, match="strategy must be one of auto, ddp, ddp_spawn"):
        sweep_from_dict({"strategy": "horovod"})

    def key(**fields):
        sweep = sweep_from_dict({"device": "cuda", **fields})
        return Cell(
            "tscan", "supervised", True, "synth", "synth", "raw", 0, sweep, {"epochs": 1}
        ).training_key

    assert key() == key(devices=1, strategy="ddp")  # one device: the model as before
    assert key(devices=2, strategy="ddp") != key()  # batches split over two GPUs: another model
    trainer = trainer_factory(
        max_epochs=1, out_dir=tmp_path, accelerator="cpu", devices=2, strategy=lightning_strategy("ddp")
    )()
    assert trainer.num_devices == 2 and trainer.strategy._start_method == "spawn"  # ranks from the fit
