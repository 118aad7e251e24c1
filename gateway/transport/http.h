/* http.h: the gateway's one listening port: HTTP/1.1 requests and WebSocket connections on a libevent loop.
 *
 * Transport only: nothing here knows about msgpack, tokens or friends. The
 * server accepts TCP connections and reads each one as HTTP/1.1 requests
 * (proto/ws_handshake.h parses the heads). A plain request is handed to
 * on_request once its body (Content-Length only) is complete; a valid
 * WebSocket upgrade on any path is handed to on_ws_open, which accepts it or
 * names the HTTP status that refuses it. An accepted connection then carries
 * RFC 6455 frames (proto/ws_frame.h): on_ws_message gets each complete data
 * message, on_ws_close says the WebSocket is over.
 *
 * Plain HTTP. Keep-alive per HTTP/1.1 (HTTP/1.0 only with "Connection:
 * keep-alive"), one request at a time: the next request is not read until
 * the handler has called http_reply(). A head over WS_HS_HEAD_MAX (8 KiB)
 * gets 431, a body over HTTP_BODY_MAX 413, Transfer-Encoding 411, anything
 * malformed 400 (or the status ws_handshake_status() names); each of these
 * closes the connection. A connection with no request in progress for
 * http_idle_ms (default 30 s) is closed; so is one whose next request has not
 * fully arrived by then.
 *
 * WebSocket. Pings are answered with pongs by the server; pongs are ignored.
 * A close frame from the peer is echoed with its code and ends the
 * WebSocket. A frame or message over max_message closes with 1009 as soon as
 * its header is in; other protocol errors close with ws_err_close_code()
 * (1002, 1007). Outgoing frames are appended to the connection's output
 * buffer and written once the current loop round is over, so many sends in
 * one round become one writev (sendmsg with MSG_NOSIGNAL: no SIGPIPE). The
 * output buffer has no cap: the owner watches http_ws_pending() for a phone
 * that does not keep up, and coalesces or closes it. After any close the server shuts down its
 * side, drains what the peer still sends and closes the socket when the peer
 * does, or after close_wait_ms (default 2 s).
 *
 * Callbacks run on the loop, one at a time. From inside any callback a
 * handler may call http_reply, http_ws_send, http_ws_close, http_conn_* on
 * any connection, including the current one; it must not call
 * http_server_free (call it from outside the callbacks, e.g. a timer).
 *
 * Ownership. The server owns every struct http_conn. A connection handed to
 * on_ws_open is valid until on_ws_close for it has returned (on_ws_close runs
 * exactly once per accepted WebSocket, and only for one that on_ws_open
 * accepted; not for a refused one). A connection handed to on_request is
 * valid until the handler's http_reply() for it; the server keeps it, even
 * if the peer has gone, until then. After http_server_free() no callback
 * runs and no connection pointer is valid: an owner with replies still
 * outstanding (e.g. database queries in flight) cancels them first.
 * Pointers in struct http_request and the message given to on_ws_message are
 * borrowed for the duration of the callback.
 *
 * Functions that return int give 0 on success or a negative HTTP_ERR_*.
 */
#ifndef NEARBY_HTTP_H
#define NEARBY_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http_server;
struct http_conn;

#define HTTP_BODY_MAX (64u * 1024)           /* largest request body accepted */
#define HTTP_IDLE_MS_DEFAULT 30000u
#define HTTP_CLOSE_WAIT_MS_DEFAULT 2000u

enum http_err {
    HTTP_OK = 0,
    HTTP_ERR_CLOSING = -1, /* the connection is closing or is not an open WebSocket */
    HTTP_ERR_NOMEM = -2,
    HTTP_ERR_INVALID = -3, /* bad argument */
};

/* One request head, all borrowed from the connection's input: valid only
 * during the callback. Absent headers are NULL with length 0. */
struct http_request {
    const char *method; size_t method_len;
    const char *path; size_t path_len;       /* before the first '?', not decoded */
    const char *query; size_t query_len;     /* after the first '?'; NULL if none */
    const char *host; size_t host_len;
    const char *authorization; size_t authorization_len;
    const char *origin; size_t origin_len;
    const uint8_t *body; size_t body_len;    /* NULL/0 without a body */
};

struct http_callbacks {
    /* A plain (non-upgrade) request, body complete. The handler calls
     * http_reply(c, ...) exactly once, now or later; the connection reads no
     * further request until then. */
    void (*on_request)(void *arg, struct http_conn *c, const struct http_request *req);
    /* A valid WebSocket upgrade on any path. Returns 0 to accept (the 101 goes
     * out; the handler may already http_ws_send or http_ws_close here), or an
     * HTTP status 400..599 to refuse with it (e.g. 403 for a foreign Origin,
     * 404 for a path that is not /ws, 503 while draining); anything else
     * refuses with 500. Frames sent before refusing are dropped. */
    int (*on_ws_open)(void *arg, struct http_conn *c, const struct http_request *req);
    /* One complete data message: fragments assembled, text validated as
     * UTF-8. msg is borrowed for the call; binary is 1 for binary, 0 for
     * text. */
    void (*on_ws_message)(void *arg, struct http_conn *c, const uint8_t *msg, size_t len,
                          int binary);
    /* The WebSocket is over: the peer's close code when the peer closed (1005
     * if its close frame had none), the code the server sent when it closed
     * (http_ws_close, a protocol error, a timeout), 1006 when the connection
     * dropped without a close frame. The last callback for c; c must not be
     * used once it returns. */
    void (*on_ws_close)(void *arg, struct http_conn *c, unsigned code);
    /* Once after http_ws_notify_drained(c): everything queued for c has gone
     * to the kernel. May be NULL. */
    void (*on_ws_drained)(void *arg, struct http_conn *c);
};

