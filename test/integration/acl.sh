#!/usr/bin/env bash
# The access rules of a local cluster, against the real servers. ZooKeeper digest ACLs
# (zk/zk_auth.h): a client without an identity may neither read nor write anything under the
# root; the gateways' identity reads the ring and keeps its own registration but cannot write
# the ring; the autopilot's may write the ring; ringctl as admin may do everything; a gateway
# whose password is wrong never becomes ready, and says why. Redis ACLs (scripts/lib/secrets.sh):
# nobody without a password gets in; each user may run only its own commands on its own
# channels or keys (no PSUBSCRIBE u:*, no MGET of every position, no PUBLISH by ringctl).
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok, http_code
build=${NEARBY_BUILD_ROOT:-$src/build}
export NEARBY_BUILD=$build
ringctl=$build/ringctl/ringctl
dir=$(mktemp -d /tmp/nearby-test-acl.XXXXXX)
chmod 755 "$dir"
zk_port=22411 redis_base=27650 pg_port=25570 gw_ports=(28761 28762)
zk="127.0.0.1:$zk_port"
gw_pids=()
zkcli=/usr/share/zookeeper/bin/zkCli.sh

cleanup() {
    for pid in "${gw_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${gw_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    "$src/scripts/redis" stop --dir "$dir" --port $((redis_base + 3)) >/dev/null 2>&1 || true
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    for f in "$dir"/gw*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    exit 1
}

# as ROLE CMD...: ringctl as ROLE (admin, autopilot, gateway; none: no identity).
as() {
    local role=$1 file=''
    shift
    [[ $role == none ]] || file=$dir/secrets/zk-$role.auth
    NEARBY_ZK_AUTH_FILE=$file timeout 30 "$ringctl" --zk "$zk" "$@"
}

# refused ROLE CMD...: ringctl as ROLE fails, saying it was not authorized.
refused() {
    local role=$1 out rc=0
    shift
    out=$(as "$role" "$@" 2>&1) || rc=$?
    ((rc == 1)) || fail "ringctl $* as $role: exit $rc, want 1 (refused): $out"
    [[ $out == *"not authorized"* ]] || fail "ringctl $* as $role did not say 'not authorized': $out"
}

# zkcli CMD...: one command of ZooKeeper's own CLI, without any identity; prints its output.
zkcli() { timeout 60 "$zkcli" -server "$zk" "$@" 2>&1 | grep -v -E '^(WATCHER|WatchedEvent|$)' || true; }

"$src/scripts/cluster" up --no-prometheus --dir "$dir" --redis 2 --gateways 0 --zk-port "$zk_port" \
    --zk-tick-ms 500 --redis-base-port "$redis_base" --pg-port "$pg_port" \
    >"$dir/cluster.out" 2>&1 || { cat "$dir/cluster.out"; exit 1; }
for role in admin autopilot gateway; do
    [[ $(stat -c %a "$dir/secrets/zk-$role.auth") == 600 ]] || fail "zk-$role.auth is not mode 600"
done

start_gateway() { # INDEX AUTH-FILE
    "$build/gateway/nearby-gateway" --listen "127.0.0.1:${gw_ports[$1]}" --id "gw$1" \
        --zk "$zk" --cache "127.0.0.1:$redis_base" \
        --pg "host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass" \
        --jwt-public-key-file "$dir/jwt-ed25519.pub" --drain-seconds 1 \
        --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
        --zk-auth-file "$2" >>"$dir/gw$1.log" 2>&1 &
    gw_pids[$1]=$!
}

# -- admin: everything --------------------------------------------------------------------
as admin show >/dev/null || fail "ringctl show as admin"
echo "ok: admin reads the ring"

# -- no identity: nothing ------------------------------------------------------------------
refused none show
refused none status
echo "ok: ringctl without an identity may not read the ring or the gateways"
out=$(zkcli set /nearby/rings/main garbage)
[[ $out == *"Insufficient permission"* || $out == *"NoAuth"* ]] ||
    fail "an anonymous zkCli set of the ring was not refused: $out"
