/* eio.c: Engine.IO v4 / Socket.IO v5 packets: a strict reader of what a Socket.IO server sends a phone, and the phone's encoders. */
#include "eio.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EIO_NUMBER_MAX 64 /* longest number text converted; JSON.stringify writes at most 24 */

/* A read position in JSON text. */
struct cursor {
    const char *p;
    const char *end;
    int depth;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consumes ch after optional whitespace. Returns 0 or -1. */
static int expect(struct cursor *c, char ch)
{
    skip_ws(c);
    if (c->p == c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

/* Returns 1 when the next non-blank byte is ch (not consumed). */
static int peek(struct cursor *c, char ch)
{
    skip_ws(c);
    return c->p < c->end && *c->p == ch;
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Reads a string; *out spans its contents between the quotes, escapes kept.
 * Returns 0 or -1. */
static int string(struct cursor *c, struct eio_span *out)
{
    const char *start;

    if (expect(c, '"') < 0)
        return -1;
    start = c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;

        if (ch < 0x20)
            return -1;
        if (ch == '\\') {
            if (++c->p == c->end)
                return -1;
            switch (*c->p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u':
                if (c->end - c->p < 5 || !is_hex(c->p[1]) || !is_hex(c->p[2]) ||
                    !is_hex(c->p[3]) || !is_hex(c->p[4]))
                    return -1;
                c->p += 4;
                break;
            default:
                return -1;
            }
        }
        c->p++;
    }
    if (c->p == c->end)
        return -1;
    out->ptr = start;
    out->len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static const char *digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* Reads a number by the JSON grammar. Returns 0 with *out, *integral (no
 * sign, fraction or exponent), or -1. */
static int number(struct cursor *c, double *out, int *integral)
{
    char text[EIO_NUMBER_MAX];
    const char *start, *p, *q;
    size_t n;

    skip_ws(c);
    start = p = c->p;
    *integral = 1;
    if (p < c->end && *p == '-') {
        p++;
        *integral = 0;
    }
    if (p == c->end)
        return -1;
    if (*p == '0') {
        p++;
        if (p < c->end && *p >= '0' && *p <= '9')
            return -1; /* a leading zero */
    }
    else if (*p >= '1' && *p <= '9')
        p = digits(p, c->end);
    else
        return -1;
    if (p < c->end && *p == '.') {
        q = digits(p + 1, c->end);
        if (q == p + 1)
            return -1;
        p = q;
        *integral = 0;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-'))
            p++;
        q = digits(p, c->end);
        if (q == p)
            return -1;
        p = q;
        *integral = 0;
    }
    n = (size_t)(p - start);
    if (n >= sizeof(text))
        return -1;
    memcpy(text, start, n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    c->p = p;
    return 0;
}

/* Reads a JSON integer in 0..EIO_INT_MAX. Returns 0, -1 for bad JSON, -2 for
 * a number that is not such an integer. */
static int integer(struct cursor *c, uint64_t *out)
{
    const char *start;
    uint64_t v = 0;
    double d;
    int integral;

    skip_ws(c);
    start = c->p;
    if (number(c, &d, &integral) < 0)
        return -1;
    if (!integral)
        return -2;
    for (const char *p = start; p < c->p; p++) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > EIO_INT_MAX)
            return -2;
    }
    *out = v;
    return 0;
}

static int value(struct cursor *c);

/* Consumes a literal word. Returns 0 or -1. */
static int word(struct cursor *c, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* Skips one array, its '[' next. Returns 0 or -1. */
static int array(struct cursor *c)
{
    if (expect(c, '[') < 0 || ++c->depth > EIO_DEPTH_MAX)
        return -1;
    if (!peek(c, ']')) {
        do {
            if (value(c) < 0)
                return -1;
        } while (expect(c, ',') == 0);
    }
    c->depth--;
    return expect(c, ']');
}

/* Skips one object, its '{' next. Returns 0 or -1. */
static int object(struct cursor *c)
{
    struct eio_span key;

    if (expect(c, '{') < 0 || ++c->depth > EIO_DEPTH_MAX)
        return -1;
    if (!peek(c, '}')) {
        do {
            if (string(c, &key) < 0 || expect(c, ':') < 0 || value(c) < 0)
                return -1;
        } while (expect(c, ',') == 0);
    }
    c->depth--;
    return expect(c, '}');
}

/* Skips any one value. Returns 0 or -1. */
static int value(struct cursor *c)
{
    struct eio_span s;
    double d;
    int integral;

    skip_ws(c);
    if (c->p == c->end)
        return -1;
    switch (*c->p) {
    case '{':
        return object(c);
    case '[':
        return array(c);
    case '"':
        return string(c, &s);
    case 't':
        return word(c, "true");
    case 'f':
        return word(c, "false");
    case 'n':
        return word(c, "null");
    default:
        return number(c, &d, &integral);
    }
}

/* The members of one object, each handed to member() with the cursor at its
 * value, which member() consumes. member() returns 0, or EIO_ERR_*. */
typedef int (*member_fn)(struct cursor *c, struct eio_span key, void *arg);

static int members(struct cursor *c, member_fn member, void *arg)
{
    struct eio_span key;
    int rc;

    if (expect(c, '{') < 0 || ++c->depth > EIO_DEPTH_MAX)
        return EIO_ERR_SYNTAX;
    if (!peek(c, '}')) {
        do {
            if (string(c, &key) < 0 || expect(c, ':') < 0)
                return EIO_ERR_SYNTAX;
            if ((rc = member(c, key, arg)) < 0)
                return rc;
        } while (expect(c, ',') == 0);
    }
    c->depth--;
    return expect(c, '}') < 0 ? EIO_ERR_SYNTAX : 0;
}

int eio_span_is(struct eio_span span, const char *s)
{
    size_t n = strlen(s);

    return span.len == n && memcmp(span.ptr, s, n) == 0;
}

/* Marks member bit as seen. Returns 0, or EIO_ERR_VALUE when it was already. */
static int once(unsigned *seen, unsigned bit)
{
    if (*seen & bit)
        return EIO_ERR_VALUE;
    *seen |= bit;
    return 0;
}

/* Reads a number member in [min, max]. Returns 0 or EIO_ERR_*. */
static int number_in(struct cursor *c, double min, double max, double *out)
{
    int integral;

    if (number(c, out, &integral) < 0) {
        /* Valid JSON of another type is a value error, broken JSON a syntax error. */
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    }
    return isfinite(*out) && *out >= min && *out <= max ? 0 : EIO_ERR_VALUE;
}

/* Reads an integer member in [min, EIO_INT_MAX]. Returns 0 or EIO_ERR_*. */
static int integer_from(struct cursor *c, uint64_t min, uint64_t *out)
{
    const char *at = c->p;
    int rc = integer(c, out);

    if (rc == -1) {
        c->p = at;
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    }
    return rc == 0 && *out >= min ? 0 : EIO_ERR_VALUE;
}

/* ------------------------------------------------------------ friend, nearby */

enum { F_ID = 1, F_LAT = 2, F_LNG = 4, F_TS = 8, F_DIST = 16, F_ALL = 31 };

struct friend_read {
    struct proto_friend f;
    unsigned seen;
};

static int friend_member(struct cursor *c, struct eio_span key, void *arg)
{
    struct friend_read *r = arg;

    if (eio_span_is(key, "id"))
        return once(&r->seen, F_ID) < 0 ? EIO_ERR_VALUE : integer_from(c, 1, &r->f.id);
    if (eio_span_is(key, "lat"))
        return once(&r->seen, F_LAT) < 0 ? EIO_ERR_VALUE : number_in(c, -90, 90, &r->f.lat);
    if (eio_span_is(key, "lng"))
        return once(&r->seen, F_LNG) < 0 ? EIO_ERR_VALUE : number_in(c, -180, 180, &r->f.lng);
    if (eio_span_is(key, "ts"))
        return once(&r->seen, F_TS) < 0 ? EIO_ERR_VALUE : integer_from(c, 0, &r->f.ts);
    if (eio_span_is(key, "dist_km"))
        return once(&r->seen, F_DIST) < 0 ? EIO_ERR_VALUE
                                           : number_in(c, 0, 40075, &r->f.dist_km);
    return value(c) < 0 ? EIO_ERR_SYNTAX : 0;
}

/* Reads one friend object at c. Returns 0 or EIO_ERR_*. */
static int friend_at(struct cursor *c, struct proto_friend *out)
{
    struct friend_read r = {{0}, 0};
    int rc;

    if (!peek(c, '{'))
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    if ((rc = members(c, friend_member, &r)) < 0)
        return rc;
    if (r.seen != F_ALL)
        return EIO_ERR_VALUE;
    *out = r.f;
    return 0;
}

int eio_decode_friend(const char *json, size_t len, struct proto_friend *out)
{
    struct cursor c = {json, json + len, 0};
    struct proto_friend f;
    int rc = friend_at(&c, &f);

    if (rc < 0)
        return rc;
    skip_ws(&c);
    if (c.p != c.end)
        return EIO_ERR_SYNTAX;
    *out = f;
    return 0;
}

enum { N_RADIUS = 1, N_FRIENDS = 2, N_ALL = 3 };

struct nearby_read {
    struct eio_nearby n;
    unsigned seen;
};

static int nearby_member(struct cursor *c, struct eio_span key, void *arg)
{
    struct nearby_read *r = arg;
    struct proto_friend f;
    const char *start;
    int rc;

    if (eio_span_is(key, "radius_km"))
        return once(&r->seen, N_RADIUS) < 0 ? EIO_ERR_VALUE
                                             : number_in(c, 1e-9, 40075, &r->n.radius_km);
    if (!eio_span_is(key, "friends"))
        return value(c) < 0 ? EIO_ERR_SYNTAX : 0;
    if (once(&r->seen, N_FRIENDS) < 0)
        return EIO_ERR_VALUE;
    if (!peek(c, '['))
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    start = c->p;
    c->p++;
    r->n.count = 0;
    if (!peek(c, ']')) {
        do {
            if ((rc = friend_at(c, &f)) < 0)
                return rc;
            if (r->n.count == UINT32_MAX)
                return EIO_ERR_VALUE;
            r->n.count++;
        } while (expect(c, ',') == 0);
    }
    if (expect(c, ']') < 0)
        return EIO_ERR_SYNTAX;
    r->n.friends.ptr = start;
    r->n.friends.len = (size_t)(c->p - start);
    return 0;
}

int eio_decode_nearby(const char *json, size_t len, struct eio_nearby *out)
{
    struct cursor c = {json, json + len, 0};
    struct nearby_read r = {{0}, 0};
    int rc;

    if (!peek(&c, '{'))
        return value(&c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    if ((rc = members(&c, nearby_member, &r)) < 0)
        return rc;
    skip_ws(&c);
    if (c.p != c.end)
        return EIO_ERR_SYNTAX;
    if (r.seen != N_ALL)
        return EIO_ERR_VALUE;
    *out = r.n;
    return 0;
}

void eio_nearby_iter_init(struct eio_nearby_iter *it, const struct eio_nearby *n)
{
    it->p = n->friends.ptr + 1; /* past '[' */
    it->end = n->friends.ptr + n->friends.len;
    it->left = n->count;
}

int eio_nearby_iter_next(struct eio_nearby_iter *it, struct proto_friend *out)
{
    struct cursor c = {it->p, it->end, 0};

    /* eio_decode_nearby checked every friend, so this read cannot fail. */
    if (it->left == 0 || friend_at(&c, out) < 0)
        return 0;
    expect(&c, ',');
    it->p = c.p;
    it->left--;
    return 1;
}

/* ------------------------------------------------------------ packets */

/* Reads the namespace ("/x,") and ack id of a Socket.IO packet at c, leaving c
 * at its JSON. Returns 0 or EIO_ERR_SYNTAX. */
static int sio_head(struct cursor *c, struct eio_packet *pk)
{
    const char *p;

    pk->ns = (struct eio_span){"/", 1};
    if (c->p < c->end && *c->p == '/') {
        p = memchr(c->p, ',', (size_t)(c->end - c->p));
        if (p == NULL)
            return EIO_ERR_SYNTAX;
        pk->ns = (struct eio_span){c->p, (size_t)(p - c->p)};
        c->p = p + 1;
    }
    pk->has_ack_id = 0;
    pk->ack_id = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        uint64_t d = (uint64_t)(*c->p - '0');

        if (pk->ack_id > (UINT64_MAX - d) / 10)
            return EIO_ERR_SYNTAX;
        pk->ack_id = pk->ack_id * 10 + d;
        pk->has_ack_id = 1;
        c->p++;
    }
    return 0;
}

enum { O_INTERVAL = 1, O_TIMEOUT = 2, O_SID = 4, O_ALL = 7 };

struct open_read {
    struct eio_packet *pk;
    unsigned seen;
};

static int open_member(struct cursor *c, struct eio_span key, void *arg)
{
    struct open_read *r = arg;

    if (eio_span_is(key, "pingInterval"))
        return once(&r->seen, O_INTERVAL) < 0 ? EIO_ERR_VALUE
                                               : integer_from(c, 1, &r->pk->open.ping_interval_ms);
    if (eio_span_is(key, "pingTimeout"))
        return once(&r->seen, O_TIMEOUT) < 0 ? EIO_ERR_VALUE
                                              : integer_from(c, 1, &r->pk->open.ping_timeout_ms);
    if (eio_span_is(key, "sid")) {
        if (once(&r->seen, O_SID) < 0)
            return EIO_ERR_VALUE;
        if (!peek(c, '"'))
            return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
        return string(c, &r->pk->open.sid) < 0 ? EIO_ERR_SYNTAX : 0;
    }
    return value(c) < 0 ? EIO_ERR_SYNTAX : 0;
}

struct error_read {
    struct eio_span message;
    unsigned seen;
};

static int error_member(struct cursor *c, struct eio_span key, void *arg)
{
    struct error_read *r = arg;

    if (!eio_span_is(key, "message"))
        return value(c) < 0 ? EIO_ERR_SYNTAX : 0;
    if (once(&r->seen, 1) < 0)
        return EIO_ERR_VALUE;
    if (!peek(c, '"'))
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    return string(c, &r->message) < 0 ? EIO_ERR_SYNTAX : 0;
}

/* 44{"message":".."}: the message's span. Returns 0 or EIO_ERR_*. */
static int connect_error(struct cursor *c, struct eio_packet *pk)
{
    struct error_read r = {{NULL, 0}, 0};
    int rc;

    if (!peek(c, '{'))
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    if ((rc = members(c, error_member, &r)) < 0)
        return rc;
    if (r.seen == 0)
        return EIO_ERR_VALUE;
    pk->error.message = r.message;
    return 0;
}

/* 42[name, args...]: name and the first argument. Returns 0 or EIO_ERR_*. */
static int event(struct cursor *c, struct eio_packet *pk)
{
    const char *start;

    if (expect(c, '[') < 0 || ++c->depth > EIO_DEPTH_MAX)
        return EIO_ERR_SYNTAX;
    if (peek(c, ']'))
        return EIO_ERR_VALUE; /* no event name */
    if (!peek(c, '"'))
        return value(c) < 0 ? EIO_ERR_SYNTAX : EIO_ERR_VALUE;
    if (string(c, &pk->event.name) < 0)
        return EIO_ERR_SYNTAX;
    pk->event.arg = (struct eio_span){NULL, 0};
    pk->event.argc = 0;
    while (expect(c, ',') == 0) {
        skip_ws(c);
        start = c->p;
        if (value(c) < 0)
            return EIO_ERR_SYNTAX;
        if (pk->event.argc++ == 0)
            pk->event.arg = (struct eio_span){start, (size_t)(c->p - start)};
    }
    c->depth--;
    return expect(c, ']') < 0 ? EIO_ERR_SYNTAX : 0;
}

int eio_parse(const char *frame, size_t len, struct eio_packet *out)
{
    struct cursor c = {frame, frame + len, 0};
    struct eio_packet pk;
    struct open_read r = {&pk, 0};
    int rc = 0;

    memset(&pk, 0, sizeof(pk));
    pk.ns = (struct eio_span){"/", 1};
    if (len == 0)
        return EIO_ERR_SYNTAX;
    c.p++;
    switch (frame[0]) {
    case '0':
        pk.kind = EIO_KIND_OPEN;
        if ((rc = members(&c, open_member, &r)) == 0 && r.seen != O_ALL)
            rc = EIO_ERR_VALUE;
        break;
    case '1':
        pk.kind = EIO_KIND_CLOSE;
        break;
    case '2':
        pk.kind = EIO_KIND_PING;
        pk.ping.data = (struct eio_span){c.p, len - 1};
        c.p = c.end;
        break;
    case '3':
        pk.kind = EIO_KIND_PONG;
        c.p = c.end;
        break;
    case '5':
        pk.kind = EIO_KIND_UPGRADE;
        break;
    case '6':
        pk.kind = EIO_KIND_NOOP;
        break;
    case '4':
        if (c.p == c.end)
            return EIO_ERR_SYNTAX;
        switch (*c.p++) {
        case '0':
            pk.kind = EIO_KIND_CONNECT;
            if ((rc = sio_head(&c, &pk)) == 0 && c.p < c.end && object(&c) < 0)
                rc = EIO_ERR_SYNTAX;
            break;
        case '1':
            pk.kind = EIO_KIND_DISCONNECT;
            rc = sio_head(&c, &pk);
            break;
        case '2':
            pk.kind = EIO_KIND_EVENT;
            if ((rc = sio_head(&c, &pk)) == 0)
                rc = event(&c, &pk);
            break;
        case '4':
            pk.kind = EIO_KIND_CONNECT_ERROR;
            if ((rc = sio_head(&c, &pk)) == 0)
                rc = connect_error(&c, &pk);
            break;
        case '3':
        case '5':
        case '6':
            pk.kind = EIO_KIND_OTHER;
            c.p = c.end;
            break;
        default:
            return EIO_ERR_SYNTAX;
        }
        break;
    default:
        return EIO_ERR_SYNTAX;
    }
    if (rc < 0)
        return rc;
    skip_ws(&c);
    if (c.p != c.end)
        return EIO_ERR_SYNTAX;
    *out = pk;
    return 0;
}

/* ------------------------------------------------------------ encoders */

/* Returns n as the result of an snprintf into cap bytes, or EIO_ERR_NOSPACE. */
static int fitted(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? EIO_ERR_NOSPACE : n;
}

int eio_encode_connect(char *buf, size_t cap, const char *token, size_t token_len)
{
    if (token == NULL || token_len == 0 || token_len > INT32_MAX)
        return EIO_ERR_INVALID;
    for (size_t i = 0; i < token_len; i++) {
        unsigned char ch = (unsigned char)token[i];

        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            return EIO_ERR_INVALID;
    }
    return fitted(snprintf(buf, cap, "40{\"token\":\"%.*s\"}", (int)token_len, token), cap);
}

int eio_encode_loc(char *buf, size_t cap, double lat, double lng, uint64_t ts)
{
    if (!isfinite(lat) || !isfinite(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180 ||
        ts > EIO_INT_MAX)
        return EIO_ERR_INVALID;
    /* 17 significant digits: the double comes back exactly. */
    return fitted(snprintf(buf, cap, "42[\"loc\",{\"lat\":%.17g,\"lng\":%.17g,\"ts\":%" PRIu64 "}]",
                           lat, lng, ts), cap);
}

int eio_encode_pong(char *buf, size_t cap, struct eio_span data)
{
    if (data.len > INT32_MAX || (data.len > 0 && data.ptr == NULL))
        return EIO_ERR_INVALID;
    return fitted(snprintf(buf, cap, "3%.*s", (int)data.len, data.len ? data.ptr : ""), cap);
}

const char *eio_strerror(int err)
{
    switch (err) {
    case EIO_OK:
        return "ok";
    case EIO_ERR_SYNTAX:
        return "not an Engine.IO/Socket.IO packet of valid JSON";
    case EIO_ERR_VALUE:
        return "a member is missing, repeated, of the wrong type or out of range";
    case EIO_ERR_NOSPACE:
        return "no room in the output buffer";
    case EIO_ERR_INVALID:
        return "invalid argument";
    default:
        return "unknown error";
    }
}
