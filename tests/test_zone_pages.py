"""The zone page and its API twin, the glossary, plain-word schedules and the print layouts.

The zone page `/zones/<id>` renders the dict `GET /api/v1/zones/<id>` returns
(web.queries.zone), whose model figures are read from the latest coverage and equalisation runs
(caremarket.analyses.zone_profile): no model is solved in the request.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import login
from tests.test_pages import data_value, element, start_run, text_of


def test_a_zone_page_shows_the_figures_its_api_returns(client, store):
    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    r = cov["result"]
    gap = r["care_gaps"][0]["zone_id"]
    zone_of_home = next(h["zone_id"] for h in eq["result"]["viability"]["providers"]
                        if h.get("zone_id"))
    login(client, "viewer")
    for zid in (gap, zone_of_home):
        api = client.get(f"/api/v1/zones/{zid}").get_json()
        z = next(x for x in r["zones_map"] if x["zone_id"] == zid)
        c = api["coverage"]
        assert c["status"] == "current" and c["run_id"] == cov["id"]
        for key in ("met_hours", "unmet_hours", "travel_minutes_per_contact_hour",
                    "cost_per_contact_hour", "la_hourly_rate", "gap"):
            assert c[key] == z.get(key), key
        assert c["max_minutes"] == 30
        # the agencies in reach: nearest first, within the limit, with the hours they cover
        minutes = [a["minutes"] for a in c["agencies"]]
        assert minutes == sorted(minutes) and all(m <= 30 for m in minutes)
        assert sum(a["contact_hours"] for a in c["agencies"]) == pytest.approx(z["met_hours"])
        assert len(c["agencies"]) == min(z["reachable_providers"], 10) or \
            len(c["agencies"]) > 10
        # population bands, care homes and beds from the store
        row = store.execute("select population_65_74, population_75_84, population_85_plus, "
                            "rurality from zones where zone_id = ?", [zid]).fetchone()
        assert [p["people"] for p in api["population"]] == list(row[:3])
        assert api["rurality"] == row[3]
        beds = store.execute("select coalesce(sum(beds), 0) from care_homes where zone_id = ?",
                             [zid]).fetchone()[0]
        assert api["beds"] == beds
        e = api["equalisation"]
        assert e["run_id"] == eq["id"]
        want = {h["provider_id"]: h["scenario"]["class"]
                for h in eq["result"]["viability"]["providers"] if h.get("zone_id") == zid}
        assert {h["provider_id"]: h["class_after"] for h in e["homes"]} == want

        html = client.get(f"/zones/{zid}").get_data(as_text=True)
        kpis = element(html, "zone-kpis")
        assert data_value(kpis, "unmet_hours") == pytest.approx(c["unmet_hours"])
        assert data_value(kpis, "demand_hours") == pytest.approx(api["demand_hours"])
        if c["cost_per_contact_hour"] is not None:
            assert data_value(kpis, "cost_per_contact_hour") == pytest.approx(
                c["cost_per_contact_hour"])
        else:
            assert "No agency within reach" in text_of(kpis)
        if c["agencies"]:
            table = element(html, "zone-agencies")
            assert re.findall(r'data-provider-id="([^"]+)"', table) == [
                a["provider_id"] for a in c["agencies"]]
        homes = element(html, "zone-care-homes")
        assert set(re.findall(r'data-provider-id="([^"]+)"', homes)) == {
            h["provider_id"] for h in api["care_homes"]}
        assert "/glossary#unmet-hours" in kpis and "Traceback" not in html


def test_a_zone_page_before_any_run_and_after_the_data_changed(client, store):
    store.execute("delete from runs")
    store.conn.commit()
    login(client, "viewer")
    zid = store.execute("select zone_id from zones order by zone_id limit 1").fetchone()[0]
    api = client.get(f"/api/v1/zones/{zid}").get_json()
    assert api["coverage"] == {"status": "missing", "run_id": None}
    assert api["equalisation"] == {"status": "missing", "run_id": None}
    html = client.get(f"/zones/{zid}").get_data(as_text=True)
    assert "zone-no-coverage" in html

    csrf = login(client, "analyst")
    start_run(client, csrf, {"kind": "coverage", "levers": {}})
    store.execute("update zones set demand_hours = demand_hours + 1 where zone_id = ?", [zid])
    store.conn.commit()
    api = client.get(f"/api/v1/zones/{zid}").get_json()
    assert api["coverage"]["status"] == "stale"
    assert "zone-stale" in client.get(f"/zones/{zid}").get_data(as_text=True)


def test_an_unknown_zone_is_a_404_page_and_envelope(client):
    login(client, "viewer")
    page = client.get("/zones/NO-SUCH-ZONE")
    assert page.status_code == 404 and "NO-SUCH-ZONE" in page.get_data(as_text=True)
    api = client.get("/api/v1/zones/NO-SUCH-ZONE")
    assert api.status_code == 404
    assert api.get_json()["error"]["code"] == "not_found"


def test_tables_that_name_a_zone_link_to_its_page(client, store):
    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    html = client.get(f"/coverage?run={cov['id']}").get_data(as_text=True)
    for table in ("care-gaps", "zone-costs"):
        links = re.findall(r'href="/zones/([^"]+)"', element(html, table))
        assert links, table
    gaps = re.findall(r'href="/zones/([^"]+)"', element(html, "care-gaps"))
    assert gaps == [g["zone_id"] for g in cov["result"]["care_gaps"]]
    html = client.get(f"/equalisation?run={eq['id']}").get_data(as_text=True)
    assert re.findall(r'href="/zones/([^"]+)"', element(html, "break-even"))
    overview = client.get("/").get_data(as_text=True)
    assert re.findall(r'href="/zones/([^"]+)"', element(overview, "zones-table"))


def test_the_glossary_explains_each_linked_term(client, store):
    from web.glossary import ANCHORS

    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {}})
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"la_fee_change": 0.1},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    glossary = client.get("/glossary").get_data(as_text=True)
    linked = set()
    for path in ("/", f"/coverage?run={cov['id']}", f"/equalisation?run={eq['id']}"):
        linked |= set(re.findall(r'/glossary#([a-z-]+)', client.get(path).get_data(as_text=True)))
    assert linked and linked <= ANCHORS
    for anchor in linked:
        assert f'id="{anchor}"' in glossary
    entry = text_of(glossary.split('id="cross-subsidy-lost"')[1].split("</dd>")[0])
    assert "higher LA fee" in entry and "narrows" in entry


@pytest.mark.parametrize("cron, words", [
    ("0 6 * * 1", "every Monday at 06:00"),
    ("30 7 * * 1-5", "every weekday (Monday to Friday) at 07:30"),
    ("0 6 * * 0,6", "every Saturday and Sunday at 06:00"),
    ("0 6 * * 7", "every Sunday at 06:00"),
    ("0 6 1 * *", "on the 1st of every month at 06:00"),
    ("0 6 1 1,4,7,10 *", "on the 1st of January, April, July and October at 06:00"),
    ("0 6,18 * * *", "every day at 06:00 and 18:00"),
    ("*/15 * * * *", "every 15 minutes"),
    ("0 * * * *", "every hour, on the hour"),
    ("0 6 * * mon-fri", "every weekday (Monday to Friday) at 06:00"),
])
def test_a_schedule_reads_in_words(cron, words):
    from caremarket.reports import schedule_words

    assert schedule_words(cron) == words
    assert schedule_words(cron, "Europe/London") == f"{words} (Europe/London time)"


def test_the_reports_list_shows_schedules_in_words(client):
    login(client, "viewer")
    html = client.get("/reports").get_data(as_text=True)
    if "report-definitions" not in html:
        pytest.skip("the sample store holds no report definition")
    table = text_of(element(html, "report-definitions"))
    assert "every Monday at 06:00" in table or " at " in table
    assert "* * *" not in table


def test_the_overview_opens_with_a_headline_in_words(client, store):
    csrf = login(client, "analyst")
    cov = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    api = client.get("/api/v1/overview").get_json()["headline"]
    r = cov["result"]
    assert api["coverage"]["share_met"] == pytest.approx(r["coverage"])
    assert api["coverage"]["zones_with_gap"] == len(
        [z for z in r["zones"] if z["unmet_hours"] > max(1e-6, 1e-6 * r["demand_hours"])])
    h = eq["result"]["headline"]["homes_by_class"]
    assert api["equalisation"]["homes_at_risk_after"] == h["after"].get("at risk", 0) + \
        h["after"].get("unviable", 0)
    html = client.get("/").get_data(as_text=True)
    words = element(html, "overview-headline")
    assert data_value(words, "share_met") == pytest.approx(r["coverage"])
    text = text_of(words)
    assert f"{100 * r['coverage']:.0f}% of home-care demand can be met" in text
    assert f"{api['coverage']['zones_with_gap']} of {len(r['zones'])} zones have a care gap" in text
    assert "care homes are at risk or unviable now" in text
    assert "Data last imported" in text or "No data imported yet" in text


def test_the_homes_that_tip_first_lead_the_equalisation_page(client):
    csrf = login(client, "analyst")
    eq = start_run(client, csrf, {"kind": "equalisation", "scenario": {"take_up": 0.5},
                                  "options": {"montecarlo_draws": 0, "homecare": False}})
    homes = eq["result"]["viability"]["providers"]
    tips = {t["provider_id"]: t for t in eq["result"]["sweep"]["tipping"]}
    hit = [h for h in homes if h["scenario"]["class"] != "sustainable"]
    html = client.get(f"/equalisation?run={eq['id']}").get_data(as_text=True)
    table = element(html, "tipping-first")
    listed = re.findall(r'<tr data-provider-id="([^"]+)"', table)
    assert sorted(listed) == sorted(h["provider_id"] for h in hit) and listed
    # the first to tip as take-up rises at the top: a point below 0 is "already"
    firsts = [max(tips[p]["at_risk_at"], 0.0) for p in listed]
    assert firsts == sorted(firsts)
    for attr in ("data-class", "data-zone", "data-group"):
        assert attr in table
    filters = element(html, "first-filters")
    zones = {h["zone_id"] for h in hit if h.get("zone_id")}
    assert set(re.findall(r"<option>([^<]+)</option>", filters)) >= zones
    # then the full table, every home
    full = element(html, "break-even")
    assert len(re.findall(r"<tr data-provider-id=", full)) == len(homes)
    assert html.index('id="tipping-first"') < html.index('id="break-even"')


def test_a_devon_zone_lists_the_bases_in_reach_with_the_real_travel_minutes(runner, tmp_path):
    """On the real Devon case the zone's agencies in reach are the imported travel matrix's
    pairs within the limit, nearest first, with the matrix's minutes."""
    from caremarket import analyses
    from caremarket.cli import cli
    from caremarket.store import open_store
    from tests.conftest import shared
    from web import queries

    path = str(tmp_path / "devon.db")
    r = runner.invoke(cli, ["--db", path, "init", "--devon", str(shared("devon"))])
    assert r.exit_code == 0, r.output
    db = open_store(path)
    try:
        run = analyses.coverage(db, {"max_minutes": 30, "solver": "highs"})
        served = max((z for z in run["zones"] if z["met_hours"] > 1),
                     key=lambda z: (z["reachable_providers"], z["zone_id"]))
        assert served["reachable_providers"] > 1
        zone = queries.zone(db, served["zone_id"])
        c = zone["coverage"]
        assert c["status"] == "current" and c["max_minutes"] == 30
        matrix = db.execute("select provider_id, minutes from travel_times where zone_id = ? "
                            "and minutes <= 30 order by minutes, provider_id",
                            [served["zone_id"]]).fetchall()
        assert len(matrix) == served["reachable_providers"]
        got = {a["provider_id"]: a["minutes"] for a in c["agencies"]}
        for pid, minutes in matrix:
            if pid in got:
                assert got[pid] == pytest.approx(minutes, abs=0.01)
        nearest = sorted(m for _, m in matrix)[:analyses.REACH_PER_ZONE]
        assert sorted(got.values())[:len(nearest)] == pytest.approx(nearest, abs=0.01)
        assert all(a["source"] == "matrix" for a in c["agencies"])
        assert sum(a["contact_hours"] for a in c["agencies"]) == pytest.approx(
            served["met_hours"])
        assert c["unmet_hours"] == pytest.approx(served["unmet_hours"])
    finally:
        db.close()


