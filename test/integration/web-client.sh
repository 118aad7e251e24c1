#!/usr/bin/env bash
# The JavaScript client (web/client/) against a real cluster: its unit tests (no server), then
# web/client/test/e2e.mjs on scripts/cluster with 2 gateways behind HAProxy: friend request,
# acceptance and sharing through the client's REST calls, two users moving see each other, the
# stops (bad_token, token_expired unless refreshed, account deleted), and gateway gw1 killed
# with SIGKILL: the session reconnects to gw2 with its friend list kept meanwhile and back.
# Ports 31711-31712 (gateways), 32711-32712 (their internal ports: below 32768, where
# outgoing connections take their local ports), 32181, 32200-32203, 32250,
# 32280; everything it starts is stopped by PID.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # need_node_modules
client=$src/web/client
dir=$(mktemp -d /tmp/nearby-test-web-client.XXXXXX)
chmod 755 "$dir"

cleanup() {
    NEARBY_BUILD=$build "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

need_node_modules "web-client test" "$client" ws @msgpack/msgpack

t0=$(date +%s%N)
(cd "$client" && timeout 60 node --test test/unit.test.mjs) >"$dir/unit.out" 2>&1 ||
    { cat "$dir/unit.out"; exit 1; }
grep -E '^# (pass|fail)' "$dir/unit.out"

NEARBY_BUILD=$build "$src/scripts/cluster" up --dir "$dir" --redis 3 --gateways 2 \
    --zk-port 32181 --redis-base-port 32200 --pg-port 32250 --gateway-base-port 31710 \
    --lb-port 32280 --drain-seconds 1 --no-prometheus >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }

rc=0
# HAProxy terminates TLS (scripts/cluster's default): node trusts the cluster's own CA.
NODE_EXTRA_CA_CERTS=$dir/tls/ca.pem timeout 120 node "$client/test/e2e.mjs" --secret "$dir/jwt-ed25519.key" \
    --gateways "ws://127.0.0.1:31711/ws,ws://127.0.0.1:31712/ws" --lb "wss://127.0.0.1:32280/ws" \
    --kill-pid "$(cat "$dir/gateway-gw1.pid")" || rc=$?
if [ "$rc" -ne 0 ]; then
    for i in 1 2; do echo "--- gateway-gw$i.log (last 30 lines)"; tail -n 30 "$dir/gateway-gw$i.log"; done
fi
echo "web-client: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
exit "$rc"
