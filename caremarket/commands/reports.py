"""Fee-impact report commands (methodology s6; docs/reports.md): `report list/create/edit/
delete/run/show/history/compare/export` and `scheduler` (the report scheduler in the
foreground, for deployments where the web workers do not run it).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from caremarket import formats
from caremarket.cli import emit_json, reports_errors
from caremarket.reports import (
    MSP_SECTIONS,
    REPORT_TYPES,
    compare_runs,
    create_definition,
    delete_definition,
    get_definition,
    get_run,
    list_definitions,
    list_runs,
    run_report,
    table_csv,
    to_csv,
    to_xlsx,
    update_definition,
)
from caremarket.scheduler import run_forever, scheduler_app
from market.errors import InvalidInput


def _user(user: str | None) -> str | None:
    return user or os.environ.get("USER")


def _fmt(value, unit: str) -> str:
    return formats.by_unit(value, unit)


def _print_report(run: dict) -> None:
    click.echo(f"{run['report_name']}: run {run['id']} ({run['trigger']}) for "
               f"{run['scheduled_for']}, {run['status']}")
    if run["status"] != "done":
        click.echo(f"error: {run.get('error')}")
        return
    click.echo(f"data content hash {run['input_hash']}")
    h = run["headline"]
    width = max([len(r["label"]) for r in h["rows"]] + [10])
    cols = h["scenarios"]
    click.echo(f"{'':{width}}  " + "  ".join(f"{c[:22]:>22}" for c in cols))
    for r in h["rows"]:
        mark = "*" if r.get("changed") else " "
        click.echo(f"{r['label']:{width}} {mark}" + "  ".join(
            f"{_fmt(r['values'].get(c), r['unit']):>22}" for c in cols))
    changes = run.get("changes")
    click.echo("changes: " + (changes["summary"] + " (* changed)" if changes else
                              "first run of this report"))


@click.group("report")
def report_group() -> None:
    """Scheduled fee-impact reports: definitions, runs, history and downloads."""


@report_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def report_list(obj, as_json):
    """List the report definitions with their schedule and latest run."""

    rows = list_definitions(obj.db)
    if as_json:
        emit_json({"reports": rows})
        return
    if not rows:
        click.echo("no reports defined (caremarket report create NAME --scenario S --cron ...)")
    for d in rows:
        latest = d["latest_run"]
        last = (f"latest run {latest['id']} {latest['status']} {latest['finished_at'] or ''}"
                if latest else "never run")
        state = f"next {d['next_run_at']}" if d["enabled"] else "disabled"
        click.echo(f"{d['name']}  [{d['cron']}, {state}]  {', '.join(d['scenarios'])}; {last}")


@report_group.command("create")
@click.argument("name")
@click.option("--scenario", "scenarios", multiple=True, required=True,
              help="A saved scenario to report on (repeatable).")
@click.option("--cron", required=True, help="Crontab schedule, e.g. '0 6 * * 1' (Mondays 06:00, "
                                            "Europe/London).")
@click.option("--measures", default=None,
              help="Comma-separated measures (default cross_subsidy,classes,extra_la_spend,"
                   "coverage; also uncertainty, sweep).")
@click.option("--description", default="")
@click.option("--type", "report_type", type=click.Choice(list(REPORT_TYPES)),
              default="fee_impact", show_default=True,
              help="fee_impact, or msp: the Market Sustainability Plan evidence pack (its "
                   "scenarios are the s18(3) take-up scenarios; --measures picks its sections: "
                   + ",".join(MSP_SECTIONS) + ", default all).")
@click.option("--disabled", is_flag=True, help="Create it without scheduling it.")
@click.option("--user", default=None, help="Who creates it (audited).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def report_create(obj, name, scenarios, cron, measures, description, report_type, disabled,
                  user, as_json):
    """Create report NAME over saved scenarios, run on a cron schedule."""

    d = create_definition(obj.db, name, list(scenarios), cron, measures, description,
                          enabled=not disabled, user=_user(user), report_type=report_type)
    if as_json:
        emit_json(d)
    else:
        click.echo(f"created report '{d['name']}' [{d['cron']}], next run {d['next_run_at']}")


@report_group.command("edit")
@click.argument("name")
@click.option("--scenario", "scenarios", multiple=True, help="Replace the scenarios.")
@click.option("--cron", default=None)
@click.option("--measures", default=None)
@click.option("--description", default=None)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def report_edit(obj, name, scenarios, cron, measures, description, enabled, user, as_json):
    """Change report NAME's scenarios, schedule, measures, description or state."""

    changes = {k: v for k, v in {"scenarios": list(scenarios) or None, "cron": cron,
                                 "measures": measures, "description": description,
                                 "enabled": enabled}.items() if v is not None}
    d = update_definition(obj.db, name, changes, user=_user(user))
    if as_json:
        emit_json(d)
    else:
        click.echo(f"updated report '{name}' [{d['cron']}, "
                   f"{'enabled' if d['enabled'] else 'disabled'}]")


