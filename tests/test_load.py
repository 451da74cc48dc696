"""The API under concurrent load: 50 clients on loopback against waitress, no errors.

A short version of `benchmarks/load_api.py` (which holds 60 s and reports latencies); this test
asserts only correctness under concurrency (every response as expected), never a timing.
"""

from __future__ import annotations

import pytest

from tests.conftest import email_for, served, web_store


@pytest.mark.slow
def test_fifty_concurrent_api_clients_get_no_errors(sample_db_file, tmp_path):
    from caremarket import accounts
    from caremarket.loadtest import run_load
    from caremarket.store import open_store
    from web import create_app

    path = web_store(sample_db_file, tmp_path / "load.db", roles=("analyst",))
    store = open_store(path)
    token, _ = accounts.create_token(store, email_for("analyst"))
    provider = next(store["care_homes"].rows)["provider_id"]
    store.close()
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "load", "SCHEDULER_ENABLED": False,
                      "RUNS_PER_USER": 10_000})
    # a light run (no Monte Carlo, no home-care LP) so the queue drains quickly
    light = {"kind": "equalisation", "scenario": {"take_up": 0.5},
             "options": {"montecarlo_draws": 0, "homecare": False}}
    with served(app, threads=16) as url:
        result = run_load(url, token, clients=50, seconds=4, run_every=10,
                          provider_id=provider, run_body=light)
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
