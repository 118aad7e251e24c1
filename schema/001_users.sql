-- 001_users.sql: one row per user who may hold a session; whether they share their location.
--
-- User ids are unsigned 64-bit integers on the wire (proto/), but PostgreSQL's
-- bigint is signed, so stored ids are limited to 1..2^63-1 (9223372036854775807).
-- Id 0 is never a user. Whoever binds an id as a bigint (gateway, tools) must
-- refuse ids above 2^63-1 instead of letting them wrap to negative numbers;
-- the CHECK below turns such a mistake into an error rather than a stray row.
--
-- Migration files run inside one transaction (scripts/migrate); no BEGIN/COMMIT here.

CREATE TABLE users (
    id         bigint      PRIMARY KEY CHECK (id > 0),
    -- false: the user has switched sharing off; friends get `gone` and no updates.
    sharing    boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
