"""Import undo (caremarket.undo): every accepted import can be reverted exactly; rejected files
are listed without touching the store."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket import undo
from caremarket.cli import cli
from caremarket.importers import import_file, rejected_imports
from caremarket.store import content_hash, dump
from market.errors import ImportRejected
from tests.conftest import bearer, login, shared

CQC = ("cqc", "cqc_ratings_lincolnshire_2026.csv")
POSTCODES = ("postcodes", "codepoint_open_2018_lincs_devon.csv")


def data_dump(db):
    """Every row of every data table (the application's own tables left aside)."""
    return {t: rows for t, rows in dump(db).items() if t in undo.data_tables(db)}


def real(*parts):
    path = shared(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def _csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind,parts", [("cqc", CQC), ("postcodes", POSTCODES)])
def test_a_real_import_then_revert_restores_every_row_and_the_hash(sample_db, kind, parts):
    before, h = data_dump(sample_db), content_hash(sample_db)
    s = import_file(sample_db, kind, real(*parts))
    assert data_dump(sample_db) != before  # it did change the store
    out = undo.revert(sample_db, s.import_id, "tester")
    assert out["reverted"][0]["changes"] > 0
    assert data_dump(sample_db) == before
    assert content_hash(sample_db) == h
    row = sample_db["imports"].get(s.import_id)
    assert row["status"] == "reverted" and row["reverted_by"] == "tester"
    audit = list(sample_db["audit_log"].rows_where("action = 'import.revert'"))
    assert audit and audit[-1]["target"] == f"#{s.import_id}"
    with pytest.raises(Exception, match="nothing to revert"):
        undo.revert(sample_db, s.import_id)


def test_a_later_import_of_the_same_rows_blocks_a_revert_unless_cascade(sample_db, tmp_path):
    before = data_dump(sample_db)
    a = import_file(sample_db, "sites", _csv(tmp_path / "a.csv",
                    "site_id,name,lat,lon,capacity_hours\nS1,One,53.0,-0.3,100\n"))
    b = import_file(sample_db, "sites", _csv(tmp_path / "b.csv",
                    "site_id,name,lat,lon,capacity_hours\nS1,One,53.0,-0.3,250\n"))
    other = import_file(sample_db, "sites", _csv(tmp_path / "c.csv",
                        "site_id,name,lat,lon,capacity_hours\nS9,Nine,53.1,-0.2,90\n"))
    with pytest.raises(undo.RevertRefused) as exc:
        undo.revert(sample_db, a.import_id)
    assert exc.value.later == [b.import_id]  # the unrelated import is not named
    out = undo.revert(sample_db, a.import_id, cascade=True)
    assert [r["import_id"] for r in out["reverted"]] == [b.import_id, a.import_id]
    assert sample_db["sites"].get("S9")["capacity_hours"] == 90  # untouched
    undo.revert(sample_db, other.import_id)
    assert data_dump(sample_db) == before


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["S1", "S2", "SITE1A"]),
                          st.integers(min_value=1, max_value=900)), min_size=1, max_size=5))
def test_any_sequence_of_imports_reverted_newest_first_restores_the_store(sample_db, tmp_path,
                                                                          seq):
    before = data_dump(sample_db)
    ids = []
    for n, (site, hours) in enumerate(seq):
        path = _csv(tmp_path / f"s{n}.csv", "site_id,name,lat,lon,capacity_hours\n"
                                            f"{site},Base {n},53.0,-0.3,{hours}\n")
        ids.append(import_file(sample_db, "sites", path).import_id)
    for iid in reversed(ids):
        undo.revert(sample_db, iid)
    assert data_dump(sample_db) == before


