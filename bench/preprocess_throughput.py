"""Preprocessing throughput and peak memory, measured side by side in one run.

1. Throughput: decode + face detection + crop + resize + cache write (`preprocess_recording`) on a 60 s
   640x480 30 fps H.264 video, against decord's bare decode of the same file, timed alternately.
   Target: ratio >= 0.5. The bare decode is decord's fastest path we found (sequential `next()` into
   chunks); its get_batch rate is printed for reference. The pipeline decodes through
   benchmark.data.video (PyAV with frame threads for whole-video passes).
2. Peak memory of preprocessing a 1-minute and a 5-minute video, each in a fresh subprocess:
   ru_maxrss and VmHWM. Target: both under 1 GB, within 20% of each other.

Every measurement runs in its own child process, started from this lean parent: on Linux ru_maxrss
survives fork+exec, so a child started by a big parent would report the parent's peak.

The test videos loop a face video given on the command line (resized to 640x480), e.g.
    python bench/preprocess_throughput.py --video path/to/face_video.avi
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FPS = 30
W, H = 640, 480


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
    """Bare decode with decord into uint8 chunks of `chunk` frames, nothing else."""
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


def pipeline(video: Path, seconds: int, cache_root: Path) -> tuple[int, float, dict]:
    from benchmark.data.face import FaceConfig
    from benchmark.data.preprocess import preprocess_recording

    start = time.perf_counter()
    entry = preprocess_recording(
        recording_for(video, seconds), "raw", FaceConfig(), 128, cache_root, rebuild=True
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
        decord_fps, ours_fps = [], []
        for _ in range(repeats):  # alternate, so machine load drifts hit both alike
            n, t = decord_decode(video, CHUNK)
            decord_fps.append(n / t)
            n, t, faces = pipeline(video, seconds, Path(tmp))
            ours_fps.append(n / t)
        n_batch, t_batch = decord_decode(video, CHUNK, batch=True)
    return {"frames": n, "faces": faces, "decord": decord_fps, "ours": ours_fps, "batch": n_batch / t_batch}


def child_memory(video: Path, seconds: int) -> dict:
    import cv2  # noqa: F401 - the imports a real run has (torch, Lightning, decoders)

    from benchmark.data import datamodule  # noqa: F401
    from benchmark.data.video import import_decord

    import_decord()
    before = peak_mib()
    with tempfile.TemporaryDirectory() as tmp:
        n, t, _ = pipeline(video, seconds, Path(tmp))
    return {"frames": n, "seconds": t, "imports": before, "peak": peak_mib()}


def run_child(*args: str) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_throughput(row: dict) -> None:
    d, o = float(np.median(row["decord"])), float(np.median(row["ours"]))
    print(f"video: {row['frames']} frames {W}x{H} @ {FPS} fps H.264; face detections {row['faces']}")
    runs = {
        "decord bare decode (next)": (d, row["decord"]),
        "decode+detect+crop+resize+write": (o, row["ours"]),
    }
    for name, (median, values) in runs.items():
        print(f"{name:32s}: {median:7.1f} frames/s (median; runs {', '.join(f'{v:.0f}' for v in values)})")
    print(f"{'decord get_batch (reference)':32s}: {row['batch']:7.1f} frames/s")
    print(f"ratio pipeline / bare decode: {o / d:.2f}  (target >= 0.5)")


def report_memory(rows: dict[int, dict]) -> None:
    for seconds, row in rows.items():
        peak, imports = row["peak"], row["imports"]
        print(
            f"peak memory, {seconds // 60}-minute video ({row['frames']} frames): "
            f"ru_maxrss {peak['ru_maxrss']:.0f} MiB, "
            f"VmHWM {peak['vmhwm']:.0f} MiB (after imports {imports['ru_maxrss']:.0f} MiB; "
            f"{row['frames'] / row['seconds']:.0f} frames/s)"
        )
    short, long = (rows[s]["peak"]["ru_maxrss"] for s in sorted(rows))
    print(f"ratio 5-minute / 1-minute peak ru_maxrss: {long / short:.3f}  (target: < 1 GB each, within 20%)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="a face video to loop into the test videos")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rppg_bench_preprocess")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.child:
        what, *rest = args.child
        jobs = {
            "make": lambda: make_video(Path(rest[0]), Path(rest[1]), int(rest[2])) or {},
            "throughput": lambda: child_throughput(Path(rest[0]), int(rest[1]), int(rest[2])),
            "memory": lambda: child_memory(Path(rest[0]), int(rest[1])),
        }
        print(json.dumps(jobs[what]()))
        return 0
    if args.video is None:
        parser.error("--video is required")
    args.work.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cores} cores available, load average {os.getloadavg()[0]:.2f}")
    videos = {s: args.work / f"face_{s}s_{W}x{H}.mp4" for s in ((60,) if args.skip_memory else (60, 300))}
    for seconds, video in videos.items():
        if not video.exists():
            run_child("make", str(args.video), str(video), str(seconds))
    report_throughput(run_child("throughput", str(videos[60]), "60", str(args.repeats)))
    if not args.skip_memory:
        report_memory({s: run_child("memory", str(v), str(s)) for s, v in videos.items()})
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
