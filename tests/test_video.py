"""The one video reader: real files encoded here with PyAV, PNG folders, and the errors of bad input."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from fixtures_layouts import make_frames, truncate, write_png_folder, write_video

from benchmark.data.video import READERS, list_frame_images, open_video, probe_video
from benchmark.errors import DataError


@pytest.mark.parametrize("codec", ["ffv1", "libx264rgb"])
def test_lossless_codecs_read_back_pixel_exact(tmp_path, codec):
    frames = make_frames(20)
    path = write_video(tmp_path / f"clip_{codec}.mkv", frames, codec, fps=25)
    reader = open_video(path)
    assert reader.backend == "file"
    assert (reader.num_frames, reader.height, reader.width) == (20, 48, 64)
    assert reader.fps == pytest.approx(25.0)
    out = reader.read()  # decord
    assert out.dtype == np.uint8 and out.shape == frames.shape
    np.testing.assert_array_equal(out, frames)
    np.testing.assert_array_equal(np.concatenate(list(reader.iter_chunks(7))), frames)  # PyAV


@pytest.mark.parametrize("codec,suffix", [("libx264", ".mp4"), ("libx264", ".avi"), ("mpeg4", ".avi")])
def test_lossy_codecs_read_close_to_source(tmp_path, codec, suffix):
    frames = np.repeat(make_frames(1, seed=3), 15, axis=0)  # static frames: lossy codecs keep them close
    frames[:, :24] = 40
    path = write_video(tmp_path / f"clip{suffix}", frames, codec, fps=30)
    reader = open_video(path)
    assert reader.num_frames == 15 and reader.fps == pytest.approx(30.0)
    out = reader.read()
    assert out.shape == frames.shape
    assert np.abs(out[:, :24].astype(int) - 40).mean() < 3  # the flat band survives
    assert not np.array_equal(out, np.zeros_like(out))
    # decord (read) and PyAV (iter_chunks) decode the lossy stream to the same pixels
    np.testing.assert_array_equal(np.concatenate(list(reader.iter_chunks(4))), out)


@pytest.mark.parametrize("codec", ["libx264", "mpeg4", "ffv1"])
def test_random_access_matches_streaming(tmp_path, codec):
    frames = make_frames(40)
    reader = open_video(write_video(tmp_path / f"r_{codec}.avi", frames, codec))
    streamed = np.concatenate(list(reader.iter_chunks(16)))
    for start, stop in [(33, 40), (0, 5), (17, 31)]:
        np.testing.assert_array_equal(reader.read(start, stop), streamed[start:stop])
    assert reader._vr is not None  # the windows came from decord, not the PyAV fallback


def test_chunks_cover_the_range_in_order(tmp_path):
    frames = make_frames(50)
    reader = open_video(write_video(tmp_path / "c.mkv", frames, "ffv1"))
    chunks = list(reader.iter_chunks(chunk_size=16, start=5, stop=45))
    assert [len(c) for c in chunks] == [16, 16, 8]
    np.testing.assert_array_equal(np.concatenate(chunks), frames[5:45])
    np.testing.assert_array_equal(reader.read(30, 33), frames[30:33])
    with pytest.raises(IndexError):
        reader.read(0, 51)


def _peak_while_streaming(reader, chunk_size: int) -> int:
    tracemalloc.start()
    try:
        total = 0
        for chunk in reader.iter_chunks(chunk_size=chunk_size):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == reader.num_frames
    return peak


@pytest.mark.parametrize("source", ["file", "images"])
def test_streaming_memory_does_not_grow_with_length(tmp_path, source):
    frames = make_frames(240)
    if source == "file":
        reader = open_video(write_video(tmp_path / "long.mkv", frames, "ffv1"))
    else:
        write_png_folder(tmp_path / "png", frames)
        reader = open_video(tmp_path / "png")
    assert reader.backend == source
    chunk_bytes = 16 * frames[0].nbytes
    peak = _peak_while_streaming(reader, chunk_size=16)
    assert peak < 4 * chunk_bytes < frames.nbytes / 3, (peak, chunk_bytes, frames.nbytes)


def test_av1_which_decord_cannot_open_is_read(tmp_path):
    import av

    frames = np.repeat(make_frames(1, height=64, width=64, seed=5), 12, axis=0)
    frames[:, :, :32] = 200  # a flat half that a lossy AV1 encode keeps close
    path = tmp_path / "clip_av1.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libsvtav1", rate=30)
        stream.height, stream.width, stream.pix_fmt = 64, 64, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reader = open_video(path)
    assert (reader.num_frames, reader.fps) == (12, 30.0)
    np.testing.assert_array_equal(reader.read(2, 12), np.concatenate(list(reader.iter_chunks(5, 2, 12))))
    assert reader._decord_ok is False  # decord could not open AV1; PyAV served the window
    chunks = list(reader.iter_chunks(chunk_size=5, start=2, stop=12))
    assert [len(c) for c in chunks] == [5, 5]
    assert np.abs(np.concatenate(chunks)[:, :, :32].astype(int) - 200).mean() < 5


def test_png_folder_sorted_by_number_in_names(tmp_path):
    frames = make_frames(12)
    # PURE names frames by a nanosecond timestamp: lexical order would put 1000000... before 999....
    stamps = [999_000_000 + i * 33_000_000 for i in range(12)]
    names = [f"Image{s}.png" for s in stamps]
    write_png_folder(tmp_path / "pure", frames, names)
    assert [p.name for p in list_frame_images(tmp_path / "pure")] == names
    reader = open_video(tmp_path / "pure", fps=60)
    assert (reader.backend, reader.num_frames, reader.fps) == ("images", 12, 60.0)
    np.testing.assert_array_equal(reader.read(), frames)
    assert probe_video(tmp_path / "pure", fps=60) == (60.0, 12)


def test_readers_are_a_registry():
    assert [entry.name for entry in READERS] == ["file", "images"]


def test_missing_video_is_named(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        open_video(tmp_path / "nowhere.avi")
    assert info.value.path == tmp_path / "nowhere.avi"


@pytest.mark.parametrize(
    "codec,suffix", [("libx264", ".avi"), ("ffv1", ".mkv"), ("mpeg4", ".avi"), ("libx264", ".mp4")]
)
def test_truncated_video_is_an_error(tmp_path, codec, suffix):
    path = write_video(tmp_path / f"cut{suffix}", make_frames(60), codec)
    assert open_video(path).num_frames == 60
    truncate(path, 0.5)
    with pytest.raises(DataError, match="truncated|corrupt") as info:
        open_video(path)
    assert info.value.path == path


def test_garbage_bytes_are_an_error(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="unreadable or corrupt video") as info:
        open_video(path)
    assert "garbage.mp4" in str(info.value)


def test_zero_frames_is_an_error(tmp_path):
    import av

    empty_video = tmp_path / "empty.mkv"  # a video stream with no frame (only audio packets are muxed)
    with av.open(str(empty_video), "w") as container:
        video = container.add_stream("ffv1", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "bgr0"
        audio = container.add_stream("pcm_s16le", rate=8000)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        silence.sample_rate = 8000
        for packet in [*audio.encode(silence), *audio.encode()]:
            container.mux(packet)
    with pytest.raises(DataError, match="zero frames") as info:
        open_video(empty_video)
    assert info.value.path == empty_video
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(DataError, match="no image frames"):
        open_video(tmp_path / "no_frames")


def test_corrupt_png_frame_is_named(tmp_path):
    paths = write_png_folder(tmp_path / "frames", make_frames(4))
    paths[2].write_bytes(b"not a png at all")
    reader = open_video(tmp_path / "frames")
    with pytest.raises(DataError, match="unreadable or corrupt") as info:
        reader.read()
    assert info.value.path == paths[2]


def test_tiny_frames_decord_cannot_batch_fall_back(tmp_path):
    # decord 0.6 opens a 16x16 FFV1 file but fails to copy its frames out; the reader must still work.
    frames = make_frames(6, height=16, width=16)
    reader = open_video(write_video(tmp_path / "tiny.mkv", frames, "ffv1"))
    assert reader.num_frames == 6
    np.testing.assert_array_equal(reader.read(), frames)


def test_png_frames_still_read_after_decord_is_loaded(tmp_path):
    # decord's bundled zlib breaks cv2's PNG decoding when decord is imported first; a fresh process shows it.
    frames = make_frames(3)
    write_video(tmp_path / "v.mkv", frames, "ffv1")
    write_png_folder(tmp_path / "png", frames)
    code = (
        "import sys; import numpy as np; from benchmark.data.video import open_video\n"
        "assert open_video(sys.argv[1]).read().shape == (3, 48, 64, 3)\n"
        "assert open_video(sys.argv[2]).read().shape == (3, 48, 64, 3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "v.mkv"), str(tmp_path / "png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "libpng error" not in result.stderr


def _yuv444_video(path, frames):
    """H.264 in 4:4:4, a pixel format with no window path (whole frames convert)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width, stream.pix_fmt = *frames.shape[1:3], "yuv444p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize(
    "codec,kind",
    [
        ("libx264", "YUV420Chunk"),
        ("mpeg4", "YUV420Chunk"),
        ("ffv1", "PackedRGBChunk"),
        ("libx264rgb", "RGBChunk"),  # decodes to gbrp: whole frames
        ("yuv444", "RGBChunk"),
    ],
)
def test_frame_chunks_are_pixel_identical_to_rgb_chunks(tmp_path, codec, kind):
    """FrameChunks keep frames as decoded and convert windows on demand: every frame and every window at
    odd places, sizes and the frame's edges must equal what iter_chunks yields (the preprocessed bytes)."""
    frames = make_frames(21, height=96, width=144, seed=5)
    if codec == "yuv444":
        path = _yuv444_video(tmp_path / "c444.mkv", frames)
    else:
        path = write_video(tmp_path / f"c_{codec}.mkv", frames, codec)
    reader = open_video(path)
    rgb = np.concatenate(list(reader.iter_chunks(8)))
    chunks = list(reader.iter_frame_chunks(8, 2, 21))
    assert {type(c).__name__ for c in chunks} == {kind}
    assert [len(c) for c in chunks] == [8, 8, 3]
    np.testing.assert_array_equal(np.concatenate([c.to_rgb() for c in chunks]), rgb[2:21])
    rng = np.random.default_rng(0)
    for c, first in zip(chunks, (2, 10, 18)):
        for i in range(len(c)):
            np.testing.assert_array_equal(c.rgb(i), rgb[first + i])
            for _ in range(4):
                w, h = int(rng.integers(1, 144)), int(rng.integers(1, 96))
                x0, y0 = int(rng.integers(0, 144 - w + 1)), int(rng.integers(0, 96 - h + 1))
                np.testing.assert_array_equal(
                    c.region(i, x0, y0, w, h), rgb[first + i, y0 : y0 + h, x0 : x0 + w]
                )
            np.testing.assert_array_equal(c.region(i, 139, 91, 5, 5), rgb[first + i, 91:, 139:])
    reader.decode_threads = 1  # as the preprocessing pipeline decodes: the same frames
    single = list(reader.iter_frame_chunks(8, 2, 21))
    np.testing.assert_array_equal(np.concatenate([c.to_rgb() for c in single]), rgb[2:21])


