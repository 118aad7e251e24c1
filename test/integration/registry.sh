#!/usr/bin/env bash
# Gateway registration in ZooKeeper, seen through `ringctl status --json`: address, applied
# epoch, dead nodes; gone at once on drain, after the session timeout on kill -9, back after
# a ZooKeeper restart longer than the session timeout.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build
dir=$(mktemp -d /tmp/nearby-test-registry.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir"
zk_port=22331 redis_base=26950 pg_port=25495 gw_ports=(28401 28402 28403)
r3_port=$((redis_base + 3))
zk="127.0.0.1:$zk_port"
gw_pids=()

cleanup() {
    for pid in "${gw_pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
    for f in "$dir"/redis-*.pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$src/scripts/redis" stop --dir "$dir" --port "$r3_port" >/dev/null 2>&1 || true
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- ringctl status:"; "$build/ringctl/ringctl" --zk "$zk" status --json 2>&1 || true
    for f in "$dir"/gw*.log; do echo "--- $f"; tail -n 30 "$f"; done
    exit 1
}

status() { timeout 10 "$build/ringctl/ringctl" --zk "$zk" status --json; }

# check EXPR: runs the Python expression on s (the status JSON) and g (gateways by id).
check() {
    status 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
g = {x["id"]: x for x in s["gateways"]}
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$1"
}

# wait_for SECONDS WHAT EXPR: polls check EXPR every 0.2 s.
wait_for() {
    local deadline=$((SECONDS + $1))
    while [ "$SECONDS" -le "$deadline" ]; do
        check "$3" && return 0
        sleep 0.2
    done
    fail "$2 (not within $1 s)"
}

start_gateway() { # INDEX [FLAGS...]
    local i=$1
    shift
    "$build/gateway/nearby-gateway" --listen "127.0.0.1:${gw_ports[$i]}" --id "gw$i" \
        --zk "$zk" --cache "127.0.0.1:$redis_base" \
        --pg "host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass" \
        --jwt-public-key-file "$dir/jwt-ed25519.pub" --drain-seconds 1 \
        --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
        --zk-auth-file "$dir/secrets/zk-gateway.auth" "$@" \
        >>"$dir/gw$i.log" 2>&1 &
    gw_pids[i]=$!
}

"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 2 --gateways 0 --zk-port "$zk_port" \
    --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
    >"$dir/cluster.out" 2>&1 || { cat "$dir/cluster.out"; exit 1; }

start_gateway 0
start_gateway 1 --zk-session-timeout-ms 4000

# Both listed with their address and the ring's epoch.
wait_for 15 "both gateways registered at the ring's epoch" \
    'set(g) == {"gw0", "gw1"} and all(x["epoch"] == s["ring_epoch"] and x["lag"] == 0
        and x["dead"] == "" for x in g.values())
     and g["gw0"]["addr"] == "127.0.0.1:28401" and g["gw1"]["addr"] == "127.0.0.1:28402"'
echo "ok: two gateways registered"

# A ring change: both report the new epoch.
"$src/scripts/redis" start --dir "$dir" --port "$r3_port" >/dev/null
epoch=$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["ring_epoch"])')
timeout 30 "$build/ringctl/ringctl" --zk "$zk" add "r3=127.0.0.1:$r3_port" >"$dir/add.out" 2>&1 ||
    { cat "$dir/add.out"; fail "ringctl add"; }
wait_for 3 "both gateways at the new epoch" \
    "s['ring_epoch'] > $epoch and len(g) == 2 and all(x['epoch'] == s['ring_epoch'] and x['lag'] == 0 for x in g.values())"
echo "ok: both applied the new epoch"

# A hung pub/sub node is reported dead by both, and no longer once it answers.
r1_pid=$(cat "$dir/redis-$((redis_base + 1)).pid")
kill -STOP "$r1_pid"
wait_for 8 "both gateways report r1 dead" \
    'len(g) == 2 and all(x["dead"].split(",").count("r1") == 1 for x in g.values())'
echo "ok: r1 reported dead"
kill -CONT "$r1_pid"
wait_for 10 "dead list empties after SIGCONT" \
    'len(g) == 2 and all(x["dead"] == "" for x in g.values())'
echo "ok: r1 alive again"

# SIGTERM: the draining gateway leaves the list at once.
kill -TERM "${gw_pids[0]}"
wait_for 2 "gw0 unregistered on drain" 'set(g) == {"gw1"}'
wait "${gw_pids[0]}" || fail "gw0 did not exit 0 on SIGTERM"
echo "ok: drain unregisters"

# kill -9: the ephemeral goes with the session, after its timeout (4 s).
kill -KILL "${gw_pids[1]}"
wait "${gw_pids[1]}" 2>/dev/null || true
check '"gw1" in g' || fail "gw1 vanished before its session timed out"
wait_for 12 "gw1 gone after its session timeout" '"gw1" not in g'
echo "ok: killed gateway gone after the session timeout"

# ZooKeeper down for longer than the session timeout: the gateway registers again.
start_gateway 2 --zk-session-timeout-ms 4000
wait_for 15 "gw2 registered" \
    '"gw2" in g and g["gw2"]["lag"] == 0 and g["gw2"]["addr"] == "127.0.0.1:28403"'
"$src/scripts/zookeeper" stop --dir "$dir" >/dev/null
sleep 7
"$src/scripts/zookeeper" start --dir "$dir" --port "$zk_port" --tick-ms 500 >/dev/null
wait_for 10 "gw2 registered after the ZooKeeper restart" '"gw2" in g and g["gw2"]["lag"] == 0'
# The restarted server revives the old session and its ephemeral until it times
# out; the entry must outlive that, i.e. belong to a new session.
sleep 8
check '"gw2" in g and g["gw2"]["lag"] == 0' || fail "gw2 not registered in a new session"
echo "ok: re-registered after ZooKeeper was gone longer than the session timeout"
echo "registry: all ok"
