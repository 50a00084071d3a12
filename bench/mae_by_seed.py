"""All-scenario and per-scenario MAE of every finished cell of one or more results databases, one line per
(method, level, seed), then one summary line per method over its seeds: the per-seed view the leaderboard
(which pools seeds) does not print, and how often a seed clears a threshold on one scenario.

The MAE here is over recordings, each scored by its whole-recording heart rate (the predictions rows with
window -1), as the leaderboard's MAE is; scenarios are the last dash-separated part of a recording's name
(SynthPulse: still, lighting, motion, combined). Several databases (e.g. seeds 0-2 and 3-5 run apart) are
read as one; a (method, seed) present in two of them is listed twice. Only rows of one code fingerprint are
read (`--code`; default: this checkout's where the databases have rows of it, else the code with the most
rows), so seeds computed by different code are never mixed; how many rows were left out is printed.

`--compare A,B` pairs two methods seed by seed (e.g. the KD student with and without distillation): the
difference of their all-scenario MAE and of their mean SNR (dB, the cell's metric) per seed, the mean
difference with its standard error over seeds, how many seeds A is lower, and each side's spread over seeds.

    .venv/bin/python bench/mae_by_seed.py runs/quick.sqlite [more.sqlite ...] [--level raw]
        [--methods physnet,tdm] [--scenario still --below 5] [--compare kd-student,kd-student-nokd]
        [--code dd6f9529a864]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmark.results.fingerprint import code_fingerprint
from benchmark.results.seeds import Paired, code_to_report, pair, seed_rows


class SeedResult(NamedTuple):
    seed: int
    mae: float  # all scenarios
    scenario_mae: float  # the --scenario of the summary
    snr: float  # the cell's mean SNR (dB)


def by_scenario(errors: dict[str, float]) -> dict[str, float]:
    groups = defaultdict(list)
    for rec, err in errors.items():
        groups[rec.rsplit("-", 1)[-1]].append(err)
    return {s: float(np.mean(e)) for s, e in sorted(groups.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="+", help="sweep SQLite databases")
    parser.add_argument("--level", default="raw", help="compression level of the test videos")
    parser.add_argument("--methods", help="comma-separated (default: all)")
    parser.add_argument("--scenario", default="still", help="scenario of the summary's threshold count")
    parser.add_argument("--below", type=float, default=5.0, help="threshold (bpm) of the summary's count")
    parser.add_argument("--compare", help="A,B: two methods compared seed by seed")
    parser.add_argument("--code", help="code fingerprint of the rows to read (default: see above)")
    args = parser.parse_args()
    for db in args.db:
        if not Path(db).is_file():
            parser.error(f"{db}: no such results database")
    wanted = set(args.methods.split(",")) if args.methods else None
    rows = [row for db in args.db for row in seed_rows(db, args.level)]
    here = code_fingerprint()
    code = args.code or code_to_report([(row.code, row.date) for row in rows], here)
    other = sum(row.code != code for row in rows)
    whose = "this checkout's" if code == here else "not this checkout's"
    print(f"code {code} ({whose}); rows of other code left out: {other}")
    summary = defaultdict(list)
    for row in rows:
        if row.code != code or (wanted and row.method not in wanted) or not row.errors:
            continue
        scenarios = by_scenario(row.errors)
        target = scenarios.get(args.scenario, float("nan"))
        summary[row.method].append(SeedResult(row.seed, row.mae, target, row.snr))
        text = " ".join(f"{s} {v:6.2f}" for s, v in scenarios.items())
        print(f"{row.method:16s} {args.level:10s} seed {row.seed} all {row.mae:6.2f}  {text}")
    print(
        f"\nover seeds ({args.level}): mean all-scenario MAE, mean {args.scenario} MAE, seeds with "
        f"{args.scenario} MAE below {args.below:g}"
    )
    for method, results in sorted(summary.items()):
        target = np.array([r.scenario_mae for r in results])
        seeds = ",".join(str(r.seed) for r in results)
        print(
            f"{method:16s} seeds {seeds}: all {np.mean([r.mae for r in results]):6.2f}"
            f"  {args.scenario} {np.nanmean(target):6.2f}  below {args.below:g}: "
            f"{int((target < args.below).sum())}/{len(results)}"
        )
    if args.compare:
        compare(summary, *args.compare.split(","))


def compare(summary: dict[str, list[SeedResult]], a: str, b: str) -> None:
    """Seed-by-seed difference a - b of all-scenario MAE and mean SNR, with its mean and standard error."""
    rows_a, rows_b = ({r.seed: r for r in summary.get(m, [])} for m in (a, b))
    mae = pair(a, {s: r.mae for s, r in rows_a.items()}, b, {s: r.mae for s, r in rows_b.items()})
    snr = pair(a, {s: r.snr for s, r in rows_a.items()}, b, {s: r.snr for s, r in rows_b.items()})
    if len(mae.seeds) < 2:
        raise SystemExit(f"--compare: {a} and {b} share {len(mae.seeds)} seed(s); a spread needs two or more")
    print(f"\n{a} - {b}, seed by seed: all-scenario MAE (bpm), mean SNR (dB)")
    for i, seed in enumerate(mae.seeds):
        print(
            f"seed {seed}: MAE {mae.a_values[i]:6.2f} - {mae.b_values[i]:6.2f} = {mae.diff[i]:+6.2f}"
            f"   SNR {snr.a_values[i]:+6.2f} - {snr.b_values[i]:+6.2f} = {snr.diff[i]:+5.2f}"
        )
    for name, paired, lower_is_better in (("MAE", mae, True), ("SNR", snr, False)):
        print(f"{name}: {summary_line(paired, lower_is_better)}")


def summary_line(p: Paired, lower_is_better: bool = True) -> str:
    better = p.better(lower_is_better)
    return (
        f"{p.a} {p.a_values.mean():6.2f} (sd over seeds {p.a_values.std(ddof=1):.2f}), {p.b} "
        f"{p.b_values.mean():6.2f} (sd {p.b_values.std(ddof=1):.2f}); difference {p.mean:+.2f} +- {p.se:.2f} "
        f"(standard error, {len(p.seeds)} seeds), median {p.median:+.2f}; {p.a} better at "
        f"{better}/{len(p.seeds)} (sign test p {p.sign_p:.3f}); {p.verdict(lower_is_better)}"
    )


if __name__ == "__main__":
    main()
