#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests use if it is missing (the Python clients
# of the reader tests: pyarrow, pandas, DuckDB, polars; mmdb-writer and MaxMind's reader for the
# location tests; the object-storage servers and SDKs: Azurite
# from npm, moto's S3 server, the Azure and AWS SDKs from PyPI; headless Chromium for the HTML
# report test and kubectl for the AKS manifests' dry run, from Debian), then runs the Rust unit
# and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import pyarrow, pandas, duckdb, polars' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
fi
if ! python3 -c 'import mmdb_writer, netaddr, maxminddb, _maxminddb_geolite2' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/geo/requirements.txt
fi
if ! python3 -c 'import moto, azure.storage.blob, boto3' 2>/dev/null || ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/remote/requirements.txt
fi
# Azurite (Azure Blob Storage emulator) from npm, into a cache folder the tests look in.
tools="${FLOWLAKE_TOOLS:-$HOME/.cache/flowlake-tools}"
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" azurite@3.37.0 >/dev/null
fi
export FLOWLAKE_TOOLS="$tools"
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q chromium >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
fi
# kubectl (Debian) for the client-side dry run of the AKS manifests (docs/CLUSTER.md).
if ! command -v kubectl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q kubectl >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q kubectl >/dev/null; }
fi
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
