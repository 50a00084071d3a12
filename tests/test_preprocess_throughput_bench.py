"""bench/preprocess_throughput.py's machine-scaling part: each copy counts the work it did in its window."""

import sys

import pytest

from benchmark.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def bench():
    path = str(PROJECT_ROOT / "bench")
    if path not in sys.path:
        sys.path.insert(0, path)
    import preprocess_throughput

    return preprocess_throughput


def test_a_compute_copy_counts_loop_units_in_its_window(bench, tmp_path):
    import time

    row = bench.child_scaling("compute", tmp_path / "unused.mp4", 0, time.time(), 0.2)
    assert row["work"] >= 1 and row["seconds"] >= 0.2


def test_a_build_copy_builds_the_real_clip_single_threaded(bench, physrecorder_dir, monkeypatch):
    import time

    import cv2

    from benchmark.data import preprocess, video
    from benchmark.data.video import open_video

    # the copy rewires its own process (one thread, no stage threads): undo it for the tests that follow
    monkeypatch.setitem(preprocess.THREADED, "on", preprocess.THREADED["on"])
    monkeypatch.setitem(video.DECODE_THREADS, "n", video.DECODE_THREADS["n"])
    threads = cv2.getNumThreads()
    clip = physrecorder_dir / "video_ZIP_H264.avi"
    try:
        row = bench.child_scaling("build", clip, 21, time.time(), 0.01)
        assert cv2.getNumThreads() == 1 and video.DECODE_THREADS["n"] == 1 and not preprocess.THREADED["on"]
    finally:
        cv2.setNumThreads(threads)
    with open_video(clip) as reader:
        frames = reader.num_frames
    assert row["work"] > 0 and row["work"] % frames == 0  # whole builds of the clip, at least one


def test_the_targets_together_line_compares_two_copies_with_what_both_targets_need(bench, capsys):
    # bare decode 2500 frames/s: both targets need 2 workers at >= 1.6 x 0.5 x 2500 = 2000 frames/s
    bench.report_targets_together(2500.0, {"build": {1: [700.0, 800.0, 750.0], 2: [1500.0, 1500.0]}})
    line = capsys.readouterr().out
    assert "= 2000 frames/s" in line and "reach 1500 (out of reach)" in line
    assert "spends 1.33 ms" in line  # one copy keeps one core busy: 1 / 750 frames/s
    assert "need <= 1.00 ms" in line  # 1500 / 750 = 2 copies' worth of cores, spread over 2000 frames/s
    bench.report_targets_together(2500.0, {"build": {1: [1100.0], 2: [2100.0]}})
    assert "reach 2100 (within reach)" in capsys.readouterr().out


def test_one_core_worker_sets_this_process_up_as_a_pool_worker_and_undoes_it(bench):
    import cv2

    from benchmark.data import preprocess, video

    before = preprocess.THREADED["on"], video.DECODE_THREADS["n"], cv2.getNumThreads()
    with bench.one_core_worker():
        assert not preprocess.THREADED["on"] and video.DECODE_THREADS["n"] == 1 and cv2.getNumThreads() == 1
    assert (preprocess.THREADED["on"], video.DECODE_THREADS["n"], cv2.getNumThreads()) == before


def test_the_dataset_ratios_name_which_single_worker_they_divide_by(bench, capsys):
    rates = {"1": [1200.0], "1-core": [760.0], "2": [1330.0]}
    bench.report_dataset(
        {"recordings": 8, "frames": 4800, "rates": rates, "cores": {"1": [1.6], "1-core": [1.0], "2": [1.9]}}
    )
    out = capsys.readouterr().out
    assert "2 workers / 1 worker with one core: 1.75" in out
    import os

    ceiling = min(2.0, len(os.sched_getaffinity(0)) / 1.6)  # the cores 1 worker with every core leaves
    assert "2 workers / 1 worker with every core: 1.11" in out and f"at most {ceiling:.2f}x" in out
