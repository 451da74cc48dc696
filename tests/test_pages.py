"""The commissioners' pages: each renders real figures of the sample market for a viewer, a run's
page shows the numbers its stored result (and the API) holds, and imports through the form are
all or nothing with a row-level report."""

from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest

from tests.conftest import login

PAGES = ["/", "/providers", "/providers/CH001", "/providers/HC001", "/map", "/coverage",
         "/equalisation", "/data", "/zones/S0001", "/glossary"]


def text_of(html: str) -> str:
    """The visible text of a page, whitespace collapsed."""
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def element(html: str, element_id: str) -> str:
    """The HTML of the element with `element_id` (up to its matching closing tag)."""
    m = re.search(rf'<(\w+)\b[^>]*\bid="{re.escape(element_id)}"', html)
    assert m, f"no #{element_id} on the page"
    tag, start, depth, pos = m.group(1), m.start(), 0, m.start()
    for t in re.finditer(rf"<(/?){tag}\b[^>]*>", html[start:]):
        depth += -1 if t.group(1) else 1
        if depth == 0:
            pos = start + t.end()
            break
    return html[start:pos]


def data_value(html: str, measure: str) -> float:
    m = re.search(rf'data-measure="{measure}"[^>]*data-value="([^"]*)"', html)
    assert m, f"no figure for {measure}"
    return float(m.group(1))


def embedded_json(html: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html,
                  re.S)
    assert m, f"no #{element_id} data"
    return json.loads(m.group(1))


def start_run(client, csrf: str, body: dict) -> dict:
    """Start a run through the API as the pages' JavaScript does; return GET /runs/<id>."""
    resp = client.post("/api/v1/runs", json=body, headers={"X-CSRFToken": csrf})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    run = client.get(resp.get_json()["url"]).get_json()
    assert run["status"] == "done", run.get("error")
    return run


# -- every page, as a viewer ----------------------------------------------------------------------


def test_every_page_needs_a_login(client):
    for url in PAGES + ["/account/tokens"]:
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login"), url


def test_every_page_renders_for_a_viewer(client):
    login(client, "viewer")
    for url in PAGES + ["/account/tokens"]:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:300])
        html = resp.get_data(as_text=True)
        assert 'name="csrf-token"' in html and "/static/js/common.js" in html
        assert "cdn" not in html.lower() and "tile.openstreetmap" not in html


def test_overview_shows_the_market_by_rurality_and_its_freshness(client, store):
    from caremarket.importers import KINDS
    from web import queries

    expected = queries.overview(store)
    login(client, "viewer")
    html = client.get("/").get_data(as_text=True)
    t = expected["totals"]
    assert data_value(html, "beds") == t["beds"]
    assert data_value(html, "capacity_hours") == pytest.approx(t["capacity_hours"])
    kpis = text_of(element(html, "overview-kpis"))
    assert f"{t['beds']:,}" in kpis and f"{t['care_homes']:,}" in kpis
    assert f"{100 * t['care_home_self_funder_share']:.1f}%" in kpis
    assert f"£{t['mean_la_fee']:,.0f}" in kpis  # money with £ and separators
    table = text_of(element(html, "by-rurality"))
    for row in expected["by_rurality"]:
        assert f"{row['rurality']} {row['zones']:,} " in table
        assert f"{row['beds'] or 0:,}" in table
    fresh = element(html, "freshness")
    for kind in KINDS:  # every kind, imported or not
        assert f'data-kind="{kind}"' in fresh
    zones_row = re.search(r'data-kind="zones">(.*?)</tr>', fresh, re.S).group(1)
    last = next(f for f in expected["freshness"] if f["kind"] == "zones")
    assert last["last_file"] in zones_row and last["last_import"][:16].replace("T", " ") in \
        zones_row
    assert "never imported" in text_of(fresh)  # the sample has no travel matrix


