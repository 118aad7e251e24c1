#!/usr/bin/env bash
# install.sh files|systemd: 'meson install --destdir' of this build into a temp directory, then
#   files    every file is where it should be: the three programs (each answering --version
#            with the project version), their man pages (rendering without warnings and
#            naming every flag of --help with its default), the systemd units with this
#            build's paths, the example configuration (which the installed gateway accepts)
#            and the Prometheus rules; nothing else in bin/, the man dirs or the unit dir.
#   systemd  systemd-analyze verify on the installed units prints nothing (a typo in a unit
#            is only a warning there, so any output fails), with MANPATH at the installed
#            man pages so that Documentation=man:... must resolve; the hardening the units
#            promise is there; systemd-analyze security --offline rates them at most 1.5.
# Needs no running systemd. Paths come from meson (NEARBY_INSTALL_*), bounded by timeout.
set -euo pipefail

mode=${1:?usage: install.sh files|systemd}
build=${NEARBY_BUILD_ROOT:?}
src=${NEARBY_SOURCE_ROOT:?}
bindir=${NEARBY_INSTALL_BINDIR:?} mandir=${NEARBY_INSTALL_MANDIR:?}
unitdir=${NEARBY_INSTALL_UNITDIR:?} docdir=${NEARBY_INSTALL_DOCDIR:?}
datadir=${NEARBY_INSTALL_DATADIR:?} sysconfdir=${NEARBY_INSTALL_SYSCONFDIR:?}
version=${NEARBY_VERSION:?}

say() { printf 'install test (%s): %s\n' "$mode" "$*"; }
failed=0
fail() {
    printf 'install test (%s): FAIL: %s\n' "$mode" "$*" >&2
    failed=1
}

dest=$(mktemp -d /tmp/nearby-test-install.XXXXXX)
trap 'rm -rf -- "$dest"' EXIT
timeout 120 meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$dest.log" 2>&1 || {
    cat "$dest.log" >&2
    rm -f -- "$dest.log"
    fail "meson install --destdir failed"
    exit 1
}
rm -f -- "$dest.log"

programs=(nearby-gateway ringctl nearby-token)
pages=(man8/nearby-gateway.8 man8/ringctl.8 man1/nearby-token.1)
units=(nearby-gateway@.service nearby-autopilot.service)

# only_these DIR NAME...: DIR holds exactly the files NAME... (relative paths).
only_these() {
    local dir=$1 got want
    shift
    got=$(cd "$dir" 2>/dev/null && find . -type f -o -type l | sed 's|^\./||' | sort)
    want=$(printf '%s\n' "$@" | sort)
    [[ $got == "$want" ]] || fail "$dir holds [${got//$'\n'/ }], expected [${want//$'\n'/ }]"
}

# help_flags_in_page PROGRAM PAGE HELP_TEXT: every --flag of HELP_TEXT appears in the rendered
# PAGE, and where the help says "(default X)", X appears in that flag's entry of the page.
help_flags_in_page() {
    local program=$1 page=$2 help=$3 rendered
    rendered=$(MANWIDTH=200 MANPAGER=cat man -l "$page" 2>/dev/null) || {
        fail "man cannot render $page"
        return
    }
    python3 - "$program" "$help" "$rendered" <<'EOF' || failed=1
import re, sys
program, help_text, page = sys.argv[1], sys.argv[2], sys.argv[3]
bad = 0
entries = []  # (flag, text of its help entry)
for line in help_text.splitlines():
    m = re.match(r'\s+(?:-\w, )?(--[a-z][a-z0-9-]*)', line)
    if m:
        entries.append([m.group(1), line])
    elif entries and line.startswith('   '):
        entries[-1][1] += ' ' + line.strip()
for flag, text in entries:
    where = [m.start() for m in re.finditer(re.escape(flag) + r'(?![a-z-])', page)]
    if not where:
        print(f'{program}: --help lists {flag}, the man page has no entry for it', file=sys.stderr)
        bad = 1
        continue
    d = re.search(r'\(default ([^);]+)', text)
    if not d:
        continue
    value = d.group(1).lstrip(': ').split(',')[0].split(' ')[0].strip("'")
    # Within the paragraph that mentions the flag (its entry, or its command's).
    found = any(value in page[w:(page.find('\n\n', w) + 1 or len(page))] for w in where)
    if not found:
        print(f'{program}: {flag} has default {value!r} in --help, not in its man entry', file=sys.stderr)
        bad = 1
sys.exit(bad)
EOF
}

