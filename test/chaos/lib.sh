# shellcheck shell=bash
# lib.sh: what every chaos test shares: a bounded run, a real cluster on the chaos ports, the
# friend graph, nearby-loadgen under load through HAProxy, its figures, the one result line,
# and a cleanup that stops by PID everything the test started. Sourced, never run.
#
# A test sets CHAOS_NAME and CHAOS_LIMIT (seconds), and CHAOS_ZK=3 for a ZooKeeper ensemble
# (default 1: one standalone server), sources this file (which re-runs the test under
# `timeout CHAOS_LIMIT`), then calls:
#
#   chaos_up NODES GATEWAYS [scripts/cluster up flags]   the cluster, in a temp directory
#   chaos_seed USERS AVG_FRIENDS                         scripts/seed-graph
#   chaos_loadgen SECONDS [nearby-loadgen flags]         phones 1..CHAOS_PHONES in the background
#   chaos_wait_online SECONDS                            until every phone got its nearby
#   chaos_loadgen_wait                                   until it exits; sets SUMMARY
#   field NAME [LINE]                                    NAME=value from LINE (default SUMMARY)
#   check COND_TEXT WHAT                                 records WHAT as failed unless COND_TEXT
#                                                        is true (arithmetic, e.g. "lost == 0")
#   chaos_result [k=v...]                                prints "chaos NAME: published=..."
#                                                        and exits 1 if a check failed
#
# Ports, fixed for the chaos suite (no other test uses them): ZooKeeper 22351, Redis
# 27100-27199 (27100 the location cache, node rI on 27100+I), PostgreSQL 25530, gateways
# 28601.., HAProxy 28660. With CHAOS_ZK=3 a block of its own, so that an ensemble scenario
# never meets a one-server one: ZooKeeper zkI on 22390+I (quorum 23390+I, election
# 23490+I), Redis 27500-27599, PostgreSQL 25560, gateways 28901.., HAProxy 28960.
#
# Load: CHAOS_PHONES phones (default 2500), each sending loc every CHAOS_INTERVAL_MS
# (default 1250, +-20 %: never faster than the gateways' 1/s rate limit), i.e. 2000 updates/s,
# with CHAOS_FRIENDS friends on average (default 10), all within 1 km, well inside the 8 km
# radius, so every update should reach every online friend. scripts/test --asan lowers the
# load through these variables.

[[ -n ${CHAOS_NAME:-} && -n ${CHAOS_LIMIT:-} ]] || {
    echo "lib.sh: set CHAOS_NAME and CHAOS_LIMIT before sourcing it" >&2
    exit 2
}

# The whole test, cleanup included, runs under timeout: SIGTERM at CHAOS_LIMIT (the trap
# below cleans up), SIGKILL 40 s later.
if [[ -z ${CHAOS_BOUNDED:-} ]]; then
    export CHAOS_BOUNDED=1
    exec timeout -k 40 "$CHAOS_LIMIT" "$0" "$@"
fi

set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # redis_cli
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build # scripts/cluster takes ringctl and the gateway from here
loadgen=${NEARBY_LOADGEN:-$build/test/loadgen/nearby-loadgen}
ringctl=$build/ringctl/ringctl

CHAOS_ZK=${CHAOS_ZK:-1}
if ((CHAOS_ZK > 1)); then
    ZK_PORT=22391 ZK_QUORUM_PORT=23391 ZK_ELECTION_PORT=23491
    REDIS_BASE=27500 PG_PORT=25560 GW_BASE=28900 LB_PORT=28960
else
    ZK_PORT=22351 REDIS_BASE=27100 PG_PORT=25530 GW_BASE=28600 LB_PORT=28660
fi
ZK=127.0.0.1:$ZK_PORT
for ((i = 1; i < CHAOS_ZK; i++)); do ZK+=",127.0.0.1:$((ZK_PORT + i))"; done
CHAOS_PHONES=${CHAOS_PHONES:-2500}
CHAOS_INTERVAL_MS=${CHAOS_INTERVAL_MS:-1250}
CHAOS_FRIENDS=${CHAOS_FRIENDS:-10}

