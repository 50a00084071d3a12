"""Leaderboard plots, one PNG per board each.

- MAE versus compression: one panel per codec (raw is the first point of every panel), 95% CI bars.
- MAE versus MACs: accuracy against cost, labels placed so they never overlap, the Pareto front as a step.
- Bland-Altman and predicted-versus-true HR grids: one small panel per method at the board's first level
  (whole-recording estimates, every seed pooled), failed / no-estimate recordings counted in each title.

Every method keeps one colour + marker pair (a qualitative colormap crossed with a marker list) in all of a
board's plots, and no two methods of a board share both.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmark.methods.registry import GROUPS as GROUP_ORDER

COLORS = [f"C{i}" for i in range(10)]  # matplotlib's default qualitative cycle (tab10)
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]  # 7 is coprime with 10: (i % 10, i % 7) is unique for i < 70
DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _group_rank(group: str) -> int:
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def method_order(entries: list[dict]) -> list[str]:
    """Methods of a board, grouped (supervised, unsupervised, classic, others), by name within a group."""
    group_of = {e["method"]: e["group"] for e in entries}
    return sorted(group_of, key=lambda m: (_group_rank(group_of[m]), group_of[m], m))


def method_styles(methods: list[str]) -> dict[str, tuple[str, str]]:
    """method -> (colour, marker): colour i % 10, marker i % 7, so neighbours in the legend differ in both and
    no two of the first 70 methods share both (10 and 7 are coprime); past 70 pairs would repeat."""
    styles = {}
    for i, m in enumerate(methods):
        styles[m] = (COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)])
    return styles


def split_level(level: str) -> tuple[str | None, str]:
    """'x264-250k' -> ('x264', '250k'); 'raw' -> (None, 'raw'); a level without a dash is its own codec."""
    if level == "raw":
        return None, "raw"
    codec, _, setting = level.partition("-")
    return codec, setting or codec


def codec_panels(levels: list[str]) -> list[tuple[str, list[str]]]:
    """(panel title, its levels in order) per codec, raw first in every panel; just raw when no codec."""
    raw = ["raw"] if "raw" in levels else []
    codecs: dict[str, list[str]] = {}
    for lv in levels:
        codec, _ = split_level(lv)
        if codec is not None:
            codecs.setdefault(codec, []).append(lv)
    if not codecs:
        return [("raw", raw)] if raw else []
    return [(codec, raw + lvs) for codec, lvs in codecs.items()]


def _group_legend(fig, entries: list[dict], handles: dict, **kw):
    """A figure legend in group order, each group introduced by its name (an empty handle)."""
    from matplotlib.patches import Patch

    group_of = {e["method"]: e["group"] for e in entries}
    h, labels, last = [], [], None
    for m in method_order(entries):
        if m not in handles:
            continue
        if group_of[m] != last:
            last = group_of[m]
            h.append(Patch(visible=False))
            labels.append(f"— {last} —")
        h.append(handles[m])
        labels.append(m)
    if h:
        fig.legend(h, labels, fontsize=7, frameon=False, **kw)


def compression_figure(entries: list[dict], levels: list[str], title: str):
    """MAE per compression level, one panel per codec sharing the y axis; CI bars where entries have them."""
    plt = _pyplot()
    panels = codec_panels(levels) or [("levels", list(levels))]
    methods = method_order(entries)
    styles = method_styles(methods)
    width = max(max(len(lvs) for _, lvs in panels), 2)
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(1.0 + 1.1 * width * len(panels) + 1.8, 5.0),
        sharey=True,
        squeeze=False,
        layout="constrained",
        dpi=DPI,
    )
    by = {(e["method"], e["level"]): e for e in entries if e.get("mae") is not None}
    spread = 0.4  # total horizontal dodge of the methods around each level, in level units
    handles = {}
    for ax, (codec, lvs) in zip(axes[0], panels):
        for k, m in enumerate(methods):
            xs = [i for i, lv in enumerate(lvs) if (m, lv) in by]
            if not xs:
                continue
            dodge = (k - (len(methods) - 1) / 2) * spread / max(len(methods), 1)
            pts = [by[(m, lvs[i])] for i in xs]
            ys = np.array([p["mae"] for p in pts], float)
            low = np.array([np.nan if p.get("mae_low") is None else p["mae_low"] for p in pts], float)
            high = np.array([np.nan if p.get("mae_high") is None else p["mae_high"] for p in pts], float)
            color, marker = styles[m]
            line = ax.plot(np.array(xs) + dodge, ys, color=color, marker=marker, ms=5, lw=1.1, alpha=0.9)[0]
            ci = np.isfinite(low) & np.isfinite(high)
            if ci.any():
                ax.errorbar(
                    np.array(xs)[ci] + dodge,
                    ys[ci],
                    yerr=[ys[ci] - low[ci], high[ci] - ys[ci]],
                    fmt="none",
                    ecolor=color,
                    elinewidth=0.8,
                    capsize=2,
                    alpha=0.7,
                )
            handles[m] = line
        ax.set_xticks(range(len(lvs)), [split_level(lv)[1] for lv in lvs], rotation=30, ha="right")
        ax.set_xlim(-0.5, len(lvs) - 0.5)
        if lvs and lvs[0] == "raw" and len(lvs) > 1:
            ax.axvline(0.5, color="0.6", lw=0.8, ls=":")
        ax.set_title(codec)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MAE (bpm), bars: 95% CI")
    fig.suptitle(f"{title}: MAE vs compression level")
    _group_legend(fig, entries, handles, loc="outside right upper")
    return fig


def mae_vs_compression(entries: list[dict], levels: list[str], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig = compression_figure(entries, levels, title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ nuisance ladder (SynthPulse)
def ladder_maes(store, entries: list[dict], level: str) -> dict[str, dict[str, list[float | None]]]:
    """nuisance -> method -> MAE at each intensity (none, low, medium, high; None where no recording), from
    the test recordings whose `scenario` tag is a SynthPulse ladder step `<nuisance>-<intensity>`."""
    from collections import defaultdict

    from benchmark.data.synth.scenes import LEVELS, NUISANCES
    from benchmark.leaderboard.tables import entry_predictions
    from benchmark.results.scoring import score

    steps = {f"{n}-{lv}": (n, lv) for n in NUISANCES for lv in LEVELS}
    tags = store.recording_tags()
    at_level = [e for e in entries if e["level"] == level and e["status"] != "failed"]
    out: dict[str, dict[str, list]] = defaultdict(dict)
    for method, rows in entry_predictions(store, at_level).items():
        by_step = defaultdict(list)
        for row in rows:
            step = steps.get(tags.get(row["recording"], {}).get("scenario", ""))
            if step:
                by_step[step].append(row)
        for nuisance in sorted({n for n, _ in by_step}):
            out[nuisance][method] = [
                score(by_step[(nuisance, lv)], n_boot=0)["mae"] if by_step.get((nuisance, lv)) else None
                for lv in LEVELS
            ]
    return dict(out)


def mae_vs_intensity(store, entries: list[dict], level: str, title: str, path: Path) -> Path | None:
    """One panel per nuisance: each method's MAE from none to high, so where a method breaks shows; None when
    the board's test set has no ladder recordings."""
    from benchmark.data.synth.scenes import LEVELS

    data = ladder_maes(store, entries, level)
    if not data:
        return None
    plt = _pyplot()
    styles = method_styles(method_order(entries))
    fig, axes = plt.subplots(
        1, len(data), figsize=(3.0 * len(data) + 2.5, 3.6), sharey=True, squeeze=False, layout="constrained"
    )
    handles = {}
    for ax, nuisance in zip(axes[0], sorted(data)):
        for method, maes in data[nuisance].items():
            xs = [i for i, v in enumerate(maes) if v is not None]
            color, marker = styles[method]
            (handles[method],) = ax.plot(
                xs, [maes[i] for i in xs], color=color, marker=marker, ms=4, lw=1.2, label=method
            )
        ax.set_xticks(range(len(LEVELS)), LEVELS)
        ax.set_title(nuisance)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"MAE (bpm) at {level}")
    fig.suptitle(f"{title}: MAE vs nuisance intensity (SynthPulse ladder)")
    _group_legend(fig, entries, handles, loc="outside right upper")
    fig.savefig(path, dpi=DPI)
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


