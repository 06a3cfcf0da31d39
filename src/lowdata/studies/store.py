"""Study cell stores: SQLite (one machine, the default) and PostgreSQL (several machines on one study).

    store = open_store(None, "runs/study")                              # runs/study/study.db
    store = open_store("postgresql://user@host/db", "runs/study", name="sst2")

Each cell is (study, method, budget, seed) -> status pending | running | done, score, n_labels, seconds, worker,
heartbeat. A worker claims the next pending cell in one transaction, as Optuna's RDB storage does: SQLite takes
the database write lock (BEGIN IMMEDIATE); PostgreSQL selects the row FOR UPDATE SKIP LOCKED, so concurrent
workers on any number of machines never get the same cell and never wait on each other. A running cell's worker
refreshes its heartbeat every `BEAT` seconds from a thread; a cell whose heartbeat is older than `stale_after` was
left by a dead worker and goes back to pending. With SQLite (one machine, one `lowdata curve` at a time) every
running cell is stale when a study starts.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time

BEAT = 30.0
COLUMNS = "method, budget, seed, status, score, n_labels, seconds"


class Store:
    """SQLite store (`?` placeholders); PgStore below changes only the SQL dialect and the connection."""
    ph = "?"

    def __init__(self, path: str, name: str = "study"):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.name = path, name
        self._create()

    CREATE = ("CREATE TABLE IF NOT EXISTS cells (study TEXT, method TEXT, budget TEXT, seed INTEGER, "
              "status TEXT, score REAL, n_labels INTEGER, seconds REAL, worker TEXT, heartbeat REAL, "
              "PRIMARY KEY (study, method, budget, seed))")

    def _create(self):
        self._exec(self.CREATE)

    def _conn(self):
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    def _exec(self, sql: str, args=(), many: bool = False, fetch: bool = False):
        sql = sql.replace("?", self.ph)
        c = self._conn()
        try:
            cur = c.cursor()
            cur.executemany(sql, args) if many else cur.execute(sql, args)
            return cur.fetchall() if fetch else None
        finally:
            c.close()

    def add(self, cells):
        self._exec(self._insert_ignore("INSERT INTO cells (study, method, budget, seed, status) "
                                       "VALUES (?, ?, ?, ?, 'pending')"),
                   [(self.name, m, str(b), s) for m, b, s in cells], many=True)

    @staticmethod
    def _insert_ignore(sql: str) -> str:
        return sql.replace("INSERT INTO", "INSERT OR IGNORE INTO")

    def reset_stale(self, stale_after: float | None = None):
        """Running cells whose worker died go back to pending (all running cells when stale_after is None)."""
        if stale_after is None:
            self._exec("UPDATE cells SET status='pending', worker=NULL WHERE status='running' AND study=?",
                       (self.name,))
        else:
            self._exec("UPDATE cells SET status='pending', worker=NULL WHERE status='running' AND study=? AND "
                       "(heartbeat IS NULL OR heartbeat < ?)", (self.name, time.time() - stale_after))

    def claim(self, worker: str):
        c = self._conn()
        try:
            c.execute("BEGIN IMMEDIATE")
            row = c.execute("SELECT method, budget, seed FROM cells WHERE status='pending' AND study=? "
                            "ORDER BY CAST(budget AS INTEGER), method, seed LIMIT 1", (self.name,)).fetchone()
            if row:
                c.execute("UPDATE cells SET status='running', worker=?, heartbeat=? WHERE study=? AND method=? "
                          "AND budget=? AND seed=?", (worker, time.time(), self.name, *row))
            c.execute("COMMIT")
            return tuple(row) if row else None
        finally:
            c.close()

    def beat(self, cell, worker: str):
        self._exec("UPDATE cells SET heartbeat=? WHERE study=? AND method=? AND budget=? AND seed=? AND worker=?",
                   (time.time(), self.name, *cell, worker))

    def finish(self, cell, score: float, n_labels: int, seconds: float):
        self._exec("UPDATE cells SET status='done', score=?, n_labels=?, seconds=? WHERE study=? AND method=? "
                   "AND budget=? AND seed=?", (score, n_labels, seconds, self.name, *cell))

    def rows(self, status: str | None = None):
        q = f"SELECT {COLUMNS} FROM cells WHERE study=?" + (" AND status=?" if status else "")
        return [tuple(r) for r in self._exec(q, (self.name, status) if status else (self.name,), fetch=True)]

    def workers(self):
        return [tuple(r) for r in self._exec("SELECT method, budget, seed, worker FROM cells WHERE study=?",
                                             (self.name,), fetch=True)]


class PgStore(Store):
    """PostgreSQL store (psycopg 3, the `postgres` extra). The URL is any libpq connection string."""
    ph = "%s"

    def __init__(self, url: str, name: str = "study"):
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise ImportError("a postgresql:// study store needs psycopg: pip install 'lowdata[postgres]'")
        self.url, self.name = url, name
        self._create()

    def _conn(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def _create(self):
        # CREATE TABLE IF NOT EXISTS is not safe against itself in PostgreSQL: two machines starting at once can
        # both pass the check and one fails on pg_type's unique index. A transaction-scoped advisory lock makes
        # the creation one at a time.
        c = self._conn()
        try:
            with c.transaction():
                c.execute("SELECT pg_advisory_xact_lock(hashtext('lowdata.cells'))")
                c.execute(self.CREATE)
        finally:
            c.close()

    @staticmethod
    def _insert_ignore(sql: str) -> str:
        return sql + " ON CONFLICT DO NOTHING"

    def claim(self, worker: str):
        row = self._exec(
            "UPDATE cells SET status='running', worker=?, heartbeat=? WHERE (study, method, budget, seed) = "
            "(SELECT study, method, budget, seed FROM cells WHERE status='pending' AND study=? "
            "ORDER BY CAST(budget AS INTEGER), method, seed LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "RETURNING method, budget, seed", (worker, time.time(), self.name), fetch=True)
        return tuple(row[0]) if row else None

    def reset_stale(self, stale_after: float | None = None):
        super().reset_stale(stale_after if stale_after is not None else 4 * BEAT)  # others may be alive


def open_store(url: str | None, output_dir: str, name: str | None = None) -> Store:
    name = name or os.path.basename(os.path.normpath(output_dir)) or "study"
    if url and url.startswith(("postgresql://", "postgres://")):
        return PgStore(url, name)
    if url and not url.startswith("sqlite:///"):
        from ..config import ConfigError

        raise ConfigError(f"study store {url!r}: expected postgresql://... or sqlite:///path")
    return Store(url[len("sqlite:///"):] if url else os.path.join(output_dir, "study.db"), name)


class Heartbeat:
    """Refresh a claimed cell's heartbeat from a thread while it trains."""

    def __init__(self, store: Store, cell, worker: str):
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, args=(store, cell, worker), daemon=True)

    def _run(self, store, cell, worker):
        while not self.stop.wait(BEAT):
            store.beat(cell, worker)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
