"""Peak memory of streaming a video through open_video's iter_chunks versus decord, side by side.

Each reader runs in its own process over a 640x480 30 fps H.264 file of each length, with a consumer that
spends `--work-ms` per frame (as face detection does), and reports the process's peak resident memory.
The claim under test: our streaming stays flat as the video grows; decord 0.6.0's does not.

    .venv/bin/python bench/video_reader_memory.py --seconds 60 300 --work-ms 3
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

W, H, FPS, CHUNK = 640, 480, 30, 64


def make_video(path: Path, seconds: int) -> None:
    """A moving textured pattern, H.264 (veryfast, CRF 23): a realistic bitrate, written once."""
    import av

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (H // 8, W // 8 * 2, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(seconds * FPS):
            shift = (i * 3) % W
            frame = np.ascontiguousarray(texture[:, shift : shift + W])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def consume(frame: np.ndarray, work_s: float) -> None:
    end = time.perf_counter() + work_s
    float(frame[::64, ::64].mean())
    while time.perf_counter() < end:
        pass


def child(reader: str, video: Path, work_s: float) -> dict:
    from benchmark.data.video import import_decord, open_video

    decord = import_decord()  # same imports in every child
    start, n = time.perf_counter(), 0
    if reader == "ours":
        with open_video(video) as vr:
            for chunk in vr.iter_chunks(CHUNK):
                for frame in chunk:
                    consume(frame, work_s)
                    n += 1
    else:
        vr = decord.VideoReader(str(video), ctx=decord.cpu(0))
        for first in range(0, len(vr), CHUNK):
            last = min(first + CHUNK, len(vr))
            if reader == "decord-get_batch":
                frames = vr.get_batch(list(range(first, last))).asnumpy()
            else:
                frames = np.stack([vr.next().asnumpy() for _ in range(first, last)])
            for frame in frames:
                consume(frame, work_s)
                n += 1
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"frames": n, "fps": n / elapsed, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, nargs="+", default=[60, 300])
    parser.add_argument("--work-ms", type=float, default=3.0, help="consumer time per frame")
    parser.add_argument("--readers", nargs="+", default=["ours", "decord-get_batch", "decord-next"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), float(args.child[2]))))
        return
    print(f"cores: {os.cpu_count()}  video: {W}x{H} H.264 {FPS} fps  consumer: {args.work_ms} ms/frame")
    results: dict[str, dict[int, dict]] = {r: {} for r in args.readers}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            video = Path(tmp) / f"clip_{seconds}s.mp4"
            make_video(video, seconds)
            for reader in args.readers:
                cmd = [sys.executable, __file__, "--child", reader, str(video), str(args.work_ms / 1000)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{reader} {seconds}s: failed\n{done.stderr[-2000:]}")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                results[reader][seconds] = row
                print(
                    f"{seconds:4d} s  {reader:17s} frames={row['frames']:6d}  {row['fps']:6.0f} frames/s  "
                    f"peak={row['peak_mib']:7.0f} MiB"
                )
    short, long = min(args.seconds), max(args.seconds)
    for reader, rows in results.items():
        if short in rows and long in rows and short != long:
            ratio = rows[long]["peak_mib"] / rows[short]["peak_mib"]
            print(f"{reader:17s} peak {long} s / {short} s = {ratio:.2f}")
    if "ours" in results:
        for reader, rows in results.items():
            if reader != "ours" and long in rows and long in results["ours"]:
                ratio = rows[long]["peak_mib"] / results["ours"][long]["peak_mib"]
                print(f"{reader:17s} peak / ours at {long} s = {ratio:.2f}")


if __name__ == "__main__":
    main()
