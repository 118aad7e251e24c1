/* channel_sync.c: a channel's consent and position read once its subscription is confirmed, in batches: what makes a channel's positions showable.
 *
 * A channel entry is subscribed before anything is read about its user; once
 * every owner has confirmed the subscription, nothing published on it can be
 * missed, so the consent read from PostgreSQL then (and the cached position
 * read with it) is complete: every later change arrives on the channel, and
 * ordering.h merges both in whatever order they come. The same read runs
 * again whenever the channel is confirmed again (moved by a ring change, its
 * subscriber connection back after a cut), which catches up on anything
 * published meanwhile, sharing off included.
 *
 * Users are batched: one PostgreSQL statement and one MGET per
 * FRIENDS_DB_CONSENT_MAX channels queued in a loop round. A read that fails
 * leaves its channels unsynced (hidden: fail closed) and is tried again
 * after a pause.
 */
#include <stdlib.h>
#include <string.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "log.h"
#include "ordering.h"

#define SYNC_RETRY_MS 1000

struct sync_batch {
    struct channel_sync *sync;
    uint64_t *users;
    uint64_t *tickets; /* each user's channel's sync_ticket when queued */
    size_t n;
    int pending; /* replies still to come: PostgreSQL and the cache */
    int pg_err;
    struct friends_db_consent *consent; /* sorted by user */
    size_t consent_n;
    struct location_cache_entry *cached; /* one per user, in order; NULL: none */
    struct sync_batch *next;             /* batches in flight */
};

/* One queued read: the user and the ticket its channel got. */
struct sync_item {
    uint64_t user;
    uint64_t ticket;
};

struct channel_sync {
    struct gateway *gw;          /* ref: owner */
    struct sync_item *queue;
    size_t count, cap;
    uint64_t next_ticket;
    uint64_t *later;             /* failed reads, tried again on the retry timer */
    size_t later_count, later_cap;
    struct event *kick;          /* flushes the queue at the end of the loop round */
    struct event *retry;
    struct sync_batch *inflight;
};

