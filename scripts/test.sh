#!/usr/bin/env bash
# Runs the whole test suite: installs the Python clients the reader tests use (pyarrow, pandas,
# DuckDB) and the headless Chromium the HTML report test uses (Debian package) if they are
# missing, then the Rust unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import pyarrow, pandas, duckdb' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
fi
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
fi
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
