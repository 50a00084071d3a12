"""Recordings of a sweep: each dataset loaded once, split by subject once, shared by every cell.

A dataset that cannot be loaded (missing root, corrupt ground truth) fails the cells that need it, with its
error, and only those. A dataset entry may name its adapter (`adapter: manifest`), so one adapter can serve
several named datasets in one sweep.
"""

from __future__ import annotations

from benchmark.runner.cells import Cell, Sweep

CROSS_TRAIN_VAL = (0.8, 0.2)


class DatasetCache:
    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self._loaded: dict[str, list | Exception] = {}
        self._splits: dict[str, tuple] = {}

    def recordings(self, name: str) -> list:
        if name not in self._loaded:
            from benchmark.data.datasets import load_dataset

            options = dict(self.sweep.datasets.get(name) or {})
            root = options.pop("root", None)
            adapter = options.pop("adapter", name)  # one adapter may serve several named datasets
            try:
                self._loaded[name] = load_dataset(adapter, root, **options)
            except Exception as err:  # noqa: BLE001 - kept, and raised again for every cell that needs it
                self._loaded[name] = err
        value = self._loaded[name]
        if isinstance(value, Exception):
            raise value
        return value

    def _split(self, name: str, fractions) -> tuple:
        from benchmark.data.datamodule import split_by_subject

        key = f"{name}|{tuple(fractions)}"
        if key not in self._splits:
            recs = [r for part in name.split("+") for r in self.recordings(part)]
            self._splits[key] = tuple(split_by_subject(recs, list(fractions), int(self.sweep.split["seed"])))
        return self._splits[key]

    def train_val(self, cell: Cell) -> tuple[list, list]:
        """Training and validation recordings of the cell's train set (subject-disjoint from its test set)."""
        if self.sweep.protocol == "intra":
            train, val, _ = self._split(cell.train_set, self.sweep.split["fractions"])
        else:
            train, val = self._split(cell.train_set, self.sweep.split.get("train_val", CROSS_TRAIN_VAL))
        return list(train), list(val)

    def test_recordings(self, cell: Cell) -> list:
        if self.sweep.protocol == "intra":
            return list(self._split(cell.test_set, self.sweep.split["fractions"])[2])
        return self.recordings(cell.test_set)
