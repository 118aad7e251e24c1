/* friends_db.c: the consent functions of schema/004_consent.sql as queued pg_conn requests. */
#include "friends_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRIENDS_DB_ID_MAX ((uint64_t)INT64_MAX)
#define FRIENDS_DB_ID_LEN 24 /* a decimal id and its NUL */

/* One outstanding call: the callback its caller gave, in the member its kind uses. */
struct friends_db_call {
    union {
        friends_db_ids_cb ids;
        friends_db_done_cb done;
        friends_db_status_cb status;
        friends_db_consent_cb consent;
        friends_db_sharing_cb sharing;
        friends_db_block_cb block;
        friends_db_requests_cb requests;
        friends_db_me_cb me;
    } cb;
    void *arg;
};

static const char *const status_names[] = {
    [FRIENDS_DB_REQUESTED] = "requested",
    [FRIENDS_DB_FRIENDS] = "friends",
    [FRIENDS_DB_RATE_LIMITED] = "rate_limited",
    [FRIENDS_DB_REQUEST_LIMIT] = "request_limit",
    [FRIENDS_DB_FRIEND_LIMIT] = "friend_limit",
    [FRIENDS_DB_BLOCKED] = "blocked",
    [FRIENDS_DB_SELF] = "self",
    [FRIENDS_DB_NO_REQUEST] = "no_request",
};

const char *friends_db_strerror(int err)
{
    switch (err) {
    case FRIENDS_DB_OK: return "ok";
    case FRIENDS_DB_ERR_NOMEM: return "out of memory";
    case FRIENDS_DB_ERR_INVALID: return "invalid user id";
    case FRIENDS_DB_ERR_DOWN: return "database unavailable";
    case FRIENDS_DB_ERR_DB: return "database error";
    case FRIENDS_DB_ERR_BUSY: return "database queue full";
    case FRIENDS_DB_ERR_CLOSED: return "database connection closed";
    default: return "unknown error";
    }
}

static bool id_ok(uint64_t id)
{
    return id > 0 && id <= FRIENDS_DB_ID_MAX;
}

static bool pair_ok(uint64_t a, uint64_t b)
{
    return id_ok(a) && id_ok(b) && a != b;
}

/* Maps a pg_conn error to ours. */
static int from_pg(int err)
{
    switch (err) {
    case PG_CONN_OK: return FRIENDS_DB_OK;
    case PG_CONN_ERR_NOMEM: return FRIENDS_DB_ERR_NOMEM;
    case PG_CONN_ERR_INVALID: return FRIENDS_DB_ERR_INVALID;
    case PG_CONN_ERR_DOWN: return FRIENDS_DB_ERR_DOWN;
    case PG_CONN_ERR_FULL: return FRIENDS_DB_ERR_BUSY;
    case PG_CONN_ERR_CLOSED: return FRIENDS_DB_ERR_CLOSED;
    default: return FRIENDS_DB_ERR_DB;
    }
}

/* Parses an unsigned decimal field; false when it is not one. */
static bool field_u64(const PGresult *res, int row, int col, uint64_t *out)
{
    const char *s;
    char *end;
    unsigned long long v;

    if (PQgetisnull(res, row, col))
        return false;
    s = PQgetvalue(res, row, col);
    if (s[0] < '0' || s[0] > '9')
        return false;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

static bool field_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

/* The result of a request that returns rows: its error, or FRIENDS_DB_ERR_DB
 * when the rows are not cols wide. */
static int rows_err(int err, const PGresult *res, int cols)
{
    int rc = from_pg(err);

    if (rc == 0 && (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != cols))
        rc = FRIENDS_DB_ERR_DB;
    return rc;
}

/* Queues sql with the text parameters given (all ids, printed by us). */
static int submit(struct pg_conn *pc, const char *sql, int nparams, const char *const *params,
                  pg_conn_cb done, struct friends_db_call proto)
{
    struct friends_db_call *call = malloc(sizeof(*call));
    int rc;

    if (call == NULL)
        return FRIENDS_DB_ERR_NOMEM;
    *call = proto;
    rc = pg_conn_query(pc, sql, nparams, params, 0, done, call);
    if (rc != 0) {
        free(call);
        return from_pg(rc);
    }
    return 0;
}

/* Queues sql with one or two id parameters. */
static int submit_ids(struct pg_conn *pc, const char *sql, uint64_t a, uint64_t b, int nparams,
                      pg_conn_cb done, struct friends_db_call proto)
{
    char sa[FRIENDS_DB_ID_LEN], sb[FRIENDS_DB_ID_LEN];
    const char *params[] = {sa, sb};

    snprintf(sa, sizeof sa, "%" PRIu64, a);
    snprintf(sb, sizeof sb, "%" PRIu64, b);
    return submit(pc, sql, nparams, params, done, proto);
}

/* ---- id lists ---- */

static void on_ids(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 1);
    uint64_t *ids = NULL;
    size_t n = 0;

    if (rc == 0) {
        int rows = PQntuples(res);

        /* Sized to the rows: no 40 KB per session start. */
        ids = malloc(((size_t)rows + 1) * sizeof(*ids));
        if (ids == NULL)
            rc = FRIENDS_DB_ERR_NOMEM;
        for (int i = 0; rc == 0 && i < rows; i++)
            if (!field_u64(res, i, 0, &ids[n++]))
                rc = FRIENDS_DB_ERR_DB;
    }
    if (rc == 0)
        call->cb.ids(0, ids, n, call->arg);
    else
        call->cb.ids(rc, NULL, 0, call->arg);
    free(ids);
    free(call);
}

