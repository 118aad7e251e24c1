#!/usr/bin/env bash
# ring200: a ring of 200 real Redis pub/sub nodes, 2 gateways holding >= 20 000 channels under
# load; 10 nodes added and 10 drained (then removed) live, one after another, each timed; the
# same channels subscribed from nothing for comparison. Nothing may be lost or duplicated.
#
# Prints one line:
#   scale ring200: nodes=200 channels=... add10_s=... drain10_s=... per_add_s=MIN/AVG/MAX
#   per_drain_s=MIN/AVG/MAX fresh_subscribe_s=... published=... delivered=... lost=... dup=...
# where add10_s and drain10_s are the wall clock of the 10 ringctl commands, per_*_s each
# command's own "applied it in X s", and fresh_subscribe_s the median of 3 runs of
# fresh-subscribe (both gateways' channel sets, each from its own process, on the same 200
# nodes before the load starts: the larger of the two times).
#
# Ports, fixed for the scale suite (no other test uses them): ZooKeeper 22371, Redis 29000
# (the location cache) and 29001..29220 (node rI on 29000+I; the added nodes r201..r210 on
# 29201..29210), PostgreSQL 25540, gateways 28701..28702, HAProxy 28720.
# SCALE_* variables below scale it down (e.g. for a quick try or under ASan).
SCALE_LIMIT=${SCALE_LIMIT:-1500} # seconds for the whole test, cleanup included

# The whole test runs under timeout: SIGTERM at SCALE_LIMIT (the trap cleans up), SIGKILL 60 s later.
if [[ -z ${SCALE_BOUNDED:-} ]]; then
    export SCALE_BOUNDED=1
    exec timeout -k 60 "$SCALE_LIMIT" "$0" "$@"
fi
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # redis_cli
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build # scripts/cluster takes ringctl and the gateway from here
loadgen=${NEARBY_LOADGEN:-$build/test/loadgen/nearby-loadgen}
fresh=${NEARBY_FRESH_SUBSCRIBE:-$build/test/fresh-subscribe}
ringctl=$build/ringctl/ringctl
ZK_HOME=${ZK_HOME:-/usr/share/zookeeper}
PSQL=${PG_BIN:+$PG_BIN/}psql

ZK_PORT=22371 REDIS_BASE=29000 PG_PORT=25540 GW_BASE=28700 LB_PORT=28720
ZK=127.0.0.1:$ZK_PORT
NODES=${SCALE_NODES:-200}         # pub/sub nodes r1..rNODES
CHANGES=${SCALE_CHANGES:-10}      # nodes added, then nodes drained and removed
USERS=${SCALE_USERS:-20000}       # users in the friend graph
FRIENDS=${SCALE_FRIENDS:-20}      # their mean number of friends
PHONES=${SCALE_PHONES:-4000}      # phones online: users 1..PHONES
INTERVAL_MS=${SCALE_INTERVAL_MS:-2000} # each phone's loc period: PHONES*1000/INTERVAL_MS updates/s
MIN_CHANNELS=${SCALE_MIN_CHANNELS:-20000} # the gateways' channels together, at least
# Phones connecting per second. Each session start reads PostgreSQL on the gateway's one
# session connection; past --start-queue starting sessions the gateway sheds with err busy
# and the load generator retries on the other gateway, which breaks the channel sets this
# test expects. At 1000/s a CI machine shed 2998 starts (2 cores shared with 200 Redis).
RAMP=${SCALE_RAMP_PER_S:-250}
MAXMEMORY=16mb

dir=$(mktemp -d /tmp/nearby-scale-ring200.XXXXXX)
PG="host=127.0.0.1 port=$PG_PORT user=nearby_owner dbname=nearby passfile=$dir/pgpass"
chmod 755 "$dir" # PostgreSQL runs as another user when we are root
lg_pid='' SUMMARY='' failed=() done_ok=0 t_start=$SECONDS
added_ports=() # Redis servers started beside the cluster (the added nodes)

say() { printf 'scale ring200: %s\n' "$*" >&2; }

