"""The operations: one application function per operation, called by every entry point.

The CLI, the pages, the API, the background runs and the reports all call these functions,
with the same typed levers (`market.levers`), and get the same result shape:

- `coverage(market, levers)`: the home-care coverage LP (methodology s3) with the cost of care
  per zone (s4);
- `equalisation(market, scenario, options)`: care-home viability under an s18(3) scenario (s5)
  with a sweep, Monte Carlo and home-care exits; `viability` is the same function without them;
- `sweep`, `montecarlo`, `exits`, `fee_uplift`, `compare_scenarios`.

`market` is a `Market`: the store (`Market.from_store(db)`) or frames read from files
(`Market.from_frames(...)`, the CLI's file mode). On the store, a run is recorded in `runs`
(its levers, the full parameter set, the content hash of the inputs, the result). Records that
lack a figure a model needs are left out and named in the result's `excluded`
({"total", "by_reason": {code: {"label", "ids"}}}), never a failed run.

A saved scenario is run by its name (`scenario_name`): the run records the name and every value
it holds. The baseline is the same function at default levers everywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from caremarket import fair_cost, jsonio
from caremarket import runs as run_store
from caremarket.scenario_store import get_scenario
from caremarket.store import content_hash, frame
from market import completeness
from market import levers as registry
from market.cost_of_care import COST_LINES, la_hourly_rates, zone_costs_from_model
from market.entities import ENTITIES
from market.equalisation import Baseline, run
from market.errors import CareMarketError, InvalidInput, InvalidScenario, UnknownEntity
from market.homecare import homecare_baseline, run_homecare
from market.parameters import RURALITY_CLASSES, ParameterSet
from market.scenarios import check_parameter_range, default_values
from market.scenarios import sweep as sweep_model
from market.uncertainty import monte_carlo
from market.viability import CLASSES, FEE_BASIS, LEVERS, check_scenario
from optimizer.coverage import CoverageModel
from optimizer.fee_uplift import FeeUpliftModel, provider_exits
from optimizer.travel import travel_minutes

Progress = Callable[[float, str], None]

# Kept for callers of the old names: the levers with their defaults, from the registry.
COVERAGE_LEVERS: dict[str, Any] = registry.defaults("coverage")
EQUALISATION_OPTIONS: dict[str, Any] = registry.defaults("equalisation")
# What a viability run (no sweep, no Monte Carlo, no home care) sets of the options.
VIABILITY_ONLY = {"sweep_parameter": None, "montecarlo_draws": 0, "homecare": False}


def _noop(_fraction: float, _message: str) -> None:
    return None


# -- the market a run reads ---------------------------------------------------------------------


@dataclass
class Market:
    """The market an operation runs on: the store, or frames read from files.

    Frames are read on first use. `db` is None for files: such runs are not recorded.
    """

    db: sqlite_utils.Database | None = None
    source: str = "store"
    frames: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    _hash: str | None = None
    strict: bool = False  # a care home missing a figure is an error, not left out
    scenarios_db: sqlite_utils.Database | None = None  # where saved scenarios are read

    @classmethod
    def from_store(cls, db: sqlite_utils.Database) -> Market:
        return cls(db=db)

    @classmethod
    def from_frames(cls, source: str, *, zones=None, homecare_providers=None, travel=None,
                    sites=None, care_homes=None, fee_rates=None,
                    files: Sequence[str | Path] = ()) -> Market:
        """A market of frames (the CLI's file mode); the input hash is over the files."""

        h = hashlib.sha256()
        for f in files:
            p = Path(f)
            h.update(p.read_bytes() if p.exists() else str(f).encode())
        return cls(db=None, source=source, frames={
            "zones": zones, "homecare_providers": homecare_providers, "travel_times": travel,
            "sites": sites, "care_homes": care_homes, "fee_rates": fee_rates},
            _hash=h.hexdigest())

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            self.frames[name] = frame(self.db, name) if self.db is not None else None
        got = self.frames[name]
        return got if got is not None else pd.DataFrame()

    @cached_property
    def input_hash(self) -> str:
        return self._hash or content_hash(self.db)

    @property
    def recorded(self) -> bool:
        return self.db is not None

    def travel(self) -> pd.DataFrame | None:
        t = self.table("travel_times")
        return t[["provider_id", "zone_id", "minutes"]] if len(t) else None


def _market(source: Market | sqlite_utils.Database) -> Market:
    return source if isinstance(source, Market) else Market.from_store(source)


# -- records left out (market.completeness decides what each model needs) ----------------------

REASONS = completeness.REASONS
Excluded = completeness.Excluded
# Care-home fields (market.viability.PreparedHomes.excluded 'field') -> reason code.
_HOME_FIELD_REASON = {c: f.code for f in completeness.CARE_HOMES.figures for c in f.columns}
_HOME_FIELD_REASON.update({c: f.code for f in completeness.HOMECARE.figures for c in f.columns})
_HOME_FIELD_REASON.update({"contact_hours": "no_contact_hours", "beds": "no_beds",
                           "self_funder_hourly_rate": "no_fees", "la_hourly_rate": "no_fees",
                           "self_funder_fee": "no_fees", "la_fee": "no_fees",
                           "cost_per_contact_hour": "no_cost",
                           "surplus_per_contact_hour": "no_cost"})


def _routed(market: Market) -> set[str]:
    travel = market.travel()
    return set(travel["provider_id"].astype(str)) if travel is not None else set()


def _rurality_of(providers: pd.DataFrame, zones: pd.DataFrame) -> pd.Series:
    """The rurality class of each provider's zone (None without a zone or class)."""
    if "zone_id" not in providers or "rurality" not in zones or len(zones) == 0:
        return pd.Series([None] * len(providers), index=providers.index, dtype=object)
    by_zone = zones.drop_duplicates("zone_id").set_index(zones.drop_duplicates(
        "zone_id")["zone_id"].astype(str))["rurality"]
    return providers["zone_id"].astype(str).map(by_zone).where(providers["zone_id"].notna())


def coverage_inputs(market: Market, fill_capacity: bool = False,
                    capacity: Mapping[str, float] | None = None):
    """Zones, home-care providers and travel for the coverage LP, and what was left out.

    market.completeness decides: agencies without a capacity are left out (`no_capacity`)
    unless `fill_capacity`, which gives them the median capacity of agencies in the same
    rurality class (of all agencies where the class has none) and marks them
    `capacity_estimated`; agencies with neither coordinates nor a routed travel time are left
    out (`no_location`), and zones with neither a rurality class nor their own minutes between
    visits (`no_rurality`). InvalidInput when the store has no zones or no agencies at all, or
    none with the figures coverage needs. `capacity` (the coverage lever: provider id -> hours
    a week) is a capacity the caller gives, so such an agency is not short of one.
    """
    zones, providers = market.table("zones"), market.table("homecare_providers")
    if len(zones) == 0:
        raise InvalidInput("the store has no zones: import zones (or load the sample market)")
    if len(providers) == 0:
        raise InvalidInput("the store has no home-care providers: import some first")
    travel = market.travel()
    routed = _routed(market)
    providers = providers.copy()
    providers["provider_id"] = providers["provider_id"].astype(str)
    if capacity:
        given = providers["provider_id"].map({str(k): float(v) for k, v in capacity.items()})
        providers["capacity_hours"] = given.where(given.notna(), pd.to_numeric(
            providers.get("capacity_hours"), errors="coerce"))
    if fill_capacity:
        providers = completeness.fill_capacity(providers, _rurality_of(providers, zones))
    else:
        providers["capacity_estimated"] = False
        providers["capacity_basis"] = None
    zones = zones.copy()
    zones["zone_id"] = zones["zone_id"].astype(str)
    zones, excluded = completeness.exclusions(completeness.ZONES, zones, [completeness.COVERAGE])
    providers, ex_p = completeness.exclusions(completeness.HOMECARE, providers,
                                              [completeness.COVERAGE], routed)
    excluded.merge(ex_p)
    if len(zones) == 0:
        raise InvalidInput("no zone has the figures coverage needs ("
                           + completeness.describe(excluded) + ")")
    if len(providers) == 0:
        raise InvalidInput("no home-care provider has the figures coverage needs ("
                           + completeness.describe(excluded) + ")")
    if travel is not None and len(excluded):
        # only the pairs of records left out go; an unknown id is still the model's error
        gone = excluded.ids()
        pid, zid = travel["provider_id"].astype(str), travel["zone_id"].astype(str)
        stored_p = set(market.table("homecare_providers")["provider_id"].astype(str))
        stored_z = set(market.table("zones")["zone_id"].astype(str))
        drop = (pid.isin(gone) & pid.isin(stored_p)) | (zid.isin(gone) & zid.isin(stored_z))
        if drop.any():
            travel = travel[~drop]
    return zones, providers, travel, excluded


def coverage_frames(db: sqlite_utils.Database):
    """Zones, complete home-care providers and travel from the store (see coverage_inputs)."""
    zones, providers, travel, _ex = coverage_inputs(Market.from_store(db))
    return zones, providers, travel


def sites_as_bases(sites, excluded: Excluded | None = None, routed: Sequence[str] = ()):
    """Candidate sites as extra home-care bases (site_id becomes provider_id); sites without a
    capacity or a location are left out (and added to `excluded`)."""
    if sites is None or len(sites) == 0:
        return None
    sites, ex = completeness.exclusions(completeness.SITES, sites, [completeness.COVERAGE],
                                        routed)
    if excluded is not None:
        excluded.merge(ex)
    if len(sites) == 0:
        return None
    bases = sites.rename(columns={"site_id": "provider_id"}).copy()
    return bases[[c for c in ("provider_id", "name", "lat", "lon", "capacity_hours")
                  if c in bases]]


def care_home_baseline(source: Market | sqlite_utils.Database, strict: bool = False
                       ) -> Baseline:
    """The care homes with every figure viability needs, as a Baseline; the others are in its
    `excluded` frame (one row per home, `field` naming the reason codes). With `strict` (or a
    strict market) a missing figure is an error instead."""
    market = _market(source)
    homes = market.table("care_homes")
    if len(homes) == 0:
        raise InvalidInput("the store has no care homes: import some (or load the sample "
                           "market)")
    zones = market.table("zones")
    strict = strict or market.strict
    left_out = pd.DataFrame(columns=["provider_id", "name", "field", "reason"])
    if not strict and "provider_id" in homes:
        miss = completeness.missing(completeness.CARE_HOMES, homes,
                                    models=[completeness.CARE_HOME_VIABILITY])
        codes: dict[str, list[str]] = {}
        for code, ids in miss.items():
            for i in ids:
                codes.setdefault(i, []).append(code)
        if codes:
            pid = homes["provider_id"].astype(str)
            names = dict(zip(pid, homes["name"] if "name" in homes else [None] * len(homes),
                             strict=True))
            left_out = pd.DataFrame([{"provider_id": i, "name": names.get(i),
                                      "field": ", ".join(c), "reason": "; ".join(
                                          REASONS[x] for x in c)} for i, c in codes.items()],
                                    columns=["provider_id", "name", "field", "reason"])
            homes = homes[~pid.isin(set(codes))].reset_index(drop=True)
        if len(homes) == 0:
            ex = _home_exclusions_frame(left_out)
            raise InvalidInput("no care home has every figure viability needs ("
                               + completeness.describe(ex) + ")")
    base = Baseline.from_frame(homes, zones if len(zones) else None, strict=strict)
    if len(left_out):
        base = Baseline(base.homes, base.params, pd.concat(
            [left_out, base.excluded], ignore_index=True) if len(base.excluded) else left_out,
            base.kind, base.capacity)
    return base


def _home_exclusions_frame(frame: pd.DataFrame) -> Excluded:
    """Excluded from a frame of left-out records (provider_id, field: codes or field names)."""
    ex = Excluded()
    for r in frame.itertuples():
        for part in str(getattr(r, "field", "") or "").split(","):
            part = part.strip()
            code = part if part in REASONS else _HOME_FIELD_REASON.get(part, "no_" + part)
            ex.add(code, [r.provider_id])
    return ex


def _home_exclusions(baseline: Baseline) -> Excluded:
    return _home_exclusions_frame(baseline.excluded)


# -- the Data completeness section -------------------------------------------------------------


def data_completeness(source: Market | sqlite_utils.Database, sample: int = 20
                      ) -> dict[str, Any]:
    """Per record kind: how many records are complete, what is missing (count per reason, the
    first `sample` ids, the models that leave such records out) and where to download the
    incomplete ones in the import layout (`csv`: the path under /api/v1)."""
    market = _market(source)
    routed = sorted(_routed(market))
    kinds = []
    for k in completeness.KINDS.values():
        item = completeness.summary(k, market.table(k.table), routed, sample)
        item["columns"] = incomplete_columns(k.kind)
        item["csv"] = f"/imports/incomplete/{k.kind}.csv"
        kinds.append(item)
    return {"kinds": kinds, "records": sum(k["records"] for k in kinds),
            "complete": sum(k["complete"] for k in kinds),
            "incomplete": sum(k["incomplete"] for k in kinds),
            "reasons": dict(completeness.REASONS), "input_hash": market.input_hash}


def incomplete_columns(kind: str) -> list[str]:
    """The columns the importer of `kind` reads (market.entities), in its order."""

    if kind not in completeness.KINDS:
        raise UnknownEntity(f"no record kind '{kind}' (kinds: "
                            f"{', '.join(completeness.KINDS)})")
    return ENTITIES[completeness.KINDS[kind].table].columns


def incomplete_records(source: Market | sqlite_utils.Database, kind: str
                       ) -> tuple[list[str], list[list[Any]]]:
    """The incomplete records of `kind` as (the import layout's columns, rows of stored
    values; a missing figure is a blank cell), ordered by id: fill the blanks and import the
    file as `kind` again."""
    market = _market(source)
    columns = incomplete_columns(kind)
    k = completeness.KINDS[kind]
    frame = market.table(k.table)
    if len(frame) == 0:
        return columns, []
    keep = ~completeness.complete_mask(k, frame, sorted(_routed(market)))
    rows = frame[keep].sort_values(k.key)
    out = []
    for rec in rows.to_dict("records"):
        out.append([jsonio.clean(rec.get(c)) for c in columns])
    return columns, out


def incomplete_csv(source: Market | sqlite_utils.Database, kind: str) -> str:
    """`incomplete_records` as CSV text (a header row, then one row per record)."""

    columns, rows = incomplete_records(source, kind)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if v is None else (f"{v:.12g}" if isinstance(v, float) else v)
                    for v in r])
    return buf.getvalue()


