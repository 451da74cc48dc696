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
