#!/usr/bin/env bash
# nearby-gateway end to end against real servers: ZooKeeper, 3 Redis pub/sub nodes, the cache,
# PostgreSQL, two gateways; phones are Node.js clients using the npm packages ws and
# @msgpack/msgpack (test/js/gateway-e2e.mjs), so the wire format is checked by code not ours.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok, need_node_modules
build=${NEARBY_BUILD_ROOT:-$src/build}
# shellcheck source=test/integration/lib.sh
source "$src/test/integration/lib.sh" # it_cleanup, it_secret, it_start_gateways
dir=$(mktemp -d /tmp/nearby-test-gateway.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir"
zk_port=22301 redis_base=26600 pg_port=25462 gw_ports=(28081 28082) ttl=8
trap it_cleanup EXIT

need_node_modules "gateway test" "$src/test/js" ws

"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 3 --gateways 0 --zk-port "$zk_port" --zk-tick-ms 500 \
    --redis-base-port "$redis_base" --pg-port "$pg_port" >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }
# Superuser (seeding, checks) and the gateways' own role, passwords in DIR/pgpass.
export PGPASSFILE=$dir/pgpass
pg="host=127.0.0.1 port=$pg_port user=postgres dbname=nearby"
pg_gateway="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"
"$src/scripts/migrate" --pg "$pg" >/dev/null

# 200 users; a fixed friendship pattern so that every user has some friends and some non-friends.
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres nearby <<'SQL'
INSERT INTO users (id, sharing) SELECT g, true FROM generate_series(1, 200) g;
BEGIN;
INSERT INTO friendships (user_id, friend_id)
  SELECT a, b FROM generate_series(1, 200) a, generate_series(1, 200) b
  WHERE a <> b AND (a + b) % 5 = 0;
COMMIT;
SQL

it_secret
it_start_gateways --location-ttl "$ttl"


rc=0
timeout 150 node "$src/test/js/gateway-e2e.mjs" --secret "$dir/secret" --location-ttl "$ttl" \
    --psql "psql -h 127.0.0.1 -p $pg_port -U postgres nearby" \
    --pg-stop "$src/scripts/postgres stop --dir $dir" \
    --pg-start "$src/scripts/postgres start --dir $dir --port $pg_port" \
    --gateways "ws://127.0.0.1:${gw_ports[0]}/ws,ws://127.0.0.1:${gw_ports[1]}/ws" \
    --users 200 --ringctl "$build/ringctl/ringctl --zk 127.0.0.1:$zk_port" \
    --redis-server-cmd "$src/scripts/redis start --dir $dir --port $((redis_base + 4)) --aclfile $dir/secrets/redis-nodes.acl" \
    --new-node "r4=127.0.0.1:$((redis_base + 4))" \
    --new-node-pidfile "$dir/redis-$((redis_base + 4)).pid" || rc=$?

# SIGTERM: each gateway drains and exits 0.
for i in 0 1; do
    kill -TERM "${gw_pids[$i]}"
    if ! wait "${gw_pids[$i]}"; then
        echo "FAIL: gateway $i did not exit 0 on SIGTERM"; rc=1
    fi
done
gw_pids=()
"$src/scripts/redis" stop --dir "$dir" --port $((redis_base + 4)) >/dev/null 2>&1 || true
if [ "$rc" -ne 0 ]; then
    for i in 0 1; do echo "--- gw$i.log (last 40 lines)"; tail -n 40 "$dir/gw$i.log"; done
fi
exit "$rc"
