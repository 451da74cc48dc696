"""The embedded sample market: a seeded generator of a realistic, wholly synthetic rural county.

"Sampleshire" is a county of about half a million people in the east of England: one city, five
market towns, villages between them and a sparsely populated coastal marsh and upland fringe that
few home-care agencies reach. No real data is committed; every figure is drawn from a seeded
`random.Random`/NumPy generator with ranges taken from the published figures of methodology
section 8 (fees, self-funder shares, costs), so the same seed always gives the same market.

Usage: `python -m data.generate OUTDIR [--seed 42]` writes the CSVs; `caremarket.cases.load_sample(db)` imports
them into a store through the ordinary importers, so the sample passes the same validation as a
commissioner's own files.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from data.fcoc_sample import sample_returns
from market import geometry
from market.parameters import ParameterSet

CENTRE = (53.05, -0.35)  # lat, lon of the county's middle
KM_LAT = 1 / 111.2
KM_LON = 1 / (111.2 * math.cos(math.radians(CENTRE[0])))

# (name, kind, km east, km north) of settlements relative to the centre
SETTLEMENTS = [
    ("Castlebridge", "city", -18.0, 6.0),
    ("Marham Market", "town", 22.0, 24.0),
    ("Wolding", "town", 6.0, -26.0),
    ("Saltfleet St Clare", "town", 38.0, -6.0),
    ("Kettleby", "town", -30.0, -30.0),
    ("Hareholme", "town", -4.0, 36.0),
]
# remote areas: the eastern marsh coast and the north-western upland fringe
SPARSE_AREAS = [(52.0, 18.0, 10.0, 22.0), (-44.0, 40.0, 10.0, 10.0), (40.0, -38.0, 9.0, 9.0)]

FIRST = ["Abbey", "Beacon", "Bluebell", "Brook", "Cedar", "Chestnut", "Church", "Clover",
         "Elm", "Fen", "Glebe", "Hawthorn", "Heather", "Holly", "Ivy", "Juniper", "Kingfisher",
         "Lark", "Lavender", "Linden", "Manor", "Meadow", "Mill", "Oak", "Orchard", "Priory",
         "Rectory", "Riverside", "Rose", "Saxon", "Severn", "Willow", "Wold", "Yew"]
HOME_SUFFIX = ["House", "Lodge", "Court", "Grange", "Hall", "Manor", "View", "Gardens"]
AGENCY_SUFFIX = ["Home Care", "Care at Home", "Homecare Ltd", "Community Care", "Care Services",
                 "Domiciliary Care", "Support at Home"]
GROUPS = [("G-001", "Sampleshire Care Group plc"), ("G-002", "Wold Healthcare Ltd"),
          ("G-003", "Fenland Homes Ltd"), ("G-004", "Coastal Care Partnership")]

RURALITY_POP = {  # share of residents aged 65-74, 75-84, 85+ (rural areas are older)
    "urban": (0.095, 0.060, 0.024), "town": (0.115, 0.078, 0.030),
    "village": (0.130, 0.090, 0.034), "sparse": (0.145, 0.100, 0.038),
}


def _latlon(east_km: np.ndarray, north_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return CENTRE[0] + north_km * KM_LAT, CENTRE[1] + east_km * KM_LON


def generate(seed: int = 42, n_zones: int = 320, n_agencies: int = 44,
             n_homes: int = 150) -> dict[str, pd.DataFrame]:
    """Return the sample market as frames keyed by import kind (same columns as the CSVs)."""
    rng = np.random.default_rng(seed)
    params = ParameterSet()
    zones = _zones(rng, n_zones, params)
    agencies = _agencies(rng, n_agencies, zones)
    homes = _homes(rng, n_homes, zones)
    sites = _sites(zones)
    fees = _fees(zones)
    self_funders = pd.DataFrame([
        {"area_id": "E10000099", "service": "residential", "self_funder_share": 0.52,
         "as_of": "2025-03-31", "source": "synthetic, after County APPG 2015 (53-54%)"},
        {"area_id": "E10000099", "service": "nursing", "self_funder_share": 0.47,
         "as_of": "2025-03-31", "source": "synthetic"},
        {"area_id": "E10000099", "service": "homecare", "self_funder_share": 0.33,
         "as_of": "2025-03-31", "source": "synthetic"},
    ])
    nursing = homes["nursing"] == "yes"
    returns = sample_returns(agencies["provider_id"].tolist(),
                             homes.loc[~nursing, "provider_id"].tolist(),
                             homes.loc[nursing, "provider_id"].tolist(), seed)
    return {"zones": zones, "homecare-providers": agencies, "care-homes": homes,
            "sites": sites, "fees": fees, "self-funders": self_funders, **returns}


def _zones(rng: np.random.Generator, n: int, params: ParameterSet) -> pd.DataFrame:
    counts = {"urban": int(n * 0.27), "town": int(n * 0.28), "village": int(n * 0.27)}
    counts["sparse"] = n - sum(counts.values())
    rows = []
    city = [s for s in SETTLEMENTS if s[1] == "city"][0]
    towns = [s for s in SETTLEMENTS if s[1] == "town"]
    for _ in range(counts["urban"]):
        r, a = rng.gamma(2.0, 1.3), rng.uniform(0, 2 * math.pi)
        rows.append(("urban", city[2] + r * math.cos(a), city[3] + r * math.sin(a), city[0]))
    for i in range(counts["town"]):
        t = towns[i % len(towns)]
        r, a = rng.gamma(2.0, 1.0), rng.uniform(0, 2 * math.pi)
        rows.append(("town", t[2] + r * math.cos(a), t[3] + r * math.sin(a), t[0]))
    for _ in range(counts["village"]):
        t = SETTLEMENTS[rng.integers(len(SETTLEMENTS))]
        r, a = rng.uniform(7, 20), rng.uniform(0, 2 * math.pi)
        rows.append(("village", t[2] + r * math.cos(a), t[3] + r * math.sin(a), t[0]))
    for i in range(counts["sparse"]):
        cx, cy, sx, sy = SPARSE_AREAS[i % len(SPARSE_AREAS)]
        rows.append(("sparse", cx + rng.normal(0, sx / 2), cy + rng.normal(0, sy / 2),
                     "Marsh" if i % 3 == 0 else ("Upland" if i % 3 == 1 else "Headland")))
    frame = pd.DataFrame(rows, columns=["rurality", "east", "north", "near"])
    lat, lon = _latlon(frame["east"].to_numpy(), frame["north"].to_numpy())
    pop = np.where(frame["rurality"].isin(["urban", "town"]), rng.normal(1650, 180, len(frame)),
                   rng.normal(1450, 200, len(frame))).round()
    shares = np.array([RURALITY_POP[r] for r in frame["rurality"]])
    jitter = rng.uniform(0.85, 1.15, (len(frame), 3))
    bands = np.round(pop[:, None] * shares * jitter)
    estimate = (bands[:, 0] * params["demand_rate_65_74"] + bands[:, 1] *
                params["demand_rate_75_84"] + bands[:, 2] * params["demand_rate_85_plus"])
    demand = np.round(estimate * rng.lognormal(0, 0.15, len(frame)), 1)
    sf_base = {"urban": 0.38, "town": 0.47, "village": 0.58, "sparse": 0.55}
    out = pd.DataFrame({
        "zone_id": [f"S{i + 1:04d}" for i in range(len(frame))],
        "name": [f"{near} {i % 97 + 1:03d}{chr(65 + i % 5)}" for i, near in
                 enumerate(frame["near"])],
        "lat": np.round(lat, 6), "lon": np.round(lon, 6),
        "rurality": frame["rurality"], "demand_hours": demand,
        "population_65_74": bands[:, 0], "population_75_84": bands[:, 1],
        "population_85_plus": bands[:, 2],
        "self_funder_share": np.clip([sf_base[r] + rng.normal(0, 0.06) for r in
                                      frame["rurality"]], 0.1, 0.9).round(3),
        "la_code": "E10000099", "la_name": "Sampleshire",
    })
    return out


def _nearest_zone_ids(zones: pd.DataFrame, lat: np.ndarray, lon: np.ndarray) -> list[str]:
    d = (zones["lat"].to_numpy()[None, :] - lat[:, None]) ** 2 + (
        (zones["lon"].to_numpy()[None, :] - lon[:, None]) * math.cos(math.radians(CENTRE[0]))
    ) ** 2
    return list(zones["zone_id"].to_numpy()[np.argmin(d, axis=1)])


def _agencies(rng: np.random.Generator, n: int, zones: pd.DataFrame) -> pd.DataFrame:
    """Home-care agencies: most in the city and towns, a few village-based; none in the marsh."""
    bases = []
    for i in range(n):
        if i < int(n * 0.35):
            s = SETTLEMENTS[0]
        elif i < int(n * 0.85):
            s = SETTLEMENTS[1 + i % (len(SETTLEMENTS) - 1)]
        else:  # small village-based agencies
            s = SETTLEMENTS[rng.integers(len(SETTLEMENTS))]
        spread = 2.0 if i < int(n * 0.85) else 11.0
        bases.append((s[2] + rng.normal(0, spread), s[3] + rng.normal(0, spread)))
    east, north = np.array(bases).T
    lat, lon = _latlon(east, north)
    demand = zones["demand_hours"].sum()
    size = rng.lognormal(0, 0.55, n)
    capacity = np.round(size / size.sum() * demand * 1.12, 0)  # worker hours incl. travel
    names = set()
    out = []
    for i in range(n):
        while True:
            name = f"{FIRST[rng.integers(len(FIRST))]} {AGENCY_SUFFIX[rng.integers(7)]}"
            if name not in names:
                names.add(name)
                break
        group = GROUPS[i % 4] if i % 5 == 0 else (f"P-{i + 1:03d}", name)
        out.append({
            "provider_id": f"HC{i + 1:03d}", "name": name,
            "lat": round(float(lat[i]), 6), "lon": round(float(lon[i]), 6),
            "capacity_hours": float(capacity[i]),
            "max_travel_minutes": float(rng.choice([30, 40, 45, 60])) if i % 4 == 0 else "",
            "self_funder_share": round(float(np.clip(rng.normal(0.33, 0.12), 0.02, 0.85)), 3),
            "self_funder_hourly_rate": round(float(rng.uniform(28.0, 34.5)), 2),
            "la_hourly_rate": round(float(24.10 + rng.choice([0, 0, 0, 0.6, 1.2])), 2),
            "group_id": group[0], "group_name": group[1],
            "cqc_rating": rng.choice(["Good"] * 7 + ["Outstanding", "Requires improvement"]),
        })
    frame = pd.DataFrame(out)
    frame["zone_id"] = _nearest_zone_ids(zones, frame["lat"].to_numpy(), frame["lon"].to_numpy())
    return frame


def _homes(rng: np.random.Generator, n: int, zones: pd.DataFrame) -> pd.DataFrame:
    """Care homes: larger homes in towns, small ones in villages; self-funder shares ~50%."""
    weights = zones["rurality"].map({"urban": 1.0, "town": 1.2, "village": 1.0,
                                     "sparse": 0.5}).to_numpy()
    pick = rng.choice(len(zones), size=n, p=weights / weights.sum())
    z = zones.iloc[pick].reset_index(drop=True)
    lat = z["lat"].to_numpy() + rng.normal(0, 0.004, n)
    lon = z["lon"].to_numpy() + rng.normal(0, 0.006, n)
    rural = z["rurality"].isin(["village", "sparse"]).to_numpy()
    beds = np.clip(np.round(rng.lognormal(np.where(rural, 3.3, 3.7), 0.45)), 8, 120).astype(int)
    nursing = rng.random(n) < np.where(beds > 45, 0.5, 0.2)
    occupancy = np.clip(rng.normal(0.89, 0.05, n), 0.62, 0.99).round(3)
    sf = np.clip(rng.beta(5, 5, n) + (z["self_funder_share"].to_numpy() - 0.5) * 0.6,
                 0.03, 0.95).round(3)
    la_fee = np.where(nursing, 1035.0, 812.0) * rng.uniform(0.95, 1.06, n)
    premium = np.clip(rng.normal(1.41, 0.12, n), 1.05, 1.9)  # CMA 2017: 41% on average
    cost = np.where(nursing, 1060.0, 790.0) * rng.uniform(0.9, 1.12, n) * np.where(
        beds < 25, 1.06, 1.0)  # small homes lose economies of scale
    capital = rng.uniform(85, 140, n)
    names = [f"{FIRST[rng.integers(len(FIRST))]} {HOME_SUFFIX[rng.integers(8)]}"
             for _ in range(n)]
    groups = [GROUPS[i % 4] if i % 3 == 0 else (f"P-H{i + 1:03d}", names[i]) for i in range(n)]
    return pd.DataFrame({
        "provider_id": [f"CH{i + 1:03d}" for i in range(n)], "name": names,
        "lat": lat.round(6), "lon": lon.round(6), "beds": beds, "occupancy": occupancy,
        "self_funder_share": sf, "self_funder_fee": (la_fee * premium).round(2),
        "la_fee": la_fee.round(2), "cost_per_resident_week": cost.round(2),
        "capital_cost_per_bed_week": capital.round(2),
        "nursing": np.where(nursing, "yes", "no"), "zone_id": z["zone_id"],
        "group_id": [g[0] for g in groups], "group_name": [g[1] for g in groups],
        "cqc_rating": rng.choice(["Good"] * 7 + ["Outstanding", "Requires improvement",
                                                 "Inadequate"], n),
    })


def _sites(zones: pd.DataFrame) -> pd.DataFrame:
    """Candidate bases for new agency offices, in villages next to the hard-to-serve areas."""
    sparse = zones[zones["rurality"] == "sparse"]
    village = zones[zones["rurality"] == "village"]
    rows = []
    for k, (cx, cy, _sx, _sy) in enumerate(SPARSE_AREAS):
        lat, lon = _latlon(np.array([cx]), np.array([cy]))
        area = sparse.iloc[((sparse["lat"] - lat[0]) ** 2 + (sparse["lon"] - lon[0]) ** 2)
                           .argsort()[:1]]
        near_v = village.iloc[((village["lat"] - lat[0]) ** 2 + (village["lon"] - lon[0]) ** 2)
                              .argsort()[:2]]
        for j, z in enumerate(pd.concat([area, near_v]).itertuples()):
            rows.append({"site_id": f"SITE{k + 1}{chr(65 + j)}", "name": f"Base near {z.name}",
                         "lat": z.lat, "lon": z.lon, "capacity_hours": 800.0 if j == 0 else 600.0})
    return pd.DataFrame(rows)


def _fees(zones: pd.DataFrame) -> pd.DataFrame:
    """The council's fee schedule: two years of rates plus a rural uplift for sparse zones."""
    rows = [
        ("la", "homecare", "hour", 22.90, "2024-04-01", "", "LA standard hourly rate 2024-25"),
        ("la", "homecare", "hour", 24.10, "2025-04-01", "", "LA standard hourly rate 2025-26"),
        ("la", "residential", "week", 781.00, "2024-04-01", "", "LA residential 2024-25"),
        ("la", "residential", "week", 812.00, "2025-04-01", "", "LA residential 2025-26"),
        ("la", "nursing", "week", 995.00, "2024-04-01", "", "LA nursing 2024-25 (excl. FNC)"),
        ("la", "nursing", "week", 1035.00, "2025-04-01", "", "LA nursing 2025-26 (excl. FNC)"),
        ("self", "homecare", "hour", 31.00, "2025-04-01", "", "typical self-funder rate"),
        ("self", "residential", "week", 1145.00, "2025-04-01", "", "typical self-funder fee"),
        ("self", "nursing", "week", 1460.00, "2025-04-01", "", "typical self-funder fee"),
    ]
    out = [dict(zip(["funder", "service", "unit", "amount", "effective_from", "zone_id", "note"],
                    r, strict=True)) for r in rows]
    for zid in zones.loc[zones["rurality"] == "sparse", "zone_id"]:
        out.append({"funder": "la", "service": "homecare", "unit": "hour", "amount": 25.60,
                    "effective_from": "2025-04-01", "zone_id": zid,
                    "note": "rural uplift (sparse zone)"})
    return pd.DataFrame(out)


