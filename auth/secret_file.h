/* secret_file.h: reads a secret (a key, a password) from a file that only its owner may read.
 *
 * Secrets never come from argv (every user of the machine can read a
 * command line) nor from logs: programs take a file path, and refuse a file
 * that its group or others may read or write (chmod 600 fixes it), as ssh
 * does with its keys. The secret is the file's bytes less one trailing "\n"
 * or "\r\n", so `openssl rand -hex 32 > F` works.
 */
#ifndef NEARBY_SECRET_FILE_H
#define NEARBY_SECRET_FILE_H

#include <stddef.h>
#include <stdint.h>

#define SECRET_FILE_MAX 4096 /* bytes a secret file may hold */

enum secret_file_err {
    SECRET_FILE_OK = 0,
    SECRET_FILE_ERR_IO = -1,      /* open/stat/read failed; errno says why */
    SECRET_FILE_ERR_MODE = -2,    /* group or others may read or write it */
    SECRET_FILE_ERR_TOO_BIG = -3, /* more than cap (or SECRET_FILE_MAX) bytes */
};

/* Reads the secret in path into out (cap bytes). Returns 0 and writes *len,
 * or a negative SECRET_FILE_ERR_* with out's contents unspecified (wiped). */
int secret_file_read(const char *path, uint8_t *out, size_t cap, size_t *len);

/* A static reason for an error, with the fix where there is one. */
const char *secret_file_strerror(int err);

#endif
