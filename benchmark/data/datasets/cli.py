"""`python -m benchmark data NAME`: check that a dataset is laid out as its adapter expects.

Loads every recording (ground truth read and aligned, each video probed, nothing decoded) and prints one line
per recording, so a user sees at once whether the root is right before a long sweep.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered dataset (see `python -m benchmark list datasets`)")
    parser.add_argument("--root", help="dataset root (default: the adapter's environment variable)")
    parser.add_argument("--manifest", help="manifest CSV, for the `manifest` dataset")


def describe(recording, num_frames: int) -> str:
    duration = recording.times_of_frames(num_frames)[-1] if num_frames else 0.0
    ppg_rate = (len(recording.ppg) - 1) / max(recording.ppg_times[-1] - recording.ppg_times[0], 1e-9)
    hr = f"{recording.hr_reference:.1f}" if recording.hr_reference else "-"
    tags = ",".join(f"{k}={v}" for k, v in recording.tags.items()) or "-"
    return (
        f"{recording.id}  subject={recording.subject}  frames={num_frames}  fps={recording.fps:.2f}  "
        f"duration={duration:.1f}s  ppg~{ppg_rate:.1f}Hz  hr_ref={hr}  tags={tags}"
    )


def main(args: argparse.Namespace) -> int:
    from benchmark.data.datasets import load_dataset
    from benchmark.data.video import probe_video

    options = {"manifest": args.manifest} if args.manifest else {}
    recordings = load_dataset(args.name, args.root, **options)
    for recording in recordings:
        _, num_frames = probe_video(recording.video, recording.fps)
        print(describe(recording, num_frames))
    subjects = {r.subject for r in recordings}
    print(f"{args.name}: {len(recordings)} recordings, {len(subjects)} subjects")
    return 0
