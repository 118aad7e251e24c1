/* friend_file.c: USER<TAB>FRIEND lines into per-user sorted friend lists. */
#include "friend_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a canonical decimal id in 1..max at *p (up to end). Returns it, or 0. */
static uint32_t read_id(const char **p, const char *end, uint32_t max)
{
    const char *s = *p;
    uint64_t v = 0;

    if (s == end || *s < '1' || *s > '9')
        return 0;
    while (s < end && *s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return 0;
        s++;
    }
    *p = s;
    return (uint32_t)v;
}

/* Reads one line at *p. Returns 1 with *user, *friend; 0 at the end; or a
 * FRIEND_FILE_ERR_*. */
static int read_line(const char **p, const char *end, uint32_t users, uint32_t *user,
                     uint32_t *friend)
{
    const char *s = *p, *probe;

    if (s == end)
        return 0;
    probe = s;
    if (read_id(&probe, end, UINT32_MAX) == 0 || probe == end || *probe != '\t')
        return FRIEND_FILE_ERR_SYNTAX;
    probe++;
    if (read_id(&probe, end, UINT32_MAX) == 0 || (probe != end && *probe != '\n'))
        return FRIEND_FILE_ERR_SYNTAX;
    /* Well-formed: now the range. */
    *user = read_id(&s, end, users);
    if (*user == 0 || *s != '\t')
        return FRIEND_FILE_ERR_RANGE;
    s++;
    *friend = read_id(&s, end, users);
    if (*friend == 0 || *friend == *user)
        return FRIEND_FILE_ERR_RANGE;
    *p = probe == end ? end : probe + 1;
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

int friend_file_parse(const char *text, size_t len, uint32_t users, struct friend_file **out,
                      size_t *bad_line)
{
    const char *p, *end = text + len;
    struct friend_file *ff;
    size_t line = 0, *fill = NULL;
    uint32_t u, f;
    int rc;

    if (users == 0 || users == UINT32_MAX)
        return FRIEND_FILE_ERR_RANGE;
    ff = calloc(1, sizeof(*ff));
    if (ff == NULL)
        return FRIEND_FILE_ERR_NOMEM;
    ff->users = users;
    ff->offsets = calloc((size_t)users + 2, sizeof(*ff->offsets));
    if (ff->offsets == NULL) {
        rc = FRIEND_FILE_ERR_NOMEM;
        goto fail;
    }
    /* Pass 1: check every line and count each user's friends. */
    for (p = text; (rc = read_line(&p, end, users, &u, &f)) == 1;) {
        line++;
        ff->offsets[u + 1]++;
    }
    if (rc < 0) {
        line++;
        goto fail;
    }
    for (uint32_t i = 1; i <= users; i++)
        ff->offsets[i + 1] += ff->offsets[i];
    ff->lines = line;
    ff->ids = malloc((line ? line : 1) * sizeof(*ff->ids));
    fill = malloc(((size_t)users + 1) * sizeof(*fill));
    if (ff->ids == NULL || fill == NULL) {
        rc = FRIEND_FILE_ERR_NOMEM;
        line = 0;
        goto fail;
    }
    memcpy(fill, ff->offsets, ((size_t)users + 1) * sizeof(*fill));
    /* Pass 2: place them, then sort each list and refuse repeats. */
    for (p = text; read_line(&p, end, users, &u, &f) == 1;)
        ff->ids[fill[u]++] = f;
    for (uint32_t i = 1; i <= users; i++) {
        uint32_t *list = ff->ids + ff->offsets[i];
        size_t n = ff->offsets[i + 1] - ff->offsets[i];

        qsort(list, n, sizeof(*list), cmp_u32);
        for (size_t k = 1; k < n; k++) {
            if (list[k] == list[k - 1]) {
                rc = FRIEND_FILE_ERR_RANGE;
                line = 0; /* found after sorting: no single line to name */
                goto fail;
            }
        }
    }
    free(fill);
    *out = ff;
    return 0;
fail:
    free(fill);
    friend_file_free(ff);
    if (bad_line != NULL)
        *bad_line = line;
    return rc;
}

int friend_file_load(const char *path, uint32_t users, struct friend_file **out,
                     size_t *bad_line)
{
    FILE *fp = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    int rc;

    if (fp == NULL)
        return FRIEND_FILE_ERR_IO;
    do {
        if (cap - len < 65536) {
            char *grown = realloc(text, cap ? cap * 2 : 1 << 20);

            if (grown == NULL) {
                free(text);
                fclose(fp);
                return FRIEND_FILE_ERR_NOMEM;
            }
            text = grown;
            cap = cap ? cap * 2 : 1 << 20;
        }
        n = fread(text + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    if (ferror(fp)) {
        int saved = errno;

        free(text);
        fclose(fp);
        errno = saved;
        return FRIEND_FILE_ERR_IO;
    }
    fclose(fp);
    rc = friend_file_parse(text, len, users, out, bad_line);
    free(text);
    return rc;
}

uint32_t friend_file_get(const struct friend_file *ff, uint32_t user, const uint32_t **ids)
{
    if (user == 0 || user > ff->users)
        return 0;
    *ids = ff->ids + ff->offsets[user];
    return (uint32_t)(ff->offsets[user + 1] - ff->offsets[user]);
}

void friend_file_free(struct friend_file *ff)
{
    if (ff == NULL)
        return;
    free(ff->offsets);
    free(ff->ids);
    free(ff);
}

const char *friend_file_strerror(int err)
{
    switch (err) {
    case FRIEND_FILE_ERR_SYNTAX:
        return "a line is not USER<TAB>FRIEND (decimal ids)";
    case FRIEND_FILE_ERR_RANGE:
        return "an id outside 1..--users, a user who is their own friend, or a repeated line";
    case FRIEND_FILE_ERR_NOMEM:
        return "out of memory";
    case FRIEND_FILE_ERR_IO:
        return "cannot read the file";
    default:
        return "unknown error";
    }
}
