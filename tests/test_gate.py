"""The MAE gate: regressions beyond tolerance fail, new methods are reported, an unchanged run passes."""

from __future__ import annotations

import argparse
import csv

import pytest

from benchmark.errors import ConfigError
from benchmark.leaderboard import gate
from benchmark.leaderboard.tables import ENTRY_COLUMNS


def _csv(path, rows):
    lines = [",".join(ENTRY_COLUMNS)]
    for method, level, mae, status in rows:
        row = {c: "" for c in ENTRY_COLUMNS}
        row.update(
            protocol="intra",
            train_set="synth",
            test_set="synth",
            method=method,
            level=level,
            mae="" if mae is None else str(mae),
            status=status,
        )
        lines.append(",".join(row[c] for c in ENTRY_COLUMNS))
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(baseline, results, **kw):
    parser = argparse.ArgumentParser()
    gate.add_arguments(parser)
    args = parser.parse_args(["--baseline", str(baseline), "--results", str(results)])
    for k, v in kw.items():
        setattr(args, k, v)
    return gate.main(args)


BASE = [("pos", "raw", 2.0, "done"), ("pos", "x264-250k", 3.0, "done"), ("tscan", "raw", 10.0, "done")]


def test_unchanged_results_pass(tmp_path, capsys):
    base = _csv(tmp_path / "base.csv", BASE)
    assert _run(base, base) == 0
    assert "gate: passed (3 rows" in capsys.readouterr().out


def test_regression_beyond_tolerance_fails_with_a_table(tmp_path, capsys):
    base = _csv(tmp_path / "base.csv", BASE)
    worse = _csv(
        tmp_path / "now.csv",
        [("pos", "raw", 2.4, "done"), ("pos", "x264-250k", 3.9, "done"), ("tscan", "raw", None, "failed")],
    )
    assert _run(base, worse) == 1
    out = capsys.readouterr().out
    assert "2 regression(s)" in out
    assert "| pos | synth | x264-250k | 3.00 | 3.90 | 3.50 | MAE worse |" in out
    assert "| tscan | synth | raw | 10.00 | — | 10.50 | failed:" in out
    assert "| pos | synth | raw |" not in out  # 2.0 -> 2.4 is within 0.5 bpm


def test_new_method_is_reported_not_failed_and_missing_row_fails(tmp_path, capsys):
    base = _csv(tmp_path / "base.csv", BASE)
    now = _csv(tmp_path / "now.csv", [*BASE, ("tdm", "raw", 4.0, "done")])
    assert _run(base, now) == 0
    assert (
        "| tdm | synth | raw | — | 4.00 | — | no baseline row (new): not gated |" in capsys.readouterr().out
    )
    assert _run(base, _csv(tmp_path / "less.csv", BASE[:2])) == 1


def test_update_writes_the_baseline(tmp_path):
    results = _csv(tmp_path / "now.csv", BASE)
    target = tmp_path / "sub" / "baseline.csv"
    assert _run(target, results, update=True) == 0
    assert target.read_text() == results.read_text()


# ------------------------------------------------------------------------ a real sweep, degraded on purpose
DEGRADED = {"on": False}


def probe(**overrides):
    """POS, or POS with its output shuffled in time when DEGRADED["on"] (a method made worse on purpose)."""
    import torch

    from benchmark.methods.base import MethodModule
    from benchmark.methods.classic import CLASSIC_SPEC, ClassicNet

    class Shuffled(ClassicNet):
        def forward(self, x):
            out = super().forward(x)
            return out[:, torch.randperm(out.shape[1], generator=torch.Generator().manual_seed(0))]

    net = (Shuffled if DEGRADED["on"] else ClassicNet)("pos")
    return MethodModule(net, CLASSIC_SPEC, loss=None, kind="none", name="gate-probe")


@pytest.fixture
def probe_method():
    from benchmark.methods import METHODS, register_method

    register_method("gate-probe", f"{__name__}:probe", kind="none", family="test")
    yield "gate-probe"
    METHODS._items.pop("gate-probe")  # other tests loop over the catalogue
    DEGRADED["on"] = False


@pytest.mark.slow
def test_gate_on_a_real_sweep_fails_a_degraded_method_and_passes_unchanged(tmp_path, probe_method, capsys):
    from sweep_data import build_datasets, sweep_file

    from benchmark.cli import main

    data = build_datasets(tmp_path / "data")
    sweep = sweep_file(tmp_path / "s.yaml", "gate", data, ["good"], ["raw"], [probe_method, "green"])
    baseline = tmp_path / "baseline.csv"
    common = ["gate", "--baseline", str(baseline), "--sweep", str(sweep), "--no-progress"]
    assert main([*common, "--update"]) == 0
    rows = list(csv.DictReader(open(baseline)))
    assert {r["method"] for r in rows} == {probe_method, "green"} and all(r["mae"] for r in rows)
    assert main(common) == 0  # deterministic: the same code gives the same MAE
    assert "gate: passed" in capsys.readouterr().out
    DEGRADED["on"] = True
    assert main(common) == 1
    out = capsys.readouterr().out
    assert "gate: FAILED, 1 regression(s)" in out and f"| {probe_method} | good | raw |" in out


def test_the_tolerance_comes_from_each_methods_measured_spread(tmp_path, capsys):
    """With spread.json beside the baseline a method's tolerance is SPREAD_FACTOR x its measured cross-CPU
    spread (at least FLOOR_BPM), nothing relative; a method not measured gets the largest; the command line
    still wins; a broken file is a ConfigError naming it."""
    import json

    base = _csv(tmp_path / "base.csv", BASE)
    slightly = _csv(tmp_path / "now.csv", [("pos", "raw", 2.1, "done"), *BASE[1:]])
    assert _run(base, slightly) == 0  # no spread.json: max(0.5 bpm, 5 %)
    spread = tmp_path / "spread.json"
    spread.write_text(json.dumps({"max_abs_mae_diff_bpm": 4.0, "by_method": {"pos": 0.02, "tscan": 4.0}}))
    assert _run(base, slightly) == 1  # pos: 0.1 bpm > 3 x 0.02
    assert "| pos | synth | raw | 2.00 | 2.10 | 2.06 | MAE worse |" in capsys.readouterr().out
    assert _run(base, _csv(tmp_path / "close.csv", [("pos", "raw", 2.05, "done"), *BASE[1:]])) == 0
    assert "per method 3 x its measured cross-CPU spread" in capsys.readouterr().out
    noisy = _csv(tmp_path / "noisy.csv", [*BASE[:2], ("tscan", "raw", 21.0, "done")])
    assert _run(base, noisy) == 0  # tscan moved 11 bpm across CPUs: 3 x 4.0 allowed
    spread.write_text(json.dumps({"max_abs_mae_diff_bpm": 0.0, "by_method": {"pos": 0.0}}))
    assert _run(base, _csv(tmp_path / "floor.csv", [("pos", "raw", 2.04, "done"), *BASE[1:]])) == 0
    assert _run(base, slightly, tolerance=0.5) == 0
    spread.write_text("{}")
    with pytest.raises(ConfigError, match="spread.json"):
        _run(base, slightly)
