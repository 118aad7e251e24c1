/* proto_msg.c: strict encode/decode of the phone <-> gateway messages, driven by one field table per type. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "mp-internal.h"
#include "proto_msg.h"

enum field_kind {
    F_TYPE,    /* t: str; its value was matched in the first pass */
    F_ID,      /* uint64 */
    F_TS,      /* uint64 */
    F_LAT,     /* number in [-90, 90] */
    F_LNG,     /* number in [-180, 180] */
    F_KM,      /* number > 0 (km, radius_km) */
    F_DIST,    /* number >= 0 */
    F_TOKEN,   /* str 1..PROTO_TOKEN_MAX */
    F_CODE,    /* str 1..PROTO_CODE_MAX */
    F_TEXT,    /* str 0..PROTO_ERR_MSG_MAX */
    F_FRIENDS, /* array of friend maps */
    F_BOOL,    /* true or false */
    F_SID,     /* str of PROTO_SID_LEN lowercase hex digits */
};

/* A key of one message type, with the reasons each way it can be wrong. */
struct field {
    const char *key;
    enum field_kind kind;
    const char *missing;
    const char *duplicate;
    const char *wrong_type;
    const char *bad_value;
    const char *not_finite;
};

#define WRONG_F_TYPE "is not a string"
#define WRONG_F_ID "is not an unsigned integer"
#define WRONG_F_TS "is not an unsigned integer"
#define WRONG_F_LAT "is not a number"
#define WRONG_F_LNG "is not a number"
#define WRONG_F_KM "is not a number"
#define WRONG_F_DIST "is not a number"
#define WRONG_F_TOKEN "is not a string"
#define WRONG_F_CODE "is not a string"
#define WRONG_F_TEXT "is not a string"
#define WRONG_F_FRIENDS "is not an array of maps"
#define WRONG_F_BOOL "is not true or false"
#define WRONG_F_SID "is not a string"

#define FIELD(msg, name, kind)                                                   \
    {                                                                            \
        name, kind, msg ": missing " name, msg ": duplicate " name,              \
            msg ": " name " " WRONG_##kind, msg ": " name " out of range",       \
            msg ": " name " is not finite"                                       \
    }

struct msg_schema {
    const char *name;
    enum proto_msg_type type;
    const struct field *fields;
    size_t nfields;
};

/* What the fields of one map decoded to; each kind fills its own member. */
struct field_values {
    uint64_t id;
    uint64_t ts;
    double lat;
    double lng;
    double km;
    double dist;
    const char *str;
    uint32_t str_len;
    const char *text;
    uint32_t text_len;
    struct proto_nearby friends;
    int on;
    const char *sid;
};