def test_providers_are_searchable_sortable_and_paged(client, store):
    from web import queries

    login(client, "viewer")
    html = client.get("/providers").get_data(as_text=True)
    everything = queries.providers(store, {"per_page": 50})
    assert f"{everything['total']:,} in all" in text_of(html)
    rows = re.findall(r'data-provider-id="([^"]+)"', element(html, "providers-table"))
    assert rows == [p["provider_id"] for p in everything["items"]]
    assert 'rel="next"' in html

    html = client.get("/providers?kind=homecare&sort=-capacity_hours").get_data(as_text=True)
    biggest = max(store["homecare_providers"].rows, key=lambda r: r["capacity_hours"])
    first = re.search(r'data-provider-id="([^"]+)"', element(html, "providers-table")).group(1)
    assert first == biggest["provider_id"]
    assert 'aria-sort="descending"' in html

    rated = client.get("/providers?cqc_rating=Inadequate&rurality=village").get_data(
        as_text=True)
    ids = re.findall(r'data-provider-id="([^"]+)"', rated)
    expected = queries.providers(store, {"cqc_rating": "Inadequate", "rurality": "village",
                                         "per_page": 50})
    assert ids == [p["provider_id"] for p in expected["items"]]

    some = store.execute("select name from care_homes order by provider_id limit 1").fetchone()[0]
    found = client.get("/providers", query_string={"q": some}).get_data(as_text=True)
    assert some in text_of(element(found, "providers-table"))
    assert client.get("/providers?sort=nonsense").status_code == 400


def test_a_care_home_page_shows_its_viability_now_and_under_the_latest_scenario(client, store):
    from caremarket.analyses import care_home_baseline
    from caremarket.scenario_store import save_scenario
    from market.equalisation import run
    from market.scenarios import Scenario

    with store.atomic():
        store.execute("delete from scenarios")  # the sample ships with some
    login(client, "viewer")
    html = client.get("/providers/CH001").get_data(as_text=True)
    home = store["care_homes"].get("CH001")
    assert home["name"] in html and data_value(html, "beds") == home["beds"]
    assert "under no scenario" in text_of(html)

    save_scenario(store, Scenario("older one", {"take_up": 0.2}), user="test")
    save_scenario(store, Scenario("full take-up", {"take_up": 1.0}), user="test")
    html = client.get("/providers/CH001").get_data(as_text=True)
    assert "under “full take-up”" in text_of(html)  # the most recently saved is current
    # no run of it yet: the page says so (it solves no model in a request) ...
    assert "No equalisation run of “full take-up”" in text_of(html)
    assert 'id="viability-table"' not in html
    # ... and shows the figures of the run once there is one
    from caremarket import analyses

    analyses.equalisation(store, scenario_name="full take-up",
                          options={"montecarlo_draws": 0, "homecare": False})
    html = client.get("/providers/CH001").get_data(as_text=True)
    rec = next(r for r in run(care_home_baseline(store), {"take_up": 1.0}).provider_records()
               if r["provider_id"] == "CH001")
    table = element(html, "viability-table")
    cells = re.findall(r'data-value="([^"]*)"', re.search(
        r'data-measure="surplus_after_capital">(.*?)</tr>', table, re.S).group(1))
    assert float(cells[0]) == pytest.approx(rec["baseline"]["surplus_after_capital"])
    assert float(cells[1]) == pytest.approx(rec["scenario"]["surplus_after_capital"])
    cls = re.search(r'data-measure="class">(.*?)</tr>', table, re.S).group(1)
    assert rec["baseline"]["class"] in cls and rec["scenario"]["class"] in cls

    older = client.get("/providers/CH001?scenario=older+one").get_data(as_text=True)
    assert "under “older one”" in text_of(older)
    unknown = client.get("/providers/CH001?scenario=no+such").get_data(as_text=True)
    assert "no scenario called 'no such'" in text_of(unknown)
    assert client.get("/providers/NOPE").status_code == 404


