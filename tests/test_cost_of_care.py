"""Cost of home care per contact hour (methodology s4), the s7 worked examples and per zone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from market.cost_of_care import (
    cost_lines,
    la_hourly_rates,
    provider_costs,
    tau_minutes,
    zone_costs,
)
from market.errors import InvalidInput
from market.parameters import ParameterSet

# docs/methodology.md s7 at the project's defaults (on-cost 0.30, overheads 0.35, surplus 0.03,
# sourced in docs/parameters.md): t, hop, tau, direct_wage, on_costs, mileage, overheads,
# surplus, cost. Recomputed by hand from the s4 formulas when issue 12 changed the on-cost and
# overhead defaults (tau, direct wage and mileage do not depend on them and are unchanged).
S7 = [
    (10, 5, 11.1111, 14.4711, 4.3413, 1.5534, 7.1281, 0.8248, 28.3187),
    (20, 12, 24.8889, 17.2749, 5.1825, 3.4797, 9.0780, 1.0504, 36.0654),
    (35, 18, 39.5556, 20.2596, 6.0779, 5.5302, 11.1537, 1.2906, 44.3119),
]
# ../shared/docs/methodology.md s7, at the shared methodology's rates (0.26, 0.30, 0.03): the
# project still reproduces the shared table when given those rates.
SHARED_RATES = {"on_cost_rate": 0.26, "overhead_rate": 0.30, "surplus_rate": 0.03}
SHARED_S7 = [
    (10, 5, 11.1111, 14.4711, 3.7625, 1.5534, 5.9361, 0.7717, 26.4948),
    (20, 12, 24.8889, 17.2749, 4.4915, 3.4797, 7.5738, 0.9846, 33.8044),
    (35, 18, 39.5556, 20.2596, 5.2675, 5.5302, 9.3172, 1.2112, 41.5856),
]


def shown(value: float, table: float, decimals: int) -> bool:
    """True when `value` is `table` to the precision the table prints (and 1e-6 relative)."""
    return abs(value - table) <= 0.5 * 10 ** -decimals + 1e-6 * abs(table)


@pytest.mark.parametrize("row", S7)
def test_section7_home_care_rows(row):
    t, hop, *expected = row
    tau = tau_minutes(t, hop)
    lines = cost_lines(tau).iloc[0]
    got = [lines[c] for c in ("tau", "direct_wage", "on_costs", "mileage", "overheads",
                              "surplus", "cost_per_contact_hour")]
    for g, e in zip(got, expected, strict=True):
        assert shown(g, e, 4), (g, e)


@pytest.mark.parametrize("row", SHARED_S7)
def test_shared_methodology_section7_rows_at_its_rates(row):
    t, hop, *expected = row
    tau = tau_minutes(t, hop)
    lines = cost_lines(tau, ParameterSet(SHARED_RATES)).iloc[0]
    got = [lines[c] for c in ("tau", "direct_wage", "on_costs", "mileage", "overheads",
                              "surplus", "cost_per_contact_hour")]
    for g, e in zip(got, expected, strict=True):
        assert shown(g, e, 4), (g, e)


def test_section7_exact_values_to_1e6():
    # The first row recomputed by hand from the formulas, to 1e-6 relative.
    tau = (60 / 45) * (2 * 10 / 6 + 5)
    direct = 12.21 * (1 + tau / 60)
    on = direct * 0.30
    mileage = tau / 60 * 30 * 0.621371 * 45 / 100
    over = (direct + on + mileage) * 0.35
    surplus = (direct + on + mileage + over) * 0.03
    lines = cost_lines([tau]).iloc[0]
    assert lines["cost_per_contact_hour"] == pytest.approx(direct + on + mileage + over + surplus,
                                                           rel=1e-12)
    # s7 prints 4 decimals: 28.3187 is this value rounded (28.318739...)
    assert shown(lines["cost_per_contact_hour"], 28.3187, 4)


def test_cost_is_affine_in_tau_so_weighted_mean_is_exact():
    a, b = cost_per = cost_lines([8.0, 30.0])["cost_per_contact_hour"].to_numpy()
    del cost_per
    mean_tau_cost = cost_lines([(3 * 8.0 + 1 * 30.0) / 4])["cost_per_contact_hour"].iloc[0]
    assert mean_tau_cost == pytest.approx((3 * a + b) / 4, rel=1e-12)


def test_parameters_change_the_cost():
    base = cost_lines([20.0]).iloc[0]["cost_per_contact_hour"]
    higher = cost_lines([20.0], ParameterSet({"care_worker_hourly_wage": 13.0}))
    assert higher.iloc[0]["cost_per_contact_hour"] > base
    no_surplus = cost_lines([20.0], ParameterSet({"surplus_rate": 0.0})).iloc[0]
    assert no_surplus["cost_per_contact_hour"] == pytest.approx(no_surplus["operating_cost"])


def test_negative_tau_is_refused():
    with pytest.raises(InvalidInput):
        cost_lines([-1.0])


def test_zone_costs_weight_tau_by_contact_hours_gap_and_uplift():
    assignment = pd.DataFrame({
        "zone_id": ["Z1", "Z1", "Z2"], "provider_id": ["P1", "P2", "P1"],
        "contact_hours": [30.0, 10.0, 20.0], "tau": [10.0, 30.0, 40.0]})
    zones = pd.DataFrame({"zone_id": ["Z1", "Z2", "Z3"], "rurality": ["urban", "sparse", "town"],
                          "self_funder_share": [0.5, 0.0, 0.0]})
    z = zone_costs(assignment, zones, la_rate=31.0, fallback_tau={"Z3": 12.0}).set_index(
        "zone_id")
    assert z.loc["Z1", "tau"] == pytest.approx((30 * 10 + 10 * 30) / 40)
    assert z.loc["Z1", "contact_hours"] == 40
    c1 = cost_lines([15.0]).iloc[0]["cost_per_contact_hour"]
    c2 = cost_lines([40.0]).iloc[0]["cost_per_contact_hour"]
    assert z.loc["Z1", "cost_per_contact_hour"] == pytest.approx(c1)
    assert z.loc["Z1", "gap"] == pytest.approx(c1 - 31.0)
    assert z.loc["Z1", "uplift_per_hour"] == 0.0  # 31/hour covers 30.51 (tau 15 at the defaults, by hand)
    assert z.loc["Z2", "uplift_per_hour"] == pytest.approx(c2 - 31.0)
    assert z.loc["Z2", "rural_uplift_rate"] == pytest.approx(c2)
    assert z.loc["Z2", "la_uplift_per_week"] == pytest.approx((c2 - 31.0) * 20)
    assert z.loc["Z3", "cost_basis"] == "fallback"
    assert z.loc["Z3", "contact_hours"] == 0


def test_zone_costs_per_zone_rates():
    assignment = pd.DataFrame({"zone_id": ["Z1"], "provider_id": ["P"], "contact_hours": [1.0],
                               "tau": [20.0]})
    z = zone_costs(assignment, pd.DataFrame({"zone_id": ["Z1", "Z2"]}),
                   la_rate=pd.Series({"Z1": 25.0}))
    assert z["la_hourly_rate"].iloc[0] == 25.0
    assert np.isnan(z["cost_per_contact_hour"].iloc[1])
    assert z["cost_basis"].iloc[1] == "none"


def test_la_hourly_rates_zone_scope_wins_and_dates():
    fees = pd.DataFrame([
        {"funder": "la", "service": "homecare", "unit": "hour", "amount": 22.9,
         "effective_from": "2024-04-01", "zone_id": None, "provider_id": None},
        {"funder": "la", "service": "homecare", "unit": "hour", "amount": 24.1,
         "effective_from": "2025-04-01", "zone_id": None, "provider_id": None},
        {"funder": "la", "service": "homecare", "unit": "hour", "amount": 25.6,
         "effective_from": "2025-04-01", "zone_id": "S1", "provider_id": None},
        {"funder": "self", "service": "homecare", "unit": "hour", "amount": 31.0,
         "effective_from": "2025-04-01", "zone_id": None, "provider_id": None},
    ])
    r = la_hourly_rates(fees, ["S1", "S2"])
    assert r["S1"] == 25.6 and r["S2"] == 24.1
    old = la_hourly_rates(fees, ["S1", "S2"], as_of="2024-12-31")
    assert old["S1"] == 22.9 and old["S2"] == 22.9


def test_provider_costs_from_assignment_and_default():
    providers = pd.DataFrame({"provider_id": ["P1", "P2", "P3"], "capacity_hours": [100, 60, 50],
                              "zone_id": ["Z1", "Z2", None]})
    zones = pd.DataFrame({"zone_id": ["Z1", "Z2"], "rurality": ["urban", "sparse"]})
    assignment = pd.DataFrame({"zone_id": ["Z1", "Z1"], "provider_id": ["P1", "P1"],
                               "contact_hours": [30.0, 10.0], "tau": [10.0, 30.0]})
    p = provider_costs(providers, assignment, zones).set_index("provider_id")
    assert p.loc["P1", "tau"] == pytest.approx(15.0)
    assert p.loc["P1", "cost_basis"] == "assigned"
    # P2: own sparse zone, trip access_minutes (5) and hop 18
    tau2 = tau_minutes(5.0, 18.0)
    assert p.loc["P2", "tau"] == pytest.approx(tau2)
    assert p.loc["P2", "contact_hours"] == pytest.approx(60 / (1 + tau2 / 60))
    assert p.loc["P3", "cost_basis"] == "default"
    assert p.loc["P3", "tau"] == pytest.approx(tau_minutes(5.0, 8.0))


def _s7_rows(path) -> list[tuple[float, ...]]:
    """The home-care rows of a methodology's s7 table (t, hop, tau, ..., cost)."""
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and all(c.replace(".", "").isdigit() for c in cells):
            rows.append(tuple(float(c) for c in cells))
    return rows


def test_the_methodologies_print_the_tables_the_tests_check():
    from tests.conftest import ROOT, SHARED

    assert _s7_rows(ROOT / "docs" / "methodology.md") == [tuple(map(float, r)) for r in S7]
    shared_doc = SHARED.parent / "docs" / "methodology.md"
    if shared_doc.exists():
        assert _s7_rows(shared_doc) == [tuple(map(float, r)) for r in SHARED_S7]