/* One user's list of ids from a set-returning function (sql takes $1 = user_id). */
static int user_ids(struct pg_conn *pc, const char *sql, uint64_t user_id, friends_db_ids_cb cb,
                    void *arg)
{
    if (!pc || !cb || !id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, sql, user_id, 0, 1, on_ids,
                      (struct friends_db_call){.cb.ids = cb, .arg = arg});
}

int friends_db_load(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb, void *arg)
{
    return user_ids(pc, "SELECT friend_id FROM user_friends($1::bigint)", user_id, cb, arg);
}

int friends_db_blocks(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb, void *arg)
{
    return user_ids(pc, "SELECT blocked_id FROM blocks_of($1::bigint)", user_id, cb, arg);
}

int friends_db_blocks_either(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb,
                             void *arg)
{
    return user_ids(pc, "SELECT other_id FROM blocks_either($1::bigint)", user_id, cb, arg);
}

int friends_db_account_delete(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb,
                              void *arg)
{
    return user_ids(pc, "SELECT friend_id FROM account_delete($1::bigint)", user_id, cb, arg);
}

/* ---- consent ---- */

static void on_consent(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 3);
    struct friends_db_consent *rows = NULL;
    size_t n = 0;

    if (rc == 0) {
        int count = PQntuples(res);

        rows = malloc(((size_t)count + 1) * sizeof(*rows));
        if (rows == NULL)
            rc = FRIENDS_DB_ERR_NOMEM;
        for (int i = 0; rc == 0 && i < count; i++, n++) {
            rows[n].sharing = field_bool(res, i, 1);
            if (!field_u64(res, i, 0, &rows[n].user) || !field_u64(res, i, 2, &rows[n].version))
                rc = FRIENDS_DB_ERR_DB;
        }
    }
    if (rc == 0)
        call->cb.consent(0, rows, n, call->arg);
    else
        call->cb.consent(rc, NULL, 0, call->arg);
    free(rows);
    free(call);
}

int friends_db_consent(struct pg_conn *pc, const uint64_t *users, size_t n,
                       friends_db_consent_cb cb, void *arg)
{
    char *array, *p;
    int rc;

    if (!pc || !cb || n == 0 || n > FRIENDS_DB_CONSENT_MAX)
        return FRIENDS_DB_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!id_ok(users[i]))
            return FRIENDS_DB_ERR_INVALID;
    /* One array parameter, "{1,2,3}": a single statement whatever n. */
    array = malloc(n * FRIENDS_DB_ID_LEN + 3);
    if (array == NULL)
        return FRIENDS_DB_ERR_NOMEM;
    p = array;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%" PRIu64, i ? "," : "", users[i]);
    *p++ = '}';
    *p = '\0';
    /* An id that is no user comes back as version 0, off: the LEFT JOIN. */
    rc = submit(pc,
                "SELECT q.id, coalesce(u.sharing, false), coalesce(u.consent_version, 0)"
                " FROM unnest($1::bigint[]) AS q (id) LEFT JOIN users u ON u.id = q.id",
                1, (const char *const[]){array}, on_consent,
                (struct friends_db_call){.cb.consent = cb, .arg = arg});
    free(array);
    return rc;
}

static void on_sharing(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 2);
    uint64_t version = 0;
    bool changed = false;

    if (rc == 0 && (PQntuples(res) != 1 || !field_u64(res, 0, 1, &version)))
        rc = FRIENDS_DB_ERR_DB;
    if (rc == 0)
        changed = field_bool(res, 0, 0);
    call->cb.sharing(rc, changed, version, call->arg);
    free(call);
}

int friends_db_set_sharing(struct pg_conn *pc, uint64_t user_id, bool sharing,
                           friends_db_sharing_cb cb, void *arg)
{
    char id[FRIENDS_DB_ID_LEN];

    if (!pc || !cb || !id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    return submit(pc, "SELECT changed, consent_version FROM set_sharing($1::bigint, $2::boolean)",
                  2, (const char *const[]){id, sharing ? "true" : "false"}, on_sharing,
                  (struct friends_db_call){.cb.sharing = cb, .arg = arg});
}

static void on_me(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 3);
    uint64_t version = 0, friends = 0;

    if (rc == 0 && (PQntuples(res) != 1 || !field_u64(res, 0, 1, &version) ||
                    !field_u64(res, 0, 2, &friends)))
        rc = FRIENDS_DB_ERR_DB;
    call->cb.me(rc, rc == 0 && field_bool(res, 0, 0), version, friends, call->arg);
    free(call);
}

