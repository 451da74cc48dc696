"""The analyses the web, API, reports and CLI share: recorded runs, cost of care per zone,
the equalisation headline."""

from __future__ import annotations

import json

import pytest

from caremarket import analyses
from caremarket.cli import cli
from caremarket.runs import get_run
from caremarket.store import content_hash
from market.cost_of_care import COST_LINES, cost_lines
from market.errors import InvalidInput, InvalidScenario
from market.parameters import ParameterSet


def test_coverage_run_is_recorded_with_levers_parameters_and_input_hash(sample_db):
    r = analyses.coverage(sample_db, {"max_minutes": 30, "variant": "fair"})
    run = get_run(sample_db, r["run_id"])
    assert run["status"] == "done" and run["kind"] == "coverage"
    assert run["params"]["levers"]["max_minutes"] == 30 and run["params"]["levers"]["variant"] == "fair"
    assert {p["name"] for p in run["parameters"]} >= {"visit_minutes", "care_worker_hourly_wage"}
    assert run["input_hash"] == content_hash(sample_db) == r["input_hash"]
    assert run["result"]["unmet_hours"] == pytest.approx(r["unmet_hours"])


def test_each_zone_is_costed_line_by_line_at_the_travel_the_lp_assigns(sample_db):
    r = analyses.coverage(sample_db, {})
    p = ParameterSet()
    costed = [z for z in r["zones_map"] if z["cost_per_contact_hour"] is not None]
    assert len(costed) > 0.9 * len(r["zones_map"])
    for z in costed[:40]:
        # s4: the lines at the zone's tau, summing to the cost per contact hour
        lines = cost_lines([z["tau"]], p).iloc[0]
        for line in COST_LINES:
            assert z[line] == pytest.approx(lines[line])
        assert sum(z[line] for line in COST_LINES) == pytest.approx(z["cost_per_contact_hour"])
        assert z["gap"] == pytest.approx(z["cost_per_contact_hour"] - z["la_hourly_rate"])
        assert z["rural_uplift_rate"] == pytest.approx(max(z["cost_per_contact_hour"],
                                                           z["la_hourly_rate"]))
    # the sample's sparse zones have a zone-scoped (rural) LA rate above the general one
    by = {row["rurality"]: row for row in r["cost_of_care"]["by_rurality"]}
    assert by["sparse"]["la_hourly_rate"] > by["urban"]["la_hourly_rate"]
    # travel, and so cost, rises from urban to sparse
    costs = [by[k]["cost_per_contact_hour"] for k in ("urban", "town", "village", "sparse")]
    assert costs == sorted(costs)
    # the weighted means are what they say: met-hour-weighted cost over the class's zones
    sparse = [z for z in costed if z["rurality"] == "sparse" and z["met_hours"] > 0]
    w = sum(z["met_hours"] for z in sparse)
    assert by["sparse"]["cost_per_contact_hour"] == pytest.approx(
        sum(z["cost_per_contact_hour"] * z["met_hours"] for z in sparse) / w)
    total = r["cost_of_care"]["la_uplift_per_week"]
    assert total == pytest.approx(sum(z["la_uplift_per_week"] or 0 for z in costed))
    assert r["cost_of_care"]["la_uplift_per_year"] == pytest.approx(52 * total)


def test_cost_of_care_command_prints_the_same_figures(sample_db_file, runner, tmp_path):
    import shutil

    path = tmp_path / "s.db"
    shutil.copy(sample_db_file, path)
    res = runner.invoke(cli, ["--db", str(path), "cost-of-care", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["run_id"] and len(out["zones"]) == 320
    assert {"direct_wage", "mileage", "gap", "rural_uplift_rate"} <= set(out["zones"][0])
    text = runner.invoke(cli, ["--db", str(path), "cost-of-care"])
    assert text.exit_code == 0 and "sparse" in text.output and "a year" in text.output


def test_equalisation_headline_is_the_viability_summary(sample_db):
    out = analyses.equalisation(sample_db, {"take_up": 0.5},
                                {"montecarlo_draws": 500, "sweep_step": 0.25})
    s = out["viability"]["summary"]
    h = out["headline"]
    assert h["cross_subsidy_lost"] == pytest.approx(s["cross_subsidy_lost"])
    assert h["extra_la_spend"] == pytest.approx(s["extra_la_spend"])
    assert h["beds_at_risk_after"] == pytest.approx(
        s["beds_by_class"]["after"]["at risk"] + s["beds_by_class"]["after"]["unviable"])
    assert h["beds_at_risk_after"] >= h["beds_at_risk_before"]  # take-up never helps a home
    assert h["beds_not_sustainable_p05"] <= h["beds_not_sustainable_median"] \
        <= h["beds_not_sustainable_p95"]
    assert h["unmet_hours_after"] >= h["unmet_hours_before"] - 1e-6
    assert len(out["sweep"]["values"]) == 5
    assert get_run(sample_db, out["run_id"])["status"] == "done"


def test_bad_levers_and_an_empty_store_get_clear_errors(sample_db, db):
    with pytest.raises(InvalidScenario, match="not a lever of coverage"):
        analyses.coverage(sample_db, {"max_minuts": 30})
    with pytest.raises(InvalidScenario, match="variant"):
        analyses.coverage(sample_db, {"variant": "best"})
    with pytest.raises(InvalidInput, match="unknown home-care provider"):
        analyses.coverage(sample_db, {"remove_provider": ["NOPE"]})
    with pytest.raises(InvalidScenario, match="take_up"):
        analyses.equalisation(sample_db, {"take_up": 1.5})
    with pytest.raises(InvalidInput, match="no zones"):
        analyses.coverage(db, {})
    with pytest.raises(InvalidInput, match="no care homes"):
        analyses.equalisation(db, {})
    # the failed runs are recorded as failed, with their error
    rows = list(db.execute("select status, error from runs"))
    assert rows and all(s == "failed" and e for s, e in rows)


def test_explicit_null_options_turn_the_sweep_and_monte_carlo_off(sample_db):
    out = analyses.equalisation(sample_db, {"take_up": 0.3},
                                {"sweep_parameter": None, "montecarlo_draws": 0,
                                 "homecare": False})
    assert "sweep" not in out and "montecarlo" not in out and "homecare" not in out
    assert analyses.check_equalisation_options({})["sweep_parameter"] == "take_up"
