"""The report scheduler in the web process: `caremarket.scheduler` started with the app.

`init_app(app)` keeps a BackgroundScheduler in `app.extensions["caremarket.scheduler"]` and
starts it unless the app is testing or `SCHEDULER_ENABLED` is False (or `$CAREMARKET_SCHEDULER`
is 0). Everything else (jobs, sync, claiming firings, `caremarket scheduler`) is in
`caremarket.scheduler`, which needs no Flask app.
"""

from __future__ import annotations

import atexit

from flask import Flask

from caremarket.scheduler import (  # noqa: F401 - the names the web layer uses
    DEFAULTS,
    EXTENSION,
    build_scheduler,
    definitions_changed,
    enabled,
    run_scheduled,
    start,
    stop,
)


def init_app(app: Flask) -> None:
    """Create the scheduler extension; start it unless testing or disabled."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    scheduler = build_scheduler(app)
    app.extensions[EXTENSION] = scheduler
    if app.testing or not enabled(app):
        return
    start(app, scheduler)
    atexit.register(stop, scheduler)
