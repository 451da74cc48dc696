"""Location models: published spopt and OR-Library results, and home-care site selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.errors import InvalidInput
from optimizer.location import (
    LSCP,
    MCLP,
    PMedian,
    SiteSelection,
    costs_from_long,
    pmedian_heuristic,
)
from optimizer.orlib import read_optima, read_pmed
from optimizer.pmedian import evaluate
from tests.conftest import shared


@pytest.fixture(scope="module")
def sf():
    frame = pd.read_csv(shared("benchmarks", "spopt_sf",
                               "SF_network_distance_candidateStore_16_censusTract_205_new.csv"),
                        dtype={"DestinationName": str})
    return costs_from_long(frame, "DestinationName", "name", "distance", "demand")


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize("formulation", ["auto", "assignment", "lagrangian"])
def test_spopt_sf_pmedian(sf, solver, formulation):
    costs, w, dn, sn = sf
    m = PMedian.from_cost_matrix(costs, 4, w, dn, sn, formulation=formulation).solve(solver)
    assert m.mean_cost == pytest.approx(2982.1268579890657, rel=1e-12)
    assert m.objective == pytest.approx(2_848_268_129.71, rel=1e-11)
    assert sorted(m.sites, key=lambda s: int(s.split("_")[1])) == [
        "Store_2", "Store_11", "Store_12", "Store_15"]


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_spopt_sf_mclp(sf, solver):
    costs, w, dn, sn = sf
    m = MCLP.from_cost_matrix(costs, 4, 5000, w, dn, sn).solve(solver)
    assert m.uncovered_count == 21
    assert m.covered_share == pytest.approx(0.897561, abs=1e-6)
    assert m.objective == pytest.approx(875_247)
    assert w.sum() == pytest.approx(955_113)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_spopt_sf_lscp(sf, solver):
    costs, w, dn, sn = sf
    m = LSCP.from_cost_matrix(costs, 5000, dn, sn).solve(solver)
    assert m.objective == 8
    assert (costs[:, m.site_indices] <= 5000).any(axis=1).all()


def test_lscp_infeasible_and_bad_matrices_are_clear():
    with pytest.raises(InvalidInput, match="no site within radius 1"):
        LSCP.from_cost_matrix(np.array([[0.5, 3.0], [2.0, 4.0]]), 1.0, ["a", "b"])
    with pytest.raises(InvalidInput, match="negative"):
        PMedian.from_cost_matrix(np.array([[1.0, -2.0]]), 1)
    with pytest.raises(InvalidInput, match="missing"):
        PMedian.from_cost_matrix(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(InvalidInput, match="p must be between"):
        PMedian.from_cost_matrix(np.array([[1.0, 2.0]]), 3)


def test_pmedian_by_hand():
    # three points on a line at 0, 1, 10: one site -> the middle point 1 (cost 1 + 9)
    x = np.array([0.0, 1.0, 10.0])
    costs = np.abs(x[:, None] - x[None, :])
    m = PMedian.from_cost_matrix(costs, 1).solve("cbc")
    assert m.sites == ["1"] and m.objective == 10
    m = PMedian.from_cost_matrix(costs, 2, weights=[1, 5, 1]).solve("highs")
    assert m.objective == 1 and sorted(m.sites) == ["1", "2"]


def test_orlib_reader_last_repeated_edge_wins(tmp_path):
    f = tmp_path / "tiny.txt"
    f.write_text("3 3 1\n1 2 5\n2 3 1\n2 1 2\n")
    inst = read_pmed(f)
    assert inst.n == 3 and inst.p == 1
    assert inst.costs[0, 1] == 2 and inst.costs[0, 2] == 3 and inst.costs[2, 0] == 3


@pytest.mark.parametrize("name", ["pmed1", "pmed2", "pmed3", "pmed4", "pmed5"])
def test_orlib_pmed_optima(name):
    optima = read_optima(shared("benchmarks", "orlib", "pmedopt.txt"))
    inst = read_pmed(shared("benchmarks", "orlib", f"{name}.txt"))
    m = PMedian.from_cost_matrix(inst.costs, inst.p).solve("highs")
    assert m.objective == optima[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pmed6", "pmed7"])
def test_orlib_pmed_optima_larger(name):
    optima = read_optima(shared("benchmarks", "orlib", "pmedopt.txt"))
    inst = read_pmed(shared("benchmarks", "orlib", f"{name}.txt"))
    m = PMedian.from_cost_matrix(inst.costs, inst.p).solve("highs")
    assert m.objective == optima[name]


KM_LAT = 180 / (np.pi * 6371.0088)


def test_site_selection_opens_the_site_that_fills_the_gap():
    zones = pd.DataFrame({"zone_id": ["town", "moor"], "lat": [50.0, 50.0 + 40 * KM_LAT],
                          "lon": [-3.0, -3.0], "rurality": ["urban", "sparse"],
                          "demand_hours": [100.0, 40.0]})
    providers = pd.DataFrame({"provider_id": ["P"], "lat": [50.0], "lon": [-3.0],
                              "capacity_hours": [200.0]})
    sites = pd.DataFrame({"site_id": ["near_town", "on_moor", "between"],
                          "lat": [50.0, 50.0 + 40 * KM_LAT, 50.0 + 20 * KM_LAT],
                          "lon": [-3.0, -3.0, -3.0], "capacity_hours": [80.0, 80.0, 80.0]})
    for solver in ("cbc", "highs"):
        m = SiteSelection.from_frames(zones, providers, sites, k=1).solve(solver)
        # 'between' reaches the moor too (5 + 26.7 min) but 'on_moor' travels least
        assert m.opened == ["on_moor"]
        assert m.unmet_hours == pytest.approx(0, abs=1e-4)
        d = m.to_dict()
        assert d["variant"] == "site" and d["sites"] == ["on_moor"]
    none = SiteSelection.from_frames(zones, providers, sites, k=0).solve()
    assert none.opened == [] and none.unmet_hours == pytest.approx(40, rel=1e-6)


# ---- issue 12: radius formulation, incumbent heuristic, time-out reporting

@pytest.mark.parametrize("formulation", ["radius", "lagrangian", "auto"])
@pytest.mark.parametrize("name", ["pmed1", "pmed2", "pmed3", "pmed4", "pmed5", "pmed10"])
def test_orlib_lagrangian_and_radius_optima(name, formulation):
    optima = read_optima(shared("benchmarks", "orlib", "pmedopt.txt"))
    inst = read_pmed(shared("benchmarks", "orlib", f"{name}.txt"))
    m = PMedian.from_cost_matrix(inst.costs, inst.p, formulation=formulation)
    m.solve("highs", threads=1)
    assert m.status == "optimal"
    assert m.objective == optima[name]
    assert m.bound == m.objective and m.gap == 0.0
    d = m.to_dict()
    assert d["reduction"]["root_bound"] <= optima[name]
    assert d["formulation"] == (m.formulation if formulation == "auto" else formulation)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pmed6", "pmed26", "pmed32"])
def test_orlib_small_p_by_branch_and_bound(name):
    # p = 5 or 10, where the LP gap is widest: the instances that timed out before
    optima = read_optima(shared("benchmarks", "orlib", "pmedopt.txt"))
    inst = read_pmed(shared("benchmarks", "orlib", f"{name}.txt"))
    m = PMedian.from_cost_matrix(inst.costs, inst.p).solve(threads=1)
    assert m.formulation == "lagrangian" and m.status == "optimal"
    assert m.objective == optima[name]


def test_radius_formulation_by_hand():
    # points on a line at 0, 1, 5, 6; p = 2 opens one of {0, 1} and one of {5, 6}: cost 2
    x = np.array([0.0, 1.0, 5.0, 6.0])
    costs = np.abs(x[:, None] - x[None, :])
    for solver in ("highs", "cbc"):
        m = PMedian.from_cost_matrix(costs, 2, formulation="radius").solve(solver)
        assert m.objective == 2.0
        assert len({0, 1} & set(m.site_indices)) == 1
    # weights 1, 5, 1, 1 and p = 1: site 1 costs 1 + 0 + 4 + 5 = 10, site 0 costs 5+5+6 = 16
    m = PMedian.from_cost_matrix(costs, 1, weights=[1, 5, 1, 1], formulation="radius")
    assert m.solve("highs").sites == ["1"] and m.objective == 10.0


def test_reduced_radius_lp_levels_by_hand():
    from optimizer.pmedian import Reduction, reduced_radius_lp

    costs = np.array([[0.0, 2.0, 2.0], [3.0, 0.0, 1.0]])
    keep = np.ones((2, 3), bool)
    red = Reduction(np.zeros(3, bool), np.zeros(3, bool), keep)
    lp, cost, constant, pairs = reduced_radius_lp(costs, np.ones(2), 2, red)
    # p = 2 of 3: one of each point's 2 nearest sites is open; point 0 levels {0, 2} (sites 0;
    # 1 and 2 tied), point 1 levels {0, 1}: 4 level rows, one z each, steps 2 and 1, plus
    # the row sum x = p; constant 0 + 0
    assert pairs == 5 and lp.shape == (5, 5) and constant == 0.0
    assert list(cost[3:]) == [2.0, 1.0]
    # dropping pair (0, 0) leaves point 0 only its sites at 2: constant 2, no z
    keep[0, 0] = False
    lp, cost, constant, pairs = reduced_radius_lp(costs, np.ones(2), 2, red)
    assert constant == 2.0 and list(cost[3:]) == [1.0] and pairs == 4
    # a point with no pair kept: no better solution exists
    keep[0, :] = False
    assert reduced_radius_lp(costs, np.ones(2), 2, red) is None


def test_lagrangian_bound_and_reduction_by_hand():
    from optimizer.pmedian import LagrangianSearch

    # points at 0, 1, 10, 11 on a line; p = 2: the optimum opens one of {0, 1} and one of
    # {10, 11} at cost 2, the LP bound is 2 too, so the root proves it and reduction closes
    # nothing the optimum needs
    x = np.array([0.0, 1.0, 10.0, 11.0])
    costs = np.abs(x[:, None] - x[None, :])
    s = LagrangianSearch(costs, np.ones(4), 2, np.array([0, 1]))  # a poor start: cost 19
    assert s.integral and s.ub == 19.0
    root = s.root_bound()
    assert s.ub == 2.0 and root.bound <= 2.0 + 1e-9 and root.bound > s.cutoff
    assert len({0, 1} & set(s.sites)) == 1 and len({2, 3} & set(s.sites)) == 1
    assert s.branch_and_bound() and s.bound == 2.0


@pytest.mark.parametrize("formulation", ["lagrangian", "radius", "auto"])
def test_pmedian_formulations_by_hand(formulation):
    x = np.array([0.0, 1.0, 10.0])
    costs = np.abs(x[:, None] - x[None, :])
    m = PMedian.from_cost_matrix(costs, 1, formulation=formulation).solve("highs")
    assert m.sites == ["1"] and m.objective == 10 and m.status == "optimal"
    m = PMedian.from_cost_matrix(costs, 2, weights=[1, 5, 1], formulation=formulation)
    assert m.solve("highs").objective == 1 and sorted(m.sites) == ["1", "2"]
    assert m.bound == 1 and m.gap == 0.0
    # p = m opens every site at cost 0
    m = PMedian.from_cost_matrix(costs, 3, formulation=formulation).solve("cbc")
    assert m.objective == 0 and m.status == "optimal"


def test_auto_chooses_by_data_and_p():
    from optimizer.location import choose_formulation

    ints = np.array([[0.0, 3.0], [2.0, 0.0]])
    assert choose_formulation(ints, np.ones(2), 1) == "lagrangian"
    assert choose_formulation(ints, np.array([0.5, 1.0]), 1) == "radius"  # w c not integral
    assert choose_formulation(np.ones((30, 30)), np.ones(30), 21) == "radius"
    assert PMedian.from_cost_matrix(ints, 1).formulation == "lagrangian"
    with pytest.raises(InvalidInput, match="unknown p-median formulation"):
        PMedian.from_cost_matrix(ints, 1, formulation="covering")


def _brute_force(costs, w, p):
    from itertools import combinations

    return min(float((w * costs[:, list(s)].min(axis=1)).sum())
               for s in combinations(range(costs.shape[1]), p))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 8), m=st.integers(1, 7), integral=st.booleans())
def test_lagrangian_and_radius_equal_brute_force(data, n, m, integral):
    p = data.draw(st.integers(1, m))
    if integral:  # small integers: many ties, the hard case for levels and reduction tests
        cells = st.integers(0, 6).map(float)
        weights = st.integers(0, 3).map(float)
    else:
        cells = st.floats(0, 100, allow_nan=False, allow_infinity=False)
        weights = st.floats(0, 5, allow_nan=False, allow_infinity=False)
    costs = np.array(data.draw(st.lists(st.lists(cells, min_size=m, max_size=m),
                                        min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(weights, min_size=n, max_size=n)))
    best = _brute_force(costs, w, p)
    for formulation, solver in [("lagrangian", "highs"), ("radius", "highs"),
                                ("radius", "cbc")]:
        model = PMedian.from_cost_matrix(costs, p, w, formulation=formulation)
        model.solve(solver)
        assert model.status == "optimal"
        assert len(model.site_indices) == p
        assert model.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
        assert model.bound == model.objective and model.gap == 0.0


def test_heuristic_matches_enumeration():
    from itertools import combinations

    from optimizer.location import pmedian_heuristic

    rng = np.random.default_rng(3)
    pts = rng.random((12, 2))
    costs = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    w = rng.integers(1, 5, 12).astype(float)
    opened = pmedian_heuristic(costs, 3, w)
    value = (w * costs[:, opened].min(axis=1)).sum()
    best = min((w * costs[:, list(s)].min(axis=1)).sum() for s in combinations(range(12), 3))
    m = PMedian.from_cost_matrix(costs, 3, w, formulation="radius").solve("highs")
    assert m.objective == pytest.approx(best) and value >= best - 1e-9


@pytest.mark.parametrize("formulation", ["assignment", "radius", "lagrangian"])
def test_pmedian_time_out_reports_incumbent_bound_gap(formulation):
    # pmed36 (the longest of pmed1-40) cannot be proven in 0.05 s: the limit comes before
    # the first bound, so the heuristic's sites are reported with the limit asked for
    inst = read_pmed(shared("benchmarks", "orlib", "pmed36.txt"))
    m = PMedian.from_cost_matrix(inst.costs, inst.p, formulation=formulation)
    d = m.solve("highs", time_limit=0.05).to_dict()
    assert d["status"] == "time_limit" and d["time_limit"] == 0.05
    assert len(d["sites"]) == inst.p and d["objective"] >= 9934
    if d["bound"] is not None:
        assert d["bound"] <= 9934 + 1e-6
        assert d["gap"] == pytest.approx((d["objective"] - d["bound"]) / d["objective"])
    else:
        assert d["gap"] is None


def test_branch_and_bound_stopped_reports_its_least_open_bound():
    import time

    from optimizer.pmedian import LagrangianSearch

    # pmed26 needs branching (a 0.6% root gap): stop the search as it starts; the bound is
    # the least bound of the nodes left, at least the root's and at most the incumbent
    inst = read_pmed(shared("benchmarks", "orlib", "pmed26.txt"))
    w = np.ones(inst.n)
    s = LagrangianSearch(inst.costs, w, inst.p, pmedian_heuristic(inst.costs, inst.p, w))
    root = s.root_bound()
    assert root.bound <= 9917 and s.ub >= 9917 and root.bound < s.cutoff
    s.end = time.perf_counter() - 1.0
    assert s.branch_and_bound() is False
    assert root.bound - 1e-9 <= s.bound <= s.ub
    assert s.ub == evaluate(inst.costs, w, s.sites)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_spopt_sf_pmedian_radius(sf, solver):
    costs, w, dn, sn = sf
    m = PMedian.from_cost_matrix(costs, 4, w, dn, sn, formulation="radius").solve(solver)
    assert m.mean_cost == pytest.approx(2982.1268579890657, rel=1e-9)
    assert m.status == "optimal"
    assert sorted(m.sites, key=lambda s: int(s.split("_")[1])) == [
        "Store_2", "Store_11", "Store_12", "Store_15"]


def test_auto_is_highs_when_importable():
    from optimizer.lp import resolve_solver

    assert resolve_solver("auto", 10, integer=True) == "highs"
    assert resolve_solver("auto", 10_000) == "highs"
