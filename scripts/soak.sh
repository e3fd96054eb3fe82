#!/usr/bin/env bash
# Soak: a node under steady load for a long time, with the dashboard attached; memory, open files,
# lag and ack latency must stay flat. Usage: scripts/soak.sh [minutes] [rate]
#   minutes  how long the steady load runs (default 10)
#   rate     events/s; default: half of what a 20 s `eddy loadgen --max` probe gets acknowledged
#   SOAK_SKIP_BUILD=1   use the existing .build/release/eddy
#   SOAK_OUT=path       report file (default bench/results/<today>-soak.md)
# Every 10 s it samples the server (VmRSS and open files from /proc, CPU from /proc/PID/stat), the
# node's own figures from GET /metrics (events/s, consumer lag, warehouse lag; its ack latency
# quantiles are cumulative since start, so they are kept but cannot show drift), the ack latency of
# 5 probe requests of 100 events sent right then with curl (median and max: the windowed figure),
# and the dashboard process (`eddy dash` in a detached 120x40 tmux
# session, RSS and CPU). The report (table, a sparkline per series, first vs last minute, verdicts)
# is written by the Python at the end of this file. Exit status is non-zero when a verdict fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
minutes=${1:-10}
rate=${2:-}
out=${SOAK_OUT:-bench/results/$(date -u +%Y-%m-%d)-soak.md}
eddy=$PWD/.build/release/eddy

if [ "${SOAK_SKIP_BUILD:-0}" != 1 ]; then
  echo "soak: building release"; swift build -c release --product eddy 2>&1 | tail -1 || exit 1
fi
[ -x "$eddy" ] || { echo "soak: no $eddy"; exit 1; }

work=$(mktemp -d /tmp/eddy-soak.XXXXXX)
data=$work/data
session=eddy-soak-$$
server=; loadgen=
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null
  [ -n "$loadgen" ] && kill "$loadgen" 2>/dev/null
  [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
  [ "${SOAK_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

export EDDY_ADMIN_TOKEN=soak-$RANDOM$RANDOM$RANDOM
key=$("$eddy" keys create --relay --data "$data") || { echo "soak: keys create failed"; exit 1; }
"$eddy" serve --data "$data" --listen 127.0.0.1:0 --port-file "$work/port" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "soak: server did not start"; tail "$work/serve.log"; exit 1; }
url=http://127.0.0.1:$(cat "$work/port")
for _ in $(seq 1 100); do curl -sf "$url/readyz" > /dev/null && break; sleep 0.1; done
echo "soak: server pid $server at $url, data $data"

if [ -z "$rate" ]; then
  echo "soak: probing the maximum rate (20 s, --max, 4 connections)"
  probe=$("$eddy" loadgen --target "$url" --key "$key" --max --connections 4 --duration 20s --json 2> "$work/probe.log")
  max=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1])["eventsPerSec"]))' "$probe") || { echo "soak: probe failed"; cat "$work/probe.log"; exit 1; }
  rate=$((max / 2)); ratenote="half of the probed maximum $max events/s (20 s \`eddy loadgen --max --connections 4\`)"
  echo "soak: probe acked $max events/s; soaking at $rate"
  # Let the consumers drain the probe's backlog before the soak starts (up to 5 min): a backlog
  # left over would count as lag. How long that takes is itself a figure: the end-to-end drain rate.
  drained=no
  for w in $(seq 1 60); do
    sleep 5
    behind=$(curl -sf -m 5 "$url/metrics" | awk '$1 ~ /^eddy_consumer_records_behind/ { s += $NF } END { print s + 0 }')
    if [ "${behind:-0}" -lt "$rate" ]; then drained="yes, after $((w * 5)) s"; break; fi
  done
  [ "$drained" = no ] && drained="no: still $behind records behind after 300 s"
  ratenote="$ratenote; probe backlog drained: $drained"
  echo "soak: probe backlog drained: $drained"
else
  ratenote="given on the command line"
fi

tmux new-session -d -s "$session" -x 120 -y 40 "exec $eddy dash --connect $url --token $EDDY_ADMIN_TOKEN"
sleep 2
dash=$(tmux list-panes -t "$session" -F '#{pane_pid}' | head -1)
[ -n "$dash" ] && [ -d "/proc/$dash" ] || { echo "soak: dashboard did not start"; exit 1; }

