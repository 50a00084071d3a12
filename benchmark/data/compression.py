"""Compression levels: a sweep axis. Re-encodes the full frame through PyAV/FFmpeg, cached by content.

Levels are a registry loaded from configs/compression.yaml; a codec is a small table entry (encoder name +
the rate-control modes it supports), a mode is a function that sets the encoder's options. The encode of a
(source content, level) pair happens once: later calls find the cached file and its measured bitrate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import yaml

from benchmark.errors import ConfigError, DataError
from benchmark.paths import atomic_write, cache_dir, config_dir

log = logging.getLogger(__name__)

RAW = "raw"
CHUNK = 128
# How many encodes this process ran (tests prove the cache by counting).
ENCODE_COUNT = {"n": 0}


@dataclass(frozen=True)
class CodecSpec:
    """An FFmpeg encoder and the rate-control modes it supports."""

    encoder: str
    modes: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()


# Encodes are a function of the frames and the level alone, the same bytes on every x86-64 machine (issue
# 24): nothing below may depend on the CPU model, its SIMD set or its core count.
# - x264 `cpu-independent=1`: x264's own switch for this; it keeps the two kinds of kernel that are not
#   bit-exact across SIMD sets (the float mbtree propagation and the 9-way intra search) on their canonical
#   versions. Without it the bytes differ between asm=SSE2 and asm=SSE4.2, and again with AVX-512.
# - Threads pinned, never "auto": x264 2 frame threads (not sliced, 1 lookahead thread), x265 one frame thread
#   and a pool of 2, mpeg4 one thread (its slice count is its thread count, so "auto" changes the bytes).
# - x265 `info=0`: its version SEI spells out every option, including the SIMD set it ran with (cpuid).
# - Both encoders get an explicit SIMD set, `asm=`: see ENCODER_SIMD.
ENCODER_THREADS = 2
CODECS: dict[str, CodecSpec] = {
    "x264": CodecSpec(
        "libx264",
        ("bitrate", "crf"),
        (
            (
                "x264-params",
                f"threads={ENCODER_THREADS}:lookahead-threads=1:sliced-threads=0:cpu-independent=1",
            ),
        ),
    ),
    "x265": CodecSpec(
        "libx265",
        ("bitrate", "crf"),
        (("x265-params", f"log-level=error:frame-threads=1:pools={ENCODER_THREADS}:info=0"),),
    ),
    "mpeg4": CodecSpec("mpeg4", ("bitrate", "qscale"), (("threads", "1"),)),
}
# The SIMD set x264 and x265 run with (their `asm=` names): x86-64-v3, which every Intel CPU since Haswell
# (2013) and every AMD one since Zen (2017) has, Xeon and EPYC cloud VMs included. Measured here (CPU time,
# loaded 2-core EPYC): x265 with AVX2 as fast as its own pick, 1.3-1.5x slower with AVX, 1.6x with SSE4.2,
# 2-2.7x with SSE2; x264 within noise from SSE2 up, 4-7x slower in plain C. AVX-512 is left out: not every
# CI machine has it, and x264's AVX-512 kernels once gave run-to-run different files on an EPYC.
# A CPU without AVX2 gets the next set down: the bytes are the same with any of them (asm=0, plain C,
# included), which tests/test_compression.py checks; only the speed changes.
ENCODER_SIMD = "AVX2"
SIMD_FALLBACKS = ("AVX", "SSE4.2", "SSSE3", "SSE2")
# RGB -> yuv420p before the encoder, with swscale's exact rounding (bit-exact with its plain C code; its
# default SIMD rounding is not) on one thread.
YUV_CONVERSION = ("ACCURATE_RND", "BITEXACT")


def _x264_reported_cpu() -> list[str]:
    """The CPU feature names libx264 detects here (from its start-up log line); [] if it does not say."""
    import av
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture() as logs:
            probe = av.CodecContext.create("libx264", "w")
            probe.width, probe.height, probe.pix_fmt, probe.time_base = 64, 64, "yuv420p", Fraction(1, 30)
            probe.open()
    finally:
        av.logging.set_level(previous)
    for _level, _name, message in logs:
        if "using cpu capabilities:" in message:
            return message.split(":", 1)[1].split()
    return []


@lru_cache(maxsize=1)
def supported_simd() -> tuple[str, ...]:
    """ENCODER_SIMD and SIMD_FALLBACKS that this CPU has, best first (from x264's own detection)."""
    names = _x264_reported_cpu()
    has = set(names) | ({"SSE2"} if any(n.startswith("SSE2") for n in names) else set())
    return tuple(s for s in (ENCODER_SIMD, *SIMD_FALLBACKS) if s in has)


@lru_cache(maxsize=1)
def encoder_simd() -> str:
    """The `asm=` set for x264 and x265 here: ENCODER_SIMD, or the best fallback this CPU has.

    Why not just force ENCODER_SIMD: on a CPU without it the encoders would die on an illegal instruction.
    Other architectures get the encoders' own choice ("auto"): the committed digests are an x86-64 contract.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        log.warning("encoder SIMD left to x264/x265 on %s: encodes are pinned for x86-64", platform.machine())
        return "auto"
    supported = supported_simd()
    simd = supported[0] if supported else "0"
    if simd != ENCODER_SIMD:
        log.warning(
            "this CPU lacks %s (libx264 reports: %s); encoding with asm=%s: the same bytes, slower",
            ENCODER_SIMD,
            " ".join(_x264_reported_cpu()) or "nothing",
            simd,
        )
    return simd


def encoder_options(spec: CodecSpec) -> dict[str, str]:
    """The encoder's fixed options, with the SIMD set (encoder_simd) for x264 and x265."""
    options = dict(spec.options)
    if spec.encoder == "libx264":
        options["x264-params"] += f":asm={encoder_simd()}"
    elif spec.encoder == "libx265":
        options["x265-params"] += f":asm={encoder_simd()}"
    return options


def _bitrate(stream, value: float) -> dict[str, str]:
    stream.bit_rate = int(value * 1000)
    return {}


def _crf(stream, value: float) -> dict[str, str]:
    return {"crf": f"{value:g}"}


def _qscale(stream, value: float) -> dict[str, str]:
    # MPEG4's bitrate control floors near quantiser 2; pinning qmin = qmax gives a real quality ladder.
    q = str(int(value))
    return {"qmin": q, "qmax": q}


# mode -> sets the stream's rate control, returns extra encoder options
MODES: dict[str, Callable[[object, float], dict[str, str]]] = {
    "bitrate": _bitrate,
    "crf": _crf,
    "qscale": _qscale,
}


@dataclass(frozen=True)
class CompressionLevel:
    """One named level: `raw` (the source untouched) or codec @ mode=value.

    A bitrate level with a `reference` (width, height, fps) is relative to the frame's size: `value` kbit/s
    is what a video of the reference size gets, and any other video gets the same bits per pixel and frame
    (value scaled by its pixel rate over the reference's). The rPPGNet/STVEN protocol's 250 kbit/s was set
    for real recordings (MAHNOB-HCI 780x580 at 61 fps; UBFC-rPPG and PURE are 640x480 at 30): on SynthPulse's
    256x192 frames the same nominal rate is 6.25x the bits per pixel of a 640x480 video, and MPEG-4 never
    even spends it (docs/synthpulse.md, "Compression")."""

    name: str
    codec: str = RAW
    mode: str = ""
    value: float = 0.0
    version: int = 1
    reference: tuple[int, int, float] | None = None

    @property
    def is_raw(self) -> bool:
        return self.codec == RAW

    def describe(self) -> dict:
        """Flat row for `python -m benchmark list compression` (bitrate values are kbit/s)."""
        value = "" if self.is_raw else (int(self.value) if float(self.value).is_integer() else self.value)
        row = {"name": self.name, "codec": self.codec, "mode": self.mode or "-", "value": value}
        w, h, fps = self.reference or (0, 0, 0)
        row["per"] = f"{w}x{h} at {fps:g} fps (same bits per pixel at any size)" if self.reference else "-"
        return row

    def encoder_value(self, width: int, height: int, fps: float) -> float:
        """The mode's value for a video of this size: `value`, scaled by pixel rate for a reference level."""
        if self.reference is None:
            return self.value
        w, h, f = self.reference
        return self.value * (width * height * fps) / (w * h * f)

    def key(self) -> str:
        """Stable hash of what changes the encoded bytes (cache key part)."""
        spec = CODECS.get(self.codec)
        payload = [self.version, self.codec, self.mode, float(self.value), spec.encoder if spec else RAW]
        if spec:  # the pinned encoder settings and input conversion: new keys whenever they change
            payload.append(["portable-v2", *map(list, spec.options), list(YUV_CONVERSION)])
        # absent for absolute levels: their keys (and caches) stay as they were
        if self.reference is not None:
            payload.append(["per", *map(float, self.reference)])
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CompressedVideo:
    """The video a pipeline decodes for one level, with the bitrate the level achieved."""

    path: Path
    level: CompressionLevel
    bits_per_pixel: float
    kbps: float
    cached: bool


def _parse_level(name: str, entry: dict, version: int, where: Path) -> CompressionLevel:
    if not isinstance(entry, dict) or "codec" not in entry:
        raise ConfigError(f"{where}: level {name!r} needs a mapping with a codec")
    codec = str(entry["codec"])
    if codec == RAW:
        return CompressionLevel(name=name, version=version)
    if codec not in CODECS:
        raise ConfigError(
            f"{where}: level {name!r} has unknown codec {codec!r}; known: raw, {', '.join(CODECS)}"
        )
    mode = str(entry.get("mode", ""))
    if mode not in CODECS[codec].modes:
        raise ConfigError(
            f"{where}: level {name!r}: codec {codec} supports modes {CODECS[codec].modes}, not {mode!r}"
        )
    value = entry.get("value")
    lowest = 0 if mode == "crf" else 1  # crf 0 is a real (near-lossless) setting; a zero bitrate is not
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lowest:
        raise ConfigError(f"{where}: level {name!r} needs a numeric value >= {lowest}, got {value!r}")
    return CompressionLevel(
        name=name, codec=codec, mode=mode, value=float(value), version=version,
        reference=_parse_reference(name, entry, mode, where),
    )  # fmt: skip


def _parse_reference(name: str, entry: dict, mode: str, where: Path) -> tuple[int, int, float] | None:
    """`per: [width, height, fps]` of a bitrate level (see CompressionLevel), or None."""
    per = entry.get("per")
    if per is None:
        return None
    if mode != "bitrate":
        raise ConfigError(f"{where}: level {name!r}: `per` applies to bitrate levels only, not {mode!r}")
    ok = isinstance(per, list) and len(per) == 3
    ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in per)
    if not ok:
        raise ConfigError(f"{where}: level {name!r}: `per` must be [width, height, fps] > 0, got {per!r}")
    return int(per[0]), int(per[1]), float(per[2])