int friends_db_me(struct pg_conn *pc, uint64_t user_id, friends_db_me_cb cb, void *arg)
{
    if (!pc || !cb || !id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT sharing, consent_version, friends FROM user_me($1::bigint)",
                      user_id, 0, 1, on_me, (struct friends_db_call){.cb.me = cb, .arg = arg});
}

/* ---- requests ---- */

static void on_status(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 1);
    enum friends_db_status status = FRIENDS_DB_REQUESTED;
    size_t k = 0;

    if (rc == 0 && (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)))
        rc = FRIENDS_DB_ERR_DB;
    if (rc == 0) {
        const char *s = PQgetvalue(res, 0, 0);

        for (k = 0; k < sizeof(status_names) / sizeof(status_names[0]); k++)
            if (strcmp(s, status_names[k]) == 0)
                break;
        if (k == sizeof(status_names) / sizeof(status_names[0]))
            rc = FRIENDS_DB_ERR_DB; /* a schema newer than this gateway */
        else
            status = (enum friends_db_status)k;
    }
    call->cb.status(rc, status, call->arg);
    free(call);
}

int friends_db_request(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_status_cb cb,
                       void *arg)
{
    if (!pc || !cb || !id_ok(a) || !id_ok(b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT friend_request($1::bigint, $2::bigint)", a, b, 2, on_status,
                      (struct friends_db_call){.cb.status = cb, .arg = arg});
}

int friends_db_accept(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_status_cb cb,
                      void *arg)
{
    if (!pc || !cb || !id_ok(a) || !id_ok(b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT friend_accept($1::bigint, $2::bigint)", a, b, 2, on_status,
                      (struct friends_db_call){.cb.status = cb, .arg = arg});
}

static void on_requests(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 3);
    struct friends_db_request *rows = NULL;
    size_t n = 0;

    if (rc == 0) {
        int count = PQntuples(res);

        rows = malloc(((size_t)count + 1) * sizeof(*rows));
        if (rows == NULL)
            rc = FRIENDS_DB_ERR_NOMEM;
        for (int i = 0; rc == 0 && i < count; i++, n++) {
            uint64_t at;

            rows[n].incoming = strcmp(PQgetvalue(res, i, 0), "in") == 0;
            if (!field_u64(res, i, 1, &rows[n].other) || !field_u64(res, i, 2, &at) ||
                at > (uint64_t)INT64_MAX)
                rc = FRIENDS_DB_ERR_DB;
            else
                rows[n].at_ms = (int64_t)at;
        }
    }
    if (rc == 0)
        call->cb.requests(0, rows, n, call->arg);
    else
        call->cb.requests(rc, NULL, 0, call->arg);
    free(rows);
    free(call);
}

int friends_db_requests(struct pg_conn *pc, uint64_t user_id, friends_db_requests_cb cb,
                        void *arg)
{
    if (!pc || !cb || !id_ok(user_id))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT direction, other, at FROM friend_requests_of($1::bigint)",
                      user_id, 0, 1, on_requests,
                      (struct friends_db_call){.cb.requests = cb, .arg = arg});
}

/* ---- changes that answer whether anything changed ---- */

static void on_done(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 1);

    if (rc == 0 && PQntuples(res) != 1)
        rc = FRIENDS_DB_ERR_DB;
    call->cb.done(rc, rc == 0 && field_bool(res, 0, 0), call->arg);
    free(call);
}

int friends_db_request_delete(struct pg_conn *pc, uint64_t a, uint64_t b,
                              friends_db_done_cb cb, void *arg)
{
    if (!pc || !cb || !pair_ok(a, b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT friend_request_delete($1::bigint, $2::bigint)", a, b, 2, on_done,
                      (struct friends_db_call){.cb.done = cb, .arg = arg});
}

int friends_db_unfriend(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                        void *arg)
{
    if (!pc || !cb || !pair_ok(a, b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT unfriend_pair($1::bigint, $2::bigint)", a, b, 2, on_done,
                      (struct friends_db_call){.cb.done = cb, .arg = arg});
}

int friends_db_unblock(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                       void *arg)
{
    if (!pc || !cb || !pair_ok(a, b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT unblock_user($1::bigint, $2::bigint)", a, b, 2, on_done,
                      (struct friends_db_call){.cb.done = cb, .arg = arg});
}

static void on_block(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct friends_db_call *call = arg;
    int rc = rows_err(err, res, 2);

    if (rc == 0 && PQntuples(res) != 1)
        rc = FRIENDS_DB_ERR_DB;
    call->cb.block(rc, rc == 0 && field_bool(res, 0, 0), rc == 0 && field_bool(res, 0, 1),
                   call->arg);
    free(call);
}

int friends_db_block(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_block_cb cb,
                     void *arg)
{
    if (!pc || !cb || !pair_ok(a, b))
        return FRIENDS_DB_ERR_INVALID;
    return submit_ids(pc, "SELECT changed, were_friends FROM block_user($1::bigint, $2::bigint)",
                      a, b, 2, on_block, (struct friends_db_call){.cb.block = cb, .arg = arg});
}
