/* ring_text.c: the ring's text form (what the znode holds), strict parser and printer. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring-internal.h"

/* The header's version is matched as a single digit. */
_Static_assert(RING_TEXT_VERSION >= 0 && RING_TEXT_VERSION <= 9, "one-digit text version");

/* Longest line the printer can produce, with room to spare. */
#define RING_LINE_MAX 1024

/* The parser's position: one line of the input at a time. Every read is
 * bounded by eol (the line's '\n'), which is itself below buf + len, so the
 * parser never looks past the end of its input. */
struct text_cursor {
    const char *p;   /* next unread byte of the line */
    const char *eol; /* the line's terminating '\n' */
    unsigned line;
    struct ring_parse_error *err;
};

static void parse_fail(struct text_cursor *c, const char *reason)
{
    size_t len = strlen(reason);

    if (c->err == NULL)
        return;
    /* A reason quoting a long address is cut rather than dropped. */
    if (len >= sizeof(c->err->reason))
        len = sizeof(c->err->reason) - 1;
    c->err->line = c->line;
    memcpy(c->err->reason, reason, len);
    c->err->reason[len] = '\0';
}

/* Consumes lit when the line continues with it; returns 1 if so, else 0. */
static int take(struct text_cursor *c, const char *lit)
{
    size_t len = strlen(lit);

    if ((size_t)(c->eol - c->p) < len || memcmp(c->p, lit, len) != 0)
        return 0;
    c->p += len;
    return 1;
}

/* Consumes bytes up to the next space or the end of the line. */
static void take_token(struct text_cursor *c, const char **tok, size_t *len)
{
    const char *start = c->p;

    while (c->p < c->eol && *c->p != ' ')
        c->p++;
    *tok = start;
    *len = (size_t)(c->p - start);
}

/* Reads the value of key (expected next, as written in lit, e.g. " addr=")
 * into tok/len. Returns 0, or -1 after reporting what is missing. */
static int take_field(struct text_cursor *c, const char *lit, const char *key,
                      const char **tok, size_t *len)
{
    char reason[64];

    if (!take(c, lit)) {
        snprintf(reason, sizeof(reason), "expected '%s=' here", key);
        parse_fail(c, reason);
        return -1;
    }
    take_token(c, tok, len);
    return 0;
}

/* Parses a plain decimal in [min, max]. Returns 0 and *out, or -1 after
 * reporting, naming the field. */
static int take_number(struct text_cursor *c, const char *lit, const char *key, uint64_t min,
                       uint64_t max, uint64_t *out)
{
    char reason[96];
    const char *tok;
    size_t len;
    uint64_t v = 0;
    int ok;

    if (take_field(c, lit, key, &tok, &len) < 0)
        return -1;
    ok = len > 0;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned digit = (unsigned)(tok[i] - '0');

        if (tok[i] < '0' || tok[i] > '9' || v > (UINT64_MAX - digit) / 10)
            ok = 0;
        else
            v = v * 10 + digit;
    }
    if (ok && len > 1 && tok[0] == '0') {
        snprintf(reason, sizeof(reason), "%s must not have leading zeros", key);
        parse_fail(c, reason);
        return -1;
    }
    if (!ok || v < min || v > max) {
        snprintf(reason, sizeof(reason), "%s must be %" PRIu64 "..%" PRIu64, key, min, max);
        parse_fail(c, reason);
        return -1;
    }
    *out = v;
    return 0;
}

/* Copies a token into dst (cap bytes) when it fits; returns 1 if it did. */
static int copy_token(char *dst, size_t cap, const char *tok, size_t len)
{
    if (len >= cap)
        return 0;
    memcpy(dst, tok, len);
    dst[len] = '\0';
    return 1;
}

static int expect_eol(struct text_cursor *c, const char *last_key)
{
    char reason[64];

    if (c->p == c->eol)
        return 0;
    snprintf(reason, sizeof(reason), "unexpected text after %s", last_key);
    parse_fail(c, reason);
    return -1;
}

/* Finds the end of the line starting at p. Returns 0, or -1 after reporting
 * a byte that ring text never holds or a missing final newline. */
