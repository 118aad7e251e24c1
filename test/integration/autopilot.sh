#!/usr/bin/env bash
# `ringctl autopilot` against real servers: a 3-node cluster with two gateways and two standby
# Redis; three autopilots and a dry run. kill -9 of a node: the leader alone gives its id the
# first standby's address in one write (epoch + 1, nothing else moves) and the gateways stop
# reporting it dead; kill -9 of the leader: another takes over within the ZooKeeper session
# timeout and handles the next death; SIGTERM hands over at once; with no standby left nothing
# is written and the autopilot says so.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build
ringctl=$build/ringctl/ringctl
zk_port=22341 redis_base=27000 pg_port=25520 gw_base=28500 lb_port=28520
s1_port=27011 s2_port=27012
grace=1.5 session_ms=3000
zk="127.0.0.1:$zk_port"
dir=$(mktemp -d /tmp/nearby-test-autopilot.XXXXXX)
# ringctl as admin in ZooKeeper; scripts/cluster up makes the file.
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
chmod 755 "$dir" # PostgreSQL runs as another user when we are root
declare -A ap_pid=()

say() { printf 'autopilot test: %s\n' "$*"; }

cleanup() {
    local name
    for name in "${!ap_pid[@]}"; do kill -TERM "${ap_pid[$name]}" 2>/dev/null || true; done
    for name in "${!ap_pid[@]}"; do wait "${ap_pid[$name]}" 2>/dev/null || true; done
    "$src/scripts/redis" stop --dir "$dir" --port "$s1_port" >/dev/null 2>&1 || true
    "$src/scripts/redis" stop --dir "$dir" --port "$s2_port" >/dev/null 2>&1 || true
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    local f
    echo "autopilot test: FAIL: $*"
    echo "--- ringctl show:"; timeout 10 "$ringctl" --zk "$zk" show 2>&1 || true
    echo "--- ringctl status:"; timeout 10 "$ringctl" --zk "$zk" status 2>&1 || true
    for f in "$dir"/autopilot-*.log "$dir"/gateway-gw*.log; do
        [[ -f $f ]] && { echo "--- $f"; tail -n 40 "$f"; }
    done
    exit 1
}

now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }

# check EXPR: the Python expression on r (ringctl show --json), n (its nodes by id),
# s (ringctl status --json) and g (its gateways by id).
check() {
    local ring status
    ring=$(timeout 10 "$ringctl" --zk "$zk" show --json 2>/dev/null) || return 1
    status=$(timeout 10 "$ringctl" --zk "$zk" status --json 2>/dev/null) || return 1
    python3 -c '
import json, sys
r, s = json.loads(sys.argv[2]), json.loads(sys.argv[3])
n = {x["id"]: x for x in r["nodes"]}
g = {x["id"]: x for x in s["gateways"]}
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$1" "$ring" "$status"
}

# wait_for SECONDS WHAT EXPR: polls check EXPR until it holds.
wait_for() {
    local deadline t0
    t0=$(now)
    deadline=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[2]))' "$t0" "$1")
    while python3 -c 'import sys, time; sys.exit(0 if time.time() < float(sys.argv[1]) else 1)' "$deadline"; do
        check "$3" && return 0
        sleep 0.05
    done
    fail "$2 (not within $1 s)"
}

# wait_log NAME SECONDS PATTERN: waits until autopilot NAME's log has a line matching PATTERN.
wait_log() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        grep -q -E "$3" "$dir/autopilot-$1.log" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "autopilot $1 did not log /$3/ within $2 s"
}

# count PATTERN: matching lines in all the autopilots' logs together.
count() { cat "$dir"/autopilot-*.log | grep -c -E "$1" || true; }

start_autopilot() { # NAME [FLAGS...]
    local name=$1
    shift
    NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-autopilot.auth \
        "$ringctl" --zk "$zk" autopilot --session-timeout-ms "$session_ms" "$@" \
        >>"$dir/autopilot-$name.log" 2>&1 &
    ap_pid[$name]=$!
}