static const struct field init_fields[] = {
    FIELD("init", "t", F_TYPE),
    FIELD("init", "token", F_TOKEN),
};
static const struct field refresh_fields[] = {
    FIELD("refresh", "t", F_TYPE),
    FIELD("refresh", "token", F_TOKEN),
};
static const struct field loc_fields[] = {
    FIELD("loc", "t", F_TYPE),
    FIELD("loc", "lat", F_LAT),
    FIELD("loc", "lng", F_LNG),
    FIELD("loc", "ts", F_TS),
};
static const struct field radius_fields[] = {
    FIELD("radius", "t", F_TYPE),
    FIELD("radius", "km", F_KM),
};
static const struct field strangers_fields[] = {
    FIELD("strangers", "t", F_TYPE),
    FIELD("strangers", "on", F_BOOL),
};
static const struct field stranger_fields[] = {
    FIELD("stranger", "t", F_TYPE),
    FIELD("stranger", "sid", F_SID),
    FIELD("stranger", "lat", F_LAT),
    FIELD("stranger", "lng", F_LNG),
    FIELD("stranger", "dist_km", F_DIST),
};
static const struct field stranger_gone_fields[] = {
    FIELD("stranger_gone", "t", F_TYPE),
    FIELD("stranger_gone", "sid", F_SID),
};
static const struct field nearby_fields[] = {
    FIELD("nearby", "t", F_TYPE),
    FIELD("nearby", "radius_km", F_KM),
    FIELD("nearby", "friends", F_FRIENDS),
};
static const struct field nearby_friend_fields[] = {
    FIELD("nearby friend", "id", F_ID),
    FIELD("nearby friend", "lat", F_LAT),
    FIELD("nearby friend", "lng", F_LNG),
    FIELD("nearby friend", "ts", F_TS),
    FIELD("nearby friend", "dist_km", F_DIST),
};
static const struct field friend_fields[] = {
    FIELD("friend", "t", F_TYPE),
    FIELD("friend", "id", F_ID),
    FIELD("friend", "lat", F_LAT),
    FIELD("friend", "lng", F_LNG),
    FIELD("friend", "ts", F_TS),
    FIELD("friend", "dist_km", F_DIST),
};
static const struct field gone_fields[] = {
    FIELD("gone", "t", F_TYPE),
    FIELD("gone", "id", F_ID),
};
static const struct field err_fields[] = {
    FIELD("err", "t", F_TYPE),
    FIELD("err", "code", F_CODE),
    FIELD("err", "msg", F_TEXT),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SCHEMA(name, type, fields) {name, type, fields, COUNT(fields)}

static const struct msg_schema from_phone[] = {
    SCHEMA("init", PROTO_MSG_INIT, init_fields),
    SCHEMA("loc", PROTO_MSG_LOC, loc_fields),
    SCHEMA("radius", PROTO_MSG_RADIUS, radius_fields),
    SCHEMA("refresh", PROTO_MSG_REFRESH, refresh_fields),
    SCHEMA("strangers", PROTO_MSG_STRANGERS, strangers_fields),
};
static const struct msg_schema from_gateway[] = {
    SCHEMA("nearby", PROTO_MSG_NEARBY, nearby_fields),
    SCHEMA("friend", PROTO_MSG_FRIEND, friend_fields),
    SCHEMA("gone", PROTO_MSG_GONE, gone_fields),
    SCHEMA("err", PROTO_MSG_ERR, err_fields),
    SCHEMA("stranger", PROTO_MSG_STRANGER, stranger_fields),
    SCHEMA("stranger_gone", PROTO_MSG_STRANGER_GONE, stranger_gone_fields),
};

const char *proto_msg_type_name(enum proto_msg_type type)
{
    switch (type) {
    case PROTO_MSG_INIT: return "init";
    case PROTO_MSG_LOC: return "loc";
    case PROTO_MSG_RADIUS: return "radius";
    case PROTO_MSG_NEARBY: return "nearby";
    case PROTO_MSG_FRIEND: return "friend";
    case PROTO_MSG_GONE: return "gone";
    case PROTO_MSG_ERR: return "err";
    case PROTO_MSG_REFRESH: return "refresh";
    case PROTO_MSG_STRANGERS: return "strangers";
    case PROTO_MSG_STRANGER: return "stranger";
    case PROTO_MSG_STRANGER_GONE: return "stranger_gone";
    }
    return NULL;
}

static int str_is(const char *s, uint32_t len, const char *name)
{
    size_t n = strlen(name);
    return n == len && memcmp(s, name, n) == 0;
}

/* Maps a reader status to a proto error and its reason; MP_WRONG means the
 * value had another type than the field needs. */
static int fail(int mp_rc, const struct field *f, const char **reason)
{
    switch (mp_rc) {
    case MP_WRONG:
        *reason = f->wrong_type;
        return PROTO_ERR_SCHEMA;
    case MP_RANGE:
        *reason = f->bad_value;
        return PROTO_ERR_RANGE;
    case MP_BAD:
        *reason = "not msgpack or nested too deep";
        return PROTO_ERR_MALFORMED;
    default:
        *reason = "truncated";
        return PROTO_ERR_MALFORMED;
    }
}

static int decode_number(struct mp_reader *r, const struct field *f, double *out,
                         const char **reason)
{
    double v;
    int rc = mp_read_number(r, &v);
    if (rc != MP_OK)
        return fail(rc, f, reason);
    if (!isfinite(v)) {
        *reason = f->not_finite;
        return PROTO_ERR_RANGE;
    }
    int ok;
    switch (f->kind) {
    case F_LAT: ok = v >= -90.0 && v <= 90.0; break;
    case F_LNG: ok = v >= -180.0 && v <= 180.0; break;
    case F_KM: ok = v > 0.0; break;
    default: ok = v >= 0.0; break;
    }
    if (!ok) {
        *reason = f->bad_value;
        return PROTO_ERR_RANGE;
    }
    *out = v;
    return PROTO_OK;
}

static int decode_str(struct mp_reader *r, const struct field *f, uint32_t min, uint32_t max,
                      const char **s, uint32_t *len, const char **reason)
{
    const char *v;
    uint32_t n;
    int rc = mp_read_str(r, &v, &n);
    if (rc != MP_OK)
        return fail(rc, f, reason);
    if (n < min || n > max) {
        *reason = f->bad_value;
        return PROTO_ERR_RANGE;
    }
    *s = v;
    *len = n;
    return PROTO_OK;
}

static int decode_map(struct mp_reader *r, uint32_t entries, const struct field *fields,
                      size_t nfields, struct field_values *vals, const char **reason);

int proto_sid_valid(const char *s, size_t len)
{
    if (len != PROTO_SID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Validates every friend of a nearby and records where the list lies. */
static int decode_friends(struct mp_reader *r, const struct field *f, struct proto_nearby *out,
                          const char **reason)
{
    uint32_t count;
    int rc = mp_read_array(r, &count);
    if (rc != MP_OK)
        return fail(rc, f, reason);
    const uint8_t *start = r->p;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t entries;
        struct field_values one;
        rc = mp_read_map(r, &entries);
        if (rc != MP_OK)
            return fail(rc, f, reason);
        rc = decode_map(r, entries, nearby_friend_fields, COUNT(nearby_friend_fields), &one,
                        reason);
        if (rc < 0)
            return rc;
    }
    out->count = count;
    out->friends = start;
    out->friends_len = (size_t)(r->p - start);
    return PROTO_OK;
}

static int decode_value(struct mp_reader *r, const struct field *f, struct field_values *vals,
                        const char **reason)
{
    const char *s;
    uint32_t n;
    int rc;

    switch (f->kind) {
    case F_TYPE:
        return decode_str(r, f, 0, UINT32_MAX, &s, &n, reason);
    case F_ID:
    case F_TS:
        rc = mp_read_uint(r, f->kind == F_ID ? &vals->id : &vals->ts);
        return rc == MP_OK ? PROTO_OK : fail(rc, f, reason);
    case F_LAT:
        return decode_number(r, f, &vals->lat, reason);
    case F_LNG:
        return decode_number(r, f, &vals->lng, reason);
    case F_KM:
        return decode_number(r, f, &vals->km, reason);
    case F_DIST:
        return decode_number(r, f, &vals->dist, reason);
    case F_TOKEN:
        return decode_str(r, f, 1, PROTO_TOKEN_MAX, &vals->str, &vals->str_len, reason);
    case F_CODE:
        return decode_str(r, f, 1, PROTO_CODE_MAX, &vals->str, &vals->str_len, reason);
    case F_TEXT:
        return decode_str(r, f, 0, PROTO_ERR_MSG_MAX, &vals->text, &vals->text_len, reason);
    case F_FRIENDS:
        return decode_friends(r, f, &vals->friends, reason);
    case F_BOOL:
        rc = mp_read_bool(r, &vals->on);
        return rc == MP_OK ? PROTO_OK : fail(rc, f, reason);
    case F_SID:
        rc = decode_str(r, f, PROTO_SID_LEN, PROTO_SID_LEN, &vals->sid, &n, reason);
        if (rc == PROTO_OK && !proto_sid_valid(vals->sid, n)) {
            *reason = f->bad_value;
            return PROTO_ERR_RANGE;
        }
        return rc;
    }
    *reason = "internal: unknown field kind";
    return PROTO_ERR_MALFORMED;
}

/* Decodes the entries of a map (its header already read) against a field
 * table: each field exactly once, unknown keys with scalar values skipped. */
static int decode_map(struct mp_reader *r, uint32_t entries, const struct field *fields,
                      size_t nfields, struct field_values *vals, const char **reason)
{
    unsigned seen = 0;
    int rc;

    for (uint32_t i = 0; i < entries; i++) {
        const char *key;
        uint32_t key_len;
        rc = mp_read_str(r, &key, &key_len);
        if (rc == MP_WRONG) {
            *reason = "map key is not a string";
            return PROTO_ERR_SCHEMA;
        }
        if (rc != MP_OK) {
            *reason = "truncated";
            return PROTO_ERR_MALFORMED;
        }
        size_t k = 0;
        while (k < nfields && !str_is(key, key_len, fields[k].key))
            k++;
        if (k == nfields) {
            rc = mp_skip(r, 0);
            if (rc == MP_BAD) {
                *reason = "unknown key with a nested or invalid value";
                return PROTO_ERR_MALFORMED;
            }
            if (rc != MP_OK) {
                *reason = "truncated";
                return PROTO_ERR_MALFORMED;
            }
            continue;
        }
        if (seen & (1u << k)) {
            *reason = fields[k].duplicate;
            return PROTO_ERR_SCHEMA;
        }
        seen |= 1u << k;
        rc = decode_value(r, &fields[k], vals, reason);
        if (rc < 0)
            return rc;
    }
    for (size_t k = 0; k < nfields; k++) {
        if (!(seen & (1u << k))) {
            *reason = fields[k].missing;
            return PROTO_ERR_SCHEMA;
        }
    }
    return PROTO_OK;
}

/* Reads the whole map once to check its structure (nesting at most depth
 * levels below the top map, no trailing bytes) and to find the type named by
 * the first "t"; then decodes it against that type's fields. */
static int decode_msg(const uint8_t *buf, size_t len, const struct msg_schema *schemas,
                      size_t nschemas, int depth, struct proto_msg *out, const char **reason)
{
    struct mp_reader r = {buf, buf + len};
    const char *why = "truncated";
    const char *type = NULL;
    uint32_t type_len = 0;
    uint32_t entries;
    int err = PROTO_ERR_MALFORMED;
    int rc;

    rc = mp_read_map(&r, &entries);
    if (rc != MP_OK) {
        if (rc == MP_WRONG)
            why = "not a map";
        goto done;
    }
    const struct mp_reader body = r;
    for (uint32_t i = 0; i < entries; i++) {
        const char *key;
        uint32_t key_len;
        rc = mp_read_str(&r, &key, &key_len);
        if (rc == MP_WRONG) {
            err = PROTO_ERR_SCHEMA;
            why = "map key is not a string";
            goto done;
        }
        if (rc != MP_OK)
            goto done;
        if (type == NULL && str_is(key, key_len, "t")) {
            rc = mp_read_str(&r, &type, &type_len);
            if (rc == MP_WRONG) {
                err = PROTO_ERR_SCHEMA;
                why = "t is not a string";
                goto done;
            }
        } else {
            rc = mp_skip(&r, depth);
        }
        if (rc == MP_BAD) {
            why = "not msgpack or nested too deep";
            goto done;
        }
        if (rc != MP_OK)
            goto done;
    }
    if (r.p != r.end) {
        why = "trailing bytes after the map";
        goto done;
    }
    if (type == NULL) {
        err = PROTO_ERR_SCHEMA;
        why = "missing t";
        goto done;
    }
    const struct msg_schema *schema = NULL;
    for (size_t k = 0; k < nschemas && schema == NULL; k++) {
        if (str_is(type, type_len, schemas[k].name))
            schema = &schemas[k];
    }
    if (schema == NULL) {
        err = PROTO_ERR_TYPE;
        why = "unknown t";
        goto done;
    }

    struct field_values v;
    memset(&v, 0, sizeof(v));
    r = body;
    err = decode_map(&r, entries, schema->fields, schema->nfields, &v, &why);
    if (err < 0)
        goto done;

    struct proto_msg m;
    memset(&m, 0, sizeof(m));
    m.type = schema->type;
    switch (schema->type) {
    case PROTO_MSG_INIT:
    case PROTO_MSG_REFRESH:
        m.init.token = v.str;
        m.init.token_len = v.str_len;
        break;
    case PROTO_MSG_LOC:
        m.loc.lat = v.lat;
        m.loc.lng = v.lng;
        m.loc.ts = v.ts;
        break;
    case PROTO_MSG_RADIUS:
        m.radius.km = v.km;
        break;
    case PROTO_MSG_NEARBY:
        m.nearby = v.friends;
        m.nearby.radius_km = v.km;
        break;
    case PROTO_MSG_FRIEND:
        m.friend.id = v.id;
        m.friend.lat = v.lat;
        m.friend.lng = v.lng;
        m.friend.ts = v.ts;
        m.friend.dist_km = v.dist;
        break;
    case PROTO_MSG_GONE:
        m.gone.id = v.id;
        break;
    case PROTO_MSG_STRANGERS:
        m.strangers.on = v.on;
        break;
    case PROTO_MSG_STRANGER:
        m.stranger.sid = v.sid;
        m.stranger.lat = v.lat;
        m.stranger.lng = v.lng;
        m.stranger.dist_km = v.dist;
        break;
    case PROTO_MSG_STRANGER_GONE:
        m.stranger_gone.sid = v.sid;
        break;
    case PROTO_MSG_ERR:
        m.err.code = proto_code_parse(v.str, v.str_len);
        m.err.code_str = v.str;
        m.err.code_len = v.str_len;
        m.err.msg = v.text;
        m.err.msg_len = v.text_len;
        break;
    }
    *out = m;
    err = PROTO_OK;
done:
    if (err < 0 && reason != NULL)
        *reason = why;
    return err;
}

int proto_msg_decode_from_phone(const uint8_t *buf, size_t len, struct proto_msg *out,
                                const char **reason)
{
    if (len > PROTO_FRAME_MAX) {
        if (reason != NULL)
            *reason = "frame too large";
        return PROTO_ERR_TOO_LARGE;
    }
    return decode_msg(buf, len, from_phone, COUNT(from_phone), 0, out, reason);
}

int proto_msg_decode_from_gateway(const uint8_t *buf, size_t len, struct proto_msg *out,
                                  const char **reason)
{
    if (len > PROTO_GATEWAY_FRAME_MAX) {
        if (reason != NULL)
            *reason = "frame too large";
        return PROTO_ERR_TOO_LARGE;
    }
    return decode_msg(buf, len, from_gateway, COUNT(from_gateway), 2, out, reason);
}

void proto_nearby_iter_init(struct proto_nearby_iter *it, const struct proto_nearby *nearby)
{
    it->p = nearby->friends;
    it->end = nearby->friends + nearby->friends_len;
    it->left = nearby->count;
}

int proto_nearby_iter_next(struct proto_nearby_iter *it, struct proto_friend *out)
{
    if (it->left == 0)
        return 0;
    struct mp_reader r = {it->p, it->end};
    struct field_values v;
    const char *why;
    uint32_t entries;

    memset(&v, 0, sizeof(v));
    if (mp_read_map(&r, &entries) != MP_OK)
        return PROTO_ERR_MALFORMED;
    int rc = decode_map(&r, entries, nearby_friend_fields, COUNT(nearby_friend_fields), &v, &why);
    if (rc < 0)
        return rc;
    it->p = r.p;
    it->left--;
    out->id = v.id;
    out->lat = v.lat;
    out->lng = v.lng;
    out->ts = v.ts;
    out->dist_km = v.dist;
    return 1;
}

/* Encoding. */

static int valid_lat(double v)
{
    return isfinite(v) && v >= -90.0 && v <= 90.0;
}

static int valid_lng(double v)
{
    return isfinite(v) && v >= -180.0 && v <= 180.0;
}

static int valid_km(double v)
{
    return isfinite(v) && v > 0.0;
}

static int valid_friend(const struct proto_friend *f)
{
    return valid_lat(f->lat) && valid_lng(f->lng) && isfinite(f->dist_km) && f->dist_km >= 0.0;
}

static void put_key(struct mp_writer *w, const char *key)
{
    mp_put_str(w, key, strlen(key));
}

static void put_type(struct mp_writer *w, uint32_t entries, const char *type)
{
    mp_put_map(w, entries);
    put_key(w, "t");
    put_key(w, type);
}

static int finish(const struct mp_writer *w)
{
    int n = mp_writer_finish(w);
    return n < 0 ? PROTO_ERR_NOSPACE : n;
}

/* The keys of a friend without the "t" (shared by friend and nearby). */
static void put_friend_fields(struct mp_writer *w, const struct proto_friend *f)
{
    put_key(w, "id");
    mp_put_uint(w, f->id);
    put_key(w, "lat");
    mp_put_double(w, f->lat);
    put_key(w, "lng");
    mp_put_double(w, f->lng);
    put_key(w, "ts");
    mp_put_uint(w, f->ts);
    put_key(w, "dist_km");
    mp_put_double(w, f->dist_km);
}

/* init and refresh: {t, token}. */
static int encode_token_msg(uint8_t *buf, size_t cap, const char *type, const char *token,
                            size_t token_len)
{
    struct mp_writer w;
    if (token_len < 1 || token_len > PROTO_TOKEN_MAX)
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 2, type);
    put_key(&w, "token");
    mp_put_str(&w, token, token_len);
    return finish(&w);
}

int proto_msg_encode_init(uint8_t *buf, size_t cap, const char *token, size_t token_len)
{
    return encode_token_msg(buf, cap, "init", token, token_len);
}

int proto_msg_encode_refresh(uint8_t *buf, size_t cap, const char *token, size_t token_len)
{
    return encode_token_msg(buf, cap, "refresh", token, token_len);
}

int proto_msg_encode_loc(uint8_t *buf, size_t cap, double lat, double lng, uint64_t ts)
{
    struct mp_writer w;
    if (!valid_lat(lat) || !valid_lng(lng))
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 4, "loc");
    put_key(&w, "lat");
    mp_put_double(&w, lat);
    put_key(&w, "lng");
    mp_put_double(&w, lng);
    put_key(&w, "ts");
    mp_put_uint(&w, ts);
    return finish(&w);
}

