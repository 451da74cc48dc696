"""Every table a commissioner sees, defined once: its columns, labels and units, its rows, and
its CSV and XLSX exports.

A table is a `TableDef` (name, title, columns) and a list of row dicts (the keys of the JSON
the API returns). The pages render the rows with the definition's labels, the CSV writes the
column keys as its header and the values unrounded, the XLSX the labels with each unit's number
format (money as £, shares as %, `caremarket.formats.xlsx_format`), a frozen header and an
autofilter. So a table's export holds exactly the API's rows, every one of them: a page may show
the top N, the export never does.

The row builders read what the API already returns (a run's `result`, a comparison, the
store's lists) and never compute a figure of their own beyond joining and ordering.

Text that a spreadsheet would run as a formula (a cell starting with = + - @, tab or CR; names
come from imported files) is written with a leading ' in both formats (`inert`). The report
exports (`caremarket.reports`) use the same writers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from caremarket import formats, jsonio
from market.errors import UnknownEntity

# -- cells that a spreadsheet will not run ----------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """Text a spreadsheet will not run as a formula: a leading ' before = + - @ tab or CR.

    Names come from imported files (a provider called '=HYPERLINK(...)' would otherwise be a
    live formula in the CSV or XLSX a commissioner opens); numbers are written as numbers.
    """
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(v: Any) -> str:
    """A value as a CSV cell: numbers unrounded, text made inert, lists and objects as JSON."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, dict)):
        return inert(json.dumps(v, default=str))
    if isinstance(v, str):
        return inert(v)
    return str(v)


def xlsx_value(v: Any) -> Any:
    """A value as an XLSX cell: numbers as numbers, text made inert, lists as JSON text."""
    if isinstance(v, (list, dict)):
        v = json.dumps(v, default=str)
    if isinstance(v, str):
        return inert(v)
    return v


NUMBER_FORMATS = {u: formats.xlsx_format(u) for u in formats.UNIT_STYLE}


def write_sheet(wb, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                units: Sequence[str] | None = None, widths: Mapping[int, int] | None = None):
    """Append a sheet: bold frozen header, an autofilter over the data, each column's number
    format from its unit (formats.xlsx_format); returns the worksheet."""

    # a sheet's title may not hold : \ / ? * [ ] and has at most 31 characters
    ws = wb.create_sheet(re.sub(r"[:\\/?*\[\]]", "-", title)[:31].strip())
    ws.append([xlsx_value(h) for h in header])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    n = 1
    for r in rows:
        ws.append([xlsx_value(v) for v in r])
        n += 1
        if units:
            for i, u in enumerate(units):
                fmt = NUMBER_FORMATS.get(u)
                cell = ws.cell(n, i + 1)
                if fmt and isinstance(cell.value, (int, float)) \
                        and not isinstance(cell.value, bool):
                    cell.number_format = fmt
    ws.freeze_panes = "A2"
    if n > 1:
        ws.auto_filter.ref = ws.dimensions
    for i, h in enumerate(header):
        ws.column_dimensions[get_column_letter(i + 1)].width = (widths or {}).get(
            i, max(10, min(40, len(str(h)) + 2)))
    return ws


# -- definitions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: the row key (as in the API's JSON), its label, its unit (a
    formats.UNIT_STYLE unit, '' for text) and what it links to on a page (zone, provider)."""

    key: str
    label: str
    unit: str = ""
    link: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "unit": self.unit}


@dataclass(frozen=True)
class TableDef:
    name: str
    title: str
    columns: tuple[Column, ...]
    description: str = ""

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def label(self, key: str) -> str:
        return self.column(key).label

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "columns": [c.to_dict() for c in self.columns]}


@dataclass
class Table:
    """A definition with its rows (dicts keyed by the column keys) and what it was made from
    (`about`: the run, the filters...)."""

    definition: TableDef
    rows: list[dict[str, Any]]
    about: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.definition.name

    def values(self) -> list[list[Any]]:
        keys = [c.key for c in self.definition.columns]
        return [[jsonio.clean(r.get(k)) for k in keys] for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: definition, `total` and `items` (each row with only its columns)."""
        keys = [c.key for c in self.definition.columns]
        return {**self.definition.to_dict(), "about": jsonio.clean(self.about),
                "total": len(self.rows),
                "items": [{k: jsonio.clean(r.get(k)) for k in keys} for r in self.rows]}


