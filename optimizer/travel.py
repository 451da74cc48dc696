"""Travel minutes from provider bases to zones, and the travel cost of care (methodology s2).

One-way minutes `t[i,j]` come from an imported matrix where it has the pair, else from the
straight-line estimate `t = access_minutes + 60 * haversine_km / crow_kmh`. Serving zone `i`
from base `j` costs `tau[i,j] = (60 / visit_minutes) * (2 t[i,j] / visits_per_run + hop[i])`
travel minutes per contact hour.

Everything here works on arrays. The coverage LP only needs the pairs within the travel limit,
so `candidate_pairs` finds them with a k-d tree on the unit sphere (no dense zone x provider
matrix), which is what lets a national instance (33,000 x 10,000) fit in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from market.entities import TRAVEL
from market.errors import ImportRejected, InvalidInput, Problem
from market.parameters import RURALITY_CLASSES, ParameterSet

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Return great-circle km between points given in degrees (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * radius_km * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def estimate_minutes(km, access_minutes: float = 5.0, crow_kmh: float = 45.0) -> np.ndarray:
    """Return the estimated one-way car minutes for a straight-line distance in km."""
    return access_minutes + 60.0 * np.asarray(km, dtype=float) / crow_kmh


def tau_minutes(t, hop, visit_minutes: float = 45.0, visits_per_run: float = 6.0) -> np.ndarray:
    """Return travel minutes per contact hour for one-way minutes `t` and hop minutes `hop`."""
    return (60.0 / visit_minutes) * (2.0 * np.asarray(t, float) / visits_per_run
                                     + np.asarray(hop, float))


def hop_minutes(zones: pd.DataFrame, params: ParameterSet) -> np.ndarray:
    """Return each zone's hop minutes: its own value where given, else by its rurality.

    A zone with neither a hop value nor a known rurality is an error (the cost of serving it
    would be a guess).
    """
    n = len(zones)
    own = (pd.to_numeric(zones["hop_minutes"], errors="coerce").to_numpy(float)
           if "hop_minutes" in zones else np.full(n, np.nan))
    rur = (zones["rurality"].astype("object").where(zones["rurality"].notna(), None)
           if "rurality" in zones else pd.Series([None] * n, dtype="object"))
    by_class = {r: params.hop_minutes(r) for r in RURALITY_CLASSES}
    from_class = np.array([by_class.get(str(r).strip().lower(), np.nan) if r is not None
                           else np.nan for r in rur], dtype=float)
    hop = np.where(np.isnan(own), from_class, own)
    bad = np.flatnonzero(np.isnan(hop))
    if len(bad):
        ids = ", ".join(map(str, zones["zone_id"].iloc[bad[:10]]))
        raise InvalidInput(f"{len(bad)} zone(s) have neither hop_minutes nor a rurality class "
                           f"({', '.join(RURALITY_CLASSES)}): {ids}")
    if (hop < 0).any():
        raise InvalidInput("hop_minutes cannot be negative")
    return hop


# --------------------------------------------------------------------------------------------
# Calibration


# The band of a coverage result: the estimate's error quantiles (routed / estimated minutes).
BAND_QUANTILES = (0.1, 0.9)
# Pairs that decide reach: routed minutes within these multiples of the travel limit.
NEAR_LIMIT = (0.5, 1.5)
# Fewer pairs than this near the limit: the fit and the error use every pair of the matrix;
# fewer than this in all: the error is the parameters' default.
MIN_NEAR_PAIRS = 30


@dataclass(frozen=True)
class TravelFit:
    """A fit of `t = access_minutes + 60 km / crow_kmh` to a matrix's pairs.

    `method` "ols": least squares over the pairs (`calibrate`); "near_limit": the parameters'
    estimate scaled by the median routed/estimated ratio of the pairs near the limit
    (`calibrate_near_limit`, what coverage uses, chosen by the comparison in
    docs/optimizer.md). The errors are over every pair given, whichever pairs the fit used.
    """

    access_minutes: float
    crow_kmh: float
    pairs: int
    median_abs_error_minutes: float
    median_abs_pct_error: float  # a share: 0.13 is 13%
    median_abs_pct_error_upto_75: float | None  # on trips of at most 75 minutes, as in s2
    default_median_abs_pct_error: float  # the parameters' pair on the same pairs, to compare
    method: str = "ols"
    pairs_fitted: int | None = None  # the pairs the fit used (near the limit), where fewer
    scale: float | None = None  # near_limit: the median ratio applied to the parameters' pair

    def to_dict(self) -> dict:
        return asdict(self)


def _usable(km, minutes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    km = np.asarray(km, float).ravel()
    t = np.asarray(minutes, float).ravel()
    return km, t, np.isfinite(km) & np.isfinite(t)


def _fit_errors(km: np.ndarray, t: np.ndarray, a: float, crow: float, access_minutes: float,
                crow_kmh: float) -> tuple[float, float, float | None, float]:
    """Median absolute error (minutes, share, share on trips up to 75 min) and the defaults'."""
    def errors(pred: np.ndarray) -> tuple[float, float]:
        err = np.abs(pred - t)
        pct = err[t > 0] / t[t > 0]
        return float(np.median(err)), float(np.median(pct)) if len(pct) else math.nan

    pred = estimate_minutes(km, a, crow)
    mdae, mdape = errors(pred)
    short = t <= 75
    upto = (float(np.median(np.abs(pred[short] - t[short]) / t[short]))
            if short.any() and (t[short] > 0).all() else None)
    _, default_mdape = errors(estimate_minutes(km, access_minutes, crow_kmh))
    return mdae, mdape, upto, default_mdape