def load_levels(path: Path) -> dict[str, CompressionLevel]:
    """Levels of one YAML file (name -> level), validated against CODECS and MODES."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read compression levels: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("levels"), dict):
        raise ConfigError(f"{path}: expected a mapping with `levels:`")
    version = int(doc.get("version", 1))
    return {name: _parse_level(name, entry, version, Path(path)) for name, entry in doc["levels"].items()}


def compression_levels() -> dict[str, CompressionLevel]:
    """The named levels of configs/compression.yaml (RPPG_CONFIG_DIR moves it)."""
    return _levels_cached(str(config_dir() / "compression.yaml"))


@lru_cache(maxsize=4)
def _levels_cached(path: str) -> dict[str, CompressionLevel]:
    return load_levels(Path(path))


def get_level(level: str | CompressionLevel) -> CompressionLevel:
    if isinstance(level, CompressionLevel):
        return level
    levels = compression_levels()
    if level not in levels:
        raise ConfigError(f"unknown compression level {level!r}; known: {', '.join(levels)}")
    return levels[level]


def _source_files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file())
    return [source]


@lru_cache(maxsize=1024)
def _hash_files(stamp: tuple) -> str:
    digest = hashlib.sha256()
    for path, label, _size, _mtime in stamp:
        if label:
            digest.update(label.encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def content_hash(source: str | Path) -> str:
    """SHA-256 of a video file's bytes (or of a frame folder's files).

    Memoised per (path, size, mtime) in this process and on disk under cache_dir()/"hashes", so a dataset
    of large raw videos is read in full once, not at every run.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(source, "video not found")
    # A folder's frame names are part of its content; a single file's own name is not.
    stamp = tuple(
        (str(p.resolve()), p.name if source.is_dir() else "", p.stat().st_size, p.stat().st_mtime_ns)
        for p in _source_files(source)
    )
    memo = cache_dir() / "hashes" / hashlib.sha256(json.dumps(["sha256-v1", stamp]).encode()).hexdigest()[:32]
    try:
        known = memo.read_text().strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    digest = _hash_files(stamp)
    memo.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(memo, digest)
    return digest


