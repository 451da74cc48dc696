#!/usr/bin/env bash
# Install caremarket into a virtualenv, create the store with the embedded sample market (first
# run only) and a demo admin, and serve the web app and API with waitress on
# http://127.0.0.1:${PORT:-5000}/ . Extra arguments go to `caremarket serve`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/caremarket serve --sample "$@"
