"""Preprocessing throughput and peak memory, measured side by side in one run.

1. Throughput: decode + face detection + crop + resize + cache write (`preprocess_recording`) on a 60 s
   640x480 30 fps H.264 video, against decord's bare decode of the same file (chunks of the same size),
   timed alternately. Target: ratio >= 0.5.
2. Peak memory (ru_maxrss of a fresh subprocess each) of preprocessing a 1-minute and a 5-minute video.
   Target: both under 1 GB, within 20% of each other.

The test videos are made by looping a face video given on the command line (resized to 640x480), e.g.
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


def make_video(source: Path, target: Path, seconds: int) -> Path:
    """`seconds` of 640x480 30 fps H.264 (veryfast, crf 23), the source's frames looped."""
    import av
    import cv2

    from benchmark.data.video import open_video

    if target.exists():
        return target
    n = seconds * FPS
    tmp = target.with_suffix(".tmp.mp4")
    with open_video(source) as reader, av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        written = 0
        while written < n:
            for chunk in reader.iter_chunks(64):
                for image in chunk[: n - written]:
                    if image.shape[:2] != (H, W):
                        image = cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA)
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                    frame.pts = written
                    for packet in stream.encode(frame):
                        out.mux(packet)
                    written += 1
                if written >= n:
                    break
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(target)
    return target


def recording_for(video: Path, seconds: int):
    """A Recording over the video with a synthetic 1.2 Hz PPG (the pipeline only aligns it)."""
    from benchmark.data.recording import Recording

    t = np.arange(0, seconds + 1, 1 / 64)
    return Recording("bench", video.stem, "s0", video, np.sin(2 * np.pi * 1.2 * t), t, float(FPS))


def decord_decode(video: Path, chunk: int) -> tuple[int, float]:
    """Bare decode with decord: get_batch over consecutive chunks, nothing else."""
    import decord

    start = time.perf_counter()
    vr = decord.VideoReader(str(video), ctx=decord.cpu(0))
    n = len(vr)
    for first in range(0, n, chunk):
        vr.get_batch(list(range(first, min(first + chunk, n)))).asnumpy()
    return n, time.perf_counter() - start


def pipeline(video: Path, seconds: int, cache_root: Path) -> tuple[int, float, dict]:
    from benchmark.data.face import FaceConfig
    from benchmark.data.preprocess import preprocess_recording

    start = time.perf_counter()
    entry = preprocess_recording(
        recording_for(video, seconds), "raw", FaceConfig(), 128, cache_root, rebuild=True
    )
    return len(entry), time.perf_counter() - start, entry.meta["faces"]


def throughput(video: Path, seconds: int, repeats: int) -> None:
    import cv2

    from benchmark.data.preprocess import CHUNK

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline(video, seconds, Path(tmp))  # warm-up: imports, page cache, content hash
        decord_fps, ours_fps = [], []
        for _ in range(repeats):  # alternate, so machine load drifts hit both alike
            n, t = decord_decode(video, CHUNK)
            decord_fps.append(n / t)
            n, t, faces = pipeline(video, seconds, Path(tmp))
            ours_fps.append(n / t)
    d, o = float(np.median(decord_fps)), float(np.median(ours_fps))
    print(f"video: {video.name}, {n} frames {W}x{H} @ {FPS} fps, H.264; face detections {faces}")
    print(
        f"decord bare decode          : {d:8.1f} frames/s  (runs: {', '.join(f'{v:.0f}' for v in decord_fps)})"
    )
    print(
        f"decode+detect+crop+resize+write: {o:8.1f} frames/s  (runs: {', '.join(f'{v:.0f}' for v in ours_fps)})"
    )
    print(f"ratio pipeline / bare decode: {o / d:.2f}  (target >= 0.5)")


def child_memory(video: Path, seconds: int) -> None:
    """Run in a fresh process: prints the peak RSS after imports and after preprocessing, in MiB."""
    from benchmark.data import datamodule  # noqa: F401 - the imports a real run has (torch, Lightning)
    from benchmark.data.preprocess import preprocess_recording  # noqa: F401

    import decord  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        n, t, _ = pipeline(video, seconds, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": n, "seconds": t, "imports_mib": before, "peak_mib": peak}))


def memory(videos: dict[int, Path]) -> None:
    rows = {}
    for seconds, video in videos.items():
        cmd = [sys.executable, __file__, "--child-memory", str(video), "--seconds", str(seconds)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows[seconds] = json.loads(out)
    for seconds, row in rows.items():
        print(
            f"peak RSS, {seconds // 60}-minute video ({row['frames']} frames): {row['peak_mib']:7.1f} MiB "
            f"(after imports {row['imports_mib']:.1f} MiB; {row['frames'] / row['seconds']:.0f} frames/s)"
        )
    short, long = (rows[s]["peak_mib"] for s in sorted(rows))
    print(f"ratio 5-minute / 1-minute peak: {long / short:.3f}  (target: < 1 GB each, within 20%)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="a face video to loop into the test videos")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rppg_bench_preprocess")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--child-memory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=int, default=60, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.child_memory:
        child_memory(args.child_memory, args.seconds)
        return 0
    if args.video is None:
        parser.error("--video is required")
    args.work.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cores} cores available, load average {os.getloadavg()[0]:.2f}")
    one_minute = make_video(args.video, args.work / "face_60s_640x480.mp4", 60)
    throughput(one_minute, 60, args.repeats)
    if not args.skip_memory:
        five_minutes = make_video(args.video, args.work / "face_300s_640x480.mp4", 300)
        memory({60: one_minute, 300: five_minutes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
