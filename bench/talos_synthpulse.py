"""TALOS vs plain losses on SynthPulse, whose subjects have known pulse-transit offsets (reference PPG lags
the face by `ptt_offset_s`).

Trains TDM with MSE and with TALOS on the same subject-disjoint split (same seed, same budget), prints the
test MAE of each side by side, and the learned shift-distribution mode of every training subject next to the
generator's true offset (in frames).

    python bench/talos_synthpulse.py --preset quick --epochs 10
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def evaluate(module, recordings, face) -> float:
    """MAE (bpm) of whole-recording heart rates on `recordings` (FFT peak, the suite's defaults)."""
    from benchmark.data.preprocess import preprocess_recording
    from benchmark.evaluation.inference import hr_from_bvp, predict_bvp

    errors = []
    for rec in recordings:
        pre = preprocess_recording(rec, "raw", face, 128)
        bvp = predict_bvp(module, pre.frames, pre.fps)
        hr_pred, _ = hr_from_bvp(np.asarray(bvp), float(pre.fps))
        hr_true, _ = hr_from_bvp(np.asarray(pre.ppg, dtype=np.float64), float(pre.fps))
        errors.append(abs(hr_pred - hr_true))
    return float(np.nanmean(errors))


def train(loss: str, train_recs, val_recs, args, face, out_dir: Path):
    from benchmark.data.datamodule import RPPGDataModule, subject_of
    from benchmark.methods import create_method
    from benchmark.methods.config import load_recipe, split_recipe
    from benchmark.methods.training import fit_method

    factory, training = split_recipe(load_recipe("tdm", args.profile))
    factory["loss"] = loss
    if loss == "talos":
        factory.update(num_subjects=len({subject_of(r) for r in train_recs}), fps=float(train_recs[0].fps))
    module = create_method("tdm", **factory)
    dm = RPPGDataModule(
        train_recs, val_recs, [], module.input_spec, face=face, batch_size=training["batch_size"]
    )
    epochs = args.epochs or int(training["epochs"])
    best = fit_method(module, dm, max_epochs=epochs, seed=args.seed, out_dir=out_dir / loss, patience=epochs)
    from benchmark.methods.training import load_state_dict_file

    module.load_state_dict(load_state_dict_file(best))
    return module.eval(), dm.train_subjects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--losses", default="mse,talos", help="comma-separated: which sides to train")
    args = parser.parse_args()

    import torch

    from benchmark.data.datamodule import split_by_subject, subject_of
    from benchmark.data.datasets import load_dataset
    from benchmark.data.face import FaceConfig

    torch.set_num_threads(1)
    recordings = load_dataset("synth", None, preset=args.preset, seed=0, generate=True)
    train_recs, val_recs, test_recs = split_by_subject(recordings, (0.67, 0.16, 0.17), seed=args.seed)
    face = FaceConfig()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for loss in args.losses.split(","):
            module, subjects = train(loss, train_recs, val_recs, args, face, Path(tmp))
            results[loss] = evaluate(module, test_recs, face)
            print(f"TDM + {loss}: test MAE {results[loss]:.2f} bpm", flush=True)
            if loss == "talos":
                modes = module.loss_fn.shift_modes()
    print(f"TDM on SynthPulse {args.preset} ({len(test_recs)} test recordings), test MAE bpm: {results}")
    if {"mse", "talos"} <= set(results):
        print(f"  ratio talos / mse = {results['talos'] / results['mse']:.3f}")
    if "talos" not in results:
        return
    offsets = {subject_of(r): float(r.tags["ptt_offset_s"]) * r.fps for r in train_recs}
    print("training subject: learned TALOS mode vs true offset (frames)")
    hits = 0
    for subject, mode in zip(subjects, modes):
        true = offsets[subject]
        hits += abs(mode - true) <= 1.0
        print(f"  {subject}: mode {mode:+d}  true {true:+.1f}")
    print(f"modes within 1 frame of the true offset: {hits}/{len(subjects)}")


if __name__ == "__main__":
    main()