# -- levers -------------------------------------------------------------------------------------


def check_levers(levers: Mapping[str, Any] | None, allowed: Mapping[str, Any],
                 what: str) -> dict[str, Any]:
    """The registry's check of operation `what` (kept for old callers)."""
    return registry.check(what, levers)


def check_coverage_levers(levers: Mapping[str, Any] | None, prefix: str = "",
                          strict: bool = False) -> dict[str, Any]:
    """The coverage levers with their defaults, every value checked (market.levers)."""
    return registry.check("coverage", levers, prefix, strict)


def check_equalisation_options(options: Mapping[str, Any] | None, prefix: str = "",
                               strict: bool = False) -> dict[str, Any]:
    """The equalisation options with their defaults, every value checked (market.levers)."""
    return registry.check("equalisation", options, prefix, strict)


class UnknownProviderLever(registry.LeverRefused, InvalidInput):
    """A lever naming a home-care provider the market does not have: a bad lever (the field
    is named) that is also a fact about the input (the store or the files read); well-formed,
    so the API answers 422 (LeverRefused)."""


def check_provider_ids(source: Market | sqlite_utils.Database, lv: Mapping[str, Any],
                       prefix: str = "") -> None:
    """UnknownProviderLever naming the exits or capacity changes that name no home-care
    provider; its field is `prefix` + the lever's name."""
    asked = list(lv.get("remove_provider") or []) + list(lv.get("capacity") or {})
    if not asked:
        return
    known = set(_market(source).table("homecare_providers")["provider_id"].astype(str))
    unknown = [p for p in asked if p not in known]
    if unknown:
        raise UnknownProviderLever(prefix + ("remove_provider" if unknown[0] in (
            lv.get("remove_provider") or []) else "capacity"),
            f"unknown home-care provider(s): {', '.join(unknown[:10])}")


