#!/usr/bin/env bash
# netns.sh: scripts/netns makes hosts that are separate to each other, and the cluster's
# servers run on them unchanged. Five namespaces zk1 zk2 zk3 r1 ctl on the test's own
# bridge: their addresses exist only inside them; a cut stops a connection, heal brings it
# back, a one-way drop blocks one direction only, unplug cuts a host from all; a ZooKeeper
# ensemble with one server per host, Redis on r1 and ringctl on ctl work across them,
# through a minority partition and a ctl cut from every ZooKeeper server; down removes it
# all and refuses while something runs, and up refuses a namespace it did not make.
#
# Needs root (network namespaces) and nftables; skipped (exit 77) without them.
# Environment: NEARBY_SOURCE_ROOT, NEARBY_BUILD_ROOT (set by meson).
# shellcheck disable=SC2317 # cleanup and the probes are called from traps and expect
set -euo pipefail

# Bounded: SIGTERM at 240 s (the trap cleans up), SIGKILL 30 s later.
if [[ -z ${NETNS_TEST_BOUNDED:-} ]]; then
    export NETNS_TEST_BOUNDED=1
    exec timeout -k 30 240 "$0" "$@"
fi

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
ringctl_bin=$build/ringctl/ringctl
started=$SECONDS

if (($(id -u) != 0)); then
    echo "SKIP: network namespaces need root"
    exit 77
fi
for c in ip nft nc redis-server redis-cli java; do
    command -v "$c" >/dev/null || {
        echo "SKIP: '$c' is missing (scripts/deps installs it)"
        exit 77
    }
done

prefix=nbt$$ # namespace names of our own: nbt<pid>-zk1 ...
dir=$(mktemp -d /tmp/nearby-test-netns.XXXXXX)
state=$dir/netns
pids=()   # processes started in the background, stopped by PID
failed=0
ZKS=10.77.0.1:2181,10.77.0.2:2182,10.77.0.3:2183 # zkI on 10.77.0.I, client port 2180+I

N() {
    local c=$1
    shift
    "$src/scripts/netns" "$c" --state "$state" "$@"
}
# on HOST CMD...: CMD inside HOST, bounded to 30 s.
on() {
    local h=$1
    shift
    timeout 30 "$src/scripts/netns" exec --state "$state" "$h" -- "$@"
}

