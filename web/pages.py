"""The commissioners' pages: overview, providers, map, coverage, equalisation and data.

Each route parses the request, calls a handler that returns a plain dict, and renders it. The
handlers read the store through the same functions as the `/api/v1` routes (`web.queries`,
`caremarket.analyses`, `caremarket.runs`), so a page shows the very figures the API returns: a
run page renders the run record that `GET /api/v1/runs/<id>` returns. Long runs are started by
the page's JavaScript through `POST /api/v1/runs` and polled; the page then swaps in the result
rendered by the same template (`?run=N&fragment=1`), so results are linkable and printable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request

from caremarket import analyses, fair_cost, formats, paging, tables, undo
from caremarket.importers import KINDS, rejected_imports
from caremarket.runs import get_run, latest_id
from caremarket.scenario_store import get_scenario, list_scenarios
from market import levers as levers_registry
from market.errors import CareMarketError, ImportRejected, Problem, UnknownEntity
from market.fcoc import CATEGORY_LABELS
from market.parameters import RURALITY_CLASSES, ParameterSet, defaults
from market.viability import LEVERS
from web import glossary as glossary_terms
from web import queries, uploads
from web.auth import actor, requires
from web.db import get_db
from web.uploads import upload_name

bp = Blueprint("pages", __name__)

# The run as GET /api/v1/runs/<id> returns it (web.api.run): RUN_FIELDS, parameters, result.
RUN_KEYS = ("id", "kind", "status", "progress", "params", "input_hash", "user", "created_at",
            "finished_at", "error", "parameters", "result")
CLASSES = ("sustainable", "at risk", "unviable")
LEVER_TITLES = {lv.name: lv.label for lv in levers_registry.SCENARIO}
FUNDERS = {"la": "LA", "self": "self-funder", "nhs": "NHS"}
MAP_MEASURES = {
    "demand_hours": ("Demand (contact hours a week)", "store"),
    "unmet_hours": ("Unmet hours a week", "coverage"),
    "travel_minutes_per_contact_hour": ("Travel minutes per contact hour", "coverage"),
    "cost_per_contact_hour": ("Cost of care per contact hour (£)", "coverage"),
    "unmet_hours_high": ("Unmet hours a week if estimated minutes run long (travel band)",
                         "coverage"),
    "beds_at_risk": ("Beds at risk or unviable under the scenario", "equalisation"),
}
RURALITY_ORDER = RURALITY_CLASSES
# The rows of market.scenarios.compare, as a commissioner reads them (caremarket.tables).
COMPARE_LABELS = tables.COMPARE_LABELS


# -- number formats (templates): caremarket.formats, the one formatter ------------------------

bp.add_app_template_filter(formats.number, "num")
bp.add_app_template_filter(formats.money, "money")
bp.add_app_template_filter(formats.pct, "pct")
bp.add_app_template_filter(formats.by_unit, "unit")
bp.add_app_template_filter(formats.change, "change")
# The table definitions (labels and units of every exported table), for the pages' headers.
bp.add_app_template_global(tables, "tables")


@bp.app_template_filter("lever")
def fmt_lever(v: Any, name: str) -> str:
    """A scenario lever or parameter in its own unit (formats.parameter)."""
    return formats.parameter(v, name)


@bp.app_template_filter("when")
def fmt_when(v: Any) -> str:
    """'2026-11-24T14:06:07+00:00' -> '2026-11-24 14:06' (stored times are UTC)."""
    return str(v)[:16].replace("T", " ") if v else "–"


@bp.app_template_filter("funder")
def fmt_funder(v: Any) -> str:
    return FUNDERS.get(str(v), str(v or "").replace("_", " "))


@bp.app_template_filter("levername")
def fmt_lever_name(v: Any) -> str:
    return LEVER_TITLES.get(str(v), str(v).replace("_", " "))


@bp.app_template_filter("classname")
def fmt_class(v: Any) -> str:
    return "class-" + str(v or "").replace(" ", "-")


# -- handlers: store (+ arguments) -> dict ----------------------------------------------------


def run_record(db, run_id: int, kind: str | None = None) -> dict[str, Any]:
    """The run as `GET /api/v1/runs/<id>` returns it; UnknownEntity if there is no such run."""
    row = get_run(db, run_id)
    if row is None or (kind and row["kind"] != kind):
        raise UnknownEntity(f"no {kind or ''} run {run_id}".replace("  ", " "))
    return {k: row.get(k) for k in RUN_KEYS}


def latest_run(db, kind: str, status: str = "done") -> dict[str, Any] | None:
    run_id = latest_id(db, kind, status)
    return run_record(db, run_id) if run_id is not None else None


def overview_view(db) -> dict[str, Any]:
    """`queries.overview` (what /api/v1/overview returns), with every import kind's freshness
    and the zones table."""
    data = queries.overview(db)
    seen = {f["kind"]: f for f in data["freshness"]}
    freshness = [{"kind": k.name, "description": k.description, **seen.get(k.name, {})}
                 for k in KINDS.values()]
    runs = {kind: db.execute("select id, finished_at from runs where id = ?",
                             [latest_id(db, kind)]).fetchone()
            for kind in analyses.RUN_KINDS}
    return {"overview": data, "freshness": freshness,
            "completeness": analyses.data_completeness(db, sample=5),
            "zones": queries.zones(db, {"per_page": 1000}),
            "latest_runs": {k: ({"id": r[0], "finished_at": r[1]} if r else None)
                            for k, r in runs.items()}}


def providers_view(db, args: Mapping[str, Any]) -> dict[str, Any]:
    """`queries.providers` (what /api/v1/providers returns) plus the filters' choices."""
    clean = {k: v for k, v in args.items() if v not in (None, "")}
    clean.setdefault("per_page", 50)
    listing = queries.providers(db, clean)
    ratings = [r[0] for r in db.execute(
        "select distinct cqc_rating from (select cqc_rating from care_homes union all select "
        "cqc_rating from homecare_providers) where cqc_rating is not null order by 1")]
    ruralities = [r[0] for r in db.execute("select distinct rurality from zones where rurality "
                                           "is not null")]
    ruralities.sort(key=lambda r: (RURALITY_ORDER.index(r) if r in RURALITY_ORDER else 9, r))
    # the downloads hold every row the filters choose, in the list's order (no paging)
    export = {k: v for k, v in clean.items() if k not in ("page", "per_page")}
    return {"providers": listing, "filters": clean, "ratings": ratings,
            "ruralities": ruralities, "kinds": list(queries.PROVIDER_KINDS),
            "export_query": urlencode(export)}


