"""The Flask app: pages for commissioners and the `/api/v1` JSON API over one store.

`create_app(test_config=None)` follows Flask's tutorial factory: defaults, then the instance
config file or the test mapping, then each part's `init_app`, then the blueprints.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from caremarket.config import instance_dir, resolve_db_path


def _secret_key(folder: Path) -> str:
    """A per-instance secret kept in the instance folder (created once, readable by owner only)."""
    path = folder / "secret_key"
    if path.exists():
        return path.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # created readable by the owner only from the start (no window with the default umask)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def create_app(test_config: dict | None = None) -> Flask:
    folder = instance_dir()
    app = Flask(__name__, instance_path=str(folder.resolve()), instance_relative_config=True)
    app.config.from_mapping(
        DATABASE=str(resolve_db_path()),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure cookies need HTTPS; set CAREMARKET_SECURE_COOKIES=0 only for plain-HTTP use
        # on the loopback address (what `caremarket serve` on 127.0.0.1 does).
        SESSION_COOKIE_SECURE=os.environ.get("CAREMARKET_SECURE_COOKIES", "1") != "0",
        REMEMBER_COOKIE_SECURE=os.environ.get("CAREMARKET_SECURE_COOKIES", "1") != "0",
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in web.auth for cookie sessions only
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
        RUN_WORKERS=2,
        RUNS_PER_USER=4,  # queued or running runs (model and report) one user may have
        SCHEDULER_ENABLED=True,
        JSON_SORT_KEYS=False,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(folder) if not app.testing else "test-secret"

    from web import api, auth, db, pages, reports, scheduler, tasks

    db.init_app(app)
    auth.init_app(app)
    tasks.init_app(app)
    api.init_app(app)  # the JSON error envelope under /api, HTML error pages elsewhere
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(reports.api_bp)
    scheduler.init_app(app)  # APScheduler; not started under TESTING or SCHEDULER_ENABLED=False
    app.after_request(_security_headers)
    return app


# Scripts and styles from this origin's files only (no inline script or style, no eval: the
# pages' data travels in <script type="application/json"> blocks the scripts read); no framing.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")


def _security_headers(response):
    """No inline script or style (CSP), no framing (clickjacking of the one-click forms), no
    MIME sniffing, no referrer leaks, and nothing commercially sensitive left in shared
    caches."""
    from flask import request

    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