# ------------------------------------------------------------------------------------ label placement
_ANGLES = [0, 30, -30, 60, -60, 90, -90, 180, 150, -150, 120, -120, 15, -15, 165, -165, 45, -45, 135, -135]


def _overlap_area(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Total overlap area of each box (rows x0, y0, x1, y1) with all of `others`."""
    if not len(others):
        return np.zeros(len(boxes))
    w = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return (np.clip(w, 0, None) * np.clip(h, 0, None)).sum(axis=1)


def place_labels(
    ax,
    xs,
    ys,
    labels: list[str],
    *,
    colors: list | None = None,
    order: list[int] | None = None,
    fontsize: float = 7,
    marker_pt: float = 4.5,
    pad_px: float = 1.5,
    rings: int = 60,
    obstacles=(),
) -> list:
    """Annotate points so that no two label boxes overlap each other, any marker, or `obstacles` (display
    bboxes, e.g. a legend), staying inside the axes: a deterministic greedy search, label by label in `order`,
    over candidate positions on widening rings around the point (right of it first). A label moved off its
    point gets a thin leader line. Falls back to the least-overlapping candidate only when none is free.

    Call after the figure's layout is final (tight_layout done, no bbox_inches='tight' when saving): the
    search is in pixels and offsets are stored in points, so it holds while axes positions do not change.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax.set_xlim(ax.get_xlim())  # freeze the autoscaled limits the search was done in
    ax.set_ylim(ax.get_ylim())
    px_per_pt = fig.dpi / 72.0
    pts = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    r = marker_pt * px_per_pt
    markers = np.column_stack([pts[:, 0] - r, pts[:, 1] - r, pts[:, 0] + r, pts[:, 1] + r])
    area = ax.get_window_extent(renderer)
    fixed = [markers] + [np.array([[b.x0, b.y0, b.x1, b.y1]]) for b in obstacles]
    sizes = []
    for text in labels:
        t = ax.text(0, 0, text, fontsize=fontsize)
        bb = t.get_window_extent(renderer)
        sizes.append((bb.width, bb.height))
        t.remove()
    angles = np.radians(_ANGLES)
    placed: list[np.ndarray] = []
    out = [None] * len(labels)
    for i in order if order is not None else range(len(labels)):
        w, h = sizes[i]
        ring = np.repeat(np.arange(rings), len(angles))
        gap = r + pad_px + ring * 0.6 * h
        ang = np.tile(angles, rings)
        cx = pts[i, 0] + np.cos(ang) * (w / 2 + gap)
        cy = pts[i, 1] + np.sin(ang) * (h / 2 + gap)
        boxes = np.column_stack(
            [cx - w / 2 - pad_px, cy - h / 2 - pad_px, cx + w / 2 + pad_px, cy + h / 2 + pad_px]
        )
        inside = (
            (boxes[:, 0] >= area.x0)
            & (boxes[:, 1] >= area.y0)
            & (boxes[:, 2] <= area.x1)
            & (boxes[:, 3] <= area.y1)
        )
        others = np.vstack(fixed + placed)
        cost = _overlap_area(boxes, others) + np.where(inside, 0.0, 1e9)
        free = np.flatnonzero(cost == 0)
        best = int(free[0]) if free.size else int(np.argmin(cost))
        placed.append(boxes[best : best + 1])
        far = ring[best] > 0
        out[i] = ax.annotate(
            labels[i],
            (xs[i], ys[i]),
            xytext=((cx[best] - pts[i, 0]) / px_per_pt, (cy[best] - pts[i, 1]) / px_per_pt),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            color=None if colors is None else colors[i],
            arrowprops=(
                dict(arrowstyle="-", color="0.55", lw=0.6, shrinkA=1, shrinkB=marker_pt) if far else None
            ),
        )
    return out


def macs_figure(entries: list[dict], efficiency: list[dict], level: str, title: str):
    """MAE at `level` against GMAC per 30 s (measured MAC counts only); None when no method has both."""
    macs = {
        r["method"]: r["macs_per_30s"] for r in efficiency if r.get("macs_per_30s") and not r.get("estimated")
    }
    styles = method_styles(method_order(entries))
    pts = [
        (e["method"], macs[e["method"]] / 1e9, e["mae"])
        for e in entries
        if e["level"] == level and e.get("mae") is not None and e["method"] in macs
    ]
    if not pts:
        return None
    from matplotlib.transforms import Bbox

    pts.sort(key=lambda p: p[0])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=DPI)
    for name, x, y in pts:
        color, marker = styles[name]
        ax.scatter([x], [y], color=color, marker=marker, s=36, zorder=3, edgecolors="k", linewidths=0.4)
    front = pareto_front([(p[1], p[2]) for p in pts])
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.12)
    fig.canvas.draw()  # settle the autoscaled limits so the front can run on to the right edge
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    fx, fy = [pts[i][1] for i in front], [pts[i][2] for i in front]
    ax.step(
        [*fx, xlim[1]],
        [*fy, fy[-1]],
        where="post",
        color="k",
        ls="--",
        lw=1,
        zorder=2,
        label="Pareto front (a point above it is beaten on both cost and MAE)",
    )
    ax.scatter(fx, fy, s=110, facecolors="none", edgecolors="k", linewidths=0.8, zorder=2)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("GMAC per 30 s of video (log)")
    ax.set_ylabel(f"MAE (bpm) at {level}")
    ax.set_title(f"{title}: accuracy vs cost")
    ax.grid(alpha=0.3, which="both")
    legend = ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # the labels keep off the legend and the front's segments (each a box a few pixels thick)
    corners = [(fx[0], fy[0])]
    for x, y in zip([*fx[1:], xlim[1]], [*fy[1:], fy[-1]]):
        corners += [(x, corners[-1][1]), (x, y)]
    corners_px = ax.transData.transform(corners)
    segments = [
        Bbox.from_extents(min(a[0], b[0]) - 2, min(a[1], b[1]) - 2, max(a[0], b[0]) + 2, max(a[1], b[1]) + 2)
        for a, b in zip(corners_px[:-1], corners_px[1:])
    ]
    on_front = set(front)
    place_labels(
        ax,
        [p[1] for p in pts],
        [p[2] for p in pts],
        [p[0] for p in pts],
        colors=[styles[p[0]][0] for p in pts],
        order=sorted(range(len(pts)), key=lambda i: (i not in on_front, pts[i][1], pts[i][2])),
        marker_pt=5.5,
        obstacles=[legend.get_window_extent(renderer), *segments],
    )
    return fig


