"""Leaderboard tables computed from the results database's rows only (never typed by hand).

An entry is one (protocol, train set, test set, method, compression level) with every seed's predictions
pooled; a board is one (protocol, train set, test set); a table shows one metric of a board: methods as
rows, grouped supervised / unsupervised (learned) / classic, compression levels as columns.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field

from benchmark.methods.registry import GROUPS

METRIC_TITLES = {
    "mae": "MAE (bpm, 95% CI)",
    "rmse": "RMSE (bpm, 95% CI)",
    "mape": "MAPE (%, 95% CI)",
    "pearson": "Pearson r (95% CI)",
    "snr": "SNR (dB, 95% CI)",
}
METRICS = tuple(METRIC_TITLES)  # the leaderboard's metrics, in table order


def higher_is_better(metric: str) -> bool:
    """From the metric registry (benchmark.evaluation.metrics); SNR, scored apart, is higher-better."""
    from benchmark.evaluation.metrics import METRICS as REGISTRY

    return True if metric == "snr" else REGISTRY.get(metric).higher_is_better


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.header) + " |",
            "|" + "|".join("---" for _ in self.header) + "|",
        ]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines) + "\n"


# what one entry pools (its seeds): rows of another protocol version or profile are another experiment
ENTRY_KEY = ("protocol", "protocol_version", "profile", "train_set", "test_set", "method", "level")


def board_name(entry: dict) -> str:
    if entry["protocol"] == "intra":
        return entry["test_set"]
    return f"{entry['train_set']}-to-{entry['test_set']}"


def current_cells(store) -> list[dict]:
    """The cells computed by this checkout's code (its fingerprint in their config); rows of other code are
    stale and never reach a table."""
    from benchmark.results.fingerprint import code_fingerprint

    code = code_fingerprint()
    return [c for c in store.cells() if (c.get("config") or {}).get("code") == code]


def collect_entries(store, n_boot: int = 1000) -> list[dict]:
    """Every entry of the database computed by the current code, with its pooled metrics, status and the
    errors of its failed cells."""
    from benchmark.results.scoring import score

    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for cell in current_cells(store):
        grouped[tuple(cell[k] for k in ENTRY_KEY)].append(cell)
    entries = []
    for (protocol, version, profile, train_set, test_set, method, level), cells in sorted(grouped.items()):
        done = [c for c in cells if c["status"] == "done"]
        failed = [c for c in cells if c["status"] == "failed"]
        rows = [p for c in done for p in store.predictions(c["key"])]
        metrics = score(rows, n_boot=n_boot) if done else {}
        entries.append(
            {
                "protocol": protocol,
                "train_set": train_set,
                "test_set": test_set,
                "method": method,
                "group": cells[0]["method_group"],
                "level": level,
                "seeds": ",".join(str(c["seed"]) for c in done),
                "n_cells_failed": len(failed),
                "status": "done" if done and not failed else ("failed" if failed and not done else "partial"),
                "error": "; ".join(sorted({(c["error"] or "").splitlines()[0] for c in failed})) or None,
                "protocol_version": version,
                "profile": profile,
                **metrics,
            }
        )
    return entries


def format_value(entry: dict | None, metric: str) -> str:
    if entry is None:
        return "—"
    if entry["status"] == "failed":
        return "failed"
    value = entry.get(metric)
    if value is None:
        return f"n/a ({entry.get('n_failed', 0)} failed)"
    digits = 3 if metric == "pearson" else 2
    text = f"{value:.{digits}f}"
    low, high = entry.get(f"{metric}_low"), entry.get(f"{metric}_high")
    if low is not None and high is not None:
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    if entry["status"] == "partial":
        text += f" ({entry['n_cells_failed']} seed(s) failed)"
    if entry.get("n_failed"):
        text += f" ({entry['n_failed']} rec. failed)"
    return text


def _sort_key(entries_of_method: dict, levels: list[str], metric: str):
    first = next((entries_of_method[lv] for lv in levels if lv in entries_of_method), None)
    value = None if first is None else first.get(metric)
    if value is None:
        return (1, 0.0)
    return (0, -value if higher_is_better(metric) else value)


CHANCE_GROUP = "baseline"
CHANCE_NOTE = (
    "† the row's 95% CI of MAE does not lie wholly below the chance row's (`chance`: the training set's mean "
    "heart rate for every video) at that level: it is not told apart from chance."
)


def clears_chance(entry: dict | None, chance: dict | None) -> bool:
    """True when the entry's MAE CI lies wholly below the chance row's (or there is no chance row to beat);
    an entry without an MAE does not clear it."""
    if chance is None or chance.get("mae") is None:
        return True
    if entry is None or entry.get("mae") is None:
        return entry is None
    high = entry.get("mae_high", entry["mae"])
    low = chance.get("mae_low", chance["mae"])
    return high is not None and low is not None and high < low


def metric_table(
    entries: list[dict], metric: str, levels: list[str], title: str, notes: list[str] = ()
) -> Table:
    """One metric of one board: rows = methods (grouped, best first by the first level), columns = levels.
    `notes` (e.g. shared_checkpoint_notes) are printed under the table."""
    by_method: dict[str, dict[str, dict]] = defaultdict(dict)
    group_of = {}
    for e in entries:
        by_method[e["method"]][e["level"]] = e
        group_of[e["method"]] = e["group"]
    chance = {e["level"]: e for e in entries if e["group"] == CHANCE_GROUP and e["status"] != "failed"}
    table = Table(f"{title}: {METRIC_TITLES[metric]}", ["group", "method", *levels])
    for group in (*GROUPS, *sorted(set(group_of.values()) - set(GROUPS))):
        names = sorted(
            (m for m in by_method if group_of[m] == group),
            key=lambda m: (_sort_key(by_method[m], levels, metric), m),
        )
        for m in names:
            cells = []
            for lv in levels:
                text = format_value(by_method[m].get(lv), metric)
                if (
                    metric == "mae"
                    and group != CHANCE_GROUP
                    and not clears_chance(by_method[m].get(lv), chance.get(lv))
                ):
                    text += " †"
                cells.append(text)
            table.rows.append([group, m, *cells])
    errors = sorted({f"- {e['method']} @ {e['level']}: {e['error']}" for e in entries if e.get("error")})
    table.notes = list(notes)
    if metric == "mae" and chance:
        table.notes.append(CHANCE_NOTE)
    if errors:
        table.notes += ["Failed cells:", *errors]
    return table


BOARD_KEY = tuple(k for k in ENTRY_KEY if k not in ("method", "level"))


def entry_predictions(store, entries: list[dict], whole_only: bool = False) -> dict[str, list[dict]]:
    """method -> prediction rows of its entry's done cells (the rows its metrics pool: same protocol
    version, profile and code; every seed). One entry per method: pass entries of one level."""
    cells = current_cells(store)
    out = {}
    for e in entries:
        mine = [c for c in cells if c["status"] == "done" and all(c[k] == e[k] for k in ENTRY_KEY)]
        out[e["method"]] = [p for c in mine for p in store.predictions(c["key"], whole_only=whole_only)]
    return out


def _board_cells(store, entries: list[dict]) -> list[dict]:
    board = {tuple(e[k] for k in BOARD_KEY) for e in entries}
    return [c for c in current_cells(store) if tuple(c[k] for k in BOARD_KEY) in board]


def test_set_line(store, entries: list[dict]) -> str:
    """How many subjects and recordings the board's cells were tested on (any row, failed ones included):
    the size behind every CI of the board."""
    recordings = {
        (p["recording"], p["subject"])
        for c in _board_cells(store, entries)
        for p in store.predictions(c["key"], whole_only=True)
    }
    subjects = {s for _, s in recordings if s}
    return f"Test set: {len(subjects)} subjects, {len(recordings)} recordings."


def shared_checkpoint_notes(store, entries: list[dict]) -> list[str]:
    """A line per group of methods whose cells on this board were computed with one checkpoint (two
    registry names that build the same network and train it alike are trained once: kd-teacher and
    physnet), so identical rows are read as one model and not as two results that agree."""
    from benchmark.runner.cells import config_hash

    users: dict[str, set[str]] = defaultdict(set)
    for cell in _board_cells(store, entries):
        training = cell["config"].get("training")
        if cell["status"] != "done" or not training:
            continue
        path = store.checkpoint(config_hash(training))
        if path:
            users[path].add(cell["method"])
    groups = sorted({tuple(sorted(methods)) for methods in users.values() if len(methods) > 1})
    return [
        f"{' and '.join(g)} are one model: the same network trained with the same recipe, data and seed, "
        "trained once and shared (same checkpoint), so their rows are identical by construction."
        for g in groups
    ]


def weights_lines(store, entries: list[dict]) -> list[str]:
    """One line per learned method of the board: the zoo entry its cells loaded (file, sha256, budget, when
    and where it was trained) or the checkpoint this sweep trained, so a reader knows which model a row is."""
    from benchmark import zoo
    from benchmark.runner.cells import config_hash

    by_key = {e.training_key: e for e in zoo.entries()}
    lines = {}
    for cell in _board_cells(store, entries):
        release = cell["config"].get("weights")
        if release and cell["method"] not in lines:
            lines[cell["method"]] = release_line(cell["method"], release)
            continue
        training = cell["config"].get("training")
        if cell["status"] != "done" or not training or cell["method"] in lines:
            continue
        key = config_hash(training)
        entry = by_key.get(key)
        checkpoint = store.checkpoint(key)
        if entry is not None and checkpoint and entry.loads_from(checkpoint):
            meta = entry.meta
            lines[cell["method"]] = (
                f"`{cell['method']}`: zoo/{meta['file']} (sha256 {meta['sha256'][:12]}, {meta['dtype']}), "
                f"{meta.get('epochs_run', '?')} epochs in {meta.get('train_seconds', '?')} s on "
                f"{meta.get('host', '?')} at {meta.get('git_commit', '?')}"
            )
        else:
            lines[cell["method"]] = (
                f"`{cell['method']}`: trained by this sweep ({training['recipe'].get('profile')} recipe)"
            )
    return [lines[m] for m in sorted(lines)]


def release_line(name: str, weights: dict) -> str:
    """A released-weights row's origin: training set, source, file, digest and licence."""
    from benchmark.methods.weights import RELEASES

    release = RELEASES.get(name) if name in RELEASES else None
    origin = f"{release.label}; " if release else ""
    licence = f"; licence: {release.licence}" if release else ""
    return f"`{name}`: {origin}{weights['file']} (sha256 {weights['sha256'][:12]}), not trained here{licence}"