def test_a_home_care_page_shows_the_zones_it_serves(client, store):
    from caremarket.analyses import build_coverage_model

    login(client, "viewer")
    html = client.get("/providers/HC001").get_data(as_text=True)
    model, _, _, _ = build_coverage_model(store, {})
    model.solve("auto")
    served = model.assignment[model.assignment["provider_id"] == "HC001"]
    table = text_of(element(html, "zones-served"))
    for zone_id in served["zone_id"]:
        assert zone_id in table
    # read from the equalisation run (the sample report's), not solved in the request
    assert data_value(html, "contact_hours") == pytest.approx(served["contact_hours"].sum())
    assert re.search(r'data-measure="class">.*?(sustainable|at risk|unviable)',
                     element(html, "viability-table"), re.S)


def test_the_map_without_runs_says_where_to_make_one(client, store):
    with store.atomic():
        store.execute("delete from runs")  # the sample ships with its report's runs
    login(client, "viewer")
    html = client.get("/map").get_data(as_text=True)
    data = embedded_json(html, "map-data")
    placed = store.execute("select count(*) from zones where lat is not null").fetchone()[0]
    assert len(data["layers"]["zones"]) == placed
    assert len(data["layers"]["care_homes"]) == store["care_homes"].count
    # without runs: the store's figures and the reach view (a read), nothing from a run
    assert set(data["measures"]) == {"demand_hours", "self_funder_share", "reach"}
    assert 'id="no-coverage-run"' in html and 'href="/coverage"' in html
    assert 'id="no-equalisation-run"' in html and 'href="/equalisation"' in html
    assert "L.tileLayer" not in html


def test_the_map_colours_zones_from_the_latest_runs(client, store):
    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.7},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    html = client.get("/map").get_data(as_text=True)
    m = embedded_json(html, "map-data")["measures"]
    for z in cov["result"]["zones_map"]:
        assert m["unmet_hours"][z["zone_id"]] == pytest.approx(z["unmet_hours"])
        assert m["cost_per_contact_hour"][z["zone_id"]] == z["cost_per_contact_hour"]
        assert m["gap"][z["zone_id"]] == z.get("gap")
    for z in eq["result"]["viability"]["totals"]["zone"]:
        assert m["beds_at_risk"][z["zone_id"]] == z["beds_at_risk_after"] + \
            z["beds_unviable_after"]
    assert sum(m["beds_at_risk"].values()) == eq["result"]["headline"]["beds_at_risk_after"]
    assert f'/coverage?run={cov["id"]}' in html and f'/equalisation?run={eq["id"]}' in html


# -- coverage --------------------------------------------------------------------------------------


def test_a_viewer_sees_the_run_button_disabled(client):
    login(client, "viewer")
    for url in ("/coverage", "/equalisation"):
        html = client.get(url).get_data(as_text=True)
        button = re.search(r'<button[^>]*id="run-button"[^>]*>', html).group(0)
        assert "disabled" in button and 'id="run-note"' in html
    login(client, "analyst")
    html = client.get("/coverage").get_data(as_text=True)
    assert "disabled" not in re.search(r'<button[^>]*id="run-button"[^>]*>', html).group(0)


