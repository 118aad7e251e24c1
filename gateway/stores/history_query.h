/* history_query.h: what a user may do with their own location history: read a page of it, erase it.
 *
 * Both are one call each of a function of schema/006_roles.sql on a pg_conn
 * (pg_conn.h; the gateway's role may not read or delete history itself):
 * they return 0 when queued (the callback runs exactly once, later) or a
 * negative HISTORY_QUERY_ERR_* (the callback never runs). location_history
 * is partitioned by day (schema/005); both go through every partition by
 * the (user_id, ts) index of each.
 */
#ifndef NEARBY_HISTORY_QUERY_H
#define NEARBY_HISTORY_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "pg_conn.h"

#define HISTORY_QUERY_PAGE_MAX 1000 /* points in one page */

enum history_query_err {
    HISTORY_QUERY_OK = 0,
    HISTORY_QUERY_ERR_NOMEM = -1,
    HISTORY_QUERY_ERR_INVALID = -2, /* bad id, an empty or reversed range, limit 0 or too big */
    HISTORY_QUERY_ERR_DOWN = -3,    /* PostgreSQL unreachable */
    HISTORY_QUERY_ERR_DB = -4,      /* the statement failed or the connection died with it */
    HISTORY_QUERY_ERR_CLOSED = -5,  /* the pg_conn was freed first */
    HISTORY_QUERY_ERR_BUSY = -6,    /* the connection's queue is full: nothing was sent */
};

struct history_point {
    int64_t ts;
    double lat, lng;
};

/* A page: points[0..n) ascending by ts, borrowed for the call. */
typedef void (*history_query_page_cb)(int err, const struct history_point *points, size_t n,
                                      void *arg);

/* An erase: how many rows went. */
typedef void (*history_query_erase_cb)(int err, uint64_t rows, void *arg);

/* The points of user_id with from_ts <= ts < to_ts, oldest first, at most
 * limit (1..HISTORY_QUERY_PAGE_MAX). The next page starts at the last ts + 1. */
int history_query_page(struct pg_conn *pc, uint64_t user_id, int64_t from_ts, int64_t to_ts,
                       size_t limit, history_query_page_cb cb, void *arg);

/* Deletes every point of user_id. */
int history_query_erase(struct pg_conn *pc, uint64_t user_id, history_query_erase_cb cb,
                        void *arg);

const char *history_query_strerror(int err);

#endif
