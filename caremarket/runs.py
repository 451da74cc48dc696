"""The run lifecycle, one for model runs (`runs`) and report runs (`report_runs`).

A run is `queued` when it is accepted and waits for a worker, `running` while a process carries
it out, then `done` (with its result) or `failed` (with the reason a user can read). Each run
records the process carrying it out (host:pid:start time). On every start of the web app or the
scheduler, `fail_orphaned_runs` fails the runs of both tables whose process is gone: a process
counts as alive only if it exists, is not a zombie, and has the recorded start time (a later
process reusing the pid is not the same one). `active_runs` counts a user's queued and running
runs of both tables, for the per-user cap.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import sqlite_utils

from caremarket.jsonio import clean
from caremarket.store import now
from market.errors import CareMarketError

STATUSES = ("queued", "running", "done", "failed")
ACTIVE = ("queued", "running")
TABLES = ("runs", "report_runs")
INTERRUPTED = "interrupted: the process carrying out the run stopped"


def user_message(exc: BaseException) -> str:
    """What a user reads of a failed run: the domain message, never a traceback or a numpy
    repr (an unexpected error is named by its type; the log has the rest)."""
    if isinstance(exc, CareMarketError):
        return str(exc)
    return f"the run failed unexpectedly ({type(exc).__name__}); it has been logged"


def dumps(obj: Any) -> str | None:
    """JSON text of a run's field: NaN and infinities as null, numpy scalars as numbers."""
    return json.dumps(clean(obj), default=str, allow_nan=False) if obj is not None else None


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22)."""
    fields = _stat(pid)
    return fields[19] if fields else None


def worker_id() -> str:
    """This process, as recorded with the runs it carries out: host:pid:start-time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_started(pid) or ''}"


def alive(pid: int, started: str) -> bool:
    """Whether process `pid` is the live process that started at `started`.

    A zombie (state Z: dead, not yet reaped by its parent) is not alive; nor is a process with
    another start time (the pid reused).
    """
    fields = _stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        return not started or fields[19] == started
    if Path("/proc").is_dir():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _gone(worker: str | None, host: str) -> bool:
    parts = (worker or "").rsplit(":", 2)
    if worker is None or len(parts) < 2:
        return True
    who, pid = parts[0], parts[1]
    started = parts[2] if len(parts) == 3 else ""
    return who == host and pid.isdigit() and not alive(int(pid), started)


def fail_orphaned_runs(db: sqlite_utils.Database) -> list[int]:
    """Fail the queued and running runs (model and report) whose process of this host is gone;
    return the model run ids failed (report runs are failed too).

    A run carried out by a live process (another web worker, `caremarket scheduler`) is left
    alone, and so is one recorded by another host (it cannot be checked from here).
    """
    host = socket.gethostname()
    failed: dict[str, list[int]] = {}
    for table in TABLES:
        if table not in db.table_names() or "worker" not in db[table].columns_dict:
            continue
        rows = db.execute(f"select id, worker from [{table}] where status in "
                          "('queued', 'running')").fetchall()
        failed[table] = [int(i) for i, worker in rows if _gone(worker, host)]
    if any(failed.values()):
        with db.atomic():
            for table, ids in failed.items():
                for run_id in ids:
                    db[table].update(run_id, {"status": "failed", "finished_at": now(),
                                              "error": INTERRUPTED})
    return failed.get("runs", [])


def active_runs(db: sqlite_utils.Database, user: str | None) -> int:
    """How many runs (model and report) `user` has queued or running."""
    n = db.execute("select count(*) from runs where user is ? and status in "
                   "('queued', 'running')", [user]).fetchone()[0]
    if "user" in db["report_runs"].columns_dict:
        n += db.execute("select count(*) from report_runs where user is ? and status in "
                        "('queued', 'running')", [user]).fetchone()[0]
    return int(n)


def start_run(db: sqlite_utils.Database, kind: str, params: dict | None = None,
              parameters: list | dict | None = None, input_hash: str | None = None,
              user: str | None = None, status: str = "running") -> int:
    """Record a run (`running`, or `queued` for a background worker) and return its id."""
    with db.atomic():
        table = db["runs"].insert({
            "kind": kind, "status": status, "progress": 0.0, "params": dumps(params or {}),
            "parameters": dumps(parameters), "input_hash": input_hash, "user": user,
            "created_at": now(), "worker": worker_id(),
        })
    return int(table.last_pk)


def mark_running(db: sqlite_utils.Database, run_id: int, table: str = "runs") -> None:
    """A worker of this process takes the run up."""
    with db.atomic():
        db[table].update(run_id, {"status": "running", "worker": worker_id()})


def set_progress(db: sqlite_utils.Database, run_id: int, progress: float,
                 table: str = "runs") -> None:
    with db.atomic():
        db[table].update(run_id, {"progress": float(progress)})


def finish_run(db: sqlite_utils.Database, run_id: int, result: Any) -> None:
    with db.atomic():
        db["runs"].update(run_id, {"status": "done", "progress": 1.0, "result": dumps(result),
                                   "finished_at": now()})


def fail_run(db: sqlite_utils.Database, run_id: int, error: str, table: str = "runs") -> None:
    with db.atomic():
        db[table].update(run_id, {"status": "failed", "error": error, "finished_at": now()})


def record_run(db: sqlite_utils.Database, kind: str, result: Any, params: dict | None = None,
               parameters: list | dict | None = None, input_hash: str | None = None,
               user: str | None = None) -> int:
    """Record a finished run in one step; return its id."""
    run_id = start_run(db, kind, params, parameters, input_hash, user)
    finish_run(db, run_id, result)
    return run_id


def latest_id(db: sqlite_utils.Database, kind: str, status: str = "done") -> int | None:
    """The id of the latest run of `kind` with `status` (by default the latest finished one)."""
    row = db.execute("select id from runs where kind = ? and status = ? order by id desc "
                     "limit 1", [kind, status]).fetchone()
    return int(row[0]) if row else None


def get_run(db: sqlite_utils.Database, run_id: int) -> dict | None:
    rows = list(db["runs"].rows_where("id = ?", [run_id]))
    if not rows:
        return None
    row = dict(rows[0])
    for key in ("params", "parameters", "result"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row
