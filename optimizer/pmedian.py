"""Exact p-median by Lagrangian relaxation: bound, reduction tests, branch and bound.

Relaxing the assignment rows `sum_j y_ij = 1` with multipliers u gives (Beasley 1985, 1993)

    L(u) = sum_i u_i + min_{|S| = p} sum_{j in S} rho_j,   rho_j = sum_i min(0, w_i c_ij - u_i),

a lower bound for every u, as tight as the LP relaxation at its best u (found by subgradient
ascent). Every feasible S met on the way is priced exactly and may improve the incumbent.
With an incumbent of cost UB, anything whose Lagrangian bound exceeds the cut-off UB - delta
cannot lead to a better solution (delta = 1 when every w_i c_ij is an integer, else a relative
1e-9, the MIP gap of the HiGHS back end):

* site j outside S* is closed when L + rho_j - rho_(p) > cut-off (opening it costs that much);
* site j in S* is fixed open when L - rho_j + rho_(p+1) > cut-off;
* pair (i, j) is dropped when L + max(0, w_i c_ij - u_i) + max(0, rho_j - rho_(p)) > cut-off.

`LagrangianSearch.branch_and_bound` branches on sites (open / closed) with these bounds and
tests at every node; `reduced_radius_lp` builds the radius formulation (Garcia, Labbe and
Marin 2011; Elloumi 2010) on the pairs kept, to be solved by a MIP back end. Pure NumPy: no
solver is imported here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.lp import INF, LinearProgram


def evaluate(costs: np.ndarray, weights: np.ndarray, sites: np.ndarray) -> float:
    """The p-median cost of opening `sites`: each point to its nearest open site."""
    return float((weights * costs[:, sites].min(axis=1)).sum())


def interchange(costs: np.ndarray, weights: np.ndarray, open_: np.ndarray,
                end: float) -> np.ndarray:
    """Best-improvement vertex substitution (Teitz and Bart 1968) with Whitaker's fast
    interchange, vectorised: every (remove, add) pair is priced at once. Stops at a local
    optimum or at `end` (perf_counter seconds); returns the sorted open sites."""
    c = costs
    n, m = c.shape
    p = len(open_)
    open_ = np.array(open_)
    if p == m:
        return np.sort(open_)
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


@dataclass
class Relaxation:
    """The best Lagrangian bound found at a node and what it rests on (indices into cand)."""

    bound: float
    u: np.ndarray
    rho: np.ndarray
    chosen: np.ndarray
    step: float


@dataclass
class Reduction:
    """What the root's Lagrangian bound proves about any better solution."""

    closed: np.ndarray  # per site: closed in every better solution
    fixed: np.ndarray  # per site: open in every better solution
    keep: np.ndarray  # n x m: the pairs a better solution may use


DEFLECT = 0.7  # measured: pmed22 121 -> 90 nodes, pmed39 604 -> 262 (docs/optimizer.md)


class TimeUp(Exception):
    pass


