"""Provider exits under a scenario, and the cheapest LA fee uplifts that keep coverage.

`provider_exits`: under an equalisation scenario, home-care providers that become unviable
(their blended hourly rate no longer covers the s4 operating cost of the zones the coverage LP
gives them) exit; the coverage LP is re-solved without them, and again while the new
assignment makes more providers unviable (at most `max_rounds`). The result is the unmet hours
each zone gains.

`FeeUpliftModel`: the cheapest LA hourly-rate uplifts that keep coverage at its baseline level
under the scenario. Formulation in the class docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from market.errors import InvalidInput, OptimisationError
from market.homecare import homecare_baseline, run_homecare
from market.parameters import RURALITY_CLASSES, ParameterSet
from market.viability import LEVERS, model_values
from optimizer.coverage import UNMET_TOLERANCE, CoverageModel, prepare_market

WEEKS = 52.0


def _split(params: ParameterSet | Mapping[str, Any] | None,
           scenario: Mapping[str, Any] | None) -> tuple[ParameterSet, ParameterSet, dict]:
    """Return (baseline params, scenario params for costs, scenario values)."""
    base = params if isinstance(params, ParameterSet) else ParameterSet(params or {})
    values = model_values(scenario)
    non_lever = {k: v for k, v in values.items() if k not in LEVERS}
    return base, base.with_overrides(non_lever), values


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in clean.to_dict("records")]


@dataclass
class ExitResult:
    params: ParameterSet
    scenario: dict[str, float]
    exited: list[str]
    rounds: int
    zones: pd.DataFrame  # zone_id, rurality, demand_hours, unmet_before, unmet_after, added
    providers: pd.DataFrame  # provider_id, class_before, class_after, exited, round
    unmet_before: float
    unmet_after: float
    coverage_before: float | None
    coverage_after: float | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        added = self.zones[self.zones["unmet_added"] > 1e-6].sort_values(
            "unmet_added", ascending=False)
        return {
            "scenario": dict(self.scenario), "exited": list(self.exited),
            "rounds": self.rounds, "unmet_before": self.unmet_before,
            "unmet_after": self.unmet_after,
            "unmet_added": self.unmet_after - self.unmet_before,
            "coverage_before": self.coverage_before, "coverage_after": self.coverage_after,
            "zones_with_added_unmet": _records(added), "zones": _records(self.zones),
            "providers": _records(self.providers), "warnings": list(self.warnings),
        }


def provider_exits(zones: pd.DataFrame, providers: pd.DataFrame,
                   travel: pd.DataFrame | None = None,
                   params: ParameterSet | Mapping[str, Any] | None = None,
                   scenario: Mapping[str, Any] | None = None, *, solver: str = "auto",
                   exit_classes: Iterable[str] = ("unviable",), max_rounds: int = 5,
                   include_baseline_unviable: bool = False,
                   baseline_model: CoverageModel | None = None) -> ExitResult:
    """Exit the providers a scenario makes unviable; re-solve coverage; unmet hours by zone.

    Viability is per contact hour at the provider's LP assignment (market/homecare.py); the
    scenario's non-lever parameters (e.g. the wage) change the costs after the scenario. A
    provider exits when it is in `exit_classes` under the scenario but was not at baseline
    (unless `include_baseline_unviable`).
    """
    base_p, scen_p, values = _split(params, scenario)
    exit_classes = tuple(exit_classes)
    base = baseline_model or CoverageModel.from_frames(zones, providers, travel,
                                                       base_p).solve(solver)
    before_bl = homecare_baseline(providers, base.assignment, zones, base_p)
    first = run_homecare(before_bl, {})
    class_before = dict(zip(first.before["provider_id"], first.before["class"], strict=True))
    exited: list[str] = []
    round_of: dict[str, int] = {}
    class_after: dict[str, str] = {}
    current = base
    rounds = 0
    warnings: list[str] = []
    for r in range(1, max_rounds + 1):
        remaining = providers[~providers["provider_id"].astype(str).isin(exited)]
        if len(remaining) == 0:
            break
        bl = homecare_baseline(remaining, current.assignment, zones, scen_p)
        res = run_homecare(bl, values)
        warnings.extend(w for w in res.warnings if w not in warnings)
        now = dict(zip(res.after["provider_id"], res.after["class"], strict=True))
        class_after.update(now)
        # Only providers the scenario makes unviable exit: one the s4 cost already shows as
        # unviable at baseline is evidently operating (its own costs are below the model's),
        # so the scenario is not what decides its exit (docs/models.md).
        new = [pid for pid, c in now.items() if c in exit_classes and pid not in exited
               and (include_baseline_unviable or class_before.get(pid) not in exit_classes)]
        rounds = r
        if not new:
            break
        exited.extend(new)
        round_of.update({pid: r for pid in new})
        current = CoverageModel.from_frames(zones, providers, travel, base_p,
                                            removed_providers=exited).solve(solver)
    else:
        warnings.append(f"stopped after {max_rounds} rounds of exits")
    z = base.zones[["zone_id", "rurality", "demand_hours", "unmet_hours"]].rename(
        columns={"unmet_hours": "unmet_before"})
    z["unmet_after"] = z["zone_id"].map(
        current.zones.set_index("zone_id")["unmet_hours"]).to_numpy(float)
    z["unmet_added"] = z["unmet_after"] - z["unmet_before"]
    ids = providers["provider_id"].astype(str)
    pf = pd.DataFrame({"provider_id": ids,
                       "class_before": ids.map(class_before),
                       "class_after": ids.map(class_after),
                       "exited": ids.isin(exited), "round": ids.map(round_of)})
    return ExitResult(base_p.with_overrides(values), values, exited, rounds, z, pf,
                      float(base.unmet_hours), float(current.unmet_hours), base.coverage,
                      current.coverage, warnings)


# --------------------------------------------------------------------------------------------


class FeeUpliftModel:
    """Cheapest LA hourly-rate uplifts that keep home-care coverage at its baseline level.

    Data (under the scenario): pairs p = (i, j) within the travel limit with tau_p; demand d_i;
    capacity C_j; U0 the baseline unmet hours (coverage LP with every provider); for provider j
    its blended hourly revenue r_j = s'_j F_sf'_j + (1 - s'_j) F_la'_j, its LA-rate share
    a_j = 1 - s'_j, the slope g_j = 1 - s'_j (1 - convergence) of r_j in its LA rate (self-funder
    fees follow the LA rate through the convergence rule), and o_p the s4 operating cost per
    contact hour of pair p (plus the surplus line for target 'sustainable').

    Variables: x_p >= 0 contact hours, u_i >= 0 unmet hours, as in the coverage LP.

    mode 'provider' (an LP, exact per pair): R_j >= 0, the uplift money a week provider j
    receives on its hours (its uplift per LA hour is R_j / (a_j H_j), H_j its contact hours).

        demand     sum_{p in i} x_p + u_i = d_i                      every zone i
        capacity   sum_{p in j} (1 + tau_p / 60) x_p <= C_j           every provider j
        coverage   sum_i u_i <= U0 + 1e-7 sum_i d_i
        viable     g_j R_j >= sum_{p in j} (o_p - r_j) x_p            every provider j
        minimise   52 sum_j R_j  (+ 1e-6 x travel hours, to pick among equal-cost plans)

      A provider that is not viable at the scenario rates either gets the uplift that makes
      its assigned hours viable or is given no hours (it exits). R_j = v_j H_j is linear
      because v_j is free: any R_j is some uplift rate.

    mode 'band' (a MILP): one uplift v_b >= 0 per LA hour for each rurality band b of zones
    (urban, town, village, sparse) paid to every provider on its LA-funded hours in those
    zones; y_j in {0, 1} keeps provider j. With w_jb the share of j's hours in band b and
    sigma_j its shortfall per hour (o_j - r_j, both at its baseline assignment) and L_b the
    LA-funded contact hours delivered in band b at baseline:

        capacity   sum_{p in j} (1 + tau_p / 60) x_p <= C_j y_j
        viable     g_j sum_b w_jb v_b >= sigma_j y_j                  providers with sigma_j > 0
        (demand and coverage as above)
        minimise   52 sum_b L_b v_b  (+ 1e-6 x travel hours)

      Providers viable without an uplift have y_j = 1. Only providers that meet the target at
      baseline are constrained (one already below it operates at baseline rates: its own costs
      are below the model's; the same rule as `provider_exits`). The hours mix and the LA hours per
      band are held at the baseline assignment (an approximation stated in the result).
    """

    def __init__(self, market, info: pd.DataFrame, baseline_unmet: float, params: ParameterSet,
                 scenario: dict[str, float], mode: str, target: str,
                 band_hours: pd.Series | None, mix: pd.DataFrame | None,
                 warnings: list[str]) -> None:
        self.market = market
        self.info = info
        self.baseline_unmet = baseline_unmet
        self.params = params
        self.scenario = scenario
        self.mode = mode
        self.target = target
        self.band_hours = band_hours
        self.mix = mix
        self.warnings = warnings
        self.status = "not solved"

    @classmethod
    def from_frames(cls, zones: pd.DataFrame, providers: pd.DataFrame,
                    travel: pd.DataFrame | None = None,
                    params: ParameterSet | Mapping[str, Any] | None = None,
                    scenario: Mapping[str, Any] | None = None, *, mode: str = "provider",
                    target: str = "viable", solver: str = "auto") -> FeeUpliftModel:
        """Solve the baseline coverage, assess providers under the scenario, build the data."""
        if mode not in ("provider", "band"):
            raise InvalidInput("mode must be 'provider' or 'band'")
        if target not in ("viable", "sustainable"):
            raise InvalidInput("target must be 'viable' or 'sustainable'")
        base_p, scen_p, values = _split(params, scenario)
        base = CoverageModel.from_frames(zones, providers, travel, base_p).solve(solver)
        market = prepare_market(zones, providers, travel, base_p)
        bl = homecare_baseline(providers, base.assignment, zones, scen_p)
        lv = base_p.with_overrides(values)
        h = bl.homes
        before = run_homecare(homecare_baseline(providers, base.assignment, zones, base_p),
                              {}).before
        ok_before = dict(zip(before["provider_id"], before["class"], strict=True))
        keep_class = ("sustainable",) if target == "sustainable" else ("sustainable", "at risk")
        s2 = h["self_funder_share"].to_numpy(float) * (1.0 - lv["take_up"])
        Fla2 = h["la_fee"].to_numpy(float) * (1.0 + lv["la_fee_change"])
        Fsf = h["self_funder_fee"].to_numpy(float)
        Fsf2 = np.maximum(Fsf - lv["convergence"] * (Fsf - Fla2), Fla2)
        info = pd.DataFrame({
            "provider_id": h["provider_id"].to_numpy(),
            "rate": s2 * Fsf2 + (1.0 - s2) * Fla2,
            "la_share": 1.0 - s2,
            "slope": 1.0 - s2 * (1.0 - lv["convergence"]),
            "la_rate": Fla2,
            "base_tau": h["tau"].to_numpy(float),
            "constrained": [ok_before.get(pid) in keep_class for pid in h["provider_id"]],
        }).set_index("provider_id")
        warnings = []
        unknown = sorted(set(market.providers["provider_id"]) - set(info.index))
        if unknown:
            warnings.append(f"{len(unknown)} provider(s) without rates or hours are taken as "
                            f"viable: {', '.join(unknown[:10])}")
        info = info.reindex(market.providers["provider_id"].astype(str))
        info["rate"] = info["rate"].fillna(np.inf)
        info["slope"] = info["slope"].fillna(1.0)
        info["la_share"] = info["la_share"].fillna(0.0)
        info["constrained"] = info["constrained"].astype("boolean").fillna(False).astype(bool)
        n_free = int((~info["constrained"]).sum())
        if n_free:
            warnings.append(f"{n_free} provider(s) already below the target at baseline are "
                            "left unconstrained (they operate at baseline rates)")
        band_hours = mix = None
        if mode == "band":
            a = base.assignment.merge(base.zones[["zone_id", "rurality"]], on="zone_id")
            a["la_share"] = a["provider_id"].map(info["la_share"]).fillna(0.0)
            a["la_hours"] = a["contact_hours"] * a["la_share"]
            band_hours = a.groupby("rurality")["la_hours"].sum().reindex(
                RURALITY_CLASSES, fill_value=0.0)
            mix = a.pivot_table(index="provider_id", columns="rurality",
                                values="contact_hours", aggfunc="sum", fill_value=0.0)
            mix = mix.reindex(columns=list(RURALITY_CLASSES), fill_value=0.0)
            mix = mix.div(mix.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
            warnings.append("band mode holds each provider's hours mix and the LA hours per "
                            "band at the baseline assignment")
        return cls(market, info, float(base.unmet_hours), lv, values, mode, target,
                   band_hours, mix, warnings)

    def _operating(self, tau: np.ndarray) -> np.ndarray:
        from market.cost_of_care import cost_lines

        lines = cost_lines(tau, self.params)
        col = "cost_per_contact_hour" if self.target == "sustainable" else "operating_cost"
        return lines[col].to_numpy() * (1.0 + self.params["cost_change"])

    def solve(self, solver: Any = None) -> FeeUpliftModel:
        """Solve with `solver` (a PuLP solver, 'cbc' or 'highs'; default CBC, quiet)."""
        import pulp

        if solver is None or solver in ("cbc", "auto"):
            solver = pulp.PULP_CBC_CMD(msg=False)
        elif solver == "highs":
            solver = pulp.HiGHS(msg=False)
        m = self.market
        nz, npv, npair = m.n_zones, m.n_providers, m.n_pairs
        prob = pulp.LpProblem("fee_uplift", pulp.LpMinimize)
        x = [pulp.LpVariable(f"x{p}", lowBound=0) for p in range(npair)]
        u = [pulp.LpVariable(f"u{i}", lowBound=0) for i in range(nz)]
        by_zone: list[list[int]] = [[] for _ in range(nz)]
        by_prov: list[list[int]] = [[] for _ in range(npv)]
        for p, (i, j) in enumerate(zip(m.pair_zone, m.pair_provider, strict=True)):
            by_zone[i].append(p)
            by_prov[j].append(p)
        opc = self._operating(m.tau)
        rate = self.info["rate"].to_numpy(float)
        slope = self.info["slope"].to_numpy(float)
        la_share = self.info["la_share"].to_numpy(float)
        constrained = self.info["constrained"].to_numpy(bool)
        total = float(m.demand.sum())
        for i in range(nz):
            prob += (pulp.lpSum(x[p] for p in by_zone[i]) + u[i] == float(m.demand[i]),
                     f"demand_{i}")
        prob += (pulp.lpSum(u) <= self.baseline_unmet + UNMET_TOLERANCE * total + 1e-6,
                 "coverage")
        travel = pulp.LpAffineExpression([(x[p], float(m.tau[p]) / 60.0)
                                          for p in range(npair)])
        y: dict[int, Any] = {}
        R: dict[int, Any] = {}
        v: dict[str, Any] = {}
        if self.mode == "provider":
            for j in range(npv):
                cap = pulp.LpAffineExpression([(x[p], 1.0 + float(m.tau[p]) / 60.0)
                                               for p in by_prov[j]])
                prob += (cap <= float(m.capacity[j]), f"capacity_{j}")
                if not np.isfinite(rate[j]) or not constrained[j]:
                    continue
                short = [(x[p], float(opc[p] - rate[j])) for p in by_prov[j]]
                if not any(c > 0 for _, c in short):
                    continue  # viable wherever it works
                R[j] = pulp.LpVariable(f"R{j}", lowBound=0)
                prob += (slope[j] * R[j] >= pulp.LpAffineExpression(short), f"viable_{j}")
            prob += WEEKS * pulp.lpSum(R.values()) + 1e-6 * travel
        else:
            for b in RURALITY_CLASSES:
                v[b] = pulp.LpVariable(f"v_{b}", lowBound=0)
            ids = self.info.index.to_numpy()
            for j in range(npv):
                cap_expr = pulp.LpAffineExpression([(x[p], 1.0 + float(m.tau[p]) / 60.0)
                                                    for p in by_prov[j]])
                pid = ids[j]
                sigma = 0.0
                if (np.isfinite(rate[j]) and constrained[j] and self.mix is not None
                        and pid in self.mix.index):
                    w = self.mix.loc[pid]
                    # shortfall per hour at the baseline assignment's mean tau
                    tau_j = float(self.info["base_tau"].iloc[j])
                    sigma = float(self._operating(np.array([tau_j]))[0] - rate[j])
                if sigma > 1e-9:
                    y[j] = pulp.LpVariable(f"y{j}", cat="Binary")
                    prob += (cap_expr <= float(m.capacity[j]) * y[j], f"capacity_{j}")
                    prob += (slope[j] * pulp.lpSum(float(w[b]) * v[b] for b in RURALITY_CLASSES)
                             >= sigma * y[j], f"viable_{j}")
                else:
                    prob += (cap_expr <= float(m.capacity[j]), f"capacity_{j}")
            L = self.band_hours
            assert L is not None
            prob += WEEKS * pulp.lpSum(float(L[b]) * v[b] for b in RURALITY_CLASSES) \
                + 1e-6 * travel
        status = prob.solve(solver)
        name = pulp.LpStatus.get(status, str(status))
        if name != "Optimal":
            raise OptimisationError(f"fee-uplift model: solver status '{name}' (baseline unmet "
                                    f"{self.baseline_unmet:.1f} hours cannot be held?)")
        self.status = "optimal"
        xv = np.array([xx.value() or 0.0 for xx in x])
        uv = np.array([uu.value() or 0.0 for uu in u])
        hours = np.bincount(m.pair_provider, xv, npv)
        pids = self.info.index.to_numpy()
        rows = []
        for j in range(npv):
            Rj = float(R[j].value() or 0.0) if j in R else 0.0
            la_hours = la_share[j] * hours[j]
            rows.append({
                "provider_id": pids[j], "contact_hours": float(hours[j]),
                "la_rate": float(self.info["la_rate"].iloc[j]),
                "kept": bool(hours[j] > 1e-6) if j not in y else bool(round(y[j].value() or 0)),
                "uplift_per_la_hour": (Rj / la_hours if self.mode == "provider" and la_hours > 1e-9
                                       else None),
                "annual_cost": WEEKS * Rj if self.mode == "provider" else None,
            })
        self.providers = pd.DataFrame(rows)
        if self.mode == "band":
            assert self.band_hours is not None
            self.bands = pd.DataFrame({
                "rurality": list(RURALITY_CLASSES),
                "uplift_per_la_hour": [float(v[b].value() or 0.0) for b in RURALITY_CLASSES],
                "la_hours_per_week": [float(self.band_hours[b]) for b in RURALITY_CLASSES]})
            self.bands["annual_cost"] = (WEEKS * self.bands["uplift_per_la_hour"]
                                         * self.bands["la_hours_per_week"])
            self.annual_cost = float(self.bands["annual_cost"].sum())
        else:
            self.bands = None
            self.annual_cost = float(self.providers["annual_cost"].sum())
        self.unmet_with_uplift = float(uv.sum())
        zid = m.zones["zone_id"].to_numpy()
        self.zones = pd.DataFrame({"zone_id": zid, "demand_hours": m.demand, "unmet_hours": uv})
        return self

    def to_dict(self) -> dict[str, Any]:
        if self.status == "not solved":
            raise OptimisationError("solve() the model before reading its result")
        return {
            "mode": self.mode, "target": self.target, "scenario": dict(self.scenario),
            "annual_cost": self.annual_cost, "unmet_baseline": self.baseline_unmet,
            "unmet_with_uplift": self.unmet_with_uplift,
            "providers": _records(self.providers),
            "bands": _records(self.bands) if self.bands is not None else None,
            "warnings": list(self.warnings),
        }
