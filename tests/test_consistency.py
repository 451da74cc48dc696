"""One path per operation: the same scenario gives the same figures everywhere.

For every saved scenario of the sample market and a few random lever sets, the headline figures
from the CLI's `--json`, the API run, the rendered run page, a report run and the scenario
comparison are identical to the penny; the comparison's baseline equals a run at default
levers; a saved scenario run by name equals its values run inline. And the lever registry is the
one definition of a lever: changing a range there changes the CLI, the API's validation, the
OpenAPI schema and the page form.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import pytest

from caremarket import analyses, reports
from caremarket.cli import cli
from caremarket.commands.levers import options
from caremarket.scenario_store import list_scenarios
from market import levers as registry
from tests.conftest import bearer, login

SUMMARY_KEYS = ("extra_la_spend", "cross_subsidy_before", "cross_subsidy_after",
                "cross_subsidy_lost", "providers_needing_uplift")


def _cli_viability(runner, db_path, *args) -> dict:
    res = runner.invoke(cli, ["--db", str(db_path), "viability", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _api_run(client, headers, body) -> dict:
    resp = client.post("/api/v1/runs", json=body, headers=headers)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    run = client.get(resp.get_json()["url"], headers=headers).get_json()
    assert run["status"] == "done", run.get("error")
    return run


def _random_levers(seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {"take_up": round(rng.uniform(0, 1), 3), "convergence": round(rng.uniform(0, 1), 3),
            "la_fee_change": round(rng.uniform(-0.1, 0.2), 4),
            "cost_change": round(rng.uniform(-0.05, 0.1), 4),
            "care_worker_hourly_wage": round(rng.uniform(11.5, 14.0), 2)}


@pytest.fixture
def analyst(api_token):
    return bearer(api_token("analyst"))


def test_every_saved_scenario_gives_the_same_figures_everywhere(app, client, analyst,
                                                                 runner):
    from caremarket.store import open_store

    db_path = app.config["DATABASE"]
    store = open_store(db_path)
    try:
        saved = list_scenarios(store)
        names = [s["name"] for s in saved]
        assert len(names) >= 2, "the sample market ships saved scenarios"
        # the sample report runs every saved scenario
        reports.update_definition(store, reports.list_definitions(store)[0]["name"],
                                  {"scenarios": names})
        report = reports.run_report(store, reports.list_definitions(store)[0]["name"])
        compare = analyses.compare_scenarios(store, names)
    finally:
        store.close()
    pages = app.test_client()  # a browser session apart from the token client
    login(pages, "analyst")
    for s in saved:
        name = s["name"]
        cli_out = _cli_viability(runner, db_path, "--scenario", name)
        api = _api_run(client, analyst, {"kind": "equalisation", "scenario_name": name,
                                         "options": {"montecarlo_draws": 0,
                                                     "sweep_parameter": None}})
        api_summary = api["result"]["summary"]
        # the CLI's summary object and the API run's are the same object
        assert cli_out["summary"] == api_summary, name
        assert cli_out["scenario"] == api["result"]["scenario"] == s["values"], name
        assert api["params"]["scenario_name"] == name
        # the comparison's column and the report's headline: the same figures, to the penny
        col = compare["columns"][name]
        assert col["extra_la_spend"] == api_summary["extra_la_spend"], name
        assert col["cross_subsidy_lost"] == api_summary["cross_subsidy_lost"], name
        rep = report["results"][name]["headline"]
        assert rep["extra_la_spend"] == api_summary["extra_la_spend"], name
        assert rep["cross_subsidy_lost"] == api_summary["cross_subsidy_lost"], name
        # the rendered run page shows the same figure, formatted by the one formatter
        page = pages.get(f"/equalisation?run={api['id']}").get_data(as_text=True)
        money = "£{:,.0f}".format(api_summary["extra_la_spend"])
        assert money in page, (name, money)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_levers_agree_between_cli_api_and_comparison(app, client, analyst, runner,
                                                            seed):
    from caremarket.store import open_store

    values = _random_levers(seed)
    name = f"random {seed}"
    resp = client.post("/api/v1/scenarios", json={"name": name, "values": values},
                       headers=analyst)
    assert resp.status_code == 201
    flags = []
    for k in ("take_up", "convergence", "la_fee_change", "cost_change"):
        flags += [registry.lever("scenario", k).flag, str(values[k])]
    by_name = _cli_viability(runner, app.config["DATABASE"], "--scenario", name)
    inline = _api_run(client, analyst, {"kind": "viability", "scenario": values})
    api_named = _api_run(client, analyst, {"kind": "viability", "scenario_name": name})
    assert by_name["summary"] == inline["result"]["summary"] == api_named["result"]["summary"]
    store = open_store(app.config["DATABASE"])
    try:
        col = analyses.compare_scenarios(store, [name])["columns"][name]
    finally:
        store.close()
    for k in SUMMARY_KEYS[:1]:
        assert col[k] == by_name["summary"][k]
    # levers given on the command line (without the wage) differ from the saved scenario
    cli_flags = _cli_viability(runner, app.config["DATABASE"], *flags)
    assert cli_flags["scenario"] == {k: values[k] for k in values
                                     if k != "care_worker_hourly_wage"}


def test_the_comparison_baseline_is_a_run_at_default_levers(sample_db):
    names = [s["name"] for s in list_scenarios(sample_db)]
    compare = analyses.compare_scenarios(sample_db, names)
    base = analyses.viability(sample_db, {})
    s = base["summary"]
    col = compare["columns"]["baseline"]
    assert col["extra_la_spend"] == s["extra_la_spend"] > 0  # not the £0 of 'before'
    assert col["beds_unviable"] == s["beds_by_class"]["after"]["unviable"]
    for n in names:  # differences are against that baseline
        d = compare["differences"][n]["extra_la_spend"]
        assert d == pytest.approx(compare["columns"][n]["extra_la_spend"] - s["extra_la_spend"])


def test_a_saved_value_is_never_rounded_to_a_slider_step(client, analyst):
    """0.025 is between two 1% slider steps: the page's number box carries it exactly and a
    run by name uses it exactly (the page sends scenario_name when the levers are unchanged)."""
    values = {"cost_change": 0.025, "care_worker_hourly_wage": 12.71, "la_fee_change": 0.05}
    client.post("/api/v1/scenarios", json={"name": "nlw exact", "values": values},
                headers=analyst)
    run = _api_run(client, analyst, {"kind": "equalisation", "scenario_name": "nlw exact",
                                     "options": {"montecarlo_draws": 0}})
    assert run["result"]["scenario"] == values
    assert run["params"]["scenario"] == values
    login(client, "analyst")
    page = client.get(f"/equalisation?run={run['id']}").get_data(as_text=True)
    box = re.search(r'id="box-cost_change"[^>]*value="([^"]+)"', page)
    assert box and float(box.group(1)) == 0.025
    assert 'step="any"' in page


def test_one_change_to_a_lever_range_changes_cli_api_openapi_and_page(app, client, analyst,
                                                                      monkeypatch):
    ops = dict(registry.OPERATIONS)
    cov = tuple(dataclasses.replace(lv, maximum=90.0) if lv.name == "max_minutes" else lv
                for lv in registry.COVERAGE)
    ops["coverage"] = cov
    monkeypatch.setattr(registry, "OPERATIONS", ops)
    monkeypatch.setattr(registry, "COVERAGE", cov)
    # API validation (and its message names the field as sent)
    resp = client.post("/api/v1/runs", json={"kind": "coverage", "levers": {"max_minutes": 120}},
                       headers=analyst)
    err = resp.get_json()["error"]
    assert resp.status_code == 400 and err["details"] == {"field": "levers.max_minutes"}
    assert "90" in err["message"]
    # OpenAPI request schema
    doc = client.get("/api/v1/openapi.json", headers=analyst).get_json()
    body = doc["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["application/json"]
    kinds = {v["title"]: v for v in body["schema"]["oneOf"]}
    lever = kinds["coverage"]["properties"]["levers"]["anyOf"][0]["properties"]["max_minutes"]
    assert lever["anyOf"][0]["maximum"] == 90.0
    # the page form
    login(client, "analyst")
    page = client.get("/coverage").get_data(as_text=True)
    assert re.search(r'name="max_minutes" min="[^"]*" max="90.0"', page)
    # the CLI: options built from the registry show the range, and its check refuses 120
    import click

    cmd = click.command()(options("coverage")(lambda **kw: None))
    text = " ".join(o.help or "" for o in cmd.params if o.name == "coverage__max_minutes")
    assert "to 90" in text
    with pytest.raises(registry.LeverError, match="90"):
        registry.check("coverage", {"max_minutes": 120})


def test_every_lever_of_every_operation_is_in_the_openapi_schema(client, analyst):
    doc = client.get("/api/v1/openapi.json", headers=analyst).get_json()
    body = doc["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["application/json"]
    kinds = {v["title"]: v["properties"] for v in body["schema"]["oneOf"]}
    assert set(kinds) == set(analyses.RUN_KINDS)
    for kind, props in kinds.items():
        # levers and options: an object of the registry's levers, or null for every default
        if "levers" in props:
            levers, null = props["levers"]["anyOf"]
            assert set(levers["properties"]) == set(registry.names(kind)), kind
            assert null == {"type": "null"} and levers["additionalProperties"] is False
        if "options" in props:
            options = props["options"]["anyOf"][0]
            assert set(options["properties"]) == set(registry.names("equalisation"))
        if "scenario" in props:
            # every scenario lever, among every model parameter (no other key is accepted)
            scenario = props["scenario"]["anyOf"][0]
            assert set(registry.names("scenario")) <= set(scenario["properties"])
            assert scenario["additionalProperties"] is False
    sched = kinds["coverage"]["levers"]["anyOf"][0]["properties"]["max_minutes"]["anyOf"][0]
    assert sched["minimum"] == 0 and sched["maximum"] == 600
