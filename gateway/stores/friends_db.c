/* friends_db.c: friend lists, friendship changes and the sharing switch as queued pg_conn requests. */
#include "friends_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRIENDS_DB_ID_MAX ((uint64_t)INT64_MAX)
#define FRIENDS_DB_STR(x) FRIENDS_DB_STR2(x)
#define FRIENDS_DB_STR2(x) #x

/* One outstanding call: the user's callback and, for loads, room for the ids. */
struct friends_db_call {
    friends_db_load_cb load_cb;
    friends_db_done_cb done_cb;
    void *arg;
    uint64_t *ids;
};

const char *friends_db_strerror(int err)
{
    switch (err) {
    case FRIENDS_DB_OK: return "ok";
    case FRIENDS_DB_ERR_NOMEM: return "out of memory";
    case FRIENDS_DB_ERR_INVALID: return "invalid user id";
    case FRIENDS_DB_ERR_DOWN: return "database unavailable";
    case FRIENDS_DB_ERR_DB: return "database error";
    case FRIENDS_DB_ERR_LIMIT: return "friend limit reached";
    case FRIENDS_DB_ERR_NO_USER: return "no such user";
    case FRIENDS_DB_ERR_CLOSED: return "database connection closed";
    default: return "unknown error";
    }
}

static bool friends_db_id_ok(uint64_t id)
{
    return id > 0 && id <= FRIENDS_DB_ID_MAX;
}

/* Maps a pg_conn error to ours. */
static int friends_db_from_pg(int err)
{
    switch (err) {
    case PG_CONN_OK: return FRIENDS_DB_OK;
    case PG_CONN_ERR_NOMEM: return FRIENDS_DB_ERR_NOMEM;
    case PG_CONN_ERR_INVALID: return FRIENDS_DB_ERR_INVALID;
    case PG_CONN_ERR_DOWN:
    case PG_CONN_ERR_FULL: return FRIENDS_DB_ERR_DOWN;
    case PG_CONN_ERR_CLOSED: return FRIENDS_DB_ERR_CLOSED;
    default: return FRIENDS_DB_ERR_DB;
    }
}

/* Reads a big-endian int8 from a binary result field. */
static uint64_t friends_db_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Parses a non-negative decimal integer field; -1 when it is not one. */
static long long friends_db_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return -1;
    char *end;
    const char *s = PQgetvalue(res, row, col);
    long long v = strtoll(s, &end, 10);
    return (*s && !*end && v >= 0) ? v : -1;
}

/* Queues sql (a script of several statements when nparams < 0) on a copy of
 * proto, which owns proto->ids from here on. When nothing is queued done never
 * runs, so the copy is freed here and the caller only returns the error. */
static int friends_db_submit(struct pg_conn *pc, const char *sql, int nparams,
                             const char *const *params, int binary, pg_conn_cb done,
                             const struct friends_db_call *proto)
{
    struct friends_db_call *call = malloc(sizeof *call);
    if (!call) {
        free(proto->ids);
        return FRIENDS_DB_ERR_NOMEM;
    }
    *call = *proto;
    int rc = nparams < 0 ? pg_conn_query_script(pc, sql, done, call)
                         : pg_conn_query(pc, sql, nparams, params, binary, done, call);
    if (rc != 0) {
        free(call->ids);
        free(call);
        return friends_db_from_pg(rc);
    }
    return 0;
}

static void friends_db_on_load(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = friends_db_from_pg(err);
    size_t n = 0;
    if (rc == 0) {
        int rows = PQntuples(res);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1 ||
            rows > FRIENDS_DB_MAX_FRIENDS) {
            rc = FRIENDS_DB_ERR_DB;
        } else if ((call->ids = malloc(((size_t)rows + 1) * sizeof *call->ids)) == NULL) {
            rc = FRIENDS_DB_ERR_NOMEM; /* sized to the rows: no 40 KB per session start */
        } else {
            for (int i = 0; i < rows; i++) {
                if (PQgetisnull(res, i, 0) || PQgetlength(res, i, 0) != 8) {
                    rc = FRIENDS_DB_ERR_DB;
                    break;
                }
                call->ids[n++] = friends_db_be64((const unsigned char *)PQgetvalue(res, i, 0));
            }
        }
    }
    if (rc == 0)
        call->load_cb(0, call->ids, n, call->arg);
    else
        call->load_cb(rc, NULL, 0, call->arg);
    free(call->ids);
    free(call);
}

