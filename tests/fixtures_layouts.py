"""Tiny real files for data tests: videos encoded with PyAV, PNG folders, each dataset's on-disk layout."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np

# codec -> (pixel format, lossless?)
CODECS = {
    "libx264": ("yuv420p", False),
    "mpeg4": ("yuv420p", False),
    "ffv1": ("bgr0", True),
    "libx264rgb": ("rgb24", True),
}


def make_frames(n: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Random-textured uint8 RGB frames [n, H, W, 3] that differ from frame to frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ramp = (np.arange(n, dtype=np.int64) * 7) % 256
    return ((base[None].astype(np.int64) + ramp[:, None, None, None]) % 256).astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, codec: str = "ffv1", fps: int = 30) -> Path:
    """Encodes frames with a real FFmpeg encoder through PyAV (lossless for ffv1 / libx264rgb)."""
    pix_fmt, lossless = CODECS[codec]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if codec == "libx264rgb":
            stream.options = {"qp": "0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_png_folder(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[Path]:
    """Writes frames as PNGs (lossless); default names frame_<i>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"frame_{i}.png" for i in range(len(frames))]
    paths = []
    for name, frame in zip(names, frames):
        path = folder / name
        assert cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cuts a real file to a fraction of its size, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def sine_ppg(times: np.ndarray, hr_bpm: float = 72.0) -> np.ndarray:
    """A clean pulse-like wave at hr_bpm sampled at `times` (seconds)."""
    return np.sin(2 * np.pi * hr_bpm / 60.0 * np.asarray(times, dtype=np.float64))


# ------------------------------------------------------------------ dataset layouts (tiny, real formats)
HR_BPM = 72.0


def make_ubfc_rppg(root: Path, subjects=(1, 3), n_frames: int = 30, fps: int = 30) -> Path:
    """UBFC-rPPG DATASET_2: subjectN/vid.avi + ground_truth.txt (PPG, HR, time lines), a sample per frame."""
    for number in subjects:
        folder = root / f"subject{number}"
        write_video(folder / "vid.avi", make_frames(n_frames, seed=number), "libx264", fps)
        times = np.arange(n_frames) / fps
        lines = [sine_ppg(times), np.full(n_frames, HR_BPM), times]
        text = "\n".join("  ".join(f"{v:.10e}" for v in line) for line in lines)
        (folder / "ground_truth.txt").write_text(text + "\n")
    return root


def make_pure(
    root: Path, names=("01-01", "02-04"), n_frames: int = 20, t0_ns: int = 1_392_643_993_642_815_000
):
    """PURE: NN-MM/NN-MM/Image<ns>.png + NN-MM/NN-MM.json with /FullPackage (60 Hz) and /Image timestamps."""
    for i, name in enumerate(names):
        folder = root / name
        frame_ns = [t0_ns + k * 33_333_333 + (k % 3) * 1_000_000 for k in range(n_frames)]  # jittered ~30 fps
        write_png_folder(folder / name, make_frames(n_frames, seed=i), [f"Image{ns}.png" for ns in frame_ns])
        ppg_ns = np.arange(t0_ns - 5_000_000, frame_ns[-1] + 50_000_000, 16_666_667)  # ~60 Hz, covers all
        waveform = np.round(100 + 50 * sine_ppg((ppg_ns - t0_ns) / 1e9)).astype(int)
        doc = {
            "/FullPackage": [
                {"Timestamp": int(ns), "Value": {"waveform": int(w), "pulseRate": 72, "o2saturation": 98}}
                for ns, w in zip(ppg_ns, waveform)
            ],
            "/Image": [{"Timestamp": ns} for ns in frame_ns],
        }
        (folder / f"{name}.json").write_text(json.dumps(doc))
    return root


def make_ubfc_phys(root: Path, subjects=(1, 2), tasks=("T1", "T3"), n_frames: int = 35, fps: int = 35):
    """UBFC-Phys: sN/vid_sN_Tk.avi (35 fps) + sN/bvp_sN_Tk.csv (one value per line, 64 Hz)."""
    for number in subjects:
        for task in tasks:
            folder = root / f"s{number}"
            write_video(
                folder / f"vid_s{number}_{task}.avi", make_frames(n_frames, seed=number), "mpeg4", fps
            )
            bvp = sine_ppg(np.arange(int(64 * n_frames / fps) + 4) / 64.0)
            (folder / f"bvp_s{number}_{task}.csv").write_text("\n".join(f"{v:.6f}" for v in bvp) + "\n")
    return root


