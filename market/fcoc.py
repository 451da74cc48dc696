"""Fair Cost of Care: providers' cost returns summarised as the DHSC "Annex B" tables.

A return is one provider's costs, line by line, in GBP per contact hour (home care) or per
resident-week (care homes, in four categories). The summary of a group of returns gives, for the
total and for each cost line, the lower quartile, median and upper quartile, each line's quartiles
computed over that line's own values (as Annex B does: line medians need not add up to the median
of the totals). The quantile rule is Excel's QUARTILE.INC (linear interpolation between order
statistics, numpy's default "linear" method); outliers are flagged on the total by Tukey's fences
(below Q1 - 1.5 IQR or above Q3 + 1.5 IQR) and kept unless asked otherwise. docs/fcoc.md states the
method, the rules and the fee trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from market import ranges
from market.entities import Entity, Field

SERVICES = ("homecare", "care_home")
CATEGORIES = ("residential", "residential_enhanced", "nursing", "nursing_enhanced")
CATEGORY_LABELS = {"residential": "Residential (65+)",
                   "residential_enhanced": "Residential, enhanced needs (65+)",
                   "nursing": "Nursing (65+)", "nursing_enhanced": "Nursing, enhanced needs (65+)"}
# The cost lines of the DHSC cost-return templates (2022). A return may carry other lines too:
# every numeric column that is not context is a line.
HOMECARE_LINES = ("direct_care", "travel_time", "mileage", "ppe", "training", "holiday",
                  "sickness", "ni", "pension", "back_office", "return_on_operations")
CARE_HOME_LINES = ("care_staff", "nursing_staff", "other_staff", "agency", "food", "utilities",
                   "maintenance", "other_non_staff", "head_office", "return_on_operations",
                   "return_on_capital")
LINES = {"homecare": HOMECARE_LINES, "care_home": CARE_HOME_LINES}
# Staff lines move with pay (the National Living Wage); the rest with prices.
STAFF_LINES = {"homecare": ("direct_care", "travel_time", "training", "holiday", "sickness",
                            "ni", "pension"),
               "care_home": ("care_staff", "nursing_staff", "other_staff", "agency")}
CONTEXT = {"homecare": ("contact_hours", "carer_basic_pay", "visit_minutes"),
           "care_home": ("beds", "occupancy", "carer_basic_pay")}
UNITS = {"homecare": "GBP per contact hour", "care_home": "GBP per resident per week"}
TUKEY_K = 1.5


def quartiles(values: Iterable[float]) -> dict[str, float] | None:
    """Lower quartile, median and upper quartile as Excel's QUARTILE.INC: for n sorted values
    x_0..x_{n-1}, the q-quantile is at position h = (n - 1) q, interpolated linearly between
    x_floor(h) and x_ceil(h). None when there are no finite values."""
    xs = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if xs.size == 0:
        return None
    q1, q2, q3 = np.quantile(xs, [0.25, 0.5, 0.75], method="linear")
    return {"lower_quartile": float(q1), "median": float(q2), "upper_quartile": float(q3)}


def fences(values: Sequence[float], k: float = TUKEY_K) -> tuple[float, float] | None:
    """Tukey's fences (Q1 - k IQR, Q3 + k IQR) on QUARTILE.INC quartiles; None if empty."""
    q = quartiles(values)
    if q is None:
        return None
    iqr = q["upper_quartile"] - q["lower_quartile"]
    return q["lower_quartile"] - k * iqr, q["upper_quartile"] + k * iqr


@dataclass(frozen=True)
class CostReturn:
    """One provider's return: its cost lines (GBP per unit) and context figures."""
    provider_id: str
    service: str  # homecare | care_home
    lines: Mapping[str, float]
    category: str | None = None  # care homes: one of CATEGORIES
    context: Mapping[str, float] = field(default_factory=dict)
    in_store: bool = True

    @property
    def total(self) -> float | None:
        vals = [v for v in self.lines.values() if v is not None and math.isfinite(v)]
        return round(sum(vals), 10) if vals else None

    @property
    def group(self) -> str:
        return "homecare" if self.service == "homecare" else str(self.category)


def _round(q: dict[str, float] | None, dp: int = 4) -> dict[str, float] | None:
    return None if q is None else {k: round(v, dp) for k, v in q.items()}


def summarise_group(returns: Sequence[CostReturn], providers: int | None = None,
                    exclude_outliers: bool = False) -> dict[str, Any]:
    """The Annex B table of one group (home care, or one care-home category).

    `providers` is how many providers of that kind the store holds (for the response rate).
    Returns with no cost line at all are left out and listed under `excluded`."""
    usable = [r for r in returns if r.total is not None]
    empty = [r.provider_id for r in returns if r.total is None]
    totals = [float(r.total) for r in usable if r.total is not None]
    bounds = fences(totals)
    flagged = []
    if bounds is not None:
        low, high = bounds
        flagged = [{"provider_id": r.provider_id, "total": round(float(r.total or 0), 4),
                    "side": "low" if (r.total or 0) < low else "high"}
                   for r in usable if not (low <= (r.total or 0) <= high)]
    used = usable
    if exclude_outliers and flagged:
        out_ids = {f["provider_id"] for f in flagged}
        used = [r for r in usable if r.provider_id not in out_ids]
    names: list[str] = []
    for r in used:
        for name in r.lines:
            if name not in names:
                names.append(name)
    service = used[0].service if used else (returns[0].service if returns else "homecare")
    order = {n: i for i, n in enumerate(LINES.get(service, ()))}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    lines = {}
    for name in names:
        vals = [r.lines[name] for r in used if r.lines.get(name) is not None]
        lines[name] = {**(_round(quartiles(vals)) or {}), "returns": len(vals)}
    contributing = {r.provider_id for r in used if r.in_store}
    return {
        "returns": len(used),
        "returns_received": len(returns),
        "providers": providers,
        "response_rate": (round(len(contributing) / providers, 4) if providers else None),
        "not_in_store": sorted({r.provider_id for r in returns if not r.in_store}),
        "total": _round(quartiles(float(r.total) for r in used if r.total is not None)),
        "lines": lines,
        "unit": UNITS.get(service, ""),
        "outlier_rule": f"total outside Q1 - {TUKEY_K:g} IQR .. Q3 + {TUKEY_K:g} IQR",
        "fences": None if bounds is None else [round(bounds[0], 4), round(bounds[1], 4)],
        "outliers": flagged,
        "outliers_excluded": bool(exclude_outliers and flagged),
        "excluded": {"total": len(empty),
                     "by_reason": ({"no_cost_lines": {"label": "no cost line given",
                                                      "count": len(empty), "ids": empty}}
                                   if empty else {})},
    }


