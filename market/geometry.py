"""Zone geometry: reprojection to WGS84, simplification for the browser, the county outline and
synthetic zone cells. Pure functions over shapely geometries (no files, no store).

The numbers, measured on the ONS LSOA 2021 "BSC" (generalised, clipped) boundaries of Devon,
Plymouth and Torbay (729 polygons, 11,940 vertices, EPSG:27700): reprojected to WGS84 and
written as GeoJSON at full precision, 545 kB; with `SIMPLIFY_DEGREES` and `PRECISION_DEGREES`,
about 290 kB (docs/web.md). Each polygon is simplified on its own (topology kept within a
polygon), so neighbours may part by up to the tolerance, about 10 m: invisible at county scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyproj
import shapely

WGS84 = "EPSG:4326"
# Douglas-Peucker tolerance in degrees (about 7 m east-west and 11 m north-south in England)
SIMPLIFY_DEGREES = 0.0001
# coordinates are rounded to this grid: 1e-5 degrees is about 1 m
PRECISION_DEGREES = 1e-5


def crs_name(crs: str | int) -> str:
    """'EPSG:27700' for 27700, 'EPSG:27700' or 'urn:ogc:def:crs:EPSG::27700'; the name pyproj
    gives any other CRS it knows; ValueError for one it does not."""
    try:
        found = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(f"unknown coordinate reference system {crs!r}") from exc
    epsg = found.to_epsg()
    if found.equals(pyproj.CRS.from_user_input("OGC:CRS84")):
        return WGS84
    return f"EPSG:{epsg}" if epsg else found.to_string()


def to_wgs84(geoms: np.ndarray, crs: str) -> np.ndarray:
    """The geometries reprojected from `crs` to WGS84 longitude/latitude."""
    if crs_name(crs) == WGS84:
        return geoms
    transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, move)


def for_browser(geoms: np.ndarray, tolerance: float = SIMPLIFY_DEGREES,
                precision: float = PRECISION_DEGREES) -> np.ndarray:
    """Valid polygons, simplified (topology kept within each) and rounded to `precision`."""
    out = shapely.make_valid(np.asarray(geoms, dtype=object))
    out = shapely.simplify(out, tolerance, preserve_topology=True)
    out = shapely.set_precision(out, precision)
    return np.array([polygonal(g) for g in out], dtype=object)


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a geometry (make_valid may return a collection with stray lines)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def outline(geoms: Sequence[shapely.Geometry], snap: float = 5 * PRECISION_DEGREES
            ) -> shapely.Geometry:
    """The outer boundary of the zones together: their union, grown and shrunk by `snap` so the
    hairline gaps simplification leaves between neighbours close, then simplified."""
    if not len(geoms):
        return shapely.Polygon()
    grown = shapely.buffer(np.asarray(geoms, dtype=object), snap, quad_segs=2)
    union = shapely.buffer(shapely.union_all(grown), -snap, quad_segs=2)
    return polygonal(shapely.set_precision(
        shapely.simplify(union, SIMPLIFY_DEGREES, preserve_topology=True), PRECISION_DEGREES))


def voronoi_cells(lon: np.ndarray, lat: np.ndarray, within: shapely.Geometry
                  ) -> list[shapely.Geometry]:
    """The Voronoi cell of each point (in the points' order), clipped to `within`. Distances
    are taken on a local equal-distance grid (longitude scaled by the cosine of the mean
    latitude), so the cells are those of ground distance, not of degrees."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    k = float(np.cos(np.radians(lat.mean())))

    def squash(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] * k, xy[:, 1]])

    def unsquash(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] / k, xy[:, 1]])

    points = shapely.points(lon * k, lat)
    area = shapely.transform(within, squash)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=area,
                                     ordered=True)
    parts = list(shapely.get_parts(cells))
    # `ordered` keeps the input order; a point's own cell is the one containing it
    out = []
    for i, p in enumerate(points):
        cell = parts[i] if i < len(parts) and parts[i].covers(p) else next(
            (c for c in parts if c.covers(p)), shapely.Polygon())
        out.append(polygonal(shapely.transform(shapely.intersection(cell, area), unsquash)))
    return out


def hull(lon: np.ndarray, lat: np.ndarray, margin_degrees: float, ratio: float = 0.35
         ) -> shapely.Geometry:
    """A county-like outline around points: their concave hull grown by `margin_degrees`."""
    points = shapely.multipoints(np.column_stack([lon, lat]))
    shape = shapely.concave_hull(points, ratio=ratio)
    return shapely.simplify(shapely.buffer(shape, margin_degrees), margin_degrees / 10)