def mae_vs_macs(
    entries: list[dict], efficiency: list[dict], level: str, title: str, path: Path
) -> Path | None:
    """MAE at `level` against GMAC per 30 s (measured rows' MAC counts), with the Pareto front drawn."""
    fig = macs_figure(entries, efficiency, level, title)
    if fig is None:
        return None
    plt = _pyplot()
    fig.savefig(path, dpi=DPI)  # no bbox_inches='tight': the labels were placed in this exact layout
    plt.close(fig)
    return path


# ------------------------------------------------------------------------ per-recording agreement grids
def recording_pairs(store, entries: list[dict], level: str) -> dict[str, dict]:
    """method -> whole-recording predicted and true HR at `level`, every done seed of the entry pooled (as the
    tables pool them: same protocol version, profile and code); a recording with an error or without an
    estimate is NaN. Also the number of failed cells."""
    from benchmark.leaderboard.tables import ENTRY_KEY, current_cells

    out = {}
    every = current_cells(store)  # read once: the loop below filters it per entry
    for e in entries:
        if e["level"] != level:
            continue
        cells = [c for c in every if all(c[k] == e[k] for k in ENTRY_KEY)]
        rows = [
            p for c in cells if c["status"] == "done" for p in store.predictions(c["key"], whole_only=True)
        ]

        def value(r, k):
            return np.nan if r["error"] or r[k] is None else float(r[k])

        out[e["method"]] = {
            "pred": np.array([value(r, "hr_pred") for r in rows], float),
            "true": np.array([value(r, "hr_true") for r in rows], float),
            "cells_done": sum(c["status"] == "done" for c in cells),
            "cells_failed": sum(c["status"] == "failed" for c in cells),
            "mae": e.get("mae"),
            "group": e["group"],
        }
    return out


