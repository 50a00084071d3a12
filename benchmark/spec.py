"""What the suite's stages agree on, below data/, methods/ and evaluation/ so each reads it from one place:
the input a method eats, the side face crops are cached at, and the heart-rate band."""

from __future__ import annotations

from dataclasses import dataclass

CROP_SIZE = 128  # side of the face crops that per-frame means (classic methods) are taken over
DEFAULT_BAND = (0.75, 2.5)  # Hz: 45-150 bpm, the heart-rate band of the estimators and the evaluation


@dataclass(frozen=True)
class InputSpec:
    """What a method eats.

    Attributes:
        frames: frames per chunk T (None: the whole recording as one chunk, batch size 1).
        size: square frame side S the network expects (ignored for rgb_mean).
        inputs: raw | diff | standardized | diff+standardized | rgb_mean (benchmark.data.transforms).
        label: raw | diff | standardized: how the target PPG is normalised for the loss.
        output: "bvp" or "diff": a difference-signal output is integrated (cumsum) before HR estimation.
    """

    frames: int | None = 128
    size: int = 72
    inputs: str = "diff"
    label: str = "diff"
    output: str = "diff"

    @property
    def channels(self) -> int:
        return 6 if self.inputs == "diff+standardized" else 3


def crop_side(spec: InputSpec) -> int:
    """The side a method's face crops are cut at, straight from the full-resolution box (as rPPG-Toolbox
    does, so released weights see what they were trained on): the network's input size; CROP_SIZE for
    methods that read per-frame means."""
    return CROP_SIZE if spec.inputs == "rgb_mean" else int(spec.size)
