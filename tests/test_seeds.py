"""Seed-paired claims: per-seed errors read back from a real results database, differences and verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.results.seeds import code_to_report, pair, seed_rows
from benchmark.results.store import WHOLE, CellResult, Prediction, ResultStore

PROV = {"git_commit": "abc123", "host": "test-host", "date": "2026-01-01T00:00:00+00:00"}


def cell(method: str, seed: int, level: str, errors: dict[str, float], snr: float, code: str = "c0"):
    identity = {
        "method": method, "group": "supervised", "train_set": "synth", "test_set": "synth-test",
        "level": level, "seed": seed, "protocol": "cross", "protocol_version": 1, "sweep": "t",
        "profile": "zoo",
    }  # fmt: skip
    predictions = [Prediction(rec, rec[:3], WHOLE, 0.0, 70.0 + e, 70.0, snr) for rec, e in errors.items()]
    predictions.append(Prediction("s09-still", "s09", WHOLE, 0.0, None, 70.0, None, "no heart rate"))
    predictions.append(Prediction("s00-still", "s00", 0, 0.0, 100.0, 70.0))  # a window: not scored here
    key = f"{method}-{seed}-{level}-{code}"
    return CellResult(key, "done", identity, {"snr": snr}, {"code": code}, PROV, predictions=predictions)


def test_seed_rows_read_whole_recording_errors_per_cell(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        store.write_cell(cell("a", 1, "raw", {"s00-still": 1.0, "s01-motion": -3.0}, 2.5))
        store.write_cell(cell("a", 2, "raw", {"s00-still": 2.0, "s01-motion": 4.0}, 1.0, code="c1"))
        store.write_cell(cell("a", 1, "x264-250k", {"s00-still": 10.0, "s01-motion": 6.0}, -1.0))
    rows = seed_rows(db, "raw")
    got = [(r.method, r.seed, r.level, r.code) for r in rows]
    assert got == [("a", 1, "raw", "c0"), ("a", 2, "raw", "c1")]
    assert rows[0].errors == {"s00-still": 1.0, "s01-motion": 3.0}  # absolute, the failed one left out
    assert rows[0].mae == 2.0 and rows[0].snr == 2.5
    assert len(seed_rows(db)) == 3
    with pytest.raises(FileNotFoundError, match="no such results database"):
        seed_rows(tmp_path / "missing.sqlite")


def test_pair_matches_seeds_and_gives_a_standard_error():
    p = pair("kd", {1: 2.0, 2: 3.0, 3: 1.0, 7: 0.0}, "nokd", {1: 4.0, 2: 4.0, 3: 4.0, 5: 9.0})
    assert p.seeds == (1, 2, 3)
    np.testing.assert_allclose(p.diff, [-2.0, -1.0, -3.0])
    assert p.mean == pytest.approx(-2.0)
    assert p.se == pytest.approx(1.0 / np.sqrt(3))
    assert p.better() == 3 and p.better(lower_is_better=False) == 0
    assert p.verdict() == "kd better (beyond 2 SE)"
    assert p.verdict(lower_is_better=False) == "nokd better (beyond 2 SE)"  # e.g. SNR


def test_a_difference_within_two_standard_errors_is_not_resolved():
    p = pair("a", {1: 1.0, 2: 5.0, 3: 2.0}, "b", {1: 2.0, 2: 2.0, 3: 3.0})
    assert abs(p.mean) <= 2 * p.se
    assert p.verdict().startswith("not resolved")
    one = pair("a", {1: 1.0}, "b", {1: 5.0})
    assert np.isnan(one.se) and one.verdict() == "not resolved (fewer than 3 seeds)"
    # two seeds that agree to within 0.01 are still no verdict: an SE of one degree of freedom means little
    two = pair("a", {1: 0.26, 2: 0.28}, "b", {1: 0.30, 2: 0.31})
    assert abs(two.mean) > 2 * two.se and two.verdict() == "not resolved (fewer than 3 seeds)"


def test_the_sign_test_counts_seeds_so_one_failed_seed_cannot_swamp_them():
    # A wins by ~0.1 at five seeds and loses by 15 at one (a run that failed to learn): the SE cannot tell
    # them apart, the sign test says 5 of 6 (p = 2 * 7/64), the median says A is better
    p = pair("a", {s: 0.5 for s in range(1, 7)} | {3: 17.0}, "b", {s: 0.6 for s in range(1, 7)} | {3: 2.0})
    assert p.verdict().startswith("not resolved")
    assert p.better() == 5 and p.sign_p == pytest.approx(14 / 64)
    assert p.median == pytest.approx(-0.1)
    assert np.isnan(pair("a", {1: 1.0, 2: 1.0}, "b", {1: 1.0, 2: 1.0}).sign_p)  # ties only: no test
    every = pair("a", {s: 0.0 for s in range(6)}, "b", {s: 1.0 for s in range(6)})
    assert every.sign_p == pytest.approx(2 / 64)


def test_mae_by_seed_compare_line_gives_se_median_sign_test_and_verdict():
    import sys

    from benchmark.paths import PROJECT_ROOT

    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from mae_by_seed import summary_line

    p = pair("kd", {1: 2.0, 2: 3.0, 3: 1.0}, "nokd", {1: 4.0, 2: 4.0, 3: 4.0})
    line = summary_line(p)
    assert "difference -2.00 +- 0.58 (standard error, 3 seeds), median -2.00" in line
    assert line.endswith("kd better at 3/3 (sign test p 0.250); kd better (beyond 2 SE)")


def test_the_code_reported_is_this_checkouts_where_it_has_rows_else_the_latest():
    """An old code's full run (more rows) must not outvote the later re-measurement of a changed code."""
    old = [("a", f"2026-12-04T0{i}:00:00+00:00") for i in range(5)]
    new = [("b", "2026-12-04T21:00:00+00:00"), ("b", "2026-12-05T00:20:00+00:00")]
    assert code_to_report(old + new, "c") == "b"
    assert code_to_report(new + old, "c") == "b"
    assert code_to_report(old + new + [("c", "2026-12-01T00:00:00+00:00")], "c") == "c"
    assert code_to_report([], "c") == "c"


