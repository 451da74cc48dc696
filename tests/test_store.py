"""The store: migrations upgrade in place without losing rows; content hash; WAL durability."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from caremarket.migrations import MIGRATIONS, current_version, migrate
from caremarket.store import content_hash, open_store


def test_new_store_is_at_latest_version(db):
    assert current_version(db) == max(v for v, _, _ in MIGRATIONS)
    for table in ("zones", "homecare_providers", "care_homes", "fee_rates", "travel_times",
                  "self_funder_figures", "imports", "users", "api_tokens", "runs",
                  "report_definitions", "report_runs", "audit_log", "cqc_locations"):
        assert table in db.table_names()


def test_migration_upgrades_a_store_made_by_the_previous_schema(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    assert migrate(old, target=1) == [1]
    old["zones"].insert({"zone_id": "Z1", "name": "Old zone", "demand_hours": 12.5})
    old["care_homes"].insert({"provider_id": "H1", "name": "Old home", "beds": 30})
    old.conn.commit()
    old.close()

    upgraded = open_store(path)  # opening migrates
    assert current_version(upgraded) == max(v for v, _, _ in MIGRATIONS)
    assert [r["name"] for r in upgraded["zones"].rows] == ["Old zone"]
    assert upgraded["care_homes"].get("H1")["beds"] == 30
    assert "users" in upgraded.table_names() and "cqc_locations" in upgraded.table_names()
    applied = [r["version"] for r in upgraded["schema_migrations"].rows]
    assert applied == sorted(applied) == [v for v, _, _ in MIGRATIONS]
    assert migrate(upgraded) == []  # idempotent


def test_content_hash_changes_with_the_data_and_not_with_timestamps(db):
    h0 = content_hash(db)
    db["zones"].insert({"zone_id": "Z1", "demand_hours": 1.0, "updated_at": "a"})
    h1 = content_hash(db)
    db["zones"].update("Z1", {"updated_at": "b"})
    assert content_hash(db) == h1 != h0


def test_committed_rows_survive_a_process_that_dies(tmp_path):
    """WAL mode: what was committed is on disk even if the process never closes the store."""
    import subprocess
    import sys

    path = tmp_path / "crash.db"
    code = (
        "from caremarket.store import open_store; import os\n"
        f"db = open_store({str(path)!r})\n"
        "with db.atomic():\n    db['zones'].insert({'zone_id': 'Z1'})\n"
        "db.conn.execute('BEGIN'); db['zones'].insert({'zone_id': 'Z2'})\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 9
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("select zone_id from zones")] == ["Z1"]
