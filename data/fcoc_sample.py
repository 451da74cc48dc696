"""Synthetic Fair Cost of Care returns for the sample market, whose medians reproduce a council's
published medians to the penny.

The targets are Herefordshire's 2022 FCoC medians (../shared/data/fees/
fcoc_2022_extracted_medians.csv, from its published Annex B tables): home care 26.24 an hour from
12 returns; residential 772.14 (16), residential enhanced 785.71 (13), nursing 1,058.45 (11) and
nursing enhanced 1,188.55 (7) a resident-week. Each group has as many returns as Herefordshire
received. Totals are drawn around the median (every one below the middle pair lower, every one
above it higher), so the median of the totals is the published figure exactly; each total is then
split into the DHSC template's cost lines by the shares below, in whole pence, so the lines add up
to the total. Home-care line shares are Herefordshire's own published line medians (direct care
11.06, travel time 2.24, mileage 1.54, PPE 0.71, training 0.28, holiday 1.63, sickness 0.47, NI
0.90, pension 0.45, back office 4.62, other business costs 1.44, return on operations 0.76);
care-home shares are an illustrative build-up (staff about 56% of residential and 63% of nursing
costs), not a published table. Line medians are therefore near, not equal to, published ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

TARGETS = {  # group: (median in pence, number of returns)
    "homecare": (2624, 12), "residential": (77214, 16), "residential_enhanced": (78571, 13),
    "nursing": (105845, 11), "nursing_enhanced": (118855, 7),
}
HOMECARE_SHARES = {"direct_care": 11.06, "travel_time": 2.24, "mileage": 1.54, "ppe": 0.71,
                   "training": 0.28, "holiday": 1.63, "sickness": 0.47, "ni": 0.90,
                   "pension": 0.45, "back_office": 4.62, "other_business": 1.44,
                   "return_on_operations": 0.76}
RESIDENTIAL_SHARES = {"care_staff": 0.42, "other_staff": 0.12, "agency": 0.02, "food": 0.05,
                      "utilities": 0.05, "maintenance": 0.04, "other_non_staff": 0.08,
                      "head_office": 0.06, "return_on_operations": 0.06,
                      "return_on_capital": 0.10}
NURSING_SHARES = {"nursing_staff": 0.22, "care_staff": 0.28, "other_staff": 0.10, "agency": 0.03,
                  "food": 0.04, "utilities": 0.04, "maintenance": 0.03, "other_non_staff": 0.07,
                  "head_office": 0.05, "return_on_operations": 0.05, "return_on_capital": 0.09}


def totals(rng: np.random.Generator, median: int, n: int) -> list[int]:
    """`n` totals in pence whose QUARTILE.INC median is `median` exactly: an odd count has the
    median in the middle; an even count a middle pair median - d and median + d."""
    half = n // 2
    gap = int(rng.integers(20, 200)) if n % 2 == 0 else 0
    low_edge, high_edge = median - gap, median + gap
    below = sorted(int(low_edge - median * rng.uniform(0.01, 0.22)) for _ in range(half - (
        1 if n % 2 == 0 else 0)))
    above = sorted(int(high_edge + median * rng.uniform(0.01, 0.30)) for _ in range(half - (
        1 if n % 2 == 0 else 0)))
    middle = [low_edge, high_edge] if n % 2 == 0 else [median]
    out = below + middle + above
    assert len(out) == n
    return out


def split(rng: np.random.Generator, total: int, shares: dict[str, float]) -> dict[str, int]:
    """`total` pence split into lines near `shares` (noise of a few per cent), adding up."""
    names = list(shares)
    w = np.array([shares[k] for k in names], dtype=float)
    w = w / w.sum() * rng.uniform(0.9, 1.1, len(w))
    w = w / w.sum()
    pence = np.floor(w * total).astype(int)
    pence[0] += total - int(pence.sum())  # the remainder to the first (largest) line
    return dict(zip(names, (int(p) for p in pence), strict=True))


def sample_returns(agency_ids: Sequence[str], residential_ids: Sequence[str],
                   nursing_ids: Sequence[str], seed: int = 42) -> dict[str, pd.DataFrame]:
    """The returns as import frames: {"homecare-returns": ..., "care-home-returns": ...}.

    One home-care return comes from an agency the council does not contract (id `HC-EXT1`), as
    real exercises see; every other return is from a provider in the sample market."""
    rng = np.random.default_rng(seed)
    med, n = TARGETS["homecare"]
    ids = list(rng.choice(list(agency_ids), size=n - 1, replace=False)) + ["HC-EXT1"]
    rows = []
    for pid, tot in zip(ids, rng.permutation(totals(rng, med, n)), strict=True):
        lines = split(rng, int(tot), HOMECARE_SHARES)
        rows.append({"provider_id": pid, "contact_hours": int(rng.integers(300, 4000)),
                     "carer_basic_pay": round(10.48 * rng.uniform(0.97, 1.05), 2),
                     "visit_minutes": int(rng.choice([30, 45, 60])),
                     **{k: v / 100 for k, v in lines.items()}})
    homecare = pd.DataFrame(rows)
    rows = []
    for cat, pool, shares in (("residential", residential_ids, RESIDENTIAL_SHARES),
                              ("residential_enhanced", residential_ids, RESIDENTIAL_SHARES),
                              ("nursing", nursing_ids, NURSING_SHARES),
                              ("nursing_enhanced", nursing_ids, NURSING_SHARES)):
        med, n = TARGETS[cat]
        chosen = rng.choice(list(pool), size=n, replace=False)
        for pid, tot in zip(chosen, rng.permutation(totals(rng, med, n)), strict=True):
            lines = split(rng, int(tot), shares)
            rows.append({"provider_id": pid, "category": cat,
                         "beds": int(rng.integers(20, 80)),
                         "occupancy": round(float(rng.uniform(0.82, 0.97)), 3),
                         "carer_basic_pay": round(10.85 * rng.uniform(0.97, 1.05), 2),
                         **{k: v / 100 for k, v in lines.items()}})
    care_homes = pd.DataFrame(rows)  # residential returns leave nursing_staff blank
    return {"homecare-returns": homecare, "care-home-returns": care_homes}