die() {
    say "FAIL: $*"
    exit 1
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZXx] ]]
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
    local i
    alive "$1" || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
    local rc=$? p f
    trap - EXIT INT TERM
    [[ -z $lg_pid ]] || stop_pid "$lg_pid"
    for p in "${added_ports[@]}"; do
        timeout 30 "$src/scripts/redis" stop --dir "$dir" --port "$p" >>"$dir/cluster.out" 2>&1 || true
    done
    timeout 300 "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || true
    if ((!done_ok)); then
        for f in "$dir/cluster.out" "$dir/loadgen.out" "$dir/loadgen.err" "$dir"/t-*.log \
            "$dir"/gateway-gw*.log; do
            [[ -f $f ]] || continue
            echo "--- $f (last 25 lines)" >&2
            tail -n 25 "$f" >&2
        done
        ((rc != 0)) || rc=1
    fi
    if [[ -n ${SCALE_KEEP:-} ]]; then
        say "kept $dir"
    else
        rm -rf -- "$dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

for f in "$loadgen" "$fresh" "$ringctl"; do
    [[ -x $f ]] || die "$f is not built"
done
for c in curl haproxy redis-cli "$PSQL"; do
    command -v "$c" >/dev/null || die "'$c' is missing (scripts/deps installs it)"
done
[[ -x $ZK_HOME/bin/zkCli.sh ]] || die "$ZK_HOME/bin/zkCli.sh is missing (scripts/deps installs zookeeper)"

# ms_since T0_NS: milliseconds since T0_NS (date +%s%N).
now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
# secs MS: MS as seconds with one decimal.
secs() { awk -v m="$1" 'BEGIN {printf "%.1f", m / 1000}'; }

# field NAME [LINE]: the value of NAME=... in LINE (default: the loadgen summary).
field() {
    local re="(^| )$1=([^ ]*)" line=${2-$SUMMARY}
    [[ $line =~ $re ]] && printf '%s\n' "${BASH_REMATCH[2]}"
}

# check EXPR WHAT: records WHAT as failed unless the arithmetic EXPR holds.
check() {
    if ! (($1)); then
        failed+=("$2")
        say "check failed: $2 ($1)"
    fi
}

rctl() { timeout 400 "$ringctl" --zk "$ZK" "$@"; }
psql_q() { PGCONNECT_TIMEOUT=10 timeout 120 "$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PG" "$@"; }

# metric GW NAME: the value of an unlabelled metric on gateway gwGW; fails when it cannot
# be read. awk reads the whole page: exiting at the match left curl writing into a closed
# pipe, and with pipefail a caller's "|| echo 0" then added a second line to the value.
metric() {
    local v
    v=$(timeout 10 curl -sf "http://127.0.0.1:$((GW_BASE + $1 + 1000))/metrics" |
        awk -v n="$2" '!f && $1 == n {v = $2; f = 1} END {if (f) print v}') || return 1
    [[ -n $v ]] || return 1
    printf '%s\n' "$v"
}

# channels_on PORT: how many channels (of any name) the Redis at PORT has subscribers for.
channels_on() {
    local out
    out=$(redis_cli "$1" PUBSUB CHANNELS) || return 1
    grep -c . <<<"$out" || true
}

# user_channels_total PORTS...: u:* channels subscribed over these nodes, summed.
user_channels_total() {
    local p n total=0
    for p in "$@"; do
        n=$(redis_cli "$p" PUBSUB CHANNELS 'u:*' | grep -c . || true)
        total=$((total + n))
    done
    echo "$total"
}

# stats MS...: "min/avg/max" in seconds.
stats() {
    printf '%s\n' "$@" | awk 'NR == 1 || $1 < min {min = $1} $1 > max {max = $1} {sum += $1}
        END {printf "%.1f/%.1f/%.1f", min / 1000, sum / NR / 1000, max / 1000}'
}

# ---------------------------------------------------------------------------- cluster