class LagrangianSearch:
    """Subgradient bound, reduction tests and site branching for one p-median instance."""

    ROOT_ITERATIONS = 3000
    NODE_ITERATIONS = 60

    def __init__(self, costs: np.ndarray, weights: np.ndarray, p: int,
                 incumbent: np.ndarray, end: float | None = None) -> None:
        self.c = costs
        self.w = weights
        self.wc = weights[:, None] * costs
        self.p = p
        self.end = end
        self.sites = np.sort(np.asarray(incumbent))
        self.ub = evaluate(costs, weights, self.sites)
        scale = float(np.abs(self.wc).max(initial=0.0)) * costs.shape[0]
        self.integral = bool(np.all(self.wc == np.round(self.wc))) and scale < 2.0 ** 52
        self.iterations = 0
        self.nodes = 0
        self.root: Relaxation | None = None
        self.bound = -INF  # proven lower bound on the optimum (after a search)

    @property
    def delta(self) -> float:
        """How much better than the incumbent a solution must be to count (see module)."""
        if self.integral:
            return 1.0 - 1e-6
        return 1e-9 * max(1.0, abs(self.ub))

    @property
    def cutoff(self) -> float:
        return self.ub - self.delta

    def _offer(self, sites: np.ndarray) -> None:
        value = evaluate(self.c, self.w, sites)
        if value < self.ub - 1e-12 * max(1.0, abs(self.ub)):
            self.ub, self.sites = value, np.sort(sites)

    def _check_time(self) -> None:
        if self.end is not None and time.perf_counter() > self.end:
            raise TimeUp

    def subgradient(self, cand: np.ndarray, isopen: np.ndarray, u: np.ndarray,
                    iterations: int, step: float, patience: int,
                    min_step: float) -> Relaxation:
        """Subgradient ascent on L(u) over the sites `cand` (those with `isopen` forced open);
        step f (UB - L) / |d|^2 along d = g + DEFLECT d_prev (g the subgradient), f halved
        after `patience` iterations without progress, stopping below `min_step`."""
        wc = self.wc[:, cand]
        p = self.p
        fixed_idx = np.flatnonzero(isopen)
        free_idx = np.flatnonzero(~isopen)
        k = p - len(fixed_idx)
        best: Relaxation | None = None
        stall = 0
        d = None
        a = np.empty_like(wc)  # in place: this loop is the search's inner cost
        for _ in range(iterations):
            self._check_time()
            self.iterations += 1
            np.subtract(wc, u[:, None], out=a)
            np.minimum(a, 0.0, out=a)
            rho = a.sum(axis=0)  # not a BLAS product: its threads stall on a busy machine
            if k <= 0:
                chosen = fixed_idx
            elif k < len(free_idx):
                chosen = np.r_[fixed_idx,
                               free_idx[np.argpartition(rho[free_idx], k - 1)[:k]]]
            else:
                chosen = np.r_[fixed_idx, free_idx]
            value = float(u.sum() + rho[chosen].sum())
            self._offer(cand[chosen])
            if best is None or value > best.bound + 1e-12 * abs(best.bound):
                best = Relaxation(value, u, rho, chosen, step)
                stall = 0
            else:
                stall += 1
                if stall >= patience:
                    step /= 2.0
                    stall = 0
            if best.bound > self.cutoff or step < min_step:
                break
            g = 1.0 - (a[:, chosen] < 0).sum(axis=1)
            if not g.any():  # the relaxation's solution is feasible: priced above
                break
            d = g if d is None else g + DEFLECT * d  # deflected (Crowder 1976)
            norm = float((d * d).sum())
            if norm == 0.0:
                break
            u = u + step * max(self.ub - value, 0.0) / norm * d
        assert best is not None
        best.step = step
        return best

    def root_bound(self) -> Relaxation:
        """The root relaxation, from u_i = each point's weighted second-nearest cost; then
        vertex substitution from the relaxation's best sites, which may improve the
        incumbent."""
        m = self.c.shape[1]
        u0 = np.sort(self.wc, axis=1)[:, min(1, m - 1)].copy()
        cand = np.arange(m)
        self.root = self.subgradient(cand, np.zeros(m, bool), u0, self.ROOT_ITERATIONS, 2.0,
                                     20, 1e-5)
        self.bound = max(self.bound, min(self.root.bound, self.ub))
        end = time.perf_counter() + 2.0 if self.end is None else min(
            self.end, time.perf_counter() + 2.0)
        self._offer(interchange(self.c, self.w, self.root.chosen.copy(), end))
        return self.root

    def reduce(self, relax: Relaxation | None = None) -> Reduction:
        """The root reduction tests (module docstring) at the current incumbent."""
        r = relax or self.root
        assert r is not None
        m = self.c.shape[1]
        p = self.p
        a = self.wc - r.u[:, None]
        rho = r.rho
        order = np.argsort(rho, kind="stable")
        rp = rho[order[p - 1]]
        rp1 = rho[order[p]] if p < m else INF
        in_s = np.zeros(m, bool)
        in_s[r.chosen] = True
        penalty = np.where(in_s, 0.0, np.maximum(rho - rp, 0.0))
        cut = self.cutoff
        closed = ~in_s & (r.bound + penalty > cut)
        fixed = in_s & (r.bound - rho + rp1 > cut)
        keep = (r.bound + np.maximum(a, 0.0) + penalty[None, :] <= cut) & ~closed[None, :]
        return Reduction(closed, fixed, keep)

    def branch_and_bound(self) -> bool:
        """Search the tree from the root relaxation; return True when the incumbent is
        proven optimal, False on time-out (`bound` then holds the proven lower bound)."""
        if self.root is None:
            self.root_bound()
        root = self.root
        assert root is not None
        m = self.c.shape[1]
        # stack of (sites left, forced open mask, multipliers, step, the parent's bound)
        stack = [(np.arange(m), np.zeros(m, bool), root.u, root.step, root.bound, True)]
        try:
            while stack:
                cand, isopen, u, step, parent, at_root = stack.pop()
                if parent > self.cutoff:
                    continue
                self.nodes += 1
                if at_root:
                    relax = root
                else:
                    relax = self.subgradient(cand, isopen, u, self.NODE_ITERATIONS,
                                             step, 10, 1e-4)
                self._expand(cand, isopen, relax, max(parent, relax.bound), stack)
        except TimeUp:
            pending = [parent for *_, parent, _r in stack] + [parent]
            self.bound = max(self.bound, min(min(pending), self.ub))
            return False
        self.bound = self.ub
        return True

    def _expand(self, cand, isopen, relax: Relaxation, bound: float, stack) -> None:
        if relax.bound > self.cutoff:
            return
        p = self.p
        if int(isopen.sum()) >= p or len(cand) <= p:
            self._offer(cand[isopen] if int(isopen.sum()) >= p else cand)
            return
        rho = relax.rho
        in_s = np.zeros(len(cand), bool)
        in_s[relax.chosen] = True
        free_s = in_s & ~isopen
        free_n = ~in_s
        rp = rho[free_s].max()
        rp1 = rho[free_n].min()
        cut = self.cutoff
        close = free_n & (relax.bound + rho - rp > cut)
        fix = free_s & (relax.bound - rho + rp1 > cut)
        if close.any() or fix.any():
            keep = ~close
            if int(keep.sum()) < p:
                return
            stack.append((cand[keep], (isopen | fix)[keep], relax.u, max(relax.step, 0.5),
                          bound, False))
            return
        # branch on the chosen site serving most points that the relaxation serves twice
        a = self.wc[:, cand] - relax.u[:, None] < 0
        over = (a[:, relax.chosen].sum(axis=1) > 1)
        score = np.where(free_s, (a & over[:, None]).sum(axis=0), -1)
        j = int(np.argmax(score))
        rest = np.ones(len(cand), bool)
        rest[j] = False
        stack.append((cand[rest], isopen[rest], relax.u, 1.0, bound, False))
        opened = isopen.copy()
        opened[j] = True
        stack.append((cand, opened, relax.u, 1.0, bound, False))


