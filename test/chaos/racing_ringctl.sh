#!/usr/bin/env bash
# racing_ringctl: under 2000 updates/s on 8 nodes and 2 gateways, two 'ringctl add' of
# different nodes start at the same moment. Compare-and-set makes one re-read and re-apply:
# both must succeed, both nodes end active, and nothing is lost or duplicated.
CHAOS_NAME=racing_ringctl CHAOS_LIMIT=300
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
p9=$((REDIS_BASE + 9)) p10=$((REDIS_BASE + 10))

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_redis "$p9"
chaos_redis "$p10"
chaos_loadgen 35
chaos_wait_online 60
sleep 5

epoch_before=$(rctl show | sed -n 's/.*epoch[= ]\([0-9]*\).*/\1/p' | head -n 1)
t0=$(date +%s%N)
rctl add "r9=127.0.0.1:$p9" >"$dir/t-add-r9.log" 2>&1 &
a9=$!
rctl add "r10=127.0.0.1:$p10" >"$dir/t-add-r10.log" 2>&1 &
a10=$!
extra_pids+=("$a9" "$a10")
rc9=0 rc10=0
wait "$a9" || rc9=$?
wait "$a10" || rc10=$?
race_ms=$((($(date +%s%N) - t0) / 1000000))
say "add r9 exited $rc9: $(tail -n 1 "$dir/t-add-r9.log")"
say "add r10 exited $rc10: $(tail -n 1 "$dir/t-add-r10.log")"
rctl show >"$dir/t-show.log" 2>&1 || true
epoch_after=$(sed -n 's/.*epoch[= ]\([0-9]*\).*/\1/p' "$dir/t-show.log" | head -n 1)
active=$(grep -cE '^ *r(9|10) .*active' "$dir/t-show.log" || true)
on9=$(channels_on "$p9" | wc -l)
on10=$(channels_on "$p10" | wc -l)
say "ring epoch $epoch_before -> $epoch_after; active new nodes: $active; channels on r9 $on9, r10 $on10"
chaos_loadgen_wait

common_checks
check "lost == 0" "lost=$(field lost)"
check "rc9 == 0 && rc10 == 0" "ringctl add exited $rc9 (r9) and $rc10 (r10)"
check "active == 2" "$active of r9, r10 are active in 'ringctl show'"
check "on9 > 0 && on10 > 0" "r9 holds $on9 channels, r10 $on10"
chaos_result "active_new=$active" "epochs=$epoch_before..$epoch_after" "r9_channels=$on9" \
    "r10_channels=$on10" "race_ms=$race_ms" "updates_per_s=$RATE"
