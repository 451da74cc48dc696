"""Stored model runs: every run keeps its parameters, the input content hash and its result."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import sqlite_utils

from caremarket.store import now


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, allow_nan=False) if obj is not None else None


def worker_id() -> str:
    """This process, as recorded with the runs it carries out: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_orphaned_runs(db: sqlite_utils.Database) -> list[int]:
    """Mark failed the runs left 'running' by a process of this host that is gone; return them.

    A run carried out by a live process (another web worker, `caremarket scheduler`) or by
    another host is left alone.
    """
    host = socket.gethostname()
    orphans = []
    for run_id, worker in db.execute("select id, worker from runs where status in "
                                     "('running', 'queued')").fetchall():
        who, _, pid = (worker or "").rpartition(":")
        if worker is None or (who == host and pid.isdigit() and not _alive(int(pid))):
            orphans.append(int(run_id))
    if orphans:
        with db.atomic():
            for run_id in orphans:
                db["runs"].update(run_id, {"status": "failed", "finished_at": now(),
                                           "error": "interrupted: the process carrying out "
                                                    "the run stopped"})
    return orphans


def start_run(db: sqlite_utils.Database, kind: str, params: dict | None = None,
              parameters: list | dict | None = None, input_hash: str | None = None,
              user: str | None = None) -> int:
    """Record a run as 'running' and return its id (the web shows progress from this row)."""
    with db.atomic():
        table = db["runs"].insert({
            "kind": kind, "status": "running", "progress": 0.0, "params": _dumps(params or {}),
            "parameters": _dumps(parameters), "input_hash": input_hash, "user": user,
            "created_at": now(), "worker": worker_id(),
        })
    return int(table.last_pk)


def set_progress(db: sqlite_utils.Database, run_id: int, progress: float) -> None:
    with db.atomic():
        db["runs"].update(run_id, {"progress": float(progress)})


def finish_run(db: sqlite_utils.Database, run_id: int, result: Any) -> None:
    with db.atomic():
        db["runs"].update(run_id, {"status": "done", "progress": 1.0, "result": _dumps(result),
                                   "finished_at": now()})


def fail_run(db: sqlite_utils.Database, run_id: int, error: str) -> None:
    with db.atomic():
        db["runs"].update(run_id, {"status": "failed", "error": error, "finished_at": now()})


def record_run(db: sqlite_utils.Database, kind: str, result: Any, params: dict | None = None,
               parameters: list | dict | None = None, input_hash: str | None = None,
               user: str | None = None) -> int:
    """Record a finished run in one step; return its id."""
    run_id = start_run(db, kind, params, parameters, input_hash, user)
    finish_run(db, run_id, result)
    return run_id


def get_run(db: sqlite_utils.Database, run_id: int) -> dict | None:
    rows = list(db["runs"].rows_where("id = ?", [run_id]))
    if not rows:
        return None
    row = dict(rows[0])
    for key in ("params", "parameters", "result"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row