BREAKDOWN_TAGS = ("scenario",)  # recording tags that get a table of their own when a board's data has them


def tag_breakdown_table(store, entries: list[dict], level: str, tag: str, title: str) -> Table | None:
    """MAE per value of one recording tag (e.g. scenario) at one compression level; None without such tags."""
    from benchmark.results.scoring import score

    tags = store.recording_tags()
    at_level = [e for e in entries if e["level"] == level and e["status"] != "failed"]
    rows_of = entry_predictions(store, at_level)
    values = sorted(
        {
            tags[p["recording"]][tag]
            for rs in rows_of.values()
            for p in rs
            if tag in tags.get(p["recording"], {})
        }
    )
    if not values:
        return None
    table = Table(f"{title}: MAE by {tag} at {level} (bpm, 95% CI)", ["group", "method", *values])
    for e in sorted(
        at_level, key=lambda e: (_group_rank(e["group"]), e.get("mae") is None, e.get("mae") or 0.0)
    ):
        cells = []
        for v in values:
            subset = [p for p in rows_of[e["method"]] if tags.get(p["recording"], {}).get(tag) == v]
            cells.append(format_value({"status": "done", **score(subset)}, "mae") if subset else "—")
        table.rows.append([e["group"], e["method"], *cells])
    return table


def _mean_difference(a, b, weights=None):
    """Weighted mean of a - b along the last axis (bootstrap_ci's metric signature)."""
    import numpy as np

    w = np.ones_like(a) if weights is None else weights
    return np.sum(w * (a - b), axis=-1) / np.sum(w, axis=-1)


