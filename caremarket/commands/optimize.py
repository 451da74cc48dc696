"""Optimiser commands: `coverage` (the home-care coverage LP) and `locate` (location models).

`caremarket coverage` runs on the store (and records the run with its parameters and the
content hash of the inputs) or, with `--zones` and `--providers`, straight on CSV files.
`caremarket locate pmedian|mclp|lscp` solves the classic models on a cost-matrix CSV or an
OR-Library file; `caremarket locate sites -k K` chooses home-care bases among candidate sites.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from caremarket import analyses, formats, tables
from caremarket.cli import emit_json, reports_errors
from caremarket.commands.levers import given, options, pairs
from caremarket.runs import record_run
from caremarket.store import content_hash, frame
from market import levers as registry
from market.entities import HOMECARE_PROVIDER, SITE, ZONE
from optimizer.location import LSCP, MCLP, PMedian, SiteSelection, costs_from_long
from optimizer.orlib import read_pmed
from optimizer.travel import wide_to_long

SOLVERS = registry.SOLVERS
TIME_LIMIT_EXIT = 3  # locate pmedian stopped by --time-limit: incumbent, bound and gap given


def _read_csv(path: str):

    return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)


def _read_entity(entity, path: str):
    frame = _read_csv(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if entity.table in ("homecare_providers",) and "name" not in frame:
        frame["name"] = frame.get("provider_id", "")
    return entity.validate(frame, file=Path(path).name)


def _read_travel(path: str):

    frame = _read_csv(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if not {"provider_id", "zone_id", "minutes"} <= set(frame.columns):
        frame = wide_to_long(frame)  # zones down the first column, one column per base
    return frame


def _ids_from_names(travel, zones, bases):
    """Match ids first, then unique (case-insensitive) names, as `caremarket import travel` does;
    what matches neither is left for the model to reject as an unknown id."""
    for col, table in (("zone_id", zones), ("provider_id", bases)):
        ids = set(table[col].astype(str))
        by_name: dict[str, str] = {}
        if "name" in table:
            names = table["name"].astype(str).str.strip().str.lower()
            unique = ~names.duplicated(keep=False)
            by_name = dict(zip(names[unique], table.loc[unique, col].astype(str), strict=True))
        travel[col] = [v if v in ids else by_name.get(v.strip().lower(), v)
                       for v in travel[col].astype(str)]
    return travel


def _pairs(values: tuple[str, ...], option: str) -> dict[str, float]:
    """ID=VALUE options (commands.levers.pairs) with each value a number."""
    out = {}
    for key, value in pairs(values, option).items():
        try:
            out[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"'{key}={value}': {value!r} is not a number",
                                     param_hint=option) from None
    return out


def _market_frames(obj, zones_csv, providers_csv, travel_csv, sites_csv):
    """Zones, providers, travel (and sites) from CSV files, or else from the store."""


    if zones_csv or providers_csv:
        if not (zones_csv and providers_csv):
            raise click.UsageError("give both --zones and --providers (or neither, to use the "
                                   "store)")
        zones = _read_entity(ZONE, zones_csv)
        providers = _read_entity(HOMECARE_PROVIDER, providers_csv)
        travel = _read_travel(travel_csv) if travel_csv else None
        sites = _read_entity(SITE, sites_csv) if sites_csv else None
        if travel is not None:
            bases = providers if sites is None else pd.concat(
                [providers, sites.rename(columns={"site_id": "provider_id"})])
            travel = _ids_from_names(travel, zones, bases)
        return zones, providers, travel, sites, None

    db = obj.db
    zones = frame(db, "zones")
    providers = frame(db, "homecare_providers")
    travel = frame(db, "travel_times")
    travel = travel[["provider_id", "zone_id", "minutes"]] if len(travel) else None
    if travel_csv:
        travel = _read_travel(travel_csv)
    sites = _read_entity(SITE, sites_csv) if sites_csv else frame(db, "sites")
    return zones, providers, travel, sites, db


def _bases(sites):
    return analyses.sites_as_bases(sites)


def _coverage_market(obj, zones_csv, providers_csv, travel_csv, sites_csv) -> analyses.Market:
    """The store, or zones and providers (travel, sites) from CSV files (not recorded)."""
    zones, providers, travel, sites, db = _market_frames(obj, zones_csv, providers_csv,
                                                         travel_csv, sites_csv)
    if db is None:
        files = [f for f in (zones_csv, providers_csv, travel_csv, sites_csv) if f]
        return analyses.Market.from_frames(", ".join(Path(f).name for f in files),
                                           zones=zones, homecare_providers=providers,
                                           travel=travel, sites=sites, files=files)
    market = analyses.Market.from_store(db)
    if travel_csv:
        market.frames["travel_times"] = travel
        market.source = f"store, travel from {Path(travel_csv).name}"
    if sites_csv:
        market.frames["sites"] = sites
    return market


@click.command("coverage")
@click.option("--zones", "zones_csv", type=click.Path(exists=True, dir_okay=False),
              help="Zones CSV (zone_id, demand_hours, lat, lon, rurality, hop_minutes).")
@click.option("--providers", "providers_csv", type=click.Path(exists=True, dir_okay=False),
              help="Providers CSV (provider_id, capacity_hours, lat, lon, ...).")
@click.option("--travel", "travel_csv", type=click.Path(exists=True, dir_okay=False),
              help="Travel minutes CSV: provider_id,zone_id,minutes (or zones down the first "
                   "column, one column per base).")
@click.option("--sites", "sites_csv", type=click.Path(exists=True, dir_okay=False),
              help="Candidate sites CSV (site_id, lat, lon, capacity_hours) for --add-sites.")
@options("coverage")
@click.option("--time-limit", type=float, default=None, help="Seconds.")
@click.option("--access-minutes", type=float, default=None,
              help="Parameter access_minutes (fixed minutes added to every trip).")
@click.option("--crow-kmh", type=float, default=None,
              help="Parameter crow_kmh (straight-line km covered per hour of driving).")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Override any parameter (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def coverage_cmd(obj, zones_csv, providers_csv, travel_csv, sites_csv, time_limit,
                 access_minutes, crow_kmh, settings, as_json, **kw) -> None:
    """Run the home-care coverage LP: care gaps, travel and marginal travel per zone."""
    parameters: dict = dict(_pairs(settings, "--set"))
    for name, value in (("access_minutes", access_minutes), ("crow_kmh", crow_kmh)):
        if value is not None:
            parameters[name] = value
    market = _coverage_market(obj, zones_csv, providers_csv, travel_csv, sites_csv)
    result = analyses.coverage(market, given("coverage", kw), parameters=parameters or None,
                               time_limit=time_limit,
                               travel_file=Path(travel_csv).name if travel_csv else None)
    if not market.recorded:
        result.pop("run_id", None)
    if as_json:
        emit_json(result)
        return
    _print_summary(result)


def _print_summary(r: dict) -> None:
    cov = "n/a" if r["coverage"] is None else f"{100 * r['coverage']:.2f}%"
    click.echo(f"coverage {cov}: {r['met_hours']:.1f} of {r['demand_hours']:.1f} contact hours "
               f"a week met, {r['unmet_hours']:.1f} unmet")
    tm = r["travel_minutes_per_contact_hour"]
    click.echo(f"travel {r['travel_hours']:.1f} hours a week"
               + (f", {tm:.1f} minutes per contact hour" if tm is not None else ""))
    click.echo(f"{r['zones_count']} zones, {r['providers_count']} bases, {r['pairs']} pairs "
               f"within {r['parameters']['max_travel_minutes']:g} minutes; solver {r['solver']}")
    fit = r.get("travel_fit")
    if fit:
        click.echo(f"travel fit: access {fit['access_minutes']:.2f} min, "
                   f"{fit['crow_kmh']:.1f} km/h, median error "
                   f"{100 * fit['median_abs_pct_error']:.1f}% over {fit['pairs']} pairs")
    if r.get("reach_routed_share") is not None:
        click.echo(f"reach on routed minutes: {100 * r['reach_routed_share']:.1f}% of demand, "
                   f"on estimated minutes: {100 * r['reach_estimated_share']:.1f}%")
    band = r.get("unmet_hours_band")
    if band:
        lo, hi = band["ratios"]
        q0, q1 = band["quantiles"]
        click.echo(f"unmet hours band {band['low']:.1f} to {band['high']:.1f} (estimated minutes "
                   f"x{lo:.2f} to x{hi:.2f}, the {100 * q0:g}th and {100 * q1:g}th percentiles of "
                   f"routed/estimated; {band['zones_uncertain']} zones' reach uncertain)")
    if r["care_gaps"]:
        click.echo("largest care gaps (unmet hours):")
        for g in r["care_gaps"][:10]:
            click.echo(f"  {g['zone_id']:12} {g['unmet_hours']:10.1f}")
    for w in r["warnings"]:
        click.echo(f"warning: {w}")
    if "run_id" in r:
        click.echo(f"run {r['run_id']}")


@click.command("locate")
@click.argument("model", type=click.Choice(["pmedian", "mclp", "lscp", "sites"]))
@click.option("--costs", "costs_csv", type=click.Path(exists=True, dir_okay=False),
              help="Cost CSV, long: demand, site, cost[, weight] columns (see --*-col).")
@click.option("--orlib", type=click.Path(exists=True, dir_okay=False),
              help="An OR-Library p-median file (costs are shortest paths).")
@click.option("-p", "p", type=int, default=None, help="Sites to open (pmedian, mclp).")
@click.option("-k", "k", type=int, default=None, help="Most sites to open (sites).")
@click.option("--radius", type=float, default=None, help="Service radius (mclp, lscp).")
@click.option("--weights", default=None,
              help="Weight column of the cost CSV, or a CSV of demand_id,weight.")
@click.option("--demand-col", default="demand_id", show_default=True)
@click.option("--site-col", default="site_id", show_default=True)
@click.option("--cost-col", default="cost", show_default=True)
@click.option("--zones", "zones_csv", type=click.Path(exists=True, dir_okay=False),
              help="sites: zones CSV (else the store).")
@click.option("--providers", "providers_csv", type=click.Path(exists=True, dir_okay=False),
              help="sites: existing providers CSV (else the store).")
@click.option("--sites", "sites_csv", type=click.Path(exists=True, dir_okay=False),
              help="sites: candidate sites CSV (else the store).")
@click.option("--travel", "travel_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--max-minutes", type=float, default=None)
@click.option("--solver", type=click.Choice(SOLVERS), default="auto", show_default=True)
@click.option("--time-limit", type=float, default=None, help="Seconds.")
@click.option("--formulation", type=click.Choice(["auto", "lagrangian", "radius", "assignment"]),
              default="auto", show_default=True,
              help="pmedian: Lagrangian branch and bound, reduced radius MIP, or the classic "
                   "assignment MIP; auto picks per instance (docs/optimizer.md).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def locate_cmd(obj, model, costs_csv, orlib, p, k, radius, weights, demand_col, site_col,
               cost_col, zones_csv, providers_csv, sites_csv, travel_csv, max_minutes, solver,
               time_limit, formulation, as_json) -> None:
    """Solve a location model: pmedian, mclp, lscp (on costs) or sites (home-care bases)."""
    if model == "sites":
        result = _locate_sites(obj, k, zones_csv, providers_csv, sites_csv, travel_csv,
                               max_minutes, solver, time_limit)
    else:
        result = _locate_classic(model, costs_csv, orlib, p, radius, weights, demand_col,
                                 site_col, cost_col, solver, time_limit, formulation)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{model}: objective {result['objective']:.6f}")
        click.echo(f"sites ({len(result['sites'])}): {', '.join(map(str, result['sites']))}")
    if result.get("status") == "time_limit":
        bound = result.get("bound")
        gap = "" if bound is None else f", bound {bound:.6f}, gap {result['gap']:.4%}"
        click.echo(f"time limit of {result['time_limit']:g} s reached: the sites are the best "
                   f"found, not proven optimal{gap}", err=True)
        raise SystemExit(TIME_LIMIT_EXIT)


def _locate_classic(model, costs_csv, orlib, p, radius, weights, demand_col, site_col,
                    cost_col, solver, time_limit, formulation="auto") -> dict:


    if bool(costs_csv) == bool(orlib):
        raise click.UsageError("give exactly one of --costs and --orlib")
    w = None
    if orlib:
        inst = read_pmed(orlib)
        costs, names = inst.costs, [str(i + 1) for i in range(inst.n)]
        demand_names, site_names = names, names
        p = inst.p if p is None else p
    else:
        frame = pd.read_csv(costs_csv, dtype={demand_col: str, site_col: str})
        weight_col = weights if weights and weights in frame.columns else None
        costs, w, demand_names, site_names = costs_from_long(frame, demand_col, site_col,
                                                             cost_col, weight_col)
        if weights and weight_col is None:
            if not Path(weights).exists():
                raise click.BadParameter(f"'{weights}' is neither a column of the cost CSV nor "
                                         "a file", param_hint="--weights")
            wf = pd.read_csv(weights, dtype={demand_col: str})
            wf.columns = ["demand_id", "weight"] + list(wf.columns[2:])
            wmap = wf.set_index(wf["demand_id"].astype(str))["weight"]
            missing = [d for d in demand_names if d not in wmap.index]
            if missing:
                raise click.BadParameter(f"no weight for demand point(s) "
                                         f"{', '.join(missing[:10])}", param_hint="--weights")
            w = wmap.reindex(demand_names).to_numpy(float)
    if model in ("pmedian", "mclp") and p is None:
        raise click.UsageError(f"{model} needs -p")
    if model in ("mclp", "lscp") and radius is None:
        raise click.UsageError(f"{model} needs --radius")
    if model == "pmedian":
        m = PMedian.from_cost_matrix(costs, p, w, demand_names, site_names, formulation)
    elif model == "mclp":
        m = MCLP.from_cost_matrix(costs, p, radius, w, demand_names, site_names)
    else:
        m = LSCP.from_cost_matrix(costs, radius, demand_names, site_names)
    return m.solve(solver, time_limit).to_dict()


def _locate_sites(obj, k, zones_csv, providers_csv, sites_csv, travel_csv, max_minutes, solver,
                  time_limit) -> dict:

    if k is None:
        raise click.UsageError("sites needs -k (the most sites to open)")
    zones, providers, travel, sites, db = _market_frames(obj, zones_csv, providers_csv,
                                                         travel_csv, sites_csv)
    model = SiteSelection.from_frames(zones, providers, _bases(sites), k, travel,
                                      max_travel_minutes=max_minutes)
    result = model.solve(solver, time_limit).to_dict()
    if db is not None:

        result["run_id"] = record_run(db, "site_selection", result,
                                      {"k": k, "max_minutes": max_minutes, "solver": solver},
                                      model.market.params.to_records(), content_hash(db))
    return result


@click.command("cost-of-care")
@options("coverage")
@click.option("--zones", "show_zones", type=int, default=15, show_default=True,
              help="How many zones (largest gap first) to print.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def cost_of_care_cmd(obj, show_zones, as_json, **kw) -> None:
    """Cost of home care per contact hour by zone (s4), against the LA rate, on the store.

    Runs the coverage LP and costs each zone at the travel it assigns: every cost line, the LA
    hourly rate in force, the gap and the rural uplift rate that closes it. Every zone is
    listed; one no agency reaches within the limit has no cost ("no agency within X minutes").
    The run is recorded.
    """
    r = analyses.coverage(obj.db, given("coverage", kw))
    out = {"run_id": r["run_id"], "input_hash": r["input_hash"],
           "parameters": r["parameters"], "cost_of_care": r["cost_of_care"],
           "zones": r["zones_map"], "excluded": r["excluded"]}
    if as_json:
        emit_json(out)
        return
    c = r["cost_of_care"]
    f = formats
    click.echo(f"{'rurality':10} {'zones':>6} {'no agency':>9} {'contact h/wk':>13} "
               f"{'travel min/h':>13} {'cost/h':>8} {'LA rate':>8} {'gap':>7} {'uplift/wk':>11} "
               f"{'FCoC':>8} {'vs FCoC':>8}")
    for row in c["by_rurality"]:
        click.echo(f"{row['rurality']:10} {row['zones']:>6} {row['zones_unreached']:>9} "
                   f"{f.hours(row['contact_hours']):>13} "
                   f"{f.number(row['travel_minutes_per_contact_hour'], 1):>13} "
                   f"{f.money(row['cost_per_contact_hour'], 2):>8} "
                   f"{f.money(row['la_hourly_rate'], 2):>8} {f.money(row['gap'], 2):>7} "
                   f"{f.money(row['la_uplift_per_week']):>11} "
                   f"{f.money(row.get('fcoc_median'), 2):>8} "
                   f"{f.change(row.get('fcoc_gap'), 'GBP an hour'):>8}")
    click.echo(f"LA uplift to pay the cost of care in every zone: "
               f"{f.money(c['la_uplift_per_week'])} a week, {f.money(c['la_uplift_per_year'])}"
               " a year")
    limit = r["parameters"]["max_travel_minutes"]
    if c["zones_unreached"]:
        click.echo(f"{c['zones_unreached']} zone(s) with no agency within {f.number(limit)} "
                   "minutes: no cost of care")
    if c.get("zones_unserved"):
        click.echo(f"{c['zones_unserved']} zone(s) in reach of an agency but given no hours: "
                   "costed at the cheapest agency in reach, outside the means")
    if c.get("zones_left_out"):
        click.echo(f"{c['zones_left_out']} zone(s) left out of the model for missing figures "
                   "(listed in --json 'zones' with 'left_out')")
    # the rows of the cost-of-care table (caremarket.tables): costed zones by gap, largest first
    ranked = [z for z in tables.zone_cost_rows(r) if z.get("gap") is not None][:show_zones]
    if ranked:
        click.echo("zones with the largest gap (cost per contact hour above the LA rate):")
        for z in ranked:
            click.echo(f"  {z['zone_id']:12} {z['rurality'] or '':8} cost "
                       f"{f.money(z['cost_per_contact_hour'], 2)}  LA "
                       f"{f.money(z['la_hourly_rate'], 2)}  rural uplift rate "
                       f"{f.money(z['rural_uplift_rate'], 2)}")
    click.echo(f"run {r['run_id']}")


def register(cli: click.Group) -> None:
    cli.add_command(coverage_cmd)
    cli.add_command(locate_cmd)
    cli.add_command(cost_of_care_cmd)