"$eddy" loadgen --target "$url" --key "$key" --rate "$rate" --connections 4 --duration "${minutes}m" --json \
    > "$work/loadgen.json" 2> "$work/loadgen.log" &
loadgen=$!
echo "soak: loadgen pid $loadgen at $rate events/s for $minutes min; dashboard pid $dash (tmux $session)"

tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
metric() { # name [agg]: sum (default) or max over all label sets
  awk -v n="$1" -v a="${2:-sum}" '$1 == n || index($1, n "{") == 1 { v = $NF + 0; s += v; if (v > m) m = v; c++ }
       END { if (!c) print "NA"; else if (a == "max") print m; else print s }' "$work/metrics.txt"
}
# Probe body: 100 events of a site of its own, timestamps of the start of the soak (valid for 24 h).
python3 - "$work/probe.ndjson" <<'PY'
import sys, time
ms = int(time.time() * 1000)
open(sys.argv[1], "w").write("".join(
    f'{{"site_id":"soak-probe","type":"page_view","ts":{ms},"session_id":"probe-{i % 7}","url":"https://probe.example/p/{i}"}}\n'
    for i in range(100)))
PY
probe_ack() { # prints "median max" ms of 5 sequential POST /v1/events of the probe body
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -m 10 -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $key" \
         -H 'Content-Type: application/x-ndjson' --data-binary @"$work/probe.ndjson" "$url/v1/events"
  done | awk '$1 == 200 { printf "%.3f\n", $2 * 1000 }' | sort -n | awk '{ v[++n] = $1 } END {
      if (!n) { print "NA NA"; exit } printf "%.2f %.2f\n", v[int((n + 1) / 2)], v[n] }'
}
samples=$work/samples.tsv
echo -e "t_s\tserver_rss_mb\tserver_fds\tserver_cpu_pct\tevents_per_s\tprobe_ack_p50_ms\tprobe_ack_max_ms\tack_p50_cum_ms\tack_p99_cum_ms\tlag_records\tlag_ms\twarehouse_lag_ms\tdash_rss_mb\tdash_cpu_pct\tload1" > "$samples"
start=$(date +%s.%N)
sc0=$(cpu "$server"); dc0=$(cpu "$dash"); t0=$start
n=$((minutes * 6))
for i in $(seq 1 "$n"); do
  next=$(python3 -c "print(max(0, $start + $i * 10 - $(date +%s.%N)))"); sleep "$next"
  now=$(date +%s.%N)
  kill -0 "$server" 2>/dev/null || { echo "soak: server died"; tail "$work/serve.log"; exit 1; }
  curl -sf -m 5 "$url/metrics" > "$work/metrics.txt" || : > "$work/metrics.txt"
  read -r pa50 pamax <<< "$(probe_ack)"
  sc=$(cpu "$server"); dc=$(cpu "$dash")
  dt=$(python3 -c "print($now - $t0)")
  row=$(python3 - "$i" "$now" "$start" "$sc0" "$sc" "$dc0" "$dc" "$dt" "$tick" <<PY
import sys
i, now, start, sc0, sc, dc0, dc, dt, tick = sys.argv[1:]
dt = float(dt); tick = float(tick)
print(f"{float(now) - float(start):.0f}", f"{(float(sc) - float(sc0)) / tick / dt * 100:.1f}",
      f"{(float(dc) - float(dc0)) / tick / dt * 100:.1f}")
PY
)
  read -r ts scpu dcpu <<< "$row"
  srss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
  sfd=$(ls "/proc/$server/fd" | wc -l)
  drss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$dash/status" 2>/dev/null || echo NA)
  echo -e "$ts\t$srss\t$sfd\t$scpu\t$(metric eddy_collector_events_per_sec)\t$pa50\t$pamax\t$(metric eddy_collector_ack_latency_p50_ms max)\t$(metric eddy_collector_ack_latency_p99_ms max)\t$(metric eddy_consumer_records_behind)\t$(metric eddy_consumer_millis_behind_latest max)\t$(metric eddy_warehouse_lag_ms max)\t$drss\t$dcpu\t$(cut -d' ' -f1 /proc/loadavg)" >> "$samples"
  tail -1 "$samples"
  sc0=$sc; dc0=$dc; t0=$now
