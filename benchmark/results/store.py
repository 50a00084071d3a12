"""The results database: SQLite in WAL mode, one row per cell, per recording and per efficiency measurement.

A cell's rows (the cell and all its per-recording predictions) are written in one transaction, so a crash or a
SIGKILL loses at most the cell in flight and never leaves half of it behind. Leaderboards are computed from
these rows only.
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    method TEXT NOT NULL,
    method_group TEXT NOT NULL,
    train_set TEXT NOT NULL,
    test_set TEXT NOT NULL,
    level TEXT NOT NULL,
    seed INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    protocol_version INTEGER NOT NULL,
    sweep TEXT NOT NULL,
    profile TEXT NOT NULL,
    metrics TEXT NOT NULL,
    error TEXT,
    config TEXT NOT NULL,
    git_commit TEXT,
    host TEXT,
    date TEXT NOT NULL,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS predictions (
    cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
    recording TEXT NOT NULL,
    subject TEXT NOT NULL,
    window INTEGER NOT NULL,
    start_s REAL NOT NULL,
    hr_pred REAL,
    hr_true REAL,
    snr_db REAL,
    error TEXT,
    PRIMARY KEY (cell_key, recording, window)
);
CREATE TABLE IF NOT EXISTS recordings (
    recording TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    sweep TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS efficiency (
    method TEXT NOT NULL,
    device TEXT NOT NULL,
    host TEXT NOT NULL,
    estimated INTEGER NOT NULL DEFAULT 0,
    row TEXT NOT NULL,
    date TEXT NOT NULL,
    PRIMARY KEY (method, device, host)
);
"""

WHOLE = -1  # window index of the whole-recording estimate


@dataclass
class Prediction:
    """One heart-rate estimate: the whole recording (window = -1) or one sliding window."""

    recording: str
    subject: str
    window: int
    start_s: float
    hr_pred: float | None
    hr_true: float | None
    snr_db: float | None = None
    error: str | None = None


@dataclass
class CellResult:
    """A finished cell: its identity, status, metrics and per-recording predictions."""

    key: str
    status: str
    identity: dict
    metrics: dict
    config: dict
    provenance: dict
    error: str | None = None
    seconds: float | None = None
    predictions: list[Prediction] = field(default_factory=list)


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


