"""The cost-of-care rates against the published build-ups they come from, the FCoC back-test on
hand-checkable numbers, and docs/parameters.md kept equal to what the script regenerates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from market.backtest import (
    HCA_2020_21,
    HCA_2025_26,
    PREVIOUS,
    backtest,
    council_inputs,
    councils,
    fcoc_implied_rates,
    implied_rates,
    parameter_table,
)
from market.parameters import DEFAULTS, defaults
from tests.conftest import ROOT, shared

FCOC = ("fees", "fcoc_2022_extracted_medians.csv")


def test_hca_2020_21_line_items_by_hand():
    r = implied_rates(HCA_2020_21)
    assert r["on_cost_rate"] == pytest.approx((1.14 + 1.97) / (8.72 + 1.70))  # 0.2985
    assert r["overhead_rate"] == pytest.approx(5.20 / (8.72 + 1.70 + 1.14 + 1.97 + 1.36))
    assert r["surplus_rate"] == pytest.approx(0.60 / 20.09)
    # the lines add up to the published 20.69
    assert sum(HCA_2020_21.lines.values()) == pytest.approx(20.69)


def test_hca_2025_26_totals_give_overheads_only():
    r = implied_rates(HCA_2025_26)
    assert r["overhead_rate"] == pytest.approx(32.14 / 1.03 / 22.71 - 1)  # 0.374
    assert r["on_cost_rate"] != r["on_cost_rate"]  # NaN: not published line by line


def test_defaults_lie_within_the_published_build_ups():
    d = defaults()
    fc = {c.council: fcoc_implied_rates(c) for c in councils(pd.read_csv(shared(*FCOC)))}
    on = [implied_rates(HCA_2020_21)["on_cost_rate"], fc["Herefordshire"]["on_cost_rate"]]
    over = [implied_rates(HCA_2020_21)["overhead_rate"], implied_rates(HCA_2025_26)[
        "overhead_rate"], fc["Herefordshire"]["overhead_rate"], fc["Rutland"]["overhead_rate"]]
    assert min(on) - 0.02 <= d["on_cost_rate"] <= max(on) + 0.02
    assert min(over) <= d["overhead_rate"] <= max(over)
    assert d["surplus_rate"] == pytest.approx(implied_rates(HCA_2020_21)["surplus_rate"],
                                              abs=5e-4)
    # the sources cite the build-ups, not the methodology alone
    for name in ("on_cost_rate", "overhead_rate", "surplus_rate"):
        src = d.definition(name).source
        assert "Homecare Association" in src and "docs/parameters.md" in src, name


def test_fcoc_file_parsed_with_each_councils_inputs():
    cs = {c.council: c for c in councils(pd.read_csv(shared(*FCOC)))}
    assert list(cs) == ["Herefordshire", "Gloucestershire", "Kent", "Rutland"]
    h = cs["Herefordshire"]
    assert (h.total, h.careworker, h.business, h.surplus) == (26.24, 19.29, 6.06, 0.76)
    assert (h.pay, h.tau, h.pence) == (10.48, 14.0, 40.0)
    assert h.items["ppe"] == 0.71 and h.items["business_back_office"] == 4.62
    g = council_inputs(cs["Gloucestershire"])
    assert g.wage == 11.21 and g.tau == pytest.approx(60 * 2.13 / 11.21)
    k = council_inputs(cs["Kent"])
    assert k.wage == 9.50 and k.tau == pytest.approx((60 / 45) * (2 * 5 / 6 + 8))
    # Herefordshire's on-costs: holiday, sickness, NI, pension, training on direct + travel time
    assert fcoc_implied_rates(h)["on_cost_rate"] == pytest.approx(
        (1.63 + 0.47 + 0.90 + 0.45 + 0.28) / (11.06 + 2.24))


def test_herefordshire_backtest_by_hand():
    h = next(c for c in councils(pd.read_csv(shared(*FCOC))) if c.council == "Herefordshire")
    now = {p.name: p.value for p in DEFAULTS if p.name in PREVIOUS}
    bt = backtest([h], {"old": PREVIOUS, "now": now}).set_index("rates")
    # own inputs: pay 10.48, 14 minutes, mileage at its published 1.54 an hour
    direct = 10.48 * (1 + 14 / 60)
    for name, (oc, oh, s) in {"old": (0.26, 0.30, 0.03), "now": (0.30, 0.35, 0.03)}.items():
        care = direct * (1 + oc) + 1.54
        total = care * (1 + oh) * (1 + s)
        assert bt.loc[name, "formula_careworker"] == pytest.approx(care)
        assert bt.loc[name, "formula_total"] == pytest.approx(total)
        assert bt.loc[name, "error"] == pytest.approx(total / 26.24 - 1)
    assert round(bt.loc["old", "formula_total"], 2) == 23.87  # -9.0%
    assert round(bt.loc["now", "formula_total"], 2) == 25.51  # -2.8%


def test_docs_parameters_md_is_what_the_script_writes():
    spec = importlib.util.spec_from_file_location(
        "parameters_backtest", ROOT / "benchmarks" / "parameters_backtest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = Path(ROOT / "docs" / "parameters.md").read_text()
    assert mod.replaced(doc, mod.sections(shared(*FCOC))) == doc, (
        "docs/parameters.md is stale: run python benchmarks/parameters_backtest.py --write")
    assert parameter_table() in doc
