"""Viability commands: `viability`, `scenario save/list/show/delete/compare`, `sweep`,
`montecarlo`, `exits` and `fee-uplift` (methodology s4-s5; docs/models.md).

Each reads care homes from `--care-homes FILE` (a CSV with the care-home columns) or, without
it, from the store, in which case the run is recorded with its parameters and the input hash.
Scenario levers come from `--scenario NAME` (a saved scenario) and/or the lever options, the
options winning.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pandas as pd

from caremarket import analyses, formats
from caremarket.cli import emit_json, reports_errors
from caremarket.commands.levers import given, options, scenario_options
from caremarket.scenario_store import delete_scenario, get_scenario, list_scenarios, save_scenario
from market.errors import InvalidInput
from market.scenarios import Scenario
from market.viability import CLASSES, LEVERS


def read_csv(path: str):
    """A CSV as text columns; InvalidInput when it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise InvalidInput(f"no such file: {path}")
    try:
        return pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read as CSV ({exc})") from None


def market_of(obj, care_homes: str | None = None, strict: bool = False) -> analyses.Market:
    """The store, or the care homes of a CSV file (not recorded)."""
    if care_homes:
        market = analyses.Market.from_frames(care_homes, care_homes=read_csv(care_homes),
                                             files=[care_homes])
    else:
        market = analyses.Market.from_store(obj.db)
    market.strict = strict
    market.scenarios_db = obj.db  # saved scenarios live in the store, in file mode too
    return market


def _scenario_text(values: dict) -> str:
    return json.dumps(values) if values else "none"


# --------------------------------------------------------------------------------------------


@click.command("viability")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None,
              help="CSV of care homes (default: the store's, and the run is recorded).")
@scenario_options
@click.option("--strict", is_flag=True,
              help="Treat missing fees/costs as errors instead of leaving the home out.")
