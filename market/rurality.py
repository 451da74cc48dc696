"""Fold the ONS Rural-Urban Classification into the four classes of methodology section 1."""

from __future__ import annotations

RUC2011 = {
    "A1": "urban", "B1": "urban", "C1": "urban",
    "D1": "town",
    "E1": "village",
    "A2": "sparse", "B2": "sparse", "C2": "sparse", "D2": "sparse", "E2": "sparse",
}

RUC2021 = {
    "urban: nearer to a major town or city": "urban",
    "urban: further from a major town or city": "town",
    "larger rural: nearer to a major town or city": "town",
    "larger rural: further from a major town or city": "village",
    "smaller rural: nearer to a major town or city": "village",
    "smaller rural: further from a major town or city": "sparse",
}

# The 2021 codes as published (UN1, UF1, RLN1, RLF1, RSN1, RSF1).
RUC2021_CODES = {
    "UN1": "urban", "UF1": "town", "RLN1": "town", "RLF1": "village", "RSN1": "village",
    "RSF1": "sparse",
}


def fold_rurality(code: str | None, label: str | None = None) -> str | None:
    """Return urban/town/village/sparse for a RUC 2011 code, RUC 2021 code or 2021 class name."""
    c = (code or "").strip().upper()
    if c in RUC2011:
        return RUC2011[c]
    if c in RUC2021_CODES:
        return RUC2021_CODES[c]
    text = (label or code or "").strip().lower()
    if text in RUC2021:
        return RUC2021[text]
    if text in ("urban", "town", "village", "sparse"):
        return text
    return None
