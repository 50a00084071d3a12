"""Tiny real files for data tests: videos encoded with PyAV, PNG folders, each dataset's on-disk layout."""

from __future__ import annotations

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
