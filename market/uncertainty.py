"""Monte Carlo over uncertain take-up (and cost change): how likely is each home to fail?

Take-up of the Care Act s18(3) route is not known in advance, so it is drawn from a stated
distribution (`Distribution`: beta, triangular, uniform or fixed), optionally with the cost
change; the scenario's other levers are held. Per home the result is the probability of ending
sustainable, at risk or unviable; for the market the distribution of beds (and homes) at risk,
unviable and not sustainable (median, 5th and 95th percentiles: the 90% interval). Seeded:
the same seed gives the same draws and the same result.

Scope of a draw: `scope="market"` (default) draws one take-up per draw for the whole market
(the uncertainty is about how the policy lands in the county); `scope="home"` draws take-up
independently for every home in every draw (local variation only). Cost change, when drawn,
is one value per draw (wage and price pressures are market-wide).

How it is fast. With the other levers held, a home's surplus after capital is affine in take-up
T and cost change Q: surplus = A - b T - c (1 + Q) - k, with b >= 0 the self-funder premium
income that take-up removes. So for fixed Q each home has a tipping take-up T1 = (A - c (1+Q)
- k) / b above which it is not sustainable (and T2 without k above which it is unviable):
market scope is then a sort of the thresholds and a binary search per draw, O((H + D) log H),
exact; home scope compares one uniform per home and draw with the home's probability
1 - F(T1) (the inverse-CDF view of T > T1), chunked over draws. When Q is drawn too, homes
whose class cannot change anywhere in the box of drawn (T, Q) are settled at once and only the
rest are evaluated draw by draw, in chunks (homes x draws arrays).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from market.equalisation import Baseline
from market.errors import InvalidInput, InvalidScenario
from market.viability import evaluate, home_arrays, levers, model_values

KINDS = ("beta", "triangular", "uniform", "fixed")
CHUNK_CELLS = 4_000_000  # homes x draws per chunk: bounds memory (~32 MB a float64 array)


@dataclass(frozen=True)
class Distribution:
    """A stated distribution of one lever.

    beta(a, b) on [low, high] (default 0-1); triangular(low, mode, high); uniform(low, high);
    fixed(value). `parse("beta:2,5")`, `parse("triangular:0.1,0.3,0.6")`, `parse("0.4")`.
    """

    kind: str
    params: tuple[float, ...]

    def __post_init__(self) -> None:
        k = self.kind.lower()
        object.__setattr__(self, "kind", k)
        p = tuple(float(x) for x in self.params)
        object.__setattr__(self, "params", p)
        if k not in KINDS:
            raise InvalidScenario(f"unknown distribution '{self.kind}' (choose from "
                                  f"{', '.join(KINDS)})")
        if any(not np.isfinite(x) for x in p):
            raise InvalidScenario(f"{k}: parameters must be finite numbers")
        if k == "beta":
            if len(p) not in (2, 4) or p[0] <= 0 or p[1] <= 0:
                raise InvalidScenario("beta needs a > 0 and b > 0 (and optionally low, high)")
            if len(p) == 4 and not p[2] < p[3]:
                raise InvalidScenario("beta: low must be below high")
        elif k == "triangular":
            if len(p) != 3 or not (p[0] <= p[1] <= p[2]) or p[0] == p[2]:
                raise InvalidScenario("triangular needs low <= mode <= high with low < high")
        elif k == "uniform":
            if len(p) != 2 or not p[0] < p[1]:
                raise InvalidScenario("uniform needs low < high")
        elif len(p) != 1:
            raise InvalidScenario("fixed needs one value")

    @classmethod
    def parse(cls, text: Distribution | str | float | Mapping[str, Any]) -> Distribution:
        """Read 'kind:p1,p2,...' or a bare number (fixed) or {'kind':..., 'params': [...]}."""
        if isinstance(text, Distribution):
            return text
        if isinstance(text, Mapping):
            return cls(str(text.get("kind", "")), tuple(text.get("params", ())))
        if isinstance(text, (int, float)):
            return cls("fixed", (float(text),))
        t = str(text).strip()
        kind, _, rest = t.partition(":")
        if not rest:
            try:
                return cls("fixed", (float(kind),))
            except ValueError:
                raise InvalidScenario(f"cannot read distribution '{text}' (e.g. beta:2,5, "
                                      "triangular:0.1,0.3,0.6, uniform:0,1, 0.4)") from None
        try:
            params = tuple(float(x) for x in rest.split(","))
        except ValueError:
            raise InvalidScenario(f"distribution '{text}': parameters must be numbers") from None
        return cls(kind.strip(), params)

    @property
    def bounds(self) -> tuple[float, float]:
        p = self.params
        if self.kind == "beta":
            return (p[2], p[3]) if len(p) == 4 else (0.0, 1.0)
        if self.kind == "triangular":
            return p[0], p[2]
        if self.kind == "uniform":
            return p[0], p[1]
        return p[0], p[0]

    def sample(self, rng: np.random.Generator, size) -> np.ndarray:
        p = self.params
        if self.kind == "beta":
            lo, hi = self.bounds
            return lo + (hi - lo) * rng.beta(p[0], p[1], size)
        if self.kind == "triangular":
            if p[0] == p[1] or p[1] == p[2]:  # numpy rejects a mode on a bound for some sizes
                u = rng.random(size)
                return self.ppf(u)
            return rng.triangular(p[0], p[1], p[2], size)
        if self.kind == "uniform":
            return rng.uniform(p[0], p[1], size)
        return np.full(size, p[0])

    def cdf(self, x) -> np.ndarray:
        """P(X <= x)."""
        x = np.asarray(x, float)
        p = self.params
        if self.kind == "beta":
            from scipy.special import betainc

            lo, hi = self.bounds
            z = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
            return betainc(p[0], p[1], z)
        if self.kind == "triangular":
            a, m, b = p
            with np.errstate(invalid="ignore", divide="ignore"):
                left = np.where(m > a, (x - a) ** 2 / ((b - a) * (m - a)), 1.0)
                right = np.where(b > m, 1.0 - (b - x) ** 2 / ((b - a) * (b - m)), 1.0)
            return np.where(x <= a, 0.0, np.where(x >= b, 1.0, np.where(x <= m, left, right)))
        if self.kind == "uniform":
            return np.clip((x - p[0]) / (p[1] - p[0]), 0.0, 1.0)
        return np.where(x >= p[0], 1.0, 0.0)

    def ppf(self, u) -> np.ndarray:
        """The quantile function (inverse CDF)."""
        u = np.asarray(u, float)
        p = self.params
        if self.kind == "beta":
            from scipy.special import betaincinv

            lo, hi = self.bounds
            return lo + (hi - lo) * betaincinv(p[0], p[1], u)
        if self.kind == "triangular":
            a, m, b = p
            f = (m - a) / (b - a)
            return np.where(u < f, a + np.sqrt(u * (b - a) * (m - a)),
                            b - np.sqrt((1 - u) * (b - a) * (b - m)))
        if self.kind == "uniform":
            return p[0] + (p[1] - p[0]) * u
        return np.full_like(u, p[0])

    def mean(self) -> float:
        p = self.params
        if self.kind == "beta":
            lo, hi = self.bounds
            return lo + (hi - lo) * p[0] / (p[0] + p[1])
        if self.kind == "triangular":
            return sum(p) / 3.0
        if self.kind == "uniform":
            return (p[0] + p[1]) / 2.0
        return p[0]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": list(self.params), "mean": self.mean(),
                "low": self.bounds[0], "high": self.bounds[1]}


@dataclass
class MonteCarloResult:
    draws: int
    seed: int | None
    scope: str
    take_up: Distribution
    cost_change: Distribution | None
    homes: pd.DataFrame  # per home probabilities
    market: pd.DataFrame  # per draw: take_up, cost_change, beds/homes per class
    seconds: float
    scenario: dict[str, float] = field(default_factory=dict)
    capacity: str = "beds"

    def quantiles(self) -> dict[str, dict[str, float]]:
        """Median, 5th and 95th percentile (the 90% interval) and mean of each market measure."""
        out = {}
        for c in self.market.columns:
            v = self.market[c].to_numpy(float)
            out[c] = {"median": float(np.median(v)), "p05": float(np.percentile(v, 5)),
                      "p95": float(np.percentile(v, 95)), "mean": float(v.mean())}
        return out

    def to_dict(self, homes: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "draws": self.draws, "seed": self.seed, "scope": self.scope,
            "take_up": self.take_up.to_dict(),
            "cost_change": self.cost_change.to_dict() if self.cost_change else None,
            "scenario": dict(self.scenario), "seconds": round(self.seconds, 4),
            "market": self.quantiles(),
        }
        if homes:
            clean = self.homes.astype(object).where(self.homes.notna(), None)
            out["homes"] = [{k: (v.item() if isinstance(v, np.generic) else v)
                             for k, v in r.items()} for r in clean.to_dict("records")]
        return out


def _thresholds(num: np.ndarray, b: np.ndarray) -> np.ndarray:
    """T above which num - b T < 0; +inf when never (b = 0, num >= 0), -inf when always."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(b > 0, num / np.where(b > 0, b, 1.0), np.where(num >= 0, np.inf, -np.inf))
    return t