t0=$(now_ns)
"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis "$NODES" --redis-maxmemory "$MAXMEMORY" --gateways 2 \
    --zk-port "$ZK_PORT" --redis-base-port "$REDIS_BASE" --pg-port "$PG_PORT" \
    --gateway-base-port "$GW_BASE" --lb-port "$LB_PORT" >"$dir/cluster.out" 2>&1 ||
    die "scripts/cluster up failed"
up_ms=$(ms_since "$t0")
# shellcheck source=/dev/null
source "$dir/cluster.env"
export NEARBY_REDIS_USER NEARBY_REDIS_PASSWORD_FILE NEARBY_REDIS_ADMIN_PASSWORD_FILE NEARBY_ZK_AUTH_FILE
say "cluster up: $NODES nodes (maxmemory $MAXMEMORY), 2 gateways in $(secs "$up_ms") s"

rss_kb=0
for f in "$dir"/redis-*.pid; do
    p=$(head -n 1 "$f")
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    rss_kb=$((rss_kb + ${r:-0}))
done
say "the $((NODES + 1)) Redis servers use $((rss_kb / 1024)) MB RSS together"

timeout 300 "$src/scripts/seed-graph" --users "$USERS" --avg-friends "$FRIENDS" --pg "$PG" \
    >>"$dir/cluster.out" 2>&1 || die "scripts/seed-graph failed"

# Phone i goes to gateway gw((i-1) mod 2 + 1) (nearby-loadgen with two --url), so each
# gateway's channels are its phones' own and their friends'.
for g in 1 2; do
    psql_q -c "SELECT 'u:' || c FROM (SELECT id AS c FROM users WHERE id <= $PHONES AND (id - 1) % 2 = $((g - 1))
               UNION SELECT friend_id FROM friendships WHERE user_id <= $PHONES AND (user_id - 1) % 2 = $((g - 1))) s" \
        >"$dir/gw$g.channels" || die "cannot list gw$g's channels from PostgreSQL"
done
want1=$(wc -l <"$dir/gw1.channels") want2=$(wc -l <"$dir/gw2.channels")
union=$(sort -u "$dir/gw1.channels" "$dir/gw2.channels" | wc -l)
say "graph: $USERS users, $FRIENDS friends on average; $PHONES phones need $want1 + $want2 = $((want1 + want2)) channels ($union distinct)"
((want1 + want2 >= MIN_CHANNELS)) || die "only $((want1 + want2)) channels; raise SCALE_USERS, SCALE_FRIENDS or SCALE_PHONES"

# As admin: the ring is no one else's to read (ZooKeeper ACLs); zkCli takes addauth on stdin.
printf 'addauth digest %s\nget /nearby/rings/main\nquit\n' "$(sed -n 's/^auth //p' "$NEARBY_ZK_AUTH_FILE")" |
    ZOO_LOG4J_PROP=ERROR,CONSOLE timeout 120 "$ZK_HOME/bin/zkCli.sh" -server "$ZK" \
    2>/dev/null | grep -E '^(nearby-ring|node) ' >"$dir/ring.txt" || true
(($(grep -c '^node ' "$dir/ring.txt") == NODES)) || die "zkCli get /nearby/rings/main shows no ring of $NODES nodes"

# ---------------------------------------------------------------------------- fresh subscribe

# Before any phone: both gateways' channel sets subscribed from nothing on the same nodes,
# by two processes at once; a round takes the slower of the two.
fresh_rounds=()
for round in 1 2 3; do
    for g in 1 2; do
        timeout 120 "$fresh" "$dir/ring.txt" "$dir/gw$g.channels" >"$dir/fresh-$round-$g.out" 2>&1 &
        eval "fpid$g=\$!"
    done
    # shellcheck disable=SC2154 # fpid1, fpid2 set by eval above
    { wait "$fpid1" && wait "$fpid2"; } || die "fresh-subscribe failed: $(cat "$dir/fresh-$round-"*.out)"
    m1=$(field subscribe_ms "$(cat "$dir/fresh-$round-1.out")") m2=$(field subscribe_ms "$(cat "$dir/fresh-$round-2.out")")
    fresh_rounds+=("$(awk -v a="$m1" -v b="$m2" 'BEGIN {print (a > b ? a : b)}')")
    say "fresh subscribe round $round: $(cat "$dir/fresh-$round-1.out"); $(cat "$dir/fresh-$round-2.out")"
