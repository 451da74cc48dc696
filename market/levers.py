"""The lever registry: every lever of every operation, defined once.

A lever is a value a caller sets for one run: the longest trip of a coverage run, the take-up
of an equalisation scenario, the number of Monte Carlo draws. Each is defined here once with
its name, type, unit, range, default, step, label and help, and everything else is derived from
it: the CLI options (`caremarket.commands`), the page forms (sliders with a number box showing
the range), the API's validation and its error messages (naming the field as the caller spelled
it) and the OpenAPI request schemas (`web.api`).

The five equalisation scenario levers are model parameters (`market.parameters`): their range
and default come from the parameter definition, so a change there changes every entry point.
`slider` is only the range a page's slider spans (the number box beside it takes the whole
range, and a saved value is never rounded to the slider's step).

`check(operation, values)` returns the operation's levers with defaults, every value checked;
`LeverError` (an InvalidScenario) carries `field`, the lever's name as the caller spelled it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date as _date
from typing import Any

from market.errors import InvalidScenario, shown
from market.parameters import DEFAULTS, Parameter
from market.viability import FEE_BASES, FEE_BASIS
from market.viability import LEVERS as SCENARIO_LEVERS

SOLVERS = ("auto", "cbc", "highs", "ipm", "simplex")
VARIANTS = ("standard", "fair")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")


class LeverError(InvalidScenario):
    """A lever value that cannot be used; `field` names the lever as the caller spelled it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


class LeverRefused(LeverError):
    """A lever value of the form its schema states that the domain still refuses: a
    distribution whose parameters are out of order (uniform:1,0), not positive (beta:0,2) or too
    large to be a number (1e400), a provider id the market does not have. The API answers 422
    (the request is well-formed), where a value of the wrong form is a 400."""


# The distribution grammar (`Distribution.parse`) as one regular expression: the API's schema
# publishes it as the lever's `pattern` and `Lever.check` refuses any text it does not match, so
# the document and the server say the same. The kind is case-insensitive; blanks and tabs may
# stand around each part. What a pattern cannot say (a, b > 0; low < high; a finite number) is
# LeverRefused.
_NUM = r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*"


