"""`python -m benchmark synth`: generate (or find cached) SynthPulse recordings, optionally check them."""

from __future__ import annotations

import argparse

SPLITS = ("train", "val", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmark.data.synth.presets import PRESETS

    parser.add_argument("--preset", default="quick", choices=list(PRESETS), help="preset (default quick)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--root",
        default=None,
        help="output root (default $RPPG_SYNTH_DIR, else <cache>/synthpulse)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument("--subjects", type=int, default=None, help="override the preset's subject count")
    parser.add_argument("--duration", type=float, default=None, help="override the preset's seconds per clip")
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="run GREEN and POS on the face region and print the MAE per scenario and per skin tone",
    )


def main(args: argparse.Namespace) -> int:
    import time

    from benchmark.data.datasets.synth import SynthPulse

    overrides = {}
    if args.subjects is not None:
        overrides["subjects"] = args.subjects
    if args.duration is not None:
        overrides["duration_s"] = args.duration
    start = time.perf_counter()
    adapter = SynthPulse(args.root, preset=args.preset, seed=args.seed, jobs=args.jobs, **overrides)
    recordings = adapter.recordings()
    elapsed = time.perf_counter() - start
    folder = adapter.folder
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    splits = {s: sorted({r.subject for r in recordings if r.tags["split"] == s}) for s in SPLITS}
    print(f"{folder}: {len(recordings)} recordings, {size / 1e6:.1f} MB, ready in {elapsed:.1f} s")
    print("split: " + "; ".join(f"{k} {','.join(v)}" for k, v in splits.items()))
    if args.evaluate:
        from benchmark.data.synth.check import evaluate, mae_by

        rows = evaluate(recordings)
        for key in ("scenario", "skin_tone"):
            print(f"\nMAE (bpm) by {key}, face-box centre, whole clip, FFT peak:")
            print(f"{key:>10} {'n':>3} {'green':>7} {'pos':>7}")
            for group, m in sorted(mae_by(rows, key).items()):
                print(f"{group:>10} {m['n']:>3} {m['green']:7.2f} {m['pos']:7.2f}")
        rate = min(r["detection_rate"] for r in rows)
        print(f"\nlowest Haar detection rate over sampled frames: {rate:.3f}")
    return 0
