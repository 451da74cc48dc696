"""One store connection per request (and per background job), closed when it ends."""

from __future__ import annotations

from flask import Flask, current_app, g

from caremarket.store import open_store


def get_db():
    if "db" not in g:
        g.db = open_store(current_app.config["DATABASE"], migrate_schema=False)
    return g.db


def close_db(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    store = open_store(app.config["DATABASE"])  # create and migrate once, at start
    store.close()
    app.teardown_appcontext(close_db)
