"""Preprocessed cache: one streaming pass (decode -> face crop -> resize -> write) per recording and setting.

Each entry is a folder `<root>/<key>/` holding uint8 face crops [N, S, S, 3] (a raw file read back as a
memmap), the PPG aligned to the frames, the crop boxes, the face_missing flags and `manifest.json`. The key
hashes the recording, its source bytes, its ground truth (a corrected PPG file or shifted timestamps must
not be served the old label), the compression level, the face config and S. An entry is built in
a temporary folder, fsynced, its manifest written last, then renamed into place: a killed run leaves only a
temporary folder, never an entry that a later run would trust. One pass can build the entries of several
sides S (`also_sizes`), each resized straight from the full-resolution window.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmark.data.compression import (
    CompressionLevel,
    compress_levels,
    compress_video,
    content_hash,
    get_level,
)
from benchmark.data.face import FaceConfig, FacePlan, FaceTracker
from benchmark.data.recording import Recording
from benchmark.errors import DataError, NoFaceError
from benchmark.paths import cache_dir

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FRAMES = "frames.u8"
ARRAYS = ("ppg", "boxes", "face_missing")
CHUNK = 64  # frames decoded at once: 64 x 640x480x3 = 59 MB, whatever the video's length
# Decode passes this process ran (tests prove a cache hit decodes nothing).
DECODE_COUNT = {"n": 0}
WORKERS_ENV = "RPPG_PREPROCESS_WORKERS"
MAX_DEFAULT_WORKERS = 4  # each worker holds ~200 MB (its imports, one recording's chunks in flight)
# With the default worker count, a pool starts only for at least this many pixel-frames to build (~2 s of
# one core: 1200 VGA frames): a worker process takes about a second to start, more than a SynthPulse smoke
# dataset (12 x 300 frames of 160x120) costs to build in place.
POOL_MIN_PIXEL_FRAMES = 1200 * 640 * 480


@dataclass
class Preprocessed:
    """One recording's face crops and aligned label, read from the cache.

    Attributes:
        frames: uint8 [N, S, S, 3] memmap (read-only).
        ppg: float32 [N] ground truth at the frame times.
        boxes: int32 [N, 4] crop box (x, y, w, h) in the decoded frame; -1 where no box was held.
        face_missing: bool [N] frames with no detection within FaceConfig.max_gap_s.
        fps: the recording's frame rate.
        meta: the manifest (config, bits_per_pixel of the level, n_frames, source hash, detection stats).
        path: the cache folder.
        cached: True when read from an existing entry, False when this call built it.
    """

    frames: np.ndarray
    ppg: np.ndarray
    boxes: np.ndarray
    face_missing: np.ndarray
    fps: float
    meta: dict
    path: Path
    cached: bool = field(default=True)

    @property
    def key(self) -> str:
        """The recording's key (dataset/id)."""
        return self.meta["recording"]

    def __len__(self) -> int:
        return int(self.meta["n_frames"])


def label_hash(recording: Recording) -> str:
    """SHA-256 of the ground truth the entry's `ppg` is interpolated from (samples and all timestamps)."""
    digest = hashlib.sha256()
    for array in (recording.ppg, recording.ppg_times, recording.frame_times):
        if array is None:
            digest.update(b"none;")
            continue
        digest.update(f"{len(array)};".encode())
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def cache_key(recording: Recording, level: CompressionLevel, face: FaceConfig, size: int) -> str:
    """Hash of what determines the entry's bytes."""
    payload = {
        "format": FORMAT_VERSION,
        "recording": recording.key,
        "source": content_hash(recording.video),
        "labels": label_hash(recording),
        "level": [level.name, level.key()],
        "face": face.key(),
        "size": int(size),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def load_entry(path: Path) -> Preprocessed | None:
    """The entry at `path`, or None when it is absent or incomplete (no manifest, wrong file sizes)."""
    try:
        meta = json.loads((path / MANIFEST).read_text())
        n, size = int(meta["n_frames"]), int(meta["size"])
        frames_file = path / FRAMES
        if frames_file.stat().st_size != n * size * size * 3:
            return None
        arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False) for name in ARRAYS}
        if any(len(a) != n for a in arrays.values()):
            return None
        frames = np.memmap(frames_file, dtype=np.uint8, mode="r", shape=(n, size, size, 3))
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return Preprocessed(frames=frames, fps=float(meta["fps"]), meta=meta, path=path, **arrays)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_array(folder: Path, name: str, array: np.ndarray) -> None:
    np.save(folder / f"{name}.npy", array, allow_pickle=False)
    _fsync(folder / f"{name}.npy")


