"""Hardening (issue 11): login throttling, sessions that end, upload names, small validation."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORDS, csrf_from, email_for, login


def _try(client, email: str, password: str):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token})


@pytest.fixture
def strict(app):
    """Small limits: 3 failed logins per account, 5 per address, a minute each."""
    app.config.update(LOGIN_LIMIT_ACCOUNT="3 per minute", LOGIN_LIMIT_ADDRESS="5 per minute")
    return app


# -- 1. login throttling ------------------------------------------------------------------------

def test_failed_logins_for_an_account_are_throttled_others_still_log_in(strict):
    client = strict.test_client()
    for _ in range(3):
        assert _try(client, email_for("admin"), "wrong-password").status_code == 401
    resp = _try(client, email_for("admin"), PASSWORDS["admin"])  # even the right one waits
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    html = resp.get_data(as_text=True)
    assert "too many failed logins" in html and "try again in" in html
    # another account from the same address still logs in
    other = strict.test_client()
    assert _try(other, email_for("viewer"), PASSWORDS["viewer"]).status_code == 302
    # failures are in the audit log, with the address
    from caremarket.store import open_store

    store = open_store(strict.config["DATABASE"])
    try:
        rows = list(store.execute("select user, action, target, detail from audit_log "
                                  "where action = 'login.failed'"))
    finally:
        store.close()
    assert len(rows) == 3 and {r[2] for r in rows} == {email_for("admin")}
    assert "127.0.0.1" in rows[0][3]


def test_failed_logins_from_one_address_are_throttled(strict):
    client = strict.test_client()
    for i in range(5):
        assert _try(client, f"nobody{i}@example.org", "wrong-password").status_code == 401
    resp = _try(client, email_for("viewer"), PASSWORDS["viewer"])
    assert resp.status_code == 429 and "Retry-After" in resp.headers
    # another address is not held back
    elsewhere = strict.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert _try(elsewhere, email_for("viewer"), PASSWORDS["viewer"]).status_code == 302


def test_successful_logins_are_not_counted(strict):
    client = strict.test_client()
    for _ in range(8):
        assert _try(client, email_for("analyst"), PASSWORDS["analyst"]).status_code == 302


def test_an_unknown_account_costs_one_password_hash_like_a_known_one(app, monkeypatch):
    from caremarket import accounts
    from caremarket.store import open_store

    accounts._dummy_hash()  # made once per process, before counting
    calls = []
    real_check, real_make = accounts.check_password_hash, accounts.generate_password_hash
    monkeypatch.setattr(accounts, "check_password_hash",
                        lambda *a: calls.append("check") or real_check(*a))
    monkeypatch.setattr(accounts, "generate_password_hash",
                        lambda *a, **k: calls.append("make") or real_make(*a, **k))
    store = open_store(app.config["DATABASE"])
    try:
        counts = {}
        for email in (email_for("admin"), "nobody@example.org"):
            calls.clear()
            assert accounts.authenticate(store, email, "wrong-password") is None
            counts[email] = list(calls)
        # a disabled account too
        accounts.set_active(store, email_for("viewer"), False, actor="test")
        calls.clear()
        assert accounts.authenticate(store, email_for("viewer"), PASSWORDS["viewer"]) is None
        counts["disabled"] = list(calls)
    finally:
        store.close()
    assert all(c == ["check"] for c in counts.values()), counts


# -- 2. sessions that end -----------------------------------------------------------------------

def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(app, cookie: str) -> int:
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get("/api/v1/me").status_code


def test_a_cookie_captured_before_logout_is_refused_afterwards(app, client):
    token = login(client, "analyst")
    captured = _cookie(client)
    assert _replay(app, captured) == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert _replay(app, captured) == 401
    # logging in again works, with a fresh session
    login(client, "analyst")
    assert client.get("/api/v1/me").status_code == 200


def test_a_password_change_role_change_or_disabling_ends_sessions(app):
    from caremarket import accounts
    from caremarket.store import open_store

    def with_store(fn):
        store = open_store(app.config["DATABASE"])
        try:
            fn(store)
        finally:
            store.close()

    for change in (lambda s: accounts.set_password(s, email_for("analyst"), "a-new-password-1"),
                   lambda s: accounts.set_role(s, email_for("analyst"), "viewer", "test"),
                   lambda s: accounts.set_active(s, email_for("analyst"), False, "test")):
        with_store(lambda s: s.execute("update users set active = 1, password_hash = ?, "
                                       "role = 'analyst' where email = ?",
                                       [accounts.generate_password_hash(PASSWORDS["analyst"]),
                                        email_for("analyst")]) and s.conn.commit())
        client = app.test_client()
        login(client, "analyst")
        captured = _cookie(client)
        assert _replay(app, captured) == 200
        with_store(change)
        assert _replay(app, captured) == 401
        assert client.get("/api/v1/me").status_code == 401


def test_user_disable_and_enable_from_the_cli(app, runner):
    from caremarket.cli import cli

    db = app.config["DATABASE"]
    res = runner.invoke(cli, ["--db", db, "user", "disable", email_for("viewer")])
    assert res.exit_code == 0 and "disabled" in res.output
    client = app.test_client()
    assert _try(client, email_for("viewer"), PASSWORDS["viewer"]).status_code == 401
    res = runner.invoke(cli, ["--db", db, "user", "enable", email_for("viewer")])
    assert res.exit_code == 0
    assert _try(client, email_for("viewer"), PASSWORDS["viewer"]).status_code == 302


# -- 6. small validation ------------------------------------------------------------------------

def test_fees_as_of_must_be_a_date(client, api_token):
    from tests.conftest import bearer

    headers = bearer(api_token("viewer"))
    resp = client.get("/api/v1/fees?as_of=not-a-date", headers=headers)
    assert resp.status_code == 400
    assert "as_of" in resp.get_json()["error"]["message"]
    all_rows = client.get("/api/v1/fees", headers=headers).get_json()["total"]
    early = client.get("/api/v1/fees?as_of=1990-01-01", headers=headers).get_json()["total"]
    assert early < all_rows


def test_revoking_a_token_that_is_not_an_id_names_it(client):
    token = login(client, "analyst")
    resp = client.post("/account/tokens", data={"action": "revoke", "token_id": "abc",
                                                "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "&#39;abc&#39; is not a token id" in html and "invalid literal" not in html
    resp = client.post("/account/tokens", data={"action": "revoke", "token_id": "999",
                                                "csrf_token": token})
    assert "no token 999" in resp.get_data(as_text=True)


# -- 5. the API contract ------------------------------------------------------------------------

def test_the_openapi_document_states_what_the_server_enforces(client, api_token):
    from tests.conftest import bearer

    headers = bearer(api_token("analyst"))
    doc = client.get("/api/v1/openapi.json", headers=headers).get_json()
    paths = doc["paths"]
    page = {p["name"]: p for p in paths["/api/v1/runs"]["get"]["parameters"]}["page"]
    assert page["schema"]["minimum"] == 1
    names = paths["/api/v1/scenarios/compare"]["get"]["parameters"][0]
    assert names["name"] == "names" and names["required"] is True
    save = paths["/api/v1/scenarios"]["post"]
    assert {"200", "201"} <= set(save["responses"])
    body = save["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False and body["required"] == ["name"]
    csv = paths["/api/v1/reports/runs/{run_id}.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv) == ["text/csv"]
    xlsx = paths["/api/v1/reports/runs/{run_id}.xlsx"]["get"]["responses"]["200"]["content"]
    assert list(xlsx) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    # the list of a report's runs checks per_page like the other lists
    name = client.get("/api/v1/reports", headers=headers).get_json()["items"][0]["name"]
    resp = client.get(f"/api/v1/reports/{name}/runs?per_page=0", headers=headers)
    assert resp.status_code == 400 and "per_page" in resp.get_json()["error"]["message"]


def test_a_scenario_named_compare_is_refused_and_the_compare_route_has_one_meaning(
        client, api_token):
    from tests.conftest import bearer

    headers = bearer(api_token("analyst"))
    resp = client.post("/api/v1/scenarios", json={"name": "compare", "values": {}},
                       headers=headers)
    assert resp.status_code == 422 and "reserved" in resp.get_json()["error"]["message"]
    resp = client.delete("/api/v1/scenarios/compare", headers=headers)
    assert resp.status_code == 405 and "DELETE" not in resp.headers["Allow"]
    # a name with 'compare' in it is fine
    resp = client.post("/api/v1/scenarios", json={"name": "compare rates", "values": {}},
                       headers=headers)
    assert resp.status_code == 201
    assert client.get("/api/v1/scenarios/compare rates", headers=headers).status_code == 200
    # booleans are not numbers, and a run kind must be text
    resp = client.post("/api/v1/scenarios", json={"name": "b", "values": {"take_up": True}},
                       headers=headers)
    assert resp.status_code == 400 and "values.take_up" in resp.get_json()["error"]["message"]
    resp = client.post("/api/v1/runs", json={"kind": {"": {}}}, headers=headers)
    assert resp.status_code == 400 and "kind" in resp.get_json()["error"]["message"]
