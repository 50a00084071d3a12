"""Face detectors side by side (Haar vs MediaPipe), in one run, on the same frames.

Datasets: the real video given on the command line, and SynthPulse `quick` clips as rendered (raw) and after
x264 at 250 kbit/s. Every detector sees every frame of each clip (up to --frames), so jitter is measured
between consecutive frames. Per detector x dataset it prints:

- detected: share of frames with at least one face;
- jitter: std of the frame-to-frame change of the largest box's centre (x and y pooled) and side, in % of
  the mean side. On SynthPulse the true face motion is subtracted first (the generator's trajectories are
  replayed, and the replay is checked against the video's first frame pixel for pixel), so only the
  detector's own jitter is left;
- centre err (SynthPulse): median distance of the box centre from the true face centre, % of face width
  (includes where each detector puts its box centre: MediaPipe's sits lower on the face than Haar's);
- ctr sd (SynthPulse): std over frames of (box centre - true centre), % of face width: the error without
  its constant part, so free of that convention;
- IoU (SynthPulse): median IoU with a square of the true face width at the true centre (a convention: each
  detector draws its box its own way, so this is a rough guide, the centre error and jitter are not);
- ms/frame: detection time, single thread (OMP_NUM_THREADS=1), after one warm-up call.

With --hr N, what the benchmark needs from a detector is checked too: heart rate (POS, CHROM) from each
detector's crops through the face stage as the pipeline runs it (FaceTracker, detection every 30 frames), on
the whole real video and on the first N SynthPulse quick recordings, raw and at --level (MAE, and on how
many recordings MediaPipe's crops give the smaller error).

    OMP_NUM_THREADS=1 .venv/bin/python bench/face_detectors.py \
        --real ../shared/data/real/physrecorder_v01 --hr 48
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

DETECTORS = ("haar", "mediapipe")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")


def find_video(path: Path) -> Path:
    """The path itself, or the one video file inside a recording folder."""
    if path.is_file():
        return path
    videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if len(videos) != 1:
        raise SystemExit(f"{path}: expected one video file, found {[v.name for v in videos]}")
    return videos[0]


def read_frames(path: Path, stop: int) -> np.ndarray:
    from benchmark.data.video import open_video

    with open_video(path) as reader:
        return reader.read(0, min(stop, reader.num_frames))


def synth_truth(recording, n: int) -> tuple[np.ndarray, np.ndarray]:
    """True face centre [n, 2] and width [n] of a SynthPulse recording, by replaying its generator
    (benchmark.data.synth.generate.recording_parts); the first frame is re-rendered and must equal the
    video's, so a change in the generator cannot silently give wrong truth. A head turn narrows the face:
    its width is scaled by cos(yaw)."""
    import json

    from benchmark.data.synth.generate import recording_parts
    from benchmark.data.synth.presets import get_preset

    meta = json.loads((recording.video.parent / "meta.json").read_text())
    seed, index, scenario = meta["seed"], int(meta["subject"][1:]), meta["tags"]["scenario"]
    width, height, fps, total = meta["width"], meta["height"], meta["fps"], meta["n_frames"]
    preset = get_preset(meta["preset"], width=width, height=height, fps=fps, duration_s=total / fps)
    parts = recording_parts(preset, seed, index, scenario)
    first = next(parts.frames())
    if not np.array_equal(first, read_frames(recording.video, 1)[0]):
        raise SystemExit(f"{recording.key}: replaying the generator does not give the video's first frame")
    traj, subject = parts.trajectories, parts.subject
    centre = np.stack([subject.anchor[0] + traj.dx[:n] * width, subject.anchor[1] + traj.dy[:n] * height], 1)
    turn = np.cos(np.deg2rad(np.asarray(traj.yaw_deg[:n], dtype=np.float64)))
    return centre, subject.layer.face_width * traj.scale[:n] * turn


def iou_square(box: np.ndarray, centre: np.ndarray, side: float) -> float:
    x0, y0 = max(box[0], centre[0] - side / 2), max(box[1], centre[1] - side / 2)
    x1 = min(box[0] + box[2], centre[0] + side / 2)
    y1 = min(box[1] + box[3], centre[1] + side / 2)
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    return inter / (box[2] * box[3] + side * side - inter)


def run_detector(detect, frames: np.ndarray) -> tuple[np.ndarray, float]:
    """Largest box per frame [n, 4] (NaN where none) and ms per frame."""
    detect(frames[0])  # warm-up (model load, first-call allocations)
    boxes = np.full((len(frames), 4), np.nan)
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        faces = detect(frame)
        if len(faces):
            boxes[i] = faces[np.argmax(faces[:, 2] * faces[:, 3])]
    return boxes, 1000 * (time.perf_counter() - start) / len(frames)


def score(boxes: np.ndarray, ms: float, truth: tuple[np.ndarray, np.ndarray] | None) -> dict:
    found = ~np.isnan(boxes[:, 0])
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    side = boxes[:, 2:].mean(axis=1)
    row = {"frames": len(boxes), "detected": found.mean(), "ms": ms}
    if truth is not None:
        true_centre, true_width = truth
        err = np.linalg.norm(centre - true_centre, axis=1) / true_width
        row["centre_err"] = 100 * np.nanmedian(err) if found.any() else np.nan
        offset = (centre - true_centre) / true_width[:, None]
        row["centre_sd"] = 100 * np.nanstd(offset[found], axis=0).mean() if found.sum() > 1 else np.nan
        ious = [iou_square(b, c, w) for b, c, w, f in zip(boxes, true_centre, true_width, found) if f]
        row["iou"] = float(np.median(ious)) if ious else np.nan
        centre, side = centre - true_centre, side - true_width  # leave only the detector's own motion
    pairs = found[1:] & found[:-1]
    scale = np.nanmean(boxes[:, 2:])
    if pairs.sum() >= 2:
        row["jitter_c"] = 100 * np.diff(centre, axis=0)[pairs].std() / scale
        row["jitter_s"] = 100 * np.diff(side)[pairs].std() / scale
    return row


def synth_clips(count: int, level: str, frames: int):
    """(name, frames, truth) of the first `count` SynthPulse quick recordings (s00, s01: every scenario)."""
    from benchmark.data.compression import compress_video
    from benchmark.data.datasets import load_dataset

    recordings = sorted(load_dataset("synth", preset="quick", seed=0), key=lambda r: (r.subject, r.id))
    for rec in recordings[:count]:
        video = compress_video(rec.video, level).path
        yield rec.id, read_frames(video, frames), synth_truth(rec, min(frames, 10**9))


def pooled(rows: list[dict]) -> dict:
    """Frame-weighted mean of per-clip rows (medians of per-clip medians for centre error and IoU)."""
    weights = np.array([r["frames"] for r in rows], float)
    out = {"frames": int(weights.sum())}
    for key in ("detected", "ms", "jitter_c", "jitter_s"):
        values = [(r[key], w) for r, w in zip(rows, weights) if key in r and not np.isnan(r[key])]
        if values:
            v, w = map(np.array, zip(*values))
            out[key] = float((v * w).sum() / w.sum())
    for key in ("centre_err", "centre_sd", "iou"):
        values = [r[key] for r in rows if key in r and not np.isnan(r[key])]
        if values:
            out[key] = float(np.median(values))
    return out


def crop_hr(video: Path, detector: str, methods: dict) -> dict[str, float]:
    """Heart rate per method from the whole video's face crops (the pipeline's face stage)."""
    from benchmark.data.face import FaceConfig, FaceTracker
    from benchmark.data.video import open_video
    from benchmark.evaluation.hr import estimate_hr
    from benchmark.evaluation.inference import predict_bvp

    size = {m.input_spec.size for m in methods.values()}.pop()
    crops = []
    with open_video(video) as reader:
        fps = reader.fps
        tracker = FaceTracker(FaceConfig(detector=detector), size, fps, video)
        for chunk in reader.iter_chunks(256):
            crops.append(tracker.process(chunk, sum(len(c) for c in crops)).crops)
    tracker.finish()
    frames = np.concatenate(crops)
    return {
        name: estimate_hr(predict_bvp(m, frames, fps, source=video), fps, band=(0.75, 2.5), estimator="fft")
        for name, m in methods.items()
    }


def heart_rate_check(real: Path, count: int, level: str) -> None:
    """Prints HR from each detector's crops: the real video, then SynthPulse MAE per level."""
    from benchmark.data.compression import compress_video
    from benchmark.data.datasets import load_dataset
    from benchmark.evaluation.predict_cli import build_method

    methods = {name: build_method(name, None) for name in ("pos", "chrom")}
    print("\nheart rate from each detector's crops (FaceTracker, detection every 30 frames)")
    for detector in DETECTORS:
        hrs = crop_hr(real, detector, methods)
        print(
            f"real {real.name:18s} {detector:9s} " + "  ".join(f"{m} {hr:.1f} bpm" for m, hr in hrs.items())
        )
    recordings = sorted(load_dataset("synth", preset="quick", seed=0), key=lambda r: (r.subject, r.id))[
        :count
    ]
    for lvl in ("raw", level):
        errors = {d: {m: [] for m in methods} for d in DETECTORS}
        for rec in recordings:
            video = compress_video(rec.video, lvl).path
            for detector in DETECTORS:
                for m, hr in crop_hr(video, detector, methods).items():
                    errors[detector][m].append(abs(hr - rec.hr_reference))
        for m in methods:
            h, mp = np.array(errors["haar"][m]), np.array(errors["mediapipe"][m])
            print(
                f"synth quick {lvl:10s} {m:6s} MAE haar {h.mean():5.2f}  mediapipe {mp.mean():5.2f} bpm  "
                f"(n={len(h)}: mediapipe better on {(mp < h).sum()}, worse on {(mp > h).sum()})",
                flush=True,
            )


