/* wsclient.c: one client-side WebSocket connection on libevent: connect, handshake, frames in place, close. */
#include "wsclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto_msg.h"
#include "tls_io.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define WSCLIENT_READ_INITIAL 2048 /* a handshake answer and a burst of pushes */
#define WSCLIENT_WRITE_CAP 1024    /* init (token), locs, pongs and a close */
#define WSCLIENT_READ_MAX (PROTO_GATEWAY_FRAME_MAX + WS_FRAME_HEADER_MAX)

enum wsclient_state {
    WSCLIENT_IDLE,
    WSCLIENT_CONNECTING,
    WSCLIENT_TLS, /* the TLS handshake, between the TCP connect and the upgrade */
    WSCLIENT_HANDSHAKE,
    WSCLIENT_OPEN,
    WSCLIENT_CLOSING,
};

struct wsclient {
    struct event_base *base;             /* ref: owned by the caller */
    const struct wsclient_callbacks *cb; /* ref: owned by the caller */
    void *arg;
    int fd;
    SSL *ssl;                  /* NULL: plain ws:// */
    struct tls_io_ctx *tls;    /* ref: the connection's TLS context, or NULL */
    const char *tls_name;      /* ref: the name the certificate must hold */
    enum wsclient_state state;
    unsigned generation; /* bumped at every teardown, so a callback that ends
                            the connection is noticed by the loop that ran it */
    struct event *rev;
    struct event *wev;
    struct event *close_timer;
    uint32_t mask_state; /* xorshift32 for mask keys */
    char key[WS_HS_KEY_LEN + 1];
    uint8_t *rbuf;
    size_t rlen, rcap;
    size_t wlen;
    uint8_t wbuf[WSCLIENT_WRITE_CAP];
};

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_writable(evutil_socket_t fd, short what, void *arg);
static void on_close_timeout(evutil_socket_t fd, short what, void *arg);

struct wsclient *wsclient_new(struct event_base *base, const struct wsclient_callbacks *cb,
                              void *arg)
{
    struct wsclient *ws = calloc(1, sizeof(*ws));

    if (ws == NULL)
        return NULL;
    ws->base = base;
    ws->cb = cb;
    ws->arg = arg;
    ws->fd = -1;
    ws->rbuf = malloc(WSCLIENT_READ_INITIAL);
    ws->rcap = WSCLIENT_READ_INITIAL;
    ws->rev = event_new(base, -1, 0, on_readable, ws);
    ws->wev = event_new(base, -1, 0, on_writable, ws);
    ws->close_timer = evtimer_new(base, on_close_timeout, ws);
    if (ws->rbuf == NULL || ws->rev == NULL || ws->wev == NULL || ws->close_timer == NULL) {
        wsclient_free(ws);
        return NULL;
    }
    return ws;
}

/* Closes the socket and forgets the connection; the client is idle after. */
static void teardown(struct wsclient *ws)
{
    event_del(ws->rev);
    event_del(ws->wev);
    event_del(ws->close_timer);
    SSL_free(ws->ssl);
    ws->ssl = NULL;
    if (ws->fd >= 0)
        close(ws->fd);
    ws->fd = -1;
    ws->state = WSCLIENT_IDLE;
    ws->rlen = 0;
    ws->wlen = 0;
    ws->generation++;
}

void wsclient_free(struct wsclient *ws)
{
    if (ws == NULL)
        return;
    teardown(ws);
    if (ws->rev != NULL)
        event_free(ws->rev);
    if (ws->wev != NULL)
        event_free(ws->wev);
    if (ws->close_timer != NULL)
        event_free(ws->close_timer);
    free(ws->rbuf);
    free(ws);
}

/* Ends the connection and tells the owner (on_close may reconnect or free nothing). */
static void end(struct wsclient *ws, enum wsclient_end why, unsigned code, const char *detail)
{
    teardown(ws);
    ws->cb->on_close(ws->arg, why, code, detail);
}

void wsclient_abort(struct wsclient *ws)
{
    teardown(ws);
}

int wsclient_busy(const struct wsclient *ws)
{
    return ws->state != WSCLIENT_IDLE;
}

int wsclient_is_open(const struct wsclient *ws)
{
    return ws->state == WSCLIENT_OPEN;
}

static void next_mask(struct wsclient *ws, uint8_t mask[4])
{
    uint32_t x = ws->mask_state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ws->mask_state = x;
    memcpy(mask, &x, 4);
}

