"""Preprocessed cache on clips of the real PhysRecorder video: built once, reused, invalidated, crash-safe."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from benchmark.data import preprocess
from benchmark.data.compression import compress_video
from benchmark.data.face import FaceConfig
from benchmark.data.preprocess import FRAMES, MANIFEST, preprocess_recording
from benchmark.data.recording import Recording
from benchmark.data.video import open_video
from benchmark.errors import NoFaceError


def write_video(path: Path, frames, fps: float = 30.0) -> Path:
    """H.264 (near lossless, fast preset) file of RGB frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(round(fps)))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for image in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            ):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def real_clips(physrecorder_dir: Path, folder: Path, n_clips: int = 4, length: int = 150) -> list[Recording]:
    """Consecutive clips of the real video at 320x240, each its own subject, with its own slice of the BVP."""
    frame_ts = np.loadtxt(physrecorder_dir / "frames_timestamp.csv", delimiter=",", skiprows=1)[:, 1]
    bvp = np.loadtxt(physrecorder_dir / "BVP.csv", delimiter=",", skiprows=1)
    folder.mkdir(parents=True, exist_ok=True)
    recordings = []
    with open_video(physrecorder_dir / "video_ZIP_H264.avi") as reader:
        for i in range(n_clips):
            first = i * length
            frames = [
                cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA)
                for f in reader.read(first, first + length)
            ]
            video = write_video(folder / f"clip{i}.mp4", frames)
            t0 = frame_ts[first]
            keep = (bvp[:, 0] > t0 - 0.5) & (bvp[:, 0] < frame_ts[first + length - 1] + 0.5)
            recordings.append(
                Recording(
                    dataset="physclips",
                    id=f"clip{i}",
                    subject=f"s{i}",
                    video=video,
                    ppg=bvp[keep, 1],
                    ppg_times=bvp[keep, 0] - t0,
                    fps=30.0,
                    frame_times=frame_ts[first : first + length] - t0,
                )
            )
    return recordings


@pytest.fixture(scope="module")
def clip(physrecorder_dir, tmp_path_factory) -> Recording:
    return real_clips(physrecorder_dir, tmp_path_factory.mktemp("clips"), n_clips=1)[0]


def test_built_once_then_reused_without_decoding(clip, tmp_path):
    decodes = preprocess.DECODE_COUNT["n"]
    first = preprocess_recording(clip, size=64, cache_root=tmp_path)
    assert not first.cached and preprocess.DECODE_COUNT["n"] == decodes + 1
    assert isinstance(first.frames, np.memmap) and first.frames.shape == (150, 64, 64, 3)
    assert first.frames.dtype == np.uint8 and first.ppg.dtype == np.float32
    np.testing.assert_allclose(first.ppg, clip.aligned_ppg(150), rtol=1e-6)
    assert first.boxes.shape == (150, 4) and not first.face_missing.any()
    assert first.meta["n_frames"] == 150 and first.meta["faces"]["detected"] == 5
    assert first.meta["bits_per_pixel"] == pytest.approx(compress_video(clip.video, "raw").bits_per_pixel)
    assert first.key == "physclips/clip0" and first.fps == 30.0
    second = preprocess_recording(clip, size=64, cache_root=tmp_path)
    assert second.cached and preprocess.DECODE_COUNT["n"] == decodes + 1
    assert second.path == first.path
    np.testing.assert_array_equal(np.asarray(second.frames), np.asarray(first.frames))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporaries left behind"
    rebuilt = preprocess_recording(clip, size=64, cache_root=tmp_path, rebuild=True)
    assert not rebuilt.cached and preprocess.DECODE_COUNT["n"] == decodes + 2


