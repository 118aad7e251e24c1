/* http.c: the gateway's listening port: HTTP/1.1 and RFC 6455 WebSocket connections on libevent. */
#include "http.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "proto.h"
#include "proxy_v2.h"
#include "ratelimit.h"
#include "ws_frame.h"
#include "ws_handshake.h"

/* One read(2) takes up to this much; the bytes are parsed where they land and
 * only an unfinished request or frame is copied to the connection. */
#define HTTP_READ_CHUNK (64u * 1024)
/* A plain connection whose handler has not answered yet stops reading once
 * this much more has arrived (pipelining is not supported, only tolerated). */
#define HTTP_PAUSE_INPUT (WS_HS_HEAD_MAX + HTTP_BODY_MAX)
/* Output vectors handed to one sendmsg(2). */
#define HTTP_WRITE_IOV 64
#define HTTP_ACCEPT_RETRY_MS 100
#define HTTP_DEFAULT_MESSAGE 4096
/* Keepalive probes once the socket has been silent for keepalive_s: this
 * many, this far apart, before the kernel gives up on the peer. */
#define HTTP_KEEPALIVE_INTERVAL_S 10
#define HTTP_KEEPALIVE_PROBES 6

enum conn_state {
    CONN_PROXY,        /* from a trusted proxy: reading its PROXY v2 header */
    CONN_HTTP,         /* reading a request head and body */
    CONN_HTTP_PENDING, /* on_request has the request; waiting for http_reply */
    CONN_WS,           /* open WebSocket */
    CONN_WS_CLOSING,   /* our close frame sent; waiting for the peer's */
    CONN_FLUSH_CLOSE,  /* writing what is queued, then shutting down our side */
    CONN_LINGER,       /* our side shut; discarding input until the peer closes */
};

struct http_conn {
    struct http_server *srv;            /* ref: owner */
    struct http_conn *prev, *next;      /* srv->conns */
    evutil_socket_t fd;
    struct event *ev_read;              /* persistent */
    struct event *ev_write;             /* one-shot: activated to flush, added on EAGAIN */
    struct event *ev_timer;
    struct evbuffer *in;                /* unfinished request or frame only */
    struct evbuffer *out;
    enum conn_state state;
    unsigned busy;                      /* entry points and callbacks on the stack */
    bool dead;                          /* socket closed; freed when idle and no reply is owed */
    bool reply_owed;                    /* on_request has c, http_reply not called yet */
    bool ws_open;                       /* on_ws_open accepted; on_ws_close still owed */
    bool read_paused;
    bool read_eof;
    bool write_scheduled;
    bool notify_drained;                /* call on_ws_drained once out is empty */
    bool keep_alive;                    /* of the request being answered */
    bool http10;
    bool head_method;
    bool trusted_peer;                  /* the socket's peer is a trusted proxy */
    bool admitted;                      /* on_connect served it: on_disconnect owed */
    bool overflow;                      /* a frame passed output_max: reset at once */
    bool ping_sent;                     /* pinged since the peer last sent anything */
    bool served_one;                    /* its first request or upgrade is in */
    uint64_t last_rx_ms;                /* monotonic: when the peer last sent bytes */
    struct ratelimit control;           /* the peer's ping, pong and close frames */
    uint8_t addr[16];                   /* the client's IP; IPv4 as ::ffff:a.b.c.d */
    unsigned head_tries;                /* parses of the current head so far */
    size_t req_total;                   /* head + body of the current request, once known */
    unsigned close_code;                /* the code of the close frame we sent */
    struct ws_message msg;
    uint8_t *assembly;                  /* max_message bytes, made on the first fragment */
    void *data;                         /* ref: the owner's */
    char peer[INET6_ADDRSTRLEN + 10];
};

struct http_server {
    struct event_base *base;            /* ref: caller's */
    struct evconnlistener *listener;
    struct event *ev_accept_retry;
    struct http_callbacks cb;
    void *arg;                          /* ref: caller's */
    size_t max_message;
    unsigned http_idle_ms, close_wait_ms;
    struct http_limits limits;
    struct http_addr_range *trusted;    /* may send PROXY headers */
    size_t trusted_count;
    bool freeing;                       /* http_server_free: no more callbacks */
    unsigned port;
    struct http_conn *conns;            /* every connection not yet freed */
    size_t nconn;                       /* of them, the ones with a socket */
    struct http_server_stats stats;
    uint8_t *scratch;                   /* HTTP_READ_CHUNK bytes shared by all reads */
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

/* --- connection life ------------------------------------------------------ */

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The socket is closing: tells the owner once, if on_connect served it. */
static void conn_disconnected(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (!c->admitted)
        return;
    c->admitted = false;
    if (s->cb.on_disconnect && !s->freeing)
        s->cb.on_disconnect(s->arg, c);
}

static void conn_free(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->dead) {
        conn_disconnected(c);
        evutil_closesocket(c->fd);
        s->nconn--;
    }
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    if (c->ev_timer)
        event_free(c->ev_timer);
    if (c->in)
        evbuffer_free(c->in);
    if (c->out)
        evbuffer_free(c->out);
    free(c->assembly);
    free(c);
}

/* Closes the socket now; the object goes once nothing on the stack and no
 * owed reply needs it (conn_release, http_reply). */
static void conn_kill(struct http_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    event_del(c->ev_read);
    event_del(c->ev_write);
    event_del(c->ev_timer);
    conn_disconnected(c);
    evutil_closesocket(c->fd);
    c->fd = -1;
    c->srv->nconn--;
}

/* Closes the socket with a reset: the peer reads nothing anyway, and the
 * kernel drops what is still queued for it at once. */
