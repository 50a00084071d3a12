"""The sweep runner on real (tiny) recordings: resumes after SIGKILL with identical tables, records failures.

Recordings are SynthPulse clips re-packaged as manifest datasets (real video files, real decoding, real face
detection, real codecs); classic methods keep it fast. The cross protocol tests on whole datasets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_data import build_datasets, smoke_training_sweep, sweep_file

from benchmark.errors import ConfigError
from benchmark.leaderboard.writer import write_leaderboards
from benchmark.paths import PROJECT_ROOT
from benchmark.results.store import ResultStore, integrity_problems
from benchmark.runner.cells import expand, load_sweep, sweep_from_dict

SWEEPS = sorted((PROJECT_ROOT / "configs" / "sweeps").glob("*.yaml"))


class _Entry:
    def __init__(self, kind, group):
        self.kind, self.group = kind, group


ENTRIES = {"pos": _Entry("none", "classic"), "tscan": _Entry("supervised", "supervised")}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_sweep_file_loads_and_expands(path):
    from benchmark.data.compression import compression_levels
    from benchmark.methods import METHODS

    sweep = load_sweep(path)
    assert sweep.version >= 1 and sweep.name == path.stem
    assert set(sweep.compression) <= set(compression_levels())
    names = METHODS.names() if "all" in sweep.methods else sweep.methods
    assert all(n in METHODS for n in names)
    assert expand(sweep, ENTRIES, {"tscan": {"epochs": 1}})


def test_cell_keys_and_training_reuse():
    sweep = sweep_from_dict({"name": "t", "compression": ["raw", "x264-250k"], "seeds": [0, 1]})
    cells = expand(sweep, ENTRIES, {"tscan": {"epochs": 1}})
    pos = [c for c in cells if c.method == "pos"]
    tscan = [c for c in cells if c.method == "tscan"]
    assert len(pos) == 2 and len(tscan) == 4  # a classic method runs for the first seed only
    assert len({c.key for c in cells}) == len(cells)
    assert len({c.training_key for c in tscan}) == 2  # one model per seed, reused across levels
    assert all(c.identity()["protocol_version"] == 1 for c in cells)
    bumped = sweep_from_dict(
        {"name": "t", "compression": ["raw", "x264-250k"], "seeds": [0, 1], "version": 2}
    )
    assert {c.key for c in expand(bumped, ENTRIES, {})}.isdisjoint({c.key for c in cells})
    with pytest.raises(ConfigError, match="unknown key 'nmae'"):
        sweep_from_dict({"nmae": "typo"})


# ------------------------------------------------------------------------------------- real sweeps
@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    return build_datasets(tmp_path_factory.mktemp("manifests"))


def _run(sweep: Path, db: Path, lb: Path, **popen) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "benchmark",
        "run",
        "--sweep",
        str(sweep),
        "--db",
        str(db),
        "--leaderboard-dir",
        str(lb),
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def _run_here(sweep: Path, db: Path, lb: Path, *extra: str) -> int:
    """The same command in this process (saves a Lightning import on a busy machine)."""
    from benchmark.cli import main

    return main(
        ["run", "--sweep", str(sweep), "--db", str(db), "--leaderboard-dir", str(lb), "--no-progress", *extra]
    )


@pytest.mark.slow
def test_failures_are_recorded_with_their_reason_and_the_rest_is_scored(datasets, tmp_path, monkeypatch):
    sweep = sweep_file(
        tmp_path / "s.yaml", "failures", datasets, ["noface", "corrupt", "nan"], ["raw"], ["pos", "green"]
    )
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))  # --wandb: offline (conftest), files kept here
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    assert _run_here(sweep, tmp_path / "r.sqlite", tmp_path / "lb", "--wandb") == 1  # failed cells: rc 1
    (run,) = (tmp_path / "wandb").glob("wandb/offline-run-*")
    assert list(run.glob("*.wandb"))
    with ResultStore(tmp_path / "r.sqlite") as store:
        cells = {(c["method"], c["test_set"]): c for c in store.cells()}
        assert len(cells) == 6
        for method in ("pos", "green"):
            ok = cells[(method, "noface")]
            assert ok["status"] == "done" and ok["metrics"]["n"] == 2 and ok["metrics"]["n_failed"] == 1
            failed = [p for p in store.predictions(ok["key"], whole_only=True) if p["error"]]
            assert len(failed) == 1 and failed[0]["error"].startswith("NoFaceError")
            assert cells[(method, "corrupt")]["status"] == "failed"
            assert "truncated or corrupt" in cells[(method, "corrupt")]["error"]
            assert cells[(method, "nan")]["status"] == "failed" and "NaN" in cells[(method, "nan")]["error"]
    corrupt_md = (tmp_path / "lb" / "noface-to-corrupt.md").read_text()
    assert "| classic | pos | failed |" in corrupt_md and "truncated or corrupt" in corrupt_md
    noface_md = (tmp_path / "lb" / "noface-to-noface.md").read_text()
    assert "(1 rec. failed)" in noface_md


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_resumes_with_identical_tables(datasets, tmp_path):
    levels, methods = ["raw", "x264-250k"], ["pos", "green"]
    sweep = sweep_file(tmp_path / "s.yaml", "resume", datasets, ["good"], levels, methods)
    db = tmp_path / "killed.sqlite"
    proc = _run(sweep, db, tmp_path / "lb_killed")
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if db.is_file():
            with ResultStore(db) as store:
                done = store.count("cells")
            if done >= 1:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with ResultStore(db) as store:
        killed_at = store.count("cells")
    assert 1 <= killed_at < 4 and integrity_problems(db) == []

    resumed = _run(sweep, db, tmp_path / "lb_killed")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert f"{killed_at} skipped (already done)" in out
    assert _run_here(sweep, tmp_path / "clean.sqlite", tmp_path / "lb_clean") == 0
    with ResultStore(db) as a, ResultStore(tmp_path / "clean.sqlite") as b:
        assert a.count("cells") == b.count("cells") == 4 and a.count("predictions") == b.count("predictions")
        assert {c["key"] for c in a.cells()} == {c["key"] for c in b.cells()}
        assert all(c["status"] == "done" for c in a.cells())
    assert integrity_problems(db) == []
    for name in ("good-to-good.md", "good-to-good.csv"):
        assert (tmp_path / "lb_killed" / name).read_text() == (tmp_path / "lb_clean" / name).read_text()
    with ResultStore(db) as store:  # the resumed run's line, which `leaderboard` writes again
        (note,) = store.run_notes()
        write_leaderboards(store, tmp_path / "lb_again", plots=False)
    assert f"{4 - killed_at} cells computed, {killed_at} reused from the database" in note
    for out in ("lb_killed", "lb_again"):
        assert f"- {note}" in (tmp_path / out / "README.md").read_text().splitlines()


# ------------------------------------------------------------------------------- checkpoint sharing
def test_identical_trainings_share_one_checkpoint(tmp_path):
    """kd-teacher is the PhysNet layout trained with PhysNet's recipe: the runner trains it once. The
    teacher cell is served the physnet checkpoint (data=None: any attempt to train would fail here), and that
    checkpoint loads into kd-teacher. Another seed, another network or another recipe does not share."""
    import torch

    from benchmark.methods import create_method
    from benchmark.methods.config import load_recipe
    from benchmark.methods.training import load_trained
    from benchmark.runner.cells import Cell
    from benchmark.runner.training import Trainer

    sweep = sweep_from_dict({"name": "share", "profile": "quick", "compression": ["raw"]})

    def cell(method, seed=0, recipe=None):
        return Cell(
            method,
            "supervised",
            True,
            "synth",
            "synth",
            "raw",
            seed,
            sweep,
            recipe or load_recipe(method, "quick"),
        )

    with ResultStore(tmp_path / "r.sqlite") as store:
        trainer = Trainer(sweep, store, None, tmp_path)
        physnet, teacher = cell("physnet"), cell("kd-teacher")
        assert physnet.training_key != teacher.training_key
        assert trainer.content_key(physnet) == trainer.content_key(teacher) is not None
        assert trainer.content_key(cell("physnet", seed=1)) != trainer.content_key(physnet)
        assert trainer.content_key(cell("kd-student-nokd")) != trainer.content_key(physnet)
        other_lr = {**load_recipe("physnet", "quick"), "lr": 0.123}
        assert trainer.content_key(cell("physnet", recipe=other_lr)) != trainer.content_key(physnet)
        assert trainer.content_key(cell("kd-student")) is None  # depends on a teacher: never shared

        torch.manual_seed(3)
        ckpt = tmp_path / "physnet.ckpt"
        torch.save({"state_dict": create_method("physnet").state_dict()}, ckpt)
        store.put_checkpoint(physnet.training_key, "physnet", str(ckpt), "now")
        store.put_checkpoint(trainer.content_key(physnet), "physnet", str(ckpt), "now")
        assert trainer.checkpoint(teacher) == ckpt
        assert store.checkpoint(teacher.training_key) == str(ckpt)  # recorded under its own key too
    loaded = load_trained("kd-teacher", ckpt)
    expected = torch.load(ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


def test_a_student_of_another_teacher_is_another_model(tmp_path, monkeypatch):
    """The kd-student's cell and checkpoint keys cover its teacher's recipe: changing the teacher reruns the
    student's finished cells and retrains it (a stale student once survived a teacher change), and moves no
    other method's key."""
    import shutil

    from benchmark.methods.config import load_recipe
    from benchmark.paths import config_dir
    from benchmark.runner.cells import Cell

    sweep = sweep_from_dict({"name": "dep", "profile": "quick", "compression": ["raw"]})

    def keys(store, method="kd-student"):
        cell = Cell(
            method, "supervised", True, "synth", "synth", "raw", 0, sweep, load_recipe(method, "quick")
        )  # fmt: skip
        return cell.key, cell.training_key  # the training key is the checkpoint's key too

    with ResultStore(tmp_path / "r.sqlite") as store:
        before, alone = keys(store), keys(store, "kd-student-nokd")
        configs = tmp_path / "configs"
        shutil.copytree(config_dir(), configs)
        teacher = configs / "methods" / "kd-teacher.yaml"
        teacher.write_text(teacher.read_text().replace("  quick:\n", "  quick:\n    weight_decay: 0.01\n", 1))
        monkeypatch.setenv("RPPG_CONFIG_DIR", str(configs))
        after = keys(store)
        assert keys(store, "kd-student-nokd") == alone  # no teacher, nothing moves
    assert all(b != a for b, a in zip(before, after))  # cell and training (= checkpoint) keys move


