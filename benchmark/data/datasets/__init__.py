"""Dataset adapters: each reads one real on-disk layout and yields `Recording`s.

Importing this package registers every adapter in `DATASETS`.
"""

from benchmark.data.datasets.base import DATASETS, DatasetAdapter, load_dataset, register_dataset

__all__ = ["DATASETS", "DatasetAdapter", "load_dataset", "register_dataset"]
