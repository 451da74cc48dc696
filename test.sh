#!/usr/bin/env bash
# Install everything the tests need (a virtualenv with the package and its test extras, Debian's
# Chromium for the browser tests) and run the whole suite: lint, then pytest on two workers.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing and cannot be installed here (not root):" \
         "browser tests will be skipped. Install it with: sudo apt-get install chromium"
  fi
fi
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache   # the layer contracts in pyproject.toml (docs/architecture.md)
.venv/bin/mypy                      # market/ and optimizer/ ([tool.mypy] in pyproject.toml)
exec .venv/bin/python -m pytest -n 2 "$@"
