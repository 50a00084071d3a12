"""PURE: `NN-MM/NN-MM/Image<ns>.png` frames + `NN-MM/NN-MM.json` (NN subject, MM setup).

The JSON holds `/FullPackage[].Value.waveform` (pulse oximeter, ~60 Hz) with nanosecond `Timestamp`s and
`/Image[].Timestamp` for every frame; both become seconds from the first frame. Frames are read from the PNG
folder (the video reader sorts them by the number in their names).
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, json_field, read_json
from benchmark.data.recording import Recording
from benchmark.data.video import list_frame_images
from benchmark.errors import DataError

NOMINAL_FPS = 30.0
SETUPS = {
    "01": "steady",
    "02": "talking",
    "03": "slow translation",
    "04": "fast translation",
    "05": "small rotation",
    "06": "medium rotation",
}
NAME = re.compile(r"^(\d{2})-(\d{2})$")


@register_dataset("pure")
class PURE(DatasetAdapter):
    env_var = "PURE_ROOT"
    description = "PURE: NN-MM/NN-MM/Image<ns>.png + NN-MM.json (waveform ~60 Hz, frame timestamps)"

    def candidates(self) -> list[Candidate]:
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and NAME.match(p.name))
        if not folders:
            raise DataError(self.root, "no NN-MM folders: not a PURE root")
        return [Candidate(f.name, NAME.match(f.name).group(1), partial(self._recording, f)) for f in folders]

    @staticmethod
    def _json_path(folder: Path) -> Path:
        """NN-MM/NN-MM.json as distributed; NN-MM.json beside the folder in flattened copies."""
        inside = folder / f"{folder.name}.json"
        beside = folder.parent / f"{folder.name}.json"
        return beside if not inside.exists() and beside.exists() else inside

    def _recording(self, folder: Path) -> Recording:
        subject, setup = NAME.match(folder.name).groups()
        frames_dir = folder / folder.name
        if not frames_dir.is_dir():
            raise DataError(frames_dir, "PURE frame folder not found")
        frames = list_frame_images(frames_dir)
        if not frames:
            raise DataError(frames_dir, "PURE frame folder holds no PNGs")
        json_path = self._json_path(folder)
        doc = read_json(json_path, "PURE JSON")
        image_ns = self._stamps(json_field(doc, json_path, "/Image"), json_path, "/Image")
        packages = json_field(doc, json_path, "/FullPackage")
        ppg_ns = self._stamps(packages, json_path, "/FullPackage")
        waveform = np.array(
            [json_field(p, json_path, "Value", "waveform") for p in packages], dtype=np.float64
        )
        pulse = np.array([p.get("Value", {}).get("pulseRate", np.nan) for p in packages], dtype=np.float64)
        if len(image_ns) != len(frames):
            raise DataError(
                json_path,
                f"/Image lists {len(image_ns)} frames but {frames_dir} holds {len(frames)} PNGs",
            )
        t0 = image_ns[0]
        recording = Recording(
            dataset=self.name,
            id=folder.name,
            subject=subject,
            video=frames_dir,
            ppg=waveform,
            ppg_times=(ppg_ns - t0).astype(np.float64) / 1e9,
            fps=NOMINAL_FPS,
            frame_times=(image_ns - t0).astype(np.float64) / 1e9,
            tags={"setup": setup, "motion": SETUPS.get(setup, f"setup {setup}")},
            hr_reference=float(np.nanmean(pulse)) if np.isfinite(pulse).any() else None,
            source=json_path,
        )
        return checked(recording, len(frames))

    @staticmethod
    def _stamps(entries, json_path: Path, key: str) -> np.ndarray:
        if not isinstance(entries, list) or not entries:
            raise DataError(json_path, f"JSON field {key!r} is empty or not a list")
        try:
            # integer nanoseconds: exact, where float64 would round UNIX-epoch ns to ~256 ns
            return np.array([int(e["Timestamp"]) for e in entries], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            raise DataError(json_path, f"an entry of {key!r} has no numeric Timestamp") from None
