#!/usr/bin/env bash
# The limits end to end (test/integration/limits.py): scripts/cluster (ZooKeeper, one
# pub/sub node, the cache, PostgreSQL, 2 gateways behind HAProxy with PROXY v2), a second
# HAProxy with a stick table of 3 connections and 1/s per address, and two gateways by
# hand: "tight" (short timers, small per-user and per-address limits, trusting 127.0.0.9
# as a proxy) and "pool" (defaults but --pg-pool 2), against which a REST flood and 2000
# slowloris connections run. Ports 30000-31299 only; everything stopped by PID.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok, spawn, stop_pid
# shellcheck source=scripts/lib/haproxy.sh
source "$src/scripts/lib/haproxy.sh"
build=${NEARBY_BUILD_ROOT:-$src/build}
dir=$(mktemp -d /tmp/nearby-test-limits.XXXXXX)
chmod 755 "$dir"
gw_pids=()

cleanup() {
    local pid
    for pid in "${gw_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    haproxy_stop "$dir/lb2" >/dev/null 2>&1 || true
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

# 2000 slowloris sockets in one process, and as many in the gateway.
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 5000)) || { echo "limits: open files limited to $(ulimit -n); need 5000" >&2; exit 1; }

# Ports 30000-31299, below Linux's ephemeral range (32768-60999), so that nobody's outgoing
# connections hold them; still, a layout is drawn from 3, its ports are checked free, and
# on a clash at start-up the next is tried.
in_use() { grep -q "Address already in use\|is in use\|already in use" "$@"; }
# layout BASE: the ports of this test from BASE (30000, 30100, 30200; internal ports +1000).
layout() {
    gw_base=$1 tight_port=$(($1 + 3)) pool_port=$(($1 + 4)) zk_port=$(($1 + 10))
    redis_base=$(($1 + 20)) pg_port=$(($1 + 30)) lb_port=$(($1 + 40)) lb2_port=$(($1 + 41))
    lb2_stats_port=$(($1 + 42))
}
ports_free() {
    python3 - "$@" <<'EOF'
import socket, sys
for p in map(int, sys.argv[1:]):
    s = socket.socket()
    # As the servers bind: a TIME-WAIT left by someone's old connection does not count.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}
t0=$(now_ms)
bases=(30000 30100 30200)
first=$((RANDOM % ${#bases[@]})) rc=1
for ((attempt = 0; attempt < ${#bases[@]}; attempt++)); do
    layout "${bases[$(((first + attempt) % ${#bases[@]}))]}"
    ports_free "$zk_port" "$redis_base" "$((redis_base + 1))" "$pg_port" "$lb_port" "$lb2_port" "$lb2_stats_port" "$((lb_port - 1))" \
        $(for p in 1 2 3 4; do echo "$((gw_base + p))" "$((gw_base + p + 1000))"; done) || continue
    rc=0
    # --plain: limits.py's phones speak raw sockets to HAProxy (TLS at the edge is the
    # cluster, web-client and web-browser tests' subject).
    "$src/scripts/cluster" up --no-prometheus --plain --dir "$dir" --redis 1 --gateways 2 --zk-port "$zk_port" \
        --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
        --gateway-base-port "$gw_base" --lb-port "$lb_port" --drain-seconds 1 >"$dir/cluster.out" 2>&1 || rc=$?
    ((rc != 0)) || break
    if ! in_use "$dir/cluster.out" "$dir"/*.log "$dir"/*/*.log; then
        cat "$dir/cluster.out"
        exit 1
    fi
    echo "# a port of layout $gw_base was taken meanwhile; trying the next"
    # A fresh directory: nothing of the failed start (PostgreSQL's data, pid files) stays.
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
    dir=$(mktemp -d /tmp/nearby-test-limits.XXXXXX)
    chmod 755 "$dir"
done
((rc == 0)) || { echo "limits: no layout of ports in 30000-30299 could be used"; exit 1; }
echo "# ports from $gw_base"
# shellcheck source=/dev/null
source "$dir/cluster.env"

# The superuser seeds; the gateways log in as their own role (passwords in DIR/pgpass),
# reach Redis as the ACL user gateway and ZooKeeper as the gateway identity.
export PGPASSFILE=$dir/pgpass
pg_gateway="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"
# Users 1..300 sharing, friends among 1..100; user 7000 with 5000 friends for the REST flood.
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres nearby <<'SQL'
INSERT INTO users (id, sharing) SELECT g, true FROM generate_series(1, 300) g ON CONFLICT DO NOTHING;
INSERT INTO users (id, sharing) SELECT g, true FROM generate_series(7000, 12000) g ON CONFLICT DO NOTHING;
INSERT INTO friendships (user_id, friend_id)
  SELECT a, b FROM generate_series(1, 100) a, generate_series(1, 100) b
  WHERE a <> b AND (a + b) % 5 = 0;
INSERT INTO friendships (user_id, friend_id)
  SELECT 7000, g FROM generate_series(7001, 12000) g
  UNION ALL SELECT g, 7000 FROM generate_series(7001, 12000) g;
SQL

common=(--zk "127.0.0.1:$zk_port" --cache "127.0.0.1:$redis_base" --pg "$pg_gateway"
    --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password"
    --zk-auth-file "$dir/secrets/zk-gateway.auth" --jwt-public-key-file "$NEARBY_JWT_PUBLIC_KEY_FILE" --drain-seconds 1)
tight=(--listen "127.0.0.1:$tight_port" --id tight --ws-ping 2 --ws-idle 4 --handshake-timeout 2
    --tcp-keepalive 7 --trusted-proxy 127.0.0.9 --ip-max-conns 3 --ip-handshake-rate 1
    --ip-handshake-burst 5 --user-max-sessions 2 --session-start-rate 0.5 --session-start-burst 3
    --start-queue 3 --rest-rate 1 --rest-burst 3 --loc-rate 1 --loc-burst 2)
pool=(--listen "127.0.0.1:$pool_port" --id pool --pg-pool 2 --rest-rate 10000 --rest-burst 100000)
# start_gateway NAME FLAGS...: starts it (again while its ports are taken), records its PID.
start_gateway() {
    local name=$1 port attempt pid
    shift
    port=$(sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p' <<<"$2")
    for attempt in 1 2 3 4; do
        "$build/gateway/nearby-gateway" "$@" "${common[@]}" >"$dir/$name.log" 2>&1 &
        pid=$!
        if wait_until 15 "$pid" http_ok "http://127.0.0.1:$((port + 1000))/healthz"; then
            gw_pids+=("$pid")
            return 0
        fi
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        if ! in_use "$dir/$name.log" || ((attempt == 4)); then break; fi
        sleep 2
    done
    echo "gateway $name on $port never became healthy"
    cat "$dir/$name.log"
    exit 1
}
start_gateway tight "${tight[@]}"
start_gateway pool "${pool[@]}"

# The second HAProxy: the stick table's limits, low enough to reach.
mkdir -p "$dir/lb2"
HAPROXY_IP_MAX_CONNS=3 HAPROXY_IP_CONN_RATE=1 \
    haproxy_write_cfg "$dir/lb2" "$lb2_port" "$lb2_stats_port" tcp "gw1=127.0.0.1:$((gw_base + 1))" "gw2=127.0.0.1:$((gw_base + 2))"
haproxy_start "$dir/lb2" "$lb2_port" >/dev/null
echo "# servers up in $(($(now_ms) - t0)) ms"

rc=0
timeout 240 python3 "$src/test/integration/limits.py" run --secret "$NEARBY_JWT_KEY_FILE" \
    --token-bin "$build/auth/nearby-token" \
    --cluster-gw "$((gw_base + 1))" --tight "$tight_port" --pool "$pool_port" --lb "$lb_port" \
    --lb2 "$lb2_port" --redis-pid "$(read_pidfile "$dir/redis-$((redis_base + 1)).pid")" \
    ${LIMITS_ONLY:+--only "$LIMITS_ONLY"} || rc=$?

for pid in "${gw_pids[@]}"; do
    kill -TERM "$pid"
    wait "$pid" || { echo "FAIL: gateway $pid did not exit 0 on SIGTERM"; rc=1; }
done
gw_pids=()
if ((rc != 0)); then
    for f in tight pool gateway-gw1 gateway-gw2; do echo "--- $f.log (last 30 lines)"; tail -n 30 "$dir/$f.log"; done
fi
exit "$rc"
