/* pg_pool.h: a gateway's few PostgreSQL connections, with each kind of work on connections of its own, so that session starts never wait behind REST calls or a history COPY.
 *
 * A pool holds 2 to 4 pg_conns (pg_conn.h), all to the same conninfo. Work
 * comes in three kinds, and each kind has its connections:
 *
 *     size   session starts   REST calls   history COPY
 *      2          #0              #1            #1
 *      3          #0              #1            #2
 *      4        #0, #1            #2            #3
 *
 * so a flood of REST calls fills only the REST connection's queue, and a
 * COPY of thousands of rows holds only its own connection, while the friend
 * lists and consent reads that start sessions go on. (One shared queue in
 * front of every connection would not do: a few slow REST statements would
 * hold them all.) pg_pool_conn() returns, among the kind's connections, the
 * healthy one with the fewest requests waiting; callers then use pg_conn's
 * API on it as before (friends_db.h, history.h, history_query.h), and a
 * request stays on the connection it was given.
 *
 * The session connections' queues are bounded by session_queue: past it
 * pg_conn refuses with PG_CONN_ERR_FULL, which the gateway answers with
 * `err busy` rather than letting the queue (and every phone's wait) grow.
 * The others keep opt->max_queue.
 *
 * Ownership: the pool owns its connections; the event_base is borrowed and
 * must outlive the pool. Free users of a connection (the history writer)
 * before the pool.
 */
#ifndef NEARBY_PG_POOL_H
#define NEARBY_PG_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "pg_conn.h"

#define PG_POOL_MIN 2
#define PG_POOL_MAX 4

enum pg_pool_kind {
    PG_POOL_SESSION, /* friend lists and consent reads: what a session start waits for */
    PG_POOL_REST,    /* the /v1 API */
    PG_POOL_HISTORY, /* the history writer's COPY */
};

struct pg_pool;

/* Makes size (PG_POOL_MIN..PG_POOL_MAX) connections with opt, each starting
 * to connect at once; session_queue (0: opt's max_queue) bounds the queues
 * of the session connections. Returns NULL when out of memory, for a size
 * out of range, or when opt has no conninfo. */
struct pg_pool *pg_pool_new(struct event_base *base, const struct pg_conn_options *opt,
                            unsigned size, size_t session_queue);

/* Frees every connection (pending requests get PG_CONN_ERR_CLOSED). NULL is
 * a no-op. */
void pg_pool_free(struct pg_pool *pool);

/* Returns the connection for the next request of kind: among the kind's,
 * the healthy one with the fewest requests waiting (the first when none is
 * healthy). Never NULL for a pool. */
struct pg_conn *pg_pool_conn(struct pg_pool *pool, enum pg_pool_kind kind);

/* pg_conn_forget(arg) on every connection of kind. */
void pg_pool_forget(struct pg_pool *pool, enum pg_pool_kind kind, void *arg);

/* Requests waiting on the connections of kind. */
size_t pg_pool_queued(const struct pg_pool *pool, enum pg_pool_kind kind);

/* True when every connection is up (for /healthz). */
bool pg_pool_healthy(const struct pg_pool *pool);

/* The error of the first connection that is not up, or "" when all are. */
const char *pg_pool_errstr(const struct pg_pool *pool);

#endif
