"""Cost of home care per contact hour (methodology s4), per zone and per provider.

Every cost line is an affine function of `tau`, the travel minutes per contact hour:

    direct_wage  = wage * (1 + tau/60)
    on_costs     = direct_wage * on_cost_rate
    mileage      = tau/60 * round_kmh * 0.621371 * pence_per_mile / 100
    overheads    = (direct_wage + on_costs + mileage) * overhead_rate
    surplus      = (direct_wage + on_costs + mileage + overheads) * surplus_rate
    cost_per_contact_hour = direct_wage + on_costs + mileage + overheads + surplus

Because the cost is affine in `tau`, the contact-hour-weighted mean cost over the pairs the
coverage LP assigns equals the cost at the contact-hour-weighted mean `tau`; a zone's (or a
provider's) cost is computed that way, exactly.

Everything here works on arrays and frames; nothing reads the store.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from market.errors import InvalidInput
from market.parameters import RURALITY_CLASSES, ParameterSet

KM_TO_MILES = 0.621371
COST_LINES = ("direct_wage", "on_costs", "mileage", "overheads", "surplus")
# A provider the LP has not assigned (or a run with no LP) is costed on its own base zone: the
# one-way trip is `access_minutes` (a base sits in, or next to, the zone it is in) and the hop
# is the zone's; with no known zone, a 'town' zone (the middle of the rurality scale).
DEFAULT_RURALITY = "town"


def tau_minutes(t, hop, params: ParameterSet | None = None) -> np.ndarray:
    """Return travel minutes per contact hour for one-way minutes `t` and hop minutes `hop`."""
    p = params or ParameterSet()
    return (60.0 / p["visit_minutes"]) * (2.0 * np.asarray(t, float) / p["visits_per_run"]
                                          + np.asarray(hop, float))


def cost_lines(tau, params: ParameterSet | None = None) -> pd.DataFrame:
    """Return every cost line per contact hour for each `tau` (travel minutes/contact hour).

    Columns: tau, direct_wage, on_costs, mileage, overheads, surplus, operating_cost (all lines
    but surplus) and cost_per_contact_hour.
    """
    p = params or ParameterSet()
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    if np.any(tau < 0):
        raise InvalidInput("travel minutes per contact hour (tau) cannot be negative")
    direct = p["care_worker_hourly_wage"] * (1.0 + tau / 60.0)
    on_costs = direct * p["on_cost_rate"]
    mileage = tau / 60.0 * p["round_kmh"] * KM_TO_MILES * p["pence_per_mile"] / 100.0
    base = direct + on_costs + mileage
    overheads = base * p["overhead_rate"]
    operating = base + overheads
    surplus = operating * p["surplus_rate"]
    return pd.DataFrame({
        "tau": tau, "direct_wage": direct, "on_costs": on_costs, "mileage": mileage,
        "overheads": overheads, "surplus": surplus, "operating_cost": operating,
        "cost_per_contact_hour": operating + surplus,
    })


def cost_per_contact_hour(tau, params: ParameterSet | None = None) -> np.ndarray:
    """Return the full cost per contact hour (surplus included) for each `tau`."""
    return cost_lines(tau, params)["cost_per_contact_hour"].to_numpy()


def _weighted_tau(keys: pd.Series, hours: np.ndarray, tau: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"key": keys.astype(str).to_numpy(), "h": hours, "ht": hours * tau})
    g = frame.groupby("key", sort=False)[["h", "ht"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        g["tau"] = np.where(g["h"] > 0, g["ht"] / g["h"], np.nan)
    return g.rename(columns={"h": "contact_hours"})[["contact_hours", "tau"]]


def _check_assignment(assignment: pd.DataFrame) -> pd.DataFrame:
    need = ["zone_id", "provider_id", "contact_hours", "tau"]
    missing = [c for c in need if c not in assignment]
    if missing:
        raise InvalidInput(f"assignment frame lacks column(s) {', '.join(missing)} (it has: "
                           f"{', '.join(map(str, assignment.columns)) or 'none'})")
    a = assignment[need].copy()
    a["contact_hours"] = pd.to_numeric(a["contact_hours"], errors="coerce")
    a["tau"] = pd.to_numeric(a["tau"], errors="coerce")
    bad = a["contact_hours"].isna() | a["tau"].isna() | (a["contact_hours"] < 0) | (a["tau"] < 0)
    if bad.any():
        row = a[bad].iloc[0]
        raise InvalidInput(f"assignment row zone {row['zone_id']} / provider "
                           f"{row['provider_id']}: contact_hours and tau must be numbers >= 0")
    return a


def la_hourly_rates(fee_rates: pd.DataFrame | None, zone_ids, as_of: str | None = None,
                    default: float | None = None) -> pd.Series:
    """Return the LA home-care hourly rate in force in each zone (a zone-scoped rate wins).

    `fee_rates` has the fee-rate entity's columns (funder, service, unit, amount,
    effective_from, zone_id, provider_id). The latest rate effective on or before `as_of`
    (default: the latest) is used; provider-scoped rates are ignored here.
    """
    ids = pd.Index([str(z) for z in zone_ids])
    out = pd.Series(np.nan if default is None else float(default), index=ids, dtype=float)
    if fee_rates is None or len(fee_rates) == 0:
        return out
    f = fee_rates.copy()
    for c in ("zone_id", "provider_id"):
        if c not in f:
            f[c] = None
    blank = lambda s: s.isna() | (s.astype("string").str.strip().fillna("") == "")  # noqa: E731
    f = f[(f["funder"] == "la") & (f["service"] == "homecare") & (f["unit"] == "hour")
          & blank(f["provider_id"])]
    if as_of is not None:
        f = f[f["effective_from"].astype(str) <= str(as_of)]
    if len(f) == 0:
        return out
    f = f.sort_values("effective_from")
    general = f[blank(f["zone_id"])]
    if len(general):
        out[:] = float(general["amount"].iloc[-1])
    scoped = f[~blank(f["zone_id"])].groupby(f["zone_id"].astype(str))["amount"].last()
    scoped = scoped[scoped.index.isin(ids)]
    out.loc[scoped.index] = scoped.to_numpy(float)
    return out


def zone_costs(assignment: pd.DataFrame, zones: pd.DataFrame,
               params: ParameterSet | None = None, la_rate: float | Mapping | pd.Series |
               None = None, fallback_tau: Mapping | pd.Series | None = None) -> pd.DataFrame:
    """Return the cost of care per contact hour in each zone from the LP's assignment.

    `assignment`: zone_id, provider_id, contact_hours, tau (CoverageModel.assignment).
    `zones`: zone_id and optionally rurality, self_funder_share. `la_rate`: the LA hourly
    rate, one number or per zone_id (see `la_hourly_rates`). `fallback_tau`: per zone_id, the
    tau used where the LP delivered nothing (e.g. the cheapest reachable pair); without it an
    unserved zone has no cost.

    Columns: zone_id, rurality, contact_hours, tau, every cost line, operating_cost,
    cost_per_contact_hour, cost_basis (assigned / fallback / none), la_hourly_rate, gap
    (cost - LA rate, negative when the rate covers the cost), rural_uplift_rate (the LA rate
    that closes the gap: max(LA rate, cost)), uplift_per_hour (max(gap, 0)) and
    la_uplift_per_week (uplift_per_hour x the LA-funded share of the zone's delivered hours).
    """
    p = params or ParameterSet()
    a = _check_assignment(assignment)
    if "zone_id" not in zones:
        raise InvalidInput("zone table has no 'zone_id' column")
    z = pd.DataFrame({"zone_id": zones["zone_id"].astype(str).to_numpy()})
    z["rurality"] = zones["rurality"].to_numpy() if "rurality" in zones else None
    w = _weighted_tau(a["zone_id"], a["contact_hours"].to_numpy(float), a["tau"].to_numpy(float))
    z["contact_hours"] = z["zone_id"].map(w["contact_hours"]).fillna(0.0).to_numpy(float)
    tau = z["zone_id"].map(w["tau"]).to_numpy(float).copy()
    basis = np.where(np.isnan(tau), "none", "assigned").astype(object)
    if fallback_tau is not None:
        fb = z["zone_id"].map(pd.Series(fallback_tau, dtype=float)).to_numpy(float).copy()
        use = np.isnan(tau) & ~np.isnan(fb)
        tau[use] = fb[use]
        basis[use] = "fallback"
    z["tau"] = tau
    lines = cost_lines(np.nan_to_num(tau, nan=0.0), p)
    for c in (*COST_LINES, "operating_cost", "cost_per_contact_hour"):
        z[c] = np.where(np.isnan(tau), np.nan, lines[c].to_numpy())
    z["cost_basis"] = basis
    if isinstance(la_rate, (int, float)) or la_rate is None:
        rate = np.full(len(z), np.nan if la_rate is None else float(la_rate))
    else:
        rate = z["zone_id"].map(pd.Series(la_rate, dtype=float)).to_numpy(float)
    z["la_hourly_rate"] = rate
    z["gap"] = z["cost_per_contact_hour"] - rate
    z["rural_uplift_rate"] = np.fmax(rate, z["cost_per_contact_hour"].to_numpy())
    z.loc[np.isnan(rate), "rural_uplift_rate"] = np.nan
    z["uplift_per_hour"] = np.clip(z["gap"].to_numpy(), 0.0, None)
    sf = (pd.to_numeric(zones["self_funder_share"], errors="coerce").fillna(0.0).to_numpy(float)
          if "self_funder_share" in zones else np.zeros(len(z)))
    z["la_uplift_per_week"] = z["uplift_per_hour"] * z["contact_hours"] * (1.0 - sf)
    return z


def provider_costs(providers: pd.DataFrame, assignment: pd.DataFrame | None = None,
                   zones: pd.DataFrame | None = None,
                   params: ParameterSet | None = None) -> pd.DataFrame:
    """Return each home-care provider's contact hours, tau and cost per contact hour.

    With an `assignment` (CoverageModel.assignment) a provider's contact hours and its
    contact-hour-weighted tau come from the pairs the LP gave it. A provider the LP gave no
    hours (or every provider, without an assignment) is costed on its own base zone: one-way
    trip `access_minutes`, that zone's hop minutes (its own `hop_minutes`, else by rurality;
    'town' when the zone is unknown), and contact hours `capacity_hours / (1 + tau/60)` (all its
    capacity used). Columns: provider_id, contact_hours, tau, cost_basis (assigned /
    base_zone / default), every cost line, operating_cost, cost_per_contact_hour.
    """
    p = params or ParameterSet()
    if "provider_id" not in providers:
        raise InvalidInput("provider table has no 'provider_id' column")
    out = pd.DataFrame({"provider_id": providers["provider_id"].astype(str).to_numpy()})
    n = len(out)
    hours = np.full(n, np.nan)
    tau = np.full(n, np.nan)
    if assignment is not None and len(assignment):
        a = _check_assignment(assignment)
        w = _weighted_tau(a["provider_id"], a["contact_hours"].to_numpy(float),
                          a["tau"].to_numpy(float))
        hours = out["provider_id"].map(w["contact_hours"]).to_numpy(float).copy()
        tau = out["provider_id"].map(w["tau"]).to_numpy(float).copy()
    basis = np.where(np.isnan(tau), "", "assigned").astype(object)
    missing = np.isnan(tau)
    if missing.any():
        hop_by_zone: dict[str, float] = {}
        if zones is not None and "zone_id" in zones:
            own = (pd.to_numeric(zones["hop_minutes"], errors="coerce")
                   if "hop_minutes" in zones else pd.Series(np.nan, index=zones.index))
            rur = zones["rurality"] if "rurality" in zones else pd.Series(None, index=zones.index)
            for zid, h, r in zip(zones["zone_id"].astype(str), own, rur, strict=True):
                if pd.notna(h):
                    hop_by_zone[zid] = float(h)
                elif isinstance(r, str) and r.strip().lower() in RURALITY_CLASSES:
                    hop_by_zone[zid] = p.hop_minutes(r.strip().lower())
        base = (providers["zone_id"].astype("object").where(providers["zone_id"].notna(), None)
                if "zone_id" in providers else pd.Series([None] * n))
        hop = np.array([hop_by_zone.get(str(zid), np.nan) if zid is not None else np.nan
                        for zid in base], dtype=float)
        known = ~np.isnan(hop)
        hop = np.where(known, hop, p.hop_minutes(DEFAULT_RURALITY))
        own_tau = tau_minutes(np.full(n, p["access_minutes"]), hop, p)
        tau = np.where(missing, own_tau, tau)
        basis[missing] = np.where(known[missing], "base_zone", "default")
        cap = (pd.to_numeric(providers["capacity_hours"], errors="coerce").to_numpy(float)
               if "capacity_hours" in providers else np.full(n, np.nan))
        hours = np.where(missing, cap / (1.0 + tau / 60.0), hours)
    out["contact_hours"] = hours
    out["tau"] = tau
    out["cost_basis"] = basis
    lines = cost_lines(tau, p)
    for c in (*COST_LINES, "operating_cost", "cost_per_contact_hour"):
        out[c] = lines[c].to_numpy()
    return out


def zone_costs_from_model(model, zones: pd.DataFrame | None = None,
                          params: ParameterSet | None = None, la_rate=None) -> pd.DataFrame:
    """Return `zone_costs` for a solved CoverageModel, unserved zones at their cheapest pair.

    Takes the model duck-typed (its `assignment`, `zones` and `market` with `pair_zone`,
    `tau`), so this domain module does not import the optimizer.
    """
    m = model.market
    zframe = zones if zones is not None else model.zones
    fallback = None
    if m.n_pairs:
        best = pd.Series(m.tau).groupby(m.pair_zone).min()
        ids = m.zones["zone_id"].astype(str).to_numpy()
        fallback = pd.Series(best.to_numpy(), index=ids[best.index.to_numpy()])
    return zone_costs(model.assignment, zframe, params or m.params, la_rate, fallback)
