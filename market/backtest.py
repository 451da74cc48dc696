"""Where the cost-of-care rates come from, and how well the s4 formula reproduces published costs.

Two things, both pure (frames in, frames and text out; nothing here reads a file):

* `implied_rates`: the on-cost, overhead and surplus rates of methodology s4 implied by a
  published cost build-up (the Homecare Association's Minimum Price breakdown; a council's Fair
  Cost of Care 2022 Annex B line items), each with the lines it was computed from.
* `backtest`: for each council of the FCoC 2022 medians file that publishes a home-care median,
  the cost per contact hour the formula (`market.cost_of_care.cost_lines`) gives with that
  council's own inputs where the file has them (carer pay, travel minutes per contact hour,
  mileage), and its error against the published median.

`benchmarks/parameters_backtest.py` reads ../shared/data/fees/fcoc_2022_extracted_medians.csv,
prints the tables and rewrites them in docs/parameters.md; a test keeps the two the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from market.cost_of_care import KM_TO_MILES, cost_lines, tau_minutes
from market.parameters import DEFAULTS, ParameterSet, value_at

HOMECARE = "18+ homecare"
# The date the FCoC 2022 exercise priced (returns for 2022-23); a council's pay is the National
# Living Wage in force then when the file gives none.
FCOC_DATE = "2022-04-01"
RATES = ("on_cost_rate", "overhead_rate", "surplus_rate")
# The rates of methodology s4 before issue 12 (cited only the methodology).
PREVIOUS = {"on_cost_rate": 0.26, "overhead_rate": 0.30, "surplus_rate": 0.03}


@dataclass(frozen=True)
class BuildUp:
    """A published cost build-up per contact hour: its lines (GBP) and where it was read."""

    name: str
    source: str
    lines: Mapping[str, float]
    note: str = ""


# Homecare Association (then UKHCA), "UKHCA's Minimum Price for Homecare for April 2020 -
# March 2021", 20 January 2020: the breakdown of the 20.69 hourly rate at the National Living
# Wage of 8.72. The HCA page shows it as a chart; the figures are as quoted in its press
# release (reprinted by The Carer, 20 January 2020). The latest breakdown published line by
# line that this project could read.
HCA_2020_21 = BuildUp(
    "HCA Minimum Price 2020-21",
    "Homecare Association (UKHCA), 'Minimum Price for Homecare for April 2020-March 2021', "
    "20 January 2020, breakdown of the 20.69 hourly rate (https://www.homecareassociation.org"
    ".uk/resource/ukhcas-minimum-price-for-homecare-for-april-2020-march-2021.html)",
    {"contact_time": 8.72, "travel_time": 1.70, "ni_and_pension": 1.14,
     "other_wage_on_costs": 1.97, "mileage": 1.36, "running_the_business": 5.20,
     "surplus": 0.60},
)
# The 2025-26 price is published as a total and, in the HCA's fee-rate survey, the part that
# covers care workers' statutory employment costs (pay for contact and travel time, on-costs,
# mileage); its line-by-line table could not be read here, so only overheads and surplus
# together follow from it (surplus taken at the HCA's 3% of costs).
HCA_2025_26 = BuildUp(
    "HCA Minimum Price 2025-26",
    "Homecare Association, 'Minimum Price for Homecare 2025-26', 18 December 2024 (32.14 an "
    "hour at the NLW of 12.21, employer NI 15%); 'Fee rates for state-funded homecare in "
    "2025-26', 5 June 2025 (22.71 an hour covers care workers' statutory employment costs)",
    {"total": 32.14, "careworker_costs": 22.71},
    note="overheads and surplus from the two totals only, surplus assumed 3% of costs",
)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def implied_rates(b: BuildUp) -> dict[str, float]:
    """The s4 rates a build-up implies (NaN where it does not publish the lines needed).

    on_cost_rate = wage-related on-costs / pay for contact and travel time;
    overhead_rate = business costs / care-worker costs (pay, on-costs, mileage);
    surplus_rate = surplus / (care-worker + business costs).
    """
    ln = b.lines
    if "contact_time" in ln:
        pay = ln["contact_time"] + ln["travel_time"]
        on = ln["ni_and_pension"] + ln["other_wage_on_costs"]
        care = pay + on + ln["mileage"]
        return {"on_cost_rate": _ratio(on, pay),
                "overhead_rate": _ratio(ln["running_the_business"], care),
                "surplus_rate": _ratio(ln["surplus"], care + ln["running_the_business"])}
    surplus = 0.03
    return {"on_cost_rate": float("nan"),
            "overhead_rate": ln["total"] / (1 + surplus) / ln["careworker_costs"] - 1,
            "surplus_rate": surplus}


# -- the FCoC 2022 medians file ---------------------------------------------------------------

_ITEM = re.compile(r"([a-z][a-z ]*?)\s+(-?\d+(?:\.\d+)?)")


def _items(metric: str) -> dict[str, float]:
    """'careworker costs (direct 11.06; travel time 2.24)' -> {'direct': 11.06, ...}."""
    inner = metric[metric.find("(") + 1:metric.rfind(")")] if "(" in metric else ""
    return {k.strip().replace(" ", "_"): float(v) for k, v in _ITEM.findall(inner)}


def _num(value) -> float | None:
    v = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(v) else float(v)


@dataclass
class Council:
    """One council's published home-care medians and the inputs the file gives."""

    council: str
    total: float
    careworker: float | None = None
    business: float | None = None
    surplus: float | None = None
    items: dict[str, float] = field(default_factory=dict)
    pay: float | None = None
    tau: float | None = None
    pence: float | None = None


