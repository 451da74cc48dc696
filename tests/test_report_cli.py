"""`caremarket report ...` and `caremarket scheduler`: JSON contracts, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from caremarket import reports as R
from caremarket.cli import cli
from caremarket.store import open_store
from tests.conftest import ROOT


@pytest.fixture
def store(sample_db_file, tmp_path):
    path = tmp_path / "cli.db"
    shutil.copy(sample_db_file, path)
    return path


def run(runner, store, *args):
    return runner.invoke(cli, ["--db", str(store), *args], catch_exceptions=False)


def test_report_list_json(runner, store):
    res = run(runner, store, "report", "list", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    msp, d = out["reports"]  # by name: the evidence pack's definition ships with the sample
    assert msp["name"] == R.SAMPLE_MSP and msp["report_type"] == "msp" and msp["runs"] == 0
    assert d["name"] == R.SAMPLE_REPORT and d["cron"] == "0 6 * * 1" and d["enabled"]
    assert d["scenarios"] == [s[0] for s in R.SAMPLE_SCENARIOS]
    assert d["latest_done_run"]["trigger"] == "sample" and d["runs"] == 1
    text = run(runner, store, "report", "list").output
    assert R.SAMPLE_REPORT in text and "0 6 * * 1" in text


def test_report_run_json_is_one_object_with_a_headline(runner, store):
    res = run(runner, store, "report", "run", R.SAMPLE_REPORT, "--json", "--user", "cli-test")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)  # exactly one JSON object on stdout
    assert out["status"] == "done" and out["trigger"] == "manual" and out["run_by"] == "cli-test"
    h = out["headline"]
    assert isinstance(h, dict) and h["scenarios"] == [s[0] for s in R.SAMPLE_SCENARIOS]
    measures = {r["measure"] for r in h["rows"]}
    assert {"cross_subsidy_lost", "extra_la_spend", "beds_at_risk_after",
            "homes_by_class.after.unviable", "coverage_after", "unmet_hours_after"} <= measures
    for row in h["rows"]:
        for sc in h["scenarios"]:
            assert row["values"][sc] == R.headline_value(out["results"][sc]["headline"],
                                                          row["measure"])
    assert out["changes"]["previous"]["id"] < out["id"] and not out["changes"]["changed"]
    db = open_store(store)
    assert R.get_run(db, out["id"])["headline"] == h
    db.close()

    res = run(runner, store, "report", "show", str(out["id"]), "--json")
    assert json.loads(res.output)["headline"] == h
    text = run(runner, store, "report", "show", str(out["id"])).output
    assert "Cross-subsidy at risk (lost)" in text and out["input_hash"] in text
    history = json.loads(run(runner, store, "report", "history", R.SAMPLE_REPORT,
                             "--json").output)
    assert [i["id"] for i in history["items"]][0] == out["id"] and history["total"] == 2
    cmp = json.loads(run(runner, store, "report", "compare",
                         str(history["items"][1]["id"]), str(out["id"]), "--json").output)
    assert not cmp["changes"]["changed"]


def test_report_create_export_and_errors(runner, store, tmp_path):
    import openpyxl

    scenario = R.SAMPLE_SCENARIOS[0][0]
    res = run(runner, store, "report", "create", "Daily", "--scenario", scenario,
              "--cron", "0 7 * * 1-5", "--measures", "cross_subsidy,classes", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["measures"] == ["cross_subsidy", "classes"]
    for args, message in [
            (("report", "create", "Bad", "--scenario", scenario, "--cron", "0 7 * *"),
             "give 5 fields"),
            (("report", "create", "Bad", "--scenario", "Nope", "--cron", "0 7 * * *"),
             "unknown scenario(s) 'Nope'"),
            (("report", "run", "Nope"), "no report called 'Nope'"),
            (("report", "show", "99999"), "no report run 99999"),
            (("report", "edit", "Daily", "--cron", "61 * * * *"), "higher than the maximum")]:
        res = runner.invoke(cli, ["--db", str(store), *args])
        assert res.exit_code == 1, (args, res.output)
        assert message in res.output, res.output
    res = run(runner, store, "report", "edit", "Daily", "--disable")
    assert res.exit_code == 0 and "disabled" in res.output

    out = json.loads(run(runner, store, "report", "run", "Daily", "--json").output)
    xlsx, full, one = tmp_path / "r.xlsx", tmp_path / "r.csv", tmp_path / "h.csv"
    for path, extra in ((xlsx, ()), (full, ()), (one, ("--table", "headline"))):
        res = run(runner, store, "report", "export", str(out["id"]), str(path), *extra)
        assert res.exit_code == 0, res.output
    figures = {(sc, r["measure"]): v for r in out["headline"]["rows"]
               for sc, v in r["values"].items()}
    rows = list(csv.DictReader(io.StringIO(full.read_text())))
    assert {(r["scenario"], r["measure"]): float(r["value"]) for r in rows
            if r["section"] == "headline"} == figures
    wide = list(csv.reader(io.StringIO(one.read_text())))
    assert wide[0] == ["measure", "label", "unit", scenario] and len(wide) == len(figures) + 1
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    assert wb.sheetnames[0] == "Headline"
    wb.close()

    # a failing run: recorded, reported on stderr, exit code 1
    db = open_store(store)
    db.execute("delete from scenarios where name = ?", [scenario])
    db.conn.commit()
    db.close()
    res = runner.invoke(cli, ["--db", str(store), "report", "run", "Daily"])
    assert res.exit_code == 1 and "failed: no scenario called" in res.output
    history = run(runner, store, "report", "history", "Daily").output
    assert "failed" in history and "no scenario called" in history
    res = run(runner, store, "report", "delete", "Daily")
    assert res.exit_code == 0


def test_the_scheduler_command_runs_until_it_is_stopped(store):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "caremarket", "--db", str(store),
                             "scheduler"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        jobs: list[str] = []
        while time.time() < deadline and len(jobs) < 2:  # the weekly report and the pack
            time.sleep(0.3)
            db = open_store(store, migrate_schema=False)
            if "apscheduler_jobs" in db.table_names():
                jobs = [r[0] for r in db.execute("select id from apscheduler_jobs")]
            db.close()
            assert proc.poll() is None, proc.communicate()
        assert sorted(jobs) == [f"report:{R.SAMPLE_MSP}", f"report:{R.SAMPLE_REPORT}"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "report scheduler on" in out and "report scheduler stopped" in out
