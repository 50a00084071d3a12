"""Leaderboard files from the results database: every board's Markdown + CSV tables, the efficiency table, the
plots and an index README stating how they were made. Called by the `leaderboard` command and at the end of
every sweep; everything here is computed from database rows.
"""

from __future__ import annotations

from pathlib import Path


def _provenance(store) -> dict:
    from benchmark.leaderboard.tables import current_cells
    from benchmark.results.fingerprint import code_fingerprint

    cells = current_cells(store)
    return {
        "code": code_fingerprint(),
        "stale": len(store.cells()) - len(cells),
        "profiles": sorted({c["profile"] for c in cells}),
        "sweeps": sorted({c["sweep"] for c in cells}),
        "seeds": sorted({c["seed"] for c in cells}),
        "protocol_versions": sorted({c["protocol_version"] for c in cells}),
        "hosts": sorted({c["host"] or "?" for c in cells}),
        "commits": sorted({c["git_commit"] or "?" for c in cells}),
        "dates": (min((c["date"] for c in cells), default="?"), max((c["date"] for c in cells), default="?")),
        "cells_done": sum(c["status"] == "done" for c in cells),
        "cells_failed": sum(c["status"] == "failed" for c in cells),
    }


def write_leaderboards(
    store,
    out_dir: str | Path,
    *,
    plots: bool = True,
    levels: list[str] | None = None,
    extra_notes: list[str] | None = None,
) -> list[Path]:
    """Write every board's tables (Markdown + CSV), the efficiency table and the plots; returns the paths."""
    from benchmark.leaderboard import tables
    from benchmark.leaderboard.plots import (
        agreement_grids,
        mae_vs_compression,
        mae_vs_intensity,
        mae_vs_macs,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = tables.collect_entries(store)
    efficiency = store.efficiency()
    written: list[Path] = []
    index = []
    for name, board in sorted(tables.boards(entries).items()):
        board_levels = tables.ordered_levels(board, levels)
        md = [
            f"# Leaderboard: {name}",
            "",
            f"Protocol {board[0]['protocol']} v{board[0]['protocol_version']}, trained on "
            f"{board[0]['train_set']}, tested on {board[0]['test_set']}, profile {board[0]['profile']}. "
            "Columns are compression levels of the test videos; CIs bootstrap subjects. Lower MAE is better.",
            "",
            tables.test_set_line(store, board),
            "",
        ]
        weights = tables.weights_lines(store, board)
        if weights:
            md += ["Models (where each learned method's weights come from):", ""]
            md += [f"- {line}" for line in weights] + [""]
        shared = tables.shared_checkpoint_notes(store, board)
        for metric in tables.METRICS:
            md.append(tables.metric_table(board, metric, board_levels, name, shared).markdown())
        change = tables.compression_change_table(store, board, board_levels, name)
        if change is not None:
            md.append(change.markdown())
        ranking = tables.rank_table(store, board, board_levels, name)
        if ranking is not None:
            md.append(ranking.markdown())
        for tag in tables.BREAKDOWN_TAGS:
            breakdown = tables.tag_breakdown_table(store, board, board_levels[0], tag, name)
            if breakdown is not None:
                md.append(breakdown.markdown())
        paths = [out / f"{name}.md", out / f"{name}.csv"]
        paths[0].write_text("\n".join(md))
        paths[1].write_text(tables.entries_csv(board))
        if plots:
            paths.append(
                mae_vs_compression(board, board_levels, name, out / f"{name}_mae_vs_compression.png")
            )
            pareto = mae_vs_macs(board, efficiency, board_levels[0], name, out / f"{name}_mae_vs_macs.png")
            if pareto is not None:
                paths.append(pareto)
            ladder = mae_vs_intensity(
                store, board, board_levels[0], name, out / f"{name}_mae_vs_intensity.png"
            )
            if ladder is not None:
                paths.append(ladder)
            # per-method panels of per-recording agreement at the board's first level (raw)
            paths += agreement_grids(store, board, board_levels[0], name, out)
        written += paths
        index.append((name, paths))
    if efficiency:
        eff_md, eff_csv = out / "efficiency.md", out / "efficiency.csv"
        eff_md.write_text("# Efficiency\n\n" + tables.efficiency_table(efficiency).markdown())
        eff_csv.write_text(tables.efficiency_csv(efficiency))
        written += [eff_md, eff_csv]
        index.append(("efficiency", [eff_md, eff_csv]))
    readme = out / "README.md"
    releases = _release_lines(entries) + _seed_claim_lines(out)
    notes = list(dict.fromkeys([*store.run_notes(), *(extra_notes or [])]))  # each line once, in order
    readme.write_text(_readme(index, _provenance(store), efficiency, notes, releases))
    return [*written, readme]


def _spread_lines(path: Path | None = None) -> list[str]:
    """The measured cross-CPU spread (leaderboards/baseline/spread.json, bench/gate_spread.py), if any."""
    import json

    from benchmark.errors import ConfigError
    from benchmark.leaderboard.gate import SPREAD_FACTOR, measured_spread
    from benchmark.paths import PROJECT_ROOT

    path = path or PROJECT_ROOT / "leaderboards" / "baseline" / "spread.json"
    try:
        by_method = measured_spread(path)
        record = json.loads(path.read_text())
    except (OSError, ConfigError):
        return []
    per_method = ", ".join(f"{m} {v:.4f}" for m, v in sorted(by_method.items()))
    code = record.get("code_fingerprint", "?")
    return [
        "## Across machines",
        "",
        "The same code on another CPU, measured by `python bench/gate_spread.py` (the smoke sweep from empty "
        "caches, as this CPU runs it and with torch, oneDNN, numpy, OpenCV and IPP held to older SIMD code): "
        f"largest |MAE difference| per method, bpm: {per_method} (code {code}). Test videos, encodes and "
        "the face stage give the same bytes, so classic methods reproduce exactly; a learned method's spread "
        "comes from its own arithmetic (trained in the smoke sweep; the zoo's models here are only run). The "
        f"CI gate allows {SPREAD_FACTOR:g} times each method's spread.",
        "",
    ]


def _release_lines(entries: list[dict]) -> list[str]:
    """A section naming each released model the boards show: training set, source, file, digest, licence."""
    from benchmark.methods.weights import RELEASES

    names = sorted({e["method"] for e in entries if e["method"] in RELEASES})
    if not names:
        return []
    lines = ["## Released weights", ""]
    for name in names:
        release = RELEASES.get(name)
        lines.append(
            f"- `{name}`: {release.label}, trained on {release.train_set} by {release.source}; "
            f"{release.url} (sha256 {release.sha256}); licence: {release.licence}. Not copied into this "
            "repository: fetched on first use or read from `RPPG_WEIGHTS_DIR`."
        )
    return [*lines, ""]


def _seed_claim_lines(out: Path) -> list[str]:
    """A pointer to the seed-paired claims report (bench/seed_claims.py) where it sits beside the boards."""
    if not (out / "seed-claims.md").is_file():
        return []
    return [
        "## The papers' claims, paired by seed",
        "",
        "What holds and what does not of the source papers' claims (the KD gain, STVEN per codec and "
        "bitrate, TALOS), re-measured at the zoo budget with models trained at several seeds: "
        "[seed-claims.md](seed-claims.md) (`make seed-claims`, resumable; it says how many seeds are done).",
        "",
    ]


def _readme(index, prov: dict, efficiency: list[dict], notes: list[str], releases=()) -> str:
    hosts = sorted({f"{r['device']}: {r['host']}" for r in efficiency if not r.get("estimated")})
    lines = [
        "# Leaderboards",
        "",
        "Generated by `python -m benchmark leaderboard` (also at the end of every sweep) from the results "
        "database rows only; do not edit by hand.",
        "",
        "## How they were made",
        "",
        f"- sweep(s): {', '.join(prov['sweeps']) or '-'}; profile(s): {', '.join(prov['profiles']) or '-'}; "
        f"protocol version(s): {', '.join(map(str, prov['protocol_versions'])) or '-'}",
        f"- seeds: {', '.join(map(str, prov['seeds'])) or '-'}",
        f"- machine(s): {', '.join(prov['hosts'])}",
        f"- efficiency measured on: {'; '.join(hosts) or '-'}",
        f"- date(s): {prov['dates'][0]} .. {prov['dates'][1]} (UTC)",
        f"- commit(s): {', '.join(prov['commits'])}",
        f"- code fingerprint: {prov['code']} (benchmark/results/fingerprint.py; rows of other code in the "
        f"database, not used: {prov['stale']})",
        f"- cells: {prov['cells_done']} done, {prov['cells_failed']} failed",
        *[f"- {n}" for n in notes],
        "",
        *_spread_lines(),
        *releases,
        "## Files",
        "",
    ]
    for name, paths in index:
        lines.append(f"- **{name}**: " + ", ".join(f"[{p.name}]({p.name})" for p in paths))
    return "\n".join(lines) + "\n"
