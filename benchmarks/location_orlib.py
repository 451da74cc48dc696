"""OR-Library p-median (pmed1-40): the service's time and objective against pmedopt.txt.

    python benchmarks/location_orlib.py [--limit 120] [--formulation assignment|radius]
                                        [--solver highs] [pmed1 pmed2 ...]

Per instance: n, p, status, objective, the published optimum, bound, gap and seconds. When
spopt is installed (`pip install -e '.[bench]'`), spopt's
`PMedian.from_cost_matrix(...).solve(PULP_CBC_CMD)` is solved in the same run and its time
and objective printed beside, with the ratio of times. The data is read from
../shared/data/benchmarks/orlib relative to the repository. Times are wall-clock on a shared
machine: print ratios, never assert them.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.location import PMedian  # noqa: E402
from optimizer.orlib import read_optima, read_pmed  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "benchmarks" / "orlib"


def spopt_time(costs, p: int, limit: float):
    try:
        import pulp
        from spopt.locate import PMedian as SpoptPMedian
    except ImportError:
        return None
    start = time.perf_counter()
    model = SpoptPMedian.from_cost_matrix(costs, [1.0] * costs.shape[0], p_facilities=p)
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit))
    return time.perf_counter() - start, float(pulp.value(model.problem.objective))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--formulation", default="assignment", choices=PMedian.FORMULATIONS)
    ap.add_argument("--solver", default="highs")
    args = ap.parse_args()
    optima = read_optima(DATA / "pmedopt.txt")
    names = args.names or [f"pmed{k}" for k in range(1, 41)]
    print("instance  n    p    status      objective  optimum  bound       gap      "
          "seconds  spopt_s  spopt_obj  ratio", flush=True)
    ratios = []
    for name in names:
        inst = read_pmed(DATA / f"{name}.txt")
        m = PMedian.from_cost_matrix(inst.costs, inst.p, formulation=args.formulation)
        m.solve(args.solver, args.limit)
        sp = spopt_time(inst.costs, inst.p, args.limit)
        bound = "-" if m.bound is None else f"{m.bound:.1f}"
        gap = "-" if m.gap is None else f"{m.gap:.4%}"
        extra = "-        -          -"
        if sp is not None:
            ratios.append(m.seconds / sp[0])
            extra = f"{sp[0]:<8.2f} {sp[1]:<10.0f} {m.seconds / sp[0]:.2f}"
        print(f"{name:<9} {inst.n:<4} {inst.p:<4} {m.status:<11} {m.objective:<10.0f} "
              f"{optima[name]:<8.0f} {bound:<11} {gap:<8} {m.seconds:<8.2f} {extra}",
              flush=True)
    if ratios:
        g = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric-mean time ratio (service / spopt CBC): {g:.2f}")
    else:
        print("spopt not installed: no comparison (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
