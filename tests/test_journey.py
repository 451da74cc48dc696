"""The real-data journey of issue 10 (point 8), from the CLI and the API: the sample store, then
the shared Code-Point postcodes and the Lincolnshire CQC export; coverage, equalisation and the
sample fee-impact report all run and name what they left out; reverting the CQC import gives a
store whose data dump equals the dump before it."""

from __future__ import annotations

import io
import json
import shutil

import openpyxl
import pytest

from caremarket import reports, undo
from caremarket.cli import cli
from caremarket.store import content_hash, dump, open_store
from tests.conftest import SHARED, bearer

POSTCODES = SHARED / "postcodes" / "codepoint_open_2018_lincs_devon.csv"
CQC = SHARED / "cqc" / "cqc_ratings_lincolnshire_2026.csv"
pytestmark = pytest.mark.skipif(not (POSTCODES.exists() and CQC.exists()),
                                reason="shared postcode and CQC files not present")


def data_dump(path):
    db = open_store(path)
    try:
        return {t: r for t, r in dump(db).items() if t in undo.data_tables(db)}, content_hash(db)
    finally:
        db.close()


def cli_json(runner, db, *args):
    res = runner.invoke(cli, ["--db", str(db), *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_the_journey_from_the_cli(runner, sample_db_file, tmp_path):
    db = tmp_path / "journey.db"
    shutil.copy(sample_db_file, db)
    cli_json(runner, db, "import", "postcodes", str(POSTCODES))
    before = data_dump(db)
    cqc = cli_json(runner, db, "import", "cqc", str(CQC))
    cov = cli_json(runner, db, "coverage")
    assert cov["excluded"]["by_reason"]["no_capacity"]["count"] >= 95
    eq = cli_json(runner, db, "viability", "--take-up", "0.5")
    assert eq["summary"]["providers"] > 0 and eq["excluded"]["total"] > 0
    name = next(r["name"] for r in cli_json(runner, db, "report", "list")["reports"]
                if r["report_type"] == "fee_impact")  # the sample's weekly report
    report = cli_json(runner, db, "report", "run", name)
    assert report["status"] == "done"
    assert report["excluded"]["total"] > 0  # the CQC homes without beds, named
    # every record left out is named, one row per record and reason, on the page's detail
    # table and so in the CSV and the XLSX
    store = open_store(db)
    try:
        run = reports.get_run(store, report["id"])
    finally:
        store.close()
    table = next(t for t in run["detail"] if t["name"] == "excluded")
    first = run["scenarios"][0]["name"]
    ex = run["results"][first]["excluded"]
    assert sum(1 for r in table["rows"] if r[0] == first) == sum(
        item["count"] for item in ex["by_reason"].values())
    some_id = next(iter(ex["by_reason"].values()))["ids"][0]
    assert some_id in reports.to_csv(run)
    book = openpyxl.load_workbook(io.BytesIO(reports.to_xlsx(run)), read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
             for c in row}
    assert some_id in cells
    out = cli_json(runner, db, "import", "revert", str(cqc["import_id"]))
    assert out["reverted"][0]["import_id"] == cqc["import_id"]
    assert data_dump(db) == before


def test_the_journey_from_the_api(app, client, api_token):
    headers = bearer(api_token("analyst"))

    def upload(kind, path):
        from werkzeug.test import EnvironBuilder

        # the builder spools a large body to a temporary file: close it (the test client
        # would leave that to the garbage collector)
        builder = EnvironBuilder(path="/api/v1/imports", method="POST", headers=headers, data={
            "kind": kind, "file": (io.BytesIO(path.read_bytes()), path.name)})
        try:
            resp = client.open(builder)
        finally:
            builder.close()
        assert resp.status_code == 201, resp.get_data(as_text=True)[:500]
        return resp.get_json()

    upload("postcodes", POSTCODES)
    before = data_dump(app.config["DATABASE"])
    cqc = upload("cqc", CQC)
    for body in ({"kind": "coverage", "levers": {}},
                 {"kind": "equalisation", "scenario": {"take_up": 0.5},
                  "options": {"montecarlo_draws": 0}}):
        resp = client.post("/api/v1/runs", json=body, headers=headers)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        run = client.get(resp.get_json()["url"], headers=headers).get_json()
        assert run["status"] == "done", run.get("error")
        assert run["result"]["excluded"]["total"] > 0
    resp = client.post(f"/api/v1/imports/{cqc['import_id']}/revert", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert data_dump(app.config["DATABASE"]) == before
