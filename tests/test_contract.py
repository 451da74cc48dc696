"""The API contract in-process: what the OpenAPI schema of a lever or a name admits is exactly
what the server takes (issue 11, point 5).

Each value is validated against the schema the API publishes with the validator schemathesis
uses (jsonschema_rs, ECMA regular expressions, formats asserted) and given to the server's own
check. A value the schema admits is taken, or refused as well-formed (LeverRefused: the API's
documented 422); a value it does not admit is refused as malformed (LeverError: 400). The whole
contract run against a served app is `.ci/contract.py`, a step of `.ci/run`.
"""

from __future__ import annotations

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import levers as registry
from market.errors import InvalidScenario
from market.scenarios import Scenario
from web.api import SCENARIO_NAME

LEVERS = sorted({(op, lv.name): lv for op, lvs in registry.OPERATIONS.items()
                 for lv in lvs}.items())


def _valid(schema: dict, value: object) -> bool:
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value)


def _verdict(lever: registry.Lever, value: object) -> str:
    """'taken', 'refused' (well-formed, LeverRefused) or 'malformed' (LeverError)."""
    try:
        lever.check(value, strict=True)
    except registry.LeverRefused:
        return "refused"
    except registry.LeverError:
        return "malformed"
    return "taken"


NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False,
                                                          allow_infinity=False))
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", " ", "beta:2,3", "BETA : 2 , 3", "beta:2,3\n", "normal:1", "0.4", "fixed:0.4",
     "2025-04-01", "2025-02-30", "20250401", "standard", "take_up", "auto", "yes", "1"]))
VALUES = st.one_of(
    st.none(), st.booleans(), NUMBERS, TEXT,
    st.from_regex(registry.DISTRIBUTION_PATTERN, fullmatch=True),
    st.lists(st.one_of(st.text(max_size=4), st.integers(), st.booleans()), max_size=3),
    st.dictionaries(st.text(max_size=4), st.one_of(NUMBERS, st.text(max_size=3),
                                                   st.booleans(), st.none()), max_size=3))


