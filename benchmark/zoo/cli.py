"""`python -m benchmark zoo`: train the zoo (resumable), list it against a sweep, verify its files.

    zoo train [--methods physnet,tscan] [--max-minutes 50]   # each learned method of the sweep at `zoo`
    zoo list                                                   # entries, budgets, sizes, still current?
    zoo verify                                                 # sha256 of every file; exit 1 on a mismatch

`train` works through the sweep's learned methods in catalogue order (a method after those it requires),
skips those whose current training config is already in the zoo, trains the others with the `zoo` profile
of their recipe and writes each into zoo/ as soon as it is done. With --max-minutes it stops at the first
epoch end past the limit and keeps the fit's last.ckpt under runs/zoo-train/: the next `zoo train` resumes
it. Exit 0 when every asked method is in the zoo, 1 when one is left to do or failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_SWEEP = "quick"  # the sweep `make bench-all` runs: the zoo is trained under its training configs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="zoo_command", metavar="action", required=True)
    train = sub.add_parser("train", help="train the missing zoo entries (resumable)")
    train.add_argument("--sweep", help="sweep YAML (default configs/sweeps/quick.yaml), run at profile zoo")
    train.add_argument("--methods", help="comma-separated methods (default: every learned method)")
    train.add_argument("--max-minutes", type=float, help="stop at the first epoch end past this many minutes")
    train.add_argument("--force", action="store_true", help="train again even when the zoo has the entry")
    train.add_argument(
        "--profile",
        default="zoo",
        choices=["smoke", "quick", "zoo", "full"],
        help="recipe profile to train at (default zoo; the others are for tests and experiments)",
    )
    listing = sub.add_parser("list", help="zoo entries and whether the sweep's configs still match them")
    listing.add_argument("--sweep", help="sweep YAML to match against (default configs/sweeps/quick.yaml)")
    listing.add_argument(
        "--write", action="store_true", help="rewrite zoo/README.md and the README's summary"
    )
    sub.add_parser("verify", help="check every zoo file against its recorded sha256")


def zoo_sweep(path: str | None, profile: str = "zoo"):
    """The sweep whose training configs the zoo holds (default: bench-all's)."""
    from benchmark.paths import config_dir
    from benchmark.runner.cells import load_sweep

    return load_sweep(path or config_dir() / "sweeps" / f"{DEFAULT_SWEEP}.yaml", profile=profile)


def zoo_cells(sweep, methods: list[str] | None = None) -> list:
    """One cell per learned method of the sweep (first seed, first train/test pair, its training level):
    the zoo holds one model per method, the one every cell of that method loads. Methods the sweep leaves
    out for time (quick.yaml: sspd) count too: their entries are what `run --methods sspd` loads."""
    import dataclasses

    from benchmark.runner.cells import expand
    from benchmark.runner.sweep import method_entries, recipes_of

    sweep = dataclasses.replace(sweep, exclude_methods=())
    entries = method_entries(sweep)
    recipes, errors = recipes_of(entries, sweep.profile)
    if errors:
        from benchmark.errors import ConfigError

        raise ConfigError("; ".join(f"{m}: {e}" for m, e in errors.items()))
    cells, seen = [], set()
    for cell in expand(sweep, entries, recipes):
        if cell.trains and cell.method not in seen and (not methods or cell.method in methods):
            seen.add(cell.method)
            cells.append(cell)
    unknown = sorted(set(methods or ()) - seen)
    if unknown:
        from benchmark.errors import ConfigError

        raise ConfigError(f"not learned methods of sweep {sweep.name!r}: {', '.join(unknown)}")
    return cells


# ------------------------------------------------------------------------------------------------ train
def train_entries(args: argparse.Namespace) -> int:
    from benchmark import zoo
    from benchmark.paths import results_dir
    from benchmark.results.store import ResultStore
    from benchmark.runner.datasets import DatasetCache
    from benchmark.runner.training import Trainer

    sweep = zoo_sweep(args.sweep, args.profile)
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    cells = zoo_cells(sweep, methods)
    work = results_dir() / "zoo-train"
    store = ResultStore(work / "zoo-train.sqlite")
    trainer = Trainer(sweep, store, DatasetCache(sweep), work, use_zoo=True)
    trainer.report = lambda line: print(line, flush=True)
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else None
    left, failed = [], []
    for cell in cells:
        if zoo.find(cell.training_key) and not args.force:
            print(f"{cell.method}: in the zoo (training key {cell.training_key})")
            continue
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            left.append(cell.method)
            continue
        try:
            entry = train_entry(trainer, cell, remaining)
        except Exception as err:  # noqa: BLE001 - one method's failure must not stop the others
            from benchmark.methods.training import TrainingInterrupted

            if isinstance(err, TrainingInterrupted):
                print(f"{cell.method}: {err}; rerun `zoo train` to resume")
                left.append(cell.method)
                continue
            log.debug("zoo training of %s failed", cell.method, exc_info=True)
            print(f"{cell.method}: FAILED {type(err).__name__}: {err}", file=sys.stderr)
            failed.append(cell.method)
            continue
        print(
            f"{cell.method}: written {entry.weights} "
            f"({entry.meta['bytes'] / 1e6:.2f} MB, {entry.meta['dtype']})"
        )
    store.close()
    if args.sweep is None:
        write_zoo_readmes(sweep)
    if left:
        print(f"left to train (rerun to resume): {', '.join(left)}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if left or failed else 0


def train_entry(trainer, cell, max_time_s: float | None):
    """Train one zoo entry (or share the one of a method that trains the same network alike) and write it."""
    from benchmark import zoo
    from benchmark.results.provenance import now, provenance

    started = provenance()  # commit, host and date when this training began (a resumed one: this run's)
    content_key = trainer.content_key(cell)
    twin = next((e for e in zoo.entries() if content_key and e.meta.get("content_key") == content_key), None)
    out_dir = trainer.work_dir / "train" / cell.method / cell.training_key
    module = checkpoint = seconds = None
    if twin is None:
        # a checkpoint in the store: trained by a run that stopped before saving the entry
        checkpoint = trainer.store.checkpoint(cell.training_key)
        if not (checkpoint and Path(checkpoint).is_file()):
            t0 = time.perf_counter()
            try:
                checkpoint = trainer.train(cell, resume=True, max_time_s=max_time_s)
            finally:
                add_wall_time(out_dir, time.perf_counter() - t0)
            trainer.store.put_checkpoint(cell.training_key, cell.method, str(checkpoint), now())
        module = trainer.module_for(cell)
        seconds = wall_time(out_dir)
    batches = validation_batches(trainer, cell, module) if module is not None else []
    curve = zoo.curve_summary(out_dir) if twin is None else twin.meta.get("curve", [])
    sweep = trainer.sweep
    meta = {
        "training_key": cell.training_key,
        "content_key": content_key,
        "command": zoo.store.command_line(),
        **started,
        "saved": provenance()["date"],
        "sweep": sweep.name,
        "train_set": cell.train_set,
        "data": {d: sweep.datasets.get(d, {}) for d in cell.train_set.split("+")},
        "split": sweep.split,
        "seed": cell.seed,
        "train_level": cell.train_level,
        "recipe": cell.recipe,
        "budget_note": cell.recipe.get("budget_note"),
        "training_config": cell.training_config(),
        "curve": curve,
        "best_epoch": best_epoch(curve),
        "epochs_run": len(curve),
        "train_seconds": seconds if twin is None else twin.meta.get("train_seconds"),
        "source_checkpoint": str(checkpoint) if checkpoint else None,
    }
    if twin is not None:
        meta["note"] = f"same network, recipe, data and seed as {twin.method}: its weights"
        return zoo.save_entry(cell.method, None, meta, [], share_with=twin.method)
    entry = zoo.save_entry(cell.method, module, meta, batches)
    trainer.store.put_checkpoint(cell.training_key, cell.method, str(entry.weights), meta["date"])
    return entry


def validation_batches(trainer, cell, module, n: int = 2) -> list[dict]:
    """A few validation batches of the cell's data, to check that fp16 weights predict as fp32 ones do."""
    datamodule = trainer.datamodule_for(cell, module)
    datamodule.setup("fit")
    batches = []
    for batch in datamodule.val_dataloader():
        batches.append(batch)
        if len(batches) >= n:
            break
    return batches


def best_epoch(curve: list[dict]) -> int | None:
    scored = [c for c in curve if c.get("val_loss") is not None]
    return min(scored, key=lambda c: c["val_loss"])["epoch"] if scored else None


def wall_time(out_dir: Path) -> float:
    """Total training seconds of a fit spread over several runs (kept beside its checkpoints)."""
    path = Path(out_dir) / "zoo-seconds.json"
    return round(json.loads(path.read_text())["seconds"], 1) if path.is_file() else 0.0


def add_wall_time(out_dir: Path, seconds: float) -> None:
    path = Path(out_dir) / "zoo-seconds.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seconds": wall_time(out_dir) + seconds}))


