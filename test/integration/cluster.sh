#!/usr/bin/env bash
# scripts/cluster end to end: the whole local cluster (ZooKeeper, 3 Redis pub/sub nodes, the
# cache, PostgreSQL, 2 gateways behind HAProxy in mode tcp, its stats on a port of their own) on
# ports of its own, 300 phones of
# nearby-loadgen through HAProxy, and one gateway stopped with SIGTERM in the middle: its
# phones must come back through HAProxy to the other gateway with every check passing, the
# stopped gateway must drain and exit cleanly, and 'scripts/cluster down' must leave no
# process of the cluster behind. Exit 77 (skipped) while nearby-loadgen is not built.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build # scripts/cluster takes ringctl and the gateway from here
loadgen=${NEARBY_LOADGEN:-$build/test/nearby-loadgen}
[[ -x $loadgen || ! -x $build/test/loadgen/nearby-loadgen ]] || loadgen=$build/test/loadgen/nearby-loadgen
zk_port=22321 redis_base=26800 pg_port=25482 gw_base=28200 lb_port=28200
users=300 duration=10 kill_after=4

say() { printf 'cluster test: %s\n' "$*"; }
fail() {
    printf 'cluster test: FAIL: %s\n' "$*" >&2
    exit 1
}

if [[ ! -x $loadgen ]]; then
    say "skipped: $loadgen is not built (test/loadgen is not in the build yet)"
    exit 77
fi
for c in curl haproxy; do
    command -v "$c" >/dev/null || fail "'$c' is missing (scripts/deps installs it)"
done

dir=$(mktemp -d /tmp/nearby-test-cluster.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir" # PostgreSQL runs as another user when we are root
lg_pid='' ok=0 t0=$SECONDS

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZXx] ]]
}