int proto_msg_encode_radius(uint8_t *buf, size_t cap, double km)
{
    struct mp_writer w;
    if (!valid_km(km))
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 2, "radius");
    put_key(&w, "km");
    mp_put_double(&w, km);
    return finish(&w);
}

int proto_msg_encode_friend(uint8_t *buf, size_t cap, const struct proto_friend *f)
{
    struct mp_writer w;
    if (!valid_friend(f))
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 6, "friend");
    put_friend_fields(&w, f);
    return finish(&w);
}

int proto_friend_frame_init(struct proto_friend_frame *ff, uint64_t id, double lat, double lng,
                            uint64_t ts)
{
    struct proto_friend f = {id, lat, lng, ts, 0.0};
    int len = proto_msg_encode_friend(ff->buf, sizeof(ff->buf), &f);

    if (len < 9)
        return len < 0 ? len : PROTO_ERR_INVALID;
    ff->prefix_len = (size_t)len - 9;
    return 0;
}

size_t proto_friend_frame_finish(struct proto_friend_frame *ff, double dist_km)
{
    struct mp_writer w;

    mp_writer_init(&w, ff->buf + ff->prefix_len, 9);
    mp_put_double(&w, dist_km);
    return ff->prefix_len + 9;
}

int proto_msg_encode_strangers(uint8_t *buf, size_t cap, int on)
{
    struct mp_writer w;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 2, "strangers");
    put_key(&w, "on");
    mp_put_bool(&w, on != 0);
    return finish(&w);
}

