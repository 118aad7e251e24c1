/* pg_conn.c: libpq in non-blocking mode driven by libevent: connect, reconnect with backoff, one request at a time. */
#include "pg_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define PG_CONN_COPY_CHUNK (64 * 1024)

enum pg_state {
    PG_STATE_BACKOFF,    /* waiting for the retry timer; requests refused */
    PG_STATE_CONNECTING, /* PQconnectPoll in progress */
    PG_STATE_READY,      /* connected; requests are sent */
};

enum pg_req_kind { PG_REQ_PARAMS, PG_REQ_COPY };

struct pg_request {
    struct pg_request *next;
    enum pg_req_kind kind;
    void *block;            /* owned: the parameter array, sql and the parameter strings */
    const char *sql;        /* into block */
    int nparams;
    const char **params;    /* into block; NULL entries are SQL NULL */
    int result_format;
    const char *copy_data;  /* ref: owned by the submitter until the callback */
    size_t copy_len;
    size_t copy_off;
    bool copy_sending;      /* PGRES_COPY_IN seen, data or the end not yet queued */
    bool copy_ended;
    pg_conn_cb cb;          /* NULL once forgotten */
    void *arg;
};

struct pg_conn {
    struct event_base *base; /* ref: owned by the caller */
    char *conninfo;
    struct pg_conn_options opt;
    PGconn *conn;
    enum pg_state state;
    struct event *ev_io;     /* connect poll (one-shot) or, when ready, persistent EV_READ */
    struct event *ev_write;  /* when ready: one-shot EV_WRITE while libpq holds unsent output */
    struct event *ev_timer;  /* backoff, connect timeout or request timeout, by state */
    struct event *ev_kick;   /* starts the next request outside the submitter's call */
    unsigned attempts;       /* failures since the last success, for the backoff */
    uint64_t rng;
    struct pg_request *head; /* head is in flight when busy */
    struct pg_request *tail;
    size_t queued;
    bool busy;
    PGresult *result;        /* kept for the request in flight */
    bool result_is_error;
    int depth;               /* callbacks of ours on the stack */
    bool dead;               /* pg_conn_free was called */
    struct pg_conn_stats stats;
    char errstr[512];
};

static void pg_conn_on_connect_io(evutil_socket_t fd, short what, void *arg);
static void pg_conn_on_io(evutil_socket_t fd, short what, void *arg);
static void pg_conn_start_next(struct pg_conn *pc);

