"""The one LightningModule every method sits behind.

Networks are plain nn.Modules with `forward(x) -> bvp [B, T]`. `MethodModule` adds the input spec, the
loss, the optimiser and the predict path; it covers the common supervised case and, with no parameters,
the classic methods. A subclass exists only where training really differs (SSPD, KD student, STVEN).

Batch contract (what the datamodule yields, a dict):
    x:             float32 [B, C, T, H, W] frames normalised per `InputSpec.inputs`
                   ([B, 3, T] per-frame RGB means when inputs == "rgb_mean")
    y:             float32 [B, T] label normalised per `InputSpec.label`
    subject_index: int64 [B] index of the subject in the training set (TALOS), -1 when unknown
    recording:     list[str] recording keys; start: int64 [B] first frame of the chunk; fps: float32 [B]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pytorch_lightning as pl
import torch
from torch import nn

from benchmark.methods.registry import KINDS
from benchmark.spec import InputSpec


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser recipe (from docs/methods.md, overridable from configs/methods/*.yaml)."""

    name: str = "adamw"  # adam | adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "none"  # none | onecycle | cosine
    extra: dict = field(default_factory=dict)


Loss = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def read_by_prediction(module, key: str) -> bool:
    """False for a state key under the module's `training_only` prefixes (stored weights may leave it out)."""
    skip = tuple(getattr(module, "training_only", ()))
    return not (skip and key.startswith(skip))


class MethodModule(pl.LightningModule):
    """A network + its input spec + its loss + its optimiser.

    Args:
        net: nn.Module, forward(x) -> [B, T].
        input_spec: what the datamodule must feed.
        loss: callable(pred, target, batch) -> scalar; an nn.Module loss with parameters (TALOS) is trained
            in its own parameter group at `loss.lr` when it defines one.
        kind: supervised | self-supervised | none.
        optim: optimiser recipe.
        name: the registry name, for logs and results.
    """

    # state_dict key prefixes that prediction never reads (EMA targets, pretext heads): stored weights may
    # leave them out (the zoo does) and `load_inference_state` accepts their absence
    training_only: tuple[str, ...] = ()
    # {prefix: (method, prefix in its state)}: a part trained as another method's network, which the zoo
    # references instead of storing twice when the two are equal bit for bit
    zoo_parts: dict[str, tuple[str, str]] = {}

    def __init__(
        self,
        net: nn.Module,
        input_spec: InputSpec,
        loss: Loss | None = None,
        kind: str = "supervised",
        optim: OptimConfig | None = None,
        name: str = "",
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.net = net
        self.input_spec = input_spec
        self.loss_fn = loss
        self.kind = kind
        self.optim = optim or OptimConfig()
        self.method_name = name
        self.save_hyperparameters(
            {"input_spec": asdict(input_spec), "optim": asdict(self.optim), "name": name}
        )

    @property
    def trains(self) -> bool:
        return self.kind != "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def compute_loss(self, batch: dict) -> torch.Tensor:
        pred = self(batch["x"])
        return self.loss_fn(pred, batch["y"], batch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
        return loss

    def set_input_level(self, level: str) -> None:
        """The compression level of the videos about to be predicted; only level-conditioned methods (STVEN)
        read it, every other method ignores it."""
        self.input_level = level

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        return {"bvp": self(batch["x"]).float(), "recording": batch["recording"], "start": batch["start"]}

    def parameter_groups(self) -> list[dict]:
        """Network parameters at the recipe's lr; a loss with parameters gets its own group and lr."""
        groups = [{"params": [p for p in self.net.parameters() if p.requires_grad]}]
        if isinstance(self.loss_fn, nn.Module):
            loss_params = [p for p in self.loss_fn.parameters() if p.requires_grad]
            if loss_params:
                groups.append({"params": loss_params, "lr": getattr(self.loss_fn, "lr", self.optim.lr)})
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):
        groups = self.parameter_groups()
        if not groups:
            return None
        opt_cls = OPTIMIZERS[self.optim.name]
        kwargs = {"lr": self.optim.lr, "weight_decay": self.optim.weight_decay, **self.optim.extra}
        optimizer = opt_cls(groups, **kwargs)
        if self.optim.scheduler == "none":
            return optimizer
        steps = int(self.trainer.estimated_stepping_batches)
        if self.optim.scheduler == "onecycle":
            max_lrs = [g.get("lr", self.optim.lr) for g in groups]
            sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=max(steps, 1))
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