def fmt(row: dict, key: str, spec: str) -> str:
    return format(row[key], spec) if key in row else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", type=Path, required=True, help="real face video, or its recording folder")
    parser.add_argument("--frames", type=int, default=300, help="frames per clip (from the start)")
    parser.add_argument("--synth-clips", type=int, default=8, help="SynthPulse quick recordings to use")
    parser.add_argument("--level", default="x264-250k", help="compression level for the compressed rows")
    parser.add_argument(
        "--hr", type=int, default=0, help="also compare heart rate on N SynthPulse recordings"
    )
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 for single-thread timings comparable with the pipeline's")
    import cv2

    from benchmark.data.face import FACE_DETECTORS, FaceConfig

    cv2.setNumThreads(1)
    detectors = {name: FACE_DETECTORS.get(name)(FaceConfig(detector=name)) for name in DETECTORS}
    real = find_video(args.real)
    datasets = {f"real {real.name}": [(real.name, read_frames(real, args.frames), None)]}
    for level in ("raw", args.level):
        datasets[f"synth quick {level}"] = list(synth_clips(args.synth_clips, level, args.frames))

    results: dict[tuple[str, str], dict] = {}
    for dataset, clips in datasets.items():
        for name, detect in detectors.items():
            rows = [score(*run_detector(detect, frames), truth) for _, frames, truth in clips]
            results[dataset, name] = pooled(rows)
            per_clip = " ".join(f"{clip}:{100 * r['detected']:.0f}%" for (clip, _, _), r in zip(clips, rows))
            print(f"{dataset:26s} {name:9s} per clip detected {per_clip}", flush=True)

    print(f"\ncores: {os.cpu_count()}, frames per clip: {args.frames}")
    head = f"{'dataset':26s} {'detector':9s} {'frames':>6s} {'detected':>8s} {'jit ctr%':>8s}"
    print(head + f" {'jit side%':>9s} {'ctr err%':>8s} {'ctr sd%':>7s} {'IoU':>5s} {'ms/frame':>8s}")
    for (dataset, name), r in results.items():
        print(
            f"{dataset:26s} {name:9s} {r['frames']:6d} {100 * r['detected']:7.1f}%"
            f" {fmt(r, 'jitter_c', '8.2f')} {fmt(r, 'jitter_s', '9.2f')}"
            f" {fmt(r, 'centre_err', '8.1f')} {fmt(r, 'centre_sd', '7.2f')}"
            f" {fmt(r, 'iou', '5.2f')} {r['ms']:8.2f}"
        )
    print("\nratios mediapipe / haar (below 1: mediapipe smaller)")
    for dataset in datasets:
        h, m = results[dataset, "haar"], results[dataset, "mediapipe"]
        parts = [f"ms {m['ms'] / h['ms']:.2f}"]
        for key in ("jitter_c", "jitter_s", "centre_err", "centre_sd"):
            if key in h and key in m:
                parts.append(f"{key} {m[key] / h[key]:.2f}")
        print(f"{dataset:26s} " + "  ".join(parts))
    if args.hr:
        heart_rate_check(real, args.hr, args.level)


if __name__ == "__main__":
    main()