check_files() {
    local p page out key
    for p in "${programs[@]}"; do
        [[ -x $dest$bindir/$p ]] || {
            fail "$bindir/$p is not installed (or not executable)"
            continue
        }
        out=$("$dest$bindir/$p" --version 2>&1) || fail "$p --version exited $?"
        [[ $out == "$p $version" ]] || fail "$p --version printed '$out', expected '$p $version'"
    done
    only_these "$dest$bindir" "${programs[@]}"

    if [[ ${NEARBY_MAN_PAGES:-0} != 1 ]]; then
        fail "this build makes no man pages (scdoc missing, or -Dman-pages=disabled)"
    else
        for page in "${pages[@]}"; do
            [[ -f $dest$mandir/$page ]] || {
                fail "$mandir/$page is not installed"
                continue
            }
            out=$(MANPAGER='cat' man --warnings -l "$dest$mandir/$page" 2>&1 >/dev/null) || fail "man cannot render $page"
            [[ -z $out ]] || fail "$page renders with warnings: $out"
            ! grep -q '@[A-Z]*@' "$dest$mandir/$page" || fail "$page still holds an unsubstituted @PATH@"
        done
        only_these "$dest$mandir/man1" nearby-token.1
        only_these "$dest$mandir/man8" nearby-gateway.8 ringctl.8
        help_flags_in_page nearby-gateway "$dest$mandir/man8/nearby-gateway.8" \
            "$("$dest$bindir/nearby-gateway" --help)"
        help_flags_in_page nearby-token "$dest$mandir/man1/nearby-token.1" \
            "$("$dest$bindir/nearby-token" --help)"
        local cmds cmd help rendered
        help=$("$dest$bindir/ringctl" --help)
        cmds=$(awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' <<<"$help")
        [[ $(wc -w <<<"$cmds") -ge 10 ]] || fail "ringctl --help lists too few commands: $cmds"
        rendered=$(MANWIDTH=200 MANPAGER=cat man -l "$dest$mandir/man8/ringctl.8" 2>/dev/null)
        for cmd in $cmds; do
            grep -qE "^ +$cmd( |$)" <<<"$rendered" ||
                fail "ringctl --help lists the command $cmd, ringctl(8) has no entry for it"
            help+=$'\n'$("$dest$bindir/ringctl" "$cmd" --help | sed -n '1,/^Global flags/p')
        done
        help_flags_in_page ringctl "$dest$mandir/man8/ringctl.8" "$help"
    fi

    for p in "${units[@]}"; do
        [[ -f $dest$unitdir/$p ]] || {
            fail "$unitdir/$p is not installed"
            continue
        }
        ! grep -q '@[A-Z]*@' "$dest$unitdir/$p" || fail "$p still holds an unsubstituted @PATH@"
        grep -q "^ExecStart=$bindir/" "$dest$unitdir/$p" || fail "$p does not start a program from $bindir"
    done
    only_these "$dest$unitdir" "${units[@]}"
    grep -qF "ExecStart=$bindir/nearby-gateway --config $sysconfdir/nearby/gateway-%i.conf " \
        "$dest$unitdir/nearby-gateway@.service" || fail "nearby-gateway@.service does not read $sysconfdir/nearby/gateway-%i.conf"

    only_these "$dest$docdir" gateway.conf.example autopilot.env.example
    key=$dest/key
    printf '%s' 0123456789abcdef0123456789abcdef >"$key"
    chmod 600 "$key"
    out=$("$dest$bindir/nearby-gateway" --config "$dest$docdir/gateway.conf.example" \
        --jwt-secret-file "$key" --check-config 2>&1) ||
        fail "the installed gateway refuses the installed gateway.conf.example: $out"
    [[ $out == *"configuration ok (listen 127.0.0.1:8080,"* ]] || fail "--check-config of the example said: $out"
    cmp -s "$src/deploy/prometheus/rules.yml" "$dest$datadir/prometheus/rules.yml" ||
        fail "$datadir/prometheus/rules.yml is missing or differs from deploy/prometheus/rules.yml"
}

# unit_value UNIT KEY: the value of the last KEY= line of UNIT.
unit_value() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

check_systemd() {
    local p u copy out drain stop
    command -v systemd-analyze >/dev/null || {
        fail "systemd-analyze is missing (scripts/deps installs systemd)"
        return
    }
    copy=$dest/verify
    mkdir -p "$copy"
    for p in "${units[@]}"; do
        u=$dest$unitdir/$p
        [[ -f $u ]] || {
            fail "$unitdir/$p is not installed"
            continue
        }
        # verify checks that ExecStart's program exists and is executable. It was installed
        # into the destdir, not $bindir, so the copy that is verified names the destdir's;
        # the installed unit's own ExecStart is checked to be $bindir's by the files test.
        sed "s|^ExecStart=$bindir/|ExecStart=$dest$bindir/|" "$u" >"$copy/$p"
        grep -q "^ExecStart=$dest$bindir/" "$copy/$p" || fail "$p: no ExecStart=$bindir/... to verify"
        out=$(MANPATH=$dest$mandir timeout 60 systemd-analyze verify --man=yes "$copy/$p" 2>&1) ||
            fail "systemd-analyze verify $p exited non-zero: $out"
        [[ -z $out ]] || fail "systemd-analyze verify $p said: $out"
        out=$(timeout 60 systemd-analyze security --offline=yes --threshold=15 "$copy/$p" 2>&1) ||
            fail "systemd-analyze security rates $p above 1.5: $(grep -E '✗|Overall' <<<"$out")"

        for want in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
            PrivateTmp=yes PrivateDevices=yes CapabilityBoundingSet= Restart=on-failure \
            SystemCallFilter=@system-service; do
            grep -qx "$want" "$u" || fail "$p lacks $want"
        done
        [[ $(unit_value "$u" RestrictAddressFamilies) == "AF_INET AF_INET6 AF_UNIX" ]] ||
            fail "$p: RestrictAddressFamilies is '$(unit_value "$u" RestrictAddressFamilies)'"
    done
    # The teeth of the empty-output rule: a misspelt directive is only a warning.
    sed 's/^Restart=/Restrat=/' "$copy/nearby-autopilot.service" >"$copy/typo.service"
    out=$(MANPATH=$dest$mandir timeout 60 systemd-analyze verify "$copy/typo.service" 2>&1) || true
    [[ $out == *"Unknown key 'Restrat'"* ]] || fail "systemd-analyze verify did not report a misspelt key: $out"

    u=$dest$unitdir/nearby-gateway@.service
    p=$(unit_value "$u" LimitNOFILE)
    if [[ ! $p =~ ^[0-9]+$ ]] || ((p < 65536)); then
        fail "nearby-gateway@.service: LimitNOFILE=$p, want >= 65536"
    fi
    # SIGTERM drains over drain-seconds, then flushes history for up to 10 s.
    drain=$(sed -n 's/^drain-seconds *= *//p' "$dest$docdir/gateway.conf.example")
    stop=$(unit_value "$u" TimeoutStopSec)
    stop=${stop%s}
    if [[ ! $drain =~ ^[0-9]+$ || ! $stop =~ ^[0-9]+$ ]] || ((stop <= drain + 10)); then
        fail "nearby-gateway@.service: TimeoutStopSec=${stop}s is not above drain-seconds ($drain) + 10 s"
    fi
    [[ $(unit_value "$u" LoadCredential) == "jwt-public-key:$sysconfdir/nearby/jwt-ed25519.pub" ]] ||
        fail "nearby-gateway@.service does not load the public key from $sysconfdir/nearby/jwt-ed25519.pub"
    grep -q -- "--jwt-public-key-file %d/jwt-public-key" "$dest$unitdir/nearby-gateway@.service" ||
        fail "nearby-gateway@.service does not pass the public key credential"
}

case $mode in
files) check_files ;;
systemd) check_systemd ;;
*)
    echo "usage: install.sh files|systemd" >&2
    exit 2
    ;;
esac
((failed == 0)) || exit 1
say "ok"
