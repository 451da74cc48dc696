"""The market at a glance (the Overview page, `GET /api/v1/overview` and the Market
Sustainability Plan evidence pack read it): capacity, beds, self-funders, CQC ratings and fees
by rurality, and how fresh each import is."""

from __future__ import annotations

from typing import Any

import sqlite_utils

RATINGS = ("Outstanding", "Good", "Requires improvement", "Inadequate")


def _rows(db: sqlite_utils.Database, sql: str, params: list | None = None) -> list[dict]:
    cur = db.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def cqc_ratings(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Care homes (and their beds) and home-care agencies by latest CQC overall rating, in
    the CQC's order, then any other rating as stored, then 'not rated' (blank)."""
    homes = {r[0]: (r[1], r[2]) for r in db.execute(
        "select coalesce(nullif(trim(cqc_rating), ''), 'not rated'), count(*), sum(beds) "
        "from care_homes group by 1")}
    agencies = {r[0]: r[1] for r in db.execute(
        "select coalesce(nullif(trim(cqc_rating), ''), 'not rated'), count(*) "
        "from homecare_providers group by 1")}
    seen = set(homes) | set(agencies)
    order = [r for r in RATINGS if r in seen] + sorted(
        seen - set(RATINGS) - {"not rated"}) + (["not rated"] if "not rated" in seen else [])
    return [{"rating": r, "care_homes": homes.get(r, (0, 0))[0],
             "beds": homes.get(r, (0, 0))[1] or 0, "homecare_providers": agencies.get(r, 0)}
            for r in order]


def overview(db: sqlite_utils.Database) -> dict[str, Any]:
    """The market at a glance: capacity, beds, self-funders and fees by rurality; freshness."""
    by_rurality = _rows(db, """
        select coalesce(z.rurality, 'unknown') as rurality, count(*) as zones,
               round(sum(z.demand_hours), 1) as demand_hours,
               round(sum(z.population_65_plus)) as population_65_plus,
               (select count(*) from homecare_providers h join zones zz using (zone_id)
                 where zz.rurality is z.rurality) as homecare_providers,
               (select round(sum(capacity_hours), 1) from homecare_providers h
                  join zones zz using (zone_id) where zz.rurality is z.rurality) as capacity_hours,
               (select count(*) from care_homes c join zones zz using (zone_id)
                 where zz.rurality is z.rurality) as care_homes,
               (select sum(beds) from care_homes c join zones zz using (zone_id)
                 where zz.rurality is z.rurality) as beds,
               (select round(sum(c.beds * c.occupancy * c.self_funder_share) /
                       nullif(sum(c.beds * c.occupancy), 0), 4)
                  from care_homes c join zones zz using (zone_id)
                 where zz.rurality is z.rurality) as care_home_self_funder_share
        from zones z group by 1 order by
          case rurality when 'urban' then 1 when 'town' then 2 when 'village' then 3
          when 'sparse' then 4 else 5 end""")
    unplaced = _rows(db, """
        select 'no zone' as rurality, 0 as zones, null as demand_hours,
               null as population_65_plus,
               (select count(*) from homecare_providers h where h.zone_id is null or h.zone_id
                  not in (select zone_id from zones)) as homecare_providers,
               (select round(sum(capacity_hours), 1) from homecare_providers h where
                  h.zone_id is null or h.zone_id not in (select zone_id from zones))
                  as capacity_hours,
               (select count(*) from care_homes c where c.zone_id is null or c.zone_id not in
                  (select zone_id from zones)) as care_homes,
               (select sum(beds) from care_homes c where c.zone_id is null or c.zone_id not in
                  (select zone_id from zones)) as beds,
               null as care_home_self_funder_share""")[0]
    if unplaced["homecare_providers"] or unplaced["care_homes"]:
        by_rurality.append(unplaced)  # every card equals the sum of its rows
    totals = _rows(db, """
        select (select count(*) from zones) as zones,
               (select round(sum(demand_hours), 1) from zones) as demand_hours,
               (select count(*) from homecare_providers) as homecare_providers,
               (select round(sum(capacity_hours), 1) from homecare_providers) as capacity_hours,
               (select count(*) from care_homes) as care_homes,
               (select sum(beds) from care_homes) as beds,
               (select round(sum(beds * occupancy * self_funder_share) /
                       nullif(sum(beds * occupancy), 0), 4) from care_homes)
                 as care_home_self_funder_share,
               (select round(avg(self_funder_fee), 2) from care_homes) as mean_self_funder_fee,
               (select round(avg(la_fee), 2) from care_homes) as mean_la_fee,
               (select round(avg(la_hourly_rate), 2) from homecare_providers)
                 as mean_la_hourly_rate,
               (select round(avg(self_funder_hourly_rate), 2) from homecare_providers)
                 as mean_self_funder_hourly_rate""")[0]
    if totals["mean_la_fee"] and totals["mean_self_funder_fee"] is not None:
        totals["self_funder_premium"] = round(totals["mean_self_funder_fee"] /
                                              totals["mean_la_fee"] - 1, 4)
    freshness = _rows(db, """select kind, max(finished_at) as last_import, count(*) as imports,
                             (select file_name from imports i2 where i2.kind = i.kind
                               order by id desc limit 1) as last_file
                             from imports i group by kind order by kind""")
    today = db.execute("select date('now')").fetchone()[0]
    schedule = _rows(db, """select funder, service, unit, amount, effective_from, zone_id,
                            provider_id, note from fee_rates where provider_id is null and
                            zone_id is null order by service, funder, effective_from desc""")
    rural_uplifts = db.execute("select count(*) from fee_rates where zone_id is not null"
                               ).fetchone()[0]
    hc = db.execute("select sum(demand_hours * self_funder_share) / nullif(sum(case when "
                    "self_funder_share is not null then demand_hours end), 0) from zones"
                    ).fetchone()[0]
    totals["homecare_self_funder_share"] = None if hc is None else round(hc, 4)
    return {"totals": totals, "by_rurality": by_rurality, "freshness": freshness,
            "cqc_ratings": cqc_ratings(db),
            "fee_schedule": schedule, "zone_scoped_rates": rural_uplifts, "as_of": today}