int wsclient_connect(struct wsclient *ws, const struct sockaddr *addr, socklen_t addr_len,
                     const struct sockaddr *src, socklen_t src_len, const char *host,
                     const char *path, struct tls_io_ctx *tls, const char *tls_name)
{
    uint8_t nonce[16];
    int fd, one = 1, rc;

    if (ws->state != WSCLIENT_IDLE)
        return WSCLIENT_ERR_STATE;
    /* The key only proves the server speaks WebSocket; a short read of the
     * random source is harmless, so its result is not checked further. */
    if (getrandom(nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce))
        for (size_t i = 0; i < sizeof(nonce); i++)
            nonce[i] = (uint8_t)(rand() >> 3);
    ws_handshake_client_key(nonce, ws->key);
    memcpy(&ws->mask_state, nonce, 4);
    ws->mask_state |= 1; /* xorshift must not start at 0 */
    rc = ws_handshake_request((char *)ws->wbuf, sizeof(ws->wbuf), host, path, ws->key, NULL);
    if (rc < 0)
        return WSCLIENT_ERR_INVALID;
    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return WSCLIENT_ERR_SOCKET;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (src != NULL) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        /* Let connect pick the port per destination, so one source address
         * is not limited to one range of ports across all gateways. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        if (bind(fd, src, src_len) < 0) {
            close(fd);
            return WSCLIENT_ERR_SOCKET;
        }
    }
    if (connect(fd, addr, addr_len) < 0 && errno != EINPROGRESS) {
        int saved = errno;

        close(fd);
        errno = saved;
        return WSCLIENT_ERR_SOCKET;
    }
    ws->fd = fd;
    ws->tls = tls;
    ws->tls_name = tls_name;
    ws->wlen = (size_t)rc;
    ws->rlen = 0;
    ws->state = WSCLIENT_CONNECTING;
    event_assign(ws->rev, ws->base, fd, EV_READ | EV_PERSIST, on_readable, ws);
    event_assign(ws->wev, ws->base, fd, EV_WRITE, on_writable, ws);
    event_add(ws->wev, NULL);
    return 0;
}

void wsclient_flush(struct wsclient *ws)
{
    ssize_t n;

    if (ws->wlen == 0 || ws->fd < 0 || ws->state == WSCLIENT_CONNECTING ||
        ws->state == WSCLIENT_TLS)
        return;
    n = tls_io_send(ws->fd, ws->ssl, ws->wbuf, ws->wlen);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            event_add(ws->wev, NULL);
        else
            end(ws, WSCLIENT_END_DROPPED, 0, "send failed");
        return;
    }
    if ((size_t)n < ws->wlen) {
        memmove(ws->wbuf, ws->wbuf + n, ws->wlen - (size_t)n);
        event_add(ws->wev, NULL);
    }
    ws->wlen -= (size_t)n;
}

/* Appends a masked frame whatever the state (the close path needs that). */
static int append_frame(struct wsclient *ws, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t mask[4];
    int hlen;

    if (ws_frame_header_len(len, true) + len > sizeof(ws->wbuf) - ws->wlen)
        return WSCLIENT_ERR_NOSPACE;
    next_mask(ws, mask);
    hlen = ws_frame_header(ws->wbuf + ws->wlen, opcode, 1, len, mask);
    if (hlen < 0)
        return WSCLIENT_ERR_INVALID;
    ws_mask_copy(ws->wbuf + ws->wlen + hlen, payload, len, mask);
    ws->wlen += (size_t)hlen + len;
    return 0;
}

int wsclient_send(struct wsclient *ws, int opcode, const uint8_t *payload, size_t len)
{
    if (ws->state != WSCLIENT_OPEN)
        return WSCLIENT_ERR_STATE;
    return append_frame(ws, opcode, payload, len);
}

void wsclient_close(struct wsclient *ws, unsigned code, unsigned timeout_ms)
{
    uint8_t frame[WS_CLOSE_FRAME_MAX];
    uint8_t mask[4];
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int n;

    if (ws->state == WSCLIENT_CLOSING)
        return;
    if (ws->state != WSCLIENT_OPEN) {
        teardown(ws);
        return;
    }
    next_mask(ws, mask);
    n = ws_close_frame(frame, sizeof(frame), code, NULL, 0, mask);
    if (n < 0 || (size_t)n > sizeof(ws->wbuf) - ws->wlen) {
        teardown(ws);
        return;
    }
    memcpy(ws->wbuf + ws->wlen, frame, (size_t)n);
    ws->wlen += (size_t)n;
    ws->state = WSCLIENT_CLOSING;
    evtimer_add(ws->close_timer, &tv);
    wsclient_flush(ws);
}

static void on_close_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct wsclient *ws = arg;

    end(ws, WSCLIENT_END_DROPPED, 0, "no close from the server in time");
}