done
tmux capture-pane -p -t "$session" > "$work/dash-screen.txt" 2>/dev/null || true
wait "$loadgen"; loadgen=
cp "$work/loadgen.json" "$work/loadgen.txt" 2>/dev/null
mkdir -p "$(dirname "$out")"
python3 - "$samples" "$out" --rate "$rate" --rate-note "$ratenote" --minutes "$minutes" \
    --loadgen "$work/loadgen.json" --screen "$work/dash-screen.txt" --machine "$(nproc) cores, $(uname -r)" <<'PY'
import argparse, json, statistics, sys
ap = argparse.ArgumentParser()
ap.add_argument("samples"); ap.add_argument("out")
ap.add_argument("--rate"); ap.add_argument("--rate-note"); ap.add_argument("--minutes", type=float)
ap.add_argument("--loadgen"); ap.add_argument("--screen"); ap.add_argument("--machine")
ap.add_argument("--load-before", default="")
a = ap.parse_args()
rows = [l.rstrip("\n").split("\t") for l in open(a.samples)]
head, rows = rows[0], rows[1:]
def num(x):
    try: return float(x)
    except ValueError: return None
col = {h: [num(r[i]) for r in rows] for i, h in enumerate(head)}
t = col["t_s"]
blocks = "▁▂▃▄▅▆▇█"
def spark(xs):
    v = [x for x in xs if x is not None]
    if not v: return "(no data)"
    lo, hi = min(v), max(v)
    return "".join(" " if x is None else blocks[0 if hi == lo else min(7, int((x - lo) / (hi - lo) * 7.999))] for x in xs)
warm = 60.0
first = [i for i, x in enumerate(t) if warm < x <= warm + 60]
last = [i for i, x in enumerate(t) if x > t[-1] - 60]
def mean(name, idx):
    v = [col[name][i] for i in idx if col[name][i] is not None]
    return statistics.mean(v) if v else None
def mx(name, idx):
    v = [col[name][i] for i in idx if col[name][i] is not None]
    return max(v) if v else None
def f(x, d=1): return "n/a" if x is None else f"{x:.{d}f}"
after = [i for i, x in enumerate(t) if x > warm]
rate = float(a.rate)
verdicts = []
def verdict(name, ok, why):
    verdicts.append((name, ok, why))
# RSS: growth first → last minute after warmup below 10 %.
for name, label in [("server_rss_mb", "server RSS"), ("dash_rss_mb", "dashboard RSS")]:
    f1, l1 = mean(name, first), mean(name, last)
    if f1 and l1:
        g = (l1 - f1) / f1 * 100
        verdict(label, g < 10, f"{f(f1)} → {f(l1)} MiB ({g:+.1f} %; flat means < +10 % after the first minute)")
    else:
        verdict(label, False, "no samples")
fds = [col["server_fds"][i] for i in after]
spread = max(fds) - min(fds)
f1, l1 = mean("server_fds", first), mean("server_fds", last)
verdict("server open files", spread <= 8 and l1 - f1 <= 2,
        f"{int(min(fds))}–{int(max(fds))} over the run, first minute {f(f1)}, last minute {f(l1)} (flat means a spread ≤ 8 with no upward drift)")
