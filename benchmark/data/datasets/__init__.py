"""Dataset adapters: each reads one real on-disk layout and yields `Recording`s.

`load_dataset` returns every recording or raises the first bad one's error; `scan_dataset` returns the good
recordings and each bad one (`FailedRecording`) with its reason.

Importing this package registers every adapter in `DATASETS`.
"""

from benchmark.data.datasets import manifest as _manifest  # noqa: F401  (registers "manifest")
from benchmark.data.datasets import mmpd as _mmpd  # noqa: F401  (registers "mmpd")
from benchmark.data.datasets import pure as _pure  # noqa: F401  (registers "pure")
from benchmark.data.datasets import rlap as _rlap  # noqa: F401  (registers "rlap")
from benchmark.data.datasets import synth as _synth  # noqa: F401  (registers "synth")
from benchmark.data.datasets import ubfc_phys as _ubfc_phys  # noqa: F401  (registers "ubfc-phys")
from benchmark.data.datasets import ubfc_rppg as _ubfc_rppg  # noqa: F401  (registers "ubfc-rppg")
from benchmark.data.datasets.base import (
    DATASETS,
    DatasetAdapter,
    DatasetLoad,
    FailedRecording,
    load_dataset,
    register_dataset,
    scan_dataset,
)

__all__ = [
    "DATASETS",
    "DatasetAdapter",
    "DatasetLoad",
    "FailedRecording",
    "load_dataset",
    "register_dataset",
    "scan_dataset",
]
