-- 004_consent.sql: friendship by consent (requests, blocks), sharing off by default, and the consent version that orders sharing changes.
--
-- Who may see a position (README, "Privacy"): X's position reaches Y only
-- when X and Y are friends by consent (one asked, the other accepted,
-- neither blocks the other) and X shares. This file makes the database the
-- one place that decides the first part, with functions the gateways call
-- (each one statement, one round trip, one transaction).
--
-- Users come into being on first sight: every function below that acts for
-- a caller first inserts the caller's row (ON CONFLICT DO NOTHING), so a
-- valid token is all a new user needs. New users do not share (sharing
-- defaults to false) until they switch it on.
--
-- consent_version: bumped by every change of sharing. Gateways carry it in
-- the pub/sub payloads and the cached positions, so that "sharing off" is
-- ordered against positions by one counter kept here, never by comparing
-- the clocks of two gateways: a position stamped with an older version than
-- the latest known off is never shown, and an off is never mistaken for a
-- duplicate.

ALTER TABLE users ALTER COLUMN sharing SET DEFAULT false;
ALTER TABLE users
    ADD COLUMN consent_version bigint NOT NULL DEFAULT 1
        CONSTRAINT users_consent_version_check CHECK (consent_version > 0),
    -- Friend requests sent in the current one-minute window (rate limit).
    ADD COLUMN request_window_start timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN request_window_count integer NOT NULL DEFAULT 0;

-- A pending request from from_id to to_id. to_id has deliberately no foreign
-- key: a request to an id that is no user must look exactly like any other
-- (202, listed as outgoing), or requests would enumerate users. Deleting a
-- user removes the requests it sent (cascade) and those it was sent
-- (account_delete).
CREATE TABLE friend_requests (
    from_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_id      bigint      NOT NULL CONSTRAINT friend_requests_to_id_check CHECK (to_id > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_id, to_id),
    CONSTRAINT friend_requests_no_self CHECK (from_id <> to_id)
);
CREATE INDEX friend_requests_to_idx ON friend_requests (to_id, from_id);

