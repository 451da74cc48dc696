"""Numbered schema migrations. Each upgrades a store in place, inside one transaction.

Never edit a migration that has shipped: add the next number. `schema_migrations` records what
has been applied, so opening an older store upgrades it without losing rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

Migration = tuple[int, str, Callable[[sqlite_utils.Database], None]]


def _m001_market(db: sqlite_utils.Database) -> None:
    """Market data: zones, providers, care homes, sites, fees, self-funders, travel, imports."""
    db["zones"].create({
        "zone_id": str, "name": str, "lat": float, "lon": float, "rurality": str,
        "demand_hours": float, "demand_estimated": int, "hop_minutes": float,
        "population_total": float, "population_65_74": float, "population_75_84": float,
        "population_85_plus": float, "population_65_plus": float, "self_funder_share": float,
        "ruc_code": str, "la_code": str, "la_name": str, "updated_at": str,
    }, pk="zone_id")
    common = {
        "provider_id": str, "name": str, "lat": float, "lon": float, "postcode": str,
        "zone_id": str, "group_id": str, "group_name": str, "cqc_rating": str,
        "cqc_rating_date": str, "la_name": str, "placed_by": str,
    }
    db["homecare_providers"].create({
        **common, "capacity_hours": float, "max_travel_minutes": float,
        "self_funder_share": float, "self_funder_hourly_rate": float, "la_hourly_rate": float,
        "updated_at": str,
    }, pk="provider_id")
    db["care_homes"].create({
        **common, "beds": int, "occupancy": float, "self_funder_share": float,
        "self_funder_fee": float, "la_fee": float, "cost_per_resident_week": float,
        "capital_cost_per_bed_week": float, "nursing": int, "updated_at": str,
    }, pk="provider_id")
    db["sites"].create({"site_id": str, "name": str, "lat": float, "lon": float,
                        "capacity_hours": float, "updated_at": str}, pk="site_id")
    db["fee_rates"].create({
        "fee_id": str, "funder": str, "service": str, "unit": str, "amount": float,
        "effective_from": str, "provider_id": str, "zone_id": str, "note": str,
        "updated_at": str,
    }, pk="fee_id")
    db["self_funder_figures"].create({
        "figure_id": str, "area_id": str, "service": str, "self_funder_share": float,
        "self_funders": float, "as_of": str, "source": str, "updated_at": str,
    }, pk="figure_id")
    db["travel_times"].create({"provider_id": str, "zone_id": str, "minutes": float,
                               "source": str, "updated_at": str}, pk=("provider_id", "zone_id"))
    db["travel_times"].create_index(["zone_id"])
    db["postcodes"].create({"postcode": str, "lat": float, "lon": float}, pk="postcode")
    db["imports"].create({
        "id": int, "kind": str, "file_name": str, "content_hash": str, "user": str,
        "started_at": str, "finished_at": str, "status": str, "rows_read": int, "records": int,
        "by_type": str, "rejected": int, "unplaced": str, "message": str,
    }, pk="id")


def _m002_app(db: sqlite_utils.Database) -> None:
    """What the app needs around the data: users, tokens, audit, scenarios, runs, reports."""
    db["users"].create({"id": int, "email": str, "password_hash": str, "role": str,
                        "created_at": str, "active": int}, pk="id")
    db["users"].create_index(["email"], unique=True)
    db["api_tokens"].create({"id": int, "user_id": int, "name": str, "token_hash": str,
                             "prefix": str, "created_at": str, "last_used_at": str,
                             "revoked_at": str}, pk="id", foreign_keys=[("user_id", "users")])
    db["api_tokens"].create_index(["token_hash"], unique=True)
    db["audit_log"].create({"id": int, "at": str, "user": str, "action": str, "target": str,
                            "detail": str}, pk="id")
    db["scenarios"].create({"name": str, "description": str, "params": str, "created_by": str,
                            "created_at": str, "updated_at": str}, pk="name")
    db["runs"].create({
        "id": int, "kind": str, "status": str, "progress": float, "params": str,
        "parameters": str, "input_hash": str, "result": str, "error": str, "user": str,
        "created_at": str, "finished_at": str,
    }, pk="id")
    db["runs"].create_index(["kind", "created_at"])
    db["report_definitions"].create({
        "name": str, "description": str, "scenarios": str, "measures": str, "cron": str,
        "enabled": int, "created_by": str, "created_at": str, "updated_at": str,
    }, pk="name")
    db["report_runs"].create({
        "id": int, "report_name": str, "scheduled_for": str, "started_at": str,
        "finished_at": str, "status": str, "error": str, "input_hash": str, "trigger": str,
        "result": str,
    }, pk="id")
    db["report_runs"].create_index(["report_name", "scheduled_for"], unique=True)


def _m003_cqc_locations(db: sqlite_utils.Database) -> None:
    """Every location of a CQC file, social care or not, so an import accounts for all of them."""
    db["cqc_locations"].create({
        "location_id": str, "name": str, "location_type": str, "inspection_category": str,
        "care_home": int, "homecare": int, "nursing": int, "beds": int, "postcode": str, "lat": float,
        "lon": float, "la_name": str, "group_id": str, "group_name": str, "cqc_rating": str,
        "cqc_rating_date": str, "role": str, "updated_at": str,
    }, pk="location_id")


def _m004_run_worker(db: sqlite_utils.Database) -> None:
    """Which process carries out a run (host:pid), so a restart fails only runs whose process
    is gone, not those another live process (a second web worker, the scheduler) is running."""
    db["runs"].add_column("worker", str)


def _m005_report_run_worker(db: sqlite_utils.Database) -> None:
    """Report runs share the model runs' lifecycle (caremarket.runs): the process carrying one
    out is recorded, so a restart fails those whose process is gone; `queued` is a status of
    its own, and the user who asked for the run is kept to cap each user's queue."""
    db["report_runs"].add_column("worker", str)
    db["report_runs"].add_column("user", str)
    db["report_runs"].add_column("progress", float)