def _pick_scenario(db, name: str | None) -> tuple[dict[str, Any] | None, list[dict], str | None]:
    """The scenario named `name`, else the most recently updated saved one, else none."""
    saved = list_scenarios(db)
    warning = None
    if name:
        try:
            sc = get_scenario(db, name)
            return {"name": sc.name, "values": dict(sc.values),
                    "description": sc.description}, saved, None
        except UnknownEntity as exc:
            warning = str(exc)
    row = db.execute("select name from scenarios order by updated_at desc, rowid desc limit 1"
                     ).fetchone()
    if row:
        latest = next(s for s in saved if s["name"] == row[0])
        return {"name": latest["name"], "values": latest["values"],
                "description": latest["description"]}, saved, warning
    return None, saved, warning


def provider_view(db, provider_id: str, scenario_name: str | None) -> dict[str, Any]:
    """`queries.provider` (what /api/v1/providers/<id> returns, viability included) and the
    saved scenarios to choose from."""
    scenario, saved, warning = _pick_scenario(db, scenario_name)
    provider = queries.provider(db, provider_id, scenario["name"] if scenario else None)
    return {"provider": provider, "scenario": scenario, "scenarios": saved,
            "scenario_warning": warning, "viability": provider["viability"]["scenario"],
            "viability_now": provider["viability"]["now"], "data_date": data_date(db)}