# wait_gone PID SECONDS
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# state_pids: every PID recorded in the cluster's state directory.
state_pids() {
    local f
    for f in "$dir"/*.pid; do
        [[ -f $f ]] && head -n 1 "$f"
    done
    return 0
}

cleanup() {
    local rc=$? f
    trap - EXIT
    if [[ -n $lg_pid ]] && alive "$lg_pid"; then
        kill -TERM "$lg_pid" 2>/dev/null || true
        wait_gone "$lg_pid" 10 || kill -KILL "$lg_pid" 2>/dev/null || true
    fi
    "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || true
    if ((!ok)); then
        for f in "$dir/cluster.out" "$dir/loadgen.out" "$dir"/gateway-gw*.log "$dir/haproxy.log"; do
            [[ -f $f ]] || continue
            echo "--- $f (last 40 lines)"
            tail -n 40 "$f"
        done
        ((rc != 0)) || rc=1
    fi
    rm -rf -- "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- up
"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 3 --gateways 2 --zk-port "$zk_port" \
    --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
    --gateway-base-port "$gw_base" --lb-port "$lb_port" >"$dir/cluster.out" 2>&1 ||
    fail "scripts/cluster up failed"
say "cluster up in $((SECONDS - t0)) s"
# TLS at the edge (scripts/cluster's default): the phones' port speaks only TLS, with the
# certificate up made, which names 127.0.0.1 and verifies against DIR/tls/ca.pem.
ca=$dir/tls/ca.pem
[[ -s $ca && $(stat -c %a "$dir/tls/lb.pem") == 600 ]] || fail "no $ca, or DIR/tls/lb.pem (its key) is not mode 600"
code=$(curl -s -o /dev/null --max-time 5 --cacert "$ca" -w '%{http_code}' "https://127.0.0.1:$lb_port/healthz" || true)
[[ $code == 200 ]] || fail "/healthz through HAProxy over TLS answered $code, not 200"
code=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$lb_port/healthz" || true)
[[ $code != 200 ]] || fail "the phones' port answered plain HTTP"
curl -s -o /dev/null --max-time 5 "https://127.0.0.1:$lb_port/healthz" &&
    fail "curl trusted the load balancer without its CA"
# HAProxy forwards TCP (scripts/cluster's default) and keeps its stats page off the phones' port.
code=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$((lb_port - 1))/lb-stats" || true)
[[ $code == 200 ]] || fail "HAProxy's stats page on $((lb_port - 1)) answered $code, not 200"
code=$(curl -s -o /dev/null --max-time 5 --cacert "$ca" -w '%{http_code}' "https://127.0.0.1:$lb_port/lb-stats" || true)
[[ $code == 404 ]] || fail "/lb-stats on the phones' port answered $code, not the gateway's 404"
# shellcheck source=/dev/null
source "$dir/cluster.env"
[[ $NEARBY_LB == "127.0.0.1:$lb_port" ]] || fail "cluster.env has NEARBY_LB=$NEARBY_LB"
[[ $NEARBY_WS_URL == "wss://127.0.0.1:$lb_port/ws" && $NEARBY_LB_CA == "$ca" ]] ||
    fail "cluster.env has NEARBY_WS_URL=$NEARBY_WS_URL NEARBY_LB_CA=$NEARBY_LB_CA"
[[ $LB_MODE == tcp && $LB_STATS_PORT == $((lb_port - 1)) ]] ||
    fail "cluster.env has LB_MODE=$LB_MODE LB_STATS_PORT=$LB_STATS_PORT, not tcp and $((lb_port - 1))"
[[ $NEARBY_GATEWAYS == "gw1=127.0.0.1:$((gw_base + 1)) gw2=127.0.0.1:$((gw_base + 2))" ]] ||
    fail "cluster.env has NEARBY_GATEWAYS=$NEARBY_GATEWAYS"
[[ -f $NEARBY_JWT_KEY_FILE && $(stat -c %a "$NEARBY_JWT_KEY_FILE") == 600 ]] ||
    fail "the token key $NEARBY_JWT_KEY_FILE is missing or not mode 600"
token=$(NEARBY_BUILD=$build "$src/scripts/token" 42 --dir "$dir" --ttl 60) || fail "scripts/token failed"
[[ $("$build/auth/nearby-token" --secret-file "$NEARBY_JWT_KEY_FILE" --verify "$token") == 42 ]] ||
    fail "scripts/token made a token that does not verify as user 42"
[[ $("$build/auth/nearby-token" --public-key-file "$NEARBY_JWT_PUBLIC_KEY_FILE" --verify "$token") == 42 ]] ||
    fail "scripts/token's token does not verify with the public key $NEARBY_JWT_PUBLIC_KEY_FILE"
# The gateways are given the public key alone: nothing they read can mint a token.
for f in "$dir"/gateway-gw*.pid; do
    args=$(tr '\0' ' ' <"/proc/$(head -n 1 "$f")/cmdline")
    [[ $args == *"--jwt-public-key-file $NEARBY_JWT_PUBLIC_KEY_FILE"* && $args != *jwt-ed25519.key* &&
        $args != *jwt-secret* ]] || fail "a gateway is not run with the public key alone: $args"
done

timeout 60 "$src/scripts/seed-graph" --users "$users" --avg-friends 20 --pg "$NEARBY_PG" >/dev/null ||
    fail "scripts/seed-graph failed"

# -- phones through HAProxy; one gateway stopped while they run
# The load generator verifies the certificate: a wrong CA is refused before any phone runs.
out=$(timeout 30 "$loadgen" --url "$NEARBY_WS_URL" --ca-file /etc/ssl/certs/ca-certificates.crt \
    --secret-file "$NEARBY_JWT_KEY_FILE" --users 1 --phones 1 --duration 3 2>&1) || true
[[ $out == *"certificate"* ]] || fail "nearby-loadgen did not refuse the load balancer's certificate without its CA: $out"
timeout -s TERM $((duration + 30)) "$loadgen" --url "$NEARBY_WS_URL" --ca-file "$NEARBY_LB_CA" \
    --secret-file "$NEARBY_JWT_KEY_FILE" --users "$users" --phones "$users" \
    --interval-ms 1000 --duration "$duration" --report-every 1 --seed 7 \
    >"$dir/loadgen.out" 2>&1 </dev/null &
lg_pid=$!
sleep "$kill_after"
victim=$(head -n 1 "$dir/gateway-gw1.pid") || fail "no pid file for gw1"
alive "$victim" || fail "gw1 (pid $victim) is not running ${kill_after} s into the run"
say "SIGTERM to gw1 (pid $victim) ${kill_after} s into the run"
kill -TERM "$victim"

rc=0
wait "$lg_pid" || rc=$?
lg_pid=''
cat "$dir/loadgen.out"
((rc == 0)) || fail "nearby-loadgen exited with status $rc"

# field NAME LINE: the value of NAME=... in LINE.
field() {
    local re="(^| )$1=([^ ]*)"
    [[ $2 =~ $re ]] && printf '%s\n' "${BASH_REMATCH[2]}"
}
summary=$(grep '^summary' "$dir/loadgen.out" | tail -n 1) || fail "no summary line from nearby-loadgen"
last=$(grep '^t=' "$dir/loadgen.out" | tail -n 1) || fail "no status line from nearby-loadgen"
checks=$(field check_failures "$summary") || fail "no check_failures in: $summary"
reconnects=$(field reconnects "$summary") || fail "no reconnects in: $summary"
sessions=$(field sessions "$last") || fail "no sessions in: $last"
[[ $checks == 0 ]] || fail "check_failures=$checks"
((reconnects > 0)) || fail "reconnects=$reconnects: nobody was moved off the stopped gateway"
[[ $sessions == "$users" ]] ||
    fail "sessions=$sessions at the end, not $users: not every phone came back through HAProxy"
say "loadgen: check_failures=0 reconnects=$reconnects, sessions=$sessions at the end"

# -- the stopped gateway drained and exited cleanly
wait_gone "$victim" 20 || fail "gw1 (pid $victim) still runs 20 s after SIGTERM"
grep -q ' stopped$' "$dir/gateway-gw1.log" ||
    fail "gw1 exited without logging 'stopped' (not a clean exit 0)"
say "gw1 drained and stopped"

# -- down leaves nothing
mapfile -t pids < <(state_pids)
((${#pids[@]} >= 7)) || fail "only ${#pids[@]} pid files in $dir"
"$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || fail "scripts/cluster down failed"
for p in "${pids[@]}"; do
    ! alive "$p" || fail "pid $p of the cluster still runs after scripts/cluster down"
done
"$src/scripts/cluster" status --dir "$dir" >/dev/null 2>&1 && fail "status says the cluster runs after down"
say "down stopped all ${#pids[@]} recorded processes; ${SECONDS} s in all"
ok=1
