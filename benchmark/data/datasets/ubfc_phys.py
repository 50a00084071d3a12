"""UBFC-Phys: `sN/vid_sN_Tk.avi` (35 fps) + `sN/bvp_sN_Tk.csv` (one BVP value per line at 64 Hz).

Tasks T1-T3 (rest, speech, arithmetic) become tags. The BVP starts with the video; its times are i / 64 s.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import numpy as np

from benchmark.data.datasets.base import Candidate, DatasetAdapter, register_dataset
from benchmark.data.datasets.gt_io import checked, numeric, read_csv, require_file
from benchmark.data.recording import Recording
from benchmark.data.video import probe_video
from benchmark.errors import DataError

BVP_RATE_HZ = 64.0
NOMINAL_FPS = 35.0
TASKS = {"T1": "rest", "T2": "speech", "T3": "arithmetic"}
VIDEO = re.compile(r"^vid_(s\d+)_(T\d)\.avi$")


@register_dataset("ubfc-phys")
class UBFCPhys(DatasetAdapter):
    env_var = "UBFC_PHYS_ROOT"
    description = "UBFC-Phys: sN/vid_sN_Tk.avi (35 fps) + bvp_sN_Tk.csv (64 Hz); tasks T1-T3 as tags"

    def candidates(self) -> list[Candidate]:
        videos = sorted(
            (p for p in self.root.glob("s*/vid_s*_T*.avi") if VIDEO.match(p.name)),
            key=lambda p: (int(VIDEO.match(p.name).group(1)[1:]), p.name),
        )
        if not videos:
            raise DataError(self.root, "no sN/vid_sN_Tk.avi files: not a UBFC-Phys root")
        out = []
        for video in videos:
            subject, task = VIDEO.match(video.name).groups()
            out.append(Candidate(f"{subject}_{task}", subject, partial(self._recording, video)))
        return out

    def _recording(self, video: Path) -> Recording:
        subject, task = VIDEO.match(video.name).groups()
        bvp_path = require_file(video.with_name(f"bvp_{subject}_{task}.csv"), "UBFC-Phys BVP file")
        table = read_csv(bvp_path, "UBFC-Phys BVP file", header=False)
        if table.shape[1] != 1:
            raise DataError(bvp_path, f"expected one BVP value per line, found {table.shape[1]} columns")
        bvp = numeric(table, table.columns[0], bvp_path)
        fps, num_frames = probe_video(video, NOMINAL_FPS)
        recording = Recording(
            dataset=self.name,
            id=f"{subject}_{task}",
            subject=subject,
            video=video,
            ppg=bvp,
            ppg_times=np.arange(bvp.size) / BVP_RATE_HZ,
            fps=fps,
            tags={"task": task, "activity": TASKS.get(task, task)},
            source=bvp_path,
        )
        return checked(recording, num_frames)
