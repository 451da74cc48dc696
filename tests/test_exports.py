"""Every table exports whole (issue 13, points 2, 8 and 10): the CSV and XLSX downloads of the
providers, zones, imports, the scenario comparison and each run's tables hold exactly the API's
rows; spreadsheets get £ and % number formats, a frozen header and a filter, and no live
formula; the cost of care lists every zone; each import kind has a template that imports.
"""

from __future__ import annotations

import csv
import io
import math
import shutil

import pytest

from tests.conftest import bearer, login

MONEY2 = "£#,##0.00;−£#,##0.00"
MONEY0 = "£#,##0;−£#,##0"
PCT = "0.0%"


# -- helpers shared with the browser test ---------------------------------------------------


def csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def xlsx_rows(data: bytes):
    """(sheet, header labels, rows as lists) of the first sheet of a workbook."""
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return ws, [str(h) for h in rows[0]], rows[1:]


def same(cell, value) -> bool:
    """A CSV cell (text) or an XLSX cell against the API's JSON value."""
    if value is None:
        return cell in ("", None)
    if isinstance(value, bool):
        return cell in ("true" if value else "false", value)
    if isinstance(value, (int, float)):
        return cell not in ("", None) and math.isclose(float(cell), value, rel_tol=1e-12,
                                                       abs_tol=1e-12)
    if isinstance(value, (dict, list)):
        return cell not in ("", None)
    text = str(value)
    if text == "":
        return cell in ("", None)  # a spreadsheet keeps no empty text: an empty cell
    expected = ("'" + text) if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
    return cell == expected


def assert_export_matches(csv_text: str, xlsx: bytes, items: list[dict]) -> list[str]:
    """The CSV and the XLSX hold every item, in order, every column equal to the JSON value;
    returns the CSV header (the JSON keys)."""
    keys, rows = csv_rows(csv_text)
    assert len(rows) == len(items)
    for row, item in zip(rows, items, strict=True):
        for k in keys:
            assert same(row[k], item.get(k)), (k, row[k], item.get(k))
    ws, labels, xrows = xlsx_rows(xlsx)
    assert len(labels) == len(keys) and len(xrows) == len(items)
    for xrow, item in zip(xrows, items, strict=True):
        for k, v in zip(keys, xrow, strict=True):
            assert same(v, item.get(k)), (k, v, item.get(k))
    return keys


def all_items(client, path: str, headers=None) -> list[dict]:
    """Every item of a paginated API list."""
    out, page = [], 1
    sep = "&" if "?" in path else "?"
    while page:
        body = client.get(f"{path}{sep}page={page}&per_page=1000", headers=headers).get_json()
        out += body["items"]
        page = body["next_page"]
    return out


# -- the writers ------------------------------------------------------------------------------


def test_cells_that_a_spreadsheet_would_run_are_inert_and_numbers_stay_numbers():
    from caremarket import tables

    t = tables.Table(tables.TableDef("t", "T", (
        tables.Column("name", "Name"), tables.Column("fee", "Fee", "GBP a week"),
        tables.Column("share", "Share", "share"), tables.Column("beds", "Beds", "beds"))), [
        {"name": '=HYPERLINK("http://x","y")', "fee": -12.5, "share": 0.25, "beds": 3},
        {"name": "+1", "fee": 800.0, "share": None, "beds": 0},
        {"name": "-2", "fee": None, "share": 1.0, "beds": 10},
        {"name": "@SUM(A1)", "fee": 1.0, "share": 0.0, "beds": 1},
        {"name": "Oak House", "fee": 2.0, "share": 0.5, "beds": 2}])
    keys, rows = csv_rows(tables.to_csv(t))
    assert keys == ["name", "fee", "share", "beds"]
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2",
                                         "'@SUM(A1)", "Oak House"]
    assert [r["fee"] for r in rows] == ["-12.5", "800.0", "", "1.0", "2.0"]
    ws, labels, xrows = xlsx_rows(tables.to_xlsx(t))
    assert labels == ["Name", "Fee", "Share", "Beds"]
    assert [r[0] for r in xrows] == [r["name"] for r in rows]
    assert xrows[0][1:] == [-12.5, 0.25, 3]  # numbers, not text
    assert ws["B2"].number_format == MONEY2 and ws["C2"].number_format == PCT
    assert ws["D2"].number_format == "#,##0"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D6"


def test_the_reports_use_the_same_cell_writers():
    from caremarket import reports, tables

    assert reports._inert is tables.inert and reports._sheet is tables.write_sheet