def _temporary_name(key: str) -> str:
    """`.tmp-<key>-<pid>-<random>-<host>`: the host, because a cache shared by several machines (Ray workers)
    holds other hosts' temporaries, whose process ids mean nothing here."""
    return f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{socket.gethostname()}"


def _remove_stale_temporaries(root: Path, key: str) -> None:
    """Temporary folders of this key left by processes of this host that no longer run (killed mid-write);
    a live process's (this one's included: another thread may be writing it) and another host's are left
    alone."""
    for tmp in root.glob(f".tmp-{key}-*"):
        _, _, pid, _, *host = tmp.name.split("-", 4)
        if host and host[0] != socket.gethostname():
            continue
        pid = int(pid)
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            shutil.rmtree(tmp, ignore_errors=True)


# whether a build runs its stages (decode, detect, cut) in threads of their own: off in a pool worker that
# has one core to itself, where threads would only contend for it
THREADED = {"on": True}


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Produces the next items in a thread while the caller works on this one (decoders and OpenCV release
    the GIL, so decoding, face detection and cutting overlap). The thread starts an item only when fewer
    than `depth` are ahead of the caller: at most `depth` wait or are being made, so memory stays flat (a
    chunk of VGA frames is 30 MB)."""
    ready: queue.Queue = queue.Queue()
    room = threading.Semaphore(depth)
    stop = threading.Event()
    done = object()

    def wait_for_room() -> bool:
        """True once fewer than `depth` items are ahead; False when the consumer has gone (never blocks
        forever)."""
        while not stop.is_set():
            if room.acquire(timeout=0.1):
                return True
        return False

    def produce() -> None:
        source = iter(items)
        try:
            while wait_for_room():
                item = next(source, done)
                ready.put(item)
                if item is done:
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            ready.put(err)
        finally:  # a source that is itself a prefetch stops its own thread here, not when collected
            getattr(items, "close", lambda: None)()

    thread = threading.Thread(target=produce, name="preprocess-stage", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not done:
            room.release()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _stage(items: Iterator) -> Iterator:
    """`items` produced in a thread of its own (THREADED), else where they are iterated."""
    return prefetch(items) if THREADED["on"] else items


def _decode_threads() -> int:
    """FFmpeg threads of a build's decode stage: the build's cores less one, which detection and cutting use
    (on 2 cores, 1: FFmpeg's frame threading spends more CPU a frame than one thread, CPU those stages
    need)."""
    from benchmark.data import video

    return max(1, (video.DECODE_THREADS["n"] or available_cores()) - 1)


def planned(tracker: FaceTracker, chunks: Iterator) -> Iterator[tuple[object, FacePlan]]:
    """(chunk, its FacePlan) for consecutive chunks: the tracker's detections run where this is iterated, so
    under `prefetch` they run in a thread of their own while the caller cuts the previous chunk's crops."""
    start = 0
    for chunk in chunks:
        yield chunk, tracker.plan(chunk, start)
        start += len(chunk)


def _compressed(recording: Recording, level: CompressionLevel, encode_with: Sequence) -> object:
    """The recording's video at `level`, encoded together with the `encode_with` levels not cached yet (one
    decode of the source for all of them); if that joint encode fails, `level` alone, so one codec that fails
    does not take the others down with it."""
    others = [other for other in map(get_level, encode_with) if not other.is_raw]  # raw is the source itself
    if level.is_raw or not others:
        return compress_video(recording.video, level, fps=recording.fps)
    try:
        return compress_levels(recording.video, [level, *others], fps=recording.fps)[level.name]
    except DataError as err:
        log.warning("%s: encoding the sweep's levels together failed (%s); encoding %s alone", recording.key,
                    err.problem, level.name)  # fmt: skip
        return compress_video(recording.video, level, fps=recording.fps)