def to_csv(table: Table) -> str:
    """The table as CSV: a header of column keys, every row, values unrounded."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.key for c in table.definition.columns])
    for row in table.values():
        w.writerow([csv_text(v) for v in row])
    return buf.getvalue()


def to_xlsx(table: Table) -> bytes:
    """The table as an XLSX workbook: the table on its first sheet (labels as the header, the
    units' number formats, frozen header, autofilter) and an About sheet (title, what it was
    made from, each column's key, label and unit)."""
    d = table.definition
    wb = Workbook()
    wb.remove(wb.active)
    write_sheet(wb, d.title, [c.label for c in d.columns], table.values(),
                [c.unit for c in d.columns],
                {i: max(12, min(40, len(c.label) + 2)) for i, c in enumerate(d.columns)})
    about: list[list[Any]] = [["Table", d.title], ["Rows", len(table.rows)]]
    if d.description:
        about.append(["What it holds", d.description])
    for k, v in table.about.items():
        about.append([k, v if isinstance(v, (int, float, str)) or v is None
                      else json.dumps(jsonio.clean(v))])
    about.append(["", ""])
    about.append(["Column", "Label (unit)"])
    about += [[c.key, c.label + (f" ({c.unit})" if c.unit else "")] for c in d.columns]
    write_sheet(wb, "About", ["item", "value"], about, widths={0: 36, 1: 90})
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


CSV_MEDIA = "text/csv"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV_MEDIA, "xlsx": XLSX_MEDIA}


def export(table: Table, fmt: str) -> tuple[bytes, str]:
    """(body, media type) of the table in `fmt` ('csv' or 'xlsx')."""
    if fmt == "csv":
        return to_csv(table).encode("utf-8"), CSV_MEDIA
    if fmt == "xlsx":
        return to_xlsx(table), XLSX_MEDIA
    raise UnknownEntity(f"no export format '{fmt}' (formats: csv, xlsx)")


def _c(key: str, label: str, unit: str = "", link: str = "") -> Column:
    return Column(key, label, unit, link)


HOURS, MONEY_H, MONEY_W, MONEY_Y, SHARE = ("hours a week", "GBP an hour", "GBP a week",
                                           "GBP a year", "share")

# -- the market as stored ------------------------------------------------------------------------

PROVIDERS = TableDef("providers", "Providers", (
    _c("provider_id", "Id", link="provider"), _c("name", "Name"),
    _c("kind", "Kind (homecare, care_home)"), _c("nursing", "Nursing"),
    _c("zone_id", "Zone", link="zone"), _c("rurality", "Rurality"),
    _c("group_id", "Group id"), _c("group_name", "Group"), _c("cqc_rating", "CQC rating"),
    _c("postcode", "Postcode"), _c("lat", "Latitude"), _c("lon", "Longitude"),
    _c("capacity_hours", "Capacity, hours a week", HOURS), _c("beds", "Beds", "beds"),
    _c("occupancy", "Occupancy", SHARE), _c("self_funder_share", "Self-funder share", SHARE),
    _c("la_hourly_rate", "LA rate an hour", MONEY_H),
    _c("self_funder_hourly_rate", "Self-funder rate an hour", MONEY_H),
    _c("la_fee", "LA fee a week", MONEY_W),
    _c("self_funder_fee", "Self-funder fee a week", MONEY_W)),
    "Care homes and home-care agencies, with the page's filters applied.")

ZONES = TableDef("zones", "Zones", (
    _c("zone_id", "Zone", link="zone"), _c("name", "Name"), _c("rurality", "Rurality"),
    _c("la_name", "Local authority"), _c("lat", "Latitude"), _c("lon", "Longitude"),
    _c("demand_hours", "Demand, hours a week", HOURS),
    _c("demand_estimated", "Demand estimated from the age bands"),
    _c("hop_minutes", "Minutes between visits", "minutes"),
    _c("population_65_plus", "People aged 65+", "people"),
    _c("population_85_plus", "People aged 85+", "people"),
    _c("self_funder_share", "Self-funder share", SHARE)),
    "The zones (small areas) as stored.")

