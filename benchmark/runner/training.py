"""Trained models of a sweep: one fit per (method, train set, seed, training level), reused by every cell.

Best checkpoints are recorded in the database under the training config's hash, so a rerun (or another sweep
with the same training config) loads them instead of training again. A method that requires others (the KD
student needs the trained teacher) gets their checkpoints as `dependencies`, and their keys enter its own.
Two method names that build the same network and train it alike (kd-teacher is PhysNet with PhysNet's
recipe) share one checkpoint through a second, content-based key (`Trainer.content_key`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.runner.cells import Cell, config_hash

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, sweep, store, data, work_dir: Path, loggers=None, use_zoo: bool = True):
        self.sweep = sweep
        self.use_zoo = use_zoo  # look in zoo/ for a checkpoint trained under the cell's training config
        self.store = store
        self.data = data
        self.work_dir = Path(work_dir)
        self.loggers = loggers  # callable(cell, run_name) -> list of extra Lightning loggers, or None
        self._failures: dict[str, str] = {}
        self._cached: tuple[str, object] | None = None
        self.report = None  # callable(line): one line per training epoch (the sweep's Progress.note)

    # ------------------------------------------------------------------------------------------ modules
    def module_for(self, cell: Cell):
        """The model to predict with: the untrained module (classic) or the trained one, loaded once."""
        key = cell.training_key if cell.trains else f"untrained:{cell.method}"
        if self._cached and self._cached[0] == key:
            return self._cached[1]
        self._cached = None
        if cell.trains:
            from benchmark.methods.training import load_trained

            checkpoint = self.checkpoint(cell)
            module = load_trained(cell.method, checkpoint, **self.factory_kwargs(cell))
        else:
            from benchmark.methods import create_method
            from benchmark.methods.weights import RELEASES, load_release

            module = load_release(cell.method) if cell.method in RELEASES else create_method(cell.method)
        module = module.to(self.device()).eval()
        self._cached = (key, module)
        return module

    def device(self) -> str:
        import torch

        if self.sweep.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.sweep.device

    def factory_kwargs(self, cell: Cell) -> dict:
        """Keyword arguments of the method's factory: recipe overrides, dependencies, training subjects."""
        from benchmark.methods import METHODS
        from benchmark.methods.config import split_recipe

        kwargs = dict(split_recipe(cell.recipe)[0])
        requires = METHODS.get(cell.method).requires
        if requires:
            kwargs["dependencies"] = {dep: str(self.checkpoint(cell.dependency(dep))) for dep in requires}
        if needs_subjects(cell.recipe):
            train, _ = self.data.train_val(cell)
            kwargs["num_subjects"] = len({r.subject for r in train})
        return kwargs

    # -------------------------------------------------------------------------------------- training
    def checkpoint(self, cell: Cell) -> Path:
        """The best checkpoint of the cell's training config: from the database, or trained now."""
        key = cell.training_key  # covers the training configs of the models it depends on
        if key in self._failures:
            raise TrainingFailed(
                f"training of {cell.method} on {cell.train_set} failed: {self._failures[key]}"
            )
        from benchmark.results.provenance import now

        known = self.store.checkpoint(key)
        if known and Path(known).is_file():
            return Path(known)
        if self.use_zoo:
            from benchmark import zoo

            entry = zoo.find(key)
            if entry is not None:
                path = entry.verified()
                log.info("%s: zoo checkpoint %s (sha256 checked)", cell.method, path)
                self.store.put_checkpoint(key, cell.method, str(path), now())
                return path
        shared_key = self.content_key(cell)
        shared = self.store.checkpoint(shared_key) if shared_key else None
        if shared and Path(shared).is_file():
            log.info(
                "%s: same network, recipe, data and seed as a model already trained; reusing %s",
                cell.method,
                shared,
            )
            self.store.put_checkpoint(key, cell.method, shared, now())
            return Path(shared)
        try:
            path = self.train(cell)
        except Exception as err:
            self._failures[key] = f"{type(err).__name__}: {err}"
            raise
        self.store.put_checkpoint(key, cell.method, str(path), now())
        if shared_key:
            self.store.put_checkpoint(shared_key, cell.method, str(path), now())
        return path

    def content_key(self, cell: Cell) -> str | None:
        """Key of what a training computes, whatever the registry name: the training config with the method
        name replaced by what the method builds (module and network classes, parameter names and shapes,
        loss with its settings, optimiser, input spec). Two names that build the same thing and train it
        with the same recipe on the same data and seed get the same weights (kd-teacher is the PhysNet
        layout with PhysNet's recipe), so the second loads the first's checkpoint instead of training again.
        None (no sharing) for methods that depend on other models or on the training subjects."""
        from benchmark.methods import METHODS, create_method

        if METHODS.get(cell.method).requires or needs_subjects(cell.recipe):
            return None
        module = create_method(cell.method, **self.factory_kwargs(cell))
        config = dict(cell.training_config())
        config["method"] = build_fingerprint(module)
        return "content:" + config_hash(config)

    def datamodule_for(self, cell: Cell, module):
        """The training and validation data of the cell, fed as `module`'s input spec asks."""
        from benchmark.data.datamodule import RPPGDataModule
        from benchmark.runner.evaluate import face_config

        train, val = self.data.train_val(cell)
        return RPPGDataModule(
            train,
            val,
            [],
            module.input_spec,
            level=cell.train_level,
            face=face_config(self.sweep.face),
            batch_size=int(cell.recipe.get("batch_size", 4)),
            seed=cell.seed,
            speed_augment=cell.recipe.get("speed_augment"),
        )

    def train(self, cell: Cell, *, resume: bool = False, max_time_s: float | None = None) -> Path:
        """Fit the cell's method on its training set; `resume` / `max_time_s` as in `fit_method` (the zoo's
        long trainings: continued across runs, each run stopped at an epoch end past its time limit)."""
        from benchmark.methods import create_method
        from benchmark.methods.training import EpochLines, fit_method

        for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)  # one line per fit is ours; theirs is noise
        recipe = cell.recipe
        kwargs = self.factory_kwargs(cell)
        import pytorch_lightning as pl

        pl.seed_everything(cell.seed, workers=True, verbose=False)  # initial weights depend on the seed only
        module = create_method(cell.method, **kwargs)
        datamodule = self.datamodule_for(cell, module)
        epochs = int(recipe.get("epochs", 1))
        if self.sweep.max_epochs is not None:
            epochs = min(epochs, int(self.sweep.max_epochs))
        out_dir = self.work_dir / "train" / cell.method / cell.training_key
        loggers = self.loggers(cell, f"{cell.method}-{cell.training_key}") if self.loggers else []
        log.info(
            "training %s on %s (seed %d, %d epochs, level %s)",
            cell.method,
            cell.train_set,
            cell.seed,
            epochs,
            cell.train_level,
        )
        path = fit_method(
            module,
            datamodule,
            max_epochs=epochs,
            seed=cell.seed,
            out_dir=out_dir,
            patience=int(recipe.get("patience", 5)),
            accelerator=_accelerator(self.device()),
            loggers=loggers,
            limit_train_batches=recipe.get("limit_train_batches"),
            limit_val_batches=recipe.get("limit_val_batches"),
            log_every_n_steps=recipe.get("log_every_n_steps"),
            callbacks=[EpochLines(f"training {cell.method} (seed {cell.seed})", self.report)]
            if self.report
            else [],
            resume=resume,
            max_time_s=max_time_s,
            devices=self.sweep.devices,
            strategy=lightning_strategy(self.sweep.strategy),
        )
        if path is None or not Path(path).is_file():
            raise TrainingFailed(f"training of {cell.method} saved no checkpoint (no validation loss?)")
        return Path(path)


