/* friend_list.c: strict parsing of {"user":N,"friends":[...]} from GET /v1/friends. */
#include "friend_list.h"

#include <stdlib.h>
#include <string.h>

struct cursor {
    const char *p;
    const char *end;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes lit after optional whitespace. Returns 0 or -1. */
static int expect(struct cursor *c, const char *lit)
{
    size_t n = strlen(lit);

    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* Reads a canonical unsigned decimal. Returns 0 and *out, or -1. */
static int number(struct cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    const char *start;

    skip_ws(c);
    start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');

        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        c->p++;
    }
    if (c->p == start || (c->p - start > 1 && *start == '0'))
        return -1;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return -1;
    *out = v;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

int friend_list_parse(const char *body, size_t len, uint64_t *user, uint32_t **ids,
                      size_t *count)
{
    struct cursor c = {body, body + len};
    uint64_t who, id;
    uint32_t *list = NULL;
    size_t n = 0, cap = 0;
    int rc = FRIEND_LIST_ERR_SYNTAX;

    if (expect(&c, "{") < 0 || expect(&c, "\"user\"") < 0 || expect(&c, ":") < 0 ||
        number(&c, &who) < 0 || expect(&c, ",") < 0 || expect(&c, "\"friends\"") < 0 ||
        expect(&c, ":") < 0 || expect(&c, "[") < 0)
        goto out;
    if (expect(&c, "]") < 0) {
        for (;;) {
            if (number(&c, &id) < 0)
                goto out;
            if (id == 0 || id > UINT32_MAX) {
                rc = FRIEND_LIST_ERR_RANGE;
                goto out;
            }
            if (n == cap) {
                uint32_t *grown;

                cap = cap ? cap * 2 : 16;
                grown = realloc(list, cap * sizeof(*list));
                if (grown == NULL) {
                    rc = FRIEND_LIST_ERR_NOMEM;
                    goto out;
                }
                list = grown;
            }
            list[n++] = (uint32_t)id;
            if (expect(&c, "]") == 0)
                break;
            if (expect(&c, ",") < 0)
                goto out;
        }
    }
    if (expect(&c, "}") < 0)
        goto out;
    skip_ws(&c);
    if (c.p != c.end)
        goto out;
    if (n > 1)
        qsort(list, n, sizeof(*list), cmp_u32);
    for (size_t i = 1; i < n; i++) {
        if (list[i] == list[i - 1]) {
            rc = FRIEND_LIST_ERR_RANGE;
            goto out;
        }
    }
    *user = who;
    *ids = n ? list : NULL;
    *count = n;
    if (n == 0)
        free(list);
    return 0;
out:
    free(list);
    return rc;
}

const char *friend_list_strerror(int err)
{
    switch (err) {
    case FRIEND_LIST_ERR_SYNTAX:
        return "not {\"user\":N,\"friends\":[...]}";
    case FRIEND_LIST_ERR_RANGE:
        return "a friend id is 0, too large or repeated";
    case FRIEND_LIST_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown friend list error";
    }
}
