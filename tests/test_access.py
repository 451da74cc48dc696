"""Access control over every route: login or token everywhere, roles, CSRF, CLI tokens.

The route list is read from the app's own `url_map` when the tests are collected, so a route
added by any blueprint is covered without editing this file.
"""

from __future__ import annotations

import io
import os
import tempfile

import pytest

from tests.conftest import PASSWORDS, bearer, csrf_from, email_for, login

PUBLIC_ENDPOINTS = {"auth.login", "static"}


def _all_routes() -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) of every route of a freshly built app."""
    from web import create_app

    with tempfile.TemporaryDirectory(prefix="caremarket-routes-") as tmp:
        old = os.environ.get("CAREMARKET_INSTANCE")
        os.environ["CAREMARKET_INSTANCE"] = tmp
        try:
            app = create_app({"TESTING": True, "DATABASE": os.path.join(tmp, "routes.db"),
                              "SECRET_KEY": "routes", "RUN_SYNC": True,
                              "SCHEDULER_ENABLED": False})
            app.extensions["caremarket.tasks"].shutdown(wait=True)
        finally:
            if old is None:
                os.environ.pop("CAREMARKET_INSTANCE", None)
            else:
                os.environ["CAREMARKET_INSTANCE"] = old
        return sorted({(rule.rule, method, rule.endpoint) for rule in app.url_map.iter_rules()
                       for method in rule.methods or ()})


def pytest_generate_tests(metafunc):
    if "route" in metafunc.fixturenames:
        routes = _all_routes()
        if metafunc.function.__name__.startswith("test_every_get_"):
            routes = [r for r in routes if r[1] == "GET"]
        metafunc.parametrize("route", routes, ids=[f"{m} {r}" for r, m, _ in routes])


@pytest.fixture
def sample_ids(app, store):
    """Real values for the path parameters of the app's routes: for the market and analysis
    routes, and (under `reports`) for the report routes, whose `name` and `run_id` are a
    report definition and a report run."""
    from caremarket import accounts, analyses
    from caremarket.scenario_store import save_scenario
    from market.scenarios import Scenario

    save_scenario(store, Scenario("half take-up", {"take_up": 0.5}), user="test")
    run_id = analyses.equalisation(store, {"take_up": 0.5}, {
        "montecarlo_draws": 0, "sweep_parameter": None, "homecare": False})["run_id"]
    _, token_record = accounts.create_token(store, email_for("analyst"), "sample")
    ids = {
        "provider_id": store.execute("select provider_id from care_homes order by provider_id "
                                     "limit 1").fetchone()[0],
        "zone_id": store.execute("select zone_id from zones order by zone_id limit 1"
                                 ).fetchone()[0],
        "name": "half take-up", "run_id": run_id, "token_id": token_record["id"],
        "filename": "app.css", "kind": "care-homes", "table": "break_even",
        # the sample's last import (its care-home returns): reverting it harms no other route
        "import_id": store.execute("select max(id) from imports").fetchone()[0],
    }
    report = store.execute("select name from report_definitions order by name limit 1"
                           ).fetchone()
    report_run = store.execute("select id from report_runs where status = 'done' "
                               "order by id limit 1").fetchone()
    assert report and report_run, "the sample market ships with a report that has run"
    ids["reports"] = {**ids, "name": report[0], "run_id": report_run[0]}
    return ids


def build_url(app, rule_text: str, method: str, ids: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules()
                if r.rule == rule_text and method in (r.methods or ()))
    if rule.rule.startswith(("/reports", "/api/v1/reports")):
        ids = ids["reports"]
    missing = set(rule.arguments) - set(ids)
    assert not missing, f"no sample value for {missing} in {rule.rule}: add one to sample_ids"
    _, url = rule.build({arg: ids[arg] for arg in rule.arguments})
    return url


# -- (1) every route refuses the anonymous ------------------------------------------------------

def test_every_route_refuses_anonymous_requests(app, client, sample_ids, route):
    rule, method, endpoint = route
    url = build_url(app, rule, method, sample_ids)
    resp = client.open(url, method=method)
    resp.close()  # static files are streamed from an open file
    if endpoint in PUBLIC_ENDPOINTS:
        if method == "POST":  # the login form still needs its CSRF token
            assert resp.status_code == 400
        else:
            assert resp.status_code == 200, (method, url)
        return
    if rule.startswith("/api/"):
        assert resp.status_code == 401, (method, url, resp.status_code)
        if method != "HEAD":
            body = resp.get_json()
            assert body["error"]["status"] == 401
            assert body["error"]["code"] == "unauthenticated"
            assert set(body["error"]) == {"status", "code", "message", "details"}
    else:
        assert resp.status_code == 302, (method, url, resp.status_code)
        assert resp.headers["Location"].startswith("/login"), resp.headers["Location"]


def test_only_login_and_static_are_public(app):
    public = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint in PUBLIC_ENDPOINTS}
    assert public == PUBLIC_ENDPOINTS
    from web.auth import PUBLIC_ENDPOINTS as GUARDED_PUBLIC

    assert set(GUARDED_PUBLIC) == PUBLIC_ENDPOINTS


def test_every_get_route_answers_a_logged_in_admin(app, client, sample_ids, route):
    rule, method, endpoint = route
    if endpoint in PUBLIC_ENDPOINTS:
        return
    login(client, "admin")
    url = build_url(app, rule, method, sample_ids)
    resp = client.get(url)
    assert resp.status_code < 500, (url, resp.get_data(as_text=True)[:500])
    assert resp.status_code not in (401, 403), url
    if rule.startswith("/api/") and resp.status_code == 200 and not rule.endswith(
            (".csv", ".xlsx", ".pdf", ".html")):
        assert resp.mimetype in ("application/json", "text/csv") or resp.mimetype.endswith(
            "+json") or resp.mimetype.startswith("application/vnd"), (url, resp.mimetype)


def test_unknown_paths_are_refused_before_they_are_looked_up(client):
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 401 and resp.get_json()["error"]["status"] == 401
    resp = client.get("/no-such-page")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


# -- (2) roles ----------------------------------------------------------------------------------

def _writes(sample_csv: bytes):
    """The writes only an analyst may make: (method, path, request kwargs)."""
    return [
        ("POST", "/api/v1/runs", {"json": {"kind": "coverage", "levers": {"max_minutes": 40}}}),
        ("POST", "/api/v1/runs", {"json": {"kind": "equalisation", "scenario": {"take_up": 0.5},
                                           "options": {"montecarlo_draws": 50}}}),
        ("POST", "/api/v1/scenarios", {"json": {"name": "new plan", "values": {"take_up": 1}}}),
        ("DELETE", "/api/v1/scenarios/half take-up", {}),
        ("POST", "/api/v1/imports", {"data": {"kind": "care-homes",
                                              "file": (io.BytesIO(sample_csv), "homes.csv")},
                                     "content_type": "multipart/form-data"}),
    ]


@pytest.fixture
def homes_csv(tmp_path) -> bytes:
    from data.generate import write_sample

    return write_sample(tmp_path / "sample")["care-homes"].read_bytes()


def test_a_viewer_can_read_but_not_import_run_or_save(app, client, store, sample_ids,
                                                      api_token, homes_csv):
    from caremarket.store import dump

    token = bearer(api_token("viewer"))
    assert client.get("/api/v1/providers", headers=token).status_code == 200
    assert client.get(f"/api/v1/runs/{sample_ids['run_id']}", headers=token).status_code == 200
    before = dump(store)
    for method, path, kwargs in _writes(homes_csv):
        resp = client.open(path, method=method, headers=token, **kwargs)
        assert resp.status_code == 403, (method, path, resp.get_data(as_text=True)[:300])
        err = resp.get_json()["error"]
        assert err["status"] == 403 and err["code"] == "forbidden" and "analyst" in err["message"]
    assert dump(store) == before
    # the same through a logged-in session with a valid CSRF token: refused by role, not CSRF
    csrf = login(client, "viewer")
    for method, path, kwargs in _writes(homes_csv):
        resp = client.open(path, method=method, headers={"X-CSRFToken": csrf}, **kwargs)
        assert resp.status_code == 403, (method, path)


def test_an_analyst_can_import_run_and_save(client, store, sample_ids, api_token, homes_csv):
    token = bearer(api_token("analyst"))
    expected = [202, 202, 201, 200, 201]
    for (method, path, kwargs), status in zip(_writes(homes_csv), expected, strict=True):
        resp = client.open(path, method=method, headers=token, **kwargs)
        assert resp.status_code == status, (method, path, resp.get_data(as_text=True)[:300])
    actions = [r[0] for r in store.execute(
        "select action from audit_log where user = ? order by id", [email_for("analyst")])]
    assert actions[-5:] == ["run.start", "run.start", "scenario.save", "scenario.delete",
                            "import"]


def test_admin_pages_need_the_admin_role(client):
    login(client, "analyst")
    assert client.get("/admin/users").status_code == 403
    resp = client.get("/api/v1/me")
    assert resp.get_json()["role"] == "analyst"


# -- (3) CSRF on cookie-authenticated writes ----------------------------------------------------

def test_page_form_posts_without_csrf_are_refused(client, store):
    csrf = login(client, "admin")
    resp = client.post("/admin/users", data={"action": "create", "email": "new@example.org",
                                             "password": "a-long-password-1", "role": "viewer"})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert store["users"].count_where("email = ?", ["new@example.org"]) == 0
    resp = client.post("/admin/users", data={"action": "create", "email": "new@example.org",
                                             "password": "a-long-password-1", "role": "viewer",
                                             "csrf_token": "forged"})
    assert resp.status_code == 400
    assert store["users"].count_where("email = ?", ["new@example.org"]) == 0
    resp = client.post("/admin/users", data={"action": "create", "email": "new@example.org",
                                             "password": "a-long-password-1", "role": "viewer",
                                             "csrf_token": csrf})
    assert resp.status_code == 302
    assert store["users"].count_where("email = ?", ["new@example.org"]) == 1

    assert client.post("/logout").status_code == 400
    assert client.get("/api/v1/me").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_login_form_needs_csrf(client):
    resp = client.post("/login", data={"email": email_for("admin"),
                                       "password": PASSWORDS["admin"]})
    assert resp.status_code == 400
    assert client.get("/api/v1/me").status_code == 401


def test_api_writes_with_a_session_cookie_need_the_csrf_header(client, store):
    csrf = login(client, "analyst")
    runs_before = store["runs"].count
    resp = client.post("/api/v1/runs", json={"kind": "coverage"})
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["status"] == 400 and err["code"] == "csrf"
    resp = client.post("/api/v1/runs", json={"kind": "coverage"},
                       headers={"X-CSRFToken": "forged"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "csrf"
    resp = client.delete("/api/v1/scenarios/anything")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "csrf"
    assert store["runs"].count == runs_before
    resp = client.post("/api/v1/runs", json={"kind": "coverage"}, headers={"X-CSRFToken": csrf})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert store["runs"].count == runs_before + 1
    # reads need no token
    assert client.get("/api/v1/runs").status_code == 200


def test_bearer_token_calls_need_no_csrf(app, api_token):
    fresh = app.test_client()  # no cookies at all
    resp = fresh.post("/api/v1/runs", json={"kind": "coverage"},
                      headers=bearer(api_token("analyst")))
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert "Set-Cookie" not in resp.headers or "session=" not in resp.headers["Set-Cookie"]


# -- (8) tokens and users from the command line -------------------------------------------------

def test_cli_token_works_as_bearer_until_revoked(app, runner):
    from caremarket.cli import cli

    db = app.config["DATABASE"]
    result = runner.invoke(cli, ["--db", db, "token", "create", "--user", email_for("analyst"),
                                 "--name", "laptop"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    token = lines[-1]
    assert token.startswith("cm_") and " " not in token and len(token) > 30
    fresh = app.test_client()
    me = fresh.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["email"] == email_for("analyst")
    assert me.get_json()["auth"] == "token"
    token_id = lines[0].split()[1]
    result = runner.invoke(cli, ["--db", db, "token", "revoke", token_id])
    assert result.exit_code == 0, result.output
    resp = fresh.get("/api/v1/me", headers=bearer(token))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthenticated"
    assert fresh.post("/api/v1/runs", json={"kind": "coverage"},
                      headers=bearer(token)).status_code == 401


def test_cli_user_create_with_password_from_stdin(app, client, runner):
    from caremarket.cli import cli

    db = app.config["DATABASE"]
    result = runner.invoke(cli, ["--db", db, "user", "create", "Chief@Example.org", "--role",
                                 "admin", "--password-stdin"], input="a-long-password-9\n")
    assert result.exit_code == 0, result.output
    assert "chief@example.org (admin)" in result.stdout
    page = client.get("/login")
    resp = client.post("/login", data={"email": "chief@example.org",
                                       "password": "a-long-password-9",
                                       "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302
    me = client.get("/api/v1/me").get_json()
    assert me["email"] == "chief@example.org" and me["role"] == "admin"
    assert me["auth"] == "session" and me["can"]["admin"]
    # a short password is refused with a message, not a traceback
    result = runner.invoke(cli, ["--db", db, "user", "create", "other@example.org",
                                 "--password-stdin"], input="short\n")
    assert result.exit_code != 0 and "10 characters" in result.stderr


def test_a_user_disabled_after_login_loses_the_session(app, client):
    from caremarket.store import open_store
    from tests.conftest import email_for, login

    login(client, "analyst")
    assert client.get("/api/v1/me").status_code == 200
    store = open_store(app.config["DATABASE"])
    try:
        with store.atomic():
            store.execute("update users set active = 0 where email = ?", [email_for("analyst")])
    finally:
        store.close()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/providers").status_code == 302


def test_an_api_token_cannot_mint_tokens_or_manage_users(client, api_token):
    from tests.conftest import bearer

    for role, path, data in (("viewer", "/account/tokens", {"name": "again"}),
                             ("admin", "/admin/users", {"action": "create",
                                                        "email": "x@example.org",
                                                        "password": "long-enough-pw",
                                                        "role": "admin"})):
        token = api_token(role)
        assert client.post(path, data=data, headers=bearer(token)).status_code == 403
        assert client.get(path, headers=bearer(token)).status_code == 403


def test_responses_forbid_framing_sniffing_and_caching(client):
    from tests.conftest import login

    login(client, "viewer")
    for path in ("/", "/api/v1/providers", "/login"):
        h = client.get(path).headers
        assert h["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-store"


def test_a_token_records_when_it_was_last_used(app, client, api_token):
    from caremarket.store import open_store
    from tests.conftest import bearer

    token = api_token("viewer")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    store = open_store(app.config["DATABASE"])
    try:
        used = store.execute("select last_used_at from api_tokens order by id desc limit 1"
                             ).fetchone()[0]
    finally:
        store.close()
    assert used and used.startswith("20")
