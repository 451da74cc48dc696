"""The report scheduler: APScheduler running each enabled report definition on its cron.

No Any here: a "host" is anything with a `config` mapping holding DATABASE and the
SCHEDULER_* settings (the web app, or `scheduler_app(db_path)` for `caremarket scheduler`).
`web.scheduler.init_app(app)` keeps a BackgroundScheduler in `app.extensions["caremarket.scheduler"]`
and starts it unless the app is testing or `SCHEDULER_ENABLED` is False (or `$CAREMARKET_SCHEDULER`
is 0).
With several web workers, run none of them with the scheduler (SCHEDULER_ENABLED = False in the
instance config.py, or CAREMARKET_SCHEDULER=0) and run `caremarket scheduler` as its own process.

- The job store is APScheduler's SQLAlchemyJobStore on the store's own SQLite file (table
  `apscheduler_jobs`), so schedules and their next run times survive a restart.
- Jobs have `coalesce=True` and `misfire_grace_time` (SCHEDULER_MISFIRE_GRACE seconds, 12 hours
  by default): firings missed while the service was down run once when it is back, if the latest
  of them is within the grace time; older ones are skipped.
- Each job runs with its own store connection; the firing it carries
  out is the latest cron firing at or before now (`caremarket.reports.last_firing`) and it is
  claimed through the unique (report_name, scheduled_for) row, so two scheduler processes on one
  store never run it twice. A failing run is recorded (status failed, with its error) and the
  scheduler carries on.
- Jobs follow the definitions: synced when the scheduler starts, when a definition is changed
  in this process, and every SCHEDULER_SYNC_SECONDS (60) so a separate scheduler process picks
  up definitions changed in the web app.
"""

from __future__ import annotations

import logging
import os
import runpy
from datetime import UTC, datetime
from typing import Any

from caremarket import reports
from caremarket.config import instance_dir
from caremarket.runs import fail_orphaned_runs
from caremarket.store import open_store
from market.errors import UnknownEntity

log = logging.getLogger(__name__)
EXTENSION = "caremarket.scheduler"
JOB_PREFIX = "report:"
JOB_FUNC = "caremarket.scheduler:run_scheduled"
SYNC_JOB = "sync-report-definitions"
DEFAULTS = {"SCHEDULER_ENABLED": True, "SCHEDULER_MISFIRE_GRACE": 12 * 3600,
            "SCHEDULER_SYNC_SECONDS": 60}

# The host whose store the scheduled jobs use: set when a scheduler is started (one per process).
_app: Any = None


class Host:
    """What a scheduler needs of its process: a `config` mapping (DATABASE, SCHEDULER_*)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.extensions: dict[str, Any] = {}


def _now() -> datetime:
    """The scheduler's clock (tests replace it with a controllable one)."""
    return datetime.now(UTC)


def _config(app: Any, key: str) -> Any:
    return app.config.get(key, DEFAULTS[key])


def enabled(app: Any) -> bool:
    """Whether this process should run the scheduler ($CAREMARKET_SCHEDULER beats the config)."""
    env = os.environ.get("CAREMARKET_SCHEDULER")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off")
    return bool(_config(app, "SCHEDULER_ENABLED"))