def _build(
    recording: Recording, level: CompressionLevel, face: FaceConfig, tmps: dict[int, Path], encode_with=()
) -> dict[int, dict]:
    """Streams the (compressed) video through the face stage once, writing the crops of every side in `tmps`
    (side -> temporary folder, the entry's own side first) from the same boxes; returns side -> manifest."""
    from benchmark.data.video import open_video

    compressed = _compressed(recording, level, encode_with)
    DECODE_COUNT["n"] += 1
    size, *extra = tmps
    tracker = FaceTracker(face, size, recording.fps, recording.video, extra_sizes=extra)
    n = 0
    boxes, missing = [], []
    with contextlib.ExitStack() as stack:
        reader = stack.enter_context(open_video(compressed.path, recording.fps))
        reader.decode_threads = _decode_threads()
        outs = {side: stack.enter_context(open(tmp / FRAMES, "wb")) for side, tmp in tmps.items()}
        source = {"decoded": compressed.path.name, "width": reader.width, "height": reader.height}
        for chunk, plan in _stage(planned(tracker, _stage(reader.iter_frame_chunks(CHUNK)))):
            result = tracker.cut(chunk, plan)  # while the next chunk is decoded and its faces detected
            for side, out in outs.items():
                out.write(memoryview(result.crops if side == size else result.extra[side]).cast("B"))
            boxes.append(result.boxes)
            missing.append(result.face_missing)
            n += len(chunk)
        for out in outs.values():
            out.flush()
            os.fsync(out.fileno())
    try:
        stats = tracker.finish()
    except NoFaceError as err:
        raise NoFaceError(recording.video, f"recording {recording.key}: {err.problem}") from None
    ppg, boxes, missing = (
        recording.aligned_ppg(n).astype(np.float32),
        np.concatenate(boxes),
        np.concatenate(missing),
    )
    manifest = {
        "format": FORMAT_VERSION,
        "recording": recording.key,
        "subject": recording.subject,
        "video": str(recording.video),
        "source_hash": content_hash(recording.video),
        "level": level.name,
        "level_config": level.describe(),
        "bits_per_pixel": compressed.bits_per_pixel,
        "kbps": compressed.kbps,
        "face": asdict(face),
        "n_frames": n,
        "fps": float(recording.fps),
        "faces": stats,
        **source,
    }
    for tmp in tmps.values():
        _save_array(tmp, "ppg", ppg)
        _save_array(tmp, "boxes", boxes)
        _save_array(tmp, "face_missing", missing)
    return {side: {**manifest, "size": int(side)} for side in tmps}


def _publish(tmp: Path, final: Path, root: Path, key: str, replace: bool) -> bool:
    """Rename the finished `tmp` to `final`; False when another process's complete entry is there already
    (and `replace` is off) or wins the rename, which is not an error. An incomplete `final` (or any, with
    `replace`) is moved aside first: a rename onto a non-empty folder fails."""
    if not replace and load_entry(final) is not None:
        return False
    if final.exists():
        trash = root / f".old-{key}-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if load_entry(final) is None:
            raise
        return False
    _fsync(root)
    return True


