# shellcheck shell=bash
# haproxy.sh: HAProxy in front of the gateways, for scripts/cluster. Sourced after
# common.sh, never run. One HAProxy per DIR: config DIR/haproxy.cfg, PID DIR/haproxy.pid,
# log DIR/haproxy.log; it listens on 127.0.0.1 (or HAPROXY_BIND) and is stopped by its
# recorded PID.
#
#   haproxy_write_cfg DIR LB_PORT ID=HOST:PORT...   writes DIR/haproxy.cfg
#
# HAProxy speaks to the gateways from its own address, HAPROXY_SOURCE, and starts every
# connection to them (health checks too) with a PROXY protocol v2 header naming the
# phone, so the gateways' per-address limits and logs see the phone's address: give the
# gateways --trusted-proxy "$HAPROXY_SOURCE". Per client address it refuses more than
# HAPROXY_IP_MAX_CONNS open connections or HAPROXY_IP_CONN_RATE new ones a second
# (averaged over 10 s), before a gateway sees them. HAPROXY_BIND is the address phones
# connect to (default 127.0.0.1; a host's address when HAProxy runs in a network namespace,
# scripts/netns); with HAPROXY_SHUTDOWN_ON_DOWN=1 a gateway marked down (its /healthz 503)
# also loses its open WebSockets, so its phones reconnect to the gateways that are up.
#   haproxy_start DIR LB_PORT                       starts it, waits until /healthz is 200
#   haproxy_stop DIR                                SIGTERM to the recorded PID
#   haproxy_status DIR LB_PORT                      one line; 0 if it runs and forwards
#   haproxy_pid DIR                                 the PID, if that process runs our config

HAPROXY_START_DEADLINE=${HAPROXY_START_DEADLINE:-30} # seconds until /healthz through it is 200
HAPROXY_STOP_DEADLINE=10
# Not 127.0.0.1: direct connections from there (curl, tests, load generators) must not
# count as coming from the trusted proxy, and not 127.0.0.2-41 (scripts/bench's sources).
HAPROXY_SOURCE=${NEARBY_LB_SOURCE:-127.0.0.254}
HAPROXY_IP_MAX_CONNS=${HAPROXY_IP_MAX_CONNS:-200}
HAPROXY_IP_CONN_RATE=${HAPROXY_IP_CONN_RATE:-20}
HAPROXY_BIND=${HAPROXY_BIND:-127.0.0.1}
HAPROXY_SHUTDOWN_ON_DOWN=${HAPROXY_SHUTDOWN_ON_DOWN:-0}
HAPROXY_CHECK_INTER=${HAPROXY_CHECK_INTER:-1s} # each gateway's /healthz this often; down after 2

haproxy_pid() {
    live_pid "$1/haproxy.pid" "haproxy -f $1/haproxy.cfg -db"
}

# haproxy_write_cfg DIR LB_PORT SERVER...: SERVER is ID=127.0.0.1:PORT.
haproxy_write_cfg() {
    local dir=$1 port=$2 s maxconn nofile on_down=''
    shift 2
    # Each phone holds two fds in HAProxy (client and server side); stay within the limit
    # it may raise itself to (the hard limit), with room for checks and listeners.
    nofile=$(ulimit -Hn)
    [[ $nofile =~ ^[0-9]+$ ]] || nofile=1048576
    maxconn=$(((nofile - 100) / 2))
    ((maxconn <= 100000)) || maxconn=100000
    ((maxconn >= 100)) || maxconn=100
    ((HAPROXY_SHUTDOWN_ON_DOWN == 0)) || on_down=' on-marked-down shutdown-sessions'
    {
        cat <<EOF
# Written by scripts/cluster up; rewritten on every up. HAProxy $(haproxy -v 2>/dev/null | head -n 1 | awk '{print $3}')
# in front of the nearby gateways: WebSockets on /ws, health from each gateway's /healthz.
global
    maxconn $maxconn

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    timeout check 2s
    # A phone refused by a gateway that stopped listening (draining) goes to another one.
    option redispatch
    retries 3

frontend phones
    bind $HAPROXY_BIND:$port
    stats enable
    stats uri /lb-stats
    stats refresh 5s
    # Per client address: open connections and new ones in the last 10 s; over either
    # limit the connection is closed before anything is read from it.
    stick-table type ipv6 size 1m expire 60s store conn_cur,conn_rate(10s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc_conn_cur(0) gt $HAPROXY_IP_MAX_CONNS }
    tcp-request connection reject if { sc_conn_rate(0) gt $((HAPROXY_IP_CONN_RATE * 10)) }
    default_backend gateways

backend gateways
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    # The phone's address for the gateways (--trusted-proxy $HAPROXY_SOURCE).
    source $HAPROXY_SOURCE
EOF
        for s in "$@"; do
            printf '    server %s %s check inter %s fall 2 rise 2 send-proxy-v2%s\n' "${s%%=*}" "${s#*=}" \
                "$HAPROXY_CHECK_INTER" "$on_down"
        done
    } >"$dir/haproxy.cfg.tmp" && mv -f -- "$dir/haproxy.cfg.tmp" "$dir/haproxy.cfg"
}

