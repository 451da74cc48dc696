"""`caremarket fcoc`: the Fair Cost of Care summary of the returns in the store (docs/fcoc.md)."""

from __future__ import annotations

import click

from caremarket import fair_cost, formats
from caremarket.cli import emit_json, reports_errors
from caremarket.commands.levers import given, options
from market.fcoc import CATEGORY_LABELS


def text(out: dict) -> str:
    """The summary as a commissioner reads it: one block per service or category."""
    lines = [f"Fair Cost of Care, fees in force on {out['as_of']} "
             f"({'outliers left out' if out['levers']['exclude_outliers'] else 'outliers kept'})"]
    groups = [("homecare", "Home care (18+), per contact hour", out["summary"]["homecare"])]
    groups += [(c, CATEGORY_LABELS[c] + ", per resident-week", g)
               for c, g in out["summary"]["care_homes"].items()]
    for key, title, g in groups:
        fee = out["against_fees"][key]
        lines.append(f"\n{title}")
        rate = g["response_rate"]
        lines.append(f"  returns: {g['returns']}"
                     + (f" of {g['providers']} providers ({formats.pct(rate)})"
                        if g["providers"] else ""))
        if not g["total"]:
            lines.append("  no returns")
            continue
        t = g["total"]
        lines.append(f"  total: lower quartile {formats.money(t['lower_quartile'], 2)}, median "
                     f"{formats.money(t['median'], 2)}, upper quartile "
                     f"{formats.money(t['upper_quartile'], 2)} (at {fee['returns_date']})")
        if g["outliers"]:
            lines.append("  outliers: " + ", ".join(
                f"{o['provider_id']} ({formats.money(o['total'], 2)}, {o['side']})"
                for o in g["outliers"]))
        if g["not_in_store"]:
            lines.append(f"  from providers not in the store: {', '.join(g['not_in_store'])}")
        if fee["median"] is not None:
            lines.append(f"  median uprated to {out['as_of'][:4]}: "
                         f"{formats.money(fee['median'], 2)}; LA rate "
                         f"{formats.money(fee['la_rate'], 2)}; gap "
                         f"{formats.change(fee['gap'], 'GBP a week')}")
        if fee.get("cost_now") is not None:
            lines.append(f"  paying the median now: {formats.money(fee['cost_now'])} a year "
                         f"({formats.number(fee['units_a_year'])} {fee['unit']} a year)")
            for step in fee["trajectory"]:
                lines.append(f"    {step['year']}: rate {formats.money(step['rate'], 2)}, "
                             f"extra {formats.money(step['extra_cost'])}")
        elif fee.get("why_no_cost"):
            lines.append(f"  cost a year: not computed ({fee['why_no_cost']})")
    tr = out["travel"]
    lines.append("\nTravel: the coverage model against the FCoC travel_time line")
    if tr["fcoc_travel_time_now"]:
        q, m = tr["fcoc_travel_time_now"], tr["fcoc_travel_minutes"] or {}
        lines.append(f"  FCoC travel time paid per contact hour, uprated: quartiles "
                     f"{formats.money(q['lower_quartile'], 2)} / {formats.money(q['median'], 2)}"
                     f" / {formats.money(q['upper_quartile'], 2)}"
                     + (f"; implied travel minutes {formats.number(m['lower_quartile'], 1)} / "
                        f"{formats.number(m['median'], 1)} / "
                        f"{formats.number(m['upper_quartile'], 1)}" if m else ""))
    if tr["coverage_run"] is None:
        lines.append(f"  no coverage run yet: {tr['how']}")
    else:
        lines.append(f"  coverage run {tr['coverage_run']['run_id']} "
                     f"({tr['coverage_run']['status']}):")
        for r in tr["by_rurality"]:
            lines.append(f"    {r['rurality']:8} {formats.number(r['travel_minutes_per_contact_hour'], 1)}"
                         f" min, {formats.money(r['travel_pay_per_contact_hour'], 2)} per contact "
                         f"hour: {r['minutes_against_fcoc'] or '-'}")
    return "\n".join(lines)


@click.command("fcoc")
@options("fcoc")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@reports_errors
def fcoc_cmd(obj, as_json, **kw):
    """Fair Cost of Care: quartiles of the returns, against the LA rates (docs/fcoc.md)."""
    out = fair_cost.fcoc(obj.db, given("fcoc", kw))
    if as_json:
        emit_json(out)
    else:
        click.echo(text(out))


def register(cli: click.Group) -> None:
    cli.add_command(fcoc_cmd)