def scheduler_options(app: Any) -> dict[str, Any]:
    """The job stores, job defaults and time zone every caremarket scheduler uses."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{os.path.abspath(app.config['DATABASE'])}"
    return {
        "jobstores": {
            "default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs",
                                          engine_options={"connect_args": {"timeout": 30}}),
            "memory": MemoryJobStore(),
        },
        "job_defaults": {"coalesce": True, "max_instances": 1,
                         "misfire_grace_time": int(_config(app, "SCHEDULER_MISFIRE_GRACE"))},
        "timezone": reports.TIMEZONE,
    }


def build_scheduler(app: Any):
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(daemon=True, **scheduler_options(app))


def start(app: Any, scheduler) -> None:
    """Start `scheduler` for `app`'s store: load the persisted jobs, sync them, then run.

    It starts paused so that syncing cannot run a job early, and jobs already in the store keep
    their stored next run time: a firing missed while the service was down is then run once
    (coalesced) when it resumes, within the grace time.
    """
    global _app
    _app = app
    app.extensions[EXTENSION] = scheduler
    scheduler.start(paused=True)
    store = open_store(app.config["DATABASE"], migrate_schema=False)
    try:
        stale = fail_orphaned_runs(store)  # model and report runs: one lifecycle
        if stale:
            log.warning("marked %d interrupted run(s) as failed", len(stale))
        sync_jobs(scheduler, store, int(_config(app, "SCHEDULER_MISFIRE_GRACE")))
    finally:
        store.close()
    scheduler.add_job(_sync_from_store, "interval", args=[app, scheduler], id=SYNC_JOB,
                      jobstore="memory", replace_existing=True,
                      seconds=int(_config(app, "SCHEDULER_SYNC_SECONDS")))
    scheduler.resume()
    log.info("report scheduler started on %s", app.config["DATABASE"])


def stop(scheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)


def _trigger_key(trigger) -> str:
    return f"{trigger} {trigger.timezone}"


def sync_jobs(scheduler, db, grace: int | None = None) -> dict[str, list[str]]:
    """Make the scheduler's report jobs match the enabled definitions; return what changed.

    A job is added for a new definition (first run at its next firing), rescheduled when its
    cron changed, removed when its definition is gone or disabled, and left alone otherwise
    (so its stored next run time, maybe one missed while the service was down, is kept).
    A job whose misfire grace time differs from `grace` (the configuration changed) gets the
    new one.
    """
    wanted = {}
    for d in reports.list_definitions(db):
        if not d["enabled"]:
            continue
        try:
            wanted[JOB_PREFIX + d["name"]] = (d["name"], reports.cron_trigger(d["cron"]))
        except reports.InvalidReport as exc:
            log.error("report '%s' not scheduled: %s", d["name"], exc)
    jobs = {j.id: j for j in scheduler.get_jobs(jobstore="default")
            if j.id.startswith(JOB_PREFIX)}
    changed: dict[str, list[str]] = {"added": [], "rescheduled": [], "removed": []}
    for job_id, (name, trigger) in wanted.items():
        job = jobs.get(job_id)
        if job is None:
            scheduler.add_job(JOB_FUNC, trigger=trigger, args=[name], id=job_id,
                              name=f"report {name}", jobstore="default", replace_existing=True)
            changed["added"].append(name)
        elif job.func_ref != JOB_FUNC:  # a job stored by an older version (web.scheduler)
            scheduler.modify_job(job_id, jobstore="default", func=JOB_FUNC)
            changed["rescheduled"].append(name)
        elif _trigger_key(job.trigger) != _trigger_key(trigger):
            scheduler.reschedule_job(job_id, jobstore="default", trigger=trigger)
            changed["rescheduled"].append(name)
        elif grace is not None and job.misfire_grace_time != grace:
            scheduler.modify_job(job_id, jobstore="default", misfire_grace_time=grace)
            changed["rescheduled"].append(name)
    for job_id in jobs:
        if job_id not in wanted:
            scheduler.remove_job(job_id, jobstore="default")
            changed["removed"].append(job_id[len(JOB_PREFIX):])
    if any(changed.values()):
        log.info("report jobs synced: %s", changed)
    return changed


def _sync_from_store(app: Any, scheduler) -> None:
    store = open_store(app.config["DATABASE"], migrate_schema=False)
    try:
        sync_jobs(scheduler, store, int(_config(app, "SCHEDULER_MISFIRE_GRACE")))
    except Exception:  # noqa: BLE001 - a failed sync is retried at the next interval
        log.exception("syncing report jobs failed")
    finally:
        store.close()


def definitions_changed(app: Any) -> None:
    """Re-sync the jobs after a definition changed (no-op when no scheduler runs here; a
    separate `caremarket scheduler` process picks the change up within its sync interval)."""
    scheduler = app.extensions.get(EXTENSION)
    if scheduler is not None and scheduler.running:
        _sync_from_store(app, scheduler)


def run_scheduled(name: str) -> dict[str, Any] | None:
    """The job: run report `name` for its latest firing; record, never raise.

    Returns the run, or None when it was skipped (claimed by another process, or the
    definition is gone or disabled).
    """
    app = _app
    if app is None:
        log.error("report job '%s' ran with no scheduler app set", name)
        return None
    store = open_store(app.config["DATABASE"], migrate_schema=False)
    try:
        now = _now()
        try:
            definition = reports.get_definition(store, name)
        except UnknownEntity:
            log.warning("report '%s' no longer exists; its job is removed at the next sync",
                        name)
            return None
        if not definition["enabled"]:
            return None
        firing = reports.last_firing(definition["cron"], now)
        if firing is None:
            return None
        run = reports.run_report(store, name, "schedule", firing, now=now, user="scheduler")
        if run is None:
            log.info("report '%s' for %s was claimed by another process; skipped", name,
                     reports.stamp(firing))
        return run
    except reports.ReportFailed as exc:
        log.error("%s", exc)  # recorded in report_runs; the next firing runs as usual
        return None
    except Exception:  # noqa: BLE001 - the scheduler must carry on
        log.exception("report job '%s' failed", name)
        return None
    finally:
        store.close()


def scheduler_app(db_path) -> Host:
    """The host of `caremarket scheduler`: the instance config (upper-case names of the
    instance folder's config.py, as the web app reads it) and the store; no web app."""
    config: dict[str, Any] = dict(DEFAULTS)
    path = instance_dir().resolve() / "config.py"
    if path.is_file():
        config.update({k: v for k, v in runpy.run_path(str(path)).items() if k.isupper()})
    config["DATABASE"] = str(db_path)
    return Host(config)


def run_forever(app: Any, stop_event=None) -> None:
    """Run the scheduler for `app` in this process until `stop_event` is set (or a signal)."""
    import signal
    import threading

    stop_event = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop_event.set())
    store = open_store(app.config["DATABASE"])  # create and migrate the store if needed
    store.close()
    scheduler = build_scheduler(app)
    start(app, scheduler)
    try:
        while not stop_event.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
