"""The report scheduler under a controllable clock.

APScheduler reads the time through `datetime.now` in its scheduler, executor and interval
trigger modules; the `clock` fixture replaces them (and the job's own clock) with one the test sets. `ManualScheduler`
is APScheduler's BaseScheduler without a thread: `tick()` does what the background thread does
when it wakes up, with the jobs run in the calling thread (DebugExecutor). Everything else (job
store on the store's SQLite file, job defaults, syncing, the job itself, the claim) is the
production code of `caremarket.scheduler` and `caremarket.reports`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apscheduler.executors.base as ap_executors
import apscheduler.schedulers.base as ap_schedulers
import apscheduler.triggers.interval as ap_interval
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import BaseScheduler

from caremarket import reports as R
from caremarket import scheduler as ws
from caremarket.scenario_store import get_scenario, save_scenario
from caremarket.store import open_store
from market.scenarios import Scenario
from tests.conftest import ROOT

SCENARIO = R.SAMPLE_SCENARIOS[0][0]
MON_0500 = datetime(2025, 1, 6, 5, 0, tzinfo=UTC)  # winter: London time is UTC


class ManualScheduler(BaseScheduler):
    """APScheduler with no thread of its own: the test calls tick() to let it look for jobs."""

    def shutdown(self, wait=True):
        super().shutdown(wait)

    def wakeup(self):
        pass

    def _create_default_executor(self):
        return DebugExecutor()

    def tick(self):
        return self._process_jobs()


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def set(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=UTC)


def fake_datetime(clock: Clock) -> type[datetime]:
    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock.at.astimezone(tz) if tz is not None else clock.at.replace(tzinfo=None)

    return FakeDatetime


@pytest.fixture
def clock(monkeypatch):
    c = Clock(MON_0500)
    fake = fake_datetime(c)
    monkeypatch.setattr(ap_schedulers, "datetime", fake)
    monkeypatch.setattr(ap_executors, "datetime", fake)
    monkeypatch.setattr(ap_interval, "datetime", fake)
    monkeypatch.setattr(ws, "_now", lambda: c.at)
    return c


@pytest.fixture
def store_path(sample_db_file, tmp_path) -> Path:
    """A sample store with one daily report ('Daily', 06:00, one scenario, quick measures);
    the sample's weekly report and evidence pack are disabled so only 'Daily' is scheduled."""
    path = tmp_path / "sched.db"
    shutil.copy(sample_db_file, path)
    db = open_store(path)
    R.update_definition(db, R.SAMPLE_REPORT, {"enabled": False})
    R.update_definition(db, R.SAMPLE_MSP, {"enabled": False})
    R.create_definition(db, "Daily", [SCENARIO], "0 6 * * *", ["cross_subsidy"])
    db.close()
    return path


@pytest.fixture
def booted():
    """boot(path, **config) -> (app, scheduler): a ManualScheduler started as in production."""
    started = []

    def boot(path: Path, **config):
        app = ws.scheduler_app(path)
        app.config.update(config)
        sched = ManualScheduler(**ws.scheduler_options(app))
        ws.start(app, sched)
        started.append(sched)
        return app, sched

    yield boot
    for s in started:
        if s.running:
            s.shutdown()


def schedule_runs(path: Path, name: str = "Daily") -> list[tuple[str, str, str]]:
    db = open_store(path)
    try:
        return [tuple(r) for r in db.execute(
            "select scheduled_for, trigger, status from report_runs where report_name = ? "
            "order by id", [name]).fetchall()]
    finally:
        db.close()


