"""Users, roles, API tokens and the audit log. Passwords and tokens are stored hashed only."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from caremarket.store import now
from market.errors import CareMarketError

ROLES = ("viewer", "analyst", "admin")  # each can do what the ones before it can
TOKEN_PREFIX = "cm_"


class AccountError(CareMarketError):
    """A user or token operation that cannot be done (unknown user, weak password...)."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    active: bool = True
    session_version: int = 0  # bumped to end every session of this user (see end_sessions)

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role, "active": self.active}


def _user(row: dict) -> User:
    return User(int(row["id"]), row["email"], row["role"], bool(row["active"]),
                int(row.get("session_version") or 0))


def create_user(db: sqlite_utils.Database, email: str, password: str, role: str = "viewer",
                actor: str | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) < 3:
        raise AccountError(f"'{email}' is not an e-mail address")
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    if len(password) < 10:
        raise AccountError("the password must be at least 10 characters long")
    if get_user_by_email(db, email):
        raise AccountError(f"a user '{email}' already exists")
    with db.atomic():
        row = db["users"].insert({"email": email, "password_hash": generate_password_hash(password),
                                  "role": role, "created_at": now(), "active": 1})
        audit(db, actor or "cli", "user.create", email, {"role": role})
    return get_user(db, int(row.last_pk))  # type: ignore[return-value]


def set_password(db: sqlite_utils.Database, email: str, password: str) -> None:
    user = get_user_by_email(db, email)
    if not user:
        raise AccountError(f"no user '{email}'")
    if len(password) < 10:
        raise AccountError("the password must be at least 10 characters long")
    with db.atomic():
        db["users"].update(user.id, {"password_hash": generate_password_hash(password)})
        end_sessions(db, user.id)
        audit(db, email, "user.password", email)


def end_sessions(db: sqlite_utils.Database, user_id: int) -> None:
    """End every login session of the user (inside the caller's transaction, if any): the
    session version each session carries no longer matches. API tokens are not touched."""
    db.execute("update users set session_version = coalesce(session_version, 0) + 1 "
               "where id = ?", [user_id])


def set_active(db: sqlite_utils.Database, email: str, active: bool, actor: str) -> User:
    """Disable (or enable again) a user; disabling ends their sessions and their tokens stop
    working (both check `active`)."""
    user = get_user_by_email(db, email)
    if not user:
        raise AccountError(f"no user '{email}'")
    if user.role == "admin" and user.active and not active:
        admins = db.execute("select count(*) from users where role = 'admin' and active = 1"
                            ).fetchone()[0]
        if admins <= 1:
            raise AccountError(f"{email} is the only admin: make another user admin first")
    with db.atomic():
        db["users"].update(user.id, {"active": int(active)})
        end_sessions(db, user.id)
        audit(db, actor, "user.enable" if active else "user.disable", email)
    return get_user(db, user.id)  # type: ignore[return-value]


def set_role(db: sqlite_utils.Database, email: str, role: str, actor: str) -> User:
    user = get_user_by_email(db, email)
    if not user:
        raise AccountError(f"no user '{email}'")
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}' (roles: {', '.join(ROLES)})")
    if user.role == "admin" and role != "admin" and user.active:
        admins = db.execute("select count(*) from users where role = 'admin' and active = 1"
                            ).fetchone()[0]
        if admins <= 1:
            raise AccountError(f"{email} is the only admin: make another user admin first")
    with db.atomic():
        db["users"].update(user.id, {"role": role})
        if role != user.role:
            end_sessions(db, user.id)
        audit(db, actor, "user.role", email, {"role": role})
    return get_user(db, user.id)  # type: ignore[return-value]


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    rows = list(db["users"].rows_where("id = ?", [user_id]))
    return _user(rows[0]) if rows else None


