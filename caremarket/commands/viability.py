"""Viability commands: `viability`, `scenario save/list/show/delete/compare`, `sweep`,
`montecarlo`, `exits` and `fee-uplift` (methodology s4-s5; docs/models.md).

Each reads care homes from `--care-homes FILE` (a CSV with the care-home columns) or, without
it, from the store, in which case the run is recorded with its parameters and the input hash.
Scenario levers come from `--scenario NAME` (a saved scenario) and/or the lever options, the
options winning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from caremarket.cli import emit_json, reports_errors
from market.errors import InvalidInput

LEVER_OPTIONS = (
    ("--take-up", "take_up", "share of self-funders moving to the LA rate (0-1)"),
    ("--convergence", "convergence", "share of the remaining self-funder premium that closes"),
    ("--la-fee-change", "la_fee_change", "relative change of LA fees (0.03 = +3%)"),
    ("--cost-change", "cost_change", "relative change of operating costs"),
    ("--occupancy-change", "occupancy_change", "absolute change of occupancy"),
)


def lever_options(fn: Callable) -> Callable:
    for flag, dest, text in reversed(LEVER_OPTIONS):
        fn = click.option(flag, dest, type=float, default=None, help=text)(fn)
    fn = click.option("--scenario", "scenario_name", default=None,
                      help="Start from this saved scenario (lever options override it).")(fn)
    return fn


def _scenario(obj, scenario_name: str | None, kwargs: dict[str, Any]) -> dict[str, float]:
    from market.viability import check_scenario

    values: dict[str, float] = {}
    if scenario_name:
        from caremarket.scenario_store import get_scenario

        values.update(get_scenario(obj.db, scenario_name).values)
    for _flag, dest, _text in LEVER_OPTIONS:
        if kwargs.get(dest) is not None:
            values[dest] = kwargs[dest]
    return check_scenario(values)


def _read_csv(path: str):
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"no such file: {path}")
    try:
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read as CSV ({exc})") from None


def _baseline(obj, care_homes: str | None, strict: bool):
    """Return (baseline, source, input_hash): from the CSV, else from the store."""
    from market.equalisation import Baseline

    if care_homes:
        import hashlib

        digest = hashlib.sha256(Path(care_homes).read_bytes()).hexdigest() \
            if Path(care_homes).exists() else None
        return Baseline.from_frame(_read_csv(care_homes), strict=strict), care_homes, digest
    from caremarket.store import content_hash, frame

    db = obj.db
    homes = frame(db, "care_homes")
    if len(homes) == 0:
        raise InvalidInput(f"the store {obj.db_path} has no care homes (import some, or pass "
                           "--care-homes FILE)")
    zones = frame(db, "zones")
    return Baseline.from_frame(homes, zones, strict=strict), "store", content_hash(db)


def _record(obj, care_homes: str | None, kind: str, result: dict, params: dict,
            parameters, input_hash: str | None) -> int | None:
    if care_homes:
        return None
    from caremarket.runs import record_run

    return record_run(obj.db, kind, result, params=params, parameters=parameters,
                      input_hash=input_hash)


# --------------------------------------------------------------------------------------------


@click.command("viability")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None,
              help="CSV of care homes (default: the store's, and the run is recorded).")
@lever_options
@click.option("--strict", is_flag=True,
              help="Treat missing fees/costs as errors instead of leaving the home out.")
@click.option("--no-totals", is_flag=True, help="Leave out totals by zone/rurality/group.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def viability_cmd(obj, care_homes, scenario_name, strict, no_totals, as_json, **levers):
    """Care-home viability at baseline and under an equalisation scenario (s5)."""
    from market.equalisation import run

    values = _scenario(obj, scenario_name, levers)
    baseline, source, digest = _baseline(obj, care_homes, strict)
    result = run(baseline, values)
    out = result.to_dict(totals=not no_totals)
    out["source"] = source
    out["input_hash"] = digest
    run_id = _record(obj, care_homes, "viability", out, values, result.params.to_records(),
                     digest)
    out["run_id"] = run_id
    if as_json:
        emit_json(out)
        return
    s = out["summary"]
    click.echo(f"{s['providers']} care homes, {s['beds']:.0f} beds ({source}); scenario "
               f"{json.dumps(values) if values else 'none'}")
    click.echo(f"{'class':12} {'homes before':>12} {'after':>7} {'beds before':>12} {'after':>8}")
    for c in ("sustainable", "at risk", "unviable"):
        click.echo(f"{c:12} {s['providers_by_class']['before'][c]:>12} "
                   f"{s['providers_by_class']['after'][c]:>7} "
                   f"{s['beds_by_class']['before'][c]:>12.0f} "
                   f"{s['beds_by_class']['after'][c]:>8.0f}")
    click.echo(f"cross-subsidy a year: {s['cross_subsidy_before']:,.0f} -> "
               f"{s['cross_subsidy_after']:,.0f} (lost {s['cross_subsidy_lost']:,.0f})")
    click.echo(f"extra LA spend a year to restore sustainability: {s['extra_la_spend']:,.0f}")
    if out["excluded"]:
        click.echo(f"left out (missing figures): {len(out['excluded'])} home(s)")
    if run_id:
        click.echo(f"recorded as run {run_id}")


# --------------------------------------------------------------------------------------------


@click.group("scenario")
def scenario_group() -> None:
    """Save, list, show, delete and compare named scenarios."""


@scenario_group.command("save")
@click.argument("name")
@click.option("--take-up", "take_up", type=float, default=None)
@click.option("--convergence", type=float, default=None)
@click.option("--la-fee-change", "la_fee_change", type=float, default=None)
@click.option("--cost-change", "cost_change", type=float, default=None)
@click.option("--occupancy-change", "occupancy_change", type=float, default=None)
@click.option("--set", "extra", multiple=True, metavar="PARAM=VALUE",
              help="Any other parameter (e.g. care_worker_hourly_wage=12.6); repeatable.")
@click.option("--description", default="", help="What the scenario stands for.")
@click.option("--user", default=None, help="Who saves it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def scenario_save(obj, name, extra, description, user, as_json, **levers):
    """Save (or replace) scenario NAME."""
    import os

    from caremarket.scenario_store import save_scenario
    from market.scenarios import Scenario

    values = {k: v for k, v in levers.items() if v is not None}
    for item in extra:
        key, sep, val = item.partition("=")
        if not sep:
            raise click.BadParameter(f"'{item}': use PARAM=VALUE", param_hint="--set")
        values[key.strip()] = val.strip()
    sc = save_scenario(obj.db, Scenario(name, values, description),
                       user or os.environ.get("USER"))
    if as_json:
        emit_json(sc.to_dict())
    else:
        click.echo(f"saved scenario '{sc.name}': {json.dumps(dict(sc.values))}")


@scenario_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def scenario_list(obj, as_json):
    """List the saved scenarios."""
    from caremarket.scenario_store import list_scenarios

    rows = list_scenarios(obj.db)
    if as_json:
        emit_json({"scenarios": rows})
        return
    for r in rows:
        click.echo(f"{r['name']:24} {json.dumps(r['values'])}  {r['description']}")
    if not rows:
        click.echo("no scenarios saved")


@scenario_group.command("show")
@click.argument("name")
@click.pass_obj
@reports_errors
def scenario_show(obj, name):
    """Print scenario NAME as JSON."""
    from caremarket.scenario_store import get_scenario

    emit_json(get_scenario(obj.db, name).to_dict())


@scenario_group.command("delete")
@click.argument("name")
@click.pass_obj
@reports_errors
def scenario_delete(obj, name):
    """Delete scenario NAME."""
    from caremarket.scenario_store import delete_scenario

    delete_scenario(obj.db, name)
    click.echo(f"deleted scenario '{name}'")


@scenario_group.command("compare")
@click.argument("names", nargs=-1, required=True)
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def scenario_compare(obj, names, care_homes, as_json):
    """Compare saved scenarios NAMES side by side (baseline first)."""
    from caremarket.scenario_store import get_scenario
    from market.scenarios import compare

    scenarios = [get_scenario(obj.db, n) for n in names]
    baseline, source, digest = _baseline(obj, care_homes, False)
    table = compare(baseline, scenarios)
    out = {"source": source, "input_hash": digest, "measures": list(table.index),
           "columns": {c: {k: _num(v) for k, v in table[c].items()} for c in table.columns}}
    if as_json:
        emit_json(out)
        return
    click.echo(table.to_string(float_format=lambda v: f"{v:,.2f}"))


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


# --------------------------------------------------------------------------------------------


@click.command("sweep")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@click.option("--parameter", default="take_up", show_default=True,
              type=click.Choice(["take_up", "convergence", "la_fee_change", "cost_change",
                                 "occupancy_change"]))
@click.option("--from", "lo", type=float, default=None, help="First value (default 0 for shares).")
@click.option("--to", "hi", type=float, default=None, help="Last value (default 1 for shares).")
@click.option("--step", type=float, default=0.05, show_default=True)
@lever_options
@click.option("--tipping/--no-tipping", default=True, show_default=True,
              help="Include each home's tipping point.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def sweep_cmd(obj, care_homes, parameter, lo, hi, step, scenario_name, tipping, as_json,
              **levers):
    """Sweep one lever over a range (default take-up 0-100% in 5% steps), others held."""
    from market.scenarios import check_parameter_range, default_values, sweep

    values = _scenario(obj, scenario_name, levers)
    grid = default_values(parameter, step)
    if lo is not None or hi is not None:
        grid = check_parameter_range(parameter, grid[0] if lo is None else lo,
                                     grid[-1] if hi is None else hi, step)
    baseline, source, digest = _baseline(obj, care_homes, False)
    res = sweep(baseline, parameter, grid, values)
    out = res.to_dict()
    if not tipping:
        out.pop("tipping")
    out.update({"scenario": values, "source": source, "input_hash": digest})
    out["run_id"] = _record(obj, care_homes, "sweep", out, {**values, "parameter": parameter},
                            baseline.params.with_overrides(values).to_records(), digest)
    if as_json:
        emit_json(out)
        return
    click.echo(res.table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


@click.command("montecarlo")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@click.option("--take-up-dist", default="beta:2,3", show_default=True,
              help="Take-up distribution: beta:a,b[,low,high] | triangular:low,mode,high | "
                   "uniform:low,high | a number.")
@click.option("--cost-change-dist", default=None,
              help="Optional cost-change distribution (same forms).")
@click.option("--draws", type=int, default=10_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--scope", type=click.Choice(["market", "home"]), default="market",
              show_default=True, help="One take-up per draw for the market, or per home.")
@lever_options
@click.option("--homes/--no-homes", "with_homes", default=True, show_default=True,
              help="Include the per-home probabilities.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def montecarlo_cmd(obj, care_homes, take_up_dist, cost_change_dist, draws, seed, scope,
                   scenario_name, with_homes, as_json, **levers):
    """Monte Carlo over uncertain take-up: P(at risk / unviable) per home, beds at risk."""
    from market.uncertainty import monte_carlo

    values = _scenario(obj, scenario_name, levers)
    baseline, source, digest = _baseline(obj, care_homes, False)
    res = monte_carlo(baseline, take_up_dist, cost_change_dist, draws, seed, values, scope)
    out = res.to_dict(homes=with_homes)
    out.update({"source": source, "input_hash": digest})
    out["run_id"] = _record(obj, care_homes, "montecarlo", out,
                            {**values, "take_up_dist": take_up_dist,
                             "cost_change_dist": cost_change_dist, "draws": draws,
                             "seed": seed, "scope": scope},
                            baseline.params.with_overrides(values).to_records(), digest)
    if as_json:
        emit_json(out)
        return
    q = out["market"]
    click.echo(f"{draws} draws (seed {seed}, {scope} scope) in {out['seconds']:.3f} s")
    for key in ("beds_at_risk", "beds_unviable", "beds_not_sustainable"):
        v = q[key]
        click.echo(f"{key:22} median {v['median']:>10,.0f}   90% interval "
                   f"{v['p05']:,.0f} - {v['p95']:,.0f}")


# --------------------------------------------------------------------------------------------


def _coverage_inputs(obj):
    from caremarket.analyses import coverage_frames

    try:
        return coverage_frames(obj.db)
    except InvalidInput as exc:
        raise InvalidInput(f"the store {obj.db_path}: {exc}") from None


@click.command("exits")
@lever_options
@click.option("--solver", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def exits_cmd(obj, scenario_name, solver, as_json, **levers):
    """Home-care providers made unviable by a scenario exit: unmet hours added, by zone."""
    from caremarket.store import content_hash
    from optimizer.fee_uplift import provider_exits

    values = _scenario(obj, scenario_name, levers)
    zones, providers, travel = _coverage_inputs(obj)
    res = provider_exits(zones, providers, travel, scenario=values, solver=solver)
    out = res.to_dict()
    digest = content_hash(obj.db)
    out["run_id"] = _record(obj, None, "exits", out, values, res.params.to_records(), digest)
    if as_json:
        emit_json(out)
        return
    click.echo(f"exits: {', '.join(res.exited) or 'none'}; unmet hours "
               f"{res.unmet_before:,.1f} -> {res.unmet_after:,.1f} a week")


@click.command("fee-uplift")
@lever_options
@click.option("--mode", type=click.Choice(["provider", "band"]), default="provider",
              show_default=True, help="Uplift per provider, or per rurality band of zones.")
@click.option("--solver", default="cbc", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def fee_uplift_cmd(obj, scenario_name, mode, solver, as_json, **levers):
    """Cheapest LA fee uplifts that keep coverage at its baseline level under a scenario."""
    from caremarket.store import content_hash
    from optimizer.fee_uplift import FeeUpliftModel

    values = _scenario(obj, scenario_name, levers)
    zones, providers, travel = _coverage_inputs(obj)
    model = FeeUpliftModel.from_frames(zones, providers, travel, scenario=values,
                                       mode=mode).solve(solver)
    out = model.to_dict()
    out["run_id"] = _record(obj, None, "fee_uplift", out, {**values, "mode": mode},
                            model.params.to_records(), content_hash(obj.db))
    if as_json:
        emit_json(out)
        return
    click.echo(f"extra LA spend {out['annual_cost']:,.0f} a year; unmet hours "
               f"{out['unmet_baseline']:,.1f} (baseline) -> {out['unmet_with_uplift']:,.1f}")


def register(cli) -> None:
    for cmd in (viability_cmd, scenario_group, sweep_cmd, montecarlo_cmd, exits_cmd,
                fee_uplift_cmd):
        cli.add_command(cmd)
