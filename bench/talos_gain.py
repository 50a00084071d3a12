"""TDM with TALOS vs without it at the zoo budget, paired by training seed (issue 18.5).

At each seed, TDM is trained twice at its `zoo` recipe by the sweep runner's own Trainer, on the data of
sweep `quick` (SynthPulse quick seed 0: 10 training / 2 validation subjects), once with `loss: mse` (TALOS's
base: the label as recorded) and once with `loss: talos` (the same MSE against the label shifted by each
training subject's learned offset distribution, the factory's default +-1 s), nothing else changed but one
thing on both sides: no speed augmentation (it rescales each chunk's time axis by 0.7-1.4x, so a subject's
offset in frames would vary from chunk to chunk, which one learned shift per subject cannot follow). Both are
tested as the sweep tests (`evaluate_cell`: every recording of SynthPulse seed 1, 12 new subjects, at raw).
For TALOS it also records, per training subject, the mode of the learned shift against the generator's true
pulse-transit offset (`ptt_offset_s`), modulo the pulse period (bench/talos_synthpulse.shift_agreement).
A third side, `loss: np_lag` (negative Pearson at the best shift within +-0.5 s, chosen per chunk: the
usual way to tolerate a label delay without learning it), asks whether TALOS gains more than lag tolerance.

Each (loss, seed) is written to the JSON file as soon as it is done, so the ~7 min per seed and side
(2 training threads, this 2-core CPU) can be spread over several runs; an entry of another code fingerprint
or recipe is computed again. `--report` prints the seed-paired comparison from the file without training.

    python bench/talos_gain.py [--seeds 1,2,3,4,5,6] [--losses mse,talos,np_lag] [--max-minutes 60]
    python bench/talos_gain.py --report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmark.paths import PROJECT_ROOT, config_dir, results_dir

DEFAULT_OUT = PROJECT_ROOT / "leaderboards" / "talos-gain" / "talos-gain.json"
SEEDS = "1,2,3,4,5,6"  # as the other claims' sweeps: seed 0 is the zoo's training key (older crop path)


def claim_sweep(seeds: list[int], profile: str = "zoo"):
    """Sweep `quick` (data, split, evaluation) reduced to TDM at raw, at `profile` (its own: zoo)."""
    from benchmark.runner.cells import load_sweep

    sweep = load_sweep(config_dir() / "sweeps" / "quick.yaml")
    return dataclasses.replace(
        sweep,
        name="talos-gain",
        methods=("tdm",),
        exclude_methods=(),
        pretrained=(),
        compression=("raw",),
        seeds=tuple(seeds),
        efficiency=False,
        profile=profile,
    )


def claim_cell(sweep, loss: str, seed: int):
    from benchmark.methods import METHODS
    from benchmark.methods.config import load_recipe
    from benchmark.runner.cells import Cell

    recipe = {**load_recipe("tdm", sweep.profile), "loss": loss}
    recipe.pop("speed_augment", None)  # see the module docstring
    train_set, test_set = "+".join(sweep.train_on), sweep.test_on[0]
    return Cell("tdm", METHODS.get("tdm").group, True, train_set, test_set, "raw", seed, sweep, recipe)


def run_one(trainer, cell) -> dict:
    """Train (or find in the local database) the cell's model, test it, and return the file's entry."""
    from benchmark.data.datamodule import subject_of
    from benchmark.results.provenance import provenance
    from benchmark.results.store import WHOLE
    from benchmark.runner.evaluate import evaluate_cell

    started = time.perf_counter()
    trainer.checkpoint(cell)
    train_seconds = time.perf_counter() - started
    module = trainer.module_for(cell)
    prov = provenance()
    result = evaluate_cell(cell, module, trainer.data.test_recordings(cell), prov)
    errors = {
        p.recording: abs(p.hr_pred - p.hr_true)
        for p in result.predictions
        if p.window == WHOLE and p.hr_pred is not None and p.hr_true is not None
    }
    entry = {
        "loss": cell.recipe["loss"],
        "seed": cell.seed,
        "code": cell.config()["code"],
        "training_key": cell.training_key,
        "recipe": cell.recipe,
        "status": result.status,
        "mae": float(np.mean(list(errors.values()))) if errors else None,
        "snr": result.metrics.get("snr"),
        "n": len(errors),
        "errors": {k: round(v, 4) for k, v in sorted(errors.items())},
        "train_seconds": round(train_seconds, 1),
        "commit": prov.get("git_commit"),
        "host": prov.get("host"),
        "date": prov.get("date"),
    }
    if cell.recipe["loss"] == "talos":
        from talos_synthpulse import shift_agreement

        train, _ = trainer.data.train_val(cell)
        subjects = sorted({subject_of(r) for r in train})  # the datamodule's subject indices
        entry["shifts"] = shift_agreement(module.loss_fn.shift_modes(), subjects, train)
    return entry


def load_entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["entries"] if path.is_file() else []


def save_entries(path: Path, entries: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "about": "bench/talos_gain.py: TDM at its zoo recipe with loss mse, talos or np_lag, paired by seed; "
        "errors are |whole-recording HR error| (bpm) per test recording",
        "entries": sorted(entries, key=lambda e: (e["seed"], e["loss"])),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def current(entries: list[dict], cell) -> dict | None:
    """The entry computed for exactly this cell (same loss, seed, recipe and code fingerprint)."""
    code, key = cell.config()["code"], cell.training_key
    return next((e for e in entries if e["code"] == code and e["training_key"] == key), None)


BASELINE_ORDER = ("mse", "np_lag", "np")  # the paper's base first, then lag-tolerant and plain Pearson


def report(entries: list[dict], code: str) -> list[str]:
    """The seed-paired comparisons (TALOS - each other loss run: MSE, the claim's base, first) and the
    shift agreement, as lines of text."""
    from benchmark.results.seeds import pair

    mine = [e for e in entries if e["code"] == code and e["status"] == "done"]
    other = len(entries) - len(mine)
    losses = {e["loss"] for e in mine} | {"talos", "mse"}
    baselines = sorted(losses - {"talos"}, key=lambda x: (BASELINE_ORDER + (x,)).index(x))
    by_loss = {loss: {e["seed"]: e for e in mine if e["loss"] == loss} for loss in ("talos", *baselines)}
    lines = [f"entries of this code ({code}): {len(mine)}; of other code, not used: {other}"]
    for base in baselines:
        for name, field in (("MAE (bpm)", "mae"), ("SNR (dB)", "snr")):
            values = {loss: {s: e[field] for s, e in by_loss[loss].items()} for loss in ("talos", base)}
            p = pair("talos", values["talos"], base, values[base])
            if not p.seeds:
                lines.append(f"{name}, talos vs {base}: no seed has both sides yet")
                continue
            lines.append(
                f"{name}: talos {p.a_values.mean():.2f}, {base} {p.b_values.mean():.2f}; talos - {base} "
                f"{p.mean:+.2f} +- {p.se:.2f} (SE, seeds {','.join(map(str, p.seeds))}), "
                f"median {p.median:+.2f}; "
                f"talos better at {p.better(field == 'mae')}/{len(p.seeds)} (sign test p {p.sign_p:.3f}); "
                f"{p.verdict(field == 'mae')}"
            )
    shifts = [e["shifts"] for e in by_loss["talos"].values() if "shifts" in e]
    if shifts:
        per_seed = ", ".join(f"{s['r']:+.2f}" for s in shifts)
        lines.append(
            f"TALOS shifts vs true offsets ({len(shifts)} seeds x {len(shifts[0]['subjects'])} training "
            f"subjects): r {np.mean([s['r'] for s in shifts]):+.2f} (per seed {per_seed}), "
            f"mean |error mod pulse period| "
            f"{np.mean([s['mean_abs_wrapped_error'] for s in shifts]):.2f} frames vs "
            f"{np.mean([s['random_abs_wrapped_error'] for s in shifts]):.2f} for a random shift"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=SEEDS, help="comma-separated training seeds")
    parser.add_argument("--losses", default="mse,talos,np_lag", help="comma-separated TDM losses")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file (resumed)")
    parser.add_argument("--max-minutes", type=float, help="start no new training after this many minutes")
    parser.add_argument("--report", action="store_true", help="print the comparison from the file only")
    parser.add_argument("--profile", default="zoo", help="recipe profile (zoo; smoke checks the script)")
    args = parser.parse_args()

    from benchmark.results.fingerprint import code_fingerprint

    entries = load_entries(args.out)
    if args.report:
        print("\n".join(report(entries, code_fingerprint())))
        return 0

    from benchmark.results.store import ResultStore
    from benchmark.runner.datasets import DatasetCache
    from benchmark.runner.training import Trainer

    seeds = [int(s) for s in args.seeds.split(",")]
    sweep = claim_sweep(seeds, args.profile)
    work = results_dir() / "talos-gain"
    store = ResultStore(work / "talos-gain.sqlite")  # local: checkpoints of this machine's trainings
    trainer = Trainer(sweep, store, DatasetCache(sweep), work, use_zoo=False)
    trainer.report = lambda line: print(line, flush=True)
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else None
    left = []
    for seed in seeds:
        for loss in args.losses.split(","):
            cell = claim_cell(sweep, loss, seed)
            if current(entries, cell):
                print(f"seed {seed} {loss}: in {args.out}")
                continue
            if deadline is not None and time.monotonic() > deadline:
                left.append(f"{seed}/{loss}")
                continue
            entry = run_one(trainer, cell)
            entries = [e for e in entries if (e["seed"], e["loss"]) != (seed, loss)] + [entry]
            save_entries(args.out, entries)
            print(f"seed {seed} {loss}: MAE {entry['mae']:.2f} bpm, SNR {entry['snr']:+.2f} dB", flush=True)
    store.close()
    print("\n".join(report(entries, code_fingerprint())))
    if left:
        print(f"left for the next run (--max-minutes): {', '.join(left)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