def test_a_schedule_fires_on_time(store_path, clock, booted):
    app, sched = booted(store_path)
    job = sched.get_job("report:Daily")
    assert job.next_run_time == datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    assert job.coalesce and job.misfire_grace_time == 12 * 3600
    clock.set(2025, 1, 6, 5, 59, 59)
    sched.tick()
    assert schedule_runs(store_path) == []
    clock.set(2025, 1, 6, 6, 0, 0)
    sched.tick()
    assert schedule_runs(store_path) == [("2025-01-06T06:00:00+00:00", "schedule", "done")]
    clock.set(2025, 1, 6, 6, 0, 30)
    sched.tick()
    assert len(schedule_runs(store_path)) == 1
    assert sched.get_job("report:Daily").next_run_time == datetime(2025, 1, 7, 6, 0, tzinfo=UTC)
    clock.set(2025, 1, 7, 6, 0, 2)
    sched.tick()
    assert [r[0] for r in schedule_runs(store_path)] == ["2025-01-06T06:00:00+00:00",
                                                         "2025-01-07T06:00:00+00:00"]
    db = open_store(store_path)
    run = R.get_run(db, R.list_runs(db, "Daily")["items"][0]["id"])
    assert run["run_by"] == "scheduler" and run["changes"]["previous"]["scheduled_for"] == \
        "2025-01-06T06:00:00+00:00"
    db.close()


def test_a_missed_run_is_caught_up_once_after_a_restart(store_path, clock, booted):
    _app, sched = booted(store_path)
    sched.shutdown()  # the service goes down before Monday 06:00 ...
    clock.set(2025, 1, 8, 7, 0)  # ... and is back on Wednesday 07:00: three firings missed
    _app, sched = booted(store_path)
    # the job came back from the store with the next run time it had when the service stopped
    assert sched.get_job("report:Daily").next_run_time == datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    missed = []
    sched.add_listener(lambda e: missed.append(e), EVENT_JOB_MISSED)
    sched.tick()
    assert schedule_runs(store_path) == [("2025-01-08T06:00:00+00:00", "schedule", "done")]
    assert missed == []  # coalesced into the latest firing, not run (or reported) three times
    clock.set(2025, 1, 8, 7, 5)
    sched.tick()
    assert len(schedule_runs(store_path)) == 1
    clock.set(2025, 1, 9, 6, 0)
    sched.tick()
    assert [r[0] for r in schedule_runs(store_path)][-1] == "2025-01-09T06:00:00+00:00"


def test_a_run_missed_by_more_than_the_grace_time_is_skipped(store_path, clock, booted):
    _app, sched = booted(store_path, SCHEDULER_MISFIRE_GRACE=3600)
    assert sched.get_job("report:Daily").misfire_grace_time == 3600
    sched.shutdown()
    clock.set(2025, 1, 6, 7, 30)  # back 90 minutes after the firing, grace is an hour
    _app, sched = booted(store_path, SCHEDULER_MISFIRE_GRACE=3600)
    missed = []
    sched.add_listener(lambda e: missed.append(e.scheduled_run_time), EVENT_JOB_MISSED)
    sched.tick()
    assert schedule_runs(store_path) == []
    assert missed == [datetime(2025, 1, 6, 6, 0, tzinfo=UTC)]
    assert sched.get_job("report:Daily").next_run_time == datetime(2025, 1, 7, 6, 0, tzinfo=UTC)
    sched.shutdown()
    # down again over Tuesday's firing, back within the hour: that one is caught up
    clock.set(2025, 1, 7, 6, 45)
    _app, sched = booted(store_path, SCHEDULER_MISFIRE_GRACE=3600)
    sched.tick()
    assert schedule_runs(store_path) == [("2025-01-07T06:00:00+00:00", "schedule", "done")]