def summarise(returns: Iterable[CostReturn], providers: Mapping[str, int] | None = None,
              exclude_outliers: bool = False) -> dict[str, Any]:
    """`{"homecare": GROUP, "care_homes": {CATEGORY: GROUP}}` (see `summarise_group`);
    `providers` maps "homecare", "residential" and "nursing" (or a category) to the number of
    providers in the store that could have returned."""
    providers = providers or {}
    groups: dict[str, list[CostReturn]] = {g: [] for g in ("homecare", *CATEGORIES)}
    for r in returns:
        groups.setdefault(r.group, []).append(r)

    def count(group: str) -> int | None:
        if group in providers:
            return providers[group]
        return providers.get(group.removesuffix("_enhanced"))

    return {"homecare": summarise_group(groups["homecare"], count("homecare"), exclude_outliers),
            "care_homes": {c: summarise_group(groups[c], count(c), exclude_outliers)
                           for c in CATEGORIES}}


def staff_share(group: Mapping[str, Any], service: str) -> float:
    """The share of the median cost that is staff cost, from the line medians (0 if none)."""
    lines = group.get("lines") or {}
    meds = {n: v.get("median") for n, v in lines.items() if v.get("median") is not None}
    total = sum(meds.values())
    if total <= 0:
        return 0.0
    return sum(v for n, v in meds.items() if n in STAFF_LINES[service]) / total


def uprate(amount: float, share_staff: float, pay_ratio: float, price_ratio: float) -> float:
    """`amount` moved from the returns' date to another: the staff share by the ratio of pay
    (National Living Wage then and now), the rest by the ratio of prices."""
    return amount * (share_staff * pay_ratio + (1.0 - share_staff) * price_ratio)


def fee_gap(median: float | None, la_rate: float | None) -> dict[str, Any]:
    """The LA rate against the fair median: the gap (median - rate) and as a share of the rate."""
    if median is None or la_rate is None:
        return {"la_rate": la_rate, "median": median, "gap": None, "gap_share": None}
    gap = median - la_rate
    return {"la_rate": la_rate, "median": median, "gap": round(gap, 4),
            "gap_share": round(gap / la_rate, 4) if la_rate else None}


def trajectory(la_rate: float, target: Callable[[int], float], units_a_year: float,
               years: int, start_year: int) -> list[dict[str, Any]]:
    """Reaching the fair cost over `years` equal steps from `la_rate`.

    `target(year)` is the fair median uprated to that year; year k (1..years) pays
    la_rate + k/years of the way to target(start_year + k - 1); the extra cost is
    (rate paid - la_rate) x units a year (hours or resident-weeks), against the LA rate now."""
    rows = []
    for k in range(1, years + 1):
        year = start_year + k - 1
        goal = target(year)
        rate = la_rate + (goal - la_rate) * k / years
        rows.append({"year": year, "target": round(goal, 4), "rate": round(rate, 4),
                     "extra_cost": round((rate - la_rate) * units_a_year, 2)})
    return rows


# -- import layout ------------------------------------------------------------------------------

TEXT_COLUMNS = ("name", "note", "submitted", "council")
KINDS = {"homecare": "homecare-returns", "care_home": "care-home-returns"}  # import kinds


def return_entity(service: str, columns: Iterable[str]) -> Entity:
    """The import entity of a returns file: provider_id (and category for care homes), the
    context figures, and every other column as a cost line in GBP per unit (an hour or a
    resident-week), each with its range from market.ranges.TABLE."""
    kind = KINDS[service]

    def number(name: str, row: str | None = None) -> Field:
        r = ranges.row(kind, row or name)
        label = f"cost line {name}" if row else r.label
        return Field(name, "int" if r.range.whole else "float", label, range=r.range)

    fields = [Field("return_id", "str", "return id"),
              Field("provider_id", "str", "provider id", required=True, nullable=False)]
    if service == "care_home":
        fields.append(Field("category", "choice", "care-home category", required=True,
                            nullable=False, choices=CATEGORIES))
        fields += [number("beds"), number("occupancy")]
    else:
        fields += [number("contact_hours"), number("visit_minutes")]
    fields.append(number("carer_basic_pay"))
    known = {f.name for f in fields}
    for c in columns:
        if c not in known and c not in TEXT_COLUMNS:
            fields.append(number(c, "every cost line"))
    table = "cost_returns"
    return Entity(f"{service.replace('_', '-')} cost return", table, "return_id", tuple(fields))


def line_columns(service: str, columns: Iterable[str]) -> list[str]:
    """The columns of a returns file that are cost lines."""
    ctx = {"return_id", "provider_id", "category", *CONTEXT[service], *TEXT_COLUMNS}
    return [c for c in columns if c not in ctx]
