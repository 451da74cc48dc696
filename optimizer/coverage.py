"""The home-care coverage linear programme (methodology s3): care gaps and the travel to fill them.

`CoverageModel.from_frames(zones, providers, travel)` prepares the market as arrays (the pairs
within the travel limit, their minutes and travel cost), `solve()` runs the lexicographic
phases, and the result is read from attributes (`zones`, `providers`, `assignment` frames and
headline figures) or `to_dict()` (the JSON the CLI and the API print).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from market.errors import CareMarketError, InvalidInput, UnknownEntity, shown
from market.parameters import ParameterSet
from optimizer.lp import (
    INF,
    LinearProgram,
    Phase,
    Pricing,
    resolve_solver,
    solve_lexicographic,
)
from optimizer.travel import (
    EstimateError,
    TravelFit,
    calibrate_near_limit,
    candidate_pairs,
    estimate_error,
    haversine_km,
    hop_minutes,
    read_matrix,
    tau_minutes,
)

VARIANTS = ("standard", "fair")
# Phase-1 tolerances: unmet hours may exceed their optimum by this share of total demand in
# later phases (methodology s3); the fair variant's largest unmet share by this absolute amount.
UNMET_TOLERANCE = 1e-7
SHARE_TOLERANCE = 1e-7
TRAVEL_PARAMETERS = ("access_minutes", "crow_kmh", "earth_radius_km", "visits_per_run",
                     "visit_minutes", "hop_minutes_urban", "hop_minutes_town",
                     "hop_minutes_village", "hop_minutes_sparse", "max_travel_minutes",
                     "estimate_ratio_low", "estimate_ratio_high")


def _numeric(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    if column not in frame:
        return np.full(n, np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float, copy=True)


def _ids(frame: pd.DataFrame, column: str, what: str) -> pd.Index:
    if column not in frame:
        raise InvalidInput(f"{what} table has no '{column}' column (it has: "
                           f"{', '.join(map(str, frame.columns)) or 'no columns'})")
    ids = frame[column]
    if ids.isna().any():
        raise InvalidInput(f"{int(ids.isna().sum())} {what}(s) have a blank {column}")
    idx = pd.Index(ids.astype(str).str.strip())
    dup = idx[idx.duplicated()]
    if len(dup):
        raise InvalidInput(f"{what} id(s) repeated: {', '.join(map(str, dup[:10]))}")
    return idx


@dataclass(frozen=True)
class Geometry:
    """Coordinates, limits and routed pairs from which `candidate_pairs` finds the pairs."""

    zone_lat: np.ndarray
    zone_lon: np.ndarray
    prov_lat: np.ndarray
    prov_lon: np.ndarray
    limit: np.ndarray  # each base's limit (minutes)
    matrix: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # routed (zone, base, minutes)
    access_minutes: float
    crow_kmh: float
    radius_km: float
    max_per_zone: int | None


@dataclass
class Market:
    """A coverage instance as arrays: zones i, bases j and the pairs (i, j) within the limit."""

    zones: pd.DataFrame  # zone_id, name?, rurality?, lat, lon, demand_hours, hop_minutes
    providers: pd.DataFrame  # provider_id, name?, lat, lon, capacity_hours, limit, added
    demand: np.ndarray
    capacity: np.ndarray
    hop: np.ndarray
    pair_zone: np.ndarray
    pair_provider: np.ndarray
    minutes: np.ndarray
    from_matrix: np.ndarray
    tau: np.ndarray  # travel minutes per contact hour of each pair
    params: ParameterSet
    max_travel_minutes: float
    levers: dict[str, Any] = field(default_factory=dict)
    travel_fit: TravelFit | None = None
    warnings: list[str] = field(default_factory=list)
    # what finding the pairs again at another estimate needs (the travel band)
    geometry: Geometry | None = None
    estimate_error: EstimateError | None = None

    @property
    def n_zones(self) -> int:
        return len(self.demand)

    @property
    def n_providers(self) -> int:
        return len(self.capacity)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_zone)


def prepare_market(zones: pd.DataFrame, providers: pd.DataFrame,
                   travel: pd.DataFrame | None = None, params: ParameterSet | None = None, *,
                   max_travel_minutes: float | None = None,
                   capacity_changes: Mapping[str, float] | None = None,
                   removed_providers: Iterable[str] = (),
                   added_bases: pd.DataFrame | None = None,
                   max_providers_per_zone: int | None = None,
                   calibrate_travel: bool = True,
                   travel_file: str | None = None) -> Market:
    """Check the inputs, apply the scenario levers and find the pairs (see CoverageModel)."""
    params = params or ParameterSet()
    notes: list[str] = []
    if zones is None or len(zones) == 0:
        raise InvalidInput("the market has no zones: nothing to cover")
    zones = zones.reset_index(drop=True).copy()
    zone_ids = _ids(zones, "zone_id", "zone")
    zones["zone_id"] = zone_ids
    nz = len(zones)
    if "demand_hours" not in zones:
        raise InvalidInput("zone table has no 'demand_hours' column")
    raw_demand = zones["demand_hours"]
    demand = _numeric(zones, "demand_hours", nz)
    not_number = np.isnan(demand) & raw_demand.notna().to_numpy() & \
        (raw_demand.astype("string").str.strip().fillna("") != "").to_numpy()
    if not_number.any():
        bad = zone_ids[not_number][:10]
        raise InvalidInput(f"demand_hours is not a number for zone(s) {', '.join(bad)}")
    if np.isinf(demand).any():
        raise InvalidInput(f"demand_hours is infinite for zone(s) "
                           f"{', '.join(zone_ids[np.isinf(demand)][:10])}")
    if (demand < 0).any():
        neg = np.flatnonzero(demand < 0)[:10]
        raise InvalidInput("demand_hours cannot be negative: " + ", ".join(
            f"{zone_ids[i]} ({demand[i]:g})" for i in neg))
    if np.isnan(demand).any():
        missing = zone_ids[np.isnan(demand)]
        notes.append(f"{len(missing)} zone(s) have no demand_hours and count as 0: "
                     f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        demand = np.nan_to_num(demand, nan=0.0)
    zones["demand_hours"] = demand
    hop = hop_minutes(zones, params)
    zlat, zlon = _numeric(zones, "lat", nz), _numeric(zones, "lon", nz)
    no_xy = int((np.isnan(zlat) | np.isnan(zlon)).sum())
    if no_xy:
        notes.append(f"{no_xy} zone(s) have no coordinates: only matrix times reach them")

    # Bases: the providers, less exits, plus added bases (a site, a new agency).
    providers = (providers if providers is not None else pd.DataFrame(
        columns=["provider_id", "capacity_hours"])).reset_index(drop=True).copy()
    if "provider_id" not in providers and len(providers) == 0:
        providers["provider_id"] = pd.Series(dtype=str)
    providers["provider_id"] = _ids(providers, "provider_id", "provider")
    providers["added"] = False
    if added_bases is not None and len(added_bases):
        added = added_bases.reset_index(drop=True).copy()
        if "provider_id" not in added and "site_id" in added:
            added = added.rename(columns={"site_id": "provider_id"})
        added["provider_id"] = _ids(added, "provider_id", "added base")
        clash = set(added["provider_id"]) & set(providers["provider_id"])
        if clash:
            raise InvalidInput(f"added base id(s) already used by a provider: "
                               f"{', '.join(sorted(clash)[:10])}")
        added["added"] = True
        providers = pd.concat([providers, added], ignore_index=True)
    all_ids = pd.Index(providers["provider_id"].astype(str))
    if "capacity_hours" not in providers:
        raise InvalidInput("provider table has no 'capacity_hours' column")
    capacity = _numeric(providers, "capacity_hours", len(providers))
    changes = {str(k): v for k, v in (capacity_changes or {}).items()}
    unknown = [k for k in changes if k not in all_ids]
    if unknown:
        raise UnknownEntity(f"capacity change for unknown provider(s): {', '.join(unknown)}")
    for pid, hours in changes.items():
        try:
            value = float(hours)
        except (TypeError, ValueError):
            raise InvalidInput(f"capacity for provider {pid}: {shown(hours)} is not a number") from None
        capacity[all_ids.get_loc(pid)] = value
    bad = np.flatnonzero(~np.isfinite(capacity) | (capacity < 0))
    if len(bad):
        raise InvalidInput("capacity_hours must be a number of at least 0 for every provider: "
                           + ", ".join(f"{all_ids[j]} ({shown(providers['capacity_hours'].iloc[j])})"
                                       if pd.isna(capacity[j]) else f"{all_ids[j]} ({capacity[j]:g})"
                                       for j in bad[:10]))
    removed = [str(r) for r in removed_providers]
    unknown = [r for r in removed if r not in all_ids]
    if unknown:
        raise UnknownEntity(f"cannot remove unknown provider(s): {', '.join(unknown)}")
    keep = ~all_ids.isin(removed)

    limit_all = params["max_travel_minutes"] if max_travel_minutes is None else max_travel_minutes
    limit_all = ParameterSet().definition("max_travel_minutes").check(limit_all)
    own = _numeric(providers, "max_travel_minutes", len(providers))
    if (own <= 0).any():
        raise InvalidInput("a provider's max_travel_minutes must be above 0")
    limit = np.where(np.isnan(own), limit_all, np.minimum(own, limit_all))
    plat = _numeric(providers, "lat", len(providers))
    plon = _numeric(providers, "lon", len(providers))

    access, crow = params["access_minutes"], params["crow_kmh"]
    fit = None
    matrix = None
    km = None
    if travel is not None and len(travel):
        mz, mp, mt = read_matrix(travel, zone_ids, all_ids, travel_file)
        km = haversine_km(zlat[mz], zlon[mz], plat[mp], plon[mp], params["earth_radius_km"])
        overridden = {"access_minutes", "crow_kmh"} & set(params.overrides)
        if calibrate_travel and not overridden:
            try:
                fit = calibrate_near_limit(km, mt, limit[mp], access, crow)
                access, crow = fit.access_minutes, fit.crow_kmh
            except CareMarketError as exc:
                notes.append(f"travel fit not used: {exc}")
        matrix = (mz, mp, mt)
    elif travel is not None:
        notes.append("the travel matrix is empty: every time is estimated")
    # the estimate's error where it is used: from the matrix's pairs near the limit (at the
    # estimate in use, fitted or not), else the parameters' defaults
    error = estimate_error(km, matrix[2] if matrix else None,
                           limit[matrix[1]] if matrix else None, access, crow,
                           (params["estimate_ratio_low"], params["estimate_ratio_high"]))
    if max_providers_per_zone is not None and int(max_providers_per_zone) < 1:
        raise InvalidInput("max_providers_per_zone must be at least 1")

    added_ids = [str(x) for x in all_ids[providers["added"].astype(bool).to_numpy()]]
    # Map to the kept bases only (an exit takes its pairs with it).
    new_index = np.cumsum(keep) - 1
    if matrix is not None:
        sel = keep[matrix[1]]
        matrix = (matrix[0][sel], new_index[matrix[1][sel]], matrix[2][sel])
    providers = providers.loc[keep].reset_index(drop=True)
    capacity, limit, plat, plon = capacity[keep], limit[keep], plat[keep], plon[keep]
    providers["capacity_hours"] = capacity
    pairs = candidate_pairs(zlat, zlon, plat, plon, limit, matrix=matrix,
                            access_minutes=access, crow_kmh=crow,
                            radius_km=params["earth_radius_km"],
                            max_per_zone=max_providers_per_zone)
    tau = tau_minutes(pairs.minutes, hop[pairs.zone], params["visit_minutes"],
                      params["visits_per_run"])
    if len(capacity) == 0:
        notes.append("the market has no home-care providers: all demand is unmet")
    levers = {
        "max_travel_minutes": float(limit_all),
        "max_providers_per_zone": max_providers_per_zone,
        "capacity_changes": {k: float(v) for k, v in changes.items()},
        "removed_providers": removed,
        "added_bases": added_ids,
        "access_minutes_used": float(access), "crow_kmh_used": float(crow),
    }
    geometry = Geometry(zlat, zlon, plat, plon, limit, matrix, float(access), float(crow),
                        params["earth_radius_km"], max_providers_per_zone)
    return Market(zones, providers, demand, capacity, hop, pairs.zone, pairs.provider,
                  pairs.minutes, pairs.from_matrix, tau, params, float(limit_all), levers, fit,
                  notes, geometry, error)


def at_estimate_ratio(market: Market, ratio: float) -> Market:
    """The market with every estimated minute multiplied by `ratio` (routed ones unchanged).

    `ratio * (a + 60 km / c) = ratio a + 60 km / (c / ratio)`, so the pairs are found again
    by `candidate_pairs` at the scaled estimate: a ratio below 1 brings more pairs in reach.
    """
    g = market.geometry
    if g is None:
        raise CareMarketError("this market was not built by prepare_market: no geometry")
    pairs = candidate_pairs(g.zone_lat, g.zone_lon, g.prov_lat, g.prov_lon, g.limit,
                            matrix=g.matrix, access_minutes=g.access_minutes * ratio,
                            crow_kmh=g.crow_kmh / ratio, radius_km=g.radius_km,
                            max_per_zone=g.max_per_zone)
    tau = tau_minutes(pairs.minutes, market.hop[pairs.zone], market.params["visit_minutes"],
                      market.params["visits_per_run"])
    return replace(market, pair_zone=pairs.zone, pair_provider=pairs.provider,
                   minutes=pairs.minutes, from_matrix=pairs.from_matrix, tau=tau, warnings=[])


@dataclass
class Layout:
    """Where each block of columns and rows of the coverage LP starts."""

    n_pairs: int
    n_zones: int
    n_providers: int
    u: int  # first unmet column
    s: int | None  # the fair variant's largest-share column
    y: int | None  # first site-opening column
    share_rows: np.ndarray  # row of each zone's share constraint (-1: none)
    n_cols: int
    n_rows: int


def coverage_lp(market: Market, variant: str = "standard", optional: np.ndarray | None = None,
                max_open: int | None = None) -> tuple[LinearProgram, Layout]:
    """Build the coverage LP (or the site-selection MILP) as one sparse matrix.

    Columns: x (one per pair), u (one per zone), then s (fair) and y (optional bases).
    Rows: demand (one per zone), capacity (one per base), share (fair, zones with demand),
    then the open-at-most-k row when some bases are optional.
    """
    nz, npv, npair = market.n_zones, market.n_providers, market.n_pairs
    d = market.demand
    u0 = npair
    col = nz + npair
    s_col = None
    if variant == "fair":
        s_col = col
        col += 1
    y0 = None
    opt_idx = np.flatnonzero(optional) if optional is not None else np.zeros(0, np.int64)
    if len(opt_idx):
        y0 = col
        col += len(opt_idx)
    n_cols = col
    pz, pp = market.pair_zone, market.pair_provider
    rows = [pz, nz + pp, np.arange(nz)]
    cols = [np.arange(npair), np.arange(npair), u0 + np.arange(nz)]
    vals = [np.ones(npair), 1.0 + market.tau / 60.0, np.ones(nz)]
    row = nz + npv
    share_rows = np.full(nz, -1, np.int64)
    if s_col is not None:
        pos = np.flatnonzero(d > 0)
        share_rows[pos] = row + np.arange(len(pos))
        rows += [share_rows[pos], share_rows[pos]]
        cols += [u0 + pos, np.full(len(pos), s_col)]
        vals += [np.ones(len(pos)), -d[pos]]
        row += len(pos)
    if y0 is not None:
        rows += [nz + opt_idx, np.full(len(opt_idx), row)]
        cols += [y0 + np.arange(len(opt_idx))] * 2
        vals += [-market.capacity[opt_idx], np.ones(len(opt_idx))]
        row += 1
    n_rows = row
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_rows, n_cols))
    row_lower = np.full(n_rows, -INF)
    row_upper = np.zeros(n_rows)
    row_lower[:nz] = d
    row_upper[:nz] = d
    cap = market.capacity.astype(float).copy()
    if len(opt_idx):
        cap[opt_idx] = 0.0
        row_upper[n_rows - 1] = float(max_open if max_open is not None else len(opt_idx))
    row_upper[nz:nz + npv] = cap
    col_lower = np.zeros(n_cols)
    col_upper = np.full(n_cols, INF)
    if s_col is not None:
        col_upper[s_col] = 1.0
    integer = None
    if y0 is not None:
        col_upper[y0:] = 1.0
        integer = np.zeros(n_cols, bool)
        integer[y0:] = True
    lp = LinearProgram(A, row_lower, row_upper, col_lower, col_upper, integer)
    return lp, Layout(npair, nz, npv, u0, s_col, y0, share_rows, n_cols, n_rows)


def coverage_phases(market: Market, layout: Layout, variant: str,
                    steer: float = 0.0) -> list[Phase]:
    """Phase objectives: [largest unmet share (fair)], total unmet hours, travel hours."""
    total = float(market.demand.sum())
    phases = []
    if variant == "fair":
        c = np.zeros(layout.n_cols)
        c[layout.s] = 1.0
        phases.append(Phase("largest_unmet_share", c, SHARE_TOLERANCE))
    c1 = np.zeros(layout.n_cols)
    c1[layout.u:layout.u + layout.n_zones] = 1.0
    c2 = np.zeros(layout.n_cols)
    c2[:layout.n_pairs] = market.tau / 60.0
    if steer and variant == "standard":
        phases.append(Phase("steer", c1 + steer * c2, 0.0, steer=True))
    phases.append(Phase("unmet_hours", c1, UNMET_TOLERANCE * total))
    phases.append(Phase("travel_hours", c2, 0.0))
    return phases


def demand_gradients(phases: list[Phase], layout: Layout) -> list[np.ndarray]:
    """Return, for each phase, d(phase optimum)/d(demand of each zone) by the chain rule.

    A phase's optimum depends on demand directly (its demand rows, and in the fair variant the
    share rows `u_i - d_i s <= 0`) and through the bounds on earlier phases' objectives, which
    move with demand too. So with y the row duals of phase k,
    `g_k = y[demand] + s_k y[share] + sum_{m<k} y[bound_m] g_m`.
    """
    grads: list[np.ndarray] = []
    nz = layout.n_zones
    for k, phase in enumerate(phases):
        sol = phase.solution
        if sol is None or sol.row_dual is None:
            raise CareMarketError("duals are not available for this model")
        y = sol.row_dual
        g = y[:nz].copy()
        if layout.s is not None:
            has = layout.share_rows >= 0
            g[has] += y[layout.share_rows[has]] * sol.x[layout.s]
        for m in range(k):
            g += y[phases[m].bound_row] * grads[m]
        grads.append(g)
    return grads


def initial_pricing(market: Market, per_zone: int | None) -> Pricing | None:
    """Start column generation with each zone's `per_zone` cheapest pairs (None: all pairs)."""
    if per_zone is None or market.n_pairs <= per_zone * market.n_zones:
        return None
    order = np.lexsort((market.tau, market.pair_zone))
    z = market.pair_zone[order]
    starts = np.flatnonzero(np.r_[True, z[1:] != z[:-1]])
    rank = np.empty(market.n_pairs, np.int64)
    rank[order] = np.arange(len(z)) - np.repeat(starts, np.diff(np.r_[starts, len(z)]))
    return Pricing(np.arange(market.n_pairs), rank < per_zone, market.pair_zone.copy())


