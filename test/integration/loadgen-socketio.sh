#!/usr/bin/env bash
# nearby-loadgen --protocol socketio against the real Socket.IO server of bench/socketio (socket.io 4,
# @socket.io/redis-adapter, one Redis): 200 phones for 6 s with a 500 ms heartbeat must all stay
# online (so every ping got its pong), see no failed check and no error, and get every friend event
# of the counted window; phones with a wrong key must be refused by the server's middleware (44).
# Exit 77 (skipped) without node or bench/socketio/node_modules (npm ci there).
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, port_listening
build=${NEARBY_BUILD_ROOT:-$src/build}
loadgen=${NEARBY_LOADGEN:-$build/test/loadgen/nearby-loadgen}
graph=${NEARBY_BENCH_GRAPH:-$build/bench/nearby-bench-graph}
sio=$src/bench/socketio
redis_port=33950 sio_port=33951 users=200 friends=10
url="ws://127.0.0.1:$sio_port/socket.io/?EIO=4&transport=websocket"

if ! command -v node >/dev/null || [[ ! -d $sio/node_modules/socket.io ]]; then
    echo "skipped: needs node and 'npm ci' in $sio"
    exit 77
fi
[[ -x $graph ]] || graph=$build/bench/nearby-bench-graph
dir=$(mktemp -d /tmp/nearby-test-loadgen-socketio.XXXXXX)
sio_pid=''

cleanup() {
    if [[ -n $sio_pid ]]; then
        kill -TERM "$sio_pid" 2>/dev/null || true
        wait "$sio_pid" 2>/dev/null || true
    fi
    "$src/scripts/redis" stop --dir "$dir" --port "$redis_port" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- socketio.log (last 20 lines)"
    tail -n 20 "$dir/socketio.log" || true
    exit 1
}

# The value of field $2 in summary line $1.
field() { sed -n "s/.* $2=\([0-9.-]*\).*/\1/p" <<<"$1"; }

(
    umask 077 # nearby-loadgen refuses a key others may read
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/secret"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/wrong-secret"
)
"$graph" --users "$users" --friends "$friends" >"$dir/graph.tsv"
"$src/scripts/redis" start --dir "$dir" --port "$redis_port" >/dev/null
node "$sio/server.mjs" --port "$sio_port" --redis "redis://127.0.0.1:$redis_port" \
    --graph "$dir/graph.tsv" --secret-file "$dir/secret" --ping-interval-ms 500 \
    --ping-timeout-ms 500 >"$dir/socketio.log" 2>&1 &
sio_pid=$!
wait_until 20 "$sio_pid" port_listening "$sio_port" || fail "the Socket.IO server did not start"

# 1. A steady run: 12 heartbeats, 2000 locs/s of 10 friends each.
rc=0
out=$(timeout 30 "$loadgen" --protocol socketio --friends-file "$dir/graph.tsv" --url "$url" \
    --secret-file "$dir/secret" --users "$users" --phones "$users" --interval-ms 100 \
    --duration 6 --warmup 2 --drain-ms 1000 --spread-km 3 --report-every 6 2>"$dir/lg1.err") || rc=$?
((rc == 0)) || { cat "$dir/lg1.err"; fail "nearby-loadgen exited with $rc"; }
echo "$out"
summary=$(grep '^summary' <<<"$out") || fail "no summary"
[[ $(field "$summary" sessions) == "$users" ]] || fail "not every phone online at the end: $summary"
for f in check_failures errors reconnects dup; do
    [[ $(field "$summary" "$f") == 0 ]] || fail "$f is not 0: $summary"
done
expected=$(field "$summary" window_expected) delivered=$(field "$summary" window_delivered)
((expected > 5000)) || fail "only $expected deliveries were due: $summary"
((delivered == expected)) || fail "delivered $delivered of the $expected due"
echo "ok: $users phones, $delivered of $expected friend events of the window, no check failed"

# 2. The wrong key: the server's middleware refuses each connect with 44.
out=$(timeout 20 "$loadgen" --protocol socketio --friends-file "$dir/graph.tsv" --url "$url" \
    --secret-file "$dir/wrong-secret" --users "$users" --phones 5 --duration 2 \
    --report-every 2 2>"$dir/lg2.err") || true
summary=$(grep '^summary' <<<"$out") || fail "no summary from the refused run"
[[ $(field "$summary" sessions) == 0 ]] || fail "phones with a wrong key came online: $summary"
grep -q 'refused the connect: bad_token' "$dir/lg2.err" || { cat "$dir/lg2.err"; fail "no refusal seen"; }
echo "ok: a wrong key is refused (44 bad_token)"
