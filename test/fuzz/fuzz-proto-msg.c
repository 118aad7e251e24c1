/* fuzz-proto-msg.c: libFuzzer target for proto/proto_msg.c: the phone and gateway message decoders, taken round through the encoders.
 *
 * Input: one WebSocket message body, decoded as a phone would send it and as
 * a gateway would. A message that decodes is encoded again with the
 * library's encoders, into a buffer of exactly the size they need (one byte
 * less must give PROTO_ERR_NOSPACE), and the encoding must decode to the same
 * values, bit for bit, and encode to the same bytes. On top of that: no
 * prefix of a message decodes (the map's count is exact), a trailing byte is
 * refused, and a failed decode leaves its out-parameter alone.
 */
#include <math.h>

#include "fuzz.h"
#include "proto_msg.h"

typedef int decoder_fn(const uint8_t *buf, size_t len, struct proto_msg *out,
                       const char **reason);

/* Decodes an exact-size copy of buf, checking the failure half of the contract. */
static int decode(decoder_fn *fn, const uint8_t *buf, size_t len, struct proto_msg *out)
{
    uint8_t *copy = fuzz_copy(buf, len);
    const char *reason = NULL;
    FUZZ_POISON(*out);
    int r = fn(copy, len, out, &reason);

    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(*out));
        FUZZ_CHECK(reason != NULL && reason[0] != '\0');
        FUZZ_CHECK(r == PROTO_ERR_MALFORMED || r == PROTO_ERR_SCHEMA || r == PROTO_ERR_TYPE ||
                   r == PROTO_ERR_RANGE || r == PROTO_ERR_TOO_LARGE);
        FUZZ_CHECK(proto_code_name(proto_err_code(r)) != NULL);
        free(copy);
        return r;
    }
    FUZZ_CHECK(r == 0 && reason == NULL);
    FUZZ_CHECK(proto_msg_type_name(out->type) != NULL);
    /* Views into the input are rebased onto buf, which outlives copy. */
    switch (out->type) {
    case PROTO_MSG_INIT:
    case PROTO_MSG_REFRESH:
        out->init.token = (const char *)buf + ((const uint8_t *)out->init.token - copy);
        break;
    case PROTO_MSG_NEARBY:
        out->nearby.friends = buf + (out->nearby.friends - copy);
        break;
    case PROTO_MSG_ERR:
        out->err.code_str = (const char *)buf + ((const uint8_t *)out->err.code_str - copy);
        out->err.msg = (const char *)buf + ((const uint8_t *)out->err.msg - copy);
        break;
    case PROTO_MSG_STRANGER:
        out->stranger.sid = (const char *)buf + ((const uint8_t *)out->stranger.sid - copy);
        break;
    case PROTO_MSG_STRANGER_GONE:
        out->stranger_gone.sid =
            (const char *)buf + ((const uint8_t *)out->stranger_gone.sid - copy);
        break;
    default:
        break;
    }
    free(copy);
    return 0;
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static int same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int same_friend(const struct proto_friend *a, const struct proto_friend *b)
{
    return a->id == b->id && same_double(a->lat, b->lat) && same_double(a->lng, b->lng) &&
           a->ts == b->ts && same_double(a->dist_km, b->dist_km);
}

static void check_ranges(const struct proto_friend *f)
{
    FUZZ_CHECK(isfinite(f->lat) && f->lat >= -90.0 && f->lat <= 90.0);
    FUZZ_CHECK(isfinite(f->lng) && f->lng >= -180.0 && f->lng <= 180.0);
    FUZZ_CHECK(isfinite(f->dist_km) && f->dist_km >= 0.0);
}

/* Reads every friend of a decoded nearby; returns them (malloc'd). */
static struct proto_friend *nearby_friends(const struct proto_nearby *nearby)
{
    struct proto_friend *friends = (struct proto_friend *)fuzz_alloc(
        (nearby->count ? nearby->count : 1) * sizeof *friends);
    struct proto_nearby_iter it;

    proto_nearby_iter_init(&it, nearby);
    for (uint32_t i = 0; i < nearby->count; i++) {
        FUZZ_CHECK(proto_nearby_iter_next(&it, &friends[i]) == 1);
        check_ranges(&friends[i]);
    }
    FUZZ_CHECK(proto_nearby_iter_next(&it, &friends[0]) == 0);
    FUZZ_CHECK(it.p == nearby->friends + nearby->friends_len);
    return friends;
}

/* Encodes m with the library's encoder for its type into buf (cap bytes).
 * Returns the length, or PROTO_ERR_NOSPACE / PROTO_ERR_INVALID. */
