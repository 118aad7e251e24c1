/* history_query.c: a user's own trail, a page at a time, and its erasure. */
#include "history_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct history_call {
    history_query_page_cb page;
    history_query_erase_cb erase;
    void *arg;
};

const char *history_query_strerror(int err)
{
    switch (err) {
    case HISTORY_QUERY_OK: return "ok";
    case HISTORY_QUERY_ERR_NOMEM: return "out of memory";
    case HISTORY_QUERY_ERR_INVALID: return "invalid user id, range or limit";
    case HISTORY_QUERY_ERR_DOWN: return "database unavailable";
    case HISTORY_QUERY_ERR_DB: return "database error";
    case HISTORY_QUERY_ERR_CLOSED: return "database connection closed";
    case HISTORY_QUERY_ERR_BUSY: return "database queue full";
    default: return "unknown error";
    }
}

static int from_pg(int err)
{
    switch (err) {
    case PG_CONN_OK: return HISTORY_QUERY_OK;
    case PG_CONN_ERR_NOMEM: return HISTORY_QUERY_ERR_NOMEM;
    case PG_CONN_ERR_INVALID: return HISTORY_QUERY_ERR_INVALID;
    case PG_CONN_ERR_DOWN: return HISTORY_QUERY_ERR_DOWN;
    case PG_CONN_ERR_FULL: return HISTORY_QUERY_ERR_BUSY;
    case PG_CONN_ERR_CLOSED: return HISTORY_QUERY_ERR_CLOSED;
    default: return HISTORY_QUERY_ERR_DB;
    }
}

static int submit(struct pg_conn *pc, const char *sql, int nparams, const char *const *params,
                  pg_conn_cb done, struct history_call proto)
{
    struct history_call *call = malloc(sizeof(*call));
    int rc;

    if (call == NULL)
        return HISTORY_QUERY_ERR_NOMEM;
    *call = proto;
    rc = pg_conn_query(pc, sql, nparams, params, 0, done, call);
    if (rc != 0) {
        free(call);
        return from_pg(rc);
    }
    return 0;
}

static void on_page(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct history_call *call = arg;
    int rc = from_pg(err);
    struct history_point *points = NULL;
    size_t n = 0;

    if (rc == 0 && (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3))
        rc = HISTORY_QUERY_ERR_DB;
    if (rc == 0) {
        int rows = PQntuples(res);

        points = malloc(((size_t)rows + 1) * sizeof(*points));
        if (points == NULL)
            rc = HISTORY_QUERY_ERR_NOMEM;
        for (int i = 0; rc == 0 && i < rows; i++, n++) {
            char *end;

            points[n].ts = strtoll(PQgetvalue(res, i, 0), &end, 10);
            points[n].lat = strtod(PQgetvalue(res, i, 1), NULL);
            points[n].lng = strtod(PQgetvalue(res, i, 2), NULL);
            if (*end != '\0')
                rc = HISTORY_QUERY_ERR_DB;
        }
    }
    if (rc == 0)
        call->page(0, points, n, call->arg);
    else
        call->page(rc, NULL, 0, call->arg);
    free(points);
    free(call);
}

int history_query_page(struct pg_conn *pc, uint64_t user_id, int64_t from_ts, int64_t to_ts,
                       size_t limit, history_query_page_cb cb, void *arg)
{
    char id[24], from[24], to[24], lim[24];

    if (!pc || !cb || user_id == 0 || user_id > (uint64_t)INT64_MAX || from_ts < 0 ||
        to_ts <= from_ts || limit == 0 || limit > HISTORY_QUERY_PAGE_MAX)
        return HISTORY_QUERY_ERR_INVALID;
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    snprintf(from, sizeof from, "%" PRId64, from_ts);
    snprintf(to, sizeof to, "%" PRId64, to_ts);
    snprintf(lim, sizeof lim, "%zu", limit);
    /* float8 text output round-trips (extra_float_digits defaults to 1 in 12+). */
    return submit(pc,
                  "SELECT ts, lat, lng FROM history_page($1::bigint, $2::bigint, $3::bigint,"
                  " $4::integer)",
                  4, (const char *const[]){id, from, to, lim}, on_page,
                  (struct history_call){.page = cb, .arg = arg});
}

static void on_erase(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct history_call *call = arg;
    int rc = from_pg(err);
    uint64_t rows = 0;

    if (rc == 0 && (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
                    PQnfields(res) != 1))
        rc = HISTORY_QUERY_ERR_DB;
    if (rc == 0)
        rows = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    call->erase(rc, rows, call->arg);
    free(call);
}

int history_query_erase(struct pg_conn *pc, uint64_t user_id, history_query_erase_cb cb,
                        void *arg)
{
    char id[24];

    if (!pc || !cb || user_id == 0 || user_id > (uint64_t)INT64_MAX)
        return HISTORY_QUERY_ERR_INVALID;
    snprintf(id, sizeof id, "%" PRIu64, user_id);
    return submit(pc, "SELECT history_erase($1::bigint)", 1,
                  (const char *const[]){id}, on_erase,
                  (struct history_call){.erase = cb, .arg = arg});
}
