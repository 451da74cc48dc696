"""Facility location: site selection for home care, and the classic models it generalises.

All are mixed-integer programmes built as arrays (`optimizer.lp.LinearProgram`) and solved by
the same back ends as the coverage LP (CBC through PuLP, or HiGHS). The classic models take a
cost matrix (demand points x candidate sites) and reproduce published results (tests):
p-median and MCLP on spopt's San Francisco instance, LSCP on the same, and OR-Library pmed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from market.errors import InvalidInput, OptimisationError
from market.parameters import ParameterSet
from optimizer.coverage import (
    CoverageModel,
    Market,
    coverage_lp,
    coverage_phases,
    prepare_market,
)
from optimizer.lp import INF, LinearProgram, Phase, resolve_solver, solve_lexicographic
from optimizer.pmedian import LagrangianSearch, TimeUp, interchange, reduced_radius_lp


def _check_costs(costs: np.ndarray, what: str = "cost matrix") -> np.ndarray:
    costs = np.asarray(costs, float)
    if costs.ndim != 2 or costs.shape[0] == 0 or costs.shape[1] == 0:
        raise InvalidInput(f"the {what} must have at least one demand point and one site "
                           f"(shape {costs.shape})")
    if np.isnan(costs).any():
        i, j = np.argwhere(np.isnan(costs))[0]
        raise InvalidInput(f"the {what} has {int(np.isnan(costs).sum())} missing value(s), "
                           f"first at demand {i}, site {j}")
    if (costs < 0).any():
        i, j = np.argwhere(costs < 0)[0]
        raise InvalidInput(f"the {what} has negative costs, first {costs[i, j]:g} at demand "
                           f"{i}, site {j}")
    return costs


def _weights(weights, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise InvalidInput(f"weights must be {n} finite numbers of at least 0")
    return w


class _Classic:
    """Shared parts: names, solve through the back ends, and the result."""

    name = ""
    weights: np.ndarray
    costs: np.ndarray
    p: int
    radius: float

    def __init__(self, lp: LinearProgram, cost: np.ndarray, n_sites: int, site_col: int,
                 demand_names: Sequence[str] | None, site_names: Sequence[str] | None):
        self.lp = lp
        self.cost = cost
        self.n_sites = n_sites
        self.site_col = site_col
        self.demand_names = list(demand_names) if demand_names is not None else None
        self.site_names = (list(site_names) if site_names is not None
                           else [str(j) for j in range(n_sites)])
        self.status = "not solved"

    def solve(self, solver: str | None = "auto", time_limit: float | None = None):
        """Solve with `solver` (auto, cbc, highs); return self. Raises OptimisationError."""
        self.solver = resolve_solver(solver, self.lp.shape[1], integer=True)
        result = solve_lexicographic(self.lp, [Phase("objective", self.cost, 0.0)],
                                     self.solver, time_limit)
        self.x = result.last.x
        self.raw_objective = result.last.objective
        opened = self.x[self.site_col:self.site_col + self.n_sites] > 0.5
        self.site_indices = np.flatnonzero(opened)
        self.sites = [self.site_names[j] for j in self.site_indices]
        self.status = "optimal"
        self._finish()
        return self

    def _finish(self) -> None:
        self.objective = float(self.raw_objective)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.name, "status": self.status, "solver": self.solver,
                "objective": self.objective, "sites": self.sites}


class PMedian(_Classic):
    """p-median: open exactly p sites, assign each demand point to one, least weighted cost.

    Started from a vertex-substitution incumbent (`pmedian_heuristic`). Formulations
    (docs/optimizer.md, measured on OR-Library pmed1-40):

    * "lagrangian": the Lagrangian bound (`optimizer.pmedian`) with reduction tests and
      branch and bound on sites, in NumPy (no LP solver);
    * "radius": the same root bound and reduction tests, then the radius formulation
      (Garcia, Labbe and Marin 2011) on the pairs kept, solved by the MIP back end;
    * "assignment": the classic formulation, whole, by the MIP back end:

        min  sum_ij w_i c_ij y_ij
        s.t. sum_j y_ij = 1 (every i);  y_ij <= x_j (every i, j);  sum_j x_j = p
             x_j binary, y_ij >= 0 (integral at the optimum given x)

    * "auto" (the default): "lagrangian" when every w_i c_ij is an integer and p <= 20,
      else "radius" (`choose_formulation`).

    On a time-out the status is "time_limit" with the incumbent, the bound and the gap.
    """

    name = "pmedian"
    FORMULATIONS = ("auto", "lagrangian", "radius", "assignment")
    LAGRANGIAN_MAX_P = 20  # measured: docs/optimizer.md, "Choosing the formulation"
    formulation: str
    constant: float

    @classmethod
    def from_cost_matrix(cls, costs, p: int, weights=None, demand_names=None,
                         site_names=None, formulation: str = "auto") -> PMedian:
        c = _check_costs(costs)
        n, m = c.shape
        if not 1 <= p <= m:
            raise InvalidInput(f"p must be between 1 and the number of sites ({m}); got {p}")
        if formulation not in cls.FORMULATIONS:
            raise InvalidInput(f"unknown p-median formulation '{formulation}' (choose from "
                               f"{', '.join(cls.FORMULATIONS)})")
        w = _weights(weights, n)
        if formulation == "assignment":
            ny = n * m
            ii = np.repeat(np.arange(n), m)
            jj = np.tile(np.arange(m), n)
            k = np.arange(ny)
            rows = np.r_[ii, n + k, n + k, np.full(m, n + ny)]
            cols = np.r_[k, k, ny + jj, ny + np.arange(m)]
            vals = np.r_[np.ones(ny), np.ones(ny), -np.ones(ny), np.ones(m)]
            A = sp.csc_matrix((vals, (rows, cols)), shape=(n + ny + 1, ny + m))
            rl = np.r_[np.ones(n), np.full(ny, -INF), [p]]
            ru = np.r_[np.ones(n), np.zeros(ny), [p]]
            integer = np.r_[np.zeros(ny, bool), np.ones(m, bool)]
            lp = LinearProgram(A, rl, ru, np.zeros(ny + m),
                               np.r_[np.full(ny, INF), np.ones(m)], integer)
            obj = np.r_[(w[:, None] * c).ravel(), np.zeros(m)]
            model = cls(lp, obj, m, ny, demand_names, site_names)
        else:
            # built in solve() from the reduction; the shape serves `resolve_solver` only
            lp = LinearProgram(sp.csc_matrix((1, m + n)), np.zeros(1), np.zeros(1),
                               np.zeros(m + n), np.ones(m + n))
            model = cls(lp, np.zeros(m + n), m, 0, demand_names, site_names)
        model.constant = 0.0
        model.weights, model.costs, model.p = w, c, p
        model.formulation = choose_formulation(c, w, p) if formulation == "auto" else formulation
        return model

    def solve(self, solver: str | None = "auto", time_limit: float | None = None,
              threads: int | None = None):
        """Solve to proven optimality, or until `time_limit` seconds (status "time_limit",
        the incumbent, `bound` and `gap`); return self. `threads` caps HiGHS's threads.
        Raises OptimisationError."""
        start = time.perf_counter()
        self.solver = resolve_solver(solver, self.lp.shape[1], integer=True)
        self.time_limit = time_limit
        self.threads = threads
        end = None if time_limit is None else start + time_limit
        budget = 5.0 if time_limit is None else max(0.0, min(5.0, 0.1 * time_limit))
        incumbent = pmedian_heuristic(self.costs, self.p, self.weights, budget)
        self.heuristic_objective = float(
            (self.weights * self.costs[:, incumbent].min(axis=1)).sum())
        self.bound: float | None = None
        self.rounds = 0
        self.reduction: dict[str, Any] | None = None
        if self.formulation == "assignment":
            left = None if end is None else max(end - time.perf_counter(), 1e-3)
            self._solve_assignment(incumbent, left)
        else:
            self._solve_lagrangian(incumbent, end)
            if self.formulation == "lagrangian":
                self.solver = None  # type: ignore[assignment]  # NumPy only: no MIP back end
        self.sites = [self.site_names[j] for j in self.site_indices]
        self._finish()
        if self.status == "optimal":
            self.bound = self.objective
        elif self.bound is not None:
            self.bound = min(self.bound, self.objective)
        self.gap = (None if self.bound is None else
                    max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-12))
        self.seconds = time.perf_counter() - start
        return self

    def _solve_assignment(self, incumbent: np.ndarray, left: float | None) -> None:
        self.rounds = 1
        if self.solver in ("highs", "ipm", "simplex"):
            self.site_indices, self.status, self.bound = self._solve_highs(incumbent, left)
            return
        try:
            result = solve_lexicographic(self.lp, [Phase("objective", self.cost, 0.0)],
                                         self.solver, left)
            x = result.last.x
            self.site_indices = np.flatnonzero(
                x[self.site_col:self.site_col + self.n_sites] > 0.5)
            self.status = "optimal"
        except OptimisationError as exc:
            if "time limit" not in str(exc):
                raise
            # CBC through PuLP gives no bound on a time-out: the incumbent only
            self.site_indices, self.status = incumbent, "time_limit"

    def _solve_lagrangian(self, incumbent: np.ndarray, end: float | None) -> None:
        """Root bound and reduction, then branch and bound ("lagrangian") or the reduced
        radius formulation ("radius"); fills sites, status, bound and `reduction`."""
        search = LagrangianSearch(self.costs, self.weights, self.p, incumbent, end)
        self.search = search
        proven = False
        if self.p == self.n_sites:
            proven = True
        else:
            try:
                root = search.root_bound()
                proven = root.bound > search.cutoff
                red = search.reduce()
                self.reduction = {"root_bound": root.bound,
                                  "sites_closed": int(red.closed.sum()),
                                  "sites_fixed_open": int(red.fixed.sum()),
                                  "pairs_kept": int(red.keep.sum())}
                if not proven and self.formulation == "lagrangian":
                    proven = search.branch_and_bound()
                elif not proven:
                    proven = self._solve_reduced_radius(search, red, end)
            except TimeUp:
                proven = False
        self.site_indices = search.sites
        self.status = "optimal" if proven else "time_limit"
        self.bound = None if not np.isfinite(search.bound) else float(search.bound)
        if self.reduction is not None:
            self.reduction.update(subgradient_iterations=search.iterations,
                                  nodes=search.nodes)

    def _solve_reduced_radius(self, search: LagrangianSearch, red, end: float | None) -> bool:
        built = reduced_radius_lp(self.costs, self.weights, self.p, red)
        self.rounds = 1
        if built is None:  # some point keeps no pair: nothing beats the incumbent
            return True
        lp, cost, constant, pairs = built
        assert self.reduction is not None
        self.reduction["radius_pairs"] = pairs
        self.reduction["radius_rows"] = int(lp.shape[0])
        left = None if end is None else end - time.perf_counter()
        if left is not None and left <= 0:
            raise TimeUp
        m = self.n_sites
        if self.solver in ("highs", "ipm", "simplex"):
            from optimizer.lp import HighsBackend

            engine = HighsBackend(lp, threads=self.threads)
            engine.set_objective(cost)
            h = engine.h
            h.setOptionValue("time_limit", float(left) if left else INF)
            _run(h, engine._highspy, self.threads)
            ms = engine._highspy.HighsModelStatus
            status = h.getModelStatus()
            info = h.getInfo()
            if status in (ms.kOptimal, ms.kTimeLimit) and info.primal_solution_status >= 2:
                x = np.asarray(h.getSolution().col_value, float)
                opened = np.flatnonzero(x[:m] > 0.5)
                if len(opened) == self.p:
                    search._offer(opened)
            if status == ms.kInfeasible or status == ms.kOptimal:
                search.bound = search.ub
                return True
            if status == ms.kTimeLimit:
                lb = float(info.mip_dual_bound) + constant
                if np.isfinite(lb):
                    search.bound = max(search.bound, min(lb, search.ub))
                return False
            raise OptimisationError(f"HiGHS did not find an optimum: "
                                    f"{h.modelStatusToString(status)}")
        try:
            result = solve_lexicographic(lp, [Phase("objective", cost, 0.0)], self.solver, left,
                                         self.threads)
        except OptimisationError as exc:
            if "time limit" in str(exc):
                return False  # CBC through PuLP gives no bound: the root bound stands
            if "Infeasible" in str(exc):
                search.bound = search.ub
                return True
            raise
        search._offer(np.flatnonzero(result.last.x[:m] > 0.5))
        search.bound = search.ub
        return True

    def _solve_highs(self, incumbent: np.ndarray, time_limit: float | None):
        from optimizer.lp import HighsBackend

        engine = HighsBackend(self.lp, threads=self.threads)
        engine.set_objective(self.cost)
        h = engine.h
        x0 = self._columns_for(incumbent)
        h.setSolution(_highs_solution(h, x0))
        h.setOptionValue("time_limit", float(time_limit) if time_limit else INF)
        _run(h, engine._highspy, self.threads)
        ms = engine._highspy.HighsModelStatus
        status = h.getModelStatus()
        info = h.getInfo()
        if status == ms.kOptimal:
            x = np.asarray(h.getSolution().col_value, float)
            return (np.flatnonzero(x[self.site_col:self.site_col + self.n_sites] > 0.5),
                    "optimal", None)
        if status == ms.kTimeLimit:
            bound = float(info.mip_dual_bound) + self.constant
            opened = incumbent
            if info.primal_solution_status >= 2:
                x = np.asarray(h.getSolution().col_value, float)
                opened = np.flatnonzero(x[self.site_col:self.site_col + self.n_sites] > 0.5)
                if len(opened) != self.p:
                    opened = incumbent
            return opened, "time_limit", bound if np.isfinite(bound) else None
        raise OptimisationError(f"HiGHS did not find an optimum: "
                                f"{h.modelStatusToString(status)}")

    def _columns_for(self, opened: np.ndarray) -> np.ndarray:
        """The assignment formulation's column vector for the open sites `opened`."""
        n, m = self.costs.shape
        x = np.zeros(self.lp.shape[1])
        x[self.site_col + opened] = 1.0
        near = opened[np.argmin(self.costs[:, opened], axis=1)]
        x[np.arange(n) * m + near] = 1.0
        return x

    def _finish(self) -> None:
        # Recompute from the open sites: each demand point to its nearest open site.
        sub = self.costs[:, self.site_indices]
        self.assigned = self.site_indices[np.argmin(sub, axis=1)]
        self.objective = float((self.weights * sub.min(axis=1)).sum())
        total = float(self.weights.sum())
        self.mean_cost = self.objective / total if total > 0 else 0.0  # no weight: no cost

    def to_dict(self) -> dict[str, Any]:
        out = {**super().to_dict(), "p": self.p, "mean_cost": self.mean_cost,
               "formulation": self.formulation, "bound": self.bound, "gap": self.gap,
               "seconds": self.seconds, "rounds": self.rounds, "reduction": self.reduction}
        if self.status == "time_limit":
            out["time_limit"] = self.time_limit
        return out