@pytest.mark.parametrize("lever", [lv for _, lv in LEVERS], ids=[f"{op}.{n}" for (op, n), _ in
                                                                  LEVERS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_the_schema_of_a_lever_admits_exactly_what_the_api_takes(lever, value):
    schema = lever.schema()
    verdict = _verdict(lever, value)
    if _valid(schema, value):
        assert verdict in ("taken", "refused"), (schema, value)
    else:
        assert verdict == "malformed", (schema, value)


@settings(max_examples=300, deadline=None)
@given(text=st.from_regex(registry.DISTRIBUTION_PATTERN, fullmatch=True))
def test_a_distribution_of_the_published_form_is_read_or_refused_as_well_formed(text):
    lever = registry.lever("montecarlo", "take_up_dist")
    assert _valid(lever.schema(), text)
    assert _verdict(lever, text) in ("taken", "refused")


@pytest.mark.parametrize("text, verdict", [
    ("beta:2,3", "taken"), ("BETA : 2 , 3", "taken"), ("beta:2,3,0.1,0.9", "taken"),
    ("triangular:0.1,0.3,0.6", "taken"), ("uniform:0,1", "taken"), ("0.4", "taken"),
    ("fixed:0.4", "taken"), (" beta:.5,2e0 ", "taken"),
    # of the form, refused by the model: 422
    ("beta:0,2", "refused"), ("beta:2,3,0.9,0.1", "refused"), ("uniform:1,0", "refused"),
    ("triangular:0.1,0.6,0.3", "refused"), ("1e400", "refused"), ("uniform:0,1e999", "refused"),
    # not of the form: 400
    ("beta:2", "malformed"), ("beta:2,3,4", "malformed"), ("normal:1", "malformed"),
    ("beta:2;3", "malformed"), ("beta:2,3\n", "malformed"), ("", "malformed"),
    ("beta:2,3x", "malformed"), ("inf", "malformed"), ("nan", "malformed"),
    ("1_000", "malformed"), ("beta:\u0662,3", "malformed"), (0.4, "malformed"),
])
def test_distribution_forms_by_hand(text, verdict):
    lever = registry.lever("equalisation", "take_up_dist")
    assert _verdict(lever, text) == verdict
    assert _valid(lever.schema(), text) == (verdict != "malformed")


def test_the_cli_and_forms_still_take_text_and_blanks():
    # the non-strict reading (CLI options, page forms) is unchanged
    cov = registry.check("coverage", {"max_minutes": "1,2", "add_sites": "yes",
                                      "remove_provider": "a, b", "gaps": ""})
    assert cov["max_minutes"] == 12 and cov["add_sites"] is True
    assert cov["remove_provider"] == ["a", "b"] and cov["gaps"] == 25
    eq = registry.check("equalisation", {"take_up_dist": " beta:2,5 ", "cost_change_dist": ""})
    assert eq["take_up_dist"] == "beta:2,5" and eq["cost_change_dist"] is None
    with pytest.raises(registry.LeverRefused):
        registry.check("equalisation", {"take_up_dist": "beta:0,5"})
    with pytest.raises(registry.LeverError) as info:
        registry.check("coverage", {"max_minutes": "30"}, "levers.", strict=True)
    assert info.value.field == "levers.max_minutes" and not isinstance(
        info.value, registry.LeverRefused)


BLANKS = st.sampled_from(list(" \t\n\r\f\v\x1c\x85\xa0\ufeff"))


@settings(max_examples=400, deadline=None)
@given(name=st.one_of(
    st.text(max_size=90),
    st.builds(lambda a, b, c: a + b + c, st.text(BLANKS, max_size=3),
              st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,85}", fullmatch=True),
              st.text(BLANKS, max_size=3)),
    st.builds(lambda a, b, c: a + b + c, st.text(BLANKS, max_size=2),
              st.sampled_from(["compare", "Compare", "COMPARE"]), st.text(BLANKS, max_size=2))))
def test_the_scenario_name_schema_admits_exactly_the_names_saved(name):
    try:
        saved = Scenario(name).name
    except InvalidScenario:
        saved = None
    reserved = saved is not None and saved.lower() == "compare"
    assert _valid(SCENARIO_NAME, name) == (saved is not None and not reserved), repr(name)


@pytest.mark.parametrize("args, expected", [
    ({"years": "2", "exclude_outliers": "true", "as_of": "2026-12-01"},
     {"years": 2, "exclude_outliers": True, "as_of": "2026-12-01"}),
    ({"exclude_outliers": "false"}, {"exclude_outliers": False}),
])
def test_query_levers_are_read_as_their_schema_spells_them(args, expected):
    out = registry.from_query("fcoc", args)
    assert {k: out[k] for k in expected} == expected


@pytest.mark.parametrize("args, field", [
    ({"years": "0"}, "years"), ({"years": "2.5"}, "years"), ({"years": ""}, "years"),
    ({"years": "02"}, "years"), ({"exclude_outliers": "yes"}, "exclude_outliers"),
    ({"exclude_outliers": ""}, "exclude_outliers"), ({"as_of": "2025-02-30"}, "as_of"),
    ({"as_of": "2025-W14-2"}, "as_of"), ({"as_of": "0000-01-01"}, "as_of"),
    ({"as_of": ""}, "as_of"), ({"colour": "red"}, "colour"),
])
def test_query_levers_not_as_the_schema_spells_them_are_refused(args, field):
    with pytest.raises(registry.LeverError) as info:
        registry.from_query("fcoc", args)
    assert info.value.field == field and not isinstance(info.value, registry.LeverRefused)
    schema = registry.lever("fcoc", field).query_schema() if field != "colour" else None
    if schema and schema["type"] == "string":  # text arguments: the schema refuses it too
        assert not _valid(schema, args[field])


def test_an_fcoc_date_before_the_pay_series_starts_is_a_422_not_a_500(client, api_token):
    from tests.conftest import bearer

    for query in ("returns_date=2000-04-01", "as_of=1711-04-01"):
        resp = client.get(f"/api/v1/fcoc?{query}", headers=bearer(api_token("viewer")))
        assert resp.status_code == 422, query
        err = resp.get_json()["error"]
        assert err["code"] == "invalid_input" and "series starts 2022-04-01" in err["message"]


def test_integers_and_booleans_in_a_query_are_taken_only_as_their_schema_spells_them(
        client, api_token):
    from tests.conftest import bearer

    headers = bearer(api_token("analyst"))
    for path, field in (("/api/v1/runs?per_page=%205", "per_page"),
                        ("/api/v1/runs?page=1_0", "page"),
                        ("/api/v1/providers?per_page=5.0", "per_page"),
                        ("/api/v1/reports/compare?a=%201&b=2", "a"),
                        ("/api/v1/reports/compare?a=1&b=", "b")):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 400, path
        assert resp.get_json()["error"]["message"].startswith(field + ":"), path
    assert client.get("/api/v1/runs?per_page=5", headers=headers).status_code == 200
    imported = client.get("/api/v1/imports", headers=headers).get_json()["items"][0]["id"]
    resp = client.post(f"/api/v1/imports/{imported}/revert?cascade=yes", headers=headers)
    assert resp.status_code == 400 and "cascade" in resp.get_json()["error"]["message"]


def test_the_fee_basis_in_a_scenario_is_one_of_its_words_never_null(client, api_token):
    from tests.conftest import bearer

    headers = bearer(api_token("analyst"))
    for value in (None, 1, True):
        resp = client.post("/api/v1/scenarios", json={"name": "basis", "values": {
            "la_fee_basis": value}}, headers=headers)
        assert resp.status_code == 400, value
        assert resp.get_json()["error"]["details"] == {"field": "values.la_fee_basis"}
        resp = client.post("/api/v1/runs", json={"kind": "viability", "scenario": {
            "la_fee_basis": value}}, headers=headers)
        assert resp.status_code == 400, value
    resp = client.post("/api/v1/scenarios", json={"name": "basis", "values": {
        "la_fee_basis": "fcoc_median"}}, headers=headers)
    assert resp.status_code == 201


def test_every_download_route_is_documented_with_its_own_media_type(app, client, api_token):
    """A route whose address ends in .csv, .xlsx or .geojson is documented with that media
    type, and answers with it (the contract run once found a CSV route documented as JSON)."""
    from caremarket.tables import FORMATS
    from tests.conftest import bearer
    from web.api import openapi_document

    media_of = {".csv": FORMATS["csv"], ".xlsx": FORMATS["xlsx"],
                ".geojson": "application/geo+json"}
    doc = openapi_document(app)
    seen = 0
    for path, ops in doc["paths"].items():
        ext = next((e for e in media_of if path.endswith(e)), None)
        if ext is None:
            continue
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                assert list(op["responses"][code]["content"]) == [media_of[ext]], (path, code)
            seen += 1
    assert seen >= 10
    resp = client.get("/api/v1/imports/incomplete/zones.csv",
                      headers=bearer(api_token("viewer")))
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
