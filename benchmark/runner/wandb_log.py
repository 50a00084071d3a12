"""`--wandb`: one wandb run per sweep (cells' metrics, configs, leaderboard tables) and one per training fit.

Offline unless the user sets WANDB_MODE: nothing leaves the machine and no account is needed; `wandb sync`
uploads later. wandb's files go under the sweep's work folder unless WANDB_DIR / WANDB_CACHE_DIR are set.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

PROJECT = "rppg-benchmark"


class WandbSink:
    def __init__(self, sweep, work_dir: Path):
        work_dir = Path(work_dir)
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_DIR", str(work_dir / "wandb"))
        os.environ.setdefault("WANDB_CACHE_DIR", str(work_dir / "wandb" / "cache"))
        os.environ.setdefault("WANDB_SILENT", "true")
        Path(os.environ["WANDB_DIR"]).mkdir(parents=True, exist_ok=True)
        import wandb

        self.wandb = wandb
        self.work_dir = work_dir
        self.run = wandb.init(
            project=PROJECT,
            name=f"sweep-{sweep.name}",
            job_type="sweep",
            config=sweep.resolved(),
            dir=os.environ["WANDB_DIR"],
            reinit="create_new",
        )
        self.step = 0

    def lightning_loggers(self, cell, run_name: str) -> list:
        from pytorch_lightning.loggers import WandbLogger

        return [
            WandbLogger(
                project=PROJECT,
                name=run_name,
                offline=os.environ["WANDB_MODE"] == "offline",
                save_dir=os.environ["WANDB_DIR"],
                config=cell.training_config(),
                job_type="train",
            )
        ]

    def log_cell(self, cell, result) -> None:
        numbers = {k: v for k, v in result.metrics.items() if isinstance(v, int | float) and v is not None}
        prefix = f"{cell.test_set}/{cell.level}/{cell.method}/seed{cell.seed}"
        self.run.log(
            {f"{prefix}/{k}": v for k, v in numbers.items()}
            | {f"{prefix}/failed": int(result.status == "failed")},
            step=self.step,
        )
        self.step += 1

    def log_tables(self, folder: Path) -> None:
        for path in sorted(Path(folder).glob("*.csv")):
            with open(path, newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                self.run.log({f"table/{path.stem}": self.wandb.Table(columns=rows[0], data=rows[1:])})

    def finish(self) -> None:
        self.run.finish()
