"""Care homes for England from the CQC October 2015 extract, fees and costs from published figures.

The extract (../shared/data/cqc/care_homes_oct2015_england.csv) gives each home's beds (real),
provider (used as the provider group), local authority and LSOA 2011 code (used as zone_id),
but no fees, costs, occupancy, self-funder share or nursing flag. `load_care_homes_2015` assigns
those from the published figures of methodology s8, with seeded home-by-home variation, so the
viability models can run over a market of real size and shape (16,200 homes, 434,313 beds).
The assumptions, each with its source, are in `FIGURES` and docs/models.md; the figures are
2014-15 prices to match the extract's date.

Homes with 0 beds in the extract cannot be assessed (beds must be above 0) and are returned in
`excluded`, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from market.errors import InvalidInput
from market.rurality import fold_rurality

FIGURES: dict[str, dict[str, Any]] = {
    "la_fee": {"residential": 511.0, "nursing": 631.0, "sigma": 0.05,
               "source": "CCN/LaingBuisson 'County Care Markets' (2015), 12 counties, 2014"},
    "self_funder_fee": {"residential": 752.0, "nursing": 912.0, "premium_sd": 0.12,
                        "source": "same; premium F_sf / F_la drawn around 752/511 and 912/631 "
                                  "(CMA 2017: self-funders pay on average 41% more)"},
    "benchmark": {"residential": 615.0, "nursing": 783.0,
                  "source": "CCN/LaingBuisson residential and nursing benchmark (full cost "
                            "including return on capital, at 90% occupancy)"},
    "capital": {"rate": 0.055, "value_per_bed": 90_000.0,
                "source": "DHSC Fair Cost of Care Annex E: 5-6% of freehold value per bed "
                          "(5.5% used); GBP 90,000 a bed is an assumption chosen so that, as "
                          "the CMA found (2017), the average LA fee covers operating cost but "
                          "not the return on capital"},
    "cost": {"sigma": 0.08, "small_home_beds": 25, "small_home_uplift": 1.06,
             "source": "operating cost = benchmark - capital / 0.9, varied home by home; "
                       "homes under 25 beds lose economies of scale (assumption)"},
    "occupancy": {"mean": 0.89, "sd": 0.05, "low": 0.6, "high": 0.99,
                  "source": "assumption (about 89-90% occupancy in 2014-15 market reports)"},
    "self_funder_share": {"a": 4.5, "b": 5.5,
                          "source": "Beta(4.5, 5.5), mean 0.45: below the county average of "
                                    "53-54% (County APPG 2015) as the extract covers cities too "
                                    "(assumption)"},
    "nursing": {"small": 0.2, "large": 0.5, "beds": 45,
                "source": "the extract has no nursing flag: drawn with probability 0.2 "
                          "(45 beds or fewer) or 0.5 (larger), as in the sample market "
                          "(assumption)"},
}


@dataclass
class Extract:
    homes: pd.DataFrame  # care-home entity columns, ready for prepare_care_homes
    excluded: pd.DataFrame  # provider_id, name, field, reason
    assumptions: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(FIGURES))


def capital_per_bed_week() -> float:
    c = FIGURES["capital"]
    return c["rate"] * c["value_per_bed"] / 52.0


def load_care_homes_2015(path: str | Path, seed: int = 42,
                         ruc_path: str | Path | None = None) -> Extract:
    """Read the 2015 CQC extract and assign fees, costs, occupancy and shares (seeded).

    `ruc_path`: optional ONS RUC 2011 file (lsoa11_code, ruc11_code) to give homes in the
    LSOAs it covers a rurality class.
    """
    raw = pd.read_csv(path, dtype={"LSOA11CD": str, "provider_id": str})
    need = ("location_name", "care_homes_beds", "provider_id", "provider_name", "LSOA11CD")
    lacking = [c for c in need if c not in raw]
    if lacking:
        raise InvalidInput(f"{path}: not the CQC 2015 extract (lacks {', '.join(lacking)})")
    n = len(raw)
    rng = np.random.default_rng(seed)
    ids = np.array([f"CQC15-{i + 1:05d}" for i in range(n)])
    beds = pd.to_numeric(raw["care_homes_beds"], errors="coerce").to_numpy(float)
    f = FIGURES
    nursing = rng.random(n) < np.where(beds > f["nursing"]["beds"], f["nursing"]["large"],
                                       f["nursing"]["small"])
    kind = np.where(nursing, "nursing", "residential")
    la = np.where(nursing, f["la_fee"]["nursing"], f["la_fee"]["residential"])
    sf = np.where(nursing, f["self_funder_fee"]["nursing"], f["self_funder_fee"]["residential"])
    la_fee = la * rng.lognormal(0.0, f["la_fee"]["sigma"], n)
    premium = np.clip(rng.normal(sf / la, f["self_funder_fee"]["premium_sd"]), 1.0, 2.0)
    sf_fee = la_fee * premium
    K = capital_per_bed_week()
    bench = np.where(nursing, f["benchmark"]["nursing"], f["benchmark"]["residential"])
    cost = (bench - K / 0.9) * rng.lognormal(0.0, f["cost"]["sigma"], n) * np.where(
        beds < f["cost"]["small_home_beds"], f["cost"]["small_home_uplift"], 1.0)
    occ = np.clip(rng.normal(f["occupancy"]["mean"], f["occupancy"]["sd"], n),
                  f["occupancy"]["low"], f["occupancy"]["high"])
    share = rng.beta(f["self_funder_share"]["a"], f["self_funder_share"]["b"], n)
    rurality = pd.Series([None] * n, dtype=object)
    if ruc_path is not None:
        ruc = pd.read_csv(ruc_path, dtype=str)
        fold = {r.lsoa11_code: fold_rurality(r.ruc11_code) for r in ruc.itertuples()}
        rurality = raw["LSOA11CD"].map(fold)
    homes = pd.DataFrame({
        "provider_id": ids, "name": raw["location_name"].to_numpy(),
        "postcode": raw.get("postal_code"), "beds": beds,
        "occupancy": occ.round(3), "self_funder_share": share.round(3),
        "self_funder_fee": sf_fee.round(2), "la_fee": la_fee.round(2),
        "cost_per_resident_week": cost.round(2),
        "capital_cost_per_bed_week": np.full(n, round(K, 2)),
        "nursing": nursing, "service": kind, "zone_id": raw["LSOA11CD"].to_numpy(),
        "rurality": rurality.to_numpy(), "la_name": raw.get("local_authority"),
        "region": raw.get("region"), "group_id": raw["provider_id"].to_numpy(),
        "group_name": raw["provider_name"].to_numpy(),
    })
    bad = ~(beds > 0)
    excluded = pd.DataFrame({"provider_id": ids[bad], "name": homes["name"][bad].to_numpy(),
                             "field": "beds",
                             "reason": "0 or no beds in the extract"})
    return Extract(homes[~bad].reset_index(drop=True), excluded)