def test_mae_by_seed_never_pairs_seeds_of_two_codes(tmp_path, monkeypatch, capsys):
    """A database with an earlier code's seeds 1-3 and this code's seeds 1-2: the comparison uses this code's
    rows only (and says how many it left out); --code picks the earlier ones."""
    import sys

    from benchmark.paths import PROJECT_ROOT

    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import mae_by_seed

    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        for seed in (1, 2, 3):
            store.write_cell(cell("kd", seed, "raw", {"s00-still": 9.0}, 1.0, code="old"))
            store.write_cell(cell("nokd", seed, "raw", {"s00-still": 1.0}, 1.0, code="old"))
        for seed in (1, 2):
            store.write_cell(cell("kd", seed, "raw", {"s00-still": 0.5 + seed}, 1.0, code="new"))
            store.write_cell(cell("nokd", seed, "raw", {"s00-still": 2.0 + seed}, 1.0, code="new"))
    monkeypatch.setattr(mae_by_seed, "code_fingerprint", lambda: "new")
    monkeypatch.setattr(sys, "argv", ["mae_by_seed.py", str(db), "--compare", "kd,nokd"])
    mae_by_seed.main()
    out = capsys.readouterr().out
    assert "code new (this checkout's); rows of other code left out: 6" in out
    assert "seed 1: MAE   1.50 -   3.00 =  -1.50" in out and "seed 3" not in out
    monkeypatch.setattr(sys, "argv", ["mae_by_seed.py", str(db), "--compare", "kd,nokd", "--code", "old"])
    mae_by_seed.main()
    out = capsys.readouterr().out
    assert "code old (not this checkout's); rows of other code left out: 4" in out
    assert "seed 3: MAE   9.00 -   1.00 =  +8.00" in out
