"""Undo for imports: every accepted import records what it changed, and `revert` puts it back.

While an import writes, temporary SQLite triggers on every data table record each row it
inserts, updates or deletes, with the row as it was before (`recording`); the import then keeps
those changes under its id in `import_changes`, in the same transaction as its writes. So an
import's own writes and everything they set off (placing providers by postcode, zones by nearest
centroid, CQC providers derived from locations) are recorded the same way, and `revert` restores
the store exactly: the rows, their `updated_at`, and so the content hash the runs record.

Reverting an import that a later accepted import changed rows of (the same table and key) is
refused naming the later imports; with `cascade` those are reverted first, newest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlite_utils

from caremarket.accounts import audit
from caremarket.store import now
from market.errors import CareMarketError, InvalidInput, UnknownEntity

# Tables of the application, not of the market data: imports never write them.
APP_TABLES = {"users", "api_tokens", "audit_log", "scenarios", "runs", "report_definitions",
              "report_runs", "imports", "import_changes", "schema_migrations",
              "apscheduler_jobs"}
LOG = "temp._import_log"


class RevertRefused(CareMarketError):
    """A revert that would undo a later import's changes; `later` lists those imports."""

    def __init__(self, import_id: int, later: list[int]) -> None:
        super().__init__(f"import #{import_id} cannot be reverted alone: later import(s) "
                         f"{', '.join(f'#{i}' for i in later)} changed the same rows; revert "
                         "them first, or revert with cascade")
        self.later = later


def data_tables(db: sqlite_utils.Database) -> list[str]:
    return [t for t in db.table_names() if t not in APP_TABLES and not t.startswith("sqlite_")
            and not t.endswith(("_fts", "_fts_data", "_fts_idx", "_fts_docsize",
                                "_fts_config"))]


def _json_of(alias: str, columns: list[str]) -> str:
    """A JSON object of the row's columns, each as [type, value]: a REAL as its 17 significant
    digits in text, since SQLite's JSON prints reals to 15 digits (0.1 + 0.2 would come back
    as 0.3) and a revert must give back the very value."""
    def cell(c: str) -> str:
        v = f"{alias}.[{c}]"
        return (f"json_array(typeof({v}), case when typeof({v}) = 'real' then "
                f"printf('%!.17g', {v}) else {v} end)")
    return "json_object(" + ", ".join(f"'{c}', {cell(c)}" for c in columns) + ")"


def _values(encoded: str) -> dict[str, Any]:
    """The row of `_json_of`, with each value as stored."""
    return {c: (float(v) if t == "real" else v) for c, (t, v) in json.loads(encoded).items()}


@contextmanager
def recording(db: sqlite_utils.Database) -> Iterator[None]:
    """Record every change to the data tables into a temporary log until the block ends (call
    inside the import's transaction; `keep` moves the log under an import id)."""
    db.execute("create temp table if not exists _import_log (seq integer primary key, "
               "table_name text, action text, key text, previous text)")
    db.execute(f"delete from {LOG}")
    made = []
    for table in data_tables(db):
        cols = list(db[table].columns_dict)
        pks = db[table].pks
        for event, alias, prev in (("insert", "new", None), ("update", "old", "old"),
                                   ("delete", "old", "old")):
            name = f"_undo_{event}_{table}"
            previous = _json_of(prev, cols) if prev else "null"
            db.execute(
                f"create temp trigger [{name}] after {event} on main.[{table}] begin "
                f"insert into _import_log (table_name, action, key, previous) values "
                f"('{table}', '{event}', {_json_of(alias, pks)}, {previous}); end")
            made.append(name)
    try:
        yield
    finally:
        for name in made:
            db.execute(f"drop trigger if exists temp.[{name}]")


def keep(db: sqlite_utils.Database, import_id: int) -> int:
    """Move the temporary log under `import_id`; return how many changes it held."""
    n = db.execute(f"select count(*) from {LOG}").fetchone()[0]
    db.execute(f"insert into import_changes (import_id, seq, table_name, action, key, previous) "
               f"select ?, seq, table_name, action, key, previous from {LOG} order by seq",
               [import_id])
    db.execute(f"delete from {LOG}")
    return n


def _keys(db: sqlite_utils.Database, import_id: int) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in db.execute(
        "select table_name, key from import_changes where import_id = ?", [import_id])}


def later_imports(db: sqlite_utils.Database, import_id: int) -> list[int]:
    """Accepted, unreverted imports after `import_id` that changed any row it changed,
    directly or through another such import; newest first."""
    keys = _keys(db, import_id)
    later = [r[0] for r in db.execute("select id from imports where id > ? and status = "
                                      "'imported' order by id", [import_id])]
    found: list[int] = []
    for other in later:
        theirs = _keys(db, other)
        if keys & theirs:
            found.append(other)
            keys |= theirs
    return sorted(found, reverse=True)


def _undo_one(db: sqlite_utils.Database, import_id: int) -> int:
    changes = db.execute("select table_name, action, key, previous from import_changes where "
                         "import_id = ? order by seq desc", [import_id]).fetchall()
    for table, action, key, previous in changes:
        k = _values(key)
        where = " and ".join(f"[{c}] = ?" for c in k)
        if action == "insert":
            db.execute(f"delete from [{table}] where {where}", list(k.values()))
        elif action == "update":
            old = _values(previous)
            sets = ", ".join(f"[{c}] = ?" for c in old)
            db.execute(f"update [{table}] set {sets} where {where}",
                       [*old.values(), *k.values()])
        else:  # delete
            old = _values(previous)
            db.execute(f"insert into [{table}] ({', '.join(f'[{c}]' for c in old)}) values "
                       f"({', '.join('?' for _ in old)})", list(old.values()))
    return len(changes)


def revert(db: sqlite_utils.Database, import_id: int, user: str | None = None,
           cascade: bool = False) -> dict[str, Any]:
    """Restore the store as it was before import `import_id`, in one transaction, audited.

    RevertRefused when later imports changed the same rows (unless `cascade`, which reverts
    them first, newest first); UnknownEntity for no such import; InvalidInput when it was
    rejected or is already reverted."""
    row = db.execute("select id, status, kind, file_name from imports where id = ?",
                     [import_id]).fetchone()
    if row is None:
        raise UnknownEntity(f"no import #{import_id}")
    if row[1] != "imported":
        raise InvalidInput(f"import #{import_id} is {row[1]}: there is nothing to revert")
    later = later_imports(db, import_id)
    if later and not cascade:
        raise RevertRefused(import_id, later)
    done = []
    with db.atomic():
        for iid in [*later, import_id]:
            n = _undo_one(db, iid)
            db.execute("update imports set status = 'reverted', reverted_at = ?, "
                       "reverted_by = ? where id = ?", [now(), user, iid])
            audit(db, user, "import.revert", f"#{iid}", {"changes": n, "cascade_of":
                                                         import_id if iid != import_id else None})
            done.append({"import_id": iid, "changes": n})
    return {"reverted": done, "import_id": import_id, "kind": row[2], "file": row[3]}
