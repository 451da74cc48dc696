"""The API under concurrent load: 50 clients on loopback against waitress, no errors.

A short version of `benchmarks/load_api.py` (which holds 60 s and reports latencies); this test
asserts only correctness under concurrency (every response as expected), never a timing.
"""

from __future__ import annotations

import shutil
import socket
import threading

import pytest

from tests.conftest import PASSWORDS, email_for


@pytest.mark.slow
def test_fifty_concurrent_api_clients_get_no_errors(sample_db_file, tmp_path):
    from waitress.server import create_server

    from caremarket import accounts
    from caremarket.loadtest import run_load
    from caremarket.store import open_store
    from web import create_app

    path = tmp_path / "load.db"
    shutil.copy(sample_db_file, path)
    store = open_store(path)
    accounts.create_user(store, email_for("analyst"), PASSWORDS["analyst"], "analyst")
    token, _ = accounts.create_token(store, email_for("analyst"))
    provider = next(store["care_homes"].rows)["provider_id"]
    store.close()
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "load", "SCHEDULER_ENABLED": False})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=16)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # a light run (no Monte Carlo, no home-care LP) so the queue drains quickly
        light = {"kind": "equalisation", "scenario": {"take_up": 0.5},
                 "options": {"montecarlo_draws": 0, "homecare": False}}
        result = run_load(f"http://127.0.0.1:{port}", token, clients=50, seconds=4,
                          run_every=10, provider_id=provider, run_body=light)
    finally:
        server.close()
        app.extensions["caremarket.tasks"].shutdown(wait=True)
    summary = result.summary()
    assert summary["errors"] == 0, summary["first_errors"]
    assert summary["requests"] > 50
    assert "POST /api/v1/runs" in result.latencies  # runs were started under load too
    store = open_store(path)
    try:
        statuses = {r[0] for r in store.execute("select status from runs")}
    finally:
        store.close()
    assert statuses <= {"done", "running"}, statuses  # no run failed under load