def choose_formulation(costs: np.ndarray, weights: np.ndarray, p: int) -> str:
    """`auto`'s choice (measured, docs/optimizer.md): branch and bound on the Lagrangian
    bound needs integer costs w_i c_ij to prune at `UB - 1` and wins for few sites, where
    the LP gap is widest; otherwise the reduced radius MIP."""
    wc = weights[:, None] * costs
    integral = bool(np.all(wc == np.round(wc)))
    return "lagrangian" if integral and p <= PMedian.LAGRANGIAN_MAX_P else "radius"


def _run(h, highspy, threads: int | None) -> None:
    """Run HiGHS; a thread count other than the one its global scheduler started with makes
    the run fail without a status, so the scheduler is restarted once with the count asked."""
    h.run()
    if threads and h.getModelStatus() == highspy.HighsModelStatus.kNotset:
        highspy.Highs.resetGlobalScheduler(True)
        h.run()


def _highs_solution(h, x: np.ndarray):
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = list(x)
    sol.value_valid = True
    return sol


class MCLP(_Classic):
    """Maximal covering: open p sites to cover the most weight within `radius`.

        max  sum_i w_i z_i
        s.t. z_i <= sum_{j: c_ij <= radius} x_j;  sum_j x_j = p;  x binary, 0 <= z <= 1
    """

    name = "mclp"

    @classmethod
    def from_cost_matrix(cls, costs, p: int, radius: float, weights=None, demand_names=None,
                         site_names=None) -> MCLP:
        c = _check_costs(costs)
        n, m = c.shape
        if not 1 <= p <= m:
            raise InvalidInput(f"p must be between 1 and the number of sites ({m}); got {p}")
        w = _weights(weights, n)
        ci, cj = np.nonzero(c <= radius)
        rows = np.r_[np.arange(n), ci, np.full(m, n)]
        cols = np.r_[np.arange(n), n + cj, n + np.arange(m)]
        vals = np.r_[np.ones(n), -np.ones(len(ci)), np.ones(m)]
        A = sp.csc_matrix((vals, (rows, cols)), shape=(n + 1, n + m))
        lp = LinearProgram(A, np.r_[np.full(n, -INF), [p]], np.r_[np.zeros(n), [p]],
                           np.zeros(n + m), np.ones(n + m),
                           np.r_[np.zeros(n, bool), np.ones(m, bool)])
        model = cls(lp, np.r_[-w, np.zeros(m)], m, n, demand_names, site_names)
        model.weights, model.costs, model.p, model.radius = w, c, p, radius
        return model

    def _finish(self) -> None:
        covered = (self.costs[:, self.site_indices] <= self.radius).any(axis=1)
        self.covered = covered
        self.objective = float(self.weights[covered].sum())
        self.uncovered_count = int((~covered).sum())
        self.covered_share = float(covered.mean())
        self.covered_weight_share = float(self.objective / self.weights.sum())

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "p": self.p, "radius": self.radius,
                "covered_weight": self.objective, "uncovered_count": self.uncovered_count,
                "covered_share": self.covered_share,
                "covered_weight_share": self.covered_weight_share}


