# shellcheck shell=bash
# shellcheck disable=SC2154 # src, build, dir and the ports are set by the test that sources this
# lib.sh: what the integration tests that run scripts/cluster with no gateway and start two
# gateways of their own share (gateway, consent, strangers). Sourced after
# scripts/lib/common.sh, once src, build and dir are set. The test sets zk_port, redis_base,
# pg_gateway (the gateways' conninfo) and gw_ports, and admin_ports for internal ports of
# their own.
#
#   it_cleanup           the EXIT trap: stops the gateways it started (by PID), the cluster,
#                        and removes dir
#   it_secret            a fresh HS256 secret in $dir/secret (mode 600)
#   it_start_gateways ARG...
#                        starts gw0, gw1, ... on gw_ports (and admin_ports) with the
#                        cluster's credentials and the tests' rates, plus ARG...; logs in
#                        $dir/gwI.log; waits up to 15 s for each one's /healthz (its admin
#                        port if it has one), else prints the logs and exits 1

gw_pids=()
admin_ports=()

it_cleanup() {
    local pid
    for pid in "${gw_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}

it_secret() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/secret"
    chmod 600 "$dir/secret"
}

it_start_gateways() {
    local i admin health
    for i in "${!gw_ports[@]}"; do
        admin=()
        [[ -z ${admin_ports[$i]:-} ]] || admin=(--admin-listen "127.0.0.1:${admin_ports[$i]}")
        "$build/gateway/nearby-gateway" --listen "127.0.0.1:${gw_ports[$i]}" "${admin[@]}" \
            --id "gw$i" --zk "127.0.0.1:$zk_port" --cache "127.0.0.1:$redis_base" \
            --pg "$pg_gateway" --jwt-secret-file "$dir/secret" \
            --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
            --zk-auth-file "$dir/secrets/zk-gateway.auth" --loc-rate 20 --loc-burst 20 \
            --drain-seconds 1 --ip-max-conns 0 --ip-handshake-rate 0 "$@" \
            >"$dir/gw$i.log" 2>&1 &
        gw_pids+=($!)
    done
    # Ready when /healthz says so (a ring read, the cache and PostgreSQL up, every node answered).
    for i in "${!gw_ports[@]}"; do
        health=${admin_ports[$i]:-${gw_ports[$i]}}
        wait_until 15 "" http_ok "http://127.0.0.1:$health/healthz" || {
            echo "gateway on $health never became healthy:"
            curl -s "http://127.0.0.1:$health/healthz"
            cat "$dir"/gw*.log
            exit 1
        }
    done
}
