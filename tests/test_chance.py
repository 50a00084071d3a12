"""The chance row: the training set's mean heart rate, through the same train / predict / score path."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.leaderboard.tables import clears_chance, metric_table
from benchmark.methods import METHODS, create_method
from benchmark.results.fingerprint import code_fingerprint


@pytest.fixture(scope="module")
def smoke():
    from benchmark.data.datasets import load_dataset

    return load_dataset("synth", preset="smoke", subjects=3, scenarios=["still"], duration_s=8.0)


def test_chance_is_registered_in_its_own_group():
    entry = METHODS.get("chance")
    assert entry.group == "baseline" and entry.kind == "baseline"


def test_chance_learns_the_training_mean_and_answers_it_for_any_video(smoke, tmp_path):
    from benchmark.data.datamodule import RPPGDataModule
    from benchmark.evaluation.hr import estimate_hr
    from benchmark.evaluation.inference import predict_bvp
    from benchmark.methods.baseline import reference_hr
    from benchmark.methods.training import fit_method, load_trained

    module = create_method("chance")
    datamodule = RPPGDataModule(smoke, [], [], module.input_spec)
    checkpoint = fit_method(module, datamodule, max_epochs=1, out_dir=tmp_path)
    truths = [r.hr_reference for r in smoke]
    assert len(set(np.round(truths, 1))) == len(truths)  # subjects differ: the mean is not any one of them
    expected = float(np.mean([reference_hr(r) for r in smoke]))
    assert abs(expected - float(np.mean(truths))) < 1.5  # the reference PPG's HR is the generator's truth
    loaded = load_trained("chance", checkpoint)
    assert float(loaded.net.hr_bpm) == pytest.approx(expected)
    noise = np.random.default_rng(0).integers(0, 255, (300, 16, 16, 3), dtype=np.uint8)
    for fps in (25.0, 30.0):
        bvp = predict_bvp(loaded, noise, fps)
        assert estimate_hr(bvp, fps) == pytest.approx(expected, abs=0.5)


def entry(method, group, mae, low, high, level="raw"):
    return {"method": method, "group": group, "level": level, "status": "done", "mae": mae,
            "mae_low": low, "mae_high": high}  # fmt: skip


def test_rows_whose_ci_does_not_clear_chance_are_marked():
    chance = entry("chance", "baseline", 20.0, 17.0, 23.0)
    good = entry("physnet", "supervised", 5.0, 3.0, 7.0)
    overlapping = entry("tscan", "supervised", 16.0, 12.0, 18.0)
    assert clears_chance(good, chance) and not clears_chance(overlapping, chance)
    assert clears_chance(good, None)
    table = metric_table([chance, good, overlapping], "mae", ["raw"], "t")
    rows = {r[1]: r[2] for r in table.rows}
    assert rows["physnet"].endswith("]") and rows["tscan"].endswith("†") and not rows["chance"].endswith("†")
    assert [r[0] for r in table.rows][-1] == "baseline"
    assert any(n.startswith("†") for n in table.notes)


def test_boards_state_their_test_set_size(tmp_path):
    from benchmark.leaderboard.tables import collect_entries, test_set_line
    from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore

    prov = {"git_commit": "c", "host": "h", "date": "2026-01-01T00:00:00+00:00"}
    with ResultStore(tmp_path / "r.sqlite") as store:
        for method in ("pos", "chance"):
            ident = {
                "method": method, "group": "classic", "train_set": "a", "test_set": "b", "level": "raw",
                "seed": 0, "protocol": "cross", "protocol_version": 1, "sweep": "t", "profile": "quick",
            }  # fmt: skip
            preds = [
                Prediction(f"b/s{i // 2}-r{i}", f"s{i // 2}", WHOLE, 0.0, 70.0 + i, 70.0, 1.0)
                for i in range(6)
            ]
            preds.append(Prediction("b/bad", "", WHOLE, 0.0, None, None, None, "DataError: bad"))
            store.write_cell(
                CellResult(method, "done", ident, {}, {"code": code_fingerprint()}, prov, predictions=preds)
            )
        line = test_set_line(store, collect_entries(store, n_boot=10))
    assert line == "Test set: 3 subjects, 7 recordings."
