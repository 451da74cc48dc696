"""What each model needs of each kind of record, and which records lack it. Pure, no I/O.

Records from real sources often lack figures: the CQC publishes no capacity and no fees, the
2015 care-home extract no coordinates. Such records are kept (and shown), and every model runs
on the records that have what it needs; what it left out, and why, is its `excluded`:

    {"total": 95, "by_reason": {"no_capacity": {"label": "...", "count": 95, "ids": [...]}}}

This module is the one place that says which figure each model needs (`FIGURES`, per import
kind), finds the records that lack one (`missing`), builds the `excluded` object of a model
run (`exclusions`, `Excluded`), summarises a whole kind for the Data completeness section
(`summary`), and fills missing home-care capacity when a run asks for it (`fill_capacity`).

A figure is missing when any of its columns is blank, not a number (for numbers) or not finite.
Two rules soften that: a provider's location is present when it has coordinates or a routed
travel time (the coverage model needs one or the other); and a self-funder fee (or rate) is not
needed where the self-funder share is 0 (nobody pays it; the model takes the LA fee).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Reason codes and what a person reads for each.
REASONS: dict[str, str] = {
    "no_capacity": "no capacity (hours a week)",
    "no_location": "no location (coordinates or a routed travel time)",
    "no_zone": "no zone",
    "no_rurality": "no rurality class (nor minutes between visits)",
    "no_demand": "no demand (contact hours a week)",
    "no_beds": "no beds",
    "no_occupancy": "no occupancy",
    "no_fees": "no fees (LA or self-funder)",
    "no_share": "no self-funder share",
    "no_cost": "no operating or capital cost",
    "no_contact_hours": "no contact hours assigned by the coverage model",
}

# The models (operations) a figure can be needed by.
COVERAGE = "coverage"  # coverage, cost of care, exits, fee uplift, equalisation's home care
HOMECARE_VIABILITY = "homecare_viability"  # equalisation's home care, provider pages
CARE_HOME_VIABILITY = "viability"  # viability, equalisation, sweep, Monte Carlo, reports
OVERVIEW = "overview"  # the Overview's rows by rurality
MAP = "map"
MODELS = {COVERAGE: "coverage, cost of care, exits and fee uplift",
          HOMECARE_VIABILITY: "home-care viability (equalisation)",
          CARE_HOME_VIABILITY: "care-home viability, equalisation, sweeps, Monte Carlo, reports",
          OVERVIEW: "the Overview by rurality", MAP: "the map"}


@dataclass(frozen=True)
class Figure:
    """A figure a record may lack: its reason code, its columns, the models that need it.

    `numeric` columns are checked as numbers; `waived_if_zero` names a column that, when 0,
    makes `optional` columns unnecessary (a self-funder fee where nobody is a self-funder);
    `routed` says a routed travel time stands in for the coordinates. `effect` says what a
    model does without the figure when it does not leave the record out.
    """

    code: str
    columns: tuple[str, ...]
    needed_by: tuple[str, ...]
    numeric: bool = True
    optional: tuple[str, ...] = ()
    waived_if_zero: str | None = None
    routed: bool = False
    effect: str = ""

    @property
    def label(self) -> str:
        return REASONS[self.code]


@dataclass(frozen=True)
class RecordKind:
    """An import kind whose records models read: its table, key and the figures it may lack."""

    kind: str
    table: str
    key: str
    label: str
    figures: tuple[Figure, ...]

    def figure(self, code: str) -> Figure:
        return next(f for f in self.figures if f.code == code)


HOMECARE = RecordKind("homecare-providers", "homecare_providers", "provider_id",
                      "Home-care providers", (
    Figure("no_capacity", ("capacity_hours",), (COVERAGE, HOMECARE_VIABILITY)),
    Figure("no_location", ("lat", "lon"), (COVERAGE, HOMECARE_VIABILITY, MAP), routed=True),
    Figure("no_zone", ("zone_id",), (OVERVIEW,), numeric=False,
           effect="counted in the Overview's 'no zone' row; a filled capacity takes the "
                  "median of all agencies"),
    Figure("no_share", ("self_funder_share",), (HOMECARE_VIABILITY,)),
    Figure("no_fees", ("la_hourly_rate", "self_funder_hourly_rate"), (HOMECARE_VIABILITY,),
           optional=("self_funder_hourly_rate",), waived_if_zero="self_funder_share"),
))

CARE_HOMES = RecordKind("care-homes", "care_homes", "provider_id", "Care homes", (
    Figure("no_beds", ("beds",), (CARE_HOME_VIABILITY,)),
    Figure("no_occupancy", ("occupancy",), (CARE_HOME_VIABILITY,)),
    Figure("no_share", ("self_funder_share",), (CARE_HOME_VIABILITY,)),
    Figure("no_fees", ("la_fee", "self_funder_fee"), (CARE_HOME_VIABILITY,),
           optional=("self_funder_fee",), waived_if_zero="self_funder_share"),
    Figure("no_cost", ("cost_per_resident_week", "capital_cost_per_bed_week"),
           (CARE_HOME_VIABILITY,)),
    Figure("no_zone", ("zone_id",), (OVERVIEW,), numeric=False,
           effect="counted in the Overview's 'no zone' row and in no zone's totals"),
    Figure("no_location", ("lat", "lon"), (MAP,), effect="not drawn on the map"),
))

ZONES = RecordKind("zones", "zones", "zone_id", "Zones", (
    Figure("no_rurality", ("rurality", "hop_minutes"), (COVERAGE,), numeric=False,
           optional=("rurality", "hop_minutes"),
           effect="a zone needs its rurality class or its own minutes between visits"),
    Figure("no_demand", ("demand_hours",), (), effect="counted as 0 contact hours a week"),
    Figure("no_location", ("lat", "lon"), (MAP,),
           effect="only routed travel times reach it"),
))

SITES = RecordKind("sites", "sites", "site_id", "Candidate sites", (
    Figure("no_capacity", ("capacity_hours",), (COVERAGE,)),
    Figure("no_location", ("lat", "lon"), (COVERAGE,), routed=True),
))

KINDS: dict[str, RecordKind] = {k.kind: k for k in (HOMECARE, CARE_HOMES, ZONES, SITES)}
BY_TABLE: dict[str, RecordKind] = {k.table: k for k in KINDS.values()}


# -- finding what is missing --------------------------------------------------------------------


def blank(frame: pd.DataFrame, column: str, numeric: bool = True) -> np.ndarray:
    """True where `column` is absent, blank, or (numeric) not a finite number."""
    n = len(frame)
    if column not in frame:
        return np.ones(n, bool)
    raw = frame[column]
    if numeric:
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return ~np.isfinite(num)
    text = raw.astype("string").str.strip().fillna("")
    return (raw.isna() | (text == "")).to_numpy(bool)


def lacks(kind: RecordKind | str, figure: Figure | str, frame: pd.DataFrame,
          routed: Iterable[str] = ()) -> np.ndarray:
    """True for each record of `frame` that lacks `figure`."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    f = k.figure(figure) if isinstance(figure, str) else figure
    n = len(frame)
    if f.optional and set(f.optional) == set(f.columns):  # any one of the columns will do
        out = np.ones(n, bool)
        for c in f.columns:
            out &= blank(frame, c, f.numeric)
        return out
    out = np.zeros(n, bool)
    for c in f.columns:
        miss = blank(frame, c, f.numeric)
        if c in f.optional and f.waived_if_zero:
            share = pd.to_numeric(frame.get(f.waived_if_zero, pd.Series(np.nan, index=frame.index)),
                                  errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            miss &= ~(share == 0)
        out |= miss
    if f.routed:
        ids = set(map(str, routed))
        if ids and k.key in frame:
            out &= ~frame[k.key].astype(str).isin(ids).to_numpy(bool)
    return out


def missing(kind: RecordKind | str, frame: pd.DataFrame, routed: Iterable[str] = (),
            models: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{reason code: ids lacking it}, for the figures `models` need (None: every figure)."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    if frame is None or len(frame) == 0:
        return {}
    ids = frame[k.key].astype(str).to_numpy() if k.key in frame else np.array([], str)
    routed = list(routed)
    out: dict[str, list[str]] = {}
    for f in k.figures:
        if models is not None and not set(f.needed_by) & set(models):
            continue
        mask = lacks(k, f, frame, routed)
        if mask.any():
            out.setdefault(f.code, []).extend(str(i) for i in ids[mask])
    return out


def complete_mask(kind: RecordKind | str, frame: pd.DataFrame, routed: Iterable[str] = (),
                  models: Sequence[str] | None = None) -> np.ndarray:
    """True for each record that has every figure `models` need."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    if k.key not in frame:
        return np.ones(len(frame), bool)
    gone = {i for ids in missing(k, frame, routed, models).values() for i in ids}
    return ~frame[k.key].astype(str).isin(gone).to_numpy(bool)


# -- what a run left out ------------------------------------------------------------------------


class Excluded:
    """What a run left out and why: {"total", "by_reason": {code: {"label", "count", "ids"}}}.

    `total` counts records (a record lacking two figures is listed under both reasons and
    counted once).
    """

    def __init__(self, by_reason: Mapping[str, Iterable[Any]] | None = None) -> None:
        self._by: dict[str, list[str]] = {}
        self._seen: dict[str, set[str]] = {}
        for code, ids in (by_reason or {}).items():
            self.add(code, ids)

    def add(self, code: str, ids: Iterable[Any]) -> None:
        bucket = self._by.setdefault(code, [])
        seen = self._seen.setdefault(code, set())
        for i in ids:
            s = str(i)
            if s not in seen:
                seen.add(s)
                bucket.append(s)

    def merge(self, other: Excluded | Mapping[str, Any] | None) -> None:
        if isinstance(other, Excluded):
            for code, ids in other._by.items():
                self.add(code, ids)
            return
        for code, item in ((other or {}).get("by_reason") or {}).items():
            self.add(code, item["ids"])

    def ids(self) -> set[str]:
        return {i for ids in self._by.values() for i in ids}

    def __len__(self) -> int:
        return len(self.ids())

    def to_dict(self) -> dict[str, Any]:
        by = {c: {"label": REASONS.get(c, c.replace("_", " ")), "count": len(v), "ids": v}
              for c, v in self._by.items() if v}
        return {"total": len(self.ids()), "by_reason": by}


def exclusions(kind: RecordKind | str, frame: pd.DataFrame, models: Sequence[str],
               routed: Iterable[str] = ()) -> tuple[pd.DataFrame, Excluded]:
    """The records of `frame` with every figure `models` need, and the others as Excluded."""
    k = KINDS[kind] if isinstance(kind, str) else kind
    ex = Excluded(missing(k, frame, routed, models))
    if len(frame) == 0 or k.key not in frame:
        return frame, ex
    keep = ~frame[k.key].astype(str).isin(ex.ids()).to_numpy(bool)
    return frame[keep].reset_index(drop=True), ex


def describe(excluded: Mapping[str, Any] | Excluded, limit: int = 5,
             head: str = "{total} left out: ") -> str:
    """One line for people: '95 left out: 95 no capacity (1-101, 1-102, ...)'."""
    d = excluded.to_dict() if isinstance(excluded, Excluded) else excluded
    if not d or not d.get("total"):
        return "nothing left out"
    parts = []
    for item in d["by_reason"].values():
        shown = ", ".join(item["ids"][:limit]) + (", ..." if item["count"] > limit else "")
        parts.append(f"{item['count']} {item['label']} ({shown})")
    return head.format(total=d["total"]) + "; ".join(parts)


# -- the Data completeness section --------------------------------------------------------------


def summary(kind: RecordKind | str, frame: pd.DataFrame, routed: Iterable[str] = (),
            sample: int = 20) -> dict[str, Any]:
    """How many records of a kind are complete, and per reason how many lack what.

    `by_reason[code]` holds the label, the count, the first `sample` ids, the models that
    leave such a record out (`needed_by`, with `models` as words) and what happens otherwise.
    """
    k = KINDS[kind] if isinstance(kind, str) else kind
    frame = frame if frame is not None else pd.DataFrame()
    miss = missing(k, frame, routed)
    gone = {i for ids in miss.values() for i in ids}
    by = {}
    for f in k.figures:
        ids = miss.get(f.code)
        if not ids:
            continue
        by[f.code] = {"label": f.label, "count": len(ids), "ids": ids[:sample],
                      "columns": list(f.columns), "needed_by": list(f.needed_by),
                      "models": [MODELS[m] for m in f.needed_by], "effect": f.effect}
    return {"kind": k.kind, "table": k.table, "label": k.label, "records": int(len(frame)),
            "complete": int(len(frame) - len(gone)), "incomplete": len(gone), "by_reason": by}


# -- filling missing capacity (the fill_capacity lever) -----------------------------------------


def fill_capacity(providers: pd.DataFrame, rurality: pd.Series) -> pd.DataFrame:
    """Fill missing `capacity_hours` by the documented rule; mark them `capacity_estimated`.

    Rule: an agency without a capacity gets the median `capacity_hours` of the agencies that
    have one in the same rurality class (the class of its zone); where that class has none, or
    the agency has no zone or class, the median of every agency with a capacity. With no agency
    with a capacity at all nothing is filled. `rurality` is the class of each provider (same
    index as `providers`; blank when unknown). Returns a copy with `capacity_estimated` (bool)
    and `capacity_basis` ('rurality: village', 'all agencies' or None).
    """
    out = providers.copy()
    if "capacity_hours" not in out:
        out["capacity_hours"] = np.nan
    cap = pd.to_numeric(out["capacity_hours"], errors="coerce").astype(float)
    no_cap = ~np.isfinite(cap.to_numpy())
    out["capacity_hours"] = cap
    out["capacity_estimated"] = False
    out["capacity_basis"] = None
    if not no_cap.any() or no_cap.all():
        return out
    rur = rurality.reindex(out.index)
    known = cap[~no_cap]
    overall = float(known.median())
    by_class = known.groupby(rur[~no_cap].astype(object)).median()
    values, bases = [], []
    for r in rur[no_cap]:
        if isinstance(r, str) and r in by_class.index:
            values.append(float(by_class[r]))
            bases.append(f"rurality: {r}")
        else:
            values.append(overall)
            bases.append("all agencies")
    out.loc[no_cap, "capacity_hours"] = values
    out.loc[no_cap, "capacity_estimated"] = True
    out.loc[no_cap, "capacity_basis"] = bases
    return out
