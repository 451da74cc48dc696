"""Market equalisation: run a scenario against a baseline market (methodology s5). Pure, no I/O.

A `Baseline` is the market's providers (checked) and the baseline parameters. A scenario is a
mapping of parameter name to value (`{"take_up": 0.5, "convergence": 0.25}`); `run(baseline,
scenario)` applies it to a copy of the baseline parameters and returns an `EqualisationResult`
holding every provider before and after, the totals by class, zone, rurality and provider
group, and a JSON-ready `to_dict()`. The same result type serves care homes (capacity in beds,
fees per resident-week) and home-care providers (capacity in contact hours a week, rates per
contact hour; market/homecare.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from market.errors import InvalidInput
from market.parameters import ParameterSet
from market.viability import (
    CLASSES,
    ID_FIELDS,
    LEVERS,
    RESULT_COLUMNS,
    PreparedHomes,
    assess,
    model_values,
    prepare_care_homes,
)

PROVIDER_KEYS = ("revenue", "ebitdarm", "margin", "surplus_after_capital", "cross_subsidy",
                 "class")
GROUPINGS = {"class": None, "zone": "zone_id", "rurality": "rurality", "group": "group_id"}


@dataclass(frozen=True)
class Baseline:
    """The market a scenario is applied to: checked providers plus baseline parameters."""

    homes: pd.DataFrame
    params: ParameterSet = field(default_factory=ParameterSet)
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["provider_id", "name", "field", "reason"]))
    kind: str = "care_home"  # or "homecare"
    capacity: str = "beds"  # the capacity column: beds, or contact hours a week

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, zones: pd.DataFrame | None = None,
                   params: ParameterSet | Mapping[str, Any] | None = None, *,
                   strict: bool = False) -> Baseline:
        """Check a care-home frame (`prepare_care_homes`) and wrap it as a baseline."""
        prepared = prepare_care_homes(frame, zones, strict=strict)
        return cls.from_prepared(prepared, params)

    @classmethod
    def from_prepared(cls, prepared: PreparedHomes,
                      params: ParameterSet | Mapping[str, Any] | None = None) -> Baseline:
        if params is not None and not isinstance(params, ParameterSet):
            params = ParameterSet(params)
        if len(prepared.homes) == 0:
            reasons = "; ".join(f"{r.provider_id}: {r.reason}"
                                for r in prepared.excluded.head(5).itertuples())
            raise InvalidInput(f"no care home has every figure the model needs ({reasons})")
        return cls(prepared.homes, params or ParameterSet(), prepared.excluded)

    def assess(self, scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Assess every provider under the baseline parameters plus `scenario`."""
        return assess(self.homes, self.params.with_overrides(model_values(scenario)))


