/* http_get.c: one HTTP/1.1 GET over a non-blocking socket on libevent, answer read to its Content-Length. */
#include "http_get.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "tls_io.h"

#define HTTP_GET_HEAD_MAX 8192
#define HTTP_GET_BODY_MAX (4u << 20)
#define HTTP_GET_REQUEST_MAX 4096

struct http_get {
    int fd;
    SSL *ssl;              /* https: made once the TCP connect is done */
    struct tls_io_ctx *tls; /* ref: NULL for plain http */
    char tls_name[256];    /* the name the certificate must hold */
    int tls_done;          /* the TLS handshake is over */
    struct event *ev;      /* write until the request is out, then read */
    struct event *timer;
    http_get_done done;
    void *arg;
    char *buf;             /* the request, then the answer */
    size_t len, cap, sent;
    int reading;
};

static void on_io(evutil_socket_t fd, short what, void *arg);

static void release(struct http_get *g)
{
    if (g->ev != NULL)
        event_free(g->ev);
    if (g->timer != NULL)
        event_free(g->timer);
    SSL_free(g->ssl);
    if (g->fd >= 0)
        close(g->fd);
    free(g->buf);
    free(g);
}

void http_get_cancel(struct http_get *g)
{
    if (g != NULL)
        release(g);
}

static void finish(struct http_get *g, int status, const char *body, size_t body_len)
{
    g->done(g->arg, status, body, body_len);
    release(g);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    finish(arg, HTTP_GET_ERR_TIMEOUT, NULL, 0);
}