def test_a_failing_report_is_recorded_and_the_next_run_still_happens(store_path, clock,
                                                                      booted):
    _app, sched = booted(store_path)
    errors = []
    sched.add_listener(lambda e: errors.append(e), EVENT_JOB_ERROR)
    db = open_store(store_path)
    values = dict(get_scenario(db, SCENARIO).values)
    # the report now names a scenario that does not exist (removed from under it:
    # delete_scenario refuses while a report uses it)
    with db.atomic():
        db.execute("delete from scenarios where name = ?", [SCENARIO])
    clock.set(2025, 1, 6, 6, 0)
    sched.tick()
    assert schedule_runs(store_path) == [("2025-01-06T06:00:00+00:00", "schedule", "failed")]
    failed = R.list_runs(db, "Daily")["items"][0]
    assert f"no scenario called '{SCENARIO}'" in failed["error"]
    assert errors == []  # recorded by the job, not an exception escaping into the scheduler
    assert sched.get_job("report:Daily").next_run_time == datetime(2025, 1, 7, 6, 0, tzinfo=UTC)
    save_scenario(db, Scenario(SCENARIO, values))
    db.close()
    clock.set(2025, 1, 7, 6, 0)
    sched.tick()
    assert [r[2] for r in schedule_runs(store_path)] == ["failed", "done"]


def test_jobs_follow_the_definitions(store_path, clock, booted):
    app, sched = booted(store_path, SCHEDULER_SYNC_SECONDS=60)
    db = open_store(store_path)

    def jobs():
        return {j.id: str(j.trigger) for j in sched.get_jobs(jobstore="default")}

    assert list(jobs()) == ["report:Daily"]
    R.create_definition(db, "Weekly", [SCENARIO], "0 7 * * 1", ["classes"])
    ws.definitions_changed(app)
    assert set(jobs()) == {"report:Daily", "report:Weekly"}
    assert sched.get_job("report:Weekly").next_run_time == datetime(2025, 1, 6, 7, 0,
                                                                    tzinfo=UTC)
    R.update_definition(db, "Weekly", {"cron": "30 8 * * 2"})
    ws.definitions_changed(app)
    assert sched.get_job("report:Weekly").next_run_time == datetime(2025, 1, 7, 8, 30,
                                                                    tzinfo=UTC)
    R.update_definition(db, "Weekly", {"enabled": False})
    ws.definitions_changed(app)
    assert set(jobs()) == {"report:Daily"}
    # a definition changed by another process (the web app, while `caremarket scheduler`
    # runs the jobs) is picked up by the periodic sync
    R.update_definition(db, "Weekly", {"enabled": True})
    R.delete_definition(db, "Daily")
    assert set(jobs()) == {"report:Daily"}
    clock.set(2025, 1, 6, 5, 1, 1)
    sched.tick()
    assert set(jobs()) == {"report:Weekly"}
    db.close()


def test_no_duplicate_run_when_two_threads_claim_one_firing(store_path):
    firing = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    barrier = threading.Barrier(2)
    real_claim = R.claim_run
    results, failures = [], []

    def claim(*args, **kwargs):
        barrier.wait(timeout=30)  # both reach the insert before either has made it
        return real_claim(*args, **kwargs)

    def worker():
        db = open_store(store_path, migrate_schema=False)
        try:
            results.append(R.run_report(db, "Daily", "schedule", firing))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            db.close()

    R.claim_run = claim
    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        R.claim_run = real_claim
    assert failures == []
    assert sorted(r is None for r in results) == [False, True]
    assert schedule_runs(store_path) == [("2025-01-06T06:00:00+00:00", "schedule", "done")]


CHILD = """
import json, os, sys, time
from datetime import datetime
db_path, ready_dir, at = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
import apscheduler.executors.base as e, apscheduler.schedulers.base as b
import apscheduler.triggers.interval as i
from apscheduler.events import EVENT_JOB_EXECUTED
from tests.test_scheduler import Clock, ManualScheduler, fake_datetime
import caremarket.scheduler as ws
from caremarket import reports
clock = Clock(at)
b.datetime = e.datetime = i.datetime = fake_datetime(clock)
ws._now = lambda: clock.at
real_claim = reports.claim_run
def claim(*args, **kwargs):
    # both processes reach the insert before either makes it: the unique index decides
    open(os.path.join(ready_dir, str(os.getpid())), "w").close()
    deadline = time.time() + 120
    while len(os.listdir(ready_dir)) < 2 and time.time() < deadline:
        time.sleep(0.01)
    return real_claim(*args, **kwargs)
reports.claim_run = claim
app = ws.scheduler_app(db_path)
sched = ManualScheduler(**ws.scheduler_options(app))
outcome = []
sched.add_listener(lambda ev: outcome.append(ev.retval is not None), EVENT_JOB_EXECUTED)
ws.start(app, sched)
sched.tick()
sched.shutdown()
print(json.dumps({"executed": len(outcome), "ran_report": outcome}))
"""


