-- 005_history_partitions.sql: location_history range-partitioned by day, so that retention is DROP TABLE of old days.
--
-- One partition per UTC day of ts (milliseconds since the epoch), named
-- location_history_pYYYYMMDD, each with its own (user_id, ts) btree (made
-- from the parent's partitioned index). A DEFAULT partition takes what falls
-- on a day without one (a phone's old ts, or maintenance that did not run),
-- so that a COPY batch never fails for want of a partition; maintenance
-- empties it of rows past retention.
--
-- history_maintain (below) creates the partitions of today and the next
-- days ahead of time and drops those wholly older than the retention; run it
-- daily (scripts/history-retention; scripts/cluster runs it at start). It
-- runs as the owner of the table, never as the gateway's role.
--
-- Volume at full scale: 10 M users online, one position each per 30 s, is
-- about 333 K rows/s, 28.8 G rows a day. A row is 24 bytes of data plus a
-- 24-byte tuple header and a 4-byte line pointer (about 52 bytes of heap) and
-- about 32 bytes in the (user_id, ts) btree: about 2.4 TB a day before
-- replication, 72 TB for the default 30 days of retention. Hence one day per
-- partition (an index that fits in memory while its day is written) and
-- retention by dropping whole days.
--
-- The existing rows move into the new table within this migration (one
-- partition per day they cover).

ALTER TABLE location_history RENAME TO location_history_unpartitioned;
ALTER INDEX location_history_user_ts_idx RENAME TO location_history_unpartitioned_user_ts_idx;

CREATE TABLE location_history (
    user_id bigint           NOT NULL CHECK (user_id > 0),
    ts      bigint           NOT NULL CHECK (ts >= 0),
    -- BETWEEN is false for NaN, so NaN is refused too.
    lat     double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng     double precision NOT NULL CHECK (lng BETWEEN -180 AND 180)
) PARTITION BY RANGE (ts);

CREATE INDEX location_history_user_ts_idx ON location_history (user_id, ts);
CREATE TABLE location_history_default PARTITION OF location_history DEFAULT;

-- history_day_partition: creates the partition of the UTC day that starts at
-- day_ms (a multiple of 86 400 000) unless it exists; rows of that day
-- waiting in the default partition move into it. Returns its name.
CREATE FUNCTION history_day_partition(day_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'location_history_p' || to_char(to_timestamp(day_ms / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
    moved bigint;
BEGIN
    IF day_ms % 86400000 <> 0 THEN
        RAISE EXCEPTION 'history_day_partition: % is not the start of a UTC day', day_ms;
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- A partition cannot be attached while the default holds rows of its
    -- range: take them out first, and put them in once it exists.
    IF to_regclass('pg_temp.history_day_move') IS NULL THEN
        CREATE TEMP TABLE history_day_move (LIKE location_history) ON COMMIT DROP;
    END IF;
    WITH gone AS (
        DELETE FROM location_history_default WHERE ts >= day_ms AND ts < day_ms + 86400000
        RETURNING *)
    INSERT INTO history_day_move SELECT * FROM gone;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('CREATE TABLE %I PARTITION OF location_history FOR VALUES FROM (%s) TO (%s)',
                   name, day_ms, day_ms + 86400000);
    IF moved > 0 THEN
        INSERT INTO location_history SELECT * FROM history_day_move;
        TRUNCATE history_day_move;
    END IF;
    RETURN name;
END $$;

-- history_maintain: makes the partitions of the day of at_time and of the
-- ahead_days days after it, drops the partitions whose whole day is older
-- than retention_days before at_time, and deletes such rows from the
-- default partition. Returns one row per partition made or dropped
-- ('created', name) / ('dropped', name), and ('purged', count) for the
-- default partition when it removed rows.
CREATE FUNCTION history_maintain(retention_days integer, ahead_days integer,
                                 at_time timestamptz DEFAULT now())
RETURNS TABLE (action text, detail text)
LANGUAGE plpgsql AS $$
DECLARE
    today_ms bigint := (floor(extract(epoch FROM at_time) / 86400) * 86400000)::bigint;
    cutoff_ms bigint := today_ms - retention_days::bigint * 86400000;
    part record;
    upper_ms bigint;
    purged bigint;
BEGIN
    IF retention_days < 1 OR ahead_days < 0 THEN
        RAISE EXCEPTION 'history_maintain: retention_days must be >= 1 and ahead_days >= 0';
    END IF;
    FOR d IN 0..ahead_days LOOP
        IF to_regclass('location_history_p' ||
                       to_char(to_timestamp((today_ms + d * 86400000::bigint) / 1000) AT TIME ZONE 'UTC',
                               'YYYYMMDD')) IS NULL THEN
            action := 'created';
            detail := history_day_partition(today_ms + d * 86400000::bigint);
            RETURN NEXT;
        END IF;
    END LOOP;
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'location_history'::regclass AND c.relname <> 'location_history_default'
    LOOP
        upper_ms := substring(part.bound FROM 'TO \(''?(-?[0-9]+)''?\)')::bigint;
        IF upper_ms <= cutoff_ms THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            action := 'dropped';
            detail := part.relname;
            RETURN NEXT;
        END IF;
    END LOOP;
    DELETE FROM location_history_default WHERE ts < cutoff_ms;
    GET DIAGNOSTICS purged = ROW_COUNT;
    IF purged > 0 THEN
        action := 'purged';
        detail := purged::text;
        RETURN NEXT;
    END IF;
END $$;

-- The rows written before partitioning: one partition per day they cover.
DO $$
DECLARE
    day bigint;
BEGIN
    FOR day IN SELECT DISTINCT (ts / 86400000) * 86400000 FROM location_history_unpartitioned LOOP
        PERFORM history_day_partition(day);
    END LOOP;
END $$;
INSERT INTO location_history SELECT user_id, ts, lat, lng FROM location_history_unpartitioned;
DROP TABLE location_history_unpartitioned;
SELECT count(*) FROM history_maintain(30, 7);
