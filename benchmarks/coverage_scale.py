"""Time the coverage LP at county and national scale against a hand-built highspy reference.

    .venv/bin/python benchmarks/coverage_scale.py [--quick] [--skip-cli] [--only county|national]

For each seeded instance it prints the service's time end to end (frames in, result dict out:
`CoverageModel.from_frames(...).solve("auto").to_dict()`) next to a reference solved in the same
run: the same two-phase LP (unmet hours, then travel hours within 1e-7 of demand) built
directly as one scipy sparse matrix from the same pairs and solved with highspy's default
(dual simplex), and their ratio. Then it times `caremarket coverage --zones --providers --json`
as a whole process on CSV files against the reference as a whole process on the same files.

Instances: county, 500 zones x 150 providers in a 24 km square (every pair within the 45-minute
limit); national, 33,000 zones x 10,000 providers over England's extent (49.9-55.8N,
5.7W-1.8E, clustered like towns), 45-minute limit, each zone linked to its 30 nearest
providers. `--quick` uses 1/10 of each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RURALITY = np.array(["urban", "town", "village", "sparse"])


def county(seed: int = 1, n_zones: int = 500, n_providers: int = 150, supply: float = 1.1):
    """A county: every zone within reach of every provider; capacity `supply` x demand."""
    rng = np.random.default_rng(seed)
    lat0, lon0 = 50.7, -3.5

    def points(n):
        east, north = rng.uniform(-12, 12, n), rng.uniform(-12, 12, n)
        return lat0 + north / 111.2, lon0 + east / (111.2 * np.cos(np.radians(lat0)))

    zlat, zlon = points(n_zones)
    plat, plon = points(n_providers)
    demand = rng.gamma(4.0, 25.0, n_zones)
    zones = pd.DataFrame({"zone_id": [f"Z{i:05d}" for i in range(n_zones)], "lat": zlat,
                          "lon": zlon, "rurality": rng.choice(RURALITY, n_zones,
                                                             p=[.5, .2, .2, .1]),
                          "demand_hours": demand.round(2)})
    cap = rng.gamma(4.0, 1.0, n_providers)
    cap *= supply * demand.sum() * 1.25 / cap.sum()
    providers = pd.DataFrame({"provider_id": [f"P{j:05d}" for j in range(n_providers)],
                              "lat": plat, "lon": plon, "capacity_hours": cap.round(2)})
    return zones, providers


def national(seed: int = 2, n_zones: int = 33_000, n_providers: int = 10_000,
             supply: float = 1.05):
    """England-sized: zones and providers clustered around 400 towns over England's extent."""
    rng = np.random.default_rng(seed)
    n_towns = 400
    tlat = rng.uniform(50.0, 55.6, n_towns)
    tlon = rng.uniform(-5.5, 1.6, n_towns)
    weight = rng.pareto(1.2, n_towns) + 1

    def points(n):
        t = rng.choice(n_towns, n, p=weight / weight.sum())
        spread_km = rng.exponential(8.0, n)
        ang = rng.uniform(0, 2 * np.pi, n)
        lat = tlat[t] + spread_km * np.sin(ang) / 111.2
        lon = tlon[t] + spread_km * np.cos(ang) / (111.2 * np.cos(np.radians(tlat[t])))
        # kept inside England's extent (a point past 2E is outside the importers' UK box, and
        # the CLI run on the CSV files would reject it)
        return np.clip(lat, 49.9, 55.8), np.clip(lon, -5.7, 1.8)

    zlat, zlon = points(n_zones)
    plat, plon = points(n_providers)
    demand = rng.gamma(4.0, 25.0, n_zones)
    zones = pd.DataFrame({"zone_id": [f"Z{i:06d}" for i in range(n_zones)], "lat": zlat,
                          "lon": zlon, "rurality": rng.choice(RURALITY, n_zones,
                                                             p=[.55, .2, .15, .1]),
                          "demand_hours": demand.round(2)})
    cap = rng.gamma(4.0, 1.0, n_providers)
    cap *= supply * demand.sum() * 1.25 / cap.sum()
    providers = pd.DataFrame({"provider_id": [f"P{j:06d}" for j in range(n_providers)],
                              "lat": plat, "lon": plon, "capacity_hours": cap.round(2)})
    return zones, providers