def _bits_per_pixel(bits: float, width: int, height: int, frames: int) -> float:
    return bits / float(width * height * max(frames, 1))


def _raw(source: Path, level: CompressionLevel, fps: float | None) -> CompressedVideo:
    from benchmark.data.video import open_video

    with open_video(source, fps) as reader:
        n, w, h, rate = reader.num_frames, reader.width, reader.height, reader.fps
    bits = 8.0 * sum(p.stat().st_size for p in _source_files(source))
    return CompressedVideo(
        source, level, _bits_per_pixel(bits, w, h, n), bits / (n / rate) / 1000, cached=True
    )


def yuv420p_converter() -> Callable:
    """image uint8 [H, W, 3] (even sides) -> yuv420p VideoFrame through swscale's exact rounding on one
    thread: the same bytes with or without SIMD, so the encoder's input does not depend on the CPU either."""
    import av
    from av.video.reformatter import Interpolation, VideoReformatter

    conversion = Interpolation.BILINEAR
    for flag in YUV_CONVERSION:
        conversion |= Interpolation[flag]
    to_yuv = VideoReformatter()

    def convert(image):
        rgb = av.VideoFrame.from_ndarray(image, format="rgb24")
        return to_yuv.reformat(rgb, format="yuv420p", interpolation=conversion, threads=1)

    return convert