static int encode(const struct proto_msg *m, uint8_t *buf, size_t cap)
{
    switch (m->type) {
    case PROTO_MSG_INIT:
        return proto_msg_encode_init(buf, cap, m->init.token, m->init.token_len);
    case PROTO_MSG_REFRESH:
        return proto_msg_encode_refresh(buf, cap, m->init.token, m->init.token_len);
    case PROTO_MSG_LOC:
        return proto_msg_encode_loc(buf, cap, m->loc.lat, m->loc.lng, m->loc.ts);
    case PROTO_MSG_RADIUS:
        return proto_msg_encode_radius(buf, cap, m->radius.km);
    case PROTO_MSG_FRIEND:
        return proto_msg_encode_friend(buf, cap, &m->friend);
    case PROTO_MSG_GONE:
        return proto_msg_encode_gone(buf, cap, m->gone.id);
    case PROTO_MSG_ERR:
        return proto_msg_encode_err(buf, cap, m->err.code, m->err.msg, m->err.msg_len);
    case PROTO_MSG_NEARBY: {
        struct proto_friend *friends = nearby_friends(&m->nearby);
        int n = proto_msg_encode_nearby(buf, cap, m->nearby.radius_km, friends, m->nearby.count);
        free(friends);
        return n;
    }
    case PROTO_MSG_STRANGERS:
        return proto_msg_encode_strangers(buf, cap, m->strangers.on);
    case PROTO_MSG_STRANGER:
        return proto_msg_encode_stranger(buf, cap, &m->stranger);
    case PROTO_MSG_STRANGER_GONE:
        return proto_msg_encode_stranger_gone(buf, cap, m->stranger_gone.sid);
    }
    abort(); /* decode() checked that the type is one of the above */
}

static void check_same(const struct proto_msg *a, const struct proto_msg *b)
{
    FUZZ_CHECK(a->type == b->type);
    switch (a->type) {
    case PROTO_MSG_INIT:
    case PROTO_MSG_REFRESH:
        FUZZ_CHECK(same_bytes(a->init.token, a->init.token_len, b->init.token, b->init.token_len));
        FUZZ_CHECK(a->init.token_len >= 1 && a->init.token_len <= PROTO_TOKEN_MAX);
        break;
    case PROTO_MSG_LOC:
        FUZZ_CHECK(same_double(a->loc.lat, b->loc.lat) && same_double(a->loc.lng, b->loc.lng));
        FUZZ_CHECK(a->loc.ts == b->loc.ts);
        break;
    case PROTO_MSG_RADIUS:
        FUZZ_CHECK(same_double(a->radius.km, b->radius.km));
        FUZZ_CHECK(isfinite(a->radius.km) && a->radius.km > 0.0);
        break;
    case PROTO_MSG_FRIEND:
        FUZZ_CHECK(same_friend(&a->friend, &b->friend));
        check_ranges(&a->friend);
        break;
    case PROTO_MSG_GONE:
        FUZZ_CHECK(a->gone.id == b->gone.id);
        break;
    case PROTO_MSG_ERR:
        FUZZ_CHECK(a->err.code == b->err.code);
        FUZZ_CHECK(same_bytes(a->err.code_str, a->err.code_len, b->err.code_str, b->err.code_len));
        FUZZ_CHECK(same_bytes(a->err.msg, a->err.msg_len, b->err.msg, b->err.msg_len));
        break;
    case PROTO_MSG_NEARBY: {
        FUZZ_CHECK(same_double(a->nearby.radius_km, b->nearby.radius_km));
        FUZZ_CHECK(a->nearby.count == b->nearby.count);
        struct proto_friend *fa = nearby_friends(&a->nearby), *fb = nearby_friends(&b->nearby);
        for (uint32_t i = 0; i < a->nearby.count; i++)
            FUZZ_CHECK(same_friend(&fa[i], &fb[i]));
        free(fa);
        free(fb);
        break;
    }
    case PROTO_MSG_STRANGERS:
        FUZZ_CHECK((a->strangers.on == 0 || a->strangers.on == 1) &&
                   a->strangers.on == b->strangers.on);
        break;
    case PROTO_MSG_STRANGER:
        FUZZ_CHECK(proto_sid_valid(a->stranger.sid, PROTO_SID_LEN));
        FUZZ_CHECK(same_bytes(a->stranger.sid, PROTO_SID_LEN, b->stranger.sid, PROTO_SID_LEN));
        FUZZ_CHECK(same_double(a->stranger.lat, b->stranger.lat) &&
                   same_double(a->stranger.lng, b->stranger.lng) &&
                   same_double(a->stranger.dist_km, b->stranger.dist_km));
        FUZZ_CHECK(isfinite(a->stranger.lat) && a->stranger.lat >= -90.0 && a->stranger.lat <= 90.0);
        FUZZ_CHECK(isfinite(a->stranger.lng) && a->stranger.lng >= -180.0 &&
                   a->stranger.lng <= 180.0);
        FUZZ_CHECK(isfinite(a->stranger.dist_km) && a->stranger.dist_km >= 0.0);
        break;
    case PROTO_MSG_STRANGER_GONE:
        FUZZ_CHECK(proto_sid_valid(a->stranger_gone.sid, PROTO_SID_LEN));
        FUZZ_CHECK(same_bytes(a->stranger_gone.sid, PROTO_SID_LEN, b->stranger_gone.sid,
                              PROTO_SID_LEN));
        break;
    }
}

