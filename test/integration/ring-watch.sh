#!/usr/bin/env bash
# ring-watch.sh: the ring watcher (zk/ring_watch.c) against a real ZooKeeper, through
# `ringctl watch`: a missing ring, no missed epoch, a fast burst from racing writers, a
# connection loss shorter than the session timeout, and a session expiry.
#
# Environment: NEARBY_SOURCE_ROOT, NEARBY_BUILD_ROOT (set by meson), NEARBY_TEST_ZK_PORT
# (default 22191), NEARBY_RINGCTL (default $NEARBY_BUILD_ROOT/ringctl/ringctl).
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
ringctl_bin=${NEARBY_RINGCTL:-$build/ringctl/ringctl}
port=${NEARBY_TEST_ZK_PORT:-22191}
zk="127.0.0.1:$port"
dir=$(mktemp -d /tmp/nearby-test-ring-watch.XXXXXX)
started=$SECONDS
watchers=() # PIDs of the `ringctl watch` processes we started

cleanup() {
    local pid
    for pid in "${watchers[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${watchers[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    "$src/scripts/zookeeper" stop --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

zk_start() { "$src/scripts/zookeeper" start --dir "$dir" --port "$port" --tick-ms 500 \
    --max-session-ms 20000 >/dev/null; }
zk_stop() { "$src/scripts/zookeeper" stop --dir "$dir" >/dev/null; }

ringctl() { timeout 30 "$ringctl_bin" --zk "$zk" "$@"; }

# die WHAT [WATCHER]: says what was expected, shows the watcher's output, fails the test.
die() {
    echo "FAIL after $((SECONDS - started)) s: $1" >&2
    if [ -n "${2:-}" ]; then
        echo "--- output of watcher '$2' (stdout) ---" >&2
        cat "$dir/$2.out" >&2 || true
        echo "--- its stderr (last 20 lines) ---" >&2
        tail -n 20 "$dir/$2.err" >&2 || true
    fi
    exit 1
}

# start_watcher NAME ARGS...: runs `ringctl ARGS... watch` in the background; its output
# goes to $dir/NAME.out and $dir/NAME.err, its PID to $dir/NAME.pid.
start_watcher() {
    local name=$1
    shift
    "$ringctl_bin" --zk "$zk" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
    watchers+=($!)
    echo $! >"$dir/$name.pid"
}

# stop_watcher NAME: SIGTERM, and the watcher must exit 0 within 10 s.
stop_watcher() {
    local pid status=0 i
    pid=$(cat "$dir/$1.pid")
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && die "watcher '$1' still runs 10 s after SIGTERM" "$1"
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || die "watcher '$1' exited $status after SIGTERM, want 0" "$1"
}

# await NAME SECONDS EREGEX [COUNT] WHAT: waits until the watcher's output has COUNT
# (default 1) lines matching EREGEX.
await() {
    local name=$1 secs=$2 re=$3 count=1 what i n
    if [ $# -ge 5 ]; then
        count=$4
        shift
    fi
    what=$4
    for ((i = 0; i < secs * 20; i++)); do
        n=$(grep -cE -- "$re" "$dir/$name.out" 2>/dev/null || true)
        [ "${n:-0}" -ge "$count" ] && return 0
        sleep 0.05
    done
    die "expected $what within $secs s (lines matching /$re/: want $count)" "$name"
}

# epochs NAME: the epochs of the rings the watcher printed, one per line, in order.
epochs() { sed -n 's/^ring epoch=\([0-9]*\) .*/\1/p' "$dir/$1.out"; }

# check_increasing NAME: the epochs the watcher printed are strictly increasing.
check_increasing() {
    epochs "$1" | awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' ||
        die "epochs not strictly increasing: $(epochs "$1" | paste -sd' ')" "$1"
}

# session_of NAME EVENT [N]: the session id in the Nth (default 1st) line of event EVENT.
session_of() {
    grep -E "^event=$2 " "$dir/$1.out" | sed -n "${3:-1}p" | grep -oE 'session 0x[0-9a-f]+' |
        head -n1
}

# line_of NAME EREGEX: the number of the first output line matching EREGEX (or 0).
line_of() { grep -nE -- "$2" "$dir/$1.out" | head -n1 | cut -d: -f1 || echo 0; }

[ -x "$ringctl_bin" ] || die "no ringctl at $ringctl_bin (build first)"
zk_start

step=$SECONDS
# ok MESSAGE: reports a passed step with the seconds it took.
ok() {
    echo "ok $* ($((SECONDS - step)) s)"
    step=$SECONDS
}

# -- 0: a ring that does not exist is reported missing, then seen once created. -----------
start_watcher missing --ring later watch
await missing 10 '^event=connected ' "the first session"
await missing 10 '^event=missing ' "the ring 'later' reported missing"
ringctl --ring later init a=127.0.0.1:7001 >/dev/null
await missing 10 '^ring epoch=1 version=0 nodes=1$' "ring 'later' at epoch 1 once created"
stop_watcher missing
ok "0: missing ring reported, then delivered when created"

# -- 1a: lock step, so every epoch must be delivered. --------------------------------------
# Few vnodes keep the many rebuilds (writers and watchers) cheap on a small machine.
ringctl init --vnodes 256 r1=127.0.0.1:7001 r2=127.0.0.1:7002 >/dev/null
start_watcher lockstep watch
await lockstep 10 '^ring epoch=1 ' "the ring at epoch 1"
# Single compare-and-set writes (add-standby, remove), one epoch each.
for ((i = 1; i <= 100; i++)); do
    if ((i % 2)); then
        ringctl add-standby "s$i=127.0.0.1:$((10000 + i))" >/dev/null
    else
        ringctl remove "s$((i - 1))" --force >/dev/null
    fi || die "ringctl write #$i failed" lockstep
    await lockstep 5 "^ring epoch=$((1 + i)) " "epoch $((1 + i)) after write #$i"
done
want=$(seq 1 101 | paste -sd' ')
got=$(epochs lockstep | paste -sd' ')
[ "$got" = "$want" ] || die "every epoch 1..101 exactly once in order; got: $got" lockstep
ok "1a: 100 writes in lock step, every epoch delivered once, in order"

# -- 1b: a burst from four racing writers; ZooKeeper may coalesce changes between a watch
# firing and the re-read, so: strictly increasing epochs, ending on the last one. ---------
writer() { # writer KIND: 25 single compare-and-set writes of one kind
    local j
    for ((j = 1; j <= 25; j++)); do
        ringctl add-standby "$1$j=127.0.0.1:$((30000 + ${#1} * 1000 + j))" >/dev/null || return 1
    done
}
pids=()
for kind in n mm ppp qqqq; do
    writer "$kind" &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || die "a racing writer failed (every CAS write must get in)" lockstep
done
await lockstep 10 '^ring epoch=201 version=200 nodes=102$' "the last epoch 201 with 102 nodes"
check_increasing lockstep
[ "$(epochs lockstep | tail -n1)" = 201 ] || die "the watcher must end on epoch 201" lockstep
ok "1b: 100 racing writes, $(($(epochs lockstep | wc -l) - 101)) rings delivered," \
    "strictly increasing, ending on epoch 201"
stop_watcher lockstep

# -- 2: ZooKeeper down for less than the session timeout: same session comes back. --------
# The session is long (15 s) because a client that connects in the instant the restarting
# server has bound its port but not loaded its data gets no answer and waits 2/3 of the
# session timeout before it tries again.
start_watcher short watch --session-timeout-ms 15000
await short 10 '^ring epoch=201 ' "the ring at epoch 201"
zk_stop
await short 10 '^event=disconnected ' "disconnected once ZooKeeper stopped"
sleep 2
zk_start
await short 20 '^event=reconnected ' "reconnected (same session) after the restart"
ringctl add-standby x1=127.0.0.1:40001 >/dev/null || die "write after the restart failed" short
await short 10 '^ring epoch=202 ' "epoch 202 written after the reconnect"
grep -qE '^event=expired ' "$dir/short.out" && die "no expiry when down for ~2 s of 15" short
[ "$(session_of short connected)" = "$(session_of short reconnected)" ] ||
    die "reconnected must name the first session" short
[ "$(line_of short '^event=disconnected ')" -lt "$(line_of short '^event=reconnected ')" ] ||
    die "disconnected must come before reconnected" short
check_increasing short
stop_watcher short
ok "2: down ~2 s with a 15 s session: disconnected, reconnected, epoch 202 seen"

# -- 3: ZooKeeper down for longer than the session timeout: expiry and a new session. -----
# A standalone server revives old sessions when it restarts, so the watcher must give the
# session up on its own after the session timeout without a connection.
start_watcher long watch --session-timeout-ms 4000
await long 10 '^ring epoch=202 ' "the ring at epoch 202"
zk_stop
await long 10 '^event=disconnected ' "disconnected once ZooKeeper stopped"
await long 10 '^event=expired ' "expired after 4 s without a connection"
sleep 1
zk_start
await long 20 '^event=connected ' 2 "connected with a new session after the restart"
ringctl add-standby x2=127.0.0.1:40002 >/dev/null || die "write after the restart failed" long
await long 10 '^ring epoch=203 ' "epoch 203 written after the new session"
first=$(session_of long connected 1)
second=$(session_of long connected 2)
[ -n "$first" ] && [ "$first" != "$second" ] ||
    die "the second connected must name a new session ($first, then $second)" long
grep -qE '^event=reconnected ' "$dir/long.out" && die "no reconnect of an expired session" long
[ "$(line_of long '^event=disconnected ')" -lt "$(line_of long '^event=expired ')" ] ||
    die "disconnected must come before expired" long
check_increasing long
stop_watcher long
ok "3: down >4 s with a 4 s session: expired, new session, epoch 203 seen"

echo "ring-watch: all passed in $((SECONDS - started)) s"
