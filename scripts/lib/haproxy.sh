# shellcheck shell=bash
# haproxy.sh: HAProxy in front of the gateways, for scripts/cluster (and scripts/bench, which
# puts the same configuration in front of its floor server). Sourced after common.sh, never
# run. One HAProxy per DIR: config DIR/haproxy.cfg, PID DIR/haproxy.pid, log
# DIR/haproxy.log; it listens on 127.0.0.1 (or HAPROXY_BIND) and is stopped by its recorded PID.
#
#   haproxy_write_cfg DIR LB_PORT STATS_PORT MODE ID=HOST:PORT...   writes DIR/haproxy.cfg
#   haproxy_start DIR LB_PORT        starts it, waits until /healthz through it is 200
#   haproxy_stop DIR                 SIGTERM to the recorded PID
#   haproxy_status DIR LB_PORT       one line; 0 if it runs and forwards
#   haproxy_pid DIR                  the PID, if that process runs our config
#
# MODE is tcp or http. tcp (the default of scripts/cluster): HAProxy copies bytes between
# a phone and a gateway and never parses them: mode http cost 1.3-1.4 times its CPU per push
# here (README, "The load balancer"); the gateways serve /ws, /v1 and /healthz on
# one port, so nothing needs routing by path, and the health checks are HTTP checks all the
# same (option httpchk works in tcp backends). http: HAProxy parses every request and then
# tunnels the WebSocket, as before; kept for comparison. Either way HAProxy's stats page is
# on STATS_PORT, a listener of its own, not on the phones' port.
#
# HAProxy speaks to the gateways from its own address, HAPROXY_SOURCE, and starts every
# connection to them (health checks too) with a PROXY protocol v2 header naming the
# phone, so the gateways' per-address limits and logs see the phone's address: give the
# gateways --trusted-proxy "$HAPROXY_SOURCE". Per client address it refuses more than
# HAPROXY_IP_MAX_CONNS open connections or HAPROXY_IP_CONN_RATE new ones a second
# (averaged over 10 s), before a gateway sees them (both L4 rules, in either mode).

#
# TLS: with HAPROXY_TLS_PEM set (a certificate and its key in one PEM file, as
# tls_make in secrets.sh writes DIR/tls/lb.pem), the phones' frontend terminates TLS
# (wss://, https://) and the gateways behind see plain TCP as before; the certificate's
# CA is the ca.pem beside that file. Empty: plain ws:// and http://.
#
# HAPROXY_BIND is the address of both listeners (default 127.0.0.1; a host's address when
# HAProxy runs in a network namespace, scripts/netns). HAPROXY_CHECK_INTER is how often each
# gateway's /healthz is asked (default 1s; down after 2 failures, up after 2 successes);
# with HAPROXY_SHUTDOWN_ON_DOWN=1 a gateway marked down also loses its open connections,
# so its phones reconnect to the gateways that are up (default 0: they stay).

# haproxy_cfg_ports CFG: the ports the config binds, one a line (the phones' first).
haproxy_cfg_ports() {
    sed -n 's/^ *bind [0-9.]*:\([0-9][0-9]*\)\( .*\)\{0,1\}$/\1/p' "$1" 2>/dev/null
}

# haproxy_health DIR PORT: "URL CA" of /healthz through the phones' frontend of DIR's
# config (CA empty without TLS), for http_ok and http_code.
haproxy_health() {
    local crt addr
    addr=$(sed -n 's/^ *bind \([0-9.]*\):[0-9].*/\1/p' "$1/haproxy.cfg" 2>/dev/null | head -n 1)
    crt=$(sed -n 's/^ *bind [0-9.]*:[0-9]* ssl crt \([^ ]*\).*/\1/p' "$1/haproxy.cfg" 2>/dev/null | head -n 1)
    if [[ -n $crt ]]; then
        echo "https://${addr:-127.0.0.1}:$2/healthz $(dirname "$crt")/ca.pem"
    else
        echo "http://${addr:-127.0.0.1}:$2/healthz"
    fi
}

HAPROXY_START_DEADLINE=${HAPROXY_START_DEADLINE:-30} # seconds until /healthz through it is 200
HAPROXY_STOP_DEADLINE=10
# Not 127.0.0.1: direct connections from there (curl, tests, load generators) must not
# count as coming from the trusted proxy, and not 127.0.0.2-41 (scripts/bench's sources).
HAPROXY_SOURCE=${NEARBY_LB_SOURCE:-127.0.0.254}
HAPROXY_IP_MAX_CONNS=${HAPROXY_IP_MAX_CONNS:-200}
HAPROXY_IP_CONN_RATE=${HAPROXY_IP_CONN_RATE:-20}
HAPROXY_BIND=${HAPROXY_BIND:-127.0.0.1}
HAPROXY_CHECK_INTER=${HAPROXY_CHECK_INTER:-1s}
HAPROXY_SHUTDOWN_ON_DOWN=${HAPROXY_SHUTDOWN_ON_DOWN:-0}

