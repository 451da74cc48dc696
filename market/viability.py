"""Provider viability under market equalisation (methodology s5), vectorised over providers.

For a care home with beds B, occupancy o, self-funder share s, fees F_sf and F_la per
resident-week, operating cost C per resident-week and return on capital K per bed-week, a
scenario (take_up, convergence, la_fee_change, cost_change, occupancy_change) gives

    F_la'  = F_la (1 + la_fee_change)
    F_sf'  = max(F_sf - convergence (F_sf - F_la'), F_la')
    s'     = s (1 - take_up)                       (still paying self-funder fees)
    o'     = clip(o + occupancy_change, 0, 1)      (a home cannot be fuller than full)
    resident_weeks' = 52 o' B
    revenue'        = resident_weeks' (s' F_sf' + (1 - s') F_la')
    operating_cost' = resident_weeks' C (1 + cost_change)
    ebitdarm'       = revenue' - operating_cost'
    margin'         = ebitdarm' / revenue'         (None when there is no revenue)
    surplus_after_capital' = ebitdarm' - 52 B K
    cross_subsidy'  = resident_weeks' s' (F_sf' - F_la')

Class: sustainable when surplus_after_capital' >= 0; at risk when ebitdarm' >= 0 but the return
on capital is not met; unviable when ebitdarm' < 0. The baseline is the same with every lever 0.

Break-even LA fee (closed form). With the scenario's other levers held, let x be the LA fee
paid and R = C (1 + cost_change) + 52 B K / resident_weeks' the revenue needed per
resident-week. Self-funders' fees follow x through the convergence rule,
F_sf'(x) = max((1 - c) F_sf + c x, x), so revenue per resident-week is
s' (1 - c) F_sf + (1 - s' (1 - c)) x while x <= F_sf, and x beyond F_sf (everyone pays x).
Hence x = (R - s' (1 - c) F_sf) / (1 - s' (1 - c)) when that is <= F_sf, else x = R; the fee is
floored at 0 (a home sustainable with no LA fee at all) and None when no fee can make the home
sustainable (no residents, or no resident paying anything that moves with the LA fee).
Methodology s7 quotes the fee with self-funder fees held at their scenario value
(`break_even_la_fee_sf_fixed`, 922.4943 in the worked example); that figure, put back into the
scenario as la_fee_change, does not give a surplus of 0, because self-funder fees then move
with the LA fee (docs/models.md). Both are reported.

Home-care providers use the same arithmetic per contact hour (market/homecare.py): B is
contact hours a week, o = 1, C the s4 operating cost and K the s4 surplus line per contact
hour, so "surplus after capital" there is the surplus after the return on operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from market.errors import InvalidInput, InvalidScenario
from market.parameters import ParameterSet

WEEKS = 52.0
CLASSES = ("sustainable", "at risk", "unviable")
LEVERS = ("take_up", "convergence", "la_fee_change", "cost_change", "occupancy_change")
# The scenario's one lever that is not a model parameter: what the LA fees are before
# la_fee_change applies (current: as stored; fcoc_median: each care home's LA fee set to the
# uprated Fair Cost of Care median of its category, caremarket.analyses.fee_basis).
FEE_BASIS = "la_fee_basis"
FEE_BASES = ("current", "fcoc_median")
HOME_FIELDS = ("beds", "occupancy", "self_funder_share", "self_funder_fee", "la_fee",
               "cost_per_resident_week", "capital_cost_per_bed_week")
ID_FIELDS = ("provider_id", "name", "zone_id", "rurality", "group_id", "group_name", "nursing")
RESULT_COLUMNS = ("la_fee", "self_funder_fee", "occupancy", "paying_self_funder_share",
                  "resident_weeks", "revenue", "operating_cost", "ebitdarm", "margin",
                  "capital_cost", "surplus_after_capital", "cross_subsidy", "class",
                  "break_even_la_fee", "break_even_la_fee_sf_fixed", "fee_uplift",
                  "extra_la_spend", "extra_la_spend_council", "extra_self_funder_spend")


def levers(params: ParameterSet | Mapping[str, Any] | None) -> dict[str, float]:
    """Return the five scenario levers of `params` (a ParameterSet, or a mapping validated as one)."""
    if params is None:
        params = ParameterSet()
    elif not isinstance(params, ParameterSet):
        params = ParameterSet(params)
    return {k: float(params[k]) for k in LEVERS}


# --------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True)
class PreparedHomes:
    """Care homes checked and typed for the models, with the homes left out and why."""

    homes: pd.DataFrame  # ID_FIELDS + HOME_FIELDS, one row per home, numbers as float
    excluded: pd.DataFrame  # provider_id, name, field, reason

    def __len__(self) -> int:
        return len(self.homes)


def _label(pid: Any, name: Any, what: str = "care home") -> str:
    return f"{what} {pid}" + (f" ('{name}')" if isinstance(name, str) and name else "")


def prepare_care_homes(frame: pd.DataFrame, zones: pd.DataFrame | None = None, *,
                       strict: bool = False, what: str = "care home",
                       labels: Mapping[str, str] | None = None) -> PreparedHomes:
    """Check care homes for the viability model; return them typed, with exclusions.

    Contradictory values are errors naming the home and field (InvalidInput, listing every
    problem): beds not above 0, occupancy or self-funder share outside 0-1, a negative fee or
    cost, a self-funder fee below the LA fee where the home has self-funders, a value that is
    not a number. Missing values (a blank fee, cost, occupancy or share: data not yet
    collected) leave the home out of the run and listed in `excluded` with the field, unless
    `strict`, when they are errors too. A blank self-funder fee where the self-funder share is
    0 is not needed and counts as the LA fee. Rurality comes from `zones` by zone_id when the
    homes do not carry it. `what` and `labels` (model field -> the caller's column name)
    word the errors for other providers (home-care providers, market/homecare.py).
    """
    names = {c: c for c in HOME_FIELDS}
    names.update(labels or {})
    if frame is None or len(frame) == 0:
        raise InvalidInput(f"no {what}s to assess")
    f = frame.reset_index(drop=True).copy()
    f.columns = [str(c).strip() for c in f.columns]
    missing_cols = [c for c in ("provider_id", *HOME_FIELDS) if c not in f]
    if missing_cols:
        raise InvalidInput(f"{what} table lacks column(s) {', '.join(missing_cols)} (it has: "
                           f"{', '.join(f.columns)})")
    if f["provider_id"].isna().any():
        raise InvalidInput(f"{int(f['provider_id'].isna().sum())} {what}(s) have no provider_id")
    f["provider_id"] = f["provider_id"].astype(str).str.strip()
    dup = f["provider_id"][f["provider_id"].duplicated()]
    if len(dup):
        raise InvalidInput(f"{what} provider_id repeated: {', '.join(dup.unique()[:10])}")
    if "name" not in f:
        f["name"] = None
    problems: list[str] = []
    missing: dict[int, list[str]] = {}
    values: dict[str, np.ndarray] = {}
    for col in HOME_FIELDS:
        raw = f[col]
        text = raw.astype("string").str.strip().str.replace(",", "", regex=False)
        blank = (raw.isna() | (text.fillna("") == "")).to_numpy()
        num = pd.to_numeric(text.str.replace("£", "", regex=False), errors="coerce")
        v = num.to_numpy(dtype=float, na_value=np.nan)
        for i in np.flatnonzero(np.isnan(v) & ~blank | np.isinf(v)):
            problems.append(f"{_label(f['provider_id'][i], f['name'][i], what)}: {names[col]} "
                            f"'{raw.iloc[i]}' is not a number")
        for i in np.flatnonzero(blank):
            missing.setdefault(int(i), []).append(names[col])
        values[col] = v

    def bad(mask: np.ndarray, message) -> None:
        for i in np.flatnonzero(mask):
            problems.append(f"{_label(f['provider_id'][i], f['name'][i], what)}: {message(i)}")

    B, o, s = values["beds"], values["occupancy"], values["self_funder_share"]
    Fsf, Fla = values["self_funder_fee"], values["la_fee"]
    with np.errstate(invalid="ignore"):
        bad(B <= 0, lambda i: f"{names['beds']} must be above 0 (got {B[i]:g})")
        bad((o < 0) | (o > 1), lambda i: f"occupancy must be between 0 and 1 (got {o[i]:g})")
        bad((s < 0) | (s > 1),
            lambda i: f"{names['self_funder_share']} must be between 0 and 1 (got {s[i]:g})")
        for col in ("self_funder_fee", "la_fee", "cost_per_resident_week",
                    "capital_cost_per_bed_week"):
            v = values[col]
            bad(v < 0, lambda i, col=col, v=v: f"{names[col]} cannot be negative (got {v[i]:g})")
        bad((Fsf < Fla) & (s > 0),
            lambda i: f"{names['self_funder_fee']} {Fsf[i]:g} is below {names['la_fee']} "
                      f"{Fla[i]:g}; self-funders "
                      "never pay less than the LA rate in this model (check the two columns)")
    # A blank self-funder fee is not needed when nobody pays it.
    no_sf = np.isnan(Fsf) & (s == 0)
    Fsf[no_sf] = Fla[no_sf]
    for i in np.flatnonzero(no_sf):
        missing[int(i)] = [c for c in missing.get(int(i), [])
                          if c != names["self_funder_fee"]]
        if not missing[int(i)]:
            del missing[int(i)]
    if strict:
        for k, cols in sorted(missing.items()):
            problems.append(f"{_label(f['provider_id'][k], f['name'][k], what)}: "
                            f"{', '.join(cols)} missing")
    if problems:
        shown = "\n  ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        exc = InvalidInput(f"{len(problems)} problem(s) with the {what}s:\n  {shown}{more}")
        exc.problems = problems  # type: ignore[attr-defined]
        raise exc
    out = pd.DataFrame({c: (f[c].to_numpy() if c in f else None) for c in ID_FIELDS})
    if zones is not None and "zone_id" in zones and "rurality" in zones:
        rur = pd.Series(zones["rurality"].to_numpy(), index=zones["zone_id"].astype(str))
        rur = rur[~rur.index.duplicated()]
        have = out["rurality"].notna()
        mapped = out["zone_id"].astype(str).map(rur)
        out["rurality"] = out["rurality"].where(have, mapped)
    for c in HOME_FIELDS:
        out[c] = values[c]
    keep = np.ones(len(out), bool)
    keep[list(missing)] = False
    excluded = pd.DataFrame(
        [{"provider_id": f["provider_id"][i], "name": f["name"][i], "field": ", ".join(cols),
          "reason": f"{', '.join(cols)} missing"} for i, cols in sorted(missing.items())],
        columns=["provider_id", "name", "field", "reason"])
    return PreparedHomes(out[keep].reset_index(drop=True), excluded)


# --------------------------------------------------------------------------------------------
# The arithmetic (arrays broadcast: levers may be (V, 1) against homes (H,))


def evaluate(B, o, s, Fsf, Fla, C, K, take_up=0.0, convergence=0.0, la_fee_change=0.0,
             cost_change=0.0, occupancy_change=0.0) -> dict[str, np.ndarray]:
    """Return every s5 quantity for arrays of providers under the given levers (broadcast)."""
    Fla2 = Fla * (1.0 + la_fee_change)
    Fsf2 = np.maximum(Fsf - convergence * (Fsf - Fla2), Fla2)
    s2 = s * (1.0 - take_up)
    o2 = np.clip(o + occupancy_change, 0.0, 1.0)
    C2 = C * (1.0 + cost_change)
    rw = WEEKS * o2 * B
    revenue = rw * (s2 * Fsf2 + (1.0 - s2) * Fla2)
    opcost = rw * C2
    ebitdarm = revenue - opcost
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = np.where(revenue != 0, ebitdarm / np.where(revenue != 0, revenue, 1.0), np.nan)
    capital = WEEKS * B * K * np.ones_like(rw)
    surplus = ebitdarm - capital
    cross = rw * s2 * (Fsf2 - Fla2)
    # Break-even LA fee: self-funder fees follow it through the convergence rule.
    with np.errstate(invalid="ignore", divide="ignore"):
        need = C2 + np.where(rw > 0, capital / np.where(rw > 0, rw, 1.0), np.inf)
        fixed = s2 * (1.0 - convergence) * Fsf
        slope = 1.0 - s2 * (1.0 - convergence)
        x1 = np.where(slope > 0, (need - fixed) / np.where(slope > 0, slope, 1.0),
                      np.where(Fsf * np.ones_like(need) >= need, -np.inf, np.inf))
        be = np.where(x1 <= Fsf, x1, need)
        be = np.where(np.isinf(need), np.nan, np.maximum(be, 0.0))
        be = np.where(np.isinf(be), np.nan, be)
        # Methodology s7's variant: self-funder fees held at their scenario value.
        held = np.where(s2 < 1.0, (need - s2 * Fsf2) / np.where(s2 < 1.0, 1.0 - s2, 1.0), np.nan)
        held = np.where(np.isinf(need), np.nan, np.maximum(held, 0.0))
    uplift = np.clip(be - Fla2, 0.0, None)
    uplift = np.where(np.isnan(uplift), 0.0, uplift)
    # Extra spend a year at the break-even fee where it is above the fee paid: at the LA rate
    # (LA-funded residents and self-funders placed through s18(3)), of which council-funded
    # (the baseline LA-funded share 1 - s); self-funders still paying their own fee pay
    # convergence x the uplift more (only below F_sf).
    with np.errstate(invalid="ignore"):
        extra_la = rw * (1.0 - s2) * uplift
        extra_council = rw * (1.0 - s) * uplift
        sf_rise = np.maximum(np.maximum(Fsf - convergence * (Fsf - (Fla2 + uplift)),
                                        Fla2 + uplift) - Fsf2, 0.0)
        extra_sf = rw * s2 * sf_rise
    cls = np.where(surplus >= 0, 0, np.where(ebitdarm >= 0, 1, 2))
    return {
        "la_fee": Fla2 * np.ones_like(rw), "self_funder_fee": Fsf2 * np.ones_like(rw),
        "occupancy": o2 * np.ones_like(rw), "paying_self_funder_share": s2 * np.ones_like(rw),
        "resident_weeks": rw, "revenue": revenue, "operating_cost": opcost,
        "ebitdarm": ebitdarm, "margin": margin, "capital_cost": capital,
        "surplus_after_capital": surplus, "cross_subsidy": cross, "class_code": cls,
        "break_even_la_fee": be, "break_even_la_fee_sf_fixed": held, "fee_uplift": uplift,
        "extra_la_spend": extra_la, "extra_la_spend_council": extra_council,
        "extra_self_funder_spend": extra_sf,
    }


def home_arrays(homes: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Return (B, o, s, F_sf, F_la, C, K) of prepared homes as float arrays."""
    return tuple(homes[c].to_numpy(float) for c in HOME_FIELDS)


def assess(homes: pd.DataFrame | PreparedHomes,
           params: ParameterSet | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return one row per home: identity columns plus every s5 quantity under `params`.

    `homes` must be prepared (`prepare_care_homes`). Columns: ID_FIELDS, beds, then
    RESULT_COLUMNS (class as 'sustainable' / 'at risk' / 'unviable').
    """
    if isinstance(homes, PreparedHomes):
        homes = homes.homes
    lv = levers(params)
    r = evaluate(*home_arrays(homes), **lv)
    out = homes[[c for c in ID_FIELDS if c in homes]].copy()
    out["beds"] = homes["beds"].to_numpy(float)
    for c in RESULT_COLUMNS:
        if c == "class":
            out[c] = np.asarray(CLASSES, dtype=object)[r["class_code"]]
        else:
            out[c] = r[c]
    return out


def classify(surplus, ebitdarm) -> np.ndarray:
    """Return the class name of each provider from its surplus after capital and EBITDARM."""
    code = np.where(np.asarray(surplus) >= 0, 0, np.where(np.asarray(ebitdarm) >= 0, 1, 2))
    return np.asarray(CLASSES, dtype=object)[code]


def check_scenario(scenario: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a scenario mapping (parameter -> value); return it as floats, with
    `la_fee_basis` (FEE_BASES) kept as given when it is there.

    Raises InvalidScenario naming the parameter (unknown, not a number, out of range, e.g.
    take_up outside 0-1).
    """
    if scenario is None:
        return {}
    if not isinstance(scenario, Mapping):
        raise InvalidScenario("a scenario is a mapping of parameter name to value")
    values = dict(scenario)
    basis = values.pop(FEE_BASIS, None)
    out: dict[str, Any] = ParameterSet(values).overrides
    if basis is not None:
        if not isinstance(basis, str) or basis not in FEE_BASES:
            raise InvalidScenario(f"{FEE_BASIS}: {basis!r} is not one of "
                                  f"{', '.join(FEE_BASES)}")
        out[FEE_BASIS] = basis
    return out


def model_values(scenario: Mapping[str, Any] | None) -> dict[str, float]:
    """The scenario's model parameters (checked), without the fee basis, which changes the
    market's fees rather than a parameter."""
    return {k: v for k, v in check_scenario(scenario).items() if k != FEE_BASIS}
