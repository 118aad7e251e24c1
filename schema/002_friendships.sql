-- 002_friendships.sql: the friend graph, one row per direction, so "friends of X" is a primary-key prefix scan.
--
-- Choice: a friendship between a and b is two rows, (a, b) and (b, a). The one
-- query on the hot path, run at every session start,
--     SELECT friend_id FROM friendships WHERE user_id = $1
-- is then a range scan of the primary key (index-only once vacuumed), with
-- no OR and no second index; the price is twice the rows, which is cheap next to
-- location_history.
--
-- The two rows are kept in step by the database, not by convention:
--   * friendships_mirror_fkey says every (a, b) needs its (b, a). It is
--     DEFERRABLE INITIALLY DEFERRED, so both rows may be written by separate
--     statements, as long as they are in one transaction; a transaction that
--     commits only one direction fails.
--   * Its ON DELETE CASCADE removes (b, a) whenever (a, b) goes, and deleting a
--     user removes their rows through friendships_user_id_fkey, and with them
--     every mirror row. Both cascades find their rows by primary key, so no
--     index on friend_id is needed. friend_id needs no foreign key of its own
--     to users: (a, b) implies (b, a), whose user_id is checked.
-- befriend(a, b) and unfriend(a, b) below do the common cases in one call.

CREATE TABLE friendships (
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id  bigint      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, friend_id),
    CONSTRAINT friendships_no_self CHECK (user_id <> friend_id),
    CONSTRAINT friendships_mirror_fkey FOREIGN KEY (friend_id, user_id)
        REFERENCES friendships (user_id, friend_id)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- befriend: makes a and b friends (both rows); a no-op if they already are.
CREATE FUNCTION befriend(a bigint, b bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO friendships (user_id, friend_id) VALUES (a, b), (b, a)
    ON CONFLICT DO NOTHING;
$$;

-- unfriend: ends the friendship of a and b (the mirror row goes by cascade);
-- a no-op if there was none.
CREATE FUNCTION unfriend(a bigint, b bigint) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM friendships WHERE user_id = a AND friend_id = b;
$$;