-- blocker_id blocks blocked_id: no friendship, no request and (later) no
-- stranger view between them. blocked_id has no foreign key for the same
-- reason as to_id above. A block made by a deleted user goes with it; a
-- block of a deleted user by others stays (it is theirs).
CREATE TABLE blocks (
    blocker_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint      NOT NULL CONSTRAINT blocks_blocked_id_check CHECK (blocked_id > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_no_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id, blocker_id);

-- The invariants the database keeps whoever writes (the functions below,
-- scripts/seed-graph's COPY, a person with psql):
--   * no request between two friends;
--   * no friendship between two users one of whom blocks the other;
--   * a new friendship ends the requests between the two.
-- Statement-level triggers with transition tables, so a COPY of millions of
-- friendship rows runs one join, not a trigger per row.
CREATE FUNCTION friend_requests_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_requests n JOIN friendships f
               ON f.user_id = n.from_id AND f.friend_id = n.to_id) THEN
        RAISE EXCEPTION 'friend_requests_not_friends: a friend request between friends'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'friend_requests_not_friends';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER friend_requests_not_friends AFTER INSERT ON friend_requests
    REFERENCING NEW TABLE AS new_requests
    FOR EACH STATEMENT EXECUTE FUNCTION friend_requests_check();

CREATE FUNCTION friendships_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Both directions are inserted, so checking each row's own direction
    -- covers a block either way.
    IF EXISTS (SELECT 1 FROM new_friendships n JOIN blocks b
               ON b.blocker_id = n.user_id AND b.blocked_id = n.friend_id) THEN
        RAISE EXCEPTION 'friendships_not_blocked: a friendship between users one of whom blocks the other'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'friendships_not_blocked';
    END IF;
    DELETE FROM friend_requests r USING new_friendships n
        WHERE r.from_id = n.user_id AND r.to_id = n.friend_id;
    RETURN NULL;
END $$;
CREATE TRIGGER friendships_not_blocked AFTER INSERT ON friendships
    REFERENCING NEW TABLE AS new_friendships
    FOR EACH STATEMENT EXECUTE FUNCTION friendships_check();

-- user_ensure: the caller's row, made on first sight; a no-op afterwards.
CREATE FUNCTION user_ensure(uid bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO users (id) VALUES (uid) ON CONFLICT (id) DO NOTHING;
$$;

-- user_friends: the friend ids of uid (ascending, at most 5000), making uid's
-- row first: what a session starts from.
CREATE FUNCTION user_friends(uid bigint) RETURNS TABLE (friend_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM user_ensure(uid);
    RETURN QUERY SELECT f.friend_id FROM friendships f WHERE f.user_id = uid
        ORDER BY f.friend_id LIMIT 5000;
END $$;

-- user_me: uid's own record, made on first sight: whether it shares, its
-- consent version, how many friends it has.
CREATE FUNCTION user_me(uid bigint)
RETURNS TABLE (sharing boolean, consent_version bigint, friends bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM user_ensure(uid);
    RETURN QUERY SELECT u.sharing, u.consent_version,
                        (SELECT count(*) FROM friendships f WHERE f.user_id = uid)
                   FROM users u WHERE u.id = uid;
END $$;

-- set_sharing: switches uid's sharing to turn_on. Returns whether it changed
-- and the consent version now in force (bumped on every change).
CREATE FUNCTION set_sharing(uid bigint, turn_on boolean)
RETURNS TABLE (changed boolean, consent_version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    PERFORM user_ensure(uid);
    UPDATE users u SET sharing = turn_on, consent_version = u.consent_version + 1
        WHERE u.id = uid AND u.sharing <> turn_on RETURNING u.consent_version INTO v;
    IF FOUND THEN
        RETURN QUERY SELECT true, v;
    ELSE
        RETURN QUERY SELECT false, u.consent_version FROM users u WHERE u.id = uid;
    END IF;
END $$;

-- lock_pair: locks the rows of a and b that exist, lower id first, so that
-- two transactions on the same pair queue instead of deadlocking, and friend
-- counts read afterwards cannot be raced past the cap.
CREATE FUNCTION lock_pair(a bigint, b bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT 1 FROM users WHERE id IN (a, b) ORDER BY id FOR UPDATE;
$$;

-- make_friends: both rows of a friendship (the trigger ends the requests),
-- if neither is at the cap of 5000 friends. The pair must be locked.
-- Returns 'friends' or 'friend_limit'.
CREATE FUNCTION make_friends(a bigint, b bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM friendships WHERE user_id = a) >= 5000
       OR (SELECT count(*) FROM friendships WHERE user_id = b) >= 5000 THEN
        RETURN 'friend_limit';
    END IF;
    INSERT INTO friendships (user_id, friend_id) VALUES (a, b), (b, a) ON CONFLICT DO NOTHING;
    RETURN 'friends';
END $$;

-- blocked_between: true when a blocks b or b blocks a.
CREATE FUNCTION blocked_between(a bigint, b bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM blocks
                   WHERE (blocker_id = a AND blocked_id = b) OR (blocker_id = b AND blocked_id = a));
$$;

-- friend_request: a asks b to be friends. Returns
--   'requested'     the request is pending (also when b is no user, asked
--                   already, or blocks a: the answer must not tell them apart)
--   'friends'       they are friends now (b had asked a) or were already
--   'rate_limited'  a sent 20 requests in the last minute
--   'request_limit' a has 100 requests pending
--   'friend_limit'  one of the two has 5000 friends
--   'blocked'       a blocks b (a knows that; unblock first)
--   'self'          a = b
CREATE FUNCTION friend_request(a bigint, b bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    w_start timestamptz;
    w_count integer;
BEGIN
    IF a = b THEN
        RETURN 'self';
    END IF;
    PERFORM user_ensure(a);
    PERFORM lock_pair(a, b);
    SELECT request_window_start, request_window_count INTO w_start, w_count
        FROM users WHERE id = a;
    IF w_start > now() - interval '1 minute' THEN
        IF w_count >= 20 THEN
            RETURN 'rate_limited';
        END IF;
        UPDATE users SET request_window_count = w_count + 1 WHERE id = a;
    ELSE
        UPDATE users SET request_window_start = now(), request_window_count = 1 WHERE id = a;
    END IF;
    IF EXISTS (SELECT 1 FROM friendships WHERE user_id = a AND friend_id = b) THEN
        RETURN 'friends';
    END IF;
    IF EXISTS (SELECT 1 FROM blocks WHERE blocker_id = a AND blocked_id = b) THEN
        RETURN 'blocked';
    END IF;
    IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = b AND to_id = a)
       AND NOT blocked_between(a, b) THEN
        RETURN make_friends(a, b);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM friend_requests WHERE from_id = a AND to_id = b)
       AND (SELECT count(*) FROM friend_requests WHERE from_id = a) >= 100 THEN
        RETURN 'request_limit';
    END IF;
    INSERT INTO friend_requests (from_id, to_id) VALUES (a, b) ON CONFLICT DO NOTHING;
    RETURN 'requested';
END $$;

-- friend_accept: a accepts the request b sent. Returns 'friends',
-- 'no_request' (none, or one a cannot see because of a block) or
-- 'friend_limit'.
CREATE FUNCTION friend_accept(a bigint, b bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF a = b THEN
        RETURN 'no_request';
    END IF;
    PERFORM user_ensure(a);
    PERFORM lock_pair(a, b);
    IF NOT EXISTS (SELECT 1 FROM friend_requests WHERE from_id = b AND to_id = a)
       OR blocked_between(a, b) THEN
        RETURN 'no_request';
    END IF;
    RETURN make_friends(a, b);
END $$;

-- friend_request_delete: a declines b's request or cancels its own to b.
-- Returns whether there was one.
CREATE FUNCTION friend_request_delete(a bigint, b bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM user_ensure(a);
    DELETE FROM friend_requests
        WHERE (from_id = a AND to_id = b) OR (from_id = b AND to_id = a);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END $$;

-- unfriend_pair: ends the friendship of a and b (both rows). Returns
-- whether they were friends.
CREATE FUNCTION unfriend_pair(a bigint, b bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM user_ensure(a);
    DELETE FROM friendships
        WHERE (user_id = a AND friend_id = b) OR (user_id = b AND friend_id = a);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END $$;

-- block_user: a blocks b: ends their friendship and every request between
-- them. Returns whether the block is new and whether they were friends.
CREATE FUNCTION block_user(a bigint, b bigint)
RETURNS TABLE (changed boolean, were_friends boolean)
LANGUAGE plpgsql AS $$
DECLARE
    added integer;
    ended integer;
BEGIN
    IF a = b THEN
        RAISE EXCEPTION 'blocks_no_self: a user cannot block themself'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'blocks_no_self';
    END IF;
    PERFORM user_ensure(a);
    PERFORM lock_pair(a, b);
    INSERT INTO blocks (blocker_id, blocked_id) VALUES (a, b) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    DELETE FROM friendships
        WHERE (user_id = a AND friend_id = b) OR (user_id = b AND friend_id = a);
    GET DIAGNOSTICS ended = ROW_COUNT;
    DELETE FROM friend_requests
        WHERE (from_id = a AND to_id = b) OR (from_id = b AND to_id = a);
    RETURN QUERY SELECT added > 0, ended > 0;
END $$;

-- unblock_user: a no longer blocks b. Requests b sent meanwhile were
-- swallowed and stay so: they are deleted, not revealed. Returns whether
-- there was a block.
CREATE FUNCTION unblock_user(a bigint, b bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM user_ensure(a);
    DELETE FROM blocks WHERE blocker_id = a AND blocked_id = b;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM friend_requests WHERE from_id = b AND to_id = a;
    RETURN n > 0;
END $$;

-- friend_requests_of: uid's pending requests, incoming (not from users uid
-- blocks) and outgoing, oldest first; at is milliseconds since the epoch.
CREATE FUNCTION friend_requests_of(uid bigint)
RETURNS TABLE (direction text, other bigint, at bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM user_ensure(uid);
    RETURN QUERY
        SELECT 'in'::text, r.from_id, (extract(epoch FROM r.created_at) * 1000)::bigint
          FROM friend_requests r
         WHERE r.to_id = uid
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = uid AND b.blocked_id = r.from_id)
        UNION ALL
        SELECT 'out'::text, r.to_id, (extract(epoch FROM r.created_at) * 1000)::bigint
          FROM friend_requests r
         WHERE r.from_id = uid
        ORDER BY 3, 2;
END $$;

-- account_delete: removes uid's account: its row and so its friendships
-- (both directions), the requests and blocks it made; the requests it was
-- sent; its location history. Returns the ids of its former friends, whose
-- sessions must be told.
CREATE FUNCTION account_delete(uid bigint) RETURNS TABLE (friend_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    friends bigint[];
BEGIN
    SELECT coalesce(array_agg(f.friend_id ORDER BY f.friend_id), '{}') INTO friends
        FROM friendships f WHERE f.user_id = uid;
    DELETE FROM users WHERE id = uid;
    DELETE FROM friend_requests WHERE to_id = uid;
    DELETE FROM location_history WHERE user_id = uid;
    RETURN QUERY SELECT unnest(friends);
END $$;
