"""Would a cheaper Haar pass find the same faces? Whole-frame detection with a raised minimum face size
while a face is held (issue 21), measured against the detector as the face stage runs it.

For every 30th frame of each video (where the tracker detects): the largest face of the full detection, and
the largest face when faces smaller than f x the previous detection's side are not searched, for several f.
It prints, per f, the mean time of a detection on one core and how many grouped boxes differ from the full
detection's. OpenCV groups a face's detections across scales (smaller ones included), so skipping the small
scales can move the box even when the face is found.

    python bench/haar_min_side.py --video ../shared/data/real/physrecorder_v01/video_ZIP_H264.avi \\
        --synth quick --synth-seed 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def videos_of(args) -> list[Path]:
    videos = list(args.video)
    if args.synth:
        from benchmark.data.datasets import load_dataset

        videos += [r.video for r in load_dataset("synth", preset=args.synth, seed=args.synth_seed)]
    return videos


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--video", type=Path, nargs="*", default=[], help="face videos")
    parser.add_argument("--synth", help="also every recording of this SynthPulse preset (made if missing)")
    parser.add_argument("--synth-seed", type=int, default=1)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--every", type=int, default=30, help="frames between detections")
    args = parser.parse_args()
    import cv2

    from benchmark.data.face import FACE_DETECTORS, FaceConfig
    from benchmark.data.video import open_video

    cv2.setNumThreads(1)
    detect = FACE_DETECTORS.get("haar")(FaceConfig())
    full_s, n_full, compared = 0.0, 0, 0
    seconds = {f: 0.0 for f in args.fractions}
    moved = {f: 0 for f in args.fractions}
    missed = {f: 0 for f in args.fractions}
    for video in videos_of(args):
        with open_video(video) as reader:
            previous = None
            for chunk in reader.iter_chunks(args.every):
                frame = chunk[0]
                start = time.perf_counter()
                faces = detect(frame)
                full_s, n_full = full_s + time.perf_counter() - start, n_full + 1
                if len(faces) == 0:
                    previous = None
                    continue
                largest = faces[np.argmax(faces[:, 2] * faces[:, 3])]
                if previous is not None:
                    compared += 1
                    for f in args.fractions:
                        start = time.perf_counter()
                        part = detect(frame, min_side=f * previous)
                        seconds[f] += time.perf_counter() - start
                        if len(part) == 0:
                            missed[f] += 1
                        elif not np.array_equal(part[np.argmax(part[:, 2] * part[:, 3])], largest):
                            moved[f] += 1
                previous = max(largest[2], largest[3])
    full_ms = full_s / max(n_full, 1) * 1e3
    print(f"{compared} detections compared; whole-frame Haar {full_ms:.1f} ms a detection")
    print("min side (x held face) | ms a detection | speed-up | boxes moved | faces missed")
    for f in args.fractions:
        ms = seconds[f] / max(compared, 1) * 1e3
        speed = full_ms / ms if ms else float("nan")
        print(f"{f:22.2f} | {ms:14.1f} | {speed:8.2f} | {moved[f]:11d} | {missed[f]:12d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
