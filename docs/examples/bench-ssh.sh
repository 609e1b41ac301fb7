#!/bin/sh
# `floodgate bench` from several machines over ssh as one run: segment i of N on the i-th host,
# a Redis barrier for the start, then one merged run and report on this machine.
# See docs/bench.md, "Many machines". Every host needs floodgate and a route to the target and Redis.
#
#   HOSTS="load1 load2 load3" TARGET=ws://gw.example:8080/ REDIS=redis://redis.example:6379 \
#   CONNECTIONS=150000 RATE=1500/s HOLD=60s ./bench-ssh.sh
# BENCH_FLAGS adds flags to every segment (e.g. "-w 4 --source-ips 10.0.0.1-10.0.0.40").
set -eu
: "${HOSTS:?list the load hosts}" "${TARGET:?ws://host:port/ of the server}" "${REDIS:?redis://host:port reachable by every host}"
CONNECTIONS=${CONNECTIONS:-10000}
RATE=${RATE:-1000/s}
HOLD=${HOLD:-30s}
SSH=${SSH:-ssh}
RUN_ID=${RUN_ID:-run-$(date -u +%Y%m%dT%H%M%SZ)}
N=$(echo $HOSTS | wc -w)

i=0
pids=""
for host in $HOSTS; do
  i=$((i + 1))
  $SSH "$host" floodgate bench "$TARGET" -c "$CONNECTIONS" --rate "$RATE" -d "$HOLD" --teardown reset \
    --segment "$i/$N" --sync "$REDIS/$RUN_ID" --label "$host" ${BENCH_FLAGS:-} >"$RUN_ID-$host.log" 2>&1 &
  pids="$pids $!"
done
failed=0
for pid in $pids; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { echo "a segment failed: see $RUN_ID-*.log" >&2; exit 1; }

floodgate bench merge --from "$REDIS/$RUN_ID" --out "$RUN_ID.json" --report "$RUN_ID.html"