def test_a_rejected_file_is_listed_and_the_store_file_is_byte_identical(sample_db, tmp_path):
    from pathlib import Path

    path = Path(sample_db.conn.execute("pragma database_list").fetchone()[2])
    files = [path, Path(f"{path}-wal")]

    def raw():
        return [f.read_bytes() if f.exists() else None for f in files]

    before = raw()
    bad = _csv(tmp_path / "bad.csv", "site_id,name,lat,lon,capacity_hours\nS1,One,53,-0.3,-4\n")
    with pytest.raises(ImportRejected):
        import_file(sample_db, "sites", bad, user="ann")
    assert raw() == before
    got = rejected_imports(sample_db)[0]
    assert got["file_name"] == "bad.csv" and got["user"] == "ann" and got["status"] == "rejected"
    assert got["problems_total"] == 1 and got["problems"][0]["row"] == 2


def test_cli_revert_and_history(runner, sample_db_file, tmp_path):
    import shutil

    db = tmp_path / "s.db"
    shutil.copy(sample_db_file, db)
    res = runner.invoke(cli, ["--db", str(db), "import", "cqc", str(real(*CQC)), "--json"])
    assert res.exit_code == 0, res.output
    iid = json.loads(res.output)["import_id"]
    res = runner.invoke(cli, ["--db", str(db), "import", "revert", str(iid)])
    assert res.exit_code == 0 and f"reverted import #{iid}" in res.output
    res = runner.invoke(cli, ["--db", str(db), "imports", "--json"])
    assert json.loads(res.output)["items"][0]["status"] == "reverted"
    res = runner.invoke(cli, ["--db", str(db), "import", "revert", "abc"])
    assert res.exit_code != 0 and "not an import id" in res.output


def test_api_and_page_revert(app, client, api_token, tmp_path):
    analyst = bearer(api_token("analyst"))
    viewer = bearer(api_token("viewer"))
    body = "site_id,name,lat,lon,capacity_hours\nS1,One,53.0,-0.3,100\n"
    ids = []
    for n in range(2):
        resp = client.post("/api/v1/imports", headers=analyst, data={
            "kind": "sites", "file": (io.BytesIO(body.encode()), f"x{n}.csv")})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        ids.append(resp.get_json()["import_id"])
    assert client.post(f"/api/v1/imports/{ids[0]}/revert", headers=viewer).status_code == 403
    resp = client.post(f"/api/v1/imports/{ids[0]}/revert", headers=analyst)
    assert resp.status_code == 409 and resp.get_json()["error"]["details"]["later"] == [ids[1]]
    resp = client.post(f"/api/v1/imports/{ids[0]}/revert?cascade=true", headers=analyst)
    assert resp.status_code == 200
    assert [r["import_id"] for r in resp.get_json()["reverted"]] == [ids[1], ids[0]]
    assert client.post("/api/v1/imports/99999/revert", headers=analyst).status_code == 404
    # the page's button (CSRF form) on a fresh import
    pages = app.test_client()
    token = login(pages, "analyst")
    resp = client.post("/api/v1/imports", headers=analyst, data={
        "kind": "sites", "file": (io.BytesIO(body.encode()), "y.csv")})
    iid = resp.get_json()["import_id"]
    html = pages.get("/data").get_data(as_text=True)
    assert f'/data/imports/{iid}/revert' in html
    assert pages.post(f"/data/imports/{iid}/revert").status_code == 400  # no CSRF token
    resp = pages.post(f"/data/imports/{iid}/revert", data={"csrf_token": token})
    assert resp.status_code == 200 and f"Reverted import #{iid}" in resp.get_data(as_text=True)


def test_a_value_comes_back_to_the_last_bit(sample_db, tmp_path):
    """SQLite's JSON prints reals to 15 digits; the undo log keeps all 17."""
    sample_db["sites"].upsert({"site_id": "F1", "name": "Float", "lat": 0.1 + 0.2,
                               "lon": 1 / 3, "capacity_hours": 100.0}, pk="site_id")
    before = data_dump(sample_db)
    s = import_file(sample_db, "sites", _csv(tmp_path / "f.csv",
                    "site_id,name,lat,lon,capacity_hours\nF1,Float,53,-0.3,120\n"))
    undo.revert(sample_db, s.import_id)
    assert sample_db["sites"].get("F1")["lat"] == 0.1 + 0.2
    assert data_dump(sample_db) == before
