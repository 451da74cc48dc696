"""Fee-impact reports on the web: pages (blueprint `reports`) and the API (`api_bp`).

Pages: /reports (definitions and recent runs), /reports/<name> (definition and history),
/reports/runs/<id> (the report: headline, detail tables, content hash, parameters, changes
since the previous run; print-ready), /reports/compare?a=&b=, and for admins the forms to
create, edit and delete definitions; analysts can run a report now.

API under /api/v1/reports: GET list, POST create (admin), GET/PUT/DELETE /<name> (admin for
writes), POST /<name>/run (analyst), GET /<name>/runs, GET /runs/<id>, GET /runs/<id>.csv and
.xlsx, GET /compare?a=&b=. Each page renders the dict its API route returns (the handlers in
`caremarket.reports`); errors go through the API's envelope and error pages (web.api).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from caremarket import formats, reports
from caremarket.scenario_store import list_scenarios
from caremarket.store import open_store
from market.errors import UnknownEntity
from web import scheduler, tasks
from web.api import PAGING, ApiError, _args, bad_request, doc, json_response, paginate_list
from web.auth import actor, requires
from web.db import get_db

bp = Blueprint("reports", __name__, url_prefix="/reports")
api_bp = Blueprint("reports_api", __name__, url_prefix="/api/v1/reports")

API = "/api/v1/reports"


# -- number formats for the report pages ---------------------------------------------------

@bp.app_template_filter("report_value")
def report_value(value: Any, unit: str = "") -> str:
    """A figure as a commissioner reads it (caremarket.formats.by_unit)."""
    return formats.by_unit(value, unit)


@bp.app_template_filter("report_time")
def report_time(stamp: str | None, seconds: bool = False) -> str:
    """An ISO timestamp as London time: '6 Jan 2025 06:00 GMT'."""
    if not stamp:
        return "–"
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(reports.TIMEZONE))
    return f"{local.day} {local:%b %Y %H:%M{':%S' if seconds else ''} %Z}"


@bp.app_template_filter("schedule")
def schedule(cron: str | None, timezone: str | None = None) -> str:
    """A cron line in words: 'every Monday at 06:00' (caremarket.reports.schedule_words)."""
    return reports.schedule_words(cron or "", timezone)


@bp.app_template_filter("report_change")
def report_change(value: Any, unit: str = "") -> str:
    """A change with its sign (caremarket.formats.change)."""
    return formats.change(value, unit)


# -- shared handlers -------------------------------------------------------------------------

def _definition_fields(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The fields of a definition from a JSON body, checked for shape (the domain checks the
    rest); unknown fields are a 400."""
    allowed = {"name", "report_type", *reports.EDITABLE} if creating \
        else set(reports.EDITABLE) | {"name"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise bad_request(unknown[0], f"unknown field (send {', '.join(sorted(allowed))})")
    for key in ("scenarios", "measures"):
        if key in data and data[key] is not None and not (
                isinstance(data[key], list) and all(isinstance(v, str) for v in data[key])):
            raise bad_request(key, "must be a list of names")
    for key in ("name", "cron", "description", "report_type"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise bad_request(key, "must be text")
    if "enabled" in data and not isinstance(data["enabled"], bool):
        raise bad_request("enabled", "must be true or false")
    return data


def _start_run(name: str) -> int:
    """Claim a run of report `name` now and compute it in the background (inline under
    RUN_SYNC); return its id."""
    db = get_db()
    user = actor()
    tasks.check_queue(db, user)
    run_id = reports.begin_run(db, name, "manual", user=user, status="queued")
    if run_id is None:
        raise ApiError(409, "conflict", f"report '{name}' was started at this very moment "
                                        "already; try again")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("RUN_SYNC"):
        _complete(app, run_id, user)
    else:
        app.extensions["caremarket.tasks"].submit(_complete, app, run_id, user)
    return run_id


def _complete(app, run_id: int, user: str | None) -> None:
    with app.app_context():
        store = open_store(app.config["DATABASE"], migrate_schema=False)
        try:
            reports.complete_run(store, run_id, user=user)
        except reports.ReportFailed as exc:
            app.logger.warning("%s", exc)  # recorded in the run
        except Exception:  # noqa: BLE001 - recorded as failed by complete_run; pool goes on
            app.logger.exception("report run %s failed", run_id)
        finally:
            store.close()


def _run_or_404(run_id: int) -> dict[str, Any]:
    return reports.get_run(get_db(), run_id)


def _done(run: dict[str, Any]) -> dict[str, Any]:
    if run["status"] != "done":
        raise ApiError(409, "conflict", f"report run {run['id']} has no report yet (status "
                                        f"{run['status']}"
                                        f"{': ' + run['error'] if run.get('error') else ''})")
    return run


def _filename(run: dict[str, Any], ext: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", run["report_name"]).strip("-").lower() or "report"
    day = (run.get("started_at") or "")[:10]
    return f"{slug}-run{run['id']}-{day}.{ext}"


def _download(run: dict[str, Any], kind: str):
    run = _done(run)
    table = request.args.get("table")
    if kind == "csv":
        body = reports.table_csv(run, table) if table else reports.to_csv(run)
        suffix = f"-{table}" if table else ""
        resp = current_app.response_class(body.encode("utf-8"), mimetype="text/csv")
        name = _filename(run, "csv").replace(".csv", f"{suffix}.csv")
    else:
        resp = current_app.response_class(
            reports.to_xlsx(run),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        name = _filename(run, "xlsx")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _page_args() -> tuple[int, int]:
    """page and per_page checked like every other list (at least 1: a 400 naming the argument
    otherwise); per_page is capped at 500."""
    args = _args()
    return args.get("page", 1), min(args.get("per_page", 50), 500)


def _compare_ids() -> tuple[int, int]:
    ids = []
    for key in ("a", "b"):
        try:
            ids.append(int(request.args.get(key, "")))
        except ValueError:
            raise bad_request(key, "give the ids of two report runs: ?a=OLDER&b=NEWER") from None
    return ids[0], ids[1]


def _changed() -> None:
    scheduler.definitions_changed(current_app._get_current_object())  # type: ignore[attr-defined]


# -- API -------------------------------------------------------------------------------------

DEFINITION_BODY = {
    "required": True, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": r"\S",
                     "not": {"pattern": r"^\s*([cC][oO][mM][pP][aA][rR][eE]|[rR][uU][nN][sS]|[nN][eE][wW])\s*$"}},
            "description": {"type": "string"},
            "scenarios": {"type": "array", "items": {"type": "string"},
                          "description": "names of saved scenarios"},
            "measures": {"type": "array", "items": {"type": "string", "enum": [
                *reports.MEASURES, *reports.MSP_SECTIONS]},
                "description": "fee-impact measures, or an evidence pack's sections"},
            "cron": {"type": "string", "description": "crontab, e.g. '0 6 * * 1' "
                                                      "(Europe/London)"},
            "enabled": {"type": "boolean"}}}}}}
