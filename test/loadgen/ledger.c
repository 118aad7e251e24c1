/* ledger.c: per-user ring buffers of published loc ts, and counts over them. */
#include "ledger.h"

#include <stdlib.h>

/* One user's record: the last `kept` ts end just before slot `head`. */
struct ledger_user {
    uint32_t head;
    uint32_t kept;
    uint64_t last_ts;      /* the newest ts ever handed out or published, never lowered */
    uint64_t forgotten_ts; /* the newest ts overwritten by a newer one; 0: none */
};

struct ledger {
    uint32_t users;
    uint32_t depth;
    uint64_t published;
    uint64_t short_counts;
    struct ledger_user *user; /* [users], index = user id - 1 */
    uint64_t *ts;             /* [users * depth] */
};

struct ledger *ledger_new(uint32_t users, uint32_t depth)
{
    struct ledger *l = calloc(1, sizeof(*l));

    if (l == NULL || depth == 0)
        goto fail;
    l->users = users;
    l->depth = depth;
    l->user = calloc(users ? users : 1, sizeof(*l->user));
    l->ts = calloc(users ? (size_t)users * depth : 1, sizeof(*l->ts));
    if (l->user == NULL || l->ts == NULL)
        goto fail;
    return l;
fail:
    ledger_free(l);
    return NULL;
}

void ledger_free(struct ledger *l)
{
    if (l == NULL)
        return;
    free(l->user);
    free(l->ts);
    free(l);
}

/* Returns user's record, or NULL when user is not in 1..users. */
static struct ledger_user *record(const struct ledger *l, uint32_t user)
{
    return user >= 1 && user <= l->users ? &l->user[user - 1] : NULL;
}

/* Returns the i-th kept ts of u (0 = oldest). */
static uint64_t kept_at(const struct ledger *l, const struct ledger_user *u, uint32_t i)
{
    uint32_t slot = (u->head + l->depth - u->kept + i) % l->depth;

    return l->ts[(size_t)(u - l->user) * l->depth + slot];
}

/* Returns how many kept ts of u are <= ts (they are ascending). */
static uint32_t rank(const struct ledger *l, const struct ledger_user *u, uint64_t ts)
{
    uint32_t lo = 0, hi = u->kept;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (kept_at(l, u, mid) <= ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t ledger_next_ts(const struct ledger *l, uint32_t user, uint64_t now_ms)
{
    const struct ledger_user *u = record(l, user);

    return u != NULL && u->last_ts >= now_ms ? u->last_ts + 1 : now_ms;
}

int ledger_publish(struct ledger *l, uint32_t user, uint64_t ts)
{
    struct ledger_user *u = record(l, user);
    uint64_t *slot;

    if (u == NULL)
        return LEDGER_ERR_USER;
    if (u->kept > 0 && ts <= kept_at(l, u, u->kept - 1))
        return LEDGER_ERR_ORDER;
    if (ts <= u->forgotten_ts)
        return LEDGER_ERR_ORDER;
    slot = &l->ts[(size_t)(u - l->user) * l->depth + u->head];
    if (u->kept == l->depth)
        u->forgotten_ts = *slot; /* the oldest, about to be overwritten */
    else
        u->kept++;
    *slot = ts;
    u->head = (u->head + 1) % l->depth;
    if (ts > u->last_ts)
        u->last_ts = ts;
    l->published++;
    return 0;
}

int ledger_retract(struct ledger *l, uint32_t user)
{
    struct ledger_user *u = record(l, user);

    if (u == NULL)
        return LEDGER_ERR_USER;
    if (u->kept == 0)
        return LEDGER_ERR_EMPTY;
    u->head = (u->head + l->depth - 1) % l->depth;
    u->kept--;
    l->published--;
    return 0;
}

uint64_t ledger_count_between(struct ledger *l, uint32_t user, uint64_t after, uint64_t before)
{
    const struct ledger_user *u = record(l, user);
    uint32_t from, to;

    if (u == NULL || before <= after + 1)
        return 0;
    if (u->forgotten_ts > after)
        l->short_counts++; /* some of the forgotten may lie in between */
    from = rank(l, u, after);
    to = rank(l, u, before - 1);
    return to - from;
}

uint64_t ledger_count_after(struct ledger *l, uint32_t user, uint64_t after)
{
    const struct ledger_user *u = record(l, user);

    if (u == NULL)
        return 0;
    if (u->forgotten_ts > after)
        l->short_counts++;
    return u->kept - rank(l, u, after);
}

uint64_t ledger_latest(const struct ledger *l, uint32_t user, uint64_t as_of)
{
    const struct ledger_user *u = record(l, user);
    uint32_t n;

    if (u == NULL)
        return 0;
    n = rank(l, u, as_of);
    if (n > 0)
        return kept_at(l, u, n - 1);
    /* Nothing kept that old: a forgotten ts may be, but which is not known. */
    return u->forgotten_ts <= as_of ? u->forgotten_ts : 0;
}

uint64_t ledger_published(const struct ledger *l)
{
    return l->published;
}

uint64_t ledger_short_counts(const struct ledger *l)
{
    return l->short_counts;
}
