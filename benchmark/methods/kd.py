"""Lightweight rPPG by knowledge distillation (Hwang, Park, Lee, JESE 2023): our reconstruction.

The paper gives sizes (teacher ~795k, student ~24k params), feature-map distillation and ~10x speed-up, not
the layers. Our design (docs/methods.md):
- teacher (`kd-teacher`): the PhysNet layout, widths 16/32/64, 768,577 params, trained like PhysNet;
- student (`kd-student`): the same layout with widths 4/8/11, 24,455 params, trained with
  NP(student, label) + lambda * sum over three stages of MSE(adapter(student feature), teacher feature),
  the teacher frozen (eval mode, no gradients); adapters are 1x1x1 convs student -> teacher channels at the
  stages after PhysNet's ConvBlock3/5/7 (the "64/32/16-pixel" maps of a 128-pixel input; 36/18/9 at 72);
- `kd-student-nokd`: the student trained alone (NP loss), to show the distillation gain.
Only the student net is used to predict; the adapters exist for training and are not counted in its size.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from benchmark.errors import ConfigError
from benchmark.methods.base import MethodModule, OptimConfig
from benchmark.methods.losses import KDFeatureLoss, create_loss
from benchmark.methods.physnet import PhysNetLayout, physnet_spec
from benchmark.methods.training import load_state_dict_file

TEACHER_WIDTHS = (16, 32, 64)
STUDENT_WIDTHS = (4, 8, 11)


def load_teacher(checkpoint: str | Path) -> PhysNetLayout:
    """The trained kd-teacher network from its Lightning checkpoint, frozen and in eval mode."""
    state = load_state_dict_file(checkpoint)
    teacher = PhysNetLayout(TEACHER_WIDTHS)
    teacher.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class KDStudentModule(MethodModule):
    """Student + frozen teacher + adapters. The teacher is kept outside the state_dict (a plain list), so a
    student checkpoint holds only the student and its adapters and loads without the teacher to predict."""

    def __init__(
        self, net: PhysNetLayout, teacher: PhysNetLayout | None, kd_weight: float, task: str = "np", **kwargs
    ):
        adapters = nn.ModuleList(nn.Conv3d(net.widths[2], TEACHER_WIDTHS[2], 1) for _ in range(3))
        super().__init__(net, loss=KDFeatureLoss(adapters, weight=kd_weight, task=task), **kwargs)
        self.adapters = adapters
        self._teacher = [teacher]

    @property
    def teacher(self) -> PhysNetLayout:
        if self._teacher[0] is None:
            raise ConfigError("kd-student needs a trained kd-teacher: pass dependencies={'kd-teacher': ckpt}")
        return self._teacher[0]

    def on_fit_start(self) -> None:
        self.teacher.to(self.device).eval()

    def compute_loss(self, batch: dict) -> torch.Tensor:
        pred, student_features = self.net.forward_features(batch["x"])
        with torch.no_grad():
            _, teacher_features = self.teacher.forward_features(batch["x"])
        batch = {**batch, "student_features": student_features, "teacher_features": teacher_features}
        return self.loss_fn(pred, batch["y"], batch)

    def parameter_groups(self) -> list[dict]:
        return [{"params": [*self.net.parameters(), *self.adapters.parameters()]}]


def _optim(optimizer: str, lr: float, weight_decay: float, scheduler: str) -> OptimConfig:
    return OptimConfig(name=optimizer, lr=lr, weight_decay=weight_decay, scheduler=scheduler)


def kd_teacher(
    *, size=72, frames=128, loss="np", optimizer="adamw", lr=9e-3, weight_decay=0.0, scheduler="onecycle"
) -> MethodModule:
    """The teacher: PhysNet layout (768,577 params), trained like PhysNet."""
    return MethodModule(
        PhysNetLayout(TEACHER_WIDTHS),
        physnet_spec(frames, size),
        create_loss(loss),
        optim=_optim(optimizer, lr, weight_decay, scheduler),
        name="kd-teacher",
    )


def kd_student(
    *,
    dependencies: dict[str, str | Path] | None = None,
    kd_weight: float = 1.0,
    loss: str = "np",
    size=72,
    frames=128,
    optimizer="adamw",
    lr=9e-3,
    weight_decay=0.0,
    scheduler="onecycle",
) -> KDStudentModule:
    """The distilled student (24,455 params); without dependencies it can predict but not train.

    `loss` is the task loss on the output (as kd-student-nokd's), added to kd_weight x the feature loss."""
    ckpt = (dependencies or {}).get("kd-teacher")
    teacher = load_teacher(ckpt) if ckpt is not None else None
    return KDStudentModule(
        PhysNetLayout(STUDENT_WIDTHS),
        teacher,
        kd_weight,
        task=loss,
        input_spec=physnet_spec(frames, size),
        optim=_optim(optimizer, lr, weight_decay, scheduler),
        name="kd-student",
    )


def kd_student_nokd(
    *, size=72, frames=128, loss="np", optimizer="adamw", lr=9e-3, weight_decay=0.0, scheduler="onecycle"
) -> MethodModule:
    """The same student trained alone (NP loss), the paper's 'without KD' row."""
    return MethodModule(
        PhysNetLayout(STUDENT_WIDTHS),
        physnet_spec(frames, size),
        create_loss(loss),
        optim=_optim(optimizer, lr, weight_decay, scheduler),
        name="kd-student-nokd",
    )
