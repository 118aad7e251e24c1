#!/usr/bin/env bash
# Prometheus in the cluster, end to end: 'scripts/cluster up' (3 pub/sub nodes, 2 gateways)
# with Prometheus scraping every 1 s, on ports of its own (31300-31599). It checks that
#   - every target is up: Prometheus itself, both gateways, the exporter, 3 nodes and the cache;
#   - nearby_sessions through Prometheus's HTTP API counts the 40 phones nearby-loadgen holds,
#     and the pushes they get show in nearby_publish_to_push_seconds;
#   - a real gateway's /metrics passes 'promtool check metrics' (which does catch an _ms
#     histogram and a counter without _total);
#   - with pub/sub node r2 frozen (SIGSTOP by its PID), NearbyPubsubNodeDead{node="r2"} (from
#     the gateways) and NearbyRedisDown for r2 (through the exporter) fire within 60 s, and
#     no alert fires for r1;
#   - 'scripts/cluster status' lists Prometheus and the exporter, 'down' stops every recorded
#     process, and 'up --no-prometheus' starts neither.
# Everything it starts it stops by PID; bounded by timeouts throughout.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build
loadgen=${NEARBY_LOADGEN:-$build/test/loadgen/nearby-loadgen}
zk_port=31321 redis_base=31400 pg_port=31482 gw_base=31500 lb_port=31580
prom_port=31590 exporter_port=31591
users=40 fire_deadline=60

say() { printf 'prometheus test: %s\n' "$*"; }
fail() {
    printf 'prometheus test: FAIL: %s\n' "$*" >&2
    exit 1
}

for c in curl haproxy prometheus promtool prometheus-redis-exporter python3; do
    command -v "$c" >/dev/null || fail "'$c' is missing (scripts/deps installs it)"
done
[[ -x $loadgen ]] || fail "$loadgen is not built"

dir=$(mktemp -d /tmp/nearby-test-prometheus.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir" # PostgreSQL runs as another user when we are root
dir2=$dir/no-prometheus
lg_pid='' stopped_pid='' ok=0 t0=$SECONDS

alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZXx] ]]
}

