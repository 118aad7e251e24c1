#!/usr/bin/env bash
# partition_gateway_node: under 2000 updates/s on 3 gateways, gw1 alone is cut from pub/sub
# node r2, which every other gateway still reaches. gw1 reports r2 dead, but 1 of 3 is no
# majority: the autopilot must not fail r2 over (the ring keeps its epoch for the whole
# cut). gw1 sees the others' registrations, finds itself in the minority and answers 503
# on /healthz; HAProxy marks it down and closes its WebSockets, its phones come back through
# gw2 and gw3 and converge within 5 s of the 503. When the cut heals gw1 answers 200 again,
# HAProxy takes it back and new phones land on it.
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=partition_gateway_node CHAOS_LIMIT=420 CHAOS_NETNS=1
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"


# dead_lists: each gateway's dead list as "gwI=LIST" from 'ringctl status --json', sorted.
dead_lists() {
    rctl status --json | python3 -c 'import json, sys
for g in json.load(sys.stdin)["gateways"]:
    print("%s=%s" % (g["id"], g.get("dead", "")))' | sort | tr '\n' ' '
}

chaos_hosts_up 4 3 1
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_add_standbys
chaos_autopilot ctl "$dir/t-autopilot.log"
wait_log "$dir/t-autopilot.log" 'autopilot: leader' 30 || die "ringctl autopilot did not lead in 30 s"
chaos_loadgen 200
chaos_wait_online 60
sleep 5
sessions_before=$(gateway_metric 1 nearby_sessions)
epoch0=$(ring_epoch)

net cut gw1 r2 >>"$dir/t-net.log"
t0=$(date +%s%N)
say "cut gw1 from r2 at $(last_status | cut -d' ' -f1); gw1 had $sessions_before phones"
healthz_ms=-1 down_ms=-1 moved_ms=-1
while (($(since_ms "$t0") < 30000)); do
    if [[ $(gateway_healthz 1) == 503 ]]; then
        healthz_ms=$(since_ms "$t0")
        kill -USR1 "$lg_pid"
        t1=$(date +%s%N)
        break
    fi
    sleep 0.2
done
reason=$(gateway_detail 1)
say "gw1 /healthz 503 after $healthz_ms ms: $reason"
if ((healthz_ms >= 0)); then
    while (($(since_ms "$t1") < 20000)); do
        [[ $down_ms -ge 0 || $(lb_server_state gw1) != DOWN ]] || down_ms=$(since_ms "$t1")
        if [[ $down_ms -ge 0 && $(gateway_metric 1 nearby_sessions) == 0 ]]; then
            moved_ms=$(since_ms "$t1")
            break
        fi
        sleep 0.2
    done
fi
say "HAProxy marked gw1 down $down_ms ms after the 503; its phones were all gone after $moved_ms ms"
dead=$(dead_lists)
# The cut lasts 20 s: the autopilot (grace 0.1 s, every 100 ms) had every chance to act.
while (($(since_ms "$t0") < 20000)); do sleep 0.5; done
epoch_cut=$(ring_epoch)
replaced=$(grep -c 'replaced by' "$dir/t-autopilot.log" || true)
others_ok=1
for i in 2 3; do [[ $(gateway_healthz "$i") == 200 ]] || others_ok=0; done
say "after 20 s of the cut: dead lists $dead; ring epoch $epoch0 -> $epoch_cut; autopilot replacements: $replaced"

net heal gw1 r2 >>"$dir/t-net.log"
t2=$(date +%s%N)
back_ms=-1 up_ms=-1
while (($(since_ms "$t2") < 30000)); do
    [[ $back_ms -ge 0 || $(gateway_healthz 1) != 200 ]] || back_ms=$(since_ms "$t2")
    if [[ $back_ms -ge 0 && $(lb_server_state gw1) == UP ]]; then
        up_ms=$(since_ms "$t2")
        break
    fi
    sleep 0.2
done
say "healed: gw1 /healthz 200 after $back_ms ms, UP in HAProxy after $up_ms ms"
sleep 3
chaos_loadgen_stop
main_summary=$SUMMARY
common_checks

# New phones after the heal: gw1 must take its share (HAProxy balances by least connections).
"$src/scripts/netns" exec --state "$ns_state" lb -- "$loadgen" --url "$LB_URL" \
    --secret-file "$NEARBY_JWT_KEY_FILE" --users "$CHAOS_PHONES" --phones 60 --interval-ms 1250 \
    --spread-km 1 --ramp-per-s 100 --duration 8 --seed 8 >"$dir/t-probe.out" 2>&1 </dev/null &
probe=$!
extra_pids+=("$probe")
gw1_new=0
for _ in $(seq 1 16); do
    sleep 0.5
    n=$(gateway_metric 1 nearby_sessions)
    ((${n:-0} <= gw1_new)) || gw1_new=$n
done
wait "$probe" || true
say "new phones after the heal: gw1 took $gw1_new of 60"
SUMMARY=$main_summary

[[ $dead == *"gw1=r2 "* && $dead == *"gw2= "* && $dead == *"gw3= "* ]] && dead_ok=1 || dead_ok=0
[[ $reason == *"dead here"* ]] && reason_ok=1 || reason_ok=0
check "healthz_ms >= 0" "gw1's /healthz did not turn 503 within 30 s of the cut"
check "reason_ok == 1" "gw1's /healthz detail does not say why: $reason"
check "dead_ok == 1" "want gw1 alone to report r2 dead: $dead"
check "epoch_cut == epoch0 && replaced == 0" "the autopilot failed r2 over on a minority report (epoch $epoch0 -> $epoch_cut, $replaced replacements)"
check "others_ok == 1" "gw2 or gw3 did not answer 200 during the cut"
check "down_ms >= 0 && moved_ms >= 0" "gw1's phones were not moved (HAProxy down after $down_ms ms, phones gone after $moved_ms ms)"
check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms) after the 503, want 0..5000"
check "back_ms >= 0 && up_ms >= 0" "gw1 did not come back after the heal (200 after $back_ms ms, UP after $up_ms ms)"
check "gw1_new > 0" "gw1 took none of the new phones after the heal"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "healthz_503_ms=$healthz_ms" "lb_down_ms=$down_ms" "phones_moved_ms=$moved_ms" \
    "converged_ms=$(field converged_ms)" "moved_phones=$sessions_before" "failovers=$replaced" \
    "healed_200_ms=$back_ms" "lb_up_ms=$up_ms" "new_phones_on_gw1=$gw1_new/60" "updates_per_s=$RATE"