# ------------------------------------------------------------------------------------------ list/verify
README_BEGIN, README_END = "<!-- zoo-summary:begin -->", "<!-- zoo-summary:end -->"


def zoo_rows(sweep) -> list[dict]:
    """One row per learned method of the sweep or zoo entry: status (current / stale / missing) and what the
    entry's provenance says (dtype, size, epochs, best validation loss, training seconds, commit, budget)."""
    from benchmark import zoo

    current = {c.method: c.training_key for c in zoo_cells(sweep)}
    have = {e.method: e for e in zoo.entries()}
    rows = []
    for method in sorted(set(current) | set(have)):
        entry = have.get(method)
        if entry is None:
            in_sweep = method not in sweep.exclude_methods
            rows.append({"method": method, "status": "missing", "in_sweep": in_sweep})
            continue
        meta = entry.meta
        curve = [c for c in meta.get("curve", []) if c.get("val_loss") is not None]
        rows.append(
            {
                "method": method,
                "status": "current" if current.get(method) == entry.training_key else "stale",
                # an entry with parts needs their files too: "stven-rppgnet.pt + rppgnet.pt's net.*"
                "file": " + ".join(
                    [meta["file"]]
                    + [f"{p['method']}.pt's {p['source_prefix']}*" for p in meta.get("parts") or []]
                ),
                "dtype": meta["dtype"],
                "bytes": 0 if meta.get("shared_with") else meta["bytes"],
                "epochs": meta.get("epochs_run"),
                "best_epoch": meta.get("best_epoch"),
                "best_val_loss": min((c["val_loss"] for c in curve), default=None),
                "train_seconds": meta.get("train_seconds"),
                "commit": meta.get("git_commit"),
                "sha256": meta["sha256"][:12],
                "budget": meta.get("budget_note") or "",
                "shared_with": meta.get("shared_with"),
            }
        )
    return rows


