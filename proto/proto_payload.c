/* proto_payload.c: strict encode/decode of the versioned msgpack array carried on pub/sub channels. */
#include <math.h>
#include <string.h>

#include "mp-internal.h"
#include "proto_payload.h"

/* Elements after [version, kind], per kind. */
static const uint32_t kind_elements[] = {
    [PROTO_PAYLOAD_LOC] = 6,
    [PROTO_PAYLOAD_OFF] = 3,
    [PROTO_PAYLOAD_FRIEND_ADD] = 3,
    [PROTO_PAYLOAD_FRIEND_DEL] = 3,
    [PROTO_PAYLOAD_HB] = 3,
    [PROTO_PAYLOAD_ON] = 3,
    [PROTO_PAYLOAD_BLOCK] = 3,
    [PROTO_PAYLOAD_GONE] = 2,
    [PROTO_PAYLOAD_ERASED] = 2,
    [PROTO_PAYLOAD_STRANGER] = 6,
    [PROTO_PAYLOAD_STRANGER_GONE] = 4,
    [PROTO_PAYLOAD_STRANGER_ASK] = 2,
};

static const char *const kind_names[] = {
    [PROTO_PAYLOAD_LOC] = "loc",
    [PROTO_PAYLOAD_OFF] = "off",
    [PROTO_PAYLOAD_FRIEND_ADD] = "friend_add",
    [PROTO_PAYLOAD_FRIEND_DEL] = "friend_del",
    [PROTO_PAYLOAD_HB] = "hb",
    [PROTO_PAYLOAD_ON] = "on",
    [PROTO_PAYLOAD_BLOCK] = "block",
    [PROTO_PAYLOAD_GONE] = "gone",
    [PROTO_PAYLOAD_ERASED] = "erased",
    [PROTO_PAYLOAD_STRANGER] = "stranger",
    [PROTO_PAYLOAD_STRANGER_GONE] = "stranger_gone",
    [PROTO_PAYLOAD_STRANGER_ASK] = "stranger_ask",
};

#define KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *proto_payload_kind_name(enum proto_payload_kind kind)
{
    if ((unsigned)kind >= KINDS)
        return NULL;
    return kind_names[kind];
}

static int valid_coords(double lat, double lng)
{
    return isfinite(lat) && isfinite(lng) && lat >= -90.0 && lat <= 90.0 && lng >= -180.0 &&
           lng <= 180.0;
}

int proto_payload_encode(uint8_t *buf, size_t cap, const struct proto_payload *p)
{
    struct mp_writer w;

    if ((unsigned)p->kind >= KINDS)
        return PROTO_ERR_INVALID;
    if (p->kind == PROTO_PAYLOAD_LOC && !valid_coords(p->loc.lat, p->loc.lng))
        return PROTO_ERR_INVALID;
    if (p->kind == PROTO_PAYLOAD_STRANGER &&
        (p->stranger.sid == 0 || !valid_coords(p->stranger.lat, p->stranger.lng)))
        return PROTO_ERR_INVALID;
    if (p->kind == PROTO_PAYLOAD_STRANGER_GONE &&
        (p->stranger_gone.sid == 0 || p->stranger_gone.next_len > PROTO_CELL_MAX ||
         (p->stranger_gone.next == NULL && p->stranger_gone.next_len > 0)))
        return PROTO_ERR_INVALID;
    if (p->kind == PROTO_PAYLOAD_HB &&
        (p->hb.gateway == NULL || p->hb.gateway_len < 1 ||
         p->hb.gateway_len > PROTO_GATEWAY_ID_MAX))
        return PROTO_ERR_INVALID;

    mp_writer_init(&w, buf, cap);
    mp_put_array(&w, 2 + kind_elements[p->kind]);
    mp_put_uint(&w, PROTO_PAYLOAD_VERSION);
    mp_put_uint(&w, (uint64_t)p->kind);
    if (p->kind == PROTO_PAYLOAD_HB) {
        mp_put_str(&w, p->hb.gateway, p->hb.gateway_len);
        mp_put_uint(&w, p->hb.counter);
        mp_put_uint(&w, p->hb.ts);
    } else {
        mp_put_uint(&w, p->user);
        mp_put_uint(&w, p->seq);
    }
    switch (p->kind) {
    case PROTO_PAYLOAD_LOC:
        mp_put_double(&w, p->loc.lat);
        mp_put_double(&w, p->loc.lng);
        mp_put_uint(&w, p->loc.ts);
        mp_put_uint(&w, p->loc.consent);
        break;
    case PROTO_PAYLOAD_OFF:
    case PROTO_PAYLOAD_ON:
        mp_put_uint(&w, p->sharing.consent);
        break;
    case PROTO_PAYLOAD_FRIEND_ADD:
    case PROTO_PAYLOAD_FRIEND_DEL:
    case PROTO_PAYLOAD_BLOCK:
        mp_put_uint(&w, p->friend.other);
        break;
    case PROTO_PAYLOAD_STRANGER:
        mp_put_uint(&w, p->stranger.sid);
        mp_put_double(&w, p->stranger.lat);
        mp_put_double(&w, p->stranger.lng);
        mp_put_uint(&w, p->stranger.ts);
        break;
    case PROTO_PAYLOAD_STRANGER_GONE:
        mp_put_uint(&w, p->stranger_gone.sid);
        mp_put_str(&w, p->stranger_gone.next, p->stranger_gone.next_len);
        break;
    default:
        break;
    }
    int n = mp_writer_finish(&w);
    return n < 0 ? PROTO_ERR_NOSPACE : n;
}

