"""Hold 50 concurrent API clients on loopback for 60 s against `caremarket serve` (waitress).

Starts the service as its own process, exactly as the README's run command does (a fresh store
with the sample market in a temporary folder), creates an API token with the CLI, then runs
`caremarket.loadtest.run_load` and prints the request count, errors, throughput and latency
percentiles. The reference, measured in the same run under the same load, is the cheapest
authenticated route (`/api/v1/me`): the p95 of the real API routes is printed as a ratio to it.

Usage: .venv/bin/python benchmarks/load_api.py [--clients 50] [--seconds 60] [--threads 16]
Exits non-zero if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "caremarket"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/login", timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the service did not come up at {url}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=16, help="waitress worker threads")
    args = ap.parse_args()

    from caremarket.loadtest import run_load

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.db"
        env = {**os.environ, "CAREMARKET_INSTANCE": tmp}
        subprocess.run([*CLI, "--db", str(db), "init", "--sample"], check=True, env=env,
                       capture_output=True)
        subprocess.run([*CLI, "--db", str(db), "user", "create", "load@example.org", "--role",
                        "analyst", "--password-stdin"], input="load-test-password\n", text=True,
                       check=True, env=env, capture_output=True)
        out = subprocess.run([*CLI, "--db", str(db), "token", "create", "--user",
                              "load@example.org"], check=True, env=env, capture_output=True,
                             text=True).stdout
        token = out.strip().splitlines()[-1]
        port = free_port()
        # The server's output goes to a file: a pipe nobody reads fills up (waitress logs its
        # task queue depth under load) and would block the server's logging, and so the server.
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen([*CLI, "--db", str(db), "serve", "--port", str(port),
                                   "--threads", str(args.threads)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(base)
            provider = json.loads(urllib.request.urlopen(urllib.request.Request(
                base + "/api/v1/providers?per_page=1",
                headers={"Authorization": f"Bearer {token}"})).read())["items"][0]["provider_id"]
            result = run_load(base, token, args.clients, args.seconds, provider_id=provider)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            queue_warnings = sum("Task queue depth" in line
                                 for line in (Path(tmp) / "serve.log").read_text().splitlines())
    s = result.summary()
    print(f"{s['clients']} clients for {s['seconds']} s against caremarket serve "
          f"(waitress, {args.threads} threads), sample market")
    print(f"requests {s['requests']:,}  errors {s['errors']}  throughput "
          f"{s['throughput_per_s']:,} req/s")
    print(f"latency p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms  p99 {s['p99_ms']} ms")
    print(f"reference /api/v1/me p95 {s['p95_reference_ms']} ms; API p95 / reference p95 = "
          f"{s['p95_ratio_to_reference']}")
    print(f"waitress 'task queue depth' warnings: {queue_warnings} (requests waiting for one "
          f"of the {args.threads} threads)")
    for route, p95 in s["by_route_p95_ms"].items():
        print(f"  {route:60} p95 {p95} ms")
    if s["errors"]:
        print("errors:", *s["first_errors"], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
