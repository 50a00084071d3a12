"""Losses shared by every method, behind one registry.

Every loss has the signature `loss(pred, target, batch) -> scalar`: `batch` is the datamodule's dict (see
benchmark/methods/base.py), so a loss that needs more than the two signals (TALOS needs `subject_index`) fits
the same slot. `LOSSES` maps a name to a factory; `create_loss(name, **kw)` builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.registry import Registry

EPS = 1e-8

LOSSES: Registry[Callable[..., nn.Module]] = Registry("loss")


def pearson_per_sample(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson correlation over the last axis, one value per sample (float32 even under AMP)."""
    p = pred.float() - pred.float().mean(dim=-1, keepdim=True)
    t = target.float() - target.float().mean(dim=-1, keepdim=True)
    num = (p * t).sum(dim=-1)
    den = torch.sqrt((p * p).sum(dim=-1) * (t * t).sum(dim=-1) + EPS)
    return num / den


def negative_pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NP loss: per sample 1 - rho over time, mean over the batch (docs/methods.md)."""
    return (1.0 - pearson_per_sample(pred, target)).mean()


class NegativePearsonLoss(nn.Module):
    """Negative Pearson: insensitive to scale and offset, so it suits shape-only BVP targets."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        return negative_pearson(pred, target)


class MSELoss(nn.Module):
    """Mean squared error (used on DiffNormalized labels by TS-CAN, DeepPhys and EfficientPhys)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
        return F.mse_loss(pred.float(), target.float())


def feature_distillation(
    student_feats: Sequence[torch.Tensor], teacher_feats: Sequence[torch.Tensor], adapters: nn.ModuleList
) -> torch.Tensor:
    """Sum over stages of MSE(adapter(student feature), teacher feature); the teacher side is detached.

    Adapters map student channels to teacher channels (1x1x1 convs in the KD student); the feature maps of a
    stage must share T, H, W.
    """
    if not (len(student_feats) == len(teacher_feats) == len(adapters)):
        raise ValueError(
            f"feature distillation needs one adapter per stage: {len(student_feats)} student, "
            f"{len(teacher_feats)} teacher, {len(adapters)} adapters"
        )
    total = student_feats[0].new_zeros((), dtype=torch.float32)
    for s, t, adapt in zip(student_feats, teacher_feats, adapters):
        total = total + F.mse_loss(adapt(s).float(), t.detach().float())
    return total


class KDFeatureLoss(nn.Module):
    """Task loss on the output plus lambda x feature distillation.

    The KD student puts its stage features and the frozen teacher's in `batch["student_features"]` and
    `batch["teacher_features"]` before calling the loss, so the signature stays (pred, target, batch).
    The adapters belong to the student module (they are trained with it), not to this loss.
    """

    def __init__(self, adapters: nn.ModuleList, weight: float = 1.0, task: str = "np"):
        super().__init__()
        self.task = create_loss(task)
        self.weight = float(weight)
        self._adapters = [adapters]  # a plain list: not registered here, trained by the student's optimiser

    def forward(self, pred: torch.Tensor, target: torch.Tensor, batch: dict) -> torch.Tensor:
        task = self.task(pred, target, batch)
        if self.weight == 0.0 or "teacher_features" not in batch:
            return task
        kd = feature_distillation(batch["student_features"], batch["teacher_features"], self._adapters[0])
        return task + self.weight * kd


LOSSES.add("np", NegativePearsonLoss)
LOSSES.add("mse", MSELoss)
LOSSES.add("kd_feature", KDFeatureLoss)


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build the loss registered as `name` (unknown names raise ConfigError listing the known ones)."""
    return LOSSES.get(name)(**kwargs)
