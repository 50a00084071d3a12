"""The source papers' claims re-measured at the zoo budget, paired by training seed (issue 18.5), written to
leaderboards/seed-claims.md from the committed results of the three claim runs:

- KD: the student distilled from PhysNet vs the same student alone (configs/sweeps/kd-gain.yaml);
- STVEN: STVEN + rPPGNet vs rPPGNet at each codec and bitrate (configs/sweeps/stven-gain.yaml);
- TALOS: TDM trained with TALOS vs with plain MSE (and vs lag-tolerant NP), and the learned shifts vs the
  true offsets (bench/talos_gain.py).

Only rows of this checkout's code fingerprint count (as in the leaderboards); a claim with none yet shows the
rows of the earlier code that has the most, under a "stale" line naming both codes, until `make seed-claims`
reruns it (a claim costs CPU-hours, so a changed result source must not blank the report). A claim holds
when the mean seed-paired difference is beyond two standard errors in the paper's direction; each table says
how many of its seeds are done, so a partial run reads as partial.

    python bench/seed_claims.py [--out leaderboards/seed-claims.md] [--print]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from benchmark.paths import PROJECT_ROOT
from benchmark.results.seeds import MIN_SEEDS, Paired, SeedRow, code_to_report, pair, seed_rows

SWEEPS = PROJECT_ROOT / "configs" / "sweeps"
OUT = PROJECT_ROOT / "leaderboards" / "seed-claims.md"


def sweep_doc(name: str) -> dict:
    return yaml.safe_load((SWEEPS / f"{name}.yaml").read_text())


def sweep_rows(doc: dict) -> list[SeedRow]:
    """Every finished cell of the sweep's database (none before its first run)."""
    db = PROJECT_ROOT / doc["database"]
    return seed_rows(db) if db.is_file() else []


def stale_line(code: str, current: str) -> list[str]:
    if code == current:
        return []
    return [
        f"**Stale:** no result of this checkout's code ({current}) yet; the figures below were measured with "
        f"code {code} (a result source has changed since, e.g. the SynthPulse generator). Rerun "
        "`make seed-claims`.",
        "",
    ]


def by_seed(rows: list[SeedRow], method: str, level: str, field: str) -> dict[int, float]:
    return {r.seed: getattr(r, field) for r in rows if r.method == method and r.level == level}


def fmt_pair(p: Paired, lower_is_better: bool = True) -> list[str]:
    """Table cells: seeds, mean A, mean B, difference +- SE, seeds A wins (sign test p), verdict."""
    if not p.seeds:
        return ["0", "-", "-", "-", "-", "no seed done"]
    sign = f" (p {p.sign_p:.3f})" if np.isfinite(p.sign_p) and len(p.seeds) > 1 else ""
    se = f" +- {p.se:.2f}" if np.isfinite(p.se) else ""
    return [
        str(len(p.seeds)),
        f"{p.a_values.mean():.2f}",
        f"{p.b_values.mean():.2f}",
        f"{p.mean:+.2f}{se}",
        f"{p.better(lower_is_better)}/{len(p.seeds)}{sign}",
        p.verdict(lower_is_better),
    ]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def method_claim(title: str, sweep: str, a: str, b: str, code: str, intro: str) -> list[str]:
    """A - B at every level of the sweep, MAE and SNR, seed-paired."""
    doc = sweep_doc(sweep)
    every = sweep_rows(doc)
    current, code = code, code_to_report([(r.code, r.date) for r in every], code)
    rows = [r for r in every if r.code == code]
    other = len(every) - len(rows)
    done = sorted({r.seed for r in rows if r.method == a} & {r.seed for r in rows if r.method == b})
    left = [s for s in doc["seeds"] if s not in done]
    lines = [
        f"## {title}",
        "",
        intro,
        "",
        f"Source: `{doc['database']}` (`python -m benchmark run --sweep configs/sweeps/{sweep}.yaml`); "
        f"seeds done (both methods): {', '.join(map(str, done)) or 'none'}; "
        f"left: {', '.join(map(str, left)) or 'none'}; rows of other code, not used: {other}.",
        "",
        *stale_line(code, current),
    ]
    header = ["level", "seeds", f"{a} MAE", f"{b} MAE", "difference +- SE (bpm)", f"{a} better (sign test)"]
    header += ["MAE verdict", "SNR difference +- SE (dB)", "SNR verdict", "chance MAE"]
    body = []
    for level in doc["compression"]:
        mae = pair(a, by_seed(rows, a, level, "mae"), b, by_seed(rows, b, level, "mae"))
        snr = pair(a, by_seed(rows, a, level, "snr"), b, by_seed(rows, b, level, "snr"))
        snr_cells = fmt_pair(snr, lower_is_better=False)
        chance = list(by_seed(rows, "chance", level, "mae").values())  # the training-mean predictor
        chance_cell = f"{chance[0]:.2f}" if chance else "-"
        body.append([level, *fmt_pair(mae), snr_cells[3], snr_cells[5], chance_cell])
    return lines + table(header, body) + [""]


