#!/usr/bin/env bash
# nearby-token end to end: issue, verify, refusals (short secret, bad user id, wrong key, expiry).
set -euo pipefail

bin=${1:?usage: auth-cli.sh PATH/TO/nearby-token}
dir=$(mktemp -d /tmp/nearby-test-token.XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect STATUS PATTERN ARGS...: runs nearby-token ARGS, checks the exit status and that
# stdout+stderr matches the extended regex PATTERN; keeps stdout in $out.
expect() {
    local want=$1 pattern=$2 got=0 all
    shift 2
    out=$("$bin" "$@" 2>"$dir/err") || got=$?
    all="$out $(cat "$dir/err")"
    [[ $got == "$want" ]] || fail "nearby-token $* exited $got, want $want: $all"
    [[ $all =~ $pattern ]] || fail "nearby-token $* printed '$all', want /$pattern/"
}

printf '%s\n' 'nearby-test-key-0123456789abcdef' >"$dir/secret"
printf '%s\n' 'nearby-test-key-0123456789abcdeX' >"$dir/other"
printf '%s\n' 'too-short-0123456789abcdef01234' >"$dir/short" # 31 bytes
chmod 600 "$dir/secret" "$dir/short" "$dir/other"

expect 0 'usage: nearby-token' --help
expect 2 'secret-file' 42
expect 2 'exactly one USER_ID' --secret-file "$dir/secret"
expect 2 'USER_ID must be' --secret-file "$dir/secret" 0
expect 2 'USER_ID must be' --secret-file "$dir/secret" 9223372036854775808
expect 2 'USER_ID must be' --secret-file "$dir/secret" -- -5
expect 2 'USER_ID must be' --secret-file "$dir/secret" 12abc
expect 2 '--ttl wants' --secret-file "$dir/secret" --ttl 0 42
expect 1 'shorter than 32 bytes.*openssl rand' --secret-file "$dir/short" 42
expect 1 'cannot read secret file' --secret-file "$dir/missing" 42

# Same pinned token as test-token.c: exp = now + ttl = 2000000000.
pinned=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6MjAwMDAwMDAwMH0.KXWajbMVLtpt9lDw_aG32i-3p-sgnozHCHmBS2Dsr34
expect 0 '^eyJ' --secret-file "$dir/secret" --now 1999996400 --ttl 3600 42
[[ $out == "$pinned" ]] || fail "token for 42 is '$out', want the pinned one"

expect 0 '^42 ' --secret-file "$dir/secret" --now 1999999999 --verify "$pinned"
expect 1 'expired' --secret-file "$dir/secret" --now 2000000000 --verify "$pinned"
expect 1 'signature' --secret-file "$dir/other" --now 1999999999 --verify "$pinned"
# A key the group or others may read is refused, with the fix in the message.
cp "$dir/secret" "$dir/open" && chmod 644 "$dir/open"
expect 1 'chmod 600' --secret-file "$dir/open" 42
expect 1 'base64url' --secret-file "$dir/secret" --verify "${pinned}="
expect 2 'takes no USER_ID' --secret-file "$dir/secret" --verify "$pinned" 42

# A fresh token from the clock verifies now.
expect 0 '^eyJ' --secret-file "$dir/secret" 9223372036854775807
expect 0 '^9223372036854775807 ' --secret-file "$dir/secret" --verify "$out"

# EdDSA: a pair made by openssl; nearby-token signs with the private key, the public key
# verifies (here and in openssl, an independent implementation) and cannot sign.
if openssl genpkey -algorithm ed25519 -out "$dir/ed.key" 2>/dev/null &&
    openssl pkey -in "$dir/ed.key" -pubout -out "$dir/ed.pub" 2>/dev/null; then
    chmod 600 "$dir/ed.key"
    expect 0 '^eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9\.' --secret-file "$dir/ed.key" 77
    ed=$out
    expect 0 '^77 ' --public-key-file "$dir/ed.pub" --verify "$ed"
    expect 0 '^77 ' --secret-file "$dir/ed.key" --verify "$ed"
    printf '%s' "${ed%.*}" >"$dir/ed.in"
    sig=${ed##*.}
    sig=$(printf '%s' "$sig" | tr '_-' '/+')
    while ((${#sig} % 4)); do sig+='='; done
    printf '%s' "$sig" | base64 -d >"$dir/ed.sig"
    openssl pkeyutl -verify -pubin -inkey "$dir/ed.pub" -rawin -in "$dir/ed.in" \
        -sigfile "$dir/ed.sig" >/dev/null 2>&1 || fail "openssl does not verify nearby-token's EdDSA signature"
    expect 2 'public key only verifies' --public-key-file "$dir/ed.pub" 77
    expect 2 'one of --secret-file' --public-key-file "$dir/ed.pub" --secret-file "$dir/ed.key" --verify "$ed"
    expect 1 'not an Ed25519 public key' --public-key-file "$dir/ed.key" --verify "$ed"
    cp "$dir/ed.pub" "$dir/ed-pub-600" && chmod 600 "$dir/ed-pub-600"
    expect 1 "not a token key" --secret-file "$dir/ed-pub-600" 77
    # An HS256 secret does not verify an EdDSA token, nor another pair's key.
    expect 1 'alg' --secret-file "$dir/secret" --verify "$ed"
    openssl genpkey -algorithm ed25519 -out "$dir/ed2.key" 2>/dev/null
    openssl pkey -in "$dir/ed2.key" -pubout -out "$dir/ed2.pub" 2>/dev/null
    expect 1 'signature' --public-key-file "$dir/ed2.pub" --verify "$ed"
    chmod 644 "$dir/ed.key"
    expect 1 'chmod 600' --secret-file "$dir/ed.key" 77
else
    fail "openssl genpkey -algorithm ed25519 failed (is openssl installed? scripts/deps)"
fi

if ((failures)); then
    echo "auth-cli: $failures failure(s)" >&2
    exit 1
fi
echo "auth-cli: all passed"
