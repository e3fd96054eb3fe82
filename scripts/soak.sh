#!/usr/bin/env bash
# Soak: a node under steady load for a long time, with the dashboard attached; memory, open files,
# lag and ack latency must stay flat. Usage: scripts/soak.sh [minutes] [rate]
#   minutes  how long the steady load runs (default 10)
#   rate     events/s; default: half of what a 20 s `eddy loadgen --max` probe gets acknowledged
#   SOAK_SKIP_BUILD=1   use the existing .build/release/eddy
#   SOAK_OUT=path       report file (default bench/results/<today>-soak.md)
#   SOAK_KEEP=1         keep the work directory (samples, smaps tables, data) in /tmp
#   SOAK_COOLDOWN=s     keep sampling s seconds after the load stops (default 60)
#   SOAK_WRAP="cmd"     run the server under cmd (heaptrack) to attribute memory
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
  [ -n "${wrapper:-}" ] && wait "$wrapper" 2>/dev/null
  [ "${SOAK_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

export EDDY_ADMIN_TOKEN=soak-$RANDOM$RANDOM$RANDOM
key=$("$eddy" keys create --relay --data "$data") || { echo "soak: keys create failed"; exit 1; }
# SOAK_WRAP: a command the server runs under, for attributing memory (e.g. "heaptrack -o /tmp/h");
# the samples then follow the eddy process the wrapper starts, and it is stopped with SIGTERM.
# shellcheck disable=SC2086
${SOAK_WRAP:-} "$eddy" serve --data "$data" --listen 127.0.0.1:0 --port-file "$work/port" > "$work/serve.log" 2>&1 &
server=$!; wrapper=
for _ in $(seq 1 300); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ -n "${SOAK_WRAP:-}" ]; then
  wrapper=$server; server=$(pgrep -n -x eddy -P "$wrapper") || { echo "soak: no eddy under $SOAK_WRAP"; exit 1; }
fi
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg); started_utc=$(date -u +%H:%M)
tmux new-session -d -s "$session" -x 120 -y 40 "exec $eddy dash --connect $url --token $EDDY_ADMIN_TOKEN"
sleep 2
dash=$(tmux list-panes -t "$session" -F '#{pane_pid}' | head -1)
[ -n "$dash" ] && [ -d "/proc/$dash" ] || { echo "soak: dashboard did not start"; exit 1; }

# SOAK_FRESH=1 (default) generates every batch fresh, with unique event ids, as real traffic: the
# warehouse then grows by every event. SOAK_FRESH=0 cycles 16 pre-built batches per connection
# (32,000 distinct events): cheaper for loadgen, but the warehouse loads each event_id once, so it
# stays at those 32,000 rows however long the soak (the soaks before 2026-11-26 07:00 ran so).
fresh=(--fresh); loadnote="every batch generated fresh (\`--fresh\`: unique event ids, the warehouse grows by every event)"
if [ "${SOAK_FRESH:-1}" = 0 ]; then
  fresh=(); loadnote="16 pre-built batches per connection cycled (32,000 distinct events: the warehouse dedupes the rest by event_id)"
fi
"$eddy" loadgen --target "$url" --key "$key" --rate "$rate" --connections 4 --duration "${minutes}m" --json "${fresh[@]}" \
    > "$work/loadgen.json" 2> "$work/loadgen.log" &
loadgen=$!
echo "soak: loadgen pid $loadgen at $rate events/s for $minutes min; dashboard pid $dash (tmux $session)"

tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
metric() { # name [agg]: sum (default) or max over all label sets
  awk -v n="$1" -v a="${2:-sum}" '$1 == n || index($1, n "{") == 1 { v = $NF + 0; s += v; if (!c || v > m) m = v; c++ }
       END { if (!c) print "NA"; else if (a == "max") print m; else print s }' "$work/metrics.txt"
}
mib() { metric "$1" | awk '$1 == "NA" { print "NA"; next } { printf "%.1f", $1 / 1048576 }'; }
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
# Memory split (kB in /proc/PID/status, printed in MiB): RssAnon is the heap (malloc arenas, Swift
# objects, SQLite's page caches), RssFile is file pages mapped into the process (the binary and its
# libraries, and the warehouse database through SQLite's mmap), RssShmem is shared memory (the WAL
# index, eddy.sqlite-shm). smaps then splits them by mapping: db_map is the Rss of mappings of
# warehouse/eddy.sqlite (bounded by PRAGMA mmap_size per connection that maps), wal_shm of its -shm,
# heap the [heap] segment (main arena), anon_maps the other anonymous mappings (glibc's per-thread
# arenas, large malloc chunks, thread stacks), n_anon how many of those there are.
memsample() { # pid → "anon file shmem db_map wal_shm heap anon_maps n_anon" (MiB, count)
  awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} /^RssShmem:/ {s = $2}
       END { printf "%.1f %.1f %.1f", a / 1024, f / 1024, s / 1024 }' "/proc/$1/status" 2>/dev/null || printf 'NA NA NA'
  printf ' '
  awk '/^[0-9a-f]+-[0-9a-f]+ / { path = $6; anon = (NF < 6); next }
       /^Rss:/ { if (path ~ /eddy\.sqlite$/) db += $2; else if (path ~ /eddy\.sqlite-shm$/) shm += $2;
                 else if (path == "[heap]") heap += $2; else if (anon) { am += $2; if ($2 > 0) n++ } }
       END { printf "%.1f %.1f %.1f %.1f %d\n", db / 1024, shm / 1024, heap / 1024, am / 1024, n }' "/proc/$1/smaps" 2>/dev/null || echo "NA NA NA NA NA"
}
topmaps() { # pid → resident memory by mapped path (anonymous mappings together), largest 10:
  # Rss MiB, of it Anonymous MiB, mapped size MiB, mappings, path
  awk '/^[0-9a-f]+-[0-9a-f]+ / { path = (NF >= 6 ? $6 : "[anon]"); m[path]++; next }
       /^Size:/ { sz[path] += $2 } /^Rss:/ { rss[path] += $2 } /^Anonymous:/ { an[path] += $2 }
       END { for (p in rss) printf "%.1f\t%.1f\t%.1f\t%d\t%s\n", rss[p] / 1024, an[p] / 1024, sz[p] / 1024, m[p], p }' \
      "/proc/$1/smaps" 2>/dev/null | sort -t$'\t' -k1,1 -rn | head -10
}
samples=$work/samples.tsv
echo -e "t_s\tserver_rss_mb\tserver_fds\tserver_cpu_pct\tevents_per_s\tprobe_ack_p50_ms\tprobe_ack_max_ms\tack_p50_cum_ms\tack_p99_cum_ms\tlag_records\tlag_ms\twarehouse_lag_ms\tdash_rss_mb\tdash_cpu_pct\tload1\trss_anon_mb\trss_file_mb\trss_shmem_mb\tdb_map_mb\twal_shm_mb\theap_mb\tanon_maps_mb\tn_anon_maps\tdb_file_mb\tload_on\tmalloc_used_mb\tmalloc_free_mb\tlive_mem_mb\tdelivery_buf_mb\tsessions_open\tdelivery_held_mb\tsqlite_mem_mb\twh_pending_records\tchunk_pool_mb" > "$samples"
start=$(date +%s.%N)
sc0=$(cpu "$server"); dc0=$(cpu "$dash"); t0=$start
steady_n=$((minutes * 6))
# After the load stops, keep sampling for SOAK_COOLDOWN seconds (default 60): memory a node gives
# back when idle was not leaked. Those rows are in the table but in no verdict.
cooldown=${SOAK_COOLDOWN:-60}
n=$((steady_n + cooldown / 10))
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
  read -r manon mfile mshmem mdb mshm mheap mamaps mnanon <<< "$(memsample "$server")"
  # Database and WAL on disk: the most the database mapping could hold, were mmap_size unbounded.
  dbmb=$(du -smc "$data/warehouse/eddy.sqlite" "$data/warehouse/eddy.sqlite-wal" 2>/dev/null | awk 'END {print $1 + 0}')
  # Whether loadgen was still running when this sample was taken: rows after it stopped are not
  # the steady state (the last one used to read 0 events/s and fail "throughput held").
  lon=0; [ -n "$loadgen" ] && kill -0 "$loadgen" 2>/dev/null && lon=1
  echo -e "$ts\t$srss\t$sfd\t$scpu\t$(metric eddy_collector_events_per_sec)\t$pa50\t$pamax\t$(metric eddy_collector_ack_latency_p50_ms max)\t$(metric eddy_collector_ack_latency_p99_ms max)\t$(metric eddy_consumer_records_behind)\t$(metric eddy_consumer_millis_behind_latest max)\t$(metric eddy_warehouse_lag_ms max)\t$drss\t$dcpu\t$(cut -d' ' -f1 /proc/loadavg)\t$manon\t$mfile\t$mshmem\t$mdb\t$mshm\t$mheap\t$mamaps\t$mnanon\t$dbmb\t$lon\t$(mib eddy_process_heap_in_use_bytes)\t$(mib eddy_process_heap_free_bytes)\t$(mib eddy_live_memory_bytes)\t$(mib eddy_delivery_buffer_bytes)\t$(metric eddy_live_sessions_open)\t$(mib eddy_delivery_memory_bytes)\t$(mib eddy_warehouse_sqlite_memory_bytes)\t$(metric eddy_warehouse_records_pending)\t$(mib eddy_process_chunk_pool_free_bytes)" >> "$samples"
  # Resident memory by mapping, once after the warm-up and at the end.
  [ "$i" = 6 ] && topmaps "$server" > "$work/maps-first.tsv"
  [ "$i" = $((steady_n - 1)) ] && topmaps "$server" > "$work/maps-last.tsv"
  [ "$i" = "$n" ] && [ "$n" -gt "$steady_n" ] && topmaps "$server" > "$work/maps-idle.tsv"
  [ "$i" = "$steady_n" ] && tmux capture-pane -p -t "$session" > "$work/dash-screen.txt" 2>/dev/null
  tail -1 "$samples"
  sc0=$sc; dc0=$dc; t0=$now
