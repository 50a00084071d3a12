"""The model zoo: checkpoints trained once at the `zoo` budget, committed under zoo/ with their provenance.

Why: a learned method needs hours of CPU to learn on SynthPulse; `make bench-all` has 30 minutes. The zoo is a
checkpoint store keyed, like the sweep database's, by the training config's hash (`Cell.training_key`): a
sweep whose cell asks for exactly the config a zoo entry was trained under loads that entry instead of
training. Any change to what the model depends on (recipe, data preset or seed, split, face settings, protocol
version) gives another key, so a stale entry is never used; `zoo list` says which entries the current sweep
still matches.

Layout: zoo/<method>.pt (the state_dict; float tensors in fp16 where the network's output stays within
FP16_TOLERANCE of fp32, else fp32) and zoo/<method>.json (provenance: command, commit, data, recipe, training
curve summary, sha256 of the .pt). Two method names that train the same network alike (kd-teacher is PhysNet
with PhysNet's recipe) share one .pt: the second's json names the first's file.

Only what prediction reads is stored: a method's `training_only` state (SSPD's EMA target and pretext TS
blocks) is left out, and a part that is bit for bit another entry's weights (stven-rppgnet's frozen stage-1
rPPGNet is the rppgnet entry) is referenced by that file's sha256 instead of stored twice (`parts` in the
json). Loading such an entry assembles the full state_dict into the cache (`ZooEntry.verified`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.errors import DataError
from benchmark.methods.base import read_by_prediction
from benchmark.paths import PROJECT_ROOT, atomic_write, file_sha256

log = logging.getLogger(__name__)

ZOO_VERSION = 1
# largest |fp32 output - fp16-weights output| / std(fp32 output) on validation chunks for fp16 storage
FP16_TOLERANCE = 1e-2


def zoo_dir() -> Path:
    """zoo/ of the project (RPPG_ZOO_DIR overrides, e.g. for tests)."""
    return Path(os.environ.get("RPPG_ZOO_DIR", PROJECT_ROOT / "zoo"))


@dataclass(frozen=True)
class ZooEntry:
    method: str
    meta: dict
    meta_path: Path

    @property
    def weights(self) -> Path:
        return self.meta_path.parent / self.meta["file"]

    @property
    def training_key(self) -> str:
        return self.meta["training_key"]

    def verified(self) -> Path:
        """The weights file to load, after checking its sha256 (and those of the parts it references) against
        the recorded ones; an entry with parts is assembled into one state_dict file under the cache."""
        path = self.weights
        if not path.is_file():
            raise DataError(self.meta_path, f"zoo entry names {self.meta['file']}, which is missing")
        actual = file_sha256(path)
        if actual != self.meta["sha256"]:
            raise DataError(
                path, f"sha256 {actual} differs from {self.meta['sha256']} in {self.meta_path.name}"
            )
        parts = self.meta.get("parts") or []
        return self._assembled(path, parts) if parts else path

    @property
    def assembled_path(self) -> Path:
        """Where `verified` writes the full state_dict of an entry with parts."""
        from benchmark.paths import cache_dir

        return cache_dir() / "zoo" / f"{self.method}-{self.meta['sha256'][:16]}.pt"

    def loads_from(self, path: str | Path) -> bool:
        """Whether a checkpoint path is this entry's file or its assembled copy. A database written in another
        clone or on another machine records that clone's path: a file of this entry's name in a folder named
        `zoo` (its sha256 checked where the file can be read here), or the assembled copy's name (which
        carries the sha256), is this entry too."""
        path = Path(path)
        if path.resolve() in {self.weights.resolve(), self.assembled_path.resolve()}:
            return True
        if path.name == self.assembled_path.name:
            return True
        if path.name != self.weights.name or path.parent.name != "zoo":
            return False
        return not path.is_file() or file_sha256(path) == self.meta["sha256"]

    def _assembled(self, path: Path, parts: list[dict]) -> Path:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for part in parts:
            other = find_method(part["method"], self.meta_path.parent)
            if other is None or other.meta["sha256"] != part["sha256"]:
                found = "no such entry" if other is None else f"sha256 {other.meta['sha256']}"
                raise DataError(
                    self.meta_path,
                    f"needs {part['method']}'s weights with sha256 {part['sha256']} for {part['prefix']}*, "
                    f"the zoo has {found}: retrain it (`zoo train --methods {self.method} --force`)",
                )
            theirs = torch.load(other.verified(), map_location="cpu", weights_only=True)
            src = part["source_prefix"]
            state.update({part["prefix"] + k[len(src) :]: v for k, v in theirs.items() if k.startswith(src)})
        write_state(self.assembled_path, state)
        return self.assembled_path


def entries(root: Path | None = None) -> list[ZooEntry]:
    """Every zoo entry (one json per method), sorted by method name. A json that cannot be read is an error
    naming it: a committed zoo must not be half-broken silently."""
    root = Path(root) if root else zoo_dir()
    found = []
    for meta_path in sorted(root.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(meta_path, f"not a readable zoo entry: {exc}") from exc
        missing = [k for k in ("method", "training_key", "file", "sha256") if k not in meta]
        if missing:
            raise DataError(meta_path, f"zoo entry lacks {missing}")
        found.append(ZooEntry(meta["method"], meta, meta_path))
    return found


def find(training_key: str, root: Path | None = None) -> ZooEntry | None:
    """The zoo entry trained under this training config, if any."""
    return next((e for e in entries(root) if e.training_key == training_key), None)


def find_method(method: str, root: Path | None = None) -> ZooEntry | None:
    return next((e for e in entries(root) if e.method == method), None)


# ----------------------------------------------------------------------------------------------- saving
def write_state(path: Path, state: dict[str, torch.Tensor]) -> None:
    """torch.save, atomically: a reader never sees a half-written file."""
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())


def _half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def inference_state(module) -> dict[str, torch.Tensor]:
    """The state_dict without the keys prediction never reads (the module's `training_only` prefixes)."""
    return {k: v for k, v in module.state_dict().items() if read_by_prediction(module, k)}


def shared_parts(state: dict, declared: dict, root: Path) -> tuple[dict, list[dict]]:
    """`state` without the parts that equal another zoo entry's weights bit for bit, and those references.

    `declared`: {prefix here: (method, prefix in that method's state)}, from the module's `zoo_parts`; a part
    whose other entry is absent or differs in any tensor, dtype or key stays in `state`."""
    own, parts = dict(state), []
    for prefix, (method, source_prefix) in declared.items():
        other = find_method(method, root)
        if other is None:
            continue
        theirs = torch.load(other.verified(), map_location="cpu", weights_only=True)
        theirs = {k[len(source_prefix) :]: v for k, v in theirs.items() if k.startswith(source_prefix)}
        mine = {k[len(prefix) :]: v for k, v in own.items() if k.startswith(prefix)}
        same = mine and mine.keys() == theirs.keys()
        if not same or not all(
            mine[k].dtype == theirs[k].dtype and torch.equal(mine[k], theirs[k]) for k in mine
        ):
            continue
        for k in mine:
            del own[prefix + k]
        parts.append(
            {
                "method": method,
                "sha256": other.meta["sha256"],
                "prefix": prefix,
                "source_prefix": source_prefix,
            }
        )
    return own, parts


def fp16_error(module, batches: list[dict]) -> float:
    """Largest |output with fp16-rounded weights - fp32 output| / std(fp32 output) over `batches`."""
    import copy

    module = module.eval().cpu()
    rounded = copy.deepcopy(module)
    state = {k: v.to(module.state_dict()[k].dtype) for k, v in _half_state(module.state_dict()).items()}
    rounded.load_state_dict(state)
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            ref, out = module(batch["x"]).float(), rounded(batch["x"]).float()
            worst = max(worst, float((out - ref).abs().max() / ref.std().clamp_min(1e-12)))
    return worst


def save_entry(
    method: str,
    module,
    provenance: dict,
    check_batches: list[dict],
    *,
    root: Path | None = None,
    share_with: str | None = None,
) -> ZooEntry:
    """Write zoo/<method>.pt and zoo/<method>.json for a trained module. `share_with`: the method whose .pt
    holds the same weights (written already), referenced instead of a second copy."""
    root = Path(root) if root else zoo_dir()
    root.mkdir(parents=True, exist_ok=True)
    if share_with:
        other = json.loads((root / f"{share_with}.json").read_text())
        file, digest, dtype, error = other["file"], other["sha256"], other["dtype"], other.get("fp16_error")
    else:
        error = fp16_error(module, check_batches) if check_batches else float("inf")
        state = inference_state(module)
        dtype = "float16" if error <= FP16_TOLERANCE else "float32"
        if dtype == "float16":
            state = _half_state(state)
        state, parts = shared_parts(state, getattr(module, "zoo_parts", {}), root)
        file = f"{method}.pt"
        write_state(root / file, state)
        digest = file_sha256(root / file)
    meta = {
        "zoo_version": ZOO_VERSION,
        "method": method,
        "file": file,
        "sha256": digest,
        "bytes": (root / file).stat().st_size,
        "dtype": dtype,
        "fp16_error": None if error == float("inf") else round(error, 6),
        "shared_with": share_with,
        "parts": [] if share_with else parts,
        "training_only": [] if share_with else list(getattr(module, "training_only", ())),
        **provenance,
    }
    meta_path = root / f"{method}.json"
    atomic_write(meta_path, json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n")
    return ZooEntry(method, meta, meta_path)


def curve_summary(out_dir: Path) -> list[dict]:
    """Per-epoch mean training loss and validation loss from the CSV logs under out_dir (all versions: a
    resumed fit writes a new one), in epoch order."""
    import csv

    epochs: dict[int, dict] = {}
    for metrics in sorted(Path(out_dir).rglob("metrics.csv")):
        with open(metrics) as fh:
            for row in csv.DictReader(fh):
                if not row.get("epoch"):
                    continue
                rec = epochs.setdefault(int(row["epoch"]), {"train": [], "val": []})
                if row.get("train_loss"):
                    rec["train"].append(float(row["train_loss"]))
                if row.get("val_loss"):
                    rec["val"].append(float(row["val_loss"]))
    out = []
    for epoch in sorted(epochs):
        rec = epochs[epoch]
        out.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(sum(rec["train"]) / len(rec["train"]), 5) if rec["train"] else None,
                "val_loss": round(rec["val"][-1], 5) if rec["val"] else None,
            }
        )
    return out


def command_line() -> str:
    return " ".join(["python -m benchmark", *sys.argv[1:]]) if sys.argv else "python -m benchmark"


__all__ = [
    "ZooEntry",
    "entries",
    "find",
    "find_method",
    "inference_state",
    "save_entry",
    "zoo_dir",
    "curve_summary",
    "fp16_error",
]
