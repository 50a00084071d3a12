"""Leaderboards from database rows only: groups, CIs, failed cells shown as failed, CSV, plots, README."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from benchmark.leaderboard.plots import pareto_front
from benchmark.leaderboard.writer import write_leaderboards
from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore

PROV = {"git_commit": "c0ffee1", "host": "test-host", "date": "2026-01-02T03:04:05+00:00"}
TRUE = [60.0, 70.0, 80.0, 90.0]


def _cell(store, method, group, level, errors, status="done", error=None, seed=0):
    ident = {
        "method": method,
        "group": group,
        "train_set": "synth",
        "test_set": "synth",
        "level": level,
        "seed": seed,
        "protocol": "intra",
        "protocol_version": 1,
        "sweep": "t",
        "profile": "smoke",
    }
    preds = (
        []
        if status == "failed"
        else [
            Prediction(f"synth/r{i}", f"s{i}", WHOLE, 0.0, t + e, t, 2.0 + i)
            for i, (t, e) in enumerate(zip(TRUE, errors))
        ]
    )
    key = f"{method}-{level}-{seed}"
    store.write_cell(
        CellResult(
            key,
            status,
            ident,
            {},
            {"k": key, "code": code_fingerprint()},
            PROV,
            error=error,
            predictions=preds,
        )
    )


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        _cell(s, "pos", "classic", "raw", [1, -1, 2, -2])
        _cell(s, "pos", "classic", "x264-250k", [3, -3, 4, -4])
        _cell(s, "green", "classic", "raw", [10, -10, 10, -10])
        _cell(s, "tscan", "supervised", "raw", [0.5, -0.5, 0.5, -0.5])
        _cell(
            s, "tscan", "supervised", "x264-250k", [], status="failed", error="RuntimeError: exploded\ntrace"
        )
        s.put_efficiency(
            {
                "method": "pos",
                "group": "classic",
                "device": "cpu",
                "host": "h",
                "estimated": False,
                "macs_per_30s": 1e7,
                "params_total": 0,
            },
            "d",
        )
        s.put_efficiency(
            {
                "method": "tscan",
                "group": "supervised",
                "device": "cpu",
                "host": "h",
                "estimated": False,
                "macs_per_30s": 4e10,
                "params_total": 532899,
            },
            "d",
        )
        yield s


def test_tables_from_rows(store, tmp_path):
    out = tmp_path / "lb"
    paths = write_leaderboards(store, out, levels=["raw", "x264-250k"])
    md = (out / "synth.md").read_text()
    mae_table = md.split("### synth: RMSE")[0]
    lines = [ln for ln in mae_table.splitlines() if ln.startswith("| ")]
    assert lines[0] == "| group | method | raw | x264-250k |"
    # supervised first, then classic sorted by MAE at raw (pos 1.5 before green 10)
    assert [ln.split(" | ")[1] for ln in lines[1:]] == ["tscan", "pos", "green"]
    assert "| supervised | tscan | 0.50 [" in lines[1] and lines[1].endswith("| failed |")
    assert "| classic | pos | 1.50 [" in lines[2] and "| 3.50 [" in lines[2]
    assert "tscan @ x264-250k: RuntimeError: exploded" in mae_table
    rows = list(csv.DictReader(open(out / "synth.csv")))
    pos_raw = next(r for r in rows if r["method"] == "pos" and r["level"] == "raw")
    assert float(pos_raw["mae"]) == pytest.approx(1.5)
    assert float(pos_raw["rmse"]) == pytest.approx(np.sqrt(np.mean(np.square([1, 1, 2, 2]))))
    assert float(pos_raw["mae_low"]) <= 1.5 <= float(pos_raw["mae_high"])
    assert next(r for r in rows if r["method"] == "tscan" and r["level"] == "x264-250k")["status"] == "failed"
    for name in ("synth_mae_vs_compression.png", "synth_mae_vs_macs.png", "efficiency.md", "efficiency.csv"):
        assert (out / name).is_file() and (out / name) in paths
    readme = (out / "README.md").read_text()
    assert (
        "c0ffee1" in readme
        and "test-host" in readme
        and "smoke" in readme
        and "[synth.md](synth.md)" in readme
    )


def test_same_rows_give_identical_tables(store, tmp_path):
    write_leaderboards(store, tmp_path / "a", plots=False)
    write_leaderboards(store, tmp_path / "b", plots=False)
    for name in ("synth.md", "synth.csv", "efficiency.md"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_pareto_front():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (10.0, 1.0)]
    assert pareto_front(points) == [0, 1, 3]


def test_scenario_breakdown_scores_each_tag_value_from_its_own_recordings(store, tmp_path):
    from types import SimpleNamespace

    scenario = {0: "still", 1: "still", 2: "motion", 3: "motion"}
    store.put_recordings(
        [
            SimpleNamespace(key=f"synth/r{i}", subject=f"s{i}", tags={"scenario": s})
            for i, s in scenario.items()
        ]
    )
    write_leaderboards(store, tmp_path / "lb", plots=False)
    text = (tmp_path / "lb" / "synth.md").read_text()
    section = text[text.index("MAE by scenario at raw") :]
    rows = {line.split("|")[2].strip(): line for line in section.splitlines() if line.startswith("| ")}
    assert rows["method"].split("|")[3:5] == [" motion ", " still "]
    # pos errors: still recordings 1 and -1 (MAE 1), motion 2 and -2 (MAE 2)
    assert rows["pos"].split("|")[3].strip().startswith("2.00") and rows["pos"].split("|")[
        4
    ].strip().startswith("1.00")


def test_no_breakdown_without_recording_tags(store, tmp_path):
    write_leaderboards(store, tmp_path / "lb", plots=False)
    assert "MAE by scenario" not in (tmp_path / "lb" / "synth.md").read_text()


def test_the_change_from_raw_is_paired_by_recording_with_a_subject_bootstrap_ci(store, tmp_path):
    from benchmark.leaderboard.tables import collect_entries, compression_change_table

    entries = collect_entries(store, n_boot=200)
    table = compression_change_table(store, entries, ["raw", "x264-250k"], "t")
    rows = {r[1]: r[2] for r in table.rows}
    # pos: |errors| 1,1,2,2 at raw and 3,3,4,4 at x264-250k on the same recordings: +2 on every one
    assert rows["pos"] == "+2.00 [+2.00, +2.00] ↑"
    assert rows["tscan"] == "—" and rows["green"] == "—"  # failed cell; no compressed cell
    assert compression_change_table(store, entries, ["x264-250k", "raw"], "t") is None
    # a change within the spread between recordings gets no arrow
    with ResultStore(tmp_path / "spread.sqlite") as s:
        _cell(s, "pos", "classic", "raw", [1, 5, 1, 5])
        _cell(s, "pos", "classic", "x264-250k", [5, 1, 5, 1.5])
        mixed = compression_change_table(s, collect_entries(s, n_boot=200), ["raw", "x264-250k"], "t")
    assert mixed.rows[0][2].startswith("+0.12 [") and "↑" not in mixed.rows[0][2]
    write_leaderboards(store, tmp_path / "lb", plots=False)
    texts = [f.read_text() for f in (tmp_path / "lb").glob("*.md")]
    boards = [t for t in texts if t.startswith("# Leaderboard:")]
    assert boards and all("MAE change from raw, paired by recording" in text for text in boards)


def test_places_by_mae_carry_a_paired_interval_and_mark_what_the_test_set_cannot_separate(store, tmp_path):
    from benchmark.leaderboard.tables import collect_entries, rank_table

    table = rank_table(store, collect_entries(store, n_boot=200), ["raw", "x264-250k"], "t", n_boot=200)
    rows = {r[1]: r[2:] for r in table.rows}
    # at raw every draw orders them alike (|errors| 0.5 each; 1 to 2; 10 each): intervals of one place
    assert [r[1] for r in table.rows] == ["tscan", "pos", "green"]
    assert rows["tscan"][0] == "1 [1, 1]" and rows["pos"][0] == "2 [2, 2]" and rows["green"][0] == "3 [3, 3]"
    assert all(cells[1] == "—" for cells in rows.values())  # x264-250k: one method has a heart rate there
    with ResultStore(tmp_path / "close.sqlite") as s:
        _cell(s, "pos", "classic", "raw", [1, 5, 1, 5])
        _cell(s, "chrom", "classic", "raw", [1, 5, 1, 5])  # the same errors: the same place
        _cell(s, "lgi", "classic", "raw", [5, 1, 5, 1.5])  # 0.125 worse, within the spread between recordings
        _cell(s, "green", "classic", "raw", [9, 9, 9, 9])
        close = rank_table(s, collect_entries(s, n_boot=200), ["raw"], "t", n_boot=200)
    places = {r[1]: r[2] for r in close.rows}
    assert places["chrom"] == places["pos"] == "1 [1, 2]"  # second, together, where a draw puts lgi first
    assert places["lgi"].startswith("3 [1, 3]") and places["lgi"].endswith(" ≈")
    assert places["green"] == "4 [4, 4]"
    write_leaderboards(store, tmp_path / "lb", plots=False)
    assert "place by MAE (95% interval" in (tmp_path / "lb" / "synth.md").read_text()


def test_the_readme_keeps_the_last_runs_line_when_written_again_from_the_database(store, tmp_path):
    # a sweep stores its line (cells computed, wall time); `leaderboard` alone would otherwise drop it
    store.put_run_note("t", "last `run` of sweep t: 4 cells computed, 12 s wall time", "d1")
    store.put_run_note("t", "last `run` of sweep t: 5 cells computed, 13 s wall time", "d2")  # replaces
    write_leaderboards(store, tmp_path / "lb", plots=False, extra_notes=["a note", "a note"])
    lines = (tmp_path / "lb" / "README.md").read_text().splitlines()
    assert "- last `run` of sweep t: 5 cells computed, 13 s wall time" in lines
    assert not any("4 cells computed" in line for line in lines) and lines.count("- a note") == 1
    with ResultStore(store.path) as again:  # another process reads what the sweep wrote
        assert again.run_notes() == ["last `run` of sweep t: 5 cells computed, 13 s wall time"]


def test_compare_pairs_two_methods_by_recording_and_says_which_is_lower(store, tmp_path, capsys):
    import json

    from benchmark.cli import main
    from benchmark.leaderboard.compare import paired_comparisons

    (row,) = paired_comparisons(store, "pos", "green")  # green has no x264-250k row
    # |errors| 1, 1, 2, 2 against 10 on each of the same four recordings (four subjects)
    assert (row["level"], row["recordings"], row["subjects"]) == ("raw", 4, 4)
    assert (row["mae_a"], row["mae_b"], row["difference"]) == (1.5, 10.0, -8.5)
    assert row["low"] <= -8.5 <= row["high"] < 0 and row["verdict"] == "pos lower"
    store.conn.commit()
    db = str(store.path)
    assert main(["compare", "green", "pos", "--db", db, "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["verdict"] == "pos lower" and json.loads(line)["difference"] == 8.5
    assert main(["compare", "pos", "green", "--db", db]) == 0
    assert "-8.50 [" in capsys.readouterr().out
    assert main(["compare", "pos", "nosuch", "--db", db]) == 2
    assert "no rows of method 'nosuch'; it has: green, pos, tscan" in capsys.readouterr().err
    assert main(["compare", "pos", "green", "--db", db, "--level", "x264-250k"]) == 2
    assert "no heart rates on common recordings at level(s) x264-250k" in capsys.readouterr().err
    assert main(["compare", "pos", "pos", "--db", db]) == 2