done
[ -s "$work/dash-screen.txt" ] || tmux capture-pane -p -t "$session" > "$work/dash-screen.txt" 2>/dev/null || true
wait "$loadgen"; loadgen=
cp "$work/loadgen.json" "$work/loadgen.txt" 2>/dev/null
mkdir -p "$(dirname "$out")"
python3 - "$samples" "$out" --rate "$rate" --rate-note "$ratenote" --minutes "$minutes" \
    --loadgen "$work/loadgen.json" --screen "$work/dash-screen.txt" --machine "$(nproc) cores, $(uname -r)" \
    --maps-dir "$work" --load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --when "$(date -u +%Y-%m-%d) $started_utc–$(date -u +%H:%M) UTC" --load-note "$loadnote" <<'PY'
import argparse, json, os, statistics, sys
ap = argparse.ArgumentParser()
ap.add_argument("samples"); ap.add_argument("out")
ap.add_argument("--rate"); ap.add_argument("--rate-note"); ap.add_argument("--minutes", type=float)
ap.add_argument("--loadgen"); ap.add_argument("--screen"); ap.add_argument("--machine")
ap.add_argument("--maps-dir", default=""); ap.add_argument("--when", default="")
ap.add_argument("--load-before", default=""); ap.add_argument("--load-after", default="")
ap.add_argument("--load-note", default="")
a = ap.parse_args()
MMAP_SIZE_MB = 256  # PRAGMA mmap_size=268435456 on the warehouse writer (Warehouse.swift); readers do not map
rows = [l.rstrip("\n").split("\t") for l in open(a.samples)]
head, rows = rows[0], rows[1:]
def num(x):
    try: return float(x)
    except ValueError: return None
col = {h: [num(r[i]) if i < len(r) else None for r in rows] for i, h in enumerate(head)}
t = col["t_s"]
# The heap outside the stores that are bounded by configuration and fill over minutes: the live
# aggregates (open sessions for a 30-minute inactivity window, up to maxSessions; sketches), the
# delivery buffers (what they hold, capacity included, up to the memory budget, refilled every
# interval), the delivery chunk blocks kept free for reuse (up to 256 MiB) and SQLite (page caches,
# up to its soft heap limit). Older nodes report neither held delivery memory nor SQLite's (nor the
# chunk pool): then the buffers' bytes stand in and the others count as rest.
n = len(t)
def g(name, i): return col.get(name, [None] * n)[i]
def held(i): return g("delivery_held_mb", i) if g("delivery_held_mb", i) is not None else g("delivery_buf_mb", i)
col["rest_anon_mb"] = [None if None in (g("rss_anon_mb", i), g("live_mem_mb", i), held(i))
                       else g("rss_anon_mb", i) - g("live_mem_mb", i) - held(i) - (g("sqlite_mem_mb", i) or 0) - (g("chunk_pool_mb", i) or 0) for i in range(n)]