static int find_line(struct text_cursor *c, const char *p, const char *end)
{
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol != NULL ? eol : end;

    /* Named explicitly because both are easy to get from an editor or a
     * shell and invisible when the text is printed. */
    if (memchr(p, '\0', (size_t)(stop - p)) != NULL) {
        parse_fail(c, "NUL byte in line");
        return -1;
    }
    if (memchr(p, '\r', (size_t)(stop - p)) != NULL) {
        parse_fail(c, "carriage return in line (lines end with a bare newline)");
        return -1;
    }
    if (eol == NULL) {
        parse_fail(c, "missing newline at end of line");
        return -1;
    }
    c->p = p;
    c->eol = eol;
    return 0;
}

/* Parses the header line into a new ring in *out. Returns 0 or a RING_ERR_*. */
static int parse_header(struct text_cursor *c, struct ring **out)
{
    char name[RING_NAME_MAX + 1];
    const char *tok;
    size_t len;
    uint64_t epoch, vnodes;
    struct ring *ring;

    if (!take(c, "nearby-ring v")) {
        parse_fail(c, "expected header 'nearby-ring v1 name=... epoch=... vnodes=...'");
        return RING_ERR_PARSE;
    }
    take_token(c, &tok, &len);
    if (len != 1 || tok[0] != '0' + RING_TEXT_VERSION) {
        parse_fail(c, "unsupported version (this build reads v1)");
        return RING_ERR_PARSE;
    }
    if (take_field(c, " name=", "name", &tok, &len) < 0)
        return RING_ERR_PARSE;
    if (!copy_token(name, sizeof(name), tok, len) || !ring_valid_name(name)) {
        parse_fail(c, "name must be 1..63 of [A-Za-z0-9._-]");
        return RING_ERR_PARSE;
    }
    if (take_number(c, " epoch=", "epoch", 0, UINT64_MAX, &epoch) < 0 ||
        take_number(c, " vnodes=", "vnodes", 1, RING_VNODES_MAX, &vnodes) < 0 ||
        expect_eol(c, "vnodes") < 0)
        return RING_ERR_PARSE;
    ring = ring_new(name, epoch, (uint32_t)vnodes);
    if (ring == NULL)
        return RING_ERR_NOMEM;
    *out = ring;
    return 0;
}

/* Parses one node line and adds the node to ring. Returns 0 or a RING_ERR_*. */
static int parse_node(struct text_cursor *c, struct ring *ring)
{
    char id[RING_ID_MAX + 1], addr[RING_ADDR_MAX + 1], from[RING_ADDR_MAX + 1];
    char reason[RING_ADDR_MAX + 64];
    const char *tok;
    size_t len;
    uint64_t weight;
    enum ring_state state;
    int rc;

    if (!take(c, "node ")) {
        parse_fail(c, "expected 'node id=... addr=... weight=... state=...'");
        return RING_ERR_PARSE;
    }
    if (take_field(c, "id=", "id", &tok, &len) < 0)
        return RING_ERR_PARSE;
    if (!copy_token(id, sizeof(id), tok, len) || !ring_valid_id(id)) {
        parse_fail(c, "id must be 1..63 of [A-Za-z0-9._-]");
        return RING_ERR_PARSE;
    }
    if (take_field(c, " addr=", "addr", &tok, &len) < 0)
        return RING_ERR_PARSE;
    if (!copy_token(addr, sizeof(addr), tok, len) || !ring_valid_addr(addr)) {
        parse_fail(c, "addr must be host:port, host of [A-Za-z0-9.-], port 1..65535");
        return RING_ERR_PARSE;
    }
    if (take_number(c, " weight=", "weight", 1, RING_WEIGHT_MAX, &weight) < 0)
        return RING_ERR_PARSE;
    if (take_field(c, " state=", "state", &tok, &len) < 0)
        return RING_ERR_PARSE;
    if (ring_state_parse(tok, len, &state) < 0) {
        parse_fail(c, "state must be active, joining, leaving or standby");
        return RING_ERR_PARSE;
    }
    from[0] = '\0';
    if (take(c, " from=")) {
        take_token(c, &tok, &len);
        if (!copy_token(from, sizeof(from), tok, len) || !ring_valid_addr(from)) {
            parse_fail(c, "from must be host:port, host of [A-Za-z0-9.-], port 1..65535");
            return RING_ERR_PARSE;
        }
    }
    if (expect_eol(c, from[0] ? "from" : "state") < 0)
        return RING_ERR_PARSE;

    rc = ring_add_node(ring, id, addr, (uint32_t)weight, state);
    if (rc == 0 && from[0] != '\0' && ring_set_from(ring, id, from) < 0) {
        snprintf(reason, sizeof(reason), "from address %s is used by another node", from);
        parse_fail(c, reason);
        return RING_ERR_PARSE;
    }
    if (rc == RING_ERR_EXISTS) {
        const struct ring_node *same_id = ring_find(ring, id);
        const struct ring_node *first = same_id != NULL ? same_id : ring_addr_user(ring, addr, NULL);

        /* Node i came from line i + 2: the header is line 1. */
        snprintf(reason, sizeof(reason), "duplicate %s %s (first on line %zu)",
                 same_id != NULL ? "id" : "addr", same_id != NULL ? id : addr,
                 ring_node_index(ring, first) + 2);
        parse_fail(c, reason);
        return RING_ERR_PARSE;
    }
    if (rc == RING_ERR_LIMIT) {
        parse_fail(c, "more than 4096 nodes");
        return RING_ERR_LIMIT;
    }
    return rc;
}