/* The ways of writing a `friend` and a `nearby` that must give the same bytes
 * as the one-call encoders. */
static void check_other_encoders(const struct proto_msg *m, const uint8_t *enc, size_t len)
{
    if (m->type == PROTO_MSG_FRIEND) {
        struct proto_friend_frame ff;
        const struct proto_friend *f = &m->friend;
        FUZZ_CHECK(proto_friend_frame_init(&ff, f->id, f->lat, f->lng, f->ts) == 0);
        size_t n = proto_friend_frame_finish(&ff, f->dist_km);
        FUZZ_CHECK(same_bytes(ff.buf, n, enc, len));
    }
    if (m->type == PROTO_MSG_NEARBY) {
        struct proto_friend *friends = nearby_friends(&m->nearby);
        struct proto_nearby_writer w;
        uint8_t *buf = fuzz_alloc(len);
        int rc = proto_nearby_begin(&w, buf, len, m->nearby.radius_km);
        for (uint32_t i = 0; i < m->nearby.count && rc == 0; i++)
            rc = proto_nearby_add(&w, &friends[i]);
        FUZZ_CHECK(rc == 0 && proto_nearby_finish(&w) == (int)len);
        FUZZ_CHECK(memcmp(buf, enc, len) == 0);
        FUZZ_CHECK(proto_nearby_finish(&w) == PROTO_ERR_INVALID);
        free(buf);
        free(friends);
    }
}

static void check_round_trip(decoder_fn *fn, const struct proto_msg *m, size_t input_len)
{
    /* Floats grow to float64 and ints to their shortest form: 9 bytes for
     * every 1 read, at the very most, and a little for the keys. */
    size_t cap = 9 * input_len + 64;
    uint8_t *big = fuzz_alloc(cap);
    int n = encode(m, big, cap);

    if (m->type == PROTO_MSG_ERR && m->err.code == PROTO_CODE_UNKNOWN) {
        /* A code this build does not know cannot be sent by it. */
        FUZZ_CHECK(n == PROTO_ERR_INVALID);
        free(big);
        return;
    }
    FUZZ_CHECK(n > 0);
    size_t len = (size_t)n;
    uint8_t *exact = fuzz_alloc(len);
    FUZZ_CHECK(encode(m, exact, len - 1) == PROTO_ERR_NOSPACE);
    FUZZ_CHECK(encode(m, exact, len) == n && memcmp(exact, big, len) == 0);
    check_other_encoders(m, exact, len);

    struct proto_msg again;
    FUZZ_CHECK(decode(fn, exact, len, &again) == 0);
    check_same(m, &again);
    FUZZ_CHECK(encode(&again, big, cap) == n && memcmp(exact, big, len) == 0);
    free(exact);
    free(big);
}

static void check(decoder_fn *fn, const uint8_t *data, size_t size)
{
    struct proto_msg m;

    if (decode(fn, data, size, &m) < 0)
        return;
    FUZZ_CHECK(size > 0);
    struct proto_msg cut;
    FUZZ_CHECK(decode(fn, data, size - 1, &cut) < 0);
    uint8_t *longer = fuzz_alloc(size + 1);
    memcpy(longer, data, size);
    longer[size] = 0xc0; /* nil: a whole value, and still one too many */
    FUZZ_CHECK(decode(fn, longer, size + 1, &cut) < 0);
    free(longer);
    check_round_trip(fn, &m, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(proto_msg_decode_from_phone, data, size);
    check(proto_msg_decode_from_gateway, data, size);
    return 0;
}
