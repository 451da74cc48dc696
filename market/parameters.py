"""Model parameters as data: each default with a label, unit, value, effective date and source.

A scenario overrides some of them; `ParameterSet.with_overrides` returns a new set and never
changes the defaults (scenarios are values). Every run stores `ParameterSet.to_records()`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from market.errors import InvalidScenario, shown


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    unit: str
    value: float
    effective_from: str | None
    source: str
    section: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any) -> float:
        """Return `value` as a float, or raise InvalidScenario saying why it cannot be used."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InvalidScenario(f"parameter '{self.name}': {shown(value)} is not a number") from None
        if math.isnan(v) or math.isinf(v):
            raise InvalidScenario(f"parameter '{self.name}': {shown(value)} is not a finite number")
        if self.minimum is not None and v < self.minimum:
            raise InvalidScenario(
                f"parameter '{self.name}' ({self.label}): {v:g} is below its minimum {self.minimum:g}"
            )
        if self.maximum is not None and v > self.maximum:
            raise InvalidScenario(
                f"parameter '{self.name}' ({self.label}): {v:g} is above its maximum {self.maximum:g}"
            )
        return v


_M = "docs/methodology.md"
_ASSUMED = "project assumption (no published source; override per scenario)"
_LEVER = "scenario lever; default 0 is the baseline (no change)"
_NLW = ("National Living Wage, rate for workers aged 21+ from 1 April 2025, GOV.UK "
        "'National Minimum Wage and National Living Wage rates' "
        "(https://www.gov.uk/national-minimum-wage-rates)")
_HMRC = ("HMRC approved mileage allowance payments, cars and vans, first 10,000 business miles "
         "45p, GOV.UK 'Expenses and benefits: business travel mileage for employees' own "
         "vehicles' (https://www.gov.uk/expenses-and-benefits-business-travel-mileage/"
         "rules-for-tax); rate in force since 6 April 2011")
_HCA20 = ("Homecare Association (then UKHCA), 'Minimum Price for Homecare for April 2020-March "
          "2021', 20 January 2020, breakdown of the 20.69 hourly rate")
_HCA25 = ("Homecare Association, 'Minimum Price for Homecare 2025-26' (18 December 2024), 32.14 an "
          "hour, and 'Fee rates for state-funded homecare in 2025-26' (5 June 2025), 22.71 an hour "
          "for care workers' statutory employment costs")