# ------------------------------------------------------------------------------------------
# The reference: the two-phase LP written out directly with scipy and highspy.


def reference(zones: pd.DataFrame, providers: pd.DataFrame, max_minutes: float = 45.0,
              max_per_zone: int | None = None) -> dict:
    """Solve the two-phase coverage LP straight from arrays with highspy (default settings)."""
    import highspy
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from optimizer.lp import silent_highs

    R, access, crow, vm, vpr = 6371.0088, 5.0, 45.0, 45.0, 6.0
    hop_by = {"urban": 5.0, "town": 8.0, "village": 12.0, "sparse": 18.0}
    zl, zo = np.radians(zones["lat"].to_numpy()), np.radians(zones["lon"].to_numpy())
    pl, po = np.radians(providers["lat"].to_numpy()), np.radians(providers["lon"].to_numpy())
    d = zones["demand_hours"].to_numpy(float)
    cap = providers["capacity_hours"].to_numpy(float)
    hop = zones["rurality"].map(hop_by).to_numpy(float)

    def xyz(la, lo):
        return np.c_[np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]

    rkm = (max_minutes - access) * crow / 60
    chord = 2 * np.sin(rkm / (2 * R)) * (1 + 1e-9)
    near = cKDTree(xyz(zl, zo)).sparse_distance_matrix(cKDTree(xyz(pl, po)), chord,
                                                         output_type="ndarray")
    i, j = near["i"].astype(np.int64), near["j"].astype(np.int64)
    a = (np.sin((pl[j] - zl[i]) / 2) ** 2
         + np.cos(zl[i]) * np.cos(pl[j]) * np.sin((po[j] - zo[i]) / 2) ** 2)
    t = access + 60 * 2 * R * np.arcsin(np.sqrt(a)) / crow
    keep = t <= max_minutes
    i, j, t = i[keep], j[keep], t[keep]
    o = np.lexsort((j, t, i))
    i, j, t = i[o], j[o], t[o]
    if max_per_zone:
        starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
        rank = np.arange(len(i)) - np.repeat(starts, np.diff(np.r_[starts, len(i)]))
        k = rank < max_per_zone
        i, j, t = i[k], j[k], t[k]
    tau = (60 / vm) * (2 * t / vpr + hop[i])
    n, nz, npv = len(i), len(d), len(cap)
    rows = np.r_[i, nz + j, np.arange(nz)]
    cols = np.r_[np.arange(n), np.arange(n), n + np.arange(nz)]
    vals = np.r_[np.ones(n), 1 + tau / 60, np.ones(nz)]
    A = sp.csc_matrix((vals, (rows, cols)), shape=(nz + npv, n + nz))
    inf = highspy.kHighsInf
    h = silent_highs()  # highspy.Highs() with its banner kept off stdout (optimizer/lp.py)
    c1 = np.r_[np.zeros(n), np.ones(nz)]
    h.passModel(n + nz, nz + npv, A.nnz, 1, 1, 0.0, c1, np.zeros(n + nz), np.full(n + nz, inf),
                np.r_[d, np.full(npv, -inf)], np.r_[d, cap], A.indptr.astype(np.int32),
                A.indices.astype(np.int32), A.data, np.zeros(n + nz, np.int32))
    h.run()
    unmet = h.getInfo().objective_function_value
    idx = np.arange(n, n + nz, dtype=np.int32)
    h.addRow(-inf, unmet + 1e-7 * d.sum(), nz, idx, np.ones(nz))
    h.changeColsCost(n + nz, np.arange(n + nz, dtype=np.int32), np.r_[tau / 60, np.zeros(nz)])
    h.run()
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    y = np.asarray(sol.row_dual)[:nz]
    return {"demand_hours": float(d.sum()), "unmet_hours": float(x[n:].sum()),
            "travel_hours": float(h.getInfo().objective_function_value), "pairs": n,
            "dual_sum": float(y.sum())}