class TrainingFailed(RuntimeError):
    """A model could not be trained; every cell that needs it fails with this reason."""


def build_fingerprint(module) -> dict:
    """What a method's factory built, as plain data: equal fingerprints train alike from the same seed."""
    from dataclasses import asdict, is_dataclass

    def name(obj) -> str:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    def settings(obj) -> dict:
        return {k: v for k, v in sorted(vars(obj).items()) if isinstance(v, (bool, int, float, str, tuple))}

    loss = getattr(module, "loss_fn", None)
    parts = {
        "module": name(module),
        "net": name(getattr(module, "net", module)),
        "parameters": [[k, list(v.shape)] for k, v in module.state_dict().items()],
        "loss": [name(loss), settings(loss)] if loss is not None else None,
    }
    for field in ("optim", "input_spec"):
        value = getattr(module, field, None)
        parts[field] = asdict(value) if is_dataclass(value) else repr(value)
    return parts


def needs_subjects(recipe: dict) -> bool:
    return "talos" in str(recipe.get("loss", "")).lower()


def lightning_strategy(strategy: str) -> str:
    """Lightning's name for a sweep's strategy. `ddp` is Lightning's `ddp_spawn`: its `ddp` launcher starts
    each rank by running the command line again, which here would rerun the whole sweep in every rank."""
    return "ddp_spawn" if strategy == "ddp" else strategy


def _accelerator(device: str) -> str:
    return "gpu" if device.startswith("cuda") else "cpu"


__all__ = ["Trainer", "TrainingFailed", "config_hash"]