def test_the_coverage_page_shows_a_run_as_stored(client, store):
    from caremarket.runs import get_run

    csrf = login(client, "analyst")
    api = start_run(client, csrf, {"kind": "coverage",
                                   "levers": {"max_minutes": 30, "remove_provider": ["HC001"]}})
    stored = get_run(store, api["id"])["result"]
    assert api["result"]["coverage"] == stored["coverage"]

    login(client, "viewer")  # results are linkable for every role
    html = client.get(f"/coverage?run={api['id']}").get_data(as_text=True)
    r = api["result"]
    assert f'data-run-id="{api["id"]}"' in html
    kpis = element(html, "coverage-kpis")
    for measure in ("coverage", "met_hours", "unmet_hours", "travel_hours",
                    "travel_minutes_per_contact_hour"):
        assert data_value(kpis, measure) == pytest.approx(r[measure], rel=1e-12)
    text = text_of(kpis)
    assert f"{100 * r['coverage']:.1f}%" in text
    assert f"{r['unmet_hours']:,.0f}" in text and f"{r['travel_hours']:,.0f}" in text
    assert data_value(kpis, "la_uplift_per_year") == pytest.approx(
        r["cost_of_care"]["la_uplift_per_year"])

    gaps = element(html, "care-gaps")
    assert re.findall(r'data-zone-id="([^"]+)"', gaps) == [g["zone_id"] for g in r["care_gaps"]]
    first = re.search(r'data-zone-id="[^"]+">.*?data-value="([^"]+)"', gaps, re.S).group(1)
    assert float(first) == pytest.approx(r["care_gaps"][0]["unmet_hours"])
    util = element(html, "provider-utilisation")
    assert re.findall(r'data-provider-id="([^"]+)"', util) == sorted(
        (p["provider_id"] for p in r["providers"]),
        key=lambda pid: next((-p["utilisation"], p["name"]) for p in r["providers"]
                             if p["provider_id"] == pid))
    assert "HC001" not in util  # removed by the lever
    costs = element(html, "cost-of-care")
    for row in r["cost_of_care"]["by_rurality"]:
        assert f"£{row['cost_per_contact_hour']:,.2f}" in text_of(costs)
    points = embedded_json(html, "coverage-points")["points"]
    assert {p["zone_id"]: p["unmet_hours"] for p in points} == {
        z["zone_id"]: z["unmet_hours"] for z in r["zones_map"] if z["lat"] is not None}
    # the form holds the run's levers, so it can be changed and run again
    assert re.search(r'name="max_minutes"[^>]*value="30"', html)
    assert re.search(r'<option value="HC001" selected', html)

    fragment = client.get(f"/coverage?run={api['id']}&fragment=1").get_data(as_text=True)
    assert "<html" not in fragment and element(fragment, "coverage-kpis") == kpis


def test_run_pages_show_running_failed_and_missing_runs(client, store):
    from caremarket.runs import fail_run
    from caremarket.runs import start_run as record_start

    login(client, "viewer")
    running = record_start(store, "coverage", {"levers": {}}, None, None, "test")
    html = client.get(f"/coverage?run={running}").get_data(as_text=True)
    assert 'data-status="running"' in html and 'role="progressbar"' in html
    failed = record_start(store, "equalisation", {}, None, None, "test")
    fail_run(store, failed, "no care homes")
    html = client.get(f"/equalisation?run={failed}").get_data(as_text=True)
    assert "failed: no care homes" in text_of(html)
    assert client.get(f"/coverage?run={failed}").status_code == 404  # not a coverage run
    assert client.get("/coverage?run=999").status_code == 404
    assert client.get("/equalisation?run=x").status_code == 400


# -- equalisation --------------------------------------------------------------------------------


