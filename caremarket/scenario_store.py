"""Named scenarios in the store (the `scenarios` table): save, get, list, delete.

The scenario itself is a value (market.scenarios.Scenario); this module only persists it, its
parameter mapping as JSON in `params`.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from caremarket.store import now
from market.errors import InvalidScenario, UnknownEntity
from market.scenarios import Scenario

# GET /api/v1/scenarios/compare(.csv, .xlsx) compares saved scenarios
RESERVED_NAMES = ("compare", "compare.csv", "compare.xlsx")


def save_scenario(db: sqlite_utils.Database, scenario: Scenario,
                  user: str | None = None) -> Scenario:
    """Insert or replace `scenario` by name (keeping its creation time and author). A name
    that is part of the web addresses (RESERVED_NAMES: /scenarios/compare) is refused."""
    if scenario.name.lower() in RESERVED_NAMES:
        raise InvalidScenario(f"scenario name '{scenario.name}' is reserved (it is part of the "
                              "web addresses); choose another")
    existing = list(db["scenarios"].rows_where("name = ?", [scenario.name]))
    stamp = now()
    row = {"name": scenario.name, "description": scenario.description,
           "params": json.dumps(dict(scenario.values), sort_keys=True),
           "created_by": existing[0]["created_by"] if existing else user,
           "created_at": existing[0]["created_at"] if existing else stamp,
           "updated_at": stamp}
    with db.atomic():
        db["scenarios"].upsert(row, pk="name")
    return scenario


def _scenario(row: dict[str, Any]) -> Scenario:
    return Scenario(row["name"], json.loads(row["params"] or "{}"), row["description"] or "")


def get_scenario(db: sqlite_utils.Database, name: str) -> Scenario:
    """Return the scenario called `name`; UnknownEntity when there is none."""
    rows = list(db["scenarios"].rows_where("name = ?", [name]))
    if not rows:
        known = ", ".join(r["name"] for r in db["scenarios"].rows) or "none saved"
        raise UnknownEntity(f"no scenario called '{name}' (saved: {known})")
    return _scenario(rows[0])


def list_scenarios(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Return every saved scenario as a dict (name, description, values, who and when)."""
    out = []
    for row in db["scenarios"].rows_where(order_by="name"):
        sc = _scenario(row)
        out.append({**sc.to_dict(), "created_by": row["created_by"],
                    "created_at": row["created_at"], "updated_at": row["updated_at"]})
    return out


def delete_scenario(db: sqlite_utils.Database, name: str) -> None:
    """Delete the scenario called `name`; UnknownEntity when there is none, InvalidScenario
    when a report definition uses it (its next run would fail)."""
    get_scenario(db, name)
    users = [r[0] for r in db.execute("select name, scenarios from report_definitions")
             if name in json.loads(r[1] or "[]")] \
        if "report_definitions" in db.table_names() else []
    if users:
        raise InvalidScenario(f"scenario '{name}' is used by report(s) {', '.join(users)}: "
                              "take it out of them first")
    with db.atomic():
        db["scenarios"].delete(name)
