"""The results database: atomic cell writes, replace-on-retry, integrity checks, on a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore, integrity_problems

IDENTITY = {
    "method": "pos",
    "group": "classic",
    "train_set": "synth",
    "test_set": "synth",
    "level": "raw",
    "seed": 0,
    "protocol": "intra",
    "protocol_version": 1,
    "sweep": "t",
    "profile": "smoke",
}
PROV = {"git_commit": "abc123", "host": "test-host", "date": "2026-01-01T00:00:00+00:00"}


def result(key: str, status: str = "done", predictions=None, error=None) -> CellResult:
    preds = (
        predictions
        if predictions is not None
        else [
            Prediction("synth/a", "s0", WHOLE, 0.0, 70.0, 72.0, 3.0),
            Prediction("synth/a", "s0", 0, 0.0, 71.0, 72.0),
            Prediction("synth/b", "s1", WHOLE, 0.0, None, None, None, "DataError: corrupt"),
        ]
    )
    return CellResult(
        key,
        status,
        IDENTITY,
        {"mae": 2.0},
        {"k": key, "code": code_fingerprint()},
        PROV,
        error=error,
        predictions=preds,
    )


def test_write_and_read_back(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write_cell(result("k1"))
        assert store.status("k1") == "done" and store.done_keys() == {"k1"}
        (cell,) = store.cells()
        assert (
            cell["metrics"] == {"mae": 2.0}
            and cell["git_commit"] == "abc123"
            and cell["protocol_version"] == 1
        )
        preds = store.predictions("k1")
        assert [(p["recording"], p["window"]) for p in preds] == [
            ("synth/a", -1),
            ("synth/a", 0),
            ("synth/b", -1),
        ]
        assert preds[2]["error"] == "DataError: corrupt" and preds[2]["hr_pred"] is None
        assert len(store.predictions("k1", whole_only=True)) == 2
        mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert integrity_problems(tmp_path / "r.sqlite") == []


def test_a_failing_write_leaves_nothing_behind(tmp_path):
    """Two predictions with the same (recording, window) violate the key: the whole cell is rolled back."""
    dup = [
        Prediction("synth/a", "s0", WHOLE, 0.0, 70.0, 72.0),
        Prediction("synth/a", "s0", WHOLE, 0.0, 1.0, 2.0),
    ]
    with ResultStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.write_cell(result("bad", predictions=dup))
        assert store.count("cells") == 0 and store.count("predictions") == 0
        store.write_cell(result("good"))
        assert store.count("cells") == 1 and store.count("predictions") == 3


def test_retrying_a_failed_cell_replaces_its_rows(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write_cell(result("k", status="failed", predictions=[], error="RuntimeError: boom"))
        assert store.status("k") == "failed" and store.cells()[0]["error"] == "RuntimeError: boom"
        store.write_cell(result("k"))
        assert store.status("k") == "done" and store.count("cells") == 1 and store.count("predictions") == 3


def test_integrity_problems_are_found(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        store.write_cell(result("k", predictions=[]))
    assert integrity_problems(path) == ["done cell k has no predictions"]


def test_checkpoints_and_efficiency_rows(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        assert store.checkpoint("t") is None
        store.put_checkpoint("t", "tscan", "/x/best.ckpt", "d")
        assert store.checkpoint("t") == "/x/best.ckpt"
        row = {"method": "pos", "device": "cpu", "host": "h", "params_total": 0}
        store.put_efficiency(row, "d")
        store.put_efficiency({**row, "params_total": 1}, "d")  # same method/device/host: replaced
        assert store.efficiency() == [{**row, "params_total": 1}]


def test_rows_of_other_code_can_be_dropped_with_their_predictions(tmp_path):
    """A committed claim database re-run on the current code keeps only that code's rows (the superseded
    ones stay in git history): the cells of other code and their predictions go."""
    from dataclasses import replace

    with ResultStore(tmp_path / "r.sqlite") as store:
        store.write_cell(result("now"))
        for i in range(20):
            old = result(f"old{i}")
            store.write_cell(replace(old, config={"k": old.key, "code": "0ldc0de00000"}))
        assert store.drop_other_code(code_fingerprint()) == 20
        assert store.done_keys() == {"now"} and len(store.predictions("now")) == 3
        assert store.count("predictions") == 3
        assert store.drop_other_code(code_fingerprint()) == 0
    assert integrity_problems(tmp_path / "r.sqlite") == []
