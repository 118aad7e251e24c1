/* secret_file.c: one way for every program to read a secret: owner-only files, a trailing newline dropped. */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

const char *secret_file_strerror(int err)
{
    switch (err) {
    case SECRET_FILE_OK: return "ok";
    case SECRET_FILE_ERR_IO: return "cannot read the file";
    case SECRET_FILE_ERR_MODE:
        return "group or others may read or write it; make it the owner's alone (chmod 600)";
    case SECRET_FILE_ERR_TOO_BIG: return "the file is too big for a secret";
    default: return "unknown error";
    }
}

int secret_file_read(const char *path, uint8_t *out, size_t cap, size_t *len)
{
    /* Two bytes more than a secret may be: room for a CRLF, and telling "too big". */
    uint8_t buf[SECRET_FILE_MAX + 3];
    struct stat st;
    size_t n = 0, max = cap < SECRET_FILE_MAX ? cap : SECRET_FILE_MAX;
    int fd, saved_errno, r = SECRET_FILE_ERR_IO;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return SECRET_FILE_ERR_IO;
    if (fstat(fd, &st) < 0)
        goto out;
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        r = SECRET_FILE_ERR_MODE;
        goto out;
    }
    while (n < max + 3) {
        ssize_t got = read(fd, buf + n, max + 3 - n);

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
    if (n > max) {
        r = SECRET_FILE_ERR_TOO_BIG;
        goto out;
    }
    memcpy(out, buf, n);
    *len = n;
    r = 0;
out:
    saved_errno = errno;
    OPENSSL_cleanse(buf, sizeof buf);
    if (r < 0)
        OPENSSL_cleanse(out, cap);
    close(fd);
    errno = saved_errno;
    return r;
}