def map_view(db) -> dict[str, Any]:
    """Zones and providers from `queries.map_layers` (what /api/v1/map returns) with each zone's
    measures from the latest done coverage and equalisation runs."""
    layers = queries.map_layers(db)
    cov = latest_run(db, "coverage")
    eq = latest_run(db, "equalisation")
    measures: dict[str, dict[str, float | None]] = {
        "demand_hours": {z["zone_id"]: z["demand_hours"] for z in layers["zones"]}}
    if cov and cov["result"] and cov["result"].get("zones_map"):
        for key in ("unmet_hours", "travel_minutes_per_contact_hour", "cost_per_contact_hour"):
            measures[key] = {z["zone_id"]: z.get(key) for z in cov["result"]["zones_map"]}
        if cov["result"].get("unmet_hours_band"):  # estimates in reach: the band's high end
            measures["unmet_hours_high"] = {z["zone_id"]: z.get("unmet_hours_high")
                                            for z in cov["result"]["zones_map"]}
    if eq and eq["result"]:
        at_risk = {}
        for z in eq["result"]["viability"]["totals"]["zone"]:
            at_risk[z["zone_id"]] = (z.get("beds_at_risk_after") or 0) + \
                (z.get("beds_unviable_after") or 0)
        measures["beds_at_risk"] = at_risk
    available = [{"key": k, "label": label, "source": src, "available": k in measures}
                 for k, (label, src) in MAP_MEASURES.items()]
    return {"layers": layers, "measures": measures, "available": available,
            "coverage_run": {k: cov[k] for k in ("id", "finished_at", "params")} if cov else None,
            "equalisation_run": ({"id": eq["id"], "finished_at": eq["finished_at"],
                                  "scenario": eq["result"]["scenario"],
                                  "scenario_name": eq["result"].get("scenario_name")}
                                 if eq else None)}


# Measures the map adds to map_view's: (label, where the figure comes from)
MAP_MORE_MEASURES = {
    "gap": ("Cost per contact hour above the LA rate (£)", "coverage"),
    "self_funder_share": ("Self-funder share of the zone", "store"),
    "reach": ("Not reached by any agency within the minutes chosen", "reach"),
}


def map_page(db, args: Mapping[str, Any]) -> dict[str, Any]:
    """`map_view` and the map page's additions: the cost gap against the LA rate and the
    self-funder share as measures, zones flagged `reach_uncertain` by the coverage run (when
    it gives the flag), the reach view (`analyses.reach`, what GET /api/v1/reach returns) for
    `?max_minutes=`, and the GeoJSON routes the page draws the zones from."""
    view = map_view(db)
    measures = view["measures"]
    cov = latest_run(db, "coverage")
    zones_map = (cov["result"].get("zones_map") or []) if cov and cov["result"] else []
    if zones_map:
        measures["gap"] = {z["zone_id"]: z.get("gap") for z in zones_map}
    shares = {r[0]: r[1] for r in db.execute(
        "select zone_id, self_funder_share from zones where self_funder_share is not null")}
    if shares:
        measures["self_funder_share"] = shares
    uncertain = sorted(z["zone_id"] for z in zones_map if z.get("reach_uncertain"))
    # zones the coverage run's agencies do not reach: its figures are blank there for that reason
    # (a zone left out of the model for missing figures is not 'unreached': it says why itself)
    unreached = sorted(z["zone_id"] for z in zones_map
                       if z.get("reached") is False and not z.get("left_out"))
    cov_minutes = ((cov["result"].get("levers") or {}).get("max_minutes")
                   or ParameterSet()["max_travel_minutes"]) if zones_map else None
    reach, reach_error = None, None
    wanted = {"max_minutes": args["max_minutes"]} if args.get("max_minutes") else {}
    try:
        reach = analyses.reach(db, wanted)
    except levers_registry.LeverError as exc:
        reach_error = exc.reason
        reach = analyses.reach(db, {})
    except CareMarketError as exc:
        reach_error = str(exc)
    if reach is not None:
        out = {z["zone_id"] for z in reach["zones"]}
        measures["reach"] = {z["zone_id"]: (1 if z["zone_id"] in out else 0)
                             for z in view["layers"]["zones"]}
    view["available"] = view["available"] + [
        {"key": k, "label": label, "source": src, "available": k in measures}
        for k, (label, src) in MAP_MORE_MEASURES.items()]
    view.update(reach=reach, reach_error=reach_error, reach_lever=levers_registry.REACH[0],
                uncertain=uncertain, coverage_unreached=unreached,
                coverage_minutes=cov_minutes, boundaries=db["zone_boundaries"].count
                if "zone_boundaries" in db.table_names() else 0)
    return view


