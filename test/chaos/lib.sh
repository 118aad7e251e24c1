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
# CHAOS_PORT_BASE=B (one ZooKeeper server only) moves the whole layout into B+30..B+295 instead,
# for a run beside someone else's suite: ZooKeeper B+51, PostgreSQL B+30, Redis B+100..B+199,
# gateways B+271.. with their internal ports B+281.., HAProxy B+295 (its stats B+294).
#
# Strangers: CHAOS_STRANGERS_FRACTION (a scenario may set a default) makes that share of the
# phones pairs of strangers (nearby-loadgen --strangers-fraction); the summary then has
# strangers_shown, strangers_lost, strangers_dup and strangers_foreign, and strangers_checks
# asserts that some were shown and none lost, duplicated or misplaced.
#
# CHAOS_NETNS=1 (the partition scenarios, partition_*.sh): chaos_hosts_up instead of
# chaos_up puts every server on a host of its own, a network namespace made by the test
# (scripts/netns, prefix nbp<pid>, addresses 10.231.0.0/24 that exist only inside them):
# zk1..zk3, r1..rN, standbys s1.., db (the cache and PostgreSQL), gw1..gwG, lb (HAProxy and
# the load generator), ctl (ringctl, redis-cli, the probes) and any extra hosts a test names.
# Nothing listens on the machine's own 127.0.0.1, so no port there is taken; inside the
# hosts ZooKeeper zkI serves on 2180+I, Redis on 6400 (the cache), 6400+I (rI) and 6450+I
# (sI), PostgreSQL on 5432, gateways on 8080 (internal port 9080), HAProxy on 8000 (plain
# ws://: its certificate names 127.0.0.1; stats on 8001).
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
CHAOS_NETNS=${CHAOS_NETNS:-0}
if ((CHAOS_NETNS)); then
    # chaos_hosts_up sets ZK to the hosts' servers (zkI on 2180+I) and LB_URL.
    CHAOS_ZK=3 REDIS_BASE=6400 ZK_TICK_MS=1000 ZK_PORT=2181 PG_PORT=5432 LB_PORT=8000
elif ((CHAOS_ZK > 1)); then
    ZK_PORT=22391 ZK_QUORUM_PORT=23391 ZK_ELECTION_PORT=23491
    REDIS_BASE=27500 PG_PORT=25560 GW_BASE=28900 LB_PORT=28960
elif [[ -n ${CHAOS_PORT_BASE:-} ]]; then
    ZK_PORT=$((CHAOS_PORT_BASE + 51)) REDIS_BASE=$((CHAOS_PORT_BASE + 100))
    PG_PORT=$((CHAOS_PORT_BASE + 30)) GW_BASE=$((CHAOS_PORT_BASE + 270))
    GW_ADMIN_BASE=$((CHAOS_PORT_BASE + 280)) LB_PORT=$((CHAOS_PORT_BASE + 295))
else
    ZK_PORT=22351 REDIS_BASE=27100 PG_PORT=25530 GW_BASE=28600 LB_PORT=28660