def test_reach_keeps_the_nearest_bases_and_every_one_used():
    """CoverageModel.bases_in_reach: per zone the `per_zone` nearest bases and every base with hours
    there, nearest first; a small instance checked by hand."""
    from optimizer.coverage import CoverageModel
    from tests.test_coverage import KM_LAT, prov_frame, zone_frame

    # zone A with three bases 0, 5 and 10 km north; only the farthest has capacity
    zones = zone_frame([["A", 50.0, -3.0, "urban", 100.0]])
    provs = prov_frame([["NEAR", 50.0, -3.0, 0.0], ["MID", 50.0 + 5 * KM_LAT, -3.0, 0.0],
                        ["FAR", 50.0 + 10 * KM_LAT, -3.0, 500.0]])
    m = CoverageModel.from_frames(zones, provs).solve("cbc")
    full = m.bases_in_reach(10)
    assert list(full["provider_id"]) == ["NEAR", "MID", "FAR"]
    assert list(full["minutes"]) == sorted(full["minutes"])
    assert full.set_index("provider_id").loc["FAR", "contact_hours"] == pytest.approx(100.0)
    capped = m.bases_in_reach(1)  # the nearest, and the one used though it is not among the nearest
    assert list(capped["provider_id"]) == ["NEAR", "FAR"]


def test_a_report_run_links_its_zones_to_their_pages(client):
    from caremarket import reports as R

    login(client, "viewer")
    items = client.get("/api/v1/reports").get_json()["items"]
    run_id = next(d for d in items if d["name"] == R.SAMPLE_REPORT)["latest_done_run"]["id"]
    run = client.get(f"/api/v1/reports/runs/{run_id}").get_json()
    zones = set()
    for t in run["detail"]:
        keys = [c["key"] for c in t["columns"]]
        if "zone_id" in keys:
            zones |= {str(row[keys.index("zone_id")]) for row in t["rows"]}
    page = client.get(f"/reports/runs/{run_id}").get_data(as_text=True)
    linked = set(re.findall(r'href="/zones/([^"]+)"', page))
    assert linked, "the sample report names zones (home-care exits): each links to its page"
    assert zones and zones == linked