@dataclass
class EqualisationResult:
    """Every provider before and after a scenario, with the totals the reports need."""

    scenario: dict[str, float]
    params: ParameterSet
    before: pd.DataFrame  # assess() under the baseline parameters
    after: pd.DataFrame  # assess() under the scenario
    excluded: pd.DataFrame
    kind: str = "care_home"
    capacity: str = "beds"
    warnings: list[str] = field(default_factory=list)

    # -- per provider -------------------------------------------------------------------------

    @property
    def providers(self) -> pd.DataFrame:
        """One row per provider: identity, capacity, then baseline_* and scenario_* columns."""
        ids = [c for c in ID_FIELDS if c in self.before]
        out = self.before[ids].copy()
        out[self.capacity] = self.before["beds"].to_numpy()
        for c in RESULT_COLUMNS:
            out[f"baseline_{c}"] = self.before[c].to_numpy()
        for c in RESULT_COLUMNS:
            out[f"scenario_{c}"] = self.after[c].to_numpy()
        out["cross_subsidy_lost"] = (self.before["cross_subsidy"].to_numpy()
                                     - self.after["cross_subsidy"].to_numpy())
        return out

    # -- totals -------------------------------------------------------------------------------

    def by_class(self) -> pd.DataFrame:
        """Providers and capacity in each class, before and after."""
        rows = []
        cap_b, cap_a = self.before["beds"].to_numpy(), self.after["beds"].to_numpy()
        for c in CLASSES:
            b = (self.before["class"] == c).to_numpy()
            a = (self.after["class"] == c).to_numpy()
            rows.append({"class": c, "providers_before": int(b.sum()),
                         "providers_after": int(a.sum()),
                         f"{self.capacity}_before": float(cap_b[b].sum()),
                         f"{self.capacity}_after": float(cap_a[a].sum())})
        return pd.DataFrame(rows)

    def totals(self, by: str) -> pd.DataFrame:
        """Totals by 'class', 'zone', 'rurality' or 'group' (provider group).

        Columns (grouped): providers, capacity, providers and capacity per class before and
        after, cross-subsidy before, after and lost, extra LA spend a year to restore
        sustainability (and the council-funded part), revenue before and after.
        """
        if by not in GROUPINGS:
            raise InvalidInput(f"cannot total by '{by}' (choose from {', '.join(GROUPINGS)})")
        if by == "class":
            return self.by_class()
        key = GROUPINGS[by]
        b, a = self.before, self.after
        frame = pd.DataFrame({
            key: b[key].astype(object).where(b[key].notna(), "(none)").to_numpy()
            if key in b else "(none)",
            "providers": 1, self.capacity: b["beds"].to_numpy(),
            "cross_subsidy_before": b["cross_subsidy"].to_numpy(),
            "cross_subsidy_after": a["cross_subsidy"].to_numpy(),
            "extra_la_spend": a["extra_la_spend"].to_numpy(),
            "extra_la_spend_council": a["extra_la_spend_council"].to_numpy(),
            "revenue_before": b["revenue"].to_numpy(), "revenue_after": a["revenue"].to_numpy(),
        })
        if by == "group" and "group_name" in b:
            frame["group_name"] = b["group_name"].to_numpy()
        for when, src in (("before", b), ("after", a)):
            for c in CLASSES:
                tag = c.replace(" ", "_")
                hit = (src["class"] == c).to_numpy()
                frame[f"providers_{tag}_{when}"] = hit.astype(int)
                frame[f"{self.capacity}_{tag}_{when}"] = np.where(hit, frame[self.capacity], 0.0)
        agg: dict[str, Any] = {c: "sum" for c in frame.columns if c not in (key, "group_name")}
        if "group_name" in frame:
            agg["group_name"] = "first"
        out = frame.groupby(key, sort=True).agg(agg).reset_index()
        out["cross_subsidy_lost"] = out["cross_subsidy_before"] - out["cross_subsidy_after"]
        return out.rename(columns={key: by if by != "zone" else "zone_id"})

    def summary(self) -> dict[str, Any]:
        """Headline figures: providers and capacity per class before and after, cross-subsidy
        before, after and lost, extra LA spend a year to restore sustainability."""
        cap = self.capacity
        cls = self.by_class()
        b, a = self.before, self.after
        out: dict[str, Any] = {
            "kind": self.kind, "providers": int(len(b)), cap: float(b["beds"].sum()),
            "excluded": int(len(self.excluded)),
            "providers_by_class": {
                "before": {r["class"]: r["providers_before"] for r in cls.to_dict("records")},
                "after": {r["class"]: r["providers_after"] for r in cls.to_dict("records")},
            },
            f"{cap}_by_class": {
                "before": {r["class"]: r[f"{cap}_before"] for r in cls.to_dict("records")},
                "after": {r["class"]: r[f"{cap}_after"] for r in cls.to_dict("records")},
            },
            "cross_subsidy_before": float(b["cross_subsidy"].sum()),
            "cross_subsidy_after": float(a["cross_subsidy"].sum()),
            "revenue_before": float(b["revenue"].sum()),
            "revenue_after": float(a["revenue"].sum()),
            "surplus_after_capital_before": float(b["surplus_after_capital"].sum()),
            "surplus_after_capital_after": float(a["surplus_after_capital"].sum()),
            "extra_la_spend": float(a["extra_la_spend"].sum()),
            "extra_la_spend_council": float(a["extra_la_spend_council"].sum()),
            "extra_self_funder_spend": float(a["extra_self_funder_spend"].sum()),
            "providers_needing_uplift": int((a["fee_uplift"] > 0).sum()),
            "no_break_even": int(a["break_even_la_fee"].isna().sum()),
        }
        out["cross_subsidy_lost"] = out["cross_subsidy_before"] - out["cross_subsidy_after"]
        if self.kind == "care_home":
            # the keys the CLI contract names
            out["homes_by_class"] = out["providers_by_class"]
        return out

    # -- JSON ---------------------------------------------------------------------------------

    def provider_records(self) -> list[dict[str, Any]]:
        """Each provider as {provider_id, name, ..., baseline: {...}, scenario: {...}}."""
        ids = [c for c in ID_FIELDS if c in self.before]
        idf = _records(self.before[ids])
        base = _records(self.before[list(RESULT_COLUMNS)])
        scen = _records(self.after[list(RESULT_COLUMNS)])
        cap = self.before["beds"].to_numpy()
        out = []
        for i, (ident, bb, ss) in enumerate(zip(idf, base, scen, strict=True)):
            rec = dict(ident)
            rec[self.capacity] = float(cap[i])
            rec["baseline"] = bb
            rec["scenario"] = ss
            rec["cross_subsidy_lost"] = (bb["cross_subsidy"] or 0.0) - (ss["cross_subsidy"]
                                                                        or 0.0)
            out.append(rec)
        return out

    def to_dict(self, totals: bool = True) -> dict[str, Any]:
        """The run as one JSON-ready object: scenario, parameters, providers, summary, totals."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "scenario": dict(self.scenario),
            "levers": {k: self.params[k] for k in LEVERS},
            "providers": self.provider_records(),
            "summary": self.summary(),
            "excluded": _records(self.excluded),
            "warnings": list(self.warnings),
        }
        if totals:
            out["totals"] = {by: _records(self.totals(by)) for by in GROUPINGS}
        return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in clean.to_dict("records")]


def run(baseline: Baseline, scenario: Mapping[str, Any] | None = None,
        current: Baseline | None = None) -> EqualisationResult:
    """Run `scenario` (parameter -> value) against `baseline`; pure, the baseline is unchanged.

    `current`: the same homes at other fees (the scenario's `la_fee_basis` rebases
    `baseline`'s LA fees): "before" is assessed on it, "after" on `baseline`.
    """
    values = model_values(scenario)
    params = baseline.params.with_overrides(values)
    start = baseline.homes
    if current is not None:
        if list(current.homes["provider_id"]) != list(baseline.homes["provider_id"]):
            raise InvalidInput("the fee basis changed which care homes can be assessed")
        start = current.homes
    before = assess(start, baseline.params)
    after = assess(baseline.homes, params)
    warnings = []
    if params["occupancy_change"] != 0:
        o = baseline.homes["occupancy"].to_numpy(float) + params["occupancy_change"]
        clipped = int(((o < 0) | (o > 1)).sum())
        if clipped:
            warnings.append(f"occupancy_change {params['occupancy_change']:+g} takes {clipped} "
                            "provider(s) outside 0-1; their occupancy is held at the bound")
    if len(baseline.excluded):
        warnings.append(f"{len(baseline.excluded)} provider(s) left out for missing figures "
                        "(see 'excluded')")
    return EqualisationResult(values, params, before, after, baseline.excluded.copy(),
                              baseline.kind, baseline.capacity, warnings)
