"""Leaderboard plots: agreement grids written per board, one style per method, one panel per codec, labels
that do not overlap, the Pareto front as a step line."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from benchmark.leaderboard.plots import (  # noqa: E402
    MARKERS,
    agreement_figures,
    codec_panels,
    compression_figure,
    macs_figure,
    method_order,
    method_styles,
    recording_pairs,
)
from benchmark.leaderboard.writer import write_leaderboards  # noqa: E402
from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore  # noqa: E402

PROV = {"git_commit": "c0ffee1", "host": "test-host", "date": "2026-01-02T03:04:05+00:00"}
TRUE = [60.0, 70.0, 80.0, 90.0]
LEVELS = ["raw", "x264-250k", "x265-250k"]


def _cell(store, method, group, level, errors, status="done", seed=0, failed_recording=None):
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
    preds = []
    if status == "done":
        for i, (t, e) in enumerate(zip(TRUE, errors)):
            failed = i == failed_recording
            preds.append(
                Prediction(
                    f"synth/r{i}",
                    f"s{i}",
                    WHOLE,
                    0.0,
                    None if failed else t + e,
                    t,
                    2.0,
                    "SignalError: no peak" if failed else None,
                )
            )
    key = f"{method}-{level}-{seed}"
    store.write_cell(
        CellResult(
            key,
            status,
            ident,
            {},
            {"code": code_fingerprint()},
            PROV,
            error="RuntimeError: exploded" if status == "failed" else None,
            predictions=preds,
        )
    )


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        for level in LEVELS:
            for seed in (0, 1):
                _cell(s, "pos", "classic", level, [1, -1, 2, -2], seed=seed, failed_recording=2)
                _cell(s, "green", "classic", level, [10, -10, 10, -10], seed=seed)
        _cell(s, "tscan", "supervised", "raw", [0.5, -0.5, 0.5, -0.5], seed=0)
        _cell(s, "tscan", "supervised", "raw", [], status="failed", seed=1)
        for method, group, macs in (("pos", "classic", 1e7), ("tscan", "supervised", 4e10)):
            s.put_efficiency(
                {
                    "method": method,
                    "group": group,
                    "device": "cpu",
                    "host": "h",
                    "estimated": False,
                    "macs_per_30s": macs,
                },
                "d",
            )
        yield s


def test_write_leaderboards_writes_agreement_grids_and_indexes_them(store, tmp_path):
    out = tmp_path / "lb"
    paths = write_leaderboards(store, out, levels=LEVELS)
    readme = (out / "README.md").read_text()
    for name in ("synth_bland_altman.png", "synth_scatter.png", "synth_mae_vs_compression.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 10_000 and out / name in paths
        assert f"[{name}]({name})" in readme
    assert not (out / "synth_bland_altman.png").read_bytes() == (out / "synth_scatter.png").read_bytes()


def test_agreement_panels_pool_seeds_and_count_failures_in_titles(store):
    board = [e for e in _entries(store) if e["test_set"] == "synth"]
    pairs = recording_pairs(store, board, "raw")
    assert sorted(pairs) == ["green", "pos", "tscan"]
    assert len(pairs["pos"]["pred"]) == 8  # two seeds x four recordings, pooled
    assert pairs["tscan"]["cells_failed"] == 1 and pairs["tscan"]["cells_done"] == 1
    ba, sc = agreement_figures(pairs, "synth", "raw", method_styles(method_order(board)))
    try:
        for fig in (ba, sc):
            titles = {ax.get_title() for ax in fig.axes if ax.get_visible()}
            assert "pos (n=6, 2 failed/no HR)" in titles  # recording 2 failed in both seeds
            assert "green (n=8)" in titles
            assert "tscan (n=4, 1 seed(s) failed)" in titles
    finally:
        plt.close(ba)
        plt.close(sc)


def _entries(store):
    from benchmark.leaderboard import tables

    return tables.collect_entries(store, n_boot=50)


METHODS_18 = [
    *(
        ("supervised", m)
        for m in ("deepphys", "efficientphys", "physnet", "rppgnet", "stven-rppgnet", "tscan")
    ),
    *(("supervised", m) for m in ("tdm", "kd-teacher", "kd-student", "kd-student-nokd")),
    ("unsupervised (learned)", "sspd"),
    *(("classic", m) for m in ("green", "ica", "chrom", "pos", "pbv", "lgi", "omit")),
]


def test_every_method_gets_a_unique_colour_marker_pair():
    methods = [m for _, m in METHODS_18]
    styles = method_styles(methods)
    assert len(set(styles.values())) == len(methods) == 18
    many = method_styles([f"m{i}" for i in range(70)])
    assert len(set(many.values())) == 70


def _synthetic_entries(levels, methods=METHODS_18):
    entries = []
    for k, (group, m) in enumerate(methods):
        for j, lv in enumerate(levels):
            mae = 10.0 + 0.4 * k + 2.0 * j
            entries.append(
                {
                    "method": m,
                    "group": group,
                    "level": lv,
                    "mae": mae,
                    "mae_low": mae - 1,
                    "mae_high": mae + 1,
                }
            )
    return entries


def test_compression_plot_has_one_panel_per_codec_with_raw_first():
    levels = ["raw", "x264-1000k", "x264-250k", "x265-250k", "mpeg4-250k"]
    assert codec_panels(levels) == [
        ("x264", ["raw", "x264-1000k", "x264-250k"]),
        ("x265", ["raw", "x265-250k"]),
        ("mpeg4", ["raw", "mpeg4-250k"]),
    ]
    fig = compression_figure(_synthetic_entries(levels), levels, "synth")
    try:
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert [ax.get_title() for ax in axes] == ["x264", "x265", "mpeg4"]
        for ax, n_points in zip(axes, (3, 2, 2)):
            assert ax.get_xticklabels()[0].get_text() == "raw"
            lines = [ln for ln in ax.get_lines() if ln.get_marker() in MARKERS]  # not the CI caps
            assert len(lines) == 18 and all(len(ln.get_xdata()) == n_points for ln in lines)
            assert ax.containers  # CI error bars drawn
        assert fig.legends and len(fig.legends[0].get_texts()) == 18 + 3  # methods + group headers
    finally:
        plt.close(fig)
    only_raw = compression_figure(_synthetic_entries(["raw"]), ["raw"], "synth")
    try:
        assert len(only_raw.axes) == 1
    finally:
        plt.close(only_raw)


def test_macs_labels_do_not_overlap_on_a_crowded_plot():
    # 18 methods squeezed together: classic ones all at one cost with MAEs 0.1 bpm apart, learned ones in
    # two tight clusters; labels must still have disjoint boxes (as the renderer measures the text)
    costs = {
        m: 1.4e7 if g == "classic" else (4e10 if k % 2 else 4.2e10) for k, (g, m) in enumerate(METHODS_18)
    }
    entries = [
        {"method": m, "group": g, "level": "raw", "mae": 15.0 + 0.1 * k}
        for k, (g, m) in enumerate(METHODS_18)
    ]
    efficiency = [{"method": m, "macs_per_30s": c, "estimated": False} for m, c in costs.items()]
    fig = macs_figure(entries, efficiency, "raw", "crowded")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        labels = [t for t in ax.texts if t.get_text() in costs]
        assert sorted(t.get_text() for t in labels) == sorted(costs)
        boxes = [Text.get_window_extent(t, renderer) for t in labels]
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        area = ax.get_window_extent(renderer)
        assert all(area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1 for b in boxes)
        steps = [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]
        assert len(steps) == 1  # the Pareto front
    finally:
        plt.close(fig)


def test_pareto_front_is_a_step_line_through_the_front():
    entries = [
        {"method": m, "group": "classic", "level": "raw", "mae": mae}
        for m, mae in (("a", 5.0), ("b", 3.0), ("c", 4.0), ("d", 1.0))
    ]
    efficiency = [
        {"method": m, "macs_per_30s": c * 1e9, "estimated": False}
        for m, c in (("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 10.0))
    ]
    fig = macs_figure(entries, efficiency, "raw", "t")
    try:
        (step,) = [ln for ln in fig.axes[0].get_lines() if ln.get_drawstyle() == "steps-post"]
        xs, ys = list(step.get_xdata()), list(step.get_ydata())
        assert xs[:3] == [1.0, 2.0, 10.0] and ys == [
            5.0,
            3.0,
            1.0,
            1.0,
        ]  # c is dominated; runs on to the edge
        assert xs[3] >= 10.0
    finally:
        plt.close(fig)


def test_the_ladder_plot_gives_each_nuisance_a_panel_with_mae_per_intensity(tmp_path):
    """Recordings tagged with SynthPulse ladder steps: MAE per (nuisance, intensity) from the entry's rows; a
    board without ladder recordings gets no plot."""
    from types import SimpleNamespace

    from benchmark.leaderboard.plots import ladder_maes, mae_vs_intensity
    from benchmark.leaderboard.tables import collect_entries

    steps = [("motion", "none", 1.0), ("motion", "high", 9.0), ("skin", "low", 3.0), ("skin", "high", 5.0)]
    ident = {
        "method": "pos", "group": "classic", "train_set": "synth", "test_set": "ladder", "level": "raw",
        "seed": 0, "protocol": "cross", "protocol_version": 1, "sweep": "ladder", "profile": "zoo",
    }  # fmt: skip
    with ResultStore(tmp_path / "r.sqlite") as store:
        preds, recordings = [], []
        for nuisance, level, error in steps:
            for subject in ("a", "b"):
                key = f"ladder/{subject}-{nuisance}-{level}"
                preds.append(Prediction(key, subject, WHOLE, 0.0, 70.0 + error, 70.0, 1.0))
                recordings.append(
                    SimpleNamespace(key=key, subject=subject, tags={"scenario": f"{nuisance}-{level}"})
                )
        store.put_recordings(recordings)
        store.write_cell(
            CellResult("k", "done", ident, {}, {"code": code_fingerprint()}, PROV, predictions=preds)
        )
        entries = collect_entries(store, n_boot=10)
        data = ladder_maes(store, entries, "raw")
        assert data == {"motion": {"pos": [1.0, None, None, 9.0]}, "skin": {"pos": [None, 3.0, None, 5.0]}}
        path = mae_vs_intensity(store, entries, "raw", "ladder", tmp_path / "ladder.png")
        assert path is not None and path.stat().st_size > 0
        store.put_recordings(
            [SimpleNamespace(key=r.key, subject=r.subject, tags={"scenario": "still"}) for r in recordings]
        )
        assert mae_vs_intensity(store, entries, "raw", "ladder", tmp_path / "none.png") is None