def sample_boundaries(zones: pd.DataFrame) -> dict:
    """Synthetic zone polygons as a GeoJSON FeatureCollection: the Voronoi cell of each zone's
    centroid (by ground distance), clipped to a county outline drawn around the centroids (their
    concave hull grown by about 4 km). Sampleshire has no real boundaries; these make the map
    read like a county's."""
    lon, lat = zones["lon"].to_numpy(float), zones["lat"].to_numpy(float)
    county = geometry.hull(lon, lat, margin_degrees=4 * KM_LAT)
    cells = geometry.for_browser(np.array(geometry.voronoi_cells(lon, lat, county),
                                          dtype=object))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"zone_id": zid},
         "geometry": json.loads(shapely.to_geojson(cell))}
        for zid, cell in zip(zones["zone_id"], cells, strict=True)]}


ORDER = ("zones", "homecare-providers", "care-homes", "sites", "fees", "self-funders",
         "homecare-returns", "care-home-returns", "boundaries")


def write_sample(outdir: str | Path, seed: int = 42) -> dict[str, Path]:
    """Write the sample market as one CSV per import kind (the zone boundaries as
    GeoJSON); return the paths by kind."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    frames = generate(seed)
    for kind, frame in frames.items():
        path = outdir / f"{kind.replace('-', '_')}.csv"
        frame.to_csv(path, index=False)
        paths[kind] = path
    paths["boundaries"] = outdir / "boundaries.geojson"
    paths["boundaries"].write_text(json.dumps(sample_boundaries(frames["zones"]),
                                              separators=(",", ":")), encoding="utf-8")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    for kind, path in write_sample(args.outdir, args.seed).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