def councils(frame: pd.DataFrame) -> list[Council]:
    """The councils of the FCoC medians file with a home-care total, in file order."""
    out: dict[str, Council] = {}
    rows = frame[frame["service"].astype(str).str.strip() == HOMECARE]
    for _, r in rows.iterrows():
        metric = str(r["metric"]).strip().lower()
        median = _num(r["median"])
        name = str(r["council"]).strip()
        if metric == "total cost" and median is not None:
            out[name] = Council(name, median, pay=_num(r.get("carer_basic_pay_hr")),
                                tau=_num(r.get("travel_min_per_contact_hr")),
                                pence=None if _num(r.get("mileage_per_mile")) is None
                                else 100 * float(r["mileage_per_mile"]))
    for _, r in rows.iterrows():
        c = out.get(str(r["council"]).strip())
        metric = str(r["metric"]).strip().lower()
        median = _num(r["median"])
        if c is None or median is None:
            continue
        if metric.startswith("careworker costs"):
            c.careworker = median
            c.items.update(_items(metric))
        elif metric.startswith("business costs"):
            c.business = median
            c.items.update({f"business_{k}": v for k, v in _items(metric).items()})
        elif metric.startswith(("return on operations", "surplus")):
            c.surplus = median
    return list(out.values())


def fcoc_implied_rates(c: Council) -> dict[str, float]:
    """The s4 rates a council's Annex B medians imply (NaN where a line is not published).

    The formula has no PPE line: a published PPE median is moved from care-worker costs to
    overheads. On-costs are holiday, sickness, NI, pension and training over pay for contact
    and travel time, where those lines are published.
    """
    if c.careworker is None or c.business is None or c.surplus is None:
        return {k: float("nan") for k in RATES}
    ppe = c.items.get("ppe", 0.0)
    care = c.careworker - ppe
    onc = [c.items[k] for k in ("holiday", "sickness", "ni", "pension", "training")
           if k in c.items]
    pay = [c.items[k] for k in ("direct", "travel_time") if k in c.items]
    on_cost = _ratio(sum(onc), sum(pay)) if len(onc) == 5 and len(pay) == 2 else float("nan")
    return {"on_cost_rate": on_cost,
            "overhead_rate": _ratio(c.business + ppe, care),
            "surplus_rate": _ratio(c.surplus, c.careworker + c.business)}


def checks(c: Council) -> list[str]:
    """What the file's own figures say of its transcription, one sentence each."""
    out = []
    cw_items = {k: v for k, v in c.items.items() if not k.startswith("business_")}
    if c.careworker is not None and len(cw_items) >= 3:
        s = sum(cw_items.values())
        known = ", ".join(cw_items)
        if abs(s - c.careworker) <= 0.02:
            out.append(f"care-worker lines ({known}) add up to {s:.2f}, the published "
                       f"{c.careworker:.2f} (to rounding)")
        else:
            out.append(f"the care-worker lines given ({known}) add up to {s:.2f} of the "
                       f"published {c.careworker:.2f}; the other {c.careworker - s:.2f} "
                       f"({(c.careworker - s) / max(s - cw_items.get('mileage', 0), 1e-9):.0%} "
                       "of pay) is not itemised")
    if None not in (c.careworker, c.business, c.surplus):
        s = c.careworker + c.business + c.surplus  # type: ignore[operator]
        out.append(f"care-worker + business + surplus medians = {s:.2f} against the total "
                   f"median {c.total:.2f} ({s / c.total - 1:+.1%}; medians of parts need "
                   "not add up)")
    if c.tau and c.pence and "mileage" in c.items:
        miles = c.items["mileage"] / (c.pence / 100)
        out.append(f"mileage {c.items['mileage']:.2f} at {c.pence:.0f}p is {miles:.2f} miles "
                   f"in {c.tau:g} minutes ({miles / KM_TO_MILES / (c.tau / 60):.1f} km/h)")
    return out