dir=$(mktemp -d "/tmp/nearby-chaos-$CHAOS_NAME.XXXXXX")
PG="host=127.0.0.1 port=$PG_PORT user=nearby_owner dbname=nearby passfile=$dir/pgpass"
chmod 755 "$dir" # PostgreSQL runs as another user when we are root
lg_pid='' SUMMARY='' failed=() done_ok=0 t_start=$SECONDS
extra_redis=() # ports of Redis servers started beside the cluster (standbys, new nodes)
extra_pids=()  # other processes the test started (autopilot, ...), stopped by PID
stopped_pids=() # processes the test froze with SIGSTOP: continued before anything else

say() { printf 'chaos %s: %s\n' "$CHAOS_NAME" "$*" >&2; }

# die WHY: the test cannot go on (set-up failed); the cleanup shows the logs.
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
    kill -CONT "$1" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

chaos_cleanup() {
    local rc=$? p f
    trap - EXIT INT TERM
    for p in "${stopped_pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
    [[ -z $lg_pid ]] || stop_pid "$lg_pid"
    for p in "${extra_pids[@]}"; do stop_pid "$p"; done
    for p in "${extra_redis[@]}"; do
        "$src/scripts/redis" stop --dir "$dir" --port "$p" >>"$dir/cluster.out" 2>&1 || true
    done
    timeout 60 "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || true
    if ((!done_ok)); then
        # the test's own logs are t-*.log
        for f in "$dir/cluster.out" "$dir/loadgen.out" "$dir/loadgen.err" "$dir"/t-*.log \
            "$dir"/gateway-gw*.log; do
            [[ -f $f ]] || continue
            echo "--- $f (last 25 lines)" >&2
            tail -n 25 "$f" >&2
        done
        ((rc != 0)) || rc=1
    fi
    if [[ -n ${CHAOS_KEEP:-} ]]; then
        say "kept $dir"
    else
        rm -rf -- "$dir"
    fi
    exit "$rc"
}
trap chaos_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

[[ -x $loadgen ]] || die "$loadgen is not built"
[[ -x $ringctl ]] || die "$ringctl is not built"
for c in curl haproxy redis-cli; do
    command -v "$c" >/dev/null || die "'$c' is missing (scripts/deps installs it)"
done

# chaos_up NODES GATEWAYS [FLAGS...]: ZooKeeper (CHAOS_ZK servers), NODES pub/sub nodes
# r1..rNODES, the cache, PostgreSQL, the ring, GATEWAYS gateways and HAProxy; sources
# DIR/cluster.env.
chaos_up() {
    local nodes=$1 gateways=$2 t0=$SECONDS zk_flags=(--zk-port "$ZK_PORT")
    shift 2
    if ((CHAOS_ZK > 1)); then
        zk_flags+=(--zk "$CHAOS_ZK" --zk-quorum-port "$ZK_QUORUM_PORT"
            --zk-election-port "$ZK_ELECTION_PORT")
    fi
    "$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis "$nodes" --gateways "$gateways" \
        "${zk_flags[@]}" --redis-base-port "$REDIS_BASE" --pg-port "$PG_PORT" \
        --gateway-base-port "$GW_BASE" --lb-port "$LB_PORT" "$@" >"$dir/cluster.out" 2>&1 ||
        die "scripts/cluster up failed"
    # shellcheck source=/dev/null
    source "$dir/cluster.env"
    [[ $NEARBY_ZK == "$ZK" ]] || die "the cluster's NEARBY_ZK is $NEARBY_ZK, not $ZK"
    # ringctl (remove) and redis_cli use the cluster's credentials.
    export NEARBY_REDIS_USER NEARBY_REDIS_PASSWORD_FILE NEARBY_REDIS_ADMIN_PASSWORD_FILE
    export NEARBY_ZK_AUTH_FILE # ringctl as admin; the autopilot has its own below
    say "cluster up: $nodes nodes, $gateways gateways, $CHAOS_ZK ZooKeeper in $((SECONDS - t0)) s"
}