def near_limit(minutes, limit) -> np.ndarray:
    """Which pairs decide reach: routed minutes between NEAR_LIMIT times their limit."""
    t, lim = np.asarray(minutes, float), np.asarray(limit, float)
    return (t >= NEAR_LIMIT[0] * lim) & (t <= NEAR_LIMIT[1] * lim)


def _decision_pairs(km, minutes, limit, access_minutes, crow_kmh):
    """(ratios routed/estimated, how chosen) over the pairs near the limit, else all pairs."""
    km, t, ok = _usable(km, minutes)
    est = estimate_minutes(km, access_minutes, crow_kmh)
    ok &= est > 0
    near = ok & near_limit(t, np.broadcast_to(np.asarray(limit, float), t.shape))
    if near.sum() >= MIN_NEAR_PAIRS:
        lo, hi = NEAR_LIMIT
        return t[near] / est[near], f"{int(near.sum())} pairs within {lo:g}-{hi:g}x the limit"
    return t[ok] / est[ok], f"all {int(ok.sum())} pairs (fewer than {MIN_NEAR_PAIRS} near the limit)"


def calibrate_near_limit(km, minutes, limit, access_minutes: float = 5.0,
                         crow_kmh: float = 45.0) -> TravelFit:
    """Fit the estimate where it decides reach: scale (access_minutes, crow_kmh) by r.

    r is the median of routed / estimated minutes over the pairs whose routed minutes are
    within NEAR_LIMIT times `limit` (a number or one per pair), or over every pair when fewer
    than MIN_NEAR_PAIRS are: `t = r access + 60 km / (crow / r)`. On the Devon matrix this
    gives the unmet hours closest to the routed answer at 30, 45 and 60 minutes of the fits
    compared in docs/optimizer.md (least squares over all pairs, over the pairs near the
    limit, minimum misclassified reach, the defaults). Raises InvalidInput when fewer than 3
    pairs have coordinates and a positive time.
    """
    km, t, ok = _usable(km, minutes)
    ok &= t > 0
    if ok.sum() < 3:
        raise InvalidInput(f"cannot fit travel speed: {int(ok.sum())} usable pair(s) with "
                           "coordinates (need at least 3)")
    ratios, _how = _decision_pairs(km[ok], t[ok], np.broadcast_to(
        np.asarray(limit, float), t.shape)[ok], access_minutes, crow_kmh)
    if len(ratios) < 3:
        raise InvalidInput("cannot fit travel speed: fewer than 3 pairs with a positive estimate")
    r = float(np.median(ratios))
    a, crow = access_minutes * r, crow_kmh / r
    mdae, mdape, upto, default_mdape = _fit_errors(km[ok], t[ok], a, crow, access_minutes,
                                                   crow_kmh)
    return TravelFit(a, crow, int(ok.sum()), mdae, mdape, upto, default_mdape, "near_limit",
                     int(len(ratios)), r)