# -- the routes: login, filters, every row -----------------------------------------------------

EXPORT_PATHS = ("/api/v1/providers", "/api/v1/zones", "/api/v1/imports",
                "/api/v1/scenarios/compare", "/api/v1/runs/1/tables/care_gaps",
                "/api/v1/imports/templates/zones")


@pytest.mark.parametrize("path", EXPORT_PATHS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_downloads_need_a_login_or_a_token(client, path, fmt):
    if path.endswith("/zones") and "templates" in path and fmt == "xlsx":
        return  # templates are CSV only
    resp = client.get(f"{path}.{fmt}")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthenticated"


def test_the_providers_download_applies_the_filters_and_holds_every_row(client, api_token):
    token = bearer(api_token("viewer"))
    query = "kind=care_home&rurality=sparse&sort=-beds"
    items = all_items(client, f"/api/v1/providers?{query}", token)
    assert 0 < len(items) < 150  # the filters choose some homes, not all
    resp_csv = client.get(f"/api/v1/providers.csv?{query}", headers=token)
    resp_xlsx = client.get(f"/api/v1/providers.xlsx?{query}", headers=token)
    assert resp_csv.mimetype == "text/csv" and resp_xlsx.mimetype.startswith("application/vnd")
    assert "attachment" in resp_csv.headers["Content-Disposition"]
    keys = assert_export_matches(resp_csv.get_data(as_text=True), resp_xlsx.data, items)
    assert set(keys) == set(items[0])  # every key of the JSON list is a column
    ws, labels, _ = xlsx_rows(resp_xlsx.data)
    col = {k: i + 1 for i, k in enumerate(keys)}
    assert ws.cell(2, col["la_fee"]).number_format == MONEY2
    assert ws.cell(2, col["occupancy"]).number_format == PCT
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    # every provider, past the API's 1,000-a-page cap as well: the whole list
    everything = client.get("/api/v1/providers.csv", headers=token).get_data(as_text=True)
    assert len(csv_rows(everything)[1]) == client.get(
        "/api/v1/providers", headers=token).get_json()["total"]
    bad = client.get("/api/v1/providers.csv?kind=nursery", headers=token)
    assert bad.status_code == 400 and "kind" in bad.get_json()["error"]["message"]


def test_zones_and_imports_download_whole(client, api_token):
    from caremarket import tables

    token = bearer(api_token("viewer"))
    zones = all_items(client, "/api/v1/zones?rurality=sparse", token)
    assert_export_matches(
        client.get("/api/v1/zones.csv?rurality=sparse", headers=token).get_data(as_text=True),
        client.get("/api/v1/zones.xlsx?rurality=sparse", headers=token).data, zones)
    assert {c.key for c in tables.ZONES.columns} == set(zones[0])  # every key is a column
    imports = all_items(client, "/api/v1/imports", token)
    assert len(imports) >= 5
    assert_export_matches(
        client.get("/api/v1/imports.csv", headers=token).get_data(as_text=True),
        client.get("/api/v1/imports.xlsx", headers=token).data, imports)


def test_a_name_that_is_a_formula_is_exported_inert(client, app, api_token, tmp_path):
    token = bearer(api_token("analyst"))
    homes = tmp_path / "homes.csv"
    homes.write_text('provider_id,name,beds\nCH-F1,"=HYPERLINK(""http://evil"",""x"")",20\n'
                     "CH-F2,@SUM(1),12\n")
    resp = client.post("/api/v1/imports", headers=token, content_type="multipart/form-data",
                       data={"kind": "care-homes", "file": (homes.open("rb"), "homes.csv")})
    assert resp.status_code == 201
    text = client.get("/api/v1/providers.csv?q=CH-F", headers=token).get_data(as_text=True)
    names = [r["name"] for r in csv_rows(text)[1]]
    assert names == ["'=HYPERLINK(\"http://evil\",\"x\")", "'@SUM(1)"]
    _, _, rows = xlsx_rows(client.get("/api/v1/providers.xlsx?q=CH-F", headers=token).data)
    assert all(str(r[1]).startswith("'") for r in rows)
    # a run's table too: an agency named as a formula, in the utilisation download
    agency = tmp_path / "agency.csv"
    agency.write_text("provider_id,name,capacity_hours,lat,lon\n"
                      "HC-F1,-2+3+cmd|' /C calc'!A0,500,53.1,-0.3\n")
    assert client.post("/api/v1/imports", headers=token, content_type="multipart/form-data",
                       data={"kind": "homecare-providers",
                             "file": (agency.open("rb"), "agency.csv")}).status_code == 201
    run_id = client.post("/api/v1/runs", headers=token, json={"kind": "coverage"}
                         ).get_json()["run_id"]
    util = csv_rows(client.get(f"/api/v1/runs/{run_id}/tables/utilisation.csv",
                               headers=token).get_data(as_text=True))[1]
    assert [r["name"] for r in util if r["provider_id"] == "HC-F1"] == [
        "'-2+3+cmd|' /C calc'!A0"]


def test_the_scenario_comparison_downloads_a_row_per_scenario(client, api_token):
    token = bearer(api_token("analyst"))
    for name, values in (("half", {"take_up": 0.5}), ("dear", {"la_fee_change": 0.1})):
        assert client.post("/api/v1/scenarios", headers=token,
                           json={"name": name, "values": values}).status_code == 201
    compare = client.get("/api/v1/scenarios/compare?names=half,dear", headers=token).get_json()
    items = [{"scenario": n, "row": "scenario", **c} for n, c in compare["columns"].items()]
    items += [{"scenario": n, "row": "difference from the baseline", **d}
              for n, d in compare["differences"].items()]
    text = client.get("/api/v1/scenarios/compare.csv?names=half,dear", headers=token
                      ).get_data(as_text=True)
    xlsx = client.get("/api/v1/scenarios/compare.xlsx?names=half,dear", headers=token).data
    keys = assert_export_matches(text, xlsx, items)
    assert keys[:2] == ["scenario", "row"] and keys[2:] == compare["measures"]
    assert [r["scenario"] for r in csv_rows(text)[1]] == ["baseline", "half", "dear", "half",
                                                          "dear"]
    ws, labels, _ = xlsx_rows(xlsx)
    col = {k: i + 1 for i, k in enumerate(keys)}
    assert ws.cell(2, col["extra_la_spend"]).number_format == MONEY0
    assert ws.cell(2, col["take_up"]).number_format == PCT
    assert labels[col["extra_la_spend"] - 1] == "Extra LA spend a year to break even"
    missing = client.get("/api/v1/scenarios/compare.csv", headers=token)
    assert missing.status_code == 400 and missing.get_json()["error"]["details"] == {
        "field": "names"}
    # the reserved names cannot be saved, so the downloads never hide a scenario
    assert client.post("/api/v1/scenarios", headers=token, json={
        "name": "compare.csv", "values": {}}).status_code in (400, 422)


@pytest.fixture
def coverage_run(client, api_token):
    token = bearer(api_token("analyst"))
    resp = client.post("/api/v1/runs", headers=token, json={"kind": "coverage", "levers": {}})
    assert resp.status_code == 202
    return resp.get_json()["run_id"], token


def check_run_tables(client, run_id: int, token) -> list[str]:
    """Each table of the run: its JSON, CSV and XLSX hold the same rows, the XLSX with the
    labels, money in £ and shares in %; returns the tables' names."""
    listing = client.get(f"/api/v1/runs/{run_id}/tables", headers=token).get_json()
    for t in listing["tables"]:
        assert set(t["links"]) == {"json", "csv", "xlsx"}
        body = client.get(t["links"]["json"], headers=token).get_json()
        assert body["total"] == t["rows"] == len(body["items"])
        assert [c["key"] for c in body["columns"]] == [c["key"] for c in t["columns"]]
        text = client.get(t["links"]["csv"], headers=token).get_data(as_text=True)
        xlsx = client.get(t["links"]["xlsx"], headers=token).data
        keys = assert_export_matches(text, xlsx, body["items"])
        ws, labels, _ = xlsx_rows(xlsx)
        assert labels == [c["label"] for c in t["columns"]]
        for i, c in enumerate(t["columns"], start=1):  # money in £, shares in %
            cells = [ws.cell(r, i) for r in range(2, ws.max_row + 1)]
            numbers = [x for x in cells if isinstance(x.value, float)]
            if c["unit"] in ("GBP an hour", "GBP a week") and numbers:
                assert numbers[0].number_format == MONEY2, (t["name"], c["key"])
            if c["unit"] == "share" and numbers:
                assert numbers[0].number_format == PCT, (t["name"], c["key"])
        assert keys == [c["key"] for c in t["columns"]]
    return [t["name"] for t in listing["tables"]]


def test_a_run_lists_its_tables_and_each_downloads_whole(client, coverage_run):
    run_id, token = coverage_run
    names = check_run_tables(client, run_id, token)
    assert names == ["care_gaps", "utilisation", "cost_by_rurality", "zone_costs"]
    result = client.get(f"/api/v1/runs/{run_id}", headers=token).get_json()["result"]
    # the care gaps: every zone with unmet hours, of which the run lists the 25 largest
    gaps = client.get(f"/api/v1/runs/{run_id}/tables/care_gaps.json", headers=token).get_json()
    assert gaps["total"] == 47 > len(result["care_gaps"]) == 25
    assert [g["zone_id"] for g in gaps["items"][:25]] == [g["zone_id"]
                                                          for g in result["care_gaps"]]
    unmet = [g["unmet_hours"] for g in gaps["items"]]
    assert unmet == sorted(unmet, reverse=True)
    assert client.get(f"/api/v1/runs/{run_id}/tables/nope.csv", headers=token
                      ).status_code == 404
    assert client.get("/api/v1/runs/999999/tables", headers=token).status_code == 404


def test_an_equalisation_run_downloads_every_table(client, api_token):
    token = bearer(api_token("analyst"))
    run_id = client.post("/api/v1/runs", headers=token, json={
        "kind": "equalisation", "scenario": {"take_up": 0.5},
        "options": {"montecarlo_draws": 200}}).get_json()["run_id"]
    names = check_run_tables(client, run_id, token)
    assert names[:2] == ["classes", "break_even"]
    assert {"sweep", "montecarlo"} <= set(names)
    result = client.get(f"/api/v1/runs/{run_id}", headers=token).get_json()["result"]
    homes = client.get(f"/api/v1/runs/{run_id}/tables/break_even.json", headers=token
                       ).get_json()
    assert homes["total"] == len(result["viability"]["providers"])  # every home
    sweep = client.get(f"/api/v1/runs/{run_id}/tables/sweep.json", headers=token).get_json()
    assert sweep["items"] == [{c["key"]: row.get(c["key"]) for c in sweep["columns"]}
                              for row in result["sweep"]["table"]]


def test_the_cost_of_care_counts_every_zone(client, coverage_run, app):
    """320 zones in the store: 320 rows in the table, 320 in the summary, the 29 no agency
    reaches listed as such (the summary once counted 277, the table 291)."""
    run_id, token = coverage_run
    stored = client.get("/api/v1/zones", headers=token).get_json()["total"]
    result = client.get(f"/api/v1/runs/{run_id}", headers=token).get_json()["result"]
    c = result["cost_of_care"]
    rows = client.get(f"/api/v1/runs/{run_id}/tables/zone_costs.json", headers=token
                      ).get_json()["items"]
    assert stored == 320 == len(rows) == c["zones"] == sum(r["zones"] for r in c["by_rurality"])
    unreached = [r for r in rows if r["reach"] != "reached"]
    assert len(unreached) == c["zones_unreached"] == 29
    assert {r["reach"] for r in unreached} == {"no agency within 45 minutes"}
    assert all(r["cost_per_contact_hour"] is None for r in unreached)
    # zones = with delivered hours + in reach but given none + unreached + left out
    parts = ("zones_costed", "zones_unserved", "zones_unreached", "zones_left_out")
    for r in c["by_rurality"]:
        assert r["zones"] == sum(r[p] for p in parts), r
    assert (c["zones_costed"], c["zones_unserved"], c["zones_unreached"],
            c["zones_left_out"]) == (277, 14, 29, 0)
    assert sum(1 for r in rows if r["reach"] == "reached" and not r["met_hours"]) == 14
    login(client, "viewer")
    html = client.get(f"/coverage?run={run_id}").get_data(as_text=True)
    table = html[html.index('id="zone-costs"'):html.index("</table>", html.index(
        'id="zone-costs"'))]
    assert table.count("data-zone-id=") == 320
    assert table.count("no agency within 45 minutes") == 29
    counts = html[html.index('id="cost-zone-counts"'):]
    assert "320 in all; 277 with hours delivered" in counts and "14 in reach" in counts


def test_a_zone_left_out_of_the_model_is_listed_not_dropped(sample_db):
    from caremarket import analyses, tables

    sample_db.execute("update zones set rurality = null, hop_minutes = null where zone_id = "
                      "'S0001'")
    sample_db.conn.commit()
    r = analyses.coverage(sample_db, {})
    rows = tables.zone_cost_rows(r)
    assert len(rows) == 320 == r["cost_of_care"]["zones"]
    left = [z for z in rows if z["zone_id"] == "S0001"]
    assert left[0]["reach"].startswith("left out: ") and rows[-1]["zone_id"] == "S0001"
    assert r["cost_of_care"]["zones_left_out"] == 1


def test_the_care_gaps_page_shows_the_head_then_all(client, coverage_run):
    run_id, _ = coverage_run
    login(client, "viewer")
    html = client.get(f"/coverage?run={run_id}").get_data(as_text=True)
    gaps = html[html.index('id="care-gaps"'):html.index("</table>", html.index('id="care-gaps"'))]
    assert gaps.count("data-zone-id=") == 25
    assert "show all 47" in html and f"/coverage?run={run_id}&amp;gaps=all" in html
    full = client.get(f"/coverage?run={run_id}&gaps=all").get_data(as_text=True)
    gaps = full[full.index('id="care-gaps"'):full.index("</table>", full.index('id="care-gaps"'))]
    assert gaps.count("data-zone-id=") == 47 and "show all" not in full
    for name in ("care_gaps", "utilisation", "cost_by_rurality", "zone_costs"):
        for fmt in ("csv", "xlsx"):
            assert f"/api/v1/runs/{run_id}/tables/{name}.{fmt}" in html


def test_every_page_table_links_to_its_downloads(client):
    login(client, "analyst")
    html = client.get("/providers?kind=care_home&rurality=sparse&page=2&per_page=25"
                      ).get_data(as_text=True)
    assert 'href="/api/v1/providers.csv?kind=care_home&amp;rurality=sparse"' in html
    assert 'href="/api/v1/providers.xlsx?kind=care_home&amp;rurality=sparse"' in html
    assert 'href="/api/v1/zones.xlsx"' in client.get("/").get_data(as_text=True)
    data = client.get("/data").get_data(as_text=True)
    assert 'href="/api/v1/imports.csv"' in data
    assert 'href="/api/v1/imports/templates/care-homes.csv"' in data


# -- import templates ---------------------------------------------------------------------------


def test_every_import_kind_has_a_template_that_imports(sample_db_file, tmp_path):
    """For every kind of the registry: the template's example row is accepted by a copy of
    the sample store (every value in its range, every required column there)."""
    from caremarket import importers
    from caremarket.store import open_store

    kinds = [k for k in importers.KINDS.values() if k.example is not None]
    assert {k.name for k in kinds} >= set(importers.EXAMPLES)
    for k in kinds:
        path = tmp_path / f"{k.name}.db"
        shutil.copy(sample_db_file, path)
        db = open_store(path)
        try:
            text = importers.template_csv(k.name)
            header, rows = csv_rows(text)
            assert header == list(k.example) and len(rows) == 1
            f = tmp_path / f"template-{k.name}.csv"
            f.write_text(text)
            summary = importers.import_file(db, k.name, f)
            assert summary.records >= 1, k.name
        finally:
            db.close()


def test_templates_download_from_the_api(client, api_token):
    from caremarket import importers

    token = bearer(api_token("viewer"))
    listing = client.get("/api/v1/imports/templates", headers=token).get_json()["templates"]
    assert [t["kind"] for t in listing] == list(importers.KINDS)
    resp = client.get("/api/v1/imports/templates/fees.csv", headers=token)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    header, rows = csv_rows(resp.get_data(as_text=True))
    assert header[:5] == ["funder", "service", "unit", "amount", "effective_from"]
    assert rows[0]["funder"] == "la"
    zones = csv_rows(client.get("/api/v1/imports/templates/zones.csv", headers=token
                                ).get_data(as_text=True))[1][0]
    assert zones["lon"] == "-0.5406"  # our own example: a sign, not an escaped formula
    missing = client.get("/api/v1/imports/templates/nothing.csv", headers=token)
    assert missing.status_code == 404 and "nothing" in missing.get_json()["error"]["message"]


def test_the_cli_prints_the_same_template(runner, client, api_token):
    from caremarket.cli import cli

    token = bearer(api_token("viewer"))
    out = runner.invoke(cli, ["kinds", "--template", "care-homes"])
    assert out.exit_code == 0
    assert out.output == client.get("/api/v1/imports/templates/care-homes.csv",
                                    headers=token).get_data(as_text=True)
    bad = runner.invoke(cli, ["kinds", "--template", "nope"])
    assert bad.exit_code == 1 and "no import kind 'nope'" in bad.output
