#!/usr/bin/env bash
# boto3 and the AWS CLI against a real `eddy serve` on a free loopback port with a temporary data
# directory. The server is stopped on every exit path (trap). pytest's exit 5 (no tests) fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
swift build --product eddy >&2
bin=$(swift build --show-bin-path)/eddy
data=$(mktemp -d /tmp/eddy-kinesis-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT INT TERM
export EDDY_ACCESS_KEY_ID=AKIAEDDYTESTKEY00001
export EDDY_SECRET_ACCESS_KEY=eddy-test-secret-0000000000000000000000
export EDDY_ADMIN_TOKEN=eddy-test-admin
"$bin" serve --data "$data" --listen 127.0.0.1:0 --shards 2 --min-free-mb 0 --port-file "$data/port" >"$data/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$data/port" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if [ ! -s "$data/port" ]; then echo "eddy serve did not start:"; cat "$data/serve.log"; exit 1; fi
export EDDY_ENDPOINT="http://127.0.0.1:$(cat "$data/port")"
set +e
python3 -m pytest -q -p no:cacheprovider Tests/kinesis "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "test-kinesis: pytest collected no tests"; exit 1; fi
if [ "$rc" -ne 0 ]; then echo "--- eddy serve log ---"; tail -50 "$data/serve.log"; fi
exit "$rc"
