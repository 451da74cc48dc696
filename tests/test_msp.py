"""Issue 14, points 4 and 5: the FCoC median as an equalisation lever (la_fee_basis), as the
second line of the cost of care by zone, rural travel against the FCoC travel_time line, and the
Market Sustainability Plan evidence pack (a report type of caremarket/reports.py)."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket import analyses, fair_cost, reports
from caremarket.cli import cli
from caremarket.overview import overview
from caremarket.scenario_store import save_scenario
from market.errors import InvalidScenario
from market.scenarios import Scenario
from tests.conftest import bearer, login

AS_OF = "2026-12-01"


# -- the lever ------------------------------------------------------------------------------------

def test_fcoc_median_sets_every_home_to_its_category_median_and_before_stays_as_stored(
        sample_db):
    med = fair_cost.medians_now(sample_db)["medians"]
    stored = {r["provider_id"]: r for r in sample_db["care_homes"].rows}
    out = analyses.viability(sample_db, {"la_fee_basis": "fcoc_median", "la_fee_change": 0.05})
    basis = out["fee_basis"]
    assert basis["medians"] == {"residential": med["residential"], "nursing": med["nursing"]}
    assert basis["care_homes_rebased"] == len(out["viability"]["providers"]) == len(stored)
    for p in out["viability"]["providers"]:
        home = stored[p["provider_id"]]
        target = med["nursing"] if home["nursing"] else med["residential"]
        assert p["baseline"]["la_fee"] == pytest.approx(home["la_fee"])  # before: as stored
        assert p["scenario"]["la_fee"] == pytest.approx(target * 1.05)  # fee change on top
        if p["provider_id"] in basis["self_funder_fee_raised"]:
            assert home["self_funder_fee"] < target
    # the store itself is untouched
    assert {r["provider_id"]: r["la_fee"] for r in sample_db["care_homes"].rows} == \
        {k: v["la_fee"] for k, v in stored.items()}
    assert out["scenario"] == {"la_fee_basis": "fcoc_median", "la_fee_change": 0.05}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=st.floats(-0.2, 0.5), take_up=st.floats(0.0, 1.0))
def test_any_fee_change_on_top_of_the_basis(sample_db, change, take_up):
    """Invariants: the basis moves only the LA fee paid after (median x (1 + change)); before
    stays as stored; the same homes and beds are assessed at either basis."""
    med = fair_cost.medians_now(sample_db)["medians"]
    nursing = {r["provider_id"]: r["nursing"] for r in sample_db["care_homes"].rows}
    scen = {"la_fee_change": change, "take_up": take_up}
    at_median = analyses.viability(sample_db, {**scen, "la_fee_basis": "fcoc_median"})
    as_stored = analyses.viability(sample_db, scen)
    for a, b in zip(at_median["viability"]["providers"], as_stored["viability"]["providers"],
                    strict=True):
        assert a["provider_id"] == b["provider_id"]
        assert a["baseline"] == b["baseline"]
        target = med["nursing"] if nursing[a["provider_id"]] else med["residential"]
        assert a["scenario"]["la_fee"] == pytest.approx(target * (1 + change))
    assert at_median["summary"]["beds"] == as_stored["summary"]["beds"]
    assert at_median["summary"]["beds_by_class"]["before"] == \
        as_stored["summary"]["beds_by_class"]["before"]


def test_current_basis_is_the_default_and_changes_nothing(sample_db):
    a = analyses.viability(sample_db, {"take_up": 0.5})
    b = analyses.viability(sample_db, {"take_up": 0.5, "la_fee_basis": "current"})
    assert a["fee_basis"] is None and b["fee_basis"] is None
    assert a["summary"] == b["summary"]


def test_a_bad_basis_is_refused_naming_the_lever(sample_db):
    with pytest.raises(InvalidScenario, match="la_fee_basis"):
        analyses.viability(sample_db, {"la_fee_basis": "median"})
    files = analyses.Market.from_frames("files", care_homes=analyses.Market.from_store(
        sample_db).table("care_homes"))
    with pytest.raises(InvalidScenario, match="store"):
        analyses.viability(files, {"la_fee_basis": "fcoc_median"})


def test_a_saved_scenario_keeps_the_basis_and_the_comparison_sets_it_against_the_baseline(
        sample_db):
    save_scenario(sample_db, Scenario("FCoC fees", {"la_fee_basis": "fcoc_median"}), "test")
    cmp = analyses.compare_scenarios(sample_db, ["FCoC fees"])
    assert cmp["values"]["FCoC fees"] == {"la_fee_basis": "fcoc_median"}
    base, fair = cmp["columns"]["baseline"], cmp["columns"]["FCoC fees"]
    assert (base["la_fee_basis"], fair["la_fee_basis"]) == ("current", "fcoc_median")
    assert cmp["differences"]["FCoC fees"]["la_fee_basis"] is None
    direct = analyses.viability(sample_db, scenario_name="FCoC fees")["summary"]
    assert fair["beds_sustainable"] == direct["beds_by_class"]["after"]["sustainable"]
    assert fair["beds_sustainable"] > base["beds_sustainable"]  # paying the median helps
    # sweeps and Monte Carlo run on the rebased homes too
    sw = analyses.sweep(sample_db, scenario_name="FCoC fees", levers={"step": 0.5})
    assert sw["fee_basis"]["la_fee_basis"] == "fcoc_median"
    assert sw["table"][0]["beds_sustainable"] == fair["beds_sustainable"]


def test_the_lever_gives_the_same_figures_from_cli_api_and_page(app, client, api_token,
                                                                runner):
    db_path = app.config["DATABASE"]
    res = runner.invoke(cli, ["--db", db_path, "viability", "--la-fee-basis", "fcoc_median",
                              "--take-up", "0.5", "--json"])
    assert res.exit_code == 0, res.output
    from_cli = json.loads(res.output)
    token = bearer(api_token("analyst"))
    r = client.post("/api/v1/runs", json={"kind": "equalisation", "scenario": {
        "take_up": 0.5, "la_fee_basis": "fcoc_median"}, "options": {
        "sweep_parameter": None, "montecarlo_draws": 0, "homecare": False}}, headers=token)
    assert r.status_code == 202, r.get_json()
    run = client.get(r.get_json()["url"], headers=token).get_json()
    from_api = run["result"]
    assert from_api["viability"]["summary"] == from_cli["summary"]
    assert from_api["fee_basis"] == from_cli["fee_basis"]
    bad = client.post("/api/v1/runs", json={"kind": "viability", "scenario": {
        "la_fee_basis": "median"}}, headers=token)
    assert bad.status_code == 400 and "la_fee_basis" in json.dumps(bad.get_json())
    pages = app.test_client()
    login(pages, "analyst")
    html = pages.get(f"/equalisation?run={run['id']}").get_data(as_text=True)
    assert 'id="choice-la_fee_basis"' in html and 'id="fee-basis-note"' in html
    s = from_cli["summary"]
    assert f"{int(s['beds_by_class']['before']['at risk'] + s['beds_by_class']['before']['unviable']):,}" in html
    assert "£{:,.2f}".format(from_cli["fee_basis"]["medians"]["residential"]) in html
    schema = client.get("/api/v1/openapi.json", headers=token).get_json()
    assert "fcoc_median" in json.dumps(schema)


# -- the second line of the cost of care, and rural travel ---------------------------------------

def test_cost_of_care_by_zone_against_the_fcoc_home_care_median(sample_db):
    out = analyses.coverage(sample_db, {})
    median = fair_cost.medians_now(sample_db)["medians"]["homecare"]
    costed = [z for z in out["zones_map"] if z["cost_per_contact_hour"] is not None]
    assert costed
    for z in costed:
        assert z["fcoc_median"] == median
        assert z["fcoc_gap"] == pytest.approx(z["cost_per_contact_hour"] - median)
        # travel time paid: the wage's travel part, wage x tau / 60
        wage = z["direct_wage"] / (1 + z["tau"] / 60)
        assert z["travel_pay_per_contact_hour"] == pytest.approx(wage * z["tau"] / 60)
    for row in out["cost_of_care"]["by_rurality"]:
        if row["cost_per_contact_hour"] is not None:
            assert row["fcoc_median"] == pytest.approx(median)
            assert row["fcoc_gap"] == pytest.approx(row["cost_per_contact_hour"] - median)
    # the FCoC result reads that run's travel, by rurality
    fc = fair_cost.fcoc(sample_db, {"as_of": AS_OF})
    tr = fc["travel"]
    assert tr["coverage_run"] == {"run_id": out["run_id"], "status": "current"}
    assert [r["rurality"] for r in tr["by_rurality"]] == \
        [r["rurality"] for r in out["cost_of_care"]["by_rurality"]]


def test_travel_against_the_fcoc_line_by_hand(sample_db):
    # implied minutes per return: travel_time / carer_basic_pay x 60, then QUARTILE.INC
    from market import fcoc

    minutes = [r.lines["travel_time"] / r.context["carer_basic_pay"] * 60
               for r in fair_cost.returns(sample_db)
               if r.service == "homecare" and "travel_time" in r.lines
               and r.context.get("carer_basic_pay")]
    fc = fair_cost.fcoc(sample_db, {"as_of": AS_OF}, coverage={
        "run_id": 0, "status": "current", "cost_of_care": {"by_rurality": [
            {"rurality": "sparse", "contact_hours": 10.0,
             "travel_minutes_per_contact_hour": 100.0, "travel_pay_per_contact_hour": 0.5},
            {"rurality": "urban", "contact_hours": 10.0,
             "travel_minutes_per_contact_hour": 1.0, "travel_pay_per_contact_hour": 50.0}]}})
    tr = fc["travel"]
    q = fcoc.quartiles(minutes)
    assert tr["fcoc_travel_minutes"]["median"] == pytest.approx(q["median"], abs=1e-4)
    assert tr["returns_with_minutes"] == len(minutes)
    pay, _prices, _ = __import__("market.parameters", fromlist=["uprating"]).uprating(
        "2022-04-01", "2026-04-01")
    line = fc["summary"]["homecare"]["lines"]["travel_time"]
    assert tr["fcoc_travel_time_now"]["median"] == pytest.approx(line["median"] * pay, abs=1e-4)
    urban, sparse = tr["by_rurality"]  # in rurality order
    assert (urban["rurality"], sparse["rurality"]) == ("urban", "sparse")
    assert urban["minutes_against_fcoc"] == "below the lower quartile"
    assert sparse["minutes_against_fcoc"] == "above the upper quartile"
    assert urban["pay_against_fcoc"] == "above the upper quartile"
    assert sparse["pay_minus_fcoc_median"] == pytest.approx(
        0.5 - tr["fcoc_travel_time_now"]["median"], abs=1e-4)


# -- the evidence pack ----------------------------------------------------------------------------

@pytest.fixture
def pack(sample_db):
    run = reports.run_report(sample_db, reports.SAMPLE_MSP, "manual", user="test")
    assert run["status"] == "done", run.get("error")
    return run


def _rows(report, name):
    t = next(t for t in report["detail"] if t["name"] == name)
    keys = [c["key"] for c in t["columns"]]
    return [dict(zip(keys, r, strict=True)) for r in t["rows"]]


def test_the_sample_ships_the_pack_definition(sample_db):
    d = reports.get_definition(sample_db, reports.SAMPLE_MSP)
    assert d["report_type"] == "msp" and d["measures"] == list(reports.MSP_SECTIONS)
    assert d["scenarios"] == ["s18-3 quarter take-up", "s18-3 half take-up",
                              "s18-3 full take-up"]
    assert d["cron"] == "0 6 1 4 *"


def test_each_section_is_the_existing_functions_figures(sample_db, pack):
    assert pack["report_type"] == "msp"
    ov = overview(sample_db)
    market = {r["measure"]: r["value"] for r in _rows(pack, "overview")}
    for key in ("care_homes", "beds", "homecare_providers", "capacity_hours",
                "care_home_self_funder_share", "homecare_self_funder_share"):
        assert market[key] == ov["totals"][key], key
    assert _rows(pack, "cqc_ratings") == [{"scenario": "", **r} for r in ov["cqc_ratings"]]
    fc = fair_cost.fcoc(sample_db)
    assert market["fcoc_cost_now"] == fc["cost_now_total"]
    gap = {r["group"]: r for r in _rows(pack, "fee_gap")}
    for group, fee in fc["against_fees"].items():
        assert gap[group]["median"] == fee["median"] and gap[group]["cost_now"] == fee["cost_now"]
    traj = _rows(pack, "trajectory")
    assert len(traj) == sum(len(f["trajectory"]) for f in fc["against_fees"].values())
    # the exposure headline is each scenario's equalisation headline
    directs = {}
    for n, res in pack["results"].items():
        direct = analyses.equalisation(sample_db, {"take_up": {
            "s18-3 quarter take-up": 0.25, "s18-3 half take-up": 0.5,
            "s18-3 full take-up": 1.0}[n]}, reports.report_options(reports.MSP_EXPOSURE))
        directs[n] = direct
        assert res["headline"]["beds_at_risk_after"] == direct["headline"]["beds_at_risk_after"]
        row = next(r for r in pack["headline"]["rows"] if r["measure"] == "extra_la_spend")
        assert row["values"][n] == pytest.approx(direct["headline"]["extra_la_spend"])
    # coverage by rurality sums to the coverage run's totals
    cov = _rows(pack, "coverage_rurality")
    run = sample_db["runs"].get(pack["coverage_run_id"])
    result = json.loads(run["result"])
    assert sum(r["unmet_hours"] for r in cov) == pytest.approx(result["unmet_hours"])
    # providers at risk: every home a scenario leaves at risk or unviable is listed, with it
    rows = {r["provider_id"]: r for r in _rows(pack, "at_risk") if r["kind"] == "care home"}
    for n, direct in directs.items():
        for p in direct["viability"]["providers"]:
            if p["scenario"]["class"] != "sustainable":
                assert rows[p["provider_id"]][f"class_after:{n}"] == p["scenario"]["class"]
    assert any(t["name"] == "rurality" for t in pack["detail"])  # homes by rurality, too
    assert pack["excluded"].keys() >= {"total", "by_reason"}


def test_the_pack_names_what_it_left_out(sample_db):
    sample_db.execute("update care_homes set la_fee = null where provider_id = 'CH001'")
    sample_db.conn.commit()
    run = reports.run_report(sample_db, reports.SAMPLE_MSP, "manual", user="test")
    assert run["status"] == "done", run.get("error")
    assert "CH001" in run["excluded"]["by_reason"]["no_fees"]["ids"]
    left = _rows(run, "excluded")
    assert {"section": "s18-3 half take-up", "id": "CH001", "reason": "no_fees",
            "label": run["excluded"]["by_reason"]["no_fees"]["label"]} in left


def test_the_pack_downloads_as_csv_and_xlsx_with_the_same_figures(pack):
    wb = openpyxl.load_workbook(io.BytesIO(reports.to_xlsx(pack)), read_only=True)
    assert {"Market", "CQC ratings", "Coverage by rurality", "FCoC fee gap",
            "Travel against FCoC", "Fee trajectory", "Providers at risk",
            "Left out"} <= set(wb.sheetnames)
    ws = wb["FCoC fee gap"]
    it = ws.iter_rows(values_only=True)
    header = list(next(it))
    xl = {r[header.index("group")]: r[header.index("median")] for r in it}
    assert xl == {r["group"]: r["median"] for r in _rows(pack, "fee_gap")}
    text = reports.to_csv(pack)
    assert "fee_gap,,residential,median" in text


def test_definitions_check_the_type_and_sections(sample_db):
    with pytest.raises(reports.InvalidReport, match="section"):
        reports.create_definition(sample_db, "x", ["s18-3 half take-up"], "0 6 * * 1",
                                  ["cross_subsidy"], report_type="msp")
    with pytest.raises(reports.InvalidReport, match="report type"):
        reports.create_definition(sample_db, "y", ["s18-3 half take-up"], "0 6 * * 1",
                                  report_type="annual")
    d = reports.create_definition(sample_db, "z", ["s18-3 half take-up"], "0 6 * * 1",
                                  ["fcoc", "overview"], report_type="msp")
    assert d["measures"] == ["overview", "fcoc"]  # in the pack's order
    with pytest.raises(reports.InvalidReport, match="type"):
        reports.update_definition(sample_db, "z", {"report_type": "fee_impact"})
    assert reports.update_definition(sample_db, "z", {"cron": "0 7 * * 1"})["report_type"] == \
        "msp"


def test_the_pack_from_the_api_and_the_page(app, client, api_token):
    token = bearer(api_token("admin"))
    r = client.post("/api/v1/reports", json={
        "name": "Pack", "scenarios": ["s18-3 half take-up"], "cron": "0 6 1 4 *",
        "report_type": "msp", "measures": ["overview", "fcoc", "trajectory"]}, headers=token)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["report_type"] == "msp"
    run = client.post("/api/v1/reports/Pack/run", headers=token)
    assert run.status_code in (200, 201, 202), run.get_json()
    run_id = run.get_json()["id"] if "id" in run.get_json() else run.get_json()["run_id"]
    report = client.get(f"/api/v1/reports/runs/{run_id}", headers=token).get_json()
    assert report["status"] == "done" and report["measures"] == ["overview", "fcoc",
                                                                  "trajectory"]
    pages = app.test_client()
    login(pages, "viewer")
    html = pages.get(f"/reports/runs/{run_id}").get_data(as_text=True)
    assert "Market Sustainability Plan evidence pack" in html
    assert 'id="msp-fcoc"' in html and 'id="msp-exposure"' not in html
    cost = next(r for r in _rows(report, "overview") if r["measure"] == "fcoc_cost_now")
    assert "£{:,.0f}".format(cost["value"]) in html


def test_an_admin_creates_and_edits_a_pack_with_the_form(app):
    from caremarket.store import open_store

    client = app.test_client()
    token = login(client, "admin")
    form = client.get("/reports/new").get_data(as_text=True)
    assert 'name="report_type"' in form and 'name="sections"' in form
    data = {"name": "Pack 2027", "cron": "0 6 1 4 *", "report_type": "msp",
            "scenarios": ["s18-3 quarter take-up", "s18-3 full take-up"],
            "sections": ["overview", "at_risk"], "measures": ["sweep"],  # measures: not a pack's
            "enabled": "on", "csrf_token": token}
    assert client.post("/reports/new", data={**data, "csrf_token": ""}).status_code == 400
    resp = client.post("/reports/new", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    store = open_store(app.config["DATABASE"])
    try:
        d = reports.get_definition(store, "Pack 2027")
        assert d["report_type"] == "msp" and d["measures"] == ["overview", "at_risk"]
    finally:
        store.close()
    page = client.get("/reports/Pack 2027").get_data(as_text=True)
    assert "Market Sustainability Plan evidence pack" in page and "Providers at risk" in page
    edit = client.get("/reports/Pack 2027/edit").get_data(as_text=True)
    assert 'name="report_type"' not in edit and 'name="measures"' not in edit
    resp = client.post("/reports/Pack 2027/edit", data={**data, "sections": ["trajectory"]})
    assert resp.status_code == 302
    store = open_store(app.config["DATABASE"])
    try:
        assert reports.get_definition(store, "Pack 2027")["measures"] == ["trajectory"]
    finally:
        store.close()
