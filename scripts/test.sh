#!/usr/bin/env bash
# Runs the whole test suite: installs the Python clients the reader tests use (pyarrow, pandas,
# DuckDB) if they are missing, then the Rust unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import pyarrow, pandas, duckdb' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
fi
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