@report_group.command("delete")
@click.argument("name")
@click.option("--user", default=None)
@click.pass_obj
@reports_errors
def report_delete(obj, name, user):
    """Delete report NAME (its runs are kept)."""

    delete_definition(obj.db, name, user=_user(user))
    click.echo(f"deleted report '{name}'")


@report_group.command("run")
@click.argument("name")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.pass_obj
@reports_errors
def report_run(obj, name, user, as_json):
    """Run report NAME now and store the run (a failure is stored too, exit code 1)."""

    run = run_report(obj.db, name, "manual", user=_user(user))
    if run is None:  # only if another process claimed the same instant
        raise click.ClickException("another process started this report at the same moment")
    if as_json:
        emit_json(run)
    else:
        _print_report(run)


@report_group.command("show")
@click.argument("run_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def report_show(obj, run_id, as_json):
    """Show stored report run RUN_ID."""

    run = get_run(obj.db, run_id)
    if as_json:
        emit_json(run)
    else:
        _print_report(run)


@report_group.command("history")
@click.argument("name")
@click.option("--page", type=int, default=1, show_default=True)
@click.option("--per-page", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def report_history(obj, name, page, per_page, as_json):
    """List the runs of report NAME, newest first."""

    get_definition(obj.db, name)
    runs = list_runs(obj.db, name, page, per_page)
    if as_json:
        emit_json(runs)
        return
    for r in runs["items"]:
        click.echo(f"{r['id']:>6}  {r['scheduled_for']}  {r['trigger']:9} {r['status']:8} "
                   f"{r['error'] or r['changes_summary'] or ''}")
    if not runs["items"]:
        click.echo(f"report '{name}' has not run yet")


@report_group.command("compare")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@reports_errors
def report_compare(obj, a, b, as_json):
    """Compare report runs A (older) and B (newer): headline figures and what changed."""

    out = compare_runs(obj.db, a, b)
    if as_json:
        emit_json(out)
        return
    click.echo(f"run {a} ({out['a']['scheduled_for']}) -> run {b} ({out['b']['scheduled_for']})"
               f": {out['changes']['summary']}")
    for r in out["rows"]:
        for sc in r["changed"]:
            click.echo(f"  {sc}: {r['label']}: {_fmt(r['a'][sc], r['unit'])} -> "
                       f"{_fmt(r['b'][sc], r['unit'])}")


@report_group.command("export")
@click.argument("run_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--table", default=None, help="CSV of one table only (headline, parameters, or a "
                                            "detail table such as care_homes).")
@click.pass_obj
@reports_errors
def report_export(obj, run_id, file, table):
    """Write run RUN_ID to FILE: .xlsx as a workbook, anything else as CSV."""

    run = get_run(obj.db, run_id)
    if run["status"] != "done":
        raise InvalidInput(f"report run {run_id} has no report ({run['status']}: "
                           f"{run.get('error')})")
    path = Path(file)
    if path.suffix.lower() == ".xlsx":
        path.write_bytes(to_xlsx(run))
    else:
        path.write_text(table_csv(run, table) if table else to_csv(run), encoding="utf-8")
    click.echo(f"wrote {path}")


@click.command("scheduler")
@click.pass_obj
@reports_errors
def scheduler_cmd(obj):
    """Run the report scheduler in the foreground until interrupted (Ctrl-C or SIGTERM).

    For deployments with several web workers: set SCHEDULER_ENABLED = False in the instance
    config.py (or CAREMARKET_SCHEDULER=0) for the web workers and run this once, on the same
    store, so every scheduled report runs in one place.
    """

    app = scheduler_app(obj.db_path)
    click.echo(f"report scheduler on {obj.db_path} (Ctrl-C to stop)")
    run_forever(app)
    click.echo("report scheduler stopped")


def register(cli: click.Group) -> None:
    cli.add_command(report_group)
    cli.add_command(scheduler_cmd)
