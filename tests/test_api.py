"""The JSON API under /api/v1: envelope, pagination and filters, imports, runs, OpenAPI.

Calls go through the Flask test client as a real client would (Bearer token or session), and
figures are checked against direct calls of the handlers the API promises to share.
"""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from market import levers
from tests.conftest import bearer, email_for, login

# -- helpers ------------------------------------------------------------------------------------


def assert_envelope(resp, status: int, code: str | None = None) -> dict:
    """The one JSON error envelope, with `status` both in the HTTP line and in the body."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"status", "code", "message", "details"}
    assert err["status"] == status
    assert isinstance(err["message"], str) and err["message"].strip()
    assert isinstance(err["code"], str) and err["code"]
    if code:
        assert err["code"] == code
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    return err


@pytest.fixture
def analyst(api_token):
    return bearer(api_token("analyst"))


@pytest.fixture
def viewer(api_token):
    return bearer(api_token("viewer"))


# -- the envelope on every kind of failure ------------------------------------------------------

ERROR_CASES = [
    # (method, path, json body, status, code)
    ("GET", "/api/v1/no-such-route", None, 404, "not_found"),
    ("GET", "/api/v2/providers", None, 404, "not_found"),
    ("GET", "/api/v1/providers/NO-SUCH-ID", None, 404, "not_found"),
    ("GET", "/api/v1/zones/NO-SUCH-ZONE", None, 404, "not_found"),
    ("GET", "/api/v1/runs/987654", None, 404, "not_found"),
    ("GET", "/api/v1/runs/not-a-number", None, 404, "not_found"),
    ("GET", "/api/v1/scenarios/no-such-scenario", None, 404, "not_found"),
    ("DELETE", "/api/v1/scenarios/no-such-scenario", None, 404, "not_found"),
    ("GET", "/api/v1/scenarios/compare?names=nope", None, 404, "not_found"),
    ("DELETE", "/api/v1/providers", None, 405, "method_not_allowed"),
    ("PUT", "/api/v1/runs", {}, 405, "method_not_allowed"),
    ("POST", "/api/v1/overview", {}, 405, "method_not_allowed"),
    ("GET", "/api/v1/providers?sort=secret_column", None, 400, "bad_request"),
    ("GET", "/api/v1/providers?kind=hospital", None, 400, "bad_request"),
    ("GET", "/api/v1/providers?page=zero", None, 400, "bad_request"),
    ("GET", "/api/v1/zones?per_page=0", None, 400, "bad_request"),
    ("GET", "/api/v1/scenarios/compare", None, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "forecast"}, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"levers": {}}, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "coverage", "levers": [1, 2]}, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "coverage", "levers": {"speed": 3}}, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "coverage", "lever": {}}, 400, "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "equalisation", "scenario": {"take_up": 7}}, 400,
     "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "equalisation", "options": {"draws": 5}}, 400,
     "bad_request"),
    ("POST", "/api/v1/runs", {"kind": "equalisation", "scenario_name": "nope"}, 404,
     "not_found"),
    ("POST", "/api/v1/scenarios", {"values": {"take_up": 0.5}}, 400, "bad_request"),
    ("POST", "/api/v1/scenarios", {"name": "x", "values": {"nope": 1}}, 400, "bad_request"),
    ("POST", "/api/v1/scenarios", {"name": "!bad name", "values": {}}, 400, "bad_request"),
    ("POST", "/api/v1/scenarios", [1, 2], 400, "bad_request"),
]


@pytest.mark.parametrize("method,path,body,status,code", ERROR_CASES,
                         ids=[f"{c[0]} {c[1]} {c[3]}" for c in ERROR_CASES])
def test_every_failure_is_the_json_envelope(client, analyst, method, path, body, status, code):
    resp = client.open(path, method=method, headers=analyst,
                       **({"json": body} if body is not None else {}))
    err = assert_envelope(resp, status, code)
    if status == 405:
        assert "GET" in resp.headers["Allow"]
    if status == 400 and method == "POST" and isinstance(body, dict):
        # a bad body names the field that is wrong
        assert err["details"]["field"] in err["message"]


def test_bad_body_names_the_field(client, analyst):
    err = assert_envelope(client.post("/api/v1/runs", json={"kind": "coverage",
                                                            "levers": {"speed": 3}},
                                      headers=analyst), 400)
    assert err["details"] == {"field": "levers.speed"} and "speed" in err["message"]
    err = assert_envelope(client.post("/api/v1/runs", data="not json", headers=analyst), 400)
    assert err["details"] == {"field": "body"}
    err = assert_envelope(client.get("/api/v1/providers?per_page=many", headers=analyst), 400)
    assert err["details"] == {"field": "per_page"} and "many" in err["message"]


def test_401_and_403_are_envelopes(client, viewer):
    err = assert_envelope(client.get("/api/v1/providers"), 401, "unauthenticated")
    assert "Bearer" in err["message"]
    assert client.get("/api/v1/providers").headers["WWW-Authenticate"].startswith("Bearer")
    assert_envelope(client.get("/api/v1/me", headers=bearer("cm_not-a-real-token")), 401)
    err = assert_envelope(client.post("/api/v1/runs", json={"kind": "coverage"},
                                      headers=viewer), 403, "forbidden")
    assert "analyst" in err["message"]


def test_domain_error_is_422_and_a_crash_is_500_without_a_trace(app, client, analyst,
                                                                monkeypatch):
    from market.errors import InvalidInput
    from web import queries

    def refuse(_db):
        raise InvalidInput("the store has no zones: import zones first")

    monkeypatch.setattr(queries, "overview", refuse)
    err = assert_envelope(client.get("/api/v1/overview", headers=analyst), 422, "invalid_input")
    assert err["message"] == "the store has no zones: import zones first"

    def crash(_db):
        raise RuntimeError("internal detail: /srv/secret/path.py line 12")

    monkeypatch.setattr(queries, "overview", crash)
    resp = client.get("/api/v1/overview", headers=analyst)
    err = assert_envelope(resp, 500, "internal_error")
    assert "secret" not in resp.get_data(as_text=True)
    assert "RuntimeError" not in resp.get_data(as_text=True)


def test_pages_get_the_html_error_page_not_the_envelope(app, client, monkeypatch):
    from web import queries

    login(client, "viewer")
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "404" in resp.get_data(as_text=True)

    def crash(*_a, **_k):
        raise RuntimeError("internal detail: /srv/secret/path.py")

    monkeypatch.setattr(queries, "overview", crash)
    resp = client.get("/")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    assert "secret" not in text and "Traceback" not in text

    resp = client.get("/providers/NO-SUCH-ID")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "NO-SUCH-ID" in resp.get_data(as_text=True)


# -- reads: the same dicts as the handlers, pagination, filters ---------------------------------

def test_reads_return_the_handlers_dicts(client, analyst, store):
    from web import queries

    def same(path, expected):
        resp = client.get(path, headers=analyst)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        assert resp.get_json() == json.loads(json.dumps(expected, default=str))

    same("/api/v1/overview", queries.overview(store))
    same("/api/v1/map", queries.map_layers(store))
    same("/api/v1/zones?per_page=20&page=2", queries.zones(store, {"per_page": 20, "page": 2}))
    same("/api/v1/fees?funder=la", queries.fees(store, {"funder": "la"}))
    same("/api/v1/providers/CH001", queries.provider(store, "CH001"))
    zone_id = store.execute("select zone_id from zones order by zone_id limit 1").fetchone()[0]
    same(f"/api/v1/zones/{zone_id}", queries.zone(store, zone_id))


def test_providers_pagination_walks_every_provider_once(client, analyst, store):
    n_home = store["homecare_providers"].count
    n_care = store["care_homes"].count
    first = client.get("/api/v1/providers?per_page=7", headers=analyst).get_json()
    assert first["total"] == n_home + n_care
    assert first["page"] == 1 and first["per_page"] == 7 and len(first["items"]) == 7
    assert first["pages"] == math.ceil((n_home + n_care) / 7) and first["next_page"] == 2
    seen, page = [], 1
    while page:
        body = client.get(f"/api/v1/providers?per_page=7&page={page}",
                          headers=analyst).get_json()
        seen += [i["provider_id"] for i in body["items"]]
        page = body["next_page"]
    assert body["page"] == first["pages"] and body["next_page"] is None
    assert len(seen) == len(set(seen)) == n_home + n_care
    assert {i["kind"] for i in first["items"]} <= {"homecare", "care_home"}
    beyond = client.get(f"/api/v1/providers?per_page=7&page={first['pages'] + 1}",
                        headers=analyst).get_json()
    assert beyond["items"] == [] and beyond["next_page"] is None


def test_providers_filters_and_sort(client, analyst, store):
    def get(query):
        resp = client.get(f"/api/v1/providers?per_page=1000&{query}", headers=analyst)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        return resp.get_json()

    homes = get("kind=care_home")
    assert homes["total"] == store["care_homes"].count
    assert {i["kind"] for i in homes["items"]} == {"care_home"}
    agencies = get("kind=homecare")
    assert agencies["total"] == store["homecare_providers"].count
    assert all(i["beds"] is None and i["capacity_hours"] > 0 for i in agencies["items"])

    sparse = get("rurality=sparse")
    expected = store.execute(
        "select (select count(*) from care_homes c join zones z using (zone_id) "
        "where z.rurality = 'sparse') + (select count(*) from homecare_providers h join zones z "
        "using (zone_id) where z.rurality = 'sparse')").fetchone()[0]
    assert sparse["total"] == expected > 0
    assert {i["rurality"] for i in sparse["items"]} == {"sparse"}

    zone_id = store.execute("select zone_id from care_homes group by zone_id "
                            "order by count(*) desc limit 1").fetchone()[0]
    in_zone = get(f"kind=care_home&zone_id={zone_id}")
    assert in_zone["total"] == store["care_homes"].count_where("zone_id = ?", [zone_id])
    assert {i["zone_id"] for i in in_zone["items"]} == {zone_id}

    name = store.execute("select name from care_homes order by provider_id limit 1"
                         ).fetchone()[0]
    found = get(f"q={name}")
    assert name in [i["name"] for i in found["items"]]

    by_beds = [i["beds"] for i in get("kind=care_home&sort=-beds")["items"]]
    assert by_beds == sorted(by_beds, reverse=True) and by_beds[0] > by_beds[-1]
    both = get("kind=care_home&rurality=urban")
    assert {(i["kind"], i["rurality"]) for i in both["items"]} == {("care_home", "urban")}


def test_zones_fees_imports_runs_scenarios_are_paginated(client, analyst, store):
    for path, table in (("zones", "zones"), ("fees", "fee_rates"), ("imports", "imports")):
        body = client.get(f"/api/v1/{path}?per_page=2", headers=analyst).get_json()
        assert body["total"] == store[table].count and len(body["items"]) == min(2, body["total"])
        assert body["next_page"] == (2 if body["total"] > 2 else None)
    for name in ("a-one", "b-two", "c-three"):
        resp = client.post("/api/v1/scenarios", json={"name": name, "values": {"take_up": 0.4}},
                           headers=analyst)
        assert resp.status_code == 201
    names = [r[0] for r in store.execute("select name from scenarios order by name")]
    assert {"a-one", "b-two", "c-three"} <= set(names)
    seen, page = [], 1
    while page:
        body = client.get(f"/api/v1/scenarios?per_page=2&page={page}", headers=analyst
                          ).get_json()
        assert body["total"] == len(names) and body["pages"] == math.ceil(len(names) / 2)
        assert len(body["items"]) == (2 if body["next_page"] else len(names) - 2 * (page - 1))
        seen += [s["name"] for s in body["items"]]
        page = body["next_page"]
    assert seen == names


def test_me_and_parameters(client, analyst, viewer):
    me = client.get("/api/v1/me", headers=viewer).get_json()
    assert me["email"] == email_for("viewer") and me["role"] == "viewer"
    assert me["auth"] == "token" and me["can"]["run"] is False
    me = client.get("/api/v1/me", headers=analyst).get_json()
    assert me["can"]["run"] and me["can"]["import"] and not me["can"]["admin"]
    params = client.get("/api/v1/parameters", headers=viewer).get_json()
    from market.parameters import defaults

    assert {p["name"]: p["value"] for p in params["parameters"]} == dict(defaults().to_dict())
    assert set(params["coverage_levers"]) >= {"max_minutes", "remove_provider"}
    assert "take_up_dist" in params["equalisation_options"]
    assert "care-homes" in [k["name"] for k in params["import_kinds"]]


# -- saved scenarios ----------------------------------------------------------------------------

def test_scenario_save_get_compare_delete_is_audited(client, analyst, store):
    body = {"name": "full equalisation", "description": "LA pays the self-funder fee",
            "values": {"take_up": 1.0, "convergence": 1.0}}
    resp = client.post("/api/v1/scenarios", json=body, headers=analyst)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.headers["Location"].endswith("/api/v1/scenarios/full%20equalisation")
    got = client.get("/api/v1/scenarios/full equalisation", headers=analyst).get_json()
    assert got["values"] == body["values"] and got["created_by"] == email_for("analyst")
    # saving again replaces it (200), keeping its author
    resp = client.post("/api/v1/scenarios", json={**body, "values": {"take_up": 0.5}},
                       headers=analyst)
    assert resp.status_code == 200 and resp.get_json()["values"] == {"take_up": 0.5}
    compared = client.get("/api/v1/scenarios/compare?names=full equalisation",
                          headers=analyst).get_json()
    assert list(compared["columns"]) == ["baseline", "full equalisation"]
    assert compared["columns"]["full equalisation"]["take_up"] == pytest.approx(0.5)
    resp = client.delete("/api/v1/scenarios/full equalisation", headers=analyst)
    assert resp.status_code == 200 and resp.get_json() == {"deleted": "full equalisation"}
    assert_envelope(client.get("/api/v1/scenarios/full equalisation", headers=analyst), 404)
    actions = [r[0] for r in store.execute(
        "select action from audit_log where user = ? and target = ? order by id",
        [email_for("analyst"), "full equalisation"])]
    assert actions == ["scenario.save", "scenario.save", "scenario.delete"]


# -- imports ------------------------------------------------------------------------------------

@pytest.fixture
def care_homes_csv(tmp_path):
    from data.generate import write_sample

    return pd.read_csv(write_sample(tmp_path / "sample")["care-homes"], dtype=str,
                       keep_default_na=False)


def upload(client, headers, kind, name, frame_or_bytes):
    data = (frame_or_bytes.to_csv(index=False).encode()
            if isinstance(frame_or_bytes, pd.DataFrame) else frame_or_bytes)
    return client.post("/api/v1/imports", headers=headers,
                       data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_import_a_good_file(client, analyst, store, care_homes_csv):
    edited = care_homes_csv.copy()
    edited.loc[0, "name"] = "Fen View Renamed"
    edited.loc[0, "beds"] = "41"
    pid = edited.loc[0, "provider_id"]
    resp = upload(client, analyst, "care-homes", "Care homes April.csv", edited)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    summary = resp.get_json()
    assert summary["kind"] == "care-homes" and summary["file"] == "Care homes April.csv"
    assert summary["rows_read"] == len(edited)
    assert summary["records"] == len(edited) and summary["by_type"] == {"care_homes": len(edited)}
    assert summary["rejected"] == 0 and summary["unplaced"] == []
    row = store["care_homes"].get(pid)
    assert row["name"] == "Fen View Renamed" and row["beds"] == 41
    got = client.get(f"/api/v1/providers/{pid}", headers=analyst).get_json()
    assert got["name"] == "Fen View Renamed" and got["beds"] == 41
    history = client.get("/api/v1/imports", headers=analyst).get_json()
    assert history["items"][0]["file_name"] == "Care homes April.csv"
    assert history["items"][0]["user"] == email_for("analyst")
    audit = store.execute("select user, target, detail from audit_log where action = 'import' "
                          "order by id desc limit 1").fetchone()
    assert audit[0] == email_for("analyst") and audit[1] == "care-homes"
    assert json.loads(audit[2])["import_id"] == summary["import_id"]


def test_a_300_character_upload_name_is_accepted_and_kept_truncated(client, analyst, store,
                                                                    care_homes_csv):
    name = "../" + "x" * 296 + ".csv"  # 300 characters, with a folder part that is dropped
    resp = upload(client, analyst, "care-homes", name, care_homes_csv)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    kept = resp.get_json()["file"]
    assert len(kept) == 200 and kept.startswith("xxx") and kept.endswith("….csv")
    history = client.get("/api/v1/imports", headers=analyst).get_json()
    assert history["items"][0]["file_name"] == kept
    # a name that is only a path and a long suffix-less name are stored under generated names
    from web.uploads import stored_name

    assert stored_name("../../etc/passwd") == "upload.csv"
    assert stored_name("book.XLSX") == "upload.xlsx"


def test_import_an_xlsx_workbook(client, analyst, store, care_homes_csv):
    edited = care_homes_csv.copy()
    edited.loc[1, "name"] = "Marsh House (workbook)"
    buf = io.BytesIO()
    edited.to_excel(buf, index=False)
    resp = upload(client, analyst, "care-homes", "homes.xlsx", buf.getvalue())
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["records"] == len(edited)
    assert store["care_homes"].get(edited.loc[1, "provider_id"])["name"] == (
        "Marsh House (workbook)")


def test_import_a_broken_file_is_rejected_row_by_row_and_changes_nothing(
        client, analyst, store, care_homes_csv):
    from caremarket.store import dump

    bad = care_homes_csv.copy()
    bad.loc[0, "name"] = "Should Not Be Written"
    bad.loc[2, "beds"] = "-5"
    bad.loc[9, "occupancy"] = "1.07"
    # the token's first use records when it was used (authentication, not the import)
    assert client.get("/api/v1/me", headers=analyst).status_code == 200
    before = dump(store)
    resp = upload(client, analyst, "care-homes", "homes_bad.csv", bad)
    err = assert_envelope(resp, 422, "import_rejected")
    assert "homes_bad.csv" in err["message"]
    problems = err["details"]
    assert all(set(p) == {"file", "row", "column", "message"} for p in problems)
    where = {(p["file"], p["row"], p["column"]) for p in problems}
    # spreadsheet rows: the header is row 1, so data row i is row i + 2
    assert ("homes_bad.csv", 4, "beds") in where
    assert ("homes_bad.csv", 11, "occupancy") in where
    assert dump(store) == before
    # a file that is not a table at all is rejected the same way, naming the file
    err = assert_envelope(upload(client, analyst, "zones", "zones.csv", b"\xff\xfe\x00binary"),
                          422, "import_rejected")
    assert err["details"][0]["file"] == "zones.csv"
    assert dump(store) == before


def test_import_needs_kind_and_file(client, analyst, care_homes_csv):
    err = assert_envelope(upload(client, analyst, "spreadsheet", "x.csv", care_homes_csv), 400)
    assert err["details"] == {"field": "kind"} and "care-homes" in err["message"]
    resp = client.post("/api/v1/imports", headers=analyst, data={"kind": "care-homes"},
                       content_type="multipart/form-data")
    assert assert_envelope(resp, 400)["details"] == {"field": "file"}


# -- runs ---------------------------------------------------------------------------------------

def start(client, headers, body) -> dict:
    resp = client.post("/api/v1/runs", json=body, headers=headers)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    out = resp.get_json()
    assert set(out) == {"run_id", "status", "url"}
    assert out["url"] == f"/api/v1/runs/{out['run_id']}" == resp.headers["Location"]
    run = client.get(out["url"], headers=headers).get_json()
    assert run["status"] == out["status"] == "done", run.get("error")
    return run


def test_coverage_run_matches_a_direct_analysis(client, analyst, sample_db, store):
    from caremarket import analyses

    levers = {"max_minutes": 35, "remove_provider": ["HC001"]}
    run = start(client, analyst, {"kind": "coverage", "levers": levers})
    assert set(run) >= {"id", "kind", "status", "progress", "params", "input_hash", "user",
                        "created_at", "finished_at", "error", "result"}
    assert run["kind"] == "coverage" and run["progress"] == 1.0 and run["error"] is None
    assert run["user"] == email_for("analyst") and run["finished_at"]
    got = run["result"]
    direct = analyses.coverage(sample_db, levers)
    for key in ("coverage", "demand_hours", "met_hours", "unmet_hours", "travel_hours",
                "travel_minutes_per_contact_hour"):
        assert got[key] == pytest.approx(direct[key], rel=1e-6), key
    assert got["input_hash"] == direct["input_hash"] == run["input_hash"]
    assert got["levers"]["remove_provider"] == ["HC001"]
    mine = {z["zone_id"]: z["unmet_hours"] for z in got["zones_map"]}
    theirs = {z["zone_id"]: z["unmet_hours"] for z in direct["zones_map"]}
    assert mine == pytest.approx(theirs, abs=1e-6)
    assert got["cost_of_care"]["la_uplift_per_week"] == pytest.approx(
        direct["cost_of_care"]["la_uplift_per_week"], rel=1e-6)
    # the run is listed (without its result) and its start audited
    listed = client.get("/api/v1/runs?kind=coverage", headers=analyst).get_json()
    assert listed["items"][0]["id"] == run["id"] and "result" not in listed["items"][0]
    assert store.execute("select count(*) from audit_log where action = 'run.start' and "
                         "target = ?", [f"coverage #{run['id']}"]).fetchone()[0] == 1


def test_equalisation_run_by_saved_name_and_inline_match_a_direct_analysis(
        client, analyst, sample_db):
    from caremarket import analyses

    values = {"take_up": 0.6, "convergence": 0.8}
    options = {"montecarlo_draws": 400, "seed": 7}
    resp = client.post("/api/v1/scenarios", json={"name": "partial", "values": values},
                       headers=analyst)
    assert resp.status_code == 201
    by_name = start(client, analyst, {"kind": "equalisation", "scenario_name": "partial",
                                      "options": options})
    inline = start(client, analyst, {"kind": "equalisation", "scenario": values,
                                     "options": options})
    direct = analyses.equalisation(sample_db, values, options)
    assert by_name["result"]["scenario_name"] == "partial"
    assert by_name["params"]["scenario_name"] == "partial"
    for run in (by_name, inline):
        res = run["result"]
        assert res["scenario"] == pytest.approx(values)
        for key in ("beds_at_risk_before", "beds_at_risk_after", "cross_subsidy_lost",
                    "extra_la_spend", "beds_not_sustainable_median", "homecare_exits",
                    "unmet_hours_after"):
            assert res["headline"][key] == pytest.approx(direct["headline"][key], rel=1e-9), key
        assert res["headline"]["homes_by_class"] == direct["headline"]["homes_by_class"]
        assert len(res["viability"]["providers"]) == len(direct["viability"]["providers"])


def test_a_bad_lever_value_is_refused_before_any_run_is_recorded(client, analyst):
    before = client.get("/api/v1/runs", headers=analyst).get_json()["total"]
    for body, field in (({"kind": "coverage", "levers": {"variant": "sideways"}}, "levers"),
                        ({"kind": "coverage", "levers": {"max_minutes": "far"}}, "levers"),
                        ({"kind": "coverage", "levers": {"max_minutes": 1e308}}, "levers"),
                        ({"kind": "coverage", "levers": {"visits_per_run": 1e308}}, "levers"),
                        ({"kind": "equalisation", "scenario": {},
                          "options": {"take_up_dist": "normal:1"}}, "options"),
                        ({"kind": "equalisation", "scenario": {},
                          "options": {"montecarlo_draws": -3}}, "options"),
                        # the JSON API takes the types its schema states, not the CLI's text
                        ({"kind": "coverage", "levers": {"max_minutes": "30"}}, "levers"),
                        ({"kind": "coverage", "levers": {"add_sites": 1}}, "levers"),
                        ({"kind": "coverage", "levers": {"remove_provider": [7]}}, "levers"),
                        ({"kind": "coverage", "levers": {"variant": ""}}, "levers"),
                        ({"kind": "exits", "levers": {"fill_capacity": 0}}, "levers"),
                        ({"kind": "equalisation", "scenario": {},
                          "options": {"take_up_dist": "beta:2;3"}}, "options")):
        resp = client.post("/api/v1/runs", json=body, headers=analyst)
        assert resp.status_code == 400, body
        err = resp.get_json()["error"]
        assert err["details"]["field"].startswith(field + "."), err
        assert err["details"]["field"] in err["message"]
    # well-formed by the schema, refused by the model: 422 (documented), naming the field
    for body, field in (({"kind": "coverage", "levers": {"remove_provider": ["NOPE"]}},
                         "levers.remove_provider"),
                        ({"kind": "coverage", "levers": {"capacity": {"NOPE": 10}}},
                         "levers.capacity"),
                        ({"kind": "equalisation", "options": {"take_up_dist": "beta:0,2"}},
                         "options.take_up_dist"),
                        ({"kind": "montecarlo", "levers": {"take_up_dist": "uniform:1,0"}},
                         "levers.take_up_dist"),
                        ({"kind": "montecarlo", "levers": {"cost_change_dist": "1e400"}},
                         "levers.cost_change_dist")):
        resp = client.post("/api/v1/runs", json=body, headers=analyst)
        assert resp.status_code == 422, body
        err = resp.get_json()["error"]
        assert err["details"]["field"] == field and field in err["message"], err
    assert client.get("/api/v1/runs", headers=analyst).get_json()["total"] == before
    doc = client.get("/api/v1/openapi.json", headers=analyst).get_json()
    assert "422" in doc["paths"]["/api/v1/runs"]["post"]["responses"]


def test_a_failing_run_is_reported_failed_with_its_error(app, client, analyst):
    # the request is well formed, but the store has no care homes left to assess: found when
    # the run reads the market, so the run is recorded as failed with the reason
    from caremarket.store import open_store

    store = open_store(app.config["DATABASE"])
    try:
        with store.atomic():
            store.execute("delete from care_homes")
    finally:
        store.close()
    resp = client.post("/api/v1/runs", json={"kind": "equalisation", "scenario": {}},
                       headers=analyst)
    assert resp.status_code == 202
    run = client.get(resp.get_json()["url"], headers=analyst).get_json()
    assert run["status"] == "failed" and "no care homes" in run["error"]
    assert run["result"] is None


# -- OpenAPI ------------------------------------------------------------------------------------

def test_openapi_lists_every_api_route_and_nothing_else(app, client, analyst):
    import re

    doc = client.get("/api/v1/openapi.json", headers=analyst).get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}
    assert {"bearerAuth": []} in doc["security"] and {"cookieAuth": []} in doc["security"]
    rules = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                rules.add((path, method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert rules - documented == set(), "routes missing from the OpenAPI document"
    assert documented - rules == set(), "documented operations that are not routes"
    assert ("/api/v1/runs/{run_id}", "get") in documented
    assert ("/api/v1/imports", "post") in documented
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            assert op["summary"].strip()
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == names, path
    run_op = doc["paths"]["/api/v1/runs/{run_id}"]["get"]
    assert run_op["parameters"][0]["schema"] == {"type": "integer"}
    assert doc["paths"]["/api/v1/runs"]["post"]["x-required-role"] == "analyst"
    assert "multipart/form-data" in doc["paths"]["/api/v1/imports"]["post"]["requestBody"][
        "content"]
    query = {p["name"] for p in doc["paths"]["/api/v1/providers"]["get"]["parameters"]}
    assert query >= {"kind", "q", "zone_id", "rurality", "group_id", "cqc_rating", "sort",
                     "page", "per_page"}


def test_a_run_started_from_the_api_stores_its_full_parameter_set(app, client, analyst):
    resp = client.post("/api/v1/runs", json={"kind": "coverage", "levers": {"max_minutes": 35}},
                       headers=analyst)
    run = client.get(resp.get_json()["url"], headers=analyst).get_json()
    names = {p["name"] for p in run["parameters"]}
    assert {"max_travel_minutes", "care_worker_hourly_wage", "visit_minutes"} <= names
    # the record holds every lever as checked and used, defaults filled in
    assert run["params"]["levers"]["max_minutes"] == 35.0
    assert set(run["params"]["levers"]) == {lv.name for lv in levers.OPERATIONS["coverage"]}


def test_a_run_records_the_hash_of_the_inputs_it_read(app, client, analyst):
    from caremarket.store import content_hash, open_store

    resp = client.post("/api/v1/runs", json={"kind": "equalisation", "scenario": {},
                                             "options": {"montecarlo_draws": 0}},
                       headers=analyst)
    run = client.get(resp.get_json()["url"], headers=analyst).get_json()
    store = open_store(app.config["DATABASE"])
    try:
        assert run["input_hash"] == run["result"]["input_hash"] == content_hash(store)
    finally:
        store.close()


@pytest.mark.parametrize("url,status", [
    ("/api/v1/providers?page=100000000000000000000", 400),
    ("/api/v1/runs?page=100000000000000000000", 400),
    ("/api/v1/reports?page=100000000000000000000", 400),
    ("/api/v1/reports?page=x", 400),
    ("/api/v1/runs/100000000000000000000", 404),
    ("/api/v1/reports/runs/100000000000000000000", 404),
])
def test_numbers_too_large_or_not_numbers_get_the_envelope(client, analyst, url, status):
    resp = client.get(url, headers=analyst)
    assert resp.status_code == status
    err = resp.get_json()["error"]
    assert err["status"] == status and "invalid literal" not in err["message"]


def test_a_page_past_the_end_of_a_list_page_is_empty_not_an_error(client):
    from tests.conftest import login

    login(client, "viewer")
    for url in ("/providers?page=100000000000000000000", "/data?page=100000000000000000000",
                "/coverage?run=100000000000000000000"):
        assert client.get(url).status_code in (200, 404), url
