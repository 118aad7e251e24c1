#!/usr/bin/env bash
# kill_gateway: kill -9 one of 3 gateways under load; its phones come back through HAProxy to
# the others, and within 5 s every phone again shows every online friend's latest position.
# Updates the dead gateway held in flight are gone with it, so lost is reported, not asserted.
CHAOS_NAME=kill_gateway CHAOS_LIMIT=300
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

chaos_up 8 3
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_loadgen 35
chaos_wait_online 60
sleep 8 # steady load first

victim=$(gateway_pid 1)
alive "$victim" || die "gw1 (pid $victim) does not run"
kill -KILL "$victim"
kill -USR1 "$lg_pid" # the event: convergence is timed from here
say "kill -9 gw1 (pid $victim) at $(last_status | cut -d' ' -f1)"
chaos_loadgen_wait

common_checks
check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms), want 0..5000"
check "reconnects * 4 >= $CHAOS_PHONES" "reconnects=$(field reconnects): gw1's third of the phones did not move"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end, not $CHAOS_PHONES"
chaos_result "converged_ms=$(field converged_ms)" "reconnects=$(field reconnects)" \
    "errors=$(field errors)" "updates_per_s=$RATE"
