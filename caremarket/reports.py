"""Fee-impact reports (methodology s6): named definitions, dated runs, changes, CSV and XLSX.

A definition names a set of saved scenarios, the measures wanted and a cron expression. A run
computes each scenario with `caremarket.analyses.equalisation` against the data as it stands and
keeps the headline table (one row per measure, one column per scenario), the detail tables, the
content hash of the inputs, the parameters used and what changed since the previous run of the
same report.

A run is claimed by inserting its (report_name, scheduled_for) row before any work: the unique
index on that pair (migration 2) makes a second scheduler process that reaches the same firing
fail the insert and skip, so a scheduled report never runs twice.

Cron expressions are standard crontab (minute hour day month weekday; weekday 0 or 7 is Sunday,
1 Monday) in the `TIMEZONE` (Europe/London); they are parsed with APScheduler's
`CronTrigger.from_crontab` after the weekday field is translated, since APScheduler 3 counts
weekdays from Monday = 0.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from apscheduler.triggers.cron import CronTrigger
from openpyxl import Workbook

from caremarket import fair_cost, jsonio, paging, runs, tables
from caremarket.accounts import audit
from caremarket.analyses import coverage, equalisation, rurality_rank
from caremarket.overview import overview
from caremarket.scenario_store import get_scenario, save_scenario
from caremarket.store import content_hash
from caremarket.store import now as now_iso
from market.errors import CareMarketError, InvalidInput, UnknownEntity
from market.fcoc import CATEGORY_LABELS
from market.scenarios import Scenario

TIMEZONE = "Europe/London"

# The measures a definition can ask for: what each adds to the headline and detail tables.
MEASURES: dict[str, str] = {
    "cross_subsidy": "Cross-subsidy from self-funders at risk",
    "classes": "Care homes and beds by viability class",
    "extra_la_spend": "Extra LA spend to restore sustainability",
    "coverage": "Home-care exits, coverage and unmet hours before and after",
    "uncertainty": "Range of beds not sustainable with take-up drawn from a distribution",
    "sweep": "Take-up sweep: the market at each take-up from 0 to 100%",
}
DEFAULT_MEASURES = ("cross_subsidy", "classes", "extra_la_spend", "coverage")
# Report types: the fee-impact report (scenarios x measures) and the Market Sustainability Plan
# evidence pack (every section below, its exposure figures under the saved take-up scenarios).
REPORT_TYPES: dict[str, str] = {
    "fee_impact": "Fee-impact report",
    "msp": "Market Sustainability Plan evidence pack",
}
MSP_SECTIONS: dict[str, str] = {
    "overview": "Market overview: providers, beds, home-care capacity, CQC ratings, "
                "self-funders",
    "coverage": "Home-care coverage and gaps by rurality, cost of care against the LA rate "
                "and the Fair Cost of Care median",
    "fcoc": "Fair Cost of Care: the returns' quartiles, the fee gap, rural travel",
    "exposure": "Equalisation exposure under Care Act s18(3) take-up scenarios",
    "at_risk": "Providers at risk",
    "trajectory": "The cost of the fee trajectory towards the Fair Cost of Care median",
}
CLASSES = ("sustainable", "at risk", "unviable")
WHEN = (("before", "before"), ("after", "after"))
MAX_NAME = 100
RESERVED_NAMES = ("compare", "runs", "new")  # /reports/compare, /reports/runs/N, /reports/new


class InvalidReport(InvalidInput):
    """A report definition that cannot be saved (bad cron, unknown scenario or measure...)."""


class ReportFailed(CareMarketError):
    """A report run failed; it is recorded (status 'failed', with the error) as `run_id`."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(f"report run {run_id} failed: {message}")
        self.run_id = run_id
        self.error = message