out=$(zkcli create /nearby/gateways/intruder x)
[[ $out == *"Insufficient permission"* || $out == *"NoAuth"* ]] ||
    fail "an anonymous zkCli create under gateways was not refused: $out"
# getAcl needs a right on the znode: ask as admin (zkCli reads commands from stdin).
out=$(printf 'addauth digest %s\ngetAcl /nearby/rings/main\nquit\n' \
    "$(sed -n 's/^auth //p' "$dir/secrets/zk-admin.auth")" |
    timeout 60 "$zkcli" -server "$zk" 2>&1) || true
[[ $out == *"'digest,'nearby-gateway:"* && $out != *"'world,"* ]] ||
    fail "the ring's ACL has a world entry or no digest entry for the gateways: $out"
as admin show --json | python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["nodes"]) == 2 else 1)' ||
    fail "the ring changed after the anonymous writes"
echo "ok: ZooKeeper's own CLI without an identity may not write the ring or register; the ring's ACL is digest only"

# -- the gateways' identity: reads, registers, never writes the ring ------------------------
start_gateway 0 "$dir/secrets/zk-gateway.auth"
wait_until 15 "${gw_pids[0]}" http_ok "http://127.0.0.1:${gw_ports[0]}/healthz" ||
    fail "the gateway with the gateways' identity did not become ready"
wait_until 10 "" bash -c 'NEARBY_ZK_AUTH_FILE=$1 timeout 10 "$2" --zk "$3" status --json |
    python3 -c "import json,sys; sys.exit(0 if any(g[\"id\"] == \"gw0\" for g in json.load(sys.stdin)[\"gateways\"]) else 1)"' \
    _ "$dir/secrets/zk-admin.auth" "$ringctl" "$zk" || fail "gw0 did not register"
echo "ok: a gateway with its identity reads the ring and registers"
as gateway show >/dev/null || fail "ringctl show as the gateways' identity"
"$src/scripts/redis" start --dir "$dir" --port $((redis_base + 3)) >/dev/null
refused gateway add "r3=127.0.0.1:$((redis_base + 3))"
refused gateway add-standby "s1=127.0.0.1:$((redis_base + 3))"
echo "ok: the gateways' identity may not change the ring"

# -- the autopilot's identity: writes the ring -----------------------------------------------
as autopilot add-standby "s1=127.0.0.1:$((redis_base + 3))" >/dev/null ||
    fail "ringctl add-standby as the autopilot"
as admin show --json | python3 -c 'import json,sys; sys.exit(0 if any(n["id"] == "s1" for n in json.load(sys.stdin)["nodes"]) else 1)' ||
    fail "s1 is not in the ring after the autopilot's add-standby"
echo "ok: the autopilot's identity may write the ring"

# -- a wrong password: never ready, and the log says why -----------------------------------
sed 's/^auth \(nearby-gateway\):.*/auth \1:wrong/' "$dir/secrets/zk-gateway.auth" >"$dir/wrong.auth"
chmod 600 "$dir/wrong.auth"
start_gateway 1 "$dir/wrong.auth"
sleep 3
pid_alive "${gw_pids[1]}" || fail "the gateway with a wrong ZooKeeper password exited"
code=$(http_code "http://127.0.0.1:${gw_ports[1]}/healthz")
[[ $code != 200 ]] || fail "the gateway with a wrong ZooKeeper password says it is ready"
grep -q "not authorized" "$dir/gw1.log" || fail "the gateway with a wrong password did not log 'not authorized'"
echo "ok: a gateway with a wrong ZooKeeper password is not ready (/healthz $code) and logs why"

# -- an auth file others may read is refused at start ----------------------------------------
cp "$dir/secrets/zk-gateway.auth" "$dir/open.auth"
chmod 644 "$dir/open.auth"
out=$("$build/gateway/nearby-gateway" --check-config --jwt-public-key-file "$dir/jwt-ed25519.pub" \
    --zk-auth-file "$dir/open.auth" 2>&1) && fail "--zk-auth-file of mode 644 accepted"
