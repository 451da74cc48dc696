"""The one JSON cleaner: what every JSON answer (CLI --json, API, stored runs) goes through.

NaN and infinities become null, numpy scalars and arrays Python numbers and lists, tuples lists,
and mapping keys text; `dumps` never writes a number JSON cannot hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def clean(obj: Any) -> Any:
    """`obj` made JSON-ready (see the module's docstring)."""
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [clean(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(clean(obj), default=str, allow_nan=False, **kwargs)