def test_the_equalisation_page_shows_a_run_as_stored(client, store):
    from caremarket.runs import get_run

    csrf = login(client, "analyst")
    api = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.6},
                                   "options": {"montecarlo_draws": 2000}})
    r = get_run(store, api["id"])["result"]
    h = r["headline"]
    assert api["result"]["headline"] == h

    login(client, "viewer")
    html = client.get(f"/equalisation?run={api['id']}").get_data(as_text=True)
    results = element(html, "equalisation-results")
    assert f'data-run-id="{api["id"]}"' in results
    assert data_value(results, "beds_at_risk_after") == h["beds_at_risk_after"]
    assert data_value(results, "cross_subsidy_lost") == pytest.approx(h["cross_subsidy_lost"])
    assert data_value(results, "hours_at_risk_after") == pytest.approx(h["hours_at_risk_after"])
    assert data_value(results, "unmet_hours_added") == pytest.approx(
        h["unmet_hours_after"] - h["unmet_hours_before"])
    assert data_value(results, "beds_not_sustainable_median") == \
        h["beds_not_sustainable_median"]
    text = text_of(results)
    assert f"£{h['cross_subsidy_lost']:,.0f}" in text
    assert f"{h['beds_at_risk_before']:,.0f} → {h['beds_at_risk_after']:,.0f}" in text
    classes = element(results, "classes-table")
    for c in r["viability"]["totals"]["class"]:
        row = re.search(rf'data-class="{c["class"]}">(.*?)</tr>', classes, re.S).group(1)
        assert re.findall(r'data-value="([^"]+)"', row) == [str(c["providers_after"]),
                                                             str(c["beds_after"])]
    # break-even fees: every home, largest uplift first
    be = element(results, "break-even")
    ids = re.findall(r'data-provider-id="([^"]+)"', be)
    homes = r["viability"]["providers"]
    assert len(ids) == len(homes)
    top = max(homes, key=lambda p: p["scenario"]["fee_uplift"] or 0)
    assert ids[0] == top["provider_id"]
    assert f"£{top['scenario']['break_even_la_fee']:,.2f}" in text_of(be)
    # the charts' data is the run's own
    charts = embedded_json(results, "equalisation-charts")
    assert charts["sweep"]["x"] == [row["take_up"] for row in r["sweep"]["table"]]
    assert charts["sweep"]["series"]["unviable"] == [row["beds_unviable"]
                                                      for row in r["sweep"]["table"]]
    assert charts["sweep"]["current"] == pytest.approx(0.6)
    assert sum(charts["margins"]["before"]) == sum(charts["margins"]["after"]) == len(homes)
    assert charts["montecarlo"]["market"] == r["montecarlo"]["market"]
    for canvas in ("margin-chart", "sweep-chart", "mc-chart"):
        assert f'id="{canvas}"' in results
    # the sliders hold the run's scenario
    assert re.search(r'name="take_up"[^>]*value="0.6"', html)


def test_a_run_without_sweep_monte_carlo_or_home_care_still_renders(client):
    csrf = login(client, "analyst")
    api = start_run(client, csrf, {"kind": "equalisation", "scenario": {"cost_change": 0.1},
                                   "options": {"montecarlo_draws": 0, "sweep_parameter": None,
                                               "homecare": False}})
    html = client.get(f"/equalisation?run={api['id']}").get_data(as_text=True)
    assert 'id="sweep-chart"' not in html and 'id="mc-chart"' not in html
    assert "No sweep in this run" in html and "No Monte Carlo in this run" in html
    assert data_value(html, "beds_at_risk_after") == api["result"]["headline"][
        "beds_at_risk_after"]


def test_saved_scenarios_are_compared_side_by_side(client):
    csrf = login(client, "analyst")
    for name, values in (("full take-up", {"take_up": 1.0}),
                         ("fees up", {"take_up": 0.5, "la_fee_change": 0.1})):
        resp = client.post("/api/v1/scenarios", json={"name": name, "values": values},
                           headers={"X-CSRFToken": csrf})
        assert resp.status_code == 201
    login(client, "viewer")
    html = client.get("/equalisation").get_data(as_text=True)
    listed = [s["name"] for s in embedded_json(html, "scenarios-data")]
    assert {"fees up", "full take-up"} <= set(listed) and listed == sorted(listed)
    api = client.get("/api/v1/scenarios/compare?names=full take-up,fees up").get_json()
    html = client.get("/equalisation?compare=full+take-up&compare=fees+up").get_data(
        as_text=True)
    table = element(html, "compare-table")
    for measure in api["measures"]:
        row = re.search(rf'data-measure="{measure}">(.*?)</tr>', table, re.S).group(1)
        for col, value in re.findall(r'data-scenario="([^"]+)" data-value="([^"]*)"', row):
            expected = api["columns"][unescape(col)][measure]
            if isinstance(expected, str):  # the fee basis
                assert value == expected
            else:
                assert float(value) == pytest.approx(expected)
    assert "£" in text_of(table) and "+10%" in text_of(table)
    bad = client.get("/equalisation?compare=nope").get_data(as_text=True)
    assert "no scenario called 'nope'" in text_of(bad)


