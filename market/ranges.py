"""The unit and plausible range of every numeric column of every import kind: one table.

The importers (through market.entities and the kinds' own parsers), the error messages and the
README's table of ranges all come from `TABLE` (tests/test_import_strict.py checks the README
against it). A value outside its range, a value that is not a finite number (`inf`, `1e400`, `NaN`
however spelled) or a sign that does not fit the column is rejected with the row, the column,
the value and the range.

How a cell is read (`numbers`), the same in every numeric column:
- blank is "not given" (the caller decides what that means: an upsert keeps the stored value);
- spaces around the value are ignored, a comma may separate thousands (`1,250.5`), never decimals
  (`1,5` is rejected), and a Unicode minus counts as a minus;
- a `£` sign is accepted in a money column (`£850` is 850) and a `%` sign in a share column
  (`90%` is 0.9); either sign in a column of another unit is rejected with one message
  ("'£40' has a £ sign, but beds is not money (beds: 1 to 1,000 beds)");
- a negative value in a column whose range starts at 0 or above is called negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

CLEAR = "<clear>"  # the marker that clears a stored value on import (market.entities)
NAN_WORDS = {"nan", "-nan", "+nan", "na", "n/a", "#n/a", "null", "none", "#num!", "#value!",
             "#div/0!"}


@dataclass(frozen=True)
class Range:
    """Plausible values of a numeric column: `minimum` to `maximum` in `unit`."""

    unit: str  # words, as a message or the docs show it: "beds", "GBP a week"
    minimum: float
    maximum: float
    exclusive_minimum: bool = False  # the minimum itself is not allowed
    whole: bool = False  # whole numbers only
    sign: str = ""  # "£" a money column, "%" a share column (90% = 0.9), "" neither

    def text(self) -> str:
        """The range as the docs and messages say it: '1 to 1,000 beds', 'above 0 to 1,440
        minutes', '0 to 1 as a share, 90% = 0.9'."""
        low = f"above {_num(self.minimum)}" if self.exclusive_minimum else _num(self.minimum)
        if self.sign == "%":
            return f"{low} to {_num(self.maximum)} as a share, 90% = 0.9"
        return f"{low} to {_num(self.maximum)} {self.unit}"

    def contains(self, value: float) -> bool:
        low_ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        return bool(low_ok and value <= self.maximum
                    and (not self.whole or float(value).is_integer()))


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


# The ranges, named once. The UK box takes in the Isles of Scilly, Shetland and Northern Ireland
# and nothing of France or Ireland's west coast: a latitude and longitude given the wrong way
# round (53, -0.5 -> -0.5, 53) falls outside it.
LATITUDE = Range("degrees north (the UK)", 49.8, 61.0)
LONGITUDE = Range("degrees east (the UK)", -8.7, 2.0)
BEDS = Range("beds", 1, 1000, whole=True)
CQC_BEDS = Range("beds", 0, 1000, whole=True)  # CQC: 0 means not a care home
HOURS_A_WEEK = Range("hours a week", 0, 100_000)
MINUTES = Range("minutes", 0, 1440)
TRAVEL_LIMIT = Range("minutes", 0, 1440, exclusive_minimum=True)
GBP_A_WEEK = Range("GBP a week", 0, 10_000, sign="£")
GBP_AN_HOUR = Range("GBP an hour", 0, 500, sign="£")
SHARE = Range("share", 0, 1, sign="%")
PEOPLE = Range("people", 0, 100_000)


@dataclass(frozen=True)
class Row:
    kind: str
    column: str
    range: Range
    label: str
    where: str = ""  # when the range applies (fees: by unit), or "" always