# chaos_seed USERS AVG_FRIENDS
chaos_seed() {
    timeout 120 "$src/scripts/seed-graph" --users "$1" --avg-friends "$2" --pg "$PG" \
        >>"$dir/cluster.out" 2>&1 || die "scripts/seed-graph failed"
}

# chaos_redis PORT: one more Redis beside the cluster (a node to add, a standby).
chaos_redis() {
    extra_redis+=("$1")
    "$src/scripts/redis" start --dir "$dir" --port "$1" >>"$dir/cluster.out" 2>&1 ||
        die "could not start Redis on $1"
}

# channels_on PORT: the u:* channels some gateway subscribes on the Redis at PORT, sorted.
channels_on() {
    redis_cli "$1" PUBSUB CHANNELS 'u:*' | sed '/^$/d' | sort
}

# subscriptions_on PORT: how many channels (of any name) are subscribed on the Redis at PORT.
subscriptions_on() {
    redis_cli "$1" PUBSUB CHANNELS | grep -c . || true
}

# node_pid I: the PID of pub/sub node rI of the cluster.
node_pid() {
    head -n 1 "$dir/redis-$((REDIS_BASE + $1)).pid"
}

# gateway_pid I: the PID of gateway gwI.
gateway_pid() {
    head -n 1 "$dir/gateway-gw$1.pid"
}

# -- the ZooKeeper ensemble (CHAOS_ZK > 1); servers are numbered 1..CHAOS_ZK

# zk_pid I: the PID of ZooKeeper server zkI.
zk_pid() {
    head -n 1 "$dir/zookeeper-$1.pid"
}

# zk_mode I: what zkI's srvr says it is: leader, follower, "none" while it runs without
# serving (no quorum), "silent" when it does not answer (stopped, dead).
zk_mode() {
    local out
    out=$(printf srvr | timeout 2 nc -w 1 -N 127.0.0.1 $((ZK_PORT + $1 - 1)) 2>/dev/null) || true
    if [[ $out =~ Mode:\ ([a-z]+) ]]; then
        echo "${BASH_REMATCH[1]}"
    elif [[ $out == *"not currently serving"* ]]; then
        echo none
    else
        echo silent
    fi
}

# zk_leader: the I of the server that leads now; fails if none does.
zk_leader() {
    local i
    for ((i = 1; i <= CHAOS_ZK; i++)); do
        [[ $(zk_mode "$i") != leader ]] || {
            echo "$i"
            return 0
        }
    done
    return 1
}

