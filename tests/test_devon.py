"""The Devon real-data case loaded into a store (`init --devon`): the same LP answer as on CSV."""

from __future__ import annotations

import json

import pytest

from caremarket.cli import cli
from tests.conftest import shared


def test_init_devon_loads_the_real_case_and_the_store_run_matches_the_csv_run(runner, tmp_path):
    source = shared("devon")
    path = str(tmp_path / "devon.db")
    r = runner.invoke(cli, ["--db", path, "init", "--devon", str(source), "--json"])
    assert r.exit_code == 0, r.output
    imports = {i["kind"]: i["records"] for i in json.loads(r.output)["imports"]}
    assert imports == {"zones": 729, "boundaries": 729, "homecare-providers": 18,
                       "travel": 729 * 18, "postcodes": 49562, "care-homes": 564}

    from caremarket import analyses
    from caremarket.store import open_store
    from data.devon import write_devon

    db = open_store(path)
    try:
        stored = analyses.coverage(db, {"max_minutes": 30, "solver": "highs"})
    finally:
        db.close()
    files = write_devon(source, tmp_path / "csv")
    r = runner.invoke(cli, ["--db", str(tmp_path / "other.db"), "coverage",
                            "--zones", str(files["zones"]),
                            "--providers", str(files["homecare-providers"]),
                            "--travel", str(files["travel"]), "--max-minutes", "30",
                            "--solver", "highs", "--json"])
    assert r.exit_code == 0, r.output
    from_csv = json.loads(r.output)
    assert stored["pairs_from_matrix"] == stored["pairs"] == from_csv["pairs"]
    assert stored["unmet_hours"] == pytest.approx(from_csv["unmet_hours"], rel=1e-9)
    assert stored["travel_hours"] == pytest.approx(from_csv["travel_hours"], rel=1e-6)
    # the estimate is fitted where it decides reach: the defaults (5 min, 45 km/h) scaled by
    # the median routed/estimated ratio of the pairs within 15-45 minutes (docs/optimizer.md)
    fit = stored["travel_fit"]
    assert fit["method"] == "near_limit" and fit["scale"] == pytest.approx(1.1055, abs=1e-3)
    assert fit["access_minutes"] == pytest.approx(5.53, abs=0.01)
    assert fit["crow_kmh"] == pytest.approx(40.70, abs=0.01)
    # every pair is routed: nothing rests on the estimate, no band
    assert stored["reach_routed_share"] == 1.0 and stored["unmet_hours_band"] is None
    # every zone is on the map with its coordinates, cost and unmet hours
    assert len(stored["zones_map"]) == 729
    assert all(z["lat"] is not None for z in stored["zones_map"])
    # a zone no base reaches within 30 minutes has no cost (it cannot be served) and all of its
    # demand unmet; every other zone is costed
    reach = {z["zone_id"]: z["reachable_providers"] for z in stored["zones"]}
    for z in stored["zones_map"]:
        if reach[z["zone_id"]] == 0:
            assert z["cost_per_contact_hour"] is None
            assert z["unmet_hours"] == pytest.approx(z["demand_hours"])
        else:
            assert z["cost_per_contact_hour"] > 0
    unserved = [z for z in stored["zones_map"] if z["unmet_hours"] > 1e-6]
    assert unserved and 0.5 < stored["coverage"] < 1


def test_the_devon_case_has_its_real_care_homes_bases_and_boundaries(tmp_path):
    """The 564 care homes of Devon, Plymouth and Torbay in the 2015 CQC extract with their
    13,620 beds, figures from the documented assumptions, placed by postcode and zoned by LSOA;
    the 18 sites named as bases; equalisation runs on them."""
    import pandas as pd

    from caremarket import analyses
    from caremarket.cases import load_devon
    from caremarket.store import open_store
    from data import devon

    db = open_store(tmp_path / "devon.db")
    try:
        load_devon(db, shared("devon"))
        cqc = pd.read_csv(shared("cqc", "care_homes_oct2015_england.csv"))
        cqc = cqc[cqc["local_authority"].isin(devon.COUNCILS)]
        homes = list(db["care_homes"].rows)
        assert len(homes) == len(cqc) == 564
        assert sum(h["beds"] for h in homes) == cqc["care_homes_beds"].sum() == 13620
        assert sum(h["lat"] is not None for h in homes) >= 560  # placed by postcode
        zones = {z["zone_id"] for z in db["zones"].rows}
        assert all(h["zone_id"] in zones for h in homes)
        # LSOA 2011 codes that are zones give the zone; e.g. the first home of the extract
        by_name = {(h["name"], h["postcode"]): h for h in homes}
        first = by_name[("Highlands Borders Care Home", "EX1 2QE")]
        assert first["zone_id"] == "E01019987" and first["beds"] == 18
        # the Plymouth FCoC medians: dementia band -> residential enhanced (848.74, LQ 782.87)
        k = round(0.055 * 90_000 / 52, 2)
        assert first["capital_cost_per_bed_week"] == k == devon.CAPITAL_PER_BED_WEEK
        assert first["la_fee"] == 782.87 and first["occupancy"] == 0.91
        assert first["cost_per_resident_week"] == pytest.approx(848.74 - k / 0.91, abs=0.01)
        assert first["self_funder_fee"] == pytest.approx(782.87 * 1.41, abs=0.01)
        assert first["self_funder_share"] == 0.53
        bases = list(db["homecare_providers"].rows)
        assert len(bases) == 18 and all(b["name"].startswith("Home-care base at ")
                                        for b in bases)
        assert db["zone_boundaries"].count == 729
        out = analyses.viability(db, {"take_up": 0.5})
        assert out["headline"]["care_homes"] == 564 and out["excluded"]["total"] == 0
        after = out["headline"]["homes_by_class"]["after"]
        assert sum(after.values()) == 564 and after["at risk"] + after["unviable"] > 0
    finally:
        db.close()


def test_init_devon_names_a_missing_file(runner, tmp_path):
    (tmp_path / "devon").mkdir()
    r = runner.invoke(cli, ["--db", str(tmp_path / "x.db"), "init", "--devon",
                            str(tmp_path / "devon")])
    assert r.exit_code == 1
    assert "travel_matrix_car.csv" in r.output