class ResultStore:
    """Thin wrapper over one SQLite file; every write is one transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60.0)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ cells
    def status(self, key: str) -> str | None:
        row = self.conn.execute("SELECT status FROM cells WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["status"]

    def done_keys(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT key FROM cells WHERE status = 'done'")}

    def drop_other_code(self, code: str) -> int:
        """Deletes the cells (and their predictions) computed with a code fingerprint other than `code`, and
        compacts the file; returns how many cells went. For committed databases: once a claim has been
        re-run on the current code, the superseded rows stay in git history instead of doubling the file."""
        with self.conn:
            keys = [
                row["key"]
                for row in self.conn.execute("SELECT key, config FROM cells")
                if json.loads(row["config"]).get("code") != code
            ]
            self.conn.executemany("DELETE FROM cells WHERE key = ?", [(key,) for key in keys])
        self.conn.execute("VACUUM")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the compacted pages into the file itself
        return len(keys)

    def write_cell(self, result: CellResult) -> None:
        """Replace the cell's rows with these, atomically (a retried failed cell overwrites its old row)."""
        ident = result.identity
        with self.conn:  # one transaction: commit on success, rollback on any exception
            self.conn.execute("DELETE FROM predictions WHERE cell_key = ?", (result.key,))
            self.conn.execute("DELETE FROM cells WHERE key = ?", (result.key,))
            self.conn.execute(
                "INSERT INTO cells (key, status, method, method_group, train_set, test_set, level, seed,"
                " protocol, protocol_version, sweep, profile, metrics, error, config, git_commit, host, date,"
                " seconds)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.key,
                    result.status,
                    ident["method"],
                    ident["group"],
                    ident["train_set"],
                    ident["test_set"],
                    ident["level"],
                    int(ident["seed"]),
                    ident["protocol"],
                    int(ident["protocol_version"]),
                    ident["sweep"],
                    ident["profile"],
                    json.dumps(result.metrics, sort_keys=True),
                    result.error,
                    json.dumps(result.config, sort_keys=True, default=str),
                    result.provenance.get("git_commit"),
                    result.provenance.get("host"),
                    result.provenance["date"],
                    result.seconds,
                ),
            )
            self.conn.executemany(
                "INSERT INTO predictions (cell_key, recording, subject, window, start_s, hr_pred, hr_true,"
                " snr_db, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        result.key,
                        p.recording,
                        p.subject,
                        int(p.window),
                        float(p.start_s),
                        _finite(p.hr_pred),
                        _finite(p.hr_true),
                        _finite(p.snr_db),
                        p.error,
                    )
                    for p in result.predictions
                ],
            )

    def cells(self, **where) -> list[dict]:
        """Cell rows (metrics and config decoded), optionally filtered by column equality."""
        sql = "SELECT * FROM cells"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k in where)
        sql += " ORDER BY test_set, method, level, seed, train_set"
        rows = []
        for r in self.conn.execute(sql, tuple(where.values())):
            d = dict(r)
            d["metrics"] = json.loads(d["metrics"])
            d["config"] = json.loads(d["config"])
            rows.append(d)
        return rows

    def predictions(self, cell_key: str, whole_only: bool = False) -> list[dict]:
        sql = "SELECT * FROM predictions WHERE cell_key = ?"
        if whole_only:
            sql += f" AND window = {WHOLE}"
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY recording, window", (cell_key,))]

    def put_recordings(self, recordings) -> None:
        """Subject and tags (scenario, lighting...) of test recordings, for leaderboard breakdowns (a
        recording that failed to load may not know its subject: stored as "")."""
        rows = [(r.key, r.subject or "", json.dumps(dict(r.tags), sort_keys=True)) for r in recordings]
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO recordings VALUES (?, ?, ?)", rows)

    def recording_tags(self) -> dict[str, dict]:
        """recording key -> its tags."""
        return {r["recording"]: json.loads(r["tags"]) for r in self.conn.execute("SELECT * FROM recordings")}

    def count(self, table: str) -> int:
        if table not in ("cells", "predictions", "checkpoints", "efficiency"):
            raise ValueError(f"unknown table {table!r}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # ------------------------------------------------------------------------------------- checkpoints
    def checkpoint(self, key: str) -> str | None:
        row = self.conn.execute("SELECT path FROM checkpoints WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["path"]

    def checkpoints(self) -> dict[str, str]:
        """key -> path of every recorded checkpoint (what a Ray worker is handed instead of the database)."""
        return {r["key"]: r["path"] for r in self.conn.execute("SELECT key, path FROM checkpoints")}

    def put_checkpoint(self, key: str, method: str, path: str, date: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints (key, method, path, date) VALUES (?, ?, ?, ?)",
                (key, method, str(path), date),
            )

    # ------------------------------------------------------------------------------------------ runs
    def put_run_note(self, sweep: str, note: str, date: str) -> None:
        """The line about a sweep's last run (cells computed, wall time) that its boards' README gives: kept
        here so that `leaderboard` writes the README again as the run did, wall time included."""
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)", (sweep, note, date))

    def run_notes(self) -> list[str]:
        return [row["note"] for row in self.conn.execute("SELECT note FROM runs ORDER BY sweep")]

    # -------------------------------------------------------------------------------------- efficiency
    @staticmethod
    def efficiency_key_device(row: dict) -> str:
        """The `device` key column of an efficiency row: its device, plus its runtime, precision and batch
        where they are not the defaults (torch, fp32, 1), so measurements with another runtime or precision
        get their own row. Rows without those fields (and torch fp32 batch-1 rows) keep the old key."""
        parts = [str(row["device"])]
        for field_name, default in (("runtime", "torch"), ("precision", "fp32"), ("batch", 1)):
            value = row.get(field_name)
            if value is not None and value != default:
                parts.append(f"{field_name}={value}")
        return "/".join(parts)

    def put_efficiency(self, row: dict, date: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO efficiency (method, device, host, estimated, row, date)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row["method"],
                    self.efficiency_key_device(row),
                    row["host"],
                    int(bool(row.get("estimated"))),
                    json.dumps(row, sort_keys=True),
                    date,
                ),
            )

    def efficiency(self) -> list[dict]:
        rows = self.conn.execute("SELECT row FROM efficiency ORDER BY method, estimated, device, host")
        return [json.loads(r[0]) for r in rows]


def integrity_problems(path: str | Path) -> list[str]:
    """What is wrong with a database: duplicate keys, orphan predictions, done cells without predictions."""
    problems = []
    with closing(sqlite3.connect(path)) as conn:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            problems.append(f"integrity_check: {ok}")
        orphans = conn.execute(
            "SELECT COUNT(*) FROM predictions WHERE cell_key NOT IN (SELECT key FROM cells)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} predictions without a cell")
        empty = conn.execute(
            "SELECT key FROM cells WHERE status = 'done' AND key NOT IN (SELECT cell_key FROM predictions)"
        ).fetchall()
        problems += [f"done cell {k[0]} has no predictions" for k in empty]
    return problems