# Creating also takes the report's type (fixed once created); msp measures are its sections.
CREATE_BODY = {**DEFINITION_BODY, "content": {"application/json": {"schema": {
    **DEFINITION_BODY["content"]["application/json"]["schema"],
    "properties": {
        **DEFINITION_BODY["content"]["application/json"]["schema"]["properties"],
        "report_type": {"type": "string", "enum": list(reports.REPORT_TYPES)}}}}}}


def _body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise bad_request("body", "send a JSON object (Content-Type: application/json)")
    return body


@api_bp.get("")
@doc(query=PAGING)
def api_list():
    """List the report definitions with their schedule and latest run."""
    return json_response(paginate_list(reports.list_definitions(get_db()), _args()))


@api_bp.post("")
@requires("admin")
@doc(body=CREATE_BODY, status=201)
def api_create():
    """Create a report definition: saved scenarios, measures and a cron schedule."""
    data = _definition_fields(_body(), creating=True)
    d = reports.create_definition(get_db(), data.get("name") or "", data.get("scenarios") or [],
                                  data.get("cron") or "", data.get("measures"),
                                  data.get("description") or "", data.get("enabled", True),
                                  user=actor(), report_type=data.get("report_type")
                                  or "fee_impact")
    _changed()
    return json_response(d, 201, {"Location": url_for("reports_api.api_get", name=d["name"])})


