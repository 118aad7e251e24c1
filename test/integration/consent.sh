#!/usr/bin/env bash
# Consent end to end against real servers: ZooKeeper, 3 Redis pub/sub nodes, the cache,
# PostgreSQL and two gateways, with no user seeded (users exist from their first token). The
# phones are Node.js clients: test/js/consent-e2e.mjs goes through every way a user can stop
# being entitled to another's position, and frames over seconds of movement say nobody saw
# anything; test/js/churn.mjs then churns friendships, blocks, sharing and reconnects among
# CHURN_USERS users (default 200) for CHURN_SECONDS (default 60) while everyone moves, and an
# independent checker asserts that no frame showed a position without consent.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok, need_node_modules
build=${NEARBY_BUILD_ROOT:-$src/build}
# shellcheck source=test/integration/lib.sh
source "$src/test/integration/lib.sh" # it_cleanup, it_secret, it_start_gateways
dir=$(mktemp -d /tmp/nearby-test-consent.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir"
zk_port=22381 redis_base=27300 pg_port=25550 gw_ports=(28801 28802)
trap it_cleanup EXIT

need_node_modules "consent test" "$src/test/js" ws

"$src/scripts/cluster" up --dir "$dir" --redis 3 --gateways 0 --zk-port "$zk_port" --zk-tick-ms 500 \
    --redis-base-port "$redis_base" --pg-port "$pg_port" >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }
# Superuser (seeding, checks) and the gateways' own role, passwords in DIR/pgpass.
export PGPASSFILE=$dir/pgpass
pg="host=127.0.0.1 port=$pg_port user=postgres dbname=nearby"
pg_gateway="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"

it_secret
it_start_gateways

rc=0
timeout 240 node "$src/test/js/consent-e2e.mjs" --secret "$dir/secret" \
    --psql "psql -h 127.0.0.1 -p $pg_port -U postgres nearby" \
    --gateways "ws://127.0.0.1:${gw_ports[0]}/ws,ws://127.0.0.1:${gw_ports[1]}/ws" \
    --node-ports "$((redis_base + 1)),$((redis_base + 2)),$((redis_base + 3))" \
    --cache-port "$redis_base" \
    --redis-admin-password-file "$dir/secrets/redis-admin.password" || rc=$?
timeout $((${CHURN_SECONDS:-60} + 90)) node "$src/test/js/churn.mjs" --secret "$dir/secret" \
    --gateways "ws://127.0.0.1:${gw_ports[0]}/ws,ws://127.0.0.1:${gw_ports[1]}/ws" \
    --users "${CHURN_USERS:-200}" --duration "${CHURN_SECONDS:-60}" || rc=$?

# The forged payloads were counted where they arrived.
misrouted=0
for port in "${gw_ports[@]}"; do
    n=$(curl -s "http://127.0.0.1:$((port + 1000))/metrics" | awk '$1 == "nearby_payloads_misrouted_total" {print $2}')
    misrouted=$((misrouted + ${n:-0}))
done
if ((misrouted < 1)); then
    echo "FAIL: no gateway counted the forged payload in nearby_payloads_misrouted_total"; rc=1
fi
if [ "$rc" -ne 0 ]; then
    for i in 0 1; do echo "--- gw$i.log (last 40 lines)"; tail -n 40 "$dir/gw$i.log"; done
fi
exit "$rc"
