#!/usr/bin/env bash
# drain_under_load: 8 pub/sub nodes, 2 gateways, 2000 updates/s; 'ringctl drain r8' while gw2
# lags 1.5 s behind (lagging_gateway in lib.sh says why). Nothing may be lost or duplicated
# (the strangers' pairs on cell channels included),
# r8 must end with no subscription at all, and 'ringctl remove r8' must then succeed.
CHAOS_NAME=drain_under_load CHAOS_LIMIT=300
# Some phones are pairs of strangers (lib.sh): their cell channels move with the ring too.
CHAOS_STRANGERS_FRACTION=${CHAOS_STRANGERS_FRACTION-0.04}
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
r8_port=$((REDIS_BASE + 8))

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_loadgen 35
chaos_wait_online 60
sleep 5

before=$(channels_on "$r8_port" | wc -l)
t0=$(date +%s%N)
lagging_gateway 2 1.5 "$dir/t-ringctl.log" rctl drain r8 ||
    die "ringctl drain failed: $(cat "$dir/t-ringctl.log")"
drain_ms=$((($(date +%s%N) - t0) / 1000000))
say "ringctl drain r8 took $drain_ms ms: $(tail -n 1 "$dir/t-ringctl.log")"

# The gateways let go of r8 once they are on the final epoch; give the UNSUBSCRIBEs 10 s.
t1=$SECONDS
while left=$(subscriptions_on "$r8_port") && ((left > 0 && SECONDS - t1 < 10)); do
    sleep 0.5
done
say "r8 held $before channels before the drain, $left subscriptions after"
remove_rc=0
rctl remove r8 >>"$dir/t-ringctl.log" 2>&1 || remove_rc=$?
# shellcheck disable=SC2034 # read by check
in_ring=$(rctl show 2>>"$dir/t-ringctl.log" | grep -c 'r8' || true)
chaos_loadgen_wait

common_checks
check "lost == 0" "lost=$(field lost)"
strangers_checks
check "before > 100" "r8 held only $before channels before the drain"
check "left == 0" "r8 still has $left subscriptions after the drain"
check "remove_rc == 0" "ringctl remove r8 exited $remove_rc"
check "in_ring == 0" "r8 is still in the ring after remove"
chaos_result "strangers_lost=$(field strangers_lost)" "strangers_shown=$(field strangers_shown)" "r8_before=$before" "r8_after=$left" "remove_rc=$remove_rc" "drain_ms=$drain_ms" \
    "updates_per_s=$RATE"
