"""Per import kind: the real shared file and broken copies of it, each imported into a fresh
store; prints a Markdown table of what each got, and whether a rejection left the store
byte-identical (its whole SQL dump). Not a timing benchmark: the record behind docs/import-checks.md.

    .venv/bin/python benchmarks/broken_files.py > table.md   (needs ../shared/data)
"""
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pytest  # noqa: E402

import tests.test_import_strict as T
from caremarket.cases import load_sample
from caremarket.importers import import_file
from caremarket.store import open_store
from data.generate import write_sample
from market.errors import ImportRejected

root = Path(tempfile.mkdtemp())
files = write_sample(root / "sample")
sample = root / "sample.db"
s = open_store(sample)
load_sample(s)
s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
s.close()

def store(case, tag):
    p = root / f"{case}-{tag}.db"
    if case in T.ON_SAMPLE:
        shutil.copy(sample, p)
    return open_store(p)

def variants(case, src, col, row, tmp):
    out = [("as published", src)]
    out.append(("cut off mid-row", T.cut_mid_row(src, tmp / "cut.csv")[0]))
    out.append(("extra field on row 3", T.add_field(src, tmp / "extra.csv", 3)))
    if col:
        for v in ("inf", "1e400", "1e308", "NaN", "-5"):
            out.append((f"{col}={v} on row {row}", T.set_cell(src, tmp / f"v{v}.csv", row, col, v)))
    # a workbook of two sheets, the data on the second: asked for the wrong sheet, then the right
    import pandas as pd
    frame = pd.read_csv(src, dtype=str, keep_default_na=False, nrows=300)
    wb = tmp / "two.xlsx"
    with pd.ExcelWriter(wb) as w:
        pd.DataFrame({"notes": ["read me"]}).to_excel(w, sheet_name="Notes", index=False)
        frame.to_excel(w, sheet_name="Data", index=False)
    out.append(("XLSX, first 300 rows, wrong sheet (Notes)", (wb, "Notes")))
    out.append(("XLSX, first 300 rows, --sheet Data", (wb, "Data")))
    return out

print("| kind | file | broken copy | result |\n|---|---|---|---|")
for case, (kind, get, col, row) in T.REAL.items():
    tmp = root / case
    tmp.mkdir()
    db0 = store(case, "probe")
    src = get(db0, tmp, files)
    db0.close()
    for i, (label, path) in enumerate(variants(case, Path(src), col, row, tmp)):
        db = store(case, str(i))
        if case == "travel":
            T.devon_sites_and_zones(db, tmp)
        before = T.full_dump(db)
        try:
            if isinstance(path, tuple):
                r = import_file(db, kind, path[0], sheet=path[1])
            else:
                r = import_file(db, kind, path)
            res = f'accepted: {r.rows_read} rows read, {r.records} records written'
        except ImportRejected as e:
            same = T.full_dump(db) == before
            first = str(e).splitlines()
            msg = (first[1].strip() if len(first) > 1 else first[0])[:110]
            res = f"rejected ({'store identical' if same else 'STORE CHANGED'}): {msg}"
        except pytest.skip.Exception as e:
            res = f"skipped: {e}"
        except Exception as e:
            res = f"ERROR {type(e).__name__}: {e}"[:150]
        db.close()
        print(f"| {kind} | {Path(src).name} | {label} | {res.replace('|', '/')} |")