IMPORTS = TableDef("imports", "Import history", (
    _c("id", "Import"), _c("kind", "Kind"), _c("file_name", "File"), _c("user", "By"),
    _c("started_at", "Started (UTC)"), _c("finished_at", "Finished (UTC)"),
    _c("status", "Status"), _c("rows_read", "Rows read", "rows"),
    _c("records", "Records written", "records"), _c("rejected", "Rows rejected", "rows"),
    _c("unplaced_count", "Records not placed", "records"), _c("message", "Notes"),
    _c("reverted_at", "Reverted (UTC)"), _c("reverted_by", "Reverted by"),
    _c("content_hash", "Content hash of the file (SHA-256)")),
    "Every import, newest first.")

# -- a coverage run --------------------------------------------------------------------------------

CARE_GAPS = TableDef("care_gaps", "Care gaps: zones with unmet hours", (
    _c("rank", "#", "zones"), _c("zone_id", "Zone", link="zone"), _c("name", "Name"),
    _c("rurality", "Rurality"), _c("demand_hours", "Demand, hours a week", HOURS),
    _c("unmet_hours", "Unmet, hours a week", HOURS), _c("unmet_share", "Share unmet", SHARE),
    _c("reachable_providers", "Agencies in reach", "providers"),
    _c("unmet_hours_low", "Unmet if estimated minutes err low", HOURS),
    _c("unmet_hours_high", "Unmet if estimated minutes err high", HOURS),
    _c("reach_uncertain", "Reach uncertain")),
    "Every zone with unmet hours, largest first. Agencies in reach: 0 means no agency is "
    "within the travel limit.")

UTILISATION = TableDef("utilisation", "Agency utilisation", (
    _c("provider_id", "Id", link="provider"), _c("name", "Agency"),
    _c("added", "Candidate site"), _c("capacity_hours", "Capacity, hours a week", HOURS),
    _c("capacity_estimated", "Capacity estimated"),
    _c("contact_hours", "Contact hours a week", HOURS),
    _c("travel_hours", "Travel hours a week", HOURS), _c("utilisation", "Utilisation", SHARE),
    _c("travel_minutes_per_contact_hour", "Travel minutes per contact hour", "minutes"),
    _c("zones_served", "Zones served", "zones")),
    "Each agency's contact and travel hours against its capacity, busiest first.")

COST_BY_RURALITY = TableDef("cost_by_rurality", "Cost of care by rurality", (
    _c("rurality", "Rurality"), _c("zones", "Zones", "zones"),
    _c("zones_costed", "Zones with delivered hours", "zones"),
    _c("zones_unserved", "Zones in reach but given no hours", "zones"),
    _c("zones_unreached", "Zones no agency reaches", "zones"),
    _c("zones_left_out", "Zones left out for missing figures", "zones"),
    _c("contact_hours", "Contact hours a week", HOURS),
    _c("travel_minutes_per_contact_hour", "Travel minutes per contact hour", "minutes"),
    _c("cost_per_contact_hour", "Cost per contact hour", MONEY_H),
    _c("la_hourly_rate", "LA rate", MONEY_H), _c("gap", "Cost above the LA rate", MONEY_H),
    _c("zones_under_cost", "Zones costing more than the rate", "zones"),
    _c("la_uplift_per_week", "LA uplift a week", MONEY_W),
    _c("fcoc_median", "FCoC median", MONEY_H), _c("fcoc_gap", "Cost above the FCoC median",
                                                  MONEY_H),
    _c("zones_above_fcoc", "Zones above it", "zones")),
    "Contact-hour weighted means of the zones with delivered hours; every zone is counted: "
    "zones = with delivered hours + in reach but given no hours + no agency reaches + left "
    "out.")

ZONE_COSTS = TableDef("zone_costs", "Cost of care by zone", (
    _c("zone_id", "Zone", link="zone"), _c("name", "Name"), _c("rurality", "Rurality"),
    _c("reach", "Reach"), _c("met_hours", "Met, hours a week", HOURS),
    _c("tau", "Travel minutes per contact hour", "minutes"),
    _c("direct_wage", "Direct wage", MONEY_H), _c("on_costs", "On-costs", MONEY_H),
    _c("mileage", "Mileage", MONEY_H), _c("overheads", "Overheads", MONEY_H),
    _c("surplus", "Surplus", MONEY_H),
    _c("cost_per_contact_hour", "Cost per contact hour", MONEY_H),
    _c("cost_basis", "Costed on (assigned, fallback: cheapest agency in reach)"),
    _c("la_hourly_rate", "LA rate", MONEY_H), _c("gap", "Cost above the LA rate", MONEY_H),
    _c("rural_uplift_rate", "Rate that pays the cost (rural uplift rate)", MONEY_H),
    _c("la_uplift_per_week", "LA uplift a week", MONEY_W),
    _c("travel_pay_per_contact_hour", "Travel time paid per contact hour", MONEY_H),
    _c("fcoc_median", "FCoC median", MONEY_H),
    _c("fcoc_gap", "Above the FCoC median", MONEY_H)),
    "Every zone, the largest gap first; a zone no agency reaches within the travel limit is "
    "listed with no cost.")