int proto_msg_encode_stranger(uint8_t *buf, size_t cap, const struct proto_stranger *st)
{
    struct mp_writer w;
    if (st->sid == NULL || !proto_sid_valid(st->sid, PROTO_SID_LEN) || !valid_lat(st->lat) ||
        !valid_lng(st->lng) || !isfinite(st->dist_km) || st->dist_km < 0.0)
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 5, "stranger");
    put_key(&w, "sid");
    mp_put_str(&w, st->sid, PROTO_SID_LEN);
    put_key(&w, "lat");
    mp_put_double(&w, st->lat);
    put_key(&w, "lng");
    mp_put_double(&w, st->lng);
    put_key(&w, "dist_km");
    mp_put_double(&w, st->dist_km);
    return finish(&w);
}

int proto_stranger_frame_init(struct proto_friend_frame *ff, const char *sid, double lat,
                              double lng)
{
    struct proto_stranger st = {sid, lat, lng, 0.0};
    int len = proto_msg_encode_stranger(ff->buf, sizeof(ff->buf), &st);

    if (len < 9)
        return len < 0 ? len : PROTO_ERR_INVALID;
    ff->prefix_len = (size_t)len - 9;
    return 0;
}

int proto_msg_encode_stranger_gone(uint8_t *buf, size_t cap, const char *sid)
{
    struct mp_writer w;
    if (sid == NULL || !proto_sid_valid(sid, PROTO_SID_LEN))
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 2, "stranger_gone");
    put_key(&w, "sid");
    mp_put_str(&w, sid, PROTO_SID_LEN);
    return finish(&w);
}

