"""Training through the Lightning Trainer only: one entry point for every method.

`fit_method` builds a Trainer (best checkpoint on val_loss, early stopping, CSV logs, seeded, deterministic on
CPU, mixed precision on CUDA) and fits a MethodModule. Methods that do not train (kind "none") are skipped.

Extension point for staged training: a module that defines `custom_fit(datamodule, make_trainer)` is handed
the datamodule and a `make_trainer(stage=None, **overrides)` function that builds a Trainer configured
exactly like the default one. `stage="name"` puts that Trainer's checkpoints and logs under out_dir/name;
other overrides go to `pl.Trainer` (e.g. `max_epochs`, or `callbacks=[...]` to replace them). The module
runs its stages with as many Trainers as it needs (STVEN: enhancer, then joint) and returns the checkpoint
path to test with (or None); `fit_method` returns what `custom_fit` returns. `best_checkpoint(trainer)`
gives a stage's best checkpoint.

`load_trained(name, checkpoint, **overrides)` recreates a method by registry name and loads the checkpoint's
state_dict with `weights_only=True`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint, Timer
from pytorch_lightning.loggers import CSVLogger, Logger

from benchmark.errors import DataError
from benchmark.methods.base import read_by_prediction
from benchmark.methods.weights import load_state_dict_file


def _uses_cuda(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


class EpochLines(pl.Callback):
    """One line per finished epoch (losses and seconds) through `report`: a sweep's log shows training
    advancing without a progress bar, which a log file or CI cannot show."""

    def __init__(self, label: str, report: Callable[[str], None]):
        self.label, self.report = label, report
        self.started = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics
        losses = ", ".join(
            f"{name} {float(metrics[name]):.4f}" for name in ("train_loss", "val_loss") if name in metrics
        )
        self.report(
            f"{self.label}: epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
            f"{', ' + losses if losses else ''}, {time.perf_counter() - self.started:.1f} s"
        )


def logging_interval(limit_train_batches: int | float | None, every: int | None = None) -> int:
    """Steps between logged training losses: the recipe's `log_every_n_steps`, else 10, never more than the
    steps of a limited epoch (Lightning warns and the CSV log would hold no training step)."""
    interval = int(every) if every else 10
    if isinstance(limit_train_batches, int) and not isinstance(limit_train_batches, bool):
        interval = min(interval, max(1, limit_train_batches))
    return interval


def trainer_factory(
    *,
    max_epochs: int,
    out_dir: str | Path,
    patience: int = 5,
    accelerator: str = "auto",
    loggers: Sequence[Logger] = (),
    limit_train_batches: int | float | None = None,
    limit_val_batches: int | float | None = None,
    enable_progress_bar: bool = False,
    log_every_n_steps: int | None = None,
    callbacks: Sequence[pl.Callback] = (),
    resume: bool = False,
    max_time_s: float | None = None,
    devices: int = 1,
    strategy: str = "auto",
) -> Callable[..., pl.Trainer]:
    """A function building Trainers with the suite's settings; keyword overrides go to pl.Trainer.
    `callbacks` are added to the checkpoint and early-stopping ones (e.g. EpochLines). `resume`: each stage
    also keeps checkpoints/last.ckpt and its fit continues from it when a former fit left one (a long zoo
    training spread over several runs). `max_time_s`: stop at the first epoch end past that many seconds.
    `devices` / `strategy`: Lightning's, to train one model on several GPUs (the runner's --devices)."""
    out_dir = Path(out_dir)
    cuda = _uses_cuda(accelerator)

    def make_trainer(stage: str | None = None, **overrides) -> pl.Trainer:
        root = out_dir if stage is None else out_dir / stage
        checkpoint = ModelCheckpoint(
            dirpath=root / "checkpoints",
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            save_last=resume,
        )
        early = EarlyStopping(monitor="val_loss", mode="min", patience=patience)
        timer = [Timer(duration={"seconds": max_time_s}, interval="epoch")] if max_time_s else []
        kwargs = dict(
            max_epochs=max_epochs,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            default_root_dir=str(root),
            callbacks=[checkpoint, early, *timer, *callbacks],
            logger=[CSVLogger(str(root), name="logs"), *loggers],
            log_every_n_steps=logging_interval(limit_train_batches, log_every_n_steps),
            deterministic=not cuda,
            precision="16-mixed" if cuda else "32",
            enable_progress_bar=enable_progress_bar,
            enable_model_summary=False,
            limit_train_batches=limit_train_batches,
            limit_val_batches=limit_val_batches,
            num_sanity_val_steps=0,
        )
        kwargs.update(overrides)
        if resume:
            return ResumingTrainer(root / "checkpoints" / "last.ckpt", **kwargs)
        return pl.Trainer(**kwargs)

    return make_trainer


class ResumingTrainer(pl.Trainer):
    """A Trainer whose fit() continues from `last` (weights, optimiser, scheduler, epoch, early-stopping and
    best-checkpoint state) when that file exists. Resumed training draws other batch orders than an
    uninterrupted one: same seed, same weights holds only for fits that ran in one go."""

    def __init__(self, last: Path, **kwargs):
        super().__init__(**kwargs)
        self.last = Path(last)
        self.resumed_from: Path | None = None

    def fit(self, model, train_dataloaders=None, val_dataloaders=None, datamodule=None, ckpt_path=None):
        if ckpt_path is None and self.last.is_file():
            ckpt_path = self.resumed_from = self.last
        return super().fit(model, train_dataloaders, val_dataloaders, datamodule, ckpt_path=ckpt_path)


class TrainingInterrupted(RuntimeError):
    """A fit stopped by its time limit before its epochs or early stopping ended it; rerun to resume."""


def finished(trainer: pl.Trainer) -> bool:
    """The fit ended by itself (its epochs, or early stopping), not by a time limit."""
    if trainer.current_epoch >= (trainer.max_epochs or 0):
        return True
    return any(isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0 for cb in trainer.callbacks)


def best_checkpoint(trainer: pl.Trainer) -> Path | None:
    """The best checkpoint the trainer's ModelCheckpoint kept (None when it saved none)."""
    for cb in trainer.callbacks:
        if isinstance(cb, ModelCheckpoint) and cb.best_model_path:
            return Path(cb.best_model_path)
    return None