def scenario_values(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None,
                    scenario_name: str | None = None) -> tuple[dict[str, float], str | None]:
    """The scenario's values: a saved scenario's (by name) overlaid with `scenario`."""
    values: dict[str, Any] = {}
    name = None
    if scenario_name:
        market = _market(source)
        db = market.scenarios_db or market.db
        if db is None:
            raise InvalidInput("a saved scenario needs the store")
        sc = get_scenario(db, scenario_name)
        values.update(sc.values)
        name = sc.name
    values.update({k: v for k, v in (scenario or {}).items() if v is not None})
    return check_scenario(values), name


def fee_basis(market: Market, values: Mapping[str, Any]
              ) -> tuple[Market, dict[str, float], dict[str, Any] | None]:
    """The market a scenario's care homes run on, its model parameters, and what the fee
    basis did.

    `la_fee_basis` current (or absent): the market as it is. fcoc_median: a copy of the
    market whose care homes' LA fees are the Fair Cost of Care median of their category,
    uprated to today (`fair_cost.medians_now`): nursing homes the standard nursing median, the
    others the standard residential one, since the store does not separate enhanced-needs
    placements. Only a recorded fee is replaced (a home without one stays left out, as at the
    current basis, so both bases assess the same homes). A category without returns keeps
    its fees and `notes` says so. The LA fee change lever applies on top; self-funders'
    fees follow the model's rule (never below the LA fee paid). Home care is not rebased: its
    FCoC median is the second line of the cost of care by zone. Returns (market, parameter
    values, the basis record or None).
    """
    numeric = {k: float(v) for k, v in values.items() if k != FEE_BASIS}
    basis = values.get(FEE_BASIS) or "current"
    if basis == "current":
        return market, numeric, None
    if market.db is None:
        raise InvalidScenario(f"{FEE_BASIS} {basis}: the Fair Cost of Care median comes from "
                              "the cost returns in the store; run on the store, not on files")
    got = fair_cost.medians_now(market.db)
    med = got["medians"]
    homes = market.table("care_homes").copy()
    notes = [f"no {g} cost returns: those homes keep their stored LA fee"
             for g in ("residential", "nursing") if med[g] is None]
    rebased, raised = 0, []
    if len(homes) and "la_fee" in homes:
        nursing = (pd.to_numeric(homes["nursing"], errors="coerce").fillna(0).astype(bool)
                   if "nursing" in homes else pd.Series(False, index=homes.index))
        target = pd.Series([med["nursing"] if n else med["residential"] for n in nursing],
                           index=homes.index, dtype=float)
        has = pd.to_numeric(homes["la_fee"], errors="coerce").notna() & target.notna()
        homes["la_fee"] = homes["la_fee"].astype(object)
        homes.loc[has, "la_fee"] = target[has]
        rebased = int(has.sum())
        if "self_funder_fee" in homes:
            sf = pd.to_numeric(homes["self_funder_fee"], errors="coerce")
            low = has & sf.notna() & (sf < target)
            homes["self_funder_fee"] = homes["self_funder_fee"].astype(object)
            homes.loc[low, "self_funder_fee"] = target[low]
            raised = sorted(homes.loc[low, "provider_id"].astype(str))
    frames = {**market.frames, "care_homes": homes}
    based = Market(db=market.db, source=market.source, frames=frames,
                   _hash=market.input_hash, strict=market.strict,
                   scenarios_db=market.scenarios_db)
    return based, numeric, {
        FEE_BASIS: basis, "as_of": got["as_of"], "returns_date": got["returns_date"],
        "medians": {g: med[g] for g in ("residential", "nursing")},
        "care_homes_rebased": rebased, "self_funder_fee_raised": raised,
        "assumptions": got["assumptions"], "notes": notes}


# -- recording ----------------------------------------------------------------------------------


def _recorded(kind: str, market: Market, params: dict[str, Any], user: str | None,
              run_id: int | None, compute: Callable[[int | None], dict[str, Any]]
              ) -> dict[str, Any]:
    """Run `compute(run_id)`; on the store, record it: started (unless `run_id` was claimed
    already, as web.tasks does), then done with its result, or failed with the reason."""
    if market.recorded and run_id is None:
        run_id = run_store.start_run(market.db, kind, params, None, None, user)
    elif market.recorded:
        run_store.mark_running(market.db, run_id)
    try:
        result = compute(run_id)
    except Exception as exc:
        if market.recorded:
            run_store.fail_run(market.db, run_id, run_store.user_message(exc))
        raise
    result["run_id"] = run_id
    records = result.pop("_parameter_records", None) or result.get("parameters")
    if market.recorded:
        with market.db.atomic():
            market.db["runs"].update(run_id, {
                "params": run_store.dumps(params),
                "parameters": run_store.dumps(records),
                "input_hash": result.get("input_hash")})
        run_store.finish_run(market.db, run_id, result)
    return result


def _params_of(model_params: ParameterSet) -> list[dict[str, Any]]:
    return model_params.to_records()


# -- coverage -----------------------------------------------------------------------------------


def build_coverage_model(source: Market | sqlite_utils.Database,
                         levers: Mapping[str, Any] | None = None, *,
                         parameters: Mapping[str, Any] | None = None,
                         travel_file: str | None = None):
    """Return (CoverageModel, checked levers, ParameterSet, Excluded) for the market."""
    market = _market(source)
    lv = check_coverage_levers(levers)
    overrides = dict(parameters or {})
    overrides.update({k: lv[k] for k in ("visit_minutes", "visits_per_run") if lv[k] is not None})
    params = ParameterSet(overrides)
    check_provider_ids(market, lv)
    zones, providers, travel, excluded = coverage_inputs(market, lv["fill_capacity"],
                                                         lv["capacity"])
    # An exit or a capacity change naming an agency left out for missing figures changes
    # nothing the model holds (the agency is named in `excluded`).
    kept = set(providers["provider_id"].astype(str))
    model = CoverageModel.from_frames(
        zones, providers, travel, params, max_travel_minutes=lv["max_minutes"],
        variant=lv["variant"],
        capacity_changes={k: v for k, v in lv["capacity"].items() if k in kept},
        removed_providers=[p for p in lv["remove_provider"] if p in kept],
        added_bases=sites_as_bases(market.table("sites"), excluded, sorted(_routed(market)))
        if lv["add_sites"] else None,
        max_providers_per_zone=lv["max_providers_per_zone"], calibrate_travel=lv["calibrate"],
        travel_file=travel_file)
    model.estimated_capacity = _estimated(providers)
    return model, lv, params, excluded


def coverage(source: Market | sqlite_utils.Database, levers: Mapping[str, Any] | None = None,
             *, user: str | None = None, progress: Progress | None = None,
             run_id: int | None = None, parameters: Mapping[str, Any] | None = None,
             time_limit: float | None = None, travel_file: str | None = None
             ) -> dict[str, Any]:
    """Run the home-care coverage LP (methodology s3) with the cost of care per zone (s4).

    The result is the model's `to_dict` plus `levers` (as checked), `zones_map` (every zone
    with coordinates, unmet hours, travel and the s4 cost of care against the LA rate),
    `cost_of_care` (by rurality), `excluded`, `input_hash`, `parameters` and `run_id`, and
    the travel uncertainty (`CoverageModel.solve_band`): `reach_routed_share`,
    `reach_estimated_share`, `unmet_hours_band` (None where no estimate is in or near reach)
    and per zone `reach_routed_share`, `reach_uncertain`, `unmet_hours_low/high`.
    `parameters` overrides model parameters (the CLI's --set); `time_limit` is in seconds,
    for each of the three solves.
    """
    market = _market(source)
    progress = progress or _noop
    lv_given = dict(levers or {})
    checked = check_coverage_levers(lv_given, "levers.")  # fails before a run is recorded
    if parameters:
        ParameterSet(parameters)

    def compute(run_id: int | None) -> dict[str, Any]:
        progress(0.1, "building the LP")
        model, lv, params, excluded = build_coverage_model(
            market, lv_given, parameters=parameters, travel_file=travel_file)
        progress(0.4, "solving")
        model.solve(lv["solver"], time_limit)
        progress(0.6, "solving at the travel estimate's error quantiles")
        model.solve_band(lv["solver"], time_limit)
        progress(0.85, "costing care per zone")
        result = model.to_dict(lv["gaps"])
        result["levers"] = lv
        result["estimated_capacity"] = model.estimated_capacity
        mark_estimated(result["providers"], model.estimated_capacity)
        result["zones_map"] = zones_map(market, model, params, excluded.to_dict())
        result["bases_in_reach"] = bases_in_reach(model)
        result["cost_of_care"] = cost_of_care_summary(result["zones_map"])
        result["excluded"] = excluded.to_dict()
        _warn_excluded(result, excluded)
        if model.estimated_capacity:
            result.setdefault("warnings", []).append(
                f"{len(model.estimated_capacity)} agenc"
                f"{'y' if len(model.estimated_capacity) == 1 else 'ies'} with an estimated "
                "capacity (fill_capacity: the median of agencies in the same rurality class)")
        result["input_hash"] = market.input_hash
        result["_parameter_records"] = params.to_records()  # stored with the run, not shown
        result["source"] = market.source
        progress(1.0, "done")
        return result

    return _recorded("coverage", market, {"levers": checked, **(
        {"parameters": dict(parameters)} if parameters else {})}, user, run_id, compute)