def test_two_threads_convert_windows_of_one_chunk_alike(tmp_path):
    """The preprocessing pipeline converts a chunk's detection frames in one thread while another cuts its
    face windows: each thread has its own converter, so neither sees the other's sizes."""
    from concurrent.futures import ThreadPoolExecutor

    frames = make_frames(16, height=96, width=144, seed=3)
    reader = open_video(write_video(tmp_path / "t.mkv", frames, "libx264"))
    rgb = reader.read()
    (chunk,) = list(reader.iter_frame_chunks(16))
    windows = [(i % 16, (7 * i) % 60, (5 * i) % 40, 20 + i % 60, 16 + i % 50) for i in range(400)]

    def convert(window):
        i, x0, y0, w, h = window
        return chunk.rgb(i) if w % 7 == 0 else chunk.region(i, x0, y0, w, h)

    with ThreadPoolExecutor(2) as pool:
        converted = list(pool.map(convert, windows))
    for (i, x0, y0, w, h), got in zip(windows, converted):
        expected = rgb[i] if w % 7 == 0 else rgb[i, y0 : y0 + h, x0 : x0 + w]
        np.testing.assert_array_equal(got, expected)


def test_window_path_falls_back_when_conversion_would_differ(tmp_path, monkeypatch):
    """When the first-frame check fails, the pass decodes whole RGB frames instead of changing pixels."""
    from benchmark.data import video

    frames = make_frames(6, height=48, width=64)
    reader = open_video(write_video(tmp_path / "f.mp4", frames, "libx264"))
    monkeypatch.setattr(video, "window_path_holds", lambda frame, expected: False)
    chunks = list(reader.iter_frame_chunks(4))
    assert [type(c).__name__ for c in chunks] == ["RGBChunk", "RGBChunk"]
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), reader.read())


def test_png_folder_frame_chunks_are_rgb(tmp_path):
    frames = make_frames(5)
    write_png_folder(tmp_path / "png", frames)
    chunks = list(open_video(tmp_path / "png").iter_frame_chunks(2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([c.to_rgb() for c in chunks]), frames)
