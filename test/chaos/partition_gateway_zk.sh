#!/usr/bin/env bash
# partition_gateway_zk: under 2000 updates/s on 2 gateways, gw1 is cut from all three
# ZooKeeper servers for 25 s, longer than its 10 s session, while it still reaches every
# pub/sub node, the cache and PostgreSQL. It must keep serving on its cached ring (its
# /healthz stays 200, its phones keep getting pushes). A 'ringctl add' started 2 s into the
# cut must not wait for gw1 forever: gw1's ephemeral znode goes with its session, and the
# add completes. After the heal gw1 opens new sessions; it must read the newest epoch before
# it reports one (no registration of it may show an older epoch than the ring's), and once
# it has caught up no update may be lost (counted from 3 s after the catch-up, the time for
# a gap found late to be one from before it).
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=partition_gateway_zk CHAOS_LIMIT=420 CHAOS_NETNS=1
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
session_ms=10000 # the gateways' --zk-session-timeout-ms (their default)


# gw1_epoch: gw1's registration as 'ringctl status --json' has it: its epoch, "none" when it
# reports none, "absent" when it has no znode (or ZooKeeper did not answer).
gw1_epoch() {
    { rctl status --json 2>/dev/null || true; } | python3 -c 'import json, sys
try:
    gws = json.load(sys.stdin)["gateways"]
except Exception:
    print("absent"); sys.exit()
for g in gws:
    if g["id"] == "gw1":
        e = g.get("epoch")
        print("none" if e is None or e < 0 else e); sys.exit()
print("absent")'
}

chaos_hosts_up 4 2 1
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_loadgen 200
chaos_wait_online 60
sleep 5
epoch0=$(ring_epoch)
[[ $(gw1_epoch) == "$epoch0" ]] || die "gw1 does not report epoch $epoch0: $(gw1_epoch)"
pushes0=$(gateway_metric 1 nearby_pushes_out_total)

for i in 1 2 3; do net cut gw1 "zk$i" >>"$dir/t-net.log"; done
t0=$(date +%s%N)
say "cut gw1 from zk1, zk2 and zk3 at $(last_status | cut -d' ' -f1)"
sleep 2
rctl_bg "$dir/t-ringctl.log" add "r5=$(host_addr s1):$((REDIS_BASE + 51))"
add_pid=$BG_PID
gone_ms=-1 served=1
while (($(since_ms "$t0") < 25000)); do
    [[ $gone_ms -ge 0 || $(gw1_epoch) != absent ]] || gone_ms=$(since_ms "$t0")
    [[ $(gateway_healthz 1) == 200 ]] || served=0
    sleep 0.5
done
pushes1=$(gateway_metric 1 nearby_pushes_out_total)
detail_cut=$(gateway_detail 1)
add_rc=-1
if ! alive "$add_pid"; then
    add_rc=0
    wait "$add_pid" || add_rc=$?
fi
add_ms=$((($(cat "$dir/t-ringctl.log.end" 2>/dev/null || echo "$t0") - t0) / 1000000 - 2000))
epoch1=$(ring_epoch)
say "gw1's znode gone after $gone_ms ms; ringctl add exited $add_rc after $add_ms ms (epoch $epoch0 -> $epoch1): $(tail -n 1 "$dir/t-ringctl.log")"
say "gw1 during the cut: /healthz always 200: $served; pushes $pushes0 -> $pushes1; $detail_cut"

for i in 1 2 3; do net heal gw1 "zk$i" >>"$dir/t-net.log"; done
t1=$(date +%s%N)
seen=() last='' rejoin_ms=-1
while (($(since_ms "$t1") < 30000)); do
    e=$(gw1_epoch)
    [[ $last == "$e" ]] || seen+=("$e")
    last=$e
    if [[ $e == "$epoch1" ]]; then
        rejoin_ms=$(since_ms "$t1")
        break
    fi
    sleep 0.1
done
kill -USR1 "$lg_pid"
t_caught=$(last_status | sed -n 's/^t=\([0-9]*\)s.*/\1/p')
say "healed: gw1's registration went through: ${seen[*]}; at the newest epoch $epoch1 after $rejoin_ms ms (loadgen t=${t_caught}s)"
stale=0
for e in "${seen[@]}"; do [[ $e == absent || $e == none || $e == "$epoch1" ]] || stale=1; done
sleep 20
chaos_loadgen_stop
lost_after=$(( $(grep '^t=' "$dir/loadgen.out" | sed -n 's/^t=\([0-9]*\)s .* lost=\([0-9]*\) .*/\1 \2/p' |
    awk -v t="$((t_caught + 3))" '$1 > t {s += $2} END {print s + 0}') + $(field lost_tail) ))

common_checks
check "gone_ms >= 0 && gone_ms <= session_ms + 10000" "gw1's znode did not go within the session timeout + 10 s ($gone_ms ms)"
check "add_rc == 0" "ringctl add during the cut exited $add_rc (-1: still running 23 s after it started)"
check "epoch1 == epoch0 + 2" "the add took epochs $epoch0 -> $epoch1, want two phases"
check "served == 1" "gw1's /healthz was not 200 throughout the cut"
check "pushes1 > pushes0" "gw1 pushed nothing while cut from ZooKeeper ($pushes0 -> $pushes1)"
check "stale == 0" "gw1 reported an epoch older than $epoch1 after the heal: ${seen[*]}"
check "rejoin_ms >= 0" "gw1 did not report epoch $epoch1 within 30 s of the heal: ${seen[*]}"
check "lost_after == 0" "lost=$lost_after after gw1 caught up"
check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms) after the catch-up"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "znode_gone_ms=$gone_ms" "add_ms=$add_ms" "served_in_cut=$served" "rejoin_ms=$rejoin_ms" \
    "reported=$(IFS=,; echo "${seen[*]}")" "lost_after_catchup=$lost_after" \
    "converged_ms=$(field converged_ms)" "updates_per_s=$RATE"
