"""Provider exits re-running coverage, and the fee-uplift LP/MILP, on a hand-checkable market.

One urban zone needing 100 contact hours; two agencies 10 minutes away (tau 11.11 minutes per
contact hour, so a contact hour takes 1.1852 worker hours). P1 (100 worker hours) is half
self-funded at 40/hour and 24/hour from the LA; P2 (60 worker hours) is all LA at 29/hour.
The s4 cost at tau 11.11 is 28.32 (operating 27.49; methodology s7, first row). P2's rate was 27
before issue 12 raised the on-cost and overhead defaults (the cost was then 26.49), and is
raised to keep P2 sustainable, as the case needs. Full take-up leaves P1 on 24/hour:
unviable, it exits and P2 alone covers 60 / 1.1852 = 50.625 hours.
"""

from __future__ import annotations

import pandas as pd
import pytest

from market.cost_of_care import cost_lines, tau_minutes
from market.errors import InvalidInput
from optimizer.fee_uplift import FeeUpliftModel, provider_exits

ZONES = pd.DataFrame({"zone_id": ["Z1"], "lat": [53.0], "lon": [-0.3], "rurality": ["urban"],
                      "demand_hours": [100.0]})
PROVIDERS = pd.DataFrame({
    "provider_id": ["P1", "P2"], "name": ["Mixed", "All LA"], "lat": [53.01, 52.99],
    "lon": [-0.3, -0.3], "capacity_hours": [100.0, 60.0], "self_funder_share": [0.5, 0.0],
    "self_funder_hourly_rate": [40.0, 29.0], "la_hourly_rate": [24.0, 29.0],
    "zone_id": ["Z1", "Z1"]})
TRAVEL = pd.DataFrame({"provider_id": ["P1", "P2"], "zone_id": ["Z1", "Z1"],
                       "minutes": [10.0, 10.0]})
PARAMS = {"access_minutes": 5.0}  # set, so the two-pair matrix is not fitted
TAU = float(tau_minutes(10.0, 5.0))
LINES = cost_lines([TAU]).iloc[0]
P2_HOURS = 60.0 / (1 + TAU / 60)


def test_hand_numbers():
    assert abs(TAU - 11.1111) < 1e-4
    assert abs(P2_HOURS - 50.625) < 1e-9
    assert 24.0 < LINES["operating_cost"] < 29.0 and LINES["cost_per_contact_hour"] < 29.0
    assert abs(LINES["cost_per_contact_hour"] - 28.3187) < 1e-4


def test_unviable_provider_exits_and_unmet_hours_rise():
    res = provider_exits(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 1.0}, solver="highs")
    assert res.exited == ["P1"]
    assert res.unmet_before == pytest.approx(0.0, abs=1e-4)  # LP tolerance 1e-7 x demand
    assert res.unmet_after == pytest.approx(100 - P2_HOURS, rel=1e-6)
    z = res.zones.set_index("zone_id")
    assert z.loc["Z1", "unmet_added"] == pytest.approx(100 - P2_HOURS, rel=1e-6)
    p = res.providers.set_index("provider_id")
    assert p.loc["P1", "class_before"] == "sustainable" and p.loc["P1", "class_after"] == "unviable"
    assert not p.loc["P2", "exited"]
    d = res.to_dict()
    assert d["zones_with_added_unmet"][0]["zone_id"] == "Z1"


def test_no_exit_without_a_shock():
    res = provider_exits(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 0.2}, solver="highs")
    assert res.exited == []
    assert res.unmet_after == pytest.approx(res.unmet_before, abs=1e-4)


def test_cheapest_provider_uplift_keeps_coverage():
    model = FeeUpliftModel.from_frames(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 1.0},
                                       mode="provider", solver="highs").solve()
    assert model.unmet_with_uplift == pytest.approx(0.0, abs=1e-4)
    p = model.providers.set_index("provider_id")
    # P2 is used to the full (no uplift), P1 delivers the rest with the smallest uplift
    assert p.loc["P2", "contact_hours"] == pytest.approx(P2_HOURS, rel=1e-5)
    shortfall = LINES["operating_cost"] - 24.0
    assert p.loc["P1", "uplift_per_la_hour"] == pytest.approx(shortfall, rel=1e-5)
    assert model.annual_cost == pytest.approx(52 * shortfall * (100 - P2_HOURS), rel=1e-5)
    assert model.to_dict()["annual_cost"] == pytest.approx(model.annual_cost)


def test_band_uplift_is_paid_on_every_la_hour_in_the_band():
    model = FeeUpliftModel.from_frames(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 1.0},
                                       mode="band", solver="highs").solve()
    bands = model.bands.set_index("rurality")
    shortfall = LINES["operating_cost"] - 24.0
    assert bands.loc["urban", "uplift_per_la_hour"] == pytest.approx(shortfall, rel=1e-5)
    assert model.annual_cost == pytest.approx(52 * shortfall * 100, rel=1e-5)
    assert model.unmet_with_uplift == pytest.approx(0.0, abs=1e-4)


def test_sustainable_target_costs_more():
    viable = FeeUpliftModel.from_frames(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 1.0},
                                        solver="highs").solve()
    sustainable = FeeUpliftModel.from_frames(ZONES, PROVIDERS, TRAVEL, PARAMS, {"take_up": 1.0},
                                             target="sustainable", solver="highs").solve()
    assert sustainable.annual_cost > viable.annual_cost


def test_bad_mode():
    with pytest.raises(InvalidInput):
        FeeUpliftModel.from_frames(ZONES, PROVIDERS, TRAVEL, PARAMS, {}, mode="zone")
