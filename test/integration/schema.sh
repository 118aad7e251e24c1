#!/usr/bin/env bash
# schema against a real PostgreSQL: migrate (twice, racing, a failing file), the tables,
# index and constraints it makes, and seed-graph's graph (symmetric, capped, mean, deterministic).
set -euo pipefail

src=${NEARBY_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
port=${NEARBY_TEST_PG_PORT:-25442}
dir=$(mktemp -d /tmp/nearby-test-schema.XXXXXX)
failures=0

cleanup() {
    "$src/scripts/postgres" stop --dir "$dir" >/dev/null 2>&1 || true
    rm -rf -- "$dir"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# sql QUERY: runs QUERY on $pg; one line per row, fields separated by '|'.
sql() { timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -d "$pg" -c "$1"; }

# expect_eq WHAT GOT WANT
expect_eq() {
    [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"
}

# expect_sql_error WHAT PATTERN SQL...: the statements (one psql run, one transaction)
# must fail with an error matching PATTERN.
expect_sql_error() {
    local what=$1 pattern=$2 out stmt
    local args=()
    shift 2
    for stmt; do args+=(-c "$stmt"); done
    if out=$(timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -d "$pg" --single-transaction \
        "${args[@]}" 2>&1); then
        fail "$what: succeeded, want an error matching /$pattern/"
    elif [[ ! $out =~ $pattern ]]; then
        fail "$what: error '$out', want /$pattern/"
    fi
}

t0=$(date +%s%N)
echo "# starting PostgreSQL on 127.0.0.1:$port in $dir"
(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/gateway.password")
start_out=$("$src/scripts/postgres" start --dir "$dir" --port "$port" \
    --role-password "nearby_gateway=$dir/gateway.password")
pg=$(tail -n 1 <<<"$start_out")
expect_eq "conninfo line" "$pg" "host=127.0.0.1 port=$port user=postgres dbname=nearby passfile=$dir/pgpass"
pg_gw="host=127.0.0.1 port=$port user=nearby_gateway dbname=nearby passfile=$dir/pgpass"

# ---------------------------------------------------------------- migrate

out=$("$src/scripts/migrate" --pg "$pg" --list)
expect_eq "list before" "$out" $'pending  001_users\npending  002_friendships\npending  003_location_history\npending  004_consent\npending  005_history_partitions\npending  006_roles\npending  007_strangers'

out=$("$src/scripts/migrate" --pg "$pg")
while IFS= read -r line; do echo "# $line"; done <<<"$out"
for name in 001_users 002_friendships 003_location_history 004_consent 005_history_partitions 006_roles 007_strangers; do
    [[ $out == *"applied $name"* ]] || fail "first migrate did not say it applied $name: $out"
done
out=$("$src/scripts/migrate" --pg "$pg")
[[ $out == "nothing to do"* ]] || fail "second migrate was not a no-op: $out"
out=$(NEARBY_PG=$pg "$src/scripts/migrate")
[[ $out == "nothing to do"* ]] || fail "migrate with NEARBY_PG was not a no-op: $out"
expect_eq "schema_migrations" "$(sql 'SELECT version, name FROM schema_migrations ORDER BY 1')" \
    $'1|001_users\n2|002_friendships\n3|003_location_history\n4|004_consent\n5|005_history_partitions\n6|006_roles\n7|007_strangers'

# A failing migration leaves nothing behind, not even its first statement.
mkdir "$dir/schema"
cp "$src"/schema/*.sql "$dir/schema/"
printf 'CREATE TABLE half_done (x int);\nSELECT 1 / 0;\n' >"$dir/schema/008_broken.sql"
if out=$("$src/scripts/migrate" --pg "$pg" --schema-dir "$dir/schema" 2>&1); then
    fail "migrate with a broken file succeeded: $out"
fi
[[ $out == *"008_broken.sql failed and was rolled back"* ]] || fail "broken migration message: $out"
expect_eq "table of the broken migration" "$(sql "SELECT to_regclass('half_done') IS NULL")" t
expect_eq "version 8 recorded" "$(sql 'SELECT count(*) FROM schema_migrations WHERE version = 8')" 0
rm "$dir/schema/008_broken.sql"

# Two migrate runs at once on a fresh database: each file applied exactly once.
sql 'CREATE DATABASE nearby_race' >/dev/null
pg_race="host=127.0.0.1 port=$port user=postgres dbname=nearby_race passfile=$dir/pgpass"
"$src/scripts/migrate" --pg "$pg_race" >"$dir/race1" 2>&1 &
race1=$!
"$src/scripts/migrate" --pg "$pg_race" >"$dir/race2" 2>&1 &
race2=$!
wait "$race1" || fail "racing migrate 1 failed: $(cat "$dir/race1")"
wait "$race2" || fail "racing migrate 2 failed: $(cat "$dir/race2")"
applied=$(cat "$dir/race1" "$dir/race2" | grep -c '^applied 00' || true)
files=("$src"/schema/*.sql)
expect_eq "files applied by two racing runs" "$applied" "${#files[@]}"
expect_eq "racing schema_migrations rows" \
    "$(psql -X -At -d "$pg_race" -c 'SELECT count(*) FROM schema_migrations')" "${#files[@]}"

# ---------------------------------------------------------------- tables, index, constraints

for t in users friendships friend_requests blocks location_history location_history_default schema_migrations; do
    expect_eq "table $t exists" "$(sql "SELECT to_regclass('public.$t') IS NOT NULL")" t
done
expect_eq "history index" \
    "$(sql "SELECT indexdef FROM pg_indexes WHERE indexname = 'location_history_user_ts_idx'")" \
    "CREATE INDEX location_history_user_ts_idx ON ONLY public.location_history USING btree (user_id, ts)"
expect_eq "friendships primary key" \
    "$(sql "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'friendships_pkey'")" \
    "PRIMARY KEY (user_id, friend_id)"
expect_eq "users.id type" \
    "$(sql "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'id'")" \
    bigint
expect_eq "users defaults" \
    "$(sql "INSERT INTO users (id) VALUES (9223372036854775807) RETURNING sharing, consent_version, created_at IS NOT NULL")" \
    "f|1|t"
expect_sql_error "user id 0" users_id_check "INSERT INTO users (id) VALUES (0)"
expect_sql_error "negative user id" users_id_check "INSERT INTO users (id) VALUES (-5)"

sql 'INSERT INTO users (id) SELECT generate_series(1, 5)' >/dev/null
sql 'SELECT befriend(1, 2), befriend(1, 3), befriend(2, 1)' >/dev/null
expect_eq "befriend writes both rows once" "$(sql 'SELECT user_id, friend_id FROM friendships ORDER BY 1, 2' | tr '\n' ' ')" \
    "1|2 1|3 2|1 3|1 "
expect_sql_error "one direction only" friendships_mirror_fkey \
    "INSERT INTO friendships (user_id, friend_id) VALUES (4, 5)"
sql 'BEGIN; INSERT INTO friendships (user_id, friend_id) VALUES (4, 5); INSERT INTO friendships (user_id, friend_id) VALUES (5, 4); COMMIT' >/dev/null ||
    fail "two directions in two statements of one transaction were refused"
expect_sql_error "self friendship" friendships_no_self "SELECT befriend(4, 4)"
expect_sql_error "friend who is no user" friendships_user_id_fkey "SELECT befriend(4, 99)"
sql 'SELECT unfriend(2, 1)' >/dev/null
expect_eq "unfriend removes both rows" "$(sql 'SELECT count(*) FROM friendships WHERE 2 IN (user_id, friend_id)')" 0
sql 'DELETE FROM users WHERE id = 1' >/dev/null
expect_eq "deleting a user removes both directions" \
    "$(sql 'SELECT user_id, friend_id FROM friendships ORDER BY 1, 2' | tr '\n' ' ')" "4|5 5|4 "

sql "INSERT INTO location_history (user_id, ts, lat, lng) VALUES (4, 1700000000000, 52.52, 13.405), (4, 1700000030000, -90, 180)" >/dev/null
expect_eq "trail query" \
    "$(sql 'SELECT count(*) FROM location_history WHERE user_id = 4 AND ts >= 1700000000000 AND ts < 1700000060000')" 2
expect_sql_error "latitude NaN" location_history_lat_check \
    "INSERT INTO location_history VALUES (4, 1, 'NaN', 0)"
expect_sql_error "latitude 90.5" location_history_lat_check \
    "INSERT INTO location_history VALUES (4, 1, 90.5, 0)"
expect_sql_error "longitude -181" location_history_lng_check \
    "INSERT INTO location_history VALUES (4, 1, 0, -181)"
expect_sql_error "negative ts" location_history_ts_check \
    "INSERT INTO location_history VALUES (4, -1, 0, 0)"

# ---------------------------------------------------------------- seed-graph

edge_digest() { sql "SELECT md5(string_agg(user_id || ',' || friend_id, ';' ORDER BY user_id, friend_id)) FROM friendships"; }

out=$("$src/scripts/seed-graph" --pg "$pg" --users 1000 --avg-friends 20 --seed 42)
echo "# $out"
[[ $out == *"loaded 1000 users and 10000 friendship pairs"* ]] || fail "seed-graph said: $out"
expect_eq "users" "$(sql 'SELECT count(*), min(id), max(id) FROM users')" "1000|1|1000"
expect_eq "rows without their mirror" \
    "$(sql 'SELECT count(*) FROM friendships f WHERE NOT EXISTS (SELECT 1 FROM friendships g WHERE g.user_id = f.friend_id AND g.friend_id = f.user_id)')" 0
expect_eq "self friendships" "$(sql 'SELECT count(*) FROM friendships WHERE user_id = friend_id')" 0
expect_eq "duplicate rows" "$(sql 'SELECT count(*) - count(DISTINCT (user_id, friend_id)) FROM friendships')" 0
stats=$(sql 'SELECT max(d), round(sum(d)::numeric / 1000, 2) FROM (SELECT count(*) AS d FROM friendships GROUP BY user_id) s')
maxdeg=${stats%%|*} mean=${stats##*|}
((maxdeg <= 5000)) || fail "max degree $maxdeg > 5000"
awk -v m="$mean" 'BEGIN { exit !(m >= 14 && m <= 26) }' || fail "mean degree $mean not within 30 % of 20"
# Heavy-tailed, not uniform: the best connected user has many times the mean.
((maxdeg >= 60)) || fail "max degree $maxdeg: no heavy tail (mean $mean)"
echo "# seed 42: mean degree $mean, max degree $maxdeg"
expect_eq "constraints after seeding" \
    "$(sql "SELECT string_agg(conname, ' ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'friendships'::regclass")" \
    "friendships_mirror_fkey friendships_no_self friendships_pkey friendships_user_id_fkey"
expect_eq "location_history kept" "$(sql 'SELECT count(*) FROM location_history')" 2

digest=$(edge_digest)
"$src/scripts/seed-graph" --pg "$pg" --users 1000 --avg-friends 20 --seed 42 >/dev/null
expect_eq "same seed, same graph" "$(edge_digest)" "$digest"
"$src/scripts/seed-graph" --pg "$pg" --users 1000 --avg-friends 20 --seed 43 >/dev/null
[[ $(edge_digest) != "$digest" ]] || fail "seeds 42 and 43 gave the same graph"

if out=$("$src/scripts/seed-graph" --pg "$pg" --users 10 --avg-friends 10 2>&1); then
    fail "seed-graph accepted 10 friends among 10 users"
fi
[[ $out == *"more than the other 9 users"* ]] || fail "seed-graph refusal: $out"

# ---------------------------------------------------------------- consent

# req A B: what friend_request(A, B) answers.
req() { sql "SELECT friend_request($1, $2)"; }
friends_of() { sql "SELECT coalesce(string_agg(friend_id::text, ' ' ORDER BY friend_id), '') FROM friendships WHERE user_id = $1"; }
expect_eq "a request creates the caller on first sight" "$(req 5001 5002)|$(sql 'SELECT count(*) FROM users WHERE id = 5001')" "requested|1"
expect_eq "no friendship from a request alone" "$(friends_of 5001)" ""
expect_eq "requests are listed both ways" "$(sql 'SELECT direction, other FROM friend_requests_of(5001)')|$(sql 'SELECT direction, other FROM friend_requests_of(5002)')" "out|5002|in|5001"
expect_eq "asking again changes nothing" "$(req 5001 5002)|$(sql 'SELECT count(*) FROM friend_requests WHERE from_id = 5001')" "requested|1"
expect_eq "a request to an id that is no user looks the same" "$(req 5001 987654321)" requested
expect_eq "the crossing request makes friends" "$(req 5002 5001)|$(friends_of 5001)|$(friends_of 5002)" "friends|5002|5001"
expect_eq "friendship ends the requests" "$(sql 'SELECT count(*) FROM friend_requests WHERE 5001 IN (from_id, to_id) AND 5002 IN (from_id, to_id)')" 0
expect_eq "asking a friend" "$(req 5001 5002)" friends
expect_sql_error "no request between friends" friend_requests_not_friends \
    "INSERT INTO friend_requests (from_id, to_id) VALUES (5001, 5002)"
expect_eq "self" "$(req 5003 5003)" self
expect_sql_error "self request (table)" friend_requests_no_self \
    "INSERT INTO users (id) VALUES (5003) ON CONFLICT DO NOTHING" "INSERT INTO friend_requests (from_id, to_id) VALUES (5003, 5003)"
req 5003 5004 >/dev/null
expect_eq "accept" "$(sql 'SELECT friend_accept(5004, 5003)')|$(friends_of 5004)" "friends|5003"
expect_eq "accept without a request" "$(sql 'SELECT friend_accept(5004, 5001)')" no_request
req 5005 5006 >/dev/null
expect_eq "decline" "$(sql 'SELECT friend_request_delete(5006, 5005)')|$(sql 'SELECT friend_accept(5006, 5005)')" "t|no_request"
req 5005 5006 >/dev/null
expect_eq "cancel" "$(sql 'SELECT friend_request_delete(5005, 5006)')|$(sql 'SELECT friend_request_delete(5005, 5006)')" "t|f"
expect_eq "unfriend" "$(sql 'SELECT unfriend_pair(5004, 5003)')|$(friends_of 5003)|$(sql 'SELECT unfriend_pair(5004, 5003)')" "t||f"
# Blocks: end the friendship and the requests, swallow new requests, forbid friendship.
expect_eq "block a friend" "$(sql 'SELECT changed, were_friends FROM block_user(5002, 5001)')|$(friends_of 5001)" "t|t|"
expect_eq "the blocked user's request is swallowed" "$(req 5001 5002)|$(sql "SELECT count(*) FROM friend_requests_of(5002) WHERE direction = 'in'")" "requested|0"
expect_eq "and cannot be accepted" "$(sql 'SELECT friend_accept(5002, 5001)')" no_request
expect_eq "the blocker asking" "$(req 5002 5001)" blocked
expect_sql_error "no friendship across a block" friendships_not_blocked "SELECT befriend(5001, 5002)"
expect_eq "unblock deletes the swallowed request" "$(sql 'SELECT unblock_user(5002, 5001)')|$(sql 'SELECT count(*) FROM friend_requests WHERE from_id = 5001 AND to_id = 5002')" "t|0"
expect_eq "friends again by consent" "$(req 5001 5002)|$(req 5002 5001)" "requested|friends"
# Limits: 20 requests a minute, 100 pending.
sql "UPDATE users SET request_window_start = now(), request_window_count = 19 WHERE id = 5001" >/dev/null
expect_eq "the 20th request of the minute" "$(req 5001 6001)" requested
expect_eq "the 21st" "$(req 5001 6002)|$(sql 'SELECT count(*) FROM friend_requests WHERE from_id = 5001 AND to_id = 6002')" "rate_limited|0"
sql "UPDATE users SET request_window_start = now() - interval '61 seconds' WHERE id = 5001" >/dev/null
expect_eq "a minute later" "$(req 5001 6002)" requested
sql "INSERT INTO friend_requests (from_id, to_id) SELECT 5001, g FROM generate_series(7001, 7097) g" >/dev/null
sql "UPDATE users SET request_window_count = 0 WHERE id = 5001" >/dev/null
expect_eq "100 pending" "$(sql 'SELECT count(*) FROM friend_requests WHERE from_id = 5001')|$(req 5001 6003)|$(req 5001 6002)" "100|request_limit|requested"
# Sharing and its version.
expect_eq "sharing starts off" "$(sql 'SELECT sharing, consent_version FROM users WHERE id = 5001')" "f|1"
expect_eq "on bumps the version" "$(sql 'SELECT * FROM set_sharing(5001, true)')|$(sql 'SELECT * FROM set_sharing(5001, true)')" "t|2|f|2"
expect_eq "off bumps it again" "$(sql 'SELECT * FROM set_sharing(5001, false)')" "t|3"
expect_eq "user_friends makes the user" "$(sql 'SELECT count(*) FROM user_friends(5999)')|$(sql 'SELECT count(*) FROM users WHERE id = 5999')" "0|1"
# Account deletion.
sql "INSERT INTO location_history VALUES (5001, 1700000000000, 1, 1)" >/dev/null
sql "SELECT block_user(5001, 5006)" >/dev/null
req 5005 5001 >/dev/null
expect_eq "account_delete names the friends" "$(sql 'SELECT string_agg(friend_id::text, $$,$$) FROM account_delete(5001)')" 5002
expect_eq "and leaves nothing" "$(sql "SELECT (SELECT count(*) FROM users WHERE id = 5001) + (SELECT count(*) FROM friendships WHERE 5001 IN (user_id, friend_id)) + (SELECT count(*) FROM friend_requests WHERE 5001 IN (from_id, to_id)) + (SELECT count(*) FROM blocks WHERE blocker_id = 5001) + (SELECT count(*) FROM location_history WHERE user_id = 5001)")" 0

# ---------------------------------------------------------------- the gateways' role

# gw_sql QUERY: as nearby_gateway, with its password (scram) from the pgpass file.
gw_sql() { timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -d "$pg_gw" -c "$1" 2>&1; }
# gw_denied WHAT QUERY: must fail for lack of privilege.
gw_denied() {
    local out
    if out=$(gw_sql "$2"); then
        fail "nearby_gateway may $1: $out"
    elif [[ ! $out =~ "permission denied" ]]; then
        fail "nearby_gateway $1: '$out', want permission denied"
    fi
}
expect_eq "the gateway reads users and friendships" "$(gw_sql 'SELECT (SELECT count(*) > 0 FROM users), (SELECT count(*) > 0 FROM friendships)')" "t|t"
expect_eq "and acts through the functions" "$(gw_sql 'SELECT friend_request(6001, 6002)')|$(gw_sql 'SELECT count(*) FROM friend_requests_of(6002)')" "requested|1"
expect_eq "and appends history" "$(printf '6001\t1700000000000\t1\t2\n' | timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -d "$pg_gw" -c 'COPY location_history (user_id, ts, lat, lng) FROM STDIN' 2>&1 && echo copied)" copied
expect_eq "and reads and erases its user's history only through functions" "$(gw_sql 'SELECT count(*) FROM history_page(6001, 0, 9000000000000, 10)')|$(gw_sql 'SELECT history_erase(6001)')" "1|1"
gw_denied "read friend_requests" "SELECT * FROM friend_requests"
gw_denied "read blocks" "SELECT * FROM blocks"
gw_denied "read history" "SELECT * FROM location_history"
gw_denied "delete history" "DELETE FROM location_history"
gw_denied "change users" "UPDATE users SET sharing = true"
gw_denied "insert friendships" "INSERT INTO friendships VALUES (1, 2)"
gw_denied "create tables" "CREATE TABLE gw_owned (x int)"
gw_denied "maintain partitions" "SELECT history_maintain(30, 1)"
gw_denied "befriend without consent" "SELECT befriend(6001, 6002)"
printf '127.0.0.1:%s:*:nearby_gateway:wrong\n' "$port" >"$dir/wrong.pgpass"
chmod 600 "$dir/wrong.pgpass"
out=$(timeout 30 psql -X -At -d "host=127.0.0.1 port=$port user=nearby_gateway dbname=nearby passfile=$dir/wrong.pgpass" -c 'SELECT 1' 2>&1) &&
    fail "nearby_gateway logged in with a wrong password: $out"
[[ $out == *"password authentication failed"* ]] || fail "a wrong password: '$out', want password authentication failed"
out=$(timeout 30 psql -X -At -d "host=127.0.0.1 port=$port user=postgres dbname=nearby passfile=$dir/wrong.pgpass" -c 'SELECT 1' 2>&1) &&
    fail "the superuser logged in over TCP without its password: $out"

# ---------------------------------------------------------------- history partitions

# ms D: the first millisecond of day D (YYYY-MM-DD, UTC).
ms() { sql "SELECT (extract(epoch FROM timestamptz '$1 00:00:00+00') * 1000)::bigint"; }
parts() { sql "SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'location_history'::regclass AND c.relname LIKE 'location_history_p2030%'"; }
expect_eq "maintenance makes today and the days ahead" \
    "$(sql "SELECT string_agg(action || ' ' || detail, ',') FROM history_maintain(30, 2, timestamptz '2030-01-10 12:00:00+00') WHERE action = 'created'")" \
    "created location_history_p20300110,created location_history_p20300111,created location_history_p20300112"
expect_eq "run again, nothing to do" "$(sql "SELECT count(*) FROM history_maintain(30, 2, timestamptz '2030-01-10 13:00:00+00')")" 0
d10=$(ms 2030-01-10) d20=$(ms 2030-01-20)
sql "INSERT INTO location_history VALUES (42, $d10 + 5, 1, 1), (42, $d20 + 5, 2, 2)" >/dev/null
expect_eq "rows land in their day, or in the default" \
    "$(sql "SELECT string_agg(tableoid::regclass::text, ' ' ORDER BY ts) FROM location_history WHERE user_id = 42")" \
    "location_history_p20300110 location_history_default"
sql "SELECT history_maintain(30, 0, timestamptz '2030-01-20 01:00:00+00')" >/dev/null
expect_eq "a new day takes its rows out of the default" \
    "$(sql "SELECT string_agg(tableoid::regclass::text, ' ' ORDER BY ts) FROM location_history WHERE user_id = 42")" \
    "location_history_p20300110 location_history_p20300120"
expect_eq "retention drops whole days" \
    "$(sql "SELECT string_agg(action || ' ' || detail, ',' ORDER BY detail) FROM history_maintain(5, 0, timestamptz '2030-01-20 01:00:00+00')")" \
    "dropped location_history_p20300110,dropped location_history_p20300111,dropped location_history_p20300112"
expect_eq "what is left" "$(parts)|$(sql 'SELECT count(*) FROM location_history WHERE user_id = 42')" "location_history_p20300120|1"
sql "INSERT INTO location_history VALUES (43, $d10, 1, 1)" >/dev/null
expect_eq "old rows in the default are purged" \
    "$(sql "SELECT action, detail FROM history_maintain(5, 0, timestamptz '2030-01-20 01:00:00+00')")|$(sql 'SELECT count(*) FROM location_history WHERE user_id = 43')" \
    "purged|1|0"
expect_sql_error "bad retention" "retention_days must be" "SELECT history_maintain(0, 1)"

echo "# took $((($(date +%s%N) - t0) / 1000000)) ms"
if ((failures)); then
    echo "schema: $failures failure(s)" >&2
    exit 1
fi
echo "schema: all passed"