[[ $out == *"chmod 600"* ]] || fail "a mode-644 auth file was refused without saying 'chmod 600': $out"
refused_out=$(NEARBY_ZK_AUTH_FILE=$dir/open.auth "$ringctl" --zk "$zk" show 2>&1) && fail "ringctl took a mode-644 auth file"
[[ $refused_out == *"chmod 600"* ]] || fail "ringctl refused a mode-644 auth file without saying 'chmod 600': $refused_out"
echo "ok: an auth file others may read is refused, saying 'chmod 600'"

# -- Redis ACLs ------------------------------------------------------------------------------
node=$((redis_base + 1)) cache=$redis_base
# rcli USER PORT CMD...: redis-cli as USER (none: no AUTH), its password from DIR/secrets.
rcli() {
    local user=$1 port=$2
    shift 2
    if [[ $user == none ]]; then
        timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>&1
    else
        REDISCLI_AUTH=$(<"$dir/secrets/redis-$user.password") timeout 10 redis-cli --no-auth-warning \
            --user "$user" -h 127.0.0.1 -p "$port" "$@" 2>&1
    fi
}
# denied USER PORT CMD...: the command is refused (NOPERM, NOAUTH or a failed AUTH).
denied() {
    local out
    out=$(rcli "$@") || true
    [[ $out == *NOPERM* || $out == *NOAUTH* || $out == *WRONGPASS* ]] ||
        fail "redis $1 on $2 ran '${*:3}': $out"
}
allowed() {
    local out
    out=$(rcli "$@") || fail "redis $1 on $2 could not run '${*:3}': $out"
    [[ $out != *NOPERM* && $out != *NOAUTH* && $out != *ERR* ]] || fail "redis $1 on $2 refused '${*:3}': $out"
}
for port in "$node" "$cache"; do
    denied none "$port" PING
    denied none "$port" GET loc:1
    # the default user is off even with a password
    out=$(timeout 10 redis-cli -h 127.0.0.1 -p "$port" AUTH default "$(<"$dir/secrets/redis-admin.password")" 2>&1) || true
    [[ $out == *WRONGPASS* || $out == *"ERR"* ]] || fail "AUTH default on $port: $out"
done
echo "ok: no Redis answers without a password, and the default user is off"
# A gateway on a pub/sub node: its channels, nothing else.
allowed gateway "$node" PUBLISH u:42 x
allowed gateway "$node" PUBLISH g:9q8yy x
denied gateway "$node" PUBLISH other:42 x
denied gateway "$node" PSUBSCRIBE 'u:*'
denied gateway "$node" KEYS '*'
denied gateway "$node" CONFIG SET notify-keyspace-events KEA
denied gateway "$node" PUBSUB CHANNELS
denied gateway "$node" CLIENT LIST
# ...and on the cache: its keys, nothing else; no walking every position.
allowed gateway "$cache" GET loc:42
denied gateway "$cache" GET other:42
denied gateway "$cache" KEYS '*'
denied gateway "$cache" SCAN 0
denied gateway "$cache" FLUSHALL
denied gateway "$cache" SUBSCRIBE u:42
echo "ok: a gateway may publish on its channels and touch loc:* only (no PSUBSCRIBE u:*, no KEYS, SCAN or FLUSHALL)"
# ringctl: asks who subscribes; may not listen or publish.
allowed ringctl "$node" PUBSUB CHANNELS 'u:*'
denied ringctl "$node" PUBLISH u:42 x
denied ringctl "$node" PSUBSCRIBE 'u:*'
denied ringctl "$node" GET loc:42
denied ringctl "$cache" GET loc:42
# the exporter: reads INFO, nothing of the data.
allowed exporter "$node" INFO server
denied exporter "$cache" GET loc:42
denied exporter "$node" PUBLISH u:42 x
echo "ok: ringctl and the exporter may read what they need and neither publish nor read positions"
echo "PASS"
