/* pg_conn.h: one non-blocking PostgreSQL connection on a libevent loop, with reconnects and a request queue.
 *
 * The connection is libpq in non-blocking mode glued to an event_base: it
 * connects with PQconnectStart/PQconnectPoll under a timeout, sends with
 * PQsendQueryParams/PQsendQuery/PQputCopyData, reads with
 * PQconsumeInput/PQisBusy/PQgetResult, and waits for EV_WRITE whenever libpq's
 * output buffer does not drain. Nothing here blocks the loop.
 *
 * Requests are served one at a time in submission order. Each gets exactly one
 * completion callback, never from inside the call that submitted it.
 *
 * Policy while PostgreSQL is down (chosen: fail fast, never pile up):
 *   - While the connection is being (re)established, new requests are queued
 *     (at most max_queue); when the attempt fails or times out they all fail
 *     with PG_CONN_ERR_DOWN.
 *   - Between attempts (backoff), submitting returns PG_CONN_ERR_DOWN at once
 *     and the callback never runs.
 *   - When an established connection dies, the request in flight fails with
 *     PG_CONN_ERR_LOST (it may or may not have been committed: nothing is
 *     retried here) and the queued ones with PG_CONN_ERR_DOWN. Callers that
 *     must not lose work (the history writer) keep it and submit it again.
 *   - A request that runs past request_timeout_ms fails with
 *     PG_CONN_ERR_TIMEOUT and the connection is dropped and re-established
 *     (libpq has no non-blocking cancel before PostgreSQL 17).
 * After an error the next attempt waits an exponential backoff with jitter
 * (between backoff_min_ms and backoff_max_ms); a success resets it.
 *
 * Ownership: the event_base is borrowed and must outlive the connection. The
 * PGresult handed to a callback is borrowed and freed when it returns. Data
 * given to pg_conn_copy_in is borrowed until its callback runs (or until
 * pg_conn_forget). pg_conn_free may be called from inside a callback; the
 * object is then released after the callback returns.
 */
#ifndef NEARBY_PG_CONN_H
#define NEARBY_PG_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

enum pg_conn_err {
    PG_CONN_OK = 0,
    PG_CONN_ERR_NOMEM = -1,   /* out of memory */
    PG_CONN_ERR_INVALID = -2, /* bad argument */
    PG_CONN_ERR_DOWN = -3,    /* not connected: refused or dropped unsent */
    PG_CONN_ERR_LOST = -4,    /* the connection died with the request in flight */
    PG_CONN_ERR_TIMEOUT = -5, /* the request ran past request_timeout_ms */
    PG_CONN_ERR_QUERY = -6,   /* the server reported an error for the request */
    PG_CONN_ERR_CLOSED = -7,  /* pg_conn_free ran before the request finished */
    PG_CONN_ERR_FULL = -8,    /* max_queue requests are waiting already */
};

/* Zero fields take the defaults given. */
struct pg_conn_options {
    const char *conninfo;   /* libpq connection string, copied (required); give a
                             * numeric host or hostaddr: libpq resolves names
                             * with a blocking getaddrinfo in PQconnectStart */
    int connect_timeout_ms; /* one connection attempt; default 5000 */
    int request_timeout_ms; /* one request once sent; default 30000, <0 none */
    int backoff_min_ms;     /* first retry delay; default 100 */
    int backoff_max_ms;     /* cap of the doubling retry delay; default 5000 */
    size_t max_queue;       /* requests waiting, in flight included; default 10000 */
};

struct pg_conn_stats {
    uint64_t connects;        /* connections established */
    uint64_t connect_failures;/* attempts that failed or timed out */
    uint64_t disconnects;     /* established connections lost or dropped */
    uint64_t requests_ok;
    uint64_t requests_failed; /* every callback with err != 0 */
};

struct pg_conn;

/* Completion of one request. err is 0 or a PG_CONN_ERR_*. res is the result
 * of the request (for several statements: the last one that returned rows,
 * else the last one; for a server error: the error result), NULL when there
 * is none (connection errors); it is freed after the callback returns.
 * pg_conn_errstr(pc) says what went wrong when err != 0. */
typedef void (*pg_conn_cb)(struct pg_conn *pc, int err, PGresult *res, void *arg);

/* Creates the connection and starts connecting at once. Returns NULL when out
 * of memory or when opt->conninfo is NULL. */
struct pg_conn *pg_conn_new(struct event_base *base, const struct pg_conn_options *opt);

/* Closes the connection; every request not yet completed gets its callback
 * with PG_CONN_ERR_CLOSED. NULL is a no-op. */
void pg_conn_free(struct pg_conn *pc);

/* Queues one statement with text parameters $1..$n (params[i] may be NULL for
 * SQL NULL; the strings are copied). result_format 0 asks for text results, 1
 * for binary. Returns 0 when queued (cb runs exactly once, later), or
 * PG_CONN_ERR_DOWN / _FULL / _NOMEM / _INVALID / _CLOSED (cb never runs). */
int pg_conn_query(struct pg_conn *pc, const char *sql, int nparams,
                  const char *const *params, int result_format, pg_conn_cb cb, void *arg);

/* Queues "COPY ... FROM STDIN" (sql) and streams len bytes of data (borrowed
 * until the callback) as its input, then ends the COPY. Returns as
 * pg_conn_query. */
int pg_conn_copy_in(struct pg_conn *pc, const char *sql, const char *data, size_t len,
                    pg_conn_cb cb, void *arg);

/* Drops every request whose callback argument is arg without calling its
 * callback, so arg can be freed. If one is in flight and its COPY data is not
 * yet all handed to libpq, the connection is dropped and re-established
 * (other queued requests then fail with PG_CONN_ERR_DOWN). */
void pg_conn_forget(struct pg_conn *pc, void *arg);

/* Returns the requests waiting, the one in flight included. */
size_t pg_conn_queued(const struct pg_conn *pc);

/* True when connected and usable (for /healthz). */
bool pg_conn_healthy(const struct pg_conn *pc);

/* The last error, readable (never NULL; "" when none yet). */
const char *pg_conn_errstr(const struct pg_conn *pc);

/* Copies the counters into *out. */
void pg_conn_get_stats(const struct pg_conn *pc, struct pg_conn_stats *out);

#endif
