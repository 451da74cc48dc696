"""Every parameter names a source a reader can look up; only dated values carry a date."""

import re

from market.parameters import DEFAULTS, SERIES, defaults, value_at


def test_every_parameter_has_a_source():
    for p in DEFAULTS:
        assert p.source.strip(), p.name
        assert "fitted to devon" not in p.source.lower(), p.name


def test_only_dated_values_carry_a_date():
    dated = {p.name: p.effective_from for p in DEFAULTS if p.effective_from is not None}
    assert dated == {"care_worker_hourly_wage": "2025-04-01", "pence_per_mile": "2011-04-06"}
    for d in dated.values():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)


def test_wage_default_is_the_nlw_in_force_on_its_date():
    p = defaults().definition("care_worker_hourly_wage")
    assert value_at("national_living_wage", p.effective_from).value == p.value == 12.21
    assert [(d.effective_from, d.value) for d in SERIES["national_living_wage"]] == [
        ("2022-04-01", 9.50), ("2023-04-01", 10.42), ("2024-04-01", 11.44),
        ("2025-04-01", 12.21), ("2026-04-01", 12.71)]


def test_records_carry_source_and_null_date_for_constants():
    recs = {r["name"]: r for r in defaults().to_records()}
    assert recs["crow_kmh"]["effective_from"] is None and recs["crow_kmh"]["source"]
