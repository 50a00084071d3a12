"""Tiny real datasets for runner and gate tests: SynthPulse clips re-packaged as manifest datasets.

Real video files, real decoding, face detection and codecs; one clip can be made faceless (uniform gray),
truncated (corrupt) or given NaN ground truth.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import yaml


def gray_video(path: Path, frames: int, fps: int = 30) -> None:
    """A video with no face in it (uniform gray): preprocessing must refuse it with NoFaceError."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "bgr0"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 128, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def manifest(folder: Path, rows) -> Path:
    """rows: (recording, video bytes | 'gray', ppg) -> a manifest dataset folder."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["subject,video,ground_truth"]
    for i, (rec, video, ppg) in enumerate(rows):
        target = folder / f"r{i}.mkv"
        if isinstance(video, str):
            gray_video(target, len(rec.ppg))
        else:
            target.write_bytes(video)
        gt = folder / f"r{i}.csv"
        gt.write_text("time_s,ppg\n" + "".join(f"{t:.6f},{p}\n" for t, p in zip(rec.ppg_times, ppg)))
        lines.append(f"{rec.subject}-{i},{target.name},{gt.name}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


def build_datasets(root: Path) -> dict[str, Path]:
    """good (3 clips), noface (2 good + 1 gray), corrupt (1 truncated video), nan (1 NaN ground truth)."""
    from benchmark.data.datasets import load_dataset

    recs = load_dataset("synth", preset="smoke", subjects=3, scenarios=["still"], duration_s=8.0)
    good = [(r, r.video.read_bytes(), r.ppg) for r in recs]
    data = recs[0].video.read_bytes()
    nan_ppg = recs[0].ppg.copy()
    nan_ppg[10:20] = np.nan
    return {
        "good": manifest(root / "good", good),
        "noface": manifest(root / "noface", [*good[:2], (recs[2], "gray", recs[2].ppg)]),
        "corrupt": manifest(root / "corrupt", [(recs[0], data[: len(data) // 2], recs[0].ppg)]),
        "nan": manifest(root / "nan", [(recs[0], data, nan_ppg)]),
    }


def sweep_file(path: Path, name: str, datasets: dict, test_on: list[str], levels, methods) -> Path:
    """A cross-protocol sweep (train on the first test set; classic methods never train) on manifest data."""
    doc = {
        "name": name,
        "datasets": {k: {"adapter": "manifest", "root": str(v)} for k, v in datasets.items() if k in test_on},
        "protocol": "cross",
        "train_on": [test_on[0]],
        "test_on": test_on,
        "compression": levels,
        "methods": methods,
        "evaluation": {"window_s": 4.0, "stride_s": 2.0},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def smoke_training_sweep(path: Path, name: str, root: Path, methods) -> Path:
    """`sweep_file` on the `good` manifest at raw, at the smoke profile with a 2 + 1 subject train/val split:
    the smallest sweep that trains a network."""
    path = sweep_file(path, name, build_datasets(root), ["good"], ["raw"], methods)
    doc = yaml.safe_load(path.read_text())
    path.write_text(
        yaml.safe_dump({**doc, "profile": "smoke", "split": {"train_val": [0.67, 0.33], "seed": 0}})
    )
    return path
