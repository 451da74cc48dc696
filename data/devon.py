"""The Devon real-data case: 729 LSOAs with their boundaries, 18 sites as home-care bases, real
car minutes, and the 564 care homes of Devon, Plymouth and Torbay with their real beds.

Built from the public files in `../shared/data/devon/` (ONS population-weighted LSOA 2021
centroids, the ONS 2021 rural-urban classification, people aged 50-84 per LSOA, the IMD 2025
file for LSOA names and districts, the 18 community diagnostic centre sites, and Valhalla car
minutes from every LSOA to every site). Nothing is copied into the project: `write_devon`
writes import files from those sources and `caremarket.cases.load_devon` imports them into a store through the
ordinary importers (the wide travel matrix: rows by LSOA name as published, columns by base id), so the
coverage LP, the map and the pages can show a real county.

The care homes are those of the CQC care-home extract of October 2015
(`../cqc/care_homes_oct2015_england.csv`, local authority Devon, Plymouth or Torbay): name,
beds, provider group, postcode and LSOA 2011 code as published. Each is placed through the
shared Code-Point Open postcodes (`../postcodes/`, imported first: the EX, PL and TQ areas) and
given the zone of its LSOA code where that code is a zone (LSOA 2011 and 2021 codes are the
same for all but a few); the rest get the zone of the nearest centroid. The boundaries are the
ONS LSOA 2021 boundaries (`LSOA_Devon_2021_EW_BSC_V4.gpkg`), imported as kind `boundaries`.

Assumptions, stated because the files do not give them:
- demand: `DEMAND_PER_PERSON_50_84` contact hours a week per person aged 50-84 (the shared
  population file has that band only; about 6 hours per 100 people, of the order of the
  sample market's age-band rates applied to Devon's age mix);
- bases: the 18 sites stand for home-care bases, each with the same capacity, together
  `CAPACITY_RATIO` times the county's demand in care-worker hours (travel eats part of it); they
  are named "Home-care base at <site>": they are sites standing in for agencies' bases, not
  agencies;
- care-home figures (the extract has none but beds), from the Plymouth Fair Cost of Care 2022
  medians (`../fees/fcoc_2022_extracted_medians.csv`, the only Devon sub-region council there):
  a home with the dementia service-user band is costed as "65+ residential enhanced", any other
  as "65+ residential" (the extract has no nursing flag, so none is costed as nursing);
  occupancy is the category's FCoC occupancy; the return on capital `CAPITAL_PER_BED_WEEK` is
  5.5% a year of `FREEHOLD_PER_BED` (the methodology's 5-6% benchmark), and the operating cost
  the FCoC median less that return per resident-week; the LA fee is the FCoC lower quartile
  (councils paid below the median cost in 2022), the self-funder fee the LA fee times
  `SELF_FUNDER_PREMIUM` (CMA 2017: 41% on average), and the self-funder share
  `SELF_FUNDER_SHARE` by council (County APPG 2015: 53-54% in county areas; ONS 2023: 37% in
  England, used for the two cities).

Usage: `caremarket --db devon.db init --devon ../shared/data/devon`, or
`python -m data.devon SOURCE OUTDIR` for the CSVs alone.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from market.errors import InvalidInput
from market.rurality import fold_rurality

DEMAND_PER_PERSON_50_84 = 0.06
CAPACITY_RATIO = 1.4
COUNCILS = ("Devon", "Plymouth", "Torbay")
POSTCODE_AREAS = ("EX", "PL", "TQ")
FREEHOLD_PER_BED = 90_000.0
CAPITAL_PER_BED_WEEK = round(0.055 * FREEHOLD_PER_BED / 52, 2)
SELF_FUNDER_PREMIUM = 1.41
SELF_FUNDER_SHARE = {"Devon": 0.53, "Plymouth": 0.37, "Torbay": 0.37}
FCOC_COUNCIL = "Plymouth"
FILES = {
    "centroids": "LSOA_PopCentroids_EW_2021_V4_devon.csv",
    "rurality": "ruc2021_lsoa21_devon_area.csv",
    "population": "demand_MF_50_84.csv",
    "names": "devon_imd_2025_2021_LSOAs.csv",
    "sites": "devon_cdcs.csv",
    "travel": "travel_matrix_car.csv",
    "boundaries": "LSOA_Devon_2021_EW_BSC_V4.gpkg",
    "care_homes": "../cqc/care_homes_oct2015_england.csv",
    "postcodes": "../postcodes/codepoint_open_2018_lincs_devon.csv",
    "fcoc": "../fees/fcoc_2022_extracted_medians.csv",
}
ORDER = ("zones", "boundaries", "homecare-providers", "travel", "postcodes", "care-homes")


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
        "name": "Home-care base at " + sites["Facility_Name"].str.strip(),
        "lat": sites["Latitude"].str.strip().astype(float),
        "lon": sites["Longitude"].str.strip().astype(float),
        "capacity_hours": capacity,
    })
    # the matrix's columns are the sites' names; the bases are named as bases, so the matrix is
    # written with the bases' ids as its columns (its rows, the LSOA names, as published)
    by_name = dict(zip(sites["Facility_Name"].str.strip(), providers["provider_id"],
                       strict=True))
    travel = travel.rename(columns=lambda c: by_name.get(str(c).strip(), c))
    postcodes = _read(source, "postcodes", dtype=str)
    postcodes = postcodes[postcodes["Postcode"].str[:2].isin(POSTCODE_AREAS)
                          & ~postcodes["Postcode"].str[2].str.isalpha()]
    return {"zones": zones, "homecare-providers": providers, "travel": travel,
            "postcodes": postcodes[["Postcode", "lat", "lon"]],
            "care-homes": care_homes(source, set(zones["zone_id"]))}


def _fcoc(source: Path) -> dict[str, dict[str, float]]:
    """The FCOC_COUNCIL's care-home medians: category -> median, lower quartile, occupancy."""
    f = _read(source, "fcoc")
    f = f[(f["council"] == FCOC_COUNCIL) & (f["metric"] == "total cost")]
    return {r.service: {"median": float(r.median), "lower_quartile": float(r.lower_quartile),
                        "occupancy": float(r.occupancy)} for r in f.itertuples()}


