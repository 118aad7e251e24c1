-- 003_location_history.sql: every accepted location update, appended in batches by the gateways' history writers.
--
-- ts is bigint milliseconds since the Unix epoch, exactly as on the wire
-- (proto/ `ts`), so a writer can COPY the value it received without a
-- conversion or a rounding step, and time ranges compare as integers. For
-- people: to_timestamp(ts / 1000.0).
--
-- The one read this table serves is "one user's trail in a time range":
--     SELECT ts, lat, lng FROM location_history
--     WHERE user_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts;
-- hence the btree on (user_id, ts). There is deliberately no primary key (a
-- phone may resend a point, and one duplicate must not fail a whole COPY
-- batch) and no foreign key to users (a per-row check on a stream of about
-- 334 K rows/s costs more than it protects; a deleted user's history goes with
-- a DELETE by user_id or with retention).
--
-- At full scale (about 29 G rows a day) this would be range-partitioned by ts,
-- one partition per day, so retention is DROP TABLE of old partitions instead
-- of DELETE plus vacuum, each partition keeping its own (user_id, ts) btree; a
-- BRIN index on ts would then serve "everything in this hour" scans for almost
-- no space, since rows arrive in nearly ts order. Neither is done here: one
-- plain table is what a single test server needs.

CREATE TABLE location_history (
    user_id bigint           NOT NULL CHECK (user_id > 0),
    ts      bigint           NOT NULL CHECK (ts >= 0),
    -- BETWEEN is false for NaN, so NaN is refused too.
    lat     double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng     double precision NOT NULL CHECK (lng BETWEEN -180 AND 180)
);

CREATE INDEX location_history_user_ts_idx ON location_history (user_id, ts);
