"""Sweeps: cells, the SQLite results store, training reuse, per-recording evaluation, wandb logging."""