def test_threaded_build_cuts_what_the_serial_tracker_cuts_through_face_gaps(
    physrecorder_dir, tmp_path, monkeypatch
):
    """The build's stages run in threads (decode, detect, cut: FaceTracker.plan and .cut on YUV planes): its
    entry is the bytes of the tracker's plain `process` over RGB chunks of the same size, and of the same
    build with its stages in one thread, on a clip whose face is missing at the start, across a chunk
    boundary and for longer than max_gap (frames with no box at all, missing frames, backfilled frames)."""
    from benchmark.data.face import FaceTracker

    gaps = [(0, 75), (100, 110), (140, 340)]  # max_gap: 60 frames
    noise = np.random.default_rng(0)
    with open_video(physrecorder_dir / "video_ZIP_H264.avi") as reader:
        frames = [cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in reader.read(0, 400)]
    for first, stop in gaps:
        for i in range(first, stop):
            frames[i] = noise.integers(40, 100, frames[i].shape, dtype=np.uint8)
    video = write_video(tmp_path / "gaps.mp4", frames)
    t = np.arange(0, 15, 1 / 64)
    recording = Recording("gaps", "g0", "s0", video, np.sin(2 * np.pi * t), t, 30.0)

    threaded = preprocess_recording(recording, size=32, cache_root=tmp_path / "threaded", also_sizes=[20])
    monkeypatch.setitem(preprocess.THREADED, "on", False)
    single = preprocess_recording(recording, size=32, cache_root=tmp_path / "single", also_sizes=[20])
    with open_video(video) as reader:
        tracker = FaceTracker(FaceConfig(), 32, 30.0, video)
        parts = [tracker.process(c, i * preprocess.CHUNK) for i, c in enumerate(reader.iter_chunks(64))]
    assert preprocess.CHUNK == 64
    serial = {
        "frames": np.concatenate([p.crops for p in parts]),
        "boxes": np.concatenate([p.boxes for p in parts]),
        "face_missing": np.concatenate([p.face_missing for p in parts]),
    }
    for entry in (threaded, single):
        for name, expected in serial.items():
            np.testing.assert_array_equal(np.asarray(getattr(entry, name)), expected, err_msg=name)
    side_20 = preprocess_recording(recording, size=20, cache_root=tmp_path / "threaded")
    assert side_20.cached
    np.testing.assert_array_equal(np.asarray(side_20.frames), np.asarray(
        preprocess_recording(recording, size=20, cache_root=tmp_path / "single").frames
    ))  # fmt: skip
    missing, boxes = serial["face_missing"], serial["boxes"]
    assert (boxes[:64] == -1).all() and missing[:64].all()  # no face yet; backfill stops at a chunk's start
    assert not missing[64:140].any()  # backfilled from the first detection (75), then held through 100-110
    assert missing[196:320].all() and (boxes[196:320] >= 0).all()  # 60 frames past the last face: flagged
    assert not missing[320:].any()  # the face found again at 340 is backfilled to its chunk's start (320)


def test_key_changes_with_face_size_and_level(clip, tmp_path):
    base = preprocess_recording(clip, size=32, cache_root=tmp_path)
    wider = preprocess_recording(clip, face=FaceConfig(scale=1.8), size=32, cache_root=tmp_path)
    assert not wider.cached and wider.path != base.path
    assert (wider.boxes[:, 2] > base.boxes[:, 2]).all()
    assert preprocess_recording(clip, face=FaceConfig(scale=1.8), size=32, cache_root=tmp_path).cached
    bigger = preprocess_recording(clip, size=48, cache_root=tmp_path)
    assert not bigger.cached and bigger.frames.shape[1:] == (48, 48, 3)
    squeezed = preprocess_recording(clip, level="x264-crf38", size=32, cache_root=tmp_path)
    assert not squeezed.cached and squeezed.meta["level"] == "x264-crf38"
    assert squeezed.meta["bits_per_pixel"] < base.meta["bits_per_pixel"] / 5


def test_incomplete_entry_is_detected_and_rebuilt(clip, tmp_path):
    good = preprocess_recording(clip, size=32, cache_root=tmp_path)
    (good.path / MANIFEST).unlink()  # e.g. a copy interrupted before its manifest
    again = preprocess_recording(clip, size=32, cache_root=tmp_path)
    assert not again.cached and (again.path / MANIFEST).exists()
    with open(again.path / FRAMES, "r+b") as fh:  # frames cut short
        fh.truncate(1000)
    third = preprocess_recording(clip, size=32, cache_root=tmp_path)
    assert not third.cached and len(third) == 150


KILL_MID_WRITE = """
import os, pickle, signal, sys
from pathlib import Path
from benchmark.data import face, preprocess
original = face.FaceTracker.cut
calls = []
def cut(self, frames, plan):  # SIGKILL this process once the first chunk is on disk
    calls.append(len(frames))
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, frames, plan)
face.FaceTracker.cut = cut
recording = pickle.loads(Path(sys.argv[1]).read_bytes())
preprocess.preprocess_recording(recording, size=32, cache_root=Path(sys.argv[2]))
"""