_FCOC = "Fair Cost of Care 2022, council Annex B home-care medians"
_BACKTEST = "back-tested in docs/parameters.md"
# effective_from is set only where the value is dated (a rate announced from a date); constants
# and assumptions carry None.
DEFAULTS: tuple[Parameter, ...] = (
    # Section 2: travel
    Parameter("access_minutes", "Fixed minutes added to every trip (parking, access)", "minutes",
              5.0, None, f"{_ASSUMED}; {_M} s2 estimate (not fitted to any matrix: calibrate "
              "on a routed matrix for a local fit)", "travel", 0.0, 120.0),
    Parameter("crow_kmh", "Straight-line km covered per hour of driving", "km/h", 45.0,
              None, f"{_ASSUMED}; {_M} s2 estimate (not fitted to any matrix: calibrate on a "
              "routed matrix for a local fit)", "travel", 1.0, 200.0),
    Parameter("estimate_ratio_low", "Routed / estimated minutes, 10th percentile (band, no matrix)",
              "ratio", 0.85, None, "measured: 10th percentile of Valhalla car minutes over the "
              "estimate at 5 min and 45 km/h, Devon LSOA-to-CDC matrix (../shared/data/devon), "
              "pairs within 0.5-1.5x a 30, 45 or 60-minute limit (0.85-0.86); docs/optimizer.md "
              "'Travel uncertainty'", "travel", 0.1, 1.0),
    Parameter("estimate_ratio_high", "Routed / estimated minutes, 90th percentile (band, no matrix)",
              "ratio", 1.40, None, "measured: 90th percentile, same pairs as estimate_ratio_low "
              "(1.35-1.41); docs/optimizer.md 'Travel uncertainty'", "travel", 1.0, 10.0),
    Parameter("earth_radius_km", "Earth radius for the haversine distance", "km", 6371.0088,
              None, "IUGG mean Earth radius R1 = (2a+b)/3 of GRS80; H. Moritz, 'Geodetic "
              "Reference System 1980', Journal of Geodesy 74 (2000) 128-133", "travel",
              6300.0, 6400.0),
    Parameter("visits_per_run", "Visits in one care-worker run (a run starts and ends at base)",
              "visits", 6.0, None, f"{_ASSUMED}; {_M} s2", "travel", 1.0, 50.0),
    Parameter("visit_minutes", "Contact minutes per visit", "minutes", 45.0, None,
              f"{_ASSUMED}; {_M} s2", "travel", 5.0, 480.0),
    Parameter("hop_minutes_urban", "Minutes between visits within an urban zone", "minutes", 5.0,
              None, f"{_ASSUMED}; {_M} s2", "travel", 0.0, 120.0),
    Parameter("hop_minutes_town", "Minutes between visits within a town zone", "minutes", 8.0,
              None, f"{_ASSUMED}; {_M} s2", "travel", 0.0, 120.0),
    Parameter("hop_minutes_village", "Minutes between visits within a village zone", "minutes",
              12.0, None, f"{_ASSUMED}; {_M} s2", "travel", 0.0, 120.0),
    Parameter("hop_minutes_sparse", "Minutes between visits within a sparse zone", "minutes",
              18.0, None, f"{_ASSUMED}; {_M} s2", "travel", 0.0, 120.0),
    # Section 3: coverage
    Parameter("max_travel_minutes", "Longest one-way trip from a base to a zone", "minutes", 45.0,
              None, f"policy choice (scenario lever); {_M} s3", "coverage", 0.0, 600.0),
    # Section 4: cost of home care
    Parameter("care_worker_hourly_wage", "Care-worker hourly wage (National Living Wage)",
              "GBP/hour", 12.21, "2025-04-01", _NLW, "cost_of_care", 0.0, 200.0),
    Parameter("on_cost_rate", "Employer on-costs (NI, pension, holiday, sickness, training)",
              "share of wage", 0.30, None,
              f"{_HCA20}: NI and pensions 1.14 + other wage on-costs 1.97 on contact and travel "
              f"pay 10.42 = 0.2985; {_FCOC}, Herefordshire: holiday 1.63 + sickness 0.47 + NI "
              "0.90 + pension 0.45 + training 0.28 on direct 11.06 + travel time 2.24 = 0.2805; "
              "neither includes the employer NI rise of 6 April 2025 (13.8% to 15%, threshold "
              f"9,100 to 5,000 a year); {_BACKTEST}", "cost_of_care", 0.0, 5.0),
    Parameter("pence_per_mile", "Mileage paid per mile", "pence/mile", 45.0, "2011-04-06",
              _HMRC, "cost_of_care", 0.0, 500.0),
    Parameter("round_kmh", "Average road speed over care rounds", "km/h", 30.0, None,
              "Herefordshire Council, Fair Cost of Care 2022 Annex B, home care: mileage 1.54 at "
              "40p is 3.85 miles in 14 minutes' travel per contact hour (26.6 km/h); "
              f"{_HCA20}: mileage 1.36 with 11.7 minutes' travel per contact hour (travel time "
              "1.70 on pay 8.72), 25 km/h at 45p a mile, 32 km/h at 35p; "
              f"{_M} s8", "cost_of_care", 1.0, 200.0),
    Parameter("overhead_rate", "Overheads on direct costs", "share", 0.35, None,
              f"{_HCA20}: running the business 5.20 on care-worker costs 14.89 = 0.349; "
              f"{_HCA25}: 32.14 / 1.03 / 22.71 - 1 = 0.374; {_FCOC}: Herefordshire (business "
              "6.06 + PPE 0.71 on 18.58) 0.364, Rutland (5.88 on 16.42) 0.358; "
              f"{_BACKTEST}", "cost_of_care", 0.0, 5.0),
    Parameter("surplus_rate", "Provider surplus (profit) on total cost", "share", 0.03,
              None, f"{_HCA20}: surplus 0.60 on costs 20.09 = 0.030 (the HCA's 3%, a minimum); "
              f"{_FCOC}, return on operations on costs: Herefordshire 0.030, Gloucestershire "
              f"0.061, Rutland 0.091; {_BACKTEST}", "cost_of_care", -1.0, 5.0),
    # Section 5: equalisation scenario levers (defaults: the baseline, nothing changes)
    Parameter("take_up", "Share of self-funders moving to the LA rate (Care Act s18(3))", "share",
              0.0, None, f"{_LEVER}; Care Act 2014 s18(3); {_M} s5", "equalisation", 0.0, 1.0),
    Parameter("convergence", "Share of the remaining self-funder premium that closes", "share",
              0.0, None, f"{_LEVER}; {_M} s5", "equalisation", 0.0, 1.0),
    Parameter("la_fee_change", "Relative change of LA fees", "share", 0.0, None,
              f"{_LEVER}; {_M} s5", "equalisation", -1.0, 10.0),
    Parameter("cost_change", "Relative change of providers' operating costs", "share", 0.0,
              None, f"{_LEVER}; {_M} s5", "equalisation", -1.0, 10.0),
    Parameter("occupancy_change", "Absolute change of care-home occupancy", "share", 0.0,
              None, f"{_LEVER}; {_M} s5", "equalisation", -1.0, 1.0),
    # Demand estimate (foundation issue): weekly home-care hours per resident by age band.
    Parameter("demand_rate_65_74", "Weekly home-care contact hours per resident aged 65-74",
              "hours/person/week", 0.15, None,
              "assumption: ~1.5% receive home care at ~10 h/week (order of magnitude from NHS "
              "England, Adult Social Care Activity and Finance Report)", "demand", 0.0, 40.0),
    Parameter("demand_rate_75_84", "Weekly home-care contact hours per resident aged 75-84",
              "hours/person/week", 0.55, None,
              "assumption: ~5% receive home care at ~11 h/week (order of magnitude from NHS "
              "England, Adult Social Care Activity and Finance Report)", "demand", 0.0, 40.0),
    Parameter("demand_rate_85_plus", "Weekly home-care contact hours per resident aged 85+",
              "hours/person/week", 1.8, None,
              "assumption: ~15% receive home care at ~12 h/week (order of magnitude from NHS "
              "England, Adult Social Care Activity and Finance Report)", "demand", 0.0, 40.0),
)

