"""The Fair Cost of Care operation: the returns in the store summarised as Annex B tables, set
against the LA rates in force, with the cost of paying the fair median and of reaching it.

One function, `fcoc(db, levers)`, serves `caremarket fcoc`, `GET /api/v1/fcoc`, the Fair Cost of
Care page and the Market Sustainability Plan pack; docs/fcoc.md states the method.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlite_utils

from caremarket.store import content_hash
from market import fcoc as model
from market import levers as registry
from market.parameters import RURALITY_CLASSES, uprating

FEE_SERVICE = {"homecare": "homecare", "residential": "residential",
               "residential_enhanced": "residential", "nursing": "nursing",
               "nursing_enhanced": "nursing"}
WEEKS = 52.0


def returns(db: sqlite_utils.Database) -> list[model.CostReturn]:
    """Every return in the store, flagged `in_store` when its provider is in the store."""
    if "cost_returns" not in db.table_names():
        return []
    agencies = {r[0] for r in db.execute("select provider_id from homecare_providers")}
    homes = {r[0] for r in db.execute("select provider_id from care_homes")}
    out = []
    for r in db.execute("select provider_id, service, category, lines, contact_hours, "
                        "visit_minutes, beds, occupancy, carer_basic_pay from cost_returns "
                        "order by return_id"):
        pid, service, category, lines = r[0], r[1], r[2], json.loads(r[3] or "{}")
        ctx = dict(zip(("contact_hours", "visit_minutes", "beds", "occupancy",
                        "carer_basic_pay"), r[4:], strict=True))
        known = agencies if service == "homecare" else homes
        out.append(model.CostReturn(pid, service, lines, category if service != "homecare"
                                    else None, {k: v for k, v in ctx.items() if v is not None},
                                    pid in known))
    return out


def provider_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Providers that could have returned: agencies; residential and nursing homes."""
    n_nursing = db.execute("select count(*) from care_homes where nursing = 1").fetchone()[0]
    n_homes = db.execute("select count(*) from care_homes").fetchone()[0]
    return {"homecare": db.execute("select count(*) from homecare_providers").fetchone()[0],
            "residential": n_homes - n_nursing, "nursing": n_nursing}


def la_rate(db: sqlite_utils.Database, service: str, on: str) -> dict[str, Any] | None:
    """The council's standard rate for `service` in force on `on` (no provider or zone scope)."""
    row = db.execute(
        "select amount, effective_from, unit, note from fee_rates where funder = 'la' and "
        "service = ? and effective_from <= ? and coalesce(provider_id, '') = '' and "
        "coalesce(zone_id, '') = '' order by effective_from desc limit 1",
        [service, on]).fetchone()
    if row is None:
        return None
    return {"amount": row[0], "effective_from": row[1], "unit": row[2], "note": row[3]}


