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
    assert imports == {"zones": 729, "homecare-providers": 18, "travel": 729 * 18}

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


def test_init_devon_names_a_missing_file(runner, tmp_path):
    (tmp_path / "devon").mkdir()
    r = runner.invoke(cli, ["--db", str(tmp_path / "x.db"), "init", "--devon",
                            str(tmp_path / "devon")])
    assert r.exit_code == 1
    assert "travel_matrix_car.csv" in r.output