def coverage_view(db, run_id: int | None, show_all: bool = False) -> dict[str, Any]:
    """The levers form and, for `run_id`, the run as /api/v1/runs/<id> returns it (with every
    care gap when `show_all`, else the head the run lists)."""
    p = ParameterSet()
    providers = [{"provider_id": r[0], "name": r[1], "capacity_hours": r[2]}
                 for r in db.execute("select provider_id, name, capacity_hours from "
                                     "homecare_providers order by name")]
    run = run_record(db, run_id, "coverage") if run_id else None
    latest = db.execute("select id from runs where kind = 'coverage' order by id desc limit 1"
                        ).fetchone()
    return {"levers": analyses.COVERAGE_LEVERS,
            "lever_defs": {lv.name: lv for lv in levers_registry.COVERAGE},
            "defaults": {"max_minutes": p["max_travel_minutes"],
                         "visit_minutes": p["visit_minutes"],
                         "visits_per_run": p["visits_per_run"]},
            "homecare_providers": providers, "sites": db["sites"].count,
            "run": run, "view": coverage_extras(run, show_all),
            "agencies": queries.map_layers(db)["homecare_providers"] if run else [],
            "latest_run_id": latest[0] if latest else None, "data_date": data_date(db)}


def coverage_extras(run: Mapping[str, Any] | None, show_all: bool = False
                    ) -> dict[str, Any] | None:
    """What the result's tables and map read: the rows of its tables (caremarket.tables, the
    rows the CSV and XLSX downloads hold), the care gaps cut to the head the run lists unless
    `show_all`."""
    if not run or run["status"] != "done" or not run["result"]:
        return None
    r = run["result"]
    all_gaps = tables.care_gap_rows(r)
    gaps = all_gaps if show_all else all_gaps[:len(r["care_gaps"])]
    cost = r.get("cost_of_care") or analyses.cost_of_care_summary(r.get("zones_map") or [])
    points = [{k: z.get(k) for k in ("zone_id", "name", "lat", "lon", "rurality",
                                     "demand_hours", "unmet_hours",
                                     "travel_minutes_per_contact_hour",
                                     "cost_per_contact_hour", "la_hourly_rate", "gap",
                                     "rural_uplift_rate", "reach_routed_share",
                                     "reach_uncertain", "unmet_hours_low",
                                     "unmet_hours_high")}
              for z in r.get("zones_map") or [] if z.get("lat") is not None]
    costed = tables.zone_cost_rows(r)
    used = tables.utilisation_rows(r)
    zones_with_gap = len(all_gaps)
    has_la_rate = any(z.get("la_hourly_rate") is not None for z in r.get("zones_map") or [])
    return {"gaps": gaps, "cost_of_care": cost if has_la_rate else None, "points": points,
            "zone_costs": costed,
            "providers": used, "zones_with_gap": zones_with_gap,
            "max_minutes": tables.max_minutes(r),
            "removed": (r.get("levers") or {}).get("remove_provider") or []}


def sliders() -> list[dict[str, Any]]:
    """The scenario levers of the registry as the page's sliders and number boxes."""
    return [{**lv.to_dict(), "title": lv.label, "label": lv.help, "min": lv.minimum,
             "max": lv.maximum, "slider_min": lv.slider[0] if lv.slider else lv.minimum,
             "slider_max": lv.slider[1] if lv.slider else lv.maximum}
            for lv in levers_registry.SCENARIO if lv.kind == "number"]


def scenario_choices() -> list[dict[str, Any]]:
    """The scenario levers that are a choice (the LA fee basis), as the page's selects."""
    return [{**lv.to_dict(), "title": lv.label}
            for lv in levers_registry.SCENARIO if lv.kind == "choice"]


