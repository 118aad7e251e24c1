#!/usr/bin/env bash
# strangers-cell.sh: one hot cell: P phones (default 2000) with strangers on, all within 1.4 km
# of one point inside one precision-5 cell, each sending a position every INTERVAL_MS, against
# one gateway; run once per bound setting and print, for each, the pushes a second the
# gateway sent, its CPU (user + system over the measured window, from /proc), the positions it
# published on the cell channel and held back, and what the phones received. Prints figures,
# asserts nothing. Real servers from scripts/ (ZooKeeper, the cache, one pub/sub node,
# PostgreSQL) on 127.0.0.1 ports 24185, 24210-24211, 24254; the gateway on 24421 (internal
# 24431); the gateway pinned to core 0 and the load generator to core 1 (taskset), one heavy
# benchmark at a time (/tmp/nearby-heavy.lock, as scripts/bench). Everything it starts is
# stopped by PID.
#
#   bench/strangers-cell.sh [--phones P] [--interval-ms MS] [--seconds S] [--only NAMES]
#
# Settings (--only picks some, comma-separated):
#   unbounded   --strangers-max 100000 --strangers-cell-rate 0: every phone shown every other
#   k20         --strangers-max 20 --strangers-cell-rate 0: the nearest 20 only
#   bounded     the defaults, --strangers-max 20 --strangers-cell-rate 50
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=scripts/lib/common.sh
source "$src/scripts/lib/common.sh" # wait_until, http_ok
build=${NEARBY_BUILD_ROOT:-$src/build}
gateway=$build/gateway/nearby-gateway
loadgen=$build/test/loadgen/nearby-loadgen
phones=2000 interval_ms=2000 seconds=20 only=unbounded,k20,bounded
while (($#)); do
    case $1 in
    --phones) phones=$2; shift ;;
    --interval-ms) interval_ms=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --only) only=$2; shift ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "strangers-cell: unknown flag $1" >&2; exit 2 ;;
    esac
    shift
done
zk_port=24185 redis_base=24210 pg_port=24254 gw_port=24421 admin_port=24431
# The centre of precision-5 cell u09tv (Paris): 1.5 km around it stays inside the cell.
center=48.8452,2.3511