class LSCP(_Classic):
    """Location set covering: the fewest sites covering every demand point within `radius`.

        min  sum_j x_j   s.t.  sum_{j: c_ij <= radius} x_j >= 1 (every i);  x binary
    """

    name = "lscp"

    @classmethod
    def from_cost_matrix(cls, costs, radius: float, demand_names=None,
                         site_names=None) -> LSCP:
        c = _check_costs(costs)
        n, m = c.shape
        cover = c <= radius
        lonely = np.flatnonzero(~cover.any(axis=1))
        if len(lonely):
            names = [str(demand_names[i]) if demand_names is not None else str(i)
                     for i in lonely[:10]]
            raise InvalidInput(f"{len(lonely)} demand point(s) have no site within radius "
                               f"{radius:g}, so no set of sites covers all: {', '.join(names)}")
        ci, cj = np.nonzero(cover)
        A = sp.csc_matrix((np.ones(len(ci)), (ci, cj)), shape=(n, m))
        lp = LinearProgram(A, np.ones(n), np.full(n, INF), np.zeros(m), np.ones(m),
                           np.ones(m, bool))
        model = cls(lp, np.ones(m), m, 0, demand_names, site_names)
        model.costs, model.radius = c, radius
        return model

    def _finish(self) -> None:
        self.objective = float(len(self.site_indices))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "radius": self.radius}


