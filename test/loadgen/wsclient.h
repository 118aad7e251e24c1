/* wsclient.h: the client side of one WebSocket connection on a libevent loop, for simulated phones.
 *
 * A struct wsclient is made once per phone and reused for every connection
 * that phone makes, so its read and write buffers are allocated once (the
 * read buffer grows only for a frame larger than any before). Per message it
 * allocates nothing: frames are parsed and unmasked in the read buffer and
 * handed to on_message in place, and outgoing frames are appended to the
 * write buffer, which goes out in one send(2) per wsclient_flush().
 *
 * Life of a connection: wsclient_connect() (non-blocking connect, optionally
 * bound to a source address first) -> handshake (the 101 and its accept key
 * are checked) -> on_open -> on_message for every data frame -> on_close
 * exactly once, after which the client is idle and may connect again.
 * on_close is not called for wsclient_abort(). Pings are answered and a
 * server's close frame is echoed before on_close.
 *
 * Callbacks may call wsclient_send/flush/close/abort on their own client but
 * must not free it; free it only outside its callbacks.
 */
#ifndef NEARBY_LOADGEN_WSCLIENT_H
#define NEARBY_LOADGEN_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct wsclient;

enum wsclient_err {
    WSCLIENT_OK = 0,
    WSCLIENT_ERR_NOMEM = -1,
    WSCLIENT_ERR_SOCKET = -2,   /* socket, bind or connect failed; errno says why */
    WSCLIENT_ERR_STATE = -3,    /* not idle (connect) or not open (send) */
    WSCLIENT_ERR_NOSPACE = -4,  /* the write buffer is full: the peer is not reading */
    WSCLIENT_ERR_INVALID = -5,  /* bad argument */
};

/* Why a connection ended, for on_close. */
enum wsclient_end {
    WSCLIENT_END_CLOSED,        /* a close handshake: code is the peer's (1005 if none) */
    WSCLIENT_END_DROPPED,       /* EOF or reset without a close frame */
    WSCLIENT_END_CONNECT,       /* the TCP connect failed */
    WSCLIENT_END_HANDSHAKE,     /* the server's answer was not a valid 101 */
    WSCLIENT_END_PROTOCOL,      /* the server broke RFC 6455 framing */
};

struct wsclient_callbacks {
    void (*on_open)(void *arg);
    /* A whole data message (frames of one message only: fragments are
     * refused as a protocol error, our gateway never sends them). */
    void (*on_message)(void *arg, int opcode, uint8_t *payload, size_t len);
    /* The connection is gone; detail is a static description. */
    void (*on_close)(void *arg, enum wsclient_end end, unsigned code, const char *detail);
};

/* Returns a new idle client, or NULL when out of memory. cb and arg are
 * borrowed for the client's life. */
struct wsclient *wsclient_new(struct event_base *base, const struct wsclient_callbacks *cb,
                              void *arg);

/* Closes any connection without callbacks and frees the client. NULL is a no-op. */
void wsclient_free(struct wsclient *ws);

/* Starts a connection to addr, bound first to src when src is not NULL,
 * asking for path with Host: host; over TLS (wss://) when tls is not NULL,
 * the server's certificate verified for tls_name (tls_io.h; a failed
 * verification ends in on_close with WSCLIENT_END_CONNECT and the reason).
 * tls and tls_name are borrowed until the connection ends. Returns 0
 * (on_open or on_close follows), or WSCLIENT_ERR_STATE / WSCLIENT_ERR_SOCKET
 * / WSCLIENT_ERR_INVALID with the client left idle and no callback to come. */
struct tls_io_ctx;
int wsclient_connect(struct wsclient *ws, const struct sockaddr *addr, socklen_t addr_len,
                     const struct sockaddr *src, socklen_t src_len, const char *host,
                     const char *path, struct tls_io_ctx *tls, const char *tls_name);

/* Appends one masked frame (opcode WS_OP_BINARY, WS_OP_TEXT, ...) to the
 * write buffer. Returns 0, WSCLIENT_ERR_STATE (not open), WSCLIENT_ERR_NOSPACE
 * or WSCLIENT_ERR_INVALID; nothing is appended on failure. */
int wsclient_send(struct wsclient *ws, int opcode, const uint8_t *payload, size_t len);

/* Sends what the write buffer holds, in one send(2); what does not go out
 * waits for the socket to be writable. A failed send ends the connection
 * (on_close with WSCLIENT_END_DROPPED). */
void wsclient_flush(struct wsclient *ws);

/* Starts the close handshake with code: sends the close frame and waits, at
 * most timeout_ms, for the server's close or EOF; on_close follows. A client
 * that is not open is aborted instead, without a callback. */
void wsclient_close(struct wsclient *ws, unsigned code, unsigned timeout_ms);

/* Drops the connection at once without a callback; the client becomes idle. */
void wsclient_abort(struct wsclient *ws);

/* Returns 1 while a connection (or its start) is in progress or open, else 0. */
int wsclient_busy(const struct wsclient *ws);

/* Returns 1 when the handshake is done and no close has started. */
int wsclient_is_open(const struct wsclient *ws);

#endif
