"""The method catalogue: name -> where its factory lives, plus what `list` and leaderboards need.

Kept free of torch and Lightning so `python -m benchmark list` is instant; the factory module is imported
only when a method is created.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmark.registry import Registry

KINDS = ("supervised", "self-supervised", "none", "baseline")
# kind -> leaderboard group; the order of GROUPS is the tables' and plots' row order
GROUP_OF_KIND = {
    "supervised": "supervised",
    "self-supervised": "unsupervised (learned)",
    "none": "classic",
    "baseline": "baseline",
}
# rows of released weights (a sweep's `pretrained:`): networks trained elsewhere, on real faces
PRETRAINED_GROUP = "pretrained (real data)"
GROUPS = ("supervised", PRETRAINED_GROUP, *(g for g in GROUP_OF_KIND.values() if g != "supervised"))


@dataclass(frozen=True)
class MethodEntry:
    """Catalogue entry.

    Attributes:
        name: registry name (`physnet`).
        factory: "module.path:function" returning a MethodModule; called with keyword overrides.
        kind: supervised | self-supervised | none (classic: no training) | baseline (the chance row: fitted
            to the training set's heart rates, not to video).
        family: the file / paper family it belongs to (e.g. "kd" for kd-teacher and kd-student).
        paper: short citation.
        requires: methods that must be trained first; the runner passes their best checkpoints to the factory
            as `dependencies={name: checkpoint_path}` (e.g. the KD student needs the trained teacher).
    """

    name: str
    factory: str
    kind: str
    family: str
    paper: str = ""
    requires: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """Leaderboard group: supervised, unsupervised (learned), classic or baseline."""
        return GROUP_OF_KIND[self.kind]

    def load_factory(self):
        module_name, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)


METHODS: Registry[MethodEntry] = Registry("method")


def register_method(
    name: str, factory: str, *, kind: str, family: str, paper: str = "", requires: tuple[str, ...] = ()
) -> MethodEntry:
    if kind not in KINDS:
        raise ValueError(f"method {name!r}: kind must be one of {KINDS}, got {kind!r}")
    return METHODS.add(name, MethodEntry(name, factory, kind, family, paper, tuple(requires)))


def create_method(name: str, **overrides):
    """Build the LightningModule of method `name` (imports its file on first use)."""
    return METHODS.get(name).load_factory()(**overrides)
