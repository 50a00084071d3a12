"""Preprocessing throughput, profile and peak memory, measured side by side in one run.

1. One recording: decode + face detection + crop + resize + cache write (`preprocess_recording`) on a 60 s
   640x480 30 fps H.264 video, against the fastest bare decode of the same file to uint8 RGB frames (PyAV
   frame by frame, PyAV with one converter for the pass, decord `next()`: whichever is fastest), timed
   alternately. Target: ratio >= 0.5.
2. Profile: cProfile of one build with its stages in the calling thread (no stage threads), so every stage
   shows in one profile; the top entries by own time, and the seconds per frame of each stage.
3. A dataset of 8 recordings (20 s each) with `preprocess_many`, alternately: 1 worker as it runs by default
   (stages in threads on every core), 1 worker with one core (as each worker of a 2-worker pool on 2 cores),
   2 workers. Target: 2 workers >= 1.6x the rate of 1; printed against both kinds of 1 worker.
4. Peak memory of preprocessing a 1-minute and a 5-minute video, each in a fresh subprocess: ru_maxrss and
   VmHWM, with a preprocessing worker's imports and with a sweep process's (torch and Lightning too). Target:
   both under 300 MB, within 20% of each other.
5. What the machine itself gives a second process: 1 vs 2 single-threaded copies started together, of a
   pure-Python loop and of our build with every stage in one thread (no stage threads, one OpenCV and
   decoder thread). On a machine whose two "cores" share one physical core, or its memory bandwidth or
   clock, no pool reaches 2x; this says how far the dataset ratio of 3. is from what the hardware allows.
   Then whether the targets of 1. and 3. fit together here: two workers build no faster than these two
   copies, and both targets need them at >= 1.6 x 0.5 x the bare decode.
6. With --toolbox PATH (an rPPG-Toolbox checkout): its own path on the same 60 s video in a fresh process
   (UBFCrPPGLoader.read_video, then BaseLoader.preprocess with Haar every 30 frames, 1.5x box, 128x128,
   DiffNormalized, 128-frame chunks, saved as .npy), frames/s and peak memory.

Every measurement runs in its own child process, started from this lean parent: on Linux ru_maxrss
survives fork+exec, so a child started by a big parent would report the parent's peak.

The test videos loop a face video given on the command line (resized to 640x480), e.g.
    python bench/preprocess_throughput.py --video ../shared/data/real/physrecorder_v01/video_ZIP_H264.avi
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

FPS = 30
W, H = 640, 480
REGION_ENV = "RPPG_BENCH_DETECT_REGION"


def make_video(source: Path, target: Path, seconds: int) -> None:
    """`seconds` of 640x480 30 fps H.264 (veryfast, crf 23), the source's frames looped."""
    import av
    import cv2

    from benchmark.data.video import open_video

    n = seconds * FPS
    tmp = target.with_suffix(".tmp.mp4")
    with open_video(source) as reader, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        written = 0
        while written < n:
            for chunk in reader.iter_chunks(64, 0, min(reader.num_frames, n - written)):
                for image in chunk:
                    if image.shape[:2] != (H, W):
                        image = cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA)
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                    frame.pts = written
                    written += 1
                    for packet in stream.encode(frame):
                        out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(target)


def recording_for(video: Path, seconds: int):
    """A Recording over the video with a synthetic 1.2 Hz PPG (the pipeline only aligns it)."""
    from benchmark.data.recording import Recording

    t = np.arange(0, seconds + 1, 1 / 64)
    return Recording("bench", video.stem, "s0", video, np.sin(2 * np.pi * 1.2 * t), t, float(FPS))


def decord_decode(video: Path, chunk: int, batch: bool = False) -> tuple[int, float]:
    """Bare decode with decord into uint8 RGB chunks of `chunk` frames, nothing else."""
    from benchmark.data.video import import_decord

    decord = import_decord()
    start = time.perf_counter()
    vr = decord.VideoReader(str(video), ctx=decord.cpu(0))
    n = len(vr)
    for first in range(0, n, chunk):
        count = min(chunk, n - first)
        if batch:
            vr.get_batch(list(range(first, first + count))).asnumpy()
            continue
        out = np.empty((count, H, W, 3), np.uint8)
        for i in range(count):
            out[i] = vr.next().asnumpy()
    return n, time.perf_counter() - start