# -- data ----------------------------------------------------------------------------------------

GOOD = ("provider_id,name,beds,occupancy,lat,lon,self_funder_share,self_funder_fee,la_fee,"
        "cost_per_resident_week,capital_cost_per_bed_week\n"
        "CH900,Fen View,30,0.9,53.1,-0.2,0.4,1100,800,780,120\n")
BROKEN = ("provider_id,name,beds,occupancy\nCH1,Fen View,30,0.9\nCH2,Marsh House,-5,0.8\n"
          "CH3,Old Rectory,20,1.7\n")


def upload(client, csrf: str, kind: str, name: str, content: str):
    return client.post("/data", data={"csrf_token": csrf, "kind": kind,
                                      "file": (io.BytesIO(content.encode()), name)},
                       content_type="multipart/form-data")


def test_a_good_file_is_imported_through_the_form(client, store):
    csrf = login(client, "analyst")
    resp = upload(client, csrf, "care-homes", "new homes.csv", GOOD)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    summary = text_of(element(html, "import-summary"))
    assert "Imported new homes.csv as care-homes" in summary and "care_homes: 1" in summary
    assert store["care_homes"].get("CH900")["beds"] == 30
    history = element(html, "imports-table")
    last = store.execute("select id, file_name, user from imports order by id desc limit 1"
                         ).fetchone()
    assert f'data-import-id="{last[0]}"' in history
    assert last[1:] == ("new homes.csv", "analyst@example.org")
    audit = store.execute("select user, action, target, detail from audit_log where action = "
                          "'import' order by id desc limit 1").fetchone()
    assert audit[:3] == ("analyst@example.org", "import", "care-homes")
    assert json.loads(audit[3])["import_id"] == last[0]
    assert "CH900" in client.get("/providers?q=Fen+View").get_data(as_text=True)


def test_a_broken_file_is_rejected_row_by_row_and_the_store_is_untouched(client, store):
    from caremarket.store import dump

    csrf = login(client, "analyst")
    before = dump(store)
    resp = upload(client, csrf, "care-homes", "care_homes_bad.csv", BROKEN)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    rows = re.findall(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td><td>(.*?)</td>",
                      element(html, "import-errors"))
    assert [(f, int(r), c) for f, r, c, _ in rows] == [("care_homes_bad.csv", 3, "beds"),
                                                       ("care_homes_bad.csv", 4, "occupancy")]
    assert "nothing was written" in text_of(html)
    # nothing changed at all: not the import history, not even the audit log
    assert dump(store) == before
    assert store["care_homes"].count == 150


