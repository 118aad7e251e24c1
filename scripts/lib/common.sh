# shellcheck shell=bash
# common.sh: shared helpers for scripts/zookeeper, scripts/redis, scripts/postgres and
# scripts/cluster. Sourced, never run. Linux only (reads /proc).
#
#   logging      log, warn, die, usage_error
#   arguments    need_value, check_uint, check_port, abs_dir, need_cmd, need_node_modules
#   time         now_ms, wait_until (poll a command with a deadline)
#   http         http_code, http_ok (a GET bounded to 2 s; needs curl)
#   processes    pid_alive, pid_matches, read_pidfile, live_pid, stop_pid
#   ports        port_listening, port_users, wait_port_free, require_port_free
#   launching    spawn (start a server detached, in the background), run_clean
#   locking      lock_dir (serialise start/stop on one DIR)
#
# Every wait here is bounded by a deadline; nothing is ever stopped by name, only by a PID
# that a script recorded itself and that still runs the expected command line.

[[ -n ${_NEARBY_COMMON_SH:-} ]] && return 0
_NEARBY_COMMON_SH=1

# shellcheck disable=SC2034 # used by the scripts that source this
NEARBY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=${PROG:-$(basename "$0")}

# ---------------------------------------------------------------------------- logging

# Progress and diagnostics go to stderr; the one result line of a command goes to stdout.
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}
usage_error() {
    printf '%s: %s\n(see %s --help)\n' "$PROG" "$*" "$PROG" >&2
    exit 2
}

# tail_log FILE [LINES]: show the end of a server log on stderr, to explain a failure.
tail_log() {
    local file=$1 lines=${2:-20}
    if [[ -s $file ]]; then
        printf '%s: last %s lines of %s:\n' "$PROG" "$lines" "$file" >&2
        tail -n "$lines" -- "$file" | sed 's/^/    /' >&2 || true
    fi
}

# ---------------------------------------------------------------------------- arguments

# need_value FLAG "$#" : dies unless the flag FLAG is followed by a value ($# counts the flag).
need_value() {
    (($2 >= 2)) || usage_error "$1 needs a value"
}