def _grid(n: int):
    plt = _pyplot()
    ncols = n if n <= 4 else min(6, math.ceil(math.sqrt(n * 1.5)))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(0.4 + 2.45 * ncols, 0.7 + 2.3 * nrows),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
        dpi=DPI,
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _panel_title(method: str, n: int, n_failed: int, cells_failed: int) -> str:
    parts = [f"n={n}"]
    if n_failed:
        parts.append(f"{n_failed} failed/no HR")
    if cells_failed:
        parts.append(f"{cells_failed} seed(s) failed")
    return f"{method} ({', '.join(parts)})"


def agreement_figures(pairs: dict[str, dict], title: str, level: str, styles: dict | None = None):
    """(Bland-Altman figure, scatter figure), one panel per method; (None, None) without methods.

    `styles`: the board's method_styles, so a method keeps the colour and marker of the board's other plots.
    """
    from benchmark.evaluation.plots import draw_bland_altman, draw_scatter, hr_limits

    if not pairs:
        return None, None
    if styles is None:
        styles = method_styles(method_order([{"method": m, "group": d["group"]} for m, d in pairs.items()]))
    order = sorted(
        pairs,
        key=lambda m: (_group_rank(pairs[m]["group"]), pairs[m]["mae"] is None, pairs[m]["mae"] or 0, m),
    )
    lims = hr_limits(*[np.concatenate([d["pred"], d["true"]]) for d in pairs.values()])
    figs = []
    for kind in ("bland_altman", "scatter"):
        fig, axes = _grid(len(order))
        for ax, m in zip(axes, order):
            d = pairs[m]
            color, marker = styles[m]
            if not d["cells_done"]:
                ax.text(0.5, 0.5, "all cells failed", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{m} (failed)", fontsize=8)
                continue
            if kind == "bland_altman":
                n, n_failed = draw_bland_altman(
                    ax, d["pred"], d["true"], color=color, marker=marker, s=12, fontsize=6
                )
                ax.axhline(0, color="0.7", lw=0.6, zorder=0)
            else:
                n, n_failed = draw_scatter(
                    ax, d["pred"], d["true"], color=color, marker=marker, s=12, lims=lims, fontsize=6
                )
            ax.set_title(_panel_title(m, n, n_failed, d["cells_failed"]), fontsize=7.5)
            ax.tick_params(labelsize=7)
            ax.xaxis.label.set_size(7.5)
            ax.yaxis.label.set_size(7.5)
            ax.grid(alpha=0.3)
        for ax in axes:
            ax.label_outer()
        what = (
            "Bland-Altman (solid: bias, dashed: 95% limits of agreement)"
            if kind == "bland_altman"
            else "predicted vs true HR (dashed: identity)"
        )
        fig.suptitle(f"{title}: {what} at {level}, whole recordings, seeds pooled", fontsize=10)
        figs.append(fig)
    return tuple(figs)


def agreement_grids(store, entries: list[dict], level: str, title: str, out_dir: Path) -> list[Path]:
    """<title>_bland_altman.png and <title>_scatter.png for one board at `level`; [] when it has no entry."""
    plt = _pyplot()
    styles = method_styles(method_order(entries))
    figs = agreement_figures(recording_pairs(store, entries, level), title, level, styles)
    paths = []
    for fig, suffix in zip(figs, ("bland_altman", "scatter")):
        if fig is None:
            continue
        path = Path(out_dir) / f"{title}_{suffix}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        paths.append(path)
    return paths