def make_mmpd(root: Path, files=((1, 0), (1, 1), (2, 0)), n_frames: int = 12, size: int = 16) -> Path:
    """MMPD: subjectN/pN_k.mat with video [T,H,W,3] float in [0,1], GT_ppg per frame and the tag fields."""
    from scipy.io import savemat

    for number, k in files:
        frames = make_frames(n_frames, size, size, seed=10 * number + k)
        (root / f"subject{number}").mkdir(parents=True, exist_ok=True)
        savemat(
            root / f"subject{number}" / f"p{number}_{k}.mat",
            {
                "video": frames.astype(np.float64) / 255.0,
                "GT_ppg": sine_ppg(np.arange(n_frames) / 30.0),
                "light": "LED-low" if k == 0 else "Incandescent",
                "motion": "Stationary",
                "exercise": "False",
                "skin_color": 3,
                "gender": "male",
                "glasser": "False",
                "hair_cover": "False",
                "makeup": "False",
            },
        )
    return root


def make_rlap(
    root: Path,
    sessions=("p001/R1", "p002/E3"),
    n_frames: int = 30,
    t0: float = 1_685_590_249.95,
    pictures: bool = True,
):
    """RLAP: pNNN/<task>/ with pictures_ZIP_RAW_RGB/*.png (when `pictures`), video_ZIP_H264.mp4,
    BVP.csv (UNIX s, irregular) and frames_timestamp.csv."""
    for i, session in enumerate(sessions):
        folder = root / session
        frames = make_frames(n_frames, seed=i)
        write_video(folder / "video_ZIP_H264.mp4", frames, "libx264", 30)
        if pictures:
            write_png_folder(
                folder / "pictures_ZIP_RAW_RGB", frames, [f"{k:08d}.png" for k in range(n_frames)]
            )
        write_rlap_csvs(folder, n_frames, t0)
    return root


def write_rlap_csvs(folder: Path, n_frames: int, t0: float, bvp_end_s: float | None = None) -> None:
    rng = np.random.default_rng(7)
    frame_unix = t0 + np.cumsum(np.r_[0.0, rng.uniform(0.030, 0.037, n_frames - 1)])
    end = frame_unix[-1] + 0.05 if bvp_end_s is None else t0 + bvp_end_s
    bvp_unix = t0 + 0.01 + np.cumsum(np.r_[0.0, rng.uniform(0.03, 0.09, 400)])
    bvp_unix = bvp_unix[bvp_unix <= end]
    folder.mkdir(parents=True, exist_ok=True)
    frames = "\n".join(f"{k},{t:.6f}" for k, t in enumerate(frame_unix))
    (folder / "frames_timestamp.csv").write_text(f"frame,timestamp\n{frames}\n")
    bvp = np.round(40 + 15 * sine_ppg(bvp_unix - t0)).astype(int)
    rows = "\n".join(f"{t:.6f},{v}" for t, v in zip(bvp_unix, bvp))
    (folder / "BVP.csv").write_text(f"timestamp,bvp\n{rows}\n")


def make_manifest(root: Path, n_frames: int = 24, fps: int = 25) -> Path:
    """A manifest with a timed ground truth (time_s,ppg), a per-frame one (ppg), and a PNG-folder video."""
    write_video(root / "videos" / "a.mkv", make_frames(n_frames, seed=1), "ffv1", fps)
    write_video(root / "videos" / "b.mp4", make_frames(n_frames, seed=2), "libx264", fps)
    write_png_folder(root / "videos" / "c_frames", make_frames(n_frames, seed=3))
    times = np.arange(0, n_frames / fps + 0.1, 0.01)
    lines = "\n".join(f"{t:.4f},{v:.6f}" for t, v in zip(times, sine_ppg(times)))
    (root / "gt").mkdir(parents=True, exist_ok=True)
    (root / "gt" / "a.csv").write_text(f"time_s,ppg\n{lines}\n")
    per_frame = "\n".join(f"{v:.6f}" for v in sine_ppg(np.arange(n_frames) / fps))
    (root / "gt" / "b.csv").write_text(f"ppg\n{per_frame}\n")
    (root / "gt" / "c.csv").write_text(f"ppg\n{per_frame}\n")
    (root / "manifest.csv").write_text(
        "subject,video,ground_truth,id,fps,lighting\n"
        "alice,videos/a.mkv,gt/a.csv,alice_1,,daylight\n"
        "alice,videos/b.mp4,gt/b.csv,alice_2,,lamp\n"
        f"bob,videos/c_frames,gt/c.csv,,{fps},daylight\n"
    )
    return root / "manifest.csv"