RURALITY_CLASSES = ("urban", "town", "village", "sparse")


class ParameterSet(Mapping[str, float]):
    """An immutable mapping of parameter name to value, defaults plus overrides."""

    def __init__(self, overrides: Mapping[str, Any] | None = None,
                 base: tuple[Parameter, ...] = DEFAULTS) -> None:
        self._params = {p.name: p for p in base}
        self._overrides: dict[str, float] = {}
        for name, value in (overrides or {}).items():
            if name not in self._params:
                known = ", ".join(sorted(self._params))
                raise InvalidScenario(f"unknown parameter '{name}' (known: {known})")
            self._overrides[name] = self._params[name].check(value)

    def __getitem__(self, name: str) -> float:
        if name in self._overrides:
            return self._overrides[name]
        return self._params[name].value

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParameterSet({self._overrides!r})"

    @property
    def overrides(self) -> dict[str, float]:
        return dict(self._overrides)

    def definition(self, name: str) -> Parameter:
        return self._params[name]

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> ParameterSet:
        merged = dict(self._overrides)
        merged.update(overrides or {})
        return ParameterSet(merged, tuple(self._params.values()))

    def hop_minutes(self, rurality: str) -> float:
        return self[f"hop_minutes_{rurality}"]

    def to_records(self) -> list[dict[str, Any]]:
        """Every parameter as used: label, unit, value, whether overridden, date and source."""
        return [
            {
                "name": p.name, "label": p.label, "unit": p.unit, "value": self[p.name],
                "default": p.value, "overridden": p.name in self._overrides,
                "effective_from": p.effective_from, "source": p.source, "section": p.section,
                "minimum": p.minimum, "maximum": p.maximum,
            }
            for p in self._params.values()
        ]

    def to_dict(self) -> dict[str, float]:
        return {name: self[name] for name in self._params}