static void conn_reset(struct http_conn *c)
{
    struct linger lg = {1, 0};

    if (!c->dead)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    conn_kill(c);
}

/* Serves a connection whose client address is now known, unless on_connect
 * refuses it. Returns true when served; false when it was closed. */
static bool conn_admit(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (s->cb.on_connect && s->cb.on_connect(s->arg, c) != 0) {
        s->stats.refused++;
        conn_kill(c);
        return false;
    }
    c->admitted = true;
    return true;
}

static void conn_hold(struct http_conn *c)
{
    c->busy++;
}

static void conn_release(struct http_conn *c)
{
    if (--c->busy == 0 && c->dead && !c->reply_owed)
        conn_free(c);
}

/* Tells the owner the WebSocket is over, once. */
static void conn_ws_gone(struct http_conn *c, unsigned code)
{
    struct http_server *s = c->srv;

    if (!c->ws_open)
        return;
    c->ws_open = false;
    conn_hold(c);
    if (s->cb.on_ws_close)
        s->cb.on_ws_close(s->arg, c, code);
    c->data = NULL;
    conn_release(c);
}

static void conn_timer(struct http_conn *c, unsigned ms)
{
    if (c->dead)
        return;
    if (ms == 0) {
        event_del(c->ev_timer);
    } else {
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        event_add(c->ev_timer, &tv);
    }
}

static void conn_read_resume(struct http_conn *c)
{
    if (c->read_paused && !c->read_eof && !c->dead) {
        c->read_paused = false;
        event_add(c->ev_read, NULL);
    }
}

/* Flushes the output at the end of this loop round rather than now, so that
 * everything queued meanwhile goes out in one sendmsg. */
static void conn_schedule_write(struct http_conn *c)
{
    if (c->dead || c->write_scheduled)
        return;
    c->write_scheduled = true;
    event_active(c->ev_write, EV_WRITE, 1);
}

/* Enters the end of a connection: write what is queued, shut our side, wait
 * for the peer's FIN (or close_wait_ms). */
static void conn_finish(struct http_conn *c)
{
    if (c->dead)
        return;
    c->state = CONN_FLUSH_CLOSE;
    conn_timer(c, c->srv->close_wait_ms);
    conn_read_resume(c);
    conn_schedule_write(c);
}

/* The socket failed (reset, write error): no handshake is possible. */
static void conn_abort(struct http_conn *c)
{
    conn_ws_gone(c, c->state == CONN_WS_CLOSING ? c->close_code : WS_CLOSE_ABNORMAL);
    conn_kill(c);
}

/* Keeps the first keep bytes of the output and drops the rest. Returns 0 or
 * HTTP_ERR_NOMEM (output then unchanged). */
static int out_truncate(struct http_conn *c, size_t keep)
{
    struct evbuffer *head;
    int rc = HTTP_ERR_NOMEM;

    if (keep == 0) {
        evbuffer_drain(c->out, evbuffer_get_length(c->out));
        return 0;
    }
    head = evbuffer_new();
    if (!head)
        return rc;
    if (evbuffer_remove_buffer(c->out, head, keep) == (int)keep) {
        evbuffer_drain(c->out, evbuffer_get_length(c->out));
        evbuffer_add_buffer(c->out, head);
        rc = 0;
    } else {
        evbuffer_prepend_buffer(c->out, head);
    }
    evbuffer_free(head);
    return rc;
}

/* Puts bytes in front of everything queued after the first keep bytes.
 * Returns 0 or HTTP_ERR_NOMEM. */
static int out_insert(struct http_conn *c, size_t keep, const void *p, size_t len)
{
    struct evbuffer *head;
    int rc = HTTP_ERR_NOMEM;

    if (keep == 0)
        return evbuffer_prepend(c->out, p, len) == 0 ? 0 : HTTP_ERR_NOMEM;
    head = evbuffer_new();
    if (!head)
        return rc;
    if (evbuffer_remove_buffer(c->out, head, keep) == (int)keep &&
        evbuffer_prepend(c->out, p, len) == 0)
        rc = 0;
    evbuffer_prepend_buffer(c->out, head);
    evbuffer_free(head);
    return rc;
}

/* --- HTTP ------------------------------------------------------------------ */

static const char *http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status >= 500 ? "Error" : status >= 400 ? "Client Error" : "Status";
    }
}

/* Queues a body-less response with status and ends the connection. */
static void http_close_with(struct http_conn *c, int status)
{
    evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        status, http_reason(status));
    conn_finish(c);
}

/* Answers a request we refuse to read (oversize body) and ends the connection. */
static void http_fail_status(struct http_conn *c, int status)
{
    c->srv->stats.bad_requests++;
    http_close_with(c, status);
}

/* Queues the answer to a head the parser refused and ends the connection. */
static void http_fail_parse(struct http_conn *c, int err)
{
    char buf[WS_HS_ERROR_RESPONSE_MAX];
    int n = ws_handshake_error_response(err, buf, sizeof buf);

    if (n < 0) {
        http_fail_status(c, 400);
        return;
    }
    c->srv->stats.bad_requests++;
    evbuffer_add(c->out, buf, (size_t)n);
    conn_finish(c);
}

static void http_request_fill(struct http_request *hr, const struct ws_request *req,
                              const uint8_t *body, size_t body_len)
{
    *hr = (struct http_request){
        .method = req->method.ptr, .method_len = req->method.len,
        .path = req->path.ptr, .path_len = req->path.len,
        .query = req->query.ptr, .query_len = req->query.len,
        .host = req->host.ptr, .host_len = req->host.len,
        .authorization = req->authorization.ptr, .authorization_len = req->authorization.len,
        .origin = req->origin.ptr, .origin_len = req->origin.len,
        .body = body_len ? body : NULL, .body_len = body_len,
    };
}