/* Formats the error text, dropping the trailing newline libpq messages carry. */
static void pg_conn_set_err(struct pg_conn *pc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pg_conn_set_err(struct pg_conn *pc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pc->errstr, sizeof pc->errstr, fmt, ap);
    va_end(ap);
    size_t n = strlen(pc->errstr);
    while (n > 0 && (pc->errstr[n - 1] == '\n' || pc->errstr[n - 1] == ' '))
        pc->errstr[--n] = '\0';
    /* One line for logs and /healthz: libpq's hints come on lines of their own. */
    for (char *p = pc->errstr; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

static struct timeval pg_conn_tv(int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

/* xorshift64*: jitter only, no need for anything stronger. */
static uint64_t pg_conn_random(struct pg_conn *pc)
{
    pc->rng ^= pc->rng >> 12;
    pc->rng ^= pc->rng << 25;
    pc->rng ^= pc->rng >> 27;
    return pc->rng * 2685821657736338717ULL;
}

static void pg_conn_request_free(struct pg_request *req)
{
    if (!req)
        return;
    free(req->block);
    free(req);
}

/* Runs one request's callback (if not forgotten) and frees the request. */
static void pg_conn_complete(struct pg_conn *pc, struct pg_request *req, int err, PGresult *res)
{
    if (err == 0)
        pc->stats.requests_ok++;
    else
        pc->stats.requests_failed++;
    if (req->cb) {
        pc->depth++;
        req->cb(pc, err, res, req->arg);
        pc->depth--;
    }
    PQclear(res);
    pg_conn_request_free(req);
}

static struct pg_request *pg_conn_pop(struct pg_conn *pc)
{
    struct pg_request *req = pc->head;
    if (!req)
        return NULL;
    pc->head = req->next;
    if (!pc->head)
        pc->tail = NULL;
    pc->queued--;
    req->next = NULL;
    return req;
}

/* Fails every waiting request (not the one in flight) with err. Stops early if
 * a callback frees the connection; the rest are failed when it is destroyed. */
static void pg_conn_fail_queued(struct pg_conn *pc, int err)
{
    while (pc->head && !(pc->dead && err != PG_CONN_ERR_CLOSED))
        pg_conn_complete(pc, pg_conn_pop(pc), err, NULL);
}

/* Closes the libpq connection and its events; the state is left to the caller. */
static void pg_conn_close_socket(struct pg_conn *pc)
{
    if (pc->ev_io) {
        event_free(pc->ev_io);
        pc->ev_io = NULL;
    }
    if (pc->ev_write) {
        event_free(pc->ev_write);
        pc->ev_write = NULL;
    }
    if (pc->conn) {
        PQfinish(pc->conn);
        pc->conn = NULL;
    }
    PQclear(pc->result);
    pc->result = NULL;
    pc->result_is_error = false;
}

static void pg_conn_schedule_retry(struct pg_conn *pc)
{
    int lo = pc->opt.backoff_min_ms;
    long long span = lo;
    for (unsigned i = 0; i < pc->attempts && span < pc->opt.backoff_max_ms; i++)
        span *= 2;
    if (span > pc->opt.backoff_max_ms)
        span = pc->opt.backoff_max_ms;
    if (pc->attempts < 64)
        pc->attempts++;
    /* Equal jitter: half fixed, half random, so a fleet of gateways that lost
     * the same server does not come back in lockstep. */
    int delay = (int)(span / 2 + (long long)(pg_conn_random(pc) % (uint64_t)(span / 2 + 1)));
    struct timeval tv = pg_conn_tv(delay);
    pc->state = PG_STATE_BACKOFF;
    event_add(pc->ev_timer, &tv);
}

/* The connection is unusable: close it, fail the request in flight with
 * inflight_err and the queued ones with PG_CONN_ERR_DOWN, and retry later.
 * pc->errstr must already say why. */
static void pg_conn_drop(struct pg_conn *pc, int inflight_err)
{
    bool was_ready = pc->state == PG_STATE_READY;
    pg_conn_close_socket(pc);
    event_del(pc->ev_timer);
    if (was_ready)
        pc->stats.disconnects++;
    else
        pc->stats.connect_failures++;
    pg_conn_schedule_retry(pc); /* state BACKOFF before callbacks: they may resubmit */
    if (pc->busy) {
        pc->busy = false;
        pg_conn_complete(pc, pg_conn_pop(pc), inflight_err, NULL);
    }
    pg_conn_fail_queued(pc, PG_CONN_ERR_DOWN);
}

/* Watches the socket for what PQconnectPoll asked; the socket may change between calls. */
static int pg_conn_watch_connect(struct pg_conn *pc, short what)
{
    if (pc->ev_io)
        event_free(pc->ev_io);
    pc->ev_io = event_new(pc->base, PQsocket(pc->conn), what, pg_conn_on_connect_io, pc);
    if (!pc->ev_io || event_add(pc->ev_io, NULL) != 0) {
        pg_conn_set_err(pc, "cannot watch the postgres socket");
        return -1;
    }
    return 0;
}

static void pg_conn_start_connect(struct pg_conn *pc)
{
    pc->conn = PQconnectStart(pc->conninfo);
    if (!pc->conn) {
        pg_conn_set_err(pc, "connect: out of memory");
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        return;
    }
    if (PQstatus(pc->conn) == CONNECTION_BAD) {
        pg_conn_set_err(pc, "connect: %s", PQerrorMessage(pc->conn));
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        return;
    }
    pc->state = PG_STATE_CONNECTING;
    struct timeval tv = pg_conn_tv(pc->opt.connect_timeout_ms);
    event_add(pc->ev_timer, &tv);
    /* Per libpq: start as if PQconnectPoll had asked for writability. */
    if (pg_conn_watch_connect(pc, EV_WRITE) != 0)
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
}

/* Connected: switch to non-blocking mode and the steady-state events. */
static void pg_conn_became_ready(struct pg_conn *pc)
{
    event_del(pc->ev_timer);
    if (pc->ev_io) {
        event_free(pc->ev_io);
        pc->ev_io = NULL;
    }
    evutil_socket_t fd = PQsocket(pc->conn);
    if (PQsetnonblocking(pc->conn, 1) != 0) {
        pg_conn_set_err(pc, "PQsetnonblocking: %s", PQerrorMessage(pc->conn));
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        return;
    }
    pc->ev_io = event_new(pc->base, fd, EV_READ | EV_PERSIST, pg_conn_on_io, pc);
    pc->ev_write = event_new(pc->base, fd, EV_WRITE, pg_conn_on_io, pc);
    if (!pc->ev_io || !pc->ev_write || event_add(pc->ev_io, NULL) != 0) {
        pg_conn_set_err(pc, "cannot watch the postgres socket");
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        return;
    }
    pc->state = PG_STATE_READY;
    pc->attempts = 0;
    pc->stats.connects++;
    pg_conn_start_next(pc);
}

static void pg_conn_destroy(struct pg_conn *pc)
{
    pc->depth++; /* callbacks below may call pg_conn_free again: a no-op */
    if (pc->busy) {
        pc->busy = false;
        pg_conn_complete(pc, pg_conn_pop(pc), PG_CONN_ERR_CLOSED, NULL);
    }
    pg_conn_fail_queued(pc, PG_CONN_ERR_CLOSED);
    pg_conn_close_socket(pc);
    if (pc->ev_timer)
        event_free(pc->ev_timer);
    if (pc->ev_kick)
        event_free(pc->ev_kick);
    free(pc->conninfo);
    free(pc);
}

/* Called at the end of every event callback of ours: releases a connection
 * freed from inside one of the user callbacks it ran. Returns true if gone. */
static bool pg_conn_leave(struct pg_conn *pc)
{
    pc->depth--;
    if (pc->dead && pc->depth == 0) {
        pg_conn_destroy(pc);
        return true;
    }
    return false;
}

static void pg_conn_on_connect_io(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *pc = arg;
    pc->depth++;
    switch (PQconnectPoll(pc->conn)) {
    case PGRES_POLLING_READING:
        if (pg_conn_watch_connect(pc, EV_READ) != 0)
            pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        break;
    case PGRES_POLLING_WRITING:
        if (pg_conn_watch_connect(pc, EV_WRITE) != 0)
            pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        break;
    case PGRES_POLLING_OK:
        pg_conn_became_ready(pc);
        break;
    default:
        pg_conn_set_err(pc, "connect: %s", PQerrorMessage(pc->conn));
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        break;
    }
    pg_conn_leave(pc);
}

/* Hands the rest of the COPY data, then its end, to libpq. Returns 0 (done or
 * waiting for room) or -1 when the connection failed. */
static int pg_conn_send_copy(struct pg_conn *pc, struct pg_request *req)
{
    while (req->copy_off < req->copy_len) {
        size_t n = req->copy_len - req->copy_off;
        if (n > PG_CONN_COPY_CHUNK)
            n = PG_CONN_COPY_CHUNK;
        int r = PQputCopyData(pc->conn, req->copy_data + req->copy_off, (int)n);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        req->copy_off += n;
    }
    if (!req->copy_ended) {
        int r = PQputCopyEnd(pc->conn, NULL);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        req->copy_ended = true;
        req->copy_sending = false;
    }
    return 0;
}

/* Keeps the result worth handing to the callback: the first error, else the
 * last result with rows, else the last one. */
static void pg_conn_keep_result(struct pg_conn *pc, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    bool is_error = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
    if (pc->result_is_error) {
        PQclear(res);
        return;
    }
    if (is_error) {
        pg_conn_set_err(pc, "%s", PQresultErrorMessage(res));
        PQclear(pc->result);
        pc->result = res;
        pc->result_is_error = true;
        return;
    }
    if (pc->result && PQresultStatus(pc->result) == PGRES_TUPLES_OK && st != PGRES_TUPLES_OK) {
        PQclear(res);
        return;
    }
    PQclear(pc->result);
    pc->result = res;
}

/* The request in flight got its last result. */
static void pg_conn_finish_request(struct pg_conn *pc)
{
    event_del(pc->ev_timer);
    pc->busy = false;
    struct pg_request *req = pg_conn_pop(pc);
    PGresult *res = pc->result;
    int err = pc->result_is_error ? PG_CONN_ERR_QUERY : 0;
    pc->result = NULL;
    pc->result_is_error = false;
    /* A script must leave no transaction open; if one is, the session state
     * is unknown, so start over on a fresh connection. */
    bool stuck = PQtransactionStatus(pc->conn) != PQTRANS_IDLE;
    pg_conn_complete(pc, req, err, res);
    if (pc->dead)
        return;
    if (stuck && pc->state == PG_STATE_READY && !pc->busy) {
        pg_conn_set_err(pc, "a request left a transaction open; reconnecting");
        pg_conn_drop(pc, PG_CONN_ERR_LOST);
        return;
    }
    pg_conn_start_next(pc);
}

/* Moves the request in flight forward as far as it can without blocking:
 * sends COPY data, flushes, reads results. */
static void pg_conn_drive(struct pg_conn *pc)
{
    while (pc->state == PG_STATE_READY && pc->busy && !pc->dead) {
        struct pg_request *req = pc->head;
        if (req->copy_sending && pg_conn_send_copy(pc, req) != 0) {
            pg_conn_set_err(pc, "copy: %s", PQerrorMessage(pc->conn));
            pg_conn_drop(pc, PG_CONN_ERR_LOST);
            return;
        }
        int f = PQflush(pc->conn);
        if (f < 0) {
            pg_conn_set_err(pc, "send: %s", PQerrorMessage(pc->conn));
            pg_conn_drop(pc, PG_CONN_ERR_LOST);
            return;
        }
        if (f > 0) {
            event_add(pc->ev_write, NULL);
            if (req->copy_sending)
                return; /* no room: wait for EV_WRITE (or EV_READ) */
        } else if (req->copy_sending) {
            continue; /* the buffer drained: queue more data */
        }
        /* Everything is sent (or being flushed): read what has arrived. */
        bool copy_started = false;
        while (!PQisBusy(pc->conn)) {
            PGresult *res = PQgetResult(pc->conn);
            if (!res) {
                pg_conn_finish_request(pc);
                return;
            }
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_COPY_IN) {
                PQclear(res);
                if (req->kind != PG_REQ_COPY || req->copy_ended) {
                    pg_conn_set_err(pc, "unexpected COPY FROM STDIN");
                    pg_conn_drop(pc, PG_CONN_ERR_LOST);
                    return;
                }
                req->copy_sending = true;
                copy_started = true;
                break;
            }
            if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
                PQclear(res);
                pg_conn_set_err(pc, "COPY TO STDOUT is not supported");
                pg_conn_drop(pc, PG_CONN_ERR_LOST);
                return;
            }
            pg_conn_keep_result(pc, res);
        }
        if (!copy_started)
            return; /* wait for more input */
    }
}

static void pg_conn_on_io(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *pc = arg;
    pc->depth++;
    if ((what & EV_READ) && PQconsumeInput(pc->conn) == 0) {
        pg_conn_set_err(pc, "connection lost: %s", PQerrorMessage(pc->conn));
        pg_conn_drop(pc, PG_CONN_ERR_LOST);
    } else if (pc->busy) {
        pg_conn_drive(pc);
    } else {
        /* Idle: drop notices/notifications nobody asked for. */
        while (!PQisBusy(pc->conn)) {
            PGresult *res = PQgetResult(pc->conn);
            if (!res)
                break;
            PQclear(res);
        }
    }
    pg_conn_leave(pc);
}

static void pg_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *pc = arg;
    pc->depth++;
    switch (pc->state) {
    case PG_STATE_BACKOFF:
        pg_conn_start_connect(pc);
        break;
    case PG_STATE_CONNECTING:
        pg_conn_set_err(pc, "connect: timed out after %d ms", pc->opt.connect_timeout_ms);
        pg_conn_drop(pc, PG_CONN_ERR_DOWN);
        break;
    case PG_STATE_READY:
        if (pc->busy) {
            pg_conn_set_err(pc, "request timed out after %d ms", pc->opt.request_timeout_ms);
            pg_conn_drop(pc, PG_CONN_ERR_TIMEOUT);
        }
        break;
    }
    pg_conn_leave(pc);
}

