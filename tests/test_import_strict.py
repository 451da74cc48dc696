"""Strict imports (issue 10, points 1-4) on the real shared files and on broken copies of them.

Every rejection names the row and column, and leaves the store byte-identical (the whole SQL
dump before and after). Kinds and the files they are tried on:

| kind | file |
| --- | --- |
| zones, homecare-providers | built from the shared Devon files by data.devon |
| sites | the 18 shared Devon sites (tests.test_importers.devon_zones_and_sites) |
| travel | the shared Devon car matrix, wide form, as published |
| cqc | the shared CQC ratings export for Lincolnshire |
| postcodes | the shared Code-Point Open extract |
| population | the shared ONS mid-2020 LSOA population |
| rurality | the shared ONS RUC 2011 file |
| care-homes, fees, self-funders | the sample market's files (no shared file has this layout) |
| homecare-returns, care-home-returns | data.fcoc_sample's returns for the sample market |
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caremarket import importers
from caremarket.cli import cli
from caremarket.importers import import_file
from data.devon import write_devon
from data.fcoc_sample import sample_returns
from data.generate import write_sample
from market import ranges
from market.entities import ENTITIES
from market.errors import MAX_PROBLEMS, ImportRejected
from tests.conftest import ROOT, bearer, login, shared

# -- helpers ------------------------------------------------------------------------------------


def full_dump(db) -> str:
    """The whole store as SQL: every table, row, index and trigger."""
    return "\n".join(db.conn.iterdump())


def rejected(db, kind: str, path: Path, **kw) -> ImportRejected:
    """Import `path` as `kind`, expecting a rejection that leaves the store byte-identical."""
    before = full_dump(db)
    with pytest.raises(ImportRejected) as err:
        import_file(db, kind, path, **kw)
    assert full_dump(db) == before, f"{kind}: a rejected file changed the store"
    return err.value


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines(keepends=True)


def cut_mid_row(src: Path, out: Path, share: float = 0.6) -> tuple[Path, int]:
    """The first `share` of the file, ending after the first field of a data row (so the last
    row is short); also the row number of that last row."""
    lines = lines_of(src)
    keep = max(2, int(len(lines) * share))
    last = next(i for i in range(keep, 0, -1) if "," in lines[i] and not lines[i].startswith('"'))
    first_field = lines[last].split(",")[0]
    out.write_text("".join(lines[:last]) + first_field + ",", encoding="utf-8")
    return out, last + 1


def add_field(src: Path, out: Path, at: int) -> Path:
    """A copy with an extra field on data row `at` (spreadsheet numbering)."""
    lines = lines_of(src)
    lines[at - 1] = lines[at - 1].rstrip("\r\n") + ",extra\n"
    out.write_text("".join(lines), encoding="utf-8")
    return out


def set_cell(src: Path, out: Path, row: int, column: str, value: str) -> Path:
    """A copy with one cell changed (row as a spreadsheet numbers it)."""
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    frame.loc[row - 2, column] = value
    frame.to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("sample"))


def devon_sites_and_zones(db, tmp_path):
    from tests.test_importers import devon_zones_and_sites

    zpath, spath = devon_zones_and_sites(tmp_path)
    import_file(db, "zones", zpath)
    import_file(db, "sites", spath)
    return zpath, spath


def returns_files(db, tmp_path) -> dict[str, Path]:
    agencies = [r[0] for r in db.execute("select provider_id from homecare_providers")]
    homes = db.execute("select provider_id, nursing from care_homes").fetchall()
    frames = sample_returns(agencies, [h[0] for h in homes if not h[1]],
                            [h[0] for h in homes if h[1]])
    paths = {}
    for kind, frame in frames.items():
        paths[kind] = tmp_path / f"{kind}.csv"
        frame.to_csv(paths[kind], index=False)
    return paths


# Each real-file case: how to get the file (after setting up what it refers to), a numeric
# column to break and a data row to break it in.
def _case_zones(db, tmp_path, files):
    return write_devon(shared("devon"), tmp_path / "devon")["zones"]


def _case_providers(db, tmp_path, files):
    return write_devon(shared("devon"), tmp_path / "devon")["homecare-providers"]


def _case_sites(db, tmp_path, files):
    return devon_sites_and_zones(db, tmp_path)[1]


def _case_travel(db, tmp_path, files):
    devon_sites_and_zones(db, tmp_path)
    return shared("devon", "travel_matrix_car.csv")


def _case_sample(kind):
    return lambda db, tmp_path, files: files[kind]


def _case_returns(kind):
    return lambda db, tmp_path, files: returns_files(db, tmp_path)[kind]


REAL = {
    "zones": ("zones", _case_zones, "demand_hours", 7),
    "homecare-providers": ("homecare-providers", _case_providers, "capacity_hours", 5),
    "sites": ("sites", _case_sites, "capacity_hours", 3),
    "travel": ("travel", _case_travel, "NHS Nightingale Exeter", 40),
    "cqc": ("cqc", lambda db, t, f: shared("cqc", "cqc_ratings_lincolnshire_2026.csv"), None,
            None),
    "postcodes": ("postcodes", lambda db, t, f: shared(
        "postcodes", "codepoint_open_2018_lincs_devon.csv"), "lat", 1000),
    "population": ("population", lambda db, t, f: shared(
        "ons", "population_mid2020_lsoa11_lincs_devon_cumbria.csv"), "85", 9),
    "rurality": ("rurality", lambda db, t, f: shared(
        "ons", "ruc2011_lsoa11_lincs_devon_cumbria.csv"), None, None),
    "care-homes": ("care-homes", _case_sample("care-homes"), "beds", 12),
    "fees": ("fees", _case_sample("fees"), "amount", 3),
    "self-funders": ("self-funders", _case_sample("self-funders"), "self_funder_share", 2),
    "homecare-returns": ("homecare-returns", _case_returns("homecare-returns"), "direct_care",
                         4),
    "care-home-returns": ("care-home-returns", _case_returns("care-home-returns"),
                          "care_staff", 6),
}
# the store a kind's file is imported into: the sample market (its providers and zones are
# what the sample files and returns refer to), or an empty store for the Devon files
ON_SAMPLE = {"care-homes", "fees", "self-funders", "homecare-returns", "care-home-returns",
             "cqc", "postcodes", "population", "rurality"}


@pytest.fixture
def store_for(request, sample_db, db):
    def pick(case: str):
        return sample_db if case in ON_SAMPLE else db
    return pick


# -- the real files go in ----------------------------------------------------------------------

@pytest.mark.parametrize("case", list(REAL))
def test_the_real_file_of_each_kind_is_accepted(case, store_for, tmp_path, sample_files):
    kind, make, _column, _row = REAL[case]
    db = store_for(case)
    path = make(db, tmp_path, sample_files)
    summary = import_file(db, kind, path)
    assert summary.records > 0


# -- broken copies of them are rejected, the store byte-identical --------------------------------

@pytest.mark.parametrize("case", list(REAL))
def test_a_real_file_cut_off_mid_row_is_rejected(case, store_for, tmp_path, sample_files):
    kind, make, _column, _row = REAL[case]
    db = store_for(case)
    src = make(db, tmp_path, sample_files)
    broken, row = cut_mid_row(src, tmp_path / f"cut_{Path(src).name}")
    err = rejected(db, kind, broken)
    width = len(lines_of(src)[0].split(",")) if case != "travel" else None
    problem = err.problems[-1]
    assert problem.row == row and "the header has" in problem.message, err
    assert "the file may be cut off" in problem.message
    if width:
        assert f"row {row} has 2 fields, the header has {width}" in problem.message


@pytest.mark.parametrize("case", list(REAL))
def test_a_real_file_with_an_extra_field_is_rejected(case, store_for, tmp_path, sample_files):
    kind, make, _column, _row = REAL[case]
    db = store_for(case)
    src = make(db, tmp_path, sample_files)
    err = rejected(db, kind, add_field(src, tmp_path / f"extra_{Path(src).name}", 3))
    assert [p.row for p in err.problems] == [3]
    assert re.fullmatch(r"row 3 has \d+ fields, the header has \d+", err.problems[0].message)


NUMERIC = [c for c in REAL if REAL[c][2]]


@pytest.mark.parametrize("value,words", [
    ("inf", "is not a finite number"), ("1e400", "is not a finite number"),
    ("-inf", "is not a finite number"), ("NaN", "is not a number"), ("nan", "is not a number"),
    ("NA", "is not a number"), ("1e308", "must be at most"), ("-1", "cannot be negative"),
    ("lots", "is not a number"), ("1,5", "comma may only separate thousands"),
])
@pytest.mark.parametrize("case", NUMERIC)
def test_a_real_file_with_a_bad_number_is_rejected(case, value, words, store_for, tmp_path,
                                                   sample_files):
    kind, make, column, row = REAL[case]
    db = store_for(case)
    src = make(db, tmp_path, sample_files)
    err = rejected(db, kind, set_cell(src, tmp_path / f"bad_{Path(src).name}", row, column, value))
    problem = err.problems[0]
    assert (problem.row, problem.column) == (row, column), err
    assert words in problem.message and value in problem.message, problem
    assert " to " in problem.message  # the range is quoted


def test_the_2015_care_home_extract_fits_no_kind_and_is_rejected_cleanly(sample_db):
    err = rejected(sample_db, "cqc", shared("cqc", "care_homes_oct2015_england.csv"))
    assert {p.column for p in err.problems} >= {"Location ID", "Domain"}
    assert all(p.row == 1 for p in err.problems)


# -- every range: just outside it is rejected, at its edge accepted ------------------------------

def _value_cell(kind: str, column: str, where: str, value: str) -> tuple[str, str]:
    """A one-row file of `kind` for the sample store with `value` in `column`; the column the
    problem is reported against."""
    rows = {
        "zones": ("zone_id,{c}\nS0001,{v}\n", column),
        "homecare-providers": ("provider_id,name,capacity_hours{x}\nHC001,Agency,{cap}{xv}\n",
                               column),
        "care-homes": ("provider_id,name,beds{x}\nCH001,Home,{beds}{xv}\n", column),
        "sites": ("site_id,{c}\nSITE-T,{v}\n", column),
        "self-funders": ("area_id,service,self_funder_share{x}\nS0001,homecare,{sh}{xv}\n",
                         column),
    }
    if kind in rows:
        template, col = rows[kind]
        own = {"homecare-providers": "capacity_hours", "care-homes": "beds",
               "self-funders": "self_funder_share"}.get(kind)
        same = column == own
        return template.format(
            c=column, v=value, x="" if same else f",{column}", xv="" if same else f",{value}",
            cap=value if same else "100", beds=value if same else "30",
            sh=value if same else "0.5"), col
    if kind == "fees":
        service = "homecare" if where == "unit hour" else "residential"
        unit = "hour" if where == "unit hour" else "week"
        return (f"funder,service,unit,amount,effective_from\nla,{service},{unit},{value},"
                "2031-04-01\n", "amount")
    if kind == "travel" and where == "long form":
        return f"provider_id,zone_id,minutes\nHC001,S0001,{value}\n", "minutes"
    if kind == "travel":
        return f"zone_id,HC001\nS0001,{value}\n", "HC001"
    if kind == "cqc":
        cells = {"Care homes beds": "30", "Location Latitude": "53.1",
                 "Location Longitude": "-0.3", column: value}
        return ("Location ID,Location Name,Care homes beds,Location Latitude,Location Longitude\n"
                f"1-T,Test home,{cells['Care homes beds']},{cells['Location Latitude']},"
                f"{cells['Location Longitude']}\n", column)
    if kind == "postcodes":
        cells = {"lat": "53.1", "lon": "-0.3", column: value}
        return f"postcode,lat,lon\nLN1 1AA,{cells['lat']},{cells['lon']}\n", column
    if kind == "population":
        ages = [str(a) for a in range(65, 90)] + ["90+"]
        cells = dict.fromkeys(ages, "10")
        cells["total_population"] = "1500"
        col = "85" if column.startswith("0 ..") else column
        cells[col] = value
        return ("lsoa11_code," + ",".join(cells) + "\nS0001," + ",".join(cells.values()) + "\n",
                col)
    if kind in ("homecare-returns", "care-home-returns"):
        homecare = kind == "homecare-returns"
        line = "direct_care" if homecare else "care_staff"
        cells = ({"contact_hours": "500", "visit_minutes": "30", "carer_basic_pay": "11"}
                 if homecare else {"category": "residential", "beds": "30", "occupancy": "0.9",
                                   "carer_basic_pay": "11"})
        cells[line] = "12"
        col = line if column == "every cost line" else column
        cells[col] = value
        pid = "HC001" if homecare else "CH001"
        return ("provider_id," + ",".join(cells) + f"\n{pid}," + ",".join(cells.values()) + "\n",
                col)
    raise AssertionError(f"no test file for {kind}")


def _text(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _outside(r: ranges.Range) -> list[str]:
    step = 1 if r.whole else 0.001
    low = r.minimum if r.exclusive_minimum else r.minimum - step
    return [_text(low), _text(r.maximum + step)]


def _edges(r: ranges.Range) -> list[str]:
    low = r.minimum + (1 if r.whole else 0.001) if r.exclusive_minimum else r.minimum
    return [_text(low), _text(r.maximum)]


ROWS = [pytest.param(r, id=f"{r.kind}.{r.column}" + (f".{r.where}" if r.where else ""))
        for r in ranges.TABLE]


@pytest.mark.parametrize("row", ROWS)
def test_a_value_just_outside_each_range_is_rejected_and_its_edges_accepted(row, sample_db,
                                                                          tmp_path):
    for value in _outside(row.range):
        text, column = _value_cell(row.kind, row.column, row.where, value)
        path = tmp_path / f"{row.kind}.csv"
        path.write_text(text, encoding="utf-8")
        err = rejected(sample_db, row.kind, path)
        problem = err.problems[0]
        assert (problem.row, problem.column) == (2, column), err
        assert value in problem.message and row.range.text() in problem.message, problem
    for value in _edges(row.range):
        text, _column = _value_cell(row.kind, row.column, row.where, value)
        path = tmp_path / f"{row.kind}_edge.csv"
        path.write_text(text, encoding="utf-8")
        import_file(sample_db, row.kind, path)


def test_the_readme_table_of_ranges_is_the_ranges_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ranges.markdown() in readme


def test_every_numeric_field_of_every_entity_has_its_range_from_the_table():
    by_table = {"zones": "zones", "homecare_providers": "homecare-providers",
                "care_homes": "care-homes", "sites": "sites", "fee_rates": "fees",
                "self_funder_figures": "self-funders", "travel_times": "travel"}
    for table, entity in ENTITIES.items():
        for f in entity.fields:
            if f.kind in ("float", "int"):
                rows = [r for r in ranges.TABLE if r.kind == by_table[table]
                        and r.column == f.name]
                assert rows and f.range in [r.range for r in rows], (table, f.name)


@pytest.mark.parametrize("column,value,stored", [
    ("la_fee", "£850", 850.0), ("la_fee", "£1,250.50", 1250.5), ("occupancy", "90%", 0.9),
    ("self_funder_share", "45 %", 0.45), ("beds", "1,000", 1000),
])
def test_currency_percent_and_thousands_are_read_alike_in_every_column(sample_db, tmp_path,
                                                                      column, value, stored):
    path = tmp_path / "homes.csv"
    pd.DataFrame([{"provider_id": "CH001", "name": "Home", "beds": "30", column: value}]
                 ).to_csv(path, index=False)
    import_file(sample_db, "care-homes", path)
    assert sample_db["care_homes"].get("CH001")[column] == pytest.approx(stored)


@pytest.mark.parametrize("kind,header,cell,column", [
    ("care-homes", "provider_id,name,beds", "CH001,Home,£40", "beds"),
    ("care-homes", "provider_id,name,beds,la_fee", "CH001,Home,30,90%", "la_fee"),
    ("homecare-providers", "provider_id,name,capacity_hours", "HC001,A,£100", "capacity_hours"),
    ("travel", "provider_id,zone_id,minutes", "HC001,S0001,50%", "minutes"),
    ("zones", "zone_id,demand_hours", "S0001,£5", "demand_hours"),
])
def test_a_sign_that_does_not_fit_the_column_gets_the_same_message(sample_db, tmp_path, kind,
                                                                   header, cell, column):
    path = tmp_path / "signs.csv"
    path.write_text(f"{header}\n{cell}\n", encoding="utf-8")
    err = rejected(sample_db, kind, path)
    message = err.problems[0].message
    assert err.problems[0].column == column
    assert re.match(r"'.+' has a [£%] sign, but .+ is not (money|a share) \(", message), message


# -- blank cells keep, <clear> clears, required cells may not be blank --------------------------

def test_blank_cells_keep_every_stored_value_and_name(sample_db, tmp_path):
    zone = sample_db["zones"].get("S0001")
    site = next(sample_db["sites"].rows)
    z = tmp_path / "zones.csv"
    z.write_text("zone_id,name,demand_hours,rurality\nS0001,,,\n", encoding="utf-8")
    import_file(sample_db, "zones", z)
    after = sample_db["zones"].get("S0001")
    assert {k: after[k] for k in ("name", "demand_hours", "rurality", "demand_estimated")} == \
        {k: zone[k] for k in ("name", "demand_hours", "rurality", "demand_estimated")}
    s = tmp_path / "sites.csv"
    s.write_text(f"site_id,capacity_hours\n{site['site_id']},1234\n", encoding="utf-8")
    import_file(sample_db, "sites", s)
    assert sample_db["sites"].get(site["site_id"])["name"] == site["name"]
    new = tmp_path / "new_site.csv"
    new.write_text("site_id,capacity_hours\nSITE-NEW,10\n", encoding="utf-8")
    import_file(sample_db, "sites", new)
    assert sample_db["sites"].get("SITE-NEW")["name"] == "SITE-NEW"


def test_clear_marker_clears_an_optional_value_and_nothing_else(sample_db, tmp_path):
    home = sample_db["care_homes"].get("CH001")
    assert home["la_fee"] is not None and home["occupancy"] is not None
    path = tmp_path / "homes.csv"
    path.write_text("provider_id,name,beds,la_fee,occupancy\nCH001,,,<clear>,\n",
                    encoding="utf-8")
    err = rejected(sample_db, "care-homes", path)  # name and beds are required: not blank
    assert {(p.column, p.message) for p in err.problems} == {
        ("name", "care home name is required but blank"), ("beds", "beds is required but blank")}
    pd.DataFrame([{"provider_id": "CH001", "name": home["name"], "beds": home["beds"],
                   "la_fee": "<CLEAR>", "occupancy": ""}]).to_csv(path, index=False)
    import_file(sample_db, "care-homes", path)
    after = sample_db["care_homes"].get("CH001")
    assert after["la_fee"] is None and after["occupancy"] == home["occupancy"]
    # a cleared cost line leaves the return
    files = returns_files(sample_db, tmp_path)
    import_file(sample_db, "homecare-returns", files["homecare-returns"])
    rid, lines = sample_db.execute("select return_id, lines from cost_returns where service = "
                                   "'homecare' order by return_id limit 1").fetchone()
    assert "mileage" in json.loads(lines)
    clear = tmp_path / "clear_line.csv"
    clear.write_text(f"provider_id,mileage\n{rid.split(':')[0]},<clear>\n", encoding="utf-8")
    import_file(sample_db, "homecare-returns", clear)
    kept = json.loads(sample_db["cost_returns"].get(rid)["lines"])
    assert "mileage" not in kept and kept == {k: v for k, v in json.loads(lines).items()
                                              if k != "mileage"}


@pytest.mark.parametrize("kind,text,column,words", [
    ("care-homes", "provider_id,name,beds\nCH001,Home,<clear>\n", "beds", "it is required"),
    ("care-homes", "provider_id,name,beds\n<clear>,Home,3\n", "provider_id", "it is the row's id"),
    ("homecare-providers", "provider_id,name,capacity_hours\nHC001,A,<clear>\n", "capacity_hours",
     "it is required"),
    ("postcodes", "postcode,lat,lon\nLN1 1AA,<clear>,-0.3\n", "lat", "cannot be used"),
    ("travel", "zone_id,HC001\nS0001,<clear>\n", "HC001", "cannot be used"),
])
def test_clear_marker_is_refused_where_it_cannot_apply(sample_db, tmp_path, kind, text, column,
                                                       words):
    path = tmp_path / "clear.csv"
    path.write_text(text, encoding="utf-8")
    err = rejected(sample_db, kind, path)
    assert err.problems[0].column == column and words in err.problems[0].message


def test_a_blank_required_capacity_is_reported_with_row_and_column(sample_db, tmp_path):
    path = tmp_path / "agencies.csv"
    path.write_text("provider_id,name,capacity_hours\nHC001,A,100\nHC002,B,\n", encoding="utf-8")
    err = rejected(sample_db, "homecare-providers", path)
    assert [(p.row, p.column) for p in err.problems] == [(3, "capacity_hours")]
    assert "required but blank" in err.problems[0].message


def test_a_short_row_no_longer_blanks_a_required_capacity(sample_db, tmp_path, sample_files):
    before = sample_db["homecare_providers"].get("HC001")["capacity_hours"]
    lines = lines_of(sample_files["homecare-providers"])
    path = tmp_path / "short.csv"
    path.write_text(lines[0] + "HC001,Short row\n", encoding="utf-8")
    err = rejected(sample_db, "homecare-providers", path)
    assert "row 2 has 2 fields" in err.problems[0].message
    assert sample_db["homecare_providers"].get("HC001")["capacity_hours"] == before


# -- bounded error lists ------------------------------------------------------------------------

def test_a_file_of_many_chunks_is_checked_chunk_by_chunk_with_true_row_numbers(sample_db,
                                                                              tmp_path):
    n = importers.CHUNK_ROWS * 2 + 500
    rows = [f"X{i:06d},{100 + i % 7}" for i in range(n)]
    rows[importers.CHUNK_ROWS + 40] = f"X{importers.CHUNK_ROWS + 40:06d},inf"  # in chunk 2
    rows[10] = "X000010"  # a short row: not in any chunk, row numbers after it stay true
    path = tmp_path / "sites.csv"
    path.write_text("site_id,capacity_hours\n" + "\n".join(rows) + "\n", encoding="utf-8")
    err = rejected(sample_db, "sites", path)
    assert [(p.row, p.column) for p in err.problems] == [
        (12, None), (importers.CHUNK_ROWS + 42, "capacity_hours")]
    # a duplicate across chunks is found when the whole file is parsed at the end
    rows[10] = "X000010,5"
    rows[importers.CHUNK_ROWS + 40] = "X000003,5"
    path.write_text("site_id,capacity_hours\n" + "\n".join(rows) + "\n", encoding="utf-8")
    err = rejected(sample_db, "sites", path)
    assert [(p.row, p.message) for p in err.problems] == [
        (importers.CHUNK_ROWS + 42, "duplicate id 'X000003' (first seen at row 5)")]
    rows[importers.CHUNK_ROWS + 40] = f"X{importers.CHUNK_ROWS + 40:06d},5"
    path.write_text("site_id,capacity_hours\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert import_file(sample_db, "sites", path).records == n


def test_an_all_bad_file_lists_200_problems_and_counts_them_all(sample_db, tmp_path, runner):
    n = importers.CHUNK_ROWS + 1000
    path = tmp_path / "homes.csv"
    path.write_text("provider_id,name,beds,occupancy\n" + "".join(
        f"CHX{i},Home {i},1e308,NaN\n" for i in range(n)), encoding="utf-8")
    err = rejected(sample_db, "care-homes", path)
    assert len(err.problems) == MAX_PROBLEMS and err.total == 2 * n
    assert err.tail() == f"and {2 * n - MAX_PROBLEMS:,} more; {2 * n:,} problems in all"
    assert [p.row for p in err.problems] == sorted(p.row for p in err.problems)
    db_path = tmp_path / "cli.db"
    import shutil

    sample_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(Path(sample_db.execute("pragma database_list").fetchone()[2]), db_path)
    result = runner.invoke(cli, ["--db", str(db_path), "import", "care-homes", str(path)])
    assert result.exit_code == 2
    err_lines = result.stderr.strip().splitlines()
    assert err_lines[0] == f"error: homes.csv: rejected ({2 * n:,} problems):"
    assert len(err_lines) == 1 + MAX_PROBLEMS + 1
    assert err_lines[-1].strip() == err.tail()


# -- workbooks ----------------------------------------------------------------------------------

@pytest.fixture
def workbook(tmp_path, sample_files):
    """Notes first, then the care homes: a two-sheet workbook."""
    path = tmp_path / "homes.xlsx"
    homes = pd.read_csv(sample_files["care-homes"], dtype=str, keep_default_na=False).head(5)
    homes.loc[0, "name"] = "Renamed in the workbook"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame({"note": ["read me first"]}).to_excel(xl, sheet_name="Notes", index=False)
        homes.to_excel(xl, sheet_name="Homes", index=False)
    return path, homes


def test_a_workbook_is_read_from_the_sheet_asked_for(sample_db, workbook, runner, tmp_path):
    path, homes = workbook
    err = rejected(sample_db, "care-homes", path)  # the first sheet holds notes
    missing = [p for p in err.problems if p.column == "provider_id"][0]
    assert "sheet 'Notes' was read; the workbook's sheets: Notes, Homes" in missing.message
    err = rejected(sample_db, "care-homes", path, sheet="Prices")
    assert err.problems[0].message == "the workbook has no sheet 'Prices'; its sheets: Notes, Homes"
    summary = import_file(sample_db, "care-homes", path, sheet="Homes")
    assert summary.records == 5 and "read sheet 'Homes' of 2 (Notes, Homes)" in summary.notes
    assert sample_db["care_homes"].get(homes.loc[0, "provider_id"])["name"] == \
        "Renamed in the workbook"


def test_a_bad_cell_in_a_workbook_is_named_by_row_and_column(sample_db, tmp_path, sample_files):
    homes = pd.read_csv(sample_files["care-homes"], dtype=str, keep_default_na=False).head(5)
    homes.loc[3, "beds"] = "1e308"
    path = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        homes.to_excel(xl, sheet_name="Homes", index=False)
        homes.to_excel(xl, sheet_name="Copy", index=False)
    err = rejected(sample_db, "care-homes", path, sheet="homes")  # case does not matter
    assert [(p.row, p.column) for p in err.problems] == [(5, "beds")]


def test_a_sheet_for_a_csv_file_is_refused(sample_db, sample_files):
    err = rejected(sample_db, "care-homes", sample_files["care-homes"], sheet="Homes")
    assert "a CSV file has no sheets" in err.problems[0].message


def test_cli_import_sheet(runner, workbook, sample_db_file, tmp_path):
    import shutil

    path, _homes = workbook
    db_path = tmp_path / "store.db"
    shutil.copy(sample_db_file, db_path)
    r = runner.invoke(cli, ["--db", str(db_path), "import", "care-homes", str(path), "--json"])
    assert r.exit_code == 2 and "the workbook's sheets: Notes, Homes" in r.stderr
    r = runner.invoke(cli, ["--db", str(db_path), "import", "care-homes", str(path), "--sheet",
                            "Homes", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"] == 5


def test_api_sheet_field_and_bounded_422(app, client, api_token, workbook, tmp_path):
    path, _homes = workbook
    headers = bearer(api_token("analyst"))

    def post(data: bytes, name: str, **fields):
        return client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                           data={"kind": "care-homes", "file": (io.BytesIO(data), name), **fields})

    resp = post(path.read_bytes(), "homes.xlsx")
    assert resp.status_code == 422
    assert any("Notes, Homes" in p["message"] for p in resp.get_json()["error"]["details"])
    resp = post(path.read_bytes(), "homes.xlsx", sheet="Homes")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    bad = "provider_id,name,beds\n" + "".join(f"CHX{i},H,inf\n" for i in range(450))
    resp = post(bad.encode(), "bad.csv")
    body = resp.get_json()["error"]
    assert resp.status_code == 422 and len(body["details"]) == MAX_PROBLEMS
    assert "450 problems; the first 200 are in details (and 250 more; 450 problems in all)" \
        in body["message"]
    spec = client.get("/api/v1/openapi.json", headers=headers).get_json()
    form = spec["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]
    assert "sheet" in form


def test_data_page_sheet_field_and_problem_total(client, workbook):
    path, _homes = workbook
    csrf = login(client, "analyst")
    page = client.get("/data").get_data(as_text=True)
    assert 'name="sheet"' in page
    resp = client.post("/data", content_type="multipart/form-data", data={
        "csrf_token": csrf, "kind": "care-homes", "sheet": "Homes",
        "file": (io.BytesIO(path.read_bytes()), "homes.xlsx")})
    assert resp.status_code == 200 and "Imported homes.xlsx as care-homes" in resp.get_data(
        as_text=True)
    bad = "provider_id,name,beds\n" + "".join(f"CHX{i},H,-{i + 1}\n" for i in range(300))
    resp = client.post("/data", content_type="multipart/form-data", data={
        "csrf_token": csrf, "kind": "care-homes", "file": (io.BytesIO(bad.encode()), "b.csv")})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "300 problems found" in html
    assert "The first 200 are listed, and 100 more; 300 problems in all." in html
    assert html.count('class="num row"') == MAX_PROBLEMS  # the rows of the error table


# -- a rejected import never changes the store ----------------------------------------------------

BAD_CELLS = ["inf", "-inf", "1e400", "1e308", "NaN", "nan", "NA", "-1", "lots", "1,5", "£5%",
             "null", "Infinity", "1e309"]
NUMERIC_OF = {"care-homes": ["beds", "occupancy", "la_fee"],
              "homecare-providers": ["capacity_hours", "la_hourly_rate"], "zones": ["lat"]}


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_a_rejected_import_never_changes_the_store(sample_db, sample_files, tmp_path, data):
    kind = data.draw(st.sampled_from(sorted(NUMERIC_OF)))
    frame = pd.read_csv(sample_files[kind], dtype=str, keep_default_na=False)
    take = data.draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=12,
                              unique=True))
    frame = frame.iloc[take].reset_index(drop=True)
    # some good edits first: a new name, a plausible number
    for i in data.draw(st.lists(st.integers(0, len(frame) - 1), max_size=3)):
        if "name" in frame.columns:
            frame.loc[i, "name"] = f"Edited {i}"
    text = frame.to_csv(index=False)
    how = data.draw(st.sampled_from(["cell", "cut", "extra", "blank-required"]))
    row = data.draw(st.integers(0, len(frame) - 1))
    if how == "cell":
        column = data.draw(st.sampled_from(NUMERIC_OF[kind]))
        frame.loc[row, column] = data.draw(st.sampled_from(BAD_CELLS))
        text = frame.to_csv(index=False)
    elif how == "blank-required":
        frame.loc[row, frame.columns[0]] = ""
        text = frame.to_csv(index=False)
    else:
        lines = text.splitlines(keepends=True)
        line = lines[row + 1].rstrip("\n")
        if how == "cut":
            commas = [m.start() for m in re.finditer(",", line)]
            lines = lines[: row + 1] + [line[: data.draw(st.sampled_from(commas[:-1])) + 1]]
        else:
            lines[row + 1] = line + ",extra\n"
        text = "".join(lines)
    path = tmp_path / "broken.csv"
    path.write_text(text, encoding="utf-8")
    rejected(sample_db, kind, path)