static void ws_idle_arm(struct http_conn *c, uint64_t now);

/* An upgrade the parser found valid: asks on_ws_open, then answers 101 or the
 * refusal. Returns the bytes consumed (the head, or all n when refused). */
static size_t http_upgrade(struct http_conn *c, const struct ws_request *req, size_t head_len,
                           size_t n)
{
    struct http_server *s = c->srv;
    struct http_request hr;
    char resp[WS_HS_RESPONSE_MAX];
    size_t before = evbuffer_get_length(c->out);
    int status = 500;
    int k;

    http_request_fill(&hr, req, NULL, 0);
    c->req_total = 0;
    c->head_tries = 0;
    c->state = CONN_WS;
    c->ws_open = true;
    ws_message_init(&c->msg, NULL, 0);
    conn_timer(c, 0);
    if (s->cb.on_ws_open)
        status = s->cb.on_ws_open(s->arg, c, &hr);
    if (status == 0) {
        k = ws_handshake_response(req->key.ptr, req->key.len, resp, sizeof resp);
        if (k < 0 || out_insert(c, before, resp, (size_t)k) < 0)
            status = 500;
    }
    if (status != 0) {
        /* The owner saw the upgrade but never an open WebSocket. */
        c->ws_open = false;
        c->data = NULL;
        c->state = CONN_HTTP;
        s->stats.ws_refused++;
        if (out_truncate(c, before) < 0) {
            conn_kill(c);
            return n;
        }
        if (status < 400 || status > 599)
            status = 500;
        http_close_with(c, status);
        return n;
    }
    s->stats.ws_opened++;
    c->served_one = true;
    c->last_rx_ms = mono_ms();
    if (c->state == CONN_WS)
        ws_idle_arm(c, c->last_rx_ms);
    conn_schedule_write(c);
    return head_len;
}

/* Reads one request from p[0..n). Returns the bytes it used, 0 when more are
 * needed. Hands complete requests to on_request, upgrades to http_upgrade. */
static size_t http_step(struct http_conn *c, uint8_t *p, size_t n)
{
    struct http_server *s = c->srv;
    struct ws_request req;
    struct http_request hr;
    size_t total;
    int r;

    /* Only a trusted proxy may say where a client is. */
    if (!c->served_one && n >= PROXY_V2_SIGNATURE_LEN &&
        memcmp(p, PROXY_V2_SIGNATURE, PROXY_V2_SIGNATURE_LEN) == 0) {
        s->stats.proxy_untrusted++;
        conn_kill(c);
        return n;
    }
    if (c->req_total) {
        if (n < c->req_total)
            return 0;
    } else {
        /* The parser rescans from the start: try it on the first bytes (to
         * refuse garbage early), then only once the blank line is in. */
        if (c->head_tries > 0 && n < WS_HS_HEAD_MAX && !memmem(p, n, "\r\n\r\n", 4))
            return 0;
        c->head_tries++;
    }
    r = ws_handshake_parse((const char *)p, n, &req);
    if (r == WS_HS_NEED_MORE)
        return 0;
    if (r < 0) {
        http_fail_parse(c, r);
        return n;
    }
    if (req.upgrade)
        return http_upgrade(c, &req, (size_t)r, n);
    if (req.content_length > HTTP_BODY_MAX) {
        http_fail_status(c, 413);
        return n;
    }
    total = (size_t)r + (size_t)req.content_length;
    if (n < total) {
        c->req_total = total;
        return 0;
    }
    c->req_total = 0;
    c->head_tries = 0;
    c->served_one = true;
    http_request_fill(&hr, &req, p + r, (size_t)req.content_length);
    c->state = CONN_HTTP_PENDING;
    c->reply_owed = true;
    c->keep_alive = req.keep_alive;
    c->http10 = req.http_minor == 0;
    c->head_method = req.method.len == 4 && memcmp(req.method.ptr, "HEAD", 4) == 0;
    conn_timer(c, 0);
    s->stats.requests++;
    if (s->cb.on_request)
        s->cb.on_request(s->arg, c, &hr);
    else
        http_reply(c, 404, NULL, NULL, 0);
    return total;
}

void http_reply(struct http_conn *c, int status, const char *content_type, const char *body,
                size_t len)
{
    http_reply_headers(c, status, content_type, NULL, body, len);
}

/* True when headers is NULL, "", or whole header lines: each ends with
 * CRLF, none is empty, and no CR or LF stands anywhere else. */
static bool header_block_ok(const char *headers)
{
    const char *p = headers;

    if (headers == NULL)
        return true;
    while (*p) {
        const char *eol = strchr(p, '\r');
        size_t line = eol ? (size_t)(eol - p) : strlen(p);

        if (eol == NULL || eol[1] != '\n' || line == 0 || memchr(p, '\n', line))
            return false;
        p = eol + 2;
    }
    return true;
}

