"""Importers on the real shared files and on broken copies of them.

Every rejection must name the file, row and column, and leave the store exactly as it was.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket.cli import cli
from caremarket.importers import import_file
from caremarket.store import content_hash, dump, frame
from data.generate import write_sample
from market.errors import ImportRejected
from tests.conftest import shared


@pytest.fixture
def sample_csvs(tmp_path):
    return write_sample(tmp_path / "sample")


def load_kinds(db, paths, kinds):
    for k in kinds:
        import_file(db, k, paths[k])


# --- real shared data -----------------------------------------------------------------------

def test_cqc_ratings_export_loads_every_location(db):
    path = shared("cqc", "cqc_ratings_lincolnshire_2026.csv")
    raw = pd.read_csv(path, dtype=str)
    summary = import_file(db, "cqc", path)
    assert db["cqc_locations"].count == raw["Location ID"].nunique() == 478
    social = raw[raw["Location Type"] == "Social Care Org"].drop_duplicates("Location ID")
    homes = set(social.loc[social["Care Home?"] == "Y", "Location ID"])
    assert {r["provider_id"] for r in db["care_homes"].rows} == homes
    assert len(homes) == 262
    agencies = {r["provider_id"] for r in db["homecare_providers"].rows}
    assert set(social.loc[social["Care Home?"] == "N", "Location ID"]) <= agencies
    assert summary.by_type == {"cqc_locations": 478, "care_homes": 262,
                               "homecare_providers": len(agencies)}
    # one location by hand: its 'Overall' service-group row on the Overall domain
    msp = db["homecare_providers"].get("1-10041249501")
    assert msp["cqc_rating"] == "Good" and msp["postcode"] == "LN3 5AG"
    assert msp["group_id"] == "1-9438821988" and msp["cqc_rating_date"] == "2026-05-29"
    # without postcodes nothing is placed, and the summary says so
    assert len(summary.unplaced) == len(homes | agencies)


def test_cqc_with_codepoint_places_all_but_a_handful(db):
    import_file(db, "postcodes", shared("postcodes", "codepoint_open_2018_lincs_devon.csv"))
    summary = import_file(db, "cqc", shared("cqc", "cqc_ratings_lincolnshire_2026.csv"))
    total = db["care_homes"].count + db["homecare_providers"].count
    assert 0 < len(summary.unplaced) <= 10, summary.unplaced
    placed = db.execute("select count(*) from care_homes where lat is not null").fetchone()[0]
    placed += db.execute("select count(*) from homecare_providers where lat is not null"
                         ).fetchone()[0]
    assert placed == total - len(summary.unplaced)
    row = db["homecare_providers"].get("1-10041249501")
    assert row["placed_by"] == "postcode" and 53.0 < row["lat"] < 53.5


def test_postcodes_after_cqc_place_existing_locations(db):
    import_file(db, "cqc", shared("cqc", "cqc_ratings_lincolnshire_2026.csv"))
    summary = import_file(db, "postcodes",
                          shared("postcodes", "codepoint_open_2018_lincs_devon.csv"))
    assert summary.by_type["postcodes"] == 135346
    assert 0 < len(summary.unplaced) <= 10
    assert any("care_homes placed" in n for n in summary.notes)


def test_population_folds_single_years_into_bands_and_estimates_demand(db):
    path = shared("ons", "population_mid2020_lsoa11_lincs_devon_cumbria.csv")
    raw = pd.read_csv(path)
    import_file(db, "population", path)
    assert db["zones"].count == len(raw) == 1448
    row = raw.iloc[0]
    z = db["zones"].get(row["lsoa11_code"])
    assert z["population_65_74"] == sum(row[str(a)] for a in range(65, 75))
    assert z["population_75_84"] == sum(row[str(a)] for a in range(75, 85))
    assert z["population_85_plus"] == sum(row[str(a)] for a in range(85, 90)) + row["90+"]
    expected = (0.15 * z["population_65_74"] + 0.55 * z["population_75_84"]
                + 1.8 * z["population_85_plus"])
    assert z["demand_hours"] == pytest.approx(expected) and z["demand_estimated"] == 1
    assert z["name"] == row["lsoa11_name"]


def test_population_keeps_a_demand_given_by_the_commissioner(db, tmp_path):
    path = shared("ons", "population_mid2020_lsoa11_lincs_devon_cumbria.csv")
    code = pd.read_csv(path, nrows=1)["lsoa11_code"].iloc[0]
    z = tmp_path / "zones.csv"
    pd.DataFrame([{"zone_id": code, "demand_hours": 99.5}]).to_csv(z, index=False)
    import_file(db, "zones", z)
    import_file(db, "population", path)
    assert db["zones"].get(code)["demand_hours"] == 99.5


@pytest.mark.parametrize("parts,expected", [
    (("ons", "ruc2011_lsoa11_lincs_devon_cumbria.csv"),
     {"urban": 836, "town": 259, "village": 215, "sparse": 138}),
    (("devon", "ruc2021_lsoa21_devon_area.csv"),
     {"urban": 754, "town": 498 + 92, "village": 207 + 98, "sparse": 245}),
])
def test_rurality_2011_and_2021_fold_into_four_classes(db, parts, expected):
    import_file(db, "rurality", shared(*parts))
    got = dict(db.execute("select rurality, count(*) from zones group by 1").fetchall())
    assert got == expected


def devon_zones_and_sites(tmp_path):
    """Zones (LSOA 2021 code, name, centroid) and the 18 sites, from the shared Devon files."""
    imd = pd.read_csv(shared("devon", "devon_imd_2025_2021_LSOAs.csv"))
    cent = pd.read_csv(shared("devon", "LSOA_PopCentroids_EW_2021_V4_devon.csv"))
    zones = imd.iloc[:, :2].set_axis(["zone_id", "name"], axis=1).merge(
        cent[["LSOA21CD", "lat", "lon"]].rename(columns={"LSOA21CD": "zone_id"}), on="zone_id")
    zpath, spath = tmp_path / "devon_zones.csv", tmp_path / "devon_sites.csv"
    zones.to_csv(zpath, index=False)
    sites = pd.read_csv(shared("devon", "devon_cdcs.csv"), skipinitialspace=True)
    sites = pd.DataFrame({"site_id": [f"D{i + 1:02d}" for i in range(len(sites))],
                          "name": sites["Facility_Name"], "lat": sites["Latitude"],
                          "lon": sites["Longitude"], "capacity_hours": 1500})
    sites.to_csv(spath, index=False)
    return zpath, spath


def test_devon_wide_matrix_matches_zones_and_sites_by_name(db, tmp_path):
    zpath, spath = devon_zones_and_sites(tmp_path)
    import_file(db, "zones", zpath)
    import_file(db, "sites", spath)
    matrix = shared("devon", "travel_matrix_car.csv")
    summary = import_file(db, "travel", matrix)
    raw = pd.read_csv(matrix)
    assert summary.by_type["travel_times"] == int(raw.iloc[:, 1:].notna().sum().sum())
    assert db["travel_times"].count == summary.by_type["travel_times"]
    plym = db["zones"].rows_where("name = ?", ["Plymouth 001A"]).__next__()["zone_id"]
    bideford = db["sites"].rows_where("name = ?", ["Bideford Community Hospital"]
                                      ).__next__()["site_id"]
    assert db["travel_times"].get((bideford, plym))["minutes"] == pytest.approx(103.35)


def test_travel_long_form_matches_ids(db, sample_csvs, tmp_path):
    load_kinds(db, sample_csvs, ["zones", "homecare-providers"])
    t = tmp_path / "t.csv"
    pd.DataFrame({"provider_id": ["HC001", "HC002"], "zone_id": ["S0001", "S0002"],
                  "minutes": [12.5, 30]}).to_csv(t, index=False)
    import_file(db, "travel", t)
    assert db["travel_times"].get(("HC001", "S0001"))["minutes"] == 12.5


# --- the sample market and the entity CSVs ----------------------------------------------------

def test_sample_market_is_a_realistic_rural_county(sample_db):
    zones = frame(sample_db, "zones")
    assert 200 <= len(zones) <= 500
    assert set(zones["rurality"]) == {"urban", "town", "village", "sparse"}
    assert zones["demand_hours"].gt(0).all() and zones["population_65_plus"].gt(0).all()
    assert 30 <= sample_db["homecare_providers"].count <= 60
    homes = frame(sample_db, "care_homes")
    assert 100 <= len(homes) <= 200 and homes["beds"].gt(0).all()
    assert 0.4 <= homes["self_funder_share"].mean() <= 0.6
    assert (homes["self_funder_fee"] >= homes["la_fee"]).all()
    premium = (homes["self_funder_fee"] / homes["la_fee"]).mean()
    assert 1.3 < premium < 1.5  # CMA: 41% on average
    fees = frame(sample_db, "fee_rates")
    assert fees["effective_from"].nunique() >= 2 and fees["zone_id"].notna().any()


def test_sample_generator_is_seeded(tmp_path):
    a = write_sample(tmp_path / "a", seed=7)
    b = write_sample(tmp_path / "b", seed=7)
    c = write_sample(tmp_path / "c", seed=8)
    assert a["care-homes"].read_bytes() == b["care-homes"].read_bytes()
    assert a["care-homes"].read_bytes() != c["care-homes"].read_bytes()


def test_reimport_is_idempotent(db, sample_csvs):
    load_kinds(db, sample_csvs, ["zones", "homecare-providers", "care-homes", "sites", "fees"])
    before = {t: db[t].count for t in ("zones", "homecare_providers", "care_homes", "fee_rates")}
    h = content_hash(db)
    summary = import_file(db, "care-homes", sample_csvs["care-homes"])
    load_kinds(db, sample_csvs, ["zones", "fees"])
    assert {t: db[t].count for t in before} == before
    assert content_hash(db) == h
    assert any("same content as import" in n for n in summary.notes)
    assert db["imports"].count == 8  # the history keeps every import


def test_xlsx_imports_like_csv(db, sample_csvs, tmp_path):
    x = tmp_path / "zones.xlsx"
    pd.read_csv(sample_csvs["zones"]).to_excel(x, index=False)
    import_file(db, "zones", x)
    h = content_hash(db)
    db2_rows = frame(db, "zones").drop(columns="updated_at")
    import_file(db, "zones", sample_csvs["zones"])
    assert content_hash(db) == h
    assert len(db2_rows) == 320


def test_partial_update_keeps_other_columns(db, sample_csvs, tmp_path):
    load_kinds(db, sample_csvs, ["zones", "care-homes"])
    fees = tmp_path / "fees_only.csv"
    pd.DataFrame([{"provider_id": "CH001", "name": "Renamed", "beds": 41, "la_fee": 900}]
                 ).to_csv(fees, index=False)
    before = db["care_homes"].get("CH001")
    import_file(db, "care-homes", fees)
    after = db["care_homes"].get("CH001")
    assert after["la_fee"] == 900 and after["beds"] == 41
    assert after["self_funder_fee"] == before["self_funder_fee"]


# --- broken copies ------------------------------------------------------------------------------

def _edit(src, dst, fn):
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(dst, index=False)
    return dst


BROKEN = {
    "missing column": ("care-homes", lambda d: d.drop(columns=["beds"]), (1, "beds", "missing")),
    "non-number": ("zones", lambda d: d.assign(demand_hours=d["demand_hours"].where(
        d.index != 4, "lots")), (6, "demand_hours", "not a number")),
    "negative beds": ("care-homes", lambda d: d.assign(beds=d["beds"].where(d.index != 2, "-5")),
                      (4, "beds", "cannot be negative")),
    "occupancy above 1": ("care-homes", lambda d: d.assign(occupancy=d["occupancy"].where(
        d.index != 9, "1.07")), (11, "occupancy", "at most 1")),
    "unknown zone": ("care-homes", lambda d: d.assign(zone_id=d["zone_id"].where(
        d.index != 0, "E01999999")), (2, "zone_id", "unknown zone")),
    "duplicate id": ("homecare-providers", lambda d: pd.concat([d, d.iloc[[3]]]),
                     (46, "provider_id", "duplicate id")),
    "fee with unknown zone": ("fees", lambda d: d.assign(zone_id=d["zone_id"].where(
        d.index != 1, "Z-NOPE")), (3, "zone_id", "unknown zone")),
    "fee unit for service": ("fees", lambda d: d.assign(unit=d["unit"].where(
        d.index != 0, "week")), (2, "unit", "priced per hour")),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_is_rejected_with_where_and_what_and_store_unchanged(
        case, db, sample_csvs, tmp_path, runner, db_path):
    kind, fn, (row, column, words) = BROKEN[case]
    load_kinds(db, sample_csvs, ["zones", "homecare-providers", "care-homes"])
    bad = _edit(sample_csvs[kind], tmp_path / f"bad_{kind}.csv", fn)
    before = dump(db)
    with pytest.raises(ImportRejected) as err:
        import_file(db, kind, bad)
    problem = err.value.problems[0]
    assert (problem.file, problem.row, problem.column) == (bad.name, row, column), problem
    assert words in problem.message
    assert dump(db) == before
    # the CLI: non-zero exit, the message on stderr naming file, row and column
    result = runner.invoke(cli, ["--db", str(db_path), "import", kind, str(bad)])
    assert result.exit_code != 0
    assert f"{bad.name}, row {row}, column '{column}'" in result.stderr
    assert dump(db) == before


def _bytes_case(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    return p


@pytest.mark.parametrize("name,content,words", [
    ("latin1.csv", "zone_id,name\nZ1,Ch\xe2teau\n".encode("latin-1"), "not UTF-8"),
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"\n\n  \n", "empty"),
    ("binary.csv", bytes(range(256)) * 4, "not UTF-8"),
    ("nul.csv", b"zone_id\x00,name\n", "binary"),
    ("fake.xlsx", b"PK\x03\x04 this is not a workbook", "XLSX"),
    ("ragged.csv", b'zone_id,name\nZ1,"unterminated\n', "malformed"),
    ("header_only.csv", b"zone_id,name\n", "no data rows"),
])
def test_unreadable_or_wrongly_encoded_file_is_an_error_not_a_crash(db, tmp_path, name, content,
                                                                    words, runner, db_path):
    p = _bytes_case(tmp_path, name, content)
    before = dump(db)
    with pytest.raises(ImportRejected) as err:
        import_file(db, "zones", p)
    assert words in str(err.value)
    assert dump(db) == before
    result = runner.invoke(cli, ["--db", str(db_path), "import", "zones", str(p)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert name in result.stderr


def test_missing_file_and_unknown_kind_exit_non_zero(runner, db_path, tmp_path):
    r = runner.invoke(cli, ["--db", str(db_path), "import", "zones", str(tmp_path / "no.csv")])
    assert r.exit_code != 0 and "no such file" in r.stderr
    r = runner.invoke(cli, ["--db", str(db_path), "import", "bogus", __file__])
    assert r.exit_code != 0 and "zones" in r.stderr


@pytest.mark.parametrize("edit,column,words", [
    (lambda d: d.rename(columns={d.columns[3]: "Nowhere Site"}), "Nowhere Site",
     "matches no provider or site"),
    (lambda d: d.assign(**{d.columns[1]: d[d.columns[1]].where(d.index != 5, "NaN")}), None,
     "not a number"),
    (lambda d: d.assign(**{d.columns[2]: d[d.columns[2]].where(d.index != 7, "-3")}), None,
     "cannot be negative"),
    (lambda d: d.assign(from_id=d["from_id"].where(d.index != 0, "Atlantis 001A")), "from_id",
     "matches no zone"),
])
def test_broken_travel_matrix_is_rejected(db, tmp_path, edit, column, words):
    zpath, spath = devon_zones_and_sites(tmp_path)
    import_file(db, "zones", zpath)
    import_file(db, "sites", spath)
    bad = _edit(shared("devon", "travel_matrix_car.csv"), tmp_path / "bad_matrix.csv", edit)
    before = dump(db)
    with pytest.raises(ImportRejected) as err:
        import_file(db, "travel", bad)
    assert any(words in p.message and (column is None or p.column == column)
               for p in err.value.problems), err.value
    assert dump(db) == before


def test_broken_population_and_rurality_and_cqc(db, tmp_path):
    pop = _edit(shared("ons", "population_mid2020_lsoa11_lincs_devon_cumbria.csv"),
                tmp_path / "pop.csv", lambda d: d.assign(**{"85": d["85"].where(d.index != 2,
                                                                                 "x")}))
    ruc = _edit(shared("ons", "ruc2011_lsoa11_lincs_devon_cumbria.csv"), tmp_path / "ruc.csv",
                lambda d: d.assign(ruc11_code=d["ruc11_code"].where(d.index != 3, "Z9")))
    cqc = _edit(shared("cqc", "cqc_ratings_lincolnshire_2026.csv"), tmp_path / "cqc.csv",
                lambda d: d.drop(columns=["Domain"]))
    before = dump(db)
    for kind, path, where in (("population", pop, (4, "85")), ("rurality", ruc, (5, "ruc11_code")),
                              ("cqc", cqc, (1, "Domain"))):
        with pytest.raises(ImportRejected) as err:
            import_file(db, kind, path)
        p = err.value.problems[0]
        assert (p.row, p.column) == where, p
    assert dump(db) == before


def test_hsca_active_locations_layout(db, tmp_path):
    p = tmp_path / "hsca.csv"
    pd.DataFrame({
        "Location ID": ["1-1", "1-2", "1-3"], "Location Name": ["Home A", "Agency B", "Both C"],
        "Care home?": ["Y", "N", "Y"], "Care homes beds": ["40", "", "12"],
        "Location Latitude": ["53.1", "53.2", ""], "Location Longitude": ["-0.5", "-0.4", ""],
        "Location Postal Code": ["LN1 1AA", "LN2 2BB", "ZZ9 9ZZ"],
        "Provider ID": ["1-P1", "1-P2", "1-P1"], "Provider Name": ["P1", "P2", "P1"],
        "Location Latest Overall Rating": ["Good", "Outstanding", ""],
        "Service type - Care home service with nursing": ["Y", "N", "N"],
        "Service type - Care home service without nursing": ["N", "N", "Y"],
        "Service type - Domiciliary care service": ["N", "Y", "Y"],
    }).to_csv(p, index=False)
    s = import_file(db, "cqc", p)
    assert s.by_type == {"cqc_locations": 3, "care_homes": 2, "homecare_providers": 2}
    assert db["care_homes"].get("1-1")["beds"] == 40
    assert db["care_homes"].get("1-1")["lat"] == 53.1
    assert [u["id"] for u in s.unplaced] == ["1-3"]
    assert db["homecare_providers"].get("1-2")["cqc_rating"] == "Outstanding"


def test_cli_import_json_has_records_and_by_type(runner, db_path, sample_csvs):
    r = runner.invoke(cli, ["--db", str(db_path), "import", "zones", str(sample_csvs["zones"]),
                            "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["records"] == 320 and out["by_type"] == {"zones": 320}
    assert out["rejected"] == 0 and out["unplaced"] == []


def test_cli_db_from_environment(runner, tmp_path, sample_csvs, monkeypatch):
    target = tmp_path / "env.db"
    monkeypatch.setenv("CAREMARKET_DB", str(target))
    r = runner.invoke(cli, ["import", "zones", str(sample_csvs["zones"])])
    assert r.exit_code == 0 and target.exists()


def test_cli_init_sample(runner, db_path):
    r = runner.invoke(cli, ["--db", str(db_path), "init", "--sample", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [i["kind"] for i in out["imports"]][:3] == ["zones", "homecare-providers",
                                                        "care-homes"]


zone_rows = st.lists(st.fixed_dictionaries({
    "zone_id": st.text("ABCDEFGHJK0123456789", min_size=1, max_size=8),
    "name": st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl",
                                                                      "Zp")), min_size=1,
                    max_size=12),
    "lat": st.floats(49.8, 61, allow_nan=False).map(lambda x: round(x, 5)),  # market.ranges
    "lon": st.floats(-8.7, 2, allow_nan=False).map(lambda x: round(x, 5)),
    "rurality": st.sampled_from(["urban", "town", "village", "sparse"]),
    "demand_hours": st.floats(0, 1e5, allow_nan=False).map(lambda x: round(x, 3)),
}), min_size=1, max_size=15, unique_by=lambda r: r["zone_id"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=zone_rows)
def test_zone_import_round_trips(rows, tmp_path):
    from caremarket.store import open_store

    path = tmp_path / f"rt{abs(hash(json.dumps(rows)))}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    db = open_store(":memory:")
    import_file(db, "zones", path)
    got = frame(db, "zones")[list(rows[0])].sort_values("zone_id").to_dict("records")
    want = sorted(rows, key=lambda r: r["zone_id"])
    for g, w in zip(got, want, strict=True):
        assert g["zone_id"] == w["zone_id"] and g["name"] == w["name"].strip()
        assert g["rurality"] == w["rurality"]
        for k in ("lat", "lon", "demand_hours"):
            assert g[k] == pytest.approx(w[k])
    db.close()
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir(exist_ok=True)
