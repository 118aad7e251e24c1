#!/usr/bin/env bash
# gateway-pg: the gateway's PostgreSQL modules (pg_conn, friends_db, history) against a real server that the C test stops and restarts.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${NEARBY_TEST_PG_BIN:?NEARBY_TEST_PG_BIN must name the test-pg-integration binary}
port=${NEARBY_TEST_PG_PORT:-25452}
dir=$(mktemp -d /tmp/nearby-test-gateway-pg.XXXXXX)

cleanup() {
    "$src/scripts/postgres" stop --dir "$dir" >/dev/null 2>&1 || true
    rm -rf -- "$dir"
}
trap cleanup EXIT

t0=$(date +%s%N)
echo "# starting PostgreSQL on 127.0.0.1:$port in $dir"
start_out=$("$src/scripts/postgres" start --dir "$dir" --port "$port")
pg=$(tail -n 1 <<<"$start_out")
"$src/scripts/migrate" --pg "$pg" | sed 's/^/# /'
"$src/scripts/seed-graph" --pg "$pg" --users 300 --avg-friends 12 --seed 7 | sed 's/^/# /'
echo "# setup took $((($(date +%s%N) - t0) / 1000000)) ms"

# The C test stops and starts the server itself (scripts/postgres, without
# waiting on it from inside its event loop), so it needs the dir and port.
NEARBY_SOURCE_ROOT=$src timeout 240 "$bin" "$pg" "$dir" "$port"
