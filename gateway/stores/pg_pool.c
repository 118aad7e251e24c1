/* pg_pool.c: a few pg_conns with each kind of work on connections of its own. */
#include "pg_pool.h"

#include <stdlib.h>

struct pg_pool {
    struct pg_conn *conns[PG_POOL_MAX];
    unsigned size;
};

/* The connections of kind in a pool of size: [*first, *first + *count). */
static void lane(unsigned size, enum pg_pool_kind kind, unsigned *first, unsigned *count)
{
    static const unsigned table[PG_POOL_MAX + 1][3][2] = {
        [2] = {{0, 1}, {1, 1}, {1, 1}},
        [3] = {{0, 1}, {1, 1}, {2, 1}},
        [4] = {{0, 2}, {2, 1}, {3, 1}},
    };

    *first = table[size][kind][0];
    *count = table[size][kind][1];
}

struct pg_pool *pg_pool_new(struct event_base *base, const struct pg_conn_options *opt,
                            unsigned size, size_t session_queue)
{
    struct pg_pool *pool;
    unsigned first, count;

    if (!base || !opt || !opt->conninfo || size < PG_POOL_MIN || size > PG_POOL_MAX)
        return NULL;
    pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->size = size;
    lane(size, PG_POOL_SESSION, &first, &count);
    for (unsigned i = 0; i < size; i++) {
        struct pg_conn_options o = *opt;

        if (i >= first && i < first + count && session_queue > 0)
            o.max_queue = session_queue;
        pool->conns[i] = pg_conn_new(base, &o);
        if (!pool->conns[i]) {
            pg_pool_free(pool);
            return NULL;
        }
    }
    return pool;
}

void pg_pool_free(struct pg_pool *pool)
{
    if (!pool)
        return;
    for (unsigned i = 0; i < pool->size; i++)
        pg_conn_free(pool->conns[i]);
    free(pool);
}

struct pg_conn *pg_pool_conn(struct pg_pool *pool, enum pg_pool_kind kind)
{
    unsigned first, count, best;

    lane(pool->size, kind, &first, &count);
    best = first;
    for (unsigned i = first + 1; i < first + count; i++) {
        struct pg_conn *a = pool->conns[i], *b = pool->conns[best];
        bool ha = pg_conn_healthy(a), hb = pg_conn_healthy(b);

        if ((ha && !hb) || (ha == hb && pg_conn_queued(a) < pg_conn_queued(b)))
            best = i;
    }
    return pool->conns[best];
}

void pg_pool_forget(struct pg_pool *pool, enum pg_pool_kind kind, void *arg)
{
    unsigned first, count;

    if (!pool)
        return;
    lane(pool->size, kind, &first, &count);
    for (unsigned i = first; i < first + count; i++)
        pg_conn_forget(pool->conns[i], arg);
}

size_t pg_pool_queued(const struct pg_pool *pool, enum pg_pool_kind kind)
{
    unsigned first, count;
    size_t n = 0;

    lane(pool->size, kind, &first, &count);
    for (unsigned i = first; i < first + count; i++)
        n += pg_conn_queued(pool->conns[i]);
    return n;
}

bool pg_pool_healthy(const struct pg_pool *pool)
{
    for (unsigned i = 0; pool && i < pool->size; i++)
        if (!pg_conn_healthy(pool->conns[i]))
            return false;
    return pool != NULL;
}

const char *pg_pool_errstr(const struct pg_pool *pool)
{
    for (unsigned i = 0; pool && i < pool->size; i++)
        if (!pg_conn_healthy(pool->conns[i]))
            return pg_conn_errstr(pool->conns[i]);
    return pool ? "" : "no pool";
}