def defaults() -> ParameterSet:
    return ParameterSet()


# -- dated series ---------------------------------------------------------------------------------
# Values that change on known dates, for uprating costs from one date to another (the Fair Cost
# of Care trajectory, market.fcoc). A value holds from its date to the next one's.

@dataclass(frozen=True)
class Dated:
    effective_from: str
    value: float
    source: str


_NLW_SOURCE = ("National Minimum Wage and National Living Wage rates, GOV.UK "
               "(https://www.gov.uk/national-minimum-wage-rates); rate for workers aged 23+ "
               "(21+ from April 2024)")
_CPI_SOURCE = ("ONS, CPI annual rate, all items (series D7G7), April of each year "
               "(https://www.ons.gov.uk/economy/inflationandpriceindices/timeseries/d7g7/mm23)")
SERIES: dict[str, tuple[Dated, ...]] = {
    # GBP an hour
    "national_living_wage": (
        Dated("2022-04-01", 9.50, _NLW_SOURCE), Dated("2023-04-01", 10.42, _NLW_SOURCE),
        Dated("2024-04-01", 11.44, _NLW_SOURCE), Dated("2025-04-01", 12.21, _NLW_SOURCE),
        Dated("2026-04-01", 12.71, _NLW_SOURCE),
    ),
    # the year-on-year CPI rise to each April (0.087 = 8.7%)
    "cpi_annual_rate": (
        Dated("2023-04-01", 0.087, _CPI_SOURCE), Dated("2024-04-01", 0.023, _CPI_SOURCE),
        Dated("2025-04-01", 0.035, _CPI_SOURCE),
    ),
}
# After the last published figure: pay held at the last rate (no rise is assumed before it is
# announced); prices rise at the Bank of England's 2% target each April.
ASSUMED_CPI_RATE = 0.02


def value_at(name: str, on: str) -> Dated:
    """The dated value of `name` in force on `on` (ISO date): the latest on or before it.
    KeyError when `on` is before the series starts."""
    series = SERIES[name]
    found = [d for d in series if d.effective_from <= on]
    if not found:
        raise KeyError(f"{name}: no value on {on} (the series starts {series[0].effective_from})")
    return found[-1]


def price_index(on: str, base: str) -> tuple[float, list[str]]:
    """Prices on `on` relative to `base` (1.0 = the same), compounding the April CPI rises
    between them; the second item lists the Aprils whose rise is assumed (ASSUMED_CPI_RATE)."""
    published = {d.effective_from[:4]: d.value for d in SERIES["cpi_annual_rate"]}
    lo, hi, sign = (base, on, 1) if on >= base else (on, base, -1)
    ratio, assumed = 1.0, []
    for year in range(int(lo[:4]), int(hi[:4]) + 1):
        april = f"{year}-04-01"
        if not (lo < april <= hi):
            continue
        rate = published.get(str(year))
        if rate is None:
            rate = ASSUMED_CPI_RATE
            assumed.append(april)
        ratio *= 1.0 + rate
    return (ratio if sign > 0 else 1.0 / ratio), assumed


def uprating(base: str, on: str) -> tuple[float, float, list[str]]:
    """(pay ratio, price ratio, assumptions) from `base` to `on`: pay by the National Living
    Wage in force on each date, prices by CPI (price_index)."""
    pay = value_at("national_living_wage", on).value / value_at("national_living_wage",
                                                                  base).value
    prices, assumed = price_index(on, base)
    last_pay = SERIES["national_living_wage"][-1].effective_from
    notes = [f"CPI rise to {a} assumed {ASSUMED_CPI_RATE:.0%}" for a in assumed]
    if on[:4] > last_pay[:4]:
        notes.append(f"National Living Wage held at its {last_pay} rate after that date")
    return pay, prices, notes
