"""The `caremarket` command line: a thin click layer over the store, importers and models.

Conventions every command follows: the store is chosen by the group option `--db PATH`, else
`$CAREMARKET_DB`, else the config default; errors a user can act on go to stderr with a non-zero
exit code; `--json` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from importlib.metadata import entry_points
from typing import Any

import click

from caremarket import jsonio
from caremarket.config import resolve_db_path
from caremarket.store import open_store
from market.errors import CareMarketError, ImportRejected


class CliContext:
    def __init__(self, db_path: str | None) -> None:
        self.db_path = resolve_db_path(db_path)
        self._db = None

    @property
    def db(self):
        """The store, opened (and migrated) on first use."""
        if self._db is None:

            self._db = open_store(self.db_path)
        return self._db


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout (caremarket.jsonio: NaN and infinities as null)."""
    click.echo(jsonio.dumps(obj, indent=2))


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
from caremarket.commands import fcoc as fcoc_cmds; fcoc_cmds.register(cli)  # noqa: E402, E702, I001
from caremarket.commands import reach as reach_cmds; reach_cmds.register(cli)  # noqa: E402, E702, I001

# --- end command registration ---

# Commands of outer layers (web: `serve`) come through the `caremarket.commands` entry point, so
# this package never imports them.
for _ep in entry_points(group="caremarket.commands"):
    try:
        cli.add_command(_ep.load(), _ep.name)
    except ImportError as _exc:  # an outer layer not installed here: its command is missing
        print(f"warning: command '{_ep.name}' unavailable ({_exc})", file=sys.stderr)
