"""Compression levels through the real encoders (PyAV/FFmpeg), on a small pulsing clip rendered here."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
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

    def frames():
        for i in range(n):
            img = base + rng.normal(0, 6, (h, w, 3))
            img[blob, 1] += amp * pulse[i]
            yield np.clip(np.round(img), 0, 255).astype(np.uint8)

    write_lossless(path, frames(), w, h)
    return pulse, blob


def write_lossless(path: Path, frames, w: int, h: int) -> None:
    """uint8 RGB frames [h, w, 3] into an FFV1 (bgr0) file: decoded back pixel-exact on any machine."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "bgr0"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


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
    for name, level in compression_levels().items():
        if level.reference is not None:  # per-pixel levels: 160x120 gets 1/16 of a VGA rate (test below)
            continue
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
    assert row == {"name": "x264-crf28", "codec": "x264", "mode": "crf", "value": 28, "per": "-"}
    for codec in ("x264", "x265", "mpeg4"):  # the protocol at a 640x480 30 fps video's bits per pixel
        for kbps in (1000, 500, 250):
            level = levels[f"{codec}-{kbps}k-vga"]
            assert (level.codec, level.mode, level.value, level.reference) == (
                codec, "bitrate", kbps, (640, 480, 30.0)
            )  # fmt: skip
            assert level.encoder_value(640, 480, 30.0) == kbps
            assert level.encoder_value(256, 192, 30.0) == pytest.approx(kbps * 0.16)
            assert levels[f"{codec}-{kbps}k"].encoder_value(256, 192, 30.0) == kbps
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
    bad.write_text("levels:\n  c: {codec: x264, mode: crf, value: 20, per: [640, 480, 30]}\n")
    with pytest.raises(ConfigError, match="bitrate levels only"):
        load_levels(bad)
    bad.write_text("levels:\n  b: {codec: x264, mode: bitrate, value: 250, per: [640, 480]}\n")
    with pytest.raises(ConfigError, match=r"\[width, height, fps\]"):
        load_levels(bad)


def test_absolute_levels_keep_their_cache_keys():
    """Adding per-pixel levels must not re-key (and re-encode) every cached encode of the absolute ones."""
    levels = compression_levels()
    assert levels["x264-250k"].key() == "48dad01b03bf32b5"
    assert levels["mpeg4-q12"].key() == "baadebee5b6adef9"
    assert levels["x264-250k-vga"].key() != levels["x264-250k"].key()


