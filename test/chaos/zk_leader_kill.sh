#!/usr/bin/env bash
# zk_leader_kill: under 2000 updates/s on 8 nodes and 2 gateways with a 3-server ZooKeeper
# ensemble, the leader (found with srvr) gets kill -9 and a 'ringctl add' starts at once.
# The other two elect a new leader; every client is disconnected meanwhile (followers that
# lose their leader drop their clients), but no session may be lost: each gateway's
# registration keeps its session and czxid, no gateway log says expired or opens a new
# session. The add must complete, the killed server must rejoin as a follower, and nothing
# may be lost or duplicated.
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=zk_leader_kill CHAOS_LIMIT=300 CHAOS_ZK=3
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
new_port=$((REDIS_BASE + 9))

chaos_up 8 2
chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
chaos_redis "$new_port"
chaos_loadgen 120
chaos_wait_online 60
sleep 5
normal_push=$(field pushes_per_s "$(last_status)")

regs_before=$(registrations)
[[ $(wc -l <<<"$regs_before") == 2 ]] || die "want 2 registrations, got: $regs_before"
connected_before=$(gateway_log_count 'zookeeper: connected')
reconnected_before=$(gateway_log_count 'zookeeper: reconnected')
epoch0=$(ring_epoch) || die "ringctl show failed: $(rctl show 2>&1 | tail -n 1)"
zk_wait_leader 10 || die "no ZooKeeper server leads"
old_leader=$LEADER
victim=$(zk_pid "$old_leader")
alive "$victim" || die "zk$old_leader (pid $victim) does not run"

t0=$(date +%s%N)
kill -KILL "$victim"
say "kill -9 zk$old_leader, the leader (pid $victim), at $(last_status | cut -d' ' -f1)"
# In the background, noting when it ends: the pushes are sampled meanwhile.
rctl_bg "$dir/t-ringctl.log" add "r9=127.0.0.1:$new_port"
add_pid=$BG_PID
zk_wait_leader 30 || die "no new leader 30 s after the kill"
new_leader=$LEADER
election_ms=$((($(date +%s%N) - t0) / 1000000))
say "zk$new_leader leads after $election_ms ms"
min_pushes 8
add_rc=0
wait "$add_pid" || add_rc=$?
add_ms=$((($(cat "$dir/t-ringctl.log.end" 2>/dev/null || date +%s%N) - t0) / 1000000))
say "ringctl add r9 exited $add_rc, $add_ms ms after the kill: $(tail -n 1 "$dir/t-ringctl.log")"
epoch1=$(ring_epoch) || die "ringctl show failed: $(rctl show 2>&1 | tail -n 1)"

t1=$SECONDS
until gateways_registered 2; do
    ((SECONDS - t1 < 30)) || die "gateways not at the ring's epoch 30 s after the add: $(rctl status 2>&1)"
    sleep 0.5
done
regs_after=$(registrations)
connected_after=$(gateway_log_count 'zookeeper: connected')
reconnected=$(($(gateway_log_count 'zookeeper: reconnected') - reconnected_before))
expired=$(gateway_log_count 'zookeeper: expired')
# How long the gateways' ring watchers were without ZooKeeper: "back after N ms".
gap_ms=$(cat "$dir"/gateway-gw*.log | sed -n 's/.*zookeeper: reconnected .* back after \([0-9]*\) ms.*/\1/p' |
    sort -n | tail -n 1)
say "registrations before: $(tr '\n' ' ' <<<"$regs_before")after: $(tr '\n' ' ' <<<"$regs_after")"
say "ring watchers reconnected $reconnected times (longest gap ${gap_ms:-?} ms), new sessions $((connected_after - connected_before)), expired $expired"

zk_server_start "$old_leader" || die "zk$old_leader did not start again: $(tail -n 5 "$dir/cluster.out")"
rejoined=$(zk_mode "$old_leader")
say "zk$old_leader is back as $rejoined"
sleep 3
chaos_loadgen_stop

common_checks
check "lost == 0" "lost=$(field lost)"
check "new_leader != old_leader" "zk$old_leader still leads after its kill"
check "election_ms < 10000" "a new leader took $election_ms ms"
check "add_rc == 0" "ringctl add right after the kill exited $add_rc"
check "epoch1 == epoch0 + 2" "the add took epochs $epoch0 -> $epoch1, want two phases"
[[ $regs_after == "$regs_before" ]] && same_regs=1 || same_regs=0
check "same_regs == 1" "a gateway registered again: before '$regs_before', after '$regs_after'"
check "connected_after == connected_before" "a gateway's ring watcher opened a new session"
check "expired == 0" "$expired gateway sessions expired"
check "reconnected >= 2" "the ring watchers reconnected $reconnected times: the kill did not reach them"
check "MIN_PUSH * 2 >= normal_push" "pushes_per_s fell to $MIN_PUSH after the kill (before: $normal_push)"
[[ $rejoined == follower ]] && rejoined_ok=1 || rejoined_ok=0
check "rejoined_ok == 1" "zk$old_leader came back as '$rejoined', not a follower"
check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
chaos_result "election_ms=$election_ms" "zk_gap_ms=${gap_ms:-?}" "reconnected=$reconnected" \
    "reregistered=$((1 - same_regs))" "add_ms=$add_ms" "min_pushes_per_s=$MIN_PUSH" \
    "updates_per_s=$RATE"