fi
# The hosts of CHAOS_NETNS have their gateways on ports of their own (scripts/netns).
((CHAOS_NETNS)) || GW_ADMIN_BASE=${GW_ADMIN_BASE:-$((GW_BASE + 1000))}
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
ns_state=''     # scripts/netns's records while the test's hosts exist
LB_URL='' # where the phones connect with CHAOS_NETNS (plain ws://); else the cluster's NEARBY_WS_URL

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
    if [[ -n $ns_state ]]; then
        hosts_down
    else
        for p in "${extra_redis[@]}"; do
            "$src/scripts/redis" stop --dir "$dir" --port "$p" >>"$dir/cluster.out" 2>&1 || true
        done
        timeout 60 "$src/scripts/cluster" down --dir "$dir" >>"$dir/cluster.out" 2>&1 || true
    fi
    if ((!done_ok)); then
        # the test's own logs are t-*.log
        for f in "$dir/cluster.out" "$dir/loadgen.out" "$dir/loadgen.err" "$dir"/t-*.log \
            "$dir"/gateway-gw*.log "$dir"/haproxy.log; do
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
    # --plain: the phones here measure the ring and the nodes, not TLS; 2500 TLS sessions
    # through HAProxy on two shared cores made the ramp miss its pace (TLS at the edge is the
    # cluster, prometheus and web tests' subject).
    "$src/scripts/cluster" up --no-prometheus --plain --dir "$dir" --redis "$nodes" --gateways "$gateways" \
        "${zk_flags[@]}" --redis-base-port "$REDIS_BASE" --pg-port "$PG_PORT" \
        --gateway-base-port "$GW_BASE" --gateway-admin-base-port "$GW_ADMIN_BASE" \
        --lb-port "$LB_PORT" "$@" >"$dir/cluster.out" 2>&1 ||
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
    at_ctl timeout 120 "$src/scripts/seed-graph" --users "$1" --avg-friends "$2" --pg "$PG" \
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
    node_cli "$1" PUBSUB CHANNELS 'u:*' | sed '/^$/d' | sort
}

# node_cli PORT ARGS...: redis-cli as admin on the cluster's Redis at PORT (on its host with
# CHAOS_NETNS, asked from ctl).
node_cli() {
    local port=$1
    if [[ -z $ns_state ]]; then
        redis_cli "$@"
        return
    fi
    shift
    REDISCLI_AUTH=$(<"$NEARBY_REDIS_ADMIN_PASSWORD_FILE") on ctl timeout "${REDIS_CLI_TIMEOUT:-10}" \
        redis-cli --no-auth-warning --user admin -h "$(host_addr "$(redis_host "$port")")" -p "$port" "$@"
}

# cells_on PORT: the g:* (strangers' cell) channels some gateway subscribes on the Redis at
# PORT, sorted.
cells_on() {
    redis_cli "$1" PUBSUB CHANNELS 'g:*' | sed '/^$/d' | sort
}

