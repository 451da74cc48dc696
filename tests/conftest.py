"""Shared fixtures: a temporary store, the sample market, the Flask app and client."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAREMARKET_SHARED", ROOT.parent / "shared")) / "data"


def shared(*parts: str) -> Path:
    """Path of a file in ../shared/data; skip the test when the shared data is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def db(db_path: Path):
    from caremarket.store import open_store

    store = open_store(db_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def sample_db_file(tmp_path_factory) -> Path:
    """One store with the sample market, built once per session; copy it before writing."""
    from caremarket.cases import load_sample
    from caremarket.store import open_store

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    store = open_store(path)
    load_sample(store)
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture
def sample_db(sample_db_file: Path, tmp_path: Path):
    """A private copy of the sample-market store."""
    import shutil

    from caremarket.store import open_store

    path = tmp_path / "sample.db"
    shutil.copy(sample_db_file, path)
    store = open_store(path)
    yield store
    store.close()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


# -- the web app ------------------------------------------------------------------------------

PASSWORDS = {"admin": "admin-password-1", "analyst": "analyst-password-1",
             "viewer": "viewer-password-1"}


def email_for(role: str) -> str:
    return f"{role}@example.org"


def web_store(sample_db_file: Path, path: Path, roles=tuple(PASSWORDS)) -> Path:
    """A private copy of the sample store at `path` with one user of each of `roles`."""
    import shutil

    from caremarket import accounts
    from caremarket.store import open_store

    shutil.copy(sample_db_file, path)
    store = open_store(path)
    try:
        for role in roles:
            accounts.create_user(store, email_for(role), PASSWORDS[role], role, actor="test")
    finally:
        store.close()
    return path


@contextlib.contextmanager
def served(app, threads: int = 8):
    """Serve `app` with waitress (the production server) in a thread on a free loopback port;
    yield its base URL; stop the server and the app's background runs afterwards."""
    import socket
    import threading

    from waitress.server import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=threads)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        app.extensions["caremarket.tasks"].shutdown(wait=True)


@pytest.fixture
def app(sample_db_file: Path, tmp_path: Path, monkeypatch):
    """The Flask app on a private copy of the sample market, with one user of each role.

    Runs are carried out synchronously (`RUN_SYNC`) and the scheduler is not started, so tests
    need no waiting; CSRF is checked as in production.
    """
    from web import create_app

    path = web_store(sample_db_file, tmp_path / "web.db")
    monkeypatch.setenv("CAREMARKET_INSTANCE", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test",
                      "RUN_SYNC": True, "SCHEDULER_ENABLED": False,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False})
    yield app
    app.extensions["caremarket.tasks"].shutdown(wait=True)


@pytest.fixture
def store(app):
    """A second connection to the app's store, to check what the app wrote."""
    from caremarket.store import open_store

    db = open_store(app.config["DATABASE"])
    yield db
    db.close()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(html: str) -> str:
    """The CSRF token of a rendered page (the <meta name="csrf-token"> tag)."""
    import re

    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "page carries no CSRF token"
    return m.group(1)


def login(client, role: str = "admin") -> str:
    """Log `client` in as the user of `role`; return a CSRF token for later form posts."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/login", data={"email": email_for(role), "password": PASSWORDS[role],
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return csrf_from(client.get("/login").get_data(as_text=True))


@pytest.fixture
def api_token(app):
    """Return a function role -> a fresh Bearer token of that role's user."""
    from caremarket import accounts
    from caremarket.store import open_store

    def make(role: str = "analyst") -> str:
        store = open_store(app.config["DATABASE"])
        try:
            token, _ = accounts.create_token(store, email_for(role), "test")
        finally:
            store.close()
        return token

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
