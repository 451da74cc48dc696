"""The `caremarket` command line: a thin click layer over the store, importers and models.

Conventions every command follows: the store is chosen by the group option `--db PATH`, else
`$CAREMARKET_DB`, else the config default; errors a user can act on go to stderr with a non-zero
exit code; `--json` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from market.errors import CareMarketError, ImportRejected


class CliContext:
    def __init__(self, db_path: str | None) -> None:
        from caremarket.config import resolve_db_path

        self.db_path = resolve_db_path(db_path)
        self._db = None

    @property
    def db(self):
        """The store, opened (and migrated) on first use."""
        if self._db is None:
            from caremarket.store import open_store

            self._db = open_store(self.db_path)
        return self._db


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (NaN and infinities as null)."""
    click.echo(json.dumps(_clean(obj), indent=2, default=str, allow_nan=False))


def _clean(obj: Any) -> Any:
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def reports_errors(fn: Callable) -> Callable:
    """Turn domain errors into a message on stderr and exit code 1 (2 for a rejected import)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ImportRejected as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except CareMarketError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.group()
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite store to use (default: $CAREMARKET_DB, else instance/caremarket.db).")
@click.version_option(package_name="caremarket")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None) -> None:
    """Adult social care market-shaping: coverage, cost of care, equalisation, viability."""
    ctx.obj = CliContext(db_path)


def main() -> None:
    cli(prog_name="caremarket")


# Commands live in caremarket/commands/<name>.py; each module registers itself here.
# --- command registration (one line per module) ---
from caremarket.commands import accounts as accounts_cmds  # noqa: E402
from caremarket.commands import store_cmds  # noqa: E402

store_cmds.register(cli)
accounts_cmds.register(cli)
from caremarket.commands import viability as viability_cmds; viability_cmds.register(cli)  # noqa: E402, E702, I001
from caremarket.commands import optimize as optimize_cmds; optimize_cmds.register(cli)  # noqa: E402, E702, I001
from caremarket.commands import reports as reports_cmds; reports_cmds.register(cli)  # noqa: E402, E702, I001
# --- end command registration ---
