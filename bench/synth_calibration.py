"""Is SynthPulse as hard as real data? Classic methods on a small SynthPulse set, beside published numbers.

Generates a calibration set (default 24 subjects, four of each skin tone, x the four default scenarios, whose
nuisances are at `medium`, plus the nuisance ladder `<nuisance>-<none|low|medium|high>` on the first 6
subjects, 20 s clips at the `quick` preset's 256x192; 192 recordings: errors are all-or-nothing per
recording, so fewer subjects move a scenario's MAE by several bpm per miss), scores the seven classic
methods through the suite's own path (the runner's face stage at `raw`, `predict_bvp`, the runner's
`heart_rates` with the quick sweep's evaluation: FFT, 0.75-2.5 Hz, whole recording), and prints:

1. POS and CHROM MAE per default scenario beside the matching real-data anchor and the ratio (target
   0.5x-2x): still <-> UBFC-rPPG and PURE, motion <-> MMPD rotation and talking, lighting <-> the mean of
   MMPD's four lighting rows, combined <-> MMPD walking;
2. the classic methods' MAE over all default scenarios, their ranking and its Spearman correlation with the
   published ranking (rPPG-Toolbox, UBFC-rPPG and PURE columns; OMIT has no published number there and is
   left out of the correlation);
3. the ladder: POS and CHROM MAE at none / low / medium / high of each nuisance (the `still` recording with
   that one nuisance changed; a level equal to `still`'s is the `still` recording itself).

Sources of the anchors: rPPG-Toolbox (Liu et al., "rPPG-Toolbox: Deep Remote PPG Toolbox", NeurIPS 2023
Datasets and Benchmarks), unsupervised methods on PURE and UBFC-rPPG; MMPD (Tang et al., "MMPD: Multi-Domain
Mobile Video Physiology Dataset", EMBC 2023), POS and CHROM per motion and lighting condition.

    OMP_NUM_THREADS=1 python bench/synth_calibration.py --jobs 2   # ~7 CPU-minutes: ~3.7 min on 2 idle cores
    python bench/synth_calibration.py --subjects 4 --no-ladder --duration 10  # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("green", "ica", "chrom", "pos", "pbv", "lgi", "omit")
# rPPG-Toolbox (NeurIPS 2023), unsupervised methods, MAE in bpm: (PURE, UBFC-rPPG). OMIT: not in the table.
TOOLBOX = {
    "pos": (3.67, 4.00),
    "chrom": (5.77, 3.98),
    "ica": (4.77, 14.70),
    "green": (10.09, 19.81),
    "lgi": (4.61, 15.80),
    "pbv": (3.91, 15.90),
}
# MMPD (EMBC 2023), MAE in bpm per condition: (POS, CHROM).
MMPD = {
    "stationary": (9.70, 10.23),
    "rotation": (7.50, 9.28),
    "talking": (8.05, 9.31),
    "walking": (17.05, 17.61),
    "LED-low": (9.76, 10.49),
    "LED-high": (7.26, 9.53),
    "incandescent": (8.24, 8.80),
    "natural": (10.71, 12.88),
}
# scenario -> (anchor label, (POS, CHROM) anchor MAE)
ANCHORS = {
    "still": (
        "UBFC-rPPG / PURE",
        (
            np.mean([TOOLBOX["pos"][1], TOOLBOX["pos"][0]]),
            np.mean([TOOLBOX["chrom"][1], TOOLBOX["chrom"][0]]),
        ),
    ),
    "motion": (
        "MMPD rotation / talking",
        tuple(np.mean([MMPD["rotation"][k], MMPD["talking"][k]]) for k in (0, 1)),
    ),
    "lighting": (
        "MMPD lighting (mean of 4)",
        tuple(
            np.mean([MMPD[c][k] for c in ("LED-low", "LED-high", "incandescent", "natural")]) for k in (0, 1)
        ),
    ),
    "combined": ("MMPD walking", MMPD["walking"]),
}


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def ladder_scenarios() -> dict[tuple[str, str], str]:
    """(nuisance, level) -> the scenario to generate; levels equal to `still`'s map to `still` itself."""
    from benchmark.data.synth.scenes import LEVELS, NUISANCES, SCENARIOS

    still = SCENARIOS["still"]
    out = {}
    for nuisance in NUISANCES:
        for level in LEVELS:
            name = f"{nuisance}-{level}"
            same = SCENARIOS[name].levels == still.levels
            out[(nuisance, level)] = "still" if same else name
    return out