TABLE: tuple[Row, ...] = (
    Row("zones", "lat", LATITUDE, "latitude"),
    Row("zones", "lon", LONGITUDE, "longitude"),
    Row("zones", "demand_hours", HOURS_A_WEEK, "home-care demand (contact hours a week)"),
    Row("zones", "hop_minutes", MINUTES, "minutes between visits in the zone"),
    Row("zones", "population_65_plus", PEOPLE, "population aged 65+"),
    Row("zones", "population_65_74", PEOPLE, "population aged 65-74"),
    Row("zones", "population_75_84", PEOPLE, "population aged 75-84"),
    Row("zones", "population_85_plus", PEOPLE, "population aged 85+"),
    Row("zones", "self_funder_share", SHARE, "self-funder share"),
    Row("homecare-providers", "lat", LATITUDE, "latitude"),
    Row("homecare-providers", "lon", LONGITUDE, "longitude"),
    Row("homecare-providers", "capacity_hours", HOURS_A_WEEK,
        "care-worker hours a week (travel included)"),
    Row("homecare-providers", "max_travel_minutes", TRAVEL_LIMIT, "provider's own travel limit"),
    Row("homecare-providers", "self_funder_share", SHARE, "self-funder share of contact hours"),
    Row("homecare-providers", "self_funder_hourly_rate", GBP_AN_HOUR, "self-funder hourly rate"),
    Row("homecare-providers", "la_hourly_rate", GBP_AN_HOUR, "LA hourly rate"),
    Row("care-homes", "lat", LATITUDE, "latitude"),
    Row("care-homes", "lon", LONGITUDE, "longitude"),
    Row("care-homes", "beds", BEDS, "beds"),
    Row("care-homes", "occupancy", SHARE, "occupancy"),
    Row("care-homes", "self_funder_share", SHARE, "self-funder share of occupied beds"),
    Row("care-homes", "self_funder_fee", GBP_A_WEEK, "self-funder fee"),
    Row("care-homes", "la_fee", GBP_A_WEEK, "LA fee"),
    Row("care-homes", "cost_per_resident_week", GBP_A_WEEK, "operating cost per resident-week"),
    Row("care-homes", "capital_cost_per_bed_week", GBP_A_WEEK, "return on capital per bed-week"),
    Row("sites", "lat", LATITUDE, "latitude"),
    Row("sites", "lon", LONGITUDE, "longitude"),
    Row("sites", "capacity_hours", HOURS_A_WEEK, "care-worker hours a week if opened"),
    Row("fees", "amount", GBP_AN_HOUR, "amount", where="unit hour"),
    Row("fees", "amount", GBP_A_WEEK, "amount", where="unit week"),
    Row("self-funders", "self_funder_share", SHARE, "self-funder share"),
    Row("self-funders", "self_funders", PEOPLE, "number of self-funders"),
    Row("travel", "minutes", MINUTES, "one-way minutes", where="long form"),
    Row("travel", "every provider or site column", MINUTES, "one-way minutes",
        where="wide form"),
    Row("cqc", "Care homes beds", CQC_BEDS, "beds", where="HSCA file"),
    Row("cqc", "Location Latitude", LATITUDE, "latitude", where="HSCA file"),
    Row("cqc", "Location Longitude", LONGITUDE, "longitude", where="HSCA file"),
    Row("postcodes", "lat", LATITUDE, "latitude"),
    Row("postcodes", "lon", LONGITUDE, "longitude"),
    Row("population", "0 .. 89, 90+", PEOPLE, "people of that age"),
    Row("population", "total_population", PEOPLE, "total population"),
    Row("homecare-returns", "contact_hours", HOURS_A_WEEK, "contact hours a week"),
    Row("homecare-returns", "visit_minutes", MINUTES, "average visit minutes"),
    Row("homecare-returns", "carer_basic_pay", GBP_AN_HOUR, "care worker basic pay"),
    Row("homecare-returns", "every cost line", GBP_AN_HOUR, "cost line (per contact hour)"),
    Row("care-home-returns", "beds", BEDS, "beds"),
    Row("care-home-returns", "occupancy", SHARE, "occupancy"),
    Row("care-home-returns", "carer_basic_pay", GBP_AN_HOUR, "care worker basic pay"),
    Row("care-home-returns", "every cost line", GBP_A_WEEK, "cost line (per resident-week)"),
)


def row(kind: str, column: str, where: str = "") -> Row:
    """The table's row for `column` of import kind `kind` (KeyError if it has none)."""
    for r in TABLE:
        if r.kind == kind and r.column == column and r.where == where:
            return r
    raise KeyError(f"{kind}.{column}" + (f" ({where})" if where else ""))


def of(kind: str, column: str, where: str = "") -> Range:
    return row(kind, column, where).range


def markdown() -> str:
    """The table as the README prints it (tests/test_import_strict.py keeps the two equal)."""
    lines = ["| kind | column | unit | range |", "| --- | --- | --- | --- |"]
    for r in TABLE:
        column = f"`{r.column}`" if " " not in r.column or r.kind == "cqc" else r.column
        if r.where:
            column += f" ({r.where})"
        unit = r.range.unit + (f", `{r.range.sign}` accepted" if r.range.sign else "")
        if r.range.whole:
            unit += ", whole"
        lines.append(f"| `{r.kind}` | {column} | {unit} | {r.range.text()} |")
    return "\n".join(lines)


