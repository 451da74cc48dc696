"""Where things live: the store path and the instance folder."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DB = "CAREMARKET_DB"
ENV_INSTANCE = "CAREMARKET_INSTANCE"


def instance_dir() -> Path:
    """The instance folder (store, secret key): $CAREMARKET_INSTANCE or ./instance."""
    return Path(os.environ.get(ENV_INSTANCE) or Path.cwd() / "instance")


def default_db_path() -> Path:
    return instance_dir() / "caremarket.db"


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db beats $CAREMARKET_DB beats the instance default."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_DB):
        return Path(os.environ[ENV_DB])
    return default_db_path()
