"""CLI options derived from the lever registry (market.levers): one option per lever, with the
registry's flag, type, range and help; `given(operation, kwargs)` returns the levers the user
set, for the operation to check (a bad value exits with the registry's message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from market import levers as registry

SCENARIO_OPTION = "--scenario"


def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """ID=VALUE options as a mapping of text (BadParameter naming the flag otherwise)."""
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{item}': use ID=VALUE", param_hint=flag)
        out[key.strip()] = value.strip()
    return out


def _option(lv: registry.Lever, dest: str) -> Callable:
    text = lv.help or lv.label
    if lv.range_text():
        text += f" [{lv.range_text()}{' ' + lv.unit if lv.unit else ''}]"
    if lv.default not in (None, [], {}, ""):
        text += f" (default {lv.default})"
    flag = lv.flag
    if lv.kind == "boolean":
        name = flag.lstrip("-")
        return click.option(f"--{name}/--no-{name}", dest, default=None, help=text)
    if lv.kind == "ids":
        return click.option(flag, dest, multiple=True, metavar="ID", help=text + "; repeatable")
    if lv.kind == "id_map":
        return click.option(flag, dest, multiple=True, metavar="ID=VALUE",
                            help=text + "; repeatable")
    if lv.kind == "choice":
        return click.option(flag, dest, type=click.Choice(lv.choices), default=None, help=text)
    if lv.kind == "integer":
        return click.option(flag, dest, type=int, default=None, help=text)
    if lv.kind == "number":
        return click.option(flag, dest, type=float, default=None, help=text)
    return click.option(flag, dest, default=None, help=text)


def options(operation: str, skip: tuple[str, ...] = ()) -> Callable:
    """Decorate a command with one option per lever of `operation` (dest: op__name)."""
    def deco(fn: Callable) -> Callable:
        for lv in reversed(registry.OPERATIONS[operation]):
            if lv.name not in skip:
                fn = _option(lv, f"{operation}__{lv.name}")(fn)
        return fn
    return deco


def scenario_options(fn: Callable) -> Callable:
    """--scenario NAME and the five scenario levers (a saved scenario, levers overriding it)."""
    fn = options("scenario")(fn)
    return click.option(SCENARIO_OPTION, "scenario_name", default=None,
                        help="Run this saved scenario exactly as saved (lever options "
                             "override its values).")(fn)


def given(operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop the levers of `operation` from `kwargs`; return those the user set."""
    out: dict[str, Any] = {}
    for lv in registry.OPERATIONS[operation]:
        value = kwargs.pop(f"{operation}__{lv.name}", None)
        if value is None or value == ():
            continue
        if lv.kind == "id_map":
            value = pairs(value, lv.flag)
        elif lv.kind == "ids":
            value = list(value)
        out[lv.name] = value
    return out
