"""Zone boundaries (import kind `boundaries`, caremarket.boundaries, market.geometry) and the
reach view (analyses.reach): on the real Devon GeoPackage, on broken copies of it, on GeoJSON
written by hand, and on hand-checkable markets; rejected files leave the store byte-identical,
an accepted one is undone exactly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from caremarket import analyses, boundaries
from caremarket.importers import import_file
from caremarket.undo import revert
from market import geometry
from market.errors import ImportRejected
from tests.conftest import bearer, login, shared
from tests.test_import_strict import full_dump, rejected

GPKG = ("devon", "LSOA_Devon_2021_EW_BSC_V4.gpkg")


@pytest.fixture
def devon_zones(db, tmp_path):
    """A store holding the 729 Devon zones (no boundaries yet)."""
    from data.devon import build

    path = tmp_path / "zones.csv"
    build(shared("devon"))["zones"].to_csv(path, index=False)
    import_file(db, "zones", path)
    return db


def _zones_csv(tmp_path: Path, rows: list[tuple[str, float, float]]) -> Path:
    path = tmp_path / "zones.csv"
    path.write_text("zone_id,name,lat,lon,rurality,demand_hours\n" + "".join(
        f"{z},{z} name,{lat},{lon},village,{10 * (i + 1)}\n"
        for i, (z, lat, lon) in enumerate(rows)))
    return path


def _square(lon: float, lat: float, d: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]}


def _geojson(path: Path, features: list[dict], crs: str | None = None) -> Path:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def three_zones(db, tmp_path):
    import_file(db, "zones", _zones_csv(tmp_path, [("Z1", 50.70, -3.50), ("Z2", 50.70, -3.49),
                                                   ("Z3", 50.71, -3.50)]))
    return db


# -- the real Devon GeoPackage --------------------------------------------------------------------


def test_the_devon_geopackage_matches_every_zone_by_lsoa_code_under_a_megabyte(devon_zones):
    db = devon_zones
    summary = import_file(db, "boundaries", shared(*GPKG))
    assert summary.by_type == {"zone_boundaries": 729} and summary.rows_read == 729
    assert any("matched by column 'LSOA21CD'" in n and "EPSG:27700" in n for n in summary.notes)
    geo = boundaries.boundaries_geojson(db)
    text = json.dumps(geo, separators=(",", ":"))
    assert len(geo["features"]) == 729 and len(text) < 1_000_000  # measured: about 333 kB
    shapes = shapely.from_geojson([json.dumps(f["geometry"]) for f in geo["features"]])
    assert shapely.is_valid(shapes).all()
    assert set(shapely.get_type_id(shapes)) <= {3, 6}  # polygons and multipolygons
    x0, y0, x1, y1 = shapely.total_bounds(shapes)  # Devon, Plymouth, Torbay in WGS84
    assert -4.8 < x0 < -4.6 and -2.95 < x1 < -2.85 and 50.1 < y0 < 50.3 and 51.2 < y1 < 51.3
    # each stored zone's population-weighted centroid lies in (or at the edge of) its polygon
    centres = {z["zone_id"]: (z["lon"], z["lat"]) for z in db["zones"].rows}
    inside = sum(s.buffer(0.002).contains(shapely.Point(centres[f["properties"]["zone_id"]]))
                 for s, f in zip(shapes, geo["features"], strict=True))
    assert inside >= 720
    # the county outline is the union: its area is that of the zones, without inner holes
    out = boundaries.outline_geojson(db)["features"][0]
    outline = shapely.from_geojson(json.dumps(out["geometry"]))
    assert outline.area == pytest.approx(shapely.union_all(shapes).area, rel=0.01)
    assert out["properties"]["zones"] == 729


def test_a_boundaries_import_is_undone_exactly(devon_zones):
    db = devon_zones
    before = full_dump(db)
    summary = import_file(db, "boundaries", shared(*GPKG))
    assert db["zone_boundaries"].count == 729
    revert(db, summary.import_id, user="test")
    dump = full_dump(db)
    assert db["zone_boundaries"].count == 0
    # the store's rows are as they were (the import history keeps the reverted import)
    strip = [line for line in before.splitlines() if "INSERT INTO \"imports\"" not in line]
    assert all(line in dump for line in strip if line.startswith("INSERT INTO \"zones\""))


def test_broken_copies_of_the_geopackage_are_rejected_and_change_nothing(devon_zones, tmp_path):
    db = devon_zones
    src = shared(*GPKG)
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(src.read_bytes()[:100_000])
    err = rejected(db, "boundaries", cut)
    assert "GeoPackage" in str(err.problems[0]) or "geometry" in str(err.problems[0])
    # one feature's geometry replaced by bytes that are not a geometry
    bad = tmp_path / "bad.gpkg"
    shutil.copy(src, bad)
    with sqlite3.connect(bad) as con:
        code = con.execute("select LSOA21CD from LSOA_Devon_2021_EW_BSC_V4 where fid = 7"
                           ).fetchone()[0]
        for (trigger,) in con.execute("select name from sqlite_master where type = 'trigger'"
                                      ).fetchall():  # the R-tree triggers need SpatiaLite
            con.execute(f"drop trigger [{trigger}]")
        con.execute("update LSOA_Devon_2021_EW_BSC_V4 set geom = ? where fid = 7",
                    [b"GP\x00\x03" + bytes(range(40, 100))])
        con.execute("update LSOA_Devon_2021_EW_BSC_V4 set geom = null where fid = 9")
    con.close()
    err = rejected(db, "boundaries", bad)
    text = " | ".join(str(p) for p in err.problems)
    assert err.total == 2 and code in text and "no geometry" in text
    # a GeoPackage with no known CRS
    nocrs = tmp_path / "nocrs.gpkg"
    shutil.copy(src, nocrs)
    with sqlite3.connect(nocrs) as con:
        con.execute("update gpkg_contents set srs_id = 0")
    con.close()
    assert "coordinate reference system" in str(rejected(db, "boundaries", nocrs).problems[0])
    # a CSV, an empty file, a sheet name
    csv = tmp_path / "zones.csv"
    csv.write_text("zone_id,geometry\nE01019987,POLYGON\n")
    assert "GeoPackage" in str(rejected(db, "boundaries", csv).problems[0])
    empty = tmp_path / "empty.gpkg"
    empty.write_bytes(b"")
    assert "empty" in str(rejected(db, "boundaries", empty).problems[0])
    assert "no sheets" in str(rejected(db, "boundaries", src, sheet="Sheet1").problems[0])


def test_a_store_without_zones_refuses_boundaries(db):
    assert "import the zones first" in str(rejected(db, "boundaries", shared(*GPKG)).problems[0])


# -- GeoJSON --------------------------------------------------------------------------------------


def test_geojson_by_property_or_id_skips_and_names_zones_not_in_the_store(three_zones, tmp_path):
    db = three_zones
    path = _geojson(tmp_path / "b.geojson", [
        {"type": "Feature", "id": "Z1", "properties": {"n": 1}, "geometry": _square(-3.505, 50.695)},
        {"type": "Feature", "id": "Z2", "properties": {}, "geometry": _square(-3.495, 50.695)},
        {"type": "Feature", "id": "ELSEWHERE", "properties": {}, "geometry": _square(-3.4, 50.6)},
    ])
    summary = import_file(db, "boundaries", path)
    assert summary.by_type == {"zone_boundaries": 2}
    notes = " ".join(summary.notes)
    assert "ELSEWHERE" in notes and "1 feature(s) are not zones" in notes
    assert "1 zone(s) of the store have no boundary" in notes and "Z3" in notes
    row = db["zone_boundaries"].get("Z1")
    assert row["source_crs"] == "EPSG:4326" and row["vertices"] == 5
    got = shapely.from_geojson(row["geometry"])
    assert got.area == pytest.approx(0.0001, rel=1e-3)  # a square of 0.01 degrees


def test_geojson_in_british_national_grid_is_reprojected(three_zones, tmp_path):
    # 1 km squares around Exeter (E 292000, N 92000 is about 50.72 N, 3.53 W)
    sq = {"type": "Polygon", "coordinates": [[[292000, 92000], [293000, 92000],
                                              [293000, 93000], [292000, 93000],
                                              [292000, 92000]]]}
    feats = [{"type": "Feature", "properties": {"code": "Z1"}, "geometry": sq}]
    named = _geojson(tmp_path / "bng.geojson", feats, "urn:ogc:def:crs:EPSG::27700")
    import_file(three_zones, "boundaries", named)
    g = shapely.from_geojson(three_zones["zone_boundaries"].get("Z1")["geometry"])
    x, y = g.centroid.x, g.centroid.y
    assert -3.53 < x < -3.50 and 50.72 < y < 50.74
    # the same coordinates without a CRS are read as degrees: rejected with a hint, no write
    unnamed = _geojson(tmp_path / "bng_nocrs.geojson", feats)
    err = rejected(three_zones, "boundaries", unnamed)
    assert "outside the UK" in str(err.problems[0]) and "EPSG:27700" in str(err.problems[0])


@pytest.mark.parametrize("features, expected", [
    ([{"type": "Feature", "id": "Z1", "properties": {}, "geometry": _square(-3.5, 50.7)},
      {"type": "Feature", "id": "Z1", "properties": {}, "geometry": _square(-3.5, 50.7)}],
     "appears twice"),
    ([{"type": "Feature", "id": "Z1", "properties": {},
       "geometry": {"type": "Point", "coordinates": [-3.5, 50.7]}}], "not an area"),
    ([{"type": "Feature", "id": "Z1", "properties": {}, "geometry": None}], "no geometry"),
    ([{"type": "Feature", "id": "Z1", "properties": {},
       "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}}], "unreadable"),
    ([{"type": "Feature", "id": "Z1", "properties": {}, "geometry": _square(5.0, 45.0)}],
     "outside the UK"),
    ([{"type": "Feature", "id": "NOPE", "properties": {"x": "Q"}, "geometry": _square(-3.5, 50.7)}],
     "no column of the file holds zone codes"),
    ([], "no features"),
])
def test_bad_geojson_is_rejected_naming_the_feature(three_zones, tmp_path, features, expected):
    err = rejected(three_zones, "boundaries", _geojson(tmp_path / "x.geojson", features))
    assert expected in " ".join(str(p) for p in err.problems)


def test_files_that_are_not_geojson_are_rejected(three_zones, tmp_path):
    for text, expected in (('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
                           ('{"type": "FeatureCollection", "features": [', "not valid JSON"),
                           ('{"type": "FeatureCollection", "crs": {"type": "name", '
                            '"properties": {"name": "EPSG:999999"}}, "features": []}',
                            "unknown coordinate reference system")):
        path = tmp_path / "x.geojson"
        path.write_text(text)
        assert expected in str(rejected(three_zones, "boundaries", path).problems[0])


# -- geometry: properties -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.floats(0.001, 0.05),
       st.floats(-5.0, 1.0), st.floats(50.0, 55.0))
def test_the_outline_of_a_grid_of_zones_is_one_shape_of_their_area(nx, ny, d, lon, lat):
    cells = [shapely.box(lon + i * d, lat + j * d, lon + (i + 1) * d, lat + (j + 1) * d)
             for i in range(nx) for j in range(ny)]
    simple = geometry.for_browser(np.array(cells, dtype=object))
    out = geometry.outline(simple)
    assert out.geom_type == "Polygon" and len(out.interiors) == 0
    assert out.area == pytest.approx(nx * ny * d * d, rel=0.02)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.floats(-3.9, -3.1), st.floats(50.5, 50.9)), min_size=3,
                max_size=40, unique=True))
def test_voronoi_cells_hold_their_own_point_and_tile_the_county(points):
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    xy = np.round(np.column_stack([lon, lat]), 4)
    if len(np.unique(xy, axis=0)) < len(xy):
        return  # points closer than the grid: not a case the sample market makes
    county = shapely.box(-4.0, 50.4, -3.0, 51.0)
    cells = geometry.voronoi_cells(lon, lat, county)
    assert len(cells) == len(points)
    for c, x, y in zip(cells, lon, lat, strict=True):
        assert c.buffer(1e-9).covers(shapely.Point(x, y))
    assert sum(c.area for c in cells) == pytest.approx(county.area, rel=1e-6)


def test_the_sample_market_ships_a_polygon_for_every_zone(sample_db):
    assert sample_db["zone_boundaries"].count == sample_db["zones"].count == 320
    geo = boundaries.boundaries_geojson(sample_db)
    shapes = shapely.from_geojson([json.dumps(f["geometry"]) for f in geo["features"]])
    assert shapely.is_valid(shapes).all() and not shapely.is_empty(shapes).any()
    # cells do not overlap: their areas add up to the outline's
    outline = boundaries.outline_geojson(sample_db)["features"][0]["geometry"]
    total = shapely.from_geojson(json.dumps(outline)).area
    assert sum(s.area for s in shapes) == pytest.approx(total, rel=0.01)


@pytest.fixture
def analyst(api_token):
    return bearer(api_token("analyst"))


# -- reach ----------------------------------------------------------------------------------------


@pytest.fixture
def reach_store(db, tmp_path):
    """Four zones and two agencies with a travel matrix: Z1 10 and 40 minutes away, Z2 25 and
    35, Z3 50 and 60, Z4 has no time at all (neither a matrix row nor coordinates)."""
    zones = tmp_path / "z.csv"
    zones.write_text("zone_id,name,lat,lon,rurality,demand_hours,population_65_74,"
                     "population_75_84,population_85_plus\n"
                     "Z1,One,50.7,-3.5,urban,100,10,10,10\n"
                     "Z2,Two,50.8,-3.6,town,50,20,20,20\nZ3,Three,50.9,-3.7,sparse,30,5,5,5\n"
                     "Z4,Four,,,sparse,20,1,1,1\n")
    import_file(db, "zones", zones)
    agencies = tmp_path / "a.csv"
    agencies.write_text("provider_id,name,capacity_hours\nA,Agency A,100\nB,Agency B,100\n")
    import_file(db, "homecare-providers", agencies)
    travel = tmp_path / "t.csv"
    travel.write_text("provider_id,zone_id,minutes\nA,Z1,10\nB,Z1,40\nA,Z2,25\nB,Z2,35\n"
                      "A,Z3,50\nB,Z3,60\n")
    import_file(db, "travel", travel)
    return db


def test_reach_lists_the_zones_no_agency_reaches_by_hand(reach_store):
    out = analyses.reach(reach_store, {"max_minutes": 20})
    assert [z["zone_id"] for z in out["zones"]] == ["Z2", "Z3"]  # largest demand first
    z2 = out["zones"][0]
    assert z2["nearest_minutes"] == 25 and z2["nearest_provider_id"] == "A"
    assert z2["nearest_provider_name"] == "Agency A" and z2["minutes_source"] == "matrix"
    assert out["totals"] == {"zones": 2, "demand_hours": 80.0, "share_of_demand": 0.4444,
                             "population_total": None, "population_65_plus": 75.0}
    assert out["excluded"]["by_reason"]["no_location"]["ids"] == ["Z4"]
    assert out["zones_total"] == 3
    assert [z["zone_id"] for z in analyses.reach(reach_store, {"max_minutes": 25})["zones"]] \
        == ["Z3"]  # within means at most
    assert analyses.reach(reach_store, {"max_minutes": 60})["totals"]["zones"] == 0
    assert analyses.reach(reach_store, {"max_minutes": 60})["totals"]["demand_hours"] == 0


def test_reach_names_the_zones_the_coverage_run_cannot_reach(sample_db):
    """The reach view and coverage read the same minutes: at 30 minutes the zones coverage
    leaves unreached (no cost, all demand unmet) are the zones reach lists."""
    cov = analyses.coverage(sample_db, {"max_minutes": 30, "solver": "highs"})
    unreached = {z["zone_id"] for z in cov["zones_map"] if z["reached"] is False}
    listed = {z["zone_id"] for z in analyses.reach(sample_db, {"max_minutes": 30})["zones"]}
    assert unreached and listed == unreached


def test_the_cli_prints_the_same_reach(reach_store, runner, db_path):
    from caremarket.cli import cli

    r = runner.invoke(cli, ["--db", str(db_path), "reach", "--max-minutes", "20", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == json.loads(json.dumps(
        analyses.reach(reach_store, {"max_minutes": 20})))
    r = runner.invoke(cli, ["--db", str(db_path), "reach", "--max-minutes", "20"])
    assert "2 of 3 zones have no agency within 20 minutes" in r.output
    assert "Z2  Two  50.0 h/week  nearest Agency A 25 min" in r.output
    r = runner.invoke(cli, ["--db", str(db_path), "reach", "--max-minutes", "-1"])
    assert r.exit_code == 1 and "outside its range" in r.output


@settings(max_examples=20, deadline=None)
@given(st.floats(0, 120), st.floats(0, 120))
def test_a_longer_reach_never_leaves_more_zones_out(sample_db_file, a, b):
    import sqlite_utils

    db = sqlite_utils.Database(sample_db_file)
    lo, hi = sorted((a, b))
    out_lo = {z["zone_id"] for z in analyses.reach(db, {"max_minutes": lo})["zones"]}
    out_hi = {z["zone_id"] for z in analyses.reach(db, {"max_minutes": hi})["zones"]}
    assert out_hi <= out_lo


def test_the_api_answers_the_reach_and_the_boundaries(client, store):
    login(client, "viewer")
    body = client.get("/api/v1/reach?max_minutes=30").get_json()
    assert body == json.loads(json.dumps(analyses.reach(store, {"max_minutes": 30})))
    bad = client.get("/api/v1/reach?max_minutes=-3")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"] == {"field": "max_minutes"}
    geo = client.get("/api/v1/zones/boundaries.geojson")
    assert geo.status_code == 200 and geo.content_type.startswith("application/geo+json")
    assert len(geo.get_json()["features"]) == 320
    outline = client.get("/api/v1/zones/outline.geojson").get_json()
    assert len(outline["features"]) == 1
    page = client.get("/map?max_minutes=30").get_data(as_text=True)
    assert page.count('data-zone-id="') == body["totals"]["zones"]


def test_the_map_names_the_zones_a_coverage_run_left_without_an_agency(client, store):
    from tests.test_pages import embedded_json, start_run

    csrf = login(client, "analyst")
    run = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    data = embedded_json(client.get("/map?measure=gap").get_data(as_text=True), "map-data")
    unreached = {z["zone_id"] for z in run["result"]["zones_map"] if z["reached"] is False}
    assert set(data["coverage_unreached"]) == unreached and data["coverage_minutes"] == 30
    assert all(data["measures"]["gap"][z] is None for z in unreached)


def test_the_map_marks_zones_whose_reach_is_uncertain_when_the_run_says_so(client, store):
    """The travel band's per-zone `reach_uncertain` flag is drawn as a dashed edge: the page
    hands the flagged zones to the map. The sample market has no travel matrix, so its
    coverage run has a band and flags zones (tests/test_travel_band.py)."""
    from tests.test_pages import embedded_json, start_run

    csrf = login(client, "analyst")
    run = start_run(client, csrf, {"kind": "coverage", "levers": {"max_minutes": 30}})
    flagged = sorted(z["zone_id"] for z in run["result"]["zones_map"] if z["reach_uncertain"])
    assert flagged and run["result"]["unmet_hours_band"]["zones_uncertain"] == len(flagged)
    html = client.get("/map").get_data(as_text=True)
    assert embedded_json(html, "map-data")["uncertain"] == flagged
    assert f"{len(flagged)} zone(s) drawn with a dashed edge" in html
    # a result without flags (every pair routed) draws none
    result = json.loads(store.execute("select result from runs where id = ?",
                                      [run["id"]]).fetchone()[0])
    for z in result["zones_map"]:
        z["reach_uncertain"] = False
    with store.atomic():
        store.execute("update runs set result = ? where id = ?", [json.dumps(result), run["id"]])
    html = client.get("/map").get_data(as_text=True)
    assert embedded_json(html, "map-data")["uncertain"] == []
    assert "drawn with a dashed edge" not in html


def test_the_boundaries_and_reach_routes_need_a_login(client):
    for path in ("/api/v1/zones/boundaries.geojson", "/api/v1/zones/outline.geojson",
                 "/api/v1/reach"):
        assert client.get(path).status_code == 401, path


def test_an_import_through_the_api_takes_a_geopackage(client, store, analyst, tmp_path):
    """The upload path keeps no suffix it does not know: the kind reads the file's content."""
    import io

    data = shared(*GPKG).read_bytes()
    resp = client.post("/api/v1/imports", headers=analyst, data={
        "kind": "boundaries", "file": (io.BytesIO(data), "LSOA.gpkg")})
    assert resp.status_code == 422  # the sample store's zones are not Devon's LSOAs
    assert "no column of the file holds zone codes" in resp.get_data(as_text=True)
    # the sample's own GeoJSON, uploaded again: accepted, every zone upserted, nothing doubled
    from data.generate import write_sample

    path = write_sample(tmp_path / "sample")["boundaries"]
    resp = client.post("/api/v1/imports", headers=analyst, data={
        "kind": "boundaries", "file": (io.BytesIO(path.read_bytes()), "zones.geojson")})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["by_type"] == {"zone_boundaries": 320}
    assert any("same content as import" in n for n in body["notes"])
    assert store["zone_boundaries"].count == 320


def test_rejections_are_import_rejected_never_a_traceback(three_zones, tmp_path):
    path = tmp_path / "junk.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(ImportRejected) as err:
        import_file(three_zones, "boundaries", path)
    assert "GeoPackage" in str(err.value.problems[0])