/* One step of the TLS handshake, on either event; once done the upgrade
 * request goes out as on a plain connection. */
static void tls_step(struct wsclient *ws)
{
    switch (tls_io_handshake(ws->ssl)) {
    case TLS_IO_DONE:
        ws->state = WSCLIENT_HANDSHAKE;
        event_add(ws->rev, NULL);
        wsclient_flush(ws); /* the request, written at connect */
        return;
    case TLS_IO_WANT_READ:
        event_add(ws->rev, NULL);
        return;
    case TLS_IO_WANT_WRITE:
        event_add(ws->wev, NULL);
        return;
    case TLS_IO_FAILED:
        end(ws, WSCLIENT_END_CONNECT, 0, tls_io_last_error());
        return;
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct wsclient *ws = arg;
    int err = 0;
    socklen_t len = sizeof(err);

    if (ws->state == WSCLIENT_TLS) {
        tls_step(ws);
        return;
    }
    if (ws->state != WSCLIENT_CONNECTING) {
        wsclient_flush(ws);
        return;
    }
    if (getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        end(ws, WSCLIENT_END_CONNECT, 0, strerror(err ? err : errno));
        return;
    }
    if (ws->tls != NULL) {
        ws->ssl = tls_io_new(ws->tls, ws->fd, ws->tls_name);
        if (ws->ssl == NULL) {
            end(ws, WSCLIENT_END_CONNECT, 0, "cannot start TLS");
            return;
        }
        ws->state = WSCLIENT_TLS;
        tls_step(ws);
        return;
    }
    ws->state = WSCLIENT_HANDSHAKE;
    event_add(ws->rev, NULL);
    wsclient_flush(ws); /* the request, written at connect */
}

/* Makes room for need bytes in the read buffer. Returns 0 or -1 (too big, no memory). */
static int reserve(struct wsclient *ws, size_t need)
{
    size_t cap = ws->rcap;
    uint8_t *grown;

    if (need <= cap)
        return 0;
    if (need > WSCLIENT_READ_MAX)
        return -1;
    while (cap < need)
        cap *= 2;
    if (cap > WSCLIENT_READ_MAX)
        cap = WSCLIENT_READ_MAX;
    grown = realloc(ws->rbuf, cap);
    if (grown == NULL)
        return -1;
    ws->rbuf = grown;
    ws->rcap = cap;
    return 0;
}

/* Handles one control frame. Returns 0 to go on, -1 when the connection ended. */
static int control_frame(struct wsclient *ws, const struct ws_frame *f)
{
    struct ws_close close_msg;
    uint8_t body[2];

    switch (f->opcode) {
    case WS_OP_PING:
        if (ws->state == WSCLIENT_OPEN && append_frame(ws, WS_OP_PONG, f->payload,
                                                       f->payload_len) < 0) {
            end(ws, WSCLIENT_END_DROPPED, 0, "write buffer full");
            return -1;
        }
        return 0;
    case WS_OP_PONG:
        return 0;
    default: /* WS_OP_CLOSE */
        if (ws_close_parse(f->payload, f->payload_len, &close_msg) < 0) {
            end(ws, WSCLIENT_END_PROTOCOL, 0, "malformed close frame");
            return -1;
        }
        if (ws->state == WSCLIENT_OPEN) {
            /* Echo the code (RFC 6455 5.5.1), then hang up; no reply is awaited. */
            body[0] = (uint8_t)(close_msg.code >> 8);
            body[1] = (uint8_t)close_msg.code;
            append_frame(ws, WS_OP_CLOSE, body,
                         close_msg.code == WS_CLOSE_NO_STATUS ? 0 : sizeof(body));
            wsclient_flush(ws);
        }
        end(ws, WSCLIENT_END_CLOSED, close_msg.code, "close frame");
        return -1;
    }
}

/* Parses the frames in the read buffer. Returns 0, or -1 when the connection ended. */
static int parse_frames(struct wsclient *ws)
{
    size_t off = 0;
    unsigned gen = ws->generation;

    while (off < ws->rlen) {
        struct ws_frame f;
        int rc = ws_frame_parse(ws->rbuf + off, ws->rlen - off, WS_ROLE_CLIENT,
                                PROTO_GATEWAY_FRAME_MAX, &f);

        if (rc == WS_NEED_MORE) {
            if (ws_frame_parse_header(ws->rbuf + off, ws->rlen - off, WS_ROLE_CLIENT,
                                      PROTO_GATEWAY_FRAME_MAX, &f) > 0 &&
                reserve(ws, f.header_len + f.payload_len) < 0) {
                end(ws, WSCLIENT_END_PROTOCOL, 0, "frame too big for memory");
                return -1;
            }
            break;
        }
        if (rc < 0) {
            end(ws, WSCLIENT_END_PROTOCOL, ws_err_close_code(rc), ws_strerror(rc));
            return -1;
        }
        off += (size_t)rc;
        if (f.opcode >= WS_OP_CLOSE) {
            if (control_frame(ws, &f) < 0)
                return -1;
            continue;
        }
        if (!f.fin || f.opcode == WS_OP_CONTINUATION) {
            end(ws, WSCLIENT_END_PROTOCOL, 0, "fragmented message");
            return -1;
        }
        if (ws->state == WSCLIENT_OPEN) {
            ws->cb->on_message(ws->arg, f.opcode, (uint8_t *)f.payload, f.payload_len);
            if (ws->generation != gen)
                return -1;
        }
    }
    if (off > 0) {
        memmove(ws->rbuf, ws->rbuf + off, ws->rlen - off);
        ws->rlen -= off;
    }
    return 0;
}

/* Checks the server's answer to the upgrade. Returns 1 when frames may
 * follow, 0 to wait for more, -1 when the connection ended. */
static int handshake(struct wsclient *ws)
{
    unsigned gen = ws->generation;
    int rc = ws_handshake_parse_response((const char *)ws->rbuf, ws->rlen, ws->key,
                                         WS_HS_KEY_LEN);

    if (rc == WS_HS_NEED_MORE) {
        if (ws->rlen >= WS_HS_HEAD_MAX) {
            end(ws, WSCLIENT_END_HANDSHAKE, 0, "response head too large");
            return -1;
        }
        return 0; /* on_readable grows the buffer when it fills */
    }
    if (rc < 0) {
        end(ws, WSCLIENT_END_HANDSHAKE, 0, ws_handshake_strerror(rc));
        return -1;
    }
    memmove(ws->rbuf, ws->rbuf + rc, ws->rlen - (size_t)rc);
    ws->rlen -= (size_t)rc;
    ws->state = WSCLIENT_OPEN;
    ws->cb->on_open(ws->arg);
    return ws->generation == gen ? 1 : -1;
}

/* Reads what the socket has once. Returns 0 to go on, -1 when the
 * connection ended or there was nothing to read. */
static int read_once(struct wsclient *ws)
{
    ssize_t n;

    if (ws->rlen == ws->rcap && reserve(ws, ws->rcap * 2) < 0) {
        end(ws, WSCLIENT_END_PROTOCOL, 0, "read buffer full");
        return -1;
    }
    n = tls_io_recv(ws->fd, ws->ssl, ws->rbuf + ws->rlen, ws->rcap - ws->rlen);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            end(ws, WSCLIENT_END_DROPPED, 0,
                errno == EPROTO ? tls_io_last_error() : strerror(errno));
        return -1;
    }
    if (n == 0) {
        if (ws->state == WSCLIENT_CLOSING)
            end(ws, WSCLIENT_END_CLOSED, WS_CLOSE_NO_STATUS, "EOF after our close");
        else
            end(ws, WSCLIENT_END_DROPPED, 0, "EOF without a close frame");
        return -1;
    }
    ws->rlen += (size_t)n;
    if (ws->state == WSCLIENT_HANDSHAKE) {
        int h = handshake(ws);

        if (h <= 0)
            return h; /* 0: the answer is not whole yet */
    }
    return parse_frames(ws);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct wsclient *ws = arg;

    if (ws->state == WSCLIENT_TLS) {
        tls_step(ws);
        return;
    }
    /* OpenSSL may keep decrypted bytes that the socket no longer signals. */
    do {
        if (read_once(ws) < 0)
            return;
    } while (tls_io_pending(ws->ssl) > 0);
    wsclient_flush(ws);
}