# torch's intra-op threads during CPU training. A CPU reduction (convolution, BatchNorm statistics, sums)
# is split across threads, so the thread count changes its rounding, and a few hundred Adam steps carry
# that difference to other weights and another MAE (quick kd-teacher: train loss 0.687 at 1 thread vs
# 0.596 at 2 after 10 steps). torch's default is the machine's core count (or OMP_NUM_THREADS), so a fixed
# number here makes the weights independent of both. 2: the committed boards were trained on 2-core
# machines at torch's default of 2 threads. Another CPU can still round differently (oneDNN picks its
# kernels and blocking by ISA and cache sizes).
TRAINING_THREADS = 2


def fit_method(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    *,
    max_epochs: int,
    seed: int = 0,
    out_dir: str | Path,
    patience: int = 5,
    accelerator: str = "auto",
    loggers: Sequence[Logger] = (),
    limit_train_batches: int | float | None = None,
    limit_val_batches: int | float | None = None,
    enable_progress_bar: bool = False,
    log_every_n_steps: int | None = None,
    callbacks: Sequence[pl.Callback] = (),
    threads: int | None = TRAINING_THREADS,
    resume: bool = False,
    max_time_s: float | None = None,
    devices: int = 1,
    strategy: str = "auto",
) -> Path | None:
    """Fit `module` on `datamodule` and return the best checkpoint (None for methods that do not train).

    Same seed -> same weights on CPU (seed_everything with workers, deterministic algorithms, and torch's
    intra-op thread count set to `threads` while fitting, then restored; None keeps torch's setting). The
    initial weights are drawn when the method is created: seed (e.g. `pl.seed_everything(seed)`) before
    `create_method` too, as the runner does. `resume` and `max_time_s`: see `trainer_factory`; a plain fit
    stopped by the time limit raises TrainingInterrupted (its last.ckpt is kept for the next run).
    """
    if getattr(module, "kind", "supervised") == "none":
        return None
    pl.seed_everything(seed, workers=True)
    make_trainer = trainer_factory(
        max_epochs=max_epochs,
        out_dir=out_dir,
        patience=patience,
        accelerator=accelerator,
        loggers=loggers,
        limit_train_batches=limit_train_batches,
        limit_val_batches=limit_val_batches,
        enable_progress_bar=enable_progress_bar,
        log_every_n_steps=log_every_n_steps,
        callbacks=callbacks,
        resume=resume,
        max_time_s=max_time_s,
        devices=devices,
        strategy=strategy,
    )
    previous = torch.get_num_threads()
    if threads is not None and not _uses_cuda(accelerator):
        torch.set_num_threads(int(threads))
    try:
        custom_fit = getattr(module, "custom_fit", None)
        if callable(custom_fit):
            return custom_fit(datamodule, make_trainer)
        trainer = make_trainer()
        trainer.fit(module, datamodule=datamodule)
        if not finished(trainer):
            raise TrainingInterrupted(
                f"stopped by the time limit after epoch {trainer.current_epoch}/{trainer.max_epochs}; "
                f"{Path(out_dir) / 'checkpoints' / 'last.ckpt'} is kept to resume from"
            )
        return best_checkpoint(trainer)
    finally:
        torch.set_num_threads(previous)


def load_trained(name: str, checkpoint: str | Path, **overrides) -> pl.LightningModule:
    """Recreate method `name` (with the same factory overrides as in training) and load its weights."""
    from benchmark.methods import create_method

    module = create_method(name, **overrides)
    load_inference_state(module, load_state_dict_file(checkpoint), checkpoint)
    module.eval()
    return module


def load_inference_state(module, state: dict, source: str | Path) -> None:
    """Load `state` into `module` strictly, except that keys under the module's `training_only` prefixes may
    be absent (stored weights without them predict the same).

    Raises:
        DataError: naming `source`, when a key is unexpected, a needed key is missing or a shape differs.
    """
    name = getattr(module, "method_name", "") or type(module).__name__
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise DataError(source, f"weights do not fit method {name!r}: {exc}") from exc
    missing = [k for k in missing if read_by_prediction(module, k)]
    if missing or unexpected:
        raise DataError(
            source,
            f"weights do not fit method {name!r}: missing keys {missing[:5]}{' ...' * (len(missing) > 5)}, "
            f"unexpected keys {unexpected[:5]}{' ...' * (len(unexpected) > 5)}",
        )