def abs_errors(store, entries: list[dict]) -> dict[tuple, dict[tuple, tuple]]:
    """(method, level) -> {(recording, seed): (subject, |whole-recording HR error|)} of the board's done
    cells: what paired comparisons pair."""
    import math

    out: dict[tuple, dict[tuple, tuple]] = defaultdict(dict)
    for c in (c for c in _board_cells(store, entries) if c["status"] == "done"):
        for p in store.predictions(c["key"], whole_only=True):
            pred, true = p["hr_pred"], p["hr_true"]
            if pred is None or true is None or not (math.isfinite(pred) and math.isfinite(true)):
                continue
            out[(c["method"], c["level"])][(p["recording"], c["seed"])] = (p["subject"], abs(pred - true))
    return out


CHANGE_NOTE = (
    "Each cell: the mean over test recordings (and seeds) of |error| at that level minus |error| on the same "
    "recording at raw, with a 95% CI that bootstraps subjects. ↑: compression raised the error beyond that "
    "CI (the difference is paired, so it resolves what the two levels' own CIs, which carry the spread "
    "between subjects, cannot); ↓: lowered it."
)


def compression_change_table(store, entries: list[dict], levels: list[str], title: str) -> Table | None:
    """MAE at each compressed level minus MAE at raw, paired by recording; None without a raw column."""
    from benchmark.evaluation.metrics import bootstrap_ci

    if len(levels) < 2 or levels[0] != "raw":
        return None
    errors = abs_errors(store, entries)
    raw = {e["method"]: e for e in entries if e["level"] == "raw" and e["group"] != CHANCE_GROUP}
    table = Table(
        f"{title}: MAE change from raw, paired by recording (bpm, 95% CI)", ["group", "method", *levels[1:]]
    )
    for e in sorted(
        raw.values(), key=lambda e: (_group_rank(e["group"]), e.get("mae") is None, e.get("mae") or 0.0)
    ):
        cells_text = []
        for level in levels[1:]:
            at_level, at_raw = errors.get((e["method"], level), {}), errors.get((e["method"], "raw"), {})
            keys = sorted(at_level.keys() & at_raw.keys())
            if not keys:
                cells_text.append("—")
                continue
            point, low, high = bootstrap_ci(
                [at_level[k][1] for k in keys],
                [at_raw[k][1] for k in keys],
                _mean_difference,
                [at_level[k][0] for k in keys],
            )
            mark = " ↑" if low > 0 else (" ↓" if high < 0 else "")
            cells_text.append(f"{point:+.2f} [{low:+.2f}, {high:+.2f}]{mark}")
        table.rows.append([e["group"], e["method"], *cells_text])
    table.notes = [CHANGE_NOTE]
    return table