@api_bp.get("/<report:name>")
def api_get(name: str):
    """Get a report definition with its next run time and latest run."""
    db = get_db()
    reports.get_definition(db, name)
    return json_response(next(d for d in reports.list_definitions(db) if d["name"] == name))


@api_bp.put("/<report:name>")
@requires("admin")
@doc(body=DEFINITION_BODY)
def api_update(name: str):
    """Change a report definition (any of description, scenarios, measures, cron, enabled)."""
    data = _definition_fields(_body(), creating=False)
    d = reports.update_definition(get_db(), name, data, user=actor())
    _changed()
    return json_response(d)


@api_bp.delete("/<report:name>")
@requires("admin")
def api_delete(name: str):
    """Delete a report definition; its runs are kept."""
    reports.delete_definition(get_db(), name, user=actor())
    _changed()
    return json_response({"deleted": name})


@api_bp.post("/<report:name>/run")
@requires("analyst")
@doc(status=202)
def api_run(name: str):
    """Run a report now; poll its URL until status is done (or failed)."""
    run_id = _start_run(name)
    run = reports.get_run(get_db(), run_id)
    url = f"{API}/runs/{run_id}"
    return json_response({"run_id": run_id, "status": run["status"], "url": url,
                          "page": url_for("reports.run", run_id=run_id)}, 202,
                         {"Location": url})


@api_bp.get("/<report:name>/runs")
@doc(query=PAGING)
def api_runs(name: str):
    """List the runs of a report, newest first, without their reports."""
    db = get_db()
    page, per_page = _page_args()
    out = reports.list_runs(db, name, page, per_page)
    if out["total"] == 0:
        reports.get_definition(db, name)  # 404 for a report that never existed
    for item in out["items"]:
        item["url"] = f"{API}/runs/{item['id']}"
    return json_response(out)


@api_bp.get("/runs/<int:run_id>")
def api_run_get(run_id: int):
    """Get a report run: the report (headline, detail, parameters, changes) once done."""
    return json_response(_run_or_404(run_id))


@api_bp.get("/runs/<int:run_id>.csv")
@doc(query={"table": ("string", "one table only: headline, parameters or a detail table")},
     media="text/csv")
def api_run_csv(run_id: int):
    """Download a report run as CSV (long: section, scenario, item, measure, ..., value)."""
    return _download(_run_or_404(run_id), "csv")


