"""The committed seed-claims report is what bench/seed_claims.py makes of the committed claim results (the
kd-gain and stven-gain databases, the TALOS file) with this checkout's code: no number in it typed in, none
left standing after the code that made it changed (its rows would no longer count)."""

from __future__ import annotations

import sys

from benchmark.paths import PROJECT_ROOT
from benchmark.results.fingerprint import code_fingerprint


def test_the_committed_report_is_regenerated_from_the_committed_results():
    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import seed_claims

    committed = (PROJECT_ROOT / "leaderboards" / "seed-claims.md").read_text()
    assert committed == "\n".join(seed_claims.build(code_fingerprint())), (
        "leaderboards/seed-claims.md is stale: run `python bench/seed_claims.py`"
    )


def test_talos_report_pairs_talos_with_each_other_loss_mse_first():
    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from talos_gain import report

    def entry(loss, seed, mae, code="c0de"):
        return {"loss": loss, "seed": seed, "code": code, "status": "done", "mae": mae, "snr": -mae}

    entries = [entry("talos", s, 1.0 + 0.1 * s) for s in (1, 2, 3)]
    entries += [entry("mse", s, 20.0 + s) for s in (1, 2, 3)]
    entries += [entry("np_lag", s, m) for s, m in ((1, 0.5), (2, 2.0), (3, 1.0))]  # mixed wins
    entries += [entry("mse", 4, 9.0, code="other")]
    lines = report(entries, "c0de")
    assert lines[0] == "entries of this code (c0de): 9; of other code, not used: 1"
    assert [line.split(":")[0] for line in lines[1:]] == ["MAE (bpm)", "SNR (dB)"] * 2
    assert "talos - mse -20.80" in lines[1] and "median -20.80" in lines[1]
    assert "talos better at 3/3 (sign test p 0.250); talos better (beyond 2 SE)" in lines[1]
    assert "talos - np_lag" in lines[3] and "seeds 1,2,3)" in lines[3] and "talos better at 1/3" in lines[3]
    assert lines[3].endswith("not resolved (within 2 SE)")


def test_a_claim_without_rows_of_this_code_shows_the_earlier_codes_rows_marked_stale():
    bench = str(PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import seed_claims

    other = seed_claims.build("0123456789ab")  # a code no committed result was computed with
    stale = [line for line in other if line.startswith("**Stale:**")]
    assert len(stale) == 3 and all("(0123456789ab)" in line for line in stale)
    # the stale report's tables are the earlier code's figures, not blank rows
    assert sum("| raw | 6 |" in line for line in other) == 2
