"""OR-Library p-median (pmed1-40): the service's time and objective against pmedopt.txt.

    python benchmarks/location_orlib.py [--limit 120]
        [--formulation auto|lagrangian|radius|assignment] [--solver highs] [--threads 1]
        [--spopt-python /path/to/venv/bin/python] [--no-spopt] [pmed1 pmed2 ...]

Per instance: n, p, the formulation used, status, objective, the published optimum, bound,
gap and seconds. When spopt is installed (`pip install -e '.[bench]'`), or another Python
that has it is named with `--spopt-python` (spopt's pins may not fit this project's
environment), spopt's `PMedian.from_cost_matrix(...).solve(PULP_CBC_CMD)` is solved in the
same run, instance by instance, with the same time limit, and its time and objective are
printed beside, with the ratio of times (service / spopt; spopt's time is measured inside
its process, from building the model to the solution, as the service's is). The data is read
from ../shared/data/benchmarks/orlib relative to the repository. Times are wall-clock on a
shared machine: print ratios, never assert them.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from optimizer.location import PMedian  # noqa: E402
from optimizer.orlib import read_optima, read_pmed  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "benchmarks" / "orlib"

# Run by the other interpreter: argv = matrix .npy, p, limit; prints {"seconds", "objective"}.
SPOPT_SIDE = """
import json, sys, time
import numpy as np
import pulp
from spopt.locate import PMedian
costs = np.load(sys.argv[1]); p = int(sys.argv[2]); limit = float(sys.argv[3])
start = time.perf_counter()
model = PMedian.from_cost_matrix(costs, np.ones(costs.shape[0]), p_facilities=p)
try:
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit))
    status = pulp.LpStatus[model.problem.status]
    value = pulp.value(model.problem.objective)
except Exception as exc:  # spopt raises when CBC stops without a solution
    status, value = type(exc).__name__, None
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "objective": value, "status": status}))
"""


def spopt_in_process() -> bool:
    try:
        import pulp  # noqa: F401
        from spopt.locate import PMedian as _  # noqa: F401
    except ImportError:
        return False
    return True


def spopt_time(costs: np.ndarray, p: int, limit: float, python: str | None):
    """(seconds, objective) of spopt's p-median with CBC, or None without spopt."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "costs.npy"
        np.save(path, costs)
        exe = sys.executable if python is None else python
        start = time.perf_counter()
        out = subprocess.run([exe, "-c", SPOPT_SIDE, str(path), str(p), str(limit)],
                             capture_output=True, text=True)
    if out.returncode != 0:  # the process failed: its last error line as the status
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return time.perf_counter() - start, None, f"failed ({last[:60]})"
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return d["seconds"], d["objective"], d["status"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--formulation", default="auto", choices=PMedian.FORMULATIONS)
    ap.add_argument("--solver", default="highs")
    ap.add_argument("--threads", type=int, default=1,
                    help="HiGHS threads (1: the machine is shared)")
    ap.add_argument("--spopt-python", default=None,
                    help="a Python with spopt installed, when this one has none")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--spopt-max-n", type=int, default=None,
                    help="run spopt only on instances of at most this many points (its "
                         "model of n^2 columns takes minutes to build beyond a few hundred)")
    args = ap.parse_args()
    python = args.spopt_python
    with_spopt = not args.no_spopt and (python is not None or spopt_in_process())
    optima = read_optima(DATA / "pmedopt.txt")
    names = args.names or [f"pmed{k}" for k in range(1, 41)]
    print("| instance | n | p | formulation | status | objective | optimum | bound | gap | "
          "seconds | nodes | MIP pairs | spopt s | spopt status | spopt objective | ratio |",
          flush=True)
    print("| --- " * 16 + "|", flush=True)
    ratios, proven, equal, worst = [], 0, 0, 0.0
    for name in names:
        inst = read_pmed(DATA / f"{name}.txt")
        m = PMedian.from_cost_matrix(inst.costs, inst.p, formulation=args.formulation)
        m.solve(args.solver, args.limit, threads=args.threads)
        proven += m.status == "optimal"
        equal += m.objective == optima[name]
        worst = max(worst, m.seconds)
        bound = "-" if m.bound is None else f"{m.bound:.1f}"
        gap = "-" if m.gap is None else f"{m.gap:.4%}"
        extra = "- | - | - | -"
        if with_spopt and (args.spopt_max_n is None or inst.n <= args.spopt_max_n):
            sp_seconds, sp_objective, sp_status = spopt_time(inst.costs, inst.p, args.limit,
                                                             python)
            ratios.append(m.seconds / sp_seconds)
            sp_value = "-" if sp_objective is None else f"{sp_objective:.0f}"
            extra = f"{sp_seconds:.2f} | {sp_status} | {sp_value} | {m.seconds / sp_seconds:.3f}"
        red = m.reduction or {}
        print(f"| {name} | {inst.n} | {inst.p} | {m.formulation} | {m.status} | "
              f"{m.objective:.0f} | {optima[name]:.0f} | {bound} | {gap} | {m.seconds:.2f} | "
              f"{red.get('nodes', '-')} | {red.get('radius_pairs', '-')} | {extra} |",
              flush=True)
    print(f"\n{proven} of {len(names)} proven optimal, {equal} equal to pmedopt.txt, "
          f"longest {worst:.2f} s (limit {args.limit:g} s)")
    if ratios:
        g = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        faster = sum(r < 1 for r in ratios)
        print(f"service faster on {faster} of {len(ratios)}; geometric-mean time ratio "
              f"(service / spopt CBC): {g:.3f}")
    else:
        print("spopt not installed: no comparison (pip install -e '.[bench]', or "
              "--spopt-python)")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"whole run {time.perf_counter() - start:.0f} s")
