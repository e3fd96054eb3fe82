#!/usr/bin/env bash
# End-to-end: the real `eddy demo --seed 1` under tmux at 120x40. Waits for live data, checks
# the overview (sites, shard lag, buffers), drills into a site, runs a query in the query pane,
# switches theme, resizes, quits, and checks the terminal is usable afterwards.
# Usage: scripts/test-demo-tmux.sh [capture-dir]      (needs a built binary: swift build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EDDY_BIN:-$(swift build --show-bin-path)/eddy}
[ -x "$BIN" ] || { echo "build first: swift build"; exit 2; }
OUT=${1:-$(mktemp -d)}
DATA=$(mktemp -d)
mkdir -p "$OUT"
S=eddy-demo-e2e-$$
tmux() { command tmux -L "$S" "$@"; }
cleanup() { tmux kill-server 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tmux capture-pane -p -t $S > "$OUT/failure.txt" 2>/dev/null || true; cat "$OUT/failure.txt" 2>/dev/null | head -50; tail -20 "$DATA/eddy.log" 2>/dev/null; exit 1; }
cap() { tmux capture-pane -p -t $S > "$OUT/$1.txt"; }
waitfor() { # text, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do tmux capture-pane -p -t $S | grep -qF -- "$1" && return 0; sleep 0.1; done
  fail "did not see '$1'"
}
screen_has() { tmux capture-pane -p -t $S | grep -qE -- "$1"; }

tmux new-session -d -s $S -x 120 -y 40 "env LANG=C.UTF-8 TERM=tmux-256color $BIN demo --seed 1 --rate ${EDDY_E2E_RATE:-400} --buffer-seconds 3 --listen off --data $DATA; echo EXIT=\$?; sleep 60"
waitfor "─ Sites " 30
# live data: events/s moves off zero and the first site row has a rate
for _ in $(seq 1 100); do screen_has '  1 [a-z]' && break; sleep 0.2; done
screen_has '  1 [a-z]' || fail "no site rows"
waitfor "Shards 4" 10
cap overview
grep -q "live" "$OUT/overview.txt" || fail "shard strip has no consumer lag column"
grep -qE "Delivery|buffers" "$OUT/overview.txt" || fail "no delivery panel"
site=$(grep -oE '^│ +1 [a-z0-9._-]+' "$OUT/overview.txt" | awk '{print $3}' | head -1)
[ -n "$site" ] || fail "could not read the top site"
tmux send-keys -t $S Enter
waitfor "› $site" 15
cap site
tmux send-keys -t $S Escape
waitfor "Enter open" 15
sleep 1.5
tmux send-keys -t $S 2
waitfor "Shards of clickstream" 15
cap shards
sleep 1
tmux send-keys -t $S 4
waitfor "SQL" 15
# a named query over the warehouse's rollups: wait until delivery and the loader have put rows there
for _ in $(seq 1 20); do
  tmux send-keys -t $S F6; sleep 0.3; tmux send-keys -t $S C-r; sleep 2
  screen_has "[1-9][0-9]* rows" && break
done
screen_has "[1-9][0-9]* rows" || fail "the query pane never showed rows"
cap query
tmux send-keys -t $S Escape; sleep 1.5; tmux send-keys -t $S ':' 'theme nord' Enter
waitfor "theme nord" 15
tmux resize-window -t $S -x 70 -y 20
waitfor "terminal too small" 10
tmux resize-window -t $S -x 120 -y 40
waitfor "1 Overview" 10
tmux send-keys -t $S 1
waitfor "─ Sites " 15
tmux send-keys -t $S q
waitfor "EXIT=0" 15
cap exit
# the alternate screen is gone and the shell line is readable
grep -q "EXIT=0" "$OUT/exit.txt" || fail "no clean exit"
echo "demo-e2e: 1 passed, 0 failed (captures in $OUT)"