static void pg_conn_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *pc = arg;
    pc->depth++;
    pg_conn_start_next(pc);
    pg_conn_leave(pc);
}

/* Sends the request at the head of the queue if nothing is in flight. */
static void pg_conn_start_next(struct pg_conn *pc)
{
    if (pc->dead || pc->state != PG_STATE_READY || pc->busy || !pc->head)
        return;
    struct pg_request *req = pc->head;
    int ok = PQsendQueryParams(pc->conn, req->sql, req->nparams, NULL, req->params, NULL,
                               NULL, req->result_format);

    pc->busy = true;
    if (!ok) {
        pg_conn_set_err(pc, "send: %s", PQerrorMessage(pc->conn));
        pg_conn_drop(pc, PG_CONN_ERR_LOST);
        return;
    }
    if (pc->opt.request_timeout_ms > 0) {
        struct timeval tv = pg_conn_tv(pc->opt.request_timeout_ms);
        event_add(pc->ev_timer, &tv);
    }
    pg_conn_drive(pc);
}

struct pg_conn *pg_conn_new(struct event_base *base, const struct pg_conn_options *opt)
{
    if (!base || !opt || !opt->conninfo)
        return NULL;
    struct pg_conn *pc = calloc(1, sizeof *pc);
    if (!pc)
        return NULL;
    pc->base = base;
    pc->opt = *opt;
    if (pc->opt.connect_timeout_ms <= 0)
        pc->opt.connect_timeout_ms = 5000;
    if (pc->opt.request_timeout_ms == 0)
        pc->opt.request_timeout_ms = 30000;
    if (pc->opt.backoff_min_ms <= 0)
        pc->opt.backoff_min_ms = 100;
    if (pc->opt.backoff_max_ms < pc->opt.backoff_min_ms)
        pc->opt.backoff_max_ms = pc->opt.backoff_min_ms > 5000 ? pc->opt.backoff_min_ms : 5000;
    if (pc->opt.max_queue == 0)
        pc->opt.max_queue = 10000;
    struct timeval now;
    gettimeofday(&now, NULL);
    pc->rng = ((uint64_t)now.tv_sec << 20) ^ (uint64_t)now.tv_usec ^ (uint64_t)(uintptr_t)pc;
    if (pc->rng == 0)
        pc->rng = 0x9e3779b97f4a7c15ULL;
    pc->conninfo = strdup(opt->conninfo);
    pc->opt.conninfo = pc->conninfo;
    pc->ev_timer = event_new(base, -1, 0, pg_conn_on_timer, pc);
    pc->ev_kick = event_new(base, -1, 0, pg_conn_on_kick, pc);
    if (!pc->conninfo || !pc->ev_timer || !pc->ev_kick) {
        pg_conn_destroy(pc);
        return NULL;
    }
    pc->depth++;
    pg_conn_start_connect(pc);
    pc->depth--;
    return pc;
}