def _threshold_km(km: np.ndarray, minutes: np.ndarray, limit: float) -> float:
    """The distance D that misclassifies fewest pairs as in reach (km <= D) or out of it
    against their routed minutes (<= limit): exact, by one pass over the pairs sorted by km."""
    order = np.argsort(km, kind="stable")
    ks, inside = km[order], minutes[order] <= limit
    wrong_in = np.r_[0, np.cumsum(~inside)]  # the first i pairs in reach: out ones wrong
    wrong_out = np.r_[np.cumsum(inside[::-1])[::-1], 0]  # the rest out: in ones wrong
    i = int(np.argmin(wrong_in + wrong_out))
    if i == 0:
        return float(ks[0]) / 2.0
    return float(ks[i - 1] if i == len(ks) else (ks[i - 1] + ks[i]) / 2.0)


def calibrate_misclassified(km, minutes, limit: float, access_minutes: float = 5.0,
                            crow_kmh: float = 45.0, steps: int = 21) -> TravelFit:
    """Fit the estimate by the fewest pairs misclassified in or out of reach.

    At one limit L the estimate classifies a pair by distance alone (in reach when
    `km <= (L - a) c / 60`), so only that threshold can be fitted; the best threshold D(L')
    is found at `steps` limits from 0.5 L to 1.5 L and the line `D = (L' - a) c / 60`
    fitted through them gives a and c. Compared with the other fits in docs/optimizer.md.
    """
    km, t, ok = _usable(km, minutes)
    km, t = km[ok], t[ok]
    if len(t) < 3 or np.ptp(km) <= 0:
        raise InvalidInput(f"cannot fit travel speed: {len(t)} usable pair(s) with coordinates "
                           "(need at least 3 at different distances)")
    limits = np.linspace(NEAR_LIMIT[0] * limit, NEAR_LIMIT[1] * limit, steps)
    d = np.array([_threshold_km(km, t, float(x)) for x in limits])
    slope, intercept = np.polyfit(limits, d, 1)
    if not slope > 0:
        raise InvalidInput("cannot fit travel speed: the best reach threshold does not grow "
                           "with the limit")
    crow = 60.0 * float(slope)
    a = max(0.0, -float(intercept) * 60.0 / crow)
    mdae, mdape, upto, default_mdape = _fit_errors(km, t, a, crow, access_minutes, crow_kmh)
    return TravelFit(a, crow, int(len(t)), mdae, mdape, upto, default_mdape, "misclassification")


@dataclass(frozen=True)
class EstimateError:
    """How far routed minutes fall from the estimate in use: `ratios` are the `quantiles` of
    routed / estimated minutes (from a matrix's pairs near the limit, or the parameters'
    defaults where there is no usable matrix)."""

    quantiles: tuple[float, float]
    ratios: tuple[float, float]
    pairs: int  # 0: the defaults
    source: str

    def to_dict(self) -> dict:
        return {"quantiles": list(self.quantiles), "ratios": list(self.ratios),
                "pairs": self.pairs, "source": self.source}


def estimate_error(km, minutes, limit, access_minutes: float, crow_kmh: float,
                   default: tuple[float, float], quantiles: tuple[float, float] = BAND_QUANTILES
                   ) -> EstimateError:
    """The estimate's error quantiles on a matrix (see EstimateError); `default` (low, high)
    when fewer than MIN_NEAR_PAIRS pairs can be compared."""
    if km is not None and minutes is not None and len(np.asarray(minutes)):
        ratios, how = _decision_pairs(km, minutes, limit, access_minutes, crow_kmh)
        if len(ratios) >= MIN_NEAR_PAIRS:
            lo, hi = (float(q) for q in np.quantile(ratios, quantiles))
            return EstimateError((float(quantiles[0]), float(quantiles[1])), (lo, hi),
                                 int(len(ratios)),
                                 f"travel matrix: routed / estimated minutes over {how}")
    return EstimateError((float(quantiles[0]), float(quantiles[1])),
                         (float(default[0]), float(default[1])), 0,
                         "default: parameters estimate_ratio_low and estimate_ratio_high "
                         "(measured on the Devon car matrix, docs/optimizer.md)")


