#!/usr/bin/env bash
# Builds a small lake with delivery (a Swift test that leaves its output) and reads it with DuckDB.
# Usage: scripts/test-lake.sh [dir]     (default: a fresh temp dir, removed on success)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
out="${1:-$(mktemp -d /tmp/eddy-lake-test.XXXXXX)}"
if ! python3 -c 'import duckdb' 2>/dev/null; then
    echo "test-lake: installing duckdb from PyPI"
    python3 -m pip install --quiet duckdb
fi
if ! python3 -c 'import mmdb_writer, netaddr' 2>/dev/null; then
    echo "test-lake: installing mmdb-writer and netaddr from PyPI (test GeoIP database)"
    python3 -m pip install --quiet mmdb-writer netaddr
fi
EDDY_LAKE_OUT="$out" swift test --filter PipelineTests.LakeFixtureTests
# IP → country through a real .mmdb written by Tests/lake/make_test_mmdb.py (no skip here: the packages are installed).
geo_log=$(mktemp /tmp/eddy-geo-test.XXXXXX)
swift test --skip-build --filter PipelineTests.DeliveryGeoTests >"$geo_log" 2>&1 || { cat "$geo_log"; rm -f "$geo_log"; exit 1; }
grep -E "Executed [0-9]+ tests" "$geo_log" | tail -1
if grep -Eq "with [1-9][0-9]* tests? skipped" "$geo_log"; then echo "test-lake: geo tests were skipped" >&2; rm -f "$geo_log"; exit 1; fi
rm -f "$geo_log"
python3 Tests/lake/test_duckdb.py "$out"
if [ -z "${1:-}" ]; then rm -rf "$out"; fi