def test_a_method_that_computes_what_another_did_reuses_its_predictions(tmp_path, monkeypatch, caplog):
    """kd-teacher (PhysNet trained with its recipe) gets physnet's predictions in the same run instead of
    predicting the same numbers again."""
    from benchmark.cli import main

    monkeypatch.setenv("RPPG_ZOO_DIR", str(tmp_path / "zoo"))
    path = smoke_training_sweep(tmp_path / "t.yaml", "t", tmp_path / "manifests", ["physnet", "kd-teacher"])
    db = tmp_path / "t.sqlite"
    caplog.set_level("INFO", logger="benchmark.runner.sweep")
    assert main(["run", "--sweep", str(path), "--db", str(db), "--no-tables", "--no-progress"]) == 0
    assert "kd-teacher" in caplog.text and "the predictions of physnet" in caplog.text
    with ResultStore(db) as store:
        cells = {c["method"]: c for c in store.cells()}
        physnet, teacher = cells["physnet"], cells["kd-teacher"]
        strip = lambda rows: [{k: v for k, v in r.items() if k != "cell_key"} for r in rows]  # noqa: E731
        assert strip(store.predictions(teacher["key"])) == strip(store.predictions(physnet["key"]))
        assert teacher["metrics"] == physnet["metrics"] and teacher["key"] != physnet["key"]