def calibrate(km, minutes, access_minutes: float = 5.0, crow_kmh: float = 45.0,
              max_minutes: float | None = None, min_minutes: float | None = None) -> TravelFit:
    """Fit `access_minutes` and `crow_kmh` to observed minutes by ordinary least squares.

    `access_minutes`/`crow_kmh` are the pair in use, reported alongside for comparison.
    `max_minutes` (`min_minutes`) restricts the fit to pairs of at most (at least) that many
    observed minutes. Raises InvalidInput when the pairs cannot determine a positive speed.
    """
    km = np.asarray(km, float).ravel()
    t = np.asarray(minutes, float).ravel()
    ok = np.isfinite(km) & np.isfinite(t)
    if max_minutes is not None:
        ok &= t <= max_minutes
    if min_minutes is not None:
        ok &= t >= min_minutes
    km, t = km[ok], t[ok]
    if len(t) < 3 or np.ptp(km) <= 0:
        raise InvalidInput(f"cannot fit travel speed: {len(t)} usable pair(s) with coordinates "
                           "(need at least 3 at different distances)")
    design = np.column_stack([np.ones_like(km), km])
    (a, b), *_ = np.linalg.lstsq(design, t, rcond=None)
    if not b > 0:
        raise InvalidInput(f"cannot fit travel speed: minutes do not grow with distance "
                           f"(slope {b:.4g} minutes per km)")

    mdae, mdape, upto, default_mdape = _fit_errors(km, t, float(a), float(60.0 / b),
                                                   access_minutes, crow_kmh)
    return TravelFit(float(a), float(60.0 / b), int(len(t)), mdae, mdape, upto, default_mdape)


# --------------------------------------------------------------------------------------------
# Matrices


