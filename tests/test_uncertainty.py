"""Monte Carlo over uncertain take-up: seeded, agrees with a plain loop and the closed form,
fast on the 2015 England extract."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from market.equalisation import Baseline
from market.errors import InvalidScenario
from market.uncertainty import Distribution, monte_carlo
from market.viability import assess
from tests.conftest import shared


def small_market(n: int = 60, seed: int = 3) -> Baseline:
    rng = np.random.default_rng(seed)
    la = rng.uniform(600, 900, n)
    frame = pd.DataFrame({
        "provider_id": [f"H{i}" for i in range(n)], "name": "home",
        "beds": rng.integers(5, 90, n), "occupancy": rng.uniform(0.7, 0.98, n),
        "self_funder_share": rng.uniform(0, 0.9, n), "la_fee": la,
        "self_funder_fee": la * rng.uniform(1.0, 1.7, n),
        "cost_per_resident_week": la * rng.uniform(0.8, 1.2, n),
        "capital_cost_per_bed_week": rng.uniform(50, 150, n)})
    return Baseline.from_frame(frame)


def loop_reference(bl: Baseline, T: np.ndarray, Q: np.ndarray | None, scenario: dict):
    """Plain per-draw loop through assess(): beds not sustainable and unviable per draw."""
    not_s, unv = [], []
    for d in range(len(T)):
        sc = dict(scenario, take_up=float(T[d]))
        if Q is not None:
            sc["cost_change"] = float(Q[d])
        r = assess(bl.homes, sc)
        not_s.append(r.loc[r["class"] != "sustainable", "beds"].sum())
        unv.append(r.loc[r["class"] == "unviable", "beds"].sum())
    return np.array(not_s), np.array(unv)


def test_seeded_runs_repeat_and_seeds_differ():
    bl = small_market()
    a = monte_carlo(bl, "beta:2,3", draws=500, seed=7)
    b = monte_carlo(bl, "beta:2,3", draws=500, seed=7)
    c = monte_carlo(bl, "beta:2,3", draws=500, seed=8)
    pd.testing.assert_frame_equal(a.market, b.market)
    pd.testing.assert_frame_equal(a.homes, b.homes)
    assert not a.market["take_up"].equals(c.market["take_up"])


@pytest.mark.parametrize("cost", [None, "triangular:0,0.05,0.15"])
def test_market_scope_matches_a_plain_loop(cost):
    bl = small_market()
    scenario = {"convergence": 0.3, "la_fee_change": 0.02}
    res = monte_carlo(bl, "beta:2,3", cost, draws=200, seed=1, scenario=scenario)
    Q = res.market["cost_change"].to_numpy() if cost else None
    ref_not, ref_unv = loop_reference(bl, res.market["take_up"].to_numpy(), Q, scenario)
    assert np.allclose(res.market["beds_not_sustainable"], ref_not)
    assert np.allclose(res.market["beds_unviable"], ref_unv)
    assert np.allclose(res.market["beds_at_risk"], ref_not - ref_unv)
    p = res.homes["p_at_risk"] + res.homes["p_unviable"] + res.homes["p_sustainable"]
    assert np.allclose(p, 1.0)


def test_probabilities_close_to_the_closed_form():
    bl = small_market()
    for scope in ("market", "home"):
        res = monte_carlo(bl, "triangular:0.1,0.4,0.9", draws=20_000, seed=2, scope=scope)
        h = res.homes
        assert np.abs(h["p_not_sustainable"] - h["p_not_sustainable_exact"]).max() < 0.02
        assert np.abs(h["p_unviable"] - h["p_unviable_exact"]).max() < 0.02


def test_home_scope_narrows_the_market_interval():
    bl = small_market(200)
    m = monte_carlo(bl, "uniform:0,1", draws=2000, seed=4).quantiles()
    h = monte_carlo(bl, "uniform:0,1", draws=2000, seed=4, scope="home").quantiles()
    width = lambda q: q["beds_not_sustainable"]["p95"] - q["beds_not_sustainable"]["p05"]  # noqa: E731
    assert width(h) < width(m)
    assert h["beds_not_sustainable"]["median"] == pytest.approx(
        m["beds_not_sustainable"]["mean"], rel=0.1)


def test_fixed_take_up_is_the_deterministic_run():
    bl = small_market()
    res = monte_carlo(bl, "0.6", draws=10, seed=0)
    det = assess(bl.homes, {"take_up": 0.6})
    want = det.loc[det["class"] != "sustainable", "beds"].sum()
    assert (res.market["beds_not_sustainable"] == want).all()
    assert set(res.homes["p_not_sustainable"]) <= {0.0, 1.0}


def test_distributions():
    d = Distribution.parse("beta:2,5")
    assert d.mean() == pytest.approx(2 / 7)
    assert d.cdf([0.0, 1.0]).tolist() == [0.0, 1.0]
    t = Distribution.parse("triangular:0,0.2,1")
    assert t.cdf(0.2) == pytest.approx(0.2)
    assert t.ppf(t.cdf(0.7)) == pytest.approx(0.7)
    assert Distribution.parse({"kind": "uniform", "params": [0, 0.5]}).bounds == (0, 0.5)
    for bad in ("beta:0,1", "triangular:0.5,0.1,1", "uniform:1,0", "normal:0,1", "nope"):
        with pytest.raises(InvalidScenario):
            Distribution.parse(bad)
    with pytest.raises(InvalidScenario):
        monte_carlo(small_market(), "uniform:0,1.5", draws=10)


def test_ten_thousand_draws_over_the_2015_extract_under_two_seconds():
    from market.calibration import load_care_homes_2015

    ext = load_care_homes_2015(shared("cqc", "care_homes_oct2015_england.csv"))
    bl = Baseline.from_frame(ext.homes)
    assert len(bl.homes) + len(ext.excluded) == 16_200
    assert bl.homes["beds"].sum() == 434_313
    start = time.perf_counter()
    res = monte_carlo(bl, "beta:2,3", draws=10_000, seed=0,
                      scenario={"convergence": 0.25, "la_fee_change": 0.03})
    took = time.perf_counter() - start
    assert took < 2.0
    q = res.quantiles()["beds_not_sustainable"]
    assert q["p05"] <= q["median"] <= q["p95"]
