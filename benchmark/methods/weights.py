"""Reading saved weights safely: the one place every loader (checkpoints, --weights, key maps) uses."""

from __future__ import annotations

from pathlib import Path

import torch

from benchmark.errors import DataError


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