void pg_conn_free(struct pg_conn *pc)
{
    if (!pc || pc->dead)
        return;
    pc->dead = true;
    if (pc->depth == 0)
        pg_conn_destroy(pc);
}

/* Copies sql and the parameters into one block and appends the request. */
static int pg_conn_submit(struct pg_conn *pc, enum pg_req_kind kind, const char *sql,
                          int nparams, const char *const *params, int result_format,
                          const char *data, size_t len, pg_conn_cb cb, void *arg)
{
    if (!pc || !sql || !cb || nparams < 0 || (nparams > 0 && !params))
        return PG_CONN_ERR_INVALID;
    if (pc->dead)
        return PG_CONN_ERR_CLOSED;
    if (pc->state == PG_STATE_BACKOFF)
        return PG_CONN_ERR_DOWN;
    if (pc->queued >= pc->opt.max_queue)
        return PG_CONN_ERR_FULL;
    size_t sql_len = strlen(sql) + 1;
    size_t size = sql_len + (size_t)nparams * sizeof(char *);
    for (int i = 0; i < nparams; i++)
        size += params[i] ? strlen(params[i]) + 1 : 0;
    struct pg_request *req = calloc(1, sizeof *req);
    char *block = malloc(size);
    if (!req || !block) {
        free(req);
        free(block);
        return PG_CONN_ERR_NOMEM;
    }
    /* The pointer array first keeps it aligned. */
    req->block = block;
    req->params = nparams > 0 ? (const char **)(void *)block : NULL;
    char *p = block + (size_t)nparams * sizeof(char *);
    memcpy(p, sql, sql_len);
    req->sql = p;
    p += sql_len;
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            req->params[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(p, params[i], n);
        req->params[i] = p;
        p += n;
    }
    req->kind = kind;
    req->nparams = nparams;
    req->result_format = result_format;
    req->copy_data = data;
    req->copy_len = len;
    req->cb = cb;
    req->arg = arg;
    if (pc->tail)
        pc->tail->next = req;
    else
        pc->head = req;
    pc->tail = req;
    pc->queued++;
    if (pc->state == PG_STATE_READY && !pc->busy)
        event_active(pc->ev_kick, 0, 0);
    return 0;
}

