"""Home-care provider viability per contact hour (methodology s5, last paragraph).

A home-care provider is assessed with the care-home arithmetic of market/viability.py, per
contact hour instead of per resident-week:

    care homes                      home-care providers
    beds B                          contact hours a week H (from the coverage LP's assignment)
    occupancy o                     1 (every assigned hour is delivered)
    self_funder_share s             self_funder_share (of contact hours)
    self_funder_fee F_sf            self_funder_hourly_rate
    la_fee F_la                     la_hourly_rate
    cost_per_resident_week C        s4 operating cost per contact hour (all lines but surplus)
    capital_cost_per_bed_week K     s4 surplus line per contact hour (return on operations)

So "sustainable" means the provider's blended hourly rate covers the full s4 cost per contact
hour (surplus included), "at risk" that it covers the operating cost but not the surplus, and
"unviable" that it does not cover the operating cost. `cost_change` scales the operating cost
(the surplus line is held at its baseline value, as a care home's return on capital is);
`occupancy_change` does not apply to home care and is ignored.

The cost per contact hour is the contact-hour-weighted mean over the zones the LP assigns the
provider (market/cost_of_care.provider_costs); without an assignment a provider is costed on its
own base zone at full use of its capacity (documented there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from market.cost_of_care import provider_costs
from market.equalisation import Baseline, EqualisationResult, run
from market.errors import InvalidInput
from market.parameters import ParameterSet
from market.viability import PreparedHomes, evaluate, prepare_care_homes

LABELS = {"beds": "contact_hours", "occupancy": "occupancy",
          "self_funder_share": "self_funder_share",
          "self_funder_fee": "self_funder_hourly_rate", "la_fee": "la_hourly_rate",
          "cost_per_resident_week": "cost_per_contact_hour",
          "capital_cost_per_bed_week": "surplus_per_contact_hour"}


def homecare_baseline(providers: pd.DataFrame, assignment: pd.DataFrame | None = None,
                      zones: pd.DataFrame | None = None,
                      params: ParameterSet | Mapping[str, Any] | None = None, *,
                      strict: bool = False) -> Baseline:
    """Return the home-care providers as a viability baseline (capacity: contact hours a week).

    Providers the LP gave no contact hours (and with no capacity) are listed in `excluded`;
    missing rates or shares exclude a provider too (or raise, with `strict`).
    """
    if params is not None and not isinstance(params, ParameterSet):
        params = ParameterSet(params)
    p = params or ParameterSet()
    if providers is None or len(providers) == 0:
        raise InvalidInput("no home-care providers to assess")
    need = ("provider_id", "self_funder_share", "self_funder_hourly_rate", "la_hourly_rate")
    lacking = [c for c in need if c not in providers]
    if lacking:
        raise InvalidInput(f"home-care provider table lacks column(s) {', '.join(lacking)}")
    prov = providers.reset_index(drop=True).copy()
    prov["provider_id"] = prov["provider_id"].astype(str).str.strip()
    costs = provider_costs(prov, assignment, zones, p)
    frame = pd.DataFrame({
        "provider_id": prov["provider_id"],
        "name": prov.get("name"),
        "zone_id": prov.get("zone_id"),
        "group_id": prov.get("group_id"),
        "group_name": prov.get("group_name"),
        "beds": costs["contact_hours"].to_numpy(),
        "occupancy": 1.0,
        "self_funder_share": prov["self_funder_share"],
        "self_funder_fee": prov["self_funder_hourly_rate"],
        "la_fee": prov["la_hourly_rate"],
        "cost_per_resident_week": costs["operating_cost"].to_numpy(),
        "capital_cost_per_bed_week": costs["surplus"].to_numpy(),
    })
    hours = frame["beds"].to_numpy(float)
    idle = ~(hours > 0)
    idle_out = pd.DataFrame({"provider_id": frame["provider_id"][idle],
                             "name": frame["name"][idle], "field": "contact_hours",
                             "reason": "no contact hours (not assigned any, or no capacity)"})
    frame = frame[~idle].reset_index(drop=True)
    if len(frame) == 0:
        raise InvalidInput("no home-care provider delivers any contact hours")
    prepared = prepare_care_homes(frame, zones, strict=strict, what="home-care provider",
                                  labels=LABELS)
    homes = prepared.homes.merge(costs[["provider_id", "tau", "cost_basis",
                                        "cost_per_contact_hour"]], on="provider_id",
                                 how="left")
    excluded = pd.concat([prepared.excluded, idle_out], ignore_index=True)
    base = Baseline.from_prepared(PreparedHomes(homes, excluded), p)
    return Baseline(base.homes, base.params, base.excluded, kind="homecare",
                    capacity="contact_hours")


def run_homecare(baseline: Baseline, scenario: Mapping[str, Any] | None = None
                 ) -> EqualisationResult:
    """Run a scenario on home-care providers (occupancy_change does not apply and is dropped)."""
    values = dict(scenario or {})
    dropped = values.pop("occupancy_change", None)
    result = run(baseline, values)
    if dropped:
        result.warnings.append("occupancy_change does not apply to home care and was ignored")
    return result


def viable_threshold(baseline: Baseline, scenario: Mapping[str, Any] | None = None,
                     target: str = "viable") -> pd.DataFrame:
    """Return, per provider, the LA hourly rate it needs under the scenario and the uplift.

    target 'viable' (not unviable: the blended rate covers the operating cost; the exit rule
    of part 6) or 'sustainable' (it covers the surplus line too). Columns: provider_id,
    la_rate (scenario), needed_la_rate, uplift (max(0, needed - la_rate)), la_share (share
    of contact hours paid at the LA rate under the scenario), contact_hours, class.
    """
    if target not in ("viable", "sustainable"):
        raise InvalidInput("target must be 'viable' or 'sustainable'")
    params = baseline.params.with_overrides(
        {k: v for k, v in (scenario or {}).items() if k != "occupancy_change"})
    h = baseline.homes
    K = h["capital_cost_per_bed_week"].to_numpy(float)
    if target == "viable":
        K = np.zeros_like(K)
    lv = {k: params[k] for k in ("take_up", "convergence", "la_fee_change", "cost_change")}
    r = evaluate(h["beds"].to_numpy(float), h["occupancy"].to_numpy(float),
                 h["self_funder_share"].to_numpy(float), h["self_funder_fee"].to_numpy(float),
                 h["la_fee"].to_numpy(float), h["cost_per_resident_week"].to_numpy(float), K,
                 **lv)
    full = evaluate(*(h[c].to_numpy(float) for c in (
        "beds", "occupancy", "self_funder_share", "self_funder_fee", "la_fee",
        "cost_per_resident_week", "capital_cost_per_bed_week")), **lv)
    cls = np.asarray(("sustainable", "at risk", "unviable"), dtype=object)[full["class_code"]]
    return pd.DataFrame({
        "provider_id": h["provider_id"].to_numpy(), "la_rate": r["la_fee"],
        "needed_la_rate": r["break_even_la_fee"], "uplift": r["fee_uplift"],
        "la_share": 1.0 - r["paying_self_funder_share"],
        "contact_hours": h["beds"].to_numpy(float), "class": cls,
    })