def equalisation_view(db, run_id: int | None, compare_names: list[str]) -> dict[str, Any]:
    """Levers, saved scenarios, the run `run_id` as the API returns it, and a comparison."""
    levers = sliders()
    run = run_record(db, run_id, "equalisation") if run_id else None
    compare, compare_error = None, None
    if compare_names:
        try:
            compare = analyses.compare_scenarios(db, compare_names)
        except CareMarketError as exc:
            compare_error = str(exc)
    latest = db.execute("select id from runs where kind = 'equalisation' order by id desc "
                        "limit 1").fetchone()
    choices = scenario_choices()
    values = {s["name"]: s["default"] for s in [*levers, *choices]}
    if run and run["status"] == "done" and run["result"]:
        values.update(run["result"]["scenario"])
    elif run and isinstance(run.get("params"), dict):
        values.update(run["params"].get("scenario") or {})
    return {"sliders": levers, "choices": choices, "values": values,
            "scenarios": list_scenarios(db),
            "options": analyses.EQUALISATION_OPTIONS,
            "option_levers": {lv.name: lv.to_dict() for lv in levers_registry.EQUALISATION},
            "levers": list(LEVERS), "run": run,
            "view": equalisation_extras(run), "compare": compare,
            "compare_names": compare_names, "compare_error": compare_error,
            "compare_labels": COMPARE_LABELS,
            "latest_run_id": latest[0] if latest else None, "data_date": data_date(db)}


def _histogram(before: list[float], after: list[float], width: float = 0.02
               ) -> dict[str, Any]:
    """Counts of margins (EBITDARM over revenue) in bins of `width`, clipped to -30%..+40%."""
    lo, hi = -0.30, 0.40
    n = int(round((hi - lo) / width))
    edges = [round(lo + i * width, 6) for i in range(n + 1)]

    def counts(values: list[float]) -> list[int]:
        out = [0] * n
        for v in values:
            k = min(n - 1, max(0, int(math.floor((v - lo) / width))))
            out[k] += 1
        return out

    return {"edges": edges, "before": counts(before), "after": counts(after)}


