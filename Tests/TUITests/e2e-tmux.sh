#!/usr/bin/env bash
# End-to-end check of the dashboard in a real terminal (tmux 3.x) before the pipeline exists:
# runs DashboardE2ETests.testInteractiveUnderTmux (fixture data, Tests only) at 120x40, drives it
# with keys, and checks what is on screen. Usage: Tests/TUITests/e2e-tmux.sh [capture-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.build/debug/eddyPackageTests.xctest
[ -x "$BIN" ] || { echo "build tests first: swift build --build-tests"; exit 2; }
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
S=eddy-e2e-$$
tmux() { command tmux -L "$S" "$@"; }
fail() { echo "FAIL: $*"; tmux capture-pane -p -t $S > "$OUT/failure.txt" 2>/dev/null || true; tmux kill-session -t $S 2>/dev/null || true; exit 1; }
cap() { tmux capture-pane -p -t $S > "$OUT/$1.txt"; cat "$OUT/$1.txt"; }
waitfor() { # text, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do tmux capture-pane -p -t $S | grep -qF -- "$1" && return 0; sleep 0.1; done
  fail "did not see '$1'"
}
tmux new-session -d -s $S -x 120 -y 40 "env EDDY_TUI_E2E=1 LANG=C.UTF-8 TERM=tmux-256color $BIN TUITests.DashboardE2ETests/testInteractiveUnderTmux; echo EXIT=\$?; sleep 30"
waitfor "Sites 320" 20
waitfor "HOT" 5
waitfor "Delivery buffers" 5
cap overview >/dev/null
grep -q "shard-0002" "$OUT/overview.txt" || fail "shard strip"
grep -q "lake-events" "$OUT/overview.txt" || fail "buffer gauges"
tmux send-keys -t $S Enter
waitfor "Overview › shop-seoul" 5
waitfor "events per second" 5
cap site >/dev/null
tmux send-keys -t $S Escape
waitfor "Enter open" 5
tmux send-keys -t $S 2
waitfor "Shards of clickstream" 5
cap shards >/dev/null
tmux send-keys -t $S 3
waitfor "Buffers" 5
cap delivery >/dev/null
tmux send-keys -t $S 4
waitfor "SQL (editing)" 5
tmux send-keys -t $S "SELECT site_id, count(*) FROM events GROUP BY 1" C-r
waitfor "running" 5
waitfor "3 rows" 5
waitfor "docs-oslo" 5
cap query >/dev/null
tmux send-keys -t $S c
waitfor "Chart: site_id by events" 5
tmux send-keys -t $S i C-u "SELECT fail" C-r
waitfor "no such table: fail" 5
tmux send-keys -t $S C-r
waitfor "running" 5
tmux send-keys -t $S C-c
waitfor "cancelled" 5
tmux send-keys -t $S Escape Escape ':' 'theme nord' Enter
waitfor "theme nord" 5
tmux send-keys -t $S '?'
waitfor "Keys (any key closes)" 5
cap help >/dev/null
tmux send-keys -t $S x
tmux resize-window -t $S -x 70 -y 20
waitfor "terminal too small" 5
cap small >/dev/null
tmux resize-window -t $S -x 100 -y 30
waitfor "Sites 320" 5
cap resized >/dev/null
tmux send-keys -t $S q
waitfor "EXIT=0" 10
cap exit >/dev/null
# the terminal is usable after exit: no alternate screen left, the shell line is visible
tmux send-keys -t $S C-c
tmux kill-server 2>/dev/null || true
echo "PASS (captures in $OUT)"
