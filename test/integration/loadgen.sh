#!/usr/bin/env bash
# nearby-loadgen against a real cluster (ZooKeeper, 3 Redis pub/sub nodes, the cache, PostgreSQL,
# two gateways): 500 phones for 8 s must see no failed check, no error, and pushes with p99
# under 1 s; then a second run in which gateway 0 is stopped with SIGTERM 3 s in, and its phones
# must reconnect to gateway 1 and be back online by the end.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok
build=${NEARBY_BUILD_ROOT:-$src/build}
loadgen=${NEARBY_LOADGEN:-$build/test/loadgen/nearby-loadgen}
export NEARBY_BUILD=$build # scripts/cluster finds ringctl there
dir=$(mktemp -d /tmp/nearby-test-loadgen.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir"
zk_port=22311 redis_base=26700 pg_port=25472 gw_ports=(28181 28182)
users=500
gw_pids=() lg_pid=''

cleanup() {
    [ -n "$lg_pid" ] && kill -TERM "$lg_pid" 2>/dev/null || true
    [ -n "$lg_pid" ] && wait "$lg_pid" 2>/dev/null || true
    for pid in "${gw_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    for i in 0 1; do echo "--- gw$i.log (last 20 lines)"; tail -n 20 "$dir/gw$i.log" || true; done
    exit 1
}

# The value of field $2 in summary line $1.
field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"; }

"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 3 --zk-port "$zk_port" --zk-tick-ms 500 \
    --redis-base-port "$redis_base" --pg-port "$pg_port" --gateways 0 >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }
# Superuser (seeding, checks) and the gateways' own role, passwords in DIR/pgpass.
export PGPASSFILE=$dir/pgpass
pg="host=127.0.0.1 port=$pg_port user=postgres dbname=nearby"
pg_gateway="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"
"$src/scripts/migrate" --pg "$pg" >/dev/null
"$src/scripts/seed-graph" --users "$users" --avg-friends 20 --pg "$pg" >/dev/null

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/secret"
chmod 600 "$dir/secret"
for i in 0 1; do
    "$build/gateway/nearby-gateway" --listen "127.0.0.1:${gw_ports[$i]}" --id "gw$i" \
        --zk "127.0.0.1:$zk_port" --cache "127.0.0.1:$redis_base" --pg "$pg_gateway" \
        --jwt-secret-file "$dir/secret" \
        --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
        --zk-auth-file "$dir/secrets/zk-gateway.auth" --loc-rate 20 --loc-burst 20 --drain-seconds 1 \
        --ip-max-conns 0 --ip-handshake-rate 0 \
        >"$dir/gw$i.log" 2>&1 &
    gw_pids+=($!)
done
for port in "${gw_ports[@]}"; do
    wait_until 10 "" http_ok "http://127.0.0.1:$port/healthz" || fail "gateway on $port never became healthy"
done

urls=(--url "ws://127.0.0.1:${gw_ports[0]}/ws" --url "ws://127.0.0.1:${gw_ports[1]}/ws")

# 1. A steady run: every phone online, friends close together, so pushes must flow.
rc=0
timeout 60 "$loadgen" "${urls[@]}" --secret-file "$dir/secret" --users "$users" --phones "$users" \
    --interval-ms 1000 --duration 8 --spread-km 3 >"$dir/run1.out" 2>"$dir/run1.err" || rc=$?
cat "$dir/run1.out"
head -n 20 "$dir/run1.err"
summary=$(grep '^summary ' "$dir/run1.out" || true)
[ "$rc" -eq 0 ] || fail "run 1: nearby-loadgen exited $rc"
[ -n "$summary" ] || fail "run 1: no summary line"
[ "$(field "$summary" check_failures)" = 0 ] || fail "run 1: check failures"
[ "$(field "$summary" errors)" = 0 ] || fail "run 1: errors"
[ "$(field "$summary" sessions)" = "$users" ] || fail "run 1: sessions is not $users"
[ "$(field "$summary" pushes)" -gt 0 ] || fail "run 1: no pushes"
[ "$(field "$summary" latency_samples)" -gt 0 ] || fail "run 1: no latency samples"
[ "$(field "$summary" p99_ms)" -lt 1000 ] || fail "run 1: p99 of $(field "$summary" p99_ms) ms"

# 2. Gateway 0 drains on SIGTERM 3 s in: its phones (the odd users, 250) get 1001 and
# reconnect to the next --url, gateway 1; by the end all 500 are online again.
"$loadgen" "${urls[@]}" --secret-file "$dir/secret" --users "$users" --phones "$users" \
    --interval-ms 1000 --duration 10 --spread-km 3 --seed 2 >"$dir/run2.out" 2>"$dir/run2.err" &
lg_pid=$!
sleep 3
kill -TERM "${gw_pids[0]}"
gw0_rc=0
for _ in $(seq 100); do kill -0 "${gw_pids[0]}" 2>/dev/null || break; sleep 0.1; done
kill -0 "${gw_pids[0]}" 2>/dev/null && fail "gateway 0 still runs 10 s after SIGTERM"
wait "${gw_pids[0]}" || gw0_rc=$?
gw_pids=("${gw_pids[1]}")
[ "$gw0_rc" -eq 0 ] || fail "gateway 0 exited $gw0_rc on SIGTERM"
rc=0
for _ in $(seq 300); do kill -0 "$lg_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$lg_pid" 2>/dev/null && fail "nearby-loadgen still runs 30 s after its --duration"
wait "$lg_pid" || rc=$?
lg_pid=''
cat "$dir/run2.out"
head -n 20 "$dir/run2.err"
summary=$(grep '^summary ' "$dir/run2.out" || true)
[ "$rc" -eq 0 ] || fail "run 2: nearby-loadgen exited $rc"
[ -n "$summary" ] || fail "run 2: no summary line"
[ "$(field "$summary" check_failures)" = 0 ] || fail "run 2: check failures"
[ "$(field "$summary" reconnects)" -ge $((users / 2)) ] ||
    fail "run 2: $(field "$summary" reconnects) reconnects, want >= $((users / 2))"
[ "$(field "$summary" sessions)" = "$users" ] || fail "run 2: sessions is not $users at the end"
echo "loadgen test: ok"