def pyav_decode(video: Path, chunk: int, shared: bool) -> tuple[int, float]:
    """Bare decode with PyAV (frame threads) into uint8 RGB chunks: `frame.to_ndarray(format="rgb24")`, or
    (`shared`) one converter for the whole pass."""
    import av
    from av.video.reformatter import VideoReformatter

    start = time.perf_counter()
    sws = VideoReformatter()
    n = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        out = np.empty((chunk, H, W, 3), np.uint8)
        for frame in container.decode(stream):
            if shared:
                out[n % chunk] = sws.reformat(frame, format="rgb24", threads=1).to_ndarray()
            else:
                out[n % chunk] = frame.to_ndarray(format="rgb24")
            n += 1
            if n % chunk == 0:
                out = np.empty((chunk, H, W, 3), np.uint8)
    return n, time.perf_counter() - start


BARE = {
    "pyav to_ndarray": lambda video, chunk: pyav_decode(video, chunk, shared=False),
    "pyav one converter": lambda video, chunk: pyav_decode(video, chunk, shared=True),
    "decord next": lambda video, chunk: decord_decode(video, chunk),
}


def face_config():
    """The face settings measured: the default, or --detect-region (passed to children in the environment)."""
    from benchmark.data.face import FaceConfig

    return FaceConfig(detect_region=float(os.environ.get(REGION_ENV, "0")))


def pipeline(video: Path, seconds: int, cache_root: Path) -> tuple[int, float, dict]:
    from benchmark.data.preprocess import preprocess_recording

    start = time.perf_counter()
    entry = preprocess_recording(
        recording_for(video, seconds), "raw", face_config(), 128, cache_root, rebuild=True
    )
    return len(entry), time.perf_counter() - start, entry.meta["faces"]


