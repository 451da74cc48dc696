"""The viability commands: JSON contract on the s7 example, errors, the store path and runs."""

from __future__ import annotations

import json
import shutil

import pytest

from caremarket.cli import cli

HEADER = ("provider_id,name,beds,occupancy,self_funder_share,self_funder_fee,la_fee,"
          "cost_per_resident_week,capital_cost_per_bed_week,zone_id\n")
S7_ROW = "H1,Worked Example,40,0.9,0.55,1100,800,780,120,Z1\n"
S7_ARGS = ["--take-up", "0.5", "--convergence", "0.25", "--la-fee-change", "0.03",
           "--cost-change", "0.05"]


@pytest.fixture
def homes_csv(tmp_path):
    path = tmp_path / "homes.csv"
    path.write_text(HEADER + S7_ROW + "H2,Empty Fees,20,0.8,0.5,,700,650,90,Z2\n")
    return path


def invoke(runner, tmp_path, *args):
    return runner.invoke(cli, ["--db", str(tmp_path / "s.db"), *args])


def test_viability_json_on_the_worked_example(runner, tmp_path, homes_csv):
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(homes_csv), *S7_ARGS,
                 "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    (p,) = out["providers"]
    assert p["provider_id"] == "H1"
    for key in ("revenue", "ebitdarm", "margin", "surplus_after_capital", "cross_subsidy",
                "class"):
        assert key in p["baseline"] and key in p["scenario"]
    assert p["baseline"]["revenue"] == pytest.approx(1_806_480.00, rel=1e-6)
    assert p["scenario"]["surplus_after_capital"] == pytest.approx(-133_676.40, rel=1e-6)
    assert p["scenario"]["class"] == "at risk"
    assert p["scenario"]["break_even_la_fee_sf_fixed"] == pytest.approx(922.4943, rel=1e-6)
    assert p["scenario"]["break_even_la_fee"] == pytest.approx(913.963255, rel=1e-6)
    s = out["summary"]
    assert s["homes_by_class"]["before"]["sustainable"] == 1
    assert s["homes_by_class"]["after"]["at risk"] == 1
    assert s["beds_by_class"]["after"]["at risk"] == 40
    assert s["cross_subsidy_before"] == pytest.approx(308_880.0)
    assert s["cross_subsidy_after"] == pytest.approx(106_563.6)
    assert s["extra_la_spend"] > 0
    assert out["excluded_records"][0]["provider_id"] == "H2"
    assert out["run_id"] is None  # a file run is not recorded


def test_text_output(runner, tmp_path, homes_csv):
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(homes_csv), *S7_ARGS)
    assert res.exit_code == 0
    assert "at risk" in res.output and "extra LA spend" in res.output


@pytest.mark.parametrize("row, words", [
    ("H1,Zero,0,0.9,0.5,1100,800,780,120,Z1\n", "H1 ('Zero'): beds must be above 0"),
    ("H1,Full,30,1.3,0.5,1100,800,780,120,Z1\n", "occupancy must be between 0 and 1"),
    ("H1,Cheap,30,0.9,0.5,700,800,780,120,Z1\n", "self_funder_fee 700 is below la_fee 800"),
])
def test_bad_homes_exit_1_naming_home_and_field(runner, tmp_path, row, words):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row)
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(path), "--json")
    assert res.exit_code == 1
    assert words in res.output


def test_strict_and_bad_scenario(runner, tmp_path, homes_csv):
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(homes_csv), "--strict")
    assert res.exit_code == 1 and "H2" in res.output and "self_funder_fee missing" in res.output
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(homes_csv), "--take-up", "2")
    assert res.exit_code == 1 and "take_up" in res.output
    res = invoke(runner, tmp_path, "viability", "--care-homes", str(tmp_path / "none.csv"))
    assert res.exit_code == 1 and "no such file" in res.output


@pytest.fixture
def sample_path(sample_db_file, tmp_path):
    path = tmp_path / "sample.db"
    shutil.copy(sample_db_file, path)
    return path


def test_store_run_is_recorded_with_parameters(runner, sample_path):
    res = runner.invoke(cli, ["--db", str(sample_path), "viability", "--take-up", "0.4",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["source"] == "store" and out["run_id"]
    assert out["summary"]["providers"] + out["excluded"]["total"] == 150
    from caremarket.runs import get_run
    from caremarket.store import open_store

    db = open_store(sample_path)
    run = get_run(db, out["run_id"])
    db.close()
    assert run["kind"] == "viability" and run["input_hash"] == out["input_hash"]
    assert run["params"]["scenario"] == {"take_up": 0.4}  # the levers as asked
    assert run["params"]["options"]["montecarlo_draws"] == 0  # and every option as used
    assert any(p["name"] == "take_up" and p["value"] == 0.4 for p in run["parameters"])


def test_scenarios_save_list_compare_sweep_montecarlo(runner, sample_path):
    db = ["--db", str(sample_path)]
    assert runner.invoke(cli, [*db, "scenario", "save", "half", "--take-up", "0.5",
                               "--description", "half take-up"]).exit_code == 0
    assert runner.invoke(cli, [*db, "scenario", "save", "full", "--take-up", "1",
                               "--set", "convergence=0.5"]).exit_code == 0
    res = runner.invoke(cli, [*db, "scenario", "list", "--json"])
    names = [s["name"] for s in json.loads(res.output)["scenarios"]]
    # the sample market ships the scenarios of its report; the list is sorted by name
    assert names == sorted(names) and {"full", "half"} <= set(names)
    res = runner.invoke(cli, [*db, "scenario", "compare", "half", "full", "--json"])
    assert res.exit_code == 0, res.output
    cols = json.loads(res.output)["columns"]
    assert list(cols) == ["baseline", "half", "full"]
    assert cols["full"]["cross_subsidy"] == 0.0
    res = runner.invoke(cli, [*db, "scenario", "compare", "nope"])
    assert res.exit_code == 1 and "no scenario called 'nope'" in res.output
    res = runner.invoke(cli, [*db, "sweep", "--scenario", "half", "--parameter", "convergence",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out["table"]) == 21 and out["run_id"]
    res = runner.invoke(cli, [*db, "montecarlo", "--draws", "2000", "--seed", "3",
                              "--no-homes", "--json"])
    assert res.exit_code == 0, res.output
    a = json.loads(res.output)
    b = json.loads(runner.invoke(cli, [*db, "montecarlo", "--draws", "2000", "--seed", "3",
                                       "--no-homes", "--json"]).output)
    assert a["market"] == b["market"]
    res = runner.invoke(cli, [*db, "montecarlo", "--take-up-dist", "gamma:1"])
    assert res.exit_code == 1 and "unknown distribution" in res.output


def test_exits_on_the_sample_market(runner, sample_path):
    res = runner.invoke(cli, ["--db", str(sample_path), "exits", "--take-up", "0.6",
                              "--convergence", "0.5", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["unmet_after"] >= out["unmet_before"]
    assert out["exited"]
