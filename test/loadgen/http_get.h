/* http_get.h: one HTTP/1.1 GET (plain or TLS) on a libevent loop, for a phone's friend list at start.
 *
 * http_get_start() connects (non-blocking, optionally from a source
 * address; over TLS when given a tls_io context, tls_io.h), sends "GET path" with Host, an Authorization header and
 * "Connection: close", and reads the answer: a status line, headers, and a
 * body of exactly Content-Length bytes (chunked answers are refused; the
 * gateway always sends a length). The callback runs once, with the status
 * and body on success or a negative HTTP_GET_ERR_* on failure; the request
 * frees itself after its callback returns. Not for the hot path: each
 * request allocates its buffer.
 */
#ifndef NEARBY_LOADGEN_HTTP_GET_H
#define NEARBY_LOADGEN_HTTP_GET_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct http_get;

enum http_get_err {
    HTTP_GET_ERR_NOMEM = -1,
    HTTP_GET_ERR_SOCKET = -2,   /* socket, bind, connect, send or recv failed */
    HTTP_GET_ERR_RESPONSE = -3, /* not a well-formed HTTP/1.1 answer with a Content-Length */
    HTTP_GET_ERR_TIMEOUT = -4,
    HTTP_GET_ERR_INVALID = -5,  /* request too long */
    HTTP_GET_ERR_TLS = -6,      /* the TLS handshake failed (e.g. an untrusted certificate) */
};

/* status is the HTTP status (>= 100) or a negative HTTP_GET_ERR_*; body and
 * body_len are the body when status > 0 (valid during the call only). */
typedef void (*http_get_done)(void *arg, int status, const char *body, size_t body_len);

/* Starts a GET. Returns the request (owned by itself until its callback has
 * run) or NULL when it could not start (errno set; no callback comes). */
struct tls_io_ctx;
struct http_get *http_get_start(struct event_base *base, const struct sockaddr *addr,
                                socklen_t addr_len, const struct sockaddr *src,
                                socklen_t src_len, const char *host, const char *path,
                                const char *bearer, unsigned timeout_ms, http_get_done done,
                                void *arg, struct tls_io_ctx *tls, const char *tls_name);

/* Cancels a request whose callback has not run yet, without calling it. */
void http_get_cancel(struct http_get *g);

/* Returns a static description of an HTTP_GET_ERR_* (for HTTP_GET_ERR_TLS,
 * OpenSSL's reason, valid until the next TLS failure on this thread). */
const char *http_get_strerror(int err);

#endif