def test_two_scheduler_processes_on_one_store_run_a_firing_once(store_path, clock, booted,
                                                                 tmp_path):
    _app, sched = booted(store_path)  # the job is in the store, due Monday 06:00
    sched.shutdown()
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    at = datetime(2025, 1, 6, 6, 0, 1, tzinfo=UTC).isoformat()
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(store_path), str(ready), at],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    # both processes found the job due and ran it; exactly one of them produced the report
    assert [o["executed"] for o in outs] == [1, 1]
    assert sorted(o["ran_report"][0] for o in outs) == [False, True]
    assert schedule_runs(store_path) == [("2025-01-06T06:00:00+00:00", "schedule", "done")]


def test_the_real_background_scheduler_runs_jobs_and_keeps_them_across_a_restart(store_path):
    app = ws.scheduler_app(store_path)
    sched = ws.build_scheduler(app)
    done = threading.Event()
    sched.add_listener(lambda e: done.set(), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    ws.start(app, sched)
    try:
        job = sched.get_job("report:Daily")
        first_fire = job.next_run_time
        assert first_fire == R.next_firing("0 6 * * *", datetime.now(UTC))
        # bring the job forward to now: the scheduler's own thread runs it
        sched.modify_job("report:Daily", next_run_time=datetime.now(UTC) +
                         timedelta(milliseconds=200))
        assert done.wait(60), "the job did not run"
    finally:
        sched.shutdown(wait=True)
    firing = R.stamp(R.last_firing("0 6 * * *", datetime.now(UTC)))
    assert schedule_runs(store_path) == [(firing, "schedule", "done")]
    # restart: the job is still there, due at its next firing
    sched = ws.build_scheduler(app)
    ws.start(app, sched)
    try:
        assert sched.get_job("report:Daily").next_run_time == first_fire
    finally:
        sched.shutdown(wait=True)


def test_the_web_app_starts_the_scheduler_only_when_asked(app, sample_db_file, tmp_path,
                                                          monkeypatch):
    from web import create_app

    ext = app.extensions["caremarket.scheduler"]
    assert not ext.running  # TESTING: never started
    path = tmp_path / "live.db"
    shutil.copy(sample_db_file, path)
    base = {"DATABASE": str(path), "SECRET_KEY": "x", "SCHEDULER_MISFIRE_GRACE": 600}
    monkeypatch.setenv("CAREMARKET_SCHEDULER", "0")
    off = create_app({**base, "SCHEDULER_ENABLED": True})
    assert not off.extensions["caremarket.scheduler"].running
    off.extensions["caremarket.tasks"].shutdown(wait=True)
    monkeypatch.delenv("CAREMARKET_SCHEDULER")
    off = create_app({**base, "SCHEDULER_ENABLED": False})
    assert not off.extensions["caremarket.scheduler"].running
    off.extensions["caremarket.tasks"].shutdown(wait=True)
    on = create_app({**base, "SCHEDULER_ENABLED": True})
    sched = on.extensions["caremarket.scheduler"]
    try:
        assert sched.running
        job = sched.get_job(f"report:{R.SAMPLE_REPORT}")
        assert job.misfire_grace_time == 600 and job.coalesce
        deadline = time.time() + 5
        while time.time() < deadline and not sched.get_job(ws.SYNC_JOB):
            time.sleep(0.05)
        assert sched.get_job(ws.SYNC_JOB)
    finally:
        ws.stop(sched)
        on.extensions["caremarket.tasks"].shutdown(wait=True)
