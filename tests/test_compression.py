"""Compression levels through the real encoders (PyAV/FFmpeg), on a small pulsing clip rendered here."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from scipy.stats import spearmanr

from benchmark.data import compression
from benchmark.data.compression import CompressionLevel, compress_video, compression_levels, load_levels
from benchmark.data.video import open_video
from benchmark.errors import ConfigError

FPS = 30
PULSE_HZ = 1.2


def render_pulsing_clip(
    path: Path, n: int = 150, w: int = 160, h: int = 120, amp: float = 1.0, seed: int = 0
):
    """A skin-coloured ellipse whose green channel pulses by `amp` grey levels, under sensor-like noise.

    Written losslessly (FFV1, bgr0) so `raw` is pixel-exact. Returns (pulse [n], mask of the blob [h, w]).
    """
    rng = np.random.default_rng(seed)
    pulse = np.sin(2 * np.pi * PULSE_HZ * np.arange(n) / FPS)
    yy, xx = np.mgrid[:h, :w]
    blob = ((xx - w / 2) / (w * 0.22)) ** 2 + ((yy - h / 2) / (h * 0.32)) ** 2 <= 1
    base = np.empty((h, w, 3), np.float32)
    base[:] = (60, 70, 90)
    base[blob] = (200, 140, 110)
    base += rng.normal(0, 6, (h, w, 1))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "bgr0"
        for i in range(n):
            img = base + rng.normal(0, 6, (h, w, 3))
            img[blob, 1] += amp * pulse[i]
            frame = av.VideoFrame.from_ndarray(
                np.clip(np.round(img), 0, 255).astype(np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return pulse, blob


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "pulse.mkv"
    pulse, blob = render_pulsing_clip(path)
    return path, pulse, blob


@pytest.fixture(scope="module")
def encoded(clip, tmp_path_factory):
    """Every configured level of the clip: name -> (CompressedVideo, pulse correlation)."""
    path, pulse, blob = clip
    root = tmp_path_factory.mktemp("compressed")
    out = {}
    for name in compression_levels():
        video = compress_video(path, name, cache_root=root)
        with open_video(video.path) as reader:
            frames = reader.read()
        assert frames.shape == (len(pulse), 120, 160, 3), name
        green = frames[:, blob, 1].astype(np.float64).mean(axis=1)
        out[name] = (video, float(np.corrcoef(green, pulse)[0, 1]))
    return out


def _quality_order(level: CompressionLevel) -> float:
    """Higher = better quality: a higher bitrate, a lower CRF or quantiser."""
    return level.value if level.mode == "bitrate" else -level.value


def test_levels_cover_protocol():
    levels = compression_levels()
    assert levels["raw"].is_raw
    for codec in ("x264", "x265", "mpeg4"):
        for kbps in (1000, 500, 250):
            level = levels[f"{codec}-{kbps}k"]
            assert (level.codec, level.mode, level.value) == (codec, "bitrate", kbps)
    assert {lv.mode for lv in levels.values() if lv.codec in ("x264", "x265")} == {"bitrate", "crf"}
    assert {lv.mode for lv in levels.values() if lv.codec == "mpeg4"} == {"bitrate", "qscale"}
    row = levels["x264-crf28"].describe()
    assert row == {"name": "x264-crf28", "codec": "x264", "mode": "crf", "value": 28}
    assert all(isinstance(v, (str, int, float)) for lv in levels.values() for v in lv.describe().values())


def test_bad_level_config_is_named(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("levels:\n  weird: {codec: mpeg4, mode: crf, value: 20}\n")
    with pytest.raises(ConfigError, match="weird"):
        load_levels(bad)
    bad.write_text("levels:\n  v: {codec: vp7, mode: bitrate, value: 20}\n")
    with pytest.raises(ConfigError, match="vp7"):
        load_levels(bad)
    with pytest.raises(ConfigError, match="unknown compression level"):
        compress_video(bad, "x264-9k")


@pytest.mark.slow
def test_each_level_decodes_and_bitrate_falls_with_quality(encoded, clip):
    path = clip[0]
    assert encoded["raw"][0].path == path and encoded["raw"][0].cached
    ladders: dict[tuple[str, str], list] = {}
    for video, _ in encoded.values():
        if not video.level.is_raw:
            ladders.setdefault((video.level.codec, video.level.mode), []).append(video)
    assert len(ladders) == 6
    for (codec, mode), videos in ladders.items():
        videos.sort(key=lambda v: _quality_order(v.level), reverse=True)
        kbps = [v.kbps for v in videos]
        assert all(a > b for a, b in zip(kbps, kbps[1:])), f"{codec}/{mode}: {kbps}"
        assert all(v.bits_per_pixel == pytest.approx(v.kbps * 1000 / FPS / (160 * 120)) for v in videos)
    for kbps in (1000, 500, 250):  # target bitrates are met within 20% on a clip that needs the bits
        for codec in ("x264", "x265", "mpeg4"):
            assert encoded[f"{codec}-{kbps}k"][0].kbps == pytest.approx(kbps, rel=0.2)


@pytest.mark.slow
def test_pulse_survives_raw_and_degrades_with_quality(encoded):
    assert encoded["raw"][1] > 0.98
    for codec in ("x264", "x265", "mpeg4"):
        rows = sorted(
            (v.bits_per_pixel, r) for v, r in encoded.values() if v.level.codec == codec
        )  # worst quality first
        bpp, corr = zip(*rows)
        assert corr[-1] > 0.9, f"{codec}: best level loses the pulse ({rows})"
        assert corr[0] < corr[-1] - 0.4, f"{codec}: the lowest level keeps the pulse ({rows})"
        assert spearmanr(bpp, corr).statistic > 0.6, f"{codec}: pulse not degrading with bitrate ({rows})"


@pytest.mark.slow
def test_encode_is_cached_by_content_and_level(clip, tmp_path):
    path = clip[0]
    before = compression.ENCODE_COUNT["n"]
    first = compress_video(path, "x264-crf28", cache_root=tmp_path)
    second = compress_video(path, "x264-crf28", cache_root=tmp_path)
    assert (first.cached, second.cached) == (False, True)
    assert compression.ENCODE_COUNT["n"] == before + 1
    assert second.path == first.path and second.kbps == first.kbps
    assert not list(tmp_path.glob(".*")), "temporary files left behind"
    copy = tmp_path / "copy.mkv"  # same bytes elsewhere: same cache entry
    copy.write_bytes(path.read_bytes())
    assert compress_video(copy, "x264-crf28", cache_root=tmp_path).cached
    other = CompressionLevel("x264-crf28", "x264", "crf", 30.0)  # same name, other settings: new entry
    assert not compress_video(path, other, cache_root=tmp_path).cached


def test_content_hash_is_the_file_sha256_and_follows_edits(tmp_path):
    import hashlib
    import os

    from benchmark.data.compression import content_hash

    video = tmp_path / "v.bin"
    video.write_bytes(b"frames" * 1000)
    assert content_hash(video) == hashlib.sha256(b"frames" * 1000).hexdigest()
    assert content_hash(video) == content_hash(video)  # memoised, same answer
    video.write_bytes(b"other!" * 1000)  # same size: the new mtime tells the edit
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert content_hash(video) == hashlib.sha256(b"other!" * 1000).hexdigest()
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "f1.png").write_bytes(b"a")
    first = content_hash(folder)
    (folder / "f1.png").rename(folder / "f2.png")  # a folder's frame names are part of its content
    assert content_hash(folder) != first


ENCODE_TWICE = """
import hashlib, json, sys, tempfile
from pathlib import Path
from benchmark.data.compression import compress_video
source, levels = Path(sys.argv[1]), sys.argv[2:]
out = {}
for level in levels:
    for _ in range(2):  # twice in this process, each into a fresh cache
        with tempfile.TemporaryDirectory() as root:
            video = compress_video(source, level, cache_root=Path(root))
            out.setdefault(level, []).append(hashlib.sha256(video.path.read_bytes()).hexdigest())
print(json.dumps(out))
"""


@pytest.mark.slow
def test_x264_and_x265_encodes_are_byte_identical_across_runs_and_processes(clip, tmp_path):
    """Same frames, same level -> same bytes, twice in a child process and once here.

    x264's AVX-512 kernels gave a different file almost every time on this 160x120 clip (see
    compression.x264_cpu_flags); this fails without that fix.
    """
    import hashlib
    import json
    import subprocess
    import sys

    levels = ["x264-crf28", "x264-250k", "x265-crf30"]
    child = subprocess.run(
        [sys.executable, "-c", ENCODE_TWICE, str(clip[0]), *levels],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    digests = json.loads(child.stdout)
    for level in levels:
        here = compress_video(clip[0], level, cache_root=tmp_path).path.read_bytes()
        digests[level].append(hashlib.sha256(here).hexdigest())
        assert len(set(digests[level])) == 1, f"{level}: {len(set(digests[level]))} different files of 3"