# subscriptions_on PORT: how many channels (of any name) are subscribed on the Redis at PORT.
subscriptions_on() {
    node_cli "$1" PUBSUB CHANNELS | grep -c . || true
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

# zk_host I: the address of ZooKeeper server zkI.
zk_host() {
    if [[ -n $ns_state ]]; then host_addr "zk$1"; else echo 127.0.0.1; fi
}

# zk_pid I: the PID of ZooKeeper server zkI.
zk_pid() {
    head -n 1 "$dir/zookeeper-$1.pid"
}

# zk_mode I: what zkI's srvr says it is: leader, follower, "none" while it runs without
# serving (no quorum), "silent" when it does not answer (stopped, dead).
zk_mode() {
    local out
    out=$(printf srvr | at_ctl timeout 2 nc -w 1 -N "$(zk_host "$1")" $((ZK_PORT + $1 - 1)) 2>/dev/null) || true
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

# at_ctl CMD...: CMD where the test's tools run: here, or on host ctl with CHAOS_NETNS.
at_ctl() {
    if [[ -n $ns_state ]]; then
        on ctl "$@"
    else
        "$@"
    fi
}

# rctl ARGS...: ringctl on the cluster, bounded.
rctl() {
    at_ctl timeout 120 "$ringctl" --zk "$ZK" "$@"
}

# chaos_loadgen SECONDS [FLAGS...]: CHAOS_PHONES phones through HAProxy for SECONDS, then a
# 3 s quiet period in which what was not received counts as lost. lg_pid is nearby-loadgen
# itself (a SIGUSR1 to it marks the event); it is bounded by --duration and, like the whole
# test, by the timeout this file runs the test under.
chaos_loadgen() {
    local seconds=$1
    shift
    ${ns_state:+"$src/scripts/netns" exec --state "$ns_state" lb --} "$loadgen" \
        --url "${LB_URL:-$NEARBY_WS_URL}" ${NEARBY_LB_CA:+--ca-file "$NEARBY_LB_CA"} \
        --secret-file "$NEARBY_JWT_KEY_FILE" --users "$CHAOS_PHONES" --phones "$CHAOS_PHONES" \
        --interval-ms "$CHAOS_INTERVAL_MS" --spread-km 1 --ramp-per-s 1000 \
        --duration "$seconds" --drain-ms 3000 --report-every 1 --seed 7 \
        --strangers-fraction "${CHAOS_STRANGERS_FRACTION:-0}" "$@" \
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
        sessions converged_ms skipped lost_tail strangers_phones strangers_shown strangers_lost \
        strangers_dup strangers_foreign; do
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

# since_ms T0: milliseconds since T0 (date +%s%N).
since_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# wait_replaced NODE ADDR T0: until 'ringctl show' names ADDR for NODE, 20 s from T0 at most;
# sets REPLACE_MS to the milliseconds since T0 (-1: not within 20 s).
wait_replaced() {
    REPLACE_MS=-1
    while (($(since_ms "$3") < 20000)); do
        if rctl show 2>/dev/null | grep -qE "^$1 +${2//./\\.} "; then
            REPLACE_MS=$(since_ms "$3")
            return 0
        fi
        sleep 0.1
    done
}

# rctl_bg LOG ARGS...: ringctl ARGS in the background, its output in LOG and the time it
# ended (date +%s%N) in LOG.end; sets BG_PID (wait for it for ringctl's exit status).
rctl_bg() {
    local log=$1
    shift
    (
        rc=0
        rctl "$@" >"$log" 2>&1 || rc=$?
        date +%s%N >"$log.end"
        exit "$rc"
    ) &
    # shellcheck disable=SC2034 # read by the caller
    BG_PID=$!
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
    wait_replaced r3 "127.0.0.1:$s1_port" "$t0"
    replace_ms=$REPLACE_MS
    epoch1=$(ring_epoch)
    say "r3 replaced by s1 after $replace_ms ms (epoch $epoch0 -> $epoch1): $(grep 'replaced by' "$log" | tail -n 1)"
    sleep 3 # the gateways resubscribe on s1's address
    channels_on "$s1_port" >"$dir/channels-s1"
    chaos_loadgen_wait

    failover_checks r3
    chaos_result "converged_ms=$(field converged_ms)" "replace_ms=$replace_ms" \
        "channels_moved=$S1_CHANNELS" "updates_per_s=$RATE"
}

# failover_checks NODE: what a failover of NODE to s1 must show, besides common_checks:
# within 20 s (replace_ms) and in one write (epoch0, epoch1), exactly NODE's channels
# (DIR/channels-NODE, taken before) on s1 (DIR/channels-s1, after), the phones converged
# within 5 s and all online. Sets S1_CHANNELS.
failover_checks() {
    local node=$1 node_channels s1_diff
    node_channels=$(wc -l <"$dir/channels-$node")
    S1_CHANNELS=$(wc -l <"$dir/channels-s1")
    s1_diff=$(comm -3 "$dir/channels-$node" "$dir/channels-s1" | wc -l)
    common_checks
    check "replace_ms >= 0" "the autopilot did not replace $node within 20 s"
    check "epoch1 == epoch0 + 1" "the replacement took epochs $epoch0 -> $epoch1, not one write"
    check "node_channels > 100" "$node held only $node_channels channels"
    check "s1_diff == 0" "$s1_diff channels differ between $node before and s1 after"
    check "converged_ms >= 0 && converged_ms <= 5000" "converged_ms=$(field converged_ms), want 0..5000"
    check "sessions == $CHAOS_PHONES" "sessions=$(field sessions) at the end"
}

# common_checks: what holds in every scenario: no failed check, no duplicate, no refused loc,
# and the load was what was asked for (within 10 %).
# strangers_checks: with CHAOS_STRANGERS_FRACTION, the pairs of strangers saw each other and
# lost, duplicated and misplaced nothing.
strangers_checks() {
    [[ ${CHAOS_STRANGERS_FRACTION:-0} != 0 ]] || return 0
    check "strangers_phones > 0 && strangers_shown > strangers_phones" \
        "strangers: $(field strangers_shown) shown to $(field strangers_phones) phones"
    check "strangers_lost == 0" "strangers_lost=$(field strangers_lost)"
    check "strangers_dup == 0" "strangers_dup=$(field strangers_dup)"
    check "strangers_foreign == 0" "strangers_foreign=$(field strangers_foreign)"
}

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

# -- hosts in network namespaces (CHAOS_NETNS=1) ----------------------------------------

NS_SUBNET=10.231.0 # the hosts' /24, inside the namespaces only
NS_PREFIX=nbp$$    # namespace names nbp<pid>-HOST, the switch nbp<pid>-switch
declare -A HOST_ADDR=()
NS_GW_PORT=8080 NS_ADMIN_PORT=9080 NS_LB_PORT=8000 NS_LB_STATS_PORT=8001 NS_PG_PORT=5432

# on HOST CMD...: CMD inside HOST's namespace (its PID is CMD's: scripts/netns execs).
on() {
    local h=$1
    shift
    "$src/scripts/netns" exec --state "$ns_state" "$h" -- "$@"
}

# net CMD ARGS...: scripts/netns CMD on the test's hosts (cut, heal, unplug, plug, status).
net() {
    local c=$1
    shift
    "$src/scripts/netns" "$c" --state "$ns_state" "$@"
}

host_addr() { echo "${HOST_ADDR[$1]:?no host $1}"; }

# redis_host PORT: the host of the cluster's Redis on PORT: db (the cache), rI or sI.
redis_host() {
    if (($1 == REDIS_BASE)); then
        echo db
    elif (($1 > REDIS_BASE + 50)); then
        echo "s$(($1 - REDIS_BASE - 50))"
    else
        echo "r$(($1 - REDIS_BASE))"
    fi
}

# http_at HOST URL: the HTTP status of URL asked from HOST ("000" when nothing answers).
http_at() {
    on "$1" curl -s -o /dev/null -m 2 -w '%{http_code}' "$2" 2>/dev/null || true
}

# gateway_healthz I: what gwI's phones' port answers on /healthz, the check HAProxy makes
# (asked from ctl: lb is the gateways' trusted proxy, which must send a PROXY header).
gateway_healthz() {
    http_at ctl "http://$(host_addr "gw$1"):$NS_GW_PORT/healthz"
}

# gateway_detail I: gwI's /healthz with its reason, from its internal port.
gateway_detail() {
    on ctl curl -s -m 2 "http://$(host_addr "gw$1"):$NS_ADMIN_PORT/healthz" 2>/dev/null || true
}

# gateway_metric I NAME: the value of metric line NAME (e.g. 'nearby_sessions') of gwI.
gateway_metric() {
    { on ctl curl -s -m 2 "http://$(host_addr "gw$1"):$NS_ADMIN_PORT/metrics" 2>/dev/null || true; } |
        awk -v n="$2" '$1 == n && !found {print $2; found = 1}'
}

# chaos_hosts_up NODES GATEWAYS STANDBYS [HOST...]: the hosts (see the top of this file),
# then ZooKeeper zk1..zk3 (one server per host), the pub/sub nodes r1..rNODES and standbys
# s1..sSTANDBYS (not yet in the ring; chaos_add_standbys), the cache and PostgreSQL on db
# (schema applied), the ring over r1..rNODES, GATEWAYS gateways and HAProxy on lb, all with
# the credentials scripts/cluster would give them. Sets ZK, LB_URL and the variables that
# scripts/cluster's cluster.env holds for the tests (NEARBY_ZK_AUTH_FILE, ...).
chaos_hosts_up() {
    local nodes=$1 gateways=$2 standbys=$3 t0=$SECONDS h i a zk_addrs='' members=() pids=() rc=0
    shift 3
    (($(id -u) == 0)) || die "network namespaces need root"
    for h in ip nft nc openssl; do
        command -v "$h" >/dev/null || die "'$h' is missing (scripts/deps installs it)"
    done
    local hosts=(zk1 zk2 zk3 db)
    for ((i = 1; i <= nodes; i++)); do hosts+=("r$i"); done
    for ((i = 1; i <= standbys; i++)); do hosts+=("s$i"); done
    for ((i = 1; i <= gateways; i++)); do hosts+=("gw$i"); done
    hosts+=(lb ctl "$@")
    ns_state=$dir/netns
    "$src/scripts/netns" up --state "$ns_state" --prefix "$NS_PREFIX" --subnet "$NS_SUBNET" \
        "${hosts[@]}" >"$dir/hosts.out" 2>>"$dir/cluster.out" || die "scripts/netns up failed"
    while read -r h a _; do HOST_ADDR[$h]=$a; done <"$dir/hosts.out"
    GATEWAY_COUNT=$gateways NODE_COUNT=$nodes STANDBY_COUNT=$standbys
    ZK_PORT=2181
    ZK=''
    for i in 1 2 3; do
        zk_addrs+="${zk_addrs:+,}$(host_addr "zk$i")"
        ZK+="${ZK:+,}$(host_addr "zk$i"):$((ZK_PORT + i - 1))"
    done
    LB_URL="ws://$(host_addr lb):$NS_LB_PORT/ws"

    # The credentials, as scripts/cluster makes them.
    (
        PROG=chaos
        # shellcheck source=scripts/lib/secrets.sh
        source "$src/scripts/lib/secrets.sh"
        secrets_make "$dir"
    ) >>"$dir/cluster.out" 2>&1 || die "could not make the credentials"
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$dir/jwt-ed25519.key" 2>/dev/null &&
        openssl pkey -in "$dir/jwt-ed25519.key" -pubout -out "$dir/jwt-ed25519.pub" 2>/dev/null) ||
        die "cannot make the token keys"
    NEARBY_JWT_KEY_FILE=$dir/jwt-ed25519.key
    export NEARBY_REDIS_ADMIN_PASSWORD_FILE=$dir/secrets/redis-admin.password
    export NEARBY_REDIS_USER=ringctl NEARBY_REDIS_PASSWORD_FILE=$dir/secrets/redis-ringctl.password
    export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
    NEARBY_ZK_AUTOPILOT_AUTH_FILE=$dir/secrets/zk-autopilot.auth
    PG="host=$(host_addr db) port=$NS_PG_PORT user=nearby_owner dbname=nearby passfile=$dir/pgpass"

    for i in 1 2 3; do
        on "zk$i" "$src/scripts/zookeeper" start --dir "$dir" --servers 3 --id "$i" \
            --addrs "$zk_addrs" --port "$ZK_PORT" --tick-ms "$ZK_TICK_MS" >"$dir/zk$i.out" 2>&1 &
        pids+=($!)
    done
    # Redis: the nodes (TCP keepalive after 5 s idle: a gateway cut away leaves no
    # subscription behind for longer than about 10 s), the standbys, the cache.
    for ((i = 1; i <= nodes + standbys; i++)); do
        h=r$i port=$((REDIS_BASE + i))
        ((i <= nodes)) || h=s$((i - nodes)) port=$((REDIS_BASE + 50 + i - nodes))
        on "$h" "$src/scripts/redis" start --dir "$dir" --port "$port" --bind "$(host_addr "$h")" \
            --aclfile "$dir/secrets/redis-nodes.acl" -- --tcp-keepalive 5 >>"$dir/cluster.out" 2>&1 &
        pids+=($!)
    done
    on db "$src/scripts/redis" start --dir "$dir" --port "$REDIS_BASE" --bind "$(host_addr db)" \
        --aclfile "$dir/secrets/redis-cache.acl" >>"$dir/cluster.out" 2>&1 || rc=1
    on db "$src/scripts/postgres" start --dir "$dir" --port "$NS_PG_PORT" --listen "$(host_addr db)" \
        --role-password "nearby_owner=$dir/secrets/pg-owner.password" \
        --role-password "nearby_gateway=$dir/secrets/pg-gateway.password" \
        >>"$dir/cluster.out" 2>&1 || rc=1
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    cat "$dir"/zk?.out >>"$dir/cluster.out"
    ((rc == 0)) || die "a server did not start (see cluster.out)"
    on db timeout 120 "$src/scripts/migrate" --pg "$PG" >>"$dir/cluster.out" 2>&1 ||
        die "scripts/migrate failed"
    for ((i = 1; i <= nodes; i++)); do members+=("r$i=$(host_addr "r$i"):$((REDIS_BASE + i))"); done
    rctl init "${members[@]}" >>"$dir/cluster.out" 2>&1 || die "ringctl init failed"

    for ((i = 1; i <= gateways; i++)); do gateway_spawn_at "$i"; done
    for ((i = 1; i <= gateways; i++)); do
        wait_healthz "$i" 30 || die "gw$i did not answer 200 on /healthz in 30 s: $(gateway_detail "$i")"
    done
    haproxy_up
    say "hosts up: ${#hosts[@]} namespaces, $nodes nodes, $standbys standbys, $gateways gateways, 3 ZooKeeper in $((SECONDS - t0)) s"
}

# gateway_spawn_at I: starts gateway gwI on its host (PID in DIR/gateway-gwI.pid).
gateway_spawn_at() {
    local i=$1 a log=$dir/gateway-gw$1.log
    a=$(host_addr "gw$i")
    (
        exec setsid "$src/scripts/netns" exec --state "$ns_state" "gw$i" -- \
            "$build/gateway/nearby-gateway" --id "gw$i" --listen "$a:$NS_GW_PORT" \
            --admin-listen "$a:$NS_ADMIN_PORT" --zk "$ZK" --ring main \
            --cache "$(host_addr db):$REDIS_BASE" \
            --pg "host=$(host_addr db) port=$NS_PG_PORT user=nearby_gateway dbname=nearby passfile=$dir/pgpass" \
            --jwt-public-key-file "$dir/jwt-ed25519.pub" --drain-seconds 2 \
            --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
            --zk-auth-file "$dir/secrets/zk-gateway.auth" --trusted-proxy "$(host_addr lb)" \
            --ip-max-conns 100000 --ip-handshake-rate 10000 --ip-handshake-burst 100000 \
            </dev/null >>"$log" 2>&1
    ) &
    echo "$!" >"$dir/gateway-gw$i.pid"
    extra_pids+=("$!")
}

# wait_healthz I SECONDS: until gwI's /healthz says 200.
wait_healthz() {
    local deadline=$((SECONDS + $2))
    until [[ $(gateway_healthz "$1") == 200 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.3
    done
}

# haproxy_up: HAProxy on lb in front of every gateway; a gateway marked down (its /healthz
# 503) loses its WebSockets, so its phones come back through the others.
haproxy_up() {
    local i servers=() t0=$SECONDS
    for ((i = 1; i <= GATEWAY_COUNT; i++)); do servers+=("gw$i=$(host_addr "gw$i"):$NS_GW_PORT"); done
    (
        PROG=chaos
        # shellcheck source=scripts/lib/haproxy.sh
        source "$src/scripts/lib/haproxy.sh"
        HAPROXY_SOURCE=$(host_addr lb) HAPROXY_BIND=$(host_addr lb) HAPROXY_SHUTDOWN_ON_DOWN=1 \
            HAPROXY_CHECK_INTER=500ms \
            HAPROXY_IP_MAX_CONNS=100000 HAPROXY_IP_CONN_RATE=10000 \
            haproxy_write_cfg "$dir" "$NS_LB_PORT" "$NS_LB_STATS_PORT" tcp "${servers[@]}"
    ) || die "could not write haproxy.cfg"
    (exec setsid "$src/scripts/netns" exec --state "$ns_state" lb -- haproxy -f "$dir/haproxy.cfg" -db \
        </dev/null >>"$dir/haproxy.log" 2>&1) &
    extra_pids+=("$!")
    until [[ $(http_at lb "http://$(host_addr lb):$NS_LB_PORT/healthz") == 200 ]]; do
        ((SECONDS - t0 < 20)) || die "HAProxy did not forward /healthz with 200 in 20 s"
        sleep 0.3
    done
}

# lb_server_state GW: HAProxy's state of gateway GW (UP, DOWN, ...), from its stats.
lb_server_state() {
    { on lb curl -s -m 2 "http://$(host_addr lb):$NS_LB_STATS_PORT/lb-stats;csv" 2>/dev/null || true; } |
        awk -F, -v s="$1" '$1 == "gateways" && $2 == s && !found {print $18; found = 1}'
}

# chaos_add_standbys: ringctl add-standby s1..sSTANDBYS.
chaos_add_standbys() {
    local i
    for ((i = 1; i <= STANDBY_COUNT; i++)); do
        rctl add-standby "s$i=$(host_addr "s$i"):$((REDIS_BASE + 50 + i))" >>"$dir/t-ringctl.log" 2>&1 ||
            die "ringctl add-standby s$i failed"
    done
}

# chaos_autopilot HOST LOG [FLAGS...]: 'ringctl autopilot' on HOST as the autopilot's
# identity, in the background; sets AP_PID.
chaos_autopilot() {
    local h=$1 log=$2
    shift 2
    # A plain command in the background, so that $! is ringctl's own PID (scripts/netns and
    # ip netns exec exec it).
    NEARBY_ZK_AUTH_FILE=$NEARBY_ZK_AUTOPILOT_AUTH_FILE "$src/scripts/netns" exec --state "$ns_state" \
        "$h" -- "$ringctl" --zk "$ZK" autopilot --grace 0.1 --interval-ms 100 "$@" >"$log" 2>&1 </dev/null &
    AP_PID=$!
    extra_pids+=("$AP_PID")
}

# wait_log FILE TEXT SECONDS: until FILE has a line with TEXT.
wait_log() {
    local deadline=$((SECONDS + $3))
    until grep -qF -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# hosts_down: stops every server on the hosts by PID (inside its host, where its ports
# are), heals every cut and removes the namespaces.
hosts_down() {
    local i p
    for p in "${extra_pids[@]}"; do stop_pid "$p"; done
    extra_pids=()
    for ((i = 1; i <= NODE_COUNT + STANDBY_COUNT; i++)); do
        if ((i <= NODE_COUNT)); then h=r$i p=$((REDIS_BASE + i)); else
            h=s$((i - NODE_COUNT)) p=$((REDIS_BASE + 50 + i - NODE_COUNT))
        fi
        on "$h" "$src/scripts/redis" stop --dir "$dir" --port "$p" >>"$dir/cluster.out" 2>&1 &
    done
    on db "$src/scripts/redis" stop --dir "$dir" --port "$REDIS_BASE" >>"$dir/cluster.out" 2>&1 &
    on db "$src/scripts/postgres" stop --dir "$dir" >>"$dir/cluster.out" 2>&1 &
    for i in 1 2 3; do
        on "zk$i" "$src/scripts/zookeeper" stop --dir "$dir" --id "$i" >>"$dir/cluster.out" 2>&1 &
    done
    wait
    net down >>"$dir/cluster.out" 2>&1 || {
        say "scripts/netns down failed: $(tail -n 2 "$dir/cluster.out")"
        net status >&2 || true
    }
    ns_state=''
}

# publishes_on PORT: how many PUBLISH commands the Redis at PORT has run.
publishes_on() {
    node_cli "$1" INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_publish:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}

# chaos_partition_failover both|one-way: partition_node_cut and partition_one_way. Hosts
# with 4 nodes, 2 gateways, a standby s1 and the autopilot on ctl; under load r2 is cut from
# every gateway, both ways or only what r2 sends them (so what they send still arrives:
# publishes reach it, its replies and the messages for their subscribers do not). The
# autopilot must give r2 s1's address in one write and the phones converge within 5 s, as
# for a killed node (chaos_node_failover). When the cut heals, the old r2, which ran all
# along, must drop every subscription (within 90 s: the gateways' old connections are gone
# once a retransmission meets their closed sockets) and get no publish.
chaos_partition_failover() {
    local mode=$1 r2_port=$((REDIS_BASE + 2)) s1_port=$((REDIS_BASE + 51)) epoch0 epoch1 t0 i
    local replace_ms=-1 log=$dir/t-autopilot.log pub0 pub_during pub_after subs_gone_ms=-1 r2_pid
    local flags=()
    [[ $mode == one-way ]] && flags=(--one-way)
    chaos_hosts_up 4 2 1
    chaos_seed "$CHAOS_PHONES" "$CHAOS_FRIENDS"
    chaos_add_standbys
    chaos_autopilot ctl "$log"
    wait_log "$log" 'autopilot: leader' 30 || die "ringctl autopilot did not lead in 30 s: $(tail -n 3 "$log")"
    chaos_loadgen 150
    chaos_wait_online 60
    sleep 5

    channels_on "$r2_port" >"$dir/channels-r2"
    epoch0=$(ring_epoch)
    r2_pid=$(node_pid 2)
    pub0=$(publishes_on "$r2_port")
    for ((i = 1; i <= GATEWAY_COUNT; i++)); do net cut r2 "gw$i" "${flags[@]}" >>"$dir/t-net.log"; done
    kill -USR1 "$lg_pid"
    t0=$(date +%s%N)
    say "cut r2 from every gateway ($mode) at $(last_status | cut -d' ' -f1)"
    sleep 1
    pub_during=$(($(publishes_on "$r2_port") - pub0))
    wait_replaced r2 "$(host_addr s1):$s1_port" "$t0"
    replace_ms=$REPLACE_MS
    epoch1=$(ring_epoch)
    say "r2 replaced by s1 after $replace_ms ms (epoch $epoch0 -> $epoch1): $(grep 'replaced by' "$log" | tail -n 1)"
    sleep 3 # the gateways resubscribe on s1
    channels_on "$s1_port" >"$dir/channels-s1"
    # shellcheck disable=SC2034 # read by check's expression
    alive "$r2_pid" && r2_ran=1 || r2_ran=0

    for ((i = 1; i <= GATEWAY_COUNT; i++)); do net heal r2 "gw$i" >>"$dir/t-net.log"; done
    t0=$(date +%s%N)
    while (($(since_ms "$t0") < 90000)); do
        if (($(subscriptions_on "$r2_port") == 0)); then
            subs_gone_ms=$(since_ms "$t0")
            break
        fi
        sleep 0.5
    done
    pub0=$(publishes_on "$r2_port")
    sleep 5
    pub_after=$(($(publishes_on "$r2_port") - pub0))
    say "healed: the old r2 held no subscription after $subs_gone_ms ms; $pub_after publishes reached it in the 5 s after"
    chaos_loadgen_stop

    failover_checks r2
    check "r2_ran == 1" "r2 (pid $r2_pid) did not run through the cut"
    check "subs_gone_ms >= 0" "the old r2 still holds $(subscriptions_on "$r2_port") subscriptions 90 s after the heal"
    check "pub_after == 0" "$pub_after publishes reached the old r2 after the heal"
    [[ $mode != one-way ]] || check "pub_during > 0" "no publish reached r2 in the first second of the one-way cut"
    chaos_result "converged_ms=$(field converged_ms)" "replace_ms=$replace_ms" \
        "channels_moved=$S1_CHANNELS" "publishes_in_cut=$pub_during" "old_subs_gone_ms=$subs_gone_ms" \
        "old_publishes_after=$pub_after" "updates_per_s=$RATE"
}