@click.option("--no-totals", is_flag=True, help="Leave out totals by zone/rurality/group.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def viability_cmd(obj, care_homes, scenario_name, strict, no_totals, as_json, **kw):
    """Care-home viability at baseline and under an equalisation scenario (s5)."""
    r = analyses.viability(market_of(obj, care_homes, strict), given("scenario", kw),
                           scenario_name=scenario_name)
    out = {**r["viability"], **{k: r[k] for k in (
        "scenario", "scenario_name", "fee_basis", "summary", "excluded", "headline",
        "source", "input_hash", "run_id")}}
    if no_totals:
        out.pop("totals", None)
    if as_json:
        emit_json(out)
        return
    s = out["summary"]
    click.echo(f"{s['providers']} care homes, {formats.number(s['beds'])} beds ({r['source']});"
               f" scenario {scenario_name or ''} {_scenario_text(r['scenario'])}")
    click.echo(f"{'class':12} {'homes before':>12} {'after':>7} {'beds before':>12} {'after':>8}")
    for c in CLASSES:
        click.echo(f"{c:12} {s['providers_by_class']['before'][c]:>12} "
                   f"{s['providers_by_class']['after'][c]:>7} "
                   f"{formats.number(s['beds_by_class']['before'][c]):>12} "
                   f"{formats.number(s['beds_by_class']['after'][c]):>8}")
    click.echo(f"cross-subsidy a year: {formats.money(s['cross_subsidy_before'])} -> "
               f"{formats.money(s['cross_subsidy_after'])} (lost "
               f"{formats.money(s['cross_subsidy_lost'])})")
    click.echo(f"extra LA spend a year to restore sustainability: "
               f"{formats.money(s['extra_la_spend'])}")
    _print_excluded(out["excluded"])
    if r["run_id"]:
        click.echo(f"recorded as run {r['run_id']}")


def _print_excluded(excluded: dict) -> None:
    if excluded and excluded.get("total"):
        click.echo(f"left out for missing figures: {excluded['total']} record(s): " + "; ".join(
            f"{v['count']} {v['label']} ({', '.join(v['ids'][:5])}"
            f"{', ...' if v['count'] > 5 else ''})" for v in excluded["by_reason"].values()))


# --------------------------------------------------------------------------------------------


@click.group("scenario")
def scenario_group() -> None:
    """Save, list, show, delete and compare named scenarios."""


@scenario_group.command("save")
@click.argument("name")
@options("scenario")
@click.option("--set", "extra", multiple=True, metavar="PARAM=VALUE",
              help="Any other parameter (e.g. care_worker_hourly_wage=12.6); repeatable.")
@click.option("--description", default="", help="What the scenario stands for.")
@click.option("--user", default=None, help="Who saves it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def scenario_save(obj, name, extra, description, user, as_json, **kw):
    """Save (or replace) scenario NAME."""
    values = given("scenario", kw)
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
    emit_json(get_scenario(obj.db, name).to_dict())


@scenario_group.command("delete")
@click.argument("name")
@click.pass_obj
@reports_errors
def scenario_delete(obj, name):
    """Delete scenario NAME."""
    delete_scenario(obj.db, name)
    click.echo(f"deleted scenario '{name}'")


@scenario_group.command("compare")
@click.argument("names", nargs=-1, required=True)
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def scenario_compare(obj, names, care_homes, as_json):
    """Compare saved scenarios NAMES side by side (the baseline, at default levers, first)."""
    out = analyses.compare_scenarios(market_of(obj, care_homes), names)
    if as_json:
        emit_json(out)
        return
    cols = list(out["columns"])
    click.echo(f"{'':28}" + "".join(f"{c[:20]:>22}" for c in cols))
    for m in out["measures"]:
        click.echo(f"{m:28}" + "".join(
            f"{_cell(out['columns'][c][m], m):>22}" for c in cols))


def _cell(v, measure: str) -> str:
    if isinstance(v, str):  # the fee basis
        return v
    if measure in LEVERS:
        return formats.parameter(v, measure)
    if measure.startswith(("cross_subsidy", "revenue", "surplus", "extra")):
        return formats.money(v)
    return formats.number(v)


# --------------------------------------------------------------------------------------------


@click.command("sweep")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@options("sweep")
@scenario_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def sweep_cmd(obj, care_homes, scenario_name, as_json, **kw):
    """Sweep one lever over a range (default take-up 0-100% in 5% steps), others held."""
    sweep_levers = given("sweep", kw)
    out = analyses.sweep(market_of(obj, care_homes), given("scenario", kw), sweep_levers,
                         scenario_name=scenario_name)
    if as_json:
        emit_json(out)
        return
    click.echo(pd.DataFrame(out["table"]).to_string(
        index=False, float_format=lambda v: formats.number(v, 2)))
    _print_excluded(out["excluded"])


@click.command("montecarlo")
@click.option("--care-homes", type=click.Path(dir_okay=False), default=None)
@options("montecarlo")
@scenario_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def montecarlo_cmd(obj, care_homes, scenario_name, as_json, **kw):
    """Monte Carlo over uncertain take-up: P(at risk / unviable) per home, beds at risk."""
    out = analyses.montecarlo(market_of(obj, care_homes), given("scenario", kw),
                              given("montecarlo", kw), scenario_name=scenario_name)
    if as_json:
        emit_json(out)
        return
    lv, q = out["levers"], out["market"]
    click.echo(f"{lv['draws']} draws (seed {lv['seed']}, {lv['scope']} scope) in "
               f"{out['seconds']:.3f} s")
    for key in ("beds_at_risk", "beds_unviable", "beds_not_sustainable"):
        v = q[key]
        click.echo(f"{key:22} median {formats.number(v['median']):>10}   90% interval "
                   f"{formats.number(v['p05'])} - {formats.number(v['p95'])}")
    _print_excluded(out["excluded"])


# --------------------------------------------------------------------------------------------


@click.command("exits")
@scenario_options
@options("exits")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def exits_cmd(obj, scenario_name, as_json, **kw):
    """Home-care providers made unviable by a scenario exit: unmet hours added, by zone."""
    out = analyses.exits(obj.db, given("scenario", kw), given("exits", kw),
                         scenario_name=scenario_name)
    if as_json:
        emit_json(out)
        return
    click.echo(f"exits: {', '.join(out['exited']) or 'none'}; unmet hours "
               f"{formats.hours(out['unmet_before'])} -> {formats.hours(out['unmet_after'])} "
               "a week")
    _print_excluded(out["excluded"])


@click.command("fee-uplift")
@scenario_options
@options("fee_uplift")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def fee_uplift_cmd(obj, scenario_name, as_json, **kw):
    """Cheapest LA fee uplifts that keep coverage at its baseline level under a scenario."""
    out = analyses.fee_uplift(obj.db, given("scenario", kw), given("fee_uplift", kw),
                              scenario_name=scenario_name)
    if as_json:
        emit_json(out)
        return
    click.echo(f"extra LA spend {formats.money(out['annual_cost'])} a year; unmet hours "
               f"{formats.hours(out['unmet_baseline'])} (baseline) -> "
               f"{formats.hours(out['unmet_with_uplift'])}")
    _print_excluded(out["excluded"])


def register(cli) -> None:
    for cmd in (viability_cmd, scenario_group, sweep_cmd, montecarlo_cmd, exits_cmd,
                fee_uplift_cmd):
        cli.add_command(cmd)
