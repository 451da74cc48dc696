"""Report pages and the /api/v1/reports routes: the page shows the figures the API returns, the
CSV and XLSX downloads carry them too, changes are highlighted, roles, CSRF and the envelope."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from caremarket import reports as R
from caremarket.store import open_store
from tests.conftest import bearer, csrf_from, login

API = "/api/v1/reports"
CELL = re.compile(r'<td class="num( changed)?" data-scenario="([^"]*)" data-measure="([^"]*)"'
                  r'(?: data-value="([^"]*)")?')


def _page_cells(text: str) -> dict[tuple[str, str], tuple[float | None, bool]]:
    """(scenario, measure) -> (data-value, highlighted) of the headline cells of a report page."""
    head = text[text.index('id="report-headline"'):]
    head = head[:head.index("</table>")]
    return {(html.unescape(m[1]), html.unescape(m[2])): (float(m[3]) if m[3] else None,
                                                          bool(m[0]))
            for m in CELL.findall(head)}


def _json_figures(run: dict) -> dict[tuple[str, str], float | None]:
    h = run["headline"]
    return {(sc, r["measure"]): r["values"][sc] for r in h["rows"] for sc in h["scenarios"]}


def _latest_done(client, headers=None) -> int:
    items = client.get(API, headers=headers or {}).get_json()["items"]
    return next(d for d in items if d["name"] == R.SAMPLE_REPORT)["latest_done_run"]["id"]


def test_the_report_page_csv_and_xlsx_show_the_figures_of_the_json(client):
    import openpyxl

    login(client, "viewer")
    index = client.get("/reports").get_data(as_text=True)
    link = re.search(r'<a class="report-run" href="([^"]+)"', index)
    assert link, "the sample report's run is listed"
    run_id = _latest_done(client)
    assert link.group(1) == f"/reports/runs/{run_id}"
    run = client.get(f"{API}/runs/{run_id}").get_json()
    assert run["status"] == "done" and run["report_name"] == R.SAMPLE_REPORT
    page = client.get(link.group(1)).get_data(as_text=True)
    figures = _json_figures(run)
    cells = _page_cells(page)
    assert set(cells) == set(figures) and len(cells) >= 30
    for key, value in figures.items():
        assert cells[key][0] == value, key  # data-value is the JSON number, unrounded
    assert run["input_hash"] in page
    for row in run["headline"]["rows"][:5]:
        assert html.escape(row["label"]) in page
    csv_href = re.search(r'id="download-csv" href="([^"]+)"', page).group(1)
    xlsx_href = re.search(r'id="download-xlsx" href="([^"]+)"', page).group(1)
    resp = client.get(csv_href)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    from_csv = {(r["scenario"], r["measure"]): float(r["value"]) for r in rows
                if r["section"] == "headline" and r["value"]}
    assert from_csv == {k: v for k, v in figures.items() if v is not None}
    resp = client.get(xlsx_href)
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(resp.data), read_only=True)
    it = wb["Headline"].iter_rows(values_only=True)
    header = list(next(it))
    for row in it:
        rec = dict(zip(header, row, strict=True))
        assert rec["value"] == pytest.approx(figures[(rec["scenario"], rec["measure"])],
                                             rel=1e-15)
    wb.close()
    one = client.get(f"{API}/runs/{run_id}.csv?table=care_homes").get_data(as_text=True)
    assert one.splitlines()[0].startswith("scenario,provider_id,name,")
    # the page routes serve the same files
    assert client.get(f"/reports/runs/{run_id}.csv").data == client.get(csv_href).data


def test_a_run_started_from_the_api_highlights_what_changed(app, client, api_token):
    token = api_token("analyst")
    first = _latest_done(client, bearer(token))
    before = client.get(f"{API}/runs/{first}", headers=bearer(token)).get_json()
    store = open_store(app.config["DATABASE"])
    with store.atomic():  # a home changes its fees: new data
        store.execute("update care_homes set la_fee = la_fee * 1.05, "
                      "self_funder_fee = max(self_funder_fee, la_fee * 1.05) "
                      "where provider_id in ('CH001', 'CH002', 'CH003')")
    store.close()
    resp = client.post(f"{API}/{R.SAMPLE_REPORT}/run", headers=bearer(token))
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "done" and resp.headers["Location"] == body["url"]
    run = client.get(body["url"], headers=bearer(token)).get_json()
    ch = run["changes"]
    assert ch["previous"]["id"] == first and ch["input_hash_changed"]
    assert ch["headline"], "LA fee rises change the extra LA spend"
    changed = {(f["scenario"], f["measure"]) for f in ch["headline"]}
    login(client, "viewer")
    page = client.get(body["page"]).get_data(as_text=True)
    cells = _page_cells(page)
    assert {k for k, (_v, hi) in cells.items() if hi} == changed
    for sc, measure in changed:
        f = next(x for x in ch["headline"] if (x["scenario"], x["measure"]) == (sc, measure))
        assert f["before"] == _json_figures(before)[(sc, measure)]
    assert "the data changed" in page
    cmp = client.get(f"{API}/compare?a={first}&b={run['id']}").get_json()
    assert cmp["changes"]["headline"] == ch["headline"]
    page = client.get(f"/reports/compare?a={first}&b={run['id']}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('class="num changed"') == len(changed)
    history = client.get(f"{API}/{R.SAMPLE_REPORT}/runs").get_json()
    assert [i["id"] for i in history["items"]] == [run["id"], first]
    assert history["items"][0]["url"] == f"{API}/runs/{run['id']}"
    hist_page = client.get(f"/reports/{R.SAMPLE_REPORT}").get_data(as_text=True)
    assert f'value="{first}"' in hist_page and ch["summary"] in html.unescape(hist_page)


def test_definitions_through_the_api_need_an_admin_and_valid_fields(app, client, api_token):
    admin, analyst, viewer = (bearer(api_token(r)) for r in ("admin", "analyst", "viewer"))
    scenario = R.SAMPLE_SCENARIOS[0][0]
    body = {"name": "Monthly", "scenarios": [scenario], "cron": "0 7 1 * *",
            "measures": ["cross_subsidy", "classes"], "description": "first of the month"}
    for who in (viewer, analyst):
        resp = client.post(API, json=body, headers=who)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    resp = client.post(API, json=body, headers=admin)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"].endswith("/api/v1/reports/Monthly")
    d = resp.get_json()
    assert d["measures"] == ["cross_subsidy", "classes"] and d["next_run_at"]
    cases = [({**body, "name": "B", "cron": "0 7 1 *"}, 422, "give 5 fields"),
             ({**body, "name": "B", "scenarios": ["Nope"]}, 422, "unknown scenario(s) 'Nope'"),
             ({**body, "name": "Monthly"}, 422, "exists already"),
             ({**body, "name": "B", "colour": "red"}, 400, "colour"),
             ({**body, "name": "B", "scenarios": "x"}, 400, "scenarios"),
             ({**body, "name": "B", "enabled": "yes"}, 400, "enabled")]
    for payload, status, message in cases:
        resp = client.post(API, json=payload, headers=admin)
        err = resp.get_json()["error"]
        assert resp.status_code == status and err["status"] == status, (payload, err)
        assert message in err["message"], err
    resp = client.post(API, data="not json", headers=admin)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_request"

    assert client.put(f"{API}/Monthly", json={"cron": "0 8 * * 2"},
                      headers=analyst).status_code == 403
    resp = client.put(f"{API}/Monthly", json={"cron": "0 8 * * 2", "enabled": False},
                      headers=admin)
    assert resp.status_code == 200 and resp.get_json()["cron"] == "0 8 * * 2"
    assert resp.get_json()["enabled"] is False
    resp = client.put(f"{API}/Monthly", json={"cron": "0 99 * * *"}, headers=admin)
    assert resp.status_code == 422
    got = client.get(f"{API}/Monthly", headers=viewer).get_json()
    assert got["cron"] == "0 8 * * 2" and got["runs"] == 0 and got["latest_run"] is None

    assert client.post(f"{API}/Monthly/run", headers=viewer).status_code == 403
    resp = client.post(f"{API}/Monthly/run", headers=analyst)
    assert resp.status_code == 202
    run_id = resp.get_json()["run_id"]
    assert client.delete(f"{API}/Monthly", headers=analyst).status_code == 403
    resp = client.delete(f"{API}/Monthly", headers=admin)
    assert resp.status_code == 200 and resp.get_json() == {"deleted": "Monthly"}
    for path in (f"{API}/Monthly", f"{API}/runs/999999", f"{API}/runs/999999.csv",
                 f"{API}/Nope/runs"):
        resp = client.get(path, headers=viewer)
        assert resp.status_code == 404, path
        assert resp.get_json()["error"]["code"] == "not_found"
    # the run outlives its definition, and is still listed under its name
    assert client.get(f"{API}/runs/{run_id}", headers=viewer).get_json()["status"] == "done"
    kept = client.get(f"{API}/Monthly/runs", headers=viewer).get_json()
    assert [i["id"] for i in kept["items"]] == [run_id]
    store = open_store(app.config["DATABASE"])
    audit = [(r["user"], r["action"]) for r in store["audit_log"].rows_where(
        "target = 'Monthly'", order_by="id")]
    store.close()
    assert audit == [("admin@example.org", "report.create"),
                     ("admin@example.org", "report.update"),
                     ("analyst@example.org", "report.run"),
                     ("admin@example.org", "report.delete")]


def test_errors_unfinished_runs_and_anonymous_requests(app, client, api_token):
    viewer = bearer(api_token("viewer"))
    assert client.get(API).status_code == 401
    assert client.get(API).get_json()["error"]["code"] == "unauthenticated"
    resp = client.get("/reports")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get(f"{API}/compare?a=x&b=2", headers=viewer).status_code == 400
    # a report whose scenario is gone fails; the failure is kept and has no downloads
    store = open_store(app.config["DATABASE"])
    R.create_definition(store, "Broken", [R.SAMPLE_SCENARIOS[1][0]], "0 6 * * *",
                        ["cross_subsidy"])
    store.execute("delete from scenarios where name = ?", [R.SAMPLE_SCENARIOS[1][0]])
    store.conn.commit()
    store.close()
    resp = client.post(f"{API}/Broken/run", headers=bearer(api_token("analyst")))
    assert resp.status_code == 202 and resp.get_json()["status"] == "failed"
    run_id = resp.get_json()["run_id"]
    run = client.get(f"{API}/runs/{run_id}", headers=viewer).get_json()
    assert run["status"] == "failed" and "no scenario called" in run["error"]
    for ext in ("csv", "xlsx"):
        resp = client.get(f"{API}/runs/{run_id}.{ext}", headers=viewer)
        assert resp.status_code == 409 and "no report" in resp.get_json()["error"]["message"]
    done = _latest_done(client, viewer)
    resp = client.get(f"{API}/compare?a={done}&b={run_id}", headers=viewer)
    assert resp.status_code == 422
    login(client, "viewer")
    page = client.get(f"/reports/runs/{run_id}").get_data(as_text=True)
    assert 'id="report-error"' in page and "no scenario called" in page
    assert 'id="download-csv"' not in page
    assert client.get("/reports/runs/999999").status_code == 404
    spec = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/reports", "/api/v1/reports/{name}", "/api/v1/reports/{name}/run",
            "/api/v1/reports/runs/{run_id}", "/api/v1/reports/runs/{run_id}.xlsx",
            "/api/v1/reports/compare"} <= set(spec)
    assert spec["/api/v1/reports"]["post"]["x-required-role"] == "admin"


def test_admin_forms_create_edit_run_and_delete_a_report(app, client):
    login(client, "analyst")
    assert client.get("/reports/new").status_code == 403
    token = login(client, "admin")
    form = client.get("/reports/new").get_data(as_text=True)
    for name, _v, _d in R.SAMPLE_SCENARIOS:
        assert f'value="{html.escape(name)}"' in form
    data = {"name": "Quarterly", "description": "quarter days", "cron": "0 9 1 1,4,7,10 *",
            "scenarios": [R.SAMPLE_SCENARIOS[0][0], R.SAMPLE_SCENARIOS[2][0]],
            "measures": ["cross_subsidy", "extra_la_spend"], "enabled": "on"}
    assert client.post("/reports/new", data=data).status_code == 400  # no CSRF token
    bad = client.post("/reports/new", data={**data, "cron": "0 9 * *", "csrf_token": token})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="form-error"' in text and "give 5 fields" in text
    assert 'value="Quarterly"' in text  # what was typed is kept
    resp = client.post("/reports/new", data={**data, "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/reports/Quarterly")
    store = open_store(app.config["DATABASE"])
    d = R.get_definition(store, "Quarterly")
    assert d["scenarios"] == data["scenarios"] and d["measures"] == data["measures"]
    assert d["created_by"] == "admin@example.org"
    store.close()
    page = client.get("/reports/Quarterly").get_data(as_text=True)
    assert "has not run yet" in page and csrf_from(page)
    edit = client.get("/reports/Quarterly/edit").get_data(as_text=True)
    assert 'value="0 9 1 1,4,7,10 *"' in edit
    resp = client.post("/reports/Quarterly/edit", data={**data, "cron": "0 10 1 1,4,7,10 *",
                                                        "enabled": "", "csrf_token": token})
    assert resp.status_code == 302
    resp = client.post("/reports/Quarterly/run", data={"csrf_token": token})
    assert resp.status_code == 302
    run_url = resp.headers["Location"]
    run_page = client.get(run_url).get_data(as_text=True)
    assert 'id="report-headline"' in run_page and "first run of the report" in run_page
    listing = client.get("/reports").get_data(as_text=True)
    assert "Quarterly" in listing and "disabled" in listing
    resp = client.post("/reports/Quarterly/delete", data={"csrf_token": token})
    assert resp.status_code == 302
    assert client.get("/reports/Quarterly").status_code == 404
    assert client.get(run_url).status_code == 200  # its run is kept
    store = open_store(app.config["DATABASE"])
    actions = [r["action"] for r in store["audit_log"].rows_where(
        "target = 'Quarterly'", order_by="id")]
    store.close()
    assert actions == ["report.create", "report.update", "report.run", "report.delete"]
