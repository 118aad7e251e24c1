-- 007_strangers.sql: who a stranger view must hide: the users one blocked and those who blocked one.
--
-- A gateway shows a phone strangers (opted-in non-friends nearby, README "Strangers") only after
-- it read this list for the phone's user, and hides every stranger in it; blocks made later
-- reach it as control messages on the user's channel. Blocks are read only through this
-- function (006_roles.sql: the gateway may not read the blocks table itself).

-- blocks_either: the ids uid blocks or that block uid, ascending, at most 20000 (10000 each way,
-- as blocks_of).
CREATE FUNCTION blocks_either(uid bigint) RETURNS TABLE (other_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT other FROM (
        (SELECT b.blocked_id AS other FROM blocks b WHERE b.blocker_id = uid
         ORDER BY 1 LIMIT 10000)
        UNION
        (SELECT b.blocker_id AS other FROM blocks b WHERE b.blocked_id = uid
         ORDER BY 1 LIMIT 10000)
    ) both_ways ORDER BY 1;
$$;

REVOKE EXECUTE ON FUNCTION blocks_either(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION blocks_either(bigint) TO nearby_gateway;
