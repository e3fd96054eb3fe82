#!/usr/bin/env bash
# Installs the Debian packages eddy needs to build, run and test, when they are missing.
# As root it runs apt-get itself; otherwise it prints the exact command to run.
set -euo pipefail

# -dev packages the Swift targets link against, plus tools the tests drive.
need=(libncursesw5-dev libsqlite3-dev libzstd-dev zlib1g-dev libmaxminddb-dev pkg-config tmux)
if [ "${EDDY_SETUP_EXTRA:-}" != "" ]; then need+=(${EDDY_SETUP_EXTRA}); fi

# Python packages the tests use (DuckDB reads the lake; mmdb-writer builds the test GeoIP database).
# Best effort: without them those tests install them (test-lake.sh) or skip (DeliveryGeoTests).
if command -v python3 >/dev/null && ! python3 -c 'import duckdb, mmdb_writer, netaddr' 2>/dev/null; then
  python3 -m pip install --quiet duckdb mmdb-writer netaddr >&2 || echo "setup: pip install duckdb mmdb-writer netaddr failed (tests that need them skip)" >&2
fi

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run as root:  $cmd" >&2
  exit 1
fi