def score_recording(rec, methods=METHODS, cache_root: Path | None = None) -> dict:
    """One recording's tags, truth and each method's absolute heart-rate error, scored as a sweep cell scores
    it: the runner's face stage at `raw` (preprocess_recording, FaceConfig defaults, 128-px crops), the
    method through predict_bvp, the runner's heart_rates with the quick sweep's Evaluation (FFT peak in
    0.75-2.5 Hz over the whole recording, truth from the reference PPG the same way).

    The classic methods read the per-frame mean colour of the crops; predict_bvp is given those means as
    one-pixel frames, which is the same input (rgb_means of a one-pixel frame is that pixel) at a seventh of
    the cost of averaging the crops once per method."""
    from benchmark.data.preprocess import preprocess_recording
    from benchmark.data.transforms import rgb_means
    from benchmark.evaluation.inference import predict_bvp
    from benchmark.methods import create_method
    from benchmark.runner.cells import Evaluation
    from benchmark.runner.evaluate import face_config, heart_rates
    from benchmark.spec import CROP_SIZE

    evaluation = Evaluation()  # the quick and full sweeps' band and estimator
    pre = preprocess_recording(rec, "raw", face_config({}), CROP_SIZE, cache_root=cache_root)
    means = rgb_means(np.asarray(pre.frames))[:, None, None, :]
    ppg = np.asarray(pre.ppg, dtype=np.float64)
    row = {"id": rec.id, "subject": rec.subject, **rec.tags}
    for m in methods:
        bvp = np.asarray(predict_bvp(create_method(m), means, pre.fps), dtype=np.float64)
        _, _, hr_pred, hr_true, _, _ = heart_rates(bvp, ppg, float(pre.fps), evaluation)[0]
        row["hr_true"] = hr_true
        row[m] = np.nan if hr_pred is None else abs(hr_pred - hr_true)
    return row


def _score_star(args):
    import cv2

    cv2.setNumThreads(1)
    return score_recording(*args)


def score_recordings(recordings, cache_root: Path, jobs: int = 1) -> list[dict]:
    """score_recording for every recording, in `jobs` processes."""
    args = [(rec, METHODS, cache_root) for rec in recordings]
    if jobs <= 1:
        return [_score_star(a) for a in args]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_score_star, args))


