"""Background runs: a long coverage or equalisation run does not block the page or the API.

`submit(kind, payload, user)` records the run as 'running' in the store and hands it to a small
thread pool kept in `app.extensions["caremarket.tasks"]`; the page (or an API client) polls
`/api/v1/runs/<id>` for `status` and `progress` and reads `result` when it is 'done'. Each job
opens its own store connection inside `app.app_context()`. With `RUN_SYNC` set (tests), a run is
carried out before `submit` returns, so tests need no waiting.

Runs left 'running' by a process of this host that has died are marked failed when the app
starts (`caremarket.runs.fail_orphaned_runs`), so nothing is left spinning for ever; runs that a
live process (another web worker, the scheduler) is carrying out are left alone.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app

from caremarket import analyses
from caremarket.runs import active_runs, fail_orphaned_runs, start_run
from caremarket.store import open_store
from market.errors import CareMarketError
from web.db import get_db

log = logging.getLogger(__name__)
EXTENSION = "caremarket.tasks"


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = ThreadPoolExecutor(
        max_workers=int(app.config.get("RUN_WORKERS", 2)), thread_name_prefix="caremarket-run")
    store = open_store(app.config["DATABASE"])
    try:
        failed = fail_orphaned_runs(store)
    finally:
        store.close()
    if failed:
        log.warning("marked %d run(s) failed: their process had stopped (%s)", len(failed),
                    ", ".join(map(str, failed)))


def submit(kind: str, payload: dict[str, Any], user: str | None) -> int:
    """Queue a run of `kind` (checked by analyses.check_run) for the background pool; return
    its id. ApiError 429 when `user` already has RUNS_PER_USER runs queued or running."""
    if kind not in analyses.RUN_KINDS:
        raise ValueError(f"unknown run kind '{kind}' (choose from "
                         f"{', '.join(analyses.RUN_KINDS)})")
    db = get_db()
    check_queue(db, user)
    # the run hashes the inputs it reads itself (input_hash): no need to block this request
    run_id = start_run(db, kind, payload, None, None, user, status="queued")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("RUN_SYNC"):
        _execute(app, run_id, kind, payload, user)
    else:
        app.extensions[EXTENSION].submit(_execute, app, run_id, kind, payload, user)
    return run_id


def check_queue(db, user: str | None) -> None:
    """Refuse (429, naming the limit) a run past the user's cap of queued and running runs
    (model and report runs together: one lifecycle)."""
    from web.api import ApiError

    limit = int(current_app.config.get("RUNS_PER_USER", 4))
    if active_runs(db, user) >= limit:
        raise ApiError(429, "too_many_requests",
                       f"you have {limit} runs queued or running, the most one user may have; "
                       "wait for one to finish", {"limit": limit})


def _execute(app: Flask, run_id: int, kind: str, payload: dict[str, Any],
             user: str | None) -> None:
    with app.app_context():
        store = open_store(app.config["DATABASE"], migrate_schema=False)
        try:
            analyses.run_with_progress(store, run_id, kind, payload, user)
        except CareMarketError as exc:  # bad input or data: recorded in the run, no traceback
            log.warning("run %s (%s) failed: %s", run_id, kind, exc)
        except Exception:  # noqa: BLE001 - recorded in the run; the pool must go on
            log.exception("run %s (%s) failed", run_id, kind)
        finally:
            store.close()