def test_a_vga_level_gives_a_small_video_the_bits_per_pixel_of_a_vga_one(clip, tmp_path):
    """x264-1000k-vga on a 160x120 30 fps clip: 1000 kbit/s x (160 x 120) / (640 x 480) = 62.5 kbit/s."""
    video = compress_video(clip[0], "x264-1000k-vga", cache_root=tmp_path)
    assert video.kbps == pytest.approx(62.5, rel=0.25)
    assert video.bits_per_pixel == pytest.approx(1000e3 / (640 * 480 * 30), rel=0.25)


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

    x264's AVX-512 kernels gave a different file almost every time on this 160x120 clip before encodes were
    pinned (compression.ENCODER_SIMD); this failed then.
    """
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


# The cross-machine contract (issue 24): the sha256 of each level's encode of render_digest_clip is committed
# in DIGESTS, made with the pinned PyAV wheel (its FFmpeg, x264 and x265). Another x86-64 CPU, another SIMD
# set or core count must give the same files. RPPG_UPDATE_DIGESTS=1 rewrites the file (after a deliberate
# change of encoder settings or of the PyAV pin; say why in the commit).
DIGESTS = Path(__file__).parent / "data" / "encode_digests.json"
UPDATE_DIGESTS = os.environ.get("RPPG_UPDATE_DIGESTS") == "1"
X86_64 = platform.machine().lower() in ("x86_64", "amd64")
# (clip, level): every level of the 160x120 clip (the smoke sweep's size), and one level per codec at
# 320x240 (where x265 runs wavefront-parallel rows, off at 160x120).
DIGEST_CASES = [("160x120", name) for name in compression_levels() if name != "raw"] + [
    ("320x240", name) for name in ("x264-crf28", "x265-500k", "mpeg4-q12")
]
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="the committed encode digests are an x86-64 contract")


def render_digest_clip(path: Path, n: int, w: int, h: int, seed: int = 24) -> None:
    """A clip from integer maths only, so its frames are the same on every machine.

    Why integers: a float's last bit can depend on the CPU (libm and numpy pick FMA/AVX-512 code paths),
    and one flipped rounding changes an encode. A colour gradient sliding 3 px a frame, a skin-coloured
    ellipse whose green follows a triangle wave, seeded integer noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.int64)
    a, b = w // 4, h // 3
    blob = (2 * xx - w) ** 2 * b**2 + (2 * yy - h) ** 2 * a**2 <= 4 * a**2 * b**2

    def frames():
        for i in range(n):
            img = np.empty((h, w, 3), np.int64)
            img[..., 0] = (2 * xx + 3 * i) % 200 + 30
            img[..., 1] = (yy + xx // 2 + i) % 160 + 50
            img[..., 2] = 90
            img[blob] = (200, 140 + abs(i % 20 - 10), 110)
            img += rng.integers(-6, 7, (h, w, 3))
            yield np.clip(img, 0, 255).astype(np.uint8)

    write_lossless(path, frames(), w, h)


@pytest.fixture(scope="module")
def digest_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("digest")
    clips = {"160x120": root / "d160.mkv", "320x240": root / "d320.mkv"}
    render_digest_clip(clips["160x120"], 30, 160, 120)
    render_digest_clip(clips["320x240"], 20, 320, 240)
    return clips


def _pinned_settings() -> dict:
    """What the digests hold for: the PyAV wheel and the encoder settings (tells a reader what changed)."""
    return {
        "pyav": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "simd": compression.ENCODER_SIMD,
        "yuv_conversion": list(compression.YUV_CONVERSION),
        "options": {codec: dict(spec.options) for codec, spec in compression.CODECS.items()},
    }


def _committed() -> dict:
    try:
        return json.loads(DIGESTS.read_text())
    except (OSError, ValueError) as err:
        pytest.fail(f"{DIGESTS}: cannot read the committed encode digests ({err})")


def _mismatches(got: dict[str, str], committed: dict, how: str) -> list[str]:
    """One line per (clip, level) whose sha256 is not the committed one, naming codec, level and flags."""
    lines = []
    for case, digest in got.items():
        want = committed["digests"].get(case)
        if digest != want:
            level = compression_levels()[case.split("/")[1]]
            spec = compression.CODECS[level.codec]
            lines.append(
                f"{case} ({spec.encoder} {level.mode}={level.value:g}): sha256 {digest[:16]}..., committed "
                f"{str(want)[:16]}...; flags {compression.encoder_options(spec)} {how}"
            )
    return lines


@needs_x86_64
def test_encodes_match_committed_digests(digest_clips, tmp_path):
    """Every level of the integer clip encodes to the committed bytes: encodes do not depend on the CPU."""
    committed = {} if UPDATE_DIGESTS else _committed()
    settings = _pinned_settings()
    if not UPDATE_DIGESTS and committed["pyav"] != settings["pyav"]:
        pytest.fail(
            f"{DIGESTS} holds for PyAV {committed['pyav']} (its bundled FFmpeg/x264/x265), this is PyAV "
            f"{settings['pyav']}: install the version pyproject.toml pins, or regenerate the digests "
            "(RPPG_UPDATE_DIGESTS=1) on purpose"
        )
    got = {}
    for clip, name in DIGEST_CASES:
        video = compress_video(digest_clips[clip], name, cache_root=tmp_path)
        got[f"{clip}/{name}"] = hashlib.sha256(video.path.read_bytes()).hexdigest()
    if UPDATE_DIGESTS:
        DIGESTS.parent.mkdir(exist_ok=True)
        DIGESTS.write_text(json.dumps({**settings, "digests": got}, indent=1) + "\n")
        return
    bad = _mismatches(got, committed, f"(asm={compression.encoder_simd()} on this CPU)")
    changed = {k: (committed.get(k), v) for k, v in settings.items() if committed.get(k) != v}
    assert not bad, (
        f"{len(bad)} of {len(got)} encodes differ from {DIGESTS.name}"
        + (f"; settings changed since it was written: {changed}" if changed else "")
        + ":\n"
        + "\n".join(bad)
    )


@needs_x86_64
def test_encoding_levels_in_one_pass_gives_the_committed_bytes(digest_clips, tmp_path):
    """compress_levels feeds one decode of the source to every codec at once (what a sweep's first pass over
    a dataset does): each file must be the same bytes as that level encoded alone, and cached as usual."""
    committed = _committed()
    levels = [name for clip, name in DIGEST_CASES if clip == "160x120"]
    before = compression.ENCODE_COUNT["n"]
    videos = compression.compress_levels(digest_clips["160x120"], ["raw", *levels], cache_root=tmp_path)
    assert compression.ENCODE_COUNT["n"] == before + len(levels)
    assert videos["raw"].path == digest_clips["160x120"] and set(videos) == {"raw", *levels}
    got = {f"160x120/{name}": hashlib.sha256(videos[name].path.read_bytes()).hexdigest() for name in levels}
    bad = _mismatches(got, committed, "(encoded together in one pass)")
    assert not bad, "\n".join(bad)
    again = compression.compress_levels(digest_clips["160x120"], levels, cache_root=tmp_path)
    assert all(v.cached for v in again.values()) and compression.ENCODE_COUNT["n"] == before + len(levels)
    assert {n: v.kbps for n, v in again.items()} == {n: videos[n].kbps for n in levels}


FORCED_ENCODE = """
import ctypes, glob, hashlib, json, os, sys
from pathlib import Path
import av
source, root, simd = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
av_flags, levels = int(sys.argv[4]), sys.argv[5:]
if av_flags >= 0:  # FFmpeg's own SIMD (swscale, the mpeg4 encoder's DSP) held to these AV_CPU_FLAG_* bits
    here = os.path.dirname(av.__file__)
    libs = [*glob.glob(os.path.join(here, "..", "av.libs", "libavutil*")),
            *glob.glob(os.path.join(here, ".dylibs", "libavutil*"))]
    if not libs:
        print(json.dumps("no-libavutil"))
        sys.exit(0)
    ctypes.CDLL(libs[0]).av_force_cpu_flags(av_flags)
from benchmark.data import compression
compression.encoder_simd = lambda: simd  # x264 and x265 held to this SIMD set (x265 sets it once a process)
out = {}
for level in levels:
    video = compression.compress_video(source, level, cache_root=root / f"{simd}-{av_flags}")
    out[level] = hashlib.sha256(video.path.read_bytes()).hexdigest()
print(json.dumps(out))
"""
# AV_CPU_FLAG_MMX | MMXEXT | SSE | SSE2 | CMOV: the SIMD every x86-64 CPU has; 0: FFmpeg's plain C.
AV_X86_64_BASELINE = 0x101B


def _forced_encodes(source: Path, root: Path, simd: str, av_flags: int, levels: list[str]) -> dict | str:
    child = subprocess.run(
        [sys.executable, "-c", FORCED_ENCODE, str(source), str(root), simd, str(av_flags), *levels],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, (
        f"encoding with asm={simd}, FFmpeg cpu flags {av_flags}: {child.stderr[-2000:]}"
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


@needs_x86_64
@pytest.mark.slow
def test_every_simd_set_gives_the_committed_bytes(digest_clips, tmp_path):
    """x264/x265 held to each SIMD set this CPU has (down to plain C), FFmpeg's own SIMD to the x86-64
    baseline or to plain C: the same files. A CPU with other features picks another set and gets these bytes.

    (FFmpeg's mpeg4 encoder in plain C gives other bytes, which x86-64, where SSE2 is always there, never
    runs; so the plain-C run covers only x264 and x265, whose input conversion it then checks.)
    """
    committed = _committed()
    source, bad = digest_clips["160x120"], []
    runs = [
        (simd, -1, ["x264-250k", "x264-crf28", "x265-250k", "x265-crf30"])
        for simd in compression.supported_simd()
    ]
    runs += [("0", -1, ["x264-250k", "x264-crf28", "x265-250k", "x265-crf30"])]
    runs += [(compression.encoder_simd(), AV_X86_64_BASELINE, ["mpeg4-250k", "mpeg4-q12", "x264-crf28"])]
    runs += [(compression.encoder_simd(), 0, ["x264-crf28", "x265-crf30"])]
    for simd, av_flags, levels in runs:
        got = _forced_encodes(source, tmp_path, simd, av_flags, levels)
        if got == "no-libavutil":
            continue  # FFmpeg's flags cannot be forced from here; the x264/x265 runs still count
        got = {f"160x120/{level}": digest for level, digest in got.items()}
        bad += _mismatches(got, committed, f"forced to asm={simd}, FFmpeg cpu flags {av_flags:#x}")
    assert not bad, "encodes depend on the SIMD set:\n" + "\n".join(bad)