def summary_line(rows: list[dict]) -> str:
    present = [r for r in rows if r["status"] != "missing"]
    total = sum(r["bytes"] for r in present)
    missing = [r["method"] for r in rows if r["status"] == "missing" and r["in_sweep"]]
    left_out = [r["method"] for r in rows if r["status"] == "missing" and not r["in_sweep"]]
    stale = [r["method"] for r in rows if r["status"] == "stale"]
    line = (
        f"The zoo holds {len(present)} of {len(rows)} learned methods' models, {total / 1e6:.2f} MB in total "
        f"({sum(r['dtype'] == 'float16' for r in present)} stored in fp16)"
    )
    if missing:
        line += f"; not yet trained at the zoo budget: {', '.join(missing)} (bench-all trains them)"
    if left_out:
        line += f"; none for {', '.join(left_out)}, which bench-all leaves out (zoo train --methods adds it)"
    if stale:
        line += f"; stale (trained under another config, unused): {', '.join(stale)}"
    return line + "."


def zoo_markdown(rows: list[dict], sweep_name: str) -> str:
    """zoo/README.md: generated by `zoo list --write` (and after every `zoo train`), never edited by hand."""
    lines = [
        "# Model zoo",
        "",
        f"Checkpoints of the learned methods trained once at their `zoo` recipe under sweep `{sweep_name}`'s "
        "training config; `make bench-all` loads them (benchmark/zoo/store.py). Generated by "
        "`python -m benchmark zoo list --write`; provenance of each entry (command, commit, host, data, "
        "recipe, per-epoch losses, sha256) is in its .json.",
        "",
        summary_line(rows),
        "",
        "| method | status | file | dtype | MB | epochs | best epoch | best val loss | train s | commit "
        "| sha256 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] == "missing":
            lines.append(f"| {r['method']} | missing | | | | | | | | | |")
            continue
        mb = f"{r['bytes'] / 1e6:.2f}" if not r["shared_with"] else f"(= {r['shared_with']})"
        loss = f"{r['best_val_loss']:.4f}" if r["best_val_loss"] is not None else "-"
        lines.append(
            f"| {r['method']} | {r['status']} | {r['file']} | {r['dtype']} | {mb} | {r['epochs']} | "
            f"{r['best_epoch']} | {loss} | {r['train_seconds']} | {r['commit']} | {r['sha256']} |"
        )
    lines += ["", "Budgets:", ""]
    lines += [f"- `{r['method']}`: {r['budget']}" for r in rows if r["status"] != "missing"]
    return "\n".join(lines) + "\n"


def write_zoo_readmes(sweep, readme: Path | None = None) -> Path:
    """zoo/README.md, and the summary line between the project README's zoo markers (when it has them)."""
    from benchmark import zoo
    from benchmark.paths import PROJECT_ROOT, atomic_write

    rows = zoo_rows(sweep)
    path = atomic_write(zoo.zoo_dir() / "README.md", zoo_markdown(rows, sweep.name))
    readme = Path(readme) if readme else PROJECT_ROOT / "README.md"
    if readme.is_file():
        text = readme.read_text()
        head, sep, rest = text.partition(README_BEGIN)
        _, sep2, tail = rest.partition(README_END)
        if sep and sep2:
            atomic_write(readme, f"{head}{README_BEGIN}\n{summary_line(rows)}\n{README_END}{tail}")
    return path


def list_entries(args: argparse.Namespace) -> int:
    from benchmark import zoo

    sweep = zoo_sweep(args.sweep)
    rows = zoo_rows(sweep)
    if args.write:
        print(f"written {write_zoo_readmes(sweep)}")
    print(f"zoo {zoo.zoo_dir()} against sweep {sweep.name} (profile zoo)")
    print(f"{'method':18} {'status':9} {'dtype':8} {'MB':>6} {'epochs':>6} {'train s':>8}  budget")
    for r in rows:
        if r["status"] == "missing":
            print(f"{r['method']:18} missing")
            continue
        print(
            f"{r['method']:18} {r['status']:9} {r['dtype']:8} {r['bytes'] / 1e6:6.2f} {r['epochs'] or 0:>6} "
            f"{r['train_seconds'] if r['train_seconds'] is not None else '-':>8}  {r['budget']}"
        )
    print(summary_line(rows))
    return 0


def verify_entries(args: argparse.Namespace) -> int:
    from benchmark import zoo
    from benchmark.errors import DataError

    bad = 0
    for entry in zoo.entries():
        try:
            entry.verified()
            print(f"ok {entry.method} {entry.meta['file']}")
        except DataError as err:
            bad += 1
            print(f"BAD {entry.method}: {err}", file=sys.stderr)
    return 1 if bad else 0


def main(args: argparse.Namespace) -> int:
    return {"train": train_entries, "list": list_entries, "verify": verify_entries}[args.zoo_command](args)
