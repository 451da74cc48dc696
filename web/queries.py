"""Read-side handlers: plain functions from the store (and request args) to JSON-ready dicts.

The pages render the same dicts that the `/api/v1` routes return (one view, two formats).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlite_utils

from caremarket import analyses, paging, tables
from caremarket.overview import overview as market_overview
from caremarket.scenario_store import get_scenario
from market.errors import UnknownEntity

PROVIDER_KINDS = {"homecare": "homecare_providers", "care_home": "care_homes"}
SORTABLE = {"provider_id", "name", "capacity_hours", "beds", "occupancy", "self_funder_share",
            "la_fee", "self_funder_fee", "la_hourly_rate", "self_funder_hourly_rate",
            "cqc_rating", "zone_id", "group_name", "kind", "rurality"}


def _rows(db: sqlite_utils.Database, sql: str, params: list | None = None) -> list[dict]:
    cur = db.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def paginate(items_sql: str, params: list, db, page: int, per_page: int,
             order: str) -> dict[str, Any]:
    """A page of `items_sql` (caremarket.paging, the one pagination helper)."""
    return paging.paginate_sql(db, items_sql, params, order,
                               {"page": page, "per_page": per_page})


PROVIDERS_SQL = """
select 'homecare' as kind, h.provider_id, h.name, h.group_id, h.group_name, h.zone_id,
       z.rurality, h.lat, h.lon, h.postcode, h.cqc_rating, h.capacity_hours, null as beds,
       null as occupancy, h.self_funder_share, h.la_hourly_rate, h.self_funder_hourly_rate,
       null as la_fee, null as self_funder_fee, null as nursing
from homecare_providers h left join zones z on z.zone_id = h.zone_id
union all
select 'care_home', c.provider_id, c.name, c.group_id, c.group_name, c.zone_id, z.rurality,
       c.lat, c.lon, c.postcode, c.cqc_rating, null, c.beds, c.occupancy, c.self_funder_share,
       null, null, c.la_fee, c.self_funder_fee, c.nursing
from care_homes c left join zones z on z.zone_id = c.zone_id
"""


def _providers_query(args: dict[str, Any]) -> tuple[str, list[Any], str]:
    """(sql, params, order) of the providers that `args` filters and sorts."""
    where, params = [], []
    kind = args.get("kind")
    if kind:
        if kind not in PROVIDER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PROVIDER_KINDS)}")
        where.append("kind = ?")
        params.append(kind)
    if args.get("q"):
        where.append("(name like ? or provider_id like ? or postcode like ? or group_name like ?)")
        params += [f"%{args['q']}%"] * 4
    for key in ("zone_id", "rurality", "group_id", "cqc_rating"):
        if args.get(key):
            where.append(f"{key} = ?")
            params.append(args[key])
    sql = PROVIDERS_SQL if not where else f"select * from ({PROVIDERS_SQL}) where " + " and ".join(
        where)
    sort = args.get("sort") or "name"
    desc = sort.startswith("-")
    if sort.lstrip("-") not in SORTABLE:
        raise ValueError(f"cannot sort by '{sort}'; sortable: {', '.join(sorted(SORTABLE))}")
    order = f"[{sort.lstrip('-')}] {'desc' if desc else 'asc'}, provider_id"
    return sql, params, order


def providers(db, args: dict[str, Any]) -> dict[str, Any]:
    """Both kinds of provider, filterable by kind, text, zone, rurality, group, rating."""
    sql, params, order = _providers_query(args)
    return paginate(sql, params, db, int(args.get("page", 1)), int(args.get("per_page", 100)),
                    order)


def providers_table(db, args: dict[str, Any]) -> tables.Table:
    """Every provider that `args` filters, in its order (the list's rows, unpaginated)."""
    sql, params, order = _providers_query(args)
    filters = {k: v for k, v in args.items() if k not in ("page", "per_page") and v}
    return tables.Table(tables.PROVIDERS, _rows(db, f"select * from ({sql}) order by {order}", params),
                        {"filters": filters or "none"})


def provider(db, provider_id: str, scenario: str | None = None) -> dict[str, Any]:
    """One provider: its row, stored record, fees, travel, and `viability` now and under the
    saved scenario `scenario` (read from the equalisation runs: analyses.provider_viability)."""
    rows = _rows(db, f"select * from ({PROVIDERS_SQL}) where provider_id = ?", [provider_id])
    if not rows:
        raise UnknownEntity(f"no provider '{provider_id}'")
    out = rows[0]
    table = PROVIDER_KINDS[out["kind"]]
    out["record"] = _rows(db, f"select * from [{table}] where provider_id = ?", [provider_id])[0]
    out["fees"] = _rows(db, "select * from fee_rates where provider_id = ? or (provider_id is "
                            "null and zone_id is null and service in (?, ?, ?)) "
                            "order by effective_from desc",
                        [provider_id, "homecare" if out["kind"] == "homecare" else "residential",
                         "nursing" if out["kind"] == "care_home" else "homecare", "-"])
    out["travel"] = _rows(db, "select t.zone_id, z.name, z.rurality, t.minutes from "
                              "travel_times t left join zones z using (zone_id) where "
                              "t.provider_id = ? order by t.minutes limit 200", [provider_id])
    if scenario is not None:
        get_scenario(db, scenario)  # UnknownEntity: a 404 naming it
    out["viability"] = {"now": analyses.provider_viability(db, out),
                        "scenario": analyses.provider_viability(db, out, scenario)
                        if scenario else None}
    return out


def _zones_query(args: dict[str, Any]) -> tuple[str, list[Any]]:
    where, params = [], []
    if args.get("rurality"):
        where.append("rurality = ?")
        params.append(args["rurality"])
    if args.get("q"):
        where.append("(zone_id like ? or name like ?)")
        params += [f"%{args['q']}%"] * 2
    sql = ("select zone_id, name, lat, lon, rurality, demand_hours, demand_estimated, "
           "hop_minutes, population_65_plus, population_85_plus, self_funder_share, la_name "
           "from zones") + (" where " + " and ".join(where) if where else "")
    return sql, params


def zones(db, args: dict[str, Any]) -> dict[str, Any]:
    """The zones, filterable by rurality and text (id or name)."""
    sql, params = _zones_query(args)
    return paginate(sql, params, db, int(args.get("page", 1)), int(args.get("per_page", 500)),
                    "zone_id")


def zones_table(db, args: dict[str, Any]) -> tables.Table:
    """Every zone that `args` filters (the list's rows, unpaginated)."""
    sql, params = _zones_query(args)
    filters = {k: v for k, v in args.items() if k not in ("page", "per_page") and v}
    return tables.Table(tables.ZONES, _rows(db, f"{sql} order by zone_id", params),
                        {"filters": filters or "none"})


def zone(db, zone_id: str) -> dict[str, Any]:
    rows = _rows(db, "select * from zones where zone_id = ?", [zone_id])
    if not rows:
        raise UnknownEntity(f"no zone '{zone_id}'")
    out = rows[0]
    out["care_homes"] = _rows(db, "select provider_id, name, beds from care_homes where "
                                  "zone_id = ?", [zone_id])
    out["fees"] = _rows(db, "select * from fee_rates where zone_id = ?", [zone_id])
    return out


def _date(field: str, value: Any) -> str:
    """A YYYY-MM-DD date argument, checked before it reaches a query (compared as text, a
    non-date would match every row); ValueError naming the argument otherwise."""

    text = str(value).strip()
    try:
        parsed = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"{field}: {text[:40]!r} is not a date (give YYYY-MM-DD)")
    return parsed.isoformat()


