#!/bin/sh
# Captures what a person sees from `floodgate bench`, with and without a terminal, into
# test-artifacts/screens/: bench-tty-*.txt (tmux capture-pane mid-run, during teardown, at the end)
# and bench-pipe.txt (stderr + stdout when not a terminal, as in CI). Needs tmux; run after `npm run build`.
# Usage: sh scripts/capture-bench.sh [port]   (starts its own gateway on 127.0.0.1:port, default 18414)
set -eu
cd "$(dirname "$0")/.."
PORT=${1:-18414}
OUT=test-artifacts/screens
mkdir -p "$OUT"
SOCK=fg-capture-$$
node dist/cli/main.js serve --host 127.0.0.1 --port "$PORT" --max-connections 3000 --log-format pretty >"$OUT/serve.txt" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; tmux -L $SOCK kill-server 2>/dev/null || true' EXIT
sleep 2
BENCH="node dist/cli/main.js bench ws://127.0.0.1:$PORT/ -c 4000 -r 500/s -d 3s"

# 1. no terminal: one progress line every 5 s on stderr, then the summary
$BENCH >"$OUT/bench-pipe.txt" 2>&1 || true

# 2. a terminal (tmux): the live line redrawn in place, "closing …" during teardown
tmux -L "$SOCK" new-session -d -s bench -x 160 -y 45 "$BENCH; sleep 600"
# mid-run: the first progress line plus a few seconds (a busy machine starts slowly)
i=0
while [ $i -lt 150 ] && ! tmux -L "$SOCK" capture-pane -p -t bench | grep -q '^\[[0-9.]* s /'; do sleep 0.2; i=$((i+1)); done
sleep 3
tmux -L "$SOCK" capture-pane -p -t bench >"$OUT/bench-tty-live.txt"
i=0
while [ $i -lt 300 ] && ! tmux -L "$SOCK" capture-pane -p -t bench | grep -Eq 'closing|ending:'; do sleep 0.2; i=$((i+1)); done
tmux -L "$SOCK" capture-pane -p -t bench >"$OUT/bench-tty-closing.txt"
i=0
while [ $i -lt 240 ] && ! tmux -L "$SOCK" capture-pane -p -t bench | grep -q Diagnosis; do sleep 0.5; i=$((i+1)); done
tmux -L "$SOCK" capture-pane -p -t bench >"$OUT/bench-tty-end.txt"
echo "wrote $OUT/bench-pipe.txt $OUT/bench-tty-live.txt $OUT/bench-tty-closing.txt $OUT/bench-tty-end.txt"
