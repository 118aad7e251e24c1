#!/usr/bin/env bash
# zk_quorum_loss: under 2000 updates/s on 8 nodes and 2 gateways with a 3-server ZooKeeper
# ensemble, the leader and one follower are frozen (SIGSTOP): no quorum. Live traffic must
# keep flowing on the gateways' cached ring; 'ringctl add' must refuse, at once and once the
# survivor has given up its leader, with exit status 1 and a message that says there is no
# quorum and which server is in which state, and write nothing. Then the follower returns
# (SIGCONT, one of two): the two elect a leader, the gateways register again, the same add
# completes, and the old leader, continued last, rejoins as a follower. Nothing may be lost
# or duplicated over the whole run.
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=zk_quorum_loss CHAOS_LIMIT=360 CHAOS_ZK=3
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
new_port=$((REDIS_BASE + 9))
session_ms=10000 # the gateways' --zk-session-timeout-ms (their default; scripts/cluster keeps it)
outage_s=20      # longer than the session timeout: the gateways' sessions go too

# add_refused LOG: 'ringctl add' must exit 1 quickly; sets REFUSE_RC and REFUSE_MS.
add_refused() {
    local t0
    t0=$(date +%s%N)
    REFUSE_RC=0
    rctl --connect-timeout-ms 3000 add "r9=127.0.0.1:$new_port" >"$1" 2>&1 || REFUSE_RC=$?
    REFUSE_MS=$((($(date +%s%N) - t0) / 1000000))
}

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_redis "$new_port"
chaos_loadgen 300
chaos_wait_online 60
sleep 5
normal_push=$(field pushes_per_s "$(last_status)")
epoch0=$(ring_epoch) || die "ringctl show failed: $(rctl show 2>&1 | tail -n 1)"
expired_before=$(gateway_log_count 'zookeeper: expired')

zk_wait_leader 10 || die "no ZooKeeper server leads"
leader=$LEADER
follower=$((leader % 3 + 1))
survivor=$((follower % 3 + 1))
for i in "$leader" "$follower"; do
    p=$(zk_pid "$i")
    alive "$p" || die "zk$i (pid $p) does not run"
    stopped_pids+=("$p")
done
t0=$(date +%s%N)
t0_s=$SECONDS
kill -STOP "$(zk_pid "$leader")" "$(zk_pid "$follower")"
say "SIGSTOP to zk$leader (the leader) and zk$follower at $(last_status | cut -d' ' -f1); zk$survivor is left"

# At once: the survivor still thinks it follows, but no session can be made.
add_refused "$dir/t-refused-early.log"
say "ringctl add at once: exit $REFUSE_RC in $REFUSE_MS ms: $(tail -n 1 "$dir/t-refused-early.log")"
early_rc=$REFUSE_RC

# Once the survivor has heard nothing from its leader for syncLimit ticks it stops serving.
until [[ $(zk_mode "$survivor") == none ]]; do
    ((SECONDS - t0_s < 30)) || die "zk$survivor still '$(zk_mode "$survivor")' 30 s after the freeze"
    sleep 0.2
done
noquorum_ms=$((($(date +%s%N) - t0) / 1000000))
say "zk$survivor serves no requests after $noquorum_ms ms"
add_refused "$dir/t-refused.log"
refuse_rc=$REFUSE_RC refuse_ms=$REFUSE_MS
refusal=$(grep 'ringctl add:' "$dir/t-refused.log" | tail -n 1)
say "ringctl add without a quorum: exit $refuse_rc in $refuse_ms ms: $refusal"
grep -q "ringctl add: ZooKeeper has no quorum at $ZK " <<<"$refusal" && says_no_quorum=1 || says_no_quorum=0
grep -q "127.0.0.1:$((ZK_PORT + survivor - 1)) runs but serves no requests" <<<"$refusal" &&
    says_survivor=1 || says_survivor=0
grep -q "127.0.0.1:$((ZK_PORT + leader - 1)) accepts connections but does not answer" <<<"$refusal" &&
    says_frozen=1 || says_frozen=0

min_pushes $((outage_s - (SECONDS - t0_s)))
outage_min=$MIN_PUSH
kill -CONT "$(zk_pid "$follower")"
outage_ms=$((($(date +%s%N) - t0) / 1000000))
t1=$(date +%s%N)
say "SIGCONT to zk$follower after $outage_ms ms (pushes_per_s >= $outage_min meanwhile, before: $normal_push)"
zk_wait_leader 60 || die "no leader 60 s after zk$follower came back: zk$survivor $(zk_mode "$survivor"), zk$follower $(zk_mode "$follower")"
recover_ms=$((($(date +%s%N) - t1) / 1000000))
epoch_between=$(ring_epoch) || die "ringctl show failed: $(rctl show 2>&1 | tail -n 1)"
t2=$SECONDS
until gateways_registered 2; do
    ((SECONDS - t2 < 60)) || die "gateways not registered 60 s after the quorum came back: $(rctl status 2>&1)"
    sleep 0.5
done
reg_s=$((SECONDS - t2))
expired=$(($(gateway_log_count 'zookeeper: expired') - expired_before))
say "zk$LEADER leads $recover_ms ms after zk$follower returned; gateways registered again after $reg_s s ($expired sessions expired)"

t3=$(date +%s%N)
add_rc=0
rctl add "r9=127.0.0.1:$new_port" >"$dir/t-ringctl.log" 2>&1 || add_rc=$?
add_ms=$((($(date +%s%N) - t3) / 1000000))
say "ringctl add r9 exited $add_rc in $add_ms ms: $(tail -n 1 "$dir/t-ringctl.log")"
epoch1=$(ring_epoch) || die "ringctl show failed: $(rctl show 2>&1 | tail -n 1)"
kill -CONT "$(zk_pid "$leader")"
t4=$SECONDS
until [[ $(zk_mode "$leader") == follower ]]; do
    ((SECONDS - t4 < 30)) || break
    sleep 0.2
done
rejoined=$(zk_mode "$leader")
say "SIGCONT to zk$leader, the old leader: back as $rejoined after $((SECONDS - t4)) s"
sleep 3
chaos_loadgen_stop

common_checks
check "lost == 0" "lost=$(field lost)"
check "early_rc == 1" "ringctl add right after the freeze exited $early_rc, want 1"
check "refuse_rc == 1" "ringctl add without a quorum exited $refuse_rc, want 1"
check "says_no_quorum == 1" "ringctl's refusal does not say 'ZooKeeper has no quorum at $ZK': $refusal"
check "says_survivor == 1 && says_frozen == 1" "ringctl's refusal does not name each server's state: $refusal"
check "epoch_between == epoch0" "the ring moved from epoch $epoch0 to $epoch_between without a quorum"
check "outage_ms > session_ms" "the outage lasted $outage_ms ms, not more than the session timeout"
check "outage_min * 2 >= normal_push" "pushes_per_s fell to $outage_min without a quorum (before: $normal_push)"
check "add_rc == 0" "ringctl add after the quorum came back exited $add_rc"
check "epoch1 == epoch0 + 2" "the add took epochs $epoch0 -> $epoch1, want two phases"
[[ $rejoined == follower ]] && rejoined_ok=1 || rejoined_ok=0
check "rejoined_ok == 1" "zk$leader, the old leader, came back as '$rejoined', not a follower"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "noquorum_ms=$noquorum_ms" "outage_ms=$outage_ms" "min_pushes_per_s=$outage_min" \
    "refused_rc=$early_rc/$refuse_rc" "recover_ms=$recover_ms" "reregistered_s=$reg_s" \
    "expired=$expired" "add_ms=$add_ms" "updates_per_s=$RATE"
