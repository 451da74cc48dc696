"""Login, roles, API tokens and CSRF.

Every route needs a logged-in user (a session from the login form) or an API token
(`Authorization: Bearer cm_...`), except the login page and static files. Forms and cookie-
authenticated API calls that change anything must carry the CSRF token (form field
`csrf_token` or header `X-CSRFToken`); token-authenticated API calls carry no cookies and need
none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from caremarket import accounts
from web.db import get_db

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()
PUBLIC_ENDPOINTS = {"auth.login", "static"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def is_api_request() -> bool:
    return request.path.startswith("/api/")


SESSION_VERSION_KEY = "_sv"


@login_manager.user_loader
def _load_user(user_id: str):
    """The session's user, checked on every request: a user disabled since logging in, or
    whose sessions were ended since (logout, password or role change: the per-user session
    version moved on), loses the session at once."""
    try:
        user = accounts.get_user(get_db(), int(user_id))
    except (TypeError, ValueError, OverflowError):
        return None
    if user is None or not user.active:
        return None
    if session.get(SESSION_VERSION_KEY) != user.session_version:
        return None
    return user


@login_manager.request_loader
def _load_from_token(req):
    header = req.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = accounts.user_for_token(get_db(), header[7:].strip())
        if user:
            g.token_auth = True
        return user
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    app.config.setdefault("LOGIN_LIMIT_ACCOUNT", "5 per minute;20 per hour")
    app.config.setdefault("LOGIN_LIMIT_ADDRESS", "20 per minute;100 per hour")
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _throttled)
    app.before_request(_guard)


# -- login throttling (Flask-Limiter) -----------------------------------------------------------
# Failed logins only are counted (a successful one costs nothing), per account (the e-mail as
# typed, lower-cased) and per client address; past either limit every attempt, right password
# or not, is answered 429 with Retry-After until the window moves on. Limits are the config
# values LOGIN_LIMIT_ACCOUNT and LOGIN_LIMIT_ADDRESS (Flask-Limiter notation, ';' between
# limits); the counters live in RATELIMIT_STORAGE_URI (memory: per process).

limiter = Limiter(key_func=get_remote_address, default_limits=[])


def _account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:320]


def _address_key() -> str:
    return "login-address:" + (get_remote_address() or "unknown")


def _failed(response) -> bool:
    return response.status_code == 401


def _limit(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _retry_after() -> int:
    """Seconds until the limit that was hit lets a request through again."""

    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()) + 1)


def _throttled(exc: RateLimitExceeded):
    retry = _retry_after()
    message = (f"too many failed logins ({exc.description}); try again in {retry} seconds")
    if is_api_request():
        from web.api import error_response

        resp = error_response(429, "too_many_requests", message,
                              {"retry_after": retry, "limit": exc.description})
    else:
        resp = current_app.make_response((render_template("login.html", error=message), 429))
    resp.headers["Retry-After"] = str(retry)
    return resp


def _guard():
    """Refuse anonymous requests; check CSRF on cookie-authenticated writes."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method in WRITE_METHODS:
            csrf.protect()
        return None
    if not current_user.is_authenticated:
        if is_api_request() or request.endpoint is None and request.path.startswith("/api"):
            from web.api import error_response

            return error_response(401, "unauthenticated",
                                  "log in or send 'Authorization: Bearer <token>'")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method in WRITE_METHODS and not g.get("token_auth"):
        csrf.protect()
    return None


def requires(role: str):
    """Allow the view only to users with at least `role` (viewer < analyst < admin)."""

    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.can(role):
                abort(403, description=f"this needs the {role} role; you are a "
                                       f"{current_user.role}")
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return deco


def actor() -> str:
    return current_user.email if current_user.is_authenticated else "anonymous"


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("pages.overview")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/"):
        return url_for("pages.overview")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_limit("LOGIN_LIMIT_ACCOUNT"), key_func=_account_key, methods=["POST"],
               deduct_when=_failed)
@limiter.limit(_limit("LOGIN_LIMIT_ADDRESS"), key_func=_address_key, methods=["POST"],
               deduct_when=_failed)
def login():
    error = None
    if request.method == "POST":
        db = get_db()
        email = request.form.get("email", "")
        user = accounts.authenticate(db, email, request.form.get("password", ""))
        if user:
            session.clear()
            login_user(user)
            session[SESSION_VERSION_KEY] = user.session_version
            session.permanent = True
            with db.atomic():
                accounts.audit(db, user.email, "login")
            return redirect(_safe_next(request.args.get("next")))
        with db.atomic():
            accounts.audit(db, "anonymous", "login.failed", email.strip().lower()[:200],
                           {"address": get_remote_address()})
        error = "Unknown e-mail or wrong password."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    """End this session and every other session of the user (the session version moves on)."""
    if current_user.is_authenticated and not g.get("token_auth"):
        db = get_db()
        with db.atomic():
            accounts.end_sessions(db, current_user.id)
            accounts.audit(db, current_user.email, "logout")
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def _session_only() -> None:
    """Account administration is for people at the pages: an API token cannot mint tokens or
    manage users (a leaked token must not outlive its revocation by making another)."""
    if g.get("token_auth"):
        abort(403, description="account administration needs a login, not an API token")


@bp.route("/account/tokens", methods=["GET", "POST"])
def tokens():
    _session_only()
    db = get_db()
    new_token = None
    if request.method == "POST":
        if request.form.get("action") == "revoke":
            raw = (request.form.get("token_id") or "").strip()
            if not raw.isdigit() or len(raw) > 18:
                flash(f"token_id: {raw[:40]!r} is not a token id (a whole number from the "
                      "list below); nothing was revoked", "error")
            else:
                try:
                    accounts.revoke_token(db, int(raw), current_user)
                    flash(f"Token {raw} revoked.")
                except accounts.AccountError as exc:
                    flash(str(exc), "error")
        else:
            owner = current_user.email
            if current_user.can("admin") and request.form.get("email"):
                owner = request.form["email"]
            new_token, _ = accounts.create_token(db, owner, request.form.get("name") or "api",
                                                 actor=current_user.email)
    uid = None if current_user.can("admin") else current_user.id
    users = {u.id: u.email for u in accounts.list_users(db)}
    rows = accounts.list_tokens(db, uid)
    for r in rows:
        r["email"] = users.get(r["user_id"])
    return render_template("tokens.html", tokens=rows, new_token=new_token)


@bp.route("/admin/users", methods=["GET", "POST"])
@requires("admin")
def users():
    _session_only()
    db = get_db()
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "create":
                accounts.create_user(db, request.form["email"], request.form["password"],
                                     request.form.get("role", "viewer"), actor=current_user.email)
                flash(f"Created {request.form['email']}.")
            elif action == "role":
                accounts.set_role(db, request.form["email"], request.form["role"],
                                  actor=current_user.email)
                flash(f"{request.form['email']} is now {request.form['role']}.")
        except accounts.AccountError as exc:
            flash(str(exc), "error")
        return redirect(url_for("auth.users"))
    audit = list(db.execute("select at, user, action, target, detail from audit_log "
                            "order by id desc limit 100"))
    return render_template("users.html", users=accounts.list_users(db), roles=accounts.ROLES,
                           audit=audit)


def csrf_error(exc: CSRFError):
    if is_api_request():
        from web.api import error_response

        return error_response(400, "csrf", exc.description)
    return render_template("error.html", code=400, message=f"The form could not be accepted: "
                                                           f"{exc.description} Reload the page "
                                                           "and try again."), 400
