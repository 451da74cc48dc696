"""A bounded load generator for the JSON API: N concurrent clients on loopback for T seconds.

Each client keeps one HTTP/1.1 connection and loops over a mix of API reads (providers, zones,
fees, overview, one provider, runs) with a Bearer token, and now and then starts a coverage
run. Every request is timed; any status other than the expected one, or a connection error,
counts as an error. Used by `benchmarks/load_api.py` (50 clients for 60 s) and by a short
test. Traffic goes only to the loopback address it is given.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np

READS = (
    "/api/v1/providers?per_page=50",
    "/api/v1/providers?kind=care_home&rurality=sparse&sort=-beds",
    "/api/v1/zones?per_page=100",
    "/api/v1/fees",
    "/api/v1/overview",
    "/api/v1/scenarios",
    "/api/v1/runs?per_page=20",
)
REFERENCE = "/api/v1/me"  # the cheapest authenticated route: the server's own floor


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def percentile(self, q: float, route: str | None = None) -> float:
        values = (self.latencies.get(route, []) if route else
                  [x for k, v in self.latencies.items() for x in v])
        return float(np.percentile(values, q)) if values else float("nan")

    def summary(self) -> dict:
        api = [x for k, v in self.latencies.items() if k != REFERENCE for x in v]
        ref = self.latencies.get(REFERENCE, [])
        p95_api = float(np.percentile(api, 95)) if api else float("nan")
        p95_ref = float(np.percentile(ref, 95)) if ref else float("nan")
        return {
            "clients": self.clients, "seconds": round(self.seconds, 2),
            "requests": self.requests, "errors": len(self.errors),
            "first_errors": self.errors[:5],
            "throughput_per_s": round(self.requests / self.seconds, 1) if self.seconds else None,
            "p50_ms": round(1000 * self.percentile(50), 2),
            "p95_ms": round(1000 * self.percentile(95), 2),
            "p99_ms": round(1000 * self.percentile(99), 2),
            "p95_reference_ms": round(1000 * p95_ref, 2),
            "p95_ratio_to_reference": round(p95_api / p95_ref, 2) if ref and api else None,
            "by_route_p95_ms": {k: round(1000 * float(np.percentile(v, 95)), 2)
                                for k, v in sorted(self.latencies.items())},
        }


COVERAGE_RUN = {"kind": "coverage", "levers": {"max_minutes": 40}}


def run_load(base_url: str, token: str, clients: int = 50, seconds: float = 60.0,
             run_every: int = 200, provider_id: str | None = None,
             run_body: dict | None = None) -> LoadResult:
    """Drive `clients` concurrent clients against `base_url` for `seconds`; return timings.

    Every `run_every`-th request of a client starts a run (POST /api/v1/runs with `run_body`,
    by default a coverage run); client k makes its first such request after
    `run_every - k % run_every` requests, so starts are spread out.
    """
    run_json = json.dumps(run_body or COVERAGE_RUN)
    url = urlparse(base_url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the load test only targets the loopback address")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    routes = list(READS) + [REFERENCE]
    if provider_id:
        routes.append(f"/api/v1/providers/{provider_id}")
    result = LoadResult(clients, seconds)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    start_gate = threading.Barrier(clients)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        local: dict[str, list[float]] = {}
        errs: list[str] = []
        start_gate.wait()
        i = k  # stagger the mix across clients
        while time.perf_counter() < stop_at:
            i += 1
            if run_every and i % run_every == 0:
                method, path, expected = "POST", "/api/v1/runs", 202
                body = run_json
                hdrs = {**headers, "Content-Type": "application/json"}
            else:
                method, path, expected = "GET", routes[i % len(routes)], 200
                body, hdrs = None, headers
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                dt = time.perf_counter() - t0
                if resp.status != expected:
                    errs.append(f"{method} {path}: HTTP {resp.status}")
                local.setdefault(path if method == "GET" else "POST /api/v1/runs",
                                 []).append(dt)
            except (OSError, http.client.HTTPException) as exc:
                errs.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.close()
        with lock:
            for key, values in local.items():
                result.latencies.setdefault(key, []).extend(values)
            result.errors.extend(errs)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    result.seconds = time.perf_counter() - t_start
    return result
