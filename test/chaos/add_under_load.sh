#!/usr/bin/env bash
# add_under_load: 8 pub/sub nodes, 2 gateways, 2000 updates/s; 'ringctl add' a ninth node
# while gw2 lags 1.5 s behind (lagging_gateway in lib.sh says why). Nothing may be lost or
# duplicated (strangers' cell channels included: their pairs lose nothing), and about 1/9 of
# the gateways' channels (within 2 points) must move to it, each
# held on one node only once the change is done.
CHAOS_NAME=add_under_load CHAOS_LIMIT=300
# Some phones are pairs of strangers (lib.sh): their cell channels move with the ring too.
CHAOS_STRANGERS_FRACTION=${CHAOS_STRANGERS_FRACTION-0.04}
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
new_port=$((REDIS_BASE + 9))

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_redis "$new_port"
chaos_loadgen 35
chaos_wait_online 60
sleep 5

t0=$(date +%s%N)
lagging_gateway 2 1.5 "$dir/t-ringctl.log" rctl add "r9=127.0.0.1:$new_port" ||
    die "ringctl add failed: $(cat "$dir/t-ringctl.log")"
add_ms=$((($(date +%s%N) - t0) / 1000000))
say "ringctl add r9 took $add_ms ms: $(tail -n 1 "$dir/t-ringctl.log")"
rctl show >>"$dir/t-ringctl.log" 2>&1 || true

# Once the gateways are on the final epoch every channel sits on its one owner; the old
# owners' UNSUBSCRIBEs may trail it a little.
t1=$SECONDS
while :; do
    for i in $(seq 1 9); do channels_on $((REDIS_BASE + i)); done >"$dir/channels-all"
    total=$(sort -u "$dir/channels-all" | wc -l)
    held=$(wc -l <"$dir/channels-all")
    ((held > total && SECONDS - t1 < 10)) || break
    sleep 0.5
done
moved=$(channels_on "$new_port" | wc -l)
for i in $(seq 1 9); do cells_on $((REDIS_BASE + i)); done >"$dir/cells-all"
cells_total=$(sort -u "$dir/cells-all" | wc -l)
cells_held=$(wc -l <"$dir/cells-all")
cells_moved=$(cells_on "$new_port" | wc -l)
moved_pct=$(awk -v m="$moved" -v t="$total" 'BEGIN {printf "%.2f", t ? 100 * m / t : 0}')
say "r9 holds $moved of $total channels ($moved_pct %); $((held - total)) held twice"
say "r9 holds $cells_moved of $cells_total cell channels; $((cells_held - cells_total)) held twice"
chaos_loadgen_wait

common_checks
check "lost == 0" "lost=$(field lost)"
strangers_checks
check "total > 1000" "only $total channels subscribed"
check "moved * 10000 >= total * (1111 - 200) && moved * 10000 <= total * (1111 + 200)" \
    "$moved_pct % of the channels moved, want 11.11 +- 2"
check "held == total" "$((held - total)) channels still subscribed on two nodes"
if [[ ${CHAOS_STRANGERS_FRACTION:-0} != 0 ]]; then
    check "cells_total > 10 && cells_moved > 0" "cell channels: $cells_moved of $cells_total on r9"
    check "cells_held == cells_total" "$((cells_held - cells_total)) cell channels still on two nodes"
fi
chaos_result "strangers_lost=$(field strangers_lost)" "strangers_shown=$(field strangers_shown)" "moved=$moved_pct%" "channels=$total" "add_ms=$add_ms" "updates_per_s=$RATE"
