"""Facility location: site selection for home care, and the classic models it generalises.

All are mixed-integer programmes built as arrays (`optimizer.lp.LinearProgram`) and solved by
the same back ends as the coverage LP (CBC through PuLP, or HiGHS). The classic models take a
cost matrix (demand points x candidate sites) and reproduce published results (tests):
p-median and MCLP on spopt's San Francisco instance, LSCP on the same, and OR-Library pmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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

    Started from a vertex-substitution incumbent (`pmedian_heuristic`). The default is the
    classic assignment formulation below; `formulation="radius"` is the radius formulation
    (`radius_lp`, Garcia, Labbe and Marin 2011) solved by radius expansion, exact but, as
    built here, not yet faster on OR-Library (docs/optimizer.md):

        min  sum_ij w_i c_ij y_ij
        s.t. sum_j y_ij = 1 (every i);  y_ij <= x_j (every i, j);  sum_j x_j = p
             x_j binary, y_ij >= 0 (integral at the optimum given x)

    On a time-out the status is "time_limit" with the incumbent, the bound and the gap.
    """

    name = "pmedian"
    FORMULATIONS = ("radius", "assignment")
    formulation: str
    constant: float
    levels: int
    start = "max"  # radius: start every client at the incumbent's longest assignment

    @classmethod
    def from_cost_matrix(cls, costs, p: int, weights=None, demand_names=None,
                         site_names=None, formulation: str = "assignment") -> PMedian:
        c = _check_costs(costs)
        n, m = c.shape
        if not 1 <= p <= m:
            raise InvalidInput(f"p must be between 1 and the number of sites ({m}); got {p}")
        if formulation not in cls.FORMULATIONS:
            raise InvalidInput(f"unknown p-median formulation '{formulation}' (choose from "
                               f"{', '.join(cls.FORMULATIONS)})")
        w = _weights(weights, n)
        if formulation == "radius":
            # built in solve(), with radii from the incumbent; n_columns for `auto` only
            lp = LinearProgram(sp.csc_matrix((1, m + n)), np.zeros(1), np.zeros(1),
                               np.zeros(m + n), np.ones(m + n))
            model = cls(lp, np.zeros(m + n), m, 0, demand_names, site_names)
        else:
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
            model.constant = 0.0
        model.weights, model.costs, model.p, model.formulation = w, c, p, formulation
        return model

    def solve(self, solver: str | None = "auto", time_limit: float | None = None):
        """Solve to proven optimality, or until `time_limit` seconds (status "time_limit",
        the incumbent, `bound` and `gap`); return self. Raises OptimisationError."""
        import time

        start = time.perf_counter()
        self.solver = resolve_solver(solver, self.lp.shape[1], integer=True)
        self.time_limit = time_limit
        budget = 5.0 if time_limit is None else max(0.0, min(5.0, 0.1 * time_limit))
        incumbent = pmedian_heuristic(self.costs, self.p, self.weights, budget)
        self.heuristic_objective = float(
            (self.weights * self.costs[:, incumbent].min(axis=1)).sum())
        left = None if time_limit is None else max(time_limit - (time.perf_counter() - start),
                                                   1e-3)
        self.bound: float | None = None
        self.rounds = 0
        if self.formulation == "radius":
            self.site_indices, self.status, self.bound = self._solve_radius(incumbent, left)
        elif self.solver in ("highs", "ipm", "simplex"):
            self.site_indices, self.status, self.bound = self._solve_highs(incumbent, left)
        else:
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
        self.sites = [self.site_names[j] for j in self.site_indices]
        self._finish()
        if self.status == "optimal":
            self.bound = self.objective
        self.gap = (None if self.bound is None else
                    max(0.0, self.objective - self.bound) / max(abs(self.objective), 1e-12))
        self.seconds = time.perf_counter() - start
        return self

    def _solve_radius(self, incumbent: np.ndarray, time_limit: float | None):
        """Solve relaxations with every client's levels cut at a radius (at first the
        incumbent's longest assignment); a client placed beyond its radius has it raised to
        its distance there, and the model is solved again, until none is: then the
        relaxation's optimum is feasible at its own cost, so optimal."""
        import time

        end = None if time_limit is None else time.perf_counter() + time_limit
        c, w = self.costs, self.weights
        best = incumbent
        best_d = c[:, best].min(axis=1)
        best_value = float((w * best_d).sum())
        radius = np.full(c.shape[0], best_d.max()) if self.start == "max" else best_d.copy()
        bound = None
        while True:
            self.rounds += 1
            rm = radius_lp(c, self.p, w, radius)
            self.levels = rm.levels
            left = None if end is None else end - time.perf_counter()
            if left is not None and left <= 0:
                return best, "time_limit", bound
            if self.solver in ("highs", "ipm", "simplex"):
                opened, status, relax = self._run_highs(rm, best, best_d, left)
            else:
                opened, status, relax = self._run_cbc(rm, left)
            if relax is not None:
                bound = relax if bound is None else max(bound, relax)
            if opened is not None:
                d = c[:, opened].min(axis=1)
                value = float((w * d).sum())
                if value < best_value:
                    best, best_d, best_value = opened, d, value
            if status == "time_limit":
                return best, "time_limit", bound
            beyond = rm.truncated & (d > radius)
            if not beyond.any():
                return opened, "optimal", None
            radius = np.where(beyond, d, radius)

    def _run_highs(self, rm: RadiusModel, best, best_d, time_limit):
        from optimizer.lp import HighsBackend

        engine = HighsBackend(rm.lp)
        engine.set_objective(rm.cost)
        h = engine.h
        h.setSolution(_highs_solution(h, rm.columns_for(best_d, best, self.n_sites)))
        h.setOptionValue("time_limit", float(time_limit) if time_limit else INF)
        h.run()
        ms = engine._highspy.HighsModelStatus
        status = h.getModelStatus()
        info = h.getInfo()
        m = self.n_sites
        if status == ms.kOptimal:
            x = np.asarray(h.getSolution().col_value, float)
            return (np.flatnonzero(x[:m] > 0.5), "optimal",
                    float(info.objective_function_value) + rm.constant)
        if status == ms.kTimeLimit:
            lb = float(info.mip_dual_bound) + rm.constant
            opened = None
            if info.primal_solution_status >= 2:
                x = np.asarray(h.getSolution().col_value, float)
                opened = np.flatnonzero(x[:m] > 0.5)
                if len(opened) != self.p:
                    opened = None
            return opened, "time_limit", lb if np.isfinite(lb) else None
        raise OptimisationError(f"HiGHS did not find an optimum: "
                                f"{h.modelStatusToString(status)}")

    def _run_cbc(self, rm: RadiusModel, time_limit):
        try:
            result = solve_lexicographic(rm.lp, [Phase("objective", rm.cost, 0.0)], "cbc",
                                         time_limit)
        except OptimisationError as exc:
            if "time limit" not in str(exc):
                raise
            return None, "time_limit", None  # CBC through PuLP gives no bound on a time-out
        x = result.last.x
        return (np.flatnonzero(x[:self.n_sites] > 0.5), "optimal",
                result.last.objective + rm.constant)

    def _solve_highs(self, incumbent: np.ndarray, time_limit: float | None):
        from optimizer.lp import HighsBackend

        engine = HighsBackend(self.lp)
        engine.set_objective(self.cost)
        h = engine.h
        x0 = self._columns_for(incumbent)
        h.setSolution(_highs_solution(h, x0))
        h.setOptionValue("time_limit", float(time_limit) if time_limit else INF)
        h.run()
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
        self.mean_cost = self.objective / float(self.weights.sum())

    def to_dict(self) -> dict[str, Any]:
        out = {**super().to_dict(), "p": self.p, "mean_cost": self.mean_cost,
               "formulation": self.formulation, "bound": self.bound, "gap": self.gap,
               "seconds": self.seconds, "rounds": self.rounds}
        if self.status == "time_limit":
            out["time_limit"] = self.time_limit
        return out


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
    import time

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
    if p == m:
        return np.array(sorted(opened))
    open_ = np.array(opened)
    while time.perf_counter() < end:
        sub = c[:, open_]
        order = np.argsort(sub, axis=1)
        near = order[:, 0]
        d1 = sub[np.arange(n), near]
        d2 = sub[np.arange(n), order[:, 1]] if p > 1 else np.full(n, np.inf)
        current = float((weights * d1).sum())
        m1 = np.minimum(d1[:, None], c)
        add = (weights[:, None] * m1).sum(axis=0)  # cost with j added, nothing removed
        extra = weights[:, None] * (np.minimum(d2[:, None], c) - m1)
        owner = sp.csr_matrix((np.ones(n), (near, np.arange(n))), shape=(p, n))
        swap = add[None, :] + owner @ extra  # p x m: remove open_[r], add j
        swap[:, open_] = np.inf
        r, j = (int(v) for v in np.unravel_index(int(np.argmin(swap)), swap.shape))
        if swap[r, j] >= current - 1e-9 * max(1.0, abs(current)):
            break
        open_[r] = j
    return np.sort(open_)


