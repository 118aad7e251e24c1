/* tls_io.h: optional TLS (OpenSSL) on the load generator's non-blocking sockets, for wss:// and https targets.
 *
 * The clients (wsclient.c, http_get.c) keep their own buffers and events and
 * call tls_io_recv/tls_io_send where they called recv/send: with a NULL ssl
 * those are recv/send, with one they are SSL_read/SSL_write that answer
 * -1 with errno EAGAIN while OpenSSL waits for the socket. A connection's TLS
 * handshake runs between the TCP connect and the first byte of HTTP:
 * tls_io_handshake until it says TLS_IO_DONE, waiting for the direction it
 * names.
 *
 * The server's certificate is verified against --ca-file (the local
 * cluster's DIR/tls/ca.pem) or the system's roots, and its name against the
 * target's host (an IP address or a DNS name); there is no option to skip
 * verification. TLS 1.2 or later.
 *
 * OpenSSL may hold decrypted bytes that the socket no longer signals:
 * a reader loops while tls_io_pending says there are some.
 */
#ifndef NEARBY_LOADGEN_TLS_IO_H
#define NEARBY_LOADGEN_TLS_IO_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct tls_io_ctx;

enum tls_io_step {
    TLS_IO_DONE = 0,
    TLS_IO_WANT_READ = 1,
    TLS_IO_WANT_WRITE = 2,
    TLS_IO_FAILED = -1, /* tls_io_last_error says why */
};

/* A client context that trusts ca_file (PEM; NULL: the system's roots).
 * Returns NULL with the reason in err. */
struct tls_io_ctx *tls_io_ctx_new(const char *ca_file, char *err, size_t errlen);
void tls_io_ctx_free(struct tls_io_ctx *ctx);

/* A TLS client on the connected (or connecting) socket fd, for server host
 * (SNI when a name, and the name or address the certificate must hold).
 * Returns NULL when OpenSSL cannot make one. */
SSL *tls_io_new(struct tls_io_ctx *ctx, int fd, const char *host);

/* One step of the handshake. */
enum tls_io_step tls_io_handshake(SSL *ssl);

/* recv(2) and send(2) for ssl NULL; else SSL_read/SSL_write with the same
 * contract: bytes moved, 0 at the peer's end (recv), or -1 with errno
 * (EAGAIN when OpenSSL waits for the socket, EPROTO on a TLS error). A send
 * may move fewer bytes than asked; what is left must be offered again (the
 * buffer may have moved). */
ssize_t tls_io_recv(int fd, SSL *ssl, void *buf, size_t len);
ssize_t tls_io_send(int fd, SSL *ssl, const void *buf, size_t len);

/* Decrypted bytes OpenSSL holds for the next tls_io_recv (0 without TLS). */
size_t tls_io_pending(SSL *ssl);

/* The reason for the last TLS_IO_FAILED or EPROTO on this thread, static. */
const char *tls_io_last_error(void);

#endif