done
fresh_ms=$(printf '%s\n' "${fresh_rounds[@]}" | sort -g | sed -n 2p)

# ---------------------------------------------------------------------------- load

for ((k = 1; k <= CHANGES; k++)); do
    added_ports+=($((REDIS_BASE + NODES + k)))
done
for p in "${added_ports[@]}"; do
    timeout 30 "$src/scripts/redis" start --dir "$dir" --port "$p" --maxmemory "$MAXMEMORY" \
        >>"$dir/cluster.out" 2>&1 || die "could not start Redis on $p"
done

"$loadgen" --url "ws://127.0.0.1:$((GW_BASE + 1))/ws" --url "ws://127.0.0.1:$((GW_BASE + 2))/ws" \
    --secret-file "$NEARBY_JWT_KEY_FILE" --users "$USERS" --phones "$PHONES" \
    --interval-ms "$INTERVAL_MS" --spread-km 1 --ramp-per-s "$RAMP" \
    --duration 0 --drain-ms 3000 --report-every 1 --seed 7 \
    >"$dir/loadgen.out" 2>"$dir/loadgen.err" </dev/null &
lg_pid=$!

last_status() { { grep '^t=' "$dir/loadgen.out" 2>/dev/null || true; } | tail -n 1; }

deadline=$((SECONDS + 180))
while :; do
    alive "$lg_pid" || die "nearby-loadgen exited before every phone was online"
    line=$(last_status)
    [[ $(field sessions "$line") == "$PHONES" ]] && break
    ((SECONDS < deadline)) || die "not all $PHONES phones online after 180 s: ${line:-no status line}"
    sleep 1
done
read -ra node_ports <<<"$REDIS_PORTS"
# Every channel subscribed and confirmed: the gauges reach the channel sets and stay.
deadline=$((SECONDS + 120))
while :; do
    c1=$(metric 1 nearby_channels || echo 0) c2=$(metric 2 nearby_channels || echo 0)
    held=$(user_channels_total "${node_ports[@]}")
    ((c1 >= want1 && c2 >= want2 && held >= union)) && break
    ((SECONDS < deadline)) || die "gateways hold $c1 + $c2 channels ($held on the nodes); want $want1 + $want2 ($union); starts shed (err busy): $(metric 1 nearby_session_starts_busy_total || echo '?') + $(metric 2 nearby_session_starts_busy_total || echo '?') (lower SCALE_RAMP_PER_S)"
    sleep 1
done
channels=$((c1 + c2))
say "all $PHONES phones online; gateways hold $c1 + $c2 = $channels channels, $held distinct on the nodes; $(last_status)"
sleep 5

# ---------------------------------------------------------------------------- add, drain, remove

# change VERB ID...: one ringctl change, timed; appends wall ms and "applied it in" ms.
add_wall=() add_applied=() drain_wall=() drain_applied=()
change() {
    local verb=$1 t ms applied out
    shift
    t=$(now_ns)
    out=$(rctl "$verb" "$@" 2>&1) || die "ringctl $verb $* failed: $out"
    ms=$(ms_since "$t")
    printf '%s\n' "$out" >>"$dir/t-ringctl.log"
    applied=$(sed -n 's/.* applied it in \([0-9.]*\) s$/\1/p' <<<"$out" | tail -n 1)
    [[ -n $applied ]] || die "ringctl $verb $* printed no 'applied it in X s': $out"
    applied=$(awk -v s="$applied" 'BEGIN {printf "%d", s * 1000}')
    say "ringctl $verb $*: $ms ms wall, applied in $applied ms: $(tail -n 1 <<<"$out")"
    if [[ $verb == add ]]; then
        add_wall+=("$ms") add_applied+=("$applied")
    else
        drain_wall+=("$ms") drain_applied+=("$applied")
    fi
}