haproxy_pid() {
    live_pid "$1/haproxy.pid" "haproxy -f $1/haproxy.cfg -db"
}

# haproxy_write_cfg DIR LB_PORT STATS_PORT MODE SERVER...: SERVER is ID=127.0.0.1:PORT.
haproxy_write_cfg() {
    local dir=$1 port=$2 stats_port=$3 mode=$4 s maxconn nofile http_timeout='' on_down=''
    shift 4
    case $mode in
    tcp) ;;
    http) http_timeout='    timeout http-request 10s' ;;
    *) die "haproxy_write_cfg: mode must be tcp or http, not '$mode'" ;;
    esac
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
# Written by scripts/lib/haproxy.sh (scripts/cluster up, scripts/bench); rewritten every time.
# HAProxy $(haproxy -v 2>/dev/null | head -n 1 | awk '{print $3}') in front of the nearby gateways, mode $mode: phones' WebSockets
# (/ws) and REST (/v1) on one port, health from each gateway's /healthz, stats on their own port.
global
    maxconn $maxconn

defaults
    mode $mode
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
$http_timeout
    timeout check 2s
    # A phone refused by a gateway that stopped listening (draining) goes to another one.
    option redispatch
    retries 3

frontend phones
    bind $HAPROXY_BIND:$port${HAPROXY_TLS_PEM:+ ssl crt $HAPROXY_TLS_PEM alpn http/1.1}
    # Per client address: open connections and new ones in the last 10 s; over either
    # limit the connection is closed before anything is read from it.
    stick-table type ipv6 size 1m expire 60s store conn_cur,conn_rate(10s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc_conn_cur(0) gt $HAPROXY_IP_MAX_CONNS }
    tcp-request connection reject if { sc_conn_rate(0) gt $((HAPROXY_IP_CONN_RATE * 10)) }
    default_backend gateways

listen stats
    bind $HAPROXY_BIND:$stats_port
    mode http
    timeout http-request 10s
    stats enable
    stats uri /lb-stats
    stats refresh 5s

backend gateways
    balance leastconn
    # An HTTP check in either mode: a gateway is in only while its /healthz says 200.
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
    local p
    for p in $(haproxy_cfg_ports "$cfg"); do
        [[ $p == "$port" ]] || require_port_free "$p" "haproxy's stats page" --lb-stats-port
    done
    local out
    out=$(haproxy -c -f "$cfg" 2>&1) || {
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "haproxy rejects $cfg (see above)"
    }
    printf '\n==== %s %s: haproxy (port %s)\n' "$(date '+%F %T')" "$PROG" "$port" >>"$log"
    spawn "$log" haproxy -f "$cfg" -db
    pid=$SPAWNED_PID
    write_pidfile "$dir/haproxy.pid" "$pid"
    local health
    read -ra health <<<"$(haproxy_health "$dir" "$port")"
    wait_until "$HAPROXY_START_DEADLINE" "$pid" http_ok "${health[@]}" || rc=$?
    if ((rc != 0)); then
        tail_log "$log"
        if ((rc == 2)); then
            rm -f -- "$dir/haproxy.pid"
            die "haproxy exited during start-up (see $log)"
        fi
        die "haproxy on $HAPROXY_BIND:$port did not forward /healthz with 200 within $HAPROXY_START_DEADLINE s (last: $(http_code "${health[@]}")); see $log and the gateway logs"
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
    local ports=()
    mapfile -t ports < <(haproxy_cfg_ports "$dir/haproxy.cfg")
    # SIGTERM is HAProxy's hard stop: it closes every tunnel now (SIGUSR1 would wait up
    # to "timeout tunnel" for the phones to leave).
    stop_pid "$pid" haproxy "$HAPROXY_STOP_DEADLINE"
    rm -f -- "$dir/haproxy.pid"
    for port in "${ports[@]}"; do
        wait_port_free "$port" 10 ||
            die "haproxy (pid $pid) is gone but port $port is still in use by: $(port_users "$port")"
    done
    echo "haproxy stopped (was pid $pid${ports[0]:+, port ${ports[0]}})"
}

haproxy_status() {
    local dir=$1 port=$2 pid code stats_port mode
    if ! pid=$(haproxy_pid "$dir"); then
        echo "haproxy: not running (dir $dir)"
        return 1
    fi
    local health
    read -ra health <<<"$(haproxy_health "$dir" "$port")"
    code=$(http_code "${health[@]}")
    stats_port=$(haproxy_cfg_ports "$dir/haproxy.cfg" | sed -n 2p)
    mode=$(sed -n 's/^ *mode \(tcp\|http\)$/\1/p' "$dir/haproxy.cfg" | head -n 1)
    if [[ $code == 200 ]]; then
        echo "haproxy up on $HAPROXY_BIND:$port (pid $pid, mode $mode${health[1]:+, TLS}), /healthz through it: 200; stats: http://$HAPROXY_BIND:$stats_port/lb-stats"
        return 0
    fi
    echo "haproxy: pid $pid runs but ${health[0]} answers $code (no healthy gateway?)"
    return 1
}