REACH_PER_ZONE = 10  # nearest bases kept per zone in a run's `bases_in_reach` (and every one used)


def bases_in_reach(model, per_zone: int = REACH_PER_ZONE) -> list[dict[str, Any]]:
    """Each zone's bases within the travel limit as the run used them (the zone page reads
    them): zone_id, provider_id, one-way minutes, contact hours assigned, source."""
    frame = model.bases_in_reach(per_zone)
    frame["minutes"] = frame["minutes"].round(2)
    frame["contact_hours"] = frame["contact_hours"].round(4)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


def mark_estimated(records: Sequence[dict[str, Any]], estimated: Sequence[str]) -> None:
    """Set `capacity_estimated` on each provider record (True where fill_capacity set it)."""
    est = set(map(str, estimated))
    for r in records:
        if "provider_id" in r:
            r["capacity_estimated"] = str(r["provider_id"]) in est


def _estimated(providers: pd.DataFrame) -> list[str]:
    if "capacity_estimated" not in providers:
        return []
    return [str(p) for p in providers.loc[providers["capacity_estimated"].astype(bool),
                                          "provider_id"]]


def _warn_excluded(result: dict[str, Any], excluded: Excluded) -> None:
    if len(excluded):
        result.setdefault("warnings", []).append(
            completeness.describe(excluded, head="{total} record(s) left out for missing "
                                                  "figures: ") + " (see 'excluded')")


def zones_map(source: Market | sqlite_utils.Database, model, params,
              excluded: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every zone with what the map colours by and the s4 cost of care against the LA rate and
    against the FCoC home-care median uprated to today (`fcoc_median`, `fcoc_gap`: the cost
    above it; None without returns or on files), and the travel time paid per contact hour
    (`travel_pay_per_contact_hour` = wage x tau / 60).

    Cost per contact hour is costed from the LP's assignment (unserved zones at their cheapest
    reachable pair); `la_hourly_rate` is the rate in force (a zone-scoped rate beats the general
    one), `gap` the cost above it and `rural_uplift_rate` the rate that closes it. A zone no
    agency reaches is kept, with `reached` false and no cost; a stored zone the model left out
    for missing figures is kept too, with `reached` false and `left_out` saying why (the
    reason's label from `excluded`, the result's object), so the map, the cost-of-care table
    and its summary count every zone of the store.
    """
    market = _market(source)
    z = model.zones.copy()
    stored = market.table("zones")
    coords = stored[[c for c in ("zone_id", "name", "lat", "lon") if c in stored]]
    z = z.drop(columns=[c for c in ("name", "lat", "lon") if c in z and c in coords]).merge(
        coords, on="zone_id", how="left")
    rates = la_hourly_rates(market.table("fee_rates"), z["zone_id"].astype(str),
                            as_of=date.today().isoformat())
    costs = zone_costs_from_model(model, stored, params, rates)
    cost_cols = ["tau", *COST_LINES, "cost_per_contact_hour", "cost_basis", "la_hourly_rate",
                 "gap", "rural_uplift_rate", "uplift_per_hour", "la_uplift_per_week"]
    z = z.merge(costs[["zone_id", *cost_cols]], on="zone_id", how="left")
    # travel time paid per contact hour: the direct wage's travel part, wage x tau / 60
    with np.errstate(invalid="ignore", divide="ignore"):
        z["travel_pay_per_contact_hour"] = (z["direct_wage"].astype(float) * z["tau"].astype(float)
                                            / (60.0 + z["tau"].astype(float)))
    # the second line: the council's Fair Cost of Care home-care median, uprated to today
    fair = fair_cost.medians_now(market.db)["medians"]["homecare"] if market.db is not None \
        else None
    z["fcoc_median"] = fair
    z["fcoc_gap"] = (z["cost_per_contact_hour"].astype(float) - fair) if fair is not None \
        else None
    keep = [c for c in ("zone_id", "name", "lat", "lon", "rurality", "demand_hours",
                        "met_hours", "unmet_hours", "reachable_providers",
                        "travel_minutes_per_contact_hour", "marginal_travel_hours",
                        "reach_routed_share", "reach_uncertain", "unmet_hours_low",
                        "unmet_hours_high", *cost_cols, "travel_pay_per_contact_hour",
                        "fcoc_median", "fcoc_gap") if c in z]
    clean = z[keep].astype(object).where(z[keep].notna(), None)
    out = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
           for r in clean.to_dict("records")]
    for r in out:
        r["reached"] = bool(r.get("reachable_providers")) if "reachable_providers" in r \
            else r.get("cost_per_contact_hour") is not None
    why = {str(i): reason.get("label") or code
           for code, reason in ((excluded or {}).get("by_reason") or {}).items()
           for i in reason.get("ids") or []}
    modelled = {str(r["zone_id"]) for r in out}
    for zone in stored.to_dict("records") if "zone_id" in stored else []:
        zid = str(zone["zone_id"])
        if zid in modelled:
            continue
        row = {k: jsonio.clean(zone.get(k)) for k in ("name", "lat", "lon", "rurality",
                                                      "demand_hours")}
        out.append({"zone_id": zid, **row, "reached": False,
                    "left_out": why.get(zid, "missing figures the model needs")})
    return out


def cost_of_care_summary(zones_map: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Cost of care per contact hour by rurality (weighted by delivered contact hours), the LA
    rate and its gap, the Fair Cost of Care home-care median and the gap to it (the second
    line: `fcoc_median`, `fcoc_gap`), the travel time paid per contact hour, and the weekly LA
    uplift that closes the gap in every zone (s4).

    Every zone is counted: `zones` per class = `zones_costed` (delivered hours, in the means)
    + `zones_unserved` (an agency in reach, but the model delivers none of their hours: costed
    at the cheapest agency in reach, not in the means) + `zones_unreached` (no agency within the
    travel limit) + `zones_left_out` (left out of the model for missing figures); `zones_map`
    lists them all.
    """
    z = pd.DataFrame(list(zones_map))
    if len(z) == 0 or "cost_per_contact_hour" not in z:
        return {"by_rurality": [], "la_uplift_per_week": 0.0, "la_uplift_per_year": 0.0,
                "zones": int(len(z)), "zones_unreached": 0, "zones_left_out": 0,
                "zones_unserved": 0, "zones_costed": 0}
    rows = []
    z["_r"] = z["rurality"].fillna("unknown") if "rurality" in z else "unknown"
    unreached_all = left_out_all = unserved_all = 0
    left = z["left_out"].notna() if "left_out" in z else pd.Series(False, index=z.index)
    for rurality, g_all in z.groupby("_r", sort=False):
        out_here = left.loc[g_all.index]
        left_out = int(out_here.sum())
        left_out_all += left_out
        unreached = int((~g_all["reached"].astype(bool) & ~out_here).sum()) \
            if "reached" in g_all else 0
        unreached_all += unreached
        g = g_all[g_all["cost_per_contact_hour"].notna() & (g_all["met_hours"] > 0)]
        unserved = len(g_all) - len(g) - unreached - left_out
        unserved_all += unserved
        w = g["met_hours"].astype(float)

        def mean(col: str, g=g, w=w) -> float | None:
            if len(g) == 0 or not g[col].notna().all() or w.sum() <= 0:
                return None
            return float((g[col].astype(float) * w).sum() / w.sum())

        rows.append({"rurality": rurality, "zones": int(len(g_all)),
                     "zones_costed": int(len(g)), "zones_unreached": unreached,
                     "zones_left_out": left_out, "zones_unserved": unserved,
                     "contact_hours": float(w.sum()),
                     "travel_minutes_per_contact_hour": mean("tau"),
                     "cost_per_contact_hour": mean("cost_per_contact_hour"),
                     "la_hourly_rate": mean("la_hourly_rate"), "gap": mean("gap"),
                     "travel_pay_per_contact_hour": mean("travel_pay_per_contact_hour")
                     if "travel_pay_per_contact_hour" in g else None,
                     "fcoc_median": mean("fcoc_median") if "fcoc_median" in g else None,
                     "fcoc_gap": mean("fcoc_gap") if "fcoc_gap" in g else None,
                     "zones_above_fcoc": int((g["fcoc_gap"].astype(float) > 1e-9).sum())
                     if "fcoc_gap" in g else 0,
                     "zones_under_cost": int((g["gap"] > 1e-9).sum()),
                     "la_uplift_per_week": float(g["la_uplift_per_week"].fillna(0).sum())})
    rows.sort(key=lambda r: rurality_rank(r["rurality"]))
    week = float(sum(r["la_uplift_per_week"] for r in rows))
    return {"by_rurality": rows, "la_uplift_per_week": week, "la_uplift_per_year": 52 * week,
            "zones": int(len(z)), "zones_unreached": unreached_all,
            "zones_left_out": left_out_all, "zones_unserved": unserved_all,
            "zones_costed": int(sum(r["zones_costed"] for r in rows))}


