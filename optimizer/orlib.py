"""Read OR-Library p-median instances (Beasley 1985) into a cost matrix.

File format: first line `n edges p`; then one undirected edge `i j cost` per line (vertices
1..n). Costs between vertices are shortest-path lengths over the graph; when an edge is
repeated, the last one in the file wins (as the OR-Library notes say).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from market.errors import InvalidInput


@dataclass
class PMedianInstance:
    name: str
    n: int
    p: int
    costs: np.ndarray  # n x n shortest-path lengths (every vertex is demand and candidate)


def read_pmed(path: str | Path) -> PMedianInstance:
    """Return the instance in `path` with all-pairs shortest paths as its cost matrix."""
    path = Path(path)
    try:
        numbers = np.array(path.read_text().split(), dtype=float)
    except ValueError as exc:
        raise InvalidInput(f"{path}: not an OR-Library p-median file ({exc})") from None
    if len(numbers) < 3:
        raise InvalidInput(f"{path}: expected a first line 'n edges p'")
    n, m, p = (int(v) for v in numbers[:3])
    edges = numbers[3:]
    if len(edges) < 3 * m:
        raise InvalidInput(f"{path}: the header promises {m} edges but the file holds "
                           f"{len(edges) // 3}")
    e = edges[:3 * m].reshape(m, 3)
    i, j, c = e[:, 0].astype(np.int64) - 1, e[:, 1].astype(np.int64) - 1, e[:, 2]
    if i.min(initial=0) < 0 or max(i.max(initial=0), j.max(initial=0)) >= n or j.min(
            initial=0) < 0:
        raise InvalidInput(f"{path}: an edge names a vertex outside 1..{n}")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    last = ~pd.Series(lo * n + hi).duplicated(keep="last").to_numpy()
    lo, hi, c = lo[last], hi[last], c[last]
    graph = sp.coo_matrix((np.r_[c, c], (np.r_[lo, hi], np.r_[hi, lo])), shape=(n, n)).tocsr()
    costs = shortest_path(graph, method="D", directed=True)
    if not np.isfinite(costs).all():
        raise InvalidInput(f"{path}: the graph is not connected")
    return PMedianInstance(path.stem, n, p, costs)


def read_optima(path: str | Path) -> dict[str, float]:
    """Return {instance name: optimal value} from OR-Library's pmedopt.txt."""
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("pmed"):
            out[parts[0]] = float(parts[1])
    return out
