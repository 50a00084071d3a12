"""Leaderboard plots: MAE versus compression level per method, and MAE versus MACs (the Pareto front)."""

from __future__ import annotations

from pathlib import Path

GROUP_MARKERS = {"supervised": "o", "unsupervised (learned)": "s", "classic": "^"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def mae_vs_compression(entries: list[dict], levels: list[str], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in sorted({e["method"] for e in entries}):
        pts = {e["level"]: e for e in entries if e["method"] == method and e.get("mae") is not None}
        xs = [i for i, lv in enumerate(levels) if lv in pts]
        if not xs:
            continue
        ys = [pts[levels[i]]["mae"] for i in xs]
        lo = [pts[levels[i]]["mae"] - (pts[levels[i]].get("mae_low") or pts[levels[i]]["mae"]) for i in xs]
        hi = [(pts[levels[i]].get("mae_high") or pts[levels[i]]["mae"]) - pts[levels[i]]["mae"] for i in xs]
        group = next(iter(pts.values()))["group"]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker=GROUP_MARKERS.get(group, "x"), capsize=3, label=method)
    ax.set_xticks(range(len(levels)), levels, rotation=30, ha="right")
    ax.set_ylabel("MAE (bpm), 95% CI")
    ax.set_title(f"{title}: MAE vs compression level")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both cost and error (lower is better for both)."""
    front = []
    for i, (c, e) in enumerate(points):
        if not any(
            (c2 <= c and e2 <= e) and (c2 < c or e2 < e) for j, (c2, e2) in enumerate(points) if j != i
        ):
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def mae_vs_macs(
    entries: list[dict], efficiency: list[dict], level: str, title: str, path: Path
) -> Path | None:
    """MAE at `level` against GMAC per 30 s (measured rows' MAC counts), with the Pareto front drawn."""
    macs = {
        r["method"]: r["macs_per_30s"] for r in efficiency if r.get("macs_per_30s") and not r.get("estimated")
    }
    pts = [
        (e["method"], e["group"], macs[e["method"]] / 1e9, e["mae"])
        for e in entries
        if e["level"] == level and e.get("mae") is not None and e["method"] in macs
    ]
    if not pts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, group, x, y in pts:
        ax.scatter([x], [y], marker=GROUP_MARKERS.get(group, "x"), s=40)
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = pareto_front([(p[2], p[3]) for p in pts])
    ax.plot([pts[i][2] for i in front], [pts[i][3] for i in front], "k--", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("GMAC per 30 s of video (log)")
    ax.set_ylabel(f"MAE (bpm) at {level}")
    ax.set_title(f"{title}: accuracy vs cost")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
