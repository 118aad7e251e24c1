#!/usr/bin/env bash
# gateway-redis.sh: the gateway's Redis modules (gateway/pubsub/pubsub_node.c, gateway/stores/location_cache.c)
# against three real redis-servers: two pub/sub nodes and a location cache. Starts them with
# scripts/redis in a temp dir and runs the C test, which SIGSTOPs, kills and restarts them.
#
# Environment: NEARBY_SOURCE_ROOT, NEARBY_BUILD_ROOT (set by meson), NEARBY_TEST_REDIS_INTEGRATION
# (the test binary; default $NEARBY_BUILD_ROOT/test/test-redis-integration),
# NEARBY_TEST_REDIS_PORTS (default "26451 26452 26453").
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
test_bin=${NEARBY_TEST_REDIS_INTEGRATION:-$build/test/test-redis-integration}
read -r -a ports <<<"${NEARBY_TEST_REDIS_PORTS:-26451 26452 26453}"
dir=$(mktemp -d /tmp/nearby-test-gateway-redis.XXXXXX)

cleanup() {
    local port pid
    for port in "${ports[@]}"; do
        # a server the test left stopped must run again to take SIGTERM
        if [[ -f $dir/redis-$port.pid ]] && pid=$(<"$dir/redis-$port.pid") && [[ $pid =~ ^[0-9]+$ ]]; then
            kill -CONT "$pid" 2>/dev/null || true
        fi
        "$src/scripts/redis" stop --dir "$dir" --port "$port" >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

[[ -x $test_bin ]] || { echo "FAIL: no test binary at $test_bin" >&2; exit 1; }
for port in "${ports[@]}"; do
    "$src/scripts/redis" start --dir "$dir" --port "$port" >/dev/null
done

timeout 240 "$test_bin" "$dir" "$src/scripts/redis" \
    "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}"
