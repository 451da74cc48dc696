"""Named scenarios as values, and sweeps of one parameter over its range (the side-by-side
comparison of saved scenarios is `caremarket.analyses.compare_scenarios`).

A `Scenario` is a name, a description and a mapping of parameter to value; it never changes the
baseline (`run` applies it to a copy of the baseline parameters). Storing scenarios is the
application's job (caremarket/scenario_store.py); everything here is pure.

`sweep` evaluates the market at every value of one lever (e.g. take-up 0 to 100% in 5% steps)
in one vectorised pass (values x providers) and `tipping_points` gives, per provider, the lever
value at which it tips into risk (surplus after capital 0) and into unviability (EBITDARM 0),
in closed form: revenue and cost are affine in take_up, convergence, cost_change and
occupancy_change (each with the others held), and the la_fee_change tipping point comes from
the break-even LA fee.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from market.equalisation import Baseline
from market.errors import InvalidInput, InvalidScenario
from market.parameters import ParameterSet
from market.viability import (
    CLASSES,
    LEVERS,
    check_scenario,
    evaluate,
    home_arrays,
    levers,
    model_values,
)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}$")


@dataclass(frozen=True)
class Scenario:
    """A named scenario: parameter -> value (validated against the parameter definitions)."""

    name: str
    values: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name.strip()):
            raise InvalidScenario(f"scenario name {self.name!r}: use 1-80 letters, digits, "
                                  "spaces, '.', '_' or '-', starting with a letter or digit")
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "values", check_scenario(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "values": dict(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(data["name"], data.get("values") or data.get("params") or {},
                   data.get("description") or "")


# --------------------------------------------------------------------------------------------
# Sweeps and tipping points


@dataclass
class SweepResult:
    parameter: str
    values: np.ndarray
    table: pd.DataFrame  # one row per value: providers and capacity per class, money totals
    tipping: pd.DataFrame  # one row per provider: the lever value where it tips

    def to_dict(self) -> dict[str, Any]:
        def rec(frame: pd.DataFrame) -> list[dict[str, Any]]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                    for r in clean.to_dict("records")]

        return {"parameter": self.parameter, "values": [float(v) for v in self.values],
                "table": rec(self.table), "tipping": rec(self.tipping)}


def default_values(parameter: str, step: float = 0.05) -> np.ndarray:
    """Return the default sweep grid: 0 to 1 in `step`s for shares, -0.2 to 0.5 for changes."""
    if parameter in ("take_up", "convergence"):
        lo, hi = 0.0, 1.0
    elif parameter == "occupancy_change":
        lo, hi = -0.2, 0.1
    else:
        lo, hi = -0.2, 0.5
    n = int(round((hi - lo) / step))
    return np.round(lo + step * np.arange(n + 1), 10)


def sweep(baseline: Baseline, parameter: str = "take_up", values: Iterable[float] | None = None,
          scenario: Mapping[str, Any] | None = None) -> SweepResult:
    """Evaluate the market at each value of one lever, the scenario's other levers held."""
    if parameter not in LEVERS:
        raise InvalidScenario(f"cannot sweep '{parameter}' (choose from {', '.join(LEVERS)})")
    vals = default_values(parameter) if values is None else np.asarray(list(values), float)
    if len(vals) == 0:
        raise InvalidScenario("a sweep needs at least one value")
    definition = ParameterSet().definition(parameter)
    for v in vals:
        definition.check(v)
    params = baseline.params.with_overrides(model_values(scenario))
    lv: dict[str, Any] = dict(levers(params))
    lv[parameter] = vals[:, None]
    arrays = home_arrays(baseline.homes)
    r = evaluate(*arrays, **lv)
    beds = arrays[0]
    cap = baseline.capacity
    table = pd.DataFrame({parameter: vals})
    for k, c in enumerate(CLASSES):
        hit = r["class_code"] == k
        table[f"providers_{c.replace(' ', '_')}"] = hit.sum(axis=1)
        table[f"{cap}_{c.replace(' ', '_')}"] = (hit * beds).sum(axis=1)
    table["revenue"] = r["revenue"].sum(axis=1)
    table["ebitdarm"] = r["ebitdarm"].sum(axis=1)
    table["surplus_after_capital"] = r["surplus_after_capital"].sum(axis=1)
    table["cross_subsidy"] = r["cross_subsidy"].sum(axis=1)
    base_cross = evaluate(*arrays, **levers(baseline.params))["cross_subsidy"].sum()
    table["cross_subsidy_lost"] = base_cross - table["cross_subsidy"]
    table["extra_la_spend"] = r["extra_la_spend"].sum(axis=1)
    tipping = tipping_points(baseline, parameter, scenario)
    return SweepResult(parameter, vals, table, tipping)


