/* token_key.c: reads the shared HS256 secret from a file, the same way for every program. */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

int token_key_load(const char *path, uint8_t *key, size_t cap, size_t *keylen)
{
    /* One byte more than we accept, plus room for a CRLF, tells "too big". */
    uint8_t buf[TOKEN_KEY_MAX + 3];
    size_t n = 0;
    int fd, saved_errno, r = TOKEN_ERR_IO;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return TOKEN_ERR_IO;
    while (n < sizeof buf) {
        ssize_t got = read(fd, buf + n, sizeof buf - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
        n -= 2;
    else if (n >= 1 && buf[n - 1] == '\n')
        n -= 1;
    if (n > TOKEN_KEY_MAX || n > cap) {
        errno = EFBIG;
        goto out;
    }
    if (n < TOKEN_KEY_MIN) {
        r = TOKEN_ERR_WEAK_KEY;
        goto out;
    }
    memcpy(key, buf, n);
    *keylen = n;
    r = 0;
out:
    saved_errno = errno;
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    errno = saved_errno;
    return r;
}
