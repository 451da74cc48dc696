"""Run bookkeeping: who carries out a run, and what a restart does with unfinished runs."""

from __future__ import annotations

import socket
import subprocess
import sys

from caremarket.migrations import current_version, migrate
from caremarket.runs import fail_orphaned_runs, get_run, start_run, worker_id
from caremarket.store import open_store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_restart_fails_only_the_runs_whose_process_is_gone(db):
    mine = start_run(db, "coverage")
    assert get_run(db, mine)["worker"] == worker_id()
    host = socket.gethostname()
    dead = start_run(db, "coverage")
    db["runs"].update(dead, {"worker": f"{host}:{_dead_pid()}"})
    elsewhere = start_run(db, "equalisation")
    db["runs"].update(elsewhere, {"worker": "another-host:1"})
    legacy = start_run(db, "coverage")
    db["runs"].update(legacy, {"worker": None})
    reused = start_run(db, "coverage")  # this pid, but an earlier process that had it
    db["runs"].update(reused, {"worker": worker_id().rsplit(":", 1)[0] + ":1"})
    done = start_run(db, "coverage")
    db["runs"].update(done, {"status": "done", "worker": f"{host}:{_dead_pid()}"})

    assert sorted(fail_orphaned_runs(db)) == sorted([dead, legacy, reused])
    assert get_run(db, reused)["status"] == "failed"
    assert get_run(db, dead)["status"] == "failed"
    assert "interrupted" in get_run(db, dead)["error"]
    assert get_run(db, legacy)["status"] == "failed"
    assert get_run(db, mine)["status"] == "running"  # this live process is carrying it out
    assert get_run(db, elsewhere)["status"] == "running"  # cannot tell: left alone
    assert get_run(db, done)["status"] == "done"
    assert fail_orphaned_runs(db) == []  # idempotent


def test_migration_4_adds_the_worker_to_a_store_of_schema_3(tmp_path):
    path = tmp_path / "old.db"
    from sqlite_utils import Database

    old = Database(path)
    migrate(old, target=3)
    old["runs"].insert({"kind": "coverage", "status": "done", "created_at": "2026-01-01"})
    assert current_version(old) == 3 and "worker" not in old["runs"].columns_dict
    old.close()
    db = open_store(path)
    try:
        assert current_version(db) >= 4
        assert "worker" in db["runs"].columns_dict
        assert db["runs"].count == 1  # nothing lost
    finally:
        db.close()


def test_app_start_leaves_a_live_workers_run_alone(app, client):
    """A second app (another web worker) starting on the same store must not fail this
    process's running run."""
    from web import create_app

    db = open_store(app.config["DATABASE"])
    try:
        run_id = start_run(db, "coverage")
    finally:
        db.close()
    other = create_app({"TESTING": True, "DATABASE": app.config["DATABASE"], "SECRET_KEY": "x",
                        "SCHEDULER_ENABLED": False})
    other.extensions["caremarket.tasks"].shutdown()
    db = open_store(app.config["DATABASE"])
    try:
        assert get_run(db, run_id)["status"] == "running"
    finally:
        db.close()


def test_the_only_admin_cannot_be_demoted_and_a_reported_scenario_cannot_be_deleted(
        sample_db):
    import pytest

    from caremarket import accounts, reports
    from caremarket.scenario_store import delete_scenario
    from market.errors import InvalidScenario

    accounts.create_user(sample_db, "boss@example.org", "boss-password-1", "admin")
    with pytest.raises(accounts.AccountError, match="only admin"):
        accounts.set_role(sample_db, "boss@example.org", "viewer", actor="test")
    accounts.create_user(sample_db, "deputy@example.org", "deputy-password-1", "admin")
    accounts.set_role(sample_db, "boss@example.org", "viewer", actor="test")  # now allowed
    used = reports.list_definitions(sample_db)[0]["scenarios"][0]
    with pytest.raises(InvalidScenario, match="used by report"):
        delete_scenario(sample_db, used)


# -- issue 11: the queue cap, and a restart straight after a kill -9 ----------------------------

def test_the_queue_cap_refuses_a_run_past_the_limit_naming_it(app, api_token):
    """RUNS_PER_USER counts queued and running runs, model and report together; a run past
    it is a 429 naming the limit, and the same user may run again once one has finished."""
    from caremarket import reports
    from tests.conftest import bearer, email_for

    app.config["RUNS_PER_USER"] = 2
    client = app.test_client()
    headers = bearer(api_token("analyst"))
    store = open_store(app.config["DATABASE"])
    try:
        queued = start_run(store, "coverage", user=email_for("analyst"), status="queued")
        name = store.execute("select name from report_definitions limit 1").fetchone()[0]
        report_run = reports.begin_run(store, name, user=email_for("analyst"), status="queued")
        resp = client.post("/api/v1/runs", json={"kind": "coverage"}, headers=headers)
        assert resp.status_code == 429
        error = resp.get_json()["error"]
        assert error["code"] == "too_many_requests" and error["details"] == {"limit": 2}
        assert "2 runs queued or running" in error["message"]
        # a report run is refused the same way
        resp = client.post(f"/api/v1/reports/{name}/run", headers=headers)
        assert resp.status_code == 429
        # another user is not held back by this one's queue
        other = client.post("/api/v1/runs", json={"kind": "coverage"},
                            headers=bearer(api_token("admin")))
        assert other.status_code == 202
        with store.atomic():
            store["runs"].update(queued, {"status": "done"})
            store["report_runs"].update(report_run, {"status": "failed"})
    finally:
        store.close()
    assert client.post("/api/v1/runs", json={"kind": "coverage"},
                       headers=headers).status_code == 202


CHILD = """
import sys, time
from caremarket import reports
from caremarket.runs import start_run
from caremarket.store import open_store
db = open_store(sys.argv[1])
name = db.execute("select name from report_definitions limit 1").fetchone()[0]
model = start_run(db, "coverage", user="analyst@example.org")
report = reports.begin_run(db, name, user="analyst@example.org")
db.close()
print(model, report, flush=True)
time.sleep(120)
"""


def test_report_and_model_runs_fail_after_a_kill_9_and_a_restart_within_a_second(
        sample_db_file, tmp_path, monkeypatch):
    """The worker is killed with SIGKILL and never reaped (a zombie, as under a parent that
    does not wait); an app started at once fails both its model run and its report run."""
    import shutil
    import signal
    import time
    from pathlib import Path

    from caremarket.reports import get_run as get_report_run
    from web import create_app

    path = tmp_path / "store.db"
    shutil.copy(sample_db_file, path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        model, report = map(int, child.stdout.readline().split())
        child.send_signal(signal.SIGKILL)
        stat = Path(f"/proc/{child.pid}/stat")
        for _ in range(100):  # the kernel makes it a zombie almost at once
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        # not reaped: a zombie, with the recorded pid and start time (what fooled the check)
        assert stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        monkeypatch.setenv("CAREMARKET_INSTANCE", str(tmp_path / "instance"))
        app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "t",
                          "SCHEDULER_ENABLED": False})
        app.extensions["caremarket.tasks"].shutdown(wait=True)
        store = open_store(path)
        try:
            assert get_run(store, model)["status"] == "failed"
            assert "interrupted" in get_run(store, model)["error"]
            assert get_report_run(store, report)["status"] == "failed"
        finally:
            store.close()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