# -- an equalisation run -----------------------------------------------------------------------

CLASSES_TABLE = TableDef("classes", "Care homes by class, before and after", (
    _c("class", "Class"), _c("providers_before", "Homes before", "homes"),
    _c("providers_after", "Homes after", "homes"), _c("beds_before", "Beds before", "beds"),
    _c("beds_after", "Beds after", "beds")))

BREAK_EVEN = TableDef("break_even", "Break-even fees per home", (
    _c("provider_id", "Id", link="provider"), _c("name", "Home"),
    _c("zone_id", "Zone", link="zone"), _c("rurality", "Rurality"),
    _c("group_id", "Group id"), _c("group_name", "Group"), _c("beds", "Beds", "beds"),
    _c("class_before", "Class now"), _c("class_after", "Class after"),
    _c("at_risk_at", "At risk from (the swept lever's value)", SHARE),
    _c("unviable_at", "Unviable from (the swept lever's value)", SHARE),
    _c("la_fee", "LA fee a week", MONEY_W), _c("self_funder_fee", "Self-funder fee a week",
                                                MONEY_W),
    _c("break_even_la_fee", "Break-even LA fee", MONEY_W), _c("fee_uplift", "Uplift", MONEY_W),
    _c("margin_before", "Margin now", SHARE), _c("margin_after", "Margin after", SHARE),
    _c("cross_subsidy_lost", "Cross-subsidy lost", MONEY_Y)),
    "Every home under the scenario, the largest uplift first.")

HOMECARE_EXITS = TableDef("homecare_exits", "Unmet hours added by agency exits", (
    _c("zone_id", "Zone", link="zone"), _c("rurality", "Rurality"),
    _c("demand_hours", "Demand, hours a week", HOURS),
    _c("unmet_before", "Unmet before", HOURS), _c("unmet_after", "Unmet after", HOURS),
    _c("unmet_added", "Added", HOURS)))

# -- the scenario comparison ---------------------------------------------------------------------

# The measures of analyses.compare_scenarios, as a commissioner reads them, and their units.
COMPARE_LABELS = {
    "take_up": "Take-up: self-funders at the LA rate", "la_fee_basis": "LA fees from",
    "convergence": "Convergence of the "
    "self-funder premium", "la_fee_change": "LA fee change", "cost_change": "Operating cost "
    "change", "occupancy_change": "Occupancy change", "providers_sustainable": "Homes "
    "sustainable", "beds_sustainable": "Beds sustainable", "providers_at_risk": "Homes at risk",
    "beds_at_risk": "Beds at risk", "providers_unviable": "Homes unviable", "beds_unviable":
    "Beds unviable", "cross_subsidy": "Cross-subsidy a year", "cross_subsidy_lost":
    "Cross-subsidy lost a year", "revenue": "Income a year", "surplus_after_capital": "Surplus "
    "after capital a year", "extra_la_spend": "Extra LA spend a year to break even"}
COMPARE_UNITS = {"take_up": SHARE, "convergence": SHARE, "la_fee_change": SHARE,
                 "cost_change": SHARE, "occupancy_change": SHARE,
                 **{f"providers_{c}": "homes" for c in ("sustainable", "at_risk", "unviable")},
                 **{f"beds_{c}": "beds" for c in ("sustainable", "at_risk", "unviable")},
                 "cross_subsidy": MONEY_Y, "cross_subsidy_lost": MONEY_Y, "revenue": MONEY_Y,
                 "surplus_after_capital": MONEY_Y, "extra_la_spend": MONEY_Y}


