"""Linear programmes as arrays, two solver back ends, and lexicographic (multi-phase) solving.

Every model in `optimizer/` builds a `LinearProgram` (a column-wise sparse matrix and bound
vectors) with NumPy, never from Python loops over solver objects, then hands it to a back end:

* `highs`: highspy called directly with the arrays (`passModel`), phases changed in place
  (objective costs and one added row), so each phase warm-starts from the last; `ipm` is the
  same with HiGHS's interior-point method plus crossover;
* `cbc`: CBC through PuLP, the variables and constraints made once from the arrays.

Row duals follow one convention whatever the back end: `row_dual[r] = d objective / d rhs[r]`.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from market.errors import InvalidInput, OptimisationError

INF = math.inf
SOLVERS = ("auto", "cbc", "highs", "ipm", "simplex")
# Measured (docs/optimizer.md, issue 12): HiGHS was 5-20x faster than CBC at every size
# measured (750 and 3,221 columns of coverage LP, the location models), so `auto` is HiGHS
# whenever highspy imports, CBC only without it.


@dataclass
class LinearProgram:
    """`row_lower <= A x <= row_upper`, `col_lower <= x <= col_upper`, some x integer."""

    A: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape


@dataclass
class Solution:
    status: str
    x: np.ndarray
    objective: float
    row_dual: np.ndarray | None = None
    col_dual: np.ndarray | None = None
    seconds: float = 0.0


@dataclass
class Phase:
    """One lexicographic phase: its objective and the solution found."""

    name: str
    cost: np.ndarray
    tolerance: float
    solution: Solution | None = None
    bound_row: int | None = None  # the row holding this phase's objective in later phases
    steer: bool = False  # only steers the simplex to a good basis: its optimum binds nothing


@dataclass
class Lexicographic:
    phases: list[Phase] = field(default_factory=list)
    solver: str = ""

    @property
    def binding(self) -> list[Phase]:
        return [p for p in self.phases if not p.steer]

    @property
    def last(self) -> Solution:
        sol = self.phases[-1].solution
        assert sol is not None
        return sol


def resolve_solver(solver: str | None, n_columns: int, integer: bool = False) -> str:
    """Return the back end to use: 'auto' is HiGHS whenever highspy imports, else CBC (the
    measurements behind it are in docs/optimizer.md); `n_columns` is kept for callers."""
    solver = (solver or "auto").lower()
    if solver not in SOLVERS:
        raise InvalidInput(f"unknown solver '{solver}' (choose from {', '.join(SOLVERS)})")
    if solver == "auto":
        return "highs" if _highs_available() else "cbc"
    return solver


def _highs_available() -> bool:
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


class _Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.perf_counter() + seconds

    def remaining(self) -> float | None:
        if self.end is None:
            return None
        left = self.end - time.perf_counter()
        if left <= 0:
            raise OptimisationError(f"time limit of {self.seconds:g} s reached before solving")
        return left


_FD_LOCK = threading.Lock()


def silent_highs() -> Any:
    """Return a `highspy.Highs` with logging off whose start-up banner never reaches stdout.

    highspy 1.16 prints its "Running HiGHS ..." banner when the object is constructed, before
    `output_flag` can be set, which broke `caremarket coverage --json` (one JSON object on
    stdout). The banner is sent to stderr instead: fd 1 points at fd 2 while the object is made,
    with C stdio flushed inside the redirect. The lock keeps threads from interleaving it.
    """
    import highspy

    libc = ctypes.CDLL(None)
    with _FD_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            libc.fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return h


class HighsBackend:
    """highspy with the model passed as arrays; phases modify it in place."""

    def __init__(self, lp: LinearProgram, method: str = "highs", threads: int | None = None):
        import highspy

        self.h = silent_highs()
        if method == "ipm":
            self.h.setOptionValue("solver", "ipm")
            self.h.setOptionValue("run_crossover", "on")
        elif method == "simplex":
            self.h.setOptionValue("solver", "simplex")
        if threads:
            self.h.setOptionValue("threads", int(threads))
        A = lp.A.tocsc()
        A.sort_indices()
        n_rows, n_cols = A.shape
        integrality = (np.zeros(n_cols, np.int32) if lp.integer is None
                       else lp.integer.astype(np.int32))
        self.has_integers = lp.integer is not None and bool(lp.integer.any())
        if self.has_integers:
            # prove optimality: the default 1e-4 relative gap can stop short of the optimum
            self.h.setOptionValue("mip_rel_gap", 1e-9)
        inf = highspy.kHighsInf
        status = self.h.passModel(
            n_cols, n_rows, int(A.nnz), 1, 1, 0.0, np.zeros(n_cols),
            np.nan_to_num(lp.col_lower, neginf=-inf, posinf=inf),
            np.nan_to_num(lp.col_upper, neginf=-inf, posinf=inf),
            np.nan_to_num(lp.row_lower, neginf=-inf, posinf=inf),
            np.nan_to_num(lp.row_upper, neginf=-inf, posinf=inf),
            A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float),
            integrality)
        if status != highspy.HighsStatus.kOk:
            raise OptimisationError(f"HiGHS rejected the model ({status})")
        self.n_cols = n_cols
        self.n_rows = n_rows
        self._highspy = highspy

    supports_pricing = True

    def activate(self, columns: np.ndarray, upper: np.ndarray) -> None:
        """Let `columns` (fixed at 0 until now) take values up to `upper` again."""
        self.h.changeColsBounds(len(columns), columns.astype(np.int32), np.zeros(len(columns)),
                                np.nan_to_num(upper, posinf=self._highspy.kHighsInf))

    def set_objective(self, cost: np.ndarray) -> None:
        idx = np.arange(self.n_cols, dtype=np.int32)
        self.h.changeColsCost(self.n_cols, idx, np.asarray(cost, float))

    def add_row(self, cost: np.ndarray, upper: float) -> int:
        nz = np.flatnonzero(cost).astype(np.int32)
        self.h.addRow(-self._highspy.kHighsInf, float(upper), len(nz), nz,
                      np.asarray(cost, float)[nz])
        self.n_rows += 1
        return self.n_rows - 1

    def solve(self, time_limit: float | None) -> Solution:
        ms = self._highspy.HighsModelStatus
        self.h.setOptionValue("time_limit", float(time_limit) if time_limit else INF)
        start = time.perf_counter()
        self.h.run()
        status = self.h.getModelStatus()
        seconds = time.perf_counter() - start
        if status == ms.kTimeLimit:
            raise OptimisationError(f"HiGHS reached the time limit of {time_limit:g} s")
        if status != ms.kOptimal:
            raise OptimisationError(f"HiGHS did not find an optimum: "
                                    f"{self.h.modelStatusToString(status)}")
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value, float)
        obj = float(self.h.getInfo().objective_function_value)
        if self.has_integers or not sol.dual_valid:
            return Solution("optimal", x, obj, seconds=seconds)
        return Solution("optimal", x, obj, np.asarray(sol.row_dual, float),
                        np.asarray(sol.col_dual, float), seconds)


class CbcBackend:
    """CBC through PuLP: one variable per column and one constraint per row, made once."""

    supports_pricing = False

    def __init__(self, lp: LinearProgram, threads: int | None = None):
        import pulp

        self.pulp = pulp
        self.threads = threads
        A = lp.A.tocsr()
        n_rows, n_cols = A.shape
        integer = lp.integer if lp.integer is not None else np.zeros(n_cols, bool)
        self.has_integers = bool(integer.any())

        def bound(v: float) -> float | None:
            return None if math.isinf(v) else float(v)

        cat = {False: pulp.LpContinuous, True: pulp.LpInteger}
        self.vars = [pulp.LpVariable(f"c{k}", bound(lo), bound(hi), cat[bool(ii)])
                     for k, (lo, hi, ii) in enumerate(zip(lp.col_lower.tolist(),
                                                          lp.col_upper.tolist(),
                                                          integer.tolist(), strict=True))]
        self.prob = pulp.LpProblem("model", pulp.LpMinimize)
        self.rows: list = []
        indptr, indices, data = A.indptr, A.indices.tolist(), A.data.tolist()
        v = self.vars
        for r in range(n_rows):
            a, b = indptr[r], indptr[r + 1]
            expr = pulp.LpAffineExpression([(v[c], x) for c, x in
                                            zip(indices[a:b], data[a:b], strict=True)])
            lo, hi = float(lp.row_lower[r]), float(lp.row_upper[r])
            if lo == hi:
                con = pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"r{r}", hi)
            elif math.isinf(lo):
                con = pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{r}", hi)
            elif math.isinf(hi):
                con = pulp.LpConstraint(expr, pulp.LpConstraintGE, f"r{r}", lo)
            else:
                raise OptimisationError("ranged rows are not supported by the CBC back end")
            self.prob += con
            self.rows.append(con)
        self.n_cols = n_cols

    def set_objective(self, cost: np.ndarray) -> None:
        nz = np.flatnonzero(cost)
        c = np.asarray(cost, float)
        self.prob.setObjective(self.pulp.LpAffineExpression(
            [(self.vars[k], c[k]) for k in nz.tolist()]))

    def add_row(self, cost: np.ndarray, upper: float) -> int:
        nz = np.flatnonzero(cost)
        c = np.asarray(cost, float)
        expr = self.pulp.LpAffineExpression([(self.vars[k], c[k]) for k in nz.tolist()])
        con = self.pulp.LpConstraint(expr, self.pulp.LpConstraintLE, f"r{len(self.rows)}",
                                     float(upper))
        self.prob += con
        self.rows.append(con)
        return len(self.rows) - 1

    def solve(self, time_limit: float | None) -> Solution:
        pulp = self.pulp
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=self.threads,
                                   gapRel=0.0 if self.has_integers else None)
        start = time.perf_counter()
        try:
            self.prob.solve(solver)
        except pulp.PulpSolverError as exc:
            raise OptimisationError(f"CBC failed: {exc}") from exc
        seconds = time.perf_counter() - start
        status = pulp.LpStatus[self.prob.status]
        sol_status = self.prob.sol_status
        if sol_status == pulp.LpSolutionIntegerFeasible or (
                time_limit is not None and seconds >= time_limit * 0.98 and status != "Optimal"):
            raise OptimisationError(f"CBC reached the time limit of {time_limit} s "
                                    "without proving an optimum")
        if status != "Optimal":
            raise OptimisationError(f"CBC did not find an optimum: {status}")
        x = np.array([v.varValue or 0.0 for v in self.vars], float)
        obj = float(pulp.value(self.prob.objective) or 0.0)
        if self.has_integers:
            return Solution("optimal", x, obj, seconds=seconds)
        duals = np.array([c.pi if c.pi is not None else 0.0 for c in self.rows], float)
        return Solution("optimal", x, obj, duals, None, seconds)


def backend(lp: LinearProgram, solver: str, threads: int | None = None):
    """Return a back end for `lp`; `solver` already resolved (see `resolve_solver`)."""
    if solver == "cbc":
        return CbcBackend(lp, threads)
    if solver in ("highs", "ipm", "simplex"):
        return HighsBackend(lp, solver, threads)
    raise InvalidInput(f"unknown solver '{solver}' (choose from {', '.join(SOLVERS)})")


@dataclass
class Pricing:
    """Column generation over a block of columns: which start active, how to add more.

    Columns in `candidates` but not `active` are held at 0; after each solve those with a
    negative reduced cost (the solver's column dual) are let in, at most `per_group` per group
    (per zone), most negative first, and the phase is solved again from the last basis. The
    phase ends when no held column prices out, so the optimum is that of the full LP.
    """

    candidates: np.ndarray  # column indices that may be generated
    active: np.ndarray  # bool per candidate: in the model now
    group: np.ndarray  # group of each candidate (the zone of a pair)
    per_group: int = 5
    tolerance: float = 1e-9
    rounds: int = 0

    def enter(self, col_dual: np.ndarray) -> np.ndarray:
        held = np.flatnonzero(~self.active)
        rc = col_dual[self.candidates[held]]
        neg = rc < -self.tolerance
        held, rc = held[neg], rc[neg]
        if not len(held):
            return held
        order = np.lexsort((rc, self.group[held]))
        held, grp = held[order], self.group[held][order]
        starts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        rank = np.arange(len(grp)) - np.repeat(starts, np.diff(np.r_[starts, len(grp)]))
        chosen = held[rank < self.per_group]
        self.active[chosen] = True
        return self.candidates[chosen]


def solve_lexicographic(lp: LinearProgram, phases: list[Phase], solver: str,
                        time_limit: float | None = None, threads: int | None = None,
                        engine=None, pricing: Pricing | None = None) -> Lexicographic:
    """Solve `phases` in order, each holding the earlier objectives within their tolerance.

    After phase k with optimum v_k, the row `cost_k . x <= v_k + tolerance_k` is added, so
    later phases cannot worsen it. With `pricing` (HiGHS back ends only) the candidate
    columns are generated as needed. Raises OptimisationError on failure or time-out.
    """
    deadline = _Deadline(time_limit)
    if pricing is not None and solver not in ("highs", "ipm", "simplex"):
        pricing = None
    upper = lp.col_upper
    if pricing is not None:
        held = pricing.candidates[~pricing.active]
        lp = LinearProgram(lp.A, lp.row_lower, lp.row_upper, lp.col_lower,
                           lp.col_upper.copy(), lp.integer)
        lp.col_upper[held] = 0.0
    engine = engine or backend(lp, solver, threads)
    for k, phase in enumerate(phases):
        engine.set_objective(phase.cost)
        try:
            phase.solution = engine.solve(deadline.remaining())
        except OptimisationError as exc:
            if "time limit" in str(exc) and time_limit is not None:
                # quote the limit asked for, not the seconds left when this phase began
                raise OptimisationError(f"time limit of {time_limit:g} s reached without "
                                        "proving an optimum") from None
            raise
        seconds = phase.solution.seconds
        while pricing is not None:
            assert phase.solution.col_dual is not None
            new = pricing.enter(phase.solution.col_dual)
            if not len(new):
                break
            pricing.rounds += 1
            engine.activate(new, upper[new])
            phase.solution = engine.solve(deadline.remaining())
            seconds += phase.solution.seconds
        phase.solution.seconds = seconds
        if k < len(phases) - 1 and not phase.steer:
            phase.bound_row = engine.add_row(phase.cost,
                                             phase.solution.objective + phase.tolerance)
    return Lexicographic(phases, solver)