void http_reply_headers(struct http_conn *c, int status, const char *content_type,
                        const char *headers, const char *body, size_t len)
{
    bool keep, no_body;

    if (!c || !c->reply_owed)
        return;
    c->reply_owed = false;
    if (c->dead) {
        if (c->busy == 0)
            conn_free(c);
        return;
    }
    if (status < 100 || status > 999 || !header_block_ok(headers)) {
        status = 500;
        content_type = NULL;
        headers = NULL;
        len = 0;
    }
    keep = c->keep_alive && !c->read_eof;
    no_body = status < 200 || status == 204 || status == 304;
    evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    if (content_type)
        evbuffer_add_printf(c->out, "Content-Type: %s\r\n", content_type);
    if (headers)
        evbuffer_add(c->out, headers, strlen(headers));
    if (!no_body)
        evbuffer_add_printf(c->out, "Content-Length: %zu\r\n", len);
    if (!keep)
        evbuffer_add(c->out, "Connection: close\r\n", 19);
    else if (c->http10)
        evbuffer_add(c->out, "Connection: keep-alive\r\n", 24);
    evbuffer_add(c->out, "\r\n", 2);
    if (!no_body && !c->head_method && len > 0)
        evbuffer_add(c->out, body, len);
    if (!keep) {
        conn_finish(c);
        return;
    }
    c->state = CONN_HTTP;
    conn_timer(c, c->srv->http_idle_ms);
    conn_read_resume(c);
    /* A request that arrived meanwhile waits in c->in: look at it on the
     * loop, not from inside whatever called us. */
    if (c->busy == 0 && evbuffer_get_length(c->in) > 0)
        event_active(c->ev_read, EV_READ, 1);
    conn_schedule_write(c);
}

/* --- WebSocket ------------------------------------------------------------- */

/* Returns 0 when n more bytes fit within output_max. Otherwise marks c to
 * be reset at the end of the loop round (the peer is not reading: nothing
 * more is read from it or queued for it) and returns HTTP_ERR_FULL. */
static int out_admit(struct http_conn *c, size_t n)
{
    if (c->overflow)
        return HTTP_ERR_FULL;
    if (evbuffer_get_length(c->out) + n <= c->srv->limits.output_max)
        return 0;
    c->overflow = true;
    event_del(c->ev_read);
    /* Even when the write event waits for room that never comes. */
    c->write_scheduled = true;
    event_active(c->ev_write, EV_WRITE, 1);
    return HTTP_ERR_FULL;
}

/* Queues one unmasked frame. Returns 0, HTTP_ERR_FULL (dropped; c will be
 * reset) or HTTP_ERR_NOMEM. */
static int ws_queue(struct http_conn *c, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t hdr[WS_FRAME_HEADER_MAX];
    int h = ws_frame_header(hdr, opcode, 1, len, NULL);

    if (h < 0)
        return HTTP_ERR_INVALID;
    if (out_admit(c, (size_t)h + len) < 0)
        return HTTP_ERR_FULL;
    if (evbuffer_add(c->out, hdr, (size_t)h) < 0 ||
        (len > 0 && evbuffer_add(c->out, payload, len) < 0))
        return HTTP_ERR_NOMEM;
    conn_schedule_write(c);
    return 0;
}

/* Queues a close frame; code 0 sends an empty body. */
static void ws_queue_close(struct http_conn *c, unsigned code, const char *reason)
{
    uint8_t buf[WS_CLOSE_FRAME_MAX];
    int n = ws_close_frame(buf, sizeof buf, code, reason, reason ? strlen(reason) : 0, NULL);

    if (n < 0)
        n = ws_close_frame(buf, sizeof buf, code, NULL, 0, NULL);
    if (n < 0)
        n = ws_close_frame(buf, sizeof buf, WS_CLOSE_NORMAL, NULL, 0, NULL);
    if (n > 0 && out_admit(c, (size_t)n) == 0) {
        evbuffer_add(c->out, buf, (size_t)n);
        conn_schedule_write(c);
    }
}

/* A protocol error (a WS_ERR_*): close with its code without waiting for the
 * peer, whose stream can no longer be read. */
static void ws_fail_with(struct http_conn *c, unsigned code, const char *reason)
{
    if (c->state == CONN_WS) {
        ws_queue_close(c, code, reason);
        c->close_code = code;
    }
    conn_ws_gone(c, c->close_code);
    conn_finish(c);
}

static void ws_fail(struct http_conn *c, int err)
{
    if (c->state == CONN_WS)
        c->srv->stats.ws_errors++;
    ws_fail_with(c, ws_err_close_code(err), ws_strerror(err));
}

static void ws_close_received(struct http_conn *c, const uint8_t *payload, size_t len)
{
    struct ws_close cl;
    int e = ws_close_parse(payload, len, &cl);

    if (e < 0) {
        ws_fail(c, e);
        return;
    }
    if (c->state == CONN_WS) {
        /* Echo the peer's code, as RFC 6455 5.5.1 suggests. */
        ws_queue_close(c, cl.code == WS_CLOSE_NO_STATUS ? 0 : cl.code, NULL);
        conn_ws_gone(c, cl.code);
    } else {
        conn_ws_gone(c, c->close_code);
    }
    conn_finish(c);
}

/* Reads one frame from p[0..n) and acts on it. Returns the bytes used, 0
 * when more are needed, n after an error. */