def comparison_def(measures: Sequence[str]) -> TableDef:
    return TableDef("comparison", "Saved scenarios side by side", (
        _c("scenario", "Scenario"), _c("row", "Row (scenario, or its difference from the "
                                               "baseline)"),
        *[_c(m, COMPARE_LABELS.get(m, m.replace("_", " ")), COMPARE_UNITS.get(m, ""))
          for m in measures]),
        "One row per scenario (the baseline at default levers first), then each scenario "
        "minus the baseline.")


def comparison(compare: Mapping[str, Any]) -> Table:
    """The comparison of `analyses.compare_scenarios` as a table: a row per column (the
    baseline first), then a difference row per scenario."""
    measures = list(compare["measures"])
    rows = [{"scenario": name, "row": "scenario", **col}
            for name, col in compare["columns"].items()]
    rows += [{"scenario": name, "row": "difference from the baseline", **diff}
             for name, diff in compare["differences"].items()]
    return Table(comparison_def(measures), rows,
                 {"scenarios": ", ".join(n for n in compare["columns"] if n != "baseline"),
                  "input_hash": compare.get("input_hash")})


# -- row builders: what the API returns -> the table's rows ------------------------------------


def _gap_floor(result: Mapping[str, Any]) -> float:
    # as CoverageModel.care_gaps: below this, unmet hours are the LP's tolerance, not a gap
    return max(1e-6, 1e-6 * float(formats.finite(result.get("demand_hours")) or 0.0))