# -- the back-test --------------------------------------------------------------------------

@dataclass(frozen=True)
class Inputs:
    wage: float
    wage_from: str
    tau: float
    tau_from: str
    pence: float
    pence_from: str
    round_kmh: float
    round_kmh_from: str


def council_inputs(c: Council, params: ParameterSet | None = None) -> Inputs:
    """The formula's inputs for a council: its own where the file has them, else the rule.

    wage: the file's carer basic pay, else the council's direct-care line (pay per contact hour,
    which is the formula's wage at tau 0), else the National Living Wage on FCOC_DATE (the
    default rule: the wage is the NLW in force). tau: the file's travel minutes per contact hour, else
    60 x travel-time line / direct-care line (travel paid at the contact rate, as the formula
    assumes), else the formula's own default (a base-zone trip in a 'town' zone). pence per
    mile: the file's, else the default. round_kmh: the speed that makes the formula's mileage
    equal the council's published mileage line, else the default.
    """
    p = params or ParameterSet()
    if c.pay is not None:
        wage, wage_from = c.pay, "file: carer basic pay"
    elif c.items.get("direct"):
        wage, wage_from = c.items["direct"], "file: direct-care line"
    else:
        wage, wage_from = value_at("national_living_wage", FCOC_DATE).value, \
            f"NLW on {FCOC_DATE} (no pay in the file)"
    if c.tau is not None:
        tau, tau_from = c.tau, "file"
    elif c.items.get("direct") and c.items.get("travel_time") is not None:
        tau = 60 * c.items["travel_time"] / c.items["direct"]
        tau_from = "60 x travel time / direct care lines"
    else:
        tau = float(tau_minutes(p["access_minutes"], p.hop_minutes("town"), p))
        tau_from = "default (town zone)"
    pence, pence_from = ((c.pence, "file") if c.pence is not None
                         else (p["pence_per_mile"], "default"))
    if c.items.get("mileage") is not None and tau > 0:
        kmh = c.items["mileage"] / (pence / 100) / KM_TO_MILES / (tau / 60)
        kmh_from = "from the mileage line"
    else:
        kmh, kmh_from = p["round_kmh"], "default"
    return Inputs(wage, wage_from, tau, tau_from, pence, pence_from, kmh, kmh_from)


def backtest(cs: Iterable[Council], rate_sets: Mapping[str, Mapping[str, float]],
             params: ParameterSet | None = None) -> pd.DataFrame:
    """One row per council and rate set: inputs, formula lines and errors against the medians.

    `rate_sets` maps a name to on_cost_rate / overhead_rate / surplus_rate values (the other
    parameters: `params`, with the council's own inputs over them).
    """
    base = params or ParameterSet()
    rows = []
    for c in cs:
        inp = council_inputs(c, base)
        for name, rates in rate_sets.items():
            p = base.with_overrides({**rates, "care_worker_hourly_wage": inp.wage,
                                     "pence_per_mile": inp.pence, "round_kmh": inp.round_kmh})
            ln = cost_lines([inp.tau], p).iloc[0]
            care = float(ln["direct_wage"] + ln["on_costs"] + ln["mileage"])
            total = float(ln["cost_per_contact_hour"])
            rows.append({
                "council": c.council, "rates": name, **{k: p[k] for k in RATES},
                "wage": inp.wage, "wage_from": inp.wage_from, "tau": inp.tau,
                "tau_from": inp.tau_from, "pence_per_mile": inp.pence,
                "round_kmh": inp.round_kmh, "published_total": c.total, "formula_total": total,
                "error": total / c.total - 1,
                "published_careworker": c.careworker, "formula_careworker": care,
                "careworker_error": (care / c.careworker - 1) if c.careworker else np.nan,
            })
    return pd.DataFrame(rows)