def equalisation_extras(run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the result's tables and charts read, from the run's own result."""
    if not run or run["status"] != "done" or not run["result"]:
        return None
    r = run["result"]
    v = r["viability"]
    homes = v["providers"]
    mb = [m for h in homes if (m := formats.finite(h["baseline"].get("margin"))) is not None]
    ma = [m for h in homes if (m := formats.finite(h["scenario"].get("margin"))) is not None]
    rows = tables.break_even_rows(r)
    sweep = r.get("sweep")
    charts = {
        "margins": _histogram(mb, ma),
        "sweep": ({"parameter": sweep["parameter"],
                   "x": [row[sweep["parameter"]] for row in sweep["table"]],
                   "series": {c: [row.get(f"beds_{c.replace(' ', '_')}") for row in
                                  sweep["table"]] for c in CLASSES},
                   "current": r["viability"]["levers"].get(sweep["parameter"])}
                  if sweep else None),
        "montecarlo": ({"market": r["montecarlo"]["market"], "draws": r["montecarlo"]["draws"],
                        "take_up": r["montecarlo"]["take_up"]}
                       if r.get("montecarlo") else None),
    }
    hc = r.get("homecare") or {}
    exited = []
    if hc and "skipped" not in hc:
        exited = [p for p in hc.get("providers", []) if p.get("exited")]
    return {"break_even": rows, "charts": charts, "exited": exited,
            "classes": v["totals"]["class"], "first": tipping_first(rows, sweep)}


SEVERITY = {"unviable": 0, "at risk": 1, "sustainable": 2}


def tipping_first(rows: list[dict[str, Any]], sweep: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """The homes at risk or unviable under the scenario, those that tip first at the top.

    With a sweep, ordered by the value of the swept lever at which each home becomes at risk
    (lowest first for levers that hurt as they rise, such as take-up; highest first for those
    that hurt as they fall, such as the LA fee change); without one, unviable before at risk,
    then by margin after. The choices of the class, zone and group filters come with it.
    """
    hit = [r for r in rows if r["class_after"] in ("at risk", "unviable")]
    direction, lo, hi = "up", None, None
    if sweep and sweep.get("tipping"):
        direction = sweep["tipping"][0].get("direction") or "up"
        xs = [row[sweep["parameter"]] for row in sweep.get("table") or []]
        lo, hi = (min(xs), max(xs)) if xs else (None, None)

    def when(v: Any) -> float:
        """How early a tipping point comes as the lever moves the harmful way: a point beyond
        the lever's start counts as 'already', one beyond its end as never."""
        x = formats.finite(v)
        if x is None:
            return math.inf
        if direction == "up":
            return max(x, lo) if lo is not None else x
        return -(min(x, hi) if hi is not None else x)

    def key(r: dict[str, Any]) -> tuple:
        tips = (when(r.get("at_risk_at")), when(r.get("unviable_at"))) if sweep else (0, 0)
        return (*tips, SEVERITY.get(r["class_after"], 3),
                formats.finite(r.get("margin_after")) or 0.0, str(r["provider_id"]))

    hit.sort(key=key)
    return {"homes": hit, "parameter": sweep.get("parameter") if sweep else None,
            "direction": direction, "lo": lo, "hi": hi,
            "zones": sorted({str(r["zone_id"]) for r in hit if r.get("zone_id")}),
            "groups": sorted({(str(r["group_id"]), r.get("group_name") or str(r["group_id"]))
                              for r in hit if r.get("group_id")}, key=lambda g: g[1])}


def data_view(db, args: Mapping[str, Any]) -> dict[str, Any]:
    """The import kinds and `queries.imports` (what /api/v1/imports returns)."""
    return {"kinds": [{"name": k.name, "description": k.description,
                       "template": (f"/api/v1/imports/templates/{k.name}.csv" if k.example
                                    else None)} for k in KINDS.values()],
            "imports": queries.imports(db, dict(args)),
            "rejected_imports": rejected_imports(db, 20),
            "completeness": analyses.data_completeness(db, sample=5)}


def import_upload(db, kind: str, upload, user: str, sheet: str | None = None) -> dict[str, Any]:
    """Import an uploaded file as `kind` (web.uploads, as the API does): all rows or none.

    Returns the import summary; raises ImportRejected (nothing written, not even to the audit
    log) with row-level problems, also for a missing kind or file.
    """
    name = upload_name(upload) if upload is not None else ""
    if kind not in KINDS:
        raise ImportRejected([Problem(f"choose what the file holds (one of "
                                      f"{', '.join(KINDS)})", name or None)], name or None)
    if upload is None or not name:
        raise ImportRejected([Problem("choose a file to import")], None)
    return uploads.import_upload(db, kind, upload, user, sheet).to_dict()


# -- routes -----------------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(400, description=f"{name} must be a whole number (got {raw!r})")


def _page_arg(name: str = "page") -> str | int | None:
    """A page number from the query string; a whole number past the last page that could exist
    is the empty page past the end (a link a person follows is never an error page)."""
    raw = request.args.get(name)
    try:
        n = int(str(raw).strip())
    except (TypeError, ValueError):
        return raw
    return min(n, paging.MAX_PAGE) if n >= 1 else raw


def _not_found(exc: CareMarketError):
    abort(404, description=str(exc))


@bp.route("/")
def overview():
    return render_template("overview.html", **overview_view(get_db()))


@bp.route("/providers")
def providers():
    args = {k: request.args.get(k) for k in ("kind", "q", "rurality", "cqc_rating", "zone_id",
                                             "group_id", "sort", "page", "per_page")}
    args["page"] = _page_arg()
    try:
        data = providers_view(get_db(), args)
    except ValueError as exc:
        abort(400, description=str(exc))
    return render_template("providers.html", **data)


@bp.route("/providers/<provider_id>")
def provider(provider_id: str):
    try:
        data = provider_view(get_db(), provider_id, request.args.get("scenario"))
    except UnknownEntity as exc:
        _not_found(exc)
    return render_template("provider.html", **data)


def zone_view(db, zone_id: str) -> dict[str, Any]:
    """`queries.zone` (what /api/v1/zones/<id> returns) and the data date for the print
    header."""
    return {"zone": queries.zone(db, zone_id), "data_date": data_date(db)}


def data_date(db) -> str | None:
    """When the data last changed: the latest import that was kept (the print headers)."""
    row = db.execute("select max(finished_at) from imports where status = 'imported' and "
                     "reverted_at is null").fetchone()
    return row[0] if row else None


@bp.route("/zones/<zone_id>")
def zone(zone_id: str):
    try:
        data = zone_view(get_db(), zone_id)
    except UnknownEntity as exc:
        _not_found(exc)
    return render_template("zone.html", **data)


@bp.route("/glossary")
def glossary():
    return render_template("glossary.html", **glossary_terms.glossary())


@bp.route("/map")
def map():  # noqa: A001 - the endpoint is pages.map
    return render_template("map.html", **map_page(get_db(), request.args))


@bp.route("/coverage")
def coverage():
    try:
        data = coverage_view(get_db(), _int_arg("run"), request.args.get("gaps") == "all")
    except UnknownEntity as exc:
        _not_found(exc)
    if request.args.get("fragment"):
        return render_template("_coverage_result.html", **data)
    return render_template("coverage.html", **data)


@bp.route("/equalisation")
def equalisation():
    names = [n.strip() for raw in request.args.getlist("compare") for n in raw.split(",")
             if n.strip()]
    try:
        data = equalisation_view(get_db(), _int_arg("run"), names)
    except UnknownEntity as exc:
        _not_found(exc)
    if request.args.get("fragment"):
        return render_template("_equalisation_result.html", **data)
    return render_template("equalisation.html", **data)


def fcoc_view(db, args: Mapping[str, Any]) -> dict[str, Any]:
    """`fair_cost.fcoc` (what /api/v1/fcoc returns) and its groups in page order."""
    given = {k: v for k, v in args.items() if v not in (None, "")}
    if "exclude_outliers" not in given and args:
        given["exclude_outliers"] = "false"
    out = fair_cost.fcoc(db, given)
    groups = [("homecare", "Home care (18+)", out["summary"]["homecare"])]
    groups += [(c, CATEGORY_LABELS[c], g) for c, g in out["summary"]["care_homes"].items()]
    return {"out": out, "groups": groups, "levers": levers_registry.FCOC}


@bp.route("/fcoc")
def fcoc():
    args = {lv.name: request.args.get(lv.name) for lv in levers_registry.FCOC}
    if not any(v is not None for v in args.values()):
        args = {}
    try:
        data = fcoc_view(get_db(), args)
    except levers_registry.LeverError as exc:
        abort(400, description=str(exc))
    return render_template("fcoc.html", **data)


PARAMETER_SECTIONS = {"travel": "Travel (methodology s2)", "coverage": "Coverage (s3)",
                      "cost_of_care": "Cost of home care (s4)",
                      "equalisation": "Equalisation scenario levers (s5)",
                      "demand": "Demand estimate"}


def parameters_view() -> dict[str, Any]:
    """Every model default as GET /api/v1/parameters lists it (`parameters`), by section."""
    records = defaults().to_records()
    sections = [(key, label, [r for r in records if r["section"] == key])
                for key, label in PARAMETER_SECTIONS.items()]
    known = set(PARAMETER_SECTIONS)
    other = [r for r in records if r["section"] not in known]
    if other:
        sections.append(("other", "Other", other))
    return {"sections": [s for s in sections if s[2]], "count": len(records)}


@bp.route("/parameters")
def parameters():
    return render_template("parameters.html", **parameters_view())


@bp.route("/data")
def data():
    return render_template("data.html", **data_view(get_db(), {"page": _page_arg() or 1}))


@bp.route("/data", methods=["POST"], endpoint="data_import")
@requires("analyst")
def data_import():
    db = get_db()
    kind = request.form.get("kind", "")
    sheet = request.form.get("sheet", "").strip()[:200]
    summary, rejected = None, None
    try:
        summary = import_upload(db, kind, request.files.get("file"), actor(), sheet or None)
    except ImportRejected as exc:
        rejected = exc.to_dict()
    status = 422 if rejected else 200
    return render_template("data.html", summary=summary, rejected=rejected, chosen_kind=kind,
                           chosen_sheet=sheet, **data_view(db, {})), status


@bp.route("/data/imports/<int:import_id>/revert", methods=["POST"], endpoint="data_revert")
@requires("analyst")
def data_revert(import_id: int):
    """The Data page's Revert button: undo.revert, as `POST /api/v1/imports/<id>/revert`."""
    db = get_db()
    cascade = request.form.get("cascade") == "1"
    reverted, refused = None, None
    try:
        reverted = undo.revert(db, import_id, actor(), cascade)
    except undo.RevertRefused as exc:
        refused = {"import_id": import_id, "message": str(exc), "later": exc.later}
    except UnknownEntity as exc:
        _not_found(exc)
    status = 409 if refused else 200
    return render_template("data.html", reverted=reverted, refused=refused,
                           **data_view(db, {})), status
