"""Training cost of the PhysNet-family `quick` recipes (physnet, kd-teacher, kd-student, kd-student-nokd), old
recipes against the current ones, side by side in one run.

What it measures: CPU seconds (process time, single thread) of one training step (forward, loss, backward,
AdamW step) of each recipe's network at its batch size, chunk length and frame size, on random inputs of the
right shape; steps are interleaved old/new so a busy machine slows both alike. Each recipe's cost is then
per-step seconds x its number of steps (epochs x limit_train_batches), a model that the runner does not
train (kd-teacher, whose checkpoint is physnet's when their recipes are identical) costing 0. Validation,
data loading and evaluation are left out (validation is 3 batches an epoch in both).

    OMP_NUM_THREADS=1 .venv/bin/python bench/kd_quick_budget.py --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmark.methods import create_method
from benchmark.methods.config import load_recipe, split_recipe

# The quick recipes before the spectral-loss change (configs/methods/*.yaml at commit 47f3fe0): the same
# networks, NP loss, batches of 4; kd-teacher trained separately.
OLD = {
    "physnet": {"lr": 0.003, "batch_size": 4, "steps": 40, "loss": "np", "trained": True},
    "kd-teacher": {"lr": 0.003, "batch_size": 4, "steps": 40, "loss": "np", "trained": True},
    "kd-student": {"lr": 0.003, "batch_size": 4, "steps": 80, "loss": "np", "trained": True},
    "kd-student-nokd": {"lr": 0.003, "batch_size": 4, "steps": 100, "loss": "np", "trained": True},
}
METHODS = tuple(OLD)


def current(method: str) -> dict:
    recipe = load_recipe(method, "quick")
    physnet = {k: v for k, v in load_recipe("physnet", "quick").items() if k != "budget_note"}
    shared = method == "kd-teacher" and {k: v for k, v in recipe.items() if k != "budget_note"} == physnet
    return {
        "lr": recipe["lr"],
        "batch_size": int(recipe.get("batch_size", 4)),
        "steps": int(recipe["epochs"]) * int(recipe["limit_train_batches"]),
        "loss": recipe.get("loss", "np"),
        "trained": not shared,
    }


def build(method: str, spec: dict, teacher_ckpt: Path):
    kwargs = dict(split_recipe(load_recipe(method, "quick"))[0])
    kwargs.update(lr=spec["lr"], loss=spec["loss"])
    if method == "kd-student":
        kwargs["dependencies"] = {"kd-teacher": str(teacher_ckpt)}
    module = create_method(method, **kwargs)
    module.train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=spec["lr"])
    s, t = module.input_spec.size, module.input_spec.frames
    batch = {
        "x": torch.randn(spec["batch_size"], 3, t, s, s),
        "y": torch.randn(spec["batch_size"], t),
        "fps": torch.full((spec["batch_size"],), 30.0),
        "subject_index": torch.zeros(spec["batch_size"], dtype=torch.int64),
    }
    return module, opt, batch


def step_seconds(module, opt, batch) -> float:
    start = time.process_time()
    opt.zero_grad()
    module.compute_loss(batch).backward()
    opt.step()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per recipe (after one warm-up)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        teacher_ckpt = Path(tmp) / "teacher.ckpt"
        torch.save({"state_dict": create_method("kd-teacher").state_dict()}, teacher_ckpt)
        specs = {m: {"old": OLD[m], "new": current(m)} for m in METHODS}
        built = {(m, v): build(m, specs[m][v], teacher_ckpt) for m in METHODS for v in ("old", "new")}
        times = {key: [] for key in built}
        for key in built:
            step_seconds(*built[key])  # warm-up
        for _ in range(args.repeats):
            for key in built:  # interleaved: old and new of a method back to back
                times[key].append(step_seconds(*built[key]))
    print(f"{'method':16} {'recipe':6} {'batch':>5} {'steps':>5} {'loss':9} {'s/step':>7} {'train s':>8}")
    totals = {"old": 0.0, "new": 0.0}
    for m in METHODS:
        for v in ("old", "new"):
            spec = specs[m][v]
            per_step = sorted(times[(m, v)])[len(times[(m, v)]) // 2]
            cost = per_step * spec["steps"] if spec["trained"] else 0.0
            totals[v] += cost
            note = "" if spec["trained"] else "  (reuses physnet's checkpoint)"
            print(
                f"{m:16} {v:6} {spec['batch_size']:5d} {spec['steps']:5d} {spec['loss']:9} "
                f"{per_step:7.3f} {cost:8.1f}{note}"
            )
    print(
        f"total training CPU s: old {totals['old']:.1f}, new {totals['new']:.1f}, "
        f"new/old {totals['new'] / totals['old']:.2f}"
    )


if __name__ == "__main__":
    main()
