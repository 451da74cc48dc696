"""HiGHS against CBC on the model sizes `auto` chooses between (the basis of `resolve_solver`).

    python benchmarks/solver_choice.py [--repeat 3]

Coverage LPs of 750 columns (50 zones x 15 providers) and 3,230 (190 x 17), seeded county
instances from benchmarks/coverage_scale.py, then the location models on spopt's San
Francisco instance (205 tracts x 16 sites: p-median p=4, MCLP p=4 at 5,000 m, LSCP at
5,000 m) and OR-Library pmed1. Prints the best of `--repeat` wall-clock times per solver and
the ratio CBC / HiGHS, and checks that both give the same objective. Times depend on the
machine and its load: ratios only, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.coverage_scale import county  # noqa: E402
from optimizer.coverage import CoverageModel  # noqa: E402
from optimizer.location import LSCP, MCLP, PMedian, costs_from_long  # noqa: E402
from optimizer.orlib import read_pmed  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "benchmarks"


def best_of(repeat: int, fn):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cases = []
    for nz, npv in ((50, 15), (190, 17)):
        zones, providers = county(n_zones=nz, n_providers=npv)

        def cov(solver, zones=zones, providers=providers):
            return CoverageModel.from_frames(zones, providers).solve(solver).to_dict()[
                "unmet_hours"]
        cases.append((f"coverage LP {nz * npv} columns", cov))
    frame = pd.read_csv(DATA / "spopt_sf" /
                        "SF_network_distance_candidateStore_16_censusTract_205_new.csv",
                        dtype={"DestinationName": str})
    c, w, dn, sn = costs_from_long(frame, "DestinationName", "name", "distance", "demand")
    cases.append(("SF p-median p=4", lambda s: PMedian.from_cost_matrix(c, 4, w, dn, sn)
                  .solve(s).objective))
    cases.append(("SF MCLP p=4 5000 m", lambda s: MCLP.from_cost_matrix(c, 4, 5000, w, dn, sn)
                  .solve(s).objective))
    cases.append(("SF LSCP 5000 m", lambda s: LSCP.from_cost_matrix(c, 5000, dn, sn)
                  .solve(s).objective))
    inst = read_pmed(DATA / "orlib" / "pmed1.txt")
    cases.append(("OR-Library pmed1", lambda s: PMedian.from_cost_matrix(inst.costs, inst.p)
                  .solve(s).objective))
    print(f"{'model':<28} {'cbc_s':>8} {'highs_s':>8} {'cbc/highs':>9}  same objective",
          flush=True)
    for name, fn in cases:
        tc, vc = best_of(args.repeat, lambda fn=fn: fn("cbc"))
        th, vh = best_of(args.repeat, lambda fn=fn: fn("highs"))
        same = abs(vc - vh) <= 1e-6 * max(1.0, abs(vh))
        print(f"{name:<28} {tc:>8.3f} {th:>8.3f} {tc / th:>9.1f}  {same}", flush=True)


if __name__ == "__main__":
    main()
