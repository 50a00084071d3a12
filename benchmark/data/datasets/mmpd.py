"""MMPD: `subjectN/pN_k.mat` holding `video` [T,H,W,3], `GT_ppg` (one value per frame, 30 fps) and tags.

The video lives inside the .mat, which no video reader opens. The first time a .mat is seen, its video is
written once, losslessly (FFV1), to `<cache_dir>/mmpd/<sha256 of the .mat>.mkv`; later runs reuse that file.
A small memo (`hashes.json`, keyed by path, size and mtime) spares re-hashing unchanged .mat files.
"""

from __future__ import annotations

import json
import os
import re
from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import DataError
from benchmark.paths import atomic_write, cache_dir, file_sha256

FPS = 30.0
TAGS = ("light", "motion", "exercise", "skin_color", "gender", "glasser", "hair_cover", "makeup")
MAT_NAME = re.compile(r"^p(\d+)_(\d+)\.mat$")


def _load_mat(path: Path, names: list[str]) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(str(path), variable_names=names, squeeze_me=True)
    except Exception as err:  # noqa: BLE001 - scipy raises ValueError/TypeError/OSError on bad files
        raise DataError(path, f"unreadable .mat file: {str(err).strip()[:200]}") from None


def _tag(value) -> str:
    value = np.asarray(value)
    return "" if value.size == 0 else str(value.reshape(-1)[0]).strip()


class VideoCache:
    """Lossless FFV1 copies of .mat videos, named by the .mat's content hash."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.memo_path = folder / "hashes.json"

    def video_for(self, mat: Path) -> Path:
        target = self.folder / f"{self._hash(mat)[:32]}.mkv"
        if not target.exists():
            self._write(mat, target)
        return target

    def _hash(self, mat: Path) -> str:
        stat = mat.stat()
        key = f"{mat.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        memo = self._memo()
        if key not in memo:
            memo[key] = file_sha256(mat)
            atomic_write(self.memo_path, json.dumps(memo, indent=1))
        return memo[key]

    def _memo(self) -> dict:
        try:
            return json.loads(self.memo_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def _write(self, mat: Path, target: Path) -> None:
        import av

        video = _load_mat(mat, ["video"]).get("video")
        if video is None:
            raise DataError(mat, "MMPD .mat has no 'video' variable")
        video = np.asarray(video)
        if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
            raise DataError(mat, f"'video' has shape {video.shape}, expected [T, H, W, 3] with T > 0")
        if video.dtype != np.uint8:  # MMPD stores float frames in [0, 1]
            scale = 255.0 if float(np.nanmax(video)) <= 1.0 else 1.0
            video = np.clip(np.round(video * scale), 0, 255).astype(np.uint8)
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.stem}.partial-{os.getpid()}.mkv")
        try:
            with av.open(str(partial), "w") as container:
                stream = container.add_stream("ffv1", rate=int(FPS))
                stream.height, stream.width = video.shape[1:3]
                stream.pix_fmt = "bgr0"
                for frame in video:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            os.replace(partial, target)  # atomic: a killed run never leaves a half file under the final name
        finally:
            partial.unlink(missing_ok=True)


@register_dataset("mmpd")
class MMPD(DatasetAdapter):
    env_var = "MMPD_ROOT"
    description = "MMPD: subjectN/pN_k.mat (video, GT_ppg at 30 fps, light/motion/skin_color... tags)"

    def candidates(self) -> list[Candidate]:
        mats = sorted(
            (p for p in self.root.glob("subject*/p*_*.mat") if MAT_NAME.match(p.name)),
            key=lambda p: tuple(int(x) for x in MAT_NAME.match(p.name).groups()),
        )
        if not mats:
            raise DataError(self.root, "no subjectN/pN_k.mat files: not an MMPD root")
        cache = VideoCache(Path(self.options.get("cache", cache_dir() / "mmpd")))
        return [Candidate(m.stem, m.parent.name, partial(self._recording, m, cache)) for m in mats]

    def _recording(self, mat: Path, cache: VideoCache) -> Recording:
        fields = _load_mat(mat, ["GT_ppg", *TAGS])
        if "GT_ppg" not in fields:
            raise DataError(mat, "MMPD .mat has no 'GT_ppg' variable (truncated, or not an MMPD file)")
        ppg = np.asarray(fields["GT_ppg"], dtype=np.float64).reshape(-1)
        video = cache.video_for(mat)
        fps, num_frames = probe_video(video)
        recording = Recording(
            dataset=self.name,
            id=mat.stem,
            subject=mat.parent.name,
            video=video,
            ppg=ppg,
            ppg_times=np.arange(ppg.size) / FPS,
            fps=fps,
            tags={name: _tag(fields[name]) for name in TAGS if name in fields},
            source=mat,
        )
        return checked(recording, num_frames)
