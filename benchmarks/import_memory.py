"""Peak memory of rejecting a large file in which every row is bad (issue 10, point 3).

For each case, writes a file of about SIZE_MB (default 60) MB in a temporary folder, then imports
it into a copy of the sample store in a fresh Python process and prints the process's resident
memory before the import (the idle size: Python, pandas, the store open; Linux VmRSS, after which
the peak is reset through /proc/self/clear_refs) and its peak during the import (VmHWM),
their difference, the number of problems the rejection counted, how many it listed and the time.
The rejection must be bounded: under 300 MB above the idle size.

    .venv/bin/python benchmarks/import_memory.py [--mb 60] [--case care-homes-values ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from caremarket.importers import import_file
from caremarket.store import open_store
from market.errors import ImportRejected

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

db = open_store(sys.argv[1])
db.execute("select count(*) from zones").fetchone()
idle = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the idle size
    f.write("5")
t = time.perf_counter()
try:
    import_file(db, sys.argv[2], sys.argv[3])
    out = {"rejected": False}
except ImportRejected as exc:
    out = {"rejected": True, "total": exc.total, "listed": len(exc.problems),
           "first": str(exc.problems[0]) if exc.problems else ""}
out.update(seconds=round(time.perf_counter() - t, 1), idle_kb=idle,
           peak_kb=status("VmHWM"))
print(json.dumps(out))
"""

HOMES_HEADER = ("provider_id,name,lat,lon,postcode,beds,occupancy,self_funder_share,"
                "self_funder_fee,la_fee,cost_per_resident_week,capital_cost_per_bed_week,"
                "nursing,zone_id,group_id,group_name,cqc_rating\n")


def care_homes_values(i: int) -> str:
    """A row of the right width whose every number is wrong."""
    return (f"CHX{i:08d},Home number {i} of the benchmark,inf,1e400,LN1 1AA,1e308,NaN,150%,"
            f"-5,£-3,lots,\"1,5\",maybe,S0001,G{i},Group {i},Good\n")


def care_homes_short(i: int) -> str:
    """A row cut short: five fields of seventeen."""
    return f"CHX{i:08d},Home number {i} of the benchmark with a long name,53.1,-0.3,LN1 1AA\n"


def travel_long(i: int) -> str:
    return f"HC{i % 900:03d},S{i % 320:04d},inf\n"


def postcodes(i: int) -> str:
    return f"LN{i % 99} {i % 9}AB,10,1,2,E1,E2,-190.5,1e400\n"


CASES = {
    "care-homes-values": ("care-homes", HOMES_HEADER, care_homes_values),
    "care-homes-short-rows": ("care-homes", HOMES_HEADER, care_homes_short),
    "travel-long-inf": ("travel", "provider_id,zone_id,minutes\n", travel_long),
    "postcodes-out-of-range": ("postcodes", "Postcode,Positional_quality_indicator,Eastings,"
                               "Northings,Admin_district_code,Admin_ward_code,lon,lat\n",
                               postcodes),
}


def write(path: Path, header: str, row, mb: float) -> int:
    target, n = int(mb * 1_000_000), 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header)
        size = len(header)
        while size < target:
            line = row(n)
            f.write(line)
            size += len(line.encode())
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=60.0)
    ap.add_argument("--case", action="append", choices=list(CASES))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from caremarket.cases import load_sample
    from caremarket.store import open_store

    with tempfile.TemporaryDirectory(prefix="caremarket-memory-") as folder:
        base = Path(folder) / "sample.db"
        store = open_store(base)
        load_sample(store)
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        for name in args.case or list(CASES):
            kind, header, row = CASES[name]
            path = Path(folder) / f"{name}.csv"
            rows = write(path, header, row, args.mb)
            db = Path(folder) / f"{name}.db"
            shutil.copy(base, db)
            before = db.read_bytes()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(db), kind, str(path)],
                                  capture_output=True, text=True, cwd=ROOT, check=False)
            if proc.returncode != 0:
                print(f"{name}: failed\n{proc.stderr}")
                continue
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            above = (out["peak_kb"] - out["idle_kb"]) / 1024
            print(f"{name}: {path.stat().st_size / 1e6:.1f} MB, {rows:,} rows, kind {kind}: "
                  f"rejected={out['rejected']}, {out.get('total', 0):,} problems counted, "
                  f"{out.get('listed', 0)} listed, {out['seconds']} s; peak RSS "
                  f"{out['peak_kb'] / 1024:.0f} MB, idle {out['idle_kb'] / 1024:.0f} MB, "
                  f"{above:.0f} MB above idle ({above / 300:.2f} of the 300 MB bound); store "
                  f"unchanged: {db.read_bytes() == before}")
            print(f"  first: {out.get('first', '')}")
            path.unlink()


if __name__ == "__main__":
    main()