t0=$(now_ns)
for ((k = 1; k <= CHANGES; k++)); do
    change add "r$((NODES + k))=127.0.0.1:$((REDIS_BASE + NODES + k))"
done
add_ms=$(ms_since "$t0")

t0=$(now_ns)
for ((k = 1; k <= CHANGES; k++)); do
    change drain "r$k"
done
drain_ms=$(ms_since "$t0")

# remove checks with PUBSUB CHANNELS that no gateway still subscribes there; the
# unsubscribes of the last drain may trail its final epoch a little.
drained_left=0
for ((k = 1; k <= CHANGES; k++)); do
    deadline=$((SECONDS + 30))
    until out=$(rctl remove "r$k" 2>&1); do
        ((SECONDS < deadline)) || die "ringctl remove r$k kept failing: $out"
        sleep 0.5
    done
    printf '%s\n' "$out" >>"$dir/t-ringctl.log"
    n=$(channels_on $((REDIS_BASE + k))) || die "cannot ask r$k for its channels"
    ((n == 0)) || say "drained r$k still has $n channels"
    drained_left=$((drained_left + n))
done
rctl show >>"$dir/t-ringctl.log" 2>&1 || true

# The final ring: r11..rNODES and the added nodes, each channel on one node.
final_ports=()
for ((k = CHANGES + 1; k <= NODES; k++)); do final_ports+=($((REDIS_BASE + k))); done
final_ports+=("${added_ports[@]}")
held_end=$(user_channels_total "${final_ports[@]}")
say "after the changes: $held_end channels on the $((NODES)) nodes of the final ring; $(last_status)"
sleep 3

kill -TERM "$lg_pid" 2>/dev/null || true
LOADGEN_RC=0
wait "$lg_pid" || LOADGEN_RC=$?
lg_pid=''
SUMMARY=$(grep '^summary ' "$dir/loadgen.out" | tail -n 1) ||
    die "no summary line from nearby-loadgen (exit $LOADGEN_RC)"
say "loadgen: $SUMMARY"

# ---------------------------------------------------------------------------- result

published=$(field published || echo -1) delivered=$(field delivered || echo -1)
lost=$(field lost || echo -1) dup=$(field dup || echo -1)
check_failures=$(field check_failures || echo -1) rate_limited=$(field rate_limited || echo -1)
check "LOADGEN_RC == 0" "nearby-loadgen exited $LOADGEN_RC"
check "lost == 0" "lost=$lost"
check "dup == 0" "dup=$dup"
check "check_failures == 0" "check_failures=$check_failures"
check "rate_limited == 0" "rate_limited=$rate_limited: the load is above the rate limit"
check "published > 0 && delivered > 0" "nothing published or delivered"
check "channels >= MIN_CHANNELS" "the gateways hold only $channels channels, want >= $MIN_CHANNELS"
check "drained_left == 0" "$drained_left channels still subscribed on drained nodes"
check "held_end == union" "$held_end channels on the final ring's nodes, want each of the $union once"

printf 'scale ring200: nodes=%s channels=%s add%s_s=%s drain%s_s=%s per_add_s=%s per_drain_s=%s fresh_subscribe_s=%s published=%s delivered=%s lost=%s dup=%s check_failures=%s cluster_up_s=%s redis_rss_mb=%s duration_s=%s\n' \
    "$NODES" "$channels" "$CHANGES" "$(secs "$add_ms")" "$CHANGES" "$(secs "$drain_ms")" \
    "$(stats "${add_applied[@]}")" "$(stats "${drain_applied[@]}")" \
    "$(awk -v m="$fresh_ms" 'BEGIN {printf "%.3f", m / 1000}')" \
    "$published" "$delivered" "$lost" "$dup" "$check_failures" "$(secs "$up_ms")" \
    "$((rss_kb / 1024))" "$((SECONDS - t_start))"
if ((${#failed[@]})); then
    say "FAIL: ${failed[*]}"
    exit 1
fi
done_ok=1