def tipping_points(baseline: Baseline, parameter: str = "take_up",
                   scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return per provider the value of `parameter` at which it tips, in closed form.

    Columns: provider_id, name, capacity, class_now (under the scenario as given), at_risk_at
    (the value where surplus after capital reaches 0) and unviable_at (where EBITDARM reaches
    0), and direction ('up': the provider tips as the value rises, as for take_up,
    convergence and cost_change; 'down': as it falls, as for la_fee_change and
    occupancy_change). A value is None when the lever cannot move the provider across the
    line (e.g. no self-funders for take_up) and is not clipped to the lever's range: a
    take-up tipping point below 0 means already at risk, above 1 never at risk.
    """
    if parameter not in LEVERS:
        raise InvalidScenario(f"no tipping point for '{parameter}' (choose from "
                              f"{', '.join(LEVERS)})")
    params = baseline.params.with_overrides(model_values(scenario))
    lv = levers(params)
    arrays = home_arrays(baseline.homes)
    B, o, s, Fsf, Fla, C, K = arrays
    now = evaluate(*arrays, **lv)
    out = pd.DataFrame({"provider_id": baseline.homes["provider_id"].to_numpy(),
                        "name": baseline.homes["name"].to_numpy(),
                        baseline.capacity: B})
    out["class_now"] = np.asarray(CLASSES, dtype=object)[now["class_code"]]
    if parameter == "la_fee_change":
        at_risk = now["break_even_la_fee"] / Fla - 1.0
        zero_k = evaluate(B, o, s, Fsf, Fla, C, np.zeros_like(K), **lv)
        unviable = zero_k["break_even_la_fee"] / Fla - 1.0
        direction = "down"
    else:
        # Affine in the lever (occupancy within 0-1): solve f(v0) + slope (v - v0) = 0.
        v0 = lv[parameter]
        v1 = v0 + 1.0 if v0 <= 0 else v0 - 1.0
        r1 = evaluate(*arrays, **{**lv, parameter: v1})
        if parameter == "occupancy_change":
            # evaluate at unclipped occupancies: use the affine form directly
            base = dict(lv)
            base["occupancy_change"] = 0.0
            o_lo = evaluate(B, np.zeros_like(o), s, Fsf, Fla, C, K, **{**base})
            o_hi = evaluate(B, np.ones_like(o), s, Fsf, Fla, C, K, **{**base})
            at_risk = _root(o_lo["surplus_after_capital"], o_hi["surplus_after_capital"],
                            0.0, 1.0) - o
            unviable = _root(o_lo["ebitdarm"], o_hi["ebitdarm"], 0.0, 1.0) - o
            direction = "down"
        else:
            at_risk = _root(now["surplus_after_capital"], r1["surplus_after_capital"], v0, v1)
            unviable = _root(now["ebitdarm"], r1["ebitdarm"], v0, v1)
            direction = "up"
    out["at_risk_at"] = at_risk
    out["unviable_at"] = unviable
    out["direction"] = direction
    return out


def _root(f0: np.ndarray, f1: np.ndarray, v0: float, v1: float) -> np.ndarray:
    slope = (f1 - f0) / (v1 - v0)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.where(np.abs(slope) > 1e-9 * (np.abs(f0) + 1.0), v0 - f0 / slope, np.nan)
    return root


def check_parameter_range(parameter: str, lo: float, hi: float, step: float) -> np.ndarray:
    """Return the grid lo..hi in `step`s for `parameter`, each value checked against its range."""
    if step <= 0:
        raise InvalidInput("step must be above 0")
    if hi < lo:
        raise InvalidInput("the end of the range is below its start")
    n = int(np.floor((hi - lo) / step + 1e-9))
    vals = np.round(lo + step * np.arange(n + 1), 10)
    d = ParameterSet().definition(parameter) if parameter in LEVERS else None
    if d is None:
        raise InvalidScenario(f"cannot sweep '{parameter}' (choose from {', '.join(LEVERS)})")
    for v in (vals[0], vals[-1]):
        d.check(v)
    return vals