def service(zones, providers, max_per_zone=None, solver="auto") -> dict:
    from optimizer.coverage import CoverageModel

    model = CoverageModel.from_frames(zones, providers, max_providers_per_zone=max_per_zone)
    return model.solve(solver).to_dict()


def timed(fn, *args, **kw):
    start = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - start, out


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


REF_SCRIPT = """
import sys, json, pandas as pd
sys.path.insert(0, {root!r})
from benchmarks.coverage_scale import reference
z = pd.read_csv(sys.argv[1]); p = pd.read_csv(sys.argv[2])
print(json.dumps(reference(z, p, 45.0, {mpz})))
"""


def whole_process(zones, providers, max_per_zone) -> tuple[float, float, dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        zf, pf = Path(tmp, "zones.csv"), Path(tmp, "providers.csv")
        zones.to_csv(zf, index=False)
        providers.to_csv(pf, index=False)
        exe = str(Path(sys.executable).with_name("caremarket"))
        cmd = [exe, "--db", str(Path(tmp, "unused.db")), "coverage", "--zones", str(zf),
               "--providers", str(pf), "--max-minutes", "45", "--json"]
        if max_per_zone:
            cmd += ["--max-providers-per-zone", str(max_per_zone)]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        t_cli = time.perf_counter() - start
        script = Path(tmp, "ref.py")
        script.write_text(REF_SCRIPT.format(root=str(ROOT), mpz=max_per_zone))
        start = time.perf_counter()
        ref = subprocess.run([sys.executable, str(script), str(zf), str(pf)],
                             capture_output=True, text=True, check=True)
        t_ref = time.perf_counter() - start
        return t_cli, t_ref, json.loads(out.stdout), json.loads(ref.stdout)


def run(name, zones, providers, max_per_zone, skip_cli) -> None:
    print(f"\n== {name}: {len(zones)} zones x {len(providers)} providers"
          f"{f', at most {max_per_zone} per zone' if max_per_zone else ''}")
    t_svc, svc = timed(service, zones, providers, max_per_zone)
    t_ref, ref = timed(reference, zones, providers, 45.0, max_per_zone)
    print(f"pairs (LP columns): service {svc['pairs']:,}, reference {ref['pairs']:,}")
    print(f"unmet hours: service {svc['unmet_hours']:.4f}, reference {ref['unmet_hours']:.4f}; "
          f"travel hours: service {svc['travel_hours']:.4f}, reference {ref['travel_hours']:.4f}")
    print(f"in-process: service {t_svc:.2f} s (solver {svc['solver']}), reference "
          f"{t_ref:.2f} s, ratio {t_svc / t_ref:.2f}")
    if not skip_cli:
        t_cli, t_rp, cli_out, _ = whole_process(zones, providers, max_per_zone)
        print(f"whole process on CSV: `caremarket coverage` {t_cli:.2f} s, reference "
              f"{t_rp:.2f} s, ratio {t_cli / t_rp:.2f} (unmet {cli_out['unmet_hours']:.4f})")
    print(f"peak memory of this process so far: {peak_gib():.2f} GiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1/10 of each instance")
    ap.add_argument("--skip-cli", action="store_true", help="skip the whole-process timings")
    ap.add_argument("--only", choices=["county", "national"])
    args = ap.parse_args()
    f = 10 if args.quick else 1
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if args.only in (None, "county"):
        z, p = county(n_zones=500 // f, n_providers=max(150 // f, 2))
        run("county", z, p, None, args.skip_cli)
    if args.only in (None, "national"):
        z, p = national(n_zones=33_000 // f, n_providers=10_000 // f)
        run("national", z, p, 30, args.skip_cli)


if __name__ == "__main__":
    main()