RANK_NOTE = (
    "Each cell: the method's place by MAE among this table's rows at that level (1 = lowest; equal MAEs "
    "share a place), with a 95% interval from resampling subjects, one draw for all methods so the places "
    "are paired. ≈: its MAE minus the first place's, paired by recording, has a 95% CI that includes 0: this "
    "test set does not separate the two (each row tested alone: with many rows, some separations are "
    "chance). Scored on the recordings every row at that level has a heart rate for."
)


def rank_table(store, entries: list[dict], levels: list[str], title: str, n_boot: int = 1000) -> Table | None:
    """Each method's place by MAE at each level with a subject-bootstrap interval, and whether it is
    separable from the level's best: a ranking states how sure it is, not only who is ahead."""
    errors = abs_errors(store, entries)
    groups = {e["method"]: e["group"] for e in entries}
    places = {level: _places(errors, sorted(groups), level, n_boot) for level in levels}
    places = {level: found for level, found in places.items() if found}
    if not places:
        return None
    first = places.get(levels[0], {})
    order = sorted(groups, key=lambda m: (m not in first, first.get(m, (0,))[0], m))
    table = Table(
        f"{title}: place by MAE (95% interval; ≈ not separable from the first)", ["group", "method", *levels]
    )
    for method in order:
        row = []
        for level in levels:
            found = places.get(level, {}).get(method)
            row.append(
                "—" if found is None else f"{found[0]} [{found[1]}, {found[2]}]{' ≈' if found[3] else ''}"
            )
        table.rows.append([groups[method], method, *row])
    table.notes = [RANK_NOTE]
    return table


def _places(errors: dict, methods: list[str], level: str, n_boot: int) -> dict[str, tuple]:
    """method -> (place, low, high, not separable from the first) at `level`; {} with fewer than 2 methods
    that share scored recordings."""
    import numpy as np
    from scipy.stats import rankdata

    from benchmark.evaluation.metrics import _resample_weights

    present = [m for m in methods if errors.get((m, level))]
    keys = sorted(set.intersection(*(set(errors[(m, level)]) for m in present))) if present else []
    if len(present) < 2 or not keys:
        return {}
    absolute = np.array([[errors[(m, level)][k][1] for k in keys] for m in present])  # [methods, recordings]
    weights = _resample_weights([errors[(present[0], level)][k][0] for k in keys], n_boot, seed=0)
    boot = weights @ absolute.T / weights.sum(axis=1, keepdims=True)  # [draws, methods]
    point = absolute.mean(axis=1)
    place = rankdata(point, method="min").astype(int)
    drawn = rankdata(boot, method="min", axis=1)
    low = np.quantile(drawn, 0.025, axis=0, method="lower").astype(int)
    high = np.quantile(drawn, 0.975, axis=0, method="higher").astype(int)
    best = int(np.argmin(point))
    gap = boot - boot[:, [best]]
    gap_low, gap_high = np.quantile(gap, [0.025, 0.975], axis=0)
    return {
        m: (int(place[i]), min(int(low[i]), int(place[i])), max(int(high[i]), int(place[i])),
            bool(place[i] != place[best] and gap_low[i] <= 0 <= gap_high[i]))
        for i, m in enumerate(present)
    }  # fmt: skip