int friends_db_load(struct pg_conn *pc, uint64_t user_id, friends_db_load_cb cb, void *arg)
{
    if (!pc || !cb || !friends_db_id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    const char *params[] = { id };
    return friends_db_submit(pc,
                             "SELECT friend_id FROM friendships WHERE user_id = $1"
                             " ORDER BY friend_id LIMIT " FRIENDS_DB_STR(FRIENDS_DB_MAX_FRIENDS),
                             1, params, 1, friends_db_on_load,
                             &(struct friends_db_call){ .load_cb = cb, .arg = arg });
}

/* Result of the add script: nusers, na, nb, already, inserted. */
static void friends_db_on_add(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = friends_db_from_pg(err);
    bool changed = false;
    if (rc == 0) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
            PQnfields(res) != 5) {
            rc = FRIENDS_DB_ERR_DB;
        } else {
            long long nusers = friends_db_int(res, 0, 0);
            long long na = friends_db_int(res, 0, 1);
            long long nb = friends_db_int(res, 0, 2);
            const char *already = PQgetvalue(res, 0, 3);
            long long inserted = friends_db_int(res, 0, 4);
            if (nusers < 0 || na < 0 || nb < 0 || inserted < 0)
                rc = FRIENDS_DB_ERR_DB;
            else if (nusers != 2)
                rc = FRIENDS_DB_ERR_NO_USER;
            else if (already[0] == 't')
                changed = false;
            else if (inserted == 2)
                changed = true;
            else if (na >= FRIENDS_DB_MAX_FRIENDS || nb >= FRIENDS_DB_MAX_FRIENDS)
                rc = FRIENDS_DB_ERR_LIMIT;
            else
                rc = FRIENDS_DB_ERR_DB;
        }
    }
    call->done_cb(rc, rc == 0 && changed, call->arg);
    free(call);
}

int friends_db_add(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb, void *arg)
{
    if (!pc || !cb || !friends_db_id_ok(a) || !friends_db_id_ok(b) || a == b)
        return FRIENDS_DB_ERR_INVALID;
    /* Several statements need the simple protocol, so the ids are literals:
     * both are checked integers printed by us, nothing a user typed. The
     * script runs as one implicit transaction: lock both users (lower id
     * first, so two adds cannot deadlock), count under the lock, insert both
     * directions only if neither is at the cap. */
    uint64_t lo = a < b ? a : b;
    uint64_t hi = a < b ? b : a;
    char sql[2048];
    int len = snprintf(sql, sizeof sql,
        "SELECT id FROM users WHERE id IN (%" PRIu64 ", %" PRIu64 ") ORDER BY id FOR UPDATE;\n"
        "WITH c AS (SELECT"
        " (SELECT count(*) FROM users WHERE id IN (%" PRIu64 ", %" PRIu64 ")) AS nusers,"
        " (SELECT count(*) FROM friendships WHERE user_id = %" PRIu64 ") AS na,"
        " (SELECT count(*) FROM friendships WHERE user_id = %" PRIu64 ") AS nb,"
        " EXISTS (SELECT 1 FROM friendships WHERE user_id = %" PRIu64
        " AND friend_id = %" PRIu64 ") AS already),\n"
        "ins AS (INSERT INTO friendships (user_id, friend_id)"
        " SELECT v.u, v.f FROM (VALUES (%" PRIu64 "::bigint, %" PRIu64 "::bigint),"
        " (%" PRIu64 ", %" PRIu64 ")) AS v (u, f), c"
        " WHERE c.nusers = 2 AND NOT c.already"
        " AND c.na < " FRIENDS_DB_STR(FRIENDS_DB_MAX_FRIENDS)
        " AND c.nb < " FRIENDS_DB_STR(FRIENDS_DB_MAX_FRIENDS)
        " ON CONFLICT DO NOTHING RETURNING 1)\n"
        "SELECT c.nusers, c.na, c.nb, c.already, (SELECT count(*) FROM ins) FROM c",
        lo, hi, a, b, a, b, a, b, a, b, b, a);
    if (len < 0 || (size_t)len >= sizeof sql)
        return FRIENDS_DB_ERR_INVALID;
    return friends_db_submit(pc, sql, -1, NULL, 0, friends_db_on_add,
                             &(struct friends_db_call){ .done_cb = cb, .arg = arg });
}