def _m006_import_changes(db: sqlite_utils.Database) -> None:
    """Undo for imports (caremarket.undo): each row an accepted import inserted, updated or
    deleted, with the row as it was; and when and by whom an import was reverted."""
    db["import_changes"].create({"import_id": int, "seq": int, "table_name": str,
                                 "action": str, "key": str, "previous": str},
                                pk=("import_id", "seq"))
    db["import_changes"].create_index(["table_name", "key"])
    db["imports"].add_column("reverted_at", str)
    db["imports"].add_column("reverted_by", str)


def _m008_cost_returns(db: sqlite_utils.Database) -> None:
    """Fair Cost of Care returns (market.fcoc): one row per provider return, its cost lines as
    a JSON object (the lines vary by template and council) and their total."""
    db["cost_returns"].create({
        "return_id": str, "service": str, "category": str, "provider_id": str,
        "contact_hours": float, "visit_minutes": float, "beds": float, "occupancy": float,
        "carer_basic_pay": float, "lines": str, "total": float, "updated_at": str,
    }, pk="return_id")
    db["cost_returns"].create_index(["service", "category"])


def _m007_session_version(db: sqlite_utils.Database) -> None:
    """A per-user session version, kept in each login's session cookie and checked on every
    request: logout, a password or role change and disabling the user bump it, which ends
    every session that user had (a signed cookie alone outlives a logout)."""
    db["users"].add_column("session_version", int, not_null_default=0)


def _m009_zone_boundaries(db: sqlite_utils.Database) -> None:
    """Zone boundaries (caremarket.boundaries): each zone's polygon as GeoJSON in WGS84,
    simplified for the browser, with the CRS it was read in and its vertex count."""
    db["zone_boundaries"].create({"zone_id": str, "geometry": str, "source_crs": str,
                                  "vertices": int, "updated_at": str}, pk="zone_id")


def _m010_report_type(db: sqlite_utils.Database) -> None:
    """A report definition's type: fee_impact (every report so far) or msp (the Market
    Sustainability Plan evidence pack, caremarket/reports.py)."""
    db["report_definitions"].add_column("report_type", str, not_null_default="fee_impact")


MIGRATIONS: list[Migration] = [
    (1, "market data", _m001_market),
    (2, "accounts, runs and reports", _m002_app),
    (3, "CQC locations", _m003_cqc_locations),
    (4, "run worker", _m004_run_worker),
    (5, "report run worker", _m005_report_run_worker),
    (6, "import changes (undo)", _m006_import_changes),
    (7, "session version", _m007_session_version),
    (8, "Fair Cost of Care returns", _m008_cost_returns),
    (9, "zone boundaries", _m009_zone_boundaries),
    (10, "report types (the evidence pack)", _m010_report_type),
]


def current_version(db: sqlite_utils.Database) -> int:
    if "schema_migrations" not in db.table_names():
        return 0
    row = db.execute("select max(version) from schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite_utils.Database, target: int | None = None) -> list[int]:
    """Apply every migration the store has not recorded (up to `target`); return those applied.

    A migration is applied by its number whether or not a higher one is recorded, so branches
    that added migrations in another order still bring every store up to date.
    """
    if "schema_migrations" not in db.table_names():
        with db.atomic():
            db["schema_migrations"].create({"version": int, "name": str, "applied_at": str},
                                           pk="version")
    applied = []
    for version, name, fn in MIGRATIONS:
        done = {r[0] for r in db.execute("select version from schema_migrations")}
        if version in done or (target is not None and version > target):
            continue
        with db.atomic():
            fn(db)
            db["schema_migrations"].insert({"version": version, "name": name,
                                            "applied_at": datetime.now(UTC).isoformat()})
        applied.append(version)
    return applied