cleanup() {
    local rc=$? f
    trap - EXIT
    [[ -z $stopped_pid ]] || kill -CONT "$stopped_pid" 2>/dev/null || true
    if [[ -n $lg_pid ]] && alive "$lg_pid"; then
        kill -TERM "$lg_pid" 2>/dev/null || true
        for _ in {1..100}; do alive "$lg_pid" || break; sleep 0.1; done
        kill -KILL "$lg_pid" 2>/dev/null || true
    fi
    "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || true
    [[ ! -d $dir2 ]] || "$src/scripts/cluster" down --dir "$dir2" >>"$dir/cluster.out" 2>&1 || true
    if ((!ok)); then
        for f in "$dir/cluster.out" "$dir/loadgen.out" "$dir/prometheus.log" "$dir/redis-exporter.log" \
            "$dir"/gateway-gw*.log; do
            [[ -f $f ]] || continue
            echo "--- $f (last 30 lines)"
            tail -n 30 "$f"
        done
        ((rc != 0)) || rc=1
    fi
    rm -rf -- "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

prom() { "$src/scripts/prometheus" "$@" --dir "$dir"; }

# value PROMQL: the value of the query's single series (nothing when there is none).
value() {
    local out
    out=$(prom query "$1" 2>/dev/null) || return 0
    [[ $(wc -l <<<"$out") == 1 ]] || return 0
    printf '%s\n' "${out##* }"
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || fail "$what: not within the deadline"
        sleep 0.5
    done
}

# -- up, with Prometheus scraping and evaluating every second
timeout 180 "$src/scripts/cluster" up --dir "$dir" --redis 3 --gateways 2 --zk-port "$zk_port" \
    --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
    --gateway-base-port "$gw_base" --lb-port "$lb_port" --prometheus-port "$prom_port" \
    --redis-exporter-port "$exporter_port" --scrape-interval 1s >"$dir/cluster.out" 2>&1 ||
    fail "scripts/cluster up failed"
say "cluster up in $((SECONDS - t0)) s"
# shellcheck source=/dev/null
source "$dir/cluster.env"
[[ $NEARBY_PROMETHEUS_URL == "http://127.0.0.1:$prom_port" ]] || fail "cluster.env has NEARBY_PROMETHEUS_URL=$NEARBY_PROMETHEUS_URL"
status=$("$src/scripts/cluster" status --dir "$dir") || fail "cluster status says something is down: $status"
grep -q "^prometheus .*prometheus up on http://127.0.0.1:$prom_port" <<<"$status" || fail "status has no Prometheus line: $status"
grep -q "^exporter .*redis-exporter up on 127.0.0.1:$exporter_port" <<<"$status" || fail "status has no exporter line: $status"

# Prometheus first syncs its targets about 5 s after it starts.
targets_up() { [[ $(value 'count(up == 1)') == 8 ]]; }
wait_for 30 "all 8 targets up (have $(value 'count(up == 1)'))" targets_up
[[ $(value 'count(up{job="nearby-gateway"} == 1)') == 2 ]] || fail "not both gateways are scraped"
[[ $(value 'count(redis_up{job="nearby-redis",role="pubsub"} == 1)') == 3 ]] || fail "not 3 pub/sub nodes read through the exporter"
[[ $(value 'redis_up{job="nearby-redis",role="cache"}') == 1 ]] || fail "the cache is not read through the exporter"
say "all 8 targets up $((SECONDS - t0)) s in"

# -- phones: nearby_sessions through the API counts them
timeout 60 "$src/scripts/seed-graph" --users "$users" --avg-friends 8 --pg "$NEARBY_PG" >/dev/null ||
    fail "scripts/seed-graph failed"
timeout -s TERM 90 "$loadgen" --url "$NEARBY_WS_URL" --ca-file "$NEARBY_LB_CA" --secret-file "$NEARBY_JWT_KEY_FILE" \
    --users "$users" --phones "$users" --interval-ms 1000 --spread-km 1 --duration 60 \
    --report-every 5 --seed 3 >"$dir/loadgen.out" 2>&1 </dev/null &
lg_pid=$!
sessions_counted() { [[ $(value 'sum(nearby_sessions)') == "$users" ]]; }
wait_for 30 "sum(nearby_sessions) == $users (have $(value 'sum(nearby_sessions)'))" sessions_counted
out=$(prom query nearby_sessions)
[[ $(wc -l <<<"$out") == 2 ]] || fail "nearby_sessions is not one series per gateway: $out"
pushes_seen() { [[ $(value 'sum(nearby_publish_to_push_seconds_count)') =~ ^[1-9][0-9]*$ ]]; }
wait_for 20 "nearby_publish_to_push_seconds_count above 0" pushes_seen
[[ $(value 'count(nearby_publish_to_push_seconds_bucket{le="0.001"})') == 2 ]] ||
    fail "nearby_publish_to_push_seconds has no le=\"0.001\" bucket: its bounds are not in seconds"
[[ -z $(value 'count({__name__=~"nearby_.*_ms(_bucket|_sum|_count)?"})') ]] || fail "a nearby_*_ms series is left"
[[ $(value 'sum(job:nearby_sessions:sum)') == "$users" ]] || fail "the recording rule job:nearby_sessions:sum is not $users"
say "nearby_sessions=$users over 2 gateways through Prometheus, pushes counted"

# -- promtool check metrics on a real gateway
curl -sf --max-time 5 "http://127.0.0.1:$((gw_base + 1 + 1000))/metrics" >"$dir/gw1.metrics" || fail "no /metrics from gw1"
grep -q '^nearby_node_alive{node="r1"} 1$' "$dir/gw1.metrics" || fail "gw1's /metrics has no nearby_node_alive for r1"
out=$(promtool check metrics <"$dir/gw1.metrics" 2>&1) || fail "promtool check metrics rejects gw1's /metrics: $out"
[[ -z $out ]] || fail "promtool check metrics on gw1's /metrics said: $out"
printf '%s\n' '# HELP nearby_push_ms Latency.' '# TYPE nearby_push_ms histogram' \
    'nearby_push_ms_bucket{le="1"} 1' 'nearby_push_ms_bucket{le="+Inf"} 1' 'nearby_push_ms_sum 1' \
    'nearby_push_ms_count 1' '# HELP nearby_pushes Pushes.' '# TYPE nearby_pushes counter' \
    'nearby_pushes 3' >"$dir/bad.metrics"
out=$(promtool check metrics <"$dir/bad.metrics" 2>&1) && fail "promtool check metrics let an _ms histogram and a counter without _total through"
[[ $out == *"nearby_push_ms metric names should not contain abbreviated units"* && $out == *"nearby_pushes counter metrics should have \"_total\" suffix"* ]] || fail "promtool check metrics said only: $out"
say "promtool check metrics: gw1's /metrics is clean"

# -- freeze r2: the node-dead alerts fire, for r2 only
out=$(prom alerts)
! grep -q '^firing' <<<"$out" || fail "alerts fire before anything broke: $out"
r2_port=$((redis_base + 2))
stopped_pid=$(head -n 1 "$dir/redis-$r2_port.pid")
alive "$stopped_pid" || fail "r2 (pid $stopped_pid) does not run"
t_stop=$SECONDS
kill -STOP "$stopped_pid"
say "SIGSTOP to r2 (pid $stopped_pid, port $r2_port)"
node_dead_fires() {
    out=$(prom alerts 2>/dev/null) || return 1
    grep -q '^firing NearbyPubsubNodeDead .*node="r2"' <<<"$out" &&
        grep -q "^firing NearbyRedisDown .*instance=\"redis://127.0.0.1:$r2_port\"" <<<"$out"
}
wait_for "$fire_deadline" "NearbyPubsubNodeDead and NearbyRedisDown for r2 firing (alerts: $(prom alerts 2>&1 | tr '\n' ';'))" node_dead_fires
fired_after=$((SECONDS - t_stop))
out=$(prom alerts)
! grep -q 'node="r1"\|node="r3"\|role="cache"' <<<"$out" || fail "alerts for nodes that run: $out"
[[ $(value 'node:nearby_node_alive:min{node="r2"}') == 0 ]] || fail "node:nearby_node_alive:min for r2 is not 0"
say "NearbyPubsubNodeDead{node=\"r2\"} and NearbyRedisDown fired ${fired_after} s after the SIGSTOP"
kill -CONT "$stopped_pid"
stopped_pid=''

# -- down stops everything it recorded, Prometheus and the exporter included
kill -TERM "$lg_pid" 2>/dev/null || true
wait "$lg_pid" 2>/dev/null || true
lg_pid=''
mapfile -t pids < <(for f in "$dir"/*.pid; do head -n 1 "$f"; done)
((${#pids[@]} >= 10)) || fail "only ${#pids[@]} pid files in $dir"
[[ -f $dir/prometheus.pid && -f $dir/redis-exporter.pid ]] || fail "no pid file for Prometheus or the exporter"
timeout 120 "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || fail "scripts/cluster down failed"
for p in "${pids[@]}"; do
    ! alive "$p" || fail "pid $p of the cluster still runs after scripts/cluster down"
done
for p in "$prom_port" "$exporter_port"; do
    ! ss -Hltn "sport = :$p" | grep -q . || fail "port $p is still open after down"
done
say "down stopped all ${#pids[@]} recorded processes"

# -- --no-prometheus starts neither
timeout 120 "$src/scripts/cluster" up --dir "$dir2" --no-prometheus --redis 1 --gateways 0 \
    --no-postgres --no-ring --zk-port "$zk_port" --redis-base-port "$redis_base" \
    --prometheus-port "$prom_port" >>"$dir/cluster.out" 2>&1 || fail "scripts/cluster up --no-prometheus failed"
# shellcheck disable=SC2016 # expanded by the inner shell
[[ -z $(bash -c 'source "$1" && echo "$PROMETHEUS_PORT$NEARBY_PROMETHEUS_URL"' _ "$dir2/cluster.env") ]] ||
    fail "--no-prometheus recorded a Prometheus port in $dir2/cluster.env"
[[ ! -e $dir2/prometheus.pid && ! -e $dir2/redis-exporter.pid ]] || fail "--no-prometheus started Prometheus or the exporter"
! ss -Hltn "sport = :$prom_port" | grep -q . || fail "something listens on $prom_port with --no-prometheus"
"$src/scripts/cluster" status --dir "$dir2" >/dev/null || fail "status of the --no-prometheus cluster fails"
timeout 60 "$src/scripts/cluster" down --dir "$dir2" >>"$dir/cluster.out" 2>&1 || fail "down of the --no-prometheus cluster failed"
say "ok in $((SECONDS - t0)) s (alert fired ${fired_after} s after the SIGSTOP)"
ok=1