blocks = "▁▂▃▄▅▆▇█"
def spark(xs):
    v = [x for x in xs if x is not None]
    if not v: return "(no data)"
    lo, hi = min(v), max(v)
    return "".join(" " if x is None else blocks[0 if hi == lo else min(7, int((x - lo) / (hi - lo) * 7.999))] for x in xs)
warm = 60.0
end = a.minutes * 60
# Steady rows: loadgen still running and not within 10 s of its end (the rate in /metrics is a
# trailing window, so the sample taken as loadgen stops reads low). Cool-down rows come after.
steady = [i for i, x in enumerate(t) if x <= end - 10 and col["load_on"][i] != 0]
cool = [i for i, x in enumerate(t) if x > end]
tlast = t[steady[-1]] if steady else t[-1]
first = [i for i in steady if warm < t[i] <= warm + 60]
last = [i for i in steady if t[i] > tlast - 60]
after = [i for i in steady if t[i] > warm]
def vals(name, idx): return [col[name][i] for i in idx if name in col and col[name][i] is not None]
def med(name, idx):
    v = vals(name, idx)
    return statistics.median(v) if v else None
def mx(name, idx):
    v = vals(name, idx)
    return max(v) if v else None
def slope(name, idx):  # least squares, units per minute
    if name not in col: return None
    pts = [(t[i] / 60, col[name][i]) for i in idx if col[name][i] is not None]
    if len(pts) < 3: return None
    mt = statistics.mean(p[0] for p in pts); mv = statistics.mean(p[1] for p in pts)
    den = sum((p[0] - mt) ** 2 for p in pts)
    return sum((p[0] - mt) * (p[1] - mv) for p in pts) / den if den else None
