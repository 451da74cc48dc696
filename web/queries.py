"""Read-side handlers: plain functions from the store (and request args) to JSON-ready dicts.

The pages render the same dicts that the `/api/v1` routes return (one view, two formats).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import sqlite_utils

from caremarket import analyses, paging, tables
from caremarket.overview import overview as market_overview
from caremarket.scenario_store import get_scenario
from market.errors import UnknownEntity
from market.levers import DATE_PATTERN

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


POPULATION_BANDS = (("65-74", "population_65_74"), ("75-84", "population_75_84"),
                    ("85+", "population_85_plus"))


def zone(db, zone_id: str) -> dict[str, Any]:
    """One zone as the zone page shows it (`GET /api/v1/zones/<id>` returns the same dict).

    The stored record (rurality, population, demand, self-funder share), `population` by age
    band, its care homes with beds and self-funder shares, the agencies based in it, the
    zone-scoped fee rates, and from the latest runs (analyses.zone_profile) `coverage`: met and
    unmet hours, travel and cost per contact hour against the LA rate, the agencies in reach
    with their minutes; `equalisation`: its homes' classes before and after.
    """
    rows = _rows(db, "select * from zones where zone_id = ?", [zone_id])
    if not rows:
        raise UnknownEntity(f"no zone '{zone_id}'")
    out = rows[0]
    out["population"] = [{"band": band, "people": out.get(col)} for band, col in
                         POPULATION_BANDS]
    out["care_homes"] = _rows(db, "select provider_id, name, beds, occupancy, "
                                  "self_funder_share, la_fee, self_funder_fee, cqc_rating, "
                                  "nursing from care_homes where zone_id = ? order by name, "
                                  "provider_id", [zone_id])
    homes = out["care_homes"]
    out["beds"] = sum(h["beds"] or 0 for h in homes)
    filled = [(h["beds"] * h["occupancy"], h["self_funder_share"]) for h in homes
              if h["beds"] and h["occupancy"] is not None and h["self_funder_share"] is not None]
    weight = sum(w for w, _ in filled)
    out["care_home_self_funder_share"] = (sum(w * s for w, s in filled) / weight
                                          if weight > 0 else None)
    out["homecare_providers"] = _rows(db, "select provider_id, name, capacity_hours from "
                                          "homecare_providers where zone_id = ? order by name, "
                                          "provider_id", [zone_id])
    out["fees"] = _rows(db, "select * from fee_rates where zone_id = ?", [zone_id])
    out.update(analyses.zone_profile(db, out))
    return out


def _date(field: str, value: Any) -> str:
    """A YYYY-MM-DD date argument, checked before it reaches a query (compared as text, a
    non-date would match every row); ValueError naming the argument otherwise."""

    text = str(value)
    try:  # exactly YYYY-MM-DD, as the API's schema states (format date)
        parsed = date.fromisoformat(text) if re.fullmatch(DATE_PATTERN, text) else None
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
    """The market at a glance (caremarket.overview: the evidence pack reads it too), with the
    `headline` the Overview opens with (`headline`)."""
    out = market_overview(db)
    out["headline"] = headline(db, out["freshness"], out["as_of"])
    return out


def headline(db, freshness: list[dict[str, Any]], today: str) -> dict[str, Any]:
    """What the Overview says first, in words: demand met and the zones with gaps (the latest
    coverage run), care homes at risk (the latest equalisation run), how fresh the data is.

    Read from the runs' stored results (SQLite's json_each: no result is loaded whole, no
    model is solved); a figure with no run to read it from is None.
    """
    out: dict[str, Any] = {"coverage": None, "equalisation": None}
    cov = db.execute("select id, finished_at, json_extract(result, '$.coverage'), "
                     "json_extract(result, '$.met_hours'), json_extract(result, "
                     "'$.demand_hours'), json_extract(result, '$.unmet_hours'), "
                     "json_extract(result, '$.cost_of_care.zones_unreached'), "
                     "json_extract(result, '$.levers.max_minutes'), "
                     "json_extract(result, '$.parameters.max_travel_minutes') "
                     "from runs where kind = 'coverage' and status = 'done' "
                     "order by id desc limit 1").fetchone()
    if cov:
        floor = max(1e-6, 1e-6 * (cov[4] or 0))  # the care-gap floor of optimizer.coverage
        gaps = db.execute("select count(*) from runs, json_each(runs.result, '$.zones') j "
                          "where runs.id = ? and json_extract(j.value, '$.unmet_hours') > ?",
                          [cov[0], floor]).fetchone()[0]
        zones = db.execute("select json_array_length(result, '$.zones') from runs where id = ?",
                           [cov[0]]).fetchone()[0]
        out["coverage"] = {"run_id": cov[0], "finished_at": cov[1], "share_met": cov[2],
                           "met_hours": cov[3], "demand_hours": cov[4], "unmet_hours": cov[5],
                           "zones": zones, "zones_with_gap": gaps, "zones_unreached": cov[6],
                           "max_minutes": cov[7] if cov[7] is not None else cov[8]}
    eq = db.execute("select id, finished_at, json_extract(result, '$.headline'), "
                    "json_extract(result, '$.scenario'), json_extract(result, "
                    "'$.scenario_name') from runs where kind = 'equalisation' and status = "
                    "'done' order by id desc limit 1").fetchone()
    if eq:
        h = json.loads(eq[2]) if eq[2] else {}
        by = h.get("homes_by_class") or {}
        out["equalisation"] = {
            "run_id": eq[0], "finished_at": eq[1], "scenario": json.loads(eq[3] or "{}"),
            "scenario_name": eq[4], "care_homes": h.get("care_homes"),
            "homes_at_risk_now": sum((by.get("before") or {}).get(c, 0)
                                     for c in ("at risk", "unviable")),
            "homes_at_risk_after": sum((by.get("after") or {}).get(c, 0)
                                       for c in ("at risk", "unviable")),
            "beds_at_risk_now": h.get("beds_at_risk_before"),
            "beds_at_risk_after": h.get("beds_at_risk_after"),
            "agencies_exiting": h.get("homecare_exits")}
    stamps = sorted(f["last_import"] for f in freshness if f.get("last_import"))
    newest, oldest = (stamps[-1], stamps[0]) if stamps else (None, None)

    def days(stamp: str | None) -> int | None:
        if not stamp:
            return None
        return (date.fromisoformat(today) - date.fromisoformat(stamp[:10])).days

    out["data"] = {"last_import": newest, "days_since_last_import": days(newest),
                   "oldest_import": oldest, "days_since_oldest_import": days(oldest),
                   "kinds_imported": len(stamps)}
    return out


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
