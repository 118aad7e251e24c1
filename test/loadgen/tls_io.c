/* tls_io.c: OpenSSL client connections on non-blocking sockets, verified, for the load generator. */
#include "tls_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

struct tls_io_ctx {
    SSL_CTX *ssl_ctx;
};

static __thread char last_error[256];

const char *tls_io_last_error(void)
{
    return last_error[0] != '\0' ? last_error : "TLS error";
}

/* Keeps OpenSSL's newest error (and the certificate verdict) as the reason. */
static void note_error(SSL *ssl, const char *what)
{
    unsigned long e = ERR_get_error();
    long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (verify != X509_V_OK)
        snprintf(last_error, sizeof(last_error), "%s: certificate not trusted: %s", what,
                 X509_verify_cert_error_string(verify));
    else if (e != 0)
        snprintf(last_error, sizeof(last_error), "%s: %s", what, ERR_reason_error_string(e));
    else
        snprintf(last_error, sizeof(last_error), "%s: %s", what,
                 errno != 0 ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

struct tls_io_ctx *tls_io_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    struct tls_io_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ctx->ssl_ctx == NULL || SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION) != 1) {
        snprintf(err, errlen, "cannot make an OpenSSL client context");
        tls_io_ctx_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((ca_file != NULL && SSL_CTX_load_verify_locations(ctx->ssl_ctx, ca_file, NULL) != 1) ||
        (ca_file == NULL && SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1)) {
        unsigned long e = ERR_get_error();

        snprintf(err, errlen, "cannot load the CA certificates %s: %s",
                 ca_file != NULL ? ca_file : "of the system",
                 e != 0 ? ERR_reason_error_string(e) : "unknown error");
        ERR_clear_error();
        tls_io_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_io_ctx_free(struct tls_io_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

SSL *tls_io_new(struct tls_io_ctx *ctx, int fd, const char *host)
{
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    X509_VERIFY_PARAM *param;

    if (ssl == NULL)
        return NULL;
    param = SSL_get0_param(ssl);
    /* The certificate must name what we connect to: its IP address or host name. */
    if (SSL_set_fd(ssl, fd) != 1 ||
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
               : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1 ||
        (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

/* What an OpenSSL call's failure means for a non-blocking caller. */
static enum tls_io_step step_of(SSL *ssl, int rc, const char *what)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_IO_WANT_WRITE;
    default:
        note_error(ssl, what);
        return TLS_IO_FAILED;
    }
}

enum tls_io_step tls_io_handshake(SSL *ssl)
{
    int rc;

    errno = 0;
    rc = SSL_do_handshake(ssl);
    return rc == 1 ? TLS_IO_DONE : step_of(ssl, rc, "TLS handshake");
}

ssize_t tls_io_recv(int fd, SSL *ssl, void *buf, size_t len)
{
    int rc;

    if (ssl == NULL)
        return recv(fd, buf, len, 0);
    if (len > INT32_MAX)
        len = INT32_MAX;
    errno = 0;
    rc = SSL_read(ssl, buf, (int)len);
    if (rc > 0)
        return rc;
    if (SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN)
        return 0; /* close_notify */
    switch (step_of(ssl, rc, "TLS read")) {
    case TLS_IO_WANT_READ:
    case TLS_IO_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        /* A peer that just hangs up (no close_notify) is an EOF to the
         * caller, as with plain TCP. */
        if (errno == 0 && ERR_peek_error() == 0 && SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL)
            return 0;
        errno = EPROTO;
        return -1;
    }
}

ssize_t tls_io_send(int fd, SSL *ssl, const void *buf, size_t len)
{
    int rc;

    if (ssl == NULL)
        return send(fd, buf, len, MSG_NOSIGNAL);
    if (len > INT32_MAX)
        len = INT32_MAX;
    errno = 0;
    rc = SSL_write(ssl, buf, (int)len);
    if (rc > 0)
        return rc;
    switch (step_of(ssl, rc, "TLS write")) {
    case TLS_IO_WANT_READ:
    case TLS_IO_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

size_t tls_io_pending(SSL *ssl)
{
    return ssl != NULL && SSL_pending(ssl) > 0 ? (size_t)SSL_pending(ssl) : 0;
}