def get_user_by_email(db: sqlite_utils.Database, email: str) -> User | None:
    rows = list(db["users"].rows_where("email = ?", [email.strip().lower()]))
    return _user(rows[0]) if rows else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    return [_user(r) for r in db["users"].rows_where(order_by="email")]


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A password hash made once per process with the same method as real ones, checked
    against for unknown e-mails so they cost one hash, like known ones."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def authenticate(db: sqlite_utils.Database, email: str, password: str) -> User | None:
    """The user with this e-mail and password, or None. Exactly one password hash is checked
    whether the e-mail is known, unknown or disabled: the time taken does not say which."""
    rows = list(db["users"].rows_where("email = ?", [email.strip().lower()]))
    stored = rows[0]["password_hash"] if rows else _dummy_hash()
    matches = check_password_hash(stored, password)
    if not rows or not matches or not rows[0]["active"]:
        return None
    return _user(rows[0])


def _token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: sqlite_utils.Database, email: str, name: str = "api",
                 actor: str | None = None) -> tuple[str, dict]:
    """Create an API token for `email`; return the token (shown once) and its stored record."""
    user = get_user_by_email(db, email)
    if not user:
        raise AccountError(f"no user '{email}'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        row = db["api_tokens"].insert({"user_id": user.id, "name": name,
                                       "token_hash": _token_hash(token), "prefix": token[:8],
                                       "created_at": now()})
        audit(db, actor or email, "token.create", email, {"name": name, "prefix": token[:8]})
    record = db["api_tokens"].get(row.last_pk)
    return token, {k: v for k, v in record.items() if k != "token_hash"}


def list_tokens(db: sqlite_utils.Database, user_id: int | None = None) -> list[dict]:
    where, params = ("user_id = ?", [user_id]) if user_id is not None else (None, [])
    return [{k: v for k, v in r.items() if k != "token_hash"}
            for r in db["api_tokens"].rows_where(where, params, order_by="id")]


def revoke_token(db: sqlite_utils.Database, token_id: int, actor: User) -> None:
    rows = list(db["api_tokens"].rows_where("id = ?", [token_id]))
    if not rows or (rows[0]["user_id"] != actor.id and not actor.can("admin")):
        raise AccountError(f"no token {token_id} that you may revoke")
    with db.atomic():
        db["api_tokens"].update(token_id, {"revoked_at": now()})
        audit(db, actor.email, "token.revoke", str(token_id))


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _token_hash(token)
    rows = list(db.execute(
        "select t.id, t.token_hash, t.last_used_at, u.id, u.email, u.role, u.active "
        "from api_tokens t join users u on u.id = t.user_id "
        "where t.token_hash = ? and t.revoked_at is null", [digest]))
    if not rows or not hmac.compare_digest(rows[0][1], digest):
        return None
    token_id, _, last_used, uid, email, role, active = rows[0]
    if not active:
        return None
    _mark_used(db, int(token_id), last_used)
    return User(int(uid), email, role, bool(active))


TOKEN_USE_RESOLUTION = timedelta(minutes=5)


def _mark_used(db: sqlite_utils.Database, token_id: int, last_used: str | None) -> None:
    """Record when a token was last used, to the nearest few minutes: a write per request
    would make every API read wait for the store's write lock."""
    stamp = now()
    if last_used and last_used > (datetime.now(UTC) - TOKEN_USE_RESOLUTION).isoformat(
            timespec="seconds"):
        return
    with db.atomic():
        db.execute("update api_tokens set last_used_at = ? where id = ?", [stamp, token_id])


def audit(db: sqlite_utils.Database, user: str | None, action: str, target: str | None = None,
          detail: Any = None) -> None:
    """Append to the audit log (inside the caller's transaction when there is one)."""
    db["audit_log"].insert({"at": now(), "user": user, "action": action, "target": target,
                            "detail": json.dumps(detail, default=str) if detail else None})


def ensure_demo_admin(db: sqlite_utils.Database, email: str = "admin@example.org",
                      password_file=None) -> tuple[str, str | None]:
    """Create the demo admin once; return its e-mail and, when just created, its password."""
    if get_user_by_email(db, email):
        return email, None
    password = secrets.token_urlsafe(12)
    create_user(db, email, password, "admin", actor="serve --sample")
    if password_file is not None:
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(f"{email}\n{password}\n")
        password_file.chmod(0o600)
    return email, password
