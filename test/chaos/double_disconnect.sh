#!/usr/bin/env bash
# double_disconnect: one gateway, two pub/sub nodes, about 5000 of the gateway's channels on
# node r1. Under load, r1 CLIENT KILLs the gateway's subscriber connection, and then its
# replacement part-way through resubscribing. Afterwards every one of the channels must be
# subscribed again (PUBSUB NUMSUB), and the phones must catch up. Updates published while
# the subscriber was cut are lost inside Redis by nature: lost is reported, not asserted.
CHAOS_NAME=double_disconnect CHAOS_LIMIT=300
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
cutter=${NEARBY_CUT_SUBSCRIBER:-$build/test/cut-subscriber}
[[ -x $cutter ]] || die "$cutter is not built"
users=12000 # phones 1..CHAOS_PHONES online; the others only as friends, so channels to hold
node_port=$((REDIS_BASE + 1))

# numsub_missing FILE: how many channels listed in FILE have no subscriber on r1.
numsub_missing() {
    local channels
    mapfile -t channels <"$1"
    redis_cli "$node_port" PUBSUB NUMSUB "${channels[@]}" |
        awk 'NR % 2 == 0 && $1 == 0 {n++} END {print n + 0}'
}

chaos_up 2 1
chaos_seed "$users" 20
chaos_loadgen 30
chaos_wait_online 60
sleep 5

redis_cli "$node_port" PUBSUB CHANNELS 'u:*' | sort >"$dir/channels-before"
held=$(wc -l <"$dir/channels-before")
say "r1 holds $held channels of the gateway"
((held >= 5000)) || die "r1 holds only $held channels, want >= 5000 (seed more users)"

kill -USR1 "$lg_pid" # convergence is timed from the first cut
cut=$("$cutter" "127.0.0.1:$node_port" 20) || die "cut-subscriber failed: $cut"
say "$cut"
second_at=$(field second_at "$cut")

t0=$SECONDS missing=$held
while ((SECONDS - t0 < 10)); do
    missing=$(numsub_missing "$dir/channels-before")
    ((missing > 0)) || break
    sleep 0.2
done
say "after the cuts: $missing of $held channels without a subscriber ($((SECONDS - t0)) s after)"
redis_cli "$node_port" PUBSUB CHANNELS 'u:*' | sort >"$dir/channels-after"
extra=$(comm -13 "$dir/channels-before" "$dir/channels-after" | wc -l)
# shellcheck disable=SC2034 # read by check
resubscribed=$(grep -c 'channels subscribed again' "$dir/gateway-gw1.log" || true)
chaos_loadgen_wait

common_checks
check "missing == 0" "$missing of $held channels lost their subscription"
check "extra == 0" "$extra channels subscribed on r1 that were not before"
check "second_at < held" "the second cut came after the resubscription finished"
check "resubscribed >= 1" "the gateway never logged a finished resubscription"
check "converged_ms >= 0" "the phones did not catch up after the cuts (converged_ms=$(field converged_ms))"
chaos_result "channels=$held" "missing=$missing" "second_cut_at=$second_at" \
    "converged_ms=$(field converged_ms)" "updates_per_s=$RATE"