@api_bp.get("/runs/<int:run_id>.xlsx")
@doc(media="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
def api_run_xlsx(run_id: int):
    """Download a report run as an XLSX workbook (Headline sheet first)."""
    return _download(_run_or_404(run_id), "xlsx")


@api_bp.get("/compare")
@doc(query={"a": ("integer", "the older report run", True),
            "b": ("integer", "the newer report run", True)})
def api_compare():
    """Compare two report runs: headline figures side by side and what changed."""
    a, b = _compare_ids()
    return json_response(reports.compare_runs(get_db(), a, b))


# -- pages -----------------------------------------------------------------------------------

def _form_values(form, report_type: str | None = None) -> dict[str, Any]:
    kind = report_type or form.get("report_type") or "fee_impact"
    return {"name": (form.get("name") or "").strip(),
            "description": form.get("description") or "",
            "report_type": kind,
            "scenarios": form.getlist("scenarios"),
            "measures": form.getlist("sections" if kind == "msp" else "measures"),
            "cron": (form.get("cron") or "").strip(),
            "enabled": form.get("enabled") == "on"}


def _render_form(values: dict[str, Any], creating: bool, error: str | None = None):
    return render_template("reports/form.html", values=values, creating=creating, error=error,
                           scenarios=list_scenarios(get_db()), measures=reports.MEASURES,
                           sections=reports.MSP_SECTIONS, report_types=reports.REPORT_TYPES,
                           timezone=reports.TIMEZONE), (422 if error else 200)


@bp.get("")
def index():
    db = get_db()
    return render_template("reports/index.html", reports=reports.list_definitions(db),
                           recent=reports.list_runs(db, None, 1, 20)["items"],
                           measures=reports.MEASURES)


@bp.route("/new", methods=["GET", "POST"])
@requires("admin")
def new():
    if request.method == "GET":
        return _render_form({"name": "", "description": "", "scenarios": [],
                             "report_type": "fee_impact",
                             "measures": list(reports.DEFAULT_MEASURES), "cron": "0 6 * * 1",
                             "enabled": True}, creating=True)
    values = _form_values(request.form)
    try:
        d = reports.create_definition(get_db(), values["name"], values["scenarios"],
                                      values["cron"], values["measures"] or None,
                                      values["description"], values["enabled"], user=actor(),
                                      report_type=values["report_type"])
    except reports.InvalidReport as exc:
        return _render_form(values, creating=True, error=str(exc))
    _changed()
    flash(f"Created report '{d['name']}'; next run {d['next_run_at'] or 'not scheduled'}.")
    return redirect(url_for("reports.definition", name=d["name"]))


@bp.get("/<name>")
def definition(name: str):
    db = get_db()
    reports.get_definition(db, name)
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 1_000_000_000))
    d = next(x for x in reports.list_definitions(db) if x["name"] == name)
    return render_template("reports/definition.html", report=d,
                           runs=reports.list_runs(db, name, page, 50),
                           measures=reports.MEASURES, sections=reports.MSP_SECTIONS,
                           report_types=reports.REPORT_TYPES)


@bp.route("/<name>/edit", methods=["GET", "POST"])
@requires("admin")
def edit(name: str):
    db = get_db()
    current = reports.get_definition(db, name)
    if request.method == "GET":
        return _render_form(current, creating=False)
    values = {**_form_values(request.form, current["report_type"]), "name": name}
    try:
        reports.update_definition(db, name, {k: values[k] for k in reports.EDITABLE},
                                  user=actor())
    except reports.InvalidReport as exc:
        return _render_form(values, creating=False, error=str(exc))
    _changed()
    flash(f"Saved report '{name}'.")
    return redirect(url_for("reports.definition", name=name))


@bp.post("/<name>/delete")
@requires("admin")
def delete(name: str):
    reports.delete_definition(get_db(), name, user=actor())
    _changed()
    flash(f"Deleted report '{name}' (its runs are kept).")
    return redirect(url_for("reports.index"))


@bp.post("/<name>/run")
@requires("analyst")
def run_now(name: str):
    run_id = _start_run(name)
    run = reports.get_run(get_db(), run_id)
    if run["status"] == "failed":
        flash(f"Run {run_id} of '{name}' failed: {run['error']}", "error")
    return redirect(url_for("reports.run", run_id=run_id))


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    r = _run_or_404(run_id)
    try:
        d = reports.get_definition(get_db(), r["report_name"])
    except UnknownEntity:
        d = None
    # a run not yet done has no report: its definition says its type
    kind = r.get("report_type") or (d or {}).get("report_type")
    template = "reports/msp.html" if kind == "msp" else "reports/run.html"
    return render_template(template, run=r, definition=d,
                           can_run=current_user.can("analyst") and d is not None,
                           api=API)


@bp.get("/runs/<int:run_id>.csv")
def run_csv(run_id: int):
    return _download(_run_or_404(run_id), "csv")


@bp.get("/runs/<int:run_id>.xlsx")
def run_xlsx(run_id: int):
    return _download(_run_or_404(run_id), "xlsx")


@bp.get("/compare")
def compare():
    a, b = _compare_ids()
    return render_template("reports/compare.html", cmp=reports.compare_runs(get_db(), a, b))