def rurality_rank(r: Any) -> int:
    return RURALITY_CLASSES.index(r) if r in RURALITY_CLASSES else len(RURALITY_CLASSES)


# -- equalisation -------------------------------------------------------------------------------


# -- reach: the zones no agency reaches within X minutes ----------------------------------------


def reach(source: Market | sqlite_utils.Database, levers: Mapping[str, Any] | None = None
          ) -> dict[str, Any]:
    """The zones no home-care agency reaches within `max_minutes` one way, with their demand
    and population (a read, not a recorded run).

    Minutes are the coverage model's: the stored travel matrix where it has the pair, else the
    estimate from straight-line distance (optimizer.travel.travel_minutes with the model
    parameters). `zones` lists every zone not reached, largest demand first, with its nearest
    agency and minutes (None when no time can be had); `totals` sums them; a zone or an agency
    with neither coordinates nor a routed travel time is left out and named in `excluded`.
    """
    market = _market(source)
    lv = registry.check("reach", levers or {})
    limit = float(lv["max_minutes"])
    zones = market.table("zones").copy()
    providers = market.table("homecare_providers").copy()
    excluded = Excluded()
    travel = market.travel()
    routed_p = _routed(market)
    routed_z = set(travel["zone_id"].astype(str)) if travel is not None else set()
    zones["zone_id"] = zones["zone_id"].astype(str)

    def located(frame: pd.DataFrame, key: str, routed: set[str]) -> pd.Series:
        if len(frame) == 0:
            return pd.Series([], dtype=bool)
        xy = (pd.to_numeric(frame.get("lat"), errors="coerce").notna()
              & pd.to_numeric(frame.get("lon"), errors="coerce").notna())
        return xy | frame[key].astype(str).isin(routed)

    if len(providers):
        providers["provider_id"] = providers["provider_id"].astype(str)
        ok_p = located(providers, "provider_id", routed_p)
        excluded.add("no_location", providers.loc[~ok_p, "provider_id"])
        providers = providers[ok_p]
    ok_z = located(zones, "zone_id", routed_z)
    excluded.add("no_location", zones.loc[~ok_z, "zone_id"])
    zones = zones[ok_z].reset_index(drop=True)
    nearest = pd.DataFrame({"zone_id": zones["zone_id"], "nearest_minutes": float("nan"),
                            "nearest_provider_id": None, "minutes_source": None})
    if len(providers) and len(zones):
        pairs = travel_minutes(zones, providers, travel, ParameterSet())
        pairs = pairs[pairs["minutes"].notna()]
        best = pairs.loc[pairs.groupby("zone_id")["minutes"].idxmin()]
        nearest = nearest[["zone_id"]].merge(best.rename(columns={
            "minutes": "nearest_minutes", "provider_id": "nearest_provider_id",
            "source": "minutes_source"})[["zone_id", "nearest_minutes", "nearest_provider_id",
                                          "minutes_source"]], on="zone_id", how="left")
    names = dict(zip(providers["provider_id"], providers["name"], strict=True)) \
        if len(providers) else {}
    z = zones.merge(nearest, on="zone_id", how="left")
    minutes = pd.to_numeric(z["nearest_minutes"], errors="coerce")
    out = z[~(minutes <= limit)].copy()
    out["_d"] = pd.to_numeric(out.get("demand_hours"), errors="coerce")
    out = out.sort_values(["_d", "zone_id"], ascending=[False, True], na_position="last")
    cols = ("zone_id", "name", "la_name", "rurality", "demand_hours", "population_total",
            "population_65_plus", "nearest_minutes", "nearest_provider_id", "minutes_source")
    rows = []
    for r in out.to_dict("records"):
        row = {c: jsonio.clean(r.get(c)) for c in cols}
        row["nearest_provider_name"] = names.get(r.get("nearest_provider_id"))
        rows.append(row)

    def total(col: str) -> float | None:
        """The sum over the zones listed; None when none of them has the figure."""
        vals = [r[col] for r in rows if r[col] is not None]
        return round(float(sum(vals)), 2) if vals or not rows else None

    demand_all = pd.to_numeric(zones.get("demand_hours"), errors="coerce").sum()
    demand_out = total("demand_hours")
    return {
        "max_minutes": limit, "levers": lv, "zones_total": int(len(zones)),
        "agencies": int(len(providers)), "zones": rows,
        "totals": {"zones": len(rows), "demand_hours": demand_out,
                   "share_of_demand": (round(float(demand_out or 0) / float(demand_all), 4)
                                       if demand_all else None),
                   "population_total": total("population_total"),
                   "population_65_plus": total("population_65_plus")},
        "excluded": excluded.to_dict(), "input_hash": market.input_hash,
    }


def evaluate_equalisation(market: Market, values: Mapping[str, float],
                          opts: Mapping[str, Any], progress: Progress = _noop,
                          scenario_name: str | None = None) -> dict[str, Any]:
    """Compute an equalisation result (not recorded): see `equalisation`."""
    progress(0.05, "care-home viability")
    asked = dict(values)
    current = market
    market, values, basis = fee_basis(market, values)
    baseline = care_home_baseline(market)
    # with a fee basis, "before" is the market at its stored fees and "after" at the basis
    res = run(baseline, values, care_home_baseline(current) if basis else None)
    viability = res.to_dict()
    excluded = _home_exclusions(baseline)
    viability["excluded_records"] = viability.pop("excluded")
    viability["excluded"] = excluded.to_dict()
    out: dict[str, Any] = {"scenario": asked, "scenario_name": scenario_name,
                           "fee_basis": basis,
                           "options": dict(opts), "input_hash": market.input_hash,
                           "source": market.source, "viability": viability,
                           "summary": viability["summary"]}
    if opts["sweep_parameter"]:
        progress(0.2, f"sweeping {opts['sweep_parameter']}")
        grid = default_values(opts["sweep_parameter"], float(opts["sweep_step"]))
        out["sweep"] = sweep_model(baseline, opts["sweep_parameter"], grid, values).to_dict()
    draws = int(opts["montecarlo_draws"] or 0)
    if draws > 0:
        progress(0.35, f"Monte Carlo, {draws:,} draws")
        mc = monte_carlo(baseline, opts["take_up_dist"], opts["cost_change_dist"], draws,
                         int(opts["seed"]), {k: v for k, v in values.items() if k != "take_up"})
        out["montecarlo"] = mc.to_dict(homes=True)
    if opts["homecare"]:
        progress(0.55, "home-care viability and provider exits")
        out["homecare"] = homecare_exits(market, values, opts["solver"],
                                         bool(opts.get("fill_capacity")))
        excluded.merge((out["homecare"] or {}).get("excluded"))
    out["excluded"] = excluded.to_dict()
    out["headline"] = equalisation_headline(out)
    out["parameters"] = res.params.to_records()
    return out


