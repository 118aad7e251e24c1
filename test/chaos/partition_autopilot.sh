#!/usr/bin/env bash
# partition_autopilot: two autopilots on hosts of their own, ap1 leading and ap2 following,
# two standbys, under 2000 updates/s. ap1 and zk1 are cut from zk2 and zk3, the majority:
# zk1 stops serving, ap1 can reach no server that serves, and its session expires on the
# majority's side. ap2 must take over (within ap1's 6 s session and zk1's 5 s syncLimit, plus
# a margin), ap1 must stop acting (it says so; and it could not write: every write is a
# compare-and-set on the ring's version, refused without a quorum). Then pub/sub node r3 is
# killed: ap2 alone replaces it with s1, in one write, and the phones converge within 5 s.
# After the heal ap1 comes back as a follower and does nothing: over the whole run the ring
# moves by exactly one epoch and s2 stays a standby (no double failover).
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=partition_autopilot CHAOS_LIMIT=420 CHAOS_NETNS=1
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"

ap1_log=$dir/t-autopilot-ap1.log ap2_log=$dir/t-autopilot-ap2.log

chaos_hosts_up 4 2 2 ap1 ap2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_add_standbys
chaos_autopilot ap1 "$ap1_log"
wait_log "$ap1_log" 'autopilot: leader' 30 || die "ap1 did not lead in 30 s: $(tail -n 3 "$ap1_log")"
chaos_autopilot ap2 "$ap2_log"
wait_log "$ap2_log" 'autopilot: follower of' 30 || die "ap2 did not follow in 30 s: $(tail -n 3 "$ap2_log")"
chaos_loadgen 200
chaos_wait_online 60
sleep 5
epoch0=$(ring_epoch)
s3_port=$((REDIS_BASE + 3))

for i in 2 3; do
    net cut ap1 "zk$i" >>"$dir/t-net.log"
    net cut zk1 "zk$i" >>"$dir/t-net.log"
done
t0=$(date +%s%N)
say "cut ap1 and zk1 from zk2 and zk3 at $(last_status | cut -d' ' -f1)"
takeover_ms=-1 stopped_ms=-1
while (($(since_ms "$t0") < 40000)); do
    [[ $stopped_ms -ge 0 ]] || ! grep -q 'autopilot: not acting' "$ap1_log" || stopped_ms=$(since_ms "$t0")
    if [[ $takeover_ms -lt 0 ]] && grep -q 'autopilot: leader' "$ap2_log"; then
        takeover_ms=$(since_ms "$t0")
    fi
    ((takeover_ms < 0 || stopped_ms < 0)) || break
    sleep 0.2
done
say "ap1 stopped acting after $stopped_ms ms: $(grep 'not acting' "$ap1_log" | tail -n 1)"
say "ap2 leads after $takeover_ms ms: $(grep 'autopilot: leader' "$ap2_log" | tail -n 1)"
zk1_mode=$(zk_mode 1)

victim=$(node_pid 3)
alive "$victim" || die "r3 (pid $victim) does not run"
kill -KILL "$victim"
kill -USR1 "$lg_pid"
t1=$(date +%s%N)
say "kill -9 r3 (pid $victim) at $(last_status | cut -d' ' -f1), zk1 is '$zk1_mode'"
wait_replaced r3 "$(host_addr s1):$((REDIS_BASE + 51))" "$t1"
replace_ms=$REPLACE_MS
say "r3 replaced after $replace_ms ms: $(grep 'replaced by' "$ap2_log" | tail -n 1)"
sleep 5

net heal --all >>"$dir/t-net.log"
t2=$(date +%s%N)
rejoined_ms=-1
while (($(since_ms "$t2") < 40000)); do
    if [[ $(tail -n 1 "$ap1_log") == *"autopilot: follower of"* ]]; then
        rejoined_ms=$(since_ms "$t2")
        break
    fi
    sleep 0.2
done
say "healed: ap1 follows again after $rejoined_ms ms: $(tail -n 1 "$ap1_log")"
sleep 5 # room for a second failover, if ap1 were to make one
chaos_loadgen_stop
epoch1=$(ring_epoch)
ring_now=$(rctl show 2>/dev/null)
ap1_replaced=$(grep -c 'replaced by' "$ap1_log" || true)
ap2_replaced=$(grep -c 'replaced by' "$ap2_log" || true)
grep -qE "^s2 +$(host_addr s2):$((REDIS_BASE + 52)) .*standby" <<<"$ring_now" && s2_standby=1 || s2_standby=0
say "ring epoch $epoch0 -> $epoch1; replacements by ap1: $ap1_replaced, by ap2: $ap2_replaced; s2 standby: $s2_standby"

common_checks
check "stopped_ms >= 0" "ap1 never said it stopped acting"
check "takeover_ms >= 0 && takeover_ms <= 30000" "ap2 did not lead within 30 s of the cut ($takeover_ms ms)"
check "replace_ms >= 0" "r3 was not replaced within 20 s of its kill"
check "ap1_replaced == 0 && ap2_replaced == 1" "replacements: ap1 $ap1_replaced, ap2 $ap2_replaced (want 0 and 1)"
check "epoch1 == epoch0 + 1" "the ring moved $epoch0 -> $epoch1: want exactly one write"
check "s2_standby == 1" "s2 is no longer a standby: a second failover"
check "rejoined_ms >= 0" "ap1 did not come back as a follower within 40 s of the heal"
check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms), want 0..5000"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "ap1_stopped_ms=$stopped_ms" "takeover_ms=$takeover_ms" "replace_ms=$replace_ms" \
    "converged_ms=$(field converged_ms)" "failovers=$((ap1_replaced + ap2_replaced))" \
    "epochs=$((epoch1 - epoch0))" "ap1_follower_again_ms=$rejoined_ms" "updates_per_s=$RATE"