class CoverageModel:
    """Home-care coverage LP: meet as much demand as capacity allows, with the least travel.

    Sets and data: zones i with demand `d_i` (contact hours a week) and hop minutes `h_i`;
    bases j (provider offices, added sites) with capacity `C_j` (care-worker hours a week,
    travel included); pairs (i, j) with one-way minutes `t_ij <= min(T, T_j)` (T the
    scenario limit, T_j the provider's own) and travel minutes per contact hour
    `tau_ij = (60 / visit_minutes) (2 t_ij / visits_per_run + h_i)`.

    Variables: `x_ij >= 0` contact hours j delivers in i; `u_i >= 0` unmet hours.

        demand     sum_j x_ij + u_i = d_i                       for every zone i
        capacity   sum_i (1 + tau_ij / 60) x_ij <= C_j          for every base j

    Standard variant, lexicographic:
        1. U* = min sum_i u_i
        2. min sum_ij (tau_ij / 60) x_ij  s.t.  sum_i u_i <= U* + 1e-7 sum_i d_i

    Fair variant: 0. S* = min s s.t. u_i <= s d_i (zones with demand), 0 <= s <= 1; then 1. and
    2. above holding s <= S* + 1e-7.

    Marginal travel hours of a zone: the derivative of the final travel optimum with respect to
    its demand, through every phase (`demand_gradients`); for a zone whose extra hour would go
    unmet it is 0, for one served at the margin by base j it is about tau_ij / 60.

    Usage::

        model = CoverageModel.from_frames(zones, providers, travel).solve("highs")
        model.unmet_hours, model.zones, model.providers, model.assignment, model.to_dict()
    """

    # Column generation (HiGHS back ends): each zone starts with its cheapest pairs; measured
    # on the county benchmark, 12 gives the fastest solves (docs/optimizer.md).
    initial_pairs_per_zone: int | None = 12
    steer: float = 1e-2
    largest_unmet_share: float | None

    def __init__(self, market: Market, variant: str = "standard") -> None:
        if variant not in VARIANTS:
            raise InvalidInput(f"unknown variant '{variant}' (choose from {', '.join(VARIANTS)})")
        self.market = market
        self.variant = variant
        self.status = "not solved"
        self.solver: str | None = None
        self.seconds = 0.0
        self.warnings = list(market.warnings)
        self.band: dict[str, Any] | None = None
        self.band_solved = False
        self.reach_routed_share: float | None = None

    @classmethod
    def from_frames(cls, zones: pd.DataFrame, providers: pd.DataFrame,
                    travel: pd.DataFrame | None = None, params: ParameterSet | None = None, *,
                    max_travel_minutes: float | None = None, variant: str = "standard",
                    capacity_changes: Mapping[str, float] | None = None,
                    removed_providers: Iterable[str] = (),
                    added_bases: pd.DataFrame | None = None,
                    max_providers_per_zone: int | None = None,
                    calibrate_travel: bool = True,
                    travel_file: str | None = None) -> CoverageModel:
        """Build the model from frames of zones, providers and (optionally) a travel matrix.

        zones: zone_id, demand_hours (blank counts as 0, with a warning), lat/lon, rurality
        and/or hop_minutes. providers: provider_id, capacity_hours, lat/lon, optional
        max_travel_minutes. travel: provider_id, zone_id, minutes (a provider_id may name an
        added base). Levers: `capacity_changes` {provider_id: new capacity hours},
        `removed_providers` (exits), `added_bases` (frame like providers, or sites with
        site_id), `max_providers_per_zone` (each zone keeps its nearest bases by minutes).
        When a matrix is given, `access_minutes` and `crow_kmh` are fitted to it and used for
        missing pairs, unless the parameters override them or `calibrate_travel` is False.
        """
        if variant not in VARIANTS:
            raise InvalidInput(f"unknown variant '{variant}' (choose from {', '.join(VARIANTS)})")
        market = prepare_market(zones, providers, travel, params,
                                max_travel_minutes=max_travel_minutes,
                                capacity_changes=capacity_changes,
                                removed_providers=removed_providers, added_bases=added_bases,
                                max_providers_per_zone=max_providers_per_zone,
                                calibrate_travel=calibrate_travel, travel_file=travel_file)
        return cls(market, variant)

    # ----------------------------------------------------------------------------------------

    def solve(self, solver: str | None = "auto", time_limit: float | None = None,
              threads: int | None = None) -> CoverageModel:
        """Solve the phases with `solver` (auto, cbc, highs, ipm, simplex); return self.

        Raises OptimisationError when the solver fails or runs out of `time_limit` seconds.
        """
        start = time.perf_counter()
        m = self.market
        total = float(m.demand.sum())
        if total <= 0:
            self.warnings.append("total demand is zero: nothing to cover")
        lp, layout = coverage_lp(m, self.variant)
        self.solver = resolve_solver(solver, layout.n_cols)
        if m.n_pairs == 0 or total <= 0:
            # Nothing can be delivered: the optimum is all demand unmet, no travel.
            self._x = np.zeros(m.n_pairs)
            self._u = m.demand.copy()
            self._marginal = np.zeros(m.n_zones)
            self._fixed_dual = np.zeros(m.n_zones)
            self.largest_unmet_share = 1.0 if total > 0 else 0.0
            if m.n_pairs == 0 and total > 0 and m.n_providers:
                self.warnings.append("no provider can reach any zone within the travel limit")
        else:
            phases = coverage_phases(m, layout, self.variant, self.steer)
            pricing = initial_pricing(m, self.initial_pairs_per_zone)
            result = solve_lexicographic(lp, phases, self.solver, time_limit, threads,
                                         pricing=pricing)
            self.pricing_rounds = pricing.rounds if pricing is not None else 0
            x = result.last.x
            self._x = np.clip(x[:m.n_pairs], 0.0, None)
            self._u = np.clip(x[layout.u:layout.u + m.n_zones], 0.0, None)
            phases = [p for p in phases if not p.steer]
            sols = [p.solution for p in phases if p.solution is not None]
            self.largest_unmet_share = (float(sols[0].x[layout.s])
                                        if layout.s is not None else None)
            self._marginal = demand_gradients(phases, layout)[-1]
            last_dual = sols[-1].row_dual
            self._fixed_dual = (last_dual[:m.n_zones].copy() if last_dual is not None
                                else np.full(m.n_zones, np.nan))
            self.phase_objectives = {p.name: s.objective for p, s in zip(phases, sols,
                                                                          strict=True)}
            self.phase_seconds = {p.name: s.seconds for p, s in zip(phases, sols, strict=True)}
        self.status = "optimal"
        self.seconds = time.perf_counter() - start
        self._collect()
        return self

    def _collect(self) -> None:
        m = self.market
        x, u = self._x, self._u
        tau = m.tau
        nz, npv = m.n_zones, m.n_providers
        met_z = np.bincount(m.pair_zone, x, nz)
        travel_z = np.bincount(m.pair_zone, tau * x, nz) / 60.0
        contact_p = np.bincount(m.pair_provider, x, npv)
        travel_p = np.bincount(m.pair_provider, tau * x, npv) / 60.0
        reach = np.bincount(m.pair_zone, minlength=nz)
        with np.errstate(invalid="ignore", divide="ignore"):
            tmpch_z = np.where(met_z > 1e-9, 60.0 * travel_z / met_z, np.nan)
            tmpch_p = np.where(contact_p > 1e-9, 60.0 * travel_p / contact_p, np.nan)
            share = np.where(m.demand > 0, u / m.demand, np.nan)
            util = np.where(m.capacity > 0, (contact_p + travel_p) / m.capacity, np.nan)
        z = pd.DataFrame({"zone_id": m.zones["zone_id"].to_numpy()})
        for c in ("name", "rurality"):
            z[c] = m.zones[c].to_numpy() if c in m.zones else None
        z["demand_hours"] = m.demand
        z["met_hours"] = met_z
        z["unmet_hours"] = u
        z["unmet_share"] = share
        z["travel_hours"] = travel_z
        z["travel_minutes_per_contact_hour"] = tmpch_z
        z["marginal_travel_hours"] = self._marginal
        z["travel_dual_fixed_unmet"] = self._fixed_dual
        z["reachable_providers"] = reach
        z["hop_minutes"] = m.hop
        self.zones = z
        p = pd.DataFrame({"provider_id": m.providers["provider_id"].to_numpy()})
        p["name"] = m.providers["name"].to_numpy() if "name" in m.providers else None
        p["capacity_hours"] = m.capacity
        p["contact_hours"] = contact_p
        p["travel_hours"] = travel_p
        p["used_hours"] = contact_p + travel_p
        p["utilisation"] = util
        p["travel_minutes_per_contact_hour"] = tmpch_p
        p["zones_served"] = np.bincount(m.pair_provider[x > 1e-9], minlength=npv)
        p["added"] = m.providers["added"].astype(bool).to_numpy()
        self.providers = p
        pos = np.flatnonzero(x > 1e-9)
        self.assignment = pd.DataFrame({
            "zone_id": z["zone_id"].to_numpy()[m.pair_zone[pos]],
            "provider_id": p["provider_id"].to_numpy()[m.pair_provider[pos]],
            "contact_hours": x[pos], "t_minutes": m.minutes[pos], "tau": tau[pos],
            "travel_hours": tau[pos] * x[pos] / 60.0,
            "source": np.where(m.from_matrix[pos], "matrix", "estimate"),
        })
        self.demand_hours = float(m.demand.sum())
        self.met_hours = float(met_z.sum())
        self.unmet_hours = float(u.sum())
        self.coverage = self.met_hours / self.demand_hours if self.demand_hours > 0 else None
        self.travel_hours = float(travel_z.sum())
        self.travel_minutes_per_contact_hour = (60.0 * self.travel_hours / self.met_hours
                                                if self.met_hours > 1e-9 else None)

    def solve_band(self, solver: str | None = "auto", time_limit: float | None = None,
                   threads: int | None = None) -> CoverageModel:
        """Say how far the answer rests on estimated minutes, and re-solve at their error.

        With (lo, hi) the estimate's error ratios (`market.estimate_error`: quantiles of
        routed / estimated minutes), a pair is *uncertain* when its estimated minutes `e` put
        it in reach at `lo e` but out of it at `hi e`; a zone is `reach_uncertain` when it has
        such a pair and its unmet hours differ between the two solves (by more than the
        solver's tolerance, as `care_gaps`): its care gap rests on estimated minutes near the
        limit. (Nearly every Devon zone has some base near a 45-minute limit; the second
        condition keeps the flag to the zones whose answer moves.)
        Its `reach_routed_share` is the share of its pairs in reach at `lo` whose minutes are
        routed (a zone with none: 1 when the matrix holds its pair with every base, else 0);
        `reach_routed_share` of the run weights zones by demand. Where any estimated pair is
        in reach at `lo`, the model is solved again with every estimate times `lo` and times
        `hi` (same variant and solver): `band` holds both answers' unmet and travel hours and
        the zones get `unmet_hours_low/high`, `travel_hours_low/high`. Unmet hours never fall
        as minutes grow (the pairs shrink and each costs more travel), so low <= high. With
        every pair in or near reach routed, `band` is None.
        """
        if self.status == "not solved":
            raise CareMarketError("solve() the model before its travel band")
        m = self.market
        if m.geometry is None or m.estimate_error is None:
            raise CareMarketError("this market was not built by prepare_market: no band")
        g, err, nz = m.geometry, m.estimate_error, m.n_zones
        lo, hi = err.ratios
        low_m = at_estimate_ratio(m, lo)
        est = ~low_m.from_matrix
        in_reach = np.bincount(low_m.pair_zone, minlength=nz)
        routed = np.bincount(low_m.pair_zone[low_m.from_matrix], minlength=nz)
        listed = (np.bincount(g.matrix[0], minlength=nz) if g.matrix is not None
                  else np.zeros(nz, np.int64))
        full = (listed >= m.n_providers) if m.n_providers else np.ones(nz, bool)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(in_reach > 0, routed / np.maximum(in_reach, 1),
                             np.where(full, 1.0, 0.0))
        uncertain = est & (low_m.minutes / lo * hi > g.limit[low_m.pair_provider])
        has_uncertain = np.bincount(low_m.pair_zone[uncertain], minlength=nz) > 0
        total = float(m.demand.sum())
        self.reach_routed_share = (float((share * m.demand).sum() / total) if total > 0
                                   else float(share.mean()) if nz else 1.0)
        z = self.zones
        z["reach_routed_share"] = share
        self.band_solved = True
        if not est.any():
            self.band = None
            z["reach_uncertain"] = False
            for c in ("unmet_hours_low", "unmet_hours_high", "travel_hours_low",
                      "travel_hours_high"):
                z[c] = np.nan
            return self
        start = time.perf_counter()
        ends = []
        try:
            for market in (low_m, at_estimate_ratio(m, hi)):
                other = CoverageModel(market, self.variant)
                other.steer = self.steer
                other.initial_pairs_per_zone = self.initial_pairs_per_zone
                ends.append(other.solve(solver, time_limit, threads))
        except CareMarketError as exc:
            # the run's own answer stands; the band says why it is missing
            for c in ("unmet_hours_low", "unmet_hours_high", "travel_hours_low",
                      "travel_hours_high"):
                z[c] = np.nan
            z["reach_uncertain"] = has_uncertain
            self.band = {"low": None, "high": None, "quantiles": list(err.quantiles),
                         "ratios": [lo, hi], "source": err.source, "error_pairs": err.pairs,
                         "error": str(exc)}
            self.warnings.append(f"travel band not computed: {exc}")
            return self
        seconds = time.perf_counter() - start
        low, high = ends
        for name, end in (("low", low), ("high", high)):
            z[f"unmet_hours_{name}"] = end.zones["unmet_hours"].to_numpy()
            z[f"travel_hours_{name}"] = end.zones["travel_hours"].to_numpy()
        floor = max(1e-6, 1e-6 * total)  # as care_gaps: below it, the solver's tolerance
        zone_uncertain = has_uncertain & (
            z["unmet_hours_high"].to_numpy() - z["unmet_hours_low"].to_numpy() > floor)
        z["reach_uncertain"] = zone_uncertain
        self.band = {
            "low": low.unmet_hours, "high": high.unmet_hours,
            "quantiles": list(err.quantiles), "ratios": [lo, hi], "source": err.source,
            "error_pairs": err.pairs,
            "travel_hours_low": low.travel_hours, "travel_hours_high": high.travel_hours,
            "pairs_uncertain": int(uncertain.sum()),
            "zones_with_uncertain_pairs": int(has_uncertain.sum()),
            "zones_uncertain": int(zone_uncertain.sum()),
            "demand_hours_uncertain": float(m.demand[zone_uncertain].sum()),
            "seconds": round(seconds, 4),
            "time_ratio": round(seconds / self.seconds, 2) if self.seconds > 0 else None,
        }
        return self

    # ----------------------------------------------------------------------------------------

    @property
    def care_gaps(self) -> pd.DataFrame:
        """Zones with unmet hours, largest first."""
        # below this, unmet hours are the phase-1 tolerance that phase 2 may use, not a gap
        floor = max(1e-6, 1e-6 * self.demand_hours)
        gaps = self.zones[self.zones["unmet_hours"] > floor]
        return gaps.sort_values(["unmet_hours", "zone_id"], ascending=[False, True])

    def bases_in_reach(self, per_zone: int = 10) -> pd.DataFrame:
        """Return each zone's bases within the travel limit: the `per_zone` nearest and every
        one the solution assigns hours to (columns zone_id, provider_id, minutes,
        contact_hours, source), nearest first within a zone.

        Capped per zone so that a national run (millions of pairs) stays a small record; the
        count of every reachable base is `zones.reachable_providers`.
        """
        if self.status == "not solved":
            raise CareMarketError("solve() the model before reading its result")
        m = self.market
        order = np.lexsort((m.minutes, m.pair_zone))
        z = m.pair_zone[order]
        first = np.searchsorted(z, z, side="left")
        rank = np.arange(len(z)) - first
        keep = order[(rank < per_zone) | (self._x[order] > 1e-9)]
        return pd.DataFrame({
            "zone_id": self.zones["zone_id"].to_numpy()[m.pair_zone[keep]],
            "provider_id": self.providers["provider_id"].to_numpy()[m.pair_provider[keep]],
            "minutes": m.minutes[keep], "contact_hours": self._x[keep],
            "source": np.where(m.from_matrix[keep], "matrix", "estimate"),
        })

    def parameters(self) -> dict[str, Any]:
        """The parameters and scenario levers this run used."""
        m = self.market
        out: dict[str, Any] = {name: m.params[name] for name in TRAVEL_PARAMETERS}
        out.update(m.levers)
        out["variant"] = self.variant
        return out

    def to_dict(self, gaps: int = 20) -> dict[str, Any]:
        """The run as one JSON-ready object (NaN as None)."""
        if self.status == "not solved":
            raise CareMarketError("solve() the model before reading its result")

        def records(frame: pd.DataFrame) -> list[dict]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                    for r in clean.to_dict("records")]

        m = self.market
        return {
            "status": self.status, "solver": self.solver, "variant": self.variant,
            "demand_hours": self.demand_hours, "met_hours": self.met_hours,
            "unmet_hours": self.unmet_hours, "coverage": self.coverage,
            "travel_hours": self.travel_hours,
            "travel_minutes_per_contact_hour": self.travel_minutes_per_contact_hour,
            "largest_unmet_share": self.largest_unmet_share,
            "zones_count": m.n_zones, "providers_count": m.n_providers, "pairs": m.n_pairs,
            "pairs_from_matrix": int(m.from_matrix.sum()),
            "seconds": round(self.seconds, 4),
            "parameters": self.parameters(),
            "travel_fit": m.travel_fit.to_dict() if m.travel_fit else None,
            **({"reach_routed_share": self.reach_routed_share,
                "reach_estimated_share": (None if self.reach_routed_share is None
                                          else 1.0 - self.reach_routed_share),
                "unmet_hours_band": self.band} if self.band_solved else {}),
            "warnings": list(self.warnings),
            "care_gaps": records(self.care_gaps[["zone_id", "unmet_hours", "unmet_share", *(
                ("unmet_hours_low", "unmet_hours_high", "reach_uncertain")
                if self.band_solved else ())]].head(gaps)),
            "zones": records(self.zones),
            "providers": records(self.providers),
        }