def read_matrix(travel: pd.DataFrame, zone_ids: pd.Index, provider_ids: pd.Index,
                file: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate an imported travel matrix and return (zone index, provider index, minutes).

    `travel` has columns provider_id, zone_id, minutes. Blank, NaN, negative or non-numeric
    minutes, ids not in the market and repeated pairs reject the matrix with file/row/column.
    """
    typed = TRAVEL.validate(travel, file)
    rows = np.arange(2, 2 + len(typed))
    zi = zone_ids.get_indexer(typed["zone_id"])
    pj = provider_ids.get_indexer(typed["provider_id"])
    problems: list[Problem] = []
    for pos in np.flatnonzero(zi < 0)[:200]:
        problems.append(Problem(f"unknown zone '{typed['zone_id'].iloc[pos]}'", file,
                                int(rows[pos]), "zone_id"))
    for pos in np.flatnonzero(pj < 0)[:200]:
        problems.append(Problem(f"unknown provider or site '{typed['provider_id'].iloc[pos]}'",
                                file, int(rows[pos]), "provider_id"))
    if not problems:
        key = zi.astype(np.int64) * max(len(provider_ids), 1) + pj
        dup = pd.Series(key).duplicated().to_numpy()
        for pos in np.flatnonzero(dup)[:200]:
            problems.append(Problem(
                f"repeated pair provider '{typed['provider_id'].iloc[pos]}', zone "
                f"'{typed['zone_id'].iloc[pos]}'", file, int(rows[pos]), "zone_id"))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise ImportRejected(problems, file)
    return zi.astype(np.int64), pj.astype(np.int64), typed["minutes"].to_numpy(float)


def wide_to_long(matrix: pd.DataFrame, zone_column: str | None = None) -> pd.DataFrame:
    """Turn a zone-by-provider table (first column the zone ids) into provider_id/zone_id/minutes."""
    zone_column = zone_column or matrix.columns[0]
    long = matrix.melt(id_vars=[zone_column], var_name="provider_id", value_name="minutes")
    return long.rename(columns={zone_column: "zone_id"})[["provider_id", "zone_id", "minutes"]]


@dataclass
class Pairs:
    """Zone-provider pairs in COO form: indices, one-way minutes, and whether from the matrix."""

    zone: np.ndarray
    provider: np.ndarray
    minutes: np.ndarray
    from_matrix: np.ndarray

    def __len__(self) -> int:
        return len(self.zone)


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def candidate_pairs(zone_lat, zone_lon, prov_lat, prov_lon, limit, *,
                    matrix: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    access_minutes: float = 5.0, crow_kmh: float = 45.0,
                    radius_km: float = EARTH_RADIUS_KM,
                    max_per_zone: int | None = None) -> Pairs:
    """Return every pair with `t <= limit[provider]`, matrix minutes first, estimates after.

    Estimated pairs need coordinates at both ends; a zone or base without them can only be
    linked through the matrix. `max_per_zone` keeps each zone's nearest pairs (by minutes).
    """
    zone_lat, zone_lon = np.asarray(zone_lat, float), np.asarray(zone_lon, float)
    prov_lat, prov_lon = np.asarray(prov_lat, float), np.asarray(prov_lon, float)
    limit = np.asarray(limit, float)
    n_zones, n_prov = len(zone_lat), len(prov_lat)
    parts_z, parts_p, parts_t, parts_m = [], [], [], []
    matrix_keys = None
    if matrix is not None and len(matrix[0]):
        mz, mp, mt = matrix
        matrix_keys = np.sort(mz.astype(np.int64) * n_prov + mp)
        keep = mt <= limit[mp]
        parts_z.append(mz[keep])
        parts_p.append(mp[keep])
        parts_t.append(mt[keep])
        parts_m.append(np.ones(int(keep.sum()), bool))
    zok = np.flatnonzero(np.isfinite(zone_lat) & np.isfinite(zone_lon))
    pok = np.flatnonzero(np.isfinite(prov_lat) & np.isfinite(prov_lon) & (limit > access_minutes))
    if len(zok) and len(pok):
        from scipy.spatial import cKDTree

        max_km = (float(limit[pok].max()) - access_minutes) * crow_kmh / 60.0
        # chord length of the arc max_km on the unit sphere, with a little slack for rounding
        chord = 2.0 * math.sin(min(max_km / (2.0 * radius_km), math.pi / 2)) * (1 + 1e-9) + 1e-12
        ptree = cKDTree(_unit_xyz(prov_lat[pok], prov_lon[pok]))
        zxyz = _unit_xyz(zone_lat[zok], zone_lon[zok])
        if max_per_zone is not None and matrix_keys is None:
            # Without a matrix, minutes grow with distance: each zone's nearest bases are
            # enough. Ask for k, and more for zones whose k-th base is still within reach
            # but lost pairs to a base's own, shorter limit.
            ez, ep = _nearest(ptree, zxyz, chord, int(max_per_zone), zone_lat[zok],
                              zone_lon[zok], prov_lat[pok], prov_lon[pok], limit[pok],
                              access_minutes, crow_kmh, radius_km)
            ez, ep = zok[ez], pok[ep]
        else:
            near = cKDTree(zxyz).sparse_distance_matrix(ptree, chord, output_type="ndarray")
            ez = zok[near["i"]].astype(np.int64)
            ep = pok[near["j"]].astype(np.int64)
        km = haversine_km(zone_lat[ez], zone_lon[ez], prov_lat[ep], prov_lon[ep], radius_km)
        et = estimate_minutes(km, access_minutes, crow_kmh)
        keep = et <= limit[ep]
        if matrix_keys is not None:
            keys = ez * n_prov + ep
            pos = np.searchsorted(matrix_keys, keys)
            pos[pos >= len(matrix_keys)] = 0
            keep &= matrix_keys[pos] != keys
        parts_z.append(ez[keep])
        parts_p.append(ep[keep])
        parts_t.append(et[keep])
        parts_m.append(np.zeros(int(keep.sum()), bool))
    if not parts_z:
        e = np.zeros(0, np.int64)
        return Pairs(e, e.copy(), np.zeros(0), np.zeros(0, bool))
    z = np.concatenate(parts_z)
    p = np.concatenate(parts_p)
    t = np.concatenate(parts_t)
    m = np.concatenate(parts_m)
    order = np.lexsort((p, t, z))  # by zone, then minutes, then provider: deterministic
    z, p, t, m = z[order], p[order], t[order], m[order]
    if max_per_zone is not None and len(z):
        starts = np.flatnonzero(np.r_[True, z[1:] != z[:-1]])
        counts = np.diff(np.r_[starts, len(z)])
        rank = np.arange(len(z)) - np.repeat(starts, counts)
        keep = rank < max_per_zone
        z, p, t, m = z[keep], p[keep], t[keep], m[keep]
    _ = n_zones
    return Pairs(z, p, t, m)


def _nearest(ptree, zxyz, chord, want, zlat, zlon, plat, plon, limit, access, crow, radius):
    """Pairs (zone, base) of each zone's `want` nearest bases within their limits."""
    n = len(zxyz)
    todo = np.arange(n)
    k = min(want, ptree.n)
    out_z, out_p = [], []
    while len(todo):
        dist, idx = ptree.query(zxyz[todo], k=k, distance_upper_bound=chord)
        dist, idx = dist.reshape(len(todo), k), idx.reshape(len(todo), k)
        found = np.isfinite(dist)
        zi = np.repeat(todo, k).reshape(len(todo), k)
        pz, pp = zi[found], idx[found]
        km = haversine_km(zlat[pz], zlon[pz], plat[pp], plon[pp], radius)
        ok = estimate_minutes(km, access, crow) <= limit[pp]
        kept = np.bincount(np.searchsorted(todo, pz[ok]), minlength=len(todo))
        # a zone is done when it has enough, or its k-th neighbour is out of reach anyway
        done = (kept >= want) | ~found[:, -1] | (k >= ptree.n)
        sel = np.isin(pz, todo[done]) & ok
        out_z.append(pz[sel])
        out_p.append(pp[sel])
        todo = todo[~done]
        k = min(2 * k, ptree.n)
    return np.concatenate(out_z).astype(np.int64), np.concatenate(out_p).astype(np.int64)


def travel_minutes(zones: pd.DataFrame, providers: pd.DataFrame,
                   travel: pd.DataFrame | None = None, params: ParameterSet | None = None,
                   fit: TravelFit | Mapping | None = None) -> pd.DataFrame:
    """Return one-way minutes for every provider x zone pair (matrix first, estimate else).

    Columns provider_id, zone_id, minutes (NaN where neither the matrix nor coordinates give
    one), km, source ('matrix' or 'estimate'). Dense: meant for county-sized markets and pages;
    the LP uses `candidate_pairs`.
    """
    params = params or ParameterSet()
    access = float(fit["access_minutes"] if isinstance(fit, Mapping)
                   else fit.access_minutes if fit else params["access_minutes"])
    crow = float(fit["crow_kmh"] if isinstance(fit, Mapping)
                 else fit.crow_kmh if fit else params["crow_kmh"])
    zlat = pd.to_numeric(zones["lat"], errors="coerce").to_numpy(float)
    zlon = pd.to_numeric(zones["lon"], errors="coerce").to_numpy(float)
    plat = pd.to_numeric(providers["lat"], errors="coerce").to_numpy(float)
    plon = pd.to_numeric(providers["lon"], errors="coerce").to_numpy(float)
    km = haversine_km(zlat[None, :], zlon[None, :], plat[:, None], plon[:, None],
                      params["earth_radius_km"])
    t = estimate_minutes(km, access, crow)
    src = np.full(t.shape, "estimate", dtype=object)
    src[np.isnan(t)] = None
    if travel is not None and len(travel):
        zi, pj, mt = read_matrix(travel, pd.Index(zones["zone_id"].astype(str)),
                                 pd.Index(providers["provider_id"].astype(str)))
        t[pj, zi] = mt
        src[pj, zi] = "matrix"
    n_p, n_z = t.shape
    return pd.DataFrame({
        "provider_id": np.repeat(providers["provider_id"].astype(str).to_numpy(), n_z),
        "zone_id": np.tile(zones["zone_id"].astype(str).to_numpy(), n_p),
        "minutes": t.ravel(), "km": km.ravel(), "source": src.ravel(),
    })
