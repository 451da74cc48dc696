"""The market's entities (methodology section 1) as declared field specs, with validation.

One declaration per entity serves the importers (column names, types, ranges), the models (the
columns of the frames they take) and the web app (labels). Validation is vectorised over a whole
frame and collects every problem with its file, row and column before rejecting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from market import ranges
from market.errors import ImportRejected, Problem
from market.parameters import RURALITY_CLASSES
from market.ranges import CLEAR, Range

TRUE_WORDS = {"true", "t", "yes", "y", "1", "1.0"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "0.0"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # str | float | int | bool | date | choice
    label: str
    required: bool = False  # the column must be in the file
    nullable: bool = True  # a cell may be blank (and cleared with <clear>)
    range: Range | None = None  # numbers: unit and plausible range (market.ranges.TABLE)
    choices: tuple[str, ...] = ()

    @property
    def unit(self) -> str:
        return self.range.unit if self.range else ""


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    key: str
    fields: tuple[Field, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def validate(self, frame: pd.DataFrame, file: str | None = None,
                 first_row: int = 2) -> pd.DataFrame:
        """Return a typed copy of `frame` holding the entity's columns found in it.

        Raises ImportRejected listing every problem (missing column, non-number, out of range,
        unknown choice, blank required cell, duplicate id). `first_row` is the spreadsheet row
        number of the frame's first data row (2 when a header row precedes it).
        """
        problems: list[Problem] = []
        frame = frame.copy()
        frame.columns = [str(c).strip() for c in frame.columns]
        missing = [c for c in self.required if c not in frame.columns]
        for c in missing:
            problems.append(Problem(f"missing column '{c}' ({self.field(c).label}); the file has: "
                                    f"{', '.join(map(str, frame.columns)) or 'no columns'}", file,
                                    1, c))
        if problems:
            raise ImportRejected(problems, file)
        out = pd.DataFrame(index=frame.index)
        rows = np.arange(first_row, first_row + len(frame))
        for f in self.fields:
            if f.name not in frame.columns:
                continue
            values, found = _coerce(frame[f.name], f, file, rows, clearable=f.name != self.key)
            problems.extend(found)
            out[f.name] = values
        if self.key in out.columns:
            keys = out[self.key]
            dup = keys.duplicated(keep="first") & keys.notna()
            for pos in np.flatnonzero(dup.to_numpy()):
                first = int(np.flatnonzero((keys == keys.iloc[pos]).to_numpy())[0])
                problems.append(Problem(
                    f"duplicate id '{keys.iloc[pos]}' (first seen at row {rows[first]})",
                    file, int(rows[pos]), self.key))
        if problems:
            problems.sort(key=lambda p: (p.row or 0, p.column or ""))
            raise ImportRejected(problems, file)
        return out.reset_index(drop=True)

    def clears(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Where `frame` (the rows as validate took them) asks to clear a stored value: per
        column, the positions of its `<clear>` cells (optional columns only; validate rejects
        the marker anywhere else)."""
        out = {}
        for f in self.fields:
            if f.name in frame.columns and f.nullable and f.name != self.key:
                marked = _cleared(frame[f.name])
                if marked.any():
                    out[f.name] = np.flatnonzero(marked)
        return out

    def validate_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Validate one record given as a mapping; return it typed, blanks as None."""
        frame = pd.DataFrame([{k: ("" if v is None else v) for k, v in record.items()}])
        typed = self.validate(frame, file=None, first_row=1)
        return {k: _plain(v) for k, v in typed.iloc[0].items()}


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip().fillna("") == "")


def _cleared(series: pd.Series) -> np.ndarray:
    return (series.astype("string").str.strip().str.lower() == CLEAR).fillna(False).to_numpy(
        dtype=bool)


def _coerce(raw: pd.Series, f: Field, file: str | None, rows: np.ndarray,
            clearable: bool = True) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    cleared = _cleared(raw)
    if cleared.any():
        if f.nullable and clearable:  # read as blank; Entity.clears tells the importer
            raw = raw.where(~cleared, "")
        else:
            why = "it is the row's id" if not clearable else "it is required"
            for pos in np.flatnonzero(cleared):
                problems.append(Problem(f"'{raw.iloc[pos]}' cannot clear {f.label}: {why}",
                                        file, int(rows[pos]), f.name))
            raw = raw.where(~cleared, "")
    blank = _blank(raw)
    text = raw.astype("string").str.strip()

    def report(mask: pd.Series, message_for) -> None:
        for pos in np.flatnonzero(mask.to_numpy(dtype=bool) & ~cleared):
            problems.append(Problem(message_for(raw.iloc[pos]), file, int(rows[pos]), f.name))

    if not f.nullable:
        report(blank, lambda v: f"{f.label} is required but blank")

    if f.kind in ("float", "int"):
        rng = f.range or Range("", -np.inf, np.inf, whole=f.kind == "int")
        values, found = ranges.numbers(raw, rng, f.label)
        problems.extend(Problem(message, file, int(rows[pos]), f.name) for pos, message in found)
        return values, problems
    if f.kind == "bool":
        low = text.str.lower()
        values = pd.Series(None, index=raw.index, dtype="object")
        values[low.isin(TRUE_WORDS)] = True
        values[low.isin(FALSE_WORDS)] = False
        bad = values.isna() & ~blank
        report(bad, lambda v: f"'{v}' is not yes/no or true/false ({f.label})")
        return values, problems
    if f.kind == "date":
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=False)
        bad = parsed.isna() & ~blank
        report(bad, lambda v: f"'{v}' is not a date (use YYYY-MM-DD) ({f.label})")
        values = parsed.dt.strftime("%Y-%m-%d").astype("object")
        values[parsed.isna()] = None
        return values, problems
    if f.kind == "choice":
        values = text.str.lower().str.replace(" ", "_", regex=False)
        bad = ~values.isin(f.choices) & ~blank
        report(bad, lambda v: f"'{v}' is not one of {', '.join(f.choices)} ({f.label})")
        values = values.astype("object").where(~blank, None)
        return values, problems
    values = text.astype("object").where(~blank, None)
    return values, problems


def _f(name, kind, label, **kw) -> Field:
    return Field(name, kind, label, **kw)


def _n(kind: str, name: str, **kw) -> Field:
    """A numeric field whose label and range are the row of market.ranges.TABLE."""
    row = ranges.row(kind, name, kw.pop("where", ""))
    return Field(name, "int" if row.range.whole else "float", row.label, range=row.range, **kw)


ZONE = Entity("zone", "zones", "zone_id", (
    _f("zone_id", "str", "zone id", required=True, nullable=False),
    _f("name", "str", "zone name"),
    _n("zones", "lat"),
    _n("zones", "lon"),
    _f("rurality", "choice", "rurality class", choices=RURALITY_CLASSES),
    _n("zones", "demand_hours"),
    _n("zones", "hop_minutes"),
    _n("zones", "population_65_plus"),
    _n("zones", "population_65_74"),
    _n("zones", "population_75_84"),
    _n("zones", "population_85_plus"),
    _n("zones", "self_funder_share"),
    _f("la_code", "str", "local authority code"),
    _f("la_name", "str", "local authority name"),
))

HOMECARE_PROVIDER = Entity("homecare provider", "homecare_providers", "provider_id", (
    _f("provider_id", "str", "provider id", required=True, nullable=False),
    _f("name", "str", "provider name", required=True, nullable=False),
    _n("homecare-providers", "lat"),
    _n("homecare-providers", "lon"),
    _f("postcode", "str", "postcode"),
    _n("homecare-providers", "capacity_hours", required=True, nullable=False),
    _n("homecare-providers", "max_travel_minutes"),
    _n("homecare-providers", "self_funder_share"),
    _n("homecare-providers", "self_funder_hourly_rate"),
    _n("homecare-providers", "la_hourly_rate"),
    _f("zone_id", "str", "zone of the office base"),
    _f("group_id", "str", "provider group id (CQC provider)"),
    _f("group_name", "str", "provider group"),
    _f("cqc_rating", "str", "latest CQC overall rating"),
))

CARE_HOME = Entity("care home", "care_homes", "provider_id", (
    _f("provider_id", "str", "care home id", required=True, nullable=False),
    _f("name", "str", "care home name", required=True, nullable=False),
    _n("care-homes", "lat"),
    _n("care-homes", "lon"),
    _f("postcode", "str", "postcode"),
    _n("care-homes", "beds", required=True, nullable=False),
    _n("care-homes", "occupancy"),
    _n("care-homes", "self_funder_share"),
    _n("care-homes", "self_funder_fee"),
    _n("care-homes", "la_fee"),
    _n("care-homes", "cost_per_resident_week"),
    _n("care-homes", "capital_cost_per_bed_week"),
    _f("nursing", "bool", "nursing home"),
    _f("zone_id", "str", "zone"),
    _f("group_id", "str", "provider group id (CQC provider)"),
    _f("group_name", "str", "provider group"),
    _f("cqc_rating", "str", "latest CQC overall rating"),
))

SITE = Entity("candidate site", "sites", "site_id", (
    _f("site_id", "str", "site id", required=True, nullable=False),
    _f("name", "str", "site name"),
    _n("sites", "lat"),
    _n("sites", "lon"),
    _n("sites", "capacity_hours"),
))

# amount: the widest of the fee ranges here; the fees importer checks the range of its unit
FEE_RATE = Entity("fee rate", "fee_rates", "fee_id", (
    _f("fee_id", "str", "fee id"),
    _f("funder", "choice", "funder", required=True, nullable=False, choices=("la", "self")),
    _f("service", "choice", "service", required=True, nullable=False,
       choices=("homecare", "residential", "nursing")),
    _f("unit", "choice", "unit", required=True, nullable=False, choices=("hour", "week")),
    _n("fees", "amount", where="unit week", required=True, nullable=False),
    _f("effective_from", "date", "effective from", required=True, nullable=False),
    _f("provider_id", "str", "provider scope"),
    _f("zone_id", "str", "zone scope"),
    _f("note", "str", "note"),
))

SELF_FUNDER_FIGURE = Entity("self-funder figure", "self_funder_figures", "figure_id", (
    _f("figure_id", "str", "figure id"),
    _f("area_id", "str", "area (zone id or LA code)", required=True, nullable=False),
    _f("service", "choice", "service", required=True, nullable=False,
       choices=("homecare", "residential", "nursing", "all")),
    _n("self-funders", "self_funder_share", required=True, nullable=False),
    _n("self-funders", "self_funders"),
    _f("as_of", "date", "as of"),
    _f("source", "str", "source"),
))

TRAVEL = Entity("travel time", "travel_times", "pair", (
    _f("provider_id", "str", "provider or site id", required=True, nullable=False),
    _f("zone_id", "str", "zone id", required=True, nullable=False),
    _n("travel", "minutes", where="long form", required=True, nullable=False),
))

ENTITIES = {e.table: e for e in (ZONE, HOMECARE_PROVIDER, CARE_HOME, SITE, FEE_RATE,
                                 SELF_FUNDER_FIGURE, TRAVEL)}


def fee_id(row: Mapping[str, Any]) -> str:
    """The natural key of a fee rate: funder, service, unit, date and scope."""
    return ":".join(str(row.get(k) or "*") for k in
                    ("funder", "service", "unit", "effective_from", "provider_id", "zone_id"))