/* Appends user to a list. Returns 0, or -1 when out of memory. */
static int push(uint64_t **list, size_t *count, size_t *cap, uint64_t user)
{
    if (*count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 256;
        uint64_t *grown = realloc(*list, grown_cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        *list = grown;
        *cap = grown_cap;
    }
    (*list)[(*count)++] = user;
    return 0;
}

static int cmp_consent(const void *a, const void *b)
{
    uint64_t x = ((const struct friends_db_consent *)a)->user;
    uint64_t y = ((const struct friends_db_consent *)b)->user;

    return (x > y) - (x < y);
}

static const struct friends_db_consent *find_consent(const struct sync_batch *b, uint64_t user)
{
    size_t lo = 0, hi = b->consent_n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->consent[mid].user < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->consent_n && b->consent[lo].user == user ? &b->consent[lo] : NULL;
}

static void batch_free(struct sync_batch *b)
{
    free(b->users);
    free(b->tickets);
    free(b->consent);
    free(b->cached);
    free(b);
}

/* Both replies are in: the consent first, then the cached position (whose
 * consent version must then not be older), then the channel is synced. */
static void batch_apply(struct sync_batch *b)
{
    struct gateway *gw = b->sync->gw;
    uint64_t now = gateway_now_ms();

    for (size_t i = 0; i < b->n; i++) {
        struct channel *ch = channels_get(gw->channels, b->users[i]);
        const struct friends_db_consent *row = find_consent(b, b->users[i]);
        struct channel_update u = {.kind = CHANNEL_UPDATE_SHARING};
        int was_synced, was_visible;

        /* Gone, or queued again since: a newer read decides. */
        if (ch == NULL || ch->sync_ticket != b->tickets[i])
            continue;
        if (b->pg_err != 0) {
            /* Fail closed: stays hidden (or as live updates leave it). */
            push(&b->sync->later, &b->sync->later_count, &b->sync->later_cap, ch->user);
            continue;
        }
        ch->sync_queued = 0;
        was_synced = ch->synced;
        was_visible = channel_visible(ch);
        /* No row: the account is gone (or never was): off. */
        u.on = row != NULL && row->sharing;
        u.consent = row != NULL ? row->version : 0;
        channel_apply(ch, &u);
        if (b->cached != NULL && b->cached[i].present) {
            const struct location_cache_entry *e = &b->cached[i];
            struct channel_update pos = {.kind = CHANNEL_UPDATE_POSITION, .consent = e->consent,
                                         .lat = e->lat, .lng = e->lng, .ts = e->ts};

            if (channel_apply(ch, &pos) == CHANNEL_MOVED)
                ch->seen_ms = e->ts < now ? e->ts : now;
            else if (e->consent < ch->consent)
                metrics_counter_inc(gw->m.stale);
        }
        ch->synced = 1;
        if (was_visible || channel_visible(ch))
            fanout_notify_watchers(gw, ch);
        /* Confirmed again (after a cut, or moved): a friendship change may
         * have been published meanwhile, so the user's sessions read their
         * friends again too. */
        if (ch->owner_count > 0 && was_synced)
            phones_friends_changed(gw, ch, 0, 0);
    }
    if (b->pg_err != 0 && b->sync->retry != NULL) {
        struct timeval again = {SYNC_RETRY_MS / 1000, (SYNC_RETRY_MS % 1000) * 1000};

        metrics_counter_inc(gw->m.consent_errors);
        LOG_WARN("cannot read the consent of %zu users (%s): they stay hidden; again in %d ms",
                 b->n, friends_db_strerror(b->pg_err), SYNC_RETRY_MS);
        evtimer_add(b->sync->retry, &again);
    }
    phones_synced(gw);
}

static void batch_reply(struct sync_batch *b)
{
    struct channel_sync *sync = b->sync;

    if (--b->pending > 0)
        return;
    for (struct sync_batch **p = &sync->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    batch_apply(b);
    batch_free(b);
}

static void on_consent(int err, const struct friends_db_consent *rows, size_t n, void *arg)
{
    struct sync_batch *b = arg;

    b->pg_err = err;
    if (err == 0 && n > 0) {
        b->consent = malloc(n * sizeof(*rows));
        if (b->consent == NULL) {
            b->pg_err = FRIENDS_DB_ERR_NOMEM;
        } else {
            memcpy(b->consent, rows, n * sizeof(*rows));
            b->consent_n = n;
            qsort(b->consent, n, sizeof(*b->consent), cmp_consent);
        }
    }
    batch_reply(b);
}

static void on_cached(void *arg, int status, const struct location_cache_entry *entries, size_t n)
{
    struct sync_batch *b = arg;

    if (status < 0)
        LOG_WARN("location cache read failed: %s; positions come with the next moves",
                 location_cache_strerror(status));
    /* Entries of a failed chunk are absent: the rest is still good. */
    if (n == b->n) {
        b->cached = malloc(n * sizeof(*entries));
        if (b->cached != NULL)
            memcpy(b->cached, entries, n * sizeof(*entries));
    }
    batch_reply(b);
}

/* Sends one batch of up to FRIENDS_DB_CONSENT_MAX users from the queue. */
static void send_batch(struct channel_sync *sync)
{
    struct gateway *gw = sync->gw;
    size_t n = sync->count < FRIENDS_DB_CONSENT_MAX ? sync->count : FRIENDS_DB_CONSENT_MAX;
    struct sync_batch *b = calloc(1, sizeof(*b));
    int rc;

    if (b != NULL) {
        b->users = malloc(n * sizeof(*b->users));
        b->tickets = malloc(n * sizeof(*b->tickets));
    }
    if (b == NULL || b->users == NULL || b->tickets == NULL) {
        if (b != NULL)
            batch_free(b);
        return; /* the queue stays; the next kick tries again */
    }
    for (size_t i = 0; i < n; i++) {
        b->users[i] = sync->queue[sync->count - n + i].user;
        b->tickets[i] = sync->queue[sync->count - n + i].ticket;
    }
    sync->count -= n;
    b->n = n;
    b->sync = sync;
    b->pending = 2;
    b->next = sync->inflight;
    sync->inflight = b;
    rc = friends_db_consent(pg_pool_conn(gw->pg, PG_POOL_SESSION), b->users, n, on_consent, b);
    if (rc < 0)
        on_consent(rc, NULL, 0, b);
    rc = location_cache_mget(gw->cache, b->users, n, on_cached, b);
    if (rc < 0)
        on_cached(b, rc, NULL, 0);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct channel_sync *sync = arg;

    while (sync->count > 0) {
        size_t before = sync->count;

        send_batch(sync);
        if (sync->count == before)
            break; /* out of memory: leave the rest for the next kick */
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct channel_sync *sync = arg;
    size_t n = sync->later_count;

    sync->later_count = 0;
    for (size_t i = 0; i < n; i++) {
        struct channel *ch = channels_get(sync->gw->channels, sync->later[i]);

        if (ch != NULL) {
            ch->sync_queued = 0;
            channel_sync_queue(sync->gw, ch);
        }
    }
}

void channel_sync_queue(struct gateway *gw, struct channel *ch)
{
    struct channel_sync *sync = gw->sync;

    if (ch->sync_queued)
        return;
    if (sync->count == sync->cap) {
        size_t cap = sync->cap ? sync->cap * 2 : 256;
        struct sync_item *grown = realloc(sync->queue, cap * sizeof(*grown));

        if (grown == NULL) {
            LOG_WARN("out of memory queueing the consent read of user %llu; it stays hidden",
                     (unsigned long long)ch->user);
            return;
        }
        sync->queue = grown;
        sync->cap = cap;
    }
    ch->sync_ticket = ++sync->next_ticket;
    ch->sync_queued = 1;
    sync->queue[sync->count++] = (struct sync_item){ch->user, ch->sync_ticket};
    if (sync->count == 1)
        event_active(sync->kick, 0, 0);
}

struct channel_sync *channel_sync_new(struct gateway *gw)
{
    struct channel_sync *sync = calloc(1, sizeof(*sync));

    if (sync == NULL)
        return NULL;
    sync->gw = gw;
    sync->kick = event_new(gw->base, -1, 0, on_kick, sync);
    sync->retry = evtimer_new(gw->base, on_retry, sync);
    if (sync->kick == NULL || sync->retry == NULL) {
        channel_sync_free(sync);
        return NULL;
    }
    return sync;
}

void channel_sync_free(struct channel_sync *sync)
{
    if (sync == NULL)
        return;
    /* Batches in flight are dropped: PostgreSQL forgets them, and the cache,
     * freed after this without running its loop, drops its MGETs silently. */
    while (sync->inflight != NULL) {
        struct sync_batch *b = sync->inflight;

        sync->inflight = b->next;
        pg_pool_forget(sync->gw->pg, PG_POOL_SESSION, b);
        batch_free(b);
    }
    if (sync->kick)
        event_free(sync->kick);
    if (sync->retry)
        event_free(sync->retry);
    free(sync->queue);
    free(sync->later);
    free(sync);
}
