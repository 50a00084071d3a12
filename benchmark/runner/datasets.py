"""Recordings of a sweep: each dataset loaded once, split by subject once, shared by every cell.

Each recording loads on its own: one that cannot be read (corrupt ground truth, truncated video) is kept as a
`FailedRecording` with its reason, and the others are used. A failed test recording reaches its cells, which
store it as a failed prediction; a failed training recording is left out of training (logged). A dataset
that cannot be loaded as a whole (missing root, unreadable manifest) or whose every recording is bad fails
the cells that need it, with its error, and only those. A dataset entry may name its adapter
(`adapter: manifest`), so one adapter can serve several named datasets in one sweep.

Failed recordings whose subject is known keep their subject's place in the subject split: the split is drawn
over the subjects of good and bad recordings alike, so one file going bad moves no subject to another part.
"""

from __future__ import annotations

import logging

from benchmark.runner.cells import Cell, Sweep

log = logging.getLogger(__name__)

CROSS_TRAIN_VAL = (0.8, 0.2)


def is_failed(recording) -> bool:
    from benchmark.data.datasets.base import FailedRecording

    return isinstance(recording, FailedRecording)


class DatasetCache:
    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self._loaded: dict[str, object] = {}
        self._splits: dict[str, tuple] = {}
        self._prepared: set[tuple] = set()

    def _load(self, name: str):
        """The dataset's DatasetLoad; a dataset that cannot load is kept, and raised again for every cell."""
        if name not in self._loaded:
            from benchmark.data.datasets.base import scan_dataset

            options = dict(self.sweep.datasets.get(name) or {})
            root = options.pop("root", None)
            adapter = options.pop("adapter", name)  # one adapter may serve several named datasets
            try:
                loaded = scan_dataset(adapter, root, **options)
                loaded.name = name
                loaded.require_some()
                for failure in loaded.failures:
                    log.warning("dataset %s: recording %s not loaded: %s", name, failure.id, failure.reason)
                self._loaded[name] = loaded
            except Exception as err:  # noqa: BLE001 - kept, and raised again for every cell that needs it
                self._loaded[name] = err
        value = self._loaded[name]
        if isinstance(value, Exception):
            raise value
        return value

    def recordings(self, name: str) -> list:
        """The recordings of dataset `name` that loaded."""
        return list(self._load(name).recordings)

    def failures(self, name: str) -> list:
        """The recordings of dataset `name` that did not load (FailedRecording, with their reasons)."""
        return list(self._load(name).failures)

    def _split(self, name: str, fractions) -> tuple:
        """Subject-disjoint parts of the (possibly "+"-joined) set; failed recordings with a known subject
        take part, so they hold their subject's place."""
        from benchmark.data.datamodule import split_by_subject

        key = f"{name}|{tuple(fractions)}"
        if key not in self._splits:
            recs = [
                r
                for part in name.split("+")
                for r in [*self.recordings(part), *self.failures(part)]
                if r.subject is not None
            ]
            self._splits[key] = tuple(split_by_subject(recs, list(fractions), int(self.sweep.split["seed"])))
        return self._splits[key]

    def train_val(self, cell: Cell) -> tuple[list, list]:
        """Training and validation recordings of the cell's train set (subject-disjoint from its test set);
        recordings that failed to load are left out."""
        if self.sweep.protocol == "intra":
            train, val, _ = self._split(cell.train_set, self.sweep.split["fractions"])
        else:
            train, val = self._split(cell.train_set, self.sweep.split.get("train_val", CROSS_TRAIN_VAL))
        train, val = [r for r in train if not is_failed(r)], [r for r in val if not is_failed(r)]
        from benchmark.runner.evaluate import crop_side_hint

        self._prepare([*train, *val], cell.train_level, crop_side_hint(cell))
        return train, val

    def _prepare(self, recordings: list, level: str, side: int) -> None:
        """Builds the recordings' preprocessed entries at crop side `side` on every core (preprocess_many),
        once per set, level and side, before the datamodule reads them one by one (then cache hits)."""
        key = (level, side, tuple(r.key for r in recordings))
        if key in self._prepared or not recordings:
            return
        self._prepared.add(key)
        from benchmark.runner.evaluate import prepare_recordings

        prepare_recordings(recordings, level, self.sweep.face, size=side)

    def test_recordings(self, cell: Cell) -> list:
        """The cell's test recordings, the failed ones (FailedRecording) among them, sorted by key."""
        if self.sweep.protocol == "intra":
            return list(self._split(cell.test_set, self.sweep.split["fractions"])[2])
        return sorted([*self.recordings(cell.test_set), *self.failures(cell.test_set)], key=lambda r: r.key)
