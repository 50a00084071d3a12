"""UBFC-rPPG (DATASET_2): `subject*/vid.avi` + `ground_truth.txt`.

ground_truth.txt holds three lines: the PPG waveform, the oximeter's heart rate (bpm), and the time of each
sample in seconds. The PPG keeps those timestamps (counted from the first sample, taken with the first frame).
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, read_number_lines
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import DataError


def _subject_number(name: str) -> int:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else -1


@register_dataset("ubfc-rppg")
class UBFCrPPG(DatasetAdapter):
    env_var = "UBFC_RPPG_ROOT"
    description = "UBFC-rPPG DATASET_2: subject*/vid.avi + ground_truth.txt (PPG, HR, time in s)"

    def candidates(self) -> list[Candidate]:
        folders = sorted(
            (p for p in self.root.glob("subject*") if p.is_dir()), key=lambda p: _subject_number(p.name)
        )
        if not folders:
            raise DataError(self.root, "no subject* folders: not a UBFC-rPPG DATASET_2 root")
        return [Candidate(f.name, f.name, partial(self._recording, f)) for f in folders]

    def _recording(self, folder) -> Recording:
        gt_path = folder / "ground_truth.txt"
        lines = read_number_lines(gt_path, "UBFC-rPPG ground_truth.txt")
        if len(lines) < 3:
            raise DataError(gt_path, f"expected 3 lines (PPG, HR, time in s), found {len(lines)}")
        ppg, hr, times = lines[:3]
        if not (len(ppg) == len(hr) == len(times)):
            raise DataError(
                gt_path, f"lines differ in length: PPG {len(ppg)}, HR {len(hr)}, time {len(times)} values"
            )
        fps, num_frames = probe_video(folder / "vid.avi")
        hr_ok = hr[np.isfinite(hr) & (hr > 0)]
        recording = Recording(
            dataset=self.name,
            id=folder.name,
            subject=folder.name,
            video=folder / "vid.avi",
            ppg=ppg,
            ppg_times=times - times[0] if len(times) else times,
            fps=fps,
            tags={"scenario": "realistic"},
            hr_reference=float(np.mean(hr_ok)) if hr_ok.size else None,
            source=gt_path,
        )
        return checked(recording, num_frames)