/* The element decoders below return 0, or a PROTO_ERR_* with *why set to the
 * static reason passed in for that element. */

static int take_uint(struct mp_reader *r, uint64_t *v, const char *wrong, const char **why)
{
    int rc = mp_read_uint(r, v);
    if (rc == MP_OK)
        return PROTO_OK;
    *why = wrong;
    return rc == MP_WRONG ? PROTO_ERR_SCHEMA : PROTO_ERR_RANGE;
}

static int take_coord(struct mp_reader *r, double *v, double limit, const char *wrong,
                      const char *range, const char **why)
{
    int rc = mp_read_number(r, v);
    if (rc != MP_OK) {
        *why = wrong;
        return PROTO_ERR_SCHEMA;
    }
    if (!isfinite(*v) || *v < -limit || *v > limit) {
        *why = range;
        return PROTO_ERR_RANGE;
    }
    return PROTO_OK;
}

/* A stranger's sid: an unsigned integer, never 0. */
static int take_sid(struct mp_reader *r, uint64_t *sid, const char **why)
{
    int err = take_uint(r, sid, "payload: sid is not an unsigned integer", why);

    if (err == PROTO_OK && *sid == 0) {
        *why = "payload: sid is 0";
        return PROTO_ERR_RANGE;
    }
    return err;
}

/* Decodes the elements after [version, kind]; the structure has been checked. */
static int decode_kind(struct mp_reader *r, struct proto_payload *p, const char **why)
{
    int err = PROTO_OK;
    const char *s;
    uint32_t n;

    if (p->kind == PROTO_PAYLOAD_HB) {
        if (mp_read_str(r, &s, &n) != MP_OK) {
            *why = "payload hb: gateway is not a string";
            return PROTO_ERR_SCHEMA;
        }
        if (n < 1 || n > PROTO_GATEWAY_ID_MAX) {
            *why = "payload hb: gateway length out of range";
            return PROTO_ERR_RANGE;
        }
        p->hb.gateway = s;
        p->hb.gateway_len = n;
        err = take_uint(r, &p->hb.counter, "payload hb: counter is not an unsigned integer", why);
        if (err == PROTO_OK)
            err = take_uint(r, &p->hb.ts, "payload hb: ts is not an unsigned integer", why);
        return err;
    }
    err = take_uint(r, &p->user, "payload: user is not an unsigned integer", why);
    if (err == PROTO_OK)
        err = take_uint(r, &p->seq, "payload: seq is not an unsigned integer", why);
    if (err != PROTO_OK)
        return err;
    switch (p->kind) {
    case PROTO_PAYLOAD_LOC:
        err = take_coord(r, &p->loc.lat, 90.0, "payload loc: lat is not a number",
                         "payload loc: lat out of range or not finite", why);
        if (err == PROTO_OK)
            err = take_coord(r, &p->loc.lng, 180.0, "payload loc: lng is not a number",
                             "payload loc: lng out of range or not finite", why);
        if (err == PROTO_OK)
            err = take_uint(r, &p->loc.ts, "payload loc: ts is not an unsigned integer", why);
        if (err == PROTO_OK)
            err = take_uint(r, &p->loc.consent, "payload loc: consent is not an unsigned integer",
                            why);
        break;
    case PROTO_PAYLOAD_OFF:
    case PROTO_PAYLOAD_ON:
        err = take_uint(r, &p->sharing.consent, "payload: consent is not an unsigned integer",
                        why);
        break;
    case PROTO_PAYLOAD_FRIEND_ADD:
    case PROTO_PAYLOAD_FRIEND_DEL:
    case PROTO_PAYLOAD_BLOCK:
        err = take_uint(r, &p->friend.other, "payload: other is not an unsigned integer", why);
        break;
    case PROTO_PAYLOAD_STRANGER:
        err = take_sid(r, &p->stranger.sid, why);
        if (err == PROTO_OK)
            err = take_coord(r, &p->stranger.lat, 90.0, "payload stranger: lat is not a number",
                             "payload stranger: lat out of range or not finite", why);
        if (err == PROTO_OK)
            err = take_coord(r, &p->stranger.lng, 180.0, "payload stranger: lng is not a number",
                             "payload stranger: lng out of range or not finite", why);
        if (err == PROTO_OK)
            err = take_uint(r, &p->stranger.ts, "payload stranger: ts is not an unsigned integer",
                            why);
        break;
    case PROTO_PAYLOAD_STRANGER_GONE:
        err = take_sid(r, &p->stranger_gone.sid, why);
        if (err != PROTO_OK)
            break;
        if (mp_read_str(r, &s, &n) != MP_OK) {
            *why = "payload stranger_gone: next is not a string";
            return PROTO_ERR_SCHEMA;
        }
        if (n > PROTO_CELL_MAX) {
            *why = "payload stranger_gone: next is longer than a geohash";
            return PROTO_ERR_RANGE;
        }
        p->stranger_gone.next = s;
        p->stranger_gone.next_len = n;
        break;
    default:
        break;
    }
    return err;
}

