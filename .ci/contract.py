"""The API contract run: schemathesis against the sample app, with every check it has.

Builds the sample market in a temporary folder, serves the app with waitress (the production
server) on a free loopback port, and runs `schemathesis run` on /api/v1/openapi.json with an
admin's API token, `--checks all` (settings in schemathesis.toml), a bounded number of examples
per operation (`--max-examples`) and a time limit (`--timeout`: past it the run is stopped and
counted failed). Background runs are queued but not carried out (the contract is about the
API's answers, not about computing random models on the CI machine). Exits with schemathesis's
status: zero only when no check failed. A step of `.ci/run` (docs/web.md, "The API contract").

    .venv/bin/python .ci/contract.py [--max-examples 20] [--timeout 420] [schemathesis options]

`--max-time S` hands schemathesis a time budget instead, which it then spends in full (its
fuzzing repeats until the budget is gone): for longer runs by hand, not for CI.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path


class Queued:
    """An executor that accepts background runs and never carries them out."""

    def submit(self, *args, **kwargs):
        return None

    def shutdown(self, wait: bool = True) -> None:
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--max-time", type=int, default=0,
                        help="schemathesis's time budget (it then fuzzes until spent); 0: none")
    parser.add_argument("--timeout", type=int, default=420,
                        help="stop the run and fail after this many seconds")
    opts, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="caremarket-contract-") as folder:
        os.environ["CAREMARKET_INSTANCE"] = str(Path(folder) / "instance")
        from waitress.server import create_server

        from caremarket import accounts
        from caremarket.cases import load_sample
        from caremarket.store import open_store
        from web import create_app

        path = Path(folder) / "sample.db"
        store = open_store(path)
        try:
            load_sample(store)
            accounts.create_user(store, "admin@example.org", "contract-password-1", "admin")
            token, _ = accounts.create_token(store, "admin@example.org", "contract")
        finally:
            store.close()
        app = create_app({"DATABASE": str(path), "SECRET_KEY": "contract",
                          "SCHEDULER_ENABLED": False, "RUNS_PER_USER": 1_000_000})
        app.extensions["caremarket.tasks"].shutdown(wait=True)
        app.extensions["caremarket.tasks"] = Queued()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = create_server(app, host="127.0.0.1", port=port, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        try:
            cli = Path(sys.executable).with_name("schemathesis")
            try:
                return subprocess.run([
                    str(cli), "run", f"http://127.0.0.1:{port}/api/v1/openapi.json",
                    "--checks", "all", "--max-examples", str(opts.max_examples),
                    *(["--max-time", str(opts.max_time)] if opts.max_time else []),
                    "--workers", "2", "-H", f"Authorization: Bearer {token}", "--no-color",
                    *extra], timeout=opts.timeout).returncode
            except subprocess.TimeoutExpired:
                print(f"contract run: stopped after its time limit of {opts.timeout} s "
                      "(counted failed)", file=sys.stderr)
                return 1
        finally:
            server.close()


if __name__ == "__main__":
    sys.exit(main())