# Lag: bounded means the last third never exceeds 1.5x the first third's worst, or stays below 2 s of traffic.
third = max(1, len(after) // 3)
a1, a3 = after[:third], after[-third:]
for name, label, unit, floor in [("lag_records", "consumer lag (records, all consumers)", "records", 2 * rate),
                                 ("lag_ms", "consumer lag (ms, worst consumer)", "ms", 2000),
                                 ("warehouse_lag_ms", "warehouse loader lag", "ms", 2000)]:
    m1, m3 = mx(name, a1), mx(name, a3)
    if m1 is None or m3 is None:
        verdict(label, False, "no samples"); continue
    verdict(label, m3 <= max(1.5 * m1, floor),
            f"worst {f(m1, 0)} {unit} in the first third, {f(m3, 0)} in the last third (bounded means ≤ 1.5× or ≤ {f(floor, 0)})")
p1, p3 = mean("probe_ack_p50_ms", first), mean("probe_ack_p50_ms", last)
if p1 is not None and p3 is not None:
    verdict("ack latency (probe median)", p3 <= max(2 * p1, 50),
            f"{f(p1, 2)} → {f(p3, 2)} ms, mean of the per-sample medians (flat means the last minute ≤ 2× the first, or under 50 ms)")
ev1, ev3 = mean("events_per_s", first), mean("events_per_s", last)
if ev1 is not None and ev3 is not None:
    verdict("throughput held", ev3 >= 0.9 * rate, f"{f(ev1, 0)} → {f(ev3, 0)} events/s against {rate:.0f} offered")

lg = {}
try: lg = json.load(open(a.loadgen))
except Exception: pass
o = []
o.append(f"# Soak: {a.minutes:g} minutes at {rate:.0f} events/s with the dashboard attached\n")
o.append(f"`scripts/soak.sh {a.minutes:g}` (`make soak`). Rate: {a.rate_note}. Machine: {a.machine}, a VM shared "
         "with other builds: the load average is sampled with every row (column load1). Server: `eddy serve` on "
         "loopback with a private data directory (4 shards at start with auto-scaling on, delivery and warehouse on, live aggregates on); load: "
         "`eddy loadgen` native API, 4 connections, batches of 500, 320 simulated sites; dashboard: `eddy dash "
         "--connect` in a detached 120x40 tmux session, refreshing every second. Ack latency: every 10 s, 5 "
         "sequential probe requests of 100 events (curl, `POST /v1/events`) on top of the load; `ack_*_cum_ms` are "
         "the node's own quantiles, cumulative since start (bucket upper bounds), so they cannot show drift.\n")
if lg:
    o.append(f"loadgen over the run: {lg.get('eventsPerSec', 0):.0f} events/s acked, {lg.get('events', 0)} events, "
             f"ack p50 {lg.get('ackP50Ms', 0):.2f} ms, p99 {lg.get('ackP99Ms', 0):.2f} ms, max {lg.get('ackMaxMs', 0):.1f} ms, "
             f"errors {lg.get('errorsByCode') or 'none'}.\n")
o.append("## Verdict\n")
o.append("| series | flat? | evidence |\n|---|---|---|")
for n, ok, why in verdicts: o.append(f"| {n} | {'yes' if ok else '**NO**'} | {why} |")
o.append("\nThe first 60 s are warm-up (buffers, caches, the live aggregates' windows filling); \"first minute\" is "
         "60–120 s, \"last minute\" the final 60 s.\n")
o.append("## Series (one character per 10 s sample; each line scaled to its own min…max)\n")
o.append("```")
series = [("server_rss_mb", "server RSS MiB"), ("server_fds", "server open files"), ("server_cpu_pct", "server CPU %"),
          ("events_per_s", "events/s"), ("probe_ack_p50_ms", "probe ack p50 ms"), ("probe_ack_max_ms", "probe ack max ms"),
          ("ack_p50_cum_ms", "ack p50 ms (cum)"), ("ack_p99_cum_ms", "ack p99 ms (cum)"),
          ("lag_records", "lag records"), ("lag_ms", "lag ms"), ("warehouse_lag_ms", "warehouse lag ms"),
          ("dash_rss_mb", "dash RSS MiB"), ("dash_cpu_pct", "dash CPU %"), ("load1", "load average")]
for name, label in series:
    v = [x for x in col[name] if x is not None]
    rng = f"{min(v):.1f}…{max(v):.1f}" if v else "n/a"
    o.append(f"{label:<18} {spark(col[name])}  {rng}")
o.append("```\n")
o.append("## First vs last minute (means)\n")
o.append("| series | first minute | last minute | change |\n|---|---|---|---|")
for name, label in series:
    x1, x3 = mean(name, first), mean(name, last)
    ch = "n/a" if not x1 or x3 is None else f"{(x3 - x1) / x1 * 100:+.1f} %"
    o.append(f"| {label} | {f(x1, 2)} | {f(x3, 2)} | {ch} |")
o.append("\n## Samples\n")
o.append("| " + " | ".join(head) + " |")
o.append("|" + "---|" * len(head))
for r in rows: o.append("| " + " | ".join(r) + " |")
try:
    scr = open(a.screen).read().rstrip()
    if scr:
        o.append("\n## The dashboard at the end of the run (tmux capture)\n")
        o.append("```\n" + scr + "\n```")
except Exception: pass
open(a.out, "w").write("\n".join(o) + "\n")
bad = [n for n, ok, _ in verdicts if not ok]
print("soak verdict:", "all flat" if not bad else "NOT flat: " + ", ".join(bad))
sys.exit(1 if bad else 0)
PY
rc=$?
echo "soak: report in $out"
exit $rc
