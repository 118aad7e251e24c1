/* history.h: the location history writer: a bounded in-memory queue flushed to PostgreSQL in COPY batches.
 *
 * history_push only copies the row into a preallocated ring buffer: no I/O, no
 * allocation, never blocks. A flush takes up to flush_rows of the oldest rows
 * and writes them with one "COPY location_history FROM STDIN" (text format)
 * over the pg_conn; it starts every flush_interval_ms, and at once when
 * flush_rows are waiting. Rows leave the queue only when their COPY has
 * committed, so while PostgreSQL is down or slow they stay queued and are
 * written after it returns, in order.
 *
 * When the queue holds capacity rows, history_push refuses the NEW row and
 * counts it in dropped (chosen over dropping the oldest: the oldest may be in
 * a COPY in flight, and an outage that long loses the same number of rows
 * either way).
 *
 * Delivery is at least once: if the connection dies after PostgreSQL
 * committed a COPY but before the reply arrived, that batch is written again
 * (location_history deliberately has no key; see schema/003).
 *
 * Ownership: the event_base and pg_conn are borrowed; free the history before
 * the pg_conn.
 */
#ifndef NEARBY_HISTORY_H
#define NEARBY_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "pg_conn.h"

enum history_err {
    HISTORY_OK = 0,
    HISTORY_ERR_NOMEM = -1,
    HISTORY_ERR_INVALID = -2, /* a row the table would refuse (id, ts, NaN, range) */
    HISTORY_ERR_FULL = -3,    /* the queue is full: the row was dropped and counted */
    HISTORY_ERR_TIMEOUT = -4, /* history_flush_and_wait: rows still queued at the deadline */
};

/* Zero fields take the defaults given. */
struct history_options {
    size_t capacity;       /* rows the queue holds; default 100000 */
    size_t flush_rows;     /* rows per COPY, and the count that starts one early; default 5000 */
    int flush_interval_ms; /* a flush starts at least this often; default 1000 */
};

/* Counters for /metrics; all but queued only grow. */
struct history_stats {
    uint64_t queued;       /* rows waiting now (including a COPY in flight) */
    uint64_t pushed;       /* rows accepted by history_push */
    uint64_t written;      /* rows committed to location_history */
    uint64_t dropped;      /* rows refused because the queue was full */
    uint64_t rejected;     /* rows refused as invalid */
    uint64_t batches;      /* COPY batches committed */
    uint64_t flush_errors; /* COPY batches that failed (rows kept and retried) */
    uint64_t forgotten;    /* rows dropped by history_forget */
};

struct history;

/* Creates the writer and starts its flush timer. Returns NULL when out of
 * memory or given no base/pg_conn. */
struct history *history_new(struct event_base *base, struct pg_conn *pc,
                            const struct history_options *opt);

/* Stops writing; queued rows are lost (call history_flush_and_wait first to keep them).
 * A COPY in flight is abandoned (pg_conn_forget). NULL is a no-op. */
void history_free(struct history *h);

/* Queues one row. Returns 0, HISTORY_ERR_INVALID (user_id 0 or above
 * 2^63-1, ts_ms < 0, lat/lng not finite or out of range) or HISTORY_ERR_FULL
 * (dropped and counted). Never blocks, never allocates. */
int history_push(struct history *h, uint64_t user_id, double lat, double lng, int64_t ts_ms);

/* Drops the queued rows of user_id (who erased their history), except those
 * of a COPY already in flight, which the caller's erase must catch after it.
 * Returns how many were dropped. */
size_t history_forget(struct history *h, uint64_t user_id);

/* For shutdown: runs the event loop (it must not be running already: call
 * after event_base_loopbreak/loopexit) flushing back to back until the queue
 * is empty or timeout_ms has passed. Returns 0 when everything was written,
 * HISTORY_ERR_TIMEOUT otherwise (the rows stay queued). */
int history_flush_and_wait(struct history *h, int timeout_ms);

/* Copies the counters into *out. */
void history_get_stats(const struct history *h, struct history_stats *out);

#endif
