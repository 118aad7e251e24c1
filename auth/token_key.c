/* token_key.c: reads the shared HS256 secret from a file, the same way for every program. */
#include "token.h"

#include <errno.h>

#include "secret_file.h"

int token_key_load(const char *path, uint8_t *key, size_t cap, size_t *keylen)
{
    size_t n = 0;
    int r = secret_file_read(path, key, cap < TOKEN_KEY_MAX ? cap : TOKEN_KEY_MAX, &n);

    if (r == SECRET_FILE_ERR_MODE)
        return TOKEN_ERR_KEY_MODE;
    if (r == SECRET_FILE_ERR_TOO_BIG) {
        errno = EFBIG;
        return TOKEN_ERR_IO;
    }
    if (r < 0)
        return TOKEN_ERR_IO;
    if (n < TOKEN_KEY_MIN)
        return TOKEN_ERR_WEAK_KEY;
    *keylen = n;
    return 0;
}