def preprocess_recording(
    recording: Recording,
    level: str | CompressionLevel = "raw",
    face: FaceConfig | None = None,
    size: int = 128,
    cache_root: Path | None = None,
    rebuild: bool = False,
    encode_with: Sequence[str | CompressionLevel] = (),
    also_sizes: Sequence[int] = (),
) -> Preprocessed:
    """Face crops of one recording at one compression level, from the cache or built once. Processes that
    share the cache (two sweeps) may build one entry at the same time: the first complete one stays.

    Args:
        recording: the recording (its video and ground truth).
        level: compression level name or object (`raw` decodes the source as is).
        face: face stage settings.
        size: crop side S in pixels.
        cache_root: where entries live (default: cache_dir()/"preprocessed").
        rebuild: build again even when a complete entry exists.
        encode_with: other levels to encode in the same pass over the source when `level` needs an encode
            (a sweep's levels: later cells find them cached). The entry is the same with or without them.
        also_sizes: other crop sides whose entries are built in the same pass when the entry at `size` is
            (a sweep's methods' sides, each cut straight from the full-resolution box); those already cached
            are left alone. The entry is the same with or without them.

    Raises:
        DataError: unreadable video, ground truth not covering it; NoFaceError when no face is ever found.
    """
    face = face or FaceConfig()
    level = get_level(level)
    root = Path(cache_root) if cache_root is not None else cache_dir() / "preprocessed"
    key = cache_key(recording, level, face, size)
    final = root / key
    if not rebuild:
        entry = load_entry(final)
        if entry is not None:
            return entry
        if final.exists():
            log.warning("%s: cache entry %s is incomplete; rebuilding it", recording.key, final)
    keys = {int(size): key}
    for side in also_sizes:
        other = cache_key(recording, level, face, int(side))
        if int(side) not in keys and (rebuild or load_entry(root / other) is None):
            keys[int(side)] = other
    root.mkdir(parents=True, exist_ok=True)
    tmps: dict[int, Path] = {}
    try:
        for side, side_key in keys.items():
            _remove_stale_temporaries(root, side_key)
            tmps[side] = root / _temporary_name(side_key)
            tmps[side].mkdir()
        manifests = _build(recording, level, face, tmps, encode_with)
        published = {}
        for side, tmp in tmps.items():
            (tmp / MANIFEST).write_text(json.dumps(manifests[side], indent=1))
            _fsync(tmp / MANIFEST)
            _fsync(tmp)
            published[side] = _publish(tmp, root / keys[side], root, keys[side], replace=rebuild)
    except BaseException:
        for tmp in tmps.values():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for side, tmp in tmps.items():
        if not published[side]:  # another process (a sweep sharing the cache) finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    entry = load_entry(final)
    if entry is None:
        raise DataError(final, "preprocessed entry unreadable right after writing it")
    entry.cached = not published[int(size)]
    return entry


