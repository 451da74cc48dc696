"""Login, roles, API tokens and CSRF.

Every route needs a logged-in user (a session from the login form) or an API token
(`Authorization: Bearer cm_...`), except the login page and static files. Forms and cookie-
authenticated API calls that change anything must carry the CSRF token (form field
`csrf_token` or header `X-CSRFToken`); token-authenticated API calls carry no cookies and need
none.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
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


@login_manager.user_loader
def _load_user(user_id: str):
    # a user disabled since logging in loses the session at once
    user = accounts.get_user(get_db(), int(user_id))
    return user if user is not None and user.active else None


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
    app.before_request(_guard)


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
def login():
    error = None
    if request.method == "POST":
        db = get_db()
        user = accounts.authenticate(db, request.form.get("email", ""),
                                     request.form.get("password", ""))
        if user:
            session.clear()
            login_user(user)
            session.permanent = True
            with db.atomic():
                accounts.audit(db, user.email, "login")
            return redirect(_safe_next(request.args.get("next")))
        error = "Unknown e-mail or wrong password."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
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
            accounts.revoke_token(db, int(request.form["token_id"]), current_user)
            flash("Token revoked.")
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