def peak_mib() -> dict:
    """ru_maxrss and VmHWM (peak resident memory of this process image), MiB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    hwm = int(status["VmHWM"].split()[0]) / 1024 if "VmHWM" in status else float("nan")
    return {"ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vmhwm": hwm}


def child_throughput(video: Path, seconds: int, repeats: int) -> dict:
    from benchmark.data.preprocess import CHUNK

    with tempfile.TemporaryDirectory() as tmp:
        pipeline(video, seconds, Path(tmp))  # warm-up: imports, page cache, content hash
        for decode in BARE.values():
            decode(video, CHUNK)
        rates: dict[str, list[float]] = {name: [] for name in (*BARE, "ours")}
        for _ in range(repeats):  # alternate, so machine load drifts hit all alike
            for name, decode in BARE.items():
                n, t = decode(video, CHUNK)
                rates[name].append(n / t)
            n, t, faces = pipeline(video, seconds, Path(tmp))
            rates["ours"].append(n / t)
        n_batch, t_batch = decord_decode(video, CHUNK, batch=True)
    return {"frames": n, "faces": faces, "rates": rates, "batch": n_batch / t_batch}


def stages_in_this_thread() -> None:
    """Builds run decode, face detection and cutting in the calling thread (no stage threads)."""
    from benchmark.data import preprocess

    preprocess.THREADED["on"] = False


def child_profile(video: Path, seconds: int, top: int) -> dict:
    """cProfile of one build with its stages in this thread, so the profile sees every stage."""
    with tempfile.TemporaryDirectory() as tmp:
        pipeline(video, seconds, Path(tmp))  # warm-up
        stages_in_this_thread()
        profile = cProfile.Profile()
        cpu = time.process_time()
        profile.enable()
        n, t, _ = pipeline(video, seconds, Path(tmp))
        profile.disable()
        cpu = time.process_time() - cpu
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    return {"frames": n, "seconds": t, "cpu": cpu, "table": lines[first : first + top + 1]}


def dataset_recordings(video: Path, n: int, seconds: int) -> list:
    return [replace(recording_for(video, seconds), id=f"rec{i}") for i in range(n)]


def child_dataset(video: Path, seconds: int, n: int, repeats: int) -> dict:
    """preprocess_many over `n` recordings, alternately: 1 worker as it runs by default (in this process, its
    stages in threads on every core), 1 worker with one core (set up as each worker of a pool with a core
    each), and 2 workers."""
    from benchmark.data.preprocess import preprocess_many

    recordings = dataset_recordings(video, n, seconds)
    configs = {
        "1": (1, contextlib.nullcontext),
        "1-core": (1, one_core_worker),
        "2": (2, contextlib.nullcontext),
    }
    rates: dict[str, list[float]] = {name: [] for name in configs}
    cores: dict[str, list[float]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        preprocess_many(recordings[:1], "raw", face_config(), 128, 1, Path(tmp), rebuild=True)  # warm-up
        for _ in range(repeats):
            for name, (workers, setup) in configs.items():
                with setup():
                    start, cpu = time.perf_counter(), cpu_seconds()
                    done = preprocess_many(
                        recordings, "raw", face_config(), 128, workers, Path(tmp), rebuild=True
                    )
                    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
                bad = [k for k, v in done.items() if isinstance(v, BaseException)]
                if bad:
                    raise SystemExit(f"recordings failed: {bad}: {done[bad[0]]}")
                rates[name].append(sum(len(v) for v in done.values()) / elapsed)
                cores[name].append(cpu / elapsed)
    return {"recordings": n, "frames": n * seconds * FPS, "rates": rates, "cores": cores}


@contextlib.contextmanager
def one_core_worker():
    """This process set up as a pool worker with one core (`preprocess._worker_init(1)`), undone after."""
    import cv2

    from benchmark.data import preprocess, video

    saved = preprocess.THREADED["on"], video.DECODE_THREADS["n"], cv2.getNumThreads()
    preprocess._worker_init(1)
    try:
        yield
    finally:
        preprocess.THREADED["on"], video.DECODE_THREADS["n"] = saved[:2]
        cv2.setNumThreads(saved[2])


def single_threaded_build() -> None:
    """Every stage of a build in the calling thread: set up as a pool worker with one core (decoder and OpenCV
    one thread each, no stage threads)."""
    from benchmark.data import preprocess

    preprocess._worker_init(1)


def spin(n: int = 100_000) -> int:
    """One unit of "compute" work: a fixed amount of pure-Python arithmetic, no memory traffic to speak of."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def child_scaling(kind: str, video: Path, seconds: int, start_at: float, duration: float) -> dict:
    """Work done from `start_at` for `duration` seconds (wall clock) by one single-threaded copy: loop
    iterations of pure Python ("compute") or frames built ("build"). Copies started together by the parent
    wait for the same `start_at`, so their timed parts overlap whole."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "build":
            single_threaded_build()
            pipeline(video, seconds, Path(tmp))  # warm-up: imports, page cache
        late = time.time() - start_at  # > 0: this copy's warm-up outlasted the head start it was given
        time.sleep(max(0.0, -late))
        start = time.perf_counter()
        work = 0
        while time.perf_counter() - start < duration:
            if kind == "build":
                work += pipeline(video, seconds, Path(tmp))[0]
            else:
                spin()
                work += 1
        elapsed = time.perf_counter() - start
    return {"work": work, "seconds": elapsed, "late": late}


def measure_scaling(video: Path, seconds: int, duration: float, repeats: int) -> dict:
    """Aggregate rate of 1 and of 2 copies run together, alternately, for each kind of work."""
    rates = {kind: {1: [], 2: []} for kind in ("compute", "build")}
    for _ in range(repeats):
        for kind, by_copies in rates.items():
            for copies in by_copies:
                start_at = f"{time.time() + 6.0:.3f}"  # after every copy's imports and warm-up
                args = ["scaling", kind, str(video), str(seconds), start_at, str(duration)]
                procs = [
                    subprocess.Popen(child_command(args), stdout=subprocess.PIPE, text=True)
                    for _ in range(copies)
                ]
                outputs = [proc.communicate()[0] for proc in procs]
                if any(proc.returncode for proc in procs):
                    raise SystemExit(f"scaling child {args} failed")
                rows = [child_result(out) for out in outputs]
                if any(row["late"] > 0 for row in rows):  # the copies' timed parts would not overlap whole
                    raise SystemExit(
                        f"scaling: a copy finished its warm-up {max(r['late'] for r in rows):.1f} s late"
                    )
                by_copies[copies].append(sum(row["work"] / row["seconds"] for row in rows))
    return rates


def report_scaling(rates: dict, duration: float) -> None:
    print(f"machine: 2 single-threaded copies vs 1, started together, {duration:.0f} s each, alternately")
    labels = {"compute": "pure-Python loop", "build": "our build, one thread (frames/s)"}
    for kind, by_copies in rates.items():
        one, two = (float(np.median(by_copies[k])) for k in (1, 2))
        runs = ", ".join(f"{b / a:.2f}" for a, b in zip(by_copies[1], by_copies[2]))
        print(f"  {labels[kind]:34s}: 1 copy {one:9.1f}, 2 copies {two:9.1f}: {two / one:.2f}x (runs {runs})")


def report_targets_together(bare: float, rates: dict) -> None:
    """Whether this machine allows both targets at once when "1 worker" is the default run on every core, the
    one a recording's 0.5 is measured with. Two workers are two builds sharing the cores, so together they
    build no faster than two one-thread copies started together (part 5), however their stages are threaded;
    that reading needs 2 workers >= 1.6 x 1 worker >= 1.6 x 0.5 x the bare decode."""
    one, two = (float(np.median(rates["build"][k])) for k in (1, 2))
    cores = cores_here()
    needed = 1.6 * 0.5 * bare
    cpu_ms, budget_ms = 1e3 / one, 1e3 * two / one / needed  # one copy keeps one core busy
    verdict = "within reach" if two >= needed else "out of reach"
    print(
        f"both targets with 1 worker on every core: 2 workers would need >= 1.6 x 0.5 x {bare:.0f} = "
        f"{needed:.0f} frames/s; two one-thread builds on these {cores} cores reach {two:.0f} ({verdict}). A "
        f"build spends {cpu_ms:.2f} ms CPU a frame; both targets need <= {budget_ms:.2f} ms here, or more "
        "cores than a build keeps busy"
    )


def cores_here() -> int:
    """benchmark.data.preprocess.available_cores, without importing the package into this lean parent."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fastest_bare(rates: dict[str, list[float]]) -> tuple[str, float]:
    """The bare decode with the highest median rate: (its name, that rate)."""
    medians = {name: float(np.median(values)) for name, values in rates.items() if name != "ours"}
    name = max(medians, key=medians.get)
    return name, medians[name]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (a pool's workers, once it has shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child_toolbox(video: Path, toolbox: Path) -> dict:
    """rPPG-Toolbox's own preprocessing of one video, called from its checkout (nothing of it is copied)."""
    from types import SimpleNamespace as NS

    os.chdir(toolbox)  # its Haar cascade path is relative to the checkout
    sys.path.insert(0, str(toolbox))
    from dataset.data_loader.BaseLoader import BaseLoader
    from dataset.data_loader.UBFCrPPGLoader import UBFCrPPGLoader

    config = NS(
        CROP_FACE=NS(
            DO_CROP_FACE=True,
            BACKEND="HC",
            USE_LARGE_FACE_BOX=True,
            LARGE_BOX_COEF=1.5,
            DETECTION=NS(
                DO_DYNAMIC_DETECTION=True, DYNAMIC_DETECTION_FREQUENCY=30, USE_MEDIAN_FACE_BOX=False
            ),
        ),
        RESIZE=NS(W=128, H=128),
        DATA_TYPE=["DiffNormalized"],
        LABEL_TYPE="DiffNormalized",
        DO_CHUNK=True,
        CHUNK_LENGTH=128,
    )
    loader = BaseLoader.__new__(BaseLoader)  # its methods only: no dataset folder, no config file
    start = time.perf_counter()
    frames = UBFCrPPGLoader.read_video(str(video))
    bvps = np.sin(np.arange(len(frames)) / FPS * 2 * np.pi * 1.2)
    clips, labels = loader.preprocess(frames, bvps, config)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (clip, label) in enumerate(zip(clips, labels)):
            np.save(Path(tmp) / f"input{i}.npy", clip)
            np.save(Path(tmp) / f"label{i}.npy", label)
    elapsed = time.perf_counter() - start
    return {"frames": len(frames), "seconds": elapsed, "peak": peak_mib()}


def child_memory(video: Path, seconds: int, imports: str) -> dict:
    """Peak memory of building one entry after `imports`: "worker" (what a preprocess_many worker process
    loads: the decoders and OpenCV) or "run" (a sweep's process: torch, Lightning, decoders as well)."""
    import cv2  # noqa: F401

    from benchmark.data import preprocess  # noqa: F401
    from benchmark.data.video import import_decord

    if imports == "run":
        from benchmark.data import datamodule  # noqa: F401

        import_decord()
    before = peak_mib()
    with tempfile.TemporaryDirectory() as tmp:
        n, t, _ = pipeline(video, seconds, Path(tmp))
    return {"frames": n, "seconds": t, "imports": before, "peak": peak_mib()}


def child_command(args) -> list[str]:
    return [sys.executable, __file__, "--child", *args]


def child_result(stdout: str) -> dict:
    """A child prints its result as JSON on its last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_child(*args: str) -> dict:
    done = subprocess.run(child_command(args), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return child_result(done.stdout)


def report_throughput(row: dict) -> None:
    medians = {name: float(np.median(values)) for name, values in row["rates"].items()}
    print(f"video: {row['frames']} frames {W}x{H} @ {FPS} fps H.264; face detections {row['faces']}")
    for name, values in row["rates"].items():
        label = "ours: decode+detect+crop+resize+write" if name == "ours" else f"bare decode, {name}"
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{label:40s}: {medians[name]:7.1f} frames/s (median; runs {runs})")
    print(f"{'decord get_batch (reference)':40s}: {row['batch']:7.1f} frames/s")
    fastest, bare = fastest_bare(row["rates"])
    ratio = medians["ours"] / bare
    print(f"ratio pipeline / fastest bare decode ({fastest}): {ratio:.2f}  (target >= 0.5)")


def report_profile(row: dict) -> None:
    n = row["frames"]
    print(
        f"profile (cProfile, stages in the calling thread): {n} frames in {row['seconds']:.2f} s under the "
        f"profiler, {row['cpu'] / n * 1e3:.2f} ms CPU per frame; top entries by own time:"
    )
    for line in row["table"]:
        print("  " + line)


def report_dataset(row: dict) -> None:
    medians = {k: float(np.median(v)) for k, v in row["rates"].items()}
    used = {k: float(np.median(v)) for k, v in row["cores"].items()}
    labels = {"1": "1 worker, every core", "1-core": "1 worker, one core", "2": "2 workers"}
    print(f"dataset: {row['recordings']} recordings, {row['frames']} frames, preprocess_many")
    for k, label in labels.items():
        runs = ", ".join(f"{v:.0f}" for v in row["rates"][k])
        print(f"  {label:21s}: {medians[k]:7.1f} frames/s, {used[k]:.2f} cores busy (median; runs {runs})")
    available = cores_here()
    print(
        f"ratio 2 workers / 1 worker with one core: {medians['2'] / medians['1-core']:.2f}  (target >= 1.6, "
        "reading a worker as a pool's unit: each of the 2 has one core)"
    )
    print(
        f"ratio 2 workers / 1 worker with every core: {medians['2'] / medians['1']:.2f}  (target >= 1.6, "
        f"reading it as the default 1-worker run, whose stages overlap in threads: with {available} cores, 2 "
        f"workers can reach at most {min(2.0, available / used['1']):.2f}x it)"
    )


def report_toolbox(row: dict, ours: float) -> None:
    rate = row["frames"] / row["seconds"]
    print(
        f"rPPG-Toolbox path (read_video + preprocess + save): {rate:.1f} frames/s, peak ru_maxrss "
        f"{row['peak']['ru_maxrss']:.0f} MiB; ours / toolbox: {ours / rate:.1f}x"
    )


def report_memory(rows: dict[int, dict], imports: str) -> None:
    for seconds, row in rows.items():
        peak, before = row["peak"], row["imports"]
        print(
            f"peak memory ({imports} imports), {seconds // 60}-minute video ({row['frames']} frames): "
            f"ru_maxrss {peak['ru_maxrss']:.0f} MiB, "
            f"VmHWM {peak['vmhwm']:.0f} MiB (after imports {before['ru_maxrss']:.0f} MiB; "
            f"{row['frames'] / row['seconds']:.0f} frames/s)"
        )
    short, long = (rows[s]["peak"]["ru_maxrss"] for s in sorted(rows))
    print(
        f"ratio 5-minute / 1-minute peak ru_maxrss: {long / short:.3f}  (target: < 300 MB each, within 20%)"
    )


def measure_memory(videos: dict[int, Path]) -> None:
    for imports in ("worker", "run"):  # a pool worker builds the entries; a sweep's process has torch too
        report_memory({s: run_child("memory", str(v), str(s), imports) for s, v in videos.items()}, imports)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="a face video to loop into the test videos")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rppg_bench_preprocess")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the peak-memory measurement")
    parser.add_argument("--skip-dataset", action="store_true")
    parser.add_argument(
        "--scaling-seconds", type=float, default=15.0, help="length of each machine-scaling run (0: skip)"
    )
    parser.add_argument("--profile-top", type=int, default=15, help="profile entries to print (0: none)")
    parser.add_argument("--toolbox", type=Path, help="an rPPG-Toolbox checkout: also time its own path")
    parser.add_argument(
        "--detect-region",
        type=float,
        default=0.0,
        help="FaceConfig.detect_region to measure (default 0: off)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.detect_region:
        os.environ[REGION_ENV] = str(args.detect_region)
    if args.child:
        what, *rest = args.child
        jobs = {
            "make": lambda: make_video(Path(rest[0]), Path(rest[1]), int(rest[2])) or {},
            "throughput": lambda: child_throughput(Path(rest[0]), int(rest[1]), int(rest[2])),
            "memory": lambda: child_memory(Path(rest[0]), int(rest[1]), rest[2]),
            "profile": lambda: child_profile(Path(rest[0]), int(rest[1]), int(rest[2])),
            "dataset": lambda: child_dataset(Path(rest[0]), int(rest[1]), int(rest[2]), int(rest[3])),
            "toolbox": lambda: child_toolbox(Path(rest[0]), Path(rest[1])),
            "scaling": lambda: child_scaling(
                rest[0], Path(rest[1]), int(rest[2]), float(rest[3]), float(rest[4])
            ),
        }
        print(json.dumps(jobs[what]()))
        return 0
    if args.video is None:
        parser.error("--video is required")
    args.work.mkdir(parents=True, exist_ok=True)
    cores = cores_here()
    print(f"machine: {cores} cores available, load average {os.getloadavg()[0]:.2f}; {face_config()}")
    videos = {s: args.work / f"face_{s}s_{W}x{H}.mp4" for s in ((60,) if args.skip_memory else (60, 300))}
    for seconds, video in videos.items():
        if not video.exists():
            run_child("make", str(args.video), str(video), str(seconds))
    if args.memory_only:
        measure_memory(videos)
        return 0
    throughput = run_child("throughput", str(videos[60]), "60", str(args.repeats))
    report_throughput(throughput)
    if args.profile_top:
        report_profile(run_child("profile", str(videos[60]), "60", str(args.profile_top)))
    if not args.skip_dataset:
        short = args.work / f"face_20s_{W}x{H}.mp4"
        if not short.exists():
            run_child("make", str(args.video), str(short), "20")
        report_dataset(run_child("dataset", str(short), "20", "8", str(args.repeats)))
        if args.scaling_seconds:
            rates = measure_scaling(short, 20, args.scaling_seconds, max(1, args.repeats - 1))
            report_scaling(rates, args.scaling_seconds)
            report_targets_together(fastest_bare(throughput["rates"])[1], rates)
    if args.toolbox:
        try:
            toolbox = run_child("toolbox", str(videos[60]), str(args.toolbox.resolve()))
            report_toolbox(toolbox, float(np.median(throughput["rates"]["ours"])))
        except SystemExit as err:  # its imports (scikit-learn, ...) may be missing here: say so, go on
            print(f"rPPG-Toolbox path not measured: {str(err).strip().splitlines()[-1]}")
    if not args.skip_memory:
        measure_memory(videos)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