epoch() { timeout 10 "$ringctl" --zk "$zk" show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch"])'; }
addr() { timeout 10 "$ringctl" --zk "$zk" show --json | python3 -c 'import json,sys; print({x["id"]: x["addr"] for x in json.load(sys.stdin)["nodes"]}.get(sys.argv[1], "-"))' "$1"; }

# -- a cluster with two standbys ------------------------------------------------------
"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 3 --gateways 2 --zk-port "$zk_port" \
    --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
    --gateway-base-port "$gw_base" --lb-port "$lb_port" --drain-seconds 1 \
    >"$dir/cluster.out" 2>&1 || { cat "$dir/cluster.out"; exit 1; }
for port in "$s1_port" "$s2_port"; do
    "$src/scripts/redis" start --dir "$dir" --port "$port" >/dev/null
done
timeout 10 "$ringctl" --zk "$zk" add-standby "s1=127.0.0.1:$s1_port" >/dev/null
timeout 10 "$ringctl" --zk "$zk" add-standby "s2=127.0.0.1:$s2_port" >/dev/null
wait_for 15 "both gateways at the ring's epoch, nothing dead" \
    'len(g) == 2 and all(x["epoch"] == r["epoch"] and x["dead"] == "" for x in g.values())'
say "ok: cluster up, standbys s1 and s2 added"

# -- three autopilots and a dry run: one leads --------------------------------------------
start_autopilot a --grace "$grace"
wait_log a 10 'autopilot: leader \(candidate-'
start_autopilot b --grace "$grace"
wait_log b 10 'autopilot: follower of candidate-'
start_autopilot c --grace "$grace" # after b: candidates are numbered in order of creation
wait_log c 10 'autopilot: follower of candidate-'
# The dry run acts sooner, so that it logs before the leader changes the ring.
start_autopilot dry --grace 0.2 --dry-run
wait_log dry 10 'autopilot: watching ring main .* dry run'
[[ $(count 'autopilot: leader') == 1 ]] || fail "not exactly one leader"
say "ok: a leads, b and c follow, the dry run stands aside"

# -- kill -9 of r1: replaced by s1 ---------------------------------------------------------
e0=$(epoch)
r2_addr=$(addr r2) r3_addr=$(addr r3)
t_kill=$(now)
kill -KILL "$(cat "$dir/redis-$((redis_base + 1)).pid")"
wait_for 15 "both gateways report r1 dead" \
    'all("r1" in x["dead"].split(",") for x in g.values()) or n["r1"]["addr"] != "127.0.0.1:'$((redis_base + 1))'"'
detect=$(since "$t_kill")
wait_for "$(python3 -c "print($grace + 2)")" "r1 at s1's address, s1 gone, epoch + 1, nothing else moved" \
    'n["r1"]["addr"] == "127.0.0.1:'$s1_port'" and "s1" not in n and r["epoch"] == '$((e0 + 1))'
     and n["r2"]["addr"] == "'"$r2_addr"'" and n["r3"]["addr"] == "'"$r3_addr"'"
     and n["s2"]["state"] == "standby" and n["r1"]["state"] == "active"'
say "ok: both gateways reported r1 dead $detect s after kill -9, and the ring was written"
grep -E 'autopilot: node r1 \(127\.0\.0\.1:27001\) reported dead by 2/2 gateways for [0-9.]+ s; replaced by standby s1 at 127\.0\.0\.1:27011, ring epoch '$((e0 + 1)) \
    "$dir/autopilot-a.log" || fail "a did not log the replace"
# From the log lines: the later gateway to find r1 dead (a majority of 2) to the write.
react=$(python3 -c '
import datetime, re, sys
def stamps(path, pattern):
    return [datetime.datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            for l in open(path) if re.search(pattern, l)]
dead = max(stamps(p, r"pub/sub node r1 \(127.0.0.1:27001\) is dead")[0] for p in sys.argv[2:])
print("%.2f" % (stamps(sys.argv[1], "replaced by standby s1")[0] - dead).total_seconds())
' "$dir/autopilot-a.log" "$dir"/gateway-gw*.log)
python3 -c "import sys; sys.exit(0 if $react <= $grace + 1.0 else 1)" ||
    fail "the write came $react s after the gateways found r1 dead (grace $grace s)"
say "ok: ring written $react s after the second gateway found r1 dead (grace $grace s)"
grep -E 'dry run: node r1 .* would replace it by standby s1 at 127\.0\.0\.1:27011' \
    "$dir/autopilot-dry.log" >/dev/null || fail "the dry run did not say what it would do"
wait_for 10 "no gateway reports a node dead" \
    'len(g) == 2 and all(x["dead"] == "" and x["epoch"] == r["epoch"] for x in g.values())'
say "ok: gateways on epoch $((e0 + 1)) with nothing dead, $(since "$t_kill") s after kill -9"
sleep "$grace"
[[ $(count 'replaced by standby') == 1 ]] || fail "not exactly one replace logged"
[[ $(epoch) == $((e0 + 1)) ]] || fail "the ring changed again"
say "ok: exactly one autopilot wrote"

# -- kill -9 of the leader: b takes over within the session timeout ------------------------
t_kill=$(now)
kill -KILL "${ap_pid[a]}"
wait "${ap_pid[a]}" 2>/dev/null || true
unset 'ap_pid[a]'
wait_log b "$((session_ms / 1000 + 3))" 'autopilot: leader'
say "ok: b leads $(since "$t_kill") s after the leader's kill -9 (session timeout $session_ms ms)"
for ((i = 0; i < 100; i++)); do
    (($(grep -c 'autopilot: follower of' "$dir/autopilot-c.log") >= 2)) && break
    sleep 0.05
done
(($(grep -c 'autopilot: follower of' "$dir/autopilot-c.log") >= 2)) || fail "c does not follow b"

e0=$(epoch)
t_kill=$(now)
kill -KILL "$(cat "$dir/redis-$((redis_base + 2)).pid")"
wait_for "$(python3 -c "print(15 + $grace + 2)")" "r2 at s2's address, s2 gone, epoch + 1" \
    'n["r2"]["addr"] == "127.0.0.1:'$s2_port'" and "s2" not in n and r["epoch"] == '$((e0 + 1))'
     and n["r1"]["addr"] == "127.0.0.1:'$s1_port'" and n["r3"]["addr"] == "'"$r3_addr"'"'
say "ok: b replaced r2 by s2, $(since "$t_kill") s after kill -9"
grep -q -E 'autopilot: node r2 .* replaced by standby s2' "$dir/autopilot-b.log" ||
    fail "b did not log the replace"
wait_for 10 "no gateway reports a node dead" \
    'len(g) == 2 and all(x["dead"] == "" and x["epoch"] == r["epoch"] for x in g.values())'
[[ $(count 'replaced by standby') == 2 ]] || fail "not exactly two replaces logged"

# -- SIGTERM: exit 0, and c leads at once --------------------------------------------------
! grep -q 'autopilot: leader' "$dir/autopilot-c.log" || fail "c led before b stopped"
kill -TERM "${ap_pid[b]}"
rc=0
wait "${ap_pid[b]}" || rc=$?
unset 'ap_pid[b]'
[[ $rc == 0 ]] || fail "b exited $rc on SIGTERM"
grep -q 'autopilot: stopping on SIGTERM' "$dir/autopilot-b.log" || fail "b did not say it stops"
wait_log c 2 'autopilot: leader'
handover=$(python3 -c '
import datetime, re, sys
def stamp(path, pattern):
    for line in open(path):
        if re.search(pattern, line):
            return datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
print("%.2f" % (stamp(sys.argv[2], "autopilot: leader") - stamp(sys.argv[1], "stopping on SIGTERM")).total_seconds())
' "$dir/autopilot-b.log" "$dir/autopilot-c.log")
say "ok: b exited 0 on SIGTERM and c leads $handover s after b said it stops"

# -- no standby left: r3 dies, nothing is written ------------------------------------------
e0=$(epoch)
kill -KILL "$(cat "$dir/redis-$((redis_base + 3)).pid")"
wait_log c "$(python3 -c "print(int(15 + $grace + 2))")" \
    "autopilot: node r3 \\(127\\.0\\.0\\.1:27003\\) is dead \\(reported by 2/2 gateways for [0-9.]+ s\\) and no standby is left: add one with 'ringctl add-standby ID=HOST:PORT'; doing nothing"
sleep "$grace"
[[ $(epoch) == "$e0" ]] || fail "the ring was written with no standby left"
[[ $(addr r3) == "$r3_addr" ]] || fail "r3 moved"
[[ $(count 'replaced by standby') == 2 ]] || fail "a replace was logged with no standby left"
[[ $(grep -c 'no standby is left' "$dir/autopilot-c.log") == 1 ]] || fail "said it more than once"
say "ok: no standby left: said so once, ring epoch $e0 unchanged"

for name in c dry; do
    kill -TERM "${ap_pid[$name]}"
    rc=0
    wait "${ap_pid[$name]}" || rc=$?
    unset "ap_pid[$name]"
    [[ $rc == 0 ]] || fail "$name exited $rc on SIGTERM"
done
say "autopilot: all ok"
