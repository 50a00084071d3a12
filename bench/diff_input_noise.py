"""Where the DiffNormalized input's energy comes from, per SynthPulse `still` recording: near-black pixels
against the rest, and how large the pulse is against the per-pixel difference noise.

DiffNormalized (rPPG-Toolbox's) divides each frame difference by the sum of the two frames, so the
quantisation noise of a pixel near 0 becomes a large value. A network that sees only these differences
(PhysNet) must find the pulse under that noise; one that also sees the frame (the CAN family, TDM) can mask
it. Reads the preprocessed face crops (128 px) of the first 64 frames of each recording.

    .venv/bin/python bench/diff_input_noise.py [--preset quick] [--dark 8]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument(
        "--dark", type=int, default=8, help="a pixel below this (of 255) counts as near black"
    )
    parser.add_argument("--frames", type=int, default=64)
    args = parser.parse_args()

    from benchmark.data.datasets import load_dataset
    from benchmark.data.face import FaceConfig
    from benchmark.data.preprocess import preprocess_recording

    recordings = load_dataset("synth", None, preset=args.preset, seed=0, generate=True)
    print(
        "recording        | kind       | near-black px | share of |diff| | diff std | "
        "diff std w/o dark | pulse / diff std"
    )
    for rec in sorted((r for r in recordings if r.key.endswith("-still")), key=lambda r: r.key):
        pre = preprocess_recording(rec, "raw", FaceConfig(), 128)
        x = np.asarray(pre.frames[: args.frames], np.float32)
        d = (x[1:] - x[:-1]) / (x[1:] + x[:-1] + 1e-7)  # DiffNormalized before its std scaling
        dark = x[1:] < args.dark
        share = float((np.abs(d) * dark).sum() / np.abs(d).sum())
        green = np.asarray(pre.frames, np.float32)[..., 1].mean(axis=(1, 2))
        pulse = float(np.std(np.diff(green) / green[1:]))  # the crop-mean pulse, as a relative change
        kind = rec.tags.get("face_kind", "")
        print(
            f"{rec.key:16s} | {kind:10s} | {float((x < args.dark).mean()):13.3f} | {share:15.3f} | "
            f"{float(d.std()):8.4f} | {float(d[~dark].std()):17.4f} | {pulse / float(d.std()):16.4f}"
        )


if __name__ == "__main__":
    main()
