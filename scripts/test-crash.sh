#!/usr/bin/env bash
# End-to-end crash test: `eddy serve` under load from `eddy loadgen` (unique event ids, every
# acknowledged id recorded), killed with kill -9 at random moments and restarted on the same data
# directory, CRASH_KILLS times. Then: stop loadgen, flush, and assert that every acknowledged event
# is in the warehouse exactly once, that no event_id appears twice anywhere in the lake (so no two
# objects hold the same records), and that `eddy check --lake` is clean (stream, and lake against manifests).
#
# Usage: scripts/test-crash.sh [path/to/eddy]
#   CRASH_KILLS=20        kills (make crash-test uses 20; test-all.sh uses 3)
#   CRASH_MIN_MS=500 CRASH_MAX_MS=4000   random run time between kills
#   CRASH_RATE=2000       loadgen events/s
#   CRASH_RESHARD=1       before every third kill, UpdateShardCount through the Kinesis API with the
#                         AWS CLI (2 → 4 → 2 …), so kills also land during and after splits and merges
#   CRASH_KEEP=1          keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
EDDY=${1:-${EDDY:-.build/debug/eddy}}
KILLS=${CRASH_KILLS:-20}
MIN_MS=${CRASH_MIN_MS:-500}
MAX_MS=${CRASH_MAX_MS:-4000}
RATE=${CRASH_RATE:-2000}
RESHARD=${CRASH_RESHARD:-1}
WORK=$(mktemp -d /tmp/eddy-e2e-crash.XXXXXX)
DATA=$WORK/data
SERVER_PID=""; LOADGEN_PID=""
cleanup() {
  [ -n "$LOADGEN_PID" ] && kill -9 "$LOADGEN_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true
  if [ "${CRASH_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- last server log lines:"; tail -20 "$WORK/serve.log" 2>/dev/null || true; exit 1; }

[ -x "$EDDY" ] || fail "no eddy binary at $EDDY (swift build first)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DATA"
KEY=$("$EDDY" keys --data "$DATA" create --relay)
if [ "$RESHARD" = 1 ] && ! command -v aws > /dev/null; then echo "no aws CLI: resharding skipped"; RESHARD=0; fi
if [ "$RESHARD" = 1 ]; then
  AWS_CREDS=$("$EDDY" keys --data "$DATA" create --aws)
  export AWS_ACCESS_KEY_ID=$(echo "$AWS_CREDS" | sed -n 1p) AWS_SECRET_ACCESS_KEY=$(echo "$AWS_CREDS" | sed -n 2p)
  export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
fi
SHARDS=2
RESHARDS=0
reshard() {
  local target=$((SHARDS == 2 ? 4 : 2))
  if aws --endpoint-url "http://127.0.0.1:$PORT" kinesis update-shard-count --stream-name clickstream \
       --target-shard-count "$target" --scaling-type UNIFORM_SCALING > "$WORK/reshard.json" 2>> "$WORK/reshard.log"; then
    SHARDS=$target; RESHARDS=$((RESHARDS + 1)); echo "resharded to $target open shards"
  else
    fail "UpdateShardCount to $target failed: $(tail -2 "$WORK/reshard.log")"
  fi
}

start_server() {
  "$EDDY" serve --data "$DATA" --listen "127.0.0.1:$PORT" --shards 2 --no-autoscale \
    --buffer-mb 1 --buffer-seconds 1 --min-free-mb 0 >> "$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 600); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || fail "eddy serve exited while starting"
    sleep 0.1
  done
  fail "eddy serve not ready after 60 s"
}

start_server
"$EDDY" loadgen --target "http://127.0.0.1:$PORT" --key "$KEY" --rate "$RATE" --duration 3600s \
  --batch 100 --connections 2 --sites 16 --record-acked "$WORK/acked.txt" --json \
  > "$WORK/loadgen.json" 2> "$WORK/loadgen.log" &
LOADGEN_PID=$!

for k in $(seq 1 "$KILLS"); do
  ms=$((MIN_MS + RANDOM % (MAX_MS - MIN_MS + 1)))
  if [ "$RESHARD" = 1 ] && [ $((k % 3)) = 0 ]; then
    half=$((ms / 2)); sleep "$(printf '%d.%03d' $((half / 1000)) $((half % 1000)))"
    reshard; ms=$((ms - half))
  fi
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  echo "kill $k/$KILLS after ${ms} ms"
  start_server
done
sleep 1

kill -TERM "$LOADGEN_PID"
wait "$LOADGEN_PID" || fail "loadgen failed: $(tail -3 "$WORK/loadgen.log")"
LOADGEN_PID=""
TOKEN=$(cat "$DATA/admin-token")
curl -fsS -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/admin/flush" > "$WORK/flush.json" \
  || fail "POST /v1/admin/flush failed"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

"$EDDY" check --lake --data "$DATA" > "$WORK/check.txt" 2>&1 || { cat "$WORK/check.txt"; fail "eddy check --lake is not clean"; }
grep -q "^lake: .* manifest(s), [1-9][0-9]* object(s)" "$WORK/check.txt" || { cat "$WORK/check.txt"; fail "eddy check --lake verified no object"; }

# Every event_id of every lake object (objects listed by manifests and any other), one per line.
find "$DATA/lake/events" -name '*.ndjson.zst' -print0 | sort -z | xargs -0 -r zstd -dcq \
  | grep -oE '"event_id":"[^"]*"' | cut -d'"' -f4 > "$WORK/lake-ids.txt" || true
sqlite3 "$DATA/warehouse/eddy.sqlite" 'SELECT event_id FROM events' > "$WORK/wh-ids.txt"

python3 - "$WORK" "$KILLS" "$RESHARDS" <<'PY'
import collections, json, os, re, sys
work, kills, reshards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = json.load(open(f"{work}/loadgen.json"))
acked_lines = [l.strip() for l in open(f"{work}/acked.txt") if l.strip()]
acked = set(acked_lines)
wh = collections.Counter(l.strip() for l in open(f"{work}/wh-ids.txt") if l.strip())
lake = collections.Counter(l.strip() for l in open(f"{work}/lake-ids.txt") if l.strip())
problems = []
if len(acked) != len(acked_lines): problems.append(f"{len(acked_lines) - len(acked)} id(s) recorded as acked twice by loadgen")
if len(acked) != r["events"]: problems.append(f"loadgen counted {r['events']} acked events but recorded {len(acked)} ids")
if len(acked) == 0: problems.append("nothing was acknowledged")
lost_wh = [i for i in acked if wh[i] == 0]
lost_lake = [i for i in acked if lake[i] == 0]
dup_wh = [i for i, c in wh.items() if c > 1]
dup_lake = [i for i, c in lake.items() if c > 1]
# Objects of one shard and partition must not overlap in sequence range (a redelivered object).
ranges = collections.defaultdict(list)
for root, _, files in os.walk(f"{work}/data/lake/events"):
    for f in files:
        m = re.match(r".*-(shardId-\d+)-(\d+)-(\d+)\.ndjson\.zst$", f)
        if m: ranges[(root, m.group(1))].append((int(m.group(2)), int(m.group(3)), f))
overlaps = 0
for key, rs in ranges.items():
    rs.sort()
    for a, b in zip(rs, rs[1:]):
        if b[0] <= a[1]:
            overlaps += 1
            if overlaps <= 3: problems.append(f"overlapping lake objects {a[2]} and {b[2]}")
stored = sum(1 for i in acked if wh[i] > 0)
dup = len(set(dup_wh) | set(dup_lake))
if lost_wh: problems.append(f"{len(lost_wh)} acked id(s) missing from the warehouse, e.g. {lost_wh[:3]}")
if lost_lake: problems.append(f"{len(lost_lake)} acked id(s) missing from the lake, e.g. {lost_lake[:3]}")
if dup_wh: problems.append(f"{len(dup_wh)} event_id(s) twice in the warehouse, e.g. {dup_wh[:3]}")
if dup_lake: problems.append(f"{len(dup_lake)} event_id(s) in more than one lake record, e.g. {dup_lake[:3]}")
print(f"kills {kills}, reshards {reshards}; loadgen: {r['requests']} requests, errors {r['errorsByCode']}")
print(f"warehouse rows {sum(wh.values())}, lake records {sum(lake.values())} (unacked but stored: {sum(1 for i in wh if i not in acked)})")
line = f"sent {r['sent']}, acked {len(acked)}, stored {stored}, lost={len(set(lost_wh) | set(lost_lake))}, duplicated={dup}"
if problems:
    for p in problems: print("PROBLEM:", p)
    print("FAIL:", line); sys.exit(1)
print("PASS:", line)
PY
