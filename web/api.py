"""The JSON API under `/api/v1`: the same data and runs as the pages, as JSON.

Routes are thin: parse the arguments, call the handler the pages call too (`web.queries`,
`caremarket.analyses`, `caremarket.importers`, `caremarket.scenario_store`, `web.tasks`) and
return its dict. Every failure under `/api` is one envelope, built by `error_response`:

    {"error": {"status": 404, "code": "not_found", "message": "...", "details": null}}

`init_app(app)` registers the error handlers app-wide, in one place: domain errors
(`market.errors`) and bad arguments map to HTTP statuses here, and the same handlers render
`error.html` for the pages. `GET /api/v1/openapi.json` describes every rule under `/api/v1`,
including those other blueprints add, from `app.url_map`.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from caremarket import (
    accounts,
    analyses,
    boundaries,
    fair_cost,
    importers,
    jsonio,
    paging,
    scenario_store,
    tables,
    undo,
)
from caremarket.runs import get_run
from market import levers as levers_registry
from market import scenarios as scenario_names
from market.errors import (
    CareMarketError,
    ImportRejected,
    InvalidInput,
    InvalidScenario,
    OptimisationError,
    UnknownEntity,
)
from market.parameters import defaults
from market.scenarios import Scenario
from market.viability import FEE_BASES, FEE_BASIS
from web import queries, tasks, uploads
from web.auth import actor, csrf_error, requires
from web.db import get_db

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX)

# -- the envelope and the error handlers ------------------------------------------------------

STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
                413: "too_large", 415: "unsupported_media_type", 422: "unprocessable",
                429: "too_many_requests", 500: "internal_error", 503: "unavailable"}

# Domain errors -> (HTTP status, envelope code); the first matching class wins.
DOMAIN_ERRORS: tuple[tuple[type[CareMarketError], int, str], ...] = (
    (UnknownEntity, 404, "not_found"),
    (ImportRejected, 422, "import_rejected"),
    (InvalidScenario, 422, "invalid_scenario"),
    (InvalidInput, 422, "invalid_input"),
    (OptimisationError, 422, "optimisation_failed"),
    (accounts.AccountError, 422, "account_error"),
    (CareMarketError, 422, "domain_error"),
)


class ApiError(Exception):
    """A request the API refuses (bad argument or body, conflict...), carried to the envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def bad_request(field: str, message: str) -> ApiError:
    """A 400 naming the argument or body field that is wrong."""
    return ApiError(400, "bad_request", f"{field}: {message}", {"field": field})


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None):
    body = jsonio.dumps(obj)
    resp = current_app.response_class(body, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def error_response(status: int, code: str, message: str, details: Any = None):
    """The one JSON error envelope of the API: {"error": {status, code, message, details}}."""
    headers = {"WWW-Authenticate": 'Bearer realm="caremarket"'} if status == 401 else None
    return json_response({"error": {"status": status, "code": code, "message": message,
                                    "details": details}}, status, headers)


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _page_error(status: int, message: str) -> tuple[str, int, dict[str, str]]:
    try:
        return render_template("error.html", code=status, message=message), status, {}
    except Exception:  # noqa: BLE001 - the error page itself failed: plain text, never a trace
        current_app.logger.exception("rendering error.html failed")
        return f"{status}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}


def _respond(status: int, code: str, message: str, details: Any = None,
             headers: dict[str, str] | None = None):
    """The envelope under /api, error.html for the pages."""
    if _is_api():
        resp = error_response(status, code, message, details)
        resp.headers.update(headers or {})
        return resp
    body, status, page_headers = _page_error(status, message)
    return body, status, {**page_headers, **(headers or {})}


def _http_error(exc: HTTPException):
    status = exc.code or 500
    message = exc.description or exc.name
    headers = None
    allowed = sorted(getattr(exc, "valid_methods", None) or [])
    if status == 405 and allowed:
        headers = {"Allow": ", ".join(allowed)}
        if request.routing_exception is exc:
            message = (f"{request.method} is not allowed on {request.path} "
                       f"(allowed: {', '.join(allowed)})")
    elif status == 404 and _is_api() and request.routing_exception is exc:
        message = f"no API route {request.method} {request.path}"
    code = STATUS_CODES.get(status, re.sub(r"\W+", "_", exc.name.lower()).strip("_"))
    return _respond(status, code, message, None, headers)


def domain_status(exc: CareMarketError) -> tuple[int, str]:
    """The HTTP status and envelope code of a domain error."""
    return next((status, code) for cls, status, code in DOMAIN_ERRORS if isinstance(exc, cls))


def _domain_error(exc: CareMarketError):
    status, code = domain_status(exc)
    if isinstance(exc, ImportRejected):
        listed = (f"; the first {len(exc.problems)} are in details ({exc.tail()})"
                  if exc.more else "")
        message = (f"{exc.file or 'the file'} was rejected ({exc.counted()}{listed});"
                   " nothing was imported")
        if not _is_api():
            message = str(exc)
        return _respond(status, code, message, [p.to_dict() for p in exc.problems])
    return _respond(status, code, str(exc))


def _api_error(exc: ApiError):
    return _respond(exc.status, exc.code, exc.message, exc.details)


def _value_error(exc: ValueError):
    # Bad query arguments (an unknown sort column, a non-number page) reach here from the
    # read-side handlers; the message says which argument and why.
    return _respond(400, "bad_request", str(exc) or "bad argument")


def _overflow(exc: OverflowError):
    # An id or page number beyond SQLite's 64-bit integers: no such record can exist.
    return _respond(404, "not_found", "no such record (the number given is too large)")


def _server_error(exc: Exception):
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _respond(500, "internal_error", "an unexpected error occurred; it has been logged")


class ScenarioName(BaseConverter):
    """A saved scenario's name in a path: any segment but 'compare' (/scenarios/compare is
    the comparison; the name is reserved, so no route answers for two things)."""

    regex = r"(?!compare(?:\.csv|\.xlsx)?$)[^/]+"


class ReportName(BaseConverter):
    """A report's name in a path: any segment but the reserved compare, runs and new."""

    regex = r"(?!(?:compare|runs|new)$)[^/]+"


def init_app(app: Flask) -> None:
    """Register the error handlers app-wide: the envelope under /api, error.html elsewhere;
    and the path converters of names that must not clash with fixed routes."""
    app.url_map.converters["scenario"] = ScenarioName
    app.url_map.converters["report"] = ReportName
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(CareMarketError, _domain_error)
    app.register_error_handler(ValueError, _value_error)
    app.register_error_handler(OverflowError, _overflow)
    app.register_error_handler(Exception, _server_error)


# -- argument parsing ---------------------------------------------------------------------------

MAX_INT = 1_000_000_000  # no page or count here needs more; SQLite's integers end at 2**63


INTEGER_TEXT = re.compile(r"-?[0-9]+")  # how a query spells an integer ('5', not ' 5' or '1_0')


def whole_number(field: str, value: Any) -> int:
    """A query argument that must be an integer as its schema spells it; a 400 otherwise."""
    if isinstance(value, str) and not INTEGER_TEXT.fullmatch(value):
        raise bad_request(field, f"{value[:40]!r} is not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(field, f"{value!r} is not a whole number") from None


def _int(field: str, value: Any, minimum: int = 1) -> int:
    n = whole_number(field, value)
    if n < minimum:
        raise bad_request(field, f"must be at least {minimum}")
    if n > MAX_INT:
        raise bad_request(field, f"must be at most {MAX_INT:,}")
    return n


def _args() -> dict[str, Any]:
    """The query arguments, with page and per_page checked."""
    args: dict[str, Any] = request.args.to_dict()
    for key in ("page", "per_page"):
        if key in args:
            args[key] = _int(key, args[key])
    return args


def _body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise bad_request("body", "send a JSON object (Content-Type: application/json)")
    return body


def _object(body: Mapping[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(field, "must be a JSON object")
    return value


def _numbers(field: str, values: Any) -> None:
    """Scenario values are JSON numbers: true/false or "0.5" are refused, naming the key (the
    fee basis is a word, checked with the scenario); null is no value (scenario_values_schema
    admits none)."""
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if key == FEE_BASIS:
            if not isinstance(value, str):
                raise bad_request(f"{field}.{key}", f"{value!r} is not one of "
                                                    f"{', '.join(FEE_BASES)}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_request(f"{field}.{key}", f"{value!r} is not a number")


def scenario_values_schema() -> dict[str, Any]:
    """parameter -> value: every model parameter with its range (the scenario levers from
    market.levers), nothing else (an unknown parameter is refused)."""

    props: dict[str, Any] = {}
    for rec in defaults().to_records():
        prop: dict[str, Any] = {"type": "number", "description": rec["label"]}
        for bound in ("minimum", "maximum"):
            if rec.get(bound) is not None:
                prop[bound] = rec[bound]
        props[rec["name"]] = prop
    for lv in levers_registry.SCENARIO:  # a value is a number here (no null for the default)
        lever = {k: v for k, v in lv.schema().items() if k not in ("default", "anyOf")}
        props[lv.name] = {**lv.schema()["anyOf"][0], **lever} if "anyOf" in lv.schema() \
            else lever
    return {"type": "object", "description": "parameter -> value", "properties": props,
            "additionalProperties": False}


def _checked(field: str, check: Callable[..., Any], *args: Any) -> Any:
    """Run a domain check on a request field; a failure is a 400 naming the field."""
    try:
        return check(*args)
    except (InvalidScenario, InvalidInput) as exc:
        raise bad_request(field, str(exc)) from None


def paginate_list(items: list[dict[str, Any]], args: Mapping[str, Any],
                  per_page: int = 100) -> dict[str, Any]:
    """A page of an in-memory list (caremarket.paging, the one pagination helper)."""
    return paging.paginate_list(items, args, per_page)


def _audit(action: str, target: str | None, detail: Any = None) -> None:
    db = get_db()
    with db.atomic():
        accounts.audit(db, actor(), action, target, detail)


# -- documentation attached to the views (read by openapi_document) ---------------------------

PAGE = {"type": "integer", "minimum": 1, "maximum": MAX_INT}  # what _int("page") accepts
PAGING = {"page": (PAGE, "page number, from 1"),
          "per_page": (PAGE, "items per page (larger asks get the most a list gives)")}
# A name the server strips of blanks (market.scenarios.BLANKS: spelled out, since \s means other
# characters to Python, to ECMA and to the validators) and then matches (market.scenarios.NAME),
# minus the reserved ones (caremarket.scenario_store.RESERVED_NAMES, in any case).
_BLANK = "[" + scenario_names.BLANKS.encode("unicode_escape").decode() + "]*"
SCENARIO_NAME = {"type": "string",
                 "pattern": "^" + _BLANK + scenario_names.NAME.pattern[1:-1] + _BLANK + "$",
                 "not": {"pattern": "^" + _BLANK + "[cC][oO][mM][pP][aA][rR][eE]"
                                    "([.][cC][sS][vV]|[.][xX][lL][sS][xX])?" + _BLANK + "$"}}
NAMES = {"type": "string", "pattern": r"[^,\s]"}  # at least one name between the commas


def doc(query: Mapping[str, tuple] | None = None, body: dict | Callable | None = None,
        status: int = 200, also: tuple[int, ...] = (), media: str | None = None,
        errors: Mapping[int, str] | None = None) -> Callable:
    """Attach what OpenAPI says of a view: query arguments (name -> (type or schema,
    description[, required])), request body, success status (and `also` other successes),
    the success media type, and the refusals worth naming (status -> when)."""

    def deco(view: Callable) -> Callable:
        view.api_errors = dict(errors or {})  # type: ignore[attr-defined]
        view.api_query = dict(query or {})  # type: ignore[attr-defined]
        view.api_body = body  # type: ignore[attr-defined]
        view.api_status = status  # type: ignore[attr-defined]
        view.api_also = also  # type: ignore[attr-defined]
        view.api_media = media  # type: ignore[attr-defined]
        return view

    return deco


def query_parameter(name: str, spec: tuple) -> dict[str, Any]:
    """One OpenAPI query parameter from a doc() entry."""
    kind, what, *rest = spec
    schema = {"type": kind} if isinstance(kind, str) else dict(kind)
    return {"name": name, "in": "query", "required": bool(rest and rest[0]),
            "schema": schema, "description": what}


def _json_body(properties: dict[str, Any], required: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# -- the market: providers, zones, fees, overview, map ------------------------------------------

@bp.get("/providers")
@doc(query={"kind": ({"type": "string", "enum": ["", *queries.PROVIDER_KINDS]},
                     "homecare or care_home (empty: both)"),
            "q": ("string", "text in name, id, postcode or group"),
            "zone_id": ("string", "zone"), "rurality": ("string", "urban, town, village, sparse"),
            "group_id": ("string", "provider group"), "cqc_rating": ("string", "CQC rating"),
            "sort": ({"type": "string", "pattern": "^(-*(" + "|".join(sorted(queries.SORTABLE))
                      + "))?$"}, "column, '-column' for descending"), **PAGING})
def providers():
    """List providers of both kinds (home care and care homes), filtered and paginated."""
    return json_response(queries.providers(get_db(), _args()))


@bp.get("/providers/<provider_id>")
@doc(query={"scenario": ("string", "a saved scenario: viability under it too")})
def provider(provider_id: str):
    """Get one provider with its stored record, fee rates, travel times and viability.

    `viability.now` and (with ?scenario=NAME) `viability.scenario` are read from the latest
    equalisation run of that scenario: `status` current, stale (the data changed since) or
    missing (start one with POST /api/v1/runs {"kind": "equalisation", "scenario_name": NAME}).
    """
    return json_response(queries.provider(get_db(), provider_id,
                                          request.args.get("scenario") or None))


@bp.get("/zones")
@doc(query={"rurality": ("string", "urban, town, village, sparse"),
            "q": ("string", "text in zone id or name"), **PAGING})
def zones():
    """List zones with demand, population and rurality, paginated."""
    return json_response(queries.zones(get_db(), _args()))


@bp.get("/zones/<zone_id>")
def zone(zone_id: str):
    """Get one zone: rurality, population by age band, demand, self-funder share, its care
    homes and beds, zone-scoped fee rates, and from the latest runs `coverage` (met and unmet
    hours, travel and cost per contact hour against the LA rate, the agencies in reach with
    their minutes) and `equalisation` (its homes' classes before and after). The zone page
    `/zones/<id>` shows this dict."""
    return json_response(queries.zone(get_db(), zone_id))


@bp.get("/fees")
@doc(query={"funder": ("string", "la or self_funder"), "service": ("string", "service"),
            "zone_id": ("string", "zone scope"), "provider_id": ("string", "provider scope"),
            "as_of": ({"type": "string", "anyOf": [
                {"const": ""},
                {"format": "date", "pattern": levers_registry.DATE_PATTERN}]},
                      "rates in force on this date (YYYY-MM-DD; empty: every rate)"), **PAGING})
def fees():
    """List fee rates, filtered and paginated."""
    return json_response(queries.fees(get_db(), _args()))


@bp.get("/overview")
def overview():
    """Get the market at a glance: totals, by rurality, data freshness, the fee schedule."""
    return json_response(queries.overview(get_db()))


@bp.get("/map")
def map_layers():
    """Get the map layers: zones, care homes, home-care providers and candidate sites."""
    return json_response(queries.map_layers(get_db()))


@bp.get("/zones/boundaries.geojson")
@doc(media="application/geo+json")
def zone_boundaries():
    """Get the zone boundaries as GeoJSON (WGS84, simplified for the browser): one feature
    per zone with a stored boundary, properties `zone_id` and `name` (import kind
    `boundaries`)."""
    return json_response(boundaries.boundaries_geojson(get_db()),
                         headers={"Content-Type": "application/geo+json"})


@bp.get("/zones/outline.geojson")
@doc(media="application/geo+json")
def zones_outline():
    """Get the county outline, the union of the stored zone boundaries, as GeoJSON (one
    feature; none when no boundary is stored)."""
    return json_response(boundaries.outline_geojson(get_db()),
                         headers={"Content-Type": "application/geo+json"})


@bp.get("/reach")
@doc(query={lv.name: (lv.query_schema(), lv.help or lv.label) for lv in levers_registry.REACH})
def reach():
    """The zones no home-care agency reaches within `max_minutes` one way (matrix minutes
    where stored, else the distance estimate), largest demand first, with their demand,
    population and nearest agency; `totals` sums them."""
    try:  # each argument read exactly as its documented schema says (market.levers)
        levers = levers_registry.from_query("reach", request.args.to_dict())
        return json_response(analyses.reach(get_db(), levers))
    except levers_registry.LeverError as exc:
        raise bad_request(exc.field, exc.reason) from None


@bp.get("/fcoc")
@doc(query={lv.name: (lv.query_schema(), lv.help or lv.label) for lv in levers_registry.FCOC})
def fair_cost_of_care():
    """The Fair Cost of Care summary: quartiles of the returns per service and care-home
    category, against the LA rates, with the cost of paying the median (docs/fcoc.md)."""
    try:  # each argument read exactly as its documented schema says (market.levers)
        levers = levers_registry.from_query("fcoc", request.args.to_dict())
        return json_response(fair_cost.fcoc(get_db(), levers))
    except levers_registry.LeverError as exc:
        raise bad_request(exc.field, exc.reason) from None


@bp.get("/parameters")
def parameters():
    """Get the model parameters (defaults as data), run levers, run kinds and import kinds."""

    return json_response({
        "parameters": defaults().to_records(),
        "coverage_levers": analyses.COVERAGE_LEVERS,
        "equalisation_options": analyses.EQUALISATION_OPTIONS,
        "levers": {op: [lv.to_dict() for lv in lvs]
                   for op, lvs in levers_registry.OPERATIONS.items()},
        "run_kinds": list(analyses.RUN_KINDS),
        "import_kinds": [{"name": k.name, "description": k.description}
                         for k in importers.KINDS.values()],
        "roles": list(accounts.ROLES),
    })


@bp.get("/me")
def me():
    """Get the calling user, how they are authenticated and what their role allows."""
    user = current_user
    return json_response({**user.to_dict(), "auth": "token" if g.get("token_auth") else "session",
                          "can": {"read": True, "run": user.can("analyst"),
                                  "import": user.can("analyst"),
                                  "save_scenarios": user.can("analyst"),
                                  "admin": user.can("admin")}})


# -- saved scenarios ----------------------------------------------------------------------------

@bp.get("/scenarios")
@doc(query=PAGING)
def scenarios():
    """List the saved equalisation scenarios, paginated."""
    return json_response(paginate_list(scenario_store.list_scenarios(get_db()), _args()))


@bp.post("/scenarios")
@requires("analyst")
@doc(body=lambda: _json_body({
    "name": SCENARIO_NAME, "description": {"type": ["string", "null"]},
    "values": {"anyOf": [scenario_values_schema(), {"type": "null"}]}}, ["name"]),
     status=201, also=(200,))
def save_scenario():
    """Save a named scenario (parameter name -> value): 201 when created, 200 when replaced."""

    body = _body()
    unknown = sorted(set(body) - {"name", "description", "values"})
    if unknown:
        raise bad_request(unknown[0], "unknown field (send name, description, values)")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name", "give the scenario a name")
    description = body.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise bad_request("description", "must be text (or null)")
    values = _object(body, "values")
    _numbers("values", values)
    _checked("name", Scenario, name, {}, description)
    scenario = _checked("values", Scenario, name, values, description)
    db = get_db()
    existed = bool(list(db["scenarios"].rows_where("name = ?", [scenario.name])))
    scenario_store.save_scenario(db, scenario, user=actor())
    _audit("scenario.save", scenario.name, {"values": dict(scenario.values),
                                            "replaced": existed})
    return json_response(_scenario_record(scenario.name), 200 if existed else 201,
                         {"Location": url_for("api.scenario", name=scenario.name)})


def _scenario_record(name: str) -> dict[str, Any]:
    db = get_db()
    out = scenario_store.get_scenario(db, name).to_dict()
    row = db["scenarios"].get(out["name"])
    out.update({k: row[k] for k in ("created_by", "created_at", "updated_at")})
    return out


@bp.get("/scenarios/compare")
@doc(query={"names": (NAMES, "saved scenario names, comma-separated", True)})
def compare_scenarios():
    """Compare saved scenarios side by side against the baseline."""
    names = [n.strip() for n in request.args.get("names", "").split(",") if n.strip()]
    if not names:
        raise bad_request("names", "give one or more saved scenario names, comma-separated")
    return json_response(analyses.compare_scenarios(get_db(), names))


@bp.get("/scenarios/<scenario:name>")
def scenario(name: str):
    """Get one saved scenario."""
    return json_response(_scenario_record(name))


@bp.delete("/scenarios/<scenario:name>")
@requires("analyst")
def delete_scenario(name: str):
    """Delete a saved scenario."""
    scenario_store.delete_scenario(get_db(), name)
    _audit("scenario.delete", name)
    return json_response({"deleted": name})


# -- runs ---------------------------------------------------------------------------------------

RUN_FIELDS = ("id", "kind", "status", "progress", "params", "input_hash", "user", "created_at",
              "finished_at", "error")


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """null (or leaving the field out) means every default."""
    return {"anyOf": [schema, {"type": "null"}]}


def run_body_schema() -> dict[str, Any]:
    """The body of POST /runs: one schema per run kind, every lever with its range
    (market.levers, the registry the CLI, the pages and the validation use too)."""
    scenario = {"anyOf": [scenario_values_schema(), {"type": "null"}]}
    name = {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": "null"}],
            "description": "a saved scenario, run exactly as saved (scenario values, if "
                           "given too, override it)"}
    fields = {"levers": None, "options": _or_null(levers_registry.json_schema("equalisation")),
              "scenario": scenario, "scenario_name": name}
    variants = []
    for kind in analyses.RUN_KINDS:
        props: dict[str, Any] = {"kind": {"const": kind}}
        for f in analyses.RUN_FIELDS_BY_KIND[kind]:
            props[f] = (_or_null(levers_registry.json_schema(kind)) if f == "levers"
                        else fields[f])
        variants.append({"type": "object", "title": kind, "required": ["kind"],
                         "additionalProperties": False, "properties": props})
    return {"required": True, "content": {"application/json": {"schema": {
        "oneOf": variants, "discriminator": {"propertyName": "kind"}}}}}


@bp.post("/runs")
@requires("analyst")
@doc(body=run_body_schema, status=202, errors={
    400: "a field of the wrong form: not in the schema, a value of the wrong type or outside "
         "its range, text that is not a distribution (details.field names it)",
    404: "no saved scenario of that scenario_name",
    422: "well-formed levers the model refuses (details.field names it): a home-care "
         "provider id the market does not have (remove_provider, capacity), a distribution "
         "whose parameters are out of order or not positive (uniform:1,0, beta:0,2) or not "
         "finite (1e400)",
    429: "the user already has RUNS_PER_USER runs queued or running"})
def start_run():
    """Start a run of any kind in the background; poll its URL for the result.

    Kinds: coverage (levers), equalisation (scenario or scenario_name, options), viability,
    sweep, montecarlo, exits, fee_uplift (scenario or scenario_name, levers). A saved scenario
    named by `scenario_name` runs exactly as saved. A user may have at most
    RUNS_PER_USER runs queued or running (429 past it).
    """
    body = _body()
    kind = body.get("kind")
    if not isinstance(kind, str):  # a list or object is not a kind (nor hashable)
        raise bad_request("kind", f"{kind!r} is not a run kind (choose from "
                                  f"{', '.join(analyses.RUN_KINDS)})")
    _numbers("scenario", body.get("scenario"))
    try:
        payload = analyses.check_run(get_db(), kind, {k: v for k, v in body.items()
                                                      if k != "kind"})
    except levers_registry.LeverRefused as exc:  # well-formed, refused by the domain: 422
        status, code = domain_status(exc)
        raise ApiError(status, code, str(exc), {"field": exc.field}) from None
    except levers_registry.LeverError as exc:
        raise bad_request(exc.field, exc.reason) from None
    run_id = tasks.submit(kind, payload, actor())
    _audit("run.start", f"{kind} #{run_id}", payload)
    run = get_run(get_db(), run_id) or {}
    url = f"{PREFIX}/runs/{run_id}"
    return json_response({"run_id": run_id, "status": run.get("status"), "url": url}, 202,
                         {"Location": url})


@bp.get("/runs")
@doc(query={"kind": ("string", "a run kind: " + ", ".join(analyses.RUN_KINDS)),
            "status": ("string", "queued, running, done or failed"), **PAGING})
def runs():
    """List runs, newest first, without their results."""
    args = _args()
    where, params = [], []
    for key in ("kind", "status"):
        if args.get(key):
            where.append(f"{key} = ?")
            params.append(args[key])
    sql = f"select {', '.join(RUN_FIELDS)} from runs" + (
        " where " + " and ".join(where) if where else "")
    out = queries.paginate(sql, params, get_db(), args.get("page", 1), args.get("per_page", 50),
                           "id desc")
    for item in out["items"]:
        item["params"] = json.loads(item["params"]) if item["params"] else {}
        item["url"] = f"{PREFIX}/runs/{item['id']}"
    return json_response(out)


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    """Get a run: its status and progress, and its result once it is done."""
    row = get_run(get_db(), run_id)
    if row is None:
        raise UnknownEntity(f"no run {run_id}")
    return json_response({**{k: row.get(k) for k in RUN_FIELDS},
                          "parameters": row.get("parameters"), "result": row.get("result")})


# -- imports ------------------------------------------------------------------------------------

@bp.get("/imports")
@doc(query=PAGING)
def imports():
    """List the import history, newest first."""
    return json_response(queries.imports(get_db(), _args()))


@bp.post("/imports")
@requires("analyst")
@doc(body={"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string", "enum": list(importers.KINDS)},
                   "file": {"type": "string", "format": "binary"},
                   "sheet": {"type": "string", "maxLength": 200,
                             "description": "the sheet of an XLSX workbook to read (default: "
                                            "its first sheet); empty for a CSV file"}}}}}},
     status=201)
def import_file():
    """Import a CSV or XLSX file as `kind`: every row or none (a rejected file is a 422)."""
    kind = (request.form.get("kind") or "").strip()
    if kind not in importers.KINDS:
        raise bad_request("kind", f"{kind!r} is not an import kind (choose from "
                                  f"{', '.join(importers.KINDS)})")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise bad_request("file", "attach the file to import (multipart field 'file')")
    sheet = (request.form.get("sheet") or "").strip()
    if len(sheet) > 200:
        raise bad_request("sheet", "a sheet name is at most 200 characters")
    summary = uploads.import_upload(get_db(), kind, upload, actor(), sheet or None)
    return json_response(summary.to_dict(), 201)


@bp.get("/imports/rejected")
def rejected_imports():
    """The latest rejected files (who, when, file, hash, the first 200 problems), newest
    first: kept beside the store so a rejected file leaves the store byte-identical."""
    return json_response(paginate_list(importers.rejected_imports(get_db()), _args()))


@bp.post("/imports/<int:import_id>/revert")
@requires("analyst")
@doc(query={"cascade": ("boolean", "also revert later imports that changed the same rows, "
                                   "newest first")})
def revert_import(import_id: int):
    """Restore the store as it was before import `import_id`, in one transaction; 409 naming
    the later imports (details.later) when they changed the same rows, unless cascade."""
    body = request.get_json(silent=True) if request.is_json else None
    lever = levers_registry.Lever("cascade", "boolean", "cascade", default=False)
    try:  # as documented: true or false (a JSON boolean in a body, the text in the query)
        cascade = (lever.check(body.get("cascade"), strict=True) if isinstance(body, dict)
                   and "cascade" in body else lever.from_query(request.args["cascade"])
                   if "cascade" in request.args else False)
    except levers_registry.LeverError as exc:
        raise bad_request("cascade", exc.reason) from None
    try:
        out = undo.revert(get_db(), import_id, actor(), bool(cascade))
    except undo.RevertRefused as exc:
        raise ApiError(409, "conflict", str(exc), {"later": exc.later}) from None
    return json_response(out)


@bp.get("/imports/completeness")
def imports_completeness():
    """Get the data completeness: per record kind, how many records are complete and what is
    missing (count per reason, the first ids, the models that leave such records out), with
    the path of a CSV of the incomplete records in the import layout."""
    return json_response(analyses.data_completeness(get_db()))


@bp.get("/imports/incomplete/<kind>.csv")
@doc(media=tables.CSV_MEDIA)
def incomplete_csv(kind: str):
    """Download the incomplete records of a kind as CSV in its import layout: fill the blank
    cells and import the file as that kind again."""
    body = analyses.incomplete_csv(get_db(), kind)
    resp = current_app.response_class(body.encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="incomplete-{kind}.csv"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# -- tables as CSV and XLSX (caremarket.tables: one definition, one exporter) ---------------------

def download(body: bytes, media: str, filename: str):
    """A file answer: attachment named `filename`, never cached."""
    resp = current_app.response_class(body, mimetype=media)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def table_download(table: tables.Table, fmt: str, stem: str):
    """The table, whole, as CSV or XLSX."""
    body, media = tables.export(table, fmt)
    return download(body, media, f"{stem}.{fmt}")


def export_routes(rule: str, endpoint: str, build: Callable[..., tables.Table],
                  summary: str, query: Mapping[str, tuple] | None = None,
                  stem: Callable[..., str] | str = "") -> None:
    """Register `rule.csv` and `rule.xlsx` (endpoints `endpoint_csv`, `endpoint_xlsx`), each
    answering the table `build(**path arguments)` in full (every row, no paging)."""
    for fmt, media in tables.FORMATS.items():
        def view(_fmt: str = fmt, **kw: Any):
            name = stem(**kw) if callable(stem) else (stem or endpoint)
            return table_download(build(**kw), _fmt, name)

        view.__name__ = f"{endpoint}_{fmt}"
        view.__doc__ = f"{summary} as {fmt.upper()}: every row, no paging."
        doc(query=query, media=media)(view)
        bp.add_url_rule(f"{rule}.{fmt}", f"{endpoint}_{fmt}", view, methods=["GET"])


PROVIDER_FILTERS = {k: v for k, v in providers.api_query.items()  # type: ignore[attr-defined]
                    if k not in PAGING}
export_routes("/providers", "providers", lambda: queries.providers_table(get_db(), _args()),
              "Download the providers that the filters choose (as GET /providers)",
              PROVIDER_FILTERS)
export_routes("/zones", "zones", lambda: queries.zones_table(get_db(), _args()),
              "Download the zones that the filters choose (as GET /zones)",
              {k: v for k, v in zones.api_query.items()  # type: ignore[attr-defined]
               if k not in PAGING})
export_routes("/imports", "imports", lambda: queries.imports_table(get_db()),
              "Download the whole import history (as GET /imports)")


def _comparison() -> tables.Table:
    names = [n.strip() for n in request.args.get("names", "").split(",") if n.strip()]
    if not names:
        raise bad_request("names", "give one or more saved scenario names, comma-separated")
    return tables.comparison(analyses.compare_scenarios(get_db(), names))


export_routes("/scenarios/compare", "compare_scenarios", _comparison,
              "Download the comparison of saved scenarios (as GET /scenarios/compare)",
              compare_scenarios.api_query, "scenario-comparison")  # type: ignore[attr-defined]


def _run_record(run_id: int) -> dict[str, Any]:
    row = get_run(get_db(), run_id)
    if row is None:
        raise UnknownEntity(f"no run {run_id}")
    return {**{k: row.get(k) for k in RUN_FIELDS}, "result": row.get("result")}


def table_links(run_id: int, name: str) -> dict[str, str]:
    base = f"{PREFIX}/runs/{run_id}/tables/{name}"
    return {f: f"{base}.{f}" for f in ("json", *tables.FORMATS)}


@bp.get("/runs/<int:run_id>/tables")
def run_tables(run_id: int):
    """List a run's tables: name, title, columns (key, label, unit), row count and links to
    each in JSON, CSV and XLSX (none until the run is done)."""
    run = _run_record(run_id)
    return json_response({"run_id": run_id, "kind": run["kind"], "status": run["status"],
                          "tables": [{**t.definition.to_dict(), "rows": len(t.rows),
                                      "links": table_links(run_id, t.name)}
                                     for t in tables.run_tables(run)]})


@bp.get("/runs/<int:run_id>/tables/<table>.json")
def run_table(run_id: int, table: str):
    """Get one table of a run as JSON: its columns and every row (`items`)."""
    return json_response(tables.run_table(_run_record(run_id), table).to_dict())


export_routes("/runs/<int:run_id>/tables/<table>", "run_table",
              lambda run_id, table: tables.run_table(_run_record(run_id), table),
              "Download one table of a run",
              stem=lambda run_id, table: f"run-{run_id}-{table}")


@bp.get("/imports/templates")
def import_templates():
    """List the import kinds' template files: for each kind a CSV with the header and one
    example row (null where the kind reads another format)."""
    return json_response({"templates": [
        {"kind": k.name, "description": k.description,
         "columns": list(k.example) if k.example else None,
         "url": f"{PREFIX}/imports/templates/{k.name}.csv" if k.example else None}
        for k in importers.KINDS.values()]})


@bp.get("/imports/templates/<kind>.csv")
@doc(media=tables.CSV_MEDIA)
def import_template(kind: str):
    """Download the template of an import kind: a CSV with its header and one example row
    whose values are in range, which imports as it stands."""
    return download(importers.template_csv(kind).encode("utf-8"), tables.CSV_MEDIA,
                    f"template-{kind}.csv")


# -- the OpenAPI document -----------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<conv>[A-Za-z_]\w*)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_]\w*)>")
_CONVERTER_SCHEMA = {"int": {"type": "integer"}, "float": {"type": "number"},
                     "scenario": {"type": "string", "not": {"enum": list(
                         scenario_store.RESERVED_NAMES)}},
                     "report": {"type": "string", "not": {"enum": ["compare", "runs", "new"]}},
                     "uuid": {"type": "string", "format": "uuid"}}
_ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["status", "code", "message"],
                             "properties": {"status": {"type": "integer"},
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "details": {}}}}}