def mae(rows, scenario: str, method: str) -> float:
    errors = [r[method] for r in rows if r["scenario"] == scenario]
    return float(np.nanmean(errors)) if errors else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=24)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per clip (default 20)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--ladder-subjects", type=int, default=6, help="subjects of the ladder (default 6)")
    parser.add_argument("--nuisances", default=None, help="ladder of these nuisances only (comma-separated)")
    parser.add_argument("--no-ladder", action="store_true", help="only the four default scenarios")
    parser.add_argument("--work", default=None, help="folder for videos and crops (default: a temporary one)")
    parser.add_argument("--per-recording", action="store_true", help="print every recording's errors")
    args = parser.parse_args(argv)

    from benchmark.data.datasets.synth import SynthPulse
    from benchmark.data.synth.presets import SCENARIO_ORDER
    from benchmark.data.synth.scenes import LEVELS

    ladder = {} if args.no_ladder else ladder_scenarios()
    if args.nuisances:
        ladder = {k: v for k, v in ladder.items() if k[0] in args.nuisances.split(",")}
    extra = sorted({s for s in ladder.values() if s not in SCENARIO_ORDER})
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="synth-calibration-"))
    size = dict(duration_s=args.duration, width=args.width, height=args.height)
    start = time.perf_counter()
    # The default scenarios on every subject; the ladder on the first `ladder_subjects` (its levels equal to
    # still's are the still recordings of the first set, same seed, subject and size).
    recordings = SynthPulse(
        work / "synth",
        preset="quick",
        seed=args.seed,
        jobs=args.jobs,
        subjects=args.subjects,
        scenarios=list(SCENARIO_ORDER),
        **size,
    ).recordings()
    n_ladder = min(args.ladder_subjects, args.subjects)
    if extra:
        recordings += SynthPulse(
            work / "synth",
            preset="quick",
            seed=args.seed,
            jobs=args.jobs,
            subjects=n_ladder,
            scenarios=extra,
            **size,
        ).recordings()
    generated = time.perf_counter() - start
    rows = score_recordings(recordings, work / "preprocessed", args.jobs)
    scored = time.perf_counter() - start - generated
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    ladder_ids = {f"s{k:02d}" for k in range(n_ladder)}
    ladder_rows = [r for r in rows if r["subject"] in ladder_ids]

    print(
        f"SynthPulse calibration: {args.subjects} subjects x {len(SCENARIO_ORDER)} default scenarios + "
        f"{n_ladder} x {len(extra)} ladder scenarios, {args.duration:g} s "
        f"clips at {args.width}x{args.height}, seed {args.seed}; generated in {generated:.0f} s, "
        f"scored in {scored:.0f} s"
    )
    if args.per_recording:
        print("\nper recording |error| (bpm):")
        print(f"{'recording':<22} {'tone':>4} {'truth':>6} " + " ".join(f"{m:>6}" for m in METHODS))
        for r in rows:
            errs = " ".join(f"{r[m]:6.1f}" for m in METHODS)
            print(f"{r['id']:<22} {r['skin_tone']:>4} {r['hr_true']:6.1f} {errs}")

    print("\n1. MAE (bpm) per default scenario (nuisances at medium) vs real data; ratio = SynthPulse / real")
    print(
        f"{'scenario':<9} {'real anchor':<26} {'POS':>6} {'real':>6} {'ratio':>6} "
        f"{'CHROM':>6} {'real':>6} {'ratio':>6}"
    )
    in_range = 0
    for sc in SCENARIO_ORDER:
        label, (real_pos, real_chrom) = ANCHORS[sc]
        pos, chrom = mae(rows, sc, "pos"), mae(rows, sc, "chrom")
        rp, rc = pos / real_pos, chrom / real_chrom
        in_range += int(0.5 <= rp <= 2) + int(0.5 <= rc <= 2)  # numpy bools would add as "or"
        print(
            f"{sc:<9} {label:<26} {pos:6.2f} {real_pos:6.2f} {rp:6.2f} "
            f"{chrom:6.2f} {real_chrom:6.2f} {rc:6.2f}"
        )
    print(f"ratios within [0.5, 2]: {in_range} of 8")

    print("\n2. classic methods, MAE (bpm) over the four default scenarios, ranked")
    overall = {m: float(np.nanmean([r[m] for r in rows if r["scenario"] in SCENARIO_ORDER])) for m in METHODS}
    per_sc = {m: [mae(rows, sc, m) for sc in SCENARIO_ORDER] for m in METHODS}
    print(
        f"{'rank':>4} {'method':<7} {'all':>6} "
        + " ".join(f"{s:>8}" for s in SCENARIO_ORDER)
        + f" {'PURE':>6} {'UBFC':>6}"
    )
    for k, m in enumerate(sorted(METHODS, key=overall.get), 1):
        pure, ubfc = TOOLBOX.get(m, (np.nan, np.nan))
        print(
            f"{k:>4} {m:<7} {overall[m]:6.2f} "
            + " ".join(f"{v:8.2f}" for v in per_sc[m])
            + f" {pure:6.2f} {ubfc:6.2f}"
        )
    known = [m for m in METHODS if m in TOOLBOX]
    ours = [overall[m] for m in known]
    for k, column in enumerate(("PURE", "UBFC-rPPG")):
        rho = spearman(ours, [TOOLBOX[m][k] for m in known])
        print(f"Spearman vs rPPG-Toolbox {column} ({', '.join(known)}; OMIT unpublished): {rho:+.2f}")
    columns = spearman([TOOLBOX[m][0] for m in known], [TOOLBOX[m][1] for m in known])
    print(f"(the two published columns against each other: {columns:+.2f})")

    if ladder:
        print(
            f"\n3. ladder ({n_ladder} subjects): MAE (bpm) at each level of one nuisance, everything else as "
            "in `still`"
        )
        print(f"{'nuisance':<9} {'method':<6} " + " ".join(f"{lv:>7}" for lv in LEVELS))
        for nuisance in dict.fromkeys(k[0] for k in ladder):
            for m in ("pos", "chrom"):
                cells = " ".join(f"{mae(ladder_rows, ladder[(nuisance, lv)], m):7.2f}" for lv in LEVELS)
                print(f"{nuisance:<9} {m:<6} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