def f(x, d=1): return "n/a" if x is None else f"{x:.{d}f}"
rate = float(a.rate)
verdicts = []  # (name, ok: True/False/None for information only, why)
def verdict(name, ok, why): verdicts.append((name, ok, why))
third = max(1, len(after) // 3)
a1, a3 = after[:third], after[-third:]
# Memory. The verdict is on RssAnon (heap); RssFile is explained by its mappings, RssShmem by the WAL index.
an1, an3 = med("rss_anon_mb", first), med("rss_anon_mb", last)
s_all, s_end = slope("rss_anon_mb", after), slope("rss_anon_mb", a3)
if an1 and an3 is not None:
    g = (an3 - an1) / an1 * 100
    ok = g < 10 or (s_end is not None and s_end <= 0.5)
    verdict("server heap (RssAnon)", ok,
            f"{f(an1)} → {f(an3)} MiB ({g:+.1f} %), slope {f(s_all, 2)} MiB/min after warm-up, {f(s_end, 2)} in the last third "
            "(flat means < +10 % after the first minute, or levelled off: ≤ 0.5 MiB/min in the last third)")
else:
    verdict("server heap (RssAnon)", False, "no samples")
r1, r3 = med("rest_anon_mb", first), med("rest_anon_mb", last)
if r1 is not None and r3 is not None and an1:
    s3 = slope("rest_anon_mb", a3)
    lv1, lv3 = med("live_mem_mb", first), med("live_mem_mb", last)
    hk = "delivery_held_mb" if vals("delivery_held_mb", last) else "delivery_buf_mb"
    db_1, db_3, dbmax = med(hk, first), med(hk, last), mx(hk, steady)
    sq1, sq3, sqmax = med("sqlite_mem_mb", first), med("sqlite_mem_mb", last), mx("sqlite_mem_mb", steady)
    cp1, cp3, cpmax = med("chunk_pool_mb", first), med("chunk_pool_mb", last), mx("chunk_pool_mb", steady)
    # The rest can be near zero (or below: held capacity counts pages not yet touched), so a
    # percentage of it means nothing: its change is judged against 10 % of the first minute's RssAnon.
    verdict("heap outside live state, delivery buffers and SQLite", (r3 - r1) < 0.1 * an1 or (s3 is not None and s3 <= 0.5),
            f"{f(r1)} → {f(r3)} MiB ({r3 - r1:+.1f} MiB; flat means a change under 10 % of the first minute's RssAnon, "
            f"{f(0.1 * an1)} MiB, or ≤ 0.5 MiB/min in the last third), slope {f(s3, 2)} MiB/min in the last third; RssAnon less the live aggregates "
            f"({f(lv1)} → {f(lv3)} MiB: open sessions {f(med('sessions_open', first), 0)} → {f(med('sessions_open', last), 0)}, "
            f"bounded by maxSessions), the delivery buffers ({'held, capacity included' if hk == 'delivery_held_mb' else 'bytes'}: "
            f"{f(db_1)} → {f(db_3)} MiB, max {f(dbmax)}, bounded by the memory budget), the chunk blocks kept free "
            f"({f(cp1)} → {f(cp3)} MiB, max {f(cpmax)}, bounded by 256 MiB) and SQLite "
            f"({f(sq1)} → {f(sq3)} MiB, max {f(sqmax)}, bounded by its soft heap limit), judged like RssAnon")
fi1, fi3 = med("rss_file_mb", first), med("rss_file_mb", last)
db1, db3, dbmax = med("db_map_mb", first), med("db_map_mb", last), mx("db_map_mb", steady)
if fi1 is not None and fi3 is not None and db1 is not None and db3 is not None:
    other1, other3 = fi1 - db1, fi3 - db3
    ok = dbmax <= MMAP_SIZE_MB + 1 and other3 <= other1 * 1.1 + 1
    verdict("server file-backed (RssFile)", ok,
            f"{f(fi1)} → {f(fi3)} MiB; of it the warehouse database mapped by SQLite {f(db1)} → {f(db3)} MiB (max {f(dbmax)}, "
            f"bounded by mmap_size = {MMAP_SIZE_MB} MiB, one mapping connection: page cache, not a leak), the rest (binary, "
            f"libraries) {f(other1)} → {f(other3)} MiB (bounded means the database mapping ≤ mmap_size and the rest flat)")
else:
    verdict("server file-backed (RssFile)", False, "no samples")
sh1, sh3 = med("rss_shmem_mb", first), med("rss_shmem_mb", last)
verdict("server shared (RssShmem)", None, f"{f(sh1)} → {f(sh3)} MiB: the WAL index (eddy.sqlite-shm, {f(med('wal_shm_mb', last))} MiB in the last minute), sized by the WAL, which checkpoints every 16384 pages")
r1, r3 = med("server_rss_mb", first), med("server_rss_mb", last)
if r1 and r3 is not None:
    verdict("server RSS (total)", None, f"{f(r1)} → {f(r3)} MiB ({(r3 - r1) / r1 * 100:+.1f} %) = RssAnon + RssFile + RssShmem; judged by its parts above")
d1, d3 = med("dash_rss_mb", first), med("dash_rss_mb", last)
if d1 and d3 is not None:
    g = (d3 - d1) / d1 * 100
    verdict("dashboard RSS", g < 10, f"{f(d1)} → {f(d3)} MiB ({g:+.1f} %; flat means < +10 % after the first minute)")
else:
    verdict("dashboard RSS", False, "no samples")
# Descriptors: medians of the first and last minute, so one sample taken while a read had a sealed
# segment open does not decide; the spike is reported.
fds = vals("server_fds", after)
f1, l1 = med("server_fds", first), med("server_fds", last)
if fds and f1 is not None and l1 is not None:
    verdict("server open files", l1 - f1 <= 2,
            f"median {f(f1, 0)} in the first minute, {f(l1, 0)} in the last; {int(min(fds))}–{int(max(fds))} over the run "
            "(flat means the last minute's median at most 2 above the first's; single spikes are reads holding a sealed segment or lake object)")
else:
    verdict("server open files", False, "no samples")
# Lag: bounded means the last third never exceeds 1.5x the first third's worst, or stays below 2 s of traffic.
for name, label, unit, floor in [("lag_records", "consumer lag (records, all consumers)", "records", 2 * rate),
                                 ("lag_ms", "consumer lag (ms, worst consumer)", "ms", 2000),
                                 ("warehouse_lag_ms", "warehouse loader lag", "ms", 2000)]:
    m1, m3 = mx(name, a1), mx(name, a3)
    if name == "lag_ms" and m1 is None and m3 is None:
        verdict(label, True, "no consumer behind in any sample"); continue
    if m1 is None or m3 is None:
        verdict(label, False, "no samples"); continue
    verdict(label, m3 <= max(1.5 * m1, floor),
            f"worst {f(m1, 0)} {unit} in the first third, {f(m3, 0)} in the last third (bounded means ≤ 1.5× or ≤ {f(floor, 0)})")
# The loader's lag is the age of the oldest pending manifest: it includes the time to load the
# burst a delivery interval produces (every partition flushes at its interval), so it grows with
# the per-row cost even while the loader keeps up. Whether it keeps up is the backlog: records
# pending, median over each third (bounded means ≤ 1.5× the first third, or ≤ one interval's input).
w1, w3 = med("wh_pending_records", a1), med("wh_pending_records", a3)
if w1 is not None and w3 is not None:
    verdict("warehouse keeps up (records pending)", w3 <= max(1.5 * w1, 60 * rate),
            f"median {f(w1, 0)} in the first third, {f(w3, 0)} in the last third (bounded means ≤ 1.5× or ≤ {f(60 * rate, 0)}, "
            "one 60 s delivery interval at the offered rate)")
p1, p3 = med("probe_ack_p50_ms", first), med("probe_ack_p50_ms", last)
if p1 is not None and p3 is not None:
    verdict("ack latency (probe median)", p3 <= max(2 * p1, 50),
            f"{f(p1, 2)} → {f(p3, 2)} ms, median of the per-sample medians (flat means the last minute ≤ 2× the first, or under 50 ms)")
ev1, ev3 = med("events_per_s", first), med("events_per_s", last)
if ev1 is not None and ev3 is not None:
    verdict("throughput held", ev3 >= 0.9 * rate, f"median {f(ev1, 0)} → {f(ev3, 0)} events/s against {rate:.0f} offered (samples while loadgen ran)")

lg = {}
try: lg = json.load(open(a.loadgen))
except Exception: pass
o = []
o.append(f"# Soak: {a.minutes:g} minutes at {rate:.0f} events/s with the dashboard attached\n")
o.append(f"`scripts/soak.sh {a.minutes:g}` (`make soak`), {a.when}. Rate: {a.rate_note}. Machine: {a.machine}, a VM shared "
         f"with other builds; load average (1, 5, 15 min) {a.load_before} before the load, {a.load_after} at the end, and "
         "sampled with every row (column load1). Server: `eddy serve` on "
         "loopback with a private data directory (4 shards at start with auto-scaling on, delivery and warehouse on, live aggregates on); load: "
         f"`eddy loadgen` native API, 4 connections, batches of 500, 320 simulated sites, {a.load_note}; dashboard: `eddy dash "
         "--connect` in a detached 120x40 tmux session, refreshing every second. Ack latency: every 10 s, 5 "
         "sequential probe requests of 100 events (curl, `POST /v1/events`) on top of the load; `ack_*_cum_ms` are "
         "the node's own quantiles, cumulative since start (bucket upper bounds), so they cannot show drift.\n")
if lg:
    o.append(f"loadgen over the run: {lg.get('eventsPerSec', 0):.0f} events/s acked, {lg.get('events', 0)} events, "
             f"ack p50 {lg.get('ackP50Ms', 0):.2f} ms, p99 {lg.get('ackP99Ms', 0):.2f} ms, max {lg.get('ackMaxMs', 0):.1f} ms, "
             f"errors {lg.get('errorsByCode') or 'none'}.\n")
o.append("<!-- notes -->\n")
o.append("## Verdict\n")
o.append("| series | flat? | evidence |\n|---|---|---|")
for n, ok, why in verdicts: o.append(f"| {n} | {'—' if ok is None else 'yes' if ok else '**NO**'} | {why} |")
o.append("\nThe first 60 s are warm-up (buffers, caches, the live aggregates' windows filling); \"first minute\" is "
         "60–120 s, \"last minute\" the final 60 s while loadgen ran (the sample taken as it stops, and the "
         f"{len(cool)} cool-down samples after it, are in the table but in no verdict); figures are medians. "
         "Rows marked — are explained, not judged.\n")
o.append("## Series (one character per 10 s sample; each line scaled to its own min…max)\n")
o.append("```")
series = [("server_rss_mb", "server RSS MiB"), ("rss_anon_mb", " RssAnon MiB"), ("heap_mb", "  [heap] MiB"),
          ("anon_maps_mb", "  anon maps MiB"), ("n_anon_maps", "  anon maps #"),
          ("malloc_used_mb", "  malloc used MiB"), ("malloc_free_mb", "  malloc free MiB"),
          ("live_mem_mb", "  live state MiB"), ("delivery_buf_mb", "  delivery buf MiB"), ("delivery_held_mb", "  delivery held MiB"), ("sqlite_mem_mb", "  SQLite MiB"), ("chunk_pool_mb", "  chunk pool MiB"), ("rest_anon_mb", "  rest MiB"),
          ("rss_file_mb", " RssFile MiB"), ("db_map_mb", "  db mmap MiB"), ("rss_shmem_mb", " RssShmem MiB"),
          ("db_file_mb", "db+WAL on disk MiB"),
          ("server_fds", "server open files"), ("server_cpu_pct", "server CPU %"),
          ("events_per_s", "events/s"), ("probe_ack_p50_ms", "probe ack p50 ms"), ("probe_ack_max_ms", "probe ack max ms"),
          ("ack_p50_cum_ms", "ack p50 ms (cum)"), ("ack_p99_cum_ms", "ack p99 ms (cum)"),
          ("lag_records", "lag records"), ("lag_ms", "lag ms"), ("warehouse_lag_ms", "warehouse lag ms"), ("wh_pending_records", "wh pending recs"),
          ("dash_rss_mb", "dash RSS MiB"), ("dash_cpu_pct", "dash CPU %"), ("load1", "load average")]
for name, label in series:
    if name not in col: continue
    v = [x for x in col[name] if x is not None]
    rng = f"{min(v):.1f}…{max(v):.1f}" if v else "n/a"
    o.append(f"{label:<18} {spark(col[name])}  {rng}")
o.append("```\n")
o.append("## First vs last minute (medians)\n")
o.append("| series | first minute | last minute | change | slope after warm-up /min |\n|---|---|---|---|---|")
for name, label in series:
    x1, x3 = med(name, first), med(name, last)
    ch = "n/a" if not x1 or x3 is None else f"{(x3 - x1) / x1 * 100:+.1f} %"
    o.append(f"| {label.strip()} | {f(x1, 2)} | {f(x3, 2)} | {ch} | {f(slope(name, after), 2)} |")
for tag, title in [("first", "after the warm-up (t = 60 s)"), ("last", "at the end of the load"), ("idle", "after the cool-down")]:
    try: lines = [l.rstrip("\n").split("\t") for l in open(os.path.join(a.maps_dir, f"maps-{tag}.tsv")) if l.strip()]
    except Exception: continue
    if not lines: continue
    o.append(f"\n## Server memory by mapping, {title} (/proc/PID/smaps, largest 10)\n")
    o.append("| Rss MiB | of it Anonymous MiB | mapped MiB | mappings | path |\n|---|---|---|---|---|")
    for l in lines: o.append("| " + " | ".join(l) + " |")
o.append("\n## Samples\n")
o.append("| " + " | ".join(head) + " |")
o.append("|" + "---|" * len(head))
for r in rows: o.append("| " + " | ".join(r) + " |")
try:
    scr = open(a.screen).read().rstrip()
    if scr:
        o.append("\n## The dashboard at the end of the load (tmux capture)\n")
        o.append("```\n" + scr + "\n```")
except Exception: pass
open(a.out, "w").write("\n".join(o) + "\n")
bad = [n for n, ok, _ in verdicts if ok is False]
print("soak verdict:", "all flat" if not bad else "NOT flat: " + ", ".join(bad))
sys.exit(1 if bad else 0)
PY
rc=$?
echo "soak: report in $out"
exit $rc
