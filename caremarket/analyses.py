"""Analyses on the store: the runs that the web pages, the API, the scheduled reports and the CLI
share.

Each function reads the market from the store, runs the models of `market/` and `optimizer/`,
records the run in `runs` (its levers, the full parameter set, the content hash of the inputs
and the result) and returns the result as a JSON-ready dict holding `run_id`. A `progress`
callback, when given, is called as `progress(fraction, message)` between steps so a page can
show how far a long run has got.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import sqlite_utils

from caremarket.runs import fail_run, finish_run, set_progress, start_run
from caremarket.store import content_hash, frame
from market.errors import InvalidInput, InvalidScenario

Progress = Callable[[float, str], None]

# The coverage levers a run accepts (page form, API body, report definition), with defaults.
COVERAGE_LEVERS: dict[str, Any] = {
    "max_minutes": None,  # longest one-way trip; None: parameter max_travel_minutes (45)
    "variant": "standard",  # or "fair"
    "solver": "auto",  # auto | cbc | highs | ipm | simplex
    "visit_minutes": None,
    "visits_per_run": None,
    "remove_provider": [],  # provider exits
    "capacity": {},  # provider_id -> new capacity hours
    "add_sites": False,  # open every candidate site as an extra base
    "max_providers_per_zone": None,
    "calibrate": True,
    "gaps": 25,
}

# The equalisation options besides the scenario's parameter values.
EQUALISATION_OPTIONS: dict[str, Any] = {
    "sweep_parameter": "take_up",  # null or "": no sweep
    "sweep_step": 0.05,
    "montecarlo_draws": 10_000,  # 0: no Monte Carlo
    "take_up_dist": "beta:2,3",
    "cost_change_dist": None,
    "seed": 0,
    "homecare": True,  # home-care viability, exits and the unmet hours they add
    "solver": "auto",
}


def _noop(_fraction: float, _message: str) -> None:
    return None


def check_levers(levers: Mapping[str, Any] | None, allowed: Mapping[str, Any],
                 what: str) -> dict[str, Any]:
    """Return `allowed`'s defaults overlaid with `levers`; InvalidScenario on an unknown key."""
    levers = dict(levers or {})
    unknown = sorted(set(levers) - set(allowed))
    if unknown:
        raise InvalidScenario(f"unknown {what} option(s) {', '.join(unknown)} (known: "
                              f"{', '.join(allowed)})")
    return {**allowed, **{k: v for k, v in levers.items() if v is not None}}


def _number(value: Any, name: str, minimum: float | None = None) -> float | None:
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidScenario(f"{name}: {value!r} is not a number") from None
    if v != v or (minimum is not None and v < minimum):
        raise InvalidScenario(f"{name}: {value!r} must be a number of at least {minimum}")
    return v


def coverage_frames(db: sqlite_utils.Database):
    """Zones, home-care providers and travel from the store; InvalidInput saying what is missing."""
    zones, providers = frame(db, "zones"), frame(db, "homecare_providers")
    if len(zones) == 0:
        raise InvalidInput("the store has no zones: import zones (or load the sample market)")
    if len(providers) == 0:
        raise InvalidInput("the store has no home-care providers: import some first")
    travel = frame(db, "travel_times")
    travel = travel[["provider_id", "zone_id", "minutes"]] if len(travel) else None
    return zones, providers, travel


def sites_as_bases(sites):
    """Candidate sites as extra home-care bases (site_id becomes provider_id)."""
    if sites is None or len(sites) == 0:
        return None
    bases = sites.rename(columns={"site_id": "provider_id"}).copy()
    return bases[[c for c in ("provider_id", "name", "lat", "lon", "capacity_hours")
                  if c in bases]]


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0",
                                                            "false", "no", "off", ""):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise InvalidScenario(f"{name}: {value!r} is not true or false")