static size_t ws_step(struct http_conn *c, uint8_t *p, size_t n)
{
    struct http_server *s = c->srv;
    struct ws_frame f;
    struct ws_data d;
    uint8_t *payload;
    int r, m;

    r = ws_frame_parse(p, n, WS_ROLE_SERVER, s->max_message, &f);
    if (r == WS_NEED_MORE)
        return 0;
    if (r < 0) {
        ws_fail(c, r);
        return n;
    }
    payload = p + f.header_len;
    ws_mask(payload, f.payload_len, f.mask, 0);
    if ((f.opcode == WS_OP_PING || f.opcode == WS_OP_PONG || f.opcode == WS_OP_CLOSE) &&
        c->state == CONN_WS && s->limits.control_rate > 0 &&
        !ratelimit_allow(&c->control, mono_ms())) {
        s->stats.control_floods++;
        ws_fail_with(c, WS_CLOSE_POLICY, "too many control frames");
        return n;
    }
    switch (f.opcode) {
    case WS_OP_CLOSE:
        ws_close_received(c, payload, f.payload_len);
        return (size_t)r;
    case WS_OP_PING:
        if (c->state == CONN_WS)
            ws_queue(c, WS_OP_PONG, payload, f.payload_len);
        return (size_t)r;
    case WS_OP_PONG:
        return (size_t)r;
    default:
        break;
    }
    if (c->state != CONN_WS)
        return (size_t)r; /* closing: data is no longer read */
    if (!f.fin && !c->assembly) {
        c->assembly = malloc(s->max_message);
        if (!c->assembly) {
            ws_fail(c, WS_ERR_INVALID); /* 1011: our fault, not the peer's */
            return n;
        }
        ws_message_init(&c->msg, c->assembly, s->max_message);
    }
    m = ws_message_feed(&c->msg, &f, payload, &d);
    if (m < 0) {
        ws_fail(c, m);
        return n;
    }
    if (m == WS_MESSAGE_DONE) {
        s->stats.messages_in++;
        if (s->cb.on_ws_message)
            s->cb.on_ws_message(s->arg, c, d.ptr, d.len, d.opcode == WS_OP_BINARY);
    }
    return (size_t)r;
}

int http_ws_send(struct http_conn *c, const uint8_t *payload, size_t len)
{
    int rc;

    if (!c || (!payload && len > 0))
        return HTTP_ERR_INVALID;
    if (c->dead || c->state != CONN_WS || !c->ws_open)
        return HTTP_ERR_CLOSING;
    if (c->overflow)
        return HTTP_ERR_FULL;
    rc = ws_queue(c, WS_OP_BINARY, payload, len);
    if (rc == 0)
        c->srv->stats.frames_out++;
    return rc;
}

void http_ws_close(struct http_conn *c, unsigned code, const char *reason)
{
    if (!c || c->dead || c->state != CONN_WS || !c->ws_open)
        return;
    if (!ws_close_code_valid(code))
        code = WS_CLOSE_NORMAL;
    ws_queue_close(c, code, reason);
    c->close_code = code;
    c->state = CONN_WS_CLOSING;
    conn_timer(c, c->srv->close_wait_ms);
}

size_t http_ws_pending(const struct http_conn *c)
{
    return c && !c->dead ? evbuffer_get_length(c->out) : 0;
}

void http_ws_notify_drained(struct http_conn *c)
{
    if (c && !c->dead)
        c->notify_drained = true;
}

/* Arms the timer of an open WebSocket for the next thing silence brings:
 * the ping after ws_ping_ms, the close after ws_idle_ms (a pinged peer
 * without a close is looked at again every ws_ping_ms); none when neither
 * is set. Reads touch no timer: the check compares with last_rx_ms. */
static void ws_idle_arm(struct http_conn *c, uint64_t now)
{
    const struct http_limits *l = &c->srv->limits;
    unsigned ping = l->ws_ping_ms && (!l->ws_idle_ms || l->ws_ping_ms < l->ws_idle_ms)
                        ? l->ws_ping_ms : 0;
    uint64_t silent = now - c->last_rx_ms, due = 0;

    if (ping && !c->ping_sent)
        due = ping;
    else if (l->ws_idle_ms)
        due = l->ws_idle_ms;
    else if (ping)
        due = silent + ping;
    conn_timer(c, due == 0 ? 0 : due > silent ? (unsigned)(due - silent) : 1);
}

/* The WebSocket's timer: ping it, or close it, if it has been silent long
 * enough; otherwise look again when it would have been. */
static void ws_idle_check(struct http_conn *c)
{
    struct http_server *s = c->srv;
    const struct http_limits *l = &s->limits;
    uint64_t now = mono_ms(), silent = now - c->last_rx_ms;

    if (l->ws_idle_ms && silent >= l->ws_idle_ms) {
        s->stats.idle_closed++;
        http_ws_close(c, WS_CLOSE_GOING_AWAY, "idle");
        return;
    }
    if (l->ws_ping_ms && !c->ping_sent && silent >= l->ws_ping_ms) {
        c->ping_sent = true;
        s->stats.pings_sent++;
        if (ws_queue(c, WS_OP_PING, NULL, 0) < 0)
            return; /* not reading: reset at the end of the round */
    }
    ws_idle_arm(c, now);
}

/* --- PROXY protocol ------------------------------------------------------- */

/* Writes ip (16 bytes, IPv4 mapped) and port as "1.2.3.4:80" or "[::1]:80". */
static void addr_format(char *out, size_t cap, const uint8_t ip[16], unsigned port)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char host[INET6_ADDRSTRLEN];

    if (memcmp(ip, mapped, 12) == 0) {
        if (!inet_ntop(AF_INET, ip + 12, host, sizeof host))
            strcpy(host, "?");
        snprintf(out, cap, "%s:%u", host, port);
    } else {
        if (!inet_ntop(AF_INET6, ip, host, sizeof host))
            strcpy(host, "?");
        snprintf(out, cap, "[%s]:%u", host, port);
    }
}

/* Reads the PROXY v2 header a trusted proxy must send first. Returns the
 * bytes used, 0 when more are needed, n after closing the connection. */