# check_uint NAME VALUE MIN MAX
check_uint() {
    local name=$1 value=$2 min=$3 max=$4
    if [[ ! $value =~ ^[0-9]{1,10}$ ]] || ((10#$value < min || 10#$value > max)); then
        usage_error "$name wants an integer in $min..$max, not '$value'"
    fi
}

check_port() { check_uint "$1" "$2" 1 65535; }

# abs_dir DIR: creates DIR if needed and prints its absolute, symlink-free path, so that
# the same directory always yields the same path (pid files and command lines match).
abs_dir() {
    local dir=$1
    [[ -n $dir ]] || usage_error "--dir must not be empty"
    mkdir -p -- "$dir" 2>/dev/null || die "cannot create directory '$dir' (check the path and its permissions)"
    (cd -- "$dir" && pwd -P) || die "cannot enter directory '$dir'"
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found in PATH; ${2:-install it (see scripts/deps)}"
}

# need_node_modules WHO DIR MODULE...: node is installed and DIR/node_modules holds each
# MODULE, running `npm ci` in DIR (bounded to 300 s) when one is missing; a test's preamble.
# Says what is missing as WHO and exits 1 otherwise.
need_node_modules() {
    local who=$1 dir=$2 m
    shift 2
    command -v node >/dev/null || { echo "$who: node is missing (scripts/deps installs nodejs)" >&2; exit 1; }
    for m in "$@"; do
        [[ -d $dir/node_modules/$m ]] && continue
        (cd "$dir" && timeout 300 npm ci --no-audit --no-fund >/dev/null) ||
            { echo "$who: npm ci in $dir failed" >&2; exit 1; }
        return 0
    done
}

# ---------------------------------------------------------------------------- time

# now_ms: milliseconds since the epoch, without forking.
now_ms() {
    local us=${EPOCHREALTIME//[!0-9]/}
    printf '%s\n' $((10#$us / 1000))
}

# wait_until SECONDS PID CMD [ARGS...]: runs CMD now, then after 10, 20, 50 ms and every
# 100 ms, until it succeeds (return 0), SECONDS pass (return 1), or, when PID is not
# empty, process PID is gone (return 2).
# CMD must itself return quickly (bound network probes with their own timeouts).
wait_until() {
    local seconds=$1 pid=$2
    shift 2
    local deadline=$(($(now_ms) + seconds * 1000)) naps=(0.01 0.02 0.05) n=0
    while :; do
        if "$@"; then
            return 0
        fi
        if [[ -n $pid ]] && ! pid_alive "$pid"; then
            return 2
        fi
        if (($(now_ms) >= deadline)); then
            return 1
        fi
        sleep "${naps[n++]:-0.1}"
    done
}

# ---------------------------------------------------------------------------- http

# http_code URL: the HTTP status of a GET (000 when nothing answers), bounded to 2 s.
# http_code URL [CA]: the status of GET URL (000 when none); an https URL's certificate is
# checked against the PEM file CA when given (a local cluster's DIR/tls/ca.pem).
http_code() {
    curl -s -o /dev/null --max-time 2 ${2:+--cacert "$2"} -w '%{http_code}' "$1" 2>/dev/null || true
}

# http_ok URL [CA]: true if GET URL answers 200.
http_ok() { [[ $(http_code "$1" "${2:-}") == 200 ]]; }

# ---------------------------------------------------------------------------- processes

# pid_alive PID: true while the process exists and is not a zombie. (Here PID 1 may not
# reap orphans, so a stopped server can linger as a zombie; that counts as gone.)
pid_alive() {
    local pid=$1 stat state
    [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X && $state != x ]]
}

# pid_cmdline PID: the process's command line, arguments separated by spaces.
pid_cmdline() {
    local pid=$1 cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    printf '%s\n' "${cmd% }"
}

# pid_matches PID TEXT: true if PID is alive and its command line contains TEXT. Guards
# against signalling an unrelated process that reused a recorded PID.
pid_matches() {
    local pid=$1 text=$2 cmd
    pid_alive "$pid" || return 1
    cmd=$(pid_cmdline "$pid") || return 1
    [[ $cmd == *"$text"* ]]
}

# read_pidfile FILE: prints the PID stored in FILE; fails if FILE is missing or garbage.
read_pidfile() {
    local file=$1 pid
    [[ -f $file ]] || return 1
    { read -r pid <"$file"; } 2>/dev/null || [[ -n ${pid:-} ]] || return 1
    [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
    printf '%s\n' "$pid"
}

# live_pid FILE TEXT: prints the PID from FILE if that process is alive and its command
# line contains TEXT; fails otherwise.
live_pid() {
    local pid
    pid=$(read_pidfile "$1") || return 1
    pid_matches "$pid" "$2" || return 1
    printf '%s\n' "$pid"
}

# write_pidfile FILE PID: atomically (rename), so a reader never sees half a number.
write_pidfile() {
    printf '%s\n' "$2" >"$1.tmp.$$" && mv -f -- "$1.tmp.$$" "$1"
}

# stop_pid PID NAME [SECONDS]: SIGTERM (and SIGCONT), wait up to SECONDS (default 10) for it to exit,
# then SIGKILL and wait up to 5 s more. Dies if the process cannot be signalled or
# refuses to go.
stop_pid() {
    local pid=$1 name=$2 seconds=${3:-10} t0
    t0=$(now_ms)
    pid_alive "$pid" || return 0
    if ! kill -TERM "$pid" 2>/dev/null; then
        pid_alive "$pid" || return 0
        die "cannot signal $name (pid $pid): $(id -un) may not own it; stop it as the user that started it"
    fi
    # A server frozen with SIGSTOP (fault tests) handles SIGTERM only once continued.
    kill -CONT "$pid" 2>/dev/null || true
    if wait_until "$seconds" "" pid_gone "$pid"; then
        log "stopped $name (pid $pid) in $(($(now_ms) - t0)) ms"
        return 0
    fi
    warn "$name (pid $pid) did not exit ${seconds} s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 "" pid_gone "$pid" ||
        die "$name (pid $pid) survived SIGKILL for 5 s (stuck in the kernel?); check 'ps -o pid,stat,cmd -p $pid'"
    log "killed $name (pid $pid)"
}

pid_gone() { ! pid_alive "$1"; }

# ---------------------------------------------------------------------------- ports

# port_listening PORT: true if some socket listens on TCP PORT (any address).
port_listening() {
    local out
    if command -v ss >/dev/null 2>&1; then
        out=$(ss -Hltn "sport = :$1" 2>/dev/null) || return 1
        [[ -n $out ]]
    else
        timeout 2 nc -z 127.0.0.1 "$1" >/dev/null 2>&1
    fi
}

# port_users PORT: a short description of who listens on PORT, for error messages.
port_users() {
    local out
    command -v ss >/dev/null 2>&1 || return 0
    out=$(ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $4, $6}' | sort -u | tr '\n' ' ')
    printf '%s\n' "${out% }"
}

port_free() { ! port_listening "$1"; }

# wait_port_free PORT SECONDS
wait_port_free() {
    wait_until "$2" "" port_free "$1"
}

# require_port_free PORT WHAT FLAG: dies with advice if something listens on PORT already.
require_port_free() {
    local port=$1 what=$2 flag=$3 users
    if port_listening "$port"; then
        users=$(port_users "$port")
        die "port $port, wanted for $what, is in use${users:+ ($users)}; stop that process or pick another port with $flag"
    fi
}

# ---------------------------------------------------------------------------- launching

# close_extra_fds: closes every fd above 2 in the current (sub)shell. A server must not
# inherit our lock fd (it would hold the lock for life) nor a caller's pipes (a caller
# waiting for EOF on one would hang for as long as the server runs).
close_extra_fds() {
    local fd
    for fd in "/proc/$BASHPID/fd/"*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
            exec {fd}>&-
        fi
    done
}

# run_clean CMD [ARGS...]: runs CMD in the foreground with only fds 0-2 inherited.
run_clean() {
    (
        close_extra_fds
        exec "$@"
    )
}

# spawn LOGFILE CMD [ARGS...]: starts CMD in the background in a new session (so a
# terminal's ^C or hangup does not reach it), stdin from /dev/null, stdout and stderr
# appended to LOGFILE, no other fds. Sets SPAWNED_PID to its PID. CMD must exec the
# server itself (not fork it) so that this PID is the server's.
spawn() {
    local logfile=$1
    shift
    (
        close_extra_fds
        exec setsid "$@" </dev/null >>"$logfile" 2>&1
    ) &
    # shellcheck disable=SC2034 # read by the caller
    SPAWNED_PID=$!
}

# ---------------------------------------------------------------------------- Redis

# redis_cli PORT ARGS...: redis-cli on 127.0.0.1:PORT (or $REDIS_CLI_HOST:PORT), bounded to
# $REDIS_CLI_TIMEOUT seconds (default 10), authenticated as the ACL user admin when
# NEARBY_REDIS_ADMIN_PASSWORD_FILE names that user's password file (as a cluster's
# cluster.env does); the password goes through the environment, never argv.
redis_cli() {
    local port=$1
    shift
    if [[ -n ${NEARBY_REDIS_ADMIN_PASSWORD_FILE:-} ]]; then
        REDISCLI_AUTH=$(<"$NEARBY_REDIS_ADMIN_PASSWORD_FILE") timeout "${REDIS_CLI_TIMEOUT:-10}" \
            redis-cli --no-auth-warning --user admin -h "${REDIS_CLI_HOST:-127.0.0.1}" -p "$port" "$@"
    else
        timeout "${REDIS_CLI_TIMEOUT:-10}" redis-cli -h "${REDIS_CLI_HOST:-127.0.0.1}" -p "$port" "$@"
    fi
}

# ---------------------------------------------------------------------------- locking

# lock_dir FILE [SECONDS]: takes an exclusive lock on FILE for the rest of this script
# (default wait 60 s), so two start/stop commands on one DIR do not race. Sets LOCK_FD.
lock_dir() {
    local file=$1 seconds=${2:-60}
    exec {LOCK_FD}>>"$file" || die "cannot open lock file $file"
    flock -w "$seconds" "$LOCK_FD" ||
        die "another start/stop holds $file for more than $seconds s; wait for it or check for a hung script"
}
