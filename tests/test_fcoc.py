"""Fair Cost of Care summaries (market/fcoc.py): QUARTILE.INC, Tukey fences, Annex B tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market import fcoc
from market.fcoc import CostReturn


def hc(pid: str, **lines: float) -> CostReturn:
    return CostReturn(pid, "homecare", lines)


def test_quartile_inc_on_hand_checked_sets():
    # even count: positions (n-1)q = 0.75, 1.5, 2.25
    assert fcoc.quartiles([4, 1, 3, 2]) == {"lower_quartile": 1.75, "median": 2.5,
                                            "upper_quartile": 3.25}
    assert fcoc.quartiles([5, 1, 4, 2, 3]) == {"lower_quartile": 2.0, "median": 3.0,
                                               "upper_quartile": 4.0}
    assert fcoc.quartiles([7.5]) == {"lower_quartile": 7.5, "median": 7.5, "upper_quartile": 7.5}
    # ties: [2, 2, 2, 10] -> Q3 at 2.25: 2 + 0.25 x 8 = 4
    assert fcoc.quartiles([2, 2, 10, 2]) == {"lower_quartile": 2.0, "median": 2.0,
                                             "upper_quartile": 4.0}
    assert fcoc.quartiles([]) is None and fcoc.quartiles([float("nan")]) is None


def test_tukey_fences_flag_the_outlier_and_excluding_it_changes_only_it():
    returns = [hc("A", direct_care=2), hc("B", direct_care=2), hc("C", direct_care=2),
               hc("D", direct_care=10)]
    s = fcoc.summarise_group(returns, providers=8)
    assert s["fences"] == [-1.0, 7.0]  # Q1 2, Q3 4, IQR 2
    assert s["outliers"] == [{"provider_id": "D", "total": 10.0, "side": "high"}]
    assert s["returns"] == 4 and s["total"]["median"] == 2.0
    assert s["response_rate"] == 0.5
    x = fcoc.summarise_group(returns, providers=8, exclude_outliers=True)
    assert x["returns"] == 3 and x["outliers_excluded"] and x["total"]["upper_quartile"] == 2.0
    assert x["outliers"] == s["outliers"]  # still listed


def test_line_quartiles_are_over_each_lines_own_values_and_need_not_add_up():
    returns = [hc("A", direct_care=10, travel_time=1), hc("B", direct_care=11, travel_time=5),
               hc("C", direct_care=14, travel_time=2)]
    s = fcoc.summarise_group(returns)
    assert [r.total for r in returns] == [11, 16, 16]
    assert s["lines"]["direct_care"]["median"] == 11.0
    assert s["lines"]["travel_time"]["median"] == 2.0
    assert s["total"]["median"] == 16.0 != 11.0 + 2.0  # as Annex B: line medians don't add up
    assert list(s["lines"]) == ["direct_care", "travel_time"]  # the template's order


def test_a_line_missing_from_some_returns_is_summarised_over_the_returns_that_have_it():
    returns = [hc("A", direct_care=10, mileage=1.0), hc("B", direct_care=12), hc("C")]
    s = fcoc.summarise_group(returns)
    assert s["lines"]["mileage"] == {"lower_quartile": 1.0, "median": 1.0,
                                     "upper_quartile": 1.0, "returns": 1}
    assert s["returns"] == 2 and s["excluded"]["by_reason"]["no_cost_lines"]["ids"] == ["C"]


def test_summarise_groups_care_homes_by_category_and_counts_providers():
    rs = [CostReturn("H1", "care_home", {"care_staff": 500, "food": 50}, "residential"),
          CostReturn("H2", "care_home", {"care_staff": 700}, "nursing"),
          CostReturn("X9", "care_home", {"care_staff": 600}, "residential", in_store=False)]
    s = fcoc.summarise(rs, {"homecare": 10, "residential": 4, "nursing": 2})
    res = s["care_homes"]["residential"]
    assert res["returns"] == 2 and res["not_in_store"] == ["X9"]
    assert res["response_rate"] == 0.25  # only returns from providers in the store count
    assert s["care_homes"]["nursing"]["total"]["median"] == 700
    assert s["care_homes"]["residential_enhanced"]["returns"] == 0
    assert s["care_homes"]["residential_enhanced"]["providers"] == 4  # same homes can return
    assert s["homecare"]["total"] is None


def test_fee_gap_and_trajectory_by_hand():
    g = fcoc.fee_gap(26.24, 20.0)
    assert g["gap"] == 6.24 and g["gap_share"] == pytest.approx(0.312)
    # from 20 to a target of 26 (then 27) over two years, 1,000 hours a year
    rows = fcoc.trajectory(20.0, lambda y: 26.0 if y == 2026 else 27.0, 1000, 2, 2026)
    assert rows == [{"year": 2026, "target": 26.0, "rate": 23.0, "extra_cost": 3000.0},
                    {"year": 2027, "target": 27.0, "rate": 27.0, "extra_cost": 7000.0}]
    # uprating: 60% staff by pay x1.1, 40% by prices x1.05 -> 100 x (0.66 + 0.42) = 108
    assert fcoc.uprate(100, 0.6, 1.1, 1.05) == pytest.approx(108.0)


finite = st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=40))
def test_quartiles_are_ordered_and_within_the_range(xs):
    q = fcoc.quartiles(xs)
    assert min(xs) - 1e-9 <= q["lower_quartile"] <= q["median"] <= q["upper_quartile"] \
        <= max(xs) + 1e-9


@given(st.lists(finite, min_size=1, max_size=30))
def test_excluding_outliers_drops_exactly_the_flagged_returns(xs):
    returns = [hc(f"P{i}", direct_care=x) for i, x in enumerate(xs)]
    keep = fcoc.summarise_group(returns)
    drop = fcoc.summarise_group(returns, exclude_outliers=True)
    flagged = {o["provider_id"] for o in keep["outliers"]}
    assert drop["returns"] == keep["returns"] - len(flagged)
    assert drop["outliers"] == keep["outliers"]
    if not flagged:
        assert drop["total"] == keep["total"]


# -- the store, the CLI, the API and the page ---------------------------------------------------

import csv  # noqa: E402
import json  # noqa: E402

from caremarket import fair_cost  # noqa: E402
from caremarket.cli import cli  # noqa: E402
from caremarket.importers import import_file  # noqa: E402
from caremarket.store import dump  # noqa: E402
from market.errors import ImportRejected  # noqa: E402
from tests.conftest import bearer, login, shared  # noqa: E402

PUBLISHED = {"homecare": ("Herefordshire", "18+ homecare"),
             "residential": ("Herefordshire", "65+ residential"),
             "residential_enhanced": ("Herefordshire", "65+ residential enhanced"),
             "nursing": ("Herefordshire", "65+ nursing"),
             "nursing_enhanced": ("Herefordshire", "65+ nursing enhanced")}


def published_medians() -> dict[str, float]:
    path = shared("fees", "fcoc_2022_extracted_medians.csv")
    if not path.exists():
        pytest.skip("shared FCoC medians not present")
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for group, (council, service) in PUBLISHED.items():
        row = next(r for r in rows if r["council"] == council and r["service"] == service
                   and r["metric"] == "total cost")
        out[group] = (float(row["median"]), int(row["n_responses"]))
    return out


def test_the_sample_returns_reproduce_herefordshires_published_medians(sample_db):
    out = fair_cost.fcoc(sample_db, {"as_of": "2026-12-01"})
    groups = {"homecare": out["summary"]["homecare"], **out["summary"]["care_homes"]}
    for group, (median, n) in published_medians().items():
        assert round(groups[group]["total"]["median"], 2) == median, group
        assert groups[group]["returns"] == n, group
    assert out["summary"]["homecare"]["not_in_store"] == ["HC-EXT1"]


def test_fees_gap_and_cost_by_hand_on_the_sample(sample_db):
    from market.parameters import uprating

    out = fair_cost.fcoc(sample_db, {"as_of": "2026-12-01", "years": 2})
    fee = out["against_fees"]["residential"]
    assert fee["la_rate"] == 812.0 and fee["rate"]["effective_from"] == "2025-04-01"
    pay, prices, _ = uprating("2022-04-01", "2026-04-01")
    assert pay == pytest.approx(12.71 / 9.50)
    assert prices == pytest.approx(1.087 * 1.023 * 1.035 * 1.02)  # April 2026 assumed 2%
    share = fee["staff_share"]
    expected = 772.14 * (share * pay + (1 - share) * prices)
    assert fee["median"] == pytest.approx(expected, abs=0.01)  # staff_share shown to 4 dp
    assert fee["cost_now"] == pytest.approx((fee["median"] - 812.0) * fee["units_a_year"],
                                            rel=1e-6)
    assert [t["year"] for t in fee["trajectory"]] == [2026, 2027]
    assert out["assumptions"]  # the assumed April 2026 CPI rise is said
    assert out["against_fees"]["nursing_enhanced"]["cost_now"] is None


def test_cli_api_and_page_give_the_same_figures(app, client, api_token, runner):
    db_path = app.config["DATABASE"]
    res = runner.invoke(cli, ["--db", db_path, "fcoc", "--as-of", "2026-12-01", "--years", "2",
                              "--json"])
    assert res.exit_code == 0, res.output
    cli_out = json.loads(res.output)
    api = client.get("/api/v1/fcoc?as_of=2026-12-01&years=2",
                     headers=bearer(api_token("viewer")))
    assert api.status_code == 200
    assert api.get_json() == cli_out
    bad = client.get("/api/v1/fcoc?years=40", headers=bearer(api_token("viewer")))
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "years"
    pages = app.test_client()
    login(pages, "viewer")
    html = pages.get("/fcoc?as_of=2026-12-01&years=2").get_data(as_text=True)
    assert "£{:,.0f}".format(cli_out["cost_now_total"]) in html
    assert "£26.24" in html and "£772.14" in html
    assert client.get("/fcoc").status_code in (302, 401)  # no login, no figures


def _write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerows(rows)
    return path


def test_a_bad_returns_file_is_rejected_and_leaves_the_store_as_it_was(sample_db, tmp_path):
    before = dump(sample_db)
    cases = {
        "inf": [["provider_id", "direct_care"], ["HC001", "inf"]],
        "too big": [["provider_id", "direct_care"], ["HC001", "1e400"]],
        "negative": [["provider_id", "direct_care"], ["HC001", "-2"]],
        "over range": [["provider_id", "direct_care"], ["HC001", "501"]],
        "no lines": [["provider_id", "name"], ["HC001", "x"]],
        "duplicate": [["provider_id", "direct_care"], ["HC001", "10"], ["HC001", "11"]],
        "no provider": [["provider", "direct_care"], ["HC001", "10"]],
        "cut mid-row": [["provider_id", "direct_care", "mileage"], ["HC001", "10", "1"],
                        ["HC002", "1"]],
    }
    for name, rows in cases.items():
        with pytest.raises(ImportRejected):
            import_file(sample_db, "homecare-returns", _write(tmp_path / "r.csv", rows))
        assert dump(sample_db) == before, name
    with pytest.raises(ImportRejected, match="category"):
        import_file(sample_db, "care-home-returns", _write(
            tmp_path / "c.csv", [["provider_id", "category", "care_staff"],
                                 ["CH001", "hospice", "500"]]))
    assert dump(sample_db) == before


def test_a_blank_line_keeps_what_the_return_stored(sample_db, tmp_path):
    import_file(sample_db, "homecare-returns", _write(
        tmp_path / "a.csv", [["provider_id", "direct_care", "mileage"], ["NEW1", "12", "1.5"]]))
    s = import_file(sample_db, "homecare-returns", _write(
        tmp_path / "b.csv", [["provider_id", "direct_care", "mileage"], ["NEW1", "13", ""]]))
    row = sample_db["cost_returns"].get("NEW1:homecare")
    assert json.loads(row["lines"]) == {"direct_care": 13.0, "mileage": 1.5}
    assert row["total"] == 14.5
    assert any("not in the store" in n for n in s.notes)
