#!/usr/bin/env bash
# Two figures that need a whole node, measured on the release binary:
#  1. click-to-dashboard latency (collector arrival → applied to live aggregates) at a fixed rate
#     through a real `eddy serve`, read from /v1/stats while `eddy loadgen` drives it;
#  2. CPU of the dashboard alone (`eddy dash --connect` in tmux at 200x60) against the node, with
#     btop in the same tmux geometry for the same time as the anchor.
# Usage: scripts/bench-live.sh [rate=50000] [seconds=90]   (load must outlast 2×30 s of CPU sampling)   → appends to bench/results/<date>-<host>-live.md
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-50000}; SECS=${2:-90}
BIN=.build/release/eddy
[ -x "$BIN" ] || { echo "build first: swift build -c release --product eddy"; exit 2; }
command -v btop >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq btop >/dev/null; }
DATA=$(mktemp -d); PORTF=$DATA/port
export EDDY_ADMIN_TOKEN=bench-$$
cleanup() { [ -f "$DATA/serve.log" ] && ! kill -0 "$SERVE" 2>/dev/null && { echo "serve died:"; tail -30 "$DATA/serve.log"; }; kill "$SERVE" 2>/dev/null || true; tmux -L eddybench kill-server 2>/dev/null || true; tmux -L eddybench-btop kill-server 2>/dev/null || true; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
# keys first: a running server reads keys.json at start
KEY=$("$BIN" keys --data "$DATA" create --relay)
"$BIN" serve --data "$DATA" --listen 127.0.0.1:0 --port-file "$PORTF" --buffer-seconds 60 >"$DATA/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 100); do [ -s "$PORTF" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$PORTF")
sleep 1
cpu_of() { awk '{print $14+$15}' /proc/$1/stat; }

# 1. latency under load
"$BIN" loadgen --target "$URL" --key "$KEY" --rate "$RATE" --duration "${SECS}s" --json > "$DATA/loadgen.json" &
LG=$!
sleep 15
curl -s -H "Authorization: Bearer $EDDY_ADMIN_TOKEN" "$URL/v1/stats" > "$DATA/stats1.json"
# 2. dashboard CPU while the node is under load
tmux -L eddybench new-session -d -s dash -x 200 -y 60 "env TERM=tmux-256color LANG=C.UTF-8 $BIN dash --connect $URL --token $EDDY_ADMIN_TOKEN"
sleep 2
DPID=$(pgrep -f "^[^ ]*eddy dash --connect $URL" | head -1); tmux -L eddybench capture-pane -p -t dash | head -3
DS=""; for _ in 1 2 3; do c0=$(cpu_of "$DPID"); sleep 10; c1=$(cpu_of "$DPID"); DS="$DS $((c1 - c0))"; done
tmux -L eddybench kill-session -t dash
tmux -L eddybench-btop new-session -d -s btop -x 200 -y 60 "env TERM=tmux-256color btop --utf-force"
sleep 2
BPID=$(pgrep -x btop | head -1)
BS=""; for _ in 1 2 3; do b0=$(cpu_of "$BPID"); sleep 10; b1=$(cpu_of "$BPID"); BS="$BS $((b1 - b0))"; done
tmux -L eddybench-btop kill-server
wait $LG
curl -s -H "Authorization: Bearer $EDDY_ADMIN_TOKEN" "$URL/v1/stats" > "$DATA/stats2.json"
HZ=$(getconf CLK_TCK)
python3 - "$DATA" "$RATE" "$HZ" "$DS" "$BS" <<'PY'
import json, sys, datetime, socket, os
d, rate, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ds = sorted(int(x) for x in sys.argv[4].split())
bs = sorted(int(x) for x in sys.argv[5].split())
s = json.load(open(f"{d}/stats1.json"))
lg = json.load(open(f"{d}/loadgen.json"))
ctd = s["clickToDashboard"]
dash = 100.0 * ds[len(ds) // 2] / hz / 10   # median of three 10 s samples
btop = 100.0 * bs[len(bs) // 2] / hz / 10
load = open("/proc/loadavg").read().split()[:3]
lines = [
  f"# eddy live figures {datetime.date.today()} ({socket.gethostname()}, {os.cpu_count()} cores, load {' '.join(load)})", "",
  "| figure | eddy | anchor | goal |", "|---|---:|---:|---|",
  f"| loadgen rate achieved | {lg.get('eventsPerSec', lg.get('events_per_sec', 0)):.0f} events/s (asked {rate}) | – | |",
  f"| click-to-dashboard p50 / p99 / max at that rate | {ctd['p50Ms']:.0f} / {ctd['p99Ms']:.0f} / {ctd['maxMs']:.0f} ms | – | p99 < 1000 ms |",
  f"| dashboard CPU, eddy dash --connect at 200×60, 1 s refresh, node under load (median of 3×10 s) | {dash:.1f}% of a core | btop, same terminal size: {btop:.1f}% | ≤ 5% |",
]
out = "\n".join(lines) + "\n"
print(out)
path = f"bench/results/{datetime.date.today()}-{socket.gethostname().split('.')[0]}-live.md"
open(path, "w").write(out)
print("wrote", path)
PY