static size_t proxy_step(struct http_conn *c, uint8_t *p, size_t n)
{
    struct http_server *s = c->srv;
    struct proxy_v2_header h;
    int r = proxy_v2_parse(p, n, &h);

    if (r == PROXY_V2_NEED_MORE)
        return 0;
    if (r < 0) {
        s->stats.proxy_errors++;
        conn_kill(c);
        return n;
    }
    s->stats.proxy_headers++;
    if (h.has_client) {
        memcpy(c->addr, h.client.ip, sizeof c->addr);
        addr_format(c->peer, sizeof c->peer, h.client.ip, h.client.port);
    }
    c->state = CONN_HTTP;
    if (!conn_admit(c))
        return n;
    return (size_t)r;
}

/* --- I/O ------------------------------------------------------------------- */

/* Parses what p[0..n) holds in the connection's current state. Returns the
 * bytes used up (all of them once the connection is closing). */
static size_t conn_process(struct http_conn *c, uint8_t *p, size_t n)
{
    size_t off = 0, r;

    while (!c->dead && !c->overflow && off < n) {
        if (c->state == CONN_PROXY)
            r = proxy_step(c, p + off, n - off);
        else if (c->state == CONN_HTTP)
            r = http_step(c, p + off, n - off);
        else if (c->state == CONN_WS || c->state == CONN_WS_CLOSING)
            r = ws_step(c, p + off, n - off);
        else if (c->state == CONN_HTTP_PENDING)
            break;
        else
            r = n - off;
        if (r == 0)
            break;
        off += r;
    }
    return c->dead || c->overflow ? n : off;
}

/* Takes n new bytes (possibly 0: look at what is buffered again). */
static void conn_feed(struct http_conn *c, uint8_t *data, size_t n)
{
    size_t used, len;
    uint8_t *p;

    if (evbuffer_get_length(c->in) == 0) {
        if (n == 0)
            return;
        /* The common case: parse in the read buffer, keep only the tail. */
        used = conn_process(c, data, n);
        if (!c->dead && used < n)
            evbuffer_add(c->in, data + used, n - used);
    } else {
        if (n > 0)
            evbuffer_add(c->in, data, n);
        len = evbuffer_get_length(c->in);
        p = evbuffer_pullup(c->in, -1);
        if (!p) {
            conn_abort(c);
            return;
        }
        used = conn_process(c, p, len);
        if (!c->dead)
            evbuffer_drain(c->in, used);
    }
    if (!c->dead && c->state == CONN_HTTP_PENDING &&
        evbuffer_get_length(c->in) > HTTP_PAUSE_INPUT && !c->read_paused) {
        c->read_paused = true;
        event_del(c->ev_read);
    }
}

/* The peer shut its side. */
static void conn_eof(struct http_conn *c)
{
    c->read_eof = true;
    event_del(c->ev_read);
    switch (c->state) {
    case CONN_HTTP_PENDING:
        break; /* answer the request, then close */
    case CONN_FLUSH_CLOSE:
        break; /* the write side finishes and closes */
    case CONN_WS_CLOSING:
        conn_ws_gone(c, c->close_code);
        conn_kill(c);
        break;
    default:
        conn_ws_gone(c, WS_CLOSE_ABNORMAL);
        conn_kill(c);
        break;
    }
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    struct http_server *s = c->srv;
    ssize_t n;

    conn_hold(c);
    if (c->state == CONN_FLUSH_CLOSE || c->state == CONN_LINGER) {
        /* Closing: whatever comes is dropped, read only to see the FIN. */
        do {
            n = recv(fd, s->scratch, HTTP_READ_CHUNK, 0);
            if (n > 0) {
                s->stats.read_calls++;
                s->stats.bytes_in += (uint64_t)n;
            }
        } while (n == (ssize_t)HTTP_READ_CHUNK);
        if (n == 0)
            conn_eof(c);
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_kill(c);
    } else {
        n = recv(fd, s->scratch, HTTP_READ_CHUNK, 0);
        if (n > 0) {
            s->stats.read_calls++;
            s->stats.bytes_in += (uint64_t)n;
            /* No timer is touched per read: the idle timer looks at this. */
            c->last_rx_ms = mono_ms();
            c->ping_sent = false;
            conn_feed(c, s->scratch, (size_t)n);
        } else if (n == 0) {
            conn_eof(c);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            conn_feed(c, NULL, 0);
        } else {
            conn_abort(c);
        }
    }
    conn_release(c);
}

/* Writes as much of the output as the socket takes in one sendmsg (no
 * SIGPIPE). Returns the bytes written, or -1 with errno. */
