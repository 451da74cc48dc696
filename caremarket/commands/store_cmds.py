"""Store commands: init, import, serve (filled in by the foundation work)."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    pass
