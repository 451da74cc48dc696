"""Strict rows: a file cut off mid-row, or with a row of extra fields, is rejected whole and the
store is left as it was; a blank cell in an upsert never erases a stored value."""

from __future__ import annotations

import pytest

from caremarket.importers import import_file
from caremarket.store import dump
from data.generate import write_sample
from market.errors import ImportRejected
from tests.conftest import shared

KINDS = ("zones", "homecare-providers", "care-homes", "sites", "fees", "self-funders")


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("sample"))


def cut(path, share, out):
    """The first `share` of the file's bytes, cut inside a row, before its last field (a cut
    inside the last field leaves a row of the right width: no importer can tell it from a
    whole row, and that limit is in the README)."""
    raw = path.read_bytes()
    end = int(len(raw) * share)
    line_start = raw.rfind(b"\n", 0, end) + 1
    first_comma = raw.find(b",", line_start)
    out.write_bytes(raw[: first_comma + 1])  # the row stops after its first field
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_cut_off_mid_row_is_rejected_and_changes_nothing(sample_db, sample_files,
                                                                 tmp_path, kind):
    src = sample_files[kind]
    broken = cut(src, 0.6, tmp_path / src.name)
    if broken.read_bytes().count(b"\n") < 1:
        pytest.skip("file too short to cut inside a data row")
    before = dump(sample_db)
    with pytest.raises(ImportRejected) as exc:
        import_file(sample_db, kind, broken)
    msg = str(exc.value)
    assert "the header has" in msg and "cut off" in msg
    assert dump(sample_db) == before


def test_the_real_cqc_file_cut_off_mid_row_is_rejected(sample_db, tmp_path):
    src = shared("cqc", "cqc_ratings_lincolnshire_2026.csv")
    if not src.exists():
        pytest.skip("shared CQC file not present")
    before = dump(sample_db)
    with pytest.raises(ImportRejected, match="the header has"):
        import_file(sample_db, "cqc", cut(src, 0.5, tmp_path / "cqc.csv"))
    assert dump(sample_db) == before


def test_a_row_with_an_extra_field_is_rejected(sample_db, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,name,lat,lon,capacity_hours\nS1,One,53.0,-0.3,100\n"
                    "S2,Two,53.1,-0.2,100,oops\n", encoding="utf-8")
    before = dump(sample_db)
    with pytest.raises(ImportRejected, match="row 3 has 6 fields, the header has 5"):
        import_file(sample_db, "sites", path)
    assert dump(sample_db) == before


def test_many_bad_rows_are_listed_up_to_200_and_counted(sample_db, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,name,lat,lon,capacity_hours\n" + "S1,One\n" * 500,
                    encoding="utf-8")
    with pytest.raises(ImportRejected) as exc:
        import_file(sample_db, "sites", path)
    assert len(exc.value.problems) == 200 and exc.value.total == 500
    assert "and 300 more; 500 problems in all" in str(exc.value)


def test_a_blank_cell_keeps_the_stored_value(sample_db, tmp_path):
    home = sample_db.execute("select provider_id, name, beds, occupancy, la_fee from care_homes "
                             "order by provider_id limit 1").fetchone()
    path = tmp_path / "homes.csv"
    path.write_text(f"provider_id,name,beds,occupancy,la_fee\n{home[0]},{home[1]},{home[2]},,\n",
                    encoding="utf-8")
    import_file(sample_db, "care-homes", path)
    row = sample_db["care_homes"].get(home[0])
    assert row["occupancy"] == home[3] and row["la_fee"] == home[4]