struct http_get *http_get_start(struct event_base *base, const struct sockaddr *addr,
                                socklen_t addr_len, const struct sockaddr *src,
                                socklen_t src_len, const char *host, const char *path,
                                const char *bearer, unsigned timeout_ms, http_get_done done,
                                void *arg, struct tls_io_ctx *tls, const char *tls_name)
{
    struct http_get *g = calloc(1, sizeof(*g));
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int n, one = 1;

    if (g == NULL)
        return NULL;
    g->fd = -1;
    g->tls = tls;
    if (tls != NULL && snprintf(g->tls_name, sizeof(g->tls_name), "%s", tls_name) >=
                           (int)sizeof(g->tls_name)) {
        errno = EINVAL;
        goto fail;
    }
    g->done = done;
    g->arg = arg;
    g->cap = HTTP_GET_REQUEST_MAX;
    g->buf = malloc(g->cap);
    if (g->buf == NULL)
        goto fail;
    n = snprintf(g->buf, g->cap,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                 "Connection: close\r\n\r\n", path, host, bearer);
    if (n < 0 || (size_t)n >= g->cap) {
        errno = EINVAL;
        goto fail;
    }
    g->len = (size_t)n;
    g->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (g->fd < 0)
        goto fail;
    if (src != NULL) {
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(g->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
        if (bind(g->fd, src, src_len) < 0)
            goto fail;
    }
    (void)one;
    if (connect(g->fd, addr, addr_len) < 0 && errno != EINPROGRESS)
        goto fail;
    g->ev = event_new(base, g->fd, EV_WRITE | EV_PERSIST, on_io, g);
    g->timer = evtimer_new(base, on_timeout, g);
    if (g->ev == NULL || g->timer == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    event_add(g->ev, NULL);
    evtimer_add(g->timer, &tv);
    return g;
fail:
    n = errno;
    release(g);
    errno = n;
    return NULL;
}

/* Returns the value of header name (case-insensitive) in head, or NULL. The
 * value runs to the next CRLF. */
static const char *header_value(const char *head, size_t head_len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', head_len), *end = head + head_len;

    while (p != NULL && (size_t)(end - p) > nlen + 1) {
        p++;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

/* Looks at the answer so far. Returns 1 (done: callback ran), 0 (need more)
 * or a negative HTTP_GET_ERR_*. */
static int answer(struct http_get *g, int eof)
{
    const char *head_end, *cl;
    char *num_end;
    size_t head_len;
    unsigned long long body_len;
    int status;

    head_end = memmem(g->buf, g->len, "\r\n\r\n", 4);
    if (head_end == NULL)
        return g->len > HTTP_GET_HEAD_MAX || eof ? HTTP_GET_ERR_RESPONSE : 0;
    head_len = (size_t)(head_end - g->buf) + 4;
    if (g->len < 12 || memcmp(g->buf, "HTTP/1.1 ", 9) != 0)
        return HTTP_GET_ERR_RESPONSE;
    if (g->buf[9] < '1' || g->buf[9] > '5' || g->buf[10] < '0' || g->buf[10] > '9' ||
        g->buf[11] < '0' || g->buf[11] > '9')
        return HTTP_GET_ERR_RESPONSE;
    status = (g->buf[9] - '0') * 100 + (g->buf[10] - '0') * 10 + (g->buf[11] - '0');
    cl = header_value(g->buf, head_len, "Content-Length");
    if (cl == NULL || *cl < '0' || *cl > '9')
        return HTTP_GET_ERR_RESPONSE;
    errno = 0;
    body_len = strtoull(cl, &num_end, 10);
    if (errno != 0 || (*num_end != '\r' && *num_end != ' ') || body_len > HTTP_GET_BODY_MAX)
        return HTTP_GET_ERR_RESPONSE;
    if (g->len < head_len + body_len)
        return eof ? HTTP_GET_ERR_RESPONSE : 0;
    if (g->len > head_len + body_len)
        return HTTP_GET_ERR_RESPONSE; /* we asked for one answer */
    finish(g, status, g->buf + head_len, (size_t)body_len);
    return 1;
}

/* Waits for the socket to be readable (what EV_READ) or writable (EV_WRITE). */
static void wait_for(struct http_get *g, short what)
{
    event_del(g->ev);
    event_assign(g->ev, event_get_base(g->ev), g->fd, what | EV_PERSIST, on_io, g);
    event_add(g->ev, NULL);
}

/* https: the TLS handshake before the request. Returns 1 when it is done,
 * 0 while it waits for the socket, -1 when the GET ended. */
static int tls_ready(struct http_get *g)
{
    if (g->tls == NULL || g->tls_done)
        return 1;
    if (g->ssl == NULL && (g->ssl = tls_io_new(g->tls, g->fd, g->tls_name)) == NULL) {
        finish(g, HTTP_GET_ERR_SOCKET, NULL, 0);
        return -1;
    }
    switch (tls_io_handshake(g->ssl)) {
    case TLS_IO_DONE:
        g->tls_done = 1;
        wait_for(g, EV_WRITE);
        return 1;
    case TLS_IO_WANT_READ:
        wait_for(g, EV_READ);
        return 0;
    case TLS_IO_WANT_WRITE:
        wait_for(g, EV_WRITE);
        return 0;
    default:
        finish(g, HTTP_GET_ERR_TLS, NULL, 0);
        return -1;
    }
}

/* Reads what the socket has once. Returns 1 to read again (OpenSSL holds
 * more), 0 to wait, -1 when the GET ended. */
static int read_some(struct http_get *g)
{
    ssize_t n;
    int rc;

    if (g->len == g->cap) {
        char *grown;

        if (g->cap >= HTTP_GET_HEAD_MAX + HTTP_GET_BODY_MAX) {
            finish(g, HTTP_GET_ERR_RESPONSE, NULL, 0);
            return -1;
        }
        grown = realloc(g->buf, g->cap * 2);
        if (grown == NULL) {
            finish(g, HTTP_GET_ERR_NOMEM, NULL, 0);
            return -1;
        }
        g->buf = grown;
        g->cap *= 2;
    }
    n = tls_io_recv(g->fd, g->ssl, g->buf + g->len, g->cap - g->len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            finish(g, HTTP_GET_ERR_SOCKET, NULL, 0);
            return -1;
        }
        return 0;
    }
    g->len += (size_t)n;
    rc = answer(g, n == 0);
    if (rc < 0)
        finish(g, rc, NULL, 0);
    if (rc != 0)
        return -1; /* done, or failed */
    return tls_io_pending(g->ssl) > 0 ? 1 : 0;
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct http_get *g = arg;
    ssize_t n;
    int rc;

    if (tls_ready(g) <= 0)
        return;
    if (!g->reading) {
        n = tls_io_send(g->fd, g->ssl, g->buf + g->sent, g->len - g->sent);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                finish(g, HTTP_GET_ERR_SOCKET, NULL, 0);
            return;
        }
        g->sent += (size_t)n;
        if (g->sent < g->len)
            return;
        g->reading = 1;
        g->len = 0;
        wait_for(g, EV_READ);
        return;
    }
    do
        rc = read_some(g);
    while (rc == 1);
}

const char *http_get_strerror(int err)
{
    switch (err) {
    case HTTP_GET_ERR_NOMEM:
        return "out of memory";
    case HTTP_GET_ERR_SOCKET:
        return "connection failed";
    case HTTP_GET_ERR_RESPONSE:
        return "malformed HTTP answer";
    case HTTP_GET_ERR_TIMEOUT:
        return "timed out";
    case HTTP_GET_ERR_INVALID:
        return "request too long";
    case HTTP_GET_ERR_TLS:
        return tls_io_last_error();
    default:
        return "unknown HTTP error";
    }
}
