/* history.c: ring buffer of location rows, written to location_history with one COPY per batch. */
#include "history.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest text row: two 20-digit integers, two %.17g doubles (at most 24
 * characters each), three tabs and a newline, rounded up. */
#define HISTORY_ROW_TEXT_MAX 96
#define HISTORY_DRAIN_POLL_MS 20

static const char history_copy_sql[] =
    "COPY location_history (user_id, ts, lat, lng) FROM STDIN";

struct history_row {
    uint64_t user_id;
    int64_t ts_ms;
    double lat;
    double lng;
};

struct history {
    struct event_base *base;  /* ref: owned by the caller */
    struct pg_conn *pc;       /* ref: owned by the caller, outlives us */
    struct history_options opt;
    struct history_row *rows; /* ring of opt.capacity rows */
    size_t head;              /* oldest row */
    size_t count;             /* rows in the ring, the batch in flight included */
    size_t inflight;          /* the oldest rows being written now; 0 when idle */
    char *text;               /* COPY text of the batch in flight */
    bool kicked;              /* ev_kick is active */
    bool draining;            /* history_flush_and_wait: flush back to back */
    struct event *ev_tick;
    struct event *ev_kick;
    struct history_stats stats;
};

static void history_flush(struct history *h);

/* The COPY of the oldest h->inflight rows finished. */
static void history_on_copy(struct pg_conn *pc, int err, PGresult *res, void *arg)
{
    struct history *h = arg;
    size_t n = h->inflight;
    h->inflight = 0;
    if (err == 0) {
        h->head = (h->head + n) % h->opt.capacity;
        h->count -= n;
        h->stats.written += n;
        h->stats.batches++;
        /* A backlog (after an outage) goes out batch after batch. */
        if (h->count >= h->opt.flush_rows || (h->draining && h->count > 0))
            history_flush(h);
    } else {
        h->stats.flush_errors++; /* rows stay; the next tick retries */
    }
}

/* Starts a COPY of up to flush_rows of the oldest rows, unless one is in
 * flight, nothing is queued, or PostgreSQL is not reachable right now. */
static void history_flush(struct history *h)
{
    if (h->inflight || h->count == 0 || !pg_conn_healthy(h->pc))
        return;
    size_t n = h->count < h->opt.flush_rows ? h->count : h->opt.flush_rows;
    size_t len = 0;
    size_t i = h->head;
    for (size_t k = 0; k < n; k++) {
        const struct history_row *r = &h->rows[i];
        int w = snprintf(h->text + len, HISTORY_ROW_TEXT_MAX, "%" PRIu64 "\t%" PRId64
                         "\t%.17g\t%.17g\n", r->user_id, r->ts_ms, r->lat, r->lng);
        len += (size_t)w; /* w < HISTORY_ROW_TEXT_MAX: the fields are validated */
        if (++i == h->opt.capacity)
            i = 0;
    }
    if (pg_conn_copy_in(h->pc, history_copy_sql, h->text, len, history_on_copy, h) != 0) {
        h->stats.flush_errors++;
        return;
    }
    h->inflight = n;
}

static void history_on_tick(evutil_socket_t fd, short what, void *arg)
{
    history_flush(arg);
}

static void history_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct history *h = arg;
    h->kicked = false;
    history_flush(h);
}

struct history *history_new(struct event_base *base, struct pg_conn *pc,
                            const struct history_options *opt)
{
    if (!base || !pc)
        return NULL;
    struct history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->base = base;
    h->pc = pc;
    if (opt)
        h->opt = *opt;
    if (h->opt.capacity == 0)
        h->opt.capacity = 100000;
    if (h->opt.flush_rows == 0)
        h->opt.flush_rows = 5000;
    if (h->opt.flush_rows > h->opt.capacity)
        h->opt.flush_rows = h->opt.capacity;
    if (h->opt.flush_interval_ms <= 0)
        h->opt.flush_interval_ms = 1000;
    h->rows = calloc(h->opt.capacity, sizeof *h->rows);
    h->text = malloc(h->opt.flush_rows * HISTORY_ROW_TEXT_MAX);
    h->ev_tick = event_new(base, -1, EV_PERSIST, history_on_tick, h);
    h->ev_kick = event_new(base, -1, 0, history_on_kick, h);
    struct timeval tv = { .tv_sec = h->opt.flush_interval_ms / 1000,
                          .tv_usec = (h->opt.flush_interval_ms % 1000) * 1000 };
    if (!h->rows || !h->text || !h->ev_tick || !h->ev_kick || event_add(h->ev_tick, &tv) != 0) {
        history_free(h);
        return NULL;
    }
    return h;
}

void history_free(struct history *h)
{
    if (!h)
        return;
    pg_conn_forget(h->pc, h);
    if (h->ev_tick)
        event_free(h->ev_tick);
    if (h->ev_kick)
        event_free(h->ev_kick);
    free(h->rows);
    free(h->text);
    free(h);
}

int history_push(struct history *h, uint64_t user_id, double lat, double lng, int64_t ts_ms)
{
    if (user_id == 0 || user_id > (uint64_t)INT64_MAX || ts_ms < 0 || !isfinite(lat) ||
        !isfinite(lng) || lat < -90.0 || lat > 90.0 || lng < -180.0 || lng > 180.0) {
        h->stats.rejected++;
        return HISTORY_ERR_INVALID;
    }
    if (h->count == h->opt.capacity) {
        h->stats.dropped++;
        return HISTORY_ERR_FULL;
    }
    size_t at = h->head + h->count;
    if (at >= h->opt.capacity)
        at -= h->opt.capacity;
    h->rows[at] = (struct history_row){ user_id, ts_ms, lat, lng };
    h->count++;
    h->stats.pushed++;
    if (!h->kicked && !h->inflight && h->count >= h->opt.flush_rows) {
        h->kicked = true;
        event_active(h->ev_kick, 0, 0);
    }
    return 0;
}

size_t history_forget(struct history *h, uint64_t user_id)
{
    size_t kept = h->inflight, removed;

    /* Compacts the rows after the batch in flight, in order, in place. */
    for (size_t i = h->inflight; i < h->count; i++) {
        struct history_row *row = &h->rows[(h->head + i) % h->opt.capacity];

        if (row->user_id != user_id)
            h->rows[(h->head + kept++) % h->opt.capacity] = *row;
    }
    removed = h->count - kept;
    h->count = kept;
    h->stats.forgotten += removed;
    return removed;
}

static int64_t history_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int history_flush_and_wait(struct history *h, int timeout_ms)
{
    /* The poll timer both retries while PostgreSQL reconnects and bounds each
     * loop round, so the deadline is checked at least every poll period. */
    struct event *poll = event_new(h->base, -1, EV_PERSIST, history_on_tick, h);
    if (!poll)
        return HISTORY_ERR_NOMEM;
    struct timeval tv = { .tv_sec = 0, .tv_usec = HISTORY_DRAIN_POLL_MS * 1000 };
    event_add(poll, &tv);
    int64_t deadline = history_now_ms() + timeout_ms;
    h->draining = true;
    history_flush(h);
    while (h->count > 0 && history_now_ms() < deadline)
        event_base_loop(h->base, EVLOOP_ONCE);
    h->draining = false;
    event_free(poll);
    return h->count == 0 ? 0 : HISTORY_ERR_TIMEOUT;
}

void history_get_stats(const struct history *h, struct history_stats *out)
{
    if (!h || !out)
        return;
    *out = h->stats;
    out->queued = h->count;
}