def equalisation(source: Market | sqlite_utils.Database,
                 scenario: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, *, user: str | None = None,
                 progress: Progress | None = None, run_id: int | None = None,
                 scenario_name: str | None = None, kind: str = "equalisation"
                 ) -> dict[str, Any]:
    """Run an equalisation scenario (methodology s5); record and return it.

    `scenario_name` runs a saved scenario exactly as saved (`scenario` values, if any, override
    it). Holds `summary` (the care homes' viability summary: the same object as
    `caremarket viability --json`), `viability` (providers with baseline and scenario figures,
    summary, totals), `sweep`, `montecarlo`, `homecare` (home-care viability per contact hour,
    exits and the unmet hours they add), `excluded`, and a `headline`.
    """
    market = _market(source)
    progress = progress or _noop
    values, name = scenario_values(market, scenario, scenario_name)
    opts = check_equalisation_options(options, "options.")

    def compute(_run_id: int | None) -> dict[str, Any]:
        out = evaluate_equalisation(market, values, opts, progress, name)
        progress(1.0, "done")
        return out

    return _recorded(kind, market, {"scenario": values, "options": opts,
                                    "scenario_name": name}, user, run_id, compute)


def viability(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
              *, scenario_name: str | None = None, user: str | None = None,
              run_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Care-home viability alone: `equalisation` without a sweep, Monte Carlo or home care."""
    return equalisation(source, scenario, VIABILITY_ONLY, user=user, run_id=run_id,
                        scenario_name=scenario_name, kind="viability", progress=progress)


def homecare_exits(source: Market | sqlite_utils.Database, values: Mapping[str, Any],
                   solver: str = "auto", fill_capacity: bool = False) -> dict[str, Any] | None:
    """Home-care viability under the scenario, exits, and the unmet hours they add by zone.

    Also each provider's viability per contact hour at baseline and under the scenario
    (`viability`) and the LP's assignment at baseline (`assignment`), which the provider pages
    read.
    """
    market = _market(source)
    try:
        zones, providers, travel, excluded = coverage_inputs(market, fill_capacity)
    except InvalidInput as exc:
        return {"skipped": str(exc)}
    base_params = ParameterSet()
    base = CoverageModel.from_frames(zones, providers, travel, base_params).solve(solver)
    res = provider_exits(zones, providers, travel, scenario=dict(values), solver=solver,
                         baseline_model=base)
    out = res.to_dict()
    cap = providers.set_index(providers["provider_id"].astype(str))["capacity_hours"]
    pf = res.providers.copy()
    pf["capacity_hours"] = pf["provider_id"].astype(str).map(cap).astype(float)
    not_sust = ("at risk", "unviable")
    out["hours_at_risk_before"] = float(pf.loc[pf["class_before"].isin(not_sust),
                                               "capacity_hours"].sum())
    out["hours_at_risk_after"] = float(pf.loc[pf["class_after"].isin(not_sust),
                                              "capacity_hours"].sum())
    out["hours_exited"] = float(pf.loc[pf["exited"], "capacity_hours"].sum())
    out["viability"], lacking = _homecare_viability(providers, base, zones, values)
    excluded.merge(lacking)
    out["excluded"] = excluded.to_dict()
    out["estimated_capacity"] = _estimated(providers)
    mark_estimated(out["providers"], out["estimated_capacity"])
    mark_estimated(out["viability"], out["estimated_capacity"])
    a = base.assignment
    out["assignment"] = [{"provider_id": str(r.provider_id), "zone_id": str(r.zone_id),
                          "contact_hours": float(r.contact_hours),
                          "minutes": float(r.t_minutes), "tau": float(r.tau),
                          "source": r.source} for r in a.itertuples()]
    return out


def _homecare_viability(providers, model, zones, values):
    """Per provider: viability per contact hour at baseline and under the scenario."""
    non_lever = {k: v for k, v in values.items() if k not in LEVERS}
    try:
        now = run_homecare(homecare_baseline(providers, model.assignment, zones,
                                             ParameterSet()), {})
        scen = run_homecare(homecare_baseline(providers, model.assignment, zones,
                                              ParameterSet(non_lever)), values)
    except CareMarketError:
        # no provider has the rates, shares and contact hours viability needs
        return [], Excluded(completeness.missing(
            completeness.HOMECARE, providers, models=[completeness.HOMECARE_VIABILITY])
            or {"no_contact_hours": list(providers["provider_id"].astype(str))})
    after = {r["provider_id"]: r for r in scen.provider_records()}
    out = []
    for r in now.provider_records():
        s = after.get(r["provider_id"], {}).get("scenario")
        out.append({"provider_id": r["provider_id"], "baseline": r["baseline"], "scenario": s,
                    "cross_subsidy_lost": (r["baseline"].get("cross_subsidy") or 0)
                    - ((s or {}).get("cross_subsidy") or 0)})
    return out, _home_exclusions_frame(now.excluded)


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
        "excluded": (out.get("excluded") or {}).get("total", 0),
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


# -- the comparison -----------------------------------------------------------------------------

COMPARE_MEASURES = (*LEVERS, FEE_BASIS, "providers_sustainable", "beds_sustainable", "providers_at_risk",
                    "beds_at_risk", "providers_unviable", "beds_unviable", "cross_subsidy",
                    "cross_subsidy_lost", "revenue", "surplus_after_capital", "extra_la_spend")


def _column(result: Mapping[str, Any]) -> dict[str, Any]:
    """One comparison column from an equalisation result (the market after the scenario)."""
    v = result["viability"]
    s = v["summary"]
    col: dict[str, Any] = {k: float(v["levers"][k]) for k in LEVERS}
    col[FEE_BASIS] = (result.get("fee_basis") or {}).get(FEE_BASIS, "current")
    for c in CLASSES:
        key = c.replace(" ", "_")
        col[f"providers_{key}"] = s["providers_by_class"]["after"].get(c, 0)
        col[f"beds_{key}"] = s["beds_by_class"]["after"].get(c, 0)
    col["cross_subsidy"] = s["cross_subsidy_after"]
    col["cross_subsidy_lost"] = s["cross_subsidy_lost"]
    col["revenue"] = s.get("revenue_after")
    col["surplus_after_capital"] = s.get("surplus_after_capital_after")
    col["extra_la_spend"] = s["extra_la_spend"]
    return {k: col.get(k) for k in COMPARE_MEASURES}


def compare_scenarios(source: Market | sqlite_utils.Database, names: Sequence[str]
                      ) -> dict[str, Any]:
    """Saved scenarios side by side, the baseline first: each column is `viability` of that
    scenario (the baseline: at default levers), and `differences` each minus the baseline."""
    market = _market(source)
    if not names:
        raise InvalidScenario("choose at least one saved scenario to compare")
    opts = check_equalisation_options(VIABILITY_ONLY)
    columns: dict[str, dict[str, Any]] = {
        "baseline": _column(evaluate_equalisation(market, {}, opts))}
    values_of: dict[str, dict[str, float]] = {"baseline": {}}
    for i, n in enumerate(names):
        values, name = scenario_values(market, None, n)
        key = name if name not in columns else f"{name} ({i + 1})"
        columns[key] = _column(evaluate_equalisation(market, values, opts, scenario_name=name))
        values_of[key] = values
    base = columns["baseline"]
    differences = {c: {m: (None if not isinstance(col[m], (int, float))
                           or not isinstance(base[m], (int, float)) else col[m] - base[m])
                       for m in COMPARE_MEASURES}
                   for c, col in columns.items() if c != "baseline"}
    return {"measures": list(COMPARE_MEASURES), "columns": columns,
            "differences": differences, "values": values_of, "input_hash": market.input_hash,
            "source": market.source}


# -- sweeps, Monte Carlo, exits, fee uplift -----------------------------------------------------


def sweep(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
          levers: Mapping[str, Any] | None = None, *, scenario_name: str | None = None,
          user: str | None = None, run_id: int | None = None) -> dict[str, Any]:
    """One lever over a range (default its whole range), the scenario's others held."""
    market = _market(source)
    values, name = scenario_values(market, scenario, scenario_name)
    lv = registry.check("sweep", levers, "levers.")

    def compute(_r):
        based, model, basis = fee_basis(market, values)
        baseline = care_home_baseline(based)
        grid = default_values(lv["parameter"], lv["step"])
        if lv["start"] is not None or lv["stop"] is not None:
            grid = check_parameter_range(lv["parameter"],
                                         grid[0] if lv["start"] is None else lv["start"],
                                         grid[-1] if lv["stop"] is None else lv["stop"],
                                         lv["step"])
        out = sweep_model(baseline, lv["parameter"], grid, model).to_dict()
        if not lv["tipping"]:
            out.pop("tipping")
        out.update({"scenario": values, "scenario_name": name, "levers": lv,
                    "fee_basis": basis,
                    "source": market.source, "input_hash": market.input_hash,
                    "excluded": _home_exclusions(baseline).to_dict(),
                    "parameters": baseline.params.with_overrides(model).to_records()})
        return out

    return _recorded("sweep", market, {**values, "parameter": lv["parameter"],
                                       "scenario_name": name, "levers": lv}, user, run_id,
                     compute)


def montecarlo(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
               levers: Mapping[str, Any] | None = None, *, scenario_name: str | None = None,
               user: str | None = None, run_id: int | None = None) -> dict[str, Any]:
    """Monte Carlo over uncertain take-up: P(at risk / unviable) per home, beds at risk."""
    market = _market(source)
    values, name = scenario_values(market, scenario, scenario_name)
    lv = registry.check("montecarlo", levers, "levers.")

    def compute(_r):
        based, model, basis = fee_basis(market, values)
        baseline = care_home_baseline(based)
        res = monte_carlo(baseline, lv["take_up_dist"], lv["cost_change_dist"], lv["draws"],
                          lv["seed"], model, lv["scope"])
        out = res.to_dict(homes=lv["homes"])
        out.update({"scenario": values, "scenario_name": name, "levers": lv,
                    "fee_basis": basis,
                    "source": market.source, "input_hash": market.input_hash,
                    "excluded": _home_exclusions(baseline).to_dict(),
                    "parameters": baseline.params.with_overrides(model).to_records()})
        return out

    return _recorded("montecarlo", market, {**values, **lv, "scenario_name": name}, user,
                     run_id, compute)


def _homecare_result(out: dict[str, Any], market: Market, providers, excluded, name, lv,
                     params) -> dict[str, Any]:
    """A home-care model's result with what every such run carries: estimated capacities
    marked, what was left out, the scenario's name, the levers, the source and the parameters."""
    out["estimated_capacity"] = _estimated(providers)
    mark_estimated(out["providers"], out["estimated_capacity"])
    _warn_excluded(out, excluded)
    out.update({"scenario_name": name, "levers": lv, "source": market.source,
                "input_hash": market.input_hash, "excluded": excluded.to_dict(),
                "parameters": params.to_records()})
    return out


def exits(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
          levers: Mapping[str, Any] | None = None, *, scenario_name: str | None = None,
          user: str | None = None, run_id: int | None = None) -> dict[str, Any]:
    """Home-care providers made unviable by a scenario exit: unmet hours added, by zone."""
    market = _market(source)
    values, name = scenario_values(market, scenario, scenario_name)
    lv = registry.check("exits", levers, "levers.")

    def compute(_r):
        zones, providers, travel, excluded = coverage_inputs(market, lv["fill_capacity"])
        res = provider_exits(zones, providers, travel, scenario=values, solver=lv["solver"])
        return _homecare_result(res.to_dict(), market, providers, excluded, name, lv,
                                res.params)

    return _recorded("exits", market, {**values, "scenario_name": name, "levers": lv}, user,
                     run_id, compute)


def fee_uplift(source: Market | sqlite_utils.Database, scenario: Mapping[str, Any] | None = None,
               levers: Mapping[str, Any] | None = None, *, scenario_name: str | None = None,
               user: str | None = None, run_id: int | None = None) -> dict[str, Any]:
    """Cheapest LA fee uplifts that keep coverage at its baseline level under a scenario."""
    market = _market(source)
    values, name = scenario_values(market, scenario, scenario_name)
    lv = registry.check("fee_uplift", levers, "levers.")

    def compute(_r):
        zones, providers, travel, excluded = coverage_inputs(market, lv["fill_capacity"])
        model = FeeUpliftModel.from_frames(zones, providers, travel, scenario=values,
                                           mode=lv["mode"]).solve(lv["solver"])
        return _homecare_result(model.to_dict(), market, providers, excluded, name, lv,
                                model.params)

    return _recorded("fee_uplift", market, {**values, "mode": lv["mode"],
                                            "scenario_name": name, "levers": lv}, user,
                     run_id, compute)


# -- a provider's viability, read from the runs -------------------------------------------------


def provider_viability(db: sqlite_utils.Database, provider: Mapping[str, Any],
                       scenario_name: str | None = None) -> dict[str, Any]:
    """A provider's viability now (`baseline`) and under a saved scenario (`scenario`),
    from the latest done equalisation run of that scenario on the current data; without a
    scenario name, from the latest run of any scenario (its baseline is the market now). No
    model is solved here.

    `status`: current (the run read the data as it is), stale (the data changed since: figures
    from the last run), missing (no such run: start one, `POST /api/v1/runs {"kind":
    "equalisation", "scenario_name": ...}`).
    """
    pid, kind = str(provider["provider_id"]), provider["kind"]
    want_home = kind == "homecare"
    rows = db.execute(
        "select id, input_hash, result from runs where kind = 'equalisation' and status = "
        "'done'" + (" and json_extract(params, '$.scenario_name') = ?" if scenario_name else "")
        + " order by id desc limit 20", [scenario_name] if scenario_name else []).fetchall()
    current = content_hash(db)
    chosen = None
    for run_id, digest, result in rows:
        r = json.loads(result) if result else {}
        if want_home and not (r.get("homecare") and "skipped" not in r["homecare"]):
            continue
        chosen = (run_id, digest, r)
        if digest == current:
            break
    out: dict[str, Any] = {"scenario_name": scenario_name,
                           "unit": "hour" if want_home else "week",
                           "capacity": "contact_hours" if want_home else "beds"}
    if chosen is None:
        return {**out, "status": "missing", "run_id": None,
                "how": {"method": "POST", "url": "/api/v1/runs", "body": {
                    "kind": "equalisation", "scenario_name": scenario_name}}}
    run_id, digest, r = chosen
    out.update(status="current" if digest == current else "stale", run_id=run_id,
               scenario_values=r.get("scenario"), run_scenario_name=r.get("scenario_name"))
    if want_home:
        hc = r["homecare"]
        rec = next((x for x in hc.get("viability") or [] if x["provider_id"] == pid), None)
        served = [a for a in hc.get("assignment") or [] if a["provider_id"] == pid]
        out["served"] = sorted(served, key=lambda a: -a["contact_hours"])
        ex = hc.get("providers") or []
        out["exit"] = next((p for p in ex if str(p["provider_id"]) == pid), None)
    else:
        rec = next((x for x in r["viability"]["providers"] if str(x["provider_id"]) == pid),
                   None)
    if rec is None:
        reasons = [v["label"] for v in (r.get("excluded") or {}).get("by_reason", {}).values()
                   if pid in v["ids"]]
        out["excluded"] = "; ".join(reasons) or "not assessed in that run"
        return out
    out.update(baseline=rec["baseline"], scenario=rec["scenario"],
               cross_subsidy_lost=rec.get("cross_subsidy_lost"))
    return out


# -- a zone's figures, read from the runs -------------------------------------------------------

ZONE_COVERAGE_KEYS = ("demand_hours", "met_hours", "unmet_hours", "reachable_providers",
                      "reached", "travel_minutes_per_contact_hour", "tau",
                      "cost_per_contact_hour", "cost_basis", "la_hourly_rate", "gap",
                      "rural_uplift_rate", "la_uplift_per_week")


def _latest_done(db: sqlite_utils.Database, kind: str) -> tuple[int, str, str, str] | None:
    run_id = run_store.latest_id(db, kind)
    if run_id is None:
        return None
    row = db.execute("select id, input_hash, finished_at, params from runs where id = ?",
                     [run_id]).fetchone()
    return tuple(row)  # type: ignore[return-value]


def _items(db: sqlite_utils.Database, run_id: int, path: str, key: str, value: str
           ) -> list[dict[str, Any]]:
    """The objects of the JSON array at `path` in run `run_id`'s result whose `key` is `value`
    (read by SQLite's json_each: the result is never loaded whole)."""
    rows = db.execute(f"select j.value from runs, json_each(runs.result, '{path}') j where "
                      f"runs.id = ? and json_extract(j.value, '$.{key}') = ?",
                      [run_id, value]).fetchall()
    return [json.loads(r[0]) for r in rows]


def zone_profile(db: sqlite_utils.Database, zone: Mapping[str, Any]) -> dict[str, Any]:
    """A zone's figures from the latest done coverage and equalisation runs (no model is
    solved here): `coverage` (met and unmet hours, travel and cost per contact hour against
    the LA rate, the agencies in reach with their minutes) and `equalisation` (its care homes'
    classes before and after the run's scenario). Each carries `status`: current (the run read
    the data as it is), stale (the data changed since) or missing (no run yet).
    """
    zid = str(zone["zone_id"])
    current = content_hash(db)
    out: dict[str, Any] = {}
    cov = _latest_done(db, "coverage")
    if cov is None:
        out["coverage"] = {"status": "missing", "run_id": None}
    else:
        run_id, digest, finished, params = cov
        z = next(iter(_items(db, run_id, "$.zones_map", "zone_id", zid)), None) or {}
        gap = next(iter(_items(db, run_id, "$.zones", "zone_id", zid)), None) or {}
        reach = _items(db, run_id, "$.bases_in_reach", "zone_id", zid)
        names = {str(r[0]): r[1] for r in db.execute(
            "select provider_id, name from homecare_providers union all select site_id, name "
            "from sites")}
        agencies = sorted(({"provider_id": a["provider_id"],
                            "name": names.get(str(a["provider_id"])),
                            "minutes": a["minutes"], "contact_hours": a["contact_hours"],
                            "source": a.get("source")} for a in reach),
                          key=lambda a: (a["minutes"], str(a["provider_id"])))
        lv = (json.loads(params) if params else {}).get("levers") or {}
        limit = lv.get("max_minutes")
        if limit is None:
            limit = ParameterSet()["max_travel_minutes"]
        out["coverage"] = {
            "status": "current" if digest == current else "stale", "run_id": run_id,
            "finished_at": finished, "max_minutes": limit, "in_run": bool(z),
            **{k: z.get(k) for k in ZONE_COVERAGE_KEYS},
            "unmet_share": gap.get("unmet_share"),
            "agencies": agencies,
            "agencies_listed": len(agencies),
        }
    eq = _latest_done(db, "equalisation")
    if eq is None:
        out["equalisation"] = {"status": "missing", "run_id": None}
    else:
        run_id, digest, finished, params = eq
        p = json.loads(params) if params else {}
        homes = _items(db, run_id, "$.viability.providers", "zone_id", zid)
        out["equalisation"] = {
            "status": "current" if digest == current else "stale", "run_id": run_id,
            "finished_at": finished, "scenario": p.get("scenario"),
            "scenario_name": p.get("scenario_name"),
            "homes": [{"provider_id": h["provider_id"], "name": h.get("name"),
                       "beds": h.get("beds"), "class_before": h["baseline"]["class"],
                       "class_after": h["scenario"]["class"],
                       "margin_before": h["baseline"].get("margin"),
                       "margin_after": h["scenario"].get("margin"),
                       "cross_subsidy_lost": h.get("cross_subsidy_lost")} for h in homes],
        }
        beds = [(h.get("beds") or 0, h["scenario"]["class"], h["baseline"]["class"])
                for h in homes]
        out["equalisation"]["beds_at_risk_before"] = sum(b for b, _, c in beds
                                                         if c != "sustainable")
        out["equalisation"]["beds_at_risk_after"] = sum(b for b, c, _ in beds
                                                        if c != "sustainable")
    return out


# -- runs by kind (web.tasks and the API) ------------------------------------------------------

OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "coverage": lambda db, p, **kw: coverage(db, p.get("levers"), **kw),
    "equalisation": lambda db, p, **kw: equalisation(db, p.get("scenario"), p.get("options"),
                                                     scenario_name=p.get("scenario_name"), **kw),
    "viability": lambda db, p, **kw: viability(db, p.get("scenario"),
                                               scenario_name=p.get("scenario_name"), **kw),
    "sweep": lambda db, p, **kw: sweep(db, p.get("scenario"), p.get("levers"),
                                       scenario_name=p.get("scenario_name"),
                                       **{k: v for k, v in kw.items() if k != "progress"}),
    "montecarlo": lambda db, p, **kw: montecarlo(
        db, p.get("scenario"), p.get("levers"), scenario_name=p.get("scenario_name"),
        **{k: v for k, v in kw.items() if k != "progress"}),
    "exits": lambda db, p, **kw: exits(db, p.get("scenario"), p.get("levers"),
                                       scenario_name=p.get("scenario_name"),
                                       **{k: v for k, v in kw.items() if k != "progress"}),
    "fee_uplift": lambda db, p, **kw: fee_uplift(
        db, p.get("scenario"), p.get("levers"), scenario_name=p.get("scenario_name"),
        **{k: v for k, v in kw.items() if k != "progress"}),
}
RUN_KINDS = tuple(OPERATIONS)
# What each kind's run body holds besides "kind" (the API checks it).
RUN_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "coverage": ("levers",), "equalisation": ("scenario", "scenario_name", "options"),
    "viability": ("scenario", "scenario_name"),
    **{k: ("scenario", "scenario_name", "levers") for k in ("sweep", "montecarlo", "exits",
                                                            "fee_uplift")},
}


