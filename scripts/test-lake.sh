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
EDDY_LAKE_OUT="$out" swift test --filter PipelineTests.LakeFixtureTests
python3 Tests/lake/test_duckdb.py "$out"
if [ -z "${1:-}" ]; then rm -rf "$out"; fi
