"""Stored model runs: every run keeps its parameters, the input content hash and its result."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import sqlite_utils

from caremarket.store import now


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, allow_nan=False) if obj is not None else None


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22), or None
    where /proc is not there or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def worker_id() -> str:
    """This process, as recorded with the runs it carries out: host:pid:start-time.

    The start time tells a process from a later one that reuses its pid (a restarted
    container's pid 1).
    """
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid) or ''}"


def _alive(pid: int, started: str) -> bool:
    if started:
        now_started = _started(pid)
        if now_started is not None or Path("/proc").is_dir():
            return now_started == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fail_orphaned_runs(db: sqlite_utils.Database) -> list[int]:
    """Mark failed the runs left 'running' by a process of this host that is gone; return them.

    A run carried out by a live process (another web worker, `caremarket scheduler`) is left
    alone, and so is one recorded by another host (it cannot be checked from here).
    """
    host = socket.gethostname()
    orphans = []
    for run_id, worker in db.execute("select id, worker from runs where status in "
                                     "('running', 'queued')").fetchall():
        parts = (worker or "").rsplit(":", 2)
        if worker is None or len(parts) < 2:
            orphans.append(int(run_id))
            continue
        who, pid = parts[0], parts[1]
        started = parts[2] if len(parts) == 3 else ""
        if who == host and pid.isdigit() and not _alive(int(pid), started):
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