class _LevelEncoder:
    """One level's encoder writing `target` (yuv420p mp4); counts the bits of the packets it writes."""

    def __init__(self, level: CompressionLevel, target: Path, rate: Fraction, width: int, height: int):
        import av

        spec = CODECS[level.codec]
        self.level, self.rate, self.bits, self.frames = level, rate, 0, 0
        self.width, self.height = width, height
        self.out = av.open(str(target), "w", format="mp4")
        self.stream = self.out.add_stream(spec.encoder, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        options = encoder_options(spec)
        options.update(MODES[level.mode](self.stream, level.encoder_value(width, height, float(rate))))
        self.stream.options = options

    def _mux(self, packets) -> None:
        for packet in packets:
            self.bits += 8 * packet.size
            self.out.mux(packet)

    def add(self, frame) -> None:
        frame.pts, frame.time_base = self.frames, 1 / self.rate  # the encoder may rebase a shared frame
        self.frames += 1
        self._mux(self.stream.encode(frame))

    def finish(self) -> dict:
        self._mux(self.stream.encode(None))
        self.out.close()
        seconds = self.frames / float(self.rate)
        return {
            "level": self.level.name,
            "level_key": self.level.key(),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "bits_per_pixel": _bits_per_pixel(self.bits, self.width, self.height, self.frames),
            "kbps": self.bits / seconds / 1000,
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.out.close()


def _encode(source: Path, jobs: list[tuple[CompressionLevel, Path]], fps: float | None) -> list[dict]:
    """Encodes the full frame at every (level, target) of `jobs` in one pass over the source: one decode and
    one yuv420p conversion per frame, fed to every encoder (yuv420p needs even sides); returns each level's
    measured size stats. The bytes are those of encoding each level alone: same frames, same settings."""
    from benchmark.data.video import open_video

    to_yuv420p = yuv420p_converter()
    ENCODE_COUNT["n"] += len(jobs)
    encoders: list[_LevelEncoder] = []
    try:
        with open_video(source, fps) as reader:
            rate = Fraction(reader.fps).limit_denominator(1001)
            width, height = reader.width // 2 * 2, reader.height // 2 * 2
            encoders = [_LevelEncoder(level, target, rate, width, height) for level, target in jobs]
            for chunk in reader.iter_chunks(CHUNK):
                for image in chunk:
                    frame = to_yuv420p(image[:height, :width])
                    for encoder in encoders:
                        encoder.add(frame)
        return [encoder.finish() for encoder in encoders]
    finally:
        for encoder in encoders:
            encoder.close()


def compress_video(
    source: str | Path,
    level: str | CompressionLevel,
    cache_root: Path | None = None,
    fps: float | None = None,
) -> CompressedVideo:
    """The source re-encoded at `level` (the source itself for `raw`), from the cache when it exists.

    Args:
        source: a video file or a folder of frames.
        level: a level name from configs/compression.yaml or a CompressionLevel.
        cache_root: where encodes live (default: cache_dir()/"compressed").
        fps: frame rate for sources that carry none (image folders).
    """
    level = get_level(level)
    return compress_levels(source, [level], cache_root, fps)[level.name]


def compress_levels(
    source: str | Path,
    levels: list[str | CompressionLevel],
    cache_root: Path | None = None,
    fps: float | None = None,
) -> dict[str, CompressedVideo]:
    """The source at each of `levels` (name -> CompressedVideo); the levels not cached yet are encoded in one
    pass over the source, so a sweep's codecs cost one decode of it, not one each.

    Each encode is written to a temporary file and renamed; its stats file is renamed last, so a stats file
    only exists beside a complete video.
    """
    source = Path(source)
    wanted = list(dict.fromkeys(get_level(level) for level in levels))
    done = {level.name: _raw(source, level, fps) for level in wanted if level.is_raw}
    coded = [level for level in wanted if not level.is_raw]
    if not coded:
        return done
    root = Path(cache_root) if cache_root is not None else cache_dir() / "compressed"
    root.mkdir(parents=True, exist_ok=True)
    source_hash = content_hash(source)[:24]
    todo: list[tuple[CompressionLevel, Path, Path]] = []
    for level in coded:
        stem = f"{source_hash}-{level.name}-{level.key()}"
        video, stats_path = root / f"{stem}.mp4", root / f"{stem}.json"
        if stats_path.exists() and video.exists():
            done[level.name] = _compressed(video, level, json.loads(stats_path.read_text()), cached=True)
        else:
            todo.append((level, video, stats_path))
    if todo:
        done.update(_encode_into_cache(source, todo, root, fps))
    return done


def _encode_into_cache(
    source: Path, todo: list[tuple[CompressionLevel, Path, Path]], root: Path, fps: float | None
) -> dict[str, CompressedVideo]:
    temporaries = []
    for _level, video, _stats in todo:
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{video.stem}.", suffix=".mp4")
        os.close(fd)
        temporaries.append(Path(tmp))
    try:
        all_stats = _encode(source, [(level, tmp) for (level, _, _), tmp in zip(todo, temporaries)], fps)
        for tmp, (_level, video, _stats) in zip(temporaries, todo):
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, video)
    except Exception as err:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        if isinstance(err, DataError):
            raise
        names = ", ".join(level.name for level, _, _ in todo)
        raise DataError(source, f"encoding at level(s) {names} failed: {err}") from err
    out = {}
    for stats, (level, video, stats_path) in zip(all_stats, todo):
        atomic_write(stats_path, json.dumps(stats, indent=1))
        out[level.name] = _compressed(video, level, stats, cached=False)
    return out


def _compressed(video: Path, level: CompressionLevel, stats: dict, cached: bool) -> CompressedVideo:
    return CompressedVideo(video, level, stats["bits_per_pixel"], stats["kbps"], cached=cached)