# -- reading cells --------------------------------------------------------------------------

_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_POUND = re.compile(r"^([+-]?)\s*£\s*")
_CLEAR_MESSAGE = ("'{v}' cannot be used in this column: it clears a stored value only in an "
                  "optional column of zones, providers, care homes, sites, fees, self-funder "
                  "figures and cost returns")


def _cell(text: str, rng: Range, label: str, about: str) -> tuple[float, str | None]:
    """One cell that is not a plain number: its value (a share's % divided by 100), or NaN and
    the problem."""
    v = text.strip()
    t = v.replace("\u2212", "-")
    low = t.lower()
    if low == CLEAR:
        return np.nan, _CLEAR_MESSAGE.format(v=v)
    if low in NAN_WORDS:
        return np.nan, (f"'{v}' is not a number; leave the cell blank if the figure is not "
                        f"known ({about})")
    pct = t.endswith("%")
    if pct:
        t = t[:-1].rstrip()
    gbp = "£" in t
    if gbp:
        t = _POUND.sub(r"\1", t)
    if "," in t:
        if not _GROUPED.match(t):
            return np.nan, (f"'{v}' is not a number: a comma may only separate thousands, use "
                            f"a point for decimals ({about})")
        t = t.replace(",", "")
    try:
        x = float(t) if "_" not in t else np.nan
    except ValueError:
        x = np.nan
    if np.isnan(x):
        return np.nan, f"'{v}' is not a number ({about})"
    if np.isinf(x):
        return np.nan, f"'{v}' is not a finite number ({about})"
    if gbp and rng.sign != "£":
        return np.nan, f"'{v}' has a £ sign, but {label} is not money ({about})"
    if pct and rng.sign != "%":
        return np.nan, f"'{v}' has a % sign, but {label} is not a share ({about})"
    if pct and gbp:
        return np.nan, f"'{v}' has both a £ and a % sign ({about})"
    return (x / 100.0 if pct else x), None


def numbers(raw: pd.Series, rng: Range, label: str) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Read a column of cells (text, or numbers already) as numbers in `rng`.

    Returns the values (float64, NaN where blank or wrong) and the problems as (position,
    message) pairs, the message naming the value and the range. Blank cells are NaN and no
    problem. Plain numbers are read at C speed; only the other cells are read one by one."""
    about = f"{label}: {rng.text()}"
    problems: list[tuple[int, str]] = []
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.to_numpy(dtype="float64", na_value=np.nan).copy()
        blank = np.isnan(values)
        shown = None
        odd = np.isinf(values)
    else:
        cells = raw.to_numpy(dtype=object)
        stripped = np.char.strip(np.where(pd.isna(cells), "", cells).astype(str))
        blank = stripped == ""
        values = pd.to_numeric(pd.Series(stripped, dtype=object), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan).copy()
        shown = stripped
        odd = (np.isnan(values) & ~blank) | np.isinf(values)
    bad = np.zeros(len(values), dtype=bool)
    for pos in np.flatnonzero(odd):
        text = str(shown[pos]) if shown is not None else f"{values[pos]:g}"
        value, message = _cell(text, rng, label, about)
        values[pos] = value
        if message:
            problems.append((int(pos), message))
            bad[pos] = True

    def show(pos: int) -> str:
        return str(shown[pos]) if shown is not None else f"{values[pos]:g}"

    def add(mask: np.ndarray, message) -> None:
        for pos in np.flatnonzero(mask & ~bad):
            problems.append((int(pos), message(show(int(pos)))))
        bad[mask] = True

    ok = ~bad & ~blank
    with np.errstate(invalid="ignore"):
        if rng.minimum >= 0:
            add(ok & (values < 0),
                lambda v: f"{label} cannot be negative (got {v}; {rng.text()})")
        if rng.whole:
            add(ok & ~bad & (values != np.floor(values)),
                lambda v: f"'{v}' is not a whole number ({about})")
        low = (values <= rng.minimum) if rng.exclusive_minimum else (values < rng.minimum)
        word = "above" if rng.exclusive_minimum else "at least"
        add(ok & ~bad & low, lambda v: f"{label} must be {word} {_num(rng.minimum)} (got {v}; "
                                       f"{rng.text()})")
        add(ok & ~bad & (values > rng.maximum),
            lambda v: f"{label} must be at most {_num(rng.maximum)} (got {v}; {rng.text()})")
    values[bad | blank] = np.nan
    problems.sort()
    return pd.Series(values, index=raw.index, dtype="float64"), problems