static ssize_t conn_send(struct http_conn *c)
{
    struct evbuffer_iovec vec[HTTP_WRITE_IOV];
    struct iovec iov[HTTP_WRITE_IOV];
    struct msghdr mh;
    ssize_t w;
    int n = evbuffer_peek(c->out, -1, NULL, vec, HTTP_WRITE_IOV);

    if (n > HTTP_WRITE_IOV)
        n = HTTP_WRITE_IOV;
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = vec[i].iov_base;
        iov[i].iov_len = vec[i].iov_len;
    }
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)n;
    w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    c->srv->stats.write_calls++;
    if (w > 0) {
        evbuffer_drain(c->out, (size_t)w);
        c->srv->stats.bytes_out += (uint64_t)w;
    }
    return w;
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;

    conn_hold(c);
    c->write_scheduled = false;
    if (c->overflow && !c->dead) {
        c->srv->stats.output_overflows++;
        conn_ws_gone(c, WS_CLOSE_POLICY);
        conn_reset(c);
    }
    if (!c->dead && evbuffer_get_length(c->out) > 0 && conn_send(c) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_abort(c);
    if (c->dead) {
        /* nothing more to do */
    } else if (evbuffer_get_length(c->out) > 0) {
        c->write_scheduled = true;
        event_add(c->ev_write, NULL);
    } else if (c->notify_drained && c->state == CONN_WS && c->ws_open) {
        c->notify_drained = false;
        if (c->srv->cb.on_ws_drained)
            c->srv->cb.on_ws_drained(c->srv->arg, c);
    } else if (c->state == CONN_FLUSH_CLOSE) {
        if (c->read_eof) {
            conn_kill(c);
        } else {
            shutdown(fd, SHUT_WR);
            c->state = CONN_LINGER;
        }
    }
    conn_release(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;

    conn_hold(c);
    switch (c->state) {
    case CONN_HTTP_PENDING:
        break;
    case CONN_WS:
        ws_idle_check(c);
        break;
    case CONN_WS_CLOSING:
        conn_ws_gone(c, c->close_code);
        conn_kill(c);
        break;
    case CONN_PROXY:
    case CONN_HTTP:
        if (!c->served_one)
            c->srv->stats.handshake_timeouts++;
        conn_kill(c);
        break;
    default:
        conn_kill(c);
        break;
    }
    conn_release(c);
}

/* --- the listener ---------------------------------------------------------- */

/* Sets c's address and its text from the socket's peer. */
static void conn_set_peer(struct http_conn *c, const struct sockaddr *sa)
{
    unsigned port = 0;

    memset(c->addr, 0, sizeof c->addr);
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

        memcpy(c->addr, &a->sin6_addr, 16);
        port = ntohs(a->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

        c->addr[10] = c->addr[11] = 0xff;
        memcpy(c->addr + 12, &a->sin_addr, 4);
        port = ntohs(a->sin_port);
    } else {
        snprintf(c->peer, sizeof c->peer, "?");
        return;
    }
    addr_format(c->peer, sizeof c->peer, c->addr, port);
}

static bool range_match(const struct http_addr_range *r, const uint8_t ip[16])
{
    unsigned full = r->prefix / 8, rest = r->prefix % 8;
    uint8_t mask;

    if (memcmp(r->ip, ip, full) != 0)
        return false;
    if (rest == 0)
        return true;
    mask = (uint8_t)(0xffu << (8 - rest));
    return (r->ip[full] & mask) == (ip[full] & mask);
}

static bool trusted(const struct http_server *s, const uint8_t ip[16])
{
    for (size_t i = 0; i < s->trusted_count; i++)
        if (range_match(&s->trusted[i], ip))
            return true;
    return false;
}

static void set_keepalive(evutil_socket_t fd, unsigned idle_s)
{
    int one = 1, idle = (int)idle_s, intvl = HTTP_KEEPALIVE_INTERVAL_S,
        cnt = HTTP_KEEPALIVE_PROBES;

    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                           int socklen, void *arg)
{
    struct http_server *s = arg;
    struct http_conn *c = calloc(1, sizeof *c);
    int one = 1;

    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->ev_write = event_new(s->base, fd, EV_WRITE, conn_write_cb, c);
    c->ev_timer = evtimer_new(s->base, conn_timer_cb, c);
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconn++;
    s->stats.accepted++;
    if (!c->ev_read || !c->ev_write || !c->ev_timer || !c->in || !c->out ||
        event_add(c->ev_read, NULL) < 0) {
        conn_free(c);
        return;
    }
    /* Frames are small and already coalesced per loop round. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->limits.keepalive_s)
        set_keepalive(fd, s->limits.keepalive_s);
    conn_set_peer(c, sa);
    c->trusted_peer = trusted(s, c->addr);
    c->state = c->trusted_peer ? CONN_PROXY : CONN_HTTP;
    if (s->limits.control_rate > 0)
        ratelimit_init(&c->control, s->limits.control_rate, s->limits.control_burst);
    ws_message_init(&c->msg, NULL, 0);
    conn_timer(c, s->limits.handshake_ms);
    if (!c->trusted_peer && !conn_admit(c))
        conn_free(c);
}

static void http_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;

    if (s->listener)
        evconnlistener_enable(s->listener);
}

/* Out of descriptors or memory: the listening socket stays readable, so stop
 * polling it for a moment instead of spinning. */
static void http_accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct http_server *s = arg;
    struct timeval tv = {0, HTTP_ACCEPT_RETRY_MS * 1000};
    int e = EVUTIL_SOCKET_ERROR();

    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        evconnlistener_disable(l);
        event_add(s->ev_accept_retry, &tv);
    }
}

/* Reads "1.2.3.4:80", "[::1]:80" or ":80" (every IPv4 address); port 0 is
 * allowed. Returns 0 and fills *ss, or -1. */
static int http_parse_addr(const char *text, struct sockaddr_storage *ss, int *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    char *end;
    unsigned long port;

    if (!colon || !colon[1])
        return -1;
    port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return -1;
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof host)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    memset(ss, 0, sizeof *ss);
    if (hlen == 0 || inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (hlen == 0)
            a->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = (int)sizeof *a;
        return 0;
    }
    if (h != text && inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = (int)sizeof *a;
        return 0;
    }
    return -1;
}

