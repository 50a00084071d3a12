"""`python -m benchmark data NAME`: check that a dataset is laid out as its adapter expects.

Loads every recording (ground truth read and aligned, each video probed, nothing decoded) and prints one line
per recording, good or bad, then a summary, so a user sees every problem in one round before a long sweep.
Exit status: 0 when every recording is good, 1 when any is bad (each listed with its reason); a dataset that
cannot be read at all (missing root, unreadable manifest) is an error (2).
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


def describe_failure(failure) -> str:
    """`<id>  subject=<s>  error: <file>: <problem>` (the error's type too when it is not a DataError)."""
    from benchmark.errors import DataError

    problem = str(failure.error) if isinstance(failure.error, DataError) else failure.reason
    return f"{failure.id}  subject={failure.subject or '?'}  error: {problem}"


def main(args: argparse.Namespace) -> int:
    from benchmark.data.datasets.base import RECORDING_ERRORS, FailedRecording, scan_dataset
    from benchmark.data.video import probe_video

    options = {"manifest": args.manifest} if args.manifest else {}
    loaded = scan_dataset(args.name, args.root, **options)
    lines, good, bad = [], [], list(loaded.failures)
    for recording in loaded.recordings:
        try:
            _, num_frames = probe_video(recording.video, recording.fps)
            lines.append((recording.id, describe(recording, num_frames)))
            good.append(recording)
        except RECORDING_ERRORS as err:
            bad.append(FailedRecording(recording.dataset, recording.id, recording.subject, err))
    lines += [(failure.id, describe_failure(failure)) for failure in bad]
    for _, line in sorted(lines):
        print(line)
    subjects = {r.subject for r in good}
    summary = f"{args.name}: {len(good)} recordings, {len(subjects)} subjects"
    if bad:
        summary += f"; {len(bad)} bad recording(s), listed above with their errors"
    print(summary)
    return 1 if bad else 0
