-- 006_roles.sql: least privilege: what the gateways' role nearby_gateway may do, and nothing else.
--
-- The roles themselves are the database server's, not this schema's: the
-- server's administrator (scripts/postgres, which the local cluster uses)
-- makes nearby_owner, who owns these tables and runs migrations and
-- retention, and nearby_gateway, the role every gateway logs in as with a
-- password (scram-sha-256). This file only says what nearby_gateway may do:
--
--   * read users (consent) and friendships (friend lists): SELECT;
--   * append location history: INSERT on location_history (COPY), never
--     read or change it;
--   * everything else through the functions below and those of
--     004_consent.sql, which run as their owner (SECURITY DEFINER, with a
--     fixed search_path) and do exactly one thing for the caller's own user.
--
-- No DDL, no other table (friend_requests, blocks: only through functions),
-- no partition maintenance. PUBLIC gets nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nearby_gateway') THEN
        RAISE EXCEPTION 'the role nearby_gateway does not exist: make it first (scripts/postgres start does; by hand: CREATE ROLE nearby_gateway LOGIN PASSWORD ...)';
    END IF;
END $$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO nearby_gateway;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;

GRANT SELECT ON users, friendships TO nearby_gateway;
GRANT INSERT ON location_history TO nearby_gateway;

-- history_page: uid's own points with from_ts <= ts < to_ts, oldest first, at
-- most page_limit (1..1000).
CREATE FUNCTION history_page(uid bigint, from_ts bigint, to_ts bigint, page_limit integer)
RETURNS TABLE (ts bigint, lat double precision, lng double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT h.ts, h.lat, h.lng FROM location_history h
     WHERE h.user_id = uid AND h.ts >= from_ts AND h.ts < to_ts
     ORDER BY h.ts LIMIT least(greatest(page_limit, 1), 1000);
$$;

-- history_erase: deletes every point of uid. Returns how many.
CREATE FUNCTION history_erase(uid bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM location_history WHERE user_id = uid;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- blocks_of: the ids uid blocks, ascending.
CREATE FUNCTION blocks_of(uid bigint) RETURNS TABLE (blocked_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT b.blocked_id FROM blocks b WHERE b.blocker_id = uid ORDER BY 1 LIMIT 10000;
$$;

-- The consent functions write tables the gateway may not touch directly.
ALTER FUNCTION user_ensure(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION user_friends(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION user_me(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION set_sharing(bigint, boolean) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION friend_request(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION friend_accept(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION friend_request_delete(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION unfriend_pair(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION block_user(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION unblock_user(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION friend_requests_of(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION account_delete(bigint) SECURITY DEFINER SET search_path = public, pg_temp;
-- Called by the ones above only; their owner runs them.
ALTER FUNCTION lock_pair(bigint, bigint) SET search_path = public, pg_temp;
ALTER FUNCTION make_friends(bigint, bigint) SET search_path = public, pg_temp;
ALTER FUNCTION blocked_between(bigint, bigint) SET search_path = public, pg_temp;

GRANT EXECUTE ON FUNCTION
    user_friends(bigint), user_me(bigint), set_sharing(bigint, boolean),
    friend_request(bigint, bigint), friend_accept(bigint, bigint),
    friend_request_delete(bigint, bigint), unfriend_pair(bigint, bigint),
    block_user(bigint, bigint), unblock_user(bigint, bigint), friend_requests_of(bigint),
    account_delete(bigint), history_page(bigint, bigint, bigint, integer),
    history_erase(bigint), blocks_of(bigint)
TO nearby_gateway;
