"""Travel estimates against the routed Devon matrix: which fit to use, and what the band costs.

    .venv/bin/python benchmarks/travel_band.py [--source ../shared/data/devon] [--repeat 3]
                                               [--skip-national]

1. Calibration (issue 12): on the Devon case (729 LSOAs, 18 bases, Valhalla car minutes) the
   coverage LP is solved with the routed matrix (the reference) and, at 30, 45 and 60
   minutes, with estimated minutes only, at each fit's (access_minutes, crow_kmh): the
   defaults; least squares over all pairs (the old calibration); least squares over the pairs
   near the limit (routed minutes 0.5-1.5x the limit); the fewest pairs misclassified in or
   out of reach; and the defaults scaled by the median routed/estimated ratio near the limit
   (`calibrate_near_limit`, what coverage uses). Each row prints the unmet hours, their error
   against the routed answer and the pairs wrongly in and out of reach; the last table sums
   the absolute errors (the choice), and the same sums with the two leading fits fitted on
   the pairs of a random half of the zones (3 seeds) and judged on the whole county.
2. The band: `caremarket.analyses.coverage` on a store holding the Devon zones and bases
   without the matrix, at 30, 45 and 60 minutes: the band, whether it holds the routed
   answer, and the band's time (two more solves) as a ratio of the base solve in the same
   run (median of --repeat runs); then the same on the seeded county instance of
   benchmarks/coverage_scale.py (500 zones x 150 bases, every time estimated) and, unless
   --skip-national, its national instance (33,000 x 10,000, 30 nearest bases a zone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.coverage_scale import county, national  # noqa: E402
from caremarket import analyses  # noqa: E402
from caremarket.cases import load_devon  # noqa: E402
from caremarket.importers import import_file  # noqa: E402
from caremarket.store import open_store  # noqa: E402
from data.devon import write_devon  # noqa: E402
from market.parameters import ParameterSet  # noqa: E402
from optimizer.coverage import CoverageModel  # noqa: E402
from optimizer.travel import (  # noqa: E402
    calibrate,
    calibrate_misclassified,
    calibrate_near_limit,
    estimate_minutes,
    haversine_km,
)

LIMITS = (30.0, 45.0, 60.0)


def devon_frames(source: Path, tmp: Path):
    """The Devon zones, bases and long matrix as coverage reads them from a store."""
    db = open_store(str(tmp / "devon.db"))
    load_devon(db, source)
    zones, providers, travel, _ = analyses.coverage_inputs(analyses.Market.from_store(db))
    db.close()
    return zones, providers, travel


def unmet(zones, providers, travel, limit, params=None) -> float:
    model = CoverageModel.from_frames(zones, providers, travel, ParameterSet(params or {}),
                                      max_travel_minutes=limit).solve("highs")
    return model.unmet_hours


def fits(km, t, limit):
    p = ParameterSet()
    a0, c0 = p["access_minutes"], p["crow_kmh"]
    near = calibrate(km, t, min_minutes=0.5 * limit, max_minutes=1.5 * limit)
    return {
        "defaults (5 min, 45 km/h)": (a0, c0),
        "least squares, all pairs": _pair(calibrate(km, t)),
        "least squares, near the limit": _pair(near),
        "fewest misclassified": _pair(calibrate_misclassified(km, t, limit)),
        "median ratio near the limit (chosen)": _pair(calibrate_near_limit(km, t, limit)),
    }


def _pair(fit):
    return max(0.0, fit.access_minutes), fit.crow_kmh


def calibration_table(zones, providers, travel) -> None:
    zi = {z: i for i, z in enumerate(zones["zone_id"].astype(str))}
    pi = {p: j for j, p in enumerate(providers["provider_id"].astype(str))}
    mz = travel["zone_id"].astype(str).map(zi).to_numpy()
    mp = travel["provider_id"].astype(str).map(pi).to_numpy()
    t = travel["minutes"].to_numpy(float)
    km = haversine_km(zones["lat"].to_numpy(float)[mz], zones["lon"].to_numpy(float)[mz],
                      providers["lat"].to_numpy(float)[mp], providers["lon"].to_numpy(float)[mp])
    print("| limit | fit | access min | crow km/h | unmet h/week | routed | error | "
          "wrongly in | wrongly out |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    total: dict[str, float] = {}
    for limit in LIMITS:
        routed = unmet(zones, providers, travel, limit)
        for name, (a, c) in fits(km, t, limit).items():
            u = unmet(zones, providers, None, limit, {"access_minutes": a, "crow_kmh": c})
            est = estimate_minutes(km, a, c) <= limit
            real = t <= limit
            total[name] = total.get(name, 0.0) + abs(u - routed)
            print(f"| {limit:g} | {name} | {a:.2f} | {c:.2f} | {u:,.1f} | {routed:,.1f} | "
                  f"{u - routed:+,.1f} | {int((est & ~real).sum())} | "
                  f"{int((~est & real).sum())} |")
    print("\n| fit | sum of absolute errors at 30, 45, 60 min (h/week) |")
    print("| --- | ---: |")
    for name, err in sorted(total.items(), key=lambda kv: kv[1]):
        print(f"| {name} | {err:,.1f} |")
    # Out of sample: fit on the pairs of a random half of the zones, judge on the county.
    print("\n| split (seed) | median ratio near the limit | least squares, all pairs |")
    print("| --- | ---: | ---: |")
    routed = {limit: unmet(zones, providers, travel, limit) for limit in LIMITS}
    for seed in range(3):
        half = np.random.default_rng(seed).permutation(len(zones))[: len(zones) // 2]
        sel = np.isin(mz, half)
        err = {"near": 0.0, "ols": 0.0}
        for limit in LIMITS:
            for key, fit in (("near", calibrate_near_limit(km[sel], t[sel], limit)),
                             ("ols", calibrate(km[sel], t[sel]))):
                a, c = _pair(fit)
                u = unmet(zones, providers, None, limit, {"access_minutes": a, "crow_kmh": c})
                err[key] += abs(u - routed[limit])
        print(f"| half of the zones ({seed}) | {err['near']:,.1f} | {err['ols']:,.1f} |")


def band_rows(label: str, source, levers_list, repeat: int) -> None:
    for levers in levers_list:
        runs = []
        for _ in range(repeat):
            runs.append(analyses.coverage(source, levers))
        r = runs[-1]
        band = r["unmet_hours_band"]
        ratio = statistics.median(x["unmet_hours_band"]["seconds"] / x["seconds"]
                                  for x in runs) if band else None
        base = statistics.median(x["seconds"] for x in runs)
        text = (f"{band['low']:,.1f} to {band['high']:,.1f}, ratios "
                f"{band['ratios'][0]:.2f}-{band['ratios'][1]:.2f}, "
                f"{band['zones_uncertain']} zones uncertain" if band else "none")
        print(f"| {label} | {levers.get('max_minutes', 45):g} | {r['unmet_hours']:,.1f} | "
              f"{text} | {base:.3f} | {ratio:.2f} |" if band else
              f"| {label} | {levers.get('max_minutes', 45):g} | {r['unmet_hours']:,.1f} | "
              f"{text} | {base:.3f} | - |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(ROOT.parent / "shared" / "data" / "devon"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-national", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="travel-band-") as tmp_name:
        tmp = Path(tmp_name)
        zones, providers, travel = devon_frames(Path(args.source), tmp)
        print("## Calibration against the routed Devon matrix\n")
        calibration_table(zones, providers, travel)
        print("\n## The band (estimated minutes only) and its time\n")
        paths = write_devon(args.source, tmp / "csv")
        db = open_store(str(tmp / "nomatrix.db"))
        for kind in ("zones", "homecare-providers"):
            import_file(db, kind, paths[kind], user="benchmark")
        print("| instance | limit | unmet h/week | band | base solve s | band time / base |")
        print("| --- | ---: | ---: | --- | ---: | ---: |")
        for limit in LIMITS:
            routed = unmet(zones, providers, travel, limit)
            r = analyses.coverage(db, {"max_minutes": limit, "solver": "highs"})
            band = r["unmet_hours_band"]
            inside = band["low"] - 1e-6 * r["demand_hours"] <= routed <= band["high"]
            print(f"<!-- Devon {limit:g} min: routed {routed:,.1f} "
                  f"{'inside' if inside else 'OUTSIDE'} the band -->")
        band_rows("Devon, no matrix", db, [{"max_minutes": x, "solver": "highs"}
                                          for x in LIMITS], args.repeat)
        db.close()
        instances = [("county 500 x 150", county(), None)]
        if not args.skip_national:
            instances.append(("national 33,000 x 10,000", national(), 30))
        for label, (z, p), per_zone in instances:
            market = analyses.Market.from_frames(label, zones=z, homecare_providers=p)
            start = time.perf_counter()
            band_rows(label, market, [{"solver": "highs",
                                       **({"max_providers_per_zone": per_zone}
                                          if per_zone else {})}],
                      1 if per_zone else args.repeat)
            print(f"<!-- {label}: {time.perf_counter() - start:.1f} s in all -->")


if __name__ == "__main__":
    main()