def available_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """Processes preprocess_many uses: $RPPG_PREPROCESS_WORKERS, else one per core (at most 4)."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            log.warning("%s=%r is not a number; using one worker per core", WORKERS_ENV, value)
    return max(1, min(available_cores(), MAX_DEFAULT_WORKERS))


def _worker_init(threads: int) -> None:
    """A worker process decodes and resizes with `threads` threads: the pool's workers share the cores. With
    one thread it runs a build's stages in one thread too: stage threads would only contend for the core
    (bench/preprocess_throughput.py: two one-thread copies build 1.98x one)."""
    import cv2

    from benchmark.data import video

    video.DECODE_THREADS["n"] = threads
    cv2.setNumThreads(threads)
    THREADED["on"] = threads > 1


def _portable(err: BaseException):
    """`err` as something that survives the trip back from a worker process: DataError and its kinds take
    (path, problem), which pickle cannot rebuild from their message alone."""
    if isinstance(err, DataError):
        return ("data-error", type(err), err.path, err.problem)
    try:
        return pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - anything that cannot be rebuilt is named by its type and message
        return RuntimeError(f"{type(err).__name__}: {err}")


def _rebuilt(value) -> BaseException:
    if isinstance(value, tuple) and value[0] == "data-error":
        return value[1](value[2], value[3])
    return value


def _build_in_worker(
    recording, level, face, size, cache_root, rebuild, encode_with, also_sizes
) -> tuple[str, object]:
    try:
        entry = preprocess_recording(
            recording, level, face, size, cache_root, rebuild, encode_with, also_sizes
        )
    except Exception as err:  # noqa: BLE001 - one bad recording fails alone, in the parent's result
        return "error", _portable(err)
    return "ok", (str(entry.path), entry.cached)


def preprocess_many(
    recordings: Sequence[Recording],
    level: str | CompressionLevel = "raw",
    face: FaceConfig | None = None,
    size: int = 128,
    workers: int | None = None,
    cache_root: Path | None = None,
    rebuild: bool = False,
    encode_with: Sequence[str | CompressionLevel] = (),
    also_sizes: Sequence[int] = (),
) -> dict[str, Preprocessed | BaseException]:
    """preprocess_recording for many recordings, `workers` at a time in worker processes.

    Entries already in the cache are read here without starting a worker. The others are built by a pool of
    spawned processes (safe beside torch and CUDA in the caller), each decoding one recording at a time with
    cores / workers decoding threads, so memory is bounded by the worker count (about 200 MB each) whatever
    the recordings' lengths. Entries publish atomically: a sweep sharing the cache may build the same ones.

    Args:
        recordings: the recordings, at one compression level.
        workers: processes; 1 builds them one after another in this process. Default: default_workers()
            ($RPPG_PREPROCESS_WORKERS, else one per core, at most 4) when there are at least
            POOL_MIN_PIXEL_FRAMES to build, else 1 (starting workers would cost more than it saves).
        level, face, size, cache_root, rebuild, encode_with, also_sizes: as preprocess_recording.

    Returns:
        recording key -> its Preprocessed, or the exception building it raised (a recording that fails does
        not stop the others), in the order of `recordings`.
    """
    face = face or FaceConfig()
    level = get_level(level)
    root = Path(cache_root) if cache_root is not None else cache_dir() / "preprocessed"
    results: dict[str, Preprocessed | BaseException] = {}
    todo = []
    for recording in recordings:
        if recording.key in results or any(r.key == recording.key for r in todo):
            continue
        if not rebuild:
            try:
                entry = load_entry(root / cache_key(recording, level, face, size))
            except Exception as err:  # noqa: BLE001 - e.g. the video vanished: that recording fails
                results[recording.key] = err
                continue
            if entry is not None:
                results[recording.key] = entry
                continue
        todo.append(recording)
    if workers is None:
        workers = default_workers() if _pixel_frames(todo) >= POOL_MIN_PIXEL_FRAMES else 1
    workers = min(max(1, int(workers)), len(todo))
    if workers > 1:
        results.update(
            _build_in_pool(todo, level, face, size, root, rebuild, workers, encode_with, also_sizes)
        )
        todo = [r for r in todo if r.key not in results]
    for recording in todo:  # one worker, or what a broken pool left
        try:
            results[recording.key] = preprocess_recording(
                recording, level, face, size, root, rebuild, encode_with, also_sizes
            )
        except Exception as err:  # noqa: BLE001 - one bad recording fails alone
            results[recording.key] = err
    return {r.key: results[r.key] for r in recordings}


def _pixel_frames(recordings: Sequence[Recording]) -> float:
    """Frames x pixels of the recordings' videos (from their headers); a video that cannot be probed counts
    as large (its own build will report it)."""
    from benchmark.data.video import open_video

    total = 0.0
    for recording in recordings:
        try:
            with open_video(recording.video, recording.fps) as reader:
                total += float(reader.num_frames) * reader.height * reader.width
        except Exception:  # noqa: BLE001 - reported by the build, not here
            return float("inf")
    return total


def _build_in_pool(
    todo, level, face, size, root, rebuild, workers, encode_with=(), also_sizes=()
) -> dict[str, Preprocessed | BaseException]:
    threads = max(1, available_cores() // workers)
    done: dict[str, Preprocessed | BaseException] = {}
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
        ) as pool:
            args = (level, face, size, root, rebuild, tuple(encode_with), tuple(also_sizes))
            futures = {pool.submit(_build_in_worker, r, *args): r for r in todo}
            for future in as_completed(futures):
                recording = futures[future]
                try:
                    status, value = future.result()
                except BrokenProcessPool:
                    raise
                except Exception as err:  # noqa: BLE001 - e.g. the recording could not be sent to the worker
                    done[recording.key] = err
                    continue
                if status == "error":
                    done[recording.key] = _rebuilt(value)
                    continue
                path, cached = value
                entry = load_entry(Path(path))
                if entry is None:
                    done[recording.key] = DataError(
                        Path(path), "preprocessed entry unreadable after a worker wrote it"
                    )
                    continue
                entry.cached = cached
                done[recording.key] = entry
    except BrokenProcessPool as err:  # a worker died (killed, out of memory): the rest are built here
        log.warning(
            "preprocessing worker pool broke (%s); building the remaining recordings in this process", err
        )
    return done
