#!/usr/bin/env bash
# Strangers end to end against real servers: ZooKeeper, 3 Redis pub/sub nodes, the cache,
# PostgreSQL and two gateways started here (HS256 secret of this test's own, location TTL
# 6 s), phones in Node.js (test/js/strangers-e2e.mjs, npm ws and @msgpack/msgpack): near and
# far, anonymity and coarseness, friends, blocks, off, disconnect, silence, a subscriber cut,
# the border walk
# and the privacy check over every frame. Ports 24180-24260 and 24401-24412 (the strangers
# range 24000-24499); override with STRANGERS_PORT_BASE (default 24000: ZooKeeper +181,
# Redis +200.., PostgreSQL +250, gateways +401/+402, their admin ports +411/+412).
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok, need_node_modules
build=${NEARBY_BUILD_ROOT:-$src/build}
# shellcheck source=test/integration/lib.sh
source "$src/test/integration/lib.sh" # it_cleanup, it_secret, it_start_gateways
base=${STRANGERS_PORT_BASE:-24000}
dir=$(mktemp -d /tmp/nearby-test-strangers.XXXXXX)
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir"
zk_port=$((base + 181)) redis_base=$((base + 200)) pg_port=$((base + 250))
gw_ports=($((base + 401)) $((base + 402))) admin_ports=($((base + 411)) $((base + 412)))
trap it_cleanup EXIT

need_node_modules "strangers test" "$src/test/js" ws

"$src/scripts/cluster" up --dir "$dir" --redis 3 --gateways 0 --no-prometheus \
    --zk-port "$zk_port" --zk-tick-ms 500 \
    --redis-base-port "$redis_base" --pg-port "$pg_port" >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }
export PGPASSFILE=$dir/pgpass
pg_gateway="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"

it_secret
it_start_gateways --location-ttl 6

rc=0
timeout 240 node "$src/test/js/strangers-e2e.mjs" --secret "$dir/secret" --ttl-s 6 \
    --node-ports "$((redis_base + 1)),$((redis_base + 2)),$((redis_base + 3))" \
    --redis-admin-password-file "$dir/secrets/redis-admin.password" \
    --gateways "ws://127.0.0.1:${gw_ports[0]}/ws,ws://127.0.0.1:${gw_ports[1]}/ws" || rc=$?
# The cell channels were really used, and released again once everyone left.
sleep 2
for port in "${admin_ports[@]}"; do
    pub=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "nearby_strangers_published_total" {print $2}')
    cells=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "nearby_cells" {print $2}')
    echo "gateway on $port: nearby_strangers_published_total=${pub:-?} nearby_cells=${cells:-?}"
    if [ "${pub:-0}" = 0 ]; then echo "FAIL: gateway on $port published no stranger position"; rc=1; fi
    if [ "${cells:-1}" != 0 ]; then echo "FAIL: gateway on $port still holds ${cells:-?} cell channels"; rc=1; fi
done
if [ "$rc" -ne 0 ]; then
    for i in 0 1; do echo "--- gw$i.log (last 40 lines)"; tail -n 40 "$dir/gw$i.log"; done
fi
exit "$rc"