def rate_sets(cs: Iterable[Council]) -> dict[str, dict[str, float]]:
    """The candidate rate sets the back-test compares: the defaults before issue 12, each
    published build-up's implied rates (a missing rate taken from the previous defaults) and
    the defaults now."""
    old = dict(PREVIOUS)
    now = {p.name: p.value for p in DEFAULTS if p.name in RATES}
    out = {"previous defaults": old}
    for b in (HCA_2020_21, HCA_2025_26):
        r = implied_rates(b)
        out[b.name] = {k: (old[k] if np.isnan(v) else round(v, 4)) for k, v in r.items()}
    for c in cs:
        r = fcoc_implied_rates(c)
        if not all(np.isnan(v) for v in r.values()):
            out[f"FCoC 2022 {c.council} lines"] = {
                k: (old[k] if np.isnan(v) else round(v, 4)) for k, v in r.items()}
    out["**defaults now**"] = now
    return out


# -- markdown -----------------------------------------------------------------------------

def _f(v, fmt: str = "{:.2f}") -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else fmt.format(v)


def markdown(frame: pd.DataFrame) -> str:
    """The generated section of docs/parameters.md (between its markers)."""
    cs = councils(frame)
    sets = rate_sets(cs)
    names = list(sets)
    bt = backtest(cs, sets)
    out = ["### Rates implied by published build-ups", "",
           "| build-up | on_cost_rate | overhead_rate | surplus_rate | note |",
           "| --- | --- | --- | --- | --- |"]
    for b in (HCA_2020_21, HCA_2025_26):
        r = implied_rates(b)
        out.append(f"| {b.name} | {_f(r['on_cost_rate'], '{:.4f}')} | "
                   f"{_f(r['overhead_rate'], '{:.4f}')} | {_f(r['surplus_rate'], '{:.4f}')} | "
                   f"{b.note or 'line items'} |")
    for c in cs:
        r = fcoc_implied_rates(c)
        if all(np.isnan(v) for v in r.values()):
            continue
        out.append(f"| FCoC 2022 {c.council} (Annex B medians) | "
                   f"{_f(r['on_cost_rate'], '{:.4f}')} | {_f(r['overhead_rate'], '{:.4f}')} | "
                   f"{_f(r['surplus_rate'], '{:.4f}')} | "
                   f"{'PPE moved to overheads' if 'ppe' in c.items else 'medians of parts'} |")
    out += ["", "### The file's own checks", ""]
    for c in cs:
        for s in checks(c):
            out.append(f"- {c.council}: {s}.")
    out += ["", "### Inputs per council", "",
            "| council | wage (GBP/h) | from | tau (min per contact h) | from | pence/mile | "
            "round km/h | published total | published care-worker lines |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    first = bt.drop_duplicates("council")
    for _, r in first.iterrows():
        out.append(f"| {r['council']} | {r['wage']:.2f} | {r['wage_from']} | {r['tau']:.2f} | "
                   f"{r['tau_from']} | {r['pence_per_mile']:.0f} | {r['round_kmh']:.1f} | "
                   f"{r['published_total']:.2f} | {_f(r['published_careworker'])} |")
    out += ["", "### Cost per contact hour against the published median", "",
            "Each cell: the formula's total (its error against the council's median); then its "
            "care-worker lines (direct wage + on-costs + mileage) against the published "
            "care-worker costs, where the file has them. A rate a build-up does not publish is "
            "taken from the previous defaults.", "",
            "| rates (on-cost / overhead / surplus) | " + " | ".join(first["council"]) +
            " | mean abs. error | mean error |",
            "| --- |" + " --- |" * (len(first) + 2)]
    for name in names:
        sub = bt[bt["rates"] == name].set_index("council")
        rates = sets[name]
        cells = []
        for council in first["council"]:
            r = sub.loc[council]
            cell = f"{r['formula_total']:.2f} ({r['error']:+.1%})"
            if not np.isnan(r["careworker_error"]):
                cell += f"; lines {r['formula_careworker']:.2f} ({r['careworker_error']:+.1%})"
            cells.append(cell)
        label = (f"{name}: {rates['on_cost_rate']:.4g} / {rates['overhead_rate']:.4g} / "
                 f"{rates['surplus_rate']:.4g}")
        if name.startswith("FCoC"):
            label += " (in-sample for that council)"
        out.append(f"| {label} | " + " | ".join(cells) +
                   f" | {sub['error'].abs().mean():.1%} | {sub['error'].mean():+.1%} |")
    return "\n".join(out) + "\n"


def parameter_table() -> str:
    """Every parameter: name, label, value, unit, date (only where dated) and source."""
    out = ["| parameter | what | value | unit | dated | source |",
           "| --- | --- | --- | --- | --- | --- |"]
    for p in DEFAULTS:
        out.append(f"| `{p.name}` | {p.label} | {p.value:.10g} | {p.unit} | "
                   f"{p.effective_from or '—'} | {p.source.replace('|', '/')} |")
    return "\n".join(out) + "\n"