def placements(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """The council's purchases a year: LA-funded home-care contact hours (zone demand times the
    share not self-funded) and LA-funded resident-weeks in residential and nursing homes (beds
    times occupancy times the share not self-funded), with what had to be left out."""
    hours, missing = 0.0, []
    fallback = db.execute("select self_funder_share from self_funder_figures where service = "
                          "'homecare' order by as_of desc limit 1").fetchone()
    for zid, demand, share in db.execute("select zone_id, demand_hours, self_funder_share "
                                         "from zones order by zone_id"):
        s = share if share is not None else (fallback[0] if fallback else None)
        if demand is None or s is None:
            missing.append(zid)
            continue
        hours += demand * (1.0 - s)
    out = {"homecare": {"units_a_year": round(hours * WEEKS, 2), "unit": "contact hours",
                        "left_out": missing}}
    for service, nursing in (("residential", 0), ("nursing", 1)):
        weeks, left = 0.0, []
        for pid, beds, occ, share in db.execute(
                "select provider_id, beds, occupancy, self_funder_share from care_homes where "
                "coalesce(nursing, 0) = ? order by provider_id", [nursing]):
            if beds is None or occ is None or share is None:
                left.append(pid)
                continue
            weeks += beds * occ * (1.0 - share)
        out[service] = {"units_a_year": round(weeks * WEEKS, 2), "unit": "resident-weeks",
                        "left_out": left}
    return out


def _group_rows(summary: dict[str, Any]):
    yield "homecare", "homecare", summary["homecare"]
    for cat, g in summary["care_homes"].items():
        yield cat, "care_home", g


def latest_coverage(db: sqlite_utils.Database) -> dict[str, Any] | None:
    """The latest done coverage run's cost of care by rurality (`cost_of_care`), its id and
    whether it read the data as it is now (`status` current or stale); None if none."""
    row = db.execute("select id, input_hash, json_extract(result, '$.cost_of_care') from runs "
                     "where kind = 'coverage' and status = 'done' and "
                     "json_extract(result, '$.cost_of_care') is not null "
                     "order by id desc limit 1").fetchone() if "runs" in db.table_names() \
        else None
    if row is None:
        return None
    return {"run_id": row[0], "status": "current" if row[1] == content_hash(db) else "stale",
            "cost_of_care": json.loads(row[2])}


def _position(value: float | None, q: dict[str, float] | None) -> str | None:
    if value is None or q is None:
        return None
    if value < q["lower_quartile"]:
        return "below the lower quartile"
    if value > q["upper_quartile"]:
        return "above the upper quartile"
    return "within the interquartile range"


def travel(db: sqlite_utils.Database, summary: dict[str, Any], pay_ratio: float,
           coverage: dict[str, Any] | None) -> dict[str, Any]:
    """The rural travel the coverage model finds against the FCoC `travel_time` line.

    The FCoC side: the travel_time line's quartiles (GBP per contact hour) at the returns'
    date and uprated to today by the pay ratio (it is a staff line), and the travel minutes
    per contact hour each return implies (travel_time / carer_basic_pay x 60; returns
    without a basic pay are left out and named). The model side, by rurality, from
    `coverage` (a coverage run's id, status and `cost_of_care`; default the latest done
    one): the travel minutes per contact hour and the travel time paid per contact hour
    (wage x minutes / 60), each placed against the FCoC quartiles.
    """
    line = (summary["homecare"]["lines"] or {}).get("travel_time")
    line_q = {k: line[k] for k in ("lower_quartile", "median", "upper_quartile")} \
        if line and line.get("median") is not None else None
    now_q = {k: round(v * pay_ratio, 4) for k, v in line_q.items()} if line_q else None
    minutes, no_pay = [], []
    excluded_ids = {o["provider_id"] for o in summary["homecare"]["outliers"]} \
        if summary["homecare"]["outliers_excluded"] else set()
    for r in returns(db):
        if r.service != "homecare" or r.provider_id in excluded_ids:
            continue
        t = r.lines.get("travel_time")
        pay = r.context.get("carer_basic_pay")
        if t is None:
            continue
        if not pay:
            no_pay.append(r.provider_id)
            continue
        minutes.append(t / pay * 60.0)
    min_q = model.quartiles(minutes)
    min_q = {k: round(v, 4) for k, v in min_q.items()} if min_q else None
    cov = coverage if coverage is not None else latest_coverage(db)
    rows = []
    if cov is not None:
        for r in (cov.get("cost_of_care") or {}).get("by_rurality", []):
            m = r.get("travel_minutes_per_contact_hour")
            pay = r.get("travel_pay_per_contact_hour")
            rows.append({"rurality": r["rurality"], "contact_hours": r.get("contact_hours"),
                         "travel_minutes_per_contact_hour": m,
                         "travel_pay_per_contact_hour": pay,
                         "minutes_against_fcoc": _position(m, min_q),
                         "pay_against_fcoc": _position(pay, now_q),
                         "pay_minus_fcoc_median": None if pay is None or now_q is None
                         else round(pay - now_q["median"], 4)})
        rows.sort(key=lambda r: RURALITY_CLASSES.index(r["rurality"])
                  if r["rurality"] in RURALITY_CLASSES else len(RURALITY_CLASSES))
    return {"fcoc_travel_time": line_q, "fcoc_travel_time_now": now_q,
            "fcoc_travel_minutes": min_q, "returns_with_minutes": len(minutes),
            "excluded": {"total": len(no_pay), "by_reason": {"no_carer_basic_pay": {
                "label": "no carer_basic_pay: travel minutes not implied", "count": len(no_pay),
                "ids": no_pay}} if no_pay else {}},
            "coverage_run": None if cov is None else {"run_id": cov.get("run_id"),
                                                      "status": cov.get("status")},
            "by_rurality": rows,
            "how": None if cov is not None else "run coverage (caremarket coverage, the "
                   "Coverage page or POST /api/v1/runs kind coverage) to set its travel here"}


def fcoc(db: sqlite_utils.Database, levers: dict[str, Any] | None = None,
         coverage: dict[str, Any] | None = None, *, with_travel: bool = True
         ) -> dict[str, Any]:
    """The Fair Cost of Care summary with the fee gap and trajectory (see docs/fcoc.md), and
    the travel the coverage model finds against the FCoC travel_time line (`travel`; from
    `coverage`, a coverage result, else the latest coverage run in the store; None without
    `with_travel`, for callers that need only the medians)."""
    lv = registry.check("fcoc", levers or {})
    today = lv["as_of"] or date.today().isoformat()
    summary = model.summarise(returns(db), provider_counts(db), lv["exclude_outliers"])
    volumes = placements(db)
    years = int(lv["years"])
    start = int(today[:4])
    base = lv["returns_date"]
    against: dict[str, Any] = {}
    assumptions: list[str] = []

    def factors(year: int) -> tuple[float, float]:
        pay, prices, notes = uprating(base, f"{year}-04-01")
        assumptions.extend(n for n in notes if n not in assumptions)
        return pay, prices
    for group, service, g in _group_rows(summary):
        fee_service = FEE_SERVICE[group]
        rate = la_rate(db, fee_service, today)
        median = (g.get("total") or {}).get("median")
        share = model.staff_share(g, service)

        def target(year: int, median=median, share=share) -> float:
            return model.uprate(float(median), share, *factors(year))

        now_median = target(start) if median is not None else None
        gap = model.fee_gap(None if now_median is None else round(now_median, 4),
                            rate["amount"] if rate else None)
        entry: dict[str, Any] = {**gap, "median_at_returns": median, "returns_date": base,
                                 "staff_share": round(share, 4), "rate": rate,
                                 "fee_service": fee_service}
        vol = volumes.get(group)
        if vol and gap["gap"] is not None and median is not None and rate is not None:
            entry["units_a_year"] = vol["units_a_year"]
            entry["unit"] = vol["unit"]
            entry["cost_now"] = round(max(gap["gap"], 0.0) * vol["units_a_year"], 2)
            entry["trajectory"] = model.trajectory(rate["amount"], target, vol["units_a_year"],
                                                   years, start)
        else:
            entry["units_a_year"] = None
            entry["cost_now"] = None
            entry["trajectory"] = []
            entry["why_no_cost"] = (
                "no returns" if median is None else "no LA rate in force" if rate is None
                else "enhanced-needs placements are not separated in the store")
        against[group] = entry
    costs = [e["cost_now"] for e in against.values() if e["cost_now"] is not None]
    pay_now, _prices = factors(start)
    return {"summary": summary, "against_fees": against, "placements": volumes,
            "travel": travel(db, summary, pay_now, coverage) if with_travel else None,
            "levers": lv, "as_of": today,
            "cost_now_total": round(sum(costs), 2) if costs else None,
            "quantile_rule": "Excel QUARTILE.INC (linear interpolation)",
            "outlier_rule": f"Tukey fences on the total: outside Q1 - {model.TUKEY_K:g} IQR "
                            f"to Q3 + {model.TUKEY_K:g} IQR",
            "assumptions": assumptions}


BASIS_GROUPS = ("homecare", "residential", "nursing")


def medians_now(db: sqlite_utils.Database, as_of: str | None = None) -> dict[str, Any]:
    """The FCoC medians uprated to `as_of` (default today) for home care (GBP per contact
    hour) and standard residential and nursing care (GBP per resident-week), as `fcoc` gives
    them (`against_fees[group]["median"]`): what the `la_fee_basis` lever and the cost of care
    by zone read. A group without returns has None."""
    # one year of trajectory: its assumptions are then only those the median itself needs
    res = fcoc(db, {"years": 1, **({"as_of": as_of} if as_of else {})}, with_travel=False)
    return {"as_of": res["as_of"], "returns_date": res["levers"]["returns_date"],
            "medians": {g: res["against_fees"][g]["median"] for g in BASIS_GROUPS},
            "returns": {g: (res["summary"]["homecare"] if g == "homecare"
                            else res["summary"]["care_homes"][g])["returns"]
                        for g in BASIS_GROUPS},
            "assumptions": res["assumptions"]}
