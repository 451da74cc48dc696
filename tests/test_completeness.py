"""Incomplete records never break a model; totals reconcile (issue 10, points 5 and 6)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket import analyses, reports
from caremarket.importers import import_file
from market import completeness
from tests.conftest import shared


@pytest.fixture
def cqc_db(sample_db):
    import_file(sample_db, "cqc", shared("cqc", "cqc_ratings_lincolnshire_2026.csv"))
    return sample_db


def _no_capacity(db) -> set[str]:
    return {r[0] for r in db.execute("select provider_id from homecare_providers where "
                                     "capacity_hours is null")}


def test_every_operation_runs_after_the_cqc_import_and_names_what_it_left_out(cqc_db):
    lacking = _no_capacity(cqc_db)
    assert len(lacking) == 95
    assert "1-10041249501" in lacking
    for name, result in [
        ("coverage", analyses.coverage(cqc_db)),
        ("exits", analyses.exits(cqc_db, {"take_up": 0.5})),
        ("fee_uplift", analyses.fee_uplift(cqc_db, {"take_up": 0.5})),
        ("equalisation", analyses.equalisation(cqc_db, {"take_up": 0.5},
                                               {"montecarlo_draws": 100})),
    ]:
        ex = result["excluded"]
        assert ex["by_reason"]["no_capacity"]["count"] == 95, name
        assert set(ex["by_reason"]["no_capacity"]["ids"]) == lacking, name
    homes = {r[0] for r in cqc_db.execute("select provider_id from care_homes where beds is "
                                          "null")}
    for name, result in [("viability", analyses.viability(cqc_db, {"take_up": 0.5})),
                         ("sweep", analyses.sweep(cqc_db, {})),
                         ("montecarlo", analyses.montecarlo(cqc_db, {}, {"draws": 100}))]:
        assert set(result["excluded"]["by_reason"]["no_beds"]["ids"]) == homes, name
        assert result["excluded"]["total"] == len(homes) == 262
    report = reports.run_report(cqc_db, reports.list_definitions(cqc_db)[0]["name"])
    assert report["status"] == "done"
    assert report["excluded"]["total"] >= 262


def test_coverage_uses_complete_agencies_plus_excluded_equals_all(cqc_db):
    r = analyses.coverage(cqc_db)
    used = {p["provider_id"] for p in r["providers"] if not p["added"]}
    all_ids = {row[0] for row in cqc_db.execute("select provider_id from homecare_providers")}
    ex = set(r["excluded"]["by_reason"]["no_capacity"]["ids"]) | set(
        r["excluded"]["by_reason"]["no_location"]["ids"])
    assert used | ex == all_ids and not used & ex


def test_fill_capacity_rule_by_hand():
    providers = pd.DataFrame({"provider_id": ["a", "b", "c", "d", "e", "f"],
                              "capacity_hours": [100.0, 300.0, None, 50.0, None, None]})
    rurality = pd.Series(["town", "town", "town", "sparse", "village", None])
    out = completeness.fill_capacity(providers, rurality)
    # c: median of town (100, 300) = 200; e: no village agency with capacity, so the median of
    # all (50, 100, 300) = 100; f: no class, the same overall median.
    assert out["capacity_hours"].tolist() == [100.0, 300.0, 200.0, 50.0, 100.0, 100.0]
    assert out["capacity_estimated"].tolist() == [False, False, True, False, True, True]
    assert out["capacity_basis"].tolist()[2] == "rurality: town"


def test_fill_capacity_lever_marks_estimates(cqc_db):
    cqc_db["homecare_providers"].update("1-10041249501", {"lat": 53.2, "lon": -0.5})
    r = analyses.coverage(cqc_db, {"fill_capacity": True})
    rec = next(p for p in r["providers"] if p["provider_id"] == "1-10041249501")
    assert rec["capacity_estimated"] is True
    assert "1-10041249501" in r["estimated_capacity"]
    assert "no_capacity" not in r["excluded"]["by_reason"]
    assert all(p["capacity_estimated"] is False for p in r["providers"]
               if p["provider_id"] not in r["estimated_capacity"])


def test_overview_cards_equal_the_sum_of_their_rows_after_the_cqc_import(cqc_db):
    from web import queries

    o = queries.overview(cqc_db)
    t = o["totals"]
    for key in ("homecare_providers", "care_homes", "beds", "zones"):
        assert t[key] == sum(r[key] or 0 for r in o["by_rurality"]), key
    assert t["homecare_providers"] == 139 and t["care_homes"] == 412
    listing = queries.providers(cqc_db, {"kind": "homecare", "per_page": 1})
    assert listing["total"] == t["homecare_providers"]
    cov = analyses.coverage(cqc_db)
    assert cov["providers_count"] + cov["excluded"]["total"] == t["homecare_providers"]
    eq = analyses.viability(cqc_db, {})
    assert eq["headline"]["care_homes"] + eq["excluded"]["total"] == t["care_homes"]
    c = analyses.data_completeness(cqc_db)
    hc = next(k for k in c["kinds"] if k["kind"] == "homecare-providers")
    assert hc["records"] == 139 and hc["complete"] == 44
    assert hc["by_reason"]["no_capacity"]["count"] == 95
    text = analyses.incomplete_csv(cqc_db, "homecare-providers")
    lines = text.strip().splitlines()
    assert lines[0].split(",")[:2] == ["provider_id", "name"] and len(lines) == 96


def test_completeness_api_and_csv(client, api_token):
    from tests.conftest import bearer

    h = bearer(api_token("viewer"))
    j = client.get("/api/v1/imports/completeness", headers=h).get_json()
    assert {k["kind"] for k in j["kinds"]} == set(completeness.KINDS)
    r = client.get("/api/v1/imports/incomplete/care-homes.csv", headers=h)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert client.get("/api/v1/imports/incomplete/nope.csv", headers=h).status_code == 404
    assert client.get("/api/v1/imports/completeness").status_code == 401


FIGURES = ["capacity_hours", "lat", "lon", "self_funder_share", "la_hourly_rate"]


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 43), st.sampled_from(FIGURES)), max_size=12))
def test_removing_figures_never_breaks_coverage(sample_db_file, cuts):
    market = analyses.Market.from_store(__import__("caremarket.store", fromlist=["x"])
                                        .open_store(sample_db_file))
    providers = market.table("homecare_providers").copy()
    for row, col in cuts:  # row 0 always stays complete
        providers.loc[row % len(providers), col] = None
    for t in ("zones", "travel_times", "sites", "fee_rates"):
        market.table(t)
    market.frames["homecare_providers"] = providers
    market.input_hash  # noqa: B018 - read from the store before it is detached
    market.db = None  # not recorded
    r = analyses.coverage(market)
    used = {p["provider_id"] for p in r["providers"] if not p["added"]}
    ex = analyses.Excluded()
    ex.merge(r["excluded"])
    all_ids = set(providers["provider_id"].astype(str))
    assert used | (ex.ids() & all_ids) == all_ids
    assert not used & ex.ids()
