"""Zone boundaries: the `boundaries` import kind and the GeoJSON the map and the API serve.

A boundaries file is a GeoPackage (such as the ONS LSOA boundaries) or a GeoJSON
FeatureCollection. Each feature is matched to a stored zone by code: the file's column (or
property) whose values match the most stored zone ids is the code, so `LSOA21CD` matches LSOA
zones without being named. Features of zones not in the store are skipped and named; zones
of the store without a feature in the file are named too. Every geometry is reprojected to WGS84
and simplified for the browser (market.geometry) before it is stored, one row per zone in
`zone_boundaries`, through the ordinary import transaction (all or nothing, undo).

How a GeoPackage is read: a GeoPackage is an SQLite file, and its geometries are WKB behind a
small header, so it is read with Python's own sqlite3 (read-only, immutable) and shapely's
WKB reader, not through GDAL (pyogrio). Measured on the Devon file (729 polygons): 3.5 ms by
sqlite3 against 6.3 ms by pyogrio, and no 30 MB GDAL binary to install (docs/web.md).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import sqlite_utils

from market import geometry
from market.errors import MAX_PROBLEMS, ImportRejected, Problem
from market.ranges import LATITUDE, LONGITUDE

GPKG_MAGIC = b"SQLite format 3\x00"
MAX_GEOJSON_BYTES = 200 * 1024 * 1024  # a GeoJSON file is read whole; past this, rejected
LISTED = 20  # codes named in a note


@dataclass
class Features:
    """The features of a boundaries file: their attribute columns (as text), geometries as
    read (None where unreadable, with the reason in `bad`) and the CRS of the coordinates."""

    columns: dict[str, list[str | None]]
    geoms: list[Any]
    crs: str
    bad: dict[int, str]


def _reject(message: str, name: str, column: str | None = None) -> ImportRejected:
    return ImportRejected([Problem(message, name, None, column)], name)


def read_features(path: Path, name: str) -> Features:
    """Read a GeoPackage or GeoJSON file, or raise ImportRejected naming what is wrong."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise _reject(f"cannot read the file: {exc.strerror or exc}", name) from None
    if not head.strip():
        raise _reject("the file is empty", name)
    if head == GPKG_MAGIC:
        return _read_gpkg(path, name)
    if head.lstrip()[:1] in (b"{", b"\xef"):
        return _read_geojson(path, name)
    raise _reject("a boundaries file is a GeoPackage (.gpkg) or a GeoJSON FeatureCollection "
                  "(.geojson); this file is neither", name)