def pmedian_heuristic(costs: np.ndarray, p: int, weights: np.ndarray,
                      seconds: float = 5.0) -> np.ndarray:
    """Greedy addition then best-improvement vertex substitution (Teitz and Bart 1968, with
    Whitaker's fast interchange); return the open site indices. Stops at a local optimum or
    after `seconds`. Gives the incumbent and the upper bound for the exact model."""
    end = time.perf_counter() + seconds
    c = costs
    n, m = c.shape
    best = np.full(n, np.inf)
    opened: list[int] = []
    for _ in range(p):
        total = (weights[:, None] * np.minimum(best[:, None], c)).sum(axis=0)
        total[opened] = np.inf
        j = int(np.argmin(total))
        opened.append(j)
        best = np.minimum(best, c[:, j])
    return interchange(c, weights, np.array(opened), end)


def costs_from_long(frame: pd.DataFrame, demand_col: str, site_col: str, cost_col: str,
                    weight_col: str | None = None):
    """Pivot a long (demand, site, cost[, weight]) table to a matrix; return (costs, weights,
    demand names, site names). A missing pair or a repeated one is an error."""
    for col in [demand_col, site_col, cost_col] + ([weight_col] if weight_col else []):
        if col not in frame:
            raise InvalidInput(f"the cost table has no column '{col}' (it has: "
                               f"{', '.join(map(str, frame.columns))})")
    f = frame.copy()
    f[demand_col] = f[demand_col].astype(str)
    f[site_col] = f[site_col].astype(str)
    dup = f.duplicated([demand_col, site_col])
    if dup.any():
        r = f[dup].iloc[0]
        raise InvalidInput(f"repeated pair demand '{r[demand_col]}', site '{r[site_col]}'")
    f[cost_col] = pd.to_numeric(f[cost_col], errors="coerce")
    demand_names = list(pd.unique(f[demand_col]))
    site_names = list(pd.unique(f[site_col]))
    mat = f.pivot(index=demand_col, columns=site_col, values=cost_col)
    mat = mat.reindex(index=demand_names, columns=site_names)
    weights = None
    if weight_col:
        wt = f.groupby(demand_col, sort=False)[weight_col].first()
        weights = pd.to_numeric(wt.reindex(demand_names), errors="coerce").to_numpy(float)
    return _check_costs(mat.to_numpy(float)), weights, demand_names, site_names