def _media_of(rule: str) -> str:
    """A route's success media type from its extension where `doc` names none (a .csv route
    is never documented as JSON)."""
    for ext, media in ((".csv", tables.CSV_MEDIA), (".geojson", "application/geo+json"),
                       *((f".{fmt}", m) for fmt, m in tables.FORMATS.items())):
        if rule.endswith(ext):
            return media
    return "application/json"


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn a Flask rule into an OpenAPI path ({param}) and its path parameters."""
    params = [{"name": m["name"], "in": "path", "required": True,
               "schema": dict(_CONVERTER_SCHEMA.get(m["conv"] or "", {"type": "string"}))}
              for m in _PARAM.finditer(rule)]
    return _PARAM.sub(lambda m: "{" + m["name"] + "}", rule), params


def openapi_document(app: Flask) -> dict[str, Any]:
    """An OpenAPI 3.1 document of every rule under /api/v1 in `app.url_map`."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path, path_params = openapi_path(rule.rule)
        view = app.view_functions[rule.endpoint]
        text = inspect.getdoc(view) or ""
        tag = path[len(PREFIX) + 1:].split("/")[0] or "api"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            status = getattr(view, "api_status", 201 if method == "POST" else 200)
            media = getattr(view, "api_media", None) or _media_of(rule.rule)
            success = {"description": "success", "content": {media: {"schema": (
                {"type": "object"} if media.endswith(("/json", "+json"))
                else {"type": "string", "format": "binary"})}}}
            op: dict[str, Any] = {
                "operationId": re.sub(r"\W", "_", f"{rule.endpoint}_{method.lower()}"),
                "summary": text.splitlines()[0] if text else rule.endpoint,
                "tags": [tag],
                "parameters": path_params + [
                    query_parameter(name, spec)
                    for name, spec in getattr(view, "api_query", {}).items()],
                "responses": {
                    **{str(code): success
                       for code in (status, *getattr(view, "api_also", ()))},
                    "401": {"$ref": "#/components/responses/Error"},
                    "default": {"$ref": "#/components/responses/Error"}},
            }
            if len(text.splitlines()) > 1:
                op["description"] = text
            for code, when in getattr(view, "api_errors", {}).items():
                op["responses"][str(code)] = {
                    "description": when, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
            role = getattr(view, "required_role", None)
            if role:
                op["x-required-role"] = role
                op["responses"]["403"] = {"$ref": "#/components/responses/Error"}
            body = getattr(view, "api_body", None)
            if callable(body):  # built from the lever registry when the document is asked for
                body = body()
            if body and method in ("POST", "PUT", "PATCH"):
                op["requestBody"] = body
            paths.setdefault(path, {})[method.lower()] = op
    try:

        api_version = version("caremarket")
    except Exception:  # noqa: BLE001 - not installed as a distribution: the API's own number
        api_version = "1"
    return {
        "openapi": "3.1.0",
        "info": {"title": "caremarket API", "version": api_version,
                 "description": "Adult social care market-shaping: providers, zones, fees, "
                                "coverage and equalisation runs, imports. Every route needs a "
                                "Bearer token or a logged-in session; cookie-authenticated "
                                "writes also need the X-CSRFToken header."},
        "paths": paths,
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "an API token: caremarket token create"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session"}},
            "schemas": {"Error": _ERROR_SCHEMA},
            "responses": {"Error": {"description": "the error envelope", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }


@bp.get("/openapi.json")
def openapi():
    """Get the OpenAPI 3.1 document of this API (every route under /api/v1)."""
    return json_response(openapi_document(current_app))
