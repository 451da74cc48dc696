"""The Devon real-data case: 729 LSOAs, 18 sites as home-care bases, real car minutes.

Built from the public files in `../shared/data/devon/` (ONS population-weighted LSOA 2021
centroids, the ONS 2021 rural-urban classification, people aged 50-84 per LSOA, the IMD 2025
file for LSOA names and districts, the 18 community diagnostic centre sites, and Valhalla car
minutes from every LSOA to every site). Nothing is copied into the project: `write_devon`
writes import files from those sources and `caremarket.cases.load_devon` imports them into a store through the
ordinary importers (the wide travel matrix as published: rows and columns by name), so the
coverage LP, the map and the pages can show a real county.

Assumptions, stated because the files do not give them:
- demand: `DEMAND_PER_PERSON_50_84` contact hours a week per person aged 50-84 (the shared
  population file has that band only; about 6 hours per 100 people, of the order of the
  sample market's age-band rates applied to Devon's age mix);
- bases: the 18 sites stand for home-care bases, each with the same capacity, together
  `CAPACITY_RATIO` times the county's demand in care-worker hours (travel eats part of it).

Usage: `caremarket --db devon.db init --devon ../shared/data/devon`, or
`python -m data.devon SOURCE OUTDIR` for the CSVs alone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from market.errors import InvalidInput
from market.rurality import fold_rurality

DEMAND_PER_PERSON_50_84 = 0.06
CAPACITY_RATIO = 1.4
FILES = {
    "centroids": "LSOA_PopCentroids_EW_2021_V4_devon.csv",
    "rurality": "ruc2021_lsoa21_devon_area.csv",
    "population": "demand_MF_50_84.csv",
    "names": "devon_imd_2025_2021_LSOAs.csv",
    "sites": "devon_cdcs.csv",
    "travel": "travel_matrix_car.csv",
}


def _read(source: Path, key: str, **kw) -> pd.DataFrame:
    path = source / FILES[key]
    if not path.exists():
        raise InvalidInput(f"{path}: missing (the Devon case needs {', '.join(FILES.values())})")
    return pd.read_csv(path, **kw)


def build(source: str | Path) -> dict[str, pd.DataFrame]:
    """Return the Devon market as import frames: zones, homecare-providers and travel (wide)."""
    source = Path(source)
    travel = _read(source, "travel")
    names = _read(source, "names")
    code_of = dict(zip(names.iloc[:, 1], names.iloc[:, 0], strict=True))
    district = dict(zip(names.iloc[:, 0], names.iloc[:, 3], strict=True))
    district_code = dict(zip(names.iloc[:, 0], names.iloc[:, 2], strict=True))
    in_matrix = travel.iloc[:, 0].map(code_of)
    if in_matrix.isna().any():
        missing = travel.iloc[:, 0][in_matrix.isna()].head(5).tolist()
        raise InvalidInput(f"{FILES['travel']}: LSOA name(s) not in {FILES['names']}: {missing}")
    cent = _read(source, "centroids").rename(columns={"LSOA21CD": "zone_id"})
    cent = cent[cent["zone_id"].isin(set(in_matrix))]
    ruc = _read(source, "rurality")
    rurality = {r.lsoa21_code: fold_rurality(r.ruc21_code, r.classification)
                for r in ruc.itertuples()}
    pop = _read(source, "population")
    people = dict(zip(pop["LSOA 2021 Code"], pop["MF50-84"], strict=True))
    name_of = {v: k for k, v in code_of.items()}
    zones = pd.DataFrame({
        "zone_id": cent["zone_id"], "name": cent["zone_id"].map(name_of),
        "lat": cent["lat"].round(6), "lon": cent["lon"].round(6),
        "rurality": cent["zone_id"].map(rurality),
        "demand_hours": (DEMAND_PER_PERSON_50_84 * cent["zone_id"].map(people)).round(2),
        "la_code": cent["zone_id"].map(district_code),
        "la_name": cent["zone_id"].map(district),
    }).sort_values("zone_id").reset_index(drop=True)
    sites = _read(source, "sites", dtype=str)
    capacity = round(CAPACITY_RATIO * float(zones["demand_hours"].sum()) / len(sites), 1)
    providers = pd.DataFrame({
        "provider_id": [f"DEVON-{i + 1:02d}-" + re.sub(r"[^A-Z0-9]+", "-",
                                                        n.upper()).strip("-")[:24]
                        for i, n in enumerate(sites["Facility_Name"])],
        "name": sites["Facility_Name"].str.strip(),
        "lat": sites["Latitude"].str.strip().astype(float),
        "lon": sites["Longitude"].str.strip().astype(float),
        "capacity_hours": capacity,
    })
    return {"zones": zones, "homecare-providers": providers, "travel": travel}


def write_devon(source: str | Path, outdir: str | Path) -> dict[str, Path]:
    """Write the Devon import files (zones, providers; the travel matrix as published)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, frame in build(source).items():
        if kind == "travel":
            paths[kind] = Path(source) / FILES["travel"]
            continue
        path = outdir / f"devon_{kind.replace('-', '_')}.csv"
        frame.to_csv(path, index=False)
        paths[kind] = path
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="the folder of the shared Devon files")
    ap.add_argument("outdir")
    args = ap.parse_args()
    for kind, path in write_devon(args.source, args.outdir).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