def care_homes(source: str | Path, zone_ids: set[str]) -> pd.DataFrame:
    """The care homes of Devon, Plymouth and Torbay in the 2015 CQC extract, as a care-homes
    import frame with the figures of the module's assumptions."""
    source = Path(source)
    cqc = _read(source, "care_homes", dtype=str)
    cqc = cqc[cqc["local_authority"].isin(COUNCILS) & (cqc["care_home"].astype(float) == 1)]
    cqc = cqc.sort_values(["local_authority", "location_name", "postal_code"]).reset_index(
        drop=True)
    fcoc = _fcoc(source)
    enhanced = cqc["service_user_band_dementia"].astype(float) == 1
    category = np.where(enhanced, "65+ residential enhanced", "65+ residential")
    occupancy = np.array([fcoc[c]["occupancy"] for c in category])
    total = np.array([fcoc[c]["median"] for c in category])
    la_fee = np.array([fcoc[c]["lower_quartile"] for c in category])
    zone = cqc["LSOA11CD"].where(cqc["LSOA11CD"].isin(zone_ids))
    return pd.DataFrame({
        "provider_id": [f"DEVON-CH-{i + 1:04d}" for i in range(len(cqc))],
        "name": cqc["location_name"].str.strip(),
        "postcode": cqc["postal_code"].str.strip(),
        "zone_id": zone,
        "beds": cqc["care_homes_beds"].astype(float).astype(int),
        "occupancy": occupancy,
        "self_funder_share": cqc["local_authority"].map(SELF_FUNDER_SHARE),
        "la_fee": la_fee.round(2),
        "self_funder_fee": (la_fee * SELF_FUNDER_PREMIUM).round(2),
        "cost_per_resident_week": (total - CAPITAL_PER_BED_WEEK / occupancy).round(2),
        "capital_cost_per_bed_week": CAPITAL_PER_BED_WEEK,
        "group_id": cqc["provider_id"], "group_name": cqc["provider_name"].str.strip(),
    })


def write_devon(source: str | Path, outdir: str | Path) -> dict[str, Path]:
    """Write the Devon import files (zones, providers, postcodes, care homes; the travel matrix
    and the boundaries as published)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    frames = build(source)
    paths = {"boundaries": Path(source) / FILES["boundaries"]}
    if not paths["boundaries"].exists():
        raise InvalidInput(f"{paths['boundaries']}: missing (the Devon case needs it)")
    for kind, frame in frames.items():
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
