"""Where the DiffNormalized input's energy comes from, per SynthPulse `still` recording (and, to compare, in a
real video): near-black pixels against the rest, and how large the pulse is against the per-pixel difference
noise.

DiffNormalized (rPPG-Toolbox's) divides each frame difference by the sum of the two frames, so the
quantisation noise of a pixel near 0 becomes a large value. A network that sees only these differences
(PhysNet) must find the pulse under that noise; one that also sees the frame (the CAN family, TDM) can mask
it. Reads the face crops (128 px) of the first 64 frames of each recording. `--real VIDEO` adds the same row
for a real video (e.g. ../shared/data/real/physrecorder_v01/video_ZIP_H264.avi), the reference SynthPulse's
camera shadows are calibrated against (benchmark/data/synth/render.py).

    .venv/bin/python bench/diff_input_noise.py [--preset quick] [--dark 8] [--real VIDEO]
"""

from __future__ import annotations

import argparse

import numpy as np


def diff_noise_row(name: str, kind: str, crops: np.ndarray, dark_level: int) -> str:
    """One table row: near-black share, its share of |DiffNormalized|, diff std with and without it, pulse."""
    x = np.asarray(crops, np.float32)
    d = (x[1:] - x[:-1]) / (x[1:] + x[:-1] + 1e-7)  # DiffNormalized before its std scaling
    dark = x[1:] < dark_level
    share = float((np.abs(d) * dark).sum() / np.abs(d).sum())
    green = x[..., 1].mean(axis=(1, 2))
    pulse = float(np.std(np.diff(green) / green[1:]))  # the crop-mean pulse, as a relative change
    return (
        f"{name:24s} | {kind:10s} | {float((x < dark_level).mean()):13.3f} | {share:15.3f} | "
        f"{float(d.std()):8.4f} | {float(d[~dark].std()):17.4f} | {pulse / float(d.std()):16.4f}"
    )


def real_crops(video: str, frames: int) -> np.ndarray:
    from benchmark.data.face import FaceConfig, FaceTracker
    from benchmark.data.video import open_video

    with open_video(video) as reader:
        rgb, fps = reader.read(0, frames), reader.fps
    tracker = FaceTracker(FaceConfig(), 128, fps, video)
    crops = tracker.process(rgb, 0).crops
    tracker.finish()
    return crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument(
        "--dark", type=int, default=8, help="a pixel below this (of 255) counts as near black"
    )
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--real", help="also a real video, as the reference")
    args = parser.parse_args()

    from benchmark.data.datasets import load_dataset
    from benchmark.data.face import FaceConfig
    from benchmark.data.preprocess import preprocess_recording

    print(
        "recording                | kind       | near-black px | share of |diff| | diff std | "
        "diff std w/o dark | pulse / diff std"
    )
    if args.real:
        print(diff_noise_row("real video", "real", real_crops(args.real, args.frames), args.dark))
    recordings = load_dataset("synth", None, preset=args.preset, seed=0, generate=True)
    for rec in sorted((r for r in recordings if r.key.endswith("-still")), key=lambda r: r.key):
        pre = preprocess_recording(rec, "raw", FaceConfig(), 128)
        kind = rec.tags.get("face_kind", "")
        print(diff_noise_row(rec.key, kind, pre.frames[: args.frames], args.dark))


if __name__ == "__main__":
    main()