def check_run(db: sqlite_utils.Database, kind: str, payload: Mapping[str, Any]
              ) -> dict[str, Any]:
    """Check a run's body before it is recorded; LeverError names the field that is wrong.

    The body is JSON (the API), so levers are checked strictly: exactly the types and forms of
    the OpenAPI schema (`web.api.run_body_schema`, from the same registry). A value of that
    form the domain still refuses (an unknown provider, beta:0,1) is a LeverRefused."""
    if kind not in OPERATIONS:
        raise registry.LeverError("kind", f"{kind!r} is not a run kind (choose from "
                                          f"{', '.join(RUN_KINDS)})")
    allowed = RUN_FIELDS_BY_KIND[kind]
    unknown = [k for k in payload if k not in allowed]
    if unknown:
        raise registry.LeverError(unknown[0], f"not a field of a {kind} run (fields: kind, "
                                              f"{', '.join(allowed)})")
    out = {k: payload[k] for k in allowed if payload.get(k) is not None}
    if "scenario_name" in out:
        if not isinstance(out["scenario_name"], str) or not out["scenario_name"].strip():
            raise registry.LeverError("scenario_name", "must be the name of a saved scenario")
        out["scenario_name"] = get_scenario(db, out["scenario_name"].strip()).name
    if "scenario" in out:
        if not isinstance(out["scenario"], Mapping):
            raise registry.LeverError("scenario", "must be an object of parameter values")
        try:
            check_scenario(out["scenario"])
        except InvalidScenario as exc:
            raise registry.LeverError("scenario", str(exc)) from None
    if kind == "coverage":
        check_provider_ids(db, check_coverage_levers(out.get("levers"), "levers.", strict=True),
                           "levers.")
    elif kind == "equalisation":
        check_equalisation_options(out.get("options"), "options.", strict=True)
    elif "levers" in out:
        registry.check(kind, out["levers"], "levers.", strict=True)
    return out


def run_with_progress(db: sqlite_utils.Database, run_id: int, kind: str,
                      payload: Mapping[str, Any], user: str | None = None) -> dict[str, Any]:
    """Carry out the claimed run `run_id` of `kind` (web.tasks); the run records its end."""
    if kind not in OPERATIONS:
        run_store.fail_run(db, run_id, f"unknown run kind '{kind}'")
        raise InvalidScenario(f"unknown run kind '{kind}' ({', '.join(RUN_KINDS)})")
    last = [0.0]

    def progress(fraction: float, _message: str) -> None:
        if fraction - last[0] >= 0.05 or fraction >= 1.0:
            last[0] = fraction
            run_store.set_progress(db, run_id, fraction)

    started = time.monotonic()
    result = OPERATIONS[kind](db, payload, user=user, progress=progress, run_id=run_id)
    result.setdefault("seconds", time.monotonic() - started)
    return result