def reduced_radius_lp(costs: np.ndarray, weights: np.ndarray, p: int, red: Reduction):
    """The radius formulation on the pairs `red.keep` (Elloumi's chained form): per point i
    its kept sorted distinct distances D_i1 < ... < D_iL; z_ik = 1 when its distance exceeds
    D_ik; rows z_i1 + sum_{c_ij = D_i1} x_j >= 1, z_ik - z_i,k-1 + sum_{c_ij = D_ik} x_j >= 0,
    and -z_i,L-1 + sum_{c_ij = D_iL} x_j >= 0 (a better solution serves i within its kept
    pairs); objective sum_i w_i (D_i1 + sum_k (D_i,k+1 - D_ik) z_ik). Also dropped: levels
    beyond the (m'-p+1)-th nearest site still open to choice (one of those is open) and
    beyond the nearest site fixed open. Return None when a point keeps no pair (then no
    better solution exists), else (LinearProgram, cost, constant, pairs kept)."""
    c = costs
    n, m = c.shape
    can = ~red.closed
    m_left = int(can.sum())
    if m_left < p:
        return None
    cc = np.where(can[None, :], c, np.inf)
    reach = np.partition(cc, m_left - p, axis=1)[:, m_left - p]
    if red.fixed.any():
        reach = np.minimum(reach, c[:, red.fixed].min(axis=1))
    keep = red.keep & (c <= reach[:, None])
    if not keep.any(axis=1).all():
        return None
    ii, jj = np.nonzero(keep)
    d = c[ii, jj]
    o = np.lexsort((d, ii))
    ii, jj, d = ii[o], jj[o], d[o]
    new = np.r_[True, (ii[1:] != ii[:-1]) | (d[1:] != d[:-1])]
    row = np.cumsum(new) - 1
    n_rows = int(new.sum())
    level_point = ii[new]
    level_d = d[new]
    first = np.r_[True, level_point[1:] != level_point[:-1]]
    last = np.r_[level_point[1:] != level_point[:-1], True]
    zr = np.flatnonzero(~last)  # a z per level but each point's last
    nz = len(zr)
    rows = np.r_[row, zr, zr + 1, np.full(m, n_rows)]
    cols = np.r_[jj, m + np.arange(nz), m + np.arange(nz), np.arange(m)]
    vals = np.r_[np.ones(len(jj)), np.ones(nz), -np.ones(nz), np.ones(m)]
    A = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows + 1, m + nz))
    step = (level_d[zr + 1] - level_d[zr]) * weights[level_point[zr]]
    cost = np.r_[np.zeros(m), step]
    constant = float((weights[level_point[first]] * level_d[first]).sum())
    lp = LinearProgram(A, np.r_[first.astype(float), [p]], np.r_[np.full(n_rows, INF), [p]],
                       np.r_[red.fixed.astype(float), np.zeros(nz)],
                       np.r_[can.astype(float), np.full(nz, INF)],
                       np.r_[np.ones(m, bool), np.zeros(nz, bool)])
    return lp, cost, constant, len(jj)