/* Counters since http_server_new, for /metrics and tests. */
struct http_server_stats {
    uint64_t accepted;        /* TCP connections accepted */
    uint64_t requests;        /* plain requests handed to on_request */
    uint64_t ws_opened;       /* upgrades accepted */
    uint64_t ws_refused;      /* upgrades refused by on_ws_open */
    uint64_t bad_requests;    /* heads answered with an error status */
    uint64_t ws_errors;       /* WebSockets closed for a protocol error */
    uint64_t messages_in;     /* data messages given to on_ws_message */
    uint64_t frames_out;      /* frames queued by http_ws_send */
    uint64_t read_calls;      /* read(2) calls */
    uint64_t write_calls;     /* writev(2) calls */
    uint64_t bytes_in;
    uint64_t bytes_out;
};

/* Binds listen_host_port ("127.0.0.1:8080", "[::1]:8080", ":8080" for every
 * IPv4 address; numeric only; port 0 picks a free port) with SO_REUSEADDR
 * and a backlog of 4096, and serves it on base. cb and arg are copied /
 * borrowed (arg is passed back to every callback). max_message bounds a
 * WebSocket message (and so each frame); 0 means PROTO_FRAME_MAX (4096).
 * Returns the server, or NULL with a reason in errbuf (if not NULL) when the
 * address is bad, binding fails or memory runs out. */
struct http_server *http_server_new(struct event_base *base, const char *listen_host_port,
                                    const struct http_callbacks *cb, void *arg,
                                    size_t max_message, char *errbuf, size_t errlen);

/* Changes the timeouts: http_idle_ms for a plain connection between
 * requests, ws_idle_ms for a WebSocket with no bytes received (0: never; the
 * default), close_wait_ms for a closing connection to finish. 0 for
 * http_idle_ms or close_wait_ms keeps the current value. Applies to timers
 * started from now on. */
void http_server_set_timeouts(struct http_server *s, unsigned http_idle_ms,
                              unsigned ws_idle_ms, unsigned close_wait_ms);

/* Returns the bound TCP port (useful after binding port 0). */
unsigned http_server_port(const struct http_server *s);

/* Closes the listening socket; existing connections live on (SIGTERM
 * drain). Idempotent. */
void http_server_stop_listening(struct http_server *s);

/* Closes every connection and the listener and frees the server; no
 * callback runs, not even on_ws_close. NULL is a no-op. Not from inside a
 * callback of this server. */
void http_server_free(struct http_server *s);

/* Returns the number of open connections (plain, WebSocket and closing). */
size_t http_server_connections(const struct http_server *s);

/* Copies the counters to *out. */
void http_server_get_stats(const struct http_server *s, struct http_server_stats *out);

/* Answers the request c was handed to on_request with: the status line,
 * Content-Type when content_type is not NULL, Content-Length, and
 * "Connection: close" when the connection will not be kept (the client asked,
 * HTTP/1.0, or the peer has already shut its side). body is copied. A HEAD
 * request gets the headers only. Calling it for a connection with no request
 * outstanding does nothing. If the peer has gone meanwhile, the reply is
 * dropped and c is freed. */
void http_reply(struct http_conn *c, int status, const char *content_type, const char *body,
                size_t len);

/* Queues one binary frame carrying payload[0..len) (copied) on an open
 * WebSocket. Returns 0, or HTTP_ERR_CLOSING when c is not an open WebSocket
 * (closing, closed, a plain connection), or HTTP_ERR_NOMEM. */
int http_ws_send(struct http_conn *c, const uint8_t *payload, size_t len);

/* Starts the close handshake: queues a close frame with code (an invalid code
 * becomes 1000) and reason (NUL-terminated, NULL for none; cut to fit 123
 * bytes), then reads only the peer's close frame; on_ws_close(code) runs when
 * it comes, or after close_wait_ms. Does nothing when c is not an open
 * WebSocket. */
void http_ws_close(struct http_conn *c, unsigned code, const char *reason);

/* Returns the bytes queued on c and not yet written to the socket. */
size_t http_ws_pending(const struct http_conn *c);

/* Asks for one on_ws_drained call once c's queued output is all written
 * (a slow reader catching up). */
void http_ws_notify_drained(struct http_conn *c);

/* Attaches the owner's pointer to c (NULL at first) and returns it. */
void http_conn_set_data(struct http_conn *c, void *data);
void *http_conn_data(const struct http_conn *c);

/* Returns the peer's address as "1.2.3.4:5678" or "[::1]:5678", for logs;
 * owned by c. */
const char *http_conn_peer(const struct http_conn *c);

#endif