def care_gap_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every zone with unmet hours, largest first (the result's `care_gaps` is the head)."""
    floor = _gap_floor(result)
    band = {z["zone_id"]: {k: z[k] for k in ("unmet_hours_low", "unmet_hours_high",
                                             "reach_uncertain") if k in z}
            for z in result.get("zones_map") or []}
    gaps = [{**band.get(z["zone_id"], {}), **z} for z in result.get("zones") or []
            if (z.get("unmet_hours") or 0) > floor]
    gaps.sort(key=lambda z: (-z["unmet_hours"], str(z["zone_id"])))
    return [{"rank": i, **z} for i, z in enumerate(gaps, start=1)]


def utilisation_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every agency, busiest first (then by name)."""
    return sorted(result.get("providers") or [],
                  key=lambda p: (-(formats.finite(p.get("utilisation")) or -1.0),
                                 str(p.get("name"))))


def max_minutes(result: Mapping[str, Any]) -> float | None:
    """The run's travel limit: the lever, else the parameter."""
    lv = result.get("levers") or {}
    return formats.finite(lv.get("max_minutes")) or formats.finite(
        (result.get("parameters") or {}).get("max_travel_minutes"))


def reach_label(zone: Mapping[str, Any], minutes: float | None) -> str:
    """'reached', 'no agency within 45 minutes', or why the zone was left out."""
    if zone.get("left_out"):
        return f"left out: {zone['left_out']}"
    if zone.get("reached", True):
        return "reached"
    return f"no agency within {formats.number(minutes, 0)} minutes" if minutes else \
        "no agency within the travel limit"


def zone_cost_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every zone of the run's `zones_map`: those with a cost by gap (largest first), then
    those no agency reaches, then those left out; each with its `reach`."""
    minutes = max_minutes(result)
    rows = [{**z, "reach": reach_label(z, minutes)} for z in result.get("zones_map") or []]

    def order(z: Mapping[str, Any]) -> tuple:
        costed = z.get("cost_per_contact_hour") is not None
        return (0 if costed else (2 if z.get("left_out") else 1),
                -(formats.finite(z.get("gap")) or 0.0) if costed else 0.0, str(z["zone_id"]))

    return sorted(rows, key=order)


def break_even_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every home of an equalisation (or viability) result, the largest uplift first."""
    rows = []
    # where the sweep says each home tips (the value of the swept lever)
    tips = {str(t["provider_id"]): t for t in (result.get("sweep") or {}).get("tipping") or []}
    for h in (result.get("viability") or {}).get("providers") or []:
        b, s = h["baseline"], h["scenario"]
        tip = tips.get(str(h["provider_id"])) or {}
        rows.append({"provider_id": h["provider_id"], "name": h["name"],
                     "zone_id": h.get("zone_id"), "rurality": h.get("rurality"),
                     "group_id": h.get("group_id"), "group_name": h.get("group_name"),
                     "at_risk_at": tip.get("at_risk_at"), "unviable_at": tip.get("unviable_at"),
                     "beds": h.get("beds"), "class_before": b["class"],
                     "class_after": s["class"], "la_fee": s["la_fee"],
                     "self_funder_fee": s["self_funder_fee"],
                     "break_even_la_fee": s["break_even_la_fee"],
                     "fee_uplift": s["fee_uplift"], "margin_before": b["margin"],
                     "margin_after": s["margin"],
                     "cross_subsidy_lost": h["cross_subsidy_lost"]})
    rows.sort(key=lambda x: -(x["fee_uplift"] or 0))
    return rows


def _coverage_tables(result: Mapping[str, Any]) -> list[Table]:
    out = [Table(CARE_GAPS, care_gap_rows(result)),
           Table(UTILISATION, utilisation_rows(result))]
    cost = result.get("cost_of_care") or {}
    if result.get("zones_map"):
        out.append(Table(COST_BY_RURALITY, list(cost.get("by_rurality") or [])))
        out.append(Table(ZONE_COSTS, zone_cost_rows(result)))
    return out


SWEEP_MEASURES = ("providers_sustainable", "beds_sustainable", "providers_at_risk",
                  "beds_at_risk", "providers_unviable", "beds_unviable", "revenue", "ebitdarm",
                  "surplus_after_capital", "cross_subsidy", "cross_subsidy_lost",
                  "extra_la_spend")


def sweep_def(parameter: str) -> TableDef:
    labels = {**COMPARE_LABELS, "ebitdarm": "EBITDARM a year"}
    units = {**COMPARE_UNITS, "ebitdarm": MONEY_Y}
    return TableDef("sweep", "The market as one lever varies", (
        _c(parameter, labels.get(parameter, parameter.replace("_", " ")),
           units.get(parameter, "")),
        *[_c(m, labels[m], units[m]) for m in SWEEP_MEASURES]),
        f"Each value of {parameter} from the sweep, the other levers at the run's values.")


MONTECARLO = TableDef("montecarlo", "Monte Carlo: the spread over the draws", (
    _c("measure", "Measure"), _c("p05", "5th percentile"), _c("median", "Median"),
    _c("p95", "95th percentile"), _c("mean", "Mean")),
    "Take-up (a share), beds and homes over the draws.")


def _equalisation_tables(result: Mapping[str, Any]) -> list[Table]:
    v = result.get("viability") or {}
    out = [Table(CLASSES_TABLE, list((v.get("totals") or {}).get("class") or [])),
           Table(BREAK_EVEN, break_even_rows(result))]
    sweep = result.get("sweep") or {}
    if sweep.get("table"):
        out.append(Table(sweep_def(sweep["parameter"]), list(sweep["table"])))
    mc = (result.get("montecarlo") or {}).get("market") or {}
    if mc:
        out.append(Table(MONTECARLO, [{"measure": k, **q} for k, q in mc.items()]))
    hc = result.get("homecare") or {}
    if hc and "skipped" not in hc and "zones_with_added_unmet" in hc:
        out.append(Table(HOMECARE_EXITS, list(hc["zones_with_added_unmet"])))
    return out


RUN_TABLES = {"coverage": _coverage_tables, "equalisation": _equalisation_tables,
              "viability": _equalisation_tables}


def run_tables(run: Mapping[str, Any]) -> list[Table]:
    """The tables of a done run (as GET /api/v1/runs/<id> returns it); none for a run not done
    or of a kind without tables."""
    if run.get("status") != "done" or not run.get("result"):
        return []
    build = RUN_TABLES.get(str(run.get("kind")))
    tables = build(run["result"]) if build else []
    for t in tables:
        t.about = {"run": run.get("id"), "kind": run.get("kind"),
                   "finished_at (UTC)": run.get("finished_at"),
                   "input_hash": run.get("input_hash")}
    return tables


def run_table(run: Mapping[str, Any], name: str) -> Table:
    """One table of a run; UnknownEntity naming the tables it has."""
    tables = run_tables(run)
    for t in tables:
        if t.name == name:
            return t
    have = ", ".join(t.name for t in tables) or "none (the run is not done, or its kind has no " \
                                                 "tables)"
    raise UnknownEntity(f"run {run.get('id')} has no table '{name}' (tables: {have})")