int pg_conn_query(struct pg_conn *pc, const char *sql, int nparams, const char *const *params,
                  int result_format, pg_conn_cb cb, void *arg)
{
    return pg_conn_submit(pc, PG_REQ_PARAMS, sql, nparams, params, result_format != 0, NULL, 0,
                          cb, arg);
}

int pg_conn_copy_in(struct pg_conn *pc, const char *sql, const char *data, size_t len,
                    pg_conn_cb cb, void *arg)
{
    if (!data && len > 0)
        return PG_CONN_ERR_INVALID;
    return pg_conn_submit(pc, PG_REQ_COPY, sql, 0, NULL, 0, data, len, cb, arg);
}

void pg_conn_forget(struct pg_conn *pc, void *arg)
{
    if (!pc)
        return;
    bool reset = false;
    struct pg_request **link = &pc->head;
    pc->tail = NULL;
    while (*link) {
        struct pg_request *req = *link;
        if (req->arg != arg || !req->cb) {
            pc->tail = req;
            link = &req->next;
            continue;
        }
        if (pc->busy && req == pc->head) {
            req->cb = NULL;
            if (req->kind == PG_REQ_COPY && !req->copy_ended)
                reset = true;
            pc->tail = req;
            link = &req->next;
            continue;
        }
        *link = req->next;
        pc->queued--;
        pg_conn_request_free(req);
    }
    if (reset && !pc->dead) {
        pg_conn_set_err(pc, "a COPY was abandoned by its owner; reconnecting");
        pc->depth++;
        pg_conn_drop(pc, PG_CONN_ERR_CLOSED);
        pg_conn_leave(pc);
    }
}

size_t pg_conn_queued(const struct pg_conn *pc)
{
    return pc ? pc->queued : 0;
}

bool pg_conn_healthy(const struct pg_conn *pc)
{
    return pc && !pc->dead && pc->state == PG_STATE_READY;
}

const char *pg_conn_errstr(const struct pg_conn *pc)
{
    return pc ? pc->errstr : "no connection";
}

void pg_conn_get_stats(const struct pg_conn *pc, struct pg_conn_stats *out)
{
    if (pc && out)
        *out = pc->stats;
}