int proto_msg_encode_gone(uint8_t *buf, size_t cap, uint64_t id)
{
    struct mp_writer w;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 2, "gone");
    put_key(&w, "id");
    mp_put_uint(&w, id);
    return finish(&w);
}

int proto_msg_encode_err(uint8_t *buf, size_t cap, enum proto_code code, const char *msg,
                         size_t msg_len)
{
    struct mp_writer w;
    const char *name = proto_code_name(code);
    if (name == NULL || msg_len > PROTO_ERR_MSG_MAX || (msg == NULL && msg_len > 0))
        return PROTO_ERR_INVALID;
    mp_writer_init(&w, buf, cap);
    put_type(&w, 3, "err");
    put_key(&w, "code");
    put_key(&w, name);
    put_key(&w, "msg");
    mp_put_str(&w, msg, msg_len);
    return finish(&w);
}

int proto_msg_encode_nearby(uint8_t *buf, size_t cap, double radius_km,
                            const struct proto_friend *friends, size_t count)
{
    struct proto_nearby_writer w;
    int rc = proto_nearby_begin(&w, buf, cap, radius_km);
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = proto_nearby_add(&w, &friends[i]);
    return proto_nearby_finish(&w);
}

/* The writer keeps its state in the public struct; these move it to and from
 * an mp_writer around each call. */
