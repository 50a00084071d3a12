"""Reading saved weights safely: the one place every loader (checkpoints, --weights, key maps) uses, and the
registry of released weights (`RELEASES`: rPPG-Toolbox's PhysNets and FactorizePhys...) with their fetching
and sha256 check."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmark.errors import DataError
from benchmark.registry import Registry


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict inside a Lightning checkpoint or a plain saved state_dict, loaded with weights_only.

    A "module." prefix (saved from DataParallel) is dropped. Anything that is not a dict of tensors is a
    DataError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise DataError(path, f"cannot load weights with weights_only=True: {exc}") from exc
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(path, "not a checkpoint or state_dict: no dict of tensors inside")
    return {k.removeprefix("module."): v for k, v in state.items()}


def rename_keys(state: dict[str, torch.Tensor], key_map: dict[str, str]) -> dict[str, torch.Tensor]:
    """Keys renamed by their first matching prefix in `key_map` (another codebase's names to ours); a key
    that no prefix matches raises KeyError naming it."""
    out = {}
    for key, value in state.items():
        prefix = next((p for p in key_map if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(key)
        out[key_map[prefix] + key[len(prefix) :]] = value
    return out


def load_mapped(net: torch.nn.Module, path: str | Path, key_map: dict[str, str], what: str):
    """Load a state_dict file (weights_only) into `net` through `key_map`, strictly: a key that does not map
    or fit is a DataError naming the file and saying it is not `what`."""
    path = Path(path)
    state = load_state_dict_file(path)
    try:
        net.load_state_dict(rename_keys(state, key_map), strict=True)
    except (KeyError, RuntimeError) as exc:
        raise DataError(path, f"not {what}: {exc}") from exc
    return net


# ------------------------------------------------------------------------------------ released weights
# Weights others trained on real faces, as first-class rows of the benchmark: each release names the file,
# where it comes from, its sha256 (the contract: a file with another digest is never used), its licence and
# training set, and the factory arguments that fix the input it was trained on.
TOOLBOX_URL = "https://github.com/ubicomplab/rPPG-Toolbox/raw/main/final_model_release/"
TOOLBOX_LICENCE = "Responsible AI Source Code License v1.1 (rPPG-Toolbox; ship its LICENSE beside any copy)"


@dataclass(frozen=True)
class Release:
    name: str  # <method>@<training set>-<source>, e.g. physnet@pure-rppgtoolbox
    method: str  # the registry method whose factory builds the network
    file: str
    url: str
    sha256: str
    licence: str
    train_set: str
    source: str
    factory: dict = field(default_factory=dict)  # factory keyword arguments: the input it was trained on
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} ({self.train_set}, {self.source} weights)"


RELEASES: Registry[Release] = Registry("weights release")


def _toolbox_physnet(tag: str, file: str, sha256: str, train_set: str, note: str = "") -> None:
    RELEASES.add(
        f"physnet@{tag}-rppgtoolbox",
        Release(
            f"physnet@{tag}-rppgtoolbox", "physnet", file, TOOLBOX_URL + file, sha256, TOOLBOX_LICENCE,
            train_set, "rPPG-Toolbox", {"size": 72, "frames": 128},
            note or "DiffNormalized 72x72 input, 128-frame chunks (the toolbox's PhysNet config)",
        ),
    )  # fmt: skip


_toolbox_physnet(
    "pure",
    "PURE_PhysNet_DiffNormalized.pth",
    "cf295ff0b7a43ee638b9a8ce5a9c62801d5f196b360b3a589fdd5aa43ce623f8",
    "PURE",
)
_toolbox_physnet(
    "ubfc-rppg",
    "UBFC-rPPG_PhysNet_DiffNormalized.pth",
    "6c00db978d9db3566b8953a97cb7cfcd6deb9522b0cbc937c921bb1859a1cdd0",
    "UBFC-rPPG",
)
_toolbox_physnet(
    "scamps",
    "SCAMPS_PhysNet_DiffNormalized.pth",
    "3059a4b2cf0ab155f1b63cdb8b858785a61a502242307f6e82abf8a7d588ba79",
    "SCAMPS (synthetic)",
)
_toolbox_physnet(
    "ma-ubfc",
    "MA-UBFC_physnet.pth",
    "670f313ce169e773fbdfc23ede578c6d14a7da9dced6596f3ad9de9677e01ce8",
    "MA-UBFC (motion-augmented UBFC-rPPG)",
)
_toolbox_physnet(
    "bp4d-pseudo",
    "BP4D_PseudoLabel_PhysNet_DiffNormalized.pth",
    "aa1bd7364a469bc085b20dbc9dbbcc0faeab0d630f492573ebf52c79fafc66b7",
    "BP4D+ (POS pseudo-labels)",
)


def _toolbox_factorizephys(tag: str, file: str, sha256: str, train_set: str) -> None:
    RELEASES.add(
        f"factorizephys@{tag}-rppgtoolbox",
        Release(
            f"factorizephys@{tag}-rppgtoolbox", "factorizephys", file, TOOLBOX_URL + file, sha256,
            TOOLBOX_LICENCE, train_set, "rPPG-Toolbox", {"size": 72, "frames": 160},
            "Raw 72x72 input (the network differences and normalises it), 160-frame chunks, FSAM off at "
            "inference (the toolbox's FactorizePhys_FSAM_Res configs)",
        ),
    )  # fmt: skip


_toolbox_factorizephys(
    "pure",
    "PURE_FactorizePhys_FSAM_Res.pth",
    "00352947d39aee1853b5bff00577916876a89a6f81bf8e49216432f1c5bb9bbb",
    "PURE",
)
_toolbox_factorizephys(
    "ubfc-rppg",
    "UBFC-rPPG_FactorizePhys_FSAM_Res.pth",
    "03cb8590e0b1f0fe669534d9708520fed0b20e1fe28e1b57a56a2504b4a246f6",
    "UBFC-rPPG",
)
_toolbox_factorizephys(
    "scamps",
    "SCAMPS_FactorizePhys_FSAM_Res.pth",
    "fdf58efe1781c3e85194f3de9af2d945c8cef2c418005bd3f9a55a542e55cb45",
    "SCAMPS (synthetic)",
)
_toolbox_factorizephys(
    "ibvp",
    "iBVP_FactorizePhys_FSAM_Res.pth",
    "21e20ea54498adcf4b4238cc49d407c807df08e2cf8c0e5cf8c6518ab463bf27",
    "iBVP",
)


def weights_env_dir() -> Path | None:
    """RPPG_WEIGHTS_DIR: a folder of already-downloaded release files (CI, offline machines)."""
    value = os.environ.get("RPPG_WEIGHTS_DIR")
    return Path(value).expanduser() if value else None


def weights_cache_dir() -> Path:
    from benchmark.paths import cache_dir

    return cache_dir() / "weights"


def _checked(path: Path, release: Release) -> Path:
    from benchmark.paths import file_sha256

    actual = file_sha256(path)
    if actual != release.sha256:
        raise DataError(
            path,
            f"sha256 {actual} is not {release.name}'s {release.sha256}: the file is not used "
            "(a different or damaged download; delete it and fetch again)",
        )
    return path


def local_release(name: str) -> Path | None:
    """The release's file from RPPG_WEIGHTS_DIR or the cache, sha256-checked; None when neither has it."""
    release = RELEASES.get(name)
    for folder in (weights_env_dir(), weights_cache_dir()):
        if folder is not None and (folder / release.file).is_file():
            return _checked(folder / release.file, release)
    return None


def fetch_release(name: str) -> Path:
    """The release's file: from RPPG_WEIGHTS_DIR or the cache when there (no network), else downloaded into
    the cache and checked. A digest that differs is a DataError naming the file; the file is not used."""
    import urllib.request

    found = local_release(name)
    if found is not None:
        return found
    release = RELEASES.get(name)
    target = weights_cache_dir() / release.file
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(release.url, timeout=60) as response, open(partial, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(  # the URL in the message: a Path would fold its "//"
            None,
            f"{release.url}: cannot download {release.name} ({exc}); put {release.file} in a folder named by "
            "RPPG_WEIGHTS_DIR to use a copy you have",
        ) from exc
    try:
        _checked(partial, release)
    except DataError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def load_release(name: str):
    """The release's network as its method's module, weights loaded (weights_only) through the method's own
    loader (the factory's `weights=` argument: key maps for foreign formats)."""
    from benchmark.methods import METHODS

    release = RELEASES.get(name)
    factory = METHODS.get(release.method).load_factory()
    return factory(**release.factory, weights=fetch_release(name)).eval()