def check_coverage_levers(levers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the coverage levers with their defaults, every value checked (no store needed).

    InvalidScenario names the lever that is wrong; provider ids are checked against the store
    when the model is built.
    """
    lv = check_levers(levers, COVERAGE_LEVERS, "coverage")
    if lv["variant"] not in ("standard", "fair"):
        raise InvalidScenario(f"variant must be 'standard' or 'fair' (got {lv['variant']!r})")
    if lv["solver"] not in ("auto", "cbc", "highs", "ipm", "simplex"):
        raise InvalidScenario(f"solver must be auto, cbc, highs, ipm or simplex "
                              f"(got {lv['solver']!r})")
    from market.parameters import ParameterSet

    defs = ParameterSet()
    for name, param in (("visit_minutes", "visit_minutes"), ("visits_per_run", "visits_per_run"),
                        ("max_minutes", "max_travel_minutes")):
        value = _number(lv[name], name)
        # within the parameter's own range (InvalidScenario names it and the bound)
        lv[name] = defs.definition(param).check(value) if value is not None else None
    removed = lv["remove_provider"]
    if isinstance(removed, str):
        removed = [p.strip() for p in removed.split(",") if p.strip()]
    if not isinstance(removed, (list, tuple)):
        raise InvalidScenario("remove_provider: a list of provider ids")
    lv["remove_provider"] = [str(p) for p in removed]
    if not isinstance(lv["capacity"], Mapping):
        raise InvalidScenario("capacity: a mapping of provider id to capacity hours")
    lv["capacity"] = {str(k): _number(v, f"capacity of {k}", 0)
                      for k, v in dict(lv["capacity"]).items()}
    if any(v is None for v in lv["capacity"].values()):
        raise InvalidScenario("capacity: every provider needs a number of hours")
    mppz = _number(lv["max_providers_per_zone"], "max_providers_per_zone", 1)
    lv["max_providers_per_zone"] = int(mppz) if mppz is not None else None
    lv["add_sites"] = _flag(lv["add_sites"], "add_sites")
    lv["calibrate"] = _flag(lv["calibrate"], "calibrate")
    gaps = _number(lv["gaps"], "gaps", 0)
    lv["gaps"] = int(gaps) if gaps is not None else COVERAGE_LEVERS["gaps"]
    return lv


def check_equalisation_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the equalisation options with their defaults, every value checked."""
    from market.scenarios import LEVERS
    from market.uncertainty import Distribution

    no_sweep = options is not None and "sweep_parameter" in options \
        and options["sweep_parameter"] in (None, "")
    opts = check_levers(options, EQUALISATION_OPTIONS, "equalisation")
    if no_sweep:  # an explicit null (or empty) means no sweep, not the default
        opts["sweep_parameter"] = None
    if opts["sweep_parameter"] not in (None, "", *LEVERS):
        raise InvalidScenario(f"sweep_parameter must be one of {', '.join(LEVERS)} "
                              f"(got {opts['sweep_parameter']!r})")
    opts["sweep_parameter"] = opts["sweep_parameter"] or None
    step = _number(opts["sweep_step"], "sweep_step", 0.001)
    if step is None or step > 0.5:
        raise InvalidScenario("sweep_step must be between 0.001 and 0.5")
    opts["sweep_step"] = step
    draws = _number(opts["montecarlo_draws"], "montecarlo_draws", 0)
    if draws is None or draws > 200_000:
        raise InvalidScenario("montecarlo_draws must be between 0 and 200,000")
    opts["montecarlo_draws"] = int(draws)
    for name in ("take_up_dist", "cost_change_dist"):
        if opts[name] not in (None, ""):
            Distribution.parse(opts[name])  # raises InvalidScenario saying what is wrong
        else:
            opts[name] = None
    if opts["take_up_dist"] is None:
        opts["take_up_dist"] = EQUALISATION_OPTIONS["take_up_dist"]
    seed = _number(opts["seed"], "seed", 0)
    opts["seed"] = int(seed) if seed is not None else 0
    opts["homecare"] = _flag(opts["homecare"], "homecare")
    if opts["solver"] not in ("auto", "cbc", "highs", "ipm", "simplex"):
        raise InvalidScenario(f"solver must be auto, cbc, highs, ipm or simplex "
                              f"(got {opts['solver']!r})")
    return opts


def check_provider_ids(db: sqlite_utils.Database, lv: Mapping[str, Any]) -> None:
    """InvalidInput naming the exits or capacity changes that name no home-care provider."""
    asked = list(lv.get("remove_provider") or []) + list(lv.get("capacity") or {})
    if not asked:
        return
    known = {r[0] for r in db.execute("select provider_id from homecare_providers")}
    unknown = [p for p in asked if p not in known]
    if unknown:
        raise InvalidInput(f"unknown home-care provider(s): {', '.join(unknown[:10])}")


def build_coverage_model(db: sqlite_utils.Database, levers: Mapping[str, Any] | None = None):
    """Return (CoverageModel, checked levers, ParameterSet) for the store's market."""
    from market.parameters import ParameterSet
    from optimizer.coverage import CoverageModel

    lv = check_coverage_levers(levers)
    params = ParameterSet({k: lv[k] for k in ("visit_minutes", "visits_per_run")
                           if lv[k] is not None})
    zones, providers, travel = coverage_frames(db)
    check_provider_ids(db, lv)
    model = CoverageModel.from_frames(
        zones, providers, travel, params, max_travel_minutes=lv["max_minutes"],
        variant=lv["variant"], capacity_changes=lv["capacity"],
        removed_providers=lv["remove_provider"],
        added_bases=sites_as_bases(frame(db, "sites")) if lv["add_sites"] else None,
        max_providers_per_zone=lv["max_providers_per_zone"], calibrate_travel=lv["calibrate"])
    return model, lv, params


def coverage(db: sqlite_utils.Database, levers: Mapping[str, Any] | None = None, *,
             user: str | None = None, progress: Progress | None = None,
             run_id: int | None = None) -> dict[str, Any]:
    """Run the home-care coverage LP (methodology s3) on the store; record and return it.

    The result is the CLI's `coverage --json` object plus `zones_map` (every zone with its
    coordinates, unmet hours, travel and cost per contact hour, for the map) and `run_id`.
    """
    progress = progress or _noop
    digest = content_hash(db)
    own = run_id is None
    if own:
        run_id = start_run(db, "coverage", dict(levers or {}), None, digest, user)
    try:
        progress(0.1, "building the LP")
        model, lv, params = build_coverage_model(db, levers)
        progress(0.4, "solving")
        model.solve(lv["solver"])
        progress(0.85, "costing care per zone")
        result = model.to_dict(lv["gaps"])
        result["levers"] = lv
        result["zones_map"] = zones_map(db, model, params)
        result["cost_of_care"] = cost_of_care_summary(result["zones_map"])
        result["input_hash"] = digest
        result["run_id"] = run_id
    except Exception as exc:
        if own:
            fail_run(db, run_id, str(exc))
        raise
    _store_result(db, run_id, own, result, params.to_records(), digest, lv)
    return result


def _store_result(db: sqlite_utils.Database, run_id: int, own: bool, result: dict[str, Any],
                  parameters: list[dict[str, Any]], input_hash: str,
                  params: Any = None) -> None:
    """Store the full parameter set and the hash of the inputs read with the run (whoever
    started it) and, when this call started the run, its result; a run started by web.tasks
    is finished there."""
    update = {"parameters": _json(parameters), "input_hash": input_hash}
    if own and params is not None:
        update["params"] = _json(params)
    with db.atomic():
        db["runs"].update(run_id, update)
    if own:
        finish_run(db, run_id, result)


def zones_map(db, model, params) -> list[dict[str, Any]]:
    """Every zone with what the map colours by and the s4 cost of care against the LA rate.

    Cost per contact hour is costed from the LP's assignment (unserved zones at their cheapest
    reachable pair); `la_hourly_rate` is the rate in force (a zone-scoped rate beats the general
    one), `gap` the cost above it and `rural_uplift_rate` the rate that closes it.
    """
    from market.cost_of_care import COST_LINES, la_hourly_rates, zone_costs_from_model

    z = model.zones.copy()
    stored = frame(db, "zones")
    coords = stored[["zone_id", "name", "lat", "lon"]]
    z = z.drop(columns=[c for c in ("name", "lat", "lon") if c in z]).merge(
        coords, on="zone_id", how="left")
    rates = la_hourly_rates(frame(db, "fee_rates"), z["zone_id"].astype(str),
                            as_of=date.today().isoformat())
    costs = zone_costs_from_model(model, stored, params, rates)
    cost_cols = ["tau", *COST_LINES, "cost_per_contact_hour", "cost_basis", "la_hourly_rate",
                 "gap", "rural_uplift_rate", "uplift_per_hour", "la_uplift_per_week"]
    z = z.merge(costs[["zone_id", *cost_cols]], on="zone_id", how="left")
    keep = [c for c in ("zone_id", "name", "lat", "lon", "rurality", "demand_hours",
                        "met_hours", "unmet_hours", "travel_minutes_per_contact_hour",
                        "marginal_travel_hours", *cost_cols) if c in z]
    clean = z[keep].astype(object).where(z[keep].notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in clean.to_dict("records")]


def cost_of_care_summary(zones_map: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Cost of care per contact hour by rurality (weighted by delivered contact hours), the LA
    rate and its gap, and the weekly LA uplift that closes the gap in every zone (s4)."""
    import pandas as pd

    z = pd.DataFrame(list(zones_map))
    if len(z) == 0 or "cost_per_contact_hour" not in z:
        return {"by_rurality": [], "la_uplift_per_week": 0.0, "la_uplift_per_year": 0.0}
    z = z[z["cost_per_contact_hour"].notna() & (z["met_hours"] > 0)]
    rows = []
    for rurality, g in z.groupby(z["rurality"].fillna("unknown"), sort=False):
        w = g["met_hours"].astype(float)

        def mean(col: str, g=g, w=w) -> float | None:
            if not g[col].notna().all() or w.sum() <= 0:
                return None
            return float((g[col].astype(float) * w).sum() / w.sum())

        rows.append({"rurality": rurality, "zones": int(len(g)),
                     "contact_hours": float(w.sum()),
                     "travel_minutes_per_contact_hour": mean("tau"),
                     "cost_per_contact_hour": mean("cost_per_contact_hour"),
                     "la_hourly_rate": mean("la_hourly_rate"), "gap": mean("gap"),
                     "zones_under_cost": int((g["gap"] > 1e-9).sum()),
                     "la_uplift_per_week": float(g["la_uplift_per_week"].fillna(0).sum())})
    order = {"urban": 0, "town": 1, "village": 2, "sparse": 3}
    rows.sort(key=lambda r: order.get(r["rurality"], 9))
    week = float(sum(r["la_uplift_per_week"] for r in rows))
    return {"by_rurality": rows, "la_uplift_per_week": week, "la_uplift_per_year": 52 * week}


def _json(obj):
    import json

    return json.dumps(obj, default=str)


def care_home_baseline(db: sqlite_utils.Database):
    from market.equalisation import Baseline

    homes = frame(db, "care_homes")
    if len(homes) == 0:
        raise InvalidInput("the store has no care homes: import some (or load the sample "
                           "market)")
    return Baseline.from_frame(homes, frame(db, "zones"))


def equalisation(db: sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, *, user: str | None = None,
                 progress: Progress | None = None, run_id: int | None = None,
                 scenario_name: str | None = None) -> dict[str, Any]:
    """Run an equalisation scenario (methodology s5) on the store; record and return it.

    Holds `viability` (the CLI's `viability --json` object: providers with baseline and
    scenario figures, summary, totals), `sweep` (one lever over its range, with each home's
    tipping point), `montecarlo` (take-up drawn from a distribution: per-home probabilities and
    the market's median and 90% interval) and `homecare` (home-care providers per contact hour
    at baseline and under the scenario; those made unviable exit, the coverage LP is re-run and
    the unmet hours this adds are given by zone), plus a `headline` of the figures a
    commissioner reads first.
    """
    from market.equalisation import run
    from market.scenarios import default_values, sweep
    from market.uncertainty import monte_carlo
    from market.viability import check_scenario

    progress = progress or _noop
    values = check_scenario(scenario)
    opts = check_equalisation_options(options)
    digest = content_hash(db)
    own = run_id is None
    if own:
        run_id = start_run(db, "equalisation", {"scenario": values, "options": opts,
                                                "scenario_name": scenario_name},
                           None, digest, user)
    try:
        progress(0.05, "care-home viability")
        baseline = care_home_baseline(db)
        res = run(baseline, values)
        out: dict[str, Any] = {"scenario": values, "scenario_name": scenario_name,
                               "options": opts, "input_hash": digest, "run_id": run_id,
                               "viability": res.to_dict()}
        if opts["sweep_parameter"]:
            progress(0.2, f"sweeping {opts['sweep_parameter']}")
            grid = default_values(opts["sweep_parameter"], float(opts["sweep_step"]))
            out["sweep"] = sweep(baseline, opts["sweep_parameter"], grid, values).to_dict()
        draws = int(opts["montecarlo_draws"] or 0)
        if draws > 0:
            progress(0.35, f"Monte Carlo, {draws:,} draws")
            mc = monte_carlo(baseline, opts["take_up_dist"], opts["cost_change_dist"], draws,
                             int(opts["seed"]), {k: v for k, v in values.items()
                                                 if k != "take_up"})
            out["montecarlo"] = mc.to_dict(homes=True)
        if opts["homecare"]:
            progress(0.55, "home-care viability and provider exits")
            out["homecare"] = homecare_exits(db, values, opts["solver"])
        out["headline"] = equalisation_headline(out)
        out["parameters"] = res.params.to_records()
    except Exception as exc:
        if own:
            fail_run(db, run_id, str(exc))
        raise
    _store_result(db, run_id, own, out, out["parameters"], digest)
    progress(1.0, "done")
    return out


def homecare_exits(db: sqlite_utils.Database, values: Mapping[str, Any],
                   solver: str = "auto") -> dict[str, Any] | None:
    """Home-care viability under the scenario, exits, and the unmet hours they add by zone."""
    from optimizer.fee_uplift import provider_exits

    try:
        zones, providers, travel = coverage_frames(db)
    except InvalidInput as exc:
        return {"skipped": str(exc)}
    res = provider_exits(zones, providers, travel, scenario=dict(values), solver=solver)
    out = res.to_dict()
    cap = providers.set_index(providers["provider_id"].astype(str))["capacity_hours"]
    pf = res.providers.copy()
    pf["capacity_hours"] = pf["provider_id"].map(cap).astype(float)
    not_sust = ("at risk", "unviable")
    out["hours_at_risk_before"] = float(pf.loc[pf["class_before"].isin(not_sust),
                                               "capacity_hours"].sum())
    out["hours_at_risk_after"] = float(pf.loc[pf["class_after"].isin(not_sust),
                                              "capacity_hours"].sum())
    out["hours_exited"] = float(pf.loc[pf["exited"], "capacity_hours"].sum())
    return out


def equalisation_headline(out: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a commissioner reads first, from an equalisation result."""
    s = out["viability"]["summary"]
    h: dict[str, Any] = {
        "care_homes": s["providers"], "beds": s["beds"],
        "homes_by_class": s["providers_by_class"], "beds_by_class": s["beds_by_class"],
        "beds_at_risk_before": s["beds_by_class"]["before"].get("at risk", 0)
        + s["beds_by_class"]["before"].get("unviable", 0),
        "beds_at_risk_after": s["beds_by_class"]["after"].get("at risk", 0)
        + s["beds_by_class"]["after"].get("unviable", 0),
        "cross_subsidy_before": s["cross_subsidy_before"],
        "cross_subsidy_after": s["cross_subsidy_after"],
        "cross_subsidy_lost": s["cross_subsidy_lost"],
        "extra_la_spend": s["extra_la_spend"],
    }
    mc = out.get("montecarlo")
    if mc:
        q = mc["market"].get("beds_not_sustainable") or {}
        h["beds_not_sustainable_median"] = q.get("median")
        h["beds_not_sustainable_p05"] = q.get("p05")
        h["beds_not_sustainable_p95"] = q.get("p95")
    hc = out.get("homecare")
    if hc and "skipped" not in hc:
        h.update({"homecare_exits": len(hc["exited"]),
                  "hours_at_risk_before": hc["hours_at_risk_before"],
                  "hours_at_risk_after": hc["hours_at_risk_after"],
                  "unmet_hours_before": hc["unmet_before"],
                  "unmet_hours_after": hc["unmet_after"],
                  "coverage_before": hc["coverage_before"],
                  "coverage_after": hc["coverage_after"]})
    return h


def compare_scenarios(db: sqlite_utils.Database, names: Sequence[str]) -> dict[str, Any]:
    """Saved scenarios side by side (baseline first): the rows of market.scenarios.compare."""
    from caremarket.scenario_store import get_scenario
    from market.scenarios import compare

    if not names:
        raise InvalidScenario("choose at least one saved scenario to compare")
    scenarios = [get_scenario(db, n) for n in names]
    table = compare(care_home_baseline(db), scenarios)

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v

    return {"measures": list(table.index), "columns": {
        c: {k: num(v) for k, v in table[c].items()} for c in table.columns},
        "input_hash": content_hash(db)}


def run_with_progress(db: sqlite_utils.Database, run_id: int, kind: str,
                      payload: Mapping[str, Any], user: str | None = None) -> dict[str, Any]:
    """Carry out the run `run_id` (already started as 'running') of `kind`; used by web.tasks."""
    def progress(fraction: float, _message: str) -> None:
        set_progress(db, run_id, fraction)

    try:
        if kind == "coverage":
            result = coverage(db, payload.get("levers"), user=user, progress=progress,
                              run_id=run_id)
        elif kind == "equalisation":
            result = equalisation(db, payload.get("scenario"), payload.get("options"),
                                  user=user, progress=progress, run_id=run_id,
                                  scenario_name=payload.get("scenario_name"))
        else:
            raise InvalidScenario(f"unknown run kind '{kind}' (coverage, equalisation)")
    except Exception as exc:
        from market.errors import CareMarketError

        fail_run(db, run_id, str(exc) if isinstance(exc, CareMarketError)
                 else f"{type(exc).__name__}: {exc}")
        raise
    finish_run(db, run_id, result)
    return result


RUN_KINDS = ("coverage", "equalisation")