def test_run_killed_mid_write_leaves_nothing_trusted(clip, tmp_path):
    root = tmp_path / "cache"
    (tmp_path / "rec.pkl").write_bytes(pickle.dumps(clip))
    child = subprocess.run(
        [sys.executable, "-c", KILL_MID_WRITE, str(tmp_path / "rec.pkl"), str(root)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    leftovers = list(root.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".tmp-")  # no entry under the real key
    assert (leftovers[0] / FRAMES).stat().st_size == preprocess.CHUNK * 32 * 32 * 3  # killed mid-write
    entry = preprocess_recording(clip, size=32, cache_root=root)
    assert not entry.cached and len(entry) == 150
    assert [p.name for p in root.iterdir()] == [entry.path.name]  # the dead run's temporary is cleaned


def test_no_face_names_the_recording(tmp_path):
    frames = [np.full((120, 160, 3), (40 + i, 90, 160), np.uint8) for i in range(30)]
    video = write_video(tmp_path / "empty_room.mp4", frames)
    recording = Recording("physclips", "empty", "s9", video, np.zeros(40), np.arange(40) / 30, 30.0)
    with pytest.raises(NoFaceError, match="empty_room.mp4: recording physclips/empty: no face found"):
        preprocess_recording(recording, size=32, cache_root=tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_prefetch_hands_errors_over_and_stops_early():
    def chunks(fail_at=None):
        for i in range(5):
            if i == fail_at:
                raise ValueError(f"bad chunk {i}")
            yield np.full(2, i)

    assert [int(c[0]) for c in preprocess.prefetch(chunks())] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="bad chunk 2"):
        list(preprocess.prefetch(chunks(fail_at=2)))
    early = preprocess.prefetch(chunks())
    assert int(next(early)[0]) == 0
    early.close()  # the consumer leaves: the producer thread must end, not block on a full queue


def test_prefetch_stages_make_at_most_depth_items_ahead_and_stop_together():
    """Memory stays flat: a stage starts an item only when fewer than `depth` are ahead of its consumer (a
    chunk of VGA frames is 30 MB). A chain of stages (decode -> detect -> cut) stops every thread when its
    consumer leaves."""
    import threading
    import time

    pulled = []

    def items():
        for i in range(20):
            pulled.append(i)
            yield i

    for depth in (1, 3):
        pulled.clear()
        stage = preprocess.prefetch(items(), depth=depth)
        assert next(stage) == 0
        time.sleep(0.3)  # the thread has had time to run ahead as far as it may
        assert len(pulled) == 1 + depth, (depth, pulled)
        stage.close()
    chain = preprocess.prefetch(preprocess.prefetch(items()))
    assert next(chain) == 0
    chain.close()
    assert not [t for t in threading.enumerate() if t.name == "preprocess-stage"]


def test_entry_finished_meanwhile_by_another_process_is_kept(clip, tmp_path, monkeypatch):
    """Two sweeps sharing a cache: the one that finishes second keeps the first one's entry (a reader may
    already hold it) instead of moving it aside under that reader."""
    build = preprocess._build
    inner = {}

    def build_while_another_finishes(*args):
        result = build(*args)
        monkeypatch.setattr(preprocess, "_build", build)
        inner["entry"] = preprocess_recording(clip, size=32, cache_root=tmp_path)
        inner["inode"] = (inner["entry"].path / MANIFEST).stat().st_ino
        return result

    monkeypatch.setattr(preprocess, "_build", build_while_another_finishes)
    outer = preprocess_recording(clip, size=32, cache_root=tmp_path)
    assert outer.path == inner["entry"].path and len(outer) == 150
    assert (outer.path / MANIFEST).stat().st_ino == inner["inode"], "the first finished entry was replaced"
    np.testing.assert_array_equal(np.asarray(inner["entry"].frames), np.asarray(outer.frames))
    assert [p.name for p in tmp_path.iterdir()] == [outer.path.name]  # no temporaries left


def test_a_changed_ground_truth_gets_its_own_entry(clip, tmp_path):
    """Same video, PPG timestamps moved by 0.1 s (a corrected sync): the old label must not be served."""
    base = preprocess_recording(clip, size=32, cache_root=tmp_path)
    shifted = replace(clip, ppg_times=clip.ppg_times - 0.1)
    moved = preprocess_recording(shifted, size=32, cache_root=tmp_path)
    assert not moved.cached and moved.path != base.path
    np.testing.assert_allclose(moved.ppg, shifted.aligned_ppg(150), rtol=1e-6)
    assert not np.allclose(moved.ppg, base.ppg)
    np.testing.assert_array_equal(np.asarray(moved.frames), np.asarray(base.frames))
    assert preprocess_recording(replace(clip), size=32, cache_root=tmp_path).path == base.path


def test_preprocess_many_in_worker_processes_matches_one_by_one(physrecorder_dir, tmp_path):
    """Two worker processes build the same bytes as preprocess_recording; a recording with no face fails
    alone, with its named error; a second call reads every entry from the cache without a worker."""
    clips = real_clips(physrecorder_dir, tmp_path / "clips", n_clips=2, length=90)
    frames = [np.full((120, 160, 3), (40 + i, 90, 160), np.uint8) for i in range(30)]
    empty = Recording(
        "physclips",
        "empty",
        "s9",
        write_video(tmp_path / "empty.mp4", frames),
        np.zeros(40),
        np.arange(40) / 30,
        30.0,
    )
    recordings = [clips[0], empty, clips[1]]
    built = preprocess.preprocess_many(recordings, size=32, workers=2, cache_root=tmp_path / "pool")
    assert list(built) == [r.key for r in recordings]
    assert isinstance(built[empty.key], NoFaceError)
    assert "recording physclips/empty: no face found" in str(built[empty.key])
    for clip in clips:
        serial = preprocess_recording(clip, size=32, cache_root=tmp_path / "serial")
        entry = built[clip.key]
        assert not entry.cached and len(entry) == 90
        np.testing.assert_array_equal(np.asarray(entry.frames), np.asarray(serial.frames))
        np.testing.assert_array_equal(entry.boxes, serial.boxes)
        np.testing.assert_array_equal(entry.ppg, serial.ppg)
    decodes = preprocess.DECODE_COUNT["n"]
    again = preprocess.preprocess_many(clips, size=32, workers=2, cache_root=tmp_path / "pool")
    assert all(e.cached for e in again.values()) and preprocess.DECODE_COUNT["n"] == decodes


def test_a_worker_with_a_core_to_itself_builds_in_one_thread(clip, tmp_path, monkeypatch):
    """A pool worker with one core runs a build's stages where it iterates them (no stage threads to contend
    for its core); with two cores a worker threads them again."""
    import cv2

    from benchmark.data import video

    monkeypatch.setitem(preprocess.THREADED, "on", True)
    monkeypatch.setitem(video.DECODE_THREADS, "n", video.DECODE_THREADS["n"])
    threads = cv2.getNumThreads()

    def no_thread(chunks, depth=1):
        raise AssertionError("a stage thread was started in a worker with one core")

    try:
        preprocess._worker_init(1)  # as a pool with a worker per core starts each worker
        assert not preprocess.THREADED["on"] and video.DECODE_THREADS["n"] == 1
        with monkeypatch.context() as patch:
            patch.setattr(preprocess, "prefetch", no_thread)
            preprocess_recording(clip, size=32, cache_root=tmp_path)
        preprocess._worker_init(2)  # two cores a worker: its stages overlap again
        assert preprocess.THREADED["on"]
    finally:
        cv2.setNumThreads(threads)


def test_the_decode_stage_leaves_a_core_to_detection_and_cutting(monkeypatch):
    from benchmark.data import video

    for threads, expected in ((1, 1), (2, 1), (4, 3)):  # a pool worker's share of the cores
        monkeypatch.setitem(video.DECODE_THREADS, "n", threads)
        assert preprocess._decode_threads() == expected
    monkeypatch.setitem(video.DECODE_THREADS, "n", 0)  # a build in the caller's process: all its cores
    monkeypatch.setattr(preprocess, "available_cores", lambda: 8)
    assert preprocess._decode_threads() == 7


def test_preprocess_many_default_workers(monkeypatch, clip, tmp_path):
    """Small jobs build in this process (starting workers costs more); the worker count follows the
    environment variable."""
    monkeypatch.setenv(preprocess.WORKERS_ENV, "3")
    assert preprocess.default_workers() == 3
    monkeypatch.delenv(preprocess.WORKERS_ENV)
    assert 1 <= preprocess.default_workers() <= preprocess.MAX_DEFAULT_WORKERS

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started for a small job")

    monkeypatch.setattr(preprocess, "_build_in_pool", no_pool)
    other = replace(clip, id="clip0-copy")
    done = preprocess.preprocess_many([clip, other], size=32, cache_root=tmp_path)
    assert [len(e) for e in done.values()] == [150, 150]


def test_encoding_a_sweeps_levels_together_gives_the_same_entry(clip, tmp_path):
    """encode_with (a sweep's other levels) encodes them in the same pass over the source: the entry is the
    one built without it, and the other level is then cached, not encoded again."""
    from benchmark.data import compression

    alone = preprocess_recording(clip, "x264-crf28", size=64, cache_root=tmp_path / "alone")
    compression_root = Path(os.environ["RPPG_CACHE_DIR"]) / "compressed"
    for old in compression_root.iterdir():  # drop the encode above: the joint pass must run
        old.unlink()
    before = compression.ENCODE_COUNT["n"]
    together = preprocess_recording(
        clip, "x264-crf28", size=64, cache_root=tmp_path / "together", encode_with=["raw", "mpeg4-q12"]
    )
    assert compression.ENCODE_COUNT["n"] == before + 2
    np.testing.assert_array_equal(np.asarray(together.frames), np.asarray(alone.frames))
    assert together.meta["kbps"] == alone.meta["kbps"]
    assert compress_video(clip.video, "mpeg4-q12").cached and compression.ENCODE_COUNT["n"] == before + 2


def test_a_codec_that_fails_does_not_take_the_others_down(clip, tmp_path, caplog):
    """One level of the sweep that cannot be encoded (MPEG-4 quantiser 0: the encoder does not open) fails
    alone: the level asked for is encoded by itself."""
    from benchmark.data.compression import CompressionLevel

    broken = CompressionLevel(name="mpeg4-q0", codec="mpeg4", mode="qscale", value=0.0)
    entry = preprocess_recording(clip, "x264-crf28", size=64, cache_root=tmp_path, encode_with=[broken])
    assert entry.meta["level"] == "x264-crf28" and entry.frames.shape == (150, 64, 64, 3)
    assert "mpeg4-q0" in caplog.text and "encoding x264-crf28 alone" in caplog.text


def test_other_crop_sides_are_cut_in_the_same_pass_from_the_full_resolution_box(clip, tmp_path):
    """also_sizes (a sweep's other methods' sides) builds their entries in the decode that builds the asked
    one: each the bytes of an entry built alone at its side (cut from the full-resolution window, not from
    another side's crop); entries already cached are left alone; the asked entry is the same either way."""
    sides = (64, 36, 20)
    alone = {side: preprocess_recording(clip, size=side, cache_root=tmp_path / "alone") for side in sides}
    decodes = preprocess.DECODE_COUNT["n"]
    entry = preprocess_recording(clip, size=64, cache_root=tmp_path / "one", also_sizes=[36, 64, 20])
    assert preprocess.DECODE_COUNT["n"] == decodes + 1 and not entry.cached
    for side, single in alone.items():
        built = preprocess_recording(clip, size=side, cache_root=tmp_path / "one")
        assert built.cached and built.frames.shape == (150, side, side, 3)
        np.testing.assert_array_equal(np.asarray(built.frames), np.asarray(single.frames))
        np.testing.assert_array_equal(built.boxes, single.boxes)
        assert built.meta["size"] == side
    assert preprocess.DECODE_COUNT["n"] == decodes + 1
    resized = cv2.resize(np.asarray(alone[64].frames[0]), (20, 20), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(resized, alone[20].frames[0])  # cut from the window, not from the 64-px crop
    kept = preprocess_recording(clip, size=36, cache_root=tmp_path / "one")
    preprocess_recording(clip, size=48, cache_root=tmp_path / "one", also_sizes=[36])
    assert preprocess_recording(clip, size=36, cache_root=tmp_path / "one").path.stat().st_mtime_ns == (
        kept.path.stat().st_mtime_ns
    )
    many = preprocess.preprocess_many([clip], size=30, cache_root=tmp_path / "many", also_sizes=[22])
    assert many[clip.key].frames.shape[1] == 30
    assert preprocess_recording(clip, size=22, cache_root=tmp_path / "many").cached


def test_predict_and_the_sweep_cut_the_same_crops(clip, tmp_path):
    """`predict` and a sweep cut a network's crops the same way (crop_side: the input's side, straight from
    the box): the crops predict feeds a 72-px network are the sweep's cache entry for that side."""
    from benchmark.evaluation.predict_cli import face_crops
    from benchmark.methods import create_method
    from benchmark.runner.evaluate import prepare_recordings
    from benchmark.spec import CROP_SIZE, crop_side

    physnet, pos = create_method("physnet", size=72, frames=32), create_method("pos")
    assert crop_side(physnet.input_spec) == 72 and crop_side(pos.input_spec) == CROP_SIZE
    crops, fps, _ = face_crops(clip.video, 72)
    entry = prepare_recordings([clip], "raw", {}, size=crop_side(physnet.input_spec))[clip.key]
    assert fps == entry.fps and entry.frames.shape == crops.shape
    np.testing.assert_array_equal(np.asarray(entry.frames), crops)
