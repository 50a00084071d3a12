"""The chance row: a predictor that ignores the video and answers the training set's mean heart rate.

A method that does not beat it has learned nothing a leaderboard can show (on a test set whose heart rates
spread like the training set's, it scores the spread). It goes through the same path as every method: its
"training" reads the training recordings' reference PPG, and its BVP is a sinusoid at the stored mean heart
rate, so the sweep's estimator, windows and metrics treat it like any other row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.errors import DataError, SignalError
from benchmark.methods.base import InputSpec, MethodModule
from benchmark.spec import DEFAULT_BAND

CHANCE_SPEC = InputSpec(frames=None, size=72, inputs="rgb_mean", label="raw", output="bvp")


class ChanceNet(nn.Module):
    """forward(x [B, 3, T]) -> a unit sinusoid at `hr_bpm` over T frames at `fps`, whatever x holds.

    Attributes:
        hr_bpm: buffer, the training set's mean heart rate (saved in the checkpoint).
        fps: frame rate of the recording being predicted; set by predict_bvp.
    """

    def __init__(self, fps: float = 30.0):
        super().__init__()
        self.register_buffer("hr_bpm", torch.tensor(float("nan"), dtype=torch.float64))
        self.fps = float(fps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NaN before training (no heart rate can be read from it), the sinusoid after."""
        t = torch.arange(x.shape[-1], dtype=torch.float64, device=x.device) / self.fps
        wave = torch.sin(2 * torch.pi * (self.hr_bpm / 60.0) * t).to(torch.float32)
        return wave.expand(x.shape[0], -1).contiguous()


def reference_hr(recording) -> float:
    """A training recording's heart rate from its reference PPG (resampled uniformly over its own span),
    read with the evaluation's default estimator and band, as the test truth is."""
    from benchmark.evaluation.hr import estimate_hr

    times = np.asarray(recording.ppg_times, dtype=np.float64)
    ppg = np.asarray(recording.ppg, dtype=np.float64)
    if len(times) < 2 or times[-1] <= times[0]:
        raise DataError(recording.video, "reference PPG has no time span")
    rate = (len(times) - 1) / (times[-1] - times[0])
    uniform = np.interp(np.arange(times[0], times[-1], 1.0 / rate), times, ppg)
    return float(estimate_hr(uniform, rate, band=DEFAULT_BAND))


class ChanceModule(MethodModule):
    """custom_fit instead of gradient steps: the mean of the training recordings' heart rates."""

    def custom_fit(self, datamodule, make_trainer) -> Path:
        rates = []
        for recording in datamodule.splits["train"]:
            try:
                rates.append(reference_hr(recording))
            except (DataError, SignalError):
                continue  # a recording without a readable heart rate adds nothing to the mean
        if not rates:
            raise DataError(None, "chance: no training recording has a readable reference heart rate")
        self.net.hr_bpm.fill_(float(np.mean(rates)))
        root = Path(make_trainer().default_root_dir) / "checkpoints"
        root.mkdir(parents=True, exist_ok=True)
        path = root / "best.ckpt"
        torch.save({"state_dict": self.state_dict()}, path)
        return path


def chance(fps: float = 30.0, **_recipe) -> ChanceModule:
    """The training-set mean heart-rate predictor (group `baseline`); recipe keys are accepted and unused."""
    return ChanceModule(ChanceNet(fps), CHANCE_SPEC, loss=None, kind="baseline", name="chance")