def test_an_unknown_kind_or_missing_file_is_reported(client, store):
    csrf = login(client, "analyst")
    resp = upload(client, csrf, "nonsense", "x.csv", GOOD)
    assert resp.status_code == 422 and "choose what the file holds" in text_of(
        element(resp.get_data(as_text=True), "import-errors"))
    resp = client.post("/data", data={"csrf_token": csrf, "kind": "care-homes"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "choose a file" in resp.get_data(as_text=True)
    assert store.execute("select count(*) from care_homes where provider_id = 'CH900'"
                         ).fetchone()[0] == 0


def test_a_viewer_cannot_upload(client, store):
    from caremarket.store import dump

    csrf = login(client, "viewer")
    html = client.get("/data").get_data(as_text=True)
    assert 'id="import-form"' not in html and 'id="import-note"' in html
    before = dump(store)
    resp = upload(client, csrf, "care-homes", "new homes.csv", GOOD)
    assert resp.status_code == 403
    assert dump(store) == before


def test_the_upload_form_needs_its_csrf_token(client, store):
    login(client, "analyst")
    resp = client.post("/data", data={"kind": "care-homes",
                                      "file": (io.BytesIO(GOOD.encode()), "x.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert store.execute("select count(*) from care_homes where provider_id = 'CH900'"
                         ).fetchone()[0] == 0


# -- account pages rendered by web.auth ------------------------------------------------------------


def test_token_and_user_pages(client, store):
    csrf = login(client, "admin")
    resp = client.post("/account/tokens", data={"csrf_token": csrf, "name": "spreadsheet"})
    html = resp.get_data(as_text=True)
    token = re.search(r'id="new-token">(cm_[^<]+)<', html).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    assert "spreadsheet" in text_of(element(html, "tokens-table"))
    users = client.get("/admin/users").get_data(as_text=True)
    for role in ("admin", "analyst", "viewer"):
        assert f'data-email="{role}@example.org"' in users
    assert "token.create" in text_of(element(users, "audit-table"))
    login(client, "viewer")
    assert client.get("/admin/users").status_code == 403


# -- number formats --------------------------------------------------------------------------------


def test_numbers_read_as_a_commissioner_expects():
    from caremarket.formats import money, number, parameter, pct

    assert number(1234567.4) == "1,234,567" and number(2.345, 1) == "2.3"
    assert number(None) == number(float("nan")) == "–" and number(-0.2) == "0"
    assert money(1234.5, 2) == "£1,234.50" and money(-20) == "−£20"
    assert pct(0.8412) == "84.1%" and pct(-0.05, 0, signed=True) == "−5%"
    assert parameter(0.6, "take_up") == "60%" and parameter(0.05, "la_fee_change") == "+5%"
    assert parameter(0.0, "cost_change") == "0%" and parameter(-0.05, "occupancy_change") == \
        "−5.0 pts"
    assert parameter(12.71, "care_worker_hourly_wage") == "£12.71"


def test_a_coverage_run_recorded_by_the_cli_shows_on_the_map_and_its_page(app, client):
    from click.testing import CliRunner

    from caremarket.cli import cli

    res = CliRunner().invoke(cli, ["--db", app.config["DATABASE"], "coverage", "--max-minutes",
                                   "30", "--json"])
    assert res.exit_code == 0, res.output
    run_id = json.loads(res.output)["run_id"]
    login(client, "viewer")
    assert client.get("/map").status_code == 200
    page = client.get(f"/coverage?run={run_id}")
    assert page.status_code == 200
    assert client.get(f"/coverage?run={run_id}&fragment=1").status_code == 200
    run = client.get(f"/api/v1/runs/{run_id}").get_json()
    assert run["result"]["zones_map"] and run["result"]["levers"]["max_minutes"] == 30


def test_care_homes_without_self_funder_fees_still_render(tmp_path, monkeypatch):
    """A care-homes file may leave out fees: the overview and the home's page say what they
    can, never a 500."""
    from caremarket import accounts
    from caremarket.importers import import_file
    from caremarket.store import open_store
    from web import create_app

    path = tmp_path / "partial.db"
    store = open_store(path)
    (tmp_path / "z.csv").write_text("zone_id,name,lat,lon,rurality,demand_hours\n"
                                    "Z1,Fen,53.0,-0.3,village,100\n")
    (tmp_path / "h.csv").write_text("provider_id,name,beds,lat,lon,la_fee\n"
                                    "CH001,Fen View,30,53.0,-0.3,800\n")
    import_file(store, "zones", tmp_path / "z.csv")
    import_file(store, "care-homes", tmp_path / "h.csv")
    accounts.create_user(store, "v@example.org", "viewer-password-1", "viewer")
    store.close()
    monkeypatch.setenv("CAREMARKET_INSTANCE", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "x",
                      "RUN_SYNC": True, "SCHEDULER_ENABLED": False})
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": "v@example.org", "password": "viewer-password-1",
                                "csrf_token": token})
    for url in ("/", "/api/v1/overview", "/providers/CH001", "/providers", "/map"):
        assert client.get(url).status_code == 200, url
    app.extensions["caremarket.tasks"].shutdown()
