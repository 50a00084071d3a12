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
