"""The one number formatter: money, percentages, hours, counts and signed changes, as a
commissioner reads them, for the pages, the reports, the CLI and the XLSX number formats.

Rules (web/static/js/common.js follows the same ones): thousands separated by commas; a missing
or non-finite figure is an en dash "–"; a negative number carries a true minus "−"; money is
"£1,235" (pence only for weekly fees and hourly rates: "£12.71"), "−£20" below zero; a share is
a percentage "84.1%"; a change of a share is in points ("+1.2 points"); a change carries its sign
("+£1,234", "−3", "±0").
"""

from __future__ import annotations

import math
from typing import Any

from market.parameters import DEFAULTS

DASH = "–"
MINUS = "−"
_UNITS = {p.name: p.unit for p in DEFAULTS}
# A unit (as the reports and the parameters name them) -> (kind, decimals).
UNIT_STYLE = {
    "GBP a year": ("money", 0), "GBP": ("money", 0), "GBP a week": ("money", 2),
    "GBP/hour": ("money", 2), "GBP an hour": ("money", 2), "share": ("pct", 1),
    "share of wage": ("pct", 1), "hours a week": ("number", 1), "beds": ("number", 0),
    "homes": ("number", 0), "providers": ("number", 0), "zones": ("number", 0),
    "minutes": ("number", 1), "people": ("number", 0), "rows": ("number", 0),
    "records": ("number", 0),
    # a fee or cost per the group's own unit (a contact hour or a resident-week)
    "GBP per unit": ("money", 2),
}
# The same styles as XLSX number formats.
XLSX_FORMATS = {"money0": "£#,##0;−£#,##0", "money2": "£#,##0.00;−£#,##0.00",
                "pct1": "0.0%", "number0": "#,##0", "number1": "#,##0.0"}


def finite(v: Any) -> float | None:
    """`v` as a finite float, or None (text, None, NaN, infinities, booleans)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _minus(text: str) -> str:
    return text.replace("-", MINUS)


def number(v: Any, dp: int = 0) -> str:
    """1234.5 -> '1,235'; -3 -> '−3'; None -> '–'."""
    f = finite(v)
    if f is None:
        return DASH
    text = f"{f:,.{dp}f}"
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")
    return _minus(text)


def money(v: Any, dp: int = 0) -> str:
    """1234.5 -> '£1,235'; -20 -> '−£20'."""
    f = finite(v)
    if f is None:
        return DASH
    text = f"£{abs(f):,.{dp}f}"
    return (MINUS + text) if f < 0 and text.strip("£0.,") else text


def pct(v: Any, dp: int = 1, signed: bool = False) -> str:
    """0.8412 -> '84.1%' (a share shown as a percentage)."""
    f = finite(v)
    if f is None:
        return DASH
    text = f"{100 * f:{'+' if signed else ''}.{dp}f}%"
    return _minus(text)


def hours(v: Any, dp: int = 1) -> str:
    return number(v, dp)


def count(v: Any) -> str:
    return number(v, 0)


def by_unit(v: Any, unit: str = "") -> str:
    """A figure in its unit: money, a percentage, or a number (whole numbers without decimals)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is not None and not isinstance(v, (int, float)) and finite(v) is None:
        return str(v)
    kind, dp = UNIT_STYLE.get(unit, ("number", None))
    f = finite(v)
    if f is None:
        return DASH
    if kind == "money":
        return money(f, dp)
    if kind == "pct":
        return pct(f, dp)
    if dp is None:
        dp = 0 if f.is_integer() else 1
    return number(f, dp)


def change(v: Any, unit: str = "") -> str:
    """A change with its sign: '+£1,234', '−3', '+1.2 points' for shares, '±0' for none."""
    f = finite(v)
    if f is None:
        return DASH
    sign = "+" if f > 0 else (MINUS if f < 0 else "±")
    if UNIT_STYLE.get(unit, ("",))[0] == "pct":
        return f"{sign}{abs(100 * f):.1f} points"
    return f"{sign}{by_unit(abs(f), unit)}"


def parameter(v: Any, name: str) -> str:
    """A parameter's or scenario lever's value in its own unit: shares in %, changes signed,
    occupancy change in points, money in £ (the wage £12.71, not 1271%)."""
    f = finite(v)
    if f is None:
        return DASH
    unit = _UNITS.get(name, "")
    if name == "occupancy_change":
        signed = abs(f) > 1e-12
        return _minus(f"{100 * f:{'+' if signed else ''}.1f} pts")
    if unit.startswith("share"):
        signed = name.endswith("_change") and abs(f) > 1e-12
        return pct(f, 0 if abs(100 * f - round(100 * f)) < 1e-9 else 1, signed=signed)
    if unit.startswith("GBP"):
        return money(f, 2)
    return number(f, 0 if f.is_integer() else 2) + (f" {unit}" if unit else "")


def xlsx_format(unit: str) -> str | None:
    """The XLSX number format of a unit (same rules as `by_unit`), None for plain text."""
    kind, dp = UNIT_STYLE.get(unit, (None, None))
    if kind is None:
        return None
    return XLSX_FORMATS.get(f"{kind}{dp}", XLSX_FORMATS["number0"])