def test_every_crop_side_of_the_sweep_is_cut_in_one_pass(tmp_path, monkeypatch):
    """A classic method (128-px crops for its means) and a network (crops at its input side) in one sweep:
    the first cell to need a test recording builds both sides from one decode, whichever unit it is in."""
    from benchmark.cli import main
    from benchmark.data import preprocess
    from benchmark.methods.config import load_recipe
    from benchmark.spec import CROP_SIZE

    monkeypatch.setenv("RPPG_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("RPPG_CACHE_DIR", str(tmp_path / "cache"))  # entries other tests built would be hits
    side = int(load_recipe("physnet", "smoke")["size"])
    assert side != CROP_SIZE
    builds, build = [], preprocess._build

    def spy(recording, level, face, tmps, encode_with=()):
        builds.append((recording.key, tuple(tmps)))
        return build(recording, level, face, tmps, encode_with)

    monkeypatch.setattr(preprocess, "_build", spy)
    path = smoke_training_sweep(tmp_path / "t.yaml", "t", tmp_path / "manifests", ["pos", "physnet"])
    assert (
        main(
            ["run", "--sweep", str(path), "--db", str(tmp_path / "t.sqlite"), "--no-tables", "--no-progress"]
        )
        == 0
    )
    with ResultStore(tmp_path / "t.sqlite") as store:
        tested = {p["recording"] for c in store.cells() for p in store.predictions(c["key"], whole_only=True)}
    assert tested and all(c["status"] == "done" for c in ResultStore(tmp_path / "t.sqlite").cells())
    by_recording = {}
    for key, sides in builds:
        by_recording.setdefault(key, []).append(sides)
    for key in tested:  # one pass, both sides, for every test recording
        assert by_recording[key] == [(CROP_SIZE, side)] or by_recording[key] == [(side, CROP_SIZE)], key