/* Too many nodes, or too many virtual nodes in a view, give RING_ERR_LIMIT
 * rather than RING_ERR_PARSE: the text is well formed, the ring too big. err
 * is filled for those too (line 0 for the virtual node count, which no single
 * line causes). */
static int parse_text(const char *buf, size_t len, struct ring **out,
                      struct ring_parse_error *err, int build)
{
    struct text_cursor c = { .line = 1, .err = err };
    const char *p = buf, *end;
    struct ring *ring = NULL;
    int rc = RING_ERR_PARSE;

    if (err != NULL) {
        err->line = 0;
        err->reason[0] = '\0';
    }
    if (len == 0) {
        parse_fail(&c, "empty text: expected the header line");
        goto cleanup;
    }
    end = buf + len; /* only now: buf may be NULL when len is 0 */
    if (find_line(&c, p, end) < 0)
        goto cleanup;
    rc = parse_header(&c, &ring);
    if (rc < 0)
        goto cleanup;
    for (p = c.eol + 1; p < end; p = c.eol + 1) {
        c.line++;
        rc = RING_ERR_PARSE;
        if (find_line(&c, p, end) < 0)
            goto cleanup;
        rc = parse_node(&c, ring);
        if (rc < 0)
            goto cleanup;
    }
    rc = build ? ring_build(ring) : ring_check(ring);
    if (rc == RING_ERR_LIMIT) {
        c.line = 0;
        parse_fail(&c, "more than 16777216 virtual nodes in a view");
    }
    if (rc < 0)
        goto cleanup;
    *out = ring;
    ring = NULL;

cleanup:
    ring_free(ring);
    return rc;
}

int ring_parse(const char *buf, size_t len, struct ring **out, struct ring_parse_error *err)
{
    return parse_text(buf, len, out, err, 1);
}

int ring_parse_unbuilt(const char *buf, size_t len, struct ring **out,
                       struct ring_parse_error *err)
{
    return parse_text(buf, len, out, err, 0);
}

/* Appends line (n bytes) at offset off of buf, as much as fits before the
 * final NUL. */
static void append(char *buf, size_t cap, size_t off, const char *line, size_t n)
{
    if (cap == 0 || off >= cap - 1)
        return;
    if (n > cap - 1 - off)
        n = cap - 1 - off;
    memcpy(buf + off, line, n);
    buf[off + n] = '\0';
}

size_t ring_format(const struct ring *ring, char *buf, size_t cap)
{
    char line[RING_LINE_MAX];
    size_t total = 0;
    int n;

    if (cap > 0)
        buf[0] = '\0';
    n = snprintf(line, sizeof(line), "nearby-ring v%d name=%s epoch=%" PRIu64 " vnodes=%" PRIu32 "\n",
                 RING_TEXT_VERSION, ring->name, ring->epoch, ring->vnodes);
    append(buf, cap, total, line, (size_t)n);
    total += (size_t)n;
    for (size_t i = 0; i < ring->node_count; i++) {
        const struct ring_node *node = &ring->nodes[i];

        n = snprintf(line, sizeof(line), "node id=%s addr=%s weight=%" PRIu32 " state=%s%s%s\n",
                     node->id, node->addr, node->weight, ring_state_name(node->state),
                     node->from[0] ? " from=" : "", node->from);
        append(buf, cap, total, line, (size_t)n);
        total += (size_t)n;
    }
    return total;
}

char *ring_to_text(const struct ring *ring, size_t *len)
{
    size_t n = ring_format(ring, NULL, 0);
    char *text = malloc(n + 1);

    if (text == NULL)
        return NULL;
    ring_format(ring, text, n + 1);
    if (len != NULL)
        *len = n;
    return text;
}
