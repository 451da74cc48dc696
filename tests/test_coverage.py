"""The coverage LP (methodology s3) on instances small enough to check by hand, plus properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.errors import ImportRejected, InvalidInput, OptimisationError, UnknownEntity
from market.parameters import ParameterSet
from optimizer.coverage import CoverageModel
from optimizer.travel import tau_minutes

KM_LAT = 180 / (np.pi * 6371.0088)  # degrees of latitude per km on the haversine sphere


def zone_frame(rows):
    return pd.DataFrame(rows, columns=["zone_id", "lat", "lon", "rurality", "demand_hours"])


def prov_frame(rows):
    return pd.DataFrame(rows, columns=["provider_id", "lat", "lon", "capacity_hours"])


def one_provider_two_zones(capacity=1000.0):
    # A at the base (t = 5 min), B 15 km north (t = 5 + 20 = 25 min)
    zones = zone_frame([["A", 50.0, -3.0, "urban", 100.0],
                        ["B", 50.0 + 15 * KM_LAT, -3.0, "village", 50.0]])
    provs = prov_frame([["P", 50.0, -3.0, capacity]])
    return zones, provs


TAU_A = float(tau_minutes(5.0, 5.0))  # 8.888...
TAU_B = float(tau_minutes(25.0, 12.0))  # 27.111...


def test_one_provider_two_zones_all_met():
    zones, provs = one_provider_two_zones()
    m = CoverageModel.from_frames(zones, provs).solve("cbc")
    # phase 2 may leave unmet up to the tolerance of 1e-7 of demand (methodology s3)
    assert m.unmet_hours == pytest.approx(0, abs=1e-7 * 150 * 1.01)
    assert m.coverage == pytest.approx(1.0)
    assert m.travel_hours == pytest.approx((100 * TAU_A + 50 * TAU_B) / 60, rel=1e-6)
    p = m.providers.iloc[0]
    assert p["used_hours"] == pytest.approx(100 * (1 + TAU_A / 60) + 50 * (1 + TAU_B / 60))
    assert p["utilisation"] == pytest.approx(p["used_hours"] / 1000)
    z = m.zones.set_index("zone_id")
    assert z.loc["B", "travel_minutes_per_contact_hour"] == pytest.approx(TAU_B)
    # the marginal contact hour in a zone costs its tau in travel
    assert z.loc["A", "marginal_travel_hours"] == pytest.approx(TAU_A / 60, rel=1e-6)
    assert z.loc["B", "marginal_travel_hours"] == pytest.approx(TAU_B / 60, rel=1e-6)
    assert set(m.assignment.columns) >= {"zone_id", "provider_id", "contact_hours",
                                         "t_minutes", "tau"}
    assert m.assignment.set_index("zone_id").loc["B", "t_minutes"] == pytest.approx(25.0)


def test_capacity_binding_serves_the_cheaper_zone_first():
    zones, provs = one_provider_two_zones(capacity=120.0)
    m = CoverageModel.from_frames(zones, provs).solve("highs")
    z = m.zones.set_index("zone_id")
    assert z.loc["A", "met_hours"] == pytest.approx(100, rel=1e-6)
    left = 120 - 100 * (1 + TAU_A / 60)
    # less up to the tolerance (1e-7 of demand) that phase 2 may leave unmet
    assert z.loc["B", "met_hours"] == pytest.approx(left / (1 + TAU_B / 60), abs=2e-5)
    assert m.providers["used_hours"].iloc[0] == pytest.approx(120, abs=1e-4)
    assert m.care_gaps["zone_id"].tolist() == ["B"]
    # one more hour in B would go unmet: no travel; one more in A displaces B's care
    assert z.loc["B", "marginal_travel_hours"] == pytest.approx(0, abs=1e-7)
    ratio = (1 + TAU_A / 60) / (1 + TAU_B / 60)
    assert z.loc["A", "marginal_travel_hours"] == pytest.approx(
        TAU_A / 60 - ratio * TAU_B / 60, rel=1e-6)


def test_unreachable_zone_is_all_unmet_and_listed():
    zones, provs = one_provider_two_zones()
    zones.loc[2] = ["far", 52.0, -3.0, "sparse", 30.0]
    m = CoverageModel.from_frames(zones, provs).solve("cbc")
    z = m.zones.set_index("zone_id")
    assert z.loc["far", "unmet_hours"] == pytest.approx(30)
    assert z.loc["far", "reachable_providers"] == 0
    assert m.unmet_hours == pytest.approx(30, rel=1e-6)
    assert m.to_dict()["care_gaps"][0]["zone_id"] == "far"


def test_max_travel_minutes_and_provider_limit():
    zones, provs = one_provider_two_zones()
    m = CoverageModel.from_frames(zones, provs, max_travel_minutes=20).solve()
    assert m.zones.set_index("zone_id").loc["B", "unmet_hours"] == pytest.approx(50)
    provs["max_travel_minutes"] = [20.0]
    m = CoverageModel.from_frames(zones, provs).solve()
    assert m.unmet_hours == pytest.approx(50, rel=1e-6)


def test_fair_variant_changes_the_answer():
    zones, provs = one_provider_two_zones(capacity=120.0)
    std = CoverageModel.from_frames(zones, provs).solve("highs")
    fair = CoverageModel.from_frames(zones, provs, variant="fair").solve("highs")
    # standard: A fully met, B mostly unmet; fair: both lose the same share
    share = fair.zones["unmet_share"].to_numpy()
    assert share[0] == pytest.approx(share[1], abs=1e-6)
    assert fair.largest_unmet_share == pytest.approx(share[0], abs=1e-6)
    s = share[0]
    used = (1 - s) * (100 * (1 + TAU_A / 60) + 50 * (1 + TAU_B / 60))
    assert used == pytest.approx(120, rel=1e-6)
    assert fair.unmet_hours > std.unmet_hours + 1
    assert std.zones["unmet_share"].max() > s + 0.5
    assert fair.to_dict()["variant"] == "fair"


def test_scenario_levers():
    zones, provs = one_provider_two_zones(capacity=120.0)
    provs.loc[1] = ["Q", 50.0 + 15 * KM_LAT, -3.0, 60.0]
    base = CoverageModel.from_frames(zones, provs).solve()
    exit_ = CoverageModel.from_frames(zones, provs, removed_providers=["Q"]).solve()
    assert exit_.unmet_hours > base.unmet_hours
    assert "Q" not in exit_.providers["provider_id"].tolist()
    more = CoverageModel.from_frames(zones, provs, capacity_changes={"P": 500}).solve()
    assert more.unmet_hours == pytest.approx(0, abs=2e-5)
    added = CoverageModel.from_frames(
        zones, provs, removed_providers=["Q"],
        added_bases=pd.DataFrame({"site_id": ["S"], "lat": [50.0 + 15 * KM_LAT],
                                  "lon": [-3.0], "capacity_hours": [60.0]})).solve()
    assert added.unmet_hours == pytest.approx(base.unmet_hours, rel=1e-6)
    assert added.providers.set_index("provider_id").loc["S", "added"]
    # longer visits mean fewer trips per contact hour, so less travel
    longer = CoverageModel.from_frames(zones, provs, params=ParameterSet(
        {"visit_minutes": 60, "visits_per_run": 8})).solve()
    assert longer.unmet_hours < base.unmet_hours
    with pytest.raises(UnknownEntity, match="nobody"):
        CoverageModel.from_frames(zones, provs, removed_providers=["nobody"])
    with pytest.raises(UnknownEntity, match="ghost"):
        CoverageModel.from_frames(zones, provs, capacity_changes={"ghost": 1})


def test_travel_matrix_overrides_and_calibrates():
    zones, provs = one_provider_two_zones()
    zones.loc[2] = ["C", np.nan, np.nan, "urban", 10.0]  # no coordinates: matrix only
    travel = pd.DataFrame({"provider_id": ["P", "P", "P"], "zone_id": ["A", "B", "C"],
                           "minutes": [7.0, 40.0, 12.0]})
    m = CoverageModel.from_frames(zones, provs, travel).solve()
    a = m.assignment.set_index("zone_id")
    assert a.loc["C", "t_minutes"] == 12.0 and a.loc["B", "t_minutes"] == 40.0
    assert (a["source"] == "matrix").all()
    assert m.to_dict()["travel_fit"] is None or m.to_dict()["travel_fit"]["pairs"] == 2
    assert any("no coordinates" in w for w in m.warnings)


def test_null_demand_counts_as_zero_with_a_warning():
    zones, provs = one_provider_two_zones()
    zones["demand_hours"] = [100.0, None]
    m = CoverageModel.from_frames(zones, provs).solve()
    assert m.demand_hours == pytest.approx(100)
    assert any("no demand_hours" in w for w in m.to_dict()["warnings"])


def test_bad_input_is_reported_clearly():
    zones, provs = one_provider_two_zones()
    with pytest.raises(InvalidInput, match="no zones"):
        CoverageModel.from_frames(zones.iloc[0:0], provs)
    z = zones.copy()
    z["demand_hours"] = [-5.0, 1.0]
    with pytest.raises(InvalidInput, match=r"negative: A \(-5\)"):
        CoverageModel.from_frames(z, provs)
    p = provs.copy()
    p["capacity_hours"] = [np.nan]
    with pytest.raises(InvalidInput, match="capacity_hours"):
        CoverageModel.from_frames(zones, p)
    p["capacity_hours"] = [-1.0]
    with pytest.raises(InvalidInput, match=r"P \(-1\)"):
        CoverageModel.from_frames(zones, p)
    with pytest.raises(ImportRejected, match="unknown zone 'nowhere'"):
        CoverageModel.from_frames(zones, provs, pd.DataFrame(
            {"provider_id": ["P"], "zone_id": ["nowhere"], "minutes": [3]}))
    with pytest.raises(ImportRejected, match="cannot be negative"):
        CoverageModel.from_frames(zones, provs, pd.DataFrame(
            {"provider_id": ["P"], "zone_id": ["A"], "minutes": [-3]}))
    with pytest.raises(InvalidInput, match="unknown variant"):
        CoverageModel.from_frames(zones, provs, variant="greedy")
    with pytest.raises(InvalidInput, match="unknown solver"):
        CoverageModel.from_frames(zones, provs).solve("gurobi")


def test_degenerate_markets_give_the_correct_answer():
    zones, provs = one_provider_two_zones()
    none = CoverageModel.from_frames(zones, provs.iloc[0:0]).solve()
    assert none.unmet_hours == pytest.approx(150) and none.met_hours == 0
    assert any("no home-care providers" in w for w in none.warnings)
    zero_cap = CoverageModel.from_frames(zones, provs.assign(capacity_hours=0.0)).solve()
    assert zero_cap.unmet_hours == pytest.approx(150, rel=1e-6)
    assert zero_cap.to_dict()["providers"][0]["utilisation"] is None
    no_demand = CoverageModel.from_frames(zones.assign(demand_hours=0.0), provs).solve()
    assert no_demand.coverage is None and no_demand.unmet_hours == 0
    assert any("total demand is zero" in w for w in no_demand.warnings)


def test_time_limit_is_an_optimisation_error():
    zones, provs = one_provider_two_zones()
    with pytest.raises(OptimisationError, match="time limit"):
        CoverageModel.from_frames(zones, provs).solve("highs", time_limit=1e-9)


def test_to_dict_has_the_issue_keys():
    zones, provs = one_provider_two_zones(capacity=120)
    d = CoverageModel.from_frames(zones, provs).solve().to_dict()
    for key in ("demand_hours", "met_hours", "unmet_hours", "coverage", "travel_hours",
                "travel_minutes_per_contact_hour", "status", "solver", "variant",
                "parameters", "zones", "providers"):
        assert key in d
    assert {"zone_id", "demand_hours", "met_hours", "unmet_hours",
            "travel_minutes_per_contact_hour", "marginal_travel_hours", "rurality",
            "reachable_providers"} <= set(d["zones"][0])
    assert {"provider_id", "capacity_hours", "contact_hours", "used_hours", "utilisation",
            "travel_minutes_per_contact_hour"} <= set(d["providers"][0])
    assert d["parameters"]["max_travel_minutes"] == 45.0
    import json

    json.dumps(d, allow_nan=False)


def random_market(seed, nz=12, npv=4, supply=0.6):
    rng = np.random.default_rng(seed)
    zones = zone_frame({"zone_id": [f"z{i}" for i in range(nz)],
                        "lat": 50 + rng.uniform(0, .4, nz), "lon": -3 + rng.uniform(0, .5, nz),
                        "rurality": rng.choice(["urban", "town", "village", "sparse"], nz),
                        "demand_hours": rng.uniform(20, 100, nz)})
    demand = zones["demand_hours"].sum()
    provs = prov_frame({"provider_id": [f"p{j}" for j in range(npv)],
                        "lat": 50 + rng.uniform(0, .4, npv), "lon": -3 + rng.uniform(0, .5, npv),
                        "capacity_hours": rng.uniform(0.5, 1.5, npv) * supply * demand / npv})
    return zones, provs


@pytest.mark.parametrize("variant", ["standard", "fair"])
def test_marginal_travel_hours_match_finite_differences(variant):
    zones, provs = random_market(1)
    m = CoverageModel.from_frames(zones, provs, variant=variant).solve("highs")
    h = 1e-3
    for i in range(len(zones)):
        up, down = zones.copy(), zones.copy()
        up.loc[i, "demand_hours"] += h
        down.loc[i, "demand_hours"] -= h
        t_up = CoverageModel.from_frames(up, provs, variant=variant).solve("highs").travel_hours
        t_dn = CoverageModel.from_frames(down, provs, variant=variant).solve(
            "highs").travel_hours
        fd = (t_up - t_dn) / (2 * h)
        assert m.zones["marginal_travel_hours"].iloc[i] == pytest.approx(fd, abs=2e-4)


@pytest.mark.parametrize("variant", ["standard", "fair"])
@pytest.mark.parametrize("seed", [1, 2])
def test_cbc_and_highs_agree(variant, seed):
    zones, provs = random_market(seed, nz=20, npv=5)
    a = CoverageModel.from_frames(zones, provs, variant=variant).solve("cbc")
    b = CoverageModel.from_frames(zones, provs, variant=variant).solve("highs")
    c = CoverageModel.from_frames(zones, provs, variant=variant).solve("ipm")
    for other in (b, c):
        assert a.unmet_hours == pytest.approx(other.unmet_hours, rel=1e-6, abs=1e-5)
        assert a.travel_hours == pytest.approx(other.travel_hours, rel=1e-6)
        np.testing.assert_allclose(a.zones["unmet_hours"], other.zones["unmet_hours"],
                                   atol=1e-4)
        np.testing.assert_allclose(a.zones["marginal_travel_hours"],
                                   other.zones["marginal_travel_hours"], atol=1e-5)


def test_column_generation_gives_the_full_lp_optimum():
    zones, provs = random_market(5, nz=60, npv=20, supply=0.8)
    cg = CoverageModel.from_frames(zones, provs)
    cg.initial_pairs_per_zone = 2
    cg.solve("highs")
    full = CoverageModel.from_frames(zones, provs)
    full.initial_pairs_per_zone = None
    full.steer = 0.0
    full.solve("highs")
    assert cg.pricing_rounds > 0
    assert cg.unmet_hours == pytest.approx(full.unmet_hours, rel=1e-7)
    assert cg.travel_hours == pytest.approx(full.travel_hours, rel=1e-7)
    np.testing.assert_allclose(cg.zones["marginal_travel_hours"],
                               full.zones["marginal_travel_hours"], atol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), supply=st.floats(0.1, 2.0), extra=st.floats(0.0, 1.0))
def test_properties_met_within_demand_capacity_respected_monotone(seed, supply, extra):
    zones, provs = random_market(seed, nz=8, npv=3, supply=supply)
    m = CoverageModel.from_frames(zones, provs).solve("highs")
    z = m.zones
    assert (z["met_hours"] <= z["demand_hours"] + 1e-6).all()
    assert (z["unmet_hours"] >= -1e-9).all()
    np.testing.assert_allclose(z["met_hours"] + z["unmet_hours"], z["demand_hours"], atol=1e-6)
    p = m.providers
    assert (p["used_hours"] <= p["capacity_hours"] * (1 + 1e-7) + 1e-6).all()
    more = provs.assign(capacity_hours=provs["capacity_hours"] * (1 + extra))
    m2 = CoverageModel.from_frames(zones, more).solve("highs")
    assert m2.met_hours >= m.met_hours - 1e-6 * m.demand_hours