/* Result of a DELETE: changed when it removed any row. */
static void friends_db_on_remove(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = friends_db_from_pg(err);
    bool changed = false;
    if (rc == 0) {
        const char *n = PQcmdTuples(res);
        if (PQresultStatus(res) != PGRES_COMMAND_OK || !n[0])
            rc = FRIENDS_DB_ERR_DB;
        else
            changed = strcmp(n, "0") != 0;
    }
    call->done_cb(rc, rc == 0 && changed, call->arg);
    free(call);
}

int friends_db_remove(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                      void *arg)
{
    if (!pc || !cb || !friends_db_id_ok(a) || !friends_db_id_ok(b) || a == b)
        return FRIENDS_DB_ERR_INVALID;
    char sa[24], sb[24];
    snprintf(sa, sizeof sa, "%" PRIu64, a);
    snprintf(sb, sizeof sb, "%" PRIu64, b);
    const char *params[] = { sa, sb };
    /* Both directions in one statement, so one transaction; the mirror
     * foreign key would cascade anyway, this does not depend on it. */
    return friends_db_submit(pc,
                             "DELETE FROM friendships WHERE (user_id, friend_id) IN"
                             " (($1::bigint, $2::bigint), ($2::bigint, $1::bigint))",
                             2, params, 0, friends_db_on_remove,
                             &(struct friends_db_call){ .done_cb = cb, .arg = arg });
}

/* Result of the sharing update: found, changed. */
static void friends_db_on_sharing(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = friends_db_from_pg(err);
    bool changed = false;
    if (rc == 0) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
            PQnfields(res) != 2) {
            rc = FRIENDS_DB_ERR_DB;
        } else {
            long long found = friends_db_int(res, 0, 0);
            long long updated = friends_db_int(res, 0, 1);
            if (found < 0 || updated < 0)
                rc = FRIENDS_DB_ERR_DB;
            else if (found == 0)
                rc = FRIENDS_DB_ERR_NO_USER;
            else
                changed = updated > 0;
        }
    }
    call->done_cb(rc, rc == 0 && changed, call->arg);
    free(call);
}

int friends_db_set_sharing(struct pg_conn *pc, uint64_t user_id, bool sharing,
                           friends_db_done_cb cb, void *arg)
{
    if (!pc || !cb || !friends_db_id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    const char *params[] = { id, sharing ? "true" : "false" };
    return friends_db_submit(pc,
                             "WITH upd AS (UPDATE users SET sharing = $2::boolean"
                             " WHERE id = $1::bigint AND sharing <> $2::boolean RETURNING 1)"
                             " SELECT (SELECT count(*) FROM users WHERE id = $1::bigint),"
                             " (SELECT count(*) FROM upd)",
                             2, params, 0, friends_db_on_sharing,
                             &(struct friends_db_call){ .done_cb = cb, .arg = arg });
}

static void friends_db_on_get_sharing(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = friends_db_from_pg(err);
    bool sharing = true;
    if (rc == 0) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1 || PQntuples(res) > 1)
            rc = FRIENDS_DB_ERR_DB;
        else if (PQntuples(res) == 0)
            rc = FRIENDS_DB_ERR_NO_USER;
        else
            sharing = PQgetvalue(res, 0, 0)[0] == 't';
    }
    call->done_cb(rc, rc == 0 && sharing, call->arg);
    free(call);
}

int friends_db_get_sharing(struct pg_conn *pc, uint64_t user_id, friends_db_sharing_cb cb,
                           void *arg)
{
    if (!pc || !cb || !friends_db_id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    const char *params[] = { id };
    return friends_db_submit(pc, "SELECT sharing FROM users WHERE id = $1::bigint", 1, params, 0,
                             friends_db_on_get_sharing,
                             &(struct friends_db_call){ .done_cb = cb, .arg = arg });
}
