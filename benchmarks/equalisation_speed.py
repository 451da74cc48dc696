"""Time the take-up sweep and a 10,000-draw Monte Carlo against a plain per-home Python loop.

Markets: the embedded sample market (150 care homes) and the CQC October 2015 extract for
England (16,191 homes with beds, fees and costs from methodology s8; market/calibration.py).
The loop reference runs the s5 formulas home by home in plain Python on the same inputs; where
it would take too long (Monte Carlo on the 2015 extract) it runs a subset of draws and its time
is scaled to the full run. Every vectorised result is checked against the loop on the subset.

Usage: .venv/bin/python benchmarks/equalisation_speed.py [--draws 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from market.calibration import load_care_homes_2015
from market.equalisation import Baseline
from market.scenarios import sweep
from market.uncertainty import Distribution, monte_carlo

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = ROOT.parent / "shared" / "data" / "cqc" / "care_homes_oct2015_england.csv"
SCENARIO = {"convergence": 0.25, "la_fee_change": 0.03}


def loop_surplus_ebitdarm(h, take_up, convergence, la_fee_change, cost_change):
    """Plain Python s5 for one home (a tuple of floats)."""
    B, o, s, Fsf, Fla, C, K = h
    Fla2 = Fla * (1 + la_fee_change)
    Fsf2 = max(Fsf - convergence * (Fsf - Fla2), Fla2)
    s2 = s * (1 - take_up)
    rw = 52 * o * B
    revenue = rw * (s2 * Fsf2 + (1 - s2) * Fla2)
    ebitdarm = revenue - rw * C * (1 + cost_change)
    return ebitdarm - 52 * B * K, ebitdarm


def loop_sweep(rows, values):
    out = []
    for T in values:
        beds_not = 0.0
        for h in rows:
            surplus, _ = loop_surplus_ebitdarm(h, T, SCENARIO["convergence"],
                                               SCENARIO["la_fee_change"], 0.0)
            if surplus < 0:
                beds_not += h[0]
        out.append(beds_not)
    return np.array(out)


def loop_montecarlo(rows, T, Q):
    beds_not = np.zeros(len(T))
    for d in range(len(T)):
        total = 0.0
        for h in rows:
            surplus, _ = loop_surplus_ebitdarm(h, T[d], SCENARIO["convergence"],
                                               SCENARIO["la_fee_change"],
                                               0.0 if Q is None else Q[d])
            if surplus < 0:
                total += h[0]
        beds_not[d] = total
    return beds_not


def timed(fn, *args, repeat=3, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench(name: str, bl: Baseline, draws: int, seed: int, loop_budget_cells: float) -> None:
    rows = [tuple(map(float, r)) for r in bl.homes[
        ["beds", "occupancy", "self_funder_share", "self_funder_fee", "la_fee",
         "cost_per_resident_week", "capital_cost_per_bed_week"]].to_numpy()]
    H = len(rows)
    print(f"\n== {name}: {H} homes, {bl.homes['beds'].sum():,.0f} beds")
    values = np.round(np.arange(21) * 0.05, 10)
    t_vec, res = timed(sweep, bl, "take_up", values, SCENARIO)
    t_loop, ref = timed(loop_sweep, rows, values, repeat=1)
    vec = (res.table["beds_at_risk"] + res.table["beds_unviable"]).to_numpy()
    assert np.allclose(vec, ref), "sweep disagrees with the loop"
    print(f"sweep take-up 0..1 step 0.05 (21 values, tipping points too): {t_vec * 1e3:8.1f} ms"
          f"   loop {t_loop * 1e3:9.1f} ms   ratio {t_loop / t_vec:8.1f}x")
    for label, cost, scope in (("take-up beta(2,3)", None, "market"),
                               ("take-up beta(2,3) + cost triangular(0,0.05,0.12)",
                                "triangular:0,0.05,0.12", "market"),
                               ("take-up beta(2,3), per home", None, "home")):
        t_vec, mc = timed(monte_carlo, bl, "beta:2,3", cost, draws, seed, SCENARIO, scope)
        if scope == "market":
            sub = max(1, min(draws, int(loop_budget_cells // H)))
            T = mc.market["take_up"].to_numpy()[:sub]
            Q = mc.market["cost_change"].to_numpy()[:sub] if cost else None
            t_sub, ref = timed(loop_montecarlo, rows, T, Q, repeat=1)
            assert np.allclose(mc.market["beds_not_sustainable"].to_numpy()[:sub], ref), label
            t_loop = t_sub * draws / sub
            note = f"(loop on {sub} draws, scaled)" if sub < draws else "(loop, all draws)"
        else:
            # per-home draws: the loop draws one take-up per home and draw
            sub = max(1, min(draws, int(loop_budget_cells // H)))
            rng = np.random.default_rng(seed)
            dist = Distribution.parse("beta:2,3")

            def per_home(sub=sub, rng=rng, dist=dist):
                out = np.zeros(sub)
                for d in range(sub):
                    for h in rows:
                        surplus, _ = loop_surplus_ebitdarm(
                            h, float(dist.sample(rng, 1)[0]), SCENARIO["convergence"],
                            SCENARIO["la_fee_change"], 0.0)
                        if surplus < 0:
                            out[d] += h[0]
                return out

            t_sub, _ = timed(per_home, repeat=1)
            t_loop = t_sub * draws / sub
            note = f"(loop on {sub} draws, scaled)"
        q = mc.quantiles()["beds_not_sustainable"]
        print(f"Monte Carlo {draws:,} draws, {label}: {t_vec * 1e3:8.1f} ms   loop "
              f"{t_loop:9.2f} s {note}   ratio {t_loop / t_vec:9.0f}x   beds not sustainable "
              f"median {q['median']:,.0f} [{q['p05']:,.0f}, {q['p95']:,.0f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop-budget", type=float, default=2e6,
                    help="home x draw cells the plain loop may run before it is scaled")
    args = ap.parse_args()
    from data.generate import generate

    sample = generate()["care-homes"]
    bench("sample market", Baseline.from_frame(sample), args.draws, args.seed, args.loop_budget)
    if EXTRACT.exists():
        t = time.perf_counter()
        ext = load_care_homes_2015(EXTRACT, seed=42)
        bl = Baseline.from_frame(ext.homes)
        print(f"\n(2015 extract loaded and checked in {time.perf_counter() - t:.2f} s; "
              f"{len(ext.excluded)} homes with 0 beds left out)")
        bench("England 2015 extract", bl, args.draws, args.seed, args.loop_budget)
    else:
        print(f"\n{EXTRACT} not found: the 2015 benchmark is skipped")


if __name__ == "__main__":
    main()
