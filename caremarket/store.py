"""The SQLite store (through sqlite-utils): opening, migrating, and reading frames for models."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils

from caremarket.migrations import migrate

MARKET_TABLES = ("zones", "homecare_providers", "care_homes", "sites", "fee_rates",
                 "self_funder_figures", "travel_times")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store(sqlite_utils.Database):
    """sqlite-utils' Database whose transactions take the write lock when they begin.

    `atomic()` in sqlite-utils starts a deferred transaction. Under WAL, a deferred
    transaction that reads and then writes fails at once with "database is locked" (no busy
    wait) when another connection committed in between, which the web workers, background runs
    and the scheduler sharing one file make likely. `BEGIN IMMEDIATE` waits for the lock
    (busy_timeout) instead; nested blocks are savepoints as before.
    """

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.rollback()
                raise


def open_store(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the store at `path`, in WAL mode, migrated to the latest schema.

    WAL plus `synchronous=NORMAL` keeps every committed import across a crash of the process;
    a busy timeout lets the web workers and the scheduler share one file.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    db = Store(conn)
    db.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    if migrate_schema:
        migrate(db)
    return db


def frame(db: sqlite_utils.Database, table: str, where: str | None = None,
          params: Iterable[Any] | None = None) -> pd.DataFrame:
    """A whole table (or the rows matching `where`) as a DataFrame."""
    sql = f"select * from [{table}]" + (f" where {where}" if where else "")
    cur = db.execute(sql, list(params or []))
    cols = [d[0] for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=cols)


def content_hash(db: sqlite_utils.Database, tables: Iterable[str] = MARKET_TABLES) -> str:
    """SHA-256 over the market tables' rows in key order: the input hash stored with every run."""
    h = hashlib.sha256()
    for table in tables:
        if table not in db.table_names():
            continue
        pks = db[table].pks
        cols = [c for c in db[table].columns_dict if c != "updated_at"]
        order = ", ".join(f"[{p}]" for p in pks)
        h.update(table.encode())
        for row in db.execute(f"select {', '.join(f'[{c}]' for c in cols)} from [{table}] "
                              f"order by {order}"):
            h.update(json.dumps(row, default=str).encode())
    return h.hexdigest()


def dump(db: sqlite_utils.Database) -> dict[str, list[tuple]]:
    """Every row of every table, for comparing a store before and after an operation."""
    out = {}
    for table in sorted(db.table_names()):
        out[table] = sorted(db.execute(f"select * from [{table}]").fetchall(), key=repr)
    return out