# --------------------------------------------------------------------------------------------
# Site selection for home care


class SiteSelection(CoverageModel):
    """Choose at most k candidate bases to open: most met hours, then least travel (MILP).

    The coverage LP of `CoverageModel` with the candidate sites as extra bases whose capacity
    row reads `sum_i (1 + tau_ij/60) x_ij <= C_j y_j`, `y_j` binary, plus `sum_j y_j <= k`:

        1. U* = min sum_i u_i
        2. min sum_ij (tau_ij/60) x_ij  s.t.  sum_i u_i <= U* + 1e-7 sum_i d_i

    Existing providers stay open. No duals (a MILP), so marginal travel hours are not given.
    """

    def __init__(self, market: Market, k: int, optional: np.ndarray) -> None:
        super().__init__(market, "standard")
        self.k = k
        self.optional = optional

    @classmethod
    def from_frames(cls, zones: pd.DataFrame, providers: pd.DataFrame | None,  # type: ignore[override]
                    sites: pd.DataFrame, k: int, travel: pd.DataFrame | None = None,
                    params: ParameterSet | None = None, *,
                    max_travel_minutes: float | None = None,
                    capacity_changes: Mapping[str, float] | None = None,
                    removed_providers: Iterable[str] = (),
                    max_providers_per_zone: int | None = None) -> SiteSelection:
        """Build from zones, existing providers (may be empty), candidate `sites` (site_id,
        lat, lon, capacity_hours) and `k`, the most sites to open."""
        if sites is None or len(sites) == 0:
            raise InvalidInput("site selection needs at least one candidate site")
        if int(k) < 0:
            raise InvalidInput(f"k must be at least 0; got {k}")
        if providers is None:
            providers = pd.DataFrame({"provider_id": pd.Series(dtype=str),
                                      "capacity_hours": pd.Series(dtype=float)})
        market = prepare_market(zones, providers, travel, params,
                                max_travel_minutes=max_travel_minutes,
                                capacity_changes=capacity_changes,
                                removed_providers=removed_providers, added_bases=sites,
                                max_providers_per_zone=max_providers_per_zone)
        optional = market.providers["added"].astype(bool).to_numpy()
        return cls(market, int(k), optional)

    def solve(self, solver: str | None = "auto", time_limit: float | None = None,
              threads: int | None = None) -> SiteSelection:
        import time

        start = time.perf_counter()
        m = self.market
        lp, layout = coverage_lp(m, "standard", optional=self.optional, max_open=self.k)
        self.solver = resolve_solver(solver, layout.n_cols, integer=True)
        phases = coverage_phases(m, layout, "standard")
        if float(m.demand.sum()) <= 0:
            self.warnings.append("total demand is zero: nothing to cover")
            phases = phases[-1:]
        result = solve_lexicographic(lp, phases, self.solver, time_limit, threads)
        x = result.last.x
        self._x = np.clip(x[:m.n_pairs], 0.0, None)
        self._u = np.clip(x[layout.u:layout.u + m.n_zones], 0.0, None)
        self._marginal = np.full(m.n_zones, np.nan)
        self._fixed_dual = np.full(m.n_zones, np.nan)
        self.largest_unmet_share = None  # type: ignore[assignment]
        y = x[layout.y:] > 0.5
        opt_idx = np.flatnonzero(self.optional)
        self.opened = [str(m.providers["provider_id"].iloc[j]) for j in opt_idx[y]]
        self.status = "optimal"
        self.seconds = time.perf_counter() - start
        self._collect()
        self.providers["opened"] = np.where(self.optional, False, True)
        self.providers.loc[self.providers["provider_id"].isin(self.opened), "opened"] = True
        return self

    def to_dict(self, gaps: int = 20) -> dict[str, Any]:
        out = super().to_dict(gaps)
        out["variant"] = "site"
        out["k"] = self.k
        out["sites"] = self.opened
        out["objective"] = self.met_hours
        return out
