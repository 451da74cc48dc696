"""`caremarket reach`: the zones no home-care agency reaches within X minutes (analyses.reach,
the same function as GET /api/v1/reach and the Map page's reach view)."""

from __future__ import annotations

import click

from caremarket import analyses, formats
from caremarket.cli import emit_json, reports_errors
from caremarket.commands.levers import given, options

SHOWN = 30  # zones listed in the text output (--json holds every one)


def text(out: dict) -> str:
    t = out["totals"]
    minutes = formats.number(out["max_minutes"])
    if not t["zones"]:
        return f"every one of the {out['zones_total']:,} zones has an agency within {minutes} minutes"
    lines = [f"{t['zones']:,} of {out['zones_total']:,} zones have no agency within {minutes} "
             f"minutes: {formats.number(t['demand_hours'], 1)} contact hours a week of demand "
             f"({formats.pct(t['share_of_demand'])} of the county's)"
             + (f", {formats.number(t['population_65_plus'])} people aged 65 and over"
                if t["population_65_plus"] is not None else "")]
    for z in out["zones"][:SHOWN]:
        near = (f"nearest {z['nearest_provider_name'] or z['nearest_provider_id']} "
                f"{formats.number(z['nearest_minutes'])} min"
                + (" (estimated)" if z["minutes_source"] == "estimate" else "")
                if z["nearest_provider_id"] else "no agency has a time to it")
        lines.append(f"  {z['zone_id']}  {z['name'] or ''}  "
                     f"{formats.number(z['demand_hours'], 1)} h/week  {near}")
    if len(out["zones"]) > SHOWN:
        lines.append(f"  ... and {len(out['zones']) - SHOWN} more (--json lists every one)")
    if out["excluded"]["total"]:
        lines.append(f"left out for want of a location: {out['excluded']['total']}")
    return "\n".join(lines)


@click.command("reach")
@options("reach")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def reach_cmd(obj, as_json, **kw):
    """The zones no home-care agency reaches within --max-minutes, with their demand."""
    out = analyses.reach(obj.db, given("reach", kw))
    if as_json:
        emit_json(out)
    else:
        click.echo(text(out))


def register(cli: click.Group) -> None:
    cli.add_command(reach_cmd)
