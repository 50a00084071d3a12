"""Efficiency profiling: exact parameter counts, MACs against torch's own FLOP counter, labelled estimates."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmark.methods import METHODS, create_method
from benchmark.profiling.counting import fvcore_macs, torch_flop_counter_macs
from benchmark.profiling.profile import example_input, profile_module, profiled_network
from benchmark.profiling.roofline import estimate_row

# methods.md, "exact": what the efficiency table must show
EXACT_PARAMS = {
    "tscan": 532_899,
    "deepphys": 532_899,
    "physnet": 768_577,
    "kd-teacher": 768_577,
    "kd-student-nokd": 24_455,
    "sspd": 786_079,
    "rppgnet": 550_779,
}


def _row(name: str) -> dict:
    module = create_method(name)
    return profile_module(module, name, METHODS.get(name).group, repeats=2, budget_s=2.0)


@pytest.mark.parametrize("name", [pytest.param("tscan", marks=pytest.mark.slow), "kd-student-nokd"])
def test_row_has_exact_params_and_macs_within_5_percent_of_flop_counter(name):
    if name not in METHODS:
        pytest.skip(f"{name} is not registered")
    row = _row(name)
    assert row["params_total"] == EXACT_PARAMS[name] == row["params_trainable"]
    module = create_method(name)
    net, frames = profiled_network(module)
    reference = torch_flop_counter_macs(net, example_input(module.input_spec, frames))
    assert reference > 0
    assert abs(row["macs_per_chunk"] - reference) / reference < 0.05
    assert row["macs_per_frame"] == pytest.approx(row["macs_per_chunk"] / frames)
    assert row["macs_per_30s"] == pytest.approx(row["macs_per_frame"] * 900)
    assert row["latency_30s_ms"] > 0 and row["peak_memory_mb"] > 0 and row["threads"] >= 1
    assert row["host"] and row["estimated"] is False


def test_every_registered_network_has_its_exact_parameter_count():
    """The profiler counts the inference network (what the table shows) of every network methods.md fixes."""
    from benchmark.profiling.measure import count_parameters

    checked = [name for name in METHODS.names() if name in EXACT_PARAMS]
    for name in checked:
        assert count_parameters(create_method(name).net) == (EXACT_PARAMS[name],) * 2, name
    assert len(checked) >= 2


def test_handlers_count_what_fvcore_skips():
    """Element-wise ops and 3-D pooling are counted (one MAC per element); convolutions exactly."""
    net = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, bias=False), nn.Tanh(), nn.AvgPool3d((1, 2, 2)))
    x = torch.rand(1, 3, 4, 8, 8)
    counted = fvcore_macs(net, x)
    conv = 4 * 4 * 8 * 8 * 3 * 27
    assert counted["by_operator"]["conv"] == conv == torch_flop_counter_macs(net, x)
    assert counted["by_operator"]["tanh"] == 4 * 4 * 8 * 8
    assert counted["by_operator"]["avg_pool3d"] == 4 * 4 * 8 * 8
    assert counted["uncounted"] == {}


def test_classic_methods_cost_something_and_estimates_are_labelled():
    row = _row("pos")
    assert row["params_total"] == 0
    assert row["macs_per_frame"] >= 3 * 72 * 72  # at least the spatial mean of the 72x72 crop
    assert row["latency_30s_ms"] > 0
    est = estimate_row(row)
    assert est["estimated"] is True and "estimate" in est["device"] and "not measured" in est["note"]
    from benchmark.leaderboard.tables import efficiency_table

    md = efficiency_table([row, est]).markdown()
    assert "ESTIMATE (roofline)" in md and "measured" in md


# ------------------------------------------------------------------------------ issue 23: measured edge rows
def test_classic_macs_count_the_algorithm_not_only_the_spatial_mean():
    from benchmark.profiling.counting import classic_macs

    row = _row("pos")
    by_op = row["macs_by_operator"]
    assert by_op["spatial_mean"] == 3 * 72 * 72 * 900
    assert by_op["pos:windowed_projection"] > 0 and by_op["pos:overlap_add"] > 0
    assert row["macs_per_chunk"] == sum(by_op.values()) > by_op["spatial_mean"]
    assert row["uncounted_ops"] == {}
    # every classic algorithm has a count that grows with the frames
    from benchmark.methods.classic import CLASSIC

    for algorithm in CLASSIC.names():
        small, large = (sum(classic_macs(algorithm, t).values()) for t in (300, 900))
        assert 0 < small < large, algorithm
    chrom = classic_macs("chrom", 900)
    assert chrom["bandpass_filtfilt"] > 0  # the band-pass filtering is counted


def test_store_keys_runtime_and_precision_and_keeps_legacy_keys(tmp_path):
    from benchmark.results.store import ResultStore

    base = {"method": "m", "group": "supervised", "device": "cpu", "host": "h", "estimated": False}
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.put_efficiency(base, "d")  # a row written before runtimes existed
        store.put_efficiency({**base, "runtime": "torch", "precision": "fp32", "batch": 1}, "d")
        store.put_efficiency({**base, "runtime": "onnxruntime", "precision": "fp32", "batch": 1}, "d")
        store.put_efficiency({**base, "runtime": "torch", "precision": "fp16", "batch": 4}, "d")
        rows = store.efficiency()
        keys = [k[0] for k in store.conn.execute("SELECT device FROM efficiency ORDER BY device")]
    assert len(rows) == 3  # the torch fp32 batch-1 row replaced the legacy one: same measurement
    assert keys == ["cpu", "cpu/precision=fp16/batch=4", "cpu/runtime=onnxruntime"]
    assert {r["device"] for r in rows} == {"cpu"}


def test_profile_onnxruntime_row_carries_runtime_fields():
    pytest.importorskip("onnxruntime")
    module = create_method("kd-student-nokd")
    row = profile_module(
        module, "kd-student-nokd", "supervised", repeats=2, budget_s=2.0, runtime="onnxruntime"
    )
    assert (row["runtime"], row["precision"], row["batch"], row["threads"]) == ("onnxruntime", "fp32", 1, 1)
    assert row["latency_30s_ms"] > 0 and row["latency_p90_30s_ms"] >= row["latency_30s_ms"]
    assert row["params_total"] == EXACT_PARAMS["kd-student-nokd"] and row["macs_per_chunk"] > 0


def test_profile_runtime_rejects_classic_methods(capsys, tmp_path):
    from benchmark.cli import main

    db = str(tmp_path / "r.sqlite")
    assert main(["profile", "--methods", "pos", "--runtime", "onnxruntime", "--db", db]) == 2
    assert "no network to export" in capsys.readouterr().err


EDGE_TOOL = Path(__file__).resolve().parents[1] / "tools" / "edge_latency.py"


def _edge_csv(tmp_path) -> Path:
    """kd-student-nokd exported and timed by tools/edge_latency.py in a Python that cannot import torch."""
    pytest.importorskip("onnxruntime")
    from benchmark.export import export_method

    model, _ = export_method("kd-student-nokd", tmp_path / "kd-student-nokd.onnx", random_weights=True)
    out = tmp_path / "edge.csv"
    no_torch = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['benchmark'] = None; "
        f"sys.argv = ['edge_latency.py', {str(model)!r}, '--out', {str(out)!r}, '--repeats', '2', "
        "'--warmup', '1']; runpy.run_path(" + repr(str(EDGE_TOOL)) + ", run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", no_torch], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "kd-student-nokd" in done.stdout and out.is_file()
    return out


def test_edge_harness_csv_is_imported_and_replaces_the_estimate(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.results.store import ResultStore

    out = _edge_csv(tmp_path)
    with open(out) as f:
        row = next(csv.DictReader(f))
    assert row["chunk_frames"] == "128" and row["chunks_per_30s"] == "8" and row["runtime"] == "onnxruntime"
    assert float(row["latency_p90_30s_ms"]) >= float(row["latency_30s_ms"]) > 0
    db = tmp_path / "r.sqlite"
    # a torch row on this machine first: it adds the labelled jetson-nano estimate
    args = ["profile", "--methods", "kd-student-nokd", "--repeats", "2", "--budget", "2", "--db", str(db)]
    assert main(args) == 0
    with ResultStore(db) as store:
        assert any(r["estimated"] and r["device"] == "jetson-nano (estimate)" for r in store.efficiency())
    capsys.readouterr()
    assert main(["profile", "--import", str(out), "--device-name", "jetson-nano", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "| jetson-nano |" in table and "onnxruntime" in table and "ESTIMATE" not in table
    with ResultStore(db) as store:
        rows = store.efficiency()
    edge = [r for r in rows if r["device"] == "jetson-nano"]
    assert len(edge) == 1 and edge[0]["estimated"] is False
    assert edge[0]["latency_30s_ms"] == pytest.approx(float(row["latency_30s_ms"]))
    assert edge[0]["macs_per_30s"] is not None  # counts taken from the method's measured row
    assert not [r for r in rows if r["estimated"]]  # the estimate stays only where nothing is measured
    # another device name keeps the jetson-nano rows and adds its own
    assert main(["profile", "--import", str(out), "--device-name", "jetson-orin-nano", "--db", str(db)]) == 0
    with ResultStore(db) as store:
        assert {r["device"] for r in store.efficiency()} == {"cpu", "jetson-nano", "jetson-orin-nano"}


BAD_EDITS = {
    "missing column": (lambda h, r: ([c for c in h if c != "latency_30s_ms"], r), "latency_30s_ms"),
    "not a number": (lambda h, r: (h, {**r, "latency_30s_ms": "fast"}), "not a number"),
    "unknown method": (lambda h, r: (h, {**r, "method": "nonet"}), "unknown method 'nonet'"),
    "negative": (lambda h, r: (h, {**r, "threads": "-1"}), "threads"),
    "wrong chunk": (lambda h, r: (h, {**r, "chunk_frames": "64", "chunks_per_30s": "15"}), "64-frame"),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_malformed_edge_csv_is_a_named_error_and_writes_nothing(case, tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.results.store import ResultStore

    good = {
        "format": "1", "method": "tdm", "model": "tdm.onnx", "model_sha256": "0", "runtime": "onnxruntime",
        "provider": "CPUExecutionProvider", "precision": "fp32", "batch": "1", "threads": "4",
        "chunk_frames": "160", "chunks_per_30s": "6", "runs_per_30s": "6", "warmup": "3", "repeats": "10",
        "latency_30s_ms": "50.0", "latency_p90_30s_ms": "55.0", "latency_chunk_ms": "8.0",
        "host": "NVIDIA Jetson Orin Nano", "machine": "aarch64", "onnxruntime": "1.18", "date": "2026",
    }  # fmt: skip
    edit, expected = BAD_EDITS[case]
    header, bad = edit(list(good), good)
    path = tmp_path / "edge.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerow(good)  # line 2 is fine: nothing of it may be written either
        writer.writerow(bad)  # line 3
    db = tmp_path / "r.sqlite"
    assert main(["profile", "--import", str(path), "--device-name", "jetson-orin-nano", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and expected in err
    assert ("line 1" if case == "missing column" else "line 3") in err
    with ResultStore(db) as store:
        assert store.efficiency() == []


def test_a_release_is_profiled_as_its_network_at_the_released_input(tmp_path):
    """bench-all's released rows get efficiency rows too: the release's network at the input it was
    trained on (72x72, 128 frames), no weights needed, in the pretrained group; the sweep profiles them."""
    from benchmark.methods.registry import PRETRAINED_GROUP
    from benchmark.results.store import ResultStore
    from benchmark.runner.sweep import profile_missing

    name = "physnet@ubfc-rppg-rppgtoolbox"
    with ResultStore(tmp_path / "r.sqlite") as store:
        profile_missing(store, ["chance", name], {}, "zoo")
        rows = {r["method"]: r for r in store.efficiency() if not r.get("estimated")}
    row = rows[name]
    assert row["group"] == PRETRAINED_GROUP and row["config"] == "as released"
    assert row["params_total"] == EXACT_PARAMS["physnet"] and row["latency_30s_ms"] > 0
    small = create_method("physnet", size=36, frames=128)
    net, frames = profiled_network(small)
    at_36 = torch_flop_counter_macs(net, example_input(small.input_spec, frames))
    assert row["macs_per_chunk"] == pytest.approx(4 * at_36, rel=0.05)  # 72^2 / 36^2 pixels
