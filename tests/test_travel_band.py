"""Travel uncertainty in coverage results (issue 12): the share of reach on routed minutes, the
unmet-hours band at the estimate's error quantiles, reach-uncertain zones, and the calibration
that fits the estimate where it decides reach."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket import analyses
from caremarket.cases import load_devon
from caremarket.cli import cli
from caremarket.importers import import_file
from caremarket.store import open_store
from data.devon import write_devon
from market.errors import InvalidInput
from market.parameters import ParameterSet
from optimizer.coverage import CoverageModel, at_estimate_ratio
from optimizer.travel import (
    calibrate_misclassified,
    calibrate_near_limit,
    estimate_error,
    estimate_minutes,
    haversine_km,
)
from tests.conftest import shared

LIMITS = (30, 45, 60)


# -- the Devon case, built once ------------------------------------------------------------------


@pytest.fixture(scope="module")
def devon(tmp_path_factory):
    """Stores of the Devon case: `routed` with the matrix, `estimated` without it, and
    `partial` with the matrix rows of the first half of the zones only."""
    source = shared("devon")
    tmp = tmp_path_factory.mktemp("devon-band")
    stores = {}
    routed = open_store(str(tmp / "routed.db"))
    load_devon(routed, source)
    stores["routed"] = routed
    paths = write_devon(source, tmp / "csv")
    estimated = open_store(str(tmp / "estimated.db"))
    for kind in ("zones", "homecare-providers"):
        import_file(estimated, kind, paths[kind], user="test")
    stores["estimated"] = estimated
    zones = pd.read_csv(paths["zones"])
    # the published matrix is wide, with LSOA names: keep the rows of the first half of zones
    wide = pd.read_csv(paths["travel"])
    names = set(zones["name"].iloc[: len(zones) // 2])
    half = wide[wide.iloc[:, 0].isin(names)]
    assert 0 < len(half) < len(wide)
    half_path = tmp / "half_matrix.csv"
    half.to_csv(half_path, index=False)
    partial = open_store(str(tmp / "partial.db"))
    for kind in ("zones", "homecare-providers"):
        import_file(partial, kind, paths[kind], user="test")
    import_file(partial, "travel", half_path, user="test")
    stores["partial"] = partial
    stores["half_zones"] = set(zones["zone_id"].iloc[: len(zones) // 2])
    results: dict = {}

    def run(name: str, limit: int) -> dict:
        if (name, limit) not in results:
            results[name, limit] = analyses.coverage(stores[name], {"max_minutes": limit,
                                                                    "solver": "highs"})
        return results[name, limit]

    yield run, stores
    for name in ("routed", "estimated", "partial"):
        stores[name].close()


def test_done_when_the_band_without_the_matrix_holds_the_routed_answer(devon):
    run, _ = devon
    for limit in LIMITS:
        routed = run("routed", limit)
        # every pair routed: nothing rests on the estimate, no band
        assert routed["unmet_hours_band"] is None
        assert routed["reach_routed_share"] == 1.0 and routed["reach_estimated_share"] == 0.0
        assert not any(z["reach_uncertain"] for z in routed["zones"])
        est = run("estimated", limit)
        band = est["unmet_hours_band"]
        assert est["reach_routed_share"] == 0.0 and est["reach_estimated_share"] == 1.0
        tolerance = 1e-6 * est["demand_hours"]  # the LP's phase tolerance (1e-7 of demand)
        assert band["low"] - tolerance <= routed["unmet_hours"] <= band["high"], limit
        assert band["low"] - tolerance <= est["unmet_hours"] <= band["high"] + tolerance
        assert band["quantiles"] == [0.1, 0.9] and band["ratios"] == [0.85, 1.40]
        assert band["source"].startswith("default") and band["error_pairs"] == 0
        assert band["seconds"] > 0 and band["time_ratio"] > 0
    # the reference figures at 45 minutes
    assert run("routed", 45)["unmet_hours"] == pytest.approx(776.8, abs=0.05)
    assert run("estimated", 45)["unmet_hours"] == pytest.approx(507.5, abs=0.05)
    b = run("estimated", 45)["unmet_hours_band"]
    assert b["low"] == pytest.approx(0.0, abs=0.01) and b["high"] == pytest.approx(3075.9, abs=0.1)


def test_per_zone_band_and_reach_uncertain_add_up(devon):
    run, _ = devon
    r = run("estimated", 30)
    band = r["unmet_hours_band"]
    zones = pd.DataFrame(r["zones"])
    assert zones["unmet_hours_low"].sum() == pytest.approx(band["low"], rel=1e-9)
    assert zones["unmet_hours_high"].sum() == pytest.approx(band["high"], rel=1e-9)
    assert zones["travel_hours_low"].sum() == pytest.approx(band["travel_hours_low"], rel=1e-9)
    assert zones["travel_hours_high"].sum() == pytest.approx(band["travel_hours_high"],
                                                             rel=1e-9)
    flagged = zones[zones["reach_uncertain"].astype(bool)]
    assert len(flagged) == band["zones_uncertain"] > 0
    assert band["zones_uncertain"] <= band["zones_with_uncertain_pairs"] <= len(zones)
    # a flagged zone's answer moves within the band
    assert (flagged["unmet_hours_high"] > flagged["unmet_hours_low"]).all()
    assert band["demand_hours_uncertain"] == pytest.approx(flagged["demand_hours"].sum())
    # the map rows and the care gaps carry the same flags
    by_zone = {z["zone_id"]: z for z in r["zones_map"]}
    for z in r["zones"]:
        assert by_zone[z["zone_id"]]["reach_uncertain"] == z["reach_uncertain"]
        assert by_zone[z["zone_id"]]["unmet_hours_high"] == z["unmet_hours_high"]
    assert {"unmet_hours_low", "unmet_hours_high", "reach_uncertain"} <= set(r["care_gaps"][0])


def test_a_partial_matrix_gives_a_band_from_its_own_pairs(devon):
    run, stores = devon
    r = run("partial", 45)
    band = r["unmet_hours_band"]
    assert band is not None and band["source"].startswith("travel matrix")
    assert band["error_pairs"] >= 30
    lo, hi = band["ratios"]
    assert 0.5 < lo < 1.0 < hi < 1.5  # the fitted estimate is centred: median ratio 1
    assert 0.3 < r["reach_routed_share"] < 0.7
    assert r["reach_routed_share"] + r["reach_estimated_share"] == pytest.approx(1.0)
    # zones with a row of the matrix rest on routed minutes, the others on estimates
    share = {z["zone_id"]: z["reach_routed_share"] for z in r["zones"]}
    half = stores["half_zones"]
    assert all(share[z] == 1.0 for z in half)
    assert all(share[z] == 0.0 for z in share if z not in half)
    assert r["travel_fit"]["method"] == "near_limit"
    assert band["low"] <= r["unmet_hours"] + 1e-6 * r["demand_hours"] <= band["high"] + \
        2e-6 * r["demand_hours"]


def test_the_calibration_chosen_beats_least_squares_on_devon(devon):
    """docs/optimizer.md's table: the near-limit median ratio gives unmet hours closer to the
    routed answer at 30, 45 and 60 minutes than the old least-squares fit and the defaults."""
    run, stores = devon
    zones, providers, travel, _ = analyses.coverage_inputs(
        analyses.Market.from_store(stores["routed"]))
    zi = pd.Index(zones["zone_id"].astype(str)).get_indexer(travel["zone_id"].astype(str))
    pj = pd.Index(providers["provider_id"].astype(str)).get_indexer(
        travel["provider_id"].astype(str))
    km = haversine_km(zones["lat"].to_numpy(float)[zi], zones["lon"].to_numpy(float)[zi],
                      providers["lat"].to_numpy(float)[pj], providers["lon"].to_numpy(float)[pj])
    t = travel["minutes"].to_numpy(float)
    errors = {"near_limit": 0.0, "defaults": 0.0}
    for limit in LIMITS:
        routed = run("routed", limit)["unmet_hours"]
        fit = calibrate_near_limit(km, t, limit)
        for name, (a, c) in (("near_limit", (fit.access_minutes, fit.crow_kmh)),
                             ("defaults", (5.0, 45.0))):
            m = CoverageModel.from_frames(zones, providers, None, ParameterSet(
                {"access_minutes": a, "crow_kmh": c}), max_travel_minutes=limit).solve("highs")
            errors[name] += abs(m.unmet_hours - routed)
    assert errors["near_limit"] == pytest.approx(491.8, abs=0.5)
    assert errors["defaults"] == pytest.approx(846.7, abs=0.5)


def test_the_cli_prints_the_band(devon, runner, tmp_path):
    _, stores = devon
    path = stores["estimated"].conn.execute("pragma database_list").fetchone()[2]
    r = runner.invoke(cli, ["--db", path, "coverage", "--max-minutes", "45", "--solver",
                            "highs"])
    assert r.exit_code == 0, r.output
    assert "reach on routed minutes: 0.0% of demand, on estimated minutes: 100.0%" in r.output
    assert "unmet hours band 0.0 to 3075.9 (estimated minutes x0.85 to x1.40" in r.output
    d = json.loads(runner.invoke(cli, ["--db", path, "coverage", "--max-minutes", "45",
                                       "--solver", "highs", "--json"]).output)
    assert d["unmet_hours_band"]["high"] == pytest.approx(3075.9, abs=0.1)


# -- hand-checkable cases -----------------------------------------------------------------------


def _line(n_zones: int, km_apart: float, capacity: float, demand: float = 10.0):
    """Zones strung east of one base at `km_apart` km steps (on the equator)."""
    deg = km_apart / (6371.0088 * np.pi / 180)
    zones = pd.DataFrame({"zone_id": [f"Z{i}" for i in range(n_zones)],
                          "lat": 0.0, "lon": [deg * (i + 1) for i in range(n_zones)],
                          "rurality": "urban", "demand_hours": demand})
    base = pd.DataFrame({"provider_id": ["B"], "lat": [0.0], "lon": [0.0],
                         "capacity_hours": [capacity]})
    return zones, base


def test_a_zone_just_inside_the_limit_is_reach_uncertain_and_one_far_inside_is_not():
    # estimate = 5 + 60 km / 45: zone 0 at 15 km is 25 min, zone 1 at 30 km is 45 min; at a
    # 40-minute limit zone 1 is out (45 min), in at x0.85 (38.25) and out at x1.40 (63);
    # zone 0 is in at both ends (21.25 and 35 minutes)
    zones, base = _line(2, 15.0, capacity=1000.0)
    m = CoverageModel.from_frames(zones, base, max_travel_minutes=40).solve("highs")
    m.solve_band("highs")
    assert m.unmet_hours == pytest.approx(10.0)  # zone 1 out of reach
    assert m.band["low"] == pytest.approx(0.0, abs=1e-5)  # the LP tolerance, 1e-7 of demand
    assert m.band["high"] == pytest.approx(10.0)
    assert m.band["ratios"] == [0.85, 1.40] and m.band["pairs_uncertain"] == 1
    z = m.zones.set_index("zone_id")
    assert not z.loc["Z0", "reach_uncertain"] and z.loc["Z1", "reach_uncertain"]
    assert z.loc["Z1", "unmet_hours_low"] == pytest.approx(0.0, abs=1e-5)
    # travel at the low end: zone 1 served at 38.25 one-way minutes, hop 5:
    # tau = (60/45)(2 x 38.25 / 6 + 5) = 23.6667 minutes a contact hour, 10 hours
    tau = (60 / 45) * (2 * 0.85 * (5 + 60 * 30 / 45) / 6 + 5)
    assert z.loc["Z1", "travel_hours_low"] == pytest.approx(10 * tau / 60, rel=1e-6)
    assert m.reach_routed_share == 0.0


def test_routed_pairs_take_no_band_and_count_as_routed():
    zones, base = _line(2, 15.0, capacity=1000.0)
    travel = pd.DataFrame({"provider_id": ["B", "B"], "zone_id": ["Z0", "Z1"],
                           "minutes": [20.0, 39.0]})
    m = CoverageModel.from_frames(zones, base, travel, max_travel_minutes=40,
                                  calibrate_travel=False).solve("highs")
    m.solve_band("highs")
    assert m.band is None and m.reach_routed_share == 1.0
    assert m.to_dict()["unmet_hours_band"] is None
    assert m.to_dict()["reach_estimated_share"] == 0.0
    # one zone routed, one estimated: the share is weighted by demand
    zones.loc[1, "demand_hours"] = 30.0
    m = CoverageModel.from_frames(zones, base, travel.iloc[:1], max_travel_minutes=40,
                                  calibrate_travel=False).solve("highs")
    m.solve_band("highs")
    assert m.reach_routed_share == pytest.approx(10 / 40)
    assert m.band is not None and m.band["source"].startswith("default")  # one pair: too few


def test_at_estimate_ratio_one_is_the_market_itself():
    zones, base = _line(5, 8.0, capacity=30.0)
    m = CoverageModel.from_frames(zones, base, max_travel_minutes=45).market
    same = at_estimate_ratio(m, 1.0)
    assert np.array_equal(same.pair_zone, m.pair_zone)
    assert np.allclose(same.minutes, m.minutes) and np.allclose(same.tau, m.tau)
    slower = at_estimate_ratio(m, 2.0)
    assert slower.n_pairs < m.n_pairs
    assert np.allclose(slower.minutes, 2.0 * m.minutes[:slower.n_pairs])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), limit=st.sampled_from([20.0, 30.0, 45.0]),
       lo=st.floats(0.5, 1.0), hi=st.floats(1.0, 2.0))
def test_unmet_hours_never_fall_as_estimates_grow(seed, limit, lo, hi):
    rng = np.random.default_rng(seed)
    n, k = 12, 3
    zones = pd.DataFrame({"zone_id": [f"Z{i}" for i in range(n)],
                          "lat": 50 + rng.uniform(0, 0.5, n), "lon": -3 + rng.uniform(0, 0.5, n),
                          "rurality": rng.choice(["urban", "sparse"], n),
                          "demand_hours": rng.uniform(0, 20, n).round(2)})
    bases = pd.DataFrame({"provider_id": [f"B{j}" for j in range(k)],
                          "lat": 50 + rng.uniform(0, 0.5, k), "lon": -3 + rng.uniform(0, 0.5, k),
                          "capacity_hours": rng.uniform(10, 80, k).round(1)})
    params = ParameterSet({"estimate_ratio_low": lo, "estimate_ratio_high": hi})
    m = CoverageModel.from_frames(zones, bases, None, params,
                                  max_travel_minutes=limit).solve("highs")
    m.solve_band("highs")
    tol = 1e-6 * max(1.0, float(zones["demand_hours"].sum()))
    if m.band is None:  # nothing in reach even at the low end
        assert m.unmet_hours == pytest.approx(zones["demand_hours"].sum())
        return
    assert m.band["low"] - tol <= m.unmet_hours <= m.band["high"] + tol
    assert (m.zones["reach_uncertain"] <= (m.zones["unmet_hours_high"]
                                           > m.zones["unmet_hours_low"])).all()


# -- the fits ---------------------------------------------------------------------------------


def test_near_limit_fit_scales_the_defaults_by_the_median_ratio_near_the_limit():
    km = np.linspace(1, 60, 200)
    est = estimate_minutes(km)  # 5 + 60 km / 45: 6.3 to 85 minutes
    # routed minutes 20% above the estimate near a 40-minute limit (20-60 min), 50% above
    # elsewhere: only the pairs near the limit count
    t = np.where((1.2 * est >= 20) & (1.2 * est <= 60), 1.2 * est, 1.5 * est)
    fit = calibrate_near_limit(km, t, 40.0)
    assert fit.method == "near_limit" and fit.scale == pytest.approx(1.2)
    assert fit.access_minutes == pytest.approx(6.0) and fit.crow_kmh == pytest.approx(37.5)
    assert fit.pairs == 200 and fit.pairs_fitted == int(((t >= 20) & (t <= 60)).sum())
    # too few pairs near the limit: every pair counts
    few = calibrate_near_limit(km[:5], t[:5], 400.0)
    assert few.pairs_fitted == 5
    with pytest.raises(InvalidInput, match="cannot fit"):
        calibrate_near_limit([1.0, 2.0], [3.0, 4.0], 30.0)


def test_estimate_error_quantiles_and_defaults():
    km = np.linspace(1, 40, 101)
    ratio = np.linspace(0.8, 1.2, 101)
    t = estimate_minutes(km) * ratio
    err = estimate_error(km, t, 200.0, 5.0, 45.0, (0.85, 1.40))
    assert err.ratios == pytest.approx((0.84, 1.16))  # 10th and 90th of 0.8..1.2
    assert err.pairs == 101 and err.source.startswith("travel matrix")
    none = estimate_error(None, None, None, 5.0, 45.0, (0.85, 1.40))
    assert none.ratios == (0.85, 1.40) and none.pairs == 0
    few = estimate_error(km[:10], t[:10], 30.0, 5.0, 45.0, (0.9, 1.3))
    assert few.ratios == (0.9, 1.3) and few.source.startswith("default")


def test_misclassification_fit_recovers_an_exact_line():
    km = np.linspace(0.5, 70, 400)
    t = 4.0 + 60 * km / 50.0
    fit = calibrate_misclassified(km, t, 45.0)
    assert fit.method == "misclassification"
    assert fit.access_minutes == pytest.approx(4.0, abs=0.2)
    assert fit.crow_kmh == pytest.approx(50.0, rel=0.01)


def test_a_band_solve_that_fails_leaves_the_answer_and_says_why(monkeypatch):
    from market.errors import OptimisationError

    zones, base = _line(2, 15.0, capacity=1000.0)
    m = CoverageModel.from_frames(zones, base, max_travel_minutes=40).solve("highs")

    def fail(self, *a, **kw):
        raise OptimisationError("HiGHS reached the time limit of 1 s")

    monkeypatch.setattr(CoverageModel, "solve", fail)
    m.solve_band("highs", 1.0)
    d = m.to_dict()
    assert d["unmet_hours"] == pytest.approx(10.0)
    assert d["unmet_hours_band"]["low"] is None and "time limit" in d["unmet_hours_band"]["error"]
    assert any(w.startswith("travel band not computed") for w in d["warnings"])
    assert d["zones"][1]["reach_uncertain"] is True and d["zones"][1]["unmet_hours_low"] is None


def test_the_coverage_result_fragment_says_whether_estimates_move_the_answer(devon, app):
    """The page's one-line explanation, rendered from the run as the API returns it."""
    from flask import render_template

    from caremarket import jsonio
    from web.pages import coverage_extras

    run, _ = devon
    html = {}
    with app.test_request_context("/coverage"):
        for name in ("routed", "estimated"):
            rec = {"id": 7, "status": "done", "user": "t", "created_at": None,
                   "finished_at": None, "input_hash": "x",
                   "result": json.loads(json.dumps(jsonio.clean(run(name, 45))))}
            html[name] = render_template("_coverage_result.html", run=rec,
                                         view=coverage_extras(rec), agencies=[])
    assert "every pair in or near reach has a routed time (100% of demand)" in html["routed"]
    assert 'data-measure="unmet_hours_band"' not in html["routed"]
    est = html["estimated"]
    assert "100% of demand is reached on estimated minutes" in est
    assert "×0.85 to ×1.40" in est and "defaults measured on the Devon matrix" in est
    assert "unmet hours would be 0 to 3,076 a week" in est
    assert 'data-measure="unmet_hours_band"' in est and "reach uncertain" in est


def test_the_map_can_colour_zones_by_the_band_high_end(client):
    from tests.conftest import login
    from tests.test_pages import embedded_json, start_run

    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    assert cov["result"]["unmet_hours_band"] is not None  # the sample has no matrix
    html = client.get("/map").get_data(as_text=True)
    data = embedded_json(html, "map-data")
    entry = next(m for m in data["available"] if m["key"] == "unmet_hours_high")
    assert entry["available"] and entry["source"] == "coverage"
    for z in cov["result"]["zones_map"]:
        assert data["measures"]["unmet_hours_high"][z["zone_id"]] == z["unmet_hours_high"]
        if z["reach_uncertain"]:  # a flagged zone's answer moves within the band
            assert z["unmet_hours_high"] > z["unmet_hours_low"]