int proto_payload_decode(const uint8_t *buf, size_t len, struct proto_payload *out,
                         const char **reason)
{
    struct mp_reader r = {buf, buf + len};
    struct proto_payload p;
    const char *why = "payload: truncated";
    uint64_t version;
    uint64_t kind;
    uint32_t count;
    int err = PROTO_ERR_MALFORMED;
    int rc;

    if (len > PROTO_PAYLOAD_MAX) {
        err = PROTO_ERR_TOO_LARGE;
        why = "payload: too large";
        goto done;
    }
    rc = mp_read_array(&r, &count);
    if (rc != MP_OK) {
        if (rc == MP_WRONG)
            why = "payload: not an array";
        goto done;
    }
    if (count < 2) {
        err = PROTO_ERR_SCHEMA;
        why = "payload: missing version or kind";
        goto done;
    }
    rc = mp_read_uint(&r, &version);
    if (rc == MP_EOF)
        goto done;
    if (rc != MP_OK || version != PROTO_PAYLOAD_VERSION) {
        err = rc == MP_WRONG ? PROTO_ERR_SCHEMA : PROTO_ERR_VERSION;
        why = rc == MP_WRONG ? "payload: version is not an unsigned integer"
                             : "payload: unknown version";
        goto done;
    }
    rc = mp_read_uint(&r, &kind);
    if (rc == MP_EOF)
        goto done;
    if (rc != MP_OK || kind >= KINDS) {
        err = rc == MP_WRONG ? PROTO_ERR_SCHEMA : PROTO_ERR_TYPE;
        why = rc == MP_WRONG ? "payload: kind is not an unsigned integer" : "payload: unknown kind";
        goto done;
    }
    const struct mp_reader elements = r;
    for (uint32_t i = 2; i < count; i++) {
        rc = mp_skip(&r, 0);
        if (rc == MP_BAD) {
            why = "payload: nested or invalid element";
            goto done;
        }
        if (rc != MP_OK)
            goto done;
    }
    if (r.p != r.end) {
        why = "payload: trailing bytes after the array";
        goto done;
    }
    if (count - 2 < kind_elements[kind]) {
        err = PROTO_ERR_SCHEMA;
        why = "payload: too few elements for its kind";
        goto done;
    }

    memset(&p, 0, sizeof(p));
    p.kind = (enum proto_payload_kind)kind;
    r = elements;
    err = decode_kind(&r, &p, &why);
    if (err != PROTO_OK)
        goto done;
    *out = p;
done:
    if (err < 0 && reason != NULL)
        *reason = why;
    return err;
}