# -- cron ----------------------------------------------------------------------------------

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _weekday(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    for i, full in enumerate(_DAY_NAMES):
        if token in (full, full[:3]):
            return i
    raise ValueError(f"'{token}' is not a weekday (0-7 or sun-sat; 0 and 7 are Sunday)")


def _crontab_weekdays(field: str) -> str:
    """Translate a crontab weekday field (0/7 = Sunday) into APScheduler 3 weekday names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"weekday step '{step_text}' is not a positive whole number")
            step = int(step_text)
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            a, b = span.split("-", 1)
            lo, hi = _weekday(a), _weekday(b)
            if lo > hi:
                raise ValueError(f"weekday range '{span}' runs backwards")
        else:
            lo = _weekday(span)
            hi = 6 if slash else lo
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str = TIMEZONE):
    """Return the APScheduler CronTrigger of a crontab expression; InvalidReport saying why not."""

    fields = str(expr or "").split()
    if len(fields) != 5:
        raise InvalidReport(f"cron '{expr}': give 5 fields (minute hour day-of-month month "
                            f"day-of-week), e.g. '0 6 * * 1' for Mondays at 06:00; got "
                            f"{len(fields)}")
    try:
        fields[4] = _crontab_weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)
    except ValueError as exc:
        raise InvalidReport(f"cron '{expr}': {exc}") from None


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _expand(field: str, lo: int, hi: int, parse=int) -> list[int] | None:
    """The values a crontab field names (None for every value)."""
    if field in ("*", "?"):
        return None
    out: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        step = int(step_text) if slash else 1
        if span == "*":
            a, b = lo, hi
        elif "-" in span:
            x, y = span.split("-", 1)
            a, b = parse(x), parse(y)
        else:
            a = parse(span)
            b = hi if slash else a
        out.update(range(a, b + 1, step))
    values = sorted(out)
    return None if values == list(range(lo, hi + 1)) else values


def _and(words: Sequence[str]) -> str:
    words = list(words)
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def schedule_words(expr: str, timezone: str | None = None) -> str:
    """A crontab line in words, as the Reports pages show a schedule: '0 6 * * 1' -> 'every
    Monday at 06:00'. Weekday 0 and 7 are Sunday (as `cron_trigger` reads them)."""
    fields = str(expr or "").split()
    try:
        cron_trigger(expr)
        minute, hour, dom, month, dow = fields
        mins = _expand(minute, 0, 59)
        hours = _expand(hour, 0, 23)
        days = _expand(dom, 1, 31)
        months = _expand(month, 1, 12)
        weekdays = _expand(dow, 0, 7, _weekday)
    except (InvalidReport, ValueError):
        return f"the schedule '{expr}' (not a valid crontab line)"
    if weekdays is not None:
        weekdays = sorted({d % 7 for d in weekdays})
        if len(weekdays) == 7:
            weekdays = None
    # the time of day
    every_day_words = True
    if mins is None and hours is None:
        when, every_day_words = "every minute", False
    elif hours is None and minute.startswith("*/"):
        when, every_day_words = f"every {int(minute[2:])} minutes", False
    elif (hours is None or hour.startswith("*/")) and mins is not None:
        past = ("on the hour" if mins == [0] else "at " + _and([str(m) for m in mins])
                + " minutes past")
        when = (f"every {int(hour[2:])} hours" if hours is not None else "every hour") + \
            f", {past}"
        every_day_words = False
    elif mins is None:
        when = "every minute of the hour from " + _and([f"{h:02d}:00" for h in hours])
    else:
        times = [f"{h:02d}:{m:02d}" for h in hours for m in mins]
        when = "at " + (_and(times) if len(times) <= 6 else f"{len(times)} times a day, from "
                        f"{times[0]} to {times[-1]}")
    # the days
    names = [_DAY_NAMES[d].capitalize() for d in weekdays or []]
    if weekdays == [1, 2, 3, 4, 5]:
        on_weekdays = "every weekday (Monday to Friday)"
    elif weekdays == [0, 6]:
        on_weekdays = "every Saturday and Sunday"
    else:
        on_weekdays = "every " + _and(names) if names else ""
    in_months = (" in " + _and([_MONTHS[m - 1] for m in months])) if months else ""
    of_month = "of " + _and([_MONTHS[m - 1] for m in months]) if months else "of every month"
    if days is None and weekdays is None:
        day = ("every day" if every_day_words else "") + in_months
    elif days is None:
        day = on_weekdays + in_months
    elif weekdays is None:
        day = f"on the {_and([_ordinal(d) for d in days])} {of_month}"
    else:
        day = (f"on the {_and([_ordinal(d) for d in days])} {of_month} and "
               f"{on_weekdays}{in_months}")
    text = f"{day} {when}".strip() if every_day_words or day else when
    if not every_day_words and day:
        text = f"{when}, {day}"
    return text + (f" ({timezone} time)" if timezone else "")


def normalise_cron(expr: str) -> str:
    """Check `expr` and return it with single spaces (as stored)."""
    cron_trigger(expr)
    return " ".join(str(expr).split())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def firings(expr: str, since: datetime, until: datetime, limit: int = 10_000) -> list[datetime]:
    """The firing times t of `expr` with since < t <= until, in UTC (at most `limit`)."""
    trig = cron_trigger(expr)
    since, until = _aware(since), _aware(until)
    out: list[datetime] = []
    t = trig.get_next_fire_time(None, since + timedelta(microseconds=1))
    while t is not None and t <= until and len(out) < limit:
        out.append(t.astimezone(UTC))
        t = trig.get_next_fire_time(t, t + timedelta(microseconds=1))
    return out


def next_firing(expr: str, after: datetime) -> datetime | None:
    """The first firing of `expr` at or after `after`, in UTC."""
    t = cron_trigger(expr).get_next_fire_time(None, _aware(after))
    return t.astimezone(UTC) if t else None


def last_firing(expr: str, at: datetime) -> datetime | None:
    """The latest firing of `expr` at or before `at`, in UTC (None if none in ten years).

    This is the firing a scheduled job is carrying out: on time, or the one a missed run
    catches up (APScheduler coalesces missed firings into the latest).
    """
    at = _aware(at)
    window = timedelta(minutes=1)
    while window < timedelta(days=3660):
        found = firings(expr, at - window, at, limit=100_000)
        if found:
            return found[-1]
        window *= 4
    return None


def stamp(moment: datetime) -> str:
    """A firing time as stored in report_runs.scheduled_for: UTC, ISO 8601, to the second."""
    return _aware(moment).astimezone(UTC).isoformat(timespec="seconds")


# -- definitions ---------------------------------------------------------------------------

def _definition(row: Mapping[str, Any], at: datetime | None = None) -> dict[str, Any]:
    out = {"name": row["name"], "description": row["description"] or "",
           "report_type": row.get("report_type") or "fee_impact",
           "scenarios": json.loads(row["scenarios"] or "[]"),
           "measures": json.loads(row["measures"] or "[]"), "cron": row["cron"],
           "timezone": TIMEZONE, "enabled": bool(row["enabled"]),
           "created_by": row["created_by"], "created_at": row["created_at"],
           "updated_at": row["updated_at"], "next_run_at": None}
    if out["enabled"]:
        try:
            nxt = next_firing(out["cron"], at or datetime.now(UTC))
            out["next_run_at"] = stamp(nxt) if nxt else None
        except InvalidReport:
            out["next_run_at"] = None
    return out


def get_definition(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    """Return the definition called `name`; UnknownEntity when there is none."""
    rows = list(db["report_definitions"].rows_where("name = ?", [name]))
    if not rows:
        known = ", ".join(r["name"] for r in db["report_definitions"].rows) or "none defined"
        raise UnknownEntity(f"no report called '{name}' (reports: {known})")
    return _definition(rows[0])


def list_definitions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every definition with its number of runs and its latest run (without the report)."""
    out = []
    for row in db["report_definitions"].rows_where(order_by="name"):
        d = _definition(row)
        d["runs"] = db.execute("select count(*) from report_runs where report_name = ?",
                               [d["name"]]).fetchone()[0]
        latest = _run_rows(db, "report_name = ?", [d["name"]], limit=1)
        d["latest_run"] = latest[0] if latest else None
        done = _run_rows(db, "report_name = ? and status = 'done'", [d["name"]], limit=1)
        d["latest_done_run"] = done[0] if done else None
        out.append(d)
    return out


def _as_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, Iterable):
        raise InvalidReport(f"{what}: give a list of names")
    out: list[str] = []
    for v in value:
        if not isinstance(v, str) or not v.strip():
            raise InvalidReport(f"{what}: {v!r} is not a name")
        if v.strip() not in out:
            out.append(v.strip())
    return out


def _check(db: sqlite_utils.Database, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields of a definition; return them as stored."""
    name = str(fields.get("name") or "").strip()
    if not name:
        raise InvalidReport("a report needs a name")
    if len(name) > MAX_NAME or "/" in name or any(ord(c) < 32 for c in name):
        raise InvalidReport(f"report name '{name}': at most {MAX_NAME} characters, no '/' or "
                            "control characters")
    if name.lower() in RESERVED_NAMES:
        raise InvalidReport(f"report name '{name}' is reserved (it is part of the web "
                            f"addresses); choose another")
    report_type = str(fields.get("report_type") or "fee_impact").strip()
    if report_type not in REPORT_TYPES:
        raise InvalidReport(f"report type '{report_type}': choose {', '.join(REPORT_TYPES)}")
    scenarios = _as_list(fields.get("scenarios"), "scenarios")
    if not scenarios:
        raise InvalidReport("a report needs at least one saved scenario" + (
            " (the evidence pack's take-up scenarios, e.g. take_up 0.25, 0.5 and 1)"
            if report_type == "msp" else ""))
    saved = {r["name"] for r in db["scenarios"].rows}
    unknown = [s for s in scenarios if s not in saved]
    if unknown:
        raise InvalidReport(f"unknown scenario(s) {', '.join(repr(s) for s in unknown)}; save "
                            f"them first (saved: {', '.join(sorted(saved)) or 'none'})")
    known = MSP_SECTIONS if report_type == "msp" else MEASURES
    measures = _as_list(fields.get("measures"), "measures") or list(
        MSP_SECTIONS if report_type == "msp" else DEFAULT_MEASURES)
    bad = [m for m in measures if m not in known]
    if bad:
        raise InvalidReport(f"unknown {'section' if report_type == 'msp' else 'measure'}(s) "
                            f"{', '.join(bad)} (choose from {', '.join(known)})")
    measures = [m for m in known if m in measures]
    cron = normalise_cron(fields.get("cron") or "")
    enabled = fields.get("enabled", True)
    if isinstance(enabled, str):
        enabled = enabled.strip().lower() in ("1", "true", "yes", "on")
    description = str(fields.get("description") or "").strip()
    return {"name": name, "description": description, "scenarios": json.dumps(scenarios),
            "measures": json.dumps(measures), "cron": cron, "enabled": int(bool(enabled)),
            "report_type": report_type}


def create_definition(db: sqlite_utils.Database, name: str, scenarios: Sequence[str],
                      cron: str, measures: Sequence[str] | None = None, description: str = "",
                      enabled: bool = True, user: str | None = None,
                      report_type: str = "fee_impact") -> dict[str, Any]:
    """Create a report definition (audited); InvalidReport when a field is wrong or it exists.
    `report_type`: fee_impact, or msp (the evidence pack: `measures` are its sections)."""
    row = _check(db, {"name": name, "scenarios": scenarios, "cron": cron, "measures": measures,
                      "description": description, "enabled": enabled,
                      "report_type": report_type})
    if list(db["report_definitions"].rows_where("name = ?", [row["name"]])):
        raise InvalidReport(f"a report called '{row['name']}' exists already")
    stamp_now = now_iso()
    with db.atomic():
        db["report_definitions"].insert({**row, "created_by": user, "created_at": stamp_now,
                                         "updated_at": stamp_now})
        audit(db, user, "report.create", row["name"], _public(row))
    return get_definition(db, row["name"])


EDITABLE = ("description", "scenarios", "measures", "cron", "enabled")


def update_definition(db: sqlite_utils.Database, name: str, changes: Mapping[str, Any],
                      user: str | None = None) -> dict[str, Any]:
    """Change some fields of definition `name` (audited with the old and new values)."""
    current = get_definition(db, name)
    unknown = sorted(set(changes) - set(EDITABLE) - {"name", "report_type"})
    if unknown:
        raise InvalidReport(f"cannot change {', '.join(unknown)} (editable: "
                            f"{', '.join(EDITABLE)})")
    if "name" in changes and str(changes["name"]).strip() != name:
        raise InvalidReport("a report cannot be renamed (its runs are filed under its name); "
                            "create a new one instead")
    if "report_type" in changes and changes["report_type"] != current["report_type"]:
        raise InvalidReport("a report's type cannot be changed (its runs are of that type); "
                            "create a new one instead")
    merged = {**{k: current[k] for k in EDITABLE}, **{k: v for k, v in changes.items()
                                                       if k in EDITABLE}, "name": name,
              "report_type": current["report_type"]}
    row = _check(db, merged)
    before = {k: current[k] for k in EDITABLE}
    with db.atomic():
        db["report_definitions"].update(name, {**row, "updated_at": now_iso()})
        audit(db, user, "report.update", name, {"before": before, "after": _public(row)})
    return get_definition(db, name)


def delete_definition(db: sqlite_utils.Database, name: str, user: str | None = None) -> None:
    """Delete definition `name`; its runs are kept (and stay readable by id)."""
    get_definition(db, name)
    with db.atomic():
        db["report_definitions"].delete(name)
        audit(db, user, "report.delete", name)


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"scenarios": json.loads(row["scenarios"]), "measures": json.loads(row["measures"]),
            "cron": row["cron"], "enabled": bool(row["enabled"]),
            "description": row["description"], "report_type": row["report_type"]}


# -- computing a report ----------------------------------------------------------------------

def report_options(measures: Sequence[str]) -> dict[str, Any]:
    """The equalisation options a report's measures need (nothing more is computed)."""
    return {"sweep_parameter": "take_up" if "sweep" in measures else None,
            "montecarlo_draws": 10_000 if "uncertainty" in measures else 0,
            "homecare": "coverage" in measures, "seed": 0}


def _headline_spec(options: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure group, path in the equalisation headline, label, unit) for every headline row."""
    rows = [
        ("cross_subsidy", "cross_subsidy_before", "Cross-subsidy from self-funders, before",
         "GBP a year"),
        ("cross_subsidy", "cross_subsidy_after", "Cross-subsidy from self-funders, after",
         "GBP a year"),
        ("cross_subsidy", "cross_subsidy_lost", "Cross-subsidy at risk (lost)", "GBP a year"),
        ("classes", "care_homes", "Care homes", "homes"),
        ("classes", "beds", "Beds", "beds"),
    ]
    for key, word, unit in (("homes_by_class", "Care homes", "homes"),
                            ("beds_by_class", "Beds in homes", "beds")):
        for when, when_label in WHEN:
            for c in CLASSES:
                rows.append(("classes", f"{key}.{when}.{c}", f"{word} {c}, {when_label}", unit))
    rows += [
        ("classes", "beds_at_risk_before", "Beds at risk or unviable, before", "beds"),
        ("classes", "beds_at_risk_after", "Beds at risk or unviable, after", "beds"),
        ("extra_la_spend", "extra_la_spend", "Extra LA spend to restore sustainability",
         "GBP a year"),
        ("coverage", "homecare_exits", "Home-care providers exiting", "providers"),
        ("coverage", "hours_at_risk_before",
         "Home-care capacity at risk or unviable, before", "hours a week"),
        ("coverage", "hours_at_risk_after", "Home-care capacity at risk or unviable, after",
         "hours a week"),
        ("coverage", "coverage_before", "Home-care demand covered, before exits", "share"),
        ("coverage", "coverage_after", "Home-care demand covered, after exits", "share"),
        ("coverage", "unmet_hours_before", "Unmet home-care hours, before exits",
         "hours a week"),
        ("coverage", "unmet_hours_after", "Unmet home-care hours, after exits", "hours a week"),
    ]
    dist = options.get("take_up_dist") or "beta:2,3"
    for q, word in (("p05", "5th percentile"), ("median", "median"), ("p95", "95th percentile")):
        rows.append(("uncertainty", f"beds_not_sustainable_{q}",
                     f"Beds not sustainable, take-up drawn from {dist}: {word}", "beds"))
    return rows


def headline_value(headline: Mapping[str, Any], path: str) -> Any:
    """The figure at `path` ('beds_by_class.after.at risk') of an equalisation headline."""
    node: Any = headline
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return jsonio.clean(node)


def _col(key: str, label: str, unit: str = "") -> dict[str, str]:
    return {"key": key, "label": label, "unit": unit}


SCENARIO_COL = _col("scenario", "Scenario")


def _table(name: str, title: str, item: str, columns: list[dict[str, str]],
           rows: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "title": title, "item": item, "columns": [SCENARIO_COL, *columns],
            "rows": [[jsonio.clean(v) for v in r] for r in rows]}


def _not_sustainable(rec: Mapping[str, Any], kind: str, when: str) -> float:
    return (rec.get(f"{kind}_at_risk_{when}") or 0) + (rec.get(f"{kind}_unviable_{when}") or 0)


def _detail_tables(db: sqlite_utils.Database, names: Sequence[str],
                   results: Mapping[str, Mapping[str, Any]],
                   measures: Sequence[str]) -> list[dict[str, Any]]:
    tables = []
    care_home_measures = {"cross_subsidy", "classes", "extra_la_spend"} & set(measures)
    if "classes" in measures:
        rows = []
        for n in names:
            for r in results[n]["viability"]["totals"]["class"]:
                rows.append([n, r["class"], r["providers_before"], r["providers_after"],
                             r["beds_before"], r["beds_after"]])
        tables.append(_table("classes", "Care homes and beds by class", "class", [
            _col("class", "Class"), _col("homes_before", "Homes before", "homes"),
            _col("homes_after", "Homes after", "homes"), _col("beds_before", "Beds before", "beds"),
            _col("beds_after", "Beds after", "beds")], rows))
    if care_home_measures:
        area_cols = [
            _col("homes", "Homes", "homes"), _col("beds", "Beds", "beds"),
            _col("cross_subsidy_before", "Cross-subsidy before", "GBP a year"),
            _col("cross_subsidy_after", "Cross-subsidy after", "GBP a year"),
            _col("cross_subsidy_lost", "Cross-subsidy lost", "GBP a year"),
            _col("extra_la_spend", "Extra LA spend", "GBP a year"),
            _col("beds_not_sustainable_before", "Beds at risk or unviable, before", "beds"),
            _col("beds_not_sustainable_after", "Beds at risk or unviable, after", "beds")]

        def area_row(n: str, key: list[Any], r: Mapping[str, Any]) -> list[Any]:
            return [n, *key, r["providers"], r["beds"], r["cross_subsidy_before"],
                    r["cross_subsidy_after"], r["cross_subsidy_lost"], r["extra_la_spend"],
                    _not_sustainable(r, "beds", "before"), _not_sustainable(r, "beds", "after")]

        rows = [area_row(n, [r["rurality"]], r) for n in names
                for r in results[n]["viability"]["totals"]["rurality"]]
        tables.append(_table("rurality", "Care homes by rurality", "rurality",
                             [_col("rurality", "Rurality"), *area_cols], rows))
        rows = [area_row(n, [r["group"], r.get("group_name")], r) for n in names
                for r in results[n]["viability"]["totals"]["group"]]
        tables.append(_table("groups", "Care homes by provider group", "group",
                             [_col("group", "Group"), _col("group_name", "Group name"),
                              *area_cols], rows))
        rows = []
        for n in names:
            for p in results[n]["viability"]["providers"]:
                b, s = p["baseline"], p["scenario"]
                rows.append([n, p["provider_id"], p["name"], p["zone_id"], p["rurality"],
                             p.get("group_name"), p["beds"], b["class"], s["class"],
                             b["la_fee"], s["la_fee"], b["self_funder_fee"],
                             b["cross_subsidy"], s["cross_subsidy"], p["cross_subsidy_lost"],
                             b["surplus_after_capital"], s["surplus_after_capital"],
                             s["break_even_la_fee"], s["fee_uplift"], s["extra_la_spend"]])
        tables.append(_table("care_homes", "Care homes", "provider_id", [
            _col("provider_id", "Provider"), _col("name", "Name"), _col("zone_id", "Zone"),
            _col("rurality", "Rurality"), _col("group_name", "Group"),
            _col("beds", "Beds", "beds"), _col("class_before", "Class before"),
            _col("class_after", "Class after"),
            _col("la_fee_before", "LA fee before", "GBP a week"),
            _col("la_fee_after", "LA fee after", "GBP a week"),
            _col("self_funder_fee", "Self-funder fee", "GBP a week"),
            _col("cross_subsidy_before", "Cross-subsidy before", "GBP a year"),
            _col("cross_subsidy_after", "Cross-subsidy after", "GBP a year"),
            _col("cross_subsidy_lost", "Cross-subsidy lost", "GBP a year"),
            _col("surplus_before", "Surplus after capital, before", "GBP a year"),
            _col("surplus_after", "Surplus after capital, after", "GBP a year"),
            _col("break_even_la_fee", "Break-even LA fee", "GBP a week"),
            _col("fee_uplift", "LA fee uplift needed", "GBP a week"),
            _col("extra_la_spend", "Extra LA spend", "GBP a year")], rows))
    if "coverage" in measures:
        stored = {r["provider_id"]: r for r in db["homecare_providers"].rows}
        prov_rows, zone_rows = [], []
        for n in names:
            hc = results[n].get("homecare") or {}
            if "skipped" in hc:
                continue
            for p in hc.get("providers", []):
                known = stored.get(p["provider_id"]) or {}
                prov_rows.append([n, p["provider_id"], known.get("name"),
                                  known.get("capacity_hours"), p["class_before"], p["class_after"],
                                  bool(p["exited"]), p.get("round")])
            for z in hc.get("zones_with_added_unmet", []):
                zone_rows.append([n, z["zone_id"], z["rurality"], z["demand_hours"],
                                  z["unmet_before"], z["unmet_after"], z["unmet_added"]])
        tables.append(_table("homecare_providers", "Home-care providers: class and exits",
                             "provider_id", [
                                 _col("provider_id", "Provider"), _col("name", "Name"),
                                 _col("capacity_hours", "Capacity", "hours a week"),
                                 _col("class_before", "Class before"),
                                 _col("class_after", "Class after"),
                                 _col("exited", "Exits"), _col("round", "Exit round")],
                             prov_rows))
        tables.append(_table("unmet_zones", "Zones with more unmet home-care hours after exits",
                             "zone_id", [
                                 _col("zone_id", "Zone"), _col("rurality", "Rurality"),
                                 _col("demand_hours", "Demand", "hours a week"),
                                 _col("unmet_before", "Unmet before", "hours a week"),
                                 _col("unmet_after", "Unmet after", "hours a week"),
                                 _col("unmet_added", "Unmet added", "hours a week")], zone_rows))
    if "uncertainty" in measures:
        rows = []
        for n in names:
            mc = results[n].get("montecarlo") or {}
            for measure, q in (mc.get("market") or {}).items():
                rows.append([n, measure, q.get("p05"), q.get("median"), q.get("p95"),
                             q.get("mean")])
        tables.append(_table(
            "uncertainty", "Uncertain take-up: the market over 10,000 draws (Monte Carlo)",
            "measure", [_col("measure", "Measure"), _col("p05", "Low (1 in 20 draws below)"),
                        _col("median", "Median"), _col("p95", "High (1 in 20 draws above)"),
                        _col("mean", "Mean")], rows))
    if "sweep" in measures:
        keys = [("providers_sustainable", "Homes sustainable", "homes"),
                ("providers_at_risk", "Homes at risk", "homes"),
                ("providers_unviable", "Homes unviable", "homes"),
                ("beds_sustainable", "Beds sustainable", "beds"),
                ("beds_at_risk", "Beds at risk", "beds"),
                ("beds_unviable", "Beds unviable", "beds"),
                ("cross_subsidy", "Cross-subsidy", "GBP a year"),
                ("cross_subsidy_lost", "Cross-subsidy lost", "GBP a year"),
                ("extra_la_spend", "Extra LA spend", "GBP a year")]
        rows = []
        for n in names:
            sw = results[n].get("sweep") or {}
            param = sw.get("parameter", "take_up")
            for r in sw.get("table", []):
                rows.append([n, r[param], *[r.get(k) for k, _l, _u in keys]])
        tables.append(_table("sweep", "Take-up sweep (other levers of the scenario held)",
                             "take_up", [_col("take_up", "Take-up", "share"),
                                         *[_col(k, lab, u) for k, lab, u in keys]], rows))
    tables.append(_excluded_table(names, results))
    return tables


def _excluded_table(names: Sequence[str],
                    results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every record a scenario's run left out, one row per record and reason (always present,
    empty when nothing was left out), so the page, the CSV and the XLSX name them all."""
    rows = []
    for n in names:
        for code, item in ((results[n].get("excluded") or {}).get("by_reason") or {}).items():
            for record_id in item.get("ids") or []:
                rows.append([n, record_id, code, item.get("label", code)])
    return _table("excluded", "Records left out of the models, and why", "id", [
        _col("id", "Record"), _col("reason", "Reason code"), _col("label", "Why")], rows)


def _parameter_table(names: Sequence[str],
                     results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    by_name: dict[str, dict[str, Any]] = {}
    for n in names:
        for p in results[n]["parameters"]:
            row = by_name.setdefault(p["name"], {
                "name": p["name"], "label": p["label"], "unit": p["unit"],
                "default": p["default"], "source": p["source"], "values": {},
                "overridden": []})
            row["values"][n] = p["value"]
            if p["overridden"]:
                row["overridden"].append(n)
    return {"scenarios": list(names), "rows": list(by_name.values())}


def compute_report(db: sqlite_utils.Database, definition: Mapping[str, Any], *,
                   user: str | None = None,
                   progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Run every scenario of `definition` on the store; return the report (not stored).
    An evidence pack (report_type msp) is `compute_msp`."""

    if definition.get("report_type") == "msp":
        return compute_msp(db, definition, user=user, progress=progress)
    measures = list(definition["measures"]) or list(DEFAULT_MEASURES)
    options = report_options(measures)
    digest = content_hash(db)
    scenarios = [get_scenario(db, n) for n in definition["scenarios"]]
    results: dict[str, dict[str, Any]] = {}
    for i, sc in enumerate(scenarios):
        if progress:
            progress(i / max(1, len(scenarios)), f"scenario {sc.name}")
        res = equalisation(db, dict(sc.values), options, user=user, scenario_name=sc.name)
        if res["input_hash"] != digest:
            raise InvalidInput("the data changed while the report ran (an import?); run it "
                               "again")
        results[sc.name] = res
    names = [sc.name for sc in scenarios]
    spec = [s for s in _headline_spec(results[names[0]]["options"] if names else options)
            if s[0] in measures]
    headline_rows = [{"measure": path, "group": group, "label": label, "unit": unit,
                      "values": {n: headline_value(results[n]["headline"], path)
                                 for n in names}}
                     for group, path, label, unit in spec]
    return {
        "report_type": "fee_impact",
        "report_name": definition["name"], "description": definition.get("description", ""),
        "cron": definition.get("cron"), "measures": measures,
        "measure_labels": {m: MEASURES[m] for m in measures},
        "scenarios": [{"name": sc.name, "description": sc.description,
                       "values": dict(sc.values)} for sc in scenarios],
        "options": {k: v for k, v in results[names[0]]["options"].items()} if names else options,
        "input_hash": digest,
        "headline": {"scenarios": names, "rows": headline_rows},
        "results": {n: {"run_id": results[n]["run_id"], "headline": results[n]["headline"],
                        "excluded": results[n].get("excluded")}
                    for n in names},
        "excluded": results[names[0]].get("excluded") if names else None,
        "detail": _detail_tables(db, names, results, measures),
        "parameters": _parameter_table(names, results),
    }


# -- the Market Sustainability Plan evidence pack ---------------------------------------------

# The exposure the pack shows under each take-up scenario: the fee-impact headline's measures.
MSP_EXPOSURE = ("cross_subsidy", "classes", "extra_la_spend", "coverage")
GROUP_LABELS = {"homecare": "Home care (18+)", **CATEGORY_LABELS}
NOT_SUSTAINABLE = ("at risk", "unviable")


def _market_table(name: str, title: str, item: str, columns: list[dict[str, str]],
                  rows: list[list[Any]]) -> dict[str, Any]:
    """A table of the market as it is (no scenario): the scenario cell is blank."""
    return _table(name, title, item, columns, [["", *r] for r in rows])


def _excluded_rows(section: str, excluded: Mapping[str, Any] | None) -> list[list[Any]]:
    """One row per record and reason a section left out: section, record, code, label."""
    return [[section, str(i), code, r.get("label", code)]
            for code, r in ((excluded or {}).get("by_reason") or {}).items()
            for i in r.get("ids") or []]


def _msp_overview(ov: Mapping[str, Any], fc: Mapping[str, Any]) -> list[dict[str, Any]]:
    t = ov["totals"]
    rows = [
        ["care_homes", "Care homes", t.get("care_homes"), "homes"],
        ["beds", "Care-home beds", t.get("beds"), "beds"],
        ["care_home_self_funder_share", "Self-funder share of occupied beds",
         t.get("care_home_self_funder_share"), "share"],
        ["homecare_providers", "Home-care agencies", t.get("homecare_providers"), "providers"],
        ["capacity_hours", "Home-care capacity", t.get("capacity_hours"), "hours a week"],
        ["demand_hours", "Home-care demand", t.get("demand_hours"), "hours a week"],
        ["homecare_self_funder_share", "Self-funder share of home-care demand",
         t.get("homecare_self_funder_share"), "share"],
        ["mean_la_fee", "Mean LA care-home fee", t.get("mean_la_fee"), "GBP a week"],
        ["mean_self_funder_fee", "Mean self-funder care-home fee",
         t.get("mean_self_funder_fee"), "GBP a week"],
        ["self_funder_premium", "Self-funder premium over the LA fee",
         t.get("self_funder_premium"), "share"],
        ["mean_la_hourly_rate", "Mean LA home-care rate", t.get("mean_la_hourly_rate"),
         "GBP an hour"],
        ["fcoc_cost_now", "Paying the Fair Cost of Care median now", fc.get("cost_now_total"),
         "GBP a year"],
    ]
    cols = [_col("measure", "Measure"), _col("label", "Figure"), _col("value", "Value"),
            _col("unit", "Unit")]
    ratings = [[r["rating"], r["care_homes"], r["beds"], r["homecare_providers"]]
               for r in ov["cqc_ratings"]]
    rural = [[r["rurality"], r.get("zones"), r.get("demand_hours"), r.get("homecare_providers"),
              r.get("capacity_hours"), r.get("care_homes"), r.get("beds"),
              r.get("care_home_self_funder_share")] for r in ov["by_rurality"]]
    return [
        _market_table("overview", "The market", "measure", cols, rows),
        _market_table("cqc_ratings", "CQC ratings (latest overall)", "rating", [
            _col("rating", "Rating"), _col("care_homes", "Care homes", "homes"),
            _col("beds", "Beds", "beds"),
            _col("homecare_providers", "Home-care agencies", "providers")], ratings),
        _market_table("market_rurality", "The market by rurality", "rurality", [
            _col("rurality", "Rurality"), _col("zones", "Zones", "zones"),
            _col("demand_hours", "Home-care demand", "hours a week"),
            _col("homecare_providers", "Agencies", "providers"),
            _col("capacity_hours", "Home-care capacity", "hours a week"),
            _col("care_homes", "Care homes", "homes"), _col("beds", "Beds", "beds"),
            _col("care_home_self_funder_share", "Self-funder share of beds", "share")], rural),
    ]


def _msp_coverage(cov: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Coverage by rurality: the run's zones summed by class, and its cost of care."""
    sums: dict[str, dict[str, float]] = {}
    for z in cov.get("zones_map") or []:
        r = z.get("rurality") or "unknown"
        acc = sums.setdefault(r, {"demand_hours": 0.0, "met_hours": 0.0, "unmet_hours": 0.0})
        for k in acc:
            acc[k] += float(z.get(k) or 0.0)
    cost = {r["rurality"]: r for r in (cov.get("cost_of_care") or {}).get("by_rurality", [])}
    rows = []
    for r in sorted(set(sums) | set(cost), key=rurality_rank):
        s_, c = sums.get(r, {}), cost.get(r, {})
        demand = s_.get("demand_hours")
        rows.append([r, c.get("zones"), c.get("zones_unreached"), demand, s_.get("met_hours"),
                     s_.get("unmet_hours"),
                     (s_["met_hours"] / demand) if demand else None,
                     c.get("travel_minutes_per_contact_hour"), c.get("cost_per_contact_hour"),
                     c.get("la_hourly_rate"), c.get("gap"), c.get("fcoc_median"),
                     c.get("fcoc_gap"), c.get("la_uplift_per_week")])
    gaps = [[g.get("zone_id"), g.get("name"), g.get("rurality"), g.get("demand_hours"),
             g.get("unmet_hours"), g.get("reachable_providers")]
            for g in sorted((z for z in cov.get("zones_map") or []
                             if (z.get("unmet_hours") or 0) > 1e-6),
                            key=lambda z: -(z.get("unmet_hours") or 0))[:15]]
    return [
        _market_table("coverage_rurality", "Home-care coverage and cost of care by rurality",
                      "rurality", [
                          _col("rurality", "Rurality"), _col("zones", "Zones", "zones"),
                          _col("zones_unreached", "Unreached zones", "zones"),
                          _col("demand_hours", "Demand", "hours a week"),
                          _col("met_hours", "Met", "hours a week"),
                          _col("unmet_hours", "Unmet", "hours a week"),
                          _col("coverage", "Covered", "share"),
                          _col("travel_minutes", "Travel per contact hour", "minutes"),
                          _col("cost_per_contact_hour", "Cost per contact hour", "GBP an hour"),
                          _col("la_hourly_rate", "LA rate", "GBP an hour"),
                          _col("gap", "Above the LA rate", "GBP an hour"),
                          _col("fcoc_median", "FCoC median", "GBP an hour"),
                          _col("fcoc_gap", "Above the FCoC median", "GBP an hour"),
                          _col("la_uplift_per_week", "LA uplift",
                               "GBP a week")], rows),
        _market_table("care_gaps", "The largest care gaps (zones with unmet hours)", "zone_id", [
            _col("zone_id", "Zone"), _col("name", "Name"), _col("rurality", "Rurality"),
            _col("demand_hours", "Demand", "hours a week"),
            _col("unmet_hours", "Unmet", "hours a week"),
            _col("reachable_providers", "Agencies in reach", "providers")], gaps),
    ]


def _msp_fcoc(fc: Mapping[str, Any]) -> list[dict[str, Any]]:
    groups = [("homecare", fc["summary"]["homecare"]),
              *fc["summary"]["care_homes"].items()]
    summary, gap, traj = [], [], []
    for key, g in groups:
        t = g.get("total") or {}
        fee = fc["against_fees"][key]
        summary.append([key, GROUP_LABELS.get(key, key), g["returns"], g["providers"],
                        g["response_rate"], t.get("lower_quartile"), t.get("median"),
                        t.get("upper_quartile"), len(g["outliers"]),
                        "contact hour" if key == "homecare" else "resident-week"])
        gap.append([key, GROUP_LABELS.get(key, key), fee.get("la_rate"), fee.get("median"),
                    fee.get("gap"), fee.get("gap_share"), fee.get("units_a_year"),
                    fee.get("unit"), fee.get("cost_now"), fee.get("why_no_cost")])
        for step in fee.get("trajectory") or []:
            traj.append([f"{key} {step['year']}", key, str(step["year"]), step["target"],
                         step["rate"], step["extra_cost"]])
    tr = fc["travel"]
    travel = [[r["rurality"], r["travel_minutes_per_contact_hour"], r["minutes_against_fcoc"],
               r["travel_pay_per_contact_hour"], r["pay_minus_fcoc_median"],
               r["pay_against_fcoc"]] for r in tr["by_rurality"]]
    return [
        _market_table("fcoc_summary", "Fair Cost of Care returns: quartiles of the total (at "
                      f"{fc['levers']['returns_date']} prices)", "group", [
                          _col("group", "Group"), _col("label", "Service"),
                          _col("returns", "Returns", "returns"),
                          _col("providers", "Providers in the store", "providers"),
                          _col("response_rate", "Response rate", "share"),
                          _col("lower_quartile", "Lower quartile", "GBP per unit"),
                          _col("median", "Median", "GBP per unit"),
                          _col("upper_quartile", "Upper quartile", "GBP per unit"),
                          _col("outliers", "Outliers flagged", "returns"),
                          _col("unit", "Per")], summary),
        _market_table("fee_gap", f"The LA rate against the median uprated to {fc['as_of']}",
                      "group", [
                          _col("group", "Group"), _col("label", "Service"),
                          _col("la_rate", "LA rate", "GBP per unit"),
                          _col("median", "FCoC median, uprated", "GBP per unit"),
                          _col("gap", "Gap", "GBP per unit"), _col("gap_share", "Gap, share of the rate", "share"),
                          _col("units_a_year", "Council purchases a year", "units"),
                          _col("unit", "Unit"),
                          _col("cost_now", "Paying the median now", "GBP a year"),
                          _col("why_no_cost", "Not costed because")], gap),
        _market_table("travel_fcoc", "Rural travel (coverage model) against the FCoC travel "
                      "time line", "rurality", [
                          _col("rurality", "Rurality"),
                          _col("travel_minutes", "Travel per contact hour", "minutes"),
                          _col("minutes_against_fcoc", "Against the FCoC implied minutes"),
                          _col("travel_pay", "Travel paid per contact hour", "GBP an hour"),
                          _col("pay_minus_fcoc_median", "Above the FCoC travel median",
                               "GBP an hour"),
                          _col("pay_against_fcoc", "Against the FCoC travel line")], travel),
        _market_table("trajectory", f"The fee trajectory over {fc['levers']['years']} years",
                      "step", [
                          _col("step", "Step"), _col("group", "Group"), _col("year", "Year"),
                          _col("target", "FCoC median that year", "GBP per unit"),
                          _col("rate", "Rate paid", "GBP per unit"),
                          _col("extra_cost", "Extra cost that year", "GBP a year")], traj),
    ]


def _msp_at_risk(db: sqlite_utils.Database, names: Sequence[str],
                 results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every care home and agency at risk or unviable now or under a scenario: one row each,
    its class now and under each scenario (the runs' own classes), those unviable now first,
    then at risk now, then by the first scenario that tips them."""
    rank = {"unviable": 0, "at risk": 1, "sustainable": 2, None: 3}
    rows: dict[str, dict[str, Any]] = {}
    agencies = {r[0]: r[1:] for r in db.execute(
        "select h.provider_id, h.name, z.rurality, h.capacity_hours from homecare_providers h "
        "left join zones z using (zone_id)")}
    for n in names:
        for p in results[n]["viability"]["providers"]:
            key = f"care_home:{p['provider_id']}"
            r = rows.setdefault(key, {"id": p["provider_id"], "name": p["name"],
                                      "kind": "care home", "rurality": p["rurality"],
                                      "capacity": p["beds"], "of": "beds",
                                      "now": p["baseline"]["class"], "after": {},
                                      "break_even": p["baseline"]["break_even_la_fee"],
                                      "la_fee": p["baseline"]["la_fee"]})
            r["after"][n] = p["scenario"]["class"]
        hc = results[n].get("homecare") or {}
        if "skipped" not in hc:
            for p in hc.get("providers", []):
                key = f"homecare:{p['provider_id']}"
                name, rurality, capacity = agencies.get(str(p["provider_id"]),
                                                        (None, None, None))
                r = rows.setdefault(key, {"id": p["provider_id"], "name": name,
                                          "kind": "home care", "rurality": rurality,
                                          "capacity": capacity,
                                          "of": "hours a week", "now": p["class_before"],
                                          "after": {}, "break_even": None, "la_fee": None})
                r["after"][n] = p["class_after"] + (" (exits)" if p.get("exited") else "")
    keep = [(k, r) for k, r in rows.items()
            if r["now"] in NOT_SUSTAINABLE or any(str(c).split(" (")[0] in NOT_SUSTAINABLE
                                                  for c in r["after"].values())]

    def order(item: tuple[str, dict[str, Any]]) -> tuple[Any, ...]:
        r = item[1]
        first = next((i for i, n in enumerate(names)
                      if str(r["after"].get(n, "")).split(" (")[0] in NOT_SUSTAINABLE),
                     len(names))
        return (rank.get(r["now"], 3), first, r["kind"], str(r["id"]))

    out = [[k, r["id"], r["name"], r["kind"], r["rurality"], r["capacity"], r["of"], r["now"],
            *[r["after"].get(n) for n in names], r["la_fee"], r["break_even"]]
           for k, r in sorted(keep, key=order)]
    return _market_table("at_risk", "Providers at risk or unviable, now or under a scenario",
                         "key", [_col("key", "Key"), _col("provider_id", "Provider"),
                                 _col("name", "Name"), _col("kind", "Kind"),
                                 _col("rurality", "Rurality"), _col("capacity", "Capacity"),
                                 _col("capacity_unit", "Of"), _col("class_now", "Class now"),
                                 *[_col(f"class_after:{n}", f"Class: {n}") for n in names],
                                 _col("la_fee", "LA fee now", "GBP a week"),
                                 _col("break_even_la_fee", "Break-even LA fee now",
                                      "GBP a week")], out)


def _merged_excluded(parts: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One `excluded` ({"total", "by_reason": {code: {"label", "count", "ids"}}}) of several:
    a record left out by more than one section is counted once."""
    by: dict[str, dict[str, Any]] = {}
    for part in parts:
        for code, r in ((part or {}).get("by_reason") or {}).items():
            entry = by.setdefault(code, {"label": r.get("label"), "ids": []})
            entry["ids"] += [i for i in r.get("ids") or [] if i not in entry["ids"]]
    for entry in by.values():
        entry["count"] = len(entry["ids"])
    return {"total": len({i for e in by.values() for i in e["ids"]}), "by_reason": by}


def compute_msp(db: sqlite_utils.Database, definition: Mapping[str, Any], *,
                user: str | None = None,
                progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """The Market Sustainability Plan evidence pack on the store (not stored).

    Every section calls the application function that already computes it: the market
    overview (`caremarket.overview.overview`), a coverage run at default levers
    (`analyses.coverage`: coverage, gaps and the cost of care by rurality, against the LA rate
    and the FCoC median), the Fair Cost of Care (`fair_cost.fcoc` on that coverage run: the
    quartiles, the fee gap, the trajectory and rural travel), and an equalisation run of each
    saved take-up scenario (`analyses.equalisation`, as the fee-impact report runs them: the
    exposure headline, the providers at risk). `excluded` names, per section, what was left
    out.
    """
    sections = [m for m in MSP_SECTIONS if m in (definition.get("measures") or MSP_SECTIONS)]
    step = progress or (lambda _f, _m: None)
    digest = content_hash(db)
    scenarios = [get_scenario(db, n) for n in definition["scenarios"]]
    options = report_options(MSP_EXPOSURE)
    step(0.0, "coverage")
    cov = coverage(db, {}, user=user)
    step(0.2, "Fair Cost of Care")
    fc = fair_cost.fcoc(db, None, coverage={"run_id": cov["run_id"], "status": "current",
                                            "cost_of_care": cov["cost_of_care"]})
    ov = overview(db)
    results: dict[str, dict[str, Any]] = {}
    for i, sc in enumerate(scenarios):
        step(0.3 + 0.7 * i / max(1, len(scenarios)), f"scenario {sc.name}")
        results[sc.name] = equalisation(db, dict(sc.values), options, user=user,
                                        scenario_name=sc.name)
    if any(r["input_hash"] != digest for r in [cov, *results.values()]):
        raise InvalidInput("the data changed while the report ran (an import?); run it again")
    names = [sc.name for sc in scenarios]
    spec = [s_ for s_ in _headline_spec(options) if s_[0] in MSP_EXPOSURE]
    headline_rows = [{"measure": path, "group": "exposure", "label": label, "unit": unit,
                      "values": {n: headline_value(results[n]["headline"], path)
                                 for n in names}}
                     for _group, path, label, unit in spec]
    detail: list[dict[str, Any]] = []
    if "overview" in sections:
        detail += _msp_overview(ov, fc)
    if "coverage" in sections:
        detail += _msp_coverage(cov)
    if "fcoc" in sections or "trajectory" in sections:
        fc_tables = _msp_fcoc(fc)
        keep = ({"fcoc_summary", "fee_gap", "travel_fcoc"} if "fcoc" in sections else set()) \
            | ({"trajectory"} if "trajectory" in sections else set())
        detail += [t for t in fc_tables if t["name"] in keep]
    if "exposure" in sections:  # the pack's own table of what was left out replaces theirs
        detail += [t for t in _detail_tables(db, names, results, ["classes", "cross_subsidy"])
                   if t["name"] != "excluded"]
    if "at_risk" in sections:
        detail.append(_msp_at_risk(db, names, results))
    parts = [("coverage", cov.get("excluded")),
             ("Fair Cost of Care travel", fc["travel"]["excluded"]),
             *[(f"Fair Cost of Care {key}", g.get("excluded")) for key, g in
               [("homecare", fc["summary"]["homecare"]), *fc["summary"]["care_homes"].items()]],
             *[(n, results[n].get("excluded")) for n in names]]
    excluded_rows = [row for section, part in parts for row in _excluded_rows(section, part)]
    # as the fee-impact report's table (one row per record and reason), by section
    detail.append({"name": "excluded", "title": "Records left out, and why", "item": "id",
                   "columns": [_col("section", "Section"), _col("id", "Record"),
                               _col("reason", "Reason code"), _col("label", "Why")],
                   "rows": excluded_rows})
    step(1.0, "done")
    return {
        "report_type": "msp",
        "report_name": definition["name"], "description": definition.get("description", ""),
        "cron": definition.get("cron"), "measures": sections,
        "measure_labels": {"exposure": MSP_SECTIONS["exposure"],
                           **{m: MSP_SECTIONS[m] for m in sections}},
        "scenarios": [{"name": sc.name, "description": sc.description,
                       "values": dict(sc.values)} for sc in scenarios],
        "options": dict(results[names[0]]["options"]) if names else options,
        "input_hash": digest,
        "headline": {"scenarios": names, "rows": headline_rows},
        "results": {n: {"run_id": results[n]["run_id"], "headline": results[n]["headline"],
                        "excluded": results[n].get("excluded")} for n in names},
        "coverage_run_id": cov["run_id"],
        "fcoc": {"as_of": fc["as_of"], "levers": fc["levers"], "assumptions": fc["assumptions"],
                 "cost_now_total": fc["cost_now_total"], "quantile_rule": fc["quantile_rule"],
                 "outlier_rule": fc["outlier_rule"]},
        "overview_as_of": ov["as_of"],
        "excluded": _merged_excluded([part for _section, part in parts]),
        "detail": detail,
        "parameters": _parameter_table(names, results),
    }


# -- runs ------------------------------------------------------------------------------------

RUN_FIELDS = ("id", "report_name", "scheduled_for", "started_at", "finished_at", "status",
              "error", "input_hash", "trigger")


def _run_rows(db: sqlite_utils.Database, where: str, params: list[Any], limit: int = 50,
              offset: int = 0) -> list[dict[str, Any]]:
    cur = db.execute(
        f"select {', '.join(RUN_FIELDS)}, json_extract(result, '$.changes.summary'), "
        f"json_extract(result, '$.changes.changed'), json_extract(result, '$.run_by') "
        f"from report_runs where {where} order by id desc limit ? offset ?",
        [*params, limit, offset])
    out = []
    for row in cur.fetchall():
        rec = dict(zip(RUN_FIELDS, row[:len(RUN_FIELDS)], strict=True))
        rec["changes_summary"] = row[-3]
        rec["changed"] = None if row[-2] is None else bool(row[-2])
        rec["run_by"] = row[-1]
        out.append(rec)
    return out


def claim_run(db: sqlite_utils.Database, name: str, scheduled_for: str, trigger: str,
              started_at: str, user: str | None = None, status: str = "running"
              ) -> int | None:
    """Insert the run's row as 'running'; None when (name, scheduled_for) is taken already.

    The unique index on (report_name, scheduled_for) is what stops two scheduler processes
    running the same firing: the second insert fails and that process skips the firing.
    """
    try:
        with db.atomic():
            cur = db.execute("insert into report_runs (report_name, scheduled_for, started_at, "
                             "status, trigger, result, worker, user) values "
                             "(?, ?, ?, ?, ?, ?, ?, ?)",
                             [name, scheduled_for, started_at, status, trigger,
                              json.dumps({"run_by": user}), runs.worker_id(), user])
            return int(cur.lastrowid)
    except sqlite3.IntegrityError:
        return None


def previous_run(db: sqlite_utils.Database, name: str, before_id: int) -> dict[str, Any] | None:
    """The latest finished ('done') run of report `name` before run `before_id`, in full."""
    row = db.execute("select id from report_runs where report_name = ? and status = 'done' "
                     "and id < ? order by id desc limit 1", [name, before_id]).fetchone()
    return get_run(db, row[0]) if row else None


def begin_run(db: sqlite_utils.Database, name: str, trigger: str = "manual",
              scheduled_for: datetime | str | None = None, *, now: datetime | None = None,
              user: str | None = None, status: str = "running") -> int | None:
    """Claim the run of report `name` for the firing `scheduled_for` (default: this instant).

    Returns the new run's id (status `status`: 'queued' when a background worker will carry
    it out), or None when another process has claimed that firing already.
    """
    get_definition(db, name)
    moment = _aware(now or datetime.now(UTC))
    if scheduled_for is None:
        key = moment.astimezone(UTC).isoformat(timespec="microseconds")
    elif isinstance(scheduled_for, datetime):
        key = stamp(scheduled_for)
    else:
        key = str(scheduled_for)
    return claim_run(db, name, key, trigger, stamp(moment), user, status)


def complete_run(db: sqlite_utils.Database, run_id: int, *, user: str | None = None,
                 started: datetime | None = None) -> dict[str, Any]:
    """Compute the claimed run `run_id`, store the report and what changed; return the run.

    A failure is recorded (status 'failed', the error) and raised as ReportFailed. `started`
    is the instant the run was claimed, for a controllable clock; by default the finishing
    time is the real one.
    """
    row = db["report_runs"].get(run_id)
    name, trigger = row["report_name"], row["trigger"]
    clock0 = time.monotonic()
    runs.mark_running(db, run_id, "report_runs")

    def finished() -> str:
        if started is None:
            return now_iso()
        return stamp(_aware(started) + timedelta(seconds=time.monotonic() - clock0))

    try:
        report = compute_report(db, get_definition(db, name), user=user or trigger)
    except Exception as exc:
        message = runs.user_message(exc)
        with db.atomic():
            db["report_runs"].update(run_id, {"status": "failed", "error": message,
                                              "finished_at": finished()})
            audit(db, user or trigger, "report.run", name, {"run_id": run_id, "trigger": trigger,
                                                            "status": "failed",
                                                            "error": message})
        raise ReportFailed(run_id, message) from exc
    report["run_by"] = user
    prev = previous_run(db, name, run_id)
    report["changes"] = diff_reports(prev, report) if prev else None
    _mark_changes(report)
    with db.atomic():
        db["report_runs"].update(run_id, {
            "status": "done", "finished_at": finished(), "input_hash": report["input_hash"],
            "result": json.dumps(report, default=str, allow_nan=False)})
        audit(db, user or trigger, "report.run", name, {"run_id": run_id, "trigger": trigger,
                                                        "status": "done"})
    return get_run(db, run_id)


def run_report(db: sqlite_utils.Database, name: str, trigger: str = "manual",
               scheduled_for: datetime | str | None = None, *, now: datetime | None = None,
               user: str | None = None) -> dict[str, Any] | None:
    """Run report `name` for the firing `scheduled_for` (default: now); store and return it.

    Returns None when that firing has been claimed by another process (nothing is done). A
    failing run is recorded with status 'failed' and its error, then ReportFailed is raised.
    """
    moment = _aware(now or datetime.now(UTC))
    run_id = begin_run(db, name, trigger, scheduled_for, now=moment, user=user)
    if run_id is None:
        return None
    return complete_run(db, run_id, user=user, started=moment)


def get_run(db: sqlite_utils.Database, run_id: int) -> dict[str, Any]:
    """Run `run_id` with its report; UnknownEntity when there is none."""
    row = db.execute(f"select {', '.join(RUN_FIELDS)}, result from report_runs where id = ?",
                     [int(run_id)]).fetchone()
    if row is None:
        raise UnknownEntity(f"no report run {run_id}")
    meta = dict(zip(RUN_FIELDS, row[:len(RUN_FIELDS)], strict=True))
    result = json.loads(row[-1]) if row[-1] else {}
    return {**result, **meta, "report_name": meta["report_name"]}


def list_runs(db: sqlite_utils.Database, name: str | None = None, page: int = 1,
              per_page: int = 50) -> dict[str, Any]:
    """The runs of report `name` (all reports when None), newest first, paginated."""
    where, params = ("report_name = ?", [name]) if name else ("1 = 1", [])
    total = db.execute(f"select count(*) from report_runs where {where}", params).fetchone()[0]
    return paging.paginate(total, lambda limit, offset: _run_rows(db, where, params, limit,
                                                                  offset),
                           {"page": page, "per_page": per_page}, 50)


# -- changes ---------------------------------------------------------------------------------

def _close(a: Any, b: Any, rel: float = 1e-9, abs_tol: float = 1e-9) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(
            a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=abs_tol)
    return a == b


def _headline_map(report: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    h = report.get("headline") or {}
    return {(sc, r["measure"]): r["values"].get(sc) for r in h.get("rows", [])
            for sc in h.get("scenarios", [])}


def _table_rows(report: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    for t in report.get("detail") or []:
        if t["name"] == name:
            keys = [c["key"] for c in t["columns"]]
            return [dict(zip(keys, r, strict=True)) for r in t["rows"]]
    return []


def diff_reports(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from report `old` to report `new`: data, scenarios, parameters, figures."""
    labels = {r["measure"]: (r["label"], r["unit"]) for r in
              (new.get("headline") or {}).get("rows", [])}
    labels.update({r["measure"]: (r["label"], r["unit"]) for r in
                   (old.get("headline") or {}).get("rows", []) if r["measure"] not in labels})
    a, b = _headline_map(old), _headline_map(new)
    figures = []
    for key in [k for k in b if k in a]:
        before, after = a[key], b[key]
        if _close(before, after):
            continue
        entry = {"scenario": key[0], "measure": key[1], "label": labels[key[1]][0],
                 "unit": labels[key[1]][1], "before": before, "after": after, "change": None,
                 "relative_change": None}
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            entry["change"] = after - before
            entry["relative_change"] = (after - before) / abs(before) if before else None
        figures.append(entry)
    old_sc = [s["name"] for s in old.get("scenarios", [])]
    new_sc = [s["name"] for s in new.get("scenarios", [])]
    params = []
    op = {(sc, r["name"]): v for r in (old.get("parameters") or {}).get("rows", [])
          for sc, v in r["values"].items()}
    for r in (new.get("parameters") or {}).get("rows", []):
        for sc, v in r["values"].items():
            if (sc, r["name"]) in op and not _close(op[(sc, r["name"])], v):
                params.append({"scenario": sc, "name": r["name"], "label": r["label"],
                               "before": op[(sc, r["name"])], "after": v})
    old_class = {(r["scenario"], r["provider_id"]): r["class_after"]
                 for r in _table_rows(old, "care_homes")}
    providers = []
    for r in _table_rows(new, "care_homes"):
        was = old_class.get((r["scenario"], r["provider_id"]))
        if was is not None and was != r["class_after"]:
            providers.append({"scenario": r["scenario"], "provider_id": r["provider_id"],
                              "name": r["name"], "class_before": was,
                              "class_after": r["class_after"]})
    data_changed = old.get("input_hash") != new.get("input_hash")
    out = {
        "previous": {k: old.get(k) for k in ("id", "report_name", "scheduled_for",
                                             "finished_at", "input_hash")},
        "input_hash_changed": data_changed, "input_hash_before": old.get("input_hash"),
        "input_hash_after": new.get("input_hash"),
        "scenarios_added": [s for s in new_sc if s not in old_sc],
        "scenarios_removed": [s for s in old_sc if s not in new_sc],
        "measures_added": [m for m in new.get("measures", []) if m not in old.get("measures", [])],
        "measures_removed": [m for m in old.get("measures", [])
                             if m not in new.get("measures", [])],
        "parameters": params, "headline": figures, "providers": providers,
    }
    out["changed"] = bool(data_changed or figures or params or providers
                          or out["scenarios_added"] or out["scenarios_removed"]
                          or out["measures_added"] or out["measures_removed"])
    out["summary"] = _summary(out)
    return out


def _summary(d: Mapping[str, Any]) -> str:
    if not d["changed"]:
        return "no change since the previous run: same data, same figures"
    parts = ["the data changed" if d["input_hash_changed"] else "same data"]
    n = len({(f["measure"]) for f in d["headline"]})
    if n:
        parts.append(f"{n} headline figure{'s' if n != 1 else ''} changed")
    if d["parameters"]:
        parts.append(f"{len(d['parameters'])} parameter value(s) changed")
    if d["providers"]:
        parts.append(f"{len(d['providers'])} care home class change(s)")
    for key, word in (("scenarios_added", "scenario(s) added"),
                      ("scenarios_removed", "scenario(s) removed")):
        if d[key]:
            parts.append(f"{word}: {', '.join(d[key])}")
    return "; ".join(parts)


def _mark_changes(report: dict[str, Any]) -> None:
    """Note on each headline row which scenarios' figures changed, and their previous value."""
    changes = report.get("changes") or {}
    by_measure: dict[str, dict[str, Any]] = {}
    for f in changes.get("headline", []):
        by_measure.setdefault(f["measure"], {})[f["scenario"]] = f["before"]
    for row in report["headline"]["rows"]:
        prev = by_measure.get(row["measure"], {})
        row["changed"] = list(prev)
        row["previous"] = prev


def compare_runs(db: sqlite_utils.Database, a: int, b: int) -> dict[str, Any]:
    """Two runs side by side (a the older, b the newer): their headlines and what changed."""
    ra, rb = get_run(db, a), get_run(db, b)
    for r in (ra, rb):
        if r["status"] != "done":
            raise InvalidInput(f"report run {r['id']} has no report (status {r['status']}"
                               f"{': ' + r['error'] if r.get('error') else ''})")
    ma, mb = _headline_map(ra), _headline_map(rb)
    sc_b = rb["headline"]["scenarios"]
    scenarios = [s for s in ra["headline"]["scenarios"] if s in sc_b]
    rows = []
    spec = {r["measure"]: r for r in ra["headline"]["rows"]}
    spec.update({r["measure"]: r for r in rb["headline"]["rows"]})
    for measure, r in spec.items():
        row = {"measure": measure, "label": r["label"], "unit": r["unit"], "a": {}, "b": {},
               "change": {}, "changed": []}
        for sc in scenarios:
            va, vb = ma.get((sc, measure)), mb.get((sc, measure))
            row["a"][sc], row["b"][sc] = va, vb
            numeric = all(isinstance(v, (int, float)) for v in (va, vb))
            row["change"][sc] = vb - va if numeric else None
            if not _close(va, vb):
                row["changed"].append(sc)
        rows.append(row)
    meta = ("id", "report_name", "scheduled_for", "finished_at", "input_hash", "trigger")
    return {"a": {k: ra.get(k) for k in meta}, "b": {k: rb.get(k) for k in meta},
            "scenarios": scenarios, "rows": rows, "changes": diff_reports(ra, rb)}


# -- CSV and XLSX ----------------------------------------------------------------------------

CSV_COLUMNS = ("section", "scenario", "item", "measure", "label", "unit", "value")


# The cell writers are the tables' (one exporter for every table and report).
FORMULA_START = tables.FORMULA_START
_inert = tables.inert
_text = tables.csv_text


def _meta_items(report: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    return [("report_name", "Report", report.get("report_name")),
            ("description", "Description", report.get("description")),
            ("run_id", "Run", report.get("id")),
            ("scheduled_for", "Scheduled for (UTC)", report.get("scheduled_for")),
            ("started_at", "Started (UTC)", report.get("started_at")),
            ("finished_at", "Finished (UTC)", report.get("finished_at")),
            ("status", "Status", report.get("status")),
            ("trigger", "Trigger", report.get("trigger")),
            ("run_by", "Run by", report.get("run_by")),
            ("input_hash", "Content hash of the data (SHA-256)", report.get("input_hash")),
            ("scenarios", "Scenarios", "; ".join(s["name"] for s in
                                                 report.get("scenarios", []))),
            ("measures", "Measures", "; ".join(report.get("measures", []))),
            ("options", "Model options", report.get("options")),
            ("changes", "Changes since the previous run",
             (report.get("changes") or {}).get("summary", "first run"))]


def csv_records(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report as long records (section, scenario, item, measure, label, unit, value)."""
    out: list[dict[str, Any]] = []

    def add(section, scenario, item, measure, label, unit, value):
        out.append({"section": section, "scenario": scenario, "item": item, "measure": measure,
                    "label": label, "unit": unit, "value": value})

    for key, label, value in _meta_items(report):
        add("report", "", "", key, label, "", value)
    h = report.get("headline") or {"scenarios": [], "rows": []}
    for r in h["rows"]:
        for sc in h["scenarios"]:
            add("headline", sc, "", r["measure"], r["label"], r["unit"], r["values"].get(sc))
    for t in report.get("detail") or []:
        cols = t["columns"]
        item_i = next(i for i, c in enumerate(cols) if c["key"] == t["item"])
        for row in t["rows"]:
            for i, c in enumerate(cols):
                if i in (0, item_i):
                    continue
                add(t["name"], row[0], row[item_i], c["key"], c["label"], c["unit"], row[i])
    p = report.get("parameters") or {"rows": []}
    for r in p["rows"]:
        add("parameters", "", r["name"], "default", r["label"], r["unit"], r["default"])
        for sc, v in r["values"].items():
            add("parameters", sc, r["name"], "value", r["label"], r["unit"], v)
    ch = report.get("changes") or {}
    for f in ch.get("headline", []):
        for part in ("before", "after", "change"):
            add("changes", f["scenario"], f["measure"], part, f["label"], f["unit"], f[part])
    return out


def to_csv(report: Mapping[str, Any]) -> str:
    """The whole report as one long CSV (see docs/reports.md for the layout)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rec in csv_records(report):
        w.writerow([_text(rec[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def wide_table(report: Mapping[str, Any], name: str) -> tuple[list[str], list[list[Any]]]:
    """One table of the report as (header, rows): 'headline', 'parameters' or a detail table."""
    if name == "headline":
        h = report["headline"]
        return (["measure", "label", "unit", *h["scenarios"]],
                [[r["measure"], r["label"], r["unit"], *[r["values"].get(s) for s in
                                                         h["scenarios"]]] for r in h["rows"]])
    if name == "parameters":
        p = report["parameters"]
        return (["name", "label", "unit", "default", *p["scenarios"]],
                [[r["name"], r["label"], r["unit"], r["default"],
                  *[r["values"].get(s) for s in p["scenarios"]]] for r in p["rows"]])
    for t in report.get("detail") or []:
        if t["name"] == name:
            return [c["key"] for c in t["columns"]], [list(r) for r in t["rows"]]
    known = ["headline", "parameters", *[t["name"] for t in report.get("detail") or []]]
    raise UnknownEntity(f"the report has no table '{name}' (tables: {', '.join(known)})")


def table_csv(report: Mapping[str, Any], name: str) -> str:
    """One table as a plain CSV (one row per item, one column per figure)."""
    header, rows = wide_table(report, name)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_text(v) for v in r])
    return buf.getvalue()


SHEETS = {"overview": "Market", "cqc_ratings": "CQC ratings",
          "market_rurality": "Market by rurality", "coverage_rurality": "Coverage by rurality",
          "care_gaps": "Care gaps", "fcoc_summary": "FCoC returns", "fee_gap": "FCoC fee gap",
          "travel_fcoc": "Travel against FCoC", "trajectory": "Fee trajectory",
          "at_risk": "Providers at risk",
          "classes": "Classes", "rurality": "By rurality", "groups": "By group",
          "care_homes": "Care homes", "homecare_providers": "Home-care providers",
          "unmet_zones": "Unmet hours by zone", "uncertainty": "Uncertainty",
          "sweep": "Take-up sweep", "excluded": "Left out"}
NUMBER_FORMATS = tables.NUMBER_FORMATS
_sheet = tables.write_sheet
_xl = tables.xlsx_value


def to_xlsx(report: Mapping[str, Any]) -> bytes:
    """The report as an XLSX workbook: Headline (long), Headline table (wide), About, detail
    sheets, Parameters and Changes; the figures are the JSON's, unrounded."""

    wb = Workbook()
    wb.remove(wb.active)
    h = report.get("headline") or {"scenarios": [], "rows": []}
    long_rows = []
    for r in h["rows"]:
        for sc in h["scenarios"]:
            long_rows.append([r["label"], sc, r["values"].get(sc), r["unit"], r["measure"]])
    ws = _sheet(wb, "Headline", ["label", "scenario", "value", "unit", "measure"], long_rows,
                widths={0: 50, 1: 30, 2: 16, 3: 14, 4: 34})
    for i, r in enumerate(long_rows, start=2):
        fmt = NUMBER_FORMATS.get(r[3])
        if fmt and isinstance(r[2], (int, float)):
            ws.cell(i, 3).number_format = fmt
    header, rows = wide_table(report, "headline")
    ws = _sheet(wb, "Headline table", header, rows,
                widths={0: 34, 1: 50, 2: 14, **{i: 22 for i in range(3, len(header))}})
    for i, r in enumerate(rows, start=2):
        fmt = NUMBER_FORMATS.get(r[2])
        for j in range(3, len(header)):
            if fmt and isinstance(ws.cell(i, j + 1).value, (int, float)):
                ws.cell(i, j + 1).number_format = fmt
    about = [[label, _text(v) if isinstance(v, (dict, list)) else v]
             for _k, label, v in _meta_items(report)]
    for sc in report.get("scenarios", []):
        about.append([f"Scenario '{sc['name']}'",
                      json.dumps(sc["values"]) + (f" - {sc['description']}"
                                                  if sc.get("description") else "")])
    _sheet(wb, "About", ["item", "value"], about, widths={0: 36, 1: 90})
    for t in report.get("detail") or []:
        _sheet(wb, SHEETS.get(t["name"], t["name"]), [c["key"] for c in t["columns"]], t["rows"],
               [c["unit"] for c in t["columns"]])
    header, rows = wide_table(report, "parameters")
    _sheet(wb, "Parameters", header, rows, widths={1: 60})
    ch = report.get("changes") or {}
    _sheet(wb, "Changes", ["scenario", "measure", "label", "unit", "before", "after", "change",
                           "relative_change"],
           [[f["scenario"], f["measure"], f["label"], f["unit"], f["before"], f["after"],
             f["change"], f["relative_change"]] for f in ch.get("headline", [])],
           widths={2: 50})
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- the sample market's report --------------------------------------------------------------

SAMPLE_REPORT = "Weekly fee impact"
SAMPLE_SCENARIOS = (
    ("s18-3 half take-up", {"take_up": 0.5},
     "Care Act s18(3): half of the self-funders in care homes ask the council to arrange their "
     "care and move to the LA rate"),
    ("s18-3 full take-up", {"take_up": 1.0},
     "Care Act s18(3): every self-funder in a care home moves to the LA rate"),
    ("NLW rise with 5 pct LA uplift",
     {"care_worker_hourly_wage": 12.71, "cost_change": 0.025, "la_fee_change": 0.05},
     "National Living Wage 12.21 -> 12.71 (April 2026): home-care wages follow it; care-home "
     "operating costs +2.5% (staff pay, about 60% of costs, up 4.1%); LA fees +5%"),
)


def add_sample_report(db: sqlite_utils.Database, user: str = "sample") -> dict[str, Any] | None:
    """Save the sample scenarios and the weekly report definition, and run it once.

    A new user of `init --sample` or `serve --sample` so sees a report at once. Nothing is
    done when the definition exists already; returns the first run (or None).
    """

    if list(db["report_definitions"].rows_where("name = ?", [SAMPLE_REPORT])):
        return None
    saved = {r["name"] for r in db["scenarios"].rows}
    for name, values, description in SAMPLE_SCENARIOS:
        if name not in saved:
            save_scenario(db, Scenario(name, values, description), user)
    create_definition(
        db, SAMPLE_REPORT, [s[0] for s in SAMPLE_SCENARIOS], "0 6 * * 1",
        description="Every Monday at 06:00: what Care Act s18(3) take-up and the 2026 NLW rise "
                    "do to the sample market's care homes and home care", user=user)
    return run_report(db, SAMPLE_REPORT, "sample", user=user)


SAMPLE_MSP = "Market Sustainability Plan evidence"
SAMPLE_MSP_SCENARIOS = (
    ("s18-3 quarter take-up", {"take_up": 0.25},
     "Care Act s18(3): a quarter of the self-funders in care homes ask the council to arrange "
     "their care and move to the LA rate"),
    SAMPLE_SCENARIOS[0], SAMPLE_SCENARIOS[1],
)


def add_sample_msp(db: sqlite_utils.Database, user: str = "sample") -> dict[str, Any] | None:
    """Save the sample's evidence pack definition (s18(3) take-up of 25, 50 and 100%, every
    1 April at 06:00, when fees are reset) and the scenarios it needs; not run (an analyst
    runs it, or the scheduler on 1 April). Nothing is done when it exists; returns it."""
    if list(db["report_definitions"].rows_where("name = ?", [SAMPLE_MSP])):
        return None
    saved = {r["name"] for r in db["scenarios"].rows}
    for name, values, description in SAMPLE_MSP_SCENARIOS:
        if name not in saved:
            save_scenario(db, Scenario(name, values, description), user)
    return create_definition(
        db, SAMPLE_MSP, [s[0] for s in SAMPLE_MSP_SCENARIOS], "0 6 1 4 *",
        description="Every 1 April at 06:00, when fees are reset: the evidence for the Market "
                    "Sustainability Plan (market, coverage by rurality, the Fair Cost of Care "
                    "and the fee gap, s18(3) exposure at 25, 50 and 100% take-up, providers at "
                    "risk, the fee trajectory)", user=user, report_type="msp")