def monte_carlo(baseline: Baseline, take_up: Distribution | str,
                cost_change: Distribution | str | None = None, draws: int = 10_000,
                seed: int | None = 0, scenario: Mapping[str, Any] | None = None,
                scope: str = "market") -> MonteCarloResult:
    """Draw take-up (and cost change) `draws` times and classify every home in every draw.

    `scenario` sets the other levers (convergence, la_fee_change, occupancy_change, and
    cost_change when it is not drawn). Returns per home p_sustainable, p_at_risk,
    p_unviable, p_not_sustainable (and for take-up alone in market scope the exact
    p_not_sustainable_exact = 1 - F(T1) with the tipping take-ups), and per draw the beds and
    homes in each class.
    """
    start = time.perf_counter()
    take_up = Distribution.parse(take_up)
    if cost_change is not None:
        cost_change = Distribution.parse(cost_change)
        if cost_change.kind == "fixed":
            scenario = {**dict(scenario or {}), "cost_change": cost_change.params[0]}
            cost_change = None
    if scope not in ("market", "home"):
        raise InvalidInput("scope must be 'market' or 'home'")
    draws = int(draws)
    if draws < 1:
        raise InvalidInput("draws must be at least 1")
    lo, hi = take_up.bounds
    if lo < 0 or hi > 1:
        raise InvalidScenario(f"take_up distribution must lie within 0-1 (it spans {lo:g} to "
                              f"{hi:g})")
    if cost_change is not None:
        clo, chi = cost_change.bounds
        if clo < -1:
            raise InvalidScenario("cost_change distribution must lie above -1")
    values = model_values(scenario)
    values.pop("take_up", None)
    params = baseline.params.with_overrides(values)
    lv = levers(params)
    arrays = home_arrays(baseline.homes)
    beds = arrays[0]
    H = len(beds)
    lv0 = {**lv, "take_up": 0.0, "cost_change": 0.0}
    r0 = evaluate(*arrays, **lv0)
    A = r0["revenue"]  # revenue at take-up 0
    b = r0["cross_subsidy"]  # premium income that full take-up would remove
    c = r0["operating_cost"]  # operating cost before the cost change
    k = r0["capital_cost"]
    rng = np.random.default_rng(seed)
    T: np.ndarray | None = take_up.sample(rng, draws) if scope == "market" else None
    Q: np.ndarray | None = (cost_change.sample(rng, draws) if cost_change is not None
                            else None)
    q_fixed = lv["cost_change"]

    n_not = np.zeros(H)  # draws in which each home is not sustainable
    n_unv = np.zeros(H)
    beds_not = np.zeros(draws)
    beds_unv = np.zeros(draws)
    homes_not = np.zeros(draws)
    homes_unv = np.zeros(draws)
    homes_out = pd.DataFrame({"provider_id": baseline.homes["provider_id"].to_numpy(),
                              "name": baseline.homes["name"].to_numpy(),
                              baseline.capacity: beds})
    if Q is None:
        t1 = _thresholds(A - c * (1 + q_fixed) - k, b)
        t2 = _thresholds(A - c * (1 + q_fixed), b)
        homes_out["tipping_take_up_at_risk"] = np.where(np.isfinite(t1), t1, np.nan)
        homes_out["tipping_take_up_unviable"] = np.where(np.isfinite(t2), t2, np.nan)
        p_not_exact = 1.0 - take_up.cdf(t1)
        p_unv_exact = 1.0 - take_up.cdf(t2)
        homes_out["p_not_sustainable_exact"] = p_not_exact
        homes_out["p_unviable_exact"] = p_unv_exact
        if T is not None:  # market scope
            Ts = np.sort(T)
            n_not = (draws - np.searchsorted(Ts, t1, side="right")).astype(float)
            n_unv = (draws - np.searchsorted(Ts, t2, side="right")).astype(float)
            for thr, bed_out, home_out in ((t1, beds_not, homes_not), (t2, beds_unv, homes_unv)):
                order = np.argsort(thr, kind="stable")
                cum = np.concatenate([[0.0], np.cumsum(beds[order])])
                pos = np.searchsorted(thr[order], T, side="left")  # count of thresholds < T
                bed_out[:] = cum[pos]
                home_out[:] = pos
        else:
            # T > T1  <=>  U' < 1 - F(T1) for U' uniform: one uniform per home and draw.
            # Uniforms as raw 32-bit integers (2 per 64-bit output of the bit generator),
            # compared with p x 2^32: exact to 2^-32 and several times faster than floats.
            step = max(2, (CHUNK_CELLS // max(H, 1)) // 2 * 2)
            scale = 2.0 ** 32
            p1 = np.minimum(np.floor(p_not_exact * scale), scale - 1).astype(np.uint32)[:, None]
            p2 = np.minimum(np.floor(p_unv_exact * scale), scale - 1).astype(np.uint32)[:, None]
            full1, full2 = (p_not_exact >= 1.0)[:, None], (p_unv_exact >= 1.0)[:, None]
            buf = np.empty((H, step), np.float32)
            beds32 = beds.astype(np.float32)
            for s0 in range(0, draws, step):
                n = min(step, draws - s0)
                raw = rng.bit_generator.random_raw(H * ((n + 1) // 2))
                u = raw.view(np.uint32)[:H * n].reshape(H, n)
                for pk, full, n_out, bed_out, home_out in (
                        (p1, full1, n_not, beds_not, homes_not),
                        (p2, full2, n_unv, beds_unv, homes_unv)):
                    m = (u < pk) | full
                    b32 = buf[:, :n]
                    np.copyto(b32, m, casting="unsafe")
                    n_out += b32.sum(axis=1)
                    bed_out[s0:s0 + n] = beds32 @ b32
                    home_out[s0:s0 + n] = b32.sum(axis=0)
    else:
        T_all = T
        if T is not None:
            tlo, thi = float(T.min()), float(T.max())
        else:
            tlo, thi = take_up.bounds
        qlo, qhi = float(Q.min()), float(Q.max())
        # surplus is largest at (tlo, qlo) and smallest at (thi, qhi): b, c >= 0
        best_s = A - b * tlo - c * (1 + qlo) - k
        worst_s = A - b * thi - c * (1 + qhi) - k
        best_e = best_s + k
        worst_e = worst_s + k
        always_not, never_not = best_s < 0, worst_s >= 0
        always_unv, never_unv = best_e < 0, worst_e >= 0
        live = ~((always_not | never_not) & (always_unv | never_unv))
        idx = np.flatnonzero(live)
        settled_not, settled_unv = ~live & always_not, ~live & always_unv
        n_not[settled_not] = draws
        n_unv[settled_unv] = draws
        beds_not[:] = beds[settled_not].sum()
        beds_unv[:] = beds[settled_unv].sum()
        homes_not[:] = settled_not.sum()
        homes_unv[:] = settled_unv.sum()
        Al, bl, cl, kl, bedl = A[idx], b[idx], c[idx], k[idx], beds[idx]
        step = max(1, CHUNK_CELLS // max(len(idx), 1))
        # ebitdarm < 0  <=>  b T + c Q > A - c;  surplus < 0  <=>  b T + c Q > A - c - k
        # float32 halves the memory traffic; a class flips only where b T + c Q lands within
        # ~1e-7 relative of the limit, which a continuous draw hits with probability ~0.
        lim_e = (Al - cl).astype(np.float32)[:, None]
        lim_s = (Al - cl - kl).astype(np.float32)[:, None]
        bc = np.stack([bl, cl], axis=1).astype(np.float32)
        buf = np.empty((len(idx), step), np.float32)
        bed32 = bedl.astype(np.float32)
        for s0 in range(0, draws, step):
            n = min(step, draws - s0)
            if T_all is not None:
                # one matrix product (BLAS) gives b T + c Q for every home and draw
                load = bc @ np.stack([T_all[s0:s0 + n], Q[s0:s0 + n]]).astype(np.float32)
            else:
                load = (bl[:, None] * take_up.sample(rng, (len(idx), n))
                        + cl[:, None] * Q[None, s0:s0 + n])
            for lim, n_out, bed_out, home_out in ((lim_s, n_not, beds_not, homes_not),
                                                  (lim_e, n_unv, beds_unv, homes_unv)):
                b32 = buf[:, :n]
                np.greater(load, lim, out=b32, casting="unsafe")
                n_out[idx] += b32.sum(axis=1)
                bed_out[s0:s0 + n] += bed32 @ b32
                home_out[s0:s0 + n] += b32.sum(axis=0)
    homes_out["p_sustainable"] = 1.0 - n_not / draws
    homes_out["p_at_risk"] = (n_not - n_unv) / draws
    homes_out["p_unviable"] = n_unv / draws
    homes_out["p_not_sustainable"] = n_not / draws
    market = pd.DataFrame({
        f"{baseline.capacity}_at_risk": beds_not - beds_unv,
        f"{baseline.capacity}_unviable": beds_unv,
        f"{baseline.capacity}_not_sustainable": beds_not,
        "homes_at_risk": homes_not - homes_unv, "homes_unviable": homes_unv,
        "homes_not_sustainable": homes_not,
    })
    if T is not None:
        market.insert(0, "take_up", T)
    if Q is not None:
        market.insert(1 if T is not None else 0, "cost_change", Q)
    return MonteCarloResult(draws, seed, scope, take_up, cost_change, homes_out, market,
                            time.perf_counter() - start, values,
                            baseline.capacity)
