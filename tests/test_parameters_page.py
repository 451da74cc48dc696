"""The Parameters page lists what GET /api/v1/parameters lists: every default with its source,
and a date only where the value is dated."""

from __future__ import annotations

import html
import re

from market.parameters import DEFAULTS
from tests.conftest import login


def test_parameters_page_matches_the_api(client):
    login(client, "viewer")
    page = client.get("/parameters")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    api = client.get("/api/v1/parameters").get_json()["parameters"]
    assert [r["name"] for r in api] == [p.name for p in DEFAULTS]
    for rec in api:
        row = re.search(rf'<tr id="param-{rec["name"]}">(.*?)</tr>', text, re.S)
        assert row, rec["name"]
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
        assert cells[1] == str(rec["value"]) and cells[2] == rec["unit"], rec["name"]
        assert cells[4] == (rec["effective_from"] or "—"), rec["name"]
        assert cells[5] == rec["source"] and rec["source"].strip(), rec["name"]
    # the cost rates name their published build-ups
    on_cost = next(r for r in api if r["name"] == "on_cost_rate")
    assert on_cost["value"] == 0.30 and "Homecare Association" in on_cost["source"]
    assert 'href="/parameters"' in text  # in the navigation


def test_parameters_page_needs_a_login(client):
    assert client.get("/parameters").status_code in (302, 401)