def _word(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def _form(kind: str, count: int) -> str:
    return _word(kind) + r"[ \t]*:" + ",".join([_NUM] * count)


DISTRIBUTION_PATTERN = (
    r"^[ \t]*(?:" + "|".join([
        _form("beta", 2) + "(?:," + _NUM + "," + _NUM + ")?",
        _form("triangular", 3), _form("uniform", 2), _form("fixed", 1), _NUM]) + r")[ \t]*$")
# YYYY-MM-DD only (fromisoformat also takes 20250401 and 2025-W14-2), from year 1 (a schema's
# `format: date` admits 0000, Python's dates start at 0001); the calendar is `format: date`.
DATE_PATTERN = (r"^(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
                r"-[0-9]{2}-[0-9]{2}$")
# How a query argument spells a lever's value (what an OpenAPI client sends for the schema).
_QUERY_TEXT = {"integer": r"-?(?:0|[1-9][0-9]*)",
               "number": r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?",
               "boolean": r"true|false"}


@dataclass(frozen=True)
class Lever:
    """One lever: what it is, its type and its range; `check` turns a raw value into it.

    kind: number | integer | boolean | choice | ids (a list of ids) | id_map (id -> number) |
    distribution (text such as beta:2,3) | text. `default` None means "the model parameter
    `parameter`" for a number whose default lives in the parameter set.
    """

    name: str
    kind: str
    label: str
    help: str = ""
    unit: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    # what the pages show for a choice, in a commissioner's words (the value itself if absent)
    choice_labels: tuple[tuple[str, str], ...] = ()
    parameter: str | None = None  # the model parameter whose value a blank lever takes
    slider: tuple[float, float] | None = None
    nullable: bool = False  # an explicit null/blank is a value of its own (e.g. no sweep)
    advanced: bool = False  # shown under "Advanced" on the pages
    cli: str | None = None  # the CLI flag, default --name-with-dashes

    @property
    def flag(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        if self.minimum is None and self.maximum is None:
            return ""
        lo = "" if self.minimum is None else f"{self.minimum:g}"
        hi = "" if self.maximum is None else f"{self.maximum:g}"
        return f"{lo} to {hi}" if lo and hi else (f"at least {lo}" if lo else f"at most {hi}")

    def _number(self, value: Any, name: str) -> float:
        if isinstance(value, bool):
            raise LeverError(name, f"{shown(value)} is not a number")
        if isinstance(value, str):
            value = value.strip().replace(",", "")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise LeverError(name, f"{shown(value)} is not a number") from None
        except OverflowError:  # a JSON integer of hundreds of digits
            raise LeverError(name, "is not a finite number") from None
        if not math.isfinite(v):
            raise LeverError(name, f"{shown(value)} is not a finite number")
        if (self.minimum is not None and v < self.minimum) or \
                (self.maximum is not None and v > self.maximum):
            raise LeverError(name, f"{v:g} is outside its range {self.range_text()}"
                                   + (f" {self.unit}" if self.unit else ""))
        return v

    def check(self, value: Any, name: str | None = None, strict: bool = False) -> Any:
        """`value` as this lever's type, or LeverError naming `name` (default: the lever).

        The CLI and the forms send text, so by default a number may come as "1,200", a
        boolean as "yes" or 1, ids as "a, b", and blank text means the default. `strict` (the
        JSON API) takes exactly what the lever's `schema()` states: JSON numbers, booleans,
        lists and objects of their own types, null for the default, text where text is due.
        """
        name = name or self.name
        if value is None:
            return None if self.nullable else _copy(self.default)
        if strict:
            self._check_json_type(value, name)
        elif isinstance(value, str) and value.strip() == "" and self.kind != "boolean":
            return None if self.nullable else _copy(self.default)
        if self.kind == "number":
            return self._number(value, name)
        if self.kind == "integer":
            v = self._number(value, name)
            if v != int(v):
                raise LeverError(name, f"{v:g} is not a whole number")
            return int(v)
        if self.kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
                return value.strip().lower() in TRUE
            raise LeverError(name, f"{shown(value)} is not true or false")
        if self.kind == "choice":
            if value not in self.choices:
                raise LeverError(name, f"{shown(value)} is not one of {', '.join(self.choices)}")
            return value
        if self.kind == "ids":
            if isinstance(value, str):
                value = [p.strip() for p in value.split(",") if p.strip()]
            if not isinstance(value, (list, tuple)) or any(
                    not isinstance(p, (str, int)) or isinstance(p, bool) for p in value):
                raise LeverError(name, "a list of ids")
            return [str(p) for p in value]
        if self.kind == "id_map":
            if not isinstance(value, Mapping):
                raise LeverError(name, "a mapping of id to a number")
            return {str(k): self._number(v, f"{name}.{k}") for k, v in value.items()}
        if self.kind == "distribution":
            from market.uncertainty import Distribution

            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise LeverError(name, f"{shown(value)} is not a distribution")
            if isinstance(value, str) and not re.fullmatch(DISTRIBUTION_PATTERN, value):
                try:  # the parser's own reason when it has one (unknown distribution 'gamma')
                    Distribution.parse(value)
                except InvalidScenario as exc:
                    raise LeverError(name, str(exc)) from None
                raise LeverError(name, f"{shown(value)} is not of the form {self.help}")
            try:
                Distribution.parse(value if isinstance(value, str) else float(value))
            except InvalidScenario as exc:
                raise LeverRefused(name, str(exc)) from None
            return str(value).strip()
        if self.kind == "text":
            if not isinstance(value, str):
                raise LeverError(name, "must be text")
            return value
        if self.kind == "date":
            text = str(value).strip()
            try:
                if not re.fullmatch(DATE_PATTERN, text):
                    raise ValueError(text)
                return _date.fromisoformat(text).isoformat()
            except ValueError:
                raise LeverError(name, f"{shown(value)} is not a date (YYYY-MM-DD)") from None
        raise AssertionError(f"lever kind {self.kind}")

    def _check_json_type(self, value: Any, name: str) -> None:
        """LeverError unless `value` has the JSON type `schema()` states (null aside)."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            "number": number, "integer": number, "boolean": isinstance(value, bool),
            "choice": isinstance(value, str), "text": isinstance(value, str),
            "distribution": isinstance(value, str), "date": isinstance(value, str),
            "ids": isinstance(value, list) and all(isinstance(p, str) for p in value),
            "id_map": isinstance(value, Mapping) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in value.values()),
        }[self.kind]
        if not ok:
            raise LeverError(name, f"{shown(value)} is not {_JSON_TYPE[self.kind]}")

    def schema(self) -> dict[str, Any]:
        """The lever's JSON schema (OpenAPI 3.1), with its range and default."""
        base: dict[str, Any]
        if self.kind in ("number", "integer"):
            base = {"type": self.kind}
            if self.minimum is not None:
                base["minimum"] = self.minimum
            if self.maximum is not None:
                base["maximum"] = self.maximum
        elif self.kind == "boolean":
            base = {"type": "boolean"}
        elif self.kind == "choice":
            base = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "ids":
            base = {"type": "array", "items": {"type": "string"}}
        elif self.kind == "id_map":
            item: dict[str, Any] = {"type": "number"}
            if self.minimum is not None:
                item["minimum"] = self.minimum
            if self.maximum is not None:
                item["maximum"] = self.maximum
            base = {"type": "object", "additionalProperties": item}
        elif self.kind == "date":
            base = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
        elif self.kind == "distribution":
            base = {"type": "string", "pattern": DISTRIBUTION_PATTERN}
        else:
            base = {"type": "string"}
        # null (or leaving the lever out) means the default: check() takes None so
        base = {"anyOf": [base, {"type": "null"}]}
        out = {**base, "title": self.label, "description": self.help or self.label}
        if self.default is not None:
            out["default"] = self.default
        if self.unit:
            out["x-unit"] = self.unit
        return out

    def query_schema(self) -> dict[str, Any]:
        """The lever's schema as a query argument: as `schema()`, without null (a query
        argument is left out for the default); `from_query` reads exactly this."""
        full = self.schema()
        return {**full["anyOf"][0], **{k: v for k, v in full.items() if k != "anyOf"}}

    def from_query(self, text: str, name: str | None = None) -> Any:
        """A query argument's text as the JSON value it spells (`query_schema`), checked
        strictly: '5' for an integer, 'true' or 'false' for a boolean, else the text."""
        name = name or self.name
        spelled = _QUERY_TEXT.get(self.kind)
        if spelled is None:
            return self.check(text, name, strict=True)
        if not re.fullmatch(spelled, text):
            raise LeverError(name, f"{shown(text)} is not {_JSON_TYPE[self.kind]}")
        value: Any = (text == "true" if self.kind == "boolean"
                      else int(text) if self.kind == "integer" else float(text))
        return self.check(value, name, strict=True)

    def to_dict(self) -> dict[str, Any]:
        """The lever as data, for the pages and GET /api/v1/parameters."""
        return {"name": self.name, "kind": self.kind, "label": self.label, "help": self.help,
                "unit": self.unit, "default": self.default, "minimum": self.minimum,
                "maximum": self.maximum, "step": self.step, "choices": list(self.choices),
                "choice_labels": {c: dict(self.choice_labels).get(c, c) for c in self.choices},
                "parameter": self.parameter,
                "slider": list(self.slider) if self.slider else None,
                "advanced": self.advanced, "flag": self.flag}


_JSON_TYPE = {"number": "a number", "integer": "a whole number", "boolean": "true or false",
              "choice": "text", "text": "text", "distribution": "text such as beta:2,3",
              "date": "a date (YYYY-MM-DD)", "ids": "a list of ids (text)",
              "id_map": "an object of id to a number"}

_PARAMS: dict[str, Parameter] = {p.name: p for p in DEFAULTS}


def from_parameter(name: str, label: str, step: float, slider: tuple[float, float] | None,
                   help_text: str = "", lever_name: str | None = None,
                   default_blank: bool = False) -> Lever:
    """A lever whose range (and default) is the model parameter's own."""
    p = _PARAMS[name]
    return Lever(lever_name or name, "number", label, help_text or p.label, p.unit,
                 None if default_blank else p.value, p.minimum, p.maximum, step,
                 parameter=name, slider=slider)


# -- the scenario levers (equalisation) ---------------------------------------------------------

SCENARIO: tuple[Lever, ...] = (
    from_parameter("take_up", "Take-up", 0.01, (0.0, 1.0),
                   "Share of self-funders asking the council to arrange their care at its "
                   "rates (Care Act 2014 s18(3)), 0 to 1"),
    from_parameter("convergence", "Convergence", 0.01, (0.0, 1.0),
                   "Share of the remaining self-funder premium that closes, 0 to 1"),
    from_parameter("la_fee_change", "LA fee change", 0.01, (-0.2, 0.5),
                   "Relative change of the council's fees: 0.05 is +5%"),
    from_parameter("cost_change", "Cost change", 0.01, (-0.2, 0.5),
                   "Relative change of providers' operating costs: 0.03 is +3%"),
    from_parameter("occupancy_change", "Occupancy change", 0.01, (-0.2, 0.1),
                   "Absolute change of care-home occupancy: -0.05 is 5 points fewer beds "
                   "filled"),
    Lever(FEE_BASIS, "choice", "LA fees from",
          "current: the care homes' LA fees as stored; fcoc_median: each care home's LA fee "
          "set to the Fair Cost of Care median of its category uprated to today (nursing "
          "homes the nursing median, the others the residential one: the store does not "
          "separate enhanced needs; docs/fcoc.md); LA fee change applies on top",
          default="current", choices=FEE_BASES,
          choice_labels=(("current", "the LA fees as stored"),
                         ("fcoc_median", "the Fair Cost of Care median"))),
)
assert tuple(lv.name for lv in SCENARIO[:len(SCENARIO_LEVERS)]) == SCENARIO_LEVERS

# -- the operations' own levers -----------------------------------------------------------------

_SOLVER = Lever("solver", "choice", "Solver", "automatic picks the faster solver for the "
                "model's size", default="auto", choices=SOLVERS, advanced=True)

# Home-care capacity the CQC and others do not publish: left out by default, or estimated by
# the rule of market.completeness.fill_capacity (every filled figure marked as estimated).
_FILL_CAPACITY = Lever(
    "fill_capacity", "boolean", "Estimate missing capacity",
    "Give an agency without a capacity the median capacity of the agencies with one in the same "
    "rurality class (of all agencies where the class has none), marked as estimated; off: "
    "such agencies are left out and named in 'excluded'", default=False, advanced=True)

COVERAGE: tuple[Lever, ...] = (
    from_parameter("max_travel_minutes", "Longest one-way trip", 1, None,
                   "Longest one-way trip from an agency's base to a zone; blank: the model "
                   "parameter", lever_name="max_minutes", default_blank=True),
    Lever("variant", "choice", "Share out unmet need",
          "standard: most hours met in all; fair: first the smallest worst share unmet in "
          "any zone", default="standard", choices=VARIANTS, advanced=True),
    _SOLVER,
    from_parameter("visit_minutes", "Contact minutes per visit", 1, None,
                   default_blank=True),
    from_parameter("visits_per_run", "Visits per care-worker run", 1, None,
                   default_blank=True),
    Lever("remove_provider", "ids", "Agencies leaving", "Home-care providers to remove "
          "(provider exits)", default=[], cli="--remove-provider"),
    Lever("capacity", "id_map", "New capacity", "New weekly contact hours of a provider",
          unit="hours a week", default={}, minimum=0.0, maximum=100_000.0),
    Lever("add_sites", "boolean", "Add candidate sites",
          "Open every candidate site as an extra base", default=False),
    Lever("max_providers_per_zone", "integer", "Nearest agencies per zone",
          "Link each zone to at most its N nearest bases (blank: every base in reach)",
          minimum=1, maximum=10_000, step=1, advanced=True),
    Lever("calibrate", "boolean", "Fit travel estimates",
          "Fit the travel estimate (access minutes, crow-fly speed) to the travel matrix's "
          "pairs near the travel limit",
          default=True, advanced=True),
    Lever("gaps", "integer", "Care gaps listed", "How many of the largest care gaps to list "
          "(the table export holds every zone)", default=25, minimum=0, maximum=100_000,
          step=1, advanced=True),
    _FILL_CAPACITY,
)

EQUALISATION: tuple[Lever, ...] = (
    Lever("sweep_parameter", "choice", "Sweep", "One scenario lever over its range, with each "
          "home's tipping point (blank: no sweep)", default="take_up",
          choices=SCENARIO_LEVERS, nullable=True),
    Lever("sweep_step", "number", "Sweep step", "Step of the sweep", default=0.05,
          minimum=0.001, maximum=0.5, step=0.001, advanced=True),
    Lever("montecarlo_draws", "integer", "Monte Carlo draws", "0: no Monte Carlo",
          default=10_000, minimum=0, maximum=200_000, step=1000),
    Lever("take_up_dist", "distribution", "Take-up distribution",
          "beta:a,b[,low,high] | triangular:low,mode,high | uniform:low,high | a number",
          default="beta:2,3"),
    Lever("cost_change_dist", "distribution", "Cost change distribution",
          "Optional: the same forms (blank: held at the scenario's value)", advanced=True),
    Lever("seed", "integer", "Random seed", default=0, minimum=0, maximum=2**31 - 1, step=1,
          advanced=True),
    Lever("homecare", "boolean", "Home care too",
          "Agencies made unviable exit, and the unmet hours that adds", default=True),
    _SOLVER,
    _FILL_CAPACITY,
)

SWEEP: tuple[Lever, ...] = (
    Lever("parameter", "choice", "Lever swept", default="take_up", choices=SCENARIO_LEVERS),
    Lever("start", "number", "From", "First value (default: the lever's range start)",
          minimum=-1.0, maximum=10.0, cli="--from"),
    Lever("stop", "number", "To", "Last value (default: the lever's range end)",
          minimum=-1.0, maximum=10.0, cli="--to"),
    Lever("step", "number", "Step", default=0.05, minimum=0.001, maximum=1.0),
    Lever("tipping", "boolean", "Tipping points", "Include each home's tipping point",
          default=True),
)

MONTECARLO: tuple[Lever, ...] = (
    Lever("take_up_dist", "distribution", "Take-up distribution",
          "beta:a,b[,low,high] | triangular:low,mode,high | uniform:low,high | a number",
          default="beta:2,3"),
    Lever("cost_change_dist", "distribution", "Cost change distribution",
          "Optional: the same forms"),
    Lever("draws", "integer", "Draws", default=10_000, minimum=1, maximum=200_000, step=1000),
    Lever("seed", "integer", "Random seed", default=0, minimum=0, maximum=2**31 - 1, step=1),
    Lever("scope", "choice", "Scope", "One take-up per draw for the market, or per home",
          default="market", choices=("market", "home")),
    Lever("homes", "boolean", "Per-home probabilities", default=True),
)

EXITS: tuple[Lever, ...] = (_SOLVER, _FILL_CAPACITY)

FEE_UPLIFT: tuple[Lever, ...] = (
    Lever("mode", "choice", "Uplift by", "Per provider, or per rurality band of zones",
          default="provider", choices=("provider", "band")),
    replace(_SOLVER, default="cbc"),
    _FILL_CAPACITY,
)

SITES: tuple[Lever, ...] = (
    Lever("k", "integer", "Most sites to open", minimum=1, maximum=10_000, step=1, cli="-k"),
    _SOLVER,
)

FCOC: tuple[Lever, ...] = (
    Lever("exclude_outliers", "boolean", "Leave out outliers",
          "Leave out the returns whose total is outside Tukey's fences (1.5 IQR); they are "
          "listed either way", default=False),
    Lever("years", "integer", "Years to reach the fair cost",
          "Equal steps from today's LA rate to the uprated median", default=3, minimum=1,
          maximum=10, step=1),
    Lever("as_of", "date", "Fees in force on", "The date whose LA rates are compared "
          "(default: today)"),
    Lever("returns_date", "date", "Prices of the returns",
          "The date the returns' costs are at, uprated from there (the 2022 exercise: "
          "2022-04-01)", default="2022-04-01", advanced=True),
)

REACH: tuple[Lever, ...] = (
    from_parameter("max_travel_minutes", "Within minutes", 1, (5.0, 120.0),
                   "The zones no home-care agency reaches within this many minutes one way",
                   lever_name="max_minutes"),
)

OPERATIONS: dict[str, tuple[Lever, ...]] = {
    "scenario": SCENARIO, "coverage": COVERAGE, "equalisation": EQUALISATION, "sweep": SWEEP,
    "montecarlo": MONTECARLO, "exits": EXITS, "fee_uplift": FEE_UPLIFT, "sites": SITES,
    "fcoc": FCOC, "reach": REACH,
}


@dataclass(frozen=True)
class Checked:
    """Checked levers and the names the caller gave (for recording exactly what was asked)."""

    values: dict[str, Any]
    given: tuple[str, ...] = field(default=())


def lever(operation: str, name: str) -> Lever:
    return next(lv for lv in OPERATIONS[operation] if lv.name == name)


def defaults(operation: str) -> dict[str, Any]:
    """The operation's levers at their defaults (None: the model parameter's value)."""
    return {lv.name: _copy(lv.default) for lv in OPERATIONS[operation]}


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v


def check(operation: str, values: Mapping[str, Any] | None, prefix: str = "",
          strict: bool = False) -> dict[str, Any]:
    """The operation's levers, defaults overlaid with `values`, every value checked.

    An unknown name or a bad value raises LeverError whose `field` is `prefix` + the name as
    given (e.g. `levers.max_minutes`); `strict`: JSON values exactly as `json_schema` states
    (`Lever.check`).
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise LeverError(prefix.rstrip(".") or operation, "must be an object of lever values")
    levers = OPERATIONS[operation]
    known = {lv.name: lv for lv in levers}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise LeverError(prefix + str(unknown[0]),
                         f"not a lever of {operation} (levers: {', '.join(known)})")
    out = defaults(operation)
    for name, value in values.items():
        out[name] = known[name].check(value, prefix + name, strict)
    return out


def from_query(operation: str, args: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
    """`check` for levers given as query arguments (a GET route): each text read as its
    lever's `query_schema` states, strictly."""
    known = {lv.name: lv for lv in OPERATIONS[operation]}
    unknown = [k for k in args if k not in known]
    if unknown:
        raise LeverError(prefix + str(unknown[0]),
                         f"not a lever of {operation} (levers: {', '.join(known)})")
    return check(operation, {k: known[k].from_query(v, prefix + k) for k, v in args.items()},
                 prefix, strict=True)


def names(operation: str) -> Sequence[str]:
    return tuple(lv.name for lv in OPERATIONS[operation])


def json_schema(operation: str) -> dict[str, Any]:
    """The operation's levers as one JSON object schema (no other fields)."""
    return {"type": "object", "additionalProperties": False,
            "properties": {lv.name: lv.schema() for lv in OPERATIONS[operation]}}