# haproxy_start DIR LB_PORT: prints "haproxy up on HAPROXY_BIND:P (pid N)".
haproxy_start() {
    local dir=$1 port=$2 pid rc=0 cfg=$1/haproxy.cfg log=$1/haproxy.log
    need_cmd haproxy "install 'haproxy' (scripts/deps)"
    need_cmd curl "install 'curl' (scripts/deps)"
    if pid=$(haproxy_pid "$dir"); then
        die "haproxy already runs from $dir (pid $pid); stop it first"
    fi
    rm -f -- "$dir/haproxy.pid"
    require_port_free "$port" haproxy --lb-port
    local out
    out=$(haproxy -c -f "$cfg" 2>&1) || {
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "haproxy rejects $cfg (see above)"
    }
    printf '\n==== %s scripts/cluster: haproxy (port %s)\n' "$(date '+%F %T')" "$port" >>"$log"
    spawn "$log" haproxy -f "$cfg" -db
    pid=$SPAWNED_PID
    write_pidfile "$dir/haproxy.pid" "$pid"
    wait_until "$HAPROXY_START_DEADLINE" "$pid" http_ok "http://$HAPROXY_BIND:$port/healthz" || rc=$?
    if ((rc != 0)); then
        tail_log "$log"
        if ((rc == 2)); then
            rm -f -- "$dir/haproxy.pid"
            die "haproxy exited during start-up (see $log)"
        fi
        die "haproxy on $HAPROXY_BIND:$port did not forward /healthz with 200 within $HAPROXY_START_DEADLINE s (last: $(http_code "http://$HAPROXY_BIND:$port/healthz")); see $log and the gateway logs"
    fi
    echo "haproxy up on $HAPROXY_BIND:$port (pid $pid)"
}

haproxy_stop() {
    local dir=$1 pid port
    if ! pid=$(haproxy_pid "$dir"); then
        rm -f -- "$dir/haproxy.pid"
        echo "haproxy: not running (dir $dir)"
        return 0
    fi
    port=$(sed -n 's/^ *bind [0-9.]*:\([0-9][0-9]*\)$/\1/p' "$dir/haproxy.cfg" 2>/dev/null | head -n 1)
    # SIGTERM is HAProxy's hard stop: it closes every tunnel now (SIGUSR1 would wait up
    # to "timeout tunnel" for the phones to leave).
    stop_pid "$pid" haproxy "$HAPROXY_STOP_DEADLINE"
    rm -f -- "$dir/haproxy.pid"
    if [[ -n $port ]] && ! wait_port_free "$port" 10; then
        die "haproxy (pid $pid) is gone but port $port is still in use by: $(port_users "$port")"
    fi
    echo "haproxy stopped (was pid $pid${port:+, port $port})"
}

haproxy_status() {
    local dir=$1 port=$2 pid code
    if ! pid=$(haproxy_pid "$dir"); then
        echo "haproxy: not running (dir $dir)"
        return 1
    fi
    code=$(http_code "http://$HAPROXY_BIND:$port/healthz")
    if [[ $code == 200 ]]; then
        echo "haproxy up on $HAPROXY_BIND:$port (pid $pid), /healthz through it: 200; stats: http://$HAPROXY_BIND:$port/lb-stats"
        return 0
    fi
    echo "haproxy: pid $pid runs but /healthz through $HAPROXY_BIND:$port answers $code (no healthy gateway?)"
    return 1
}
