"""Per-seed errors of a results database's cells, and seed-paired comparisons of two methods.

Why: a leaderboard row pools a method's seeds. A claim such as "distillation lowers the student's MAE" is a
difference between two models trained at the same seed, and its uncertainty is the spread of that
difference over seeds (a standard error), not the width of either row's CI over recordings.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.results.store import WHOLE


@dataclass(frozen=True)
class SeedRow:
    """One finished cell: method, seed, level, each test recording's absolute whole-recording heart-rate error
    (bpm), the cell's mean SNR (dB), the code fingerprint it was computed with and when it finished (ISO 8601,
    UTC)."""

    method: str
    seed: int
    level: str
    errors: dict[str, float]
    snr: float
    code: str
    date: str = ""

    @property
    def mae(self) -> float:
        return float(np.mean(list(self.errors.values()))) if self.errors else float("nan")


def seed_rows(db: str | Path, level: str | None = None) -> list[SeedRow]:
    """Every finished cell of `db` (at `level`, or all levels), in (method, level, seed) order."""
    if not Path(db).is_file():
        raise FileNotFoundError(f"{db}: no such results database")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        query = "SELECT key, method, seed, level, metrics, config, date FROM cells WHERE status = 'done'"
        cells = con.execute(
            query + (" AND level = ?" if level else "") + " ORDER BY method, level, seed",
            (level,) if level else (),
        ).fetchall()
        out = []
        for key, method, seed, lvl, metrics, config, date in cells:
            rows = con.execute(
                "SELECT recording, hr_pred, hr_true FROM predictions WHERE cell_key = ? AND window = ?",
                (key, WHOLE),
            ).fetchall()
            errors = {rec: abs(p - t) for rec, p, t in rows if p is not None and t is not None}
            snr = json.loads(metrics).get("snr")
            code = json.loads(config).get("code", "?")
            snr = float("nan") if snr is None else float(snr)
            out.append(SeedRow(method, seed, lvl, errors, snr, code, date))
        return out
    finally:
        con.close()


def code_to_report(results: list[tuple[str, str]], current: str) -> str:
    """This checkout's code where there are results of it, else the code of the latest result (stale until
    rerun): seeds of two codes are never paired or pooled. `results` holds (code, ISO 8601 UTC date) pairs.
    Not the code with the most results: an old code's full run would outvote the re-measurement after it."""
    if not results or current in {code for code, _ in results}:
        return current
    return max(results, key=lambda result: result[1])[0]


MIN_SEEDS = 3  # the fewest seeds a verdict is drawn from


@dataclass(frozen=True)
class Paired:
    """Values of A and B at the seeds both have (same order), and their seed-by-seed difference A - B."""

    a: str
    b: str
    seeds: tuple[int, ...]
    a_values: np.ndarray
    b_values: np.ndarray

    @property
    def diff(self) -> np.ndarray:
        return self.a_values - self.b_values

    @property
    def mean(self) -> float:
        return float(self.diff.mean())

    @property
    def se(self) -> float:
        """Standard error of the mean difference over seeds (NaN with fewer than two seeds)."""
        n = len(self.seeds)
        return float(self.diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    @property
    def median(self) -> float:
        return float(np.median(self.diff)) if len(self.seeds) else float("nan")

    @property
    def sign_p(self) -> float:
        """Two-sided exact sign test over seeds (ties left out): unlike the SE, one seed that failed to
        learn cannot hide that A wins at every other seed. NaN with no untied seed."""
        from scipy.stats import binomtest

        untied = self.diff[self.diff != 0]
        if not len(untied):
            return float("nan")
        return float(binomtest(int((untied < 0).sum()), len(untied), 0.5).pvalue)

    def better(self, lower_is_better: bool = True) -> int:
        """Seeds at which A's value is better than B's (below it for an error, above it for an SNR)."""
        return int((self.diff < 0).sum() if lower_is_better else (self.diff > 0).sum())

    def verdict(self, lower_is_better: bool = True) -> str:
        """'A better', 'B better' (mean difference beyond two standard errors that way) or 'not resolved'.

        Two seeds make no verdict: their SE has one degree of freedom, and a difference of pure noise lies
        beyond 2 SE about 30% of the time (a t distribution with 1 df; 18% with 2, 10% with 5)."""
        if len(self.seeds) < MIN_SEEDS or not np.isfinite(self.se):
            return f"not resolved (fewer than {MIN_SEEDS} seeds)"
        if abs(self.mean) <= 2 * self.se:
            return "not resolved (within 2 SE)"
        a_wins = (self.mean < 0) == lower_is_better
        return f"{self.a if a_wins else self.b} better (beyond 2 SE)"


def pair(a: str, values_a: dict[int, float], b: str, values_b: dict[int, float]) -> Paired:
    """A and B matched by seed (seeds only one of them has are left out)."""
    seeds = tuple(sorted(set(values_a) & set(values_b)))
    return Paired(
        a,
        b,
        seeds,
        np.array([values_a[s] for s in seeds], dtype=float),
        np.array([values_b[s] for s in seeds], dtype=float),
    )