def _gpkg_wkb(blob: bytes) -> bytes | None:
    """The WKB of a GeoPackage geometry blob (None for an empty geometry); ValueError if the
    blob is not one."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry")
    flags = blob[3]
    if flags & 0b10000:
        return None  # the empty flag
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0b111)
    if envelope is None:
        raise ValueError("bad envelope code in the geometry header")
    return blob[8 + envelope:]


def _read_gpkg(path: Path, name: str) -> Features:
    uri = f"file:{path.resolve().as_posix()}?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise _reject(f"not a readable GeoPackage: {exc}", name) from None
    con.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        layers = con.execute(
            "select c.table_name, g.column_name, c.srs_id, s.organization, "
            "s.organization_coordsys_id from gpkg_contents c join gpkg_geometry_columns g "
            "on g.table_name = c.table_name left join gpkg_spatial_ref_sys s on "
            "s.srs_id = c.srs_id where c.data_type = 'features' order by c.table_name"
        ).fetchall()
        if not layers:
            raise _reject("the GeoPackage has no feature layer", name)
        if len(layers) > 1:
            raise _reject("the GeoPackage has several feature layers ("
                          f"{', '.join(t[0] for t in layers)}); save the zones' layer alone",
                          name)
        table, geom_col, srs_id, org, org_id = layers[0]
        if not org or str(org).upper() == "NONE" or org_id is None or int(org_id) <= 0:
            raise _reject(f"the layer {table} has no known coordinate reference system "
                          f"(srs_id {srs_id})", name)
        crs = f"{str(org).upper()}:{int(org_id)}"
        cols = [r[1] for r in con.execute(f"pragma table_info([{table}])")
                if r[1] != geom_col]
        select = ", ".join(f"[{c}]" for c in [geom_col, *cols])
        columns: dict[str, list[str | None]] = {c: [] for c in cols}
        geoms: list[Any] = []
        bad: dict[int, str] = {}
        for i, row in enumerate(con.execute(f"select {select} from [{table}]")):
            for c, v in zip(cols, row[1:], strict=True):
                columns[c].append(None if v is None else str(v).strip())
            geoms.append(None)
            blob = row[0]
            if blob is None:
                bad[i] = "the feature has no geometry"
                continue
            if not isinstance(blob, bytes):
                bad[i] = "the geometry is not a GeoPackage geometry (not binary)"
                continue
            try:
                wkb = _gpkg_wkb(blob)
                geoms[i] = None if wkb is None else shapely.from_wkb(wkb)
            except (ValueError, struct.error, shapely.errors.GEOSException) as exc:
                bad[i] = f"unreadable geometry ({exc})"
                continue
            if geoms[i] is None:
                bad[i] = "the geometry is empty"
    except sqlite3.Error as exc:
        raise _reject(f"not a readable GeoPackage: {exc}", name) from None
    finally:
        con.close()
    return Features(columns, geoms, crs, bad)


def _read_geojson(path: Path, name: str) -> Features:
    if path.stat().st_size > MAX_GEOJSON_BYTES:
        raise _reject(f"the GeoJSON file is larger than {MAX_GEOJSON_BYTES // 2**20} MB; "
                      "use a GeoPackage or simplify it first", name)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise _reject("the file is not UTF-8 text", name) from None
    except ValueError as exc:
        raise _reject(f"not valid JSON: {exc}", name) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
            doc.get("features"), list):
        raise _reject("the JSON is not a GeoJSON FeatureCollection", name)
    crs = geometry.WGS84
    named = (doc.get("crs") or {}).get("properties", {}).get("name") if isinstance(
        doc.get("crs"), dict) else None
    if named:
        try:
            crs = geometry.crs_name(str(named))
        except ValueError as exc:
            raise _reject(str(exc), name) from None
    features = doc["features"]
    keys: dict[str, None] = {}
    for f in features:
        if isinstance(f, dict) and isinstance(f.get("properties"), dict):
            keys.update(dict.fromkeys(f["properties"]))
    columns: dict[str, list[str | None]] = {"id": [], **{k: [] for k in keys if k != "id"}}
    geoms: list[Any] = []
    bad: dict[int, str] = {}
    for i, f in enumerate(features):
        props = f.get("properties") if isinstance(f, dict) else None
        props = props if isinstance(props, dict) else {}
        fid = f.get("id") if isinstance(f, dict) else None
        columns["id"].append(None if fid is None else str(fid).strip())
        for k in columns:
            if k != "id":
                v = props.get(k)
                columns[k].append(None if v is None else str(v).strip())
        geoms.append(None)
        g = f.get("geometry") if isinstance(f, dict) else None
        if not g:
            bad[i] = "the feature has no geometry"
            continue
        try:
            geoms[i] = shapely.from_geojson(json.dumps(g))
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            bad[i] = f"unreadable geometry ({exc})"
    if not any(v is not None for v in columns["id"]):
        del columns["id"]
    return Features(columns, geoms, crs, bad)


def _code_column(features: Features, zone_ids: set[str], name: str) -> str:
    """The column whose values match the most stored zone ids."""
    if not zone_ids:
        raise _reject("the store has no zones: import the zones first, then their boundaries",
                      name)
    scores = {c: sum(1 for v in vals if v in zone_ids) for c, vals in features.columns.items()}
    best = max(scores, key=lambda c: scores[c], default=None)
    if best is None or scores[best] == 0:
        sample = ", ".join(sorted(zone_ids)[:3])
        raise _reject("no column of the file holds zone codes of the store (zone ids such as "
                      f"{sample}); the file's columns: {', '.join(features.columns) or 'none'}",
                      name)
    return best


def parse(db: sqlite_utils.Database, path: Path, name: str, _params: Any) -> Any:
    """Read and check a boundaries file against the store: the importer's Batch, or
    ImportRejected (every bad feature listed, up to MAX_PROBLEMS)."""
    from caremarket.importers import Batch  # the importers import this module's kind

    features = read_features(path, name)
    n = len(features.geoms)
    if n == 0:
        raise _reject("the file has no features", name)
    zone_ids = {r[0] for r in db.execute("select zone_id from zones")}
    code = _code_column(features, zone_ids, name)
    codes = features.columns[code]
    problems: list[Problem] = []

    def problem(i: int, message: str) -> None:
        label = f"feature {i + 1}" + (f" ({codes[i]})" if codes[i] else "")
        problems.append(Problem(f"{label}: {message}", name, None, code))

    seen: dict[str, int] = {}
    for i, c in enumerate(codes):
        if c in zone_ids:
            if c in seen:
                problem(i, f"zone {c} appears twice (also feature {seen[c] + 1})")
            seen.setdefault(c, i)
    keep = [i for i, c in enumerate(codes) if c in zone_ids]
    for i in keep:
        if i in features.bad:
            problem(i, features.bad[i])
        elif features.geoms[i].geom_type not in ("Polygon", "MultiPolygon"):
            problem(i, f"a {features.geoms[i].geom_type} is not an area (Polygon or "
                       "MultiPolygon)")
    ok = [i for i in keep if i not in features.bad
          and features.geoms[i].geom_type in ("Polygon", "MultiPolygon")]
    geoms = np.array([features.geoms[i] for i in ok], dtype=object)
    finite = np.array([bool(np.isfinite(shapely.get_coordinates(g)).all()) for g in geoms],
                      dtype=bool)
    for i in np.flatnonzero(~finite):
        problem(ok[int(i)], "a coordinate is not a finite number")
    ok = [i for i, f in zip(ok, finite, strict=True) if f]
    geoms = geoms[finite] if len(geoms) else geoms
    if len(geoms):
        try:
            wgs = geometry.to_wgs84(geoms, features.crs)
        except ValueError as exc:
            raise _reject(str(exc), name) from None
        bounds = shapely.bounds(wgs)
        for j, (x0, y0, x1, y1) in enumerate(bounds):
            if not (LONGITUDE.contains(x0) and LONGITUDE.contains(x1)
                    and LATITUDE.contains(y0) and LATITUDE.contains(y1)):
                hint = (" (the coordinates look like metres: name the CRS in the file, "
                        "e.g. \"crs\": {\"type\": \"name\", \"properties\": {\"name\": "
                        "\"EPSG:27700\"}})" if max(abs(x1), abs(y1)) > 1000 else "")
                problem(ok[j], f"lies outside the UK after reprojection from {features.crs} "
                               f"(longitude {x0:.3f} to {x1:.3f}, latitude {y0:.3f} to "
                               f"{y1:.3f}){hint}")
    if problems:
        raise ImportRejected(problems[:MAX_PROBLEMS], name, len(problems))
    simple = geometry.for_browser(wgs) if len(geoms) else geoms
    records = []
    for i, g in zip(ok, simple, strict=True):
        if g.is_empty:
            raise ImportRejected([Problem(f"feature {i + 1} ({codes[i]}): the area vanishes "
                                          "when simplified", name, None, code)], name)
        records.append({"zone_id": codes[i], "geometry": shapely.to_geojson(g),
                        "source_crs": features.crs,
                        "vertices": int(shapely.get_num_coordinates(g))})
    batch = Batch("boundaries", name, n)
    batch.add("zone_boundaries", records)
    outside = sorted({c for c in codes if c and c not in zone_ids})
    unnamed = sum(1 for c in codes if not c)
    if outside or unnamed:
        batch.notes.append(
            f"{len(outside) + unnamed} feature(s) are not zones of the store and were skipped"
            + (f": {', '.join(outside[:LISTED])}" if outside else "")
            + (" ..." if len(outside) > LISTED else "")
            + (f" ({unnamed} without a code)" if unnamed else ""))
    missing = sorted(zone_ids - set(codes))
    if missing:
        batch.notes.append(f"{len(missing)} zone(s) of the store have no boundary in this file "
                           f"(the map draws them as circles): {', '.join(missing[:LISTED])}"
                           + (" ..." if len(missing) > LISTED else ""))
    batch.notes.append(f"matched by column '{code}'; reprojected from {features.crs} to WGS84 "
                       f"and simplified: {sum(r['vertices'] for r in records):,} vertices")
    return batch


# ---------------------------------------------------------------------------------------------
# Reading the stored boundaries


def _stored(db: sqlite_utils.Database) -> list[tuple[str, str | None, str]]:
    if "zone_boundaries" not in db.table_names():
        return []
    return db.execute("select b.zone_id, z.name, b.geometry from zone_boundaries b join zones z "
                      "on z.zone_id = b.zone_id order by b.zone_id").fetchall()


def boundaries_geojson(db: sqlite_utils.Database) -> dict[str, Any]:
    """The stored zone boundaries as a GeoJSON FeatureCollection (WGS84): one feature per zone,
    with `zone_id` and `name` as properties."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": zid, "properties": {"zone_id": zid, "name": name},
         "geometry": json.loads(geom)} for zid, name, geom in _stored(db)]}


def outline_geojson(db: sqlite_utils.Database) -> dict[str, Any]:
    """The county outline: the union of the stored zone boundaries, as a FeatureCollection of
    one feature (none when no boundary is stored)."""
    rows = _stored(db)
    if not rows:
        return {"type": "FeatureCollection", "features": []}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "outline", "properties": {"zones": len(rows)},
         "geometry": json.loads(_outline(tuple(r[2] for r in rows)))}]}


@functools.lru_cache(maxsize=4)
def _outline(geometries: tuple[str, ...]) -> str:
    """The union of `geometries` (GeoJSON texts) as GeoJSON text; kept for the same stored
    boundaries, since the union of a county's zones takes about 0.2 s and changes only on an
    import (any change to a boundary is another key)."""
    return str(shapely.to_geojson(geometry.outline(shapely.from_geojson(list(geometries)))))
