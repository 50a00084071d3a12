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