static void nearby_load(const struct proto_nearby_writer *nw, struct mp_writer *w)
{
    mp_writer_init(w, nw->buf, nw->cap);
    w->len = nw->len;
}

static int nearby_store(struct proto_nearby_writer *nw, const struct mp_writer *w)
{
    if (w->overflow)
        nw->err = PROTO_ERR_NOSPACE;
    else
        nw->len = w->len;
    return nw->err;
}

int proto_nearby_begin(struct proto_nearby_writer *nw, uint8_t *buf, size_t cap,
                       double radius_km)
{
    struct mp_writer w;
    memset(nw, 0, sizeof(*nw));
    nw->buf = buf;
    nw->cap = cap;
    if (!valid_km(radius_km)) {
        nw->err = PROTO_ERR_INVALID;
        return nw->err;
    }
    nearby_load(nw, &w);
    put_type(&w, 3, "nearby");
    put_key(&w, "radius_km");
    mp_put_double(&w, radius_km);
    put_key(&w, "friends");
    nw->count_at = w.len;
    mp_put_array(&w, 0);
    return nearby_store(nw, &w);
}

/* Rewrites the friends header for count, growing it in place (moving the
 * friends already written) when count needs the next wider form, so the
 * output is always the shortest encoding and needs no spare capacity. */
