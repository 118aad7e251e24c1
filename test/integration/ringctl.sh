#!/usr/bin/env bash
# ringctl against a real ZooKeeper: init/add/drain/remove/replace round trip, show and locate
# against the library, two racing adds, the two-phase wait for a registered gateway (timeout
# rollback, --no-wait and resume), refusals and exit codes.
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NEARBY_BUILD_ROOT:-$src/build}
ring_owner=${NEARBY_RING_OWNER:-$build/test/ring-owner}
port=${NEARBY_TEST_ZK_PORT:-22192}
redis_port=22193 # node r2's Redis: remove checks that nobody subscribes there
dir=$(mktemp -d /tmp/nearby-test-ringctl.XXXXXX)
zk="127.0.0.1:$port"
failures=0

cleanup() {
    "$src/scripts/redis" stop --dir "$dir" --port "$redis_port" >/dev/null 2>&1 || true
    "$src/scripts/zookeeper" stop --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

ringctl() { timeout 30 "$build/ringctl/ringctl" --zk "$zk" "$@"; }
zkcli() {
    ZOO_LOG4J_PROP=ERROR,CONSOLE timeout 60 /usr/share/zookeeper/bin/zkCli.sh -server "$zk" "$@" \
        >/dev/null 2>&1 || fail "zkCli $* failed"
}

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect STATUS CMD...: runs ringctl CMD, checks its exit status, keeps its output in $out.
expect() {
    local want=$1 got=0
    shift
    out=$(ringctl "$@" 2>&1) || got=$?
    if [ "$got" -ne "$want" ]; then
        fail "ringctl $* exited $got, want $want; output: $out"
    fi
}

# json_field NAME: the first numeric value of "NAME": in $out.
json_field() { grep -o "\"$1\":[0-9.]*" <<<"$out" | head -n1 | cut -d: -f2 || true; }

epoch() {
    expect 0 show --json
    json_field epoch
}

"$src/scripts/zookeeper" start --dir "$dir" --port "$port" --tick-ms 500 >/dev/null
"$src/scripts/redis" start --dir "$dir" --port "$redis_port" >/dev/null

# Before init: reading fails with a hint, usage errors exit 2.
expect 1 show
grep -q "ringctl init" <<<"$out" || fail "show without a ring does not point at init: $out"
expect 2 add not-a-node
expect 2 frobnicate
expect 2 init
expect 0 --help
grep -q "simulate" <<<"$out" || fail "--help does not list simulate"
expect 0 add --help
grep -q -- "--weight" <<<"$out" || fail "add --help does not list --weight"

# init, and init again refuses.
expect 0 init --vnodes 256 r1=127.0.0.1:7001 r2=127.0.0.1:$redis_port r3=127.0.0.1:7003 r4=127.0.0.1:7004
expect 1 init r1=127.0.0.1:7001
grep -q "exists" <<<"$out" || fail "second init does not say the ring exists: $out"
[ "$(epoch)" = 1 ] || fail "epoch after init is $(epoch), want 1"

# show: four active nodes whose shares add up to 100 %.
expect 0 show --json
[ "$(grep -o '"state":"active"' <<<"$out" | wc -l)" = 4 ] || fail "want 4 active nodes: $out"
sum=$(grep -o '"share_percent":[0-9.]*' <<<"$out" | cut -d: -f2 | paste -sd+ | bc)
[ "$(echo "$sum > 99.99 && $sum < 100.01" | bc)" = 1 ] || fail "shares add up to $sum %"

# plan add changes nothing and moves about 1/5 of the space.
expect 0 plan add r5=127.0.0.1:7005 --json
moved=$(json_field moved_fraction)
[ "$(echo "$moved > 0.10 && $moved < 0.30" | bc)" = 1 ] || fail "plan add moves $moved, want ~0.2"
[ "$(epoch)" = 1 ] || fail "plan changed the epoch"

# add, then the refusals around it.
expect 0 add r5=127.0.0.1:7005
[ "$(epoch)" = 3 ] || fail "epoch after the two phases of add is $(epoch), want 3"
expect 1 add r5=127.0.0.1:7105
grep -q "replace" <<<"$out" || fail "adding a duplicate id does not point at replace: $out"
expect 1 add r6=127.0.0.1:7005
expect 2 add r6=127.0.0.1:99999
expect 0 add-standby s1=127.0.0.1:7101

# drain: the node keeps its entry as standby with no share; remove refuses an owner.
expect 1 remove r2
grep -q "drain" <<<"$out" || fail "remove of an owner does not point at drain: $out"
expect 0 drain r2
expect 0 show --json
grep -q '"id":"r2","addr":"127.0.0.1:'"$redis_port"'","weight":1,"state":"standby","share_percent":0.0000' <<<"$out" ||
    fail "r2 is not a standby with no share after drain: $out"
# remove asks r2's Redis first: a subscriber still listening there holds it back.
(exec timeout 20 redis-cli -p "$redis_port" SUBSCRIBE u:42 >/dev/null 2>&1) &
listener=$!
for ((i = 0; i < 50; i++)); do
    [ "$(redis-cli -p "$redis_port" PUBSUB NUMSUB u:42 | tail -n1)" = 1 ] && break
    sleep 0.1
done
expect 1 remove r2
grep -q "still carries 1 subscribed channels" <<<"$out" || fail "remove of a node still listened on: $out"
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true
expect 0 remove r2
expect 1 remove r2
expect 0 remove --force r4
e=$(epoch)
[ "$e" = 8 ] || fail "epoch after add-standby, drain (two phases), remove, remove --force is $e, want 8"

# locate agrees with the library on the text stored in ZooKeeper.
expect 0 show
"$build/ringctl/ringctl" --zk "$zk" show --json >/dev/null
text=$(ZOO_LOG4J_PROP=ERROR,CONSOLE timeout 60 /usr/share/zookeeper/bin/zkCli.sh -server "$zk" \
    get /nearby/rings/main 2>/dev/null | grep -E '^(nearby-ring|node) ' || true)
[ -n "$text" ] || fail "zkCli get shows no ring text"
printf '%s\n' "$text" >"$dir/ring.txt"
for user in 0 1 42 1000 123456789 18446744073709551615; do
    want=$("$ring_owner" "$dir/ring.txt" "$user" | cut -d' ' -f2-)
    expect 0 locate "$user" --json
    got=$(grep -o '"owner":{"id":"[^"]*","addr":"[^"]*"' <<<"$out" | sed -E 's/.*"id":"([^"]*)","addr":"([^"]*)"/\1 \2/')
    [ "$got" = "$want" ] || fail "locate $user says '$got', the library says '$want'"
done

# replace: a channel of r3 stays on r3 at the new address; taking over a standby consumes it.
owner_of_r3=''
for user in $(seq 1 200); do
    expect 0 locate "$user" --json
    if grep -q '"owner":{"id":"r3"' <<<"$out"; then owner_of_r3=$user && break; fi
done
[ -n "$owner_of_r3" ] || fail "no user of 1..200 on r3"
before=$(epoch)
expect 0 replace r3 127.0.0.1:7101
grep -q "r3 moving from 127.0.0.1:7003 to 127.0.0.1:7101, the address of standby s1, which goes" \
    <<<"$out" || fail "replace onto s1's address does not say so: $out"
[ "$(epoch)" = $((before + 2)) ] || fail "replace took $(($(epoch) - before)) epochs, want 2"
expect 0 locate "$owner_of_r3" --json
grep -q '"owner":{"id":"r3","addr":"127.0.0.1:7101"}' <<<"$out" || fail "after replace: $out"
expect 0 show --json
grep -q '"id":"s1"' <<<"$out" && fail "standby s1 still listed after its address was taken"
expect 1 replace r3 127.0.0.1:7001

# Two adds racing on different nodes: both land, the epoch grows by two each.
before=$(epoch)
ringctl add r7=127.0.0.1:7007 >"$dir/a.out" 2>&1 & a=$!
ringctl add r8=127.0.0.1:7008 >"$dir/b.out" 2>&1 & b=$!
wait "$a" || fail "racing add r7 failed: $(cat "$dir/a.out")"
wait "$b" || fail "racing add r8 failed: $(cat "$dir/b.out")"
after=$(epoch)
[ "$after" = $((before + 4)) ] || fail "epoch went $before -> $after after two racing adds"
expect 0 show --json
grep -q '"id":"r7","addr":"127.0.0.1:7007","weight":1,"state":"active"' <<<"$out" &&
    grep -q '"id":"r8","addr":"127.0.0.1:7008","weight":1,"state":"active"' <<<"$out" ||
    fail "racing adds did not both end active: $out"

# Two phases against a registered gateway that does not apply the new epoch (a persistent
# stand-in for a gateway's ephemeral znode): add waits, --timeout rolls back with one more
# epoch, --no-wait stops after phase 1, and the same command resumes and finishes once the
# gateway reports the epoch.
# (ringctl init made /nearby/gateways, so that gateways need not create under the root.)
zkcli create /nearby/gateways/stuck "addr=127.0.0.1:1 epoch=1 pending=5"
before=$(epoch)
expect 1 add --timeout 1 r9=127.0.0.1:7009
grep -Eq "timed out after 1.[0-9] s waiting for gateways stuck to apply epoch $((before + 1)); rolled back" \
    <<<"$out" || fail "add --timeout does not say it rolled back: $out"
[ "$(epoch)" = $((before + 2)) ] || fail "rollback: epoch $(epoch), want $((before + 2))"
expect 0 show --json
grep -q '"id":"r9"' <<<"$out" && fail "r9 still in the ring after the rollback: $out"
expect 0 add --no-wait r9=127.0.0.1:7009
expect 0 show --json
grep -q '"id":"r9","addr":"127.0.0.1:7009","weight":1,"state":"joining"' <<<"$out" ||
    fail "add --no-wait did not leave r9 joining: $out"
(sleep 1 && zkcli set /nearby/gateways/stuck "addr=127.0.0.1:1 epoch=1000") &
setter=$!
expect 0 add r9=127.0.0.1:7009
wait "$setter" || true
grep -q "resuming" <<<"$out" || fail "add of a joining node does not resume: $out"
grep -q "0/1 gateways applied, 5 channels still subscribing" <<<"$out" ||
    fail "add did not show the gateway it waited for: $out"
grep -q "added r9 at 127.0.0.1:7009: ring main is now at epoch $((before + 4)); 1 gateways applied" \
    <<<"$out" || fail "resumed add did not finish: $out"
# replace rolls back the same way: the node keeps its address, nothing is consumed.
zkcli set /nearby/gateways/stuck "addr=127.0.0.1:1 epoch=1"
expect 1 replace --timeout 1 r1 127.0.0.1:7301
grep -q "rolled back" <<<"$out" || fail "replace --timeout does not roll back: $out"
expect 0 show --json
grep -q '"id":"r1","addr":"127.0.0.1:7001"' <<<"$out" || fail "r1 moved despite the rollback: $out"
zkcli delete /nearby/gateways/stuck

# A node that a gateway on the new epoch finds dead is not added: rolled back at once.
zkcli create /nearby/gateways/sees-dead "addr=127.0.0.1:2 epoch=100000 dead=r3,r10"
before=$(epoch)
expect 1 add --timeout 20 r10=127.0.0.1:7010
grep -q "gateway sees-dead finds node r10 at 127.0.0.1:7010 dead (is its Redis running?); rolled back" \
    <<<"$out" || fail "add of a node found dead did not roll back: $out"
[ "$(epoch)" = $((before + 2)) ] || fail "dead-node rollback: epoch $(epoch), want $((before + 2))"
zkcli delete /nearby/gateways/sees-dead

# status runs with no gateway registered.
expect 0 status
grep -q "no gateways" <<<"$out" || fail "status without gateways: $out"

# ZooKeeper gone: a clear error and exit 1 within the connect timeout.
"$src/scripts/zookeeper" stop --dir "$dir" >/dev/null
expect 1 --connect-timeout-ms 1000 show
grep -q "ZooKeeper" <<<"$out" || fail "no clear error when ZooKeeper is down: $out"

if [ "$failures" -ne 0 ]; then
    echo "ringctl integration: $failures failure(s)"
    exit 1
fi
echo "ringctl integration: all checks passed"