def _group_rank(group: str) -> int:
    return GROUPS.index(group) if group in GROUPS else len(GROUPS)


def boards(entries: list[dict]) -> dict[str, list[dict]]:
    """Entries by board; a board whose rows come from several protocol versions or profiles is split into
    one board per (version, profile), named `<board>-v<version>-<profile>`, so they are never pooled."""
    variants: dict[str, set] = defaultdict(set)
    for e in entries:
        variants[board_name(e)].add((e["protocol_version"], e["profile"]))
    out: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        name = board_name(e)
        if len(variants[name]) > 1:
            name = f"{name}-v{e['protocol_version']}-{e['profile']}"
        out[name].append(e)
    return dict(out)


def ordered_levels(entries: list[dict], preferred: list[str] | None = None) -> list[str]:
    seen = {e["level"] for e in entries}
    order = [lv for lv in (preferred or []) if lv in seen]
    rest = sorted(seen - set(order), key=lambda lv: (lv != "raw", lv))
    return order + rest


ENTRY_COLUMNS = [
    "protocol",
    "protocol_version",
    "profile",
    "train_set",
    "test_set",
    "group",
    "method",
    "level",
    "seeds",
    "status",
    "n",
    "n_failed",
    "n_cells_failed",
    "mae",
    "mae_low",
    "mae_high",
    "rmse",
    "rmse_low",
    "rmse_high",
    "mape",
    "mape_low",
    "mape_high",
    "pearson",
    "pearson_low",
    "pearson_high",
    "snr",
    "snr_low",
    "snr_high",
    "mae_windowed",
    "n_windows",
    "error",
]


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def entries_csv(entries: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ENTRY_COLUMNS)
    for e in entries:
        writer.writerow([_csv_value(e.get(c)) for c in ENTRY_COLUMNS])
    return buf.getvalue()


EFFICIENCY_COLUMNS = [
    ("method", "method"),
    ("config", "config"),
    ("group", "group"),
    ("device", "device"),
    ("host", "host"),
    ("runtime", "runtime"),
    ("precision", "precision"),
    ("batch", "batch"),
    ("params_trainable", "params (trainable)"),
    ("params_total", "params (total)"),
    ("macs_per_frame", "MMAC / frame"),
    ("macs_per_30s", "GMAC / 30 s"),
    ("latency_30s_ms", "latency / 30 s (ms)"),
    ("threads", "threads"),
    ("peak_memory_mb", "peak memory (MB)"),
    ("estimated", "estimate?"),
]


def _eff_value(key: str, v) -> str:
    if v is None:
        return "—"
    if key == "macs_per_frame":
        return f"{v / 1e6:.3f}"
    if key == "macs_per_30s":
        return f"{v / 1e9:.3f}"
    if key in ("latency_30s_ms", "peak_memory_mb"):
        return f"{v:.1f}"
    if key == "estimated":
        return "ESTIMATE (roofline)" if v else "measured"
    return str(v)


def efficiency_table(rows: list[dict]) -> Table:
    """Params, MACs, latency, memory per method and device; estimated rows are labelled as such."""
    rows = sorted(
        rows,
        key=lambda r: (
            GROUPS.index(r["group"]) if r["group"] in GROUPS else 9,
            r["method"],
            bool(r.get("estimated")),
            r["device"],
        ),
    )
    table = Table("Efficiency", [title for _, title in EFFICIENCY_COLUMNS])
    table.rows = [[_eff_value(k, r.get(k)) for k, _ in EFFICIENCY_COLUMNS] for r in rows]
    notes = sorted({r["note"] for r in rows if r.get("estimated") and r.get("note")})
    table.notes = [f"Estimates: {n}." for n in notes]
    table.notes.append(
        "Latency: 30 s of video (900 frames at 30 fps) at batch 1 in the method's own chunks; "
        "median after a warm-up. Classic methods include the spatial mean of the face crop."
    )
    return table


def efficiency_csv(rows: list[dict]) -> str:
    extra = ["latency_p90_30s_ms", "chunk_frames", "latency_repeats", "note"]
    keys = [k for k, _ in EFFICIENCY_COLUMNS] + extra
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in rows:
        writer.writerow([_csv_value(r.get(k)) for k in keys])
    return buf.getvalue()
