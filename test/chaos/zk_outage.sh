#!/usr/bin/env bash
# zk_outage: under 2000 updates/s on 8 nodes and 2 gateways, ZooKeeper is stopped twice: for
# less than the gateways' 10 s session timeout, then for longer. Live traffic must keep
# flowing on the cached ring both times, the gateways must be registered again afterwards
# (the long outage expires their sessions), and a later 'ringctl add' must still complete.
# Nothing may be lost or duplicated over the whole run.
CHAOS_NAME=zk_outage CHAOS_LIMIT=400
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
new_port=$((REDIS_BASE + 9))
# shellcheck disable=SC2034 # read by check
session_ms=10000 # the gateways' --zk-session-timeout-ms (their default; scripts/cluster keeps it)

zk_stop() {
    "$src/scripts/zookeeper" stop --dir "$dir" >>"$dir/cluster.out" 2>&1 || die "could not stop ZooKeeper"
}
zk_start() {
    "$src/scripts/zookeeper" start --dir "$dir" --port "$ZK_PORT" --tick-ms "$ZK_TICK_MS" \
        >>"$dir/cluster.out" 2>&1 || die "could not start ZooKeeper again"
}

# outage SECONDS: ZooKeeper down for about SECONDS; sets OUT_MS (measured) and MIN_PUSH, the
# lowest pushes_per_s of the loadgen's status lines meanwhile.
outage() {
    local t0 end line p
    t0=$(date +%s%N)
    zk_stop
    MIN_PUSH=''
    end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        sleep 1
        line=$(last_status)
        p=$(field pushes_per_s "$line") || continue
        [[ -n $MIN_PUSH ]] && ((p >= MIN_PUSH)) || MIN_PUSH=$p
    done
    zk_start
    OUT_MS=$((($(date +%s%N) - t0) / 1000000))
}

# registered: both gateways listed by 'ringctl status' with lag 0.
registered() {
    local out
    out=$(rctl status 2>/dev/null) || return 1
    [[ $(grep -cE '^gw[12] .* 0 ' <<<"$out") == 2 ]]
}

# wait_registered SECONDS: sets REG_S to how long it took, or dies.
wait_registered() {
    local t0=$SECONDS
    until registered; do
        ((SECONDS - t0 < $1)) || die "gateways not registered $1 s after ZooKeeper came back: $(rctl status 2>&1)"
        sleep 0.5
    done
    REG_S=$((SECONDS - t0))
}

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_redis "$new_port"
chaos_loadgen 300
chaos_wait_online 60
sleep 5
normal_push=$(field pushes_per_s "$(last_status)")

outage 2
short_ms=$OUT_MS short_min=$MIN_PUSH
expired_short=$(cat "$dir"/gateway-gw*.log | grep -c 'zookeeper: expired' || true)
wait_registered 30
say "short outage: ${short_ms} ms, pushes_per_s >= $short_min (before: $normal_push), registered again after ${REG_S} s"
sleep 3

outage 14
long_ms=$OUT_MS long_min=$MIN_PUSH
wait_registered 60
long_reg_s=$REG_S
expired_long=$(cat "$dir"/gateway-gw*.log | grep -c 'zookeeper: expired' || true)
say "long outage: ${long_ms} ms, pushes_per_s >= $long_min, registered again after ${long_reg_s} s; sessions expired: $expired_short after the short, $expired_long after the long"
sleep 3

t0=$(date +%s%N)
add_rc=0
rctl add "r9=127.0.0.1:$new_port" >"$dir/t-ringctl.log" 2>&1 || add_rc=$?
add_ms=$((($(date +%s%N) - t0) / 1000000))
say "ringctl add r9 exited $add_rc in $add_ms ms: $(tail -n 1 "$dir/t-ringctl.log")"
sleep 5
chaos_loadgen_stop

common_checks
check "lost == 0" "lost=$(field lost)"
check "short_ms < session_ms" "the short outage lasted $short_ms ms, not less than the session timeout"
check "long_ms > session_ms" "the long outage lasted $long_ms ms, not more than the session timeout"
check "expired_short == 0" "a gateway's session expired in the short outage"
check "expired_long >= 2" "$expired_long gateway sessions expired in the long outage, want both"
check "short_min * 2 >= normal_push && long_min * 2 >= normal_push" \
    "pushes_per_s fell to $short_min / $long_min during the outages (before: $normal_push)"
check "add_rc == 0" "ringctl add after the outages exited $add_rc"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "short_outage_ms=$short_ms" "long_outage_ms=$long_ms" "min_pushes_per_s=$short_min/$long_min" \
    "reregistered_s=$long_reg_s" "add_ms=$add_ms" "updates_per_s=$RATE"