# zk_wait_leader SECONDS: until some server leads; sets LEADER. Fails after SECONDS.
zk_wait_leader() {
    local deadline=$((SECONDS + $1))
    # shellcheck disable=SC2034 # read by the caller
    until LEADER=$(zk_leader); do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# zk_server_start I: starts zkI of the cluster's ensemble again (data kept), waits until it serves.
zk_server_start() {
    "$src/scripts/zookeeper" start --dir "$dir" --servers "$CHAOS_ZK" --id "$1" \
        --port "$ZK_PORT" --quorum-port "$ZK_QUORUM_PORT" --election-port "$ZK_ELECTION_PORT" \
        --tick-ms "$ZK_TICK_MS" >>"$dir/cluster.out" 2>&1
}

# registrations: each gateway's registration as "ID=SESSION/CZXID", one a line, sorted:
# a gateway that registered again (a new session) shows other figures.
registrations() {
    rctl status --json | python3 -c 'import json, sys
for g in json.load(sys.stdin)["gateways"]:
    print("%s=%s/%s" % (g["id"], g["session"], g["czxid"]))' | sort
}

# gateway_log_count TEXT: how many lines of all the gateways' logs contain TEXT.
gateway_log_count() {
    cat "$dir"/gateway-gw*.log | grep -cF -- "$1" || true
}

# min_pushes SECONDS: samples the loadgen's pushes_per_s once a second for SECONDS; sets
# MIN_PUSH to the lowest.
min_pushes() {
    local end=$((SECONDS + $1)) p
    MIN_PUSH=''
    while ((SECONDS < end)); do
        sleep 1
        p=$(field pushes_per_s "$(last_status)") || continue
        [[ -n $MIN_PUSH ]] && ((p >= MIN_PUSH)) || MIN_PUSH=$p
    done
}

# gateways_registered N: N gateways listed by 'ringctl status', each with lag 0.
gateways_registered() {
    local out
    out=$(rctl status 2>/dev/null) || return 1
    [[ $(grep -cE '^gw[0-9]+ .* 0 ' <<<"$out") == "$1" ]]
}

# rctl ARGS...: ringctl on the cluster, bounded.
rctl() {
    timeout 120 "$ringctl" --zk "$ZK" "$@"
}

# chaos_loadgen SECONDS [FLAGS...]: CHAOS_PHONES phones through HAProxy for SECONDS, then a
# 3 s quiet period in which what was not received counts as lost. lg_pid is nearby-loadgen
# itself (a SIGUSR1 to it marks the event); it is bounded by --duration and, like the whole
# test, by the timeout this file runs the test under.
chaos_loadgen() {
    local seconds=$1
    shift
    "$loadgen" --url "$NEARBY_WS_URL" ${NEARBY_LB_CA:+--ca-file "$NEARBY_LB_CA"} \
        --secret-file "$NEARBY_JWT_KEY_FILE" --users "$CHAOS_PHONES" --phones "$CHAOS_PHONES" \
        --interval-ms "$CHAOS_INTERVAL_MS" --spread-km 1 --ramp-per-s 1000 \
        --duration "$seconds" --drain-ms 3000 --report-every 1 --seed 7 "$@" \
        >"$dir/loadgen.out" 2>"$dir/loadgen.err" </dev/null &
    lg_pid=$!
}

# last_status: the loadgen's latest status line.
last_status() {
    { grep '^t=' "$dir/loadgen.out" 2>/dev/null || true; } | tail -n 1
}

# chaos_wait_online SECONDS: until the last status line shows every phone online.
chaos_wait_online() {
    local deadline=$((SECONDS + $1)) line
    while ((SECONDS < deadline)); do
        alive "$lg_pid" || die "nearby-loadgen exited before every phone was online"
        line=$(last_status)
        [[ $(field sessions "$line") == "$CHAOS_PHONES" ]] && return 0
        sleep 0.5
    done
    die "not all $CHAOS_PHONES phones online after $1 s: ${line:-no status line}"
}

# chaos_loadgen_wait: until nearby-loadgen exits (it is bounded by its own timeout); sets
# SUMMARY to its summary line and LOADGEN_RC to its exit status.
chaos_loadgen_wait() {
    LOADGEN_RC=0
    wait "$lg_pid" || LOADGEN_RC=$?
    lg_pid=''
    SUMMARY=$(grep '^summary ' "$dir/loadgen.out" | tail -n 1) ||
        die "no summary line from nearby-loadgen (exit $LOADGEN_RC)"
}

# chaos_loadgen_stop: ends the run now (SIGTERM: the quiet period, then the summary) and
# waits for it like chaos_loadgen_wait.
chaos_loadgen_stop() {
    kill -TERM "$lg_pid" 2>/dev/null || true
    chaos_loadgen_wait
}

# field NAME [LINE]: the value of NAME=... in LINE (default: the summary).
field() {
    local re="(^| )$1=([^ ]*)" line=${2-$SUMMARY}
    [[ $line =~ $re ]] && printf '%s\n' "${BASH_REMATCH[2]}"
}

# check EXPR WHAT: EXPR is bash arithmetic over the summary's figures (published, delivered,
# lost, dup, check_failures, errors, converged_ms, ...) and the caller's variables.
check() {
    local expr=$1 what=$2 name
    # the summary's figures as variables of the expression
    for name in published delivered lost dup check_failures errors rate_limited reconnects \
        sessions converged_ms skipped lost_tail; do
        local "$name=$(field "$name" || echo 0)"
    done
    # shellcheck disable=SC2004 # expr is an expression text, not a variable
    if ! (($expr)); then
        failed+=("$what")
        say "check failed: $what ($expr)"
    fi
}

# chaos_result [NAME=VALUE...]: the one result line; exit 1 when a check failed.
chaos_result() {
    local f line="chaos $CHAOS_NAME:"
    for f in published delivered lost dup; do
        line+=" $f=$(field "$f")"
    done
    line+=" $* duration_s=$((SECONDS - t_start))"
    printf '%s\n' "$line" | tr -s ' '
    if ((${#failed[@]})); then
        say "FAIL: ${failed[*]}"
        say "loadgen summary: $SUMMARY"
        exit 1
    fi
    done_ok=1
}

# steady_rate: the median updates_per_s of the status lines while phones sent (ramp-up and
# the quiet period left out), as an integer.
steady_rate() {
    grep '^t=' "$dir/loadgen.out" | sed -n 's/.* updates_per_s=\([0-9]*\).*/\1/p' |
        awk '$1 > 0' | sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}'
}

# lagging_gateway I SECONDS LOG CMD...: runs CMD (a ring change) while gateway gwI is frozen
# (SIGSTOP) for its first SECONDS, so that gwI applies each epoch that much later than the
# others. Without a lag the gateways apply an epoch within ~30 ms of each other, and the
# cache read after a move hides even a one-phase ring write (measured: lost=0); with 1.5 s
# a one-phase add lost 2092 updates, the two-phase one none. Keep SECONDS under 2: a frozen
# gateway that wakes 3 s after its last heartbeat declares its nodes dead.
# Returns CMD's exit status; its output goes to LOG.
lagging_gateway() {
    local i=$1 seconds=$2 log=$3 gw pid rc=0
    shift 3
    gw=$(gateway_pid "$i")
    alive "$gw" || die "gw$i (pid $gw) does not run"
    stopped_pids+=("$gw")
    kill -STOP "$gw"
    "$@" >"$log" 2>&1 &
    pid=$!
    sleep "$seconds"
    kill -CONT "$gw"
    wait "$pid" || rc=$?
    return "$rc"
}

# ring_epoch: the ring's epoch from 'ringctl show'.
ring_epoch() {
    rctl show 2>/dev/null | sed -n 's/.* epoch \([0-9]*\) .*/\1/p' | head -n 1
}

# chaos_node_failover SIGNAL: kill_pubsub_node and hang_pubsub_node. 8 nodes, 2 gateways and
# a standby s1 (Redis on 27109) that 'ringctl autopilot' may use; under load r3 gets
# SIGNAL (KILL or STOP), which marks the event for the loadgen. The autopilot must give r3
# the standby's address in one write (epoch + 1), the gateways must move exactly r3's
# channels there, and the phones must converge within 5 s. Updates published to r3 between
# its death and the replacement are lost inside Redis: lost is reported, not asserted.
# The 5 s budget: a gateway finds a hung node dead after 3 missed heartbeats, checked once a
# second (3-4 s measured, up to 4.4 s under ASan); the autopilot's grace and interval (0.1 s
# each here; by default 3 s and 250 ms, which cannot make 5 s); then resubscribing and
# reading the cache take about 0.1 s.
chaos_node_failover() {
    local sig=$1 s1_port=$((REDIS_BASE + 9)) r3_port=$((REDIS_BASE + 3)) victim epoch0 epoch1 t0
    local replace_ms=-1 log=$dir/t-autopilot.log ap
    chaos_up 8 2
    chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
    chaos_redis "$s1_port"
    rctl add-standby "s1=127.0.0.1:$s1_port" >>"$dir/t-ringctl.log" 2>&1 || die "ringctl add-standby failed"
    NEARBY_ZK_AUTH_FILE=$NEARBY_ZK_AUTOPILOT_AUTH_FILE "$ringctl" --zk "$ZK" autopilot --grace 0.1 --interval-ms 100 >"$log" 2>&1 </dev/null &
    ap=$!
    extra_pids+=("$ap")
    t0=$SECONDS
    until grep -q 'autopilot: leader' "$log"; do
        alive "$ap" || die "ringctl autopilot exited: $(tail -n 5 "$log")"
        ((SECONDS - t0 < 20)) || die "ringctl autopilot did not become leader in 20 s"
        sleep 0.2
    done
    chaos_loadgen 35
    chaos_wait_online 60
    sleep 5

    channels_on "$r3_port" >"$dir/channels-r3"
    epoch0=$(ring_epoch)
    victim=$(node_pid 3)
    alive "$victim" || die "r3 (pid $victim) does not run"
    [[ $sig == STOP ]] && stopped_pids+=("$victim")
    kill -"$sig" "$victim"
    kill -USR1 "$lg_pid"
    t0=$(date +%s%N)
    say "SIG$sig to r3 (pid $victim) at $(last_status | cut -d' ' -f1)"
    while ((($(date +%s%N) - t0) / 1000000 < 20000)); do
        if rctl show 2>/dev/null | grep -qE "^r3 +127\.0\.0\.1:$s1_port "; then
            replace_ms=$((($(date +%s%N) - t0) / 1000000))
            break
        fi
        sleep 0.1
    done
    epoch1=$(ring_epoch)
    say "r3 replaced by s1 after $replace_ms ms (epoch $epoch0 -> $epoch1): $(grep 'replaced by' "$log" | tail -n 1)"
    sleep 3 # the gateways resubscribe on s1's address
    channels_on "$s1_port" >"$dir/channels-s1"
    chaos_loadgen_wait

    r3_channels=$(wc -l <"$dir/channels-r3")
    s1_channels=$(wc -l <"$dir/channels-s1")
    s1_diff=$(comm -3 "$dir/channels-r3" "$dir/channels-s1" | wc -l)
    common_checks
    check "replace_ms >= 0" "the autopilot did not replace r3 within 20 s"
    check "epoch1 == epoch0 + 1" "the replacement took epochs $epoch0 -> $epoch1, not one write"
    check "r3_channels > 100" "r3 held only $r3_channels channels"
    check "s1_diff == 0" "$s1_diff channels differ between r3 before and s1 after"
    check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms), want 0..5000"
    check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
    chaos_result "converged_ms=$(field converged_ms)" "replace_ms=$replace_ms" \
        "channels_moved=$s1_channels" "updates_per_s=$RATE"
}

# common_checks: what holds in every scenario: no failed check, no duplicate, no refused loc,
# and the load was what was asked for (within 10 %).
common_checks() {
    local want=$((CHAOS_PHONES * 1000 / CHAOS_INTERVAL_MS))
    RATE=$(steady_rate)
    check "LOADGEN_RC == 0" "nearby-loadgen exited $LOADGEN_RC"
    check "check_failures == 0" "check_failures=$(field check_failures)"
    check "dup == 0" "dup=$(field dup)"
    check "rate_limited == 0" "rate_limited=$(field rate_limited): the load is above the rate limit"
    check "published > 0 && delivered > 0" "nothing published or delivered"
    check "RATE * 10 >= want * 9" "updates_per_s=$RATE, want about $want"
}