def fees(db, args: dict[str, Any]) -> dict[str, Any]:
    where, params = [], []
    for key in ("funder", "service", "zone_id", "provider_id"):
        if args.get(key):
            where.append(f"{key} = ?")
            params.append(args[key])
    if args.get("as_of"):
        where.append("effective_from <= ?")
        params.append(_date("as_of", args["as_of"]))
    sql = "select * from fee_rates" + (" where " + " and ".join(where) if where else "")
    return paginate(sql, params, db, int(args.get("page", 1)), int(args.get("per_page", 200)),
                    "service, funder, effective_from desc, fee_id")


def current_rate(db, funder: str, service: str, as_of: str, zone_id: str | None = None,
                 provider_id: str | None = None) -> float | None:
    """The rate in force on `as_of`: provider scope beats zone scope beats the general rate."""
    for scope, value in (("provider_id", provider_id), ("zone_id", zone_id), (None, None)):
        if scope and not value:
            continue
        cond = f"{scope} = ?" if scope else "provider_id is null and zone_id is null"
        row = db.execute(f"select amount from fee_rates where funder = ? and service = ? and "
                         f"effective_from <= ? and {cond} order by effective_from desc limit 1",
                         [funder, service, as_of] + ([value] if scope else [])).fetchone()
        if row:
            return float(row[0])
    return None


def overview(db) -> dict[str, Any]:
    """The market at a glance (caremarket.overview: the evidence pack reads it too)."""
    return market_overview(db)


IMPORTS_SQL = ("select id, kind, file_name, content_hash, user, started_at, finished_at, "
               "status, rows_read, records, by_type, rejected, unplaced, message, "
               "reverted_at, reverted_by from imports")


def _import_item(item: dict[str, Any]) -> dict[str, Any]:
    item["by_type"] = json.loads(item["by_type"] or "{}")
    item["unplaced"] = json.loads(item["unplaced"] or "[]")
    item["unplaced_count"] = len(item["unplaced"])
    return item


def imports(db, args: dict[str, Any]) -> dict[str, Any]:
    out = paginate(IMPORTS_SQL, [], db, int(args.get("page", 1)),
                   int(args.get("per_page", 50)), "id desc")
    out["items"] = [_import_item(i) for i in out["items"]]
    return out


def imports_table(db) -> tables.Table:
    """The whole import history, newest first."""
    return tables.Table(tables.IMPORTS, [_import_item(i) for i in
                                         _rows(db, IMPORTS_SQL + " order by id desc")])


def map_layers(db) -> dict[str, Any]:
    zones_ = _rows(db, "select zone_id, name, lat, lon, rurality, demand_hours from zones "
                       "where lat is not null and lon is not null")
    homes = _rows(db, "select provider_id, name, lat, lon, beds, 'care_home' as kind from "
                      "care_homes where lat is not null")
    agencies = _rows(db, "select provider_id, name, lat, lon, capacity_hours, 'homecare' as "
                         "kind from homecare_providers where lat is not null")
    sites = _rows(db, "select site_id, name, lat, lon, capacity_hours from sites where lat "
                      "is not null")
    return {"zones": zones_, "care_homes": homes, "homecare_providers": agencies,
            "sites": sites}
