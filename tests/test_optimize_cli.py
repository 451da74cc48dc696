"""`caremarket coverage` and `caremarket locate`: CSV input, the store, the Devon real-data case."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from caremarket.cli import cli
from market.rurality import fold_rurality
from tests.conftest import shared
from tests.test_travel import devon_matrix


def run_json(runner, args):
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def small_csvs(tmp_path):
    zones = pd.DataFrame({"zone_id": ["A", "B", "far"], "lat": [50.0, 50.1349, 52.0],
                          "lon": [-3.0, -3.0, -3.0], "rurality": ["urban", "village", "sparse"],
                          "demand_hours": [100, 50, 30]})
    provs = pd.DataFrame({"provider_id": ["P", "Q"], "name": ["P care", "Q care"],
                          "lat": [50.0, 50.1349], "lon": [-3.0, -3.0],
                          "capacity_hours": [120, 40]})
    zones.to_csv(tmp_path / "zones.csv", index=False)
    provs.to_csv(tmp_path / "providers.csv", index=False)
    return tmp_path


def test_coverage_from_csv_prints_one_json_object(runner, small_csvs):
    d = run_json(runner, ["--db", str(small_csvs / "x.db"), "coverage",
                          "--zones", str(small_csvs / "zones.csv"),
                          "--providers", str(small_csvs / "providers.csv"), "--json"])
    for key in ("demand_hours", "met_hours", "unmet_hours", "coverage", "travel_hours",
                "zones", "providers"):
        assert key in d
    assert d["demand_hours"] == 180
    assert d["care_gaps"][0]["zone_id"] == "far"
    z = {r["zone_id"]: r for r in d["zones"]}
    assert z["far"]["unmet_hours"] == pytest.approx(30)
    assert {"travel_minutes_per_contact_hour", "marginal_travel_hours"} <= set(z["A"])
    assert {"provider_id", "capacity_hours", "contact_hours", "used_hours",
            "utilisation"} <= set(d["providers"][0])
    assert "run_id" not in d


def test_coverage_levers_and_solvers_from_the_command_line(runner, small_csvs):
    base = ["--db", str(small_csvs / "x.db"), "coverage", "--zones",
            str(small_csvs / "zones.csv"), "--providers", str(small_csvs / "providers.csv"),
            "--json"]
    a = run_json(runner, base + ["--solver", "cbc"])
    b = run_json(runner, base + ["--solver", "highs"])
    assert a["unmet_hours"] == pytest.approx(b["unmet_hours"], rel=1e-6)
    exit_ = run_json(runner, base + ["--remove-provider", "Q"])
    assert exit_["unmet_hours"] > a["unmet_hours"] + 1
    more = run_json(runner, base + ["--capacity", "P=400", "--max-minutes", "400"])
    assert more["unmet_hours"] == pytest.approx(0, abs=1e-4)
    fair = run_json(runner, base + ["--variant", "fair", "--visit-minutes", "30"])
    assert fair["variant"] == "fair" and fair["parameters"]["visit_minutes"] == 30
    text = runner.invoke(cli, base[:-1])
    assert text.exit_code == 0 and "coverage" in text.output and "far" in text.output


def test_coverage_errors_exit_nonzero_with_where_and_what(runner, small_csvs):
    bad = small_csvs / "travel.csv"
    bad.write_text("provider_id,zone_id,minutes\nP,A,10\nP,nowhere,12\nQ,B,-4\n")
    args = ["--db", str(small_csvs / "x.db"), "coverage", "--zones",
            str(small_csvs / "zones.csv"), "--providers", str(small_csvs / "providers.csv"),
            "--travel", str(bad), "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "travel.csv" in result.output and "row 4" in result.output
    assert "cannot be negative" in result.output
    result = runner.invoke(cli, args[:7] + ["--capacity", "Z=5"])
    assert result.exit_code == 1 and "unknown home-care provider" in result.output
    zones = small_csvs / "bad_zones.csv"
    zones.write_text("zone_id,demand_hours\nA,lots\n")
    result = runner.invoke(cli, ["--db", str(small_csvs / "x.db"), "coverage", "--zones",
                                 str(zones), "--providers", str(small_csvs / "providers.csv")])
    assert result.exit_code == 2 and "row 2" in result.output and "lots" in result.output


def test_coverage_on_the_store_records_the_run(runner, sample_db, tmp_path):
    from caremarket.runs import get_run
    from caremarket.store import content_hash

    path = sample_db.execute("pragma database_list").fetchone()[2]
    d = run_json(runner, ["--db", path, "coverage", "--json", "--max-providers-per-zone", "20"])
    run = get_run(sample_db, d["run_id"])
    assert run["kind"] == "coverage" and run["status"] == "done"
    assert run["input_hash"] == content_hash(sample_db)
    assert run["result"]["unmet_hours"] == pytest.approx(d["unmet_hours"])
    assert any(p["name"] == "visit_minutes" for p in run["parameters"])
    assert run["params"]["levers"]["max_providers_per_zone"] == 20
    assert d["demand_hours"] > 0 and 0 < d["coverage"] <= 1
    text = runner.invoke(cli, ["--db", path, "coverage"])
    assert text.exit_code == 0 and f"run {d['run_id'] + 1}" in text.output


def test_devon_real_matrix_from_the_cli(runner, tmp_path):
    long, zones, sites = devon_matrix()
    ruc = pd.read_csv(shared("devon", "ruc2021_lsoa21_devon_area.csv"))
    rur = {r.lsoa21_code: fold_rurality(r.ruc21_code, r.classification)
           for r in ruc.itertuples()}
    pop = pd.read_csv(shared("devon", "demand_MF_50_84.csv"))
    people = dict(zip(pop["LSOA 2021 Code"], pop["MF50-84"], strict=True))
    zones["rurality"] = zones["zone_id"].map(rur)
    # about 6 contact hours a week per 100 people aged 50-84
    zones["demand_hours"] = (0.06 * zones["zone_id"].map(people)).round(2)
    assert zones["rurality"].notna().all() and zones["demand_hours"].notna().all()
    demand = zones["demand_hours"].sum()
    sites["name"] = sites["provider_id"]
    sites["capacity_hours"] = round(1.4 * demand / 18, 1)
    zones.to_csv(tmp_path / "zones.csv", index=False)
    sites.to_csv(tmp_path / "providers.csv", index=False)
    long.to_csv(tmp_path / "travel.csv", index=False)
    d = run_json(runner, ["--db", str(tmp_path / "x.db"), "coverage",
                          "--zones", str(tmp_path / "zones.csv"),
                          "--providers", str(tmp_path / "providers.csv"),
                          "--travel", str(tmp_path / "travel.csv"), "--max-minutes", "30",
                          "--json"])
    assert d["zones_count"] == 729 and d["providers_count"] == 18
    assert d["pairs_from_matrix"] == d["pairs"]  # every pair is in the matrix
    fit = d["travel_fit"]
    assert fit["pairs"] == 729 * 18
    assert fit["method"] == "near_limit" and fit["pairs_fitted"] < fit["pairs"]
    assert fit["access_minutes"] == pytest.approx(5.53, abs=0.01)
    assert fit["crow_kmh"] == pytest.approx(40.70, abs=0.01)
    assert d["reach_routed_share"] == 1.0 and d["unmet_hours_band"] is None
    assert d["demand_hours"] == pytest.approx(demand)
    # zones beyond 30 minutes of every site can only go unmet
    t = long.pivot(index="zone_id", columns="provider_id", values="minutes").min(axis=1)
    z = pd.DataFrame(d["zones"]).set_index("zone_id")
    far = t[t > 30].index
    assert len(far) > 0
    assert (z.loc[far, "reachable_providers"] == 0).all()
    assert z.loc[far, "unmet_hours"].sum() == pytest.approx(z.loc[far, "demand_hours"].sum())
    assert 0.5 < d["coverage"] < 1
    assert d["travel_minutes_per_contact_hour"] > 10


def test_locate_spopt_from_a_cost_csv(runner, tmp_path):
    src = shared("benchmarks", "spopt_sf",
                 "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    base = ["locate", "--costs", str(src), "--demand-col", "DestinationName", "--site-col",
            "name", "--cost-col", "distance", "--json"]
    d = run_json(runner, ["--db", str(tmp_path / "x.db"), *base[:1], "pmedian", *base[1:],
                          "-p", "4", "--weights", "demand"])
    assert d["mean_cost"] == pytest.approx(2982.1268579890657, rel=1e-12)
    assert sorted(d["sites"]) == sorted(["Store_2", "Store_11", "Store_12", "Store_15"])
    d = run_json(runner, ["--db", str(tmp_path / "x.db"), "locate", "mclp", *base[1:], "-p",
                          "4", "--radius", "5000", "--weights", "demand"])
    assert d["uncovered_count"] == 21
    d = run_json(runner, ["--db", str(tmp_path / "x.db"), "locate", "lscp", *base[1:],
                          "--radius", "5000"])
    assert d["objective"] == 8 and len(d["sites"]) == 8


def test_locate_orlib(runner, tmp_path):
    d = run_json(runner, ["--db", str(tmp_path / "x.db"), "locate", "pmedian", "--orlib",
                          str(shared("benchmarks", "orlib", "pmed1.txt")), "--json"])
    assert d["objective"] == 5819 and len(d["sites"]) == 5
    r = runner.invoke(cli, ["--db", str(tmp_path / "x.db"), "locate", "mclp", "--orlib",
                            str(shared("benchmarks", "orlib", "pmed1.txt"))])
    assert r.exit_code != 0 and "--radius" in r.output


def test_coverage_json_with_highs_is_one_json_object_on_stdout(tmp_path):
    """HiGHS prints a banner when it starts; it must never reach stdout under --json."""
    import subprocess
    import sys

    from data.generate import write_sample

    paths = write_sample(tmp_path)
    exe = str(Path(sys.executable).with_name("caremarket"))
    out = subprocess.run([exe, "--db", str(tmp_path / "x.db"), "coverage", "--zones",
                          str(paths["zones"]), "--providers", str(paths["homecare-providers"]),
                          "--solver", "highs", "--json"], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout)["coverage"] > 0  # stdout parses whole


def test_locate_pmedian_time_out_exit_code(runner, tmp_path):
    r = runner.invoke(cli, ["--db", str(tmp_path / "x.db"), "locate", "pmedian", "--orlib",
                            str(shared("benchmarks", "orlib", "pmed36.txt")),
                            "--time-limit", "0.05", "--json"])
    assert r.exit_code == 3
    d = json.loads(r.stdout)
    assert d["status"] == "time_limit" and d["time_limit"] == 0.05 and len(d["sites"]) == 10
    # the note quotes the limit asked for, not the seconds left when a phase began
    assert "time limit of 0.05 s reached" in r.stderr


def test_locate_pmedian_exit_codes_and_formulations(runner, tmp_path):
    """The exit-code contract of docs/optimizer.md: 0 solved, 1 invalid data, 2 usage, 3
    time limit (above); every formulation gives the published optimum."""
    pmed1 = str(shared("benchmarks", "orlib", "pmed1.txt"))
    db = ["--db", str(tmp_path / "x.db")]
    for formulation in ("auto", "lagrangian", "radius", "assignment"):
        r = runner.invoke(cli, [*db, "locate", "pmedian", "--orlib", pmed1, "--formulation",
                                formulation, "--json"])
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        assert d["objective"] == 5819 and d["status"] == "optimal" and d["gap"] == 0.0
        assert d["formulation"] == ("lagrangian" if formulation == "auto" else formulation)
    r = runner.invoke(cli, [*db, "locate", "pmedian", "--orlib", pmed1, "-p", "101"])
    assert r.exit_code == 1 and "p must be between" in r.output
    r = runner.invoke(cli, [*db, "locate", "pmedian", "--orlib", pmed1, "--formulation",
                            "covering"])
    assert r.exit_code == 2