def radius_lp(costs: np.ndarray, p: int, weights: np.ndarray,
              radius: np.ndarray | None = None):
    """The radius formulation (Garcia, Labbe and Marin 2011) in its sparse, chained form
    (Elloumi 2010): return (LinearProgram, cost vector, constant, n levels kept).

    For client i with sorted distinct distances D_i1 < ... < D_iL, z_ik = 1 when its distance
    exceeds D_ik. Row k: z_ik - z_i,k-1 + sum_{j: c_ij = D_ik} y_j >= 0 (z_i0 = 1, z_iL = 0);
    objective sum_i w_i (D_i1 + sum_k (D_i,k+1 - D_ik) z_ik). With p of m sites open, one of
    each client's m - p + 1 nearest sites is open, so levels beyond that distance are dropped.
    With `radius` (per client), levels beyond it are dropped too and the last z kept costs only
    its own step: a relaxation, exact when no client is placed beyond its radius.
    """
    n, m = costs.shape
    order = np.argsort(costs, axis=1, kind="stable")
    cs = np.take_along_axis(costs, order, axis=1)
    full = cs <= cs[:, [m - p]]
    keep = full if radius is None else full & (cs <= radius[:, None])
    new = np.ones_like(cs, bool)
    new[:, 1:] = cs[:, 1:] != cs[:, :-1]
    nxt = np.where(new & full & ~keep, cs, np.inf).min(axis=1)  # first distance dropped
    truncated = np.isfinite(nxt)
    new &= keep
    level = np.cumsum(new, axis=1) - 1  # 0-based level of each (i, rank)
    n_levels = new.sum(axis=1)  # L_i
    row_base = np.r_[0, np.cumsum(n_levels)[:-1]]
    n_rows = int(n_levels.sum())
    z_count = n_levels - 1 + truncated
    z_base = m + np.r_[0, np.cumsum(z_count)[:-1]]
    n_cols = m + int(z_count.sum())
    ii, tt = np.nonzero(keep)
    y_rows = row_base[ii] + level[ii, tt]
    y_cols = order[ii, tt]
    # z_ik (k = 0..L_i-2, 0-based) is +1 in row k and -1 in row k+1
    zi = np.repeat(np.arange(n), z_count)
    zk = np.arange(len(zi)) - np.repeat(np.r_[0, np.cumsum(z_count)[:-1]], z_count)
    z_cols = z_base[zi] + zk
    closes = zk < n_levels[zi] - 1  # a truncated client's last z has no next row
    rows = np.r_[y_rows, row_base[zi] + zk, (row_base[zi] + zk + 1)[closes], np.full(m, n_rows)]
    cols = np.r_[y_cols, z_cols, z_cols[closes], np.arange(m)]
    vals = np.r_[np.ones(len(y_rows)), np.ones(len(zi)), -np.ones(int(closes.sum())),
                 np.ones(m)]
    A = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows + 1, n_cols))
    first = np.zeros(n_rows, bool)
    first[row_base] = True
    rl = np.r_[np.where(first, 1.0, 0.0), [p]]
    ru = np.r_[np.full(n_rows, INF), [p]]
    dist = cs[new]  # D_ik in row order
    step = np.diff(np.r_[dist, 0.0])  # D_i,k+1 - D_ik (the last of each client unused)
    last = row_base + n_levels - 1
    step[last] = np.where(truncated, nxt - dist[last], 0.0)
    has_z = np.ones(n_rows, bool)
    has_z[last] = truncated
    zc = (weights[np.repeat(np.arange(n), n_levels)] * step)[has_z]
    obj = np.r_[np.zeros(m), zc]
    integer = np.r_[np.ones(m, bool), np.zeros(n_cols - m, bool)]
    lp = LinearProgram(A, rl, ru, np.zeros(n_cols), np.ones(n_cols), integer)
    constant = float((weights * cs[:, 0]).sum())
    return RadiusModel(lp, obj, constant, n_rows, truncated, zi, dist[has_z])


@dataclass
class RadiusModel:
    lp: LinearProgram
    cost: np.ndarray
    constant: float
    levels: int
    truncated: np.ndarray  # per client: levels beyond its radius dropped
    z_client: np.ndarray  # per z column: its client
    z_distance: np.ndarray  # per z column: D_ik (z = 1 when the client's distance exceeds it)

    def columns_for(self, sub_min: np.ndarray, opened: np.ndarray, m: int) -> np.ndarray:
        """The column vector for the open sites `opened`; `sub_min` each client's distance."""
        x = np.zeros(self.lp.shape[1])
        x[opened] = 1.0
        x[m:] = (self.z_distance < sub_min[self.z_client]).astype(float)
        return x


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
