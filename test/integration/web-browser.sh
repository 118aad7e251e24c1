#!/usr/bin/env bash
# The live map and the admin page in a real browser: Debian's chromium driven by puppeteer-core
# (web/test/browser.mjs) against scripts/cluster with 2 gateways behind HAProxy, the map opened
# through HAProxy and the admin page on gw1's internal port; a fourth Redis is started for
# `ringctl add`. Screenshots go to $NEARBY_BUILD_ROOT/web-screenshots/ (map.png, admin.png,
# admin-joining.png). Ports 31721-31722 (gateways), 32721-32722 (their internal ports: below
# 32768, where outgoing connections take their local ports), 32381, 32400-32403, 32409, 32450,
# 32480; everything it starts is stopped by PID.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # need_node_modules
out=$build/web-screenshots
dir=$(mktemp -d /tmp/nearby-test-web-browser.XXXXXX)
chmod 755 "$dir"
zk_port=32381 redis_base=32400 new_node_port=32409

cleanup() {
    "$src/scripts/redis" stop --dir "$dir" --port "$new_node_port" >/dev/null 2>&1 || true
    NEARBY_BUILD=$build "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

[ -x /usr/bin/chromium ] || { echo "web-browser test: /usr/bin/chromium is missing (scripts/deps installs chromium)" >&2; exit 1; }
need_node_modules "web-browser test" "$src/web/client" ws
need_node_modules "web-browser test" "$src/web/test" puppeteer-core

t0=$(date +%s%N)
NEARBY_BUILD=$build "$src/scripts/cluster" up --dir "$dir" --redis 3 --gateways 2 \
    --zk-port "$zk_port" --redis-base-port "$redis_base" --pg-port 32450 \
    --gateway-base-port 31720 --lb-port 32480 --drain-seconds 1 --no-prometheus \
    >"$dir/cluster.out" 2>&1 || { cat "$dir/cluster.out"; exit 1; }
"$src/scripts/redis" start --dir "$dir" --port "$new_node_port" >/dev/null

# The map through HAProxy over TLS (https://, wss://); chromium trusts the cluster's
# certificate by the hash of its public key, node by its CA file.
spki=$(openssl x509 -in "$dir/tls/ca.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
rc=0
NODE_EXTRA_CA_CERTS=$dir/tls/ca.pem timeout 150 node "$src/web/test/browser.mjs" --secret "$dir/jwt-ed25519.key" \
    --url "https://127.0.0.1:32480" --ws "wss://127.0.0.1:32480/ws" --admin "http://127.0.0.1:32721" \
    --spki "$spki" \
    --ringctl "$build/ringctl/ringctl" --zk "127.0.0.1:$zk_port" --zk-auth-file "$dir/secrets/zk-admin.auth" \
    --new-node "r4=127.0.0.1:$new_node_port" --out "$out" --profile "$dir/chromium-profile" || rc=$?
if [ "$rc" -ne 0 ]; then
    for i in 1 2; do echo "--- gateway-gw$i.log (last 30 lines)"; tail -n 30 "$dir/gateway-gw$i.log"; done
fi
echo "web-browser: $(( ($(date +%s%N) - t0) / 1000000 )) ms; screenshots in $out"
exit "$rc"