struct http_server *http_server_new(struct event_base *base, const char *listen_host_port,
                                    const struct http_callbacks *cb, void *arg,
                                    size_t max_message, char *errbuf, size_t errlen)
{
    struct http_server *s = NULL;
    struct sockaddr_storage ss;
    int sslen = 0;
    const char *why = NULL;

    if (!base || !listen_host_port || !cb) {
        why = "missing argument";
        goto fail;
    }
    if (http_parse_addr(listen_host_port, &ss, &sslen) < 0) {
        why = "bad listen address (want host:port with a numeric host)";
        goto fail;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->scratch = malloc(HTTP_READ_CHUNK))) {
        why = "out of memory";
        goto fail;
    }
    s->base = base;
    s->cb = *cb;
    s->arg = arg;
    s->max_message = max_message ? max_message : HTTP_DEFAULT_MESSAGE;
    if (s->max_message > WS_PAYLOAD_LIMIT_MAX)
        s->max_message = WS_PAYLOAD_LIMIT_MAX;
    s->http_idle_ms = HTTP_IDLE_MS_DEFAULT;
    s->close_wait_ms = HTTP_CLOSE_WAIT_MS_DEFAULT;
    s->limits = (struct http_limits){
        .output_max = HTTP_OUTPUT_MAX_DEFAULT,
        .control_rate = HTTP_CONTROL_RATE_DEFAULT,
        .control_burst = HTTP_CONTROL_BURST_DEFAULT,
        .handshake_ms = HTTP_HANDSHAKE_MS_DEFAULT,
    };
    s->ev_accept_retry = evtimer_new(base, http_accept_retry_cb, s);
    if (!s->ev_accept_retry) {
        why = "out of memory";
        goto fail;
    }
    s->listener = evconnlistener_new_bind(base, http_accept_cb, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                          4096, (struct sockaddr *)&ss, sslen);
    if (!s->listener) {
        why = strerror(errno);
        goto fail;
    }
    evconnlistener_set_error_cb(s->listener, http_accept_error_cb);
    {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        evutil_socket_t lfd = evconnlistener_get_fd(s->listener);

        if (getsockname(lfd, (struct sockaddr *)&bound, &blen) == 0)
            s->port = ntohs(bound.ss_family == AF_INET6
                                ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                : ((struct sockaddr_in *)&bound)->sin_port);
    }
    return s;

fail:
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "http: %s: %s", listen_host_port ? listen_host_port : "(null)",
                 why);
    http_server_free(s);
    return NULL;
}

void http_server_set_timeouts(struct http_server *s, unsigned http_idle_ms, unsigned ws_idle_ms,
                              unsigned close_wait_ms)
{
    if (http_idle_ms)
        s->http_idle_ms = http_idle_ms;
    s->limits.ws_idle_ms = ws_idle_ms;
    if (close_wait_ms)
        s->close_wait_ms = close_wait_ms;
}

void http_server_set_limits(struct http_server *s, const struct http_limits *l)
{
    struct http_limits next = *l;
    struct ratelimit probe;

    if (!next.output_max)
        next.output_max = s->limits.output_max;
    if (!next.control_burst)
        next.control_burst = s->limits.control_burst;
    if (!next.handshake_ms)
        next.handshake_ms = s->limits.handshake_ms;
    /* A rate the bucket cannot hold counts as none. */
    if (next.control_rate > 0 && ratelimit_init(&probe, next.control_rate, next.control_burst) < 0)
        next.control_rate = 0;
    s->limits = next;
}

int http_addr_range_parse(const char *text, struct http_addr_range *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = text ? strchr(text, '/') : NULL;
    size_t hlen = slash ? (size_t)(slash - text) : (text ? strlen(text) : 0);
    struct http_addr_range r;
    unsigned long prefix;
    unsigned max;
    char *end;

    if (!text || hlen == 0 || hlen >= sizeof host)
        return HTTP_ERR_INVALID;
    memcpy(host, text, hlen);
    host[hlen] = 0;
    memset(&r, 0, sizeof r);
    if (inet_pton(AF_INET, host, r.ip + 12) == 1) {
        r.ip[10] = r.ip[11] = 0xff;
        max = 32;
    } else if (inet_pton(AF_INET6, host, r.ip) == 1) {
        max = 128;
    } else {
        return HTTP_ERR_INVALID;
    }
    prefix = max;
    if (slash) {
        if (slash[1] < '0' || slash[1] > '9')
            return HTTP_ERR_INVALID;
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (errno || *end || prefix > max)
            return HTTP_ERR_INVALID;
    }
    r.prefix = (unsigned)prefix + (max == 32 ? 96 : 0);
    *out = r;
    return 0;
}

int http_server_add_trusted_proxy(struct http_server *s, const char *range)
{
    struct http_addr_range r, *grown;

    if (http_addr_range_parse(range, &r) < 0)
        return HTTP_ERR_INVALID;
    grown = realloc(s->trusted, (s->trusted_count + 1) * sizeof *grown);
    if (!grown)
        return HTTP_ERR_NOMEM;
    s->trusted = grown;
    s->trusted[s->trusted_count++] = r;
    return 0;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop_listening(struct http_server *s)
{
    if (s && s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
        event_del(s->ev_accept_retry);
    }
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    s->freeing = true;
    http_server_stop_listening(s);
    while (s->conns)
        conn_free(s->conns);
    if (s->ev_accept_retry)
        event_free(s->ev_accept_retry);
    free(s->trusted);
    free(s->scratch);
    free(s);
}

size_t http_server_connections(const struct http_server *s)
{
    return s ? s->nconn : 0;
}

void http_server_get_stats(const struct http_server *s, struct http_server_stats *out)
{
    *out = s->stats;
}

void http_conn_set_data(struct http_conn *c, void *data)
{
    c->data = data;
}

void *http_conn_data(const struct http_conn *c)
{
    return c->data;
}

const char *http_conn_peer(const struct http_conn *c)
{
    return c->peer;
}

void http_conn_addr(const struct http_conn *c, uint8_t ip[16])
{
    memcpy(ip, c->addr, sizeof c->addr);
}