def talos_claim(code: str) -> list[str]:
    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from talos_gain import DEFAULT_OUT, SEEDS, load_entries, report

    entries = load_entries(DEFAULT_OUT)
    current, code = code, code_to_report([(e["code"], e["date"]) for e in entries], code)
    done = {e["seed"] for e in entries if e["code"] == code and e["loss"] == "talos"}
    done &= {e["seed"] for e in entries if e["code"] == code and e["loss"] == "mse"}
    left = [s for s in map(int, SEEDS.split(",")) if s not in done]
    return [
        "## TALOS: TDM with TALOS vs with MSE (and vs lag-tolerant NP)",
        "",
        "Comas et al. 2022 train TDM with TALOS, which learns each training subject's delay between the "
        "video pulse and the contact PPG; SynthPulse's subjects have known delays (uniform in +-0.5 s). "
        "Both sides are TDM at its zoo recipe with the loss changed and no speed augmentation (it would "
        "rescale each subject's delay chunk by chunk); TALOS - MSE per seed (the paper's claim), and TALOS - "
        "NP at the best lag within +-0.5 s per chunk (`np_lag`: lag tolerance without learning the delays).",
        "",
        f"Source: `{DEFAULT_OUT.relative_to(PROJECT_ROOT)}` (`python bench/talos_gain.py`); seeds done: "
        f"{', '.join(map(str, sorted(done))) or 'none'}; left: {', '.join(map(str, left)) or 'none'}.",
        "",
        *stale_line(code, current),
        *(f"- {line}" for line in report(entries, code)),
        "",
    ]


def build(code: str) -> list[str]:
    lines = [
        "# Seed claims at the zoo budget",
        "",
        "Generated by `python bench/seed_claims.py` from the committed results; do not edit by hand. Each "
        "claim compares two models trained at the same seed and tested on the same 48 recordings of 12 "
        "unseen subjects (SynthPulse quick seed 1); the difference is averaged over seeds with its standard "
        "error (SE). A claim holds when the mean difference lies beyond 2 SE in the paper's direction, at "
        f"{MIN_SEEDS} seeds or more (two seeds' SE has one degree of freedom: noise alone passes 2 SE 30% "
        "of the time). The "
        "seeds where each side wins are counted beside it with an exact two-sided sign test (p; at 6 seeds "
        "6/6 gives 0.031, 5/6 0.219), which one seed that failed to learn cannot swamp as it can the SE. "
        f"Code fingerprint: {code}. Seed 0 is left out: it is the committed zoo's own training key, trained "
        "on the earlier crop path.",
        "",
    ]
    lines += method_claim(
        "KD: the student with vs without distillation",
        "kd-gain",
        "kd-student",
        "kd-student-nokd",
        code,
        "Hwang et al. 2023 distil a 24k-parameter student from PhysNet. Both students: same network, recipe "
        "and seed; one also matches the teacher's features.",
    )
    lines += method_claim(
        "STVEN: STVEN + rPPGNet vs rPPGNet, per codec and bitrate",
        "stven-gain",
        "stven-rppgnet",
        "rppgnet",
        code,
        "Yu et al. 2019 put STVEN (a video enhancer trained on pairs of compression levels) in front of "
        "rPPGNet. Both rows use the same rPPGNet (stage 1) of each seed; STVEN was trained on the 250k "
        "levels only.",
    )
    lines += talos_claim(code)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--print", action="store_true", help="print instead of writing the file")
    args = parser.parse_args()
    from benchmark.results.fingerprint import code_fingerprint

    text = "\n".join(build(code_fingerprint()))
    if args.print:
        print(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