cleanup() {
    local rc=$? p i
    trap - EXIT TERM INT
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    # The servers, by their pid files (scripts/zookeeper and scripts/redis stop by PID).
    if [[ -f $state/netns.env ]]; then
        for i in 1 2 3; do
            "$src/scripts/zookeeper" stop --dir "$dir/zk" --id "$i" >/dev/null 2>&1 || true
        done
        for p in 6379 6380; do
            "$src/scripts/redis" stop --dir "$dir/r1" --port "$p" >/dev/null 2>&1 || true
        done
        N down >/dev/null || echo "cleanup: scripts/netns down failed; see ip netns list" >&2
    fi
    ip netns del "$prefix-x" 2>/dev/null || true # the one the test made itself, if still there
    if ((rc != 0)); then
        for f in "$dir"/zk/zookeeper-*/zookeeper.log "$dir"/r1/redis-*.log; do
            [[ -f $f ]] && echo "--- $f (last 15 lines)" >&2 && tail -n 15 "$f" >&2
        done
    fi
    rm -rf -- "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

fail() {
    echo "FAIL after $((SECONDS - started)) s: $*" >&2
    failed=1
}
ok() { echo "ok - $*"; }
expect() { # expect WHAT CMD...: CMD must succeed
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}
expect_not() { # expect_not WHAT CMD...: CMD must fail
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then fail "$what"; else ok "$what"; fi
}

# pong FROM ADDR PORT: a Redis at ADDR:PORT answers PONG to FROM (the peer itself answers:
# a transparent proxy on the way could complete a TCP connect, but not say PONG).
pong() {
    [[ $(timeout 3 "$src/scripts/netns" exec --state "$state" "$1" -- \
        redis-cli -h "$2" -p "$3" ping 2>/dev/null) == PONG ]]
}

# udp_passes FROM TO_HOST ADDR PORT: a datagram from FROM reaches a listener in TO_HOST.
udp_passes() {
    local out=$dir/udp-$4 l
    : >"$out"
    timeout 5 "$src/scripts/netns" exec --state "$state" "$2" -- nc -u -l -W 1 "$3" "$4" >"$out" &
    l=$!
    sleep 0.5
    echo "hello-$4" | on "$1" nc -u -w 1 "$3" "$4" || true
    sleep 0.5
    kill "$l" 2>/dev/null || true
    wait "$l" 2>/dev/null || true
    grep -q "hello-$4" "$out"
}

# zk_mode HOST I: zkI's srvr answer, asked from inside HOST: leader, follower, none (runs
# without serving), silent.
zk_mode() {
    local out
    out=$(printf srvr | on "$1" nc -w 2 -N "10.77.0.$2" $((2180 + $2)) 2>/dev/null) || true
    if [[ $out =~ Mode:\ ([a-z]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $out == *"not currently serving"* ]]; then
        echo none
    else
        echo silent
    fi
}

# wait_for SECONDS CMD...: until CMD succeeds; fails after SECONDS.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
zk_is() { [[ $(zk_mode "$1" "$2") == "$3" ]]; }
ringctl() { on ctl "$ringctl_bin" --zk "$ZKS" --connect-timeout-ms 3000 "$@"; }

# -- up refuses a namespace it did not make -------------------------------------------------
ip netns add "$prefix-x"
if N up --prefix "$prefix" zk1 x >"$dir/up-x.out" 2>&1; then
    fail "up used namespace $prefix-x, which the test made"
elif [[ -e /run/netns/$prefix-x && ! -e /run/netns/$prefix-zk1 ]] &&
    grep -q "exists already" "$dir/up-x.out"; then
    ok "up refuses namespace $prefix-x it did not make, and makes nothing"
else
    fail "up refused $prefix-x but left: $(ip netns list | grep "$prefix" | tr '\n' ' '); $(cat "$dir/up-x.out")"
fi
ip netns del "$prefix-x"

# -- hosts ----------------------------------------------------------------------------------
links_before=$(ip -o link | wc -l)
N up --prefix "$prefix" zk1 zk2 zk3 r1 ctl >"$dir/up.out" || { cat "$dir/up.out" >&2; exit 1; }
expect "up prints host, address and namespace" grep -qx "r1 10.77.0.4 $prefix-r1" "$dir/up.out"
expect "addr r1 is 10.77.0.4" test "$(N addr r1)" = 10.77.0.4
if [[ $(ip -o link | wc -l) == "$links_before" ]]; then
    ok "the machine's own links are unchanged"
else
    fail "links outside the namespaces changed: $links_before before, $(ip -o link | wc -l) after"
fi
if ip -4 -o addr | grep -q '10\.77\.0\.'; then
    fail "a 10.77.0.x address exists outside the namespaces"
else
    ok "10.77.0.x exists only inside the namespaces"
fi
expect "zk1's eth0 holds 10.77.0.1/24" sh -c "'$src/scripts/netns' exec --state '$state' zk1 -- ip -4 -o addr show dev eth0 | grep -q 'inet 10.77.0.1/24'"

mkdir -p "$dir/r1"
on r1 "$src/scripts/redis" start --dir "$dir/r1" --port 6379 --bind 10.77.0.4 >/dev/null
on r1 "$src/scripts/redis" start --dir "$dir/r1" --port 6380 --bind 10.77.0.4 >/dev/null
expect "zk1 reaches Redis on r1" pong zk1 10.77.0.4 6379
expect "ctl reaches Redis on r1" pong ctl 10.77.0.4 6379
# shellcheck disable=SC2016 # expanded by sh
expect_not "the machine itself does not reach Redis on r1" \
    sh -c '[ "$(timeout 3 redis-cli -h 10.77.0.4 -p 6379 ping 2>/dev/null)" = PONG ]'

# -- cut, heal, one way, unplug --------------------------------------------------------------
N cut ctl r1 >/dev/null
expect_not "cut ctl r1: ctl no longer reaches r1" pong ctl 10.77.0.4 6379
expect_not "cut ctl r1: r1 no longer sends to ctl (both ways)" udp_passes r1 ctl 10.77.0.5 7001
expect "cut ctl r1: zk1 still reaches r1" pong zk1 10.77.0.4 6379
expect "status lists the cut" sh -c "'$src/scripts/netns' status --state '$state' | grep -qx 'cut: ctl r1 both'"
N heal ctl r1 >/dev/null
expect "heal ctl r1: ctl reaches r1 again" pong ctl 10.77.0.4 6379

N cut ctl r1 --one-way >/dev/null
expect_not "one-way ctl>r1: a datagram from ctl does not reach r1" udp_passes ctl r1 10.77.0.4 7002
expect "one-way ctl>r1: a datagram from r1 reaches ctl" udp_passes r1 ctl 10.77.0.5 7003
N heal ctl r1 >/dev/null
expect "heal: a datagram from ctl reaches r1 again" udp_passes ctl r1 10.77.0.4 7004

N unplug r1 >/dev/null
expect_not "unplug r1: zk2 no longer reaches r1" pong zk2 10.77.0.4 6379
N plug r1 >/dev/null
expect "plug r1: zk2 reaches r1 again" pong zk2 10.77.0.4 6379

# -- ZooKeeper: one server per host ----------------------------------------------------------
mkdir -p "$dir/zk"
zpids=()
for i in 1 2 3; do
    on "zk$i" "$src/scripts/zookeeper" start --dir "$dir/zk" --servers 3 --id "$i" \
        --addrs 10.77.0.1,10.77.0.2,10.77.0.3 --port 2181 --tick-ms 500 \
        >"$dir/zk$i.out" 2>&1 &
    zpids+=($!)
done
zk_rc=0
for p in "${zpids[@]}"; do wait "$p" || zk_rc=1; done
((zk_rc == 0)) || { cat "$dir"/zk?.out >&2; exit 1; }
leaders=0
for i in 1 2 3; do [[ $(zk_mode ctl "$i") != leader ]] || leaders=$((leaders + 1)); done
if [[ $leaders == 1 ]]; then
    ok "ensemble zk1..zk3 on three hosts, one leader: $(grep -h ' up on ' "$dir"/zk?.out | tr '\n' ' ')"
else
    fail "ensemble has $leaders leaders"
fi
# shellcheck disable=SC2016 # expanded by sh
expect_not "the machine itself cannot reach zk1" sh -c \
    '[ "$(printf ruok | timeout 3 nc -w 2 -N 10.77.0.1 2181 2>/dev/null)" = imok ]'

expect "ringctl on ctl: init r1=10.77.0.4:6379" ringctl init r1=10.77.0.4:6379
expect "ringctl on ctl: show names r1 at 10.77.0.4:6379" sh -c \
    "'$src/scripts/netns' exec --state '$state' ctl -- '$ringctl_bin' --zk '$ZKS' show | grep -qE '^r1 +10\.77\.0\.4:6379 '"
expect "ringctl on ctl: locate 42 on r1" sh -c \
    "'$src/scripts/netns' exec --state '$state' ctl -- '$ringctl_bin' --zk '$ZKS' locate 42 | grep -q 'owned by r1 at 10.77.0.4:6379'"
expect "ringctl on ctl: add-standby s1=10.77.0.4:6380" ringctl add-standby s1=10.77.0.4:6380

# remove asks s1's Redis, across the namespaces, whether anyone subscribes there.
N cut ctl r1 >/dev/null
expect_not "remove s1 refuses while ctl cannot reach r1's Redis" ringctl remove s1
N heal ctl r1 >/dev/null
expect "remove s1 once ctl reaches r1's Redis again" ringctl remove s1

# A minority: zk3 cut from zk1 and zk2 stops serving; the majority goes on and zk3 catches up.
N cut zk3 zk1 >/dev/null
N cut zk3 zk2 >/dev/null
if wait_for 20 zk_is zk3 3 none; then ok "zk3 cut from zk1 and zk2 serves no requests"; else
    fail "zk3 cut from the majority still '$(zk_mode zk3 3)'"
fi
expect "ringctl on ctl works through the majority" ringctl add-standby s2=10.77.0.4:6380
N heal zk3 zk1 >/dev/null
N heal zk3 zk2 >/dev/null
if wait_for 30 zk_is zk3 3 follower; then ok "zk3 follows again after the heal"; else
    fail "zk3 is '$(zk_mode zk3 3)' 30 s after the heal"
fi
expect "zk3 alone serves the write made without it" sh -c \
    "'$src/scripts/netns' exec --state '$state' ctl -- '$ringctl_bin' --zk 10.77.0.3:2183 show | grep -qE '^s2 +10\.77\.0\.4:6380 '"

# ctl cut from every ZooKeeper server: ringctl refuses and says so.
for i in 1 2 3; do N cut ctl "zk$i" >/dev/null; done
rc=0
on ctl "$ringctl_bin" --zk "$ZKS" --connect-timeout-ms 1500 show >"$dir/cut.out" 2>&1 || rc=$?
msg=$(grep 'ringctl show:' "$dir/cut.out" || true)
if [[ $rc == 1 && $msg == "ringctl show: ZooKeeper is unreachable at $ZKS "* &&
    $msg == *"10.77.0.2:2182 cannot be reached"* ]]; then
    ok "ringctl cut from every server exits 1: $msg"
else
    fail "ringctl cut from every server: exit $rc, said: $(cat "$dir/cut.out")"
fi
N heal --all >/dev/null
expect "heal --all: ringctl on ctl works again" ringctl show

# -- down -----------------------------------------------------------------------------------
expect_not "down refuses while servers run in the namespaces" N down
for i in 1 2 3; do
    on "zk$i" "$src/scripts/zookeeper" stop --dir "$dir/zk" --id "$i" >/dev/null 2>&1 ||
        fail "could not stop zk$i"
done
for p in 6379 6380; do
    on r1 "$src/scripts/redis" stop --dir "$dir/r1" --port "$p" >/dev/null 2>&1 || fail "could not stop Redis $p"
done
expect "down removes what up made" N down
left=$(ip netns list | grep -c "^$prefix-" || true)
if [[ $left == 0 ]]; then ok "no namespace $prefix-* is left"; else fail "$left namespaces $prefix-* left"; fi
if [[ ! -f $state/netns.env && ! -f $state/made ]]; then
    ok "the records are gone"
else
    fail "records left in $state"
fi

echo "netns: $((SECONDS - started)) s"
exit "$failed"