static int nearby_set_count(struct proto_nearby_writer *nw, uint32_t count)
{
    size_t old_head = nw->count <= 15 ? 1 : nw->count <= UINT16_MAX ? 3 : 5;
    size_t new_head = count <= 15 ? 1 : count <= UINT16_MAX ? 3 : 5;
    uint8_t *p = nw->buf + nw->count_at;

    if (new_head != old_head) {
        size_t grow = new_head - old_head;
        if (nw->cap - nw->len < grow)
            return PROTO_ERR_NOSPACE;
        memmove(p + new_head, p + old_head, nw->len - nw->count_at - old_head);
        nw->len += grow;
    }
    if (new_head == 1) {
        p[0] = (uint8_t)(0x90 | count);
    } else if (new_head == 3) {
        p[0] = 0xdc;
        p[1] = (uint8_t)(count >> 8);
        p[2] = (uint8_t)count;
    } else {
        p[0] = 0xdd;
        for (size_t k = 0; k < 4; k++)
            p[1 + k] = (uint8_t)(count >> (8 * (3 - k)));
    }
    nw->count = count;
    return PROTO_OK;
}

int proto_nearby_add(struct proto_nearby_writer *nw, const struct proto_friend *f)
{
    struct mp_writer w;
    if (nw->err < 0)
        return nw->err;
    if (!valid_friend(f) || nw->count == UINT32_MAX) {
        nw->err = PROTO_ERR_INVALID;
        return nw->err;
    }
    nw->err = nearby_set_count(nw, nw->count + 1);
    if (nw->err < 0)
        return nw->err;
    nearby_load(nw, &w);
    mp_put_map(&w, 5);
    put_friend_fields(&w, f);
    return nearby_store(nw, &w);
}

int proto_nearby_finish(struct proto_nearby_writer *nw)
{
    if (nw->err < 0)
        return nw->err;
    if (nw->len > INT_MAX) {
        nw->err = PROTO_ERR_NOSPACE;
        return nw->err;
    }
    nw->err = PROTO_ERR_INVALID; /* finished: further calls are a caller bug */
    return (int)nw->len;
}