dir=$(mktemp -d /tmp/nearby-bench-strangers.XXXXXX)
chmod 755 "$dir"
export NEARBY_ZK_AUTH_FILE=$dir/secrets/zk-admin.auth
gw_pid='' lg_pid=''
cleanup() {
    [[ -z $lg_pid ]] || { kill -TERM "$lg_pid" 2>/dev/null || true; wait "$lg_pid" 2>/dev/null || true; }
    [[ -z $gw_pid ]] || { kill -TERM "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; }
    "$src/scripts/cluster" down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

exec 9>/tmp/nearby-heavy.lock
flock -w 900 9 || { echo "strangers-cell: another heavy benchmark holds /tmp/nearby-heavy.lock" >&2; exit 1; }

"$src/scripts/cluster" up --dir "$dir" --redis 1 --gateways 0 --no-prometheus --zk-port "$zk_port" \
    --redis-base-port "$redis_base" --pg-port "$pg_port" >"$dir/cluster.out" 2>&1 ||
    { cat "$dir/cluster.out"; exit 1; }
export PGPASSFILE=$dir/pgpass
pg="host=127.0.0.1 port=$pg_port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"

metric() { curl -s "http://127.0.0.1:$admin_port/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf '%-10s %8s %8s %12s %10s %12s %12s %10s %8s\n' setting phones upd/s gw_pushes/s gw_cpu_% \
    published/s held/s recv/s resets
for name in ${only//,/ }; do
    case $name in
    unbounded) flags=(--strangers-max 100000 --strangers-cell-rate 0) ;;
    k20) flags=(--strangers-max 20 --strangers-cell-rate 0) ;;
    bounded) flags=(--strangers-max 20 --strangers-cell-rate 50) ;;
    *) echo "strangers-cell: unknown setting $name" >&2; exit 2 ;;
    esac
    taskset -c 0 "$gateway" --listen "127.0.0.1:$gw_port" --admin-listen "127.0.0.1:$admin_port" \
        --id bench --zk "127.0.0.1:$zk_port" --cache "127.0.0.1:$redis_base" --pg "$pg" \
        --jwt-public-key-file "$dir/jwt-ed25519.pub" \
        --redis-user gateway --redis-password-file "$dir/secrets/redis-gateway.password" \
        --zk-auth-file "$dir/secrets/zk-gateway.auth" --ip-max-conns 0 --ip-handshake-rate 0 \
        --session-start-rate 1000 --session-start-burst 1000 --drain-seconds 1 "${flags[@]}" \
        >"$dir/gw-$name.log" 2>&1 &
    gw_pid=$!
    wait_until 15 "" http_ok "http://127.0.0.1:$admin_port/healthz" ||
        { echo "gateway never healthy"; tail "$dir/gw-$name.log"; exit 1; }
    # Ramp, then measure a window of $seconds, then stop: the loadgen runs a little longer.
    taskset -c 1 "$loadgen" --url "ws://127.0.0.1:$gw_port/ws" --secret-file "$dir/jwt-ed25519.key" \
        --users "$phones" --phones "$phones" --interval-ms "$interval_ms" --center "$center" \
        --spread-km 1.4 --ramp-per-s 500 --strangers-fraction 1 --strangers-dense \
        --duration $((seconds + phones / 500 + 12)) --report-every 1 >"$dir/lg-$name.out" 2>"$dir/lg-$name.err" &
    lg_pid=$!
    sleep $((phones / 500 + 8))
    p0=$(metric nearby_pushes_out_total) pub0=$(metric nearby_strangers_published_total)
    h0=$(metric nearby_strangers_held_total) c0=$(cpu_ticks "$gw_pid") t0=$(date +%s%N)
    sleep "$seconds"
    p1=$(metric nearby_pushes_out_total) pub1=$(metric nearby_strangers_published_total)
    h1=$(metric nearby_strangers_held_total) c1=$(cpu_ticks "$gw_pid") t1=$(date +%s%N)
    resets=$(metric nearby_slow_phones_closed_total)
    wait "$lg_pid" || true
    lg_pid=''
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1e9}')
    hz=$(getconf CLK_TCK)
    # What the phones got: the median pushes_per_s of the status lines in the window.
    recv=$(grep '^t=' "$dir/lg-$name.out" | sed -n 's/.* pushes_per_s=\([0-9]*\).*/\1/p' |
        tail -n $((seconds + 10)) | head -n "$seconds" | sort -n |
        awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}')
    upd=$(grep '^t=' "$dir/lg-$name.out" | sed -n 's/.* updates_per_s=\([0-9]*\).*/\1/p' |
        tail -n $((seconds + 10)) | head -n "$seconds" | sort -n |
        awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}')
    awk -v n="$name" -v ph="$phones" -v up="$upd" -v p="$((p1 - p0))" -v w="$wall" \
        -v c="$((c1 - c0))" -v hz="$hz" -v pub="$((pub1 - pub0))" -v h="$((h1 - h0))" \
        -v r="$recv" -v rs="${resets:-0}" \
        'BEGIN {printf "%-10s %8d %8d %12.0f %10.0f %12.0f %12.0f %10d %8d\n", n, ph, up, p / w,
                100 * c / hz / w, pub / w, h / w, r, rs}'
    kill -TERM "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=''
done
echo "(gw_pushes/s: frames the gateway queued to phones; gw_cpu_%: of one core; published/s and"
echo " held/s: positions put on the cell channel and held back by --strangers-cell-rate; recv/s:"
echo " stranger frames the phones read, median of the load generator's seconds; resets: phones"
echo " cut off for not reading past --output-max)"
