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
 * closes the connection. A connection's first request must be whole within
 * handshake_ms (default 10 s) of the accept; after a reply, a kept-alive
 * connection with no request in progress for http_idle_ms (default 30 s) is
 * closed, and so is one whose next request has not fully arrived by then.
 *
 * WebSocket. Pings are answered with pongs by the server; pongs are ignored.
 * A close frame from the peer is echoed with its code and ends the
 * WebSocket. A frame or message over max_message closes with 1009 as soon as
 * its header is in; other protocol errors close with ws_err_close_code()
 * (1002, 1007). Outgoing frames are appended to the connection's output
 * buffer and written once the current loop round is over, so many sends in
 * one round become one writev (sendmsg with MSG_NOSIGNAL: no SIGPIPE). The
 * owner watches http_ws_pending() for a phone that does not keep up, and
 * coalesces; after any close the server shuts down its side, drains what the
 * peer still sends and closes the socket when the peer does, or after
 * close_wait_ms (default 2 s).
 *
 * Limits (http_server_set_limits), so that no client holds more than a
 * bounded share of the gateway whatever it sends or fails to read:
 *   - Output: every frame queued on a WebSocket (data, pongs, pings, close
 *     frames) counts against output_max. A frame that would take the queue
 *     past it is dropped (HTTP_ERR_FULL), and the connection is reset at the
 *     end of the loop round without a close frame (the peer reads nothing):
 *     on_ws_close(1008), counted in output_overflows. A plain connection
 *     holds at most one reply (requests are read one at a time).
 *   - Control frames from the peer (ping, pong, close) above control_rate a
 *     second (bursts of control_burst) close with 1008, counted in
 *     control_floods.
 *   - Silence: a WebSocket that has sent nothing for ws_ping_ms is pinged
 *     once; after ws_idle_ms of silence it is closed with 1001 (idle_closed).
 *   - The first request head (and a PROXY header before it) must be whole
 *     within handshake_ms of the accept, else the socket is closed
 *     (handshake_timeouts); later requests on a kept-alive connection get
 *     http_idle_ms.
 *   - TCP keepalive probes after keepalive_s of silence on the socket.
 * on_connect may refuse a connection as soon as its client address is known
 * (per-address limits); it is then closed at once, with no answer.
 *
 * PROXY protocol v2 (proto/proxy_v2.h). A connection from an address added
 * with http_server_add_trusted_proxy must start with a PROXY v2 header (a
 * load balancer's); its client address, not the balancer's, is then the
 * connection's address (http_conn_peer, http_conn_addr, on_connect), or the
 * balancer's own for a LOCAL header (its health checks). A connection from a
 * trusted address without a valid header, or whose header is not whole
 * within handshake_ms, is closed (proxy_errors). A PROXY header from any
 * other address is refused (proxy_untrusted): only the balancer may speak
 * for a client.
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
#define HTTP_OUTPUT_MAX_DEFAULT (1u << 20)   /* bytes queued on one WebSocket */
#define HTTP_CONTROL_RATE_DEFAULT 10.0       /* control frames a second from one peer */
#define HTTP_CONTROL_BURST_DEFAULT 10u
#define HTTP_HANDSHAKE_MS_DEFAULT 10000u

enum http_err {
    HTTP_OK = 0,
    HTTP_ERR_CLOSING = -1, /* the connection is closing or is not an open WebSocket */
    HTTP_ERR_NOMEM = -2,
    HTTP_ERR_INVALID = -3, /* bad argument */
    HTTP_ERR_FULL = -4,    /* the frame would pass output_max: dropped, the connection is reset */
};

/* What one connection may cost (see the file comment); http_server_new
 * starts with the defaults noted. */
struct http_limits {
    size_t output_max;      /* bytes queued per WebSocket; HTTP_OUTPUT_MAX_DEFAULT */
    double control_rate;    /* control frames a second from the peer; HTTP_CONTROL_RATE_DEFAULT;
                             * 0: no limit */
    unsigned control_burst; /* HTTP_CONTROL_BURST_DEFAULT */
    unsigned handshake_ms;  /* first request head in by then; HTTP_HANDSHAKE_MS_DEFAULT */
    unsigned ws_ping_ms;    /* ping a WebSocket silent this long; 0: never (default) */
    unsigned ws_idle_ms;    /* close (1001) one silent this long; 0: never (default) */
    unsigned keepalive_s;   /* TCP keepalive idle time; 0: off (default) */
};

/* An address range a trusted proxy may connect from: ip (16 bytes, IPv4 as
 * ::ffff:a.b.c.d) and the number of leading bits that must match. */
struct http_addr_range {
    uint8_t ip[16];
    unsigned prefix; /* 0..128 */
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
    /* A new connection whose client address is known (after its PROXY
     * header, if from a trusted proxy). Returns 0 to serve it, anything else
     * to close it at once, unanswered. May be NULL (every one is served). */
    int (*on_connect)(void *arg, struct http_conn *c);
    /* A connection on_connect served has closed its socket (once, before
     * any freeing; not at http_server_free). It must not call into the
     * server. May be NULL. */
    void (*on_disconnect)(void *arg, struct http_conn *c);
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
    uint64_t refused;            /* connections on_connect refused */
    uint64_t output_overflows;   /* WebSockets reset (1008): a frame would pass output_max */
    uint64_t control_floods;     /* WebSockets closed (1008): control frames above the rate */
    uint64_t pings_sent;         /* pings to WebSockets silent for ws_ping_ms */
    uint64_t idle_closed;        /* WebSockets closed (1001) after ws_idle_ms of silence */
    uint64_t handshake_timeouts; /* connections closed before their first request was in */
    uint64_t proxy_headers;      /* PROXY v2 headers read from trusted peers */
    uint64_t proxy_errors;       /* trusted peers closed for a bad or missing PROXY header */
    uint64_t proxy_untrusted;    /* PROXY headers from peers not trusted, refused */
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

/* Replaces the limits with *l (zero fields of output_max, control_burst
 * and handshake_ms keep their current values). Applies to what happens
 * from now on. */
void http_server_set_limits(struct http_server *s, const struct http_limits *l);

/* Reads "1.2.3.4", "10.0.0.0/8", "::1" or "2001:db8::/32" into *out.
 * Returns 0, or HTTP_ERR_INVALID (out unchanged). */
int http_addr_range_parse(const char *text, struct http_addr_range *out);

/* Trusts connections from range to start with a PROXY v2 header (see the
 * file comment). Returns 0, HTTP_ERR_INVALID for a bad range text, or
 * HTTP_ERR_NOMEM. */
int http_server_add_trusted_proxy(struct http_server *s, const char *range);

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

/* As http_reply, with more header lines after Content-Type: headers is NULL,
 * "", or whole lines such as "Cache-Control: no-store\r\n", each ending
 * with CRLF (copied). A block with a bare CR or LF, an empty line or a last
 * line without CRLF would let a value inject headers: the reply is then a
 * body-less 500 instead. Content-Length and Connection are the server's;
 * do not pass them. */
void http_reply_headers(struct http_conn *c, int status, const char *content_type,
                        const char *headers, const char *body, size_t len);

/* Queues one binary frame carrying payload[0..len) (copied) on an open
 * WebSocket. Returns 0, or HTTP_ERR_CLOSING when c is not an open WebSocket
 * (closing, closed, a plain connection), HTTP_ERR_FULL when the frame would
 * pass output_max (the connection is then reset at the end of the loop
 * round: on_ws_close(1008) follows, not from inside this call), or
 * HTTP_ERR_NOMEM. */
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

/* Returns the client's address as "1.2.3.4:5678" or "[::1]:5678", for logs
 * (the phone's, from a trusted proxy's PROXY header); owned by c. */
const char *http_conn_peer(const struct http_conn *c);

/* Copies the client's IP address (as in http_conn_peer) into ip: IPv6 as
 * is, IPv4 as ::ffff:a.b.c.d. */
void http_conn_addr(const struct http_conn *c, uint8_t ip[16]);

#endif
