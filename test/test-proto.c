/* test-proto.c: unit tests of the phone <-> gateway messages: round trips, pinned bytes, every rejection, mutations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "msgpack-builder.h"
#include "proto.h"
#include "proto_msg.h"

/* Every case is independent: report up to 50 failures, then give up. */
#define CHECK_STOP_AFTER 51
#include "test-util.h"

/* One guard mapping for the whole test: decoded messages point into their input. */
static struct guarded guard;

#define BUF_MAX (4u << 20)

static int from_phone(const uint8_t *buf, size_t len, struct proto_msg *m, const char **why)
{
    return proto_msg_decode_from_phone(guard_put(&guard, buf, len), len, m, why);
}

static int from_gateway(const uint8_t *buf, size_t len, struct proto_msg *m, const char **why)
{
    return proto_msg_decode_from_gateway(guard_put(&guard, buf, len), len, m, why);
}

static uint8_t in[BUF_MAX];
static uint8_t out[BUF_MAX];

static int phone_spec(const char *spec, struct proto_msg *m, const char **why)
{
    size_t n = build(in, sizeof(in), spec);
    return from_phone(in, n, m, why);
}

static int gateway_spec(const char *spec, struct proto_msg *m, const char **why)
{
    size_t n = build(in, sizeof(in), spec);
    return from_gateway(in, n, m, why);
}

static void test_codes(void)
{
    for (int c = PROTO_CODE_BAD_FRAME; c < PROTO_CODE_UNKNOWN; c++) {
        const char *name = proto_code_name((enum proto_code)c);
        CHECK(name != NULL);
        CHECK(proto_code_parse(name, strlen(name)) == (enum proto_code)c);
    }
    CHECK(strcmp(proto_code_name(PROTO_CODE_BAD_FRAME), "bad_frame") == 0);
    CHECK(strcmp(proto_code_name(PROTO_CODE_NOT_INITIALIZED), "not_initialized") == 0);
    CHECK(strcmp(proto_code_name(PROTO_CODE_INTERNAL), "internal") == 0);
    CHECK(proto_code_name(PROTO_CODE_UNKNOWN) == NULL);
    CHECK(proto_code_parse("bad_fram", 8) == PROTO_CODE_UNKNOWN);
    CHECK(proto_code_parse("bad_framex", 10) == PROTO_CODE_UNKNOWN);
    CHECK(proto_err_code(PROTO_ERR_TOO_LARGE) == PROTO_CODE_TOO_LARGE);
    CHECK(proto_err_code(PROTO_ERR_TYPE) == PROTO_CODE_BAD_TYPE);
    CHECK(proto_err_code(PROTO_ERR_RANGE) == PROTO_CODE_BAD_VALUE);
    CHECK(proto_err_code(PROTO_ERR_SCHEMA) == PROTO_CODE_BAD_FRAME);
    CHECK(proto_err_code(PROTO_ERR_MALFORMED) == PROTO_CODE_BAD_FRAME);
    for (int e = 0; e >= PROTO_ERR_VERSION; e--)
        CHECK(strcmp(proto_strerror(e), "unknown error") != 0);
    CHECK(strcmp(proto_strerror(-100), "unknown error") == 0);
    for (int t = PROTO_MSG_INIT; t <= PROTO_MSG_ERR; t++)
        CHECK(proto_msg_type_name((enum proto_msg_type)t) != NULL);
    CHECK(strcmp(proto_msg_type_name(PROTO_MSG_NEARBY), "nearby") == 0);
}

/* The wire format must not drift: these bytes are what phones in the field parse. */
static void test_pinned(void)
{
    int n = proto_msg_encode_gone(out, sizeof(out), 42);
    CHECK(n == 12);
    CHECK(hex_equal(out, (size_t)n, "82 a1 74 a4 67 6f 6e 65 a2 69 64 2a"));

    n = proto_msg_encode_loc(out, sizeof(out), 52.5, -13.25, 1700000000000ull);
    CHECK(n == 45);
    CHECK(hex_equal(out, (size_t)n,
                    "84 a1 74 a3 6c 6f 63 a3 6c 61 74 cb 40 4a 40 00 00 00 00 00"
                    " a3 6c 6e 67 cb c0 2a 80 00 00 00 00 00 a2 74 73 cf 00 00 01 8b cf e5 68 00"));

    n = proto_msg_encode_err(out, sizeof(out), PROTO_CODE_BAD_TOKEN, "expired", 7);
    CHECK(n == 34);
    CHECK(hex_equal(out, (size_t)n,
                    "83 a1 74 a3 65 72 72 a4 63 6f 64 65 a9 62 61 64 5f 74 6f 6b 65 6e"
                    " a3 6d 73 67 a7 65 78 70 69 72 65 64"));

    /* nearby with no friends: the friends header shrinks to a fixarray. */
    n = proto_msg_encode_nearby(out, sizeof(out), 8.0, NULL, 0);
    CHECK(n == 38);
    CHECK(hex_equal(out, (size_t)n,
                    "83 a1 74 a6 6e 65 61 72 62 79 a9 72 61 64 69 75 73 5f 6b 6d"
                    " cb 40 20 00 00 00 00 00 00 a7 66 72 69 65 6e 64 73 90"));
}

static int same_friend(const struct proto_friend *a, const struct proto_friend *b)
{
    return a->id == b->id && a->lat == b->lat && a->lng == b->lng && a->ts == b->ts &&
           a->dist_km == b->dist_km;
}

static void test_round_trip_phone(void)
{
    struct proto_msg m;
    const char *why = NULL;
    int n;

    const char *token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig";
    n = proto_msg_encode_init(out, sizeof(out), token, strlen(token));
    CHECK(n > 0);
    CHECK(from_phone(out, (size_t)n, &m, &why) == 0);
    CHECK(m.type == PROTO_MSG_INIT);
    CHECK(m.init.token_len == strlen(token));
    CHECK(memcmp(m.init.token, token, strlen(token)) == 0);

    static char long_token[PROTO_TOKEN_MAX];
    memset(long_token, 'a', sizeof(long_token));
    n = proto_msg_encode_init(out, sizeof(out), long_token, sizeof(long_token));
    CHECK(n > 0 && from_phone(out, (size_t)n, &m, &why) == 0);
    CHECK(m.init.token_len == PROTO_TOKEN_MAX);

    n = proto_msg_encode_refresh(out, sizeof(out), token, strlen(token));
    CHECK(n > 0 && from_phone(out, (size_t)n, &m, &why) == 0);
    CHECK(m.type == PROTO_MSG_REFRESH && m.init.token_len == strlen(token) &&
          memcmp(m.init.token, token, strlen(token)) == 0);
    CHECK(proto_msg_encode_refresh(out, sizeof(out), token, 0) == PROTO_ERR_INVALID);
    CHECK(phone_spec("{1 s:t s:refresh", &m, &why) == PROTO_ERR_SCHEMA);
    CHECK(strcmp(proto_msg_type_name(PROTO_MSG_REFRESH), "refresh") == 0);

    /* PROTO_NEARBY_SIZE_MAX is exact for the widest entries, so a buffer of
     * that size never fails (64-bit ids take 68 bytes, not 64). */
    {
        static uint8_t big[PROTO_NEARBY_SIZE_MAX(70000)];
        struct proto_nearby_writer w;
        struct proto_friend wide = {UINT64_MAX, -89.5, -179.5, UINT64_MAX, 12345.678};

        CHECK(proto_nearby_begin(&w, big, PROTO_NEARBY_SIZE_MAX(70000), 8.047) == 0);
        for (int i = 0; i < 70000; i++)
            CHECK(proto_nearby_add(&w, &wide) == 0);
        CHECK(proto_nearby_finish(&w) == (int)PROTO_NEARBY_SIZE_MAX(70000));
        /* One friend: a fixarray header, 4 bytes under the bound, and exact. */
        CHECK(proto_nearby_begin(&w, big, PROTO_NEARBY_SIZE_MAX(1) - 4, 8.047) == 0);
        proto_nearby_add(&w, &wide);
        CHECK(proto_nearby_finish(&w) == (int)PROTO_NEARBY_SIZE_MAX(1) - 4);
        CHECK(proto_nearby_begin(&w, big, PROTO_NEARBY_SIZE_MAX(1) - 5, 8.047) == 0);
        proto_nearby_add(&w, &wide);
        CHECK(proto_nearby_finish(&w) == PROTO_ERR_NOSPACE);
    }
    CHECK(strcmp(proto_code_name(PROTO_CODE_TOKEN_EXPIRED), "token_expired") == 0);
    CHECK(proto_code_parse("busy", 4) == PROTO_CODE_BUSY);

    const double coords[][2] = {{0, 0},          {90, 180},   {-90, -180}, {52.520008, 13.404954},
                                {-33.8688, 151.2093}, {1e-300, -1e-300}, {-0.0, 0.0}};
    const uint64_t stamps[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295ull,
                               4294967296ull, 1700000000000ull, UINT64_MAX};
    for (size_t c = 0; c < sizeof(coords) / sizeof(coords[0]); c++) {
        for (size_t s = 0; s < sizeof(stamps) / sizeof(stamps[0]); s++) {
            n = proto_msg_encode_loc(out, sizeof(out), coords[c][0], coords[c][1], stamps[s]);
            CHECK(n > 0);
            CHECK(from_phone(out, (size_t)n, &m, &why) == 0);
            CHECK(m.type == PROTO_MSG_LOC);
            CHECK(m.loc.lat == coords[c][0] && m.loc.lng == coords[c][1]);
            CHECK(m.loc.ts == stamps[s]);
        }
    }

    const double radii[] = {8.047, 1e-9, 0.5, 20000, 1e300};
    for (size_t k = 0; k < sizeof(radii) / sizeof(radii[0]); k++) {
        n = proto_msg_encode_radius(out, sizeof(out), radii[k]);
        CHECK(n > 0);
        CHECK(from_phone(out, (size_t)n, &m, &why) == 0);
        CHECK(m.type == PROTO_MSG_RADIUS && m.radius.km == radii[k]);
    }
}

static void check_nearby(size_t count)
{
    struct proto_friend *friends = calloc(count + 1, sizeof(*friends));
    for (size_t i = 0; i < count; i++) {
        friends[i].id = i * 7919u + (i % 3 == 0 ? UINT64_MAX - i : 0);
        friends[i].lat = -90.0 + (double)(i % 181);
        friends[i].lng = 180.0 - (double)(i % 361);
        friends[i].ts = 1700000000000ull + i;
        friends[i].dist_km = (double)i / 3.0;
    }
    int n = proto_msg_encode_nearby(out, sizeof(out), 8.047, friends, count);
    CHECK(n > 0);

    struct proto_msg m;
    const char *why = NULL;
    CHECK(from_gateway(out, (size_t)n, &m, &why) == 0);
    CHECK(m.type == PROTO_MSG_NEARBY);
    CHECK(m.nearby.radius_km == 8.047);
    CHECK(m.nearby.count == count);

    struct proto_nearby_iter it;
    struct proto_friend f;
    size_t seen = 0;
    int rc;
    proto_nearby_iter_init(&it, &m.nearby);
    while ((rc = proto_nearby_iter_next(&it, &f)) == 1) {
        CHECK(seen < count && same_friend(&f, &friends[seen]));
        seen++;
    }
    CHECK(rc == 0 && seen == count);
    CHECK(proto_nearby_iter_next(&it, &f) == 0);

    /* The incremental writer gives the same bytes as the array form. */
    struct proto_nearby_writer w;
    static uint8_t again[BUF_MAX];
    CHECK(proto_nearby_begin(&w, again, sizeof(again), 8.047) == 0);
    for (size_t i = 0; i < count; i++)
        CHECK(proto_nearby_add(&w, &friends[i]) == 0);
    CHECK(proto_nearby_finish(&w) == n);
    CHECK(memcmp(again, out, (size_t)n) == 0);
    free(friends);
}

static void test_round_trip_gateway(void)
{
    struct proto_msg m;
    const char *why = NULL;
    int n;

    struct proto_friend f = {UINT64_MAX, -89.999, 179.5, 1700000000123ull, 0.0};
    n = proto_msg_encode_friend(out, sizeof(out), &f);
    CHECK(n > 0);
    CHECK(from_gateway(out, (size_t)n, &m, &why) == 0);
    CHECK(m.type == PROTO_MSG_FRIEND && same_friend(&m.friend, &f));

    const uint64_t ids[] = {0, 42, 200, 70000, 5000000000ull, UINT64_MAX};
    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        n = proto_msg_encode_gone(out, sizeof(out), ids[k]);
        CHECK(n > 0);
        CHECK(from_gateway(out, (size_t)n, &m, &why) == 0);
        CHECK(m.type == PROTO_MSG_GONE && m.gone.id == ids[k]);
    }

    for (int c = PROTO_CODE_BAD_FRAME; c < PROTO_CODE_UNKNOWN; c++) {
        n = proto_msg_encode_err(out, sizeof(out), (enum proto_code)c, "loc: missing ts", 15);
        CHECK(n > 0);
        CHECK(from_gateway(out, (size_t)n, &m, &why) == 0);
        CHECK(m.type == PROTO_MSG_ERR && m.err.code == (enum proto_code)c);
        CHECK(m.err.code_len == strlen(proto_code_name((enum proto_code)c)));
        CHECK(m.err.msg_len == 15 && memcmp(m.err.msg, "loc: missing ts", 15) == 0);
    }
    n = proto_msg_encode_err(out, sizeof(out), PROTO_CODE_INTERNAL, NULL, 0);
    CHECK(n > 0 && from_gateway(out, (size_t)n, &m, &why) == 0 && m.err.msg_len == 0);
    static char long_msg[PROTO_ERR_MSG_MAX];
    memset(long_msg, 'm', sizeof(long_msg));
    n = proto_msg_encode_err(out, sizeof(out), PROTO_CODE_INTERNAL, long_msg, sizeof(long_msg));
    CHECK(n > 0 && from_gateway(out, (size_t)n, &m, &why) == 0);
    CHECK(m.err.msg_len == PROTO_ERR_MSG_MAX);

    /* Friends header sizes: fixarray, array16 at 16 and above. */
    const size_t counts[] = {0, 1, 2, 15, 16, 17, 400, 5000};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
        check_nearby(counts[k]);
}

/* A friend frame encoded once and finished per recipient is, byte for byte,
 * what encoding the whole message gives, for every distance in a row. */
static void test_friend_frame(void)
{
    const uint64_t ids[] = {0, 1, 127, 128, 65536, UINT64_MAX};
    const uint64_t stamps[] = {0, 1, 1700000000123ull, UINT64_MAX};
    const double dists[] = {0.0, 0.001, 8.047, 20015.1};
    struct proto_friend_frame ff;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (size_t t = 0; t < sizeof(stamps) / sizeof(stamps[0]); t++) {
            CHECK(proto_friend_frame_init(&ff, ids[i], -33.5 + (double)i, 151.25, stamps[t]) == 0);
            for (size_t d = 0; d < sizeof(dists) / sizeof(dists[0]); d++) {
                struct proto_friend f = {ids[i], -33.5 + (double)i, 151.25, stamps[t], dists[d]};
                int n = proto_msg_encode_friend(out, sizeof(out), &f);
                size_t len = proto_friend_frame_finish(&ff, dists[d]);

                CHECK(n > 0 && (size_t)n == len && memcmp(out, ff.buf, len) == 0);
            }
        }
    }
    CHECK(proto_friend_frame_init(&ff, 1, 91.0, 0.0, 1) == PROTO_ERR_INVALID);
}

/* Above 65535 friends the header grows to array32. */
static void test_nearby_array32(void)
{
    const uint32_t count = 65536;
    struct proto_friend f = {1, 1.0, 2.0, 3, 4.0};
    struct proto_nearby_writer w;
    static uint8_t big[8u << 20];
    CHECK(proto_nearby_begin(&w, big, sizeof(big), 1.0) == 0);
    for (uint32_t i = 0; i < count; i++)
        proto_nearby_add(&w, &f);
    int n = proto_nearby_finish(&w);
    CHECK(n > 0);
    /* header: 83 a1 74 a6 "nearby" a9 "radius_km" cb <8> a7 "friends" */
    size_t at = 1 + 2 + 7 + 10 + 9 + 8;
    CHECK(big[at] == 0xdd && big[at + 1] == 0x00 && big[at + 2] == 0x01 && big[at + 3] == 0x00 &&
          big[at + 4] == 0x00);
    CHECK(big[at + 5] == 0x85);
    /* Too large for a gateway frame, as the limit says. */
    struct proto_msg m;
    CHECK(proto_msg_decode_from_gateway(big, (size_t)n, &m, NULL) == PROTO_ERR_TOO_LARGE);
}

/* Other producers (phone apps, msgpack-c) may pick other encodings; all valid ones are accepted. */
static void test_alternative_encodings(void)
{
    struct proto_msg m;
    const char *why = NULL;

    const char *lat_forms[] = {"u:45", "u8:45", "u16:45", "u32:45", "u64:45", "i8:45", "i16:45",
                               "i32:45", "i64:45", "f:45", "d:45"};
    for (size_t k = 0; k < sizeof(lat_forms) / sizeof(lat_forms[0]); k++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "{4 s:t s:loc s:lat %s s:lng i:-30 s:ts u:1", lat_forms[k]);
        CHECK_IN(phone_spec(spec, &m, &why) == 0, spec);
        CHECK_IN(m.loc.lat == 45.0 && m.loc.lng == -30.0 && m.loc.ts == 1, spec);
    }
    const char *neg_forms[] = {"i:-30", "i8:-30", "i16:-30", "i32:-30", "i64:-30", "f:-30"};
    for (size_t k = 0; k < sizeof(neg_forms) / sizeof(neg_forms[0]); k++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "{4 s:t s:loc s:lat d:1 s:lng %s s:ts u:1", neg_forms[k]);
        CHECK_IN(phone_spec(spec, &m, &why) == 0 && m.loc.lng == -30.0, spec);
    }
    const char *ts_forms[] = {"u8:200", "u16:200", "u32:200", "u64:200", "i16:200", "i32:200",
                              "i64:200"};
    for (size_t k = 0; k < sizeof(ts_forms) / sizeof(ts_forms[0]); k++) {
        char spec[256];
        snprintf(spec, sizeof(spec), "{4 s:t s:loc s:lat d:1 s:lng d:2 s:ts %s", ts_forms[k]);
        CHECK_IN(phone_spec(spec, &m, &why) == 0 && m.loc.ts == 200, spec);
    }
    CHECK(phone_spec("{4 s:t s:loc s:lat d:1 s:lng d:2 s:ts i64:9223372036854775807", &m, &why) ==
              0 &&
          m.loc.ts == 9223372036854775807ull);
    CHECK(phone_spec("{4 s:t s:loc s:lat d:1 s:lng d:2 s:ts u64:18446744073709551615", &m, &why) ==
              0 &&
          m.loc.ts == UINT64_MAX);
    /* Keys in any order, long str forms, map16/map32 headers. */
    CHECK(phone_spec("{4 s:ts u:5 s:lng d:2 s:lat d:1 s:t s:loc", &m, &why) == 0 &&
          m.type == PROTO_MSG_LOC && m.loc.ts == 5);
    CHECK(phone_spec("m16:2 S8:t S16:radius S32:km f:2.5", &m, &why) == 0 &&
          m.type == PROTO_MSG_RADIUS && m.radius.km == 2.5);
    CHECK(phone_spec("m32:2 s:t s:init S8:token s:abc", &m, &why) == 0 &&
          m.init.token_len == 3);
    /* Unknown keys with scalar values are ignored, even repeated. */
    CHECK(phone_spec("{9 s:v u:2 s:t s:radius s:x nil s:km d:3 s:x true s:y bin:zz s:z d:nan "
                     "s:w s:text s:q i:-7",
                     &m, &why) == 0 &&
          m.radius.km == 3);
    /* Gateway side: friends and friend maps in other encodings. */
    CHECK(gateway_spec("{3 s:friends a32:1 m16:5 s:dist_km u:0 s:ts u:1 s:lng f:2 s:lat i:-3 "
                       "s:id u8:9 s:radius_km u:1 s:t s:nearby",
                       &m, &why) == 0 &&
          m.nearby.count == 1 && m.nearby.radius_km == 1.0);
    CHECK(gateway_spec("{4 s:t s:err s:code s:later_code s:msg s: s:extra u:1", &m, &why) == 0 &&
          m.err.code == PROTO_CODE_UNKNOWN && m.err.code_len == 10);
}

/* Interop both ways with msgpack-c, the other msgpack implementation we ship with. */
static void test_msgpack_c(void)
{
    struct proto_friend f = {77, 10.5, -20.25, 123456, 3.5};
    struct proto_friend two[2] = {f, f};
    int n = proto_msg_encode_nearby(out, sizeof(out), 8.0, two, 2);
    CHECK(n > 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, (const char *)out, (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == (size_t)n);
    CHECK(u.data.type == MSGPACK_OBJECT_MAP && u.data.via.map.size == 3);
    const msgpack_object_kv *kv = u.data.via.map.ptr;
    CHECK(kv[0].key.type == MSGPACK_OBJECT_STR && kv[0].key.via.str.size == 1);
    CHECK(kv[1].val.type == MSGPACK_OBJECT_FLOAT64 && kv[1].val.via.f64 == 8.0);
    CHECK(kv[2].val.type == MSGPACK_OBJECT_ARRAY && kv[2].val.via.array.size == 2);
    const msgpack_object *fm = &kv[2].val.via.array.ptr[1];
    CHECK(fm->type == MSGPACK_OBJECT_MAP && fm->via.map.size == 5);
    CHECK(fm->via.map.ptr[0].val.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
          fm->via.map.ptr[0].val.via.u64 == 77);
    CHECK(fm->via.map.ptr[2].val.via.f64 == -20.25);
    msgpack_unpacked_destroy(&u);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "lat", 3);
    msgpack_pack_float(&pk, -12.5f);
    msgpack_pack_str_with_body(&pk, "t", 1);
    msgpack_pack_str_with_body(&pk, "loc", 3);
    msgpack_pack_str_with_body(&pk, "lng", 3);
    msgpack_pack_int64(&pk, -100);
    msgpack_pack_str_with_body(&pk, "ts", 2);
    msgpack_pack_uint64(&pk, 1700000000000ull);
    struct proto_msg m;
    CHECK(from_phone((const uint8_t *)sb.data, sb.size, &m, NULL) == 0);
    CHECK(m.type == PROTO_MSG_LOC && m.loc.lat == -12.5 && m.loc.lng == -100.0 &&
          m.loc.ts == 1700000000000ull);
    msgpack_sbuffer_destroy(&sb);
}

/* Finds key in a msgpack-c map object; NULL when absent. */
static const msgpack_object *mc_get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static int mc_str_is(const msgpack_object *o, const char *s)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* Every message the gateway writes, as msgpack-c reads it (our own output:
 * trusted bytes, so msgpack-c's unpacker may read them here). */
static void test_msgpack_c_reads_all(void)
{
    struct proto_friend f = {UINT64_C(9223372036854775807), -33.856784, 151.215297,
                             UINT64_C(1700000000123), 7.25};
    msgpack_unpacked u;
    size_t off;
    int n;

    msgpack_unpacked_init(&u);
    n = proto_msg_encode_friend(out, sizeof(out), &f);
    off = 0;
    CHECK(n > 0 && msgpack_unpack_next(&u, (const char *)out, (size_t)n, &off) ==
                       MSGPACK_UNPACK_SUCCESS && off == (size_t)n);
    CHECK(mc_str_is(mc_get(&u.data, "t"), "friend"));
    CHECK(mc_get(&u.data, "id") && mc_get(&u.data, "id")->via.u64 == f.id);
    CHECK(mc_get(&u.data, "lat") && mc_get(&u.data, "lat")->type == MSGPACK_OBJECT_FLOAT64 &&
          mc_get(&u.data, "lat")->via.f64 == f.lat);
    CHECK(mc_get(&u.data, "lng") && mc_get(&u.data, "lng")->via.f64 == f.lng);
    CHECK(mc_get(&u.data, "ts") && mc_get(&u.data, "ts")->via.u64 == f.ts);
    CHECK(mc_get(&u.data, "dist_km") && mc_get(&u.data, "dist_km")->via.f64 == 7.25);

    n = proto_msg_encode_gone(out, sizeof(out), 42);
    off = 0;
    CHECK(n > 0 && msgpack_unpack_next(&u, (const char *)out, (size_t)n, &off) ==
                       MSGPACK_UNPACK_SUCCESS && off == (size_t)n);
    CHECK(mc_str_is(mc_get(&u.data, "t"), "gone") && mc_get(&u.data, "id")->via.u64 == 42);

    n = proto_msg_encode_err(out, sizeof(out), PROTO_CODE_RATE_LIMITED, "slow down", 9);
    off = 0;
    CHECK(n > 0 && msgpack_unpack_next(&u, (const char *)out, (size_t)n, &off) ==
                       MSGPACK_UNPACK_SUCCESS && off == (size_t)n);
    CHECK(mc_str_is(mc_get(&u.data, "t"), "err") && mc_str_is(mc_get(&u.data, "msg"), "slow down"));
    CHECK(mc_str_is(mc_get(&u.data, "code"), "rate_limited"));

    /* A nearby of 400 friends with the largest ids: map32-free, array16. */
    {
        static struct proto_friend many[400];
        const msgpack_object *arr;

        for (int i = 0; i < 400; i++) {
            many[i] = f;
            many[i].id = f.id - (uint64_t)i;
        }
        n = proto_msg_encode_nearby(out, sizeof(out), 8.047, many, 400);
        off = 0;
        CHECK(n > 0 && msgpack_unpack_next(&u, (const char *)out, (size_t)n, &off) ==
                           MSGPACK_UNPACK_SUCCESS && off == (size_t)n);
        arr = mc_get(&u.data, "friends");
        CHECK(arr != NULL && arr->type == MSGPACK_OBJECT_ARRAY && arr->via.array.size == 400);
        for (uint32_t i = 0; arr != NULL && i < arr->via.array.size; i++)
            CHECK(mc_get(&arr->via.array.ptr[i], "id")->via.u64 == f.id - i);
    }
    msgpack_unpacked_destroy(&u);
}

struct bad_case {
    const char *spec;
    int err;
    const char *reason; /* NULL: any */
};

static void run_phone_cases(const struct bad_case *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct proto_msg m;
        memset(&m, 0xa5, sizeof(m));
        struct proto_msg before = m;
        const char *why = NULL;
        int rc = phone_spec(cases[k].spec, &m, &why);
        CHECK_IN(rc == cases[k].err, cases[k].spec);
        if (rc != cases[k].err)
            fprintf(stderr, "  got %d (%s), want %d\n", rc, why ? why : "-", cases[k].err);
        CHECK_IN(why != NULL, cases[k].spec);
        CHECK_IN(cases[k].reason == NULL || (why && strcmp(why, cases[k].reason) == 0),
                 cases[k].spec);
        if (cases[k].reason && why && strcmp(why, cases[k].reason) != 0)
            fprintf(stderr, "  reason '%s', want '%s'\n", why, cases[k].reason);
        CHECK_IN(memcmp(&m, &before, sizeof(m)) == 0, cases[k].spec); /* untouched on failure */
    }
}

static void run_gateway_cases(const struct bad_case *cases, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct proto_msg m;
        const char *why = NULL;
        int rc = gateway_spec(cases[k].spec, &m, &why);
        CHECK_IN(rc == cases[k].err, cases[k].spec);
        if (rc != cases[k].err)
            fprintf(stderr, "  got %d (%s), want %d\n", rc, why ? why : "-", cases[k].err);
        CHECK_IN(cases[k].reason == NULL || (why && strcmp(why, cases[k].reason) == 0),
                 cases[k].spec);
        if (cases[k].reason && why && strcmp(why, cases[k].reason) != 0)
            fprintf(stderr, "  reason '%s', want '%s'\n", why, cases[k].reason);
    }
}

#define LOC_WITH(lat, lng, ts) "{4 s:t s:loc s:lat " lat " s:lng " lng " s:ts " ts

static void test_reject_phone(void)
{
    static const struct bad_case cases[] = {
        /* Not a map / not msgpack / lying headers. */
        {"", PROTO_ERR_MALFORMED, "truncated"},
        {"x:dd x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, "not a map"},
        {"x:df x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, "truncated"},
        {"x:de x:ff x:ff", PROTO_ERR_MALFORMED, "truncated"},
        {"x:df x:00 x:00 x:00 x:02 s:t s:loc", PROTO_ERR_MALFORMED, "truncated"},
        {"{1 x:db x:ff x:ff x:ff x:ff s:x", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:token x:db x:7f x:ff x:ff x:ff s:abc", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:token x:da x:01 x:00 s:abc", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:token x:d9 x:09 s:abc", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:x x:dd x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:x x:dc x:ff x:ff", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:x x:c6 x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, NULL},
        {"[2 s:t s:loc", PROTO_ERR_MALFORMED, "not a map"},
        {"u:1", PROTO_ERR_MALFORMED, "not a map"},
        {"s:loc", PROTO_ERR_MALFORMED, "not a map"},
        {"x:c1", PROTO_ERR_MALFORMED, "not a map"},
        {"{2 s:t s:radius s:km x:c1", PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:radius s:km d:1 s:x x:c1", PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:radius s:km d:1 s:x x:d4 x:01 x:00", PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:radius s:km d:1 s:x x:c7 x:01 x:01 x:00", PROTO_ERR_MALFORMED, NULL},
        /* Phone messages are flat: any array or map value is refused. */
        {"{3 s:t s:radius s:km d:1 s:x [0", PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:radius s:km d:1 s:x {0", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:radius s:km [1 d:1", PROTO_ERR_MALFORMED, NULL},
        {"{2 s:t s:init s:token {1 s:a s:b", PROTO_ERR_MALFORMED, NULL},
        /* Trailing bytes. */
        {"{2 s:t s:radius s:km d:1 x:00", PROTO_ERR_MALFORMED, "trailing bytes after the map"},
        {"{2 s:t s:radius s:km d:1 {2 s:t s:radius s:km d:1", PROTO_ERR_MALFORMED,
         "trailing bytes after the map"},
        {"{1 s:t s:radius s:km d:1", PROTO_ERR_MALFORMED, "trailing bytes after the map"},
        /* Keys. */
        {"{2 s:t s:radius u:1 d:1", PROTO_ERR_SCHEMA, "map key is not a string"},
        {"{2 s:t s:radius bin:km d:1", PROTO_ERR_SCHEMA, "map key is not a string"},
        {"{2 s:t s:radius nil d:1", PROTO_ERR_SCHEMA, "map key is not a string"},
        /* The type. */
        {"{0", PROTO_ERR_SCHEMA, "missing t"},
        {"{1 s:km d:1", PROTO_ERR_SCHEMA, "missing t"},
        {"{2 s:T s:radius s:km d:1", PROTO_ERR_SCHEMA, "missing t"},
        {"{2 s:t u:1 s:km d:1", PROTO_ERR_SCHEMA, "t is not a string"},
        {"{2 s:t bin:radius s:km d:1", PROTO_ERR_SCHEMA, "t is not a string"},
        {"{2 s:t nil s:km d:1", PROTO_ERR_SCHEMA, "t is not a string"},
        {"{2 s:t s:teleport s:km d:1", PROTO_ERR_TYPE, "unknown t"},
        {"{2 s:t s: s:km d:1", PROTO_ERR_TYPE, "unknown t"},
        {"{2 s:t s:RADIUS s:km d:1", PROTO_ERR_TYPE, "unknown t"},
        {"{2 s:t s:radiuss s:km d:1", PROTO_ERR_TYPE, "unknown t"},
        {"{2 s:t s:gone s:id u:1", PROTO_ERR_TYPE, "unknown t"},
        {"{3 s:t s:err s:code s:bad_frame s:msg s:x", PROTO_ERR_TYPE, "unknown t"},
        {"{3 s:t s:radius s:km d:1 s:t s:radius", PROTO_ERR_SCHEMA, "radius: duplicate t"},
        {"{3 s:t s:radius s:km d:1 s:t s:loc", PROTO_ERR_SCHEMA, "radius: duplicate t"},
        {"{3 s:t s:radius s:km d:1 s:t u:1", PROTO_ERR_SCHEMA, "radius: duplicate t"},
        {"{3 s:km d:1 s:t u:1 s:t s:radius", PROTO_ERR_SCHEMA, "t is not a string"},
        /* Missing and duplicate fields. */
        {"{1 s:t s:init", PROTO_ERR_SCHEMA, "init: missing token"},
        {"{3 s:t s:loc s:lat d:1 s:lng d:2", PROTO_ERR_SCHEMA, "loc: missing ts"},
        {"{3 s:t s:loc s:lat d:1 s:ts u:2", PROTO_ERR_SCHEMA, "loc: missing lng"},
        {"{3 s:t s:loc s:lng d:1 s:ts u:2", PROTO_ERR_SCHEMA, "loc: missing lat"},
        {"{1 s:t s:radius", PROTO_ERR_SCHEMA, "radius: missing km"},
        {"{2 s:t s:radius s:KM d:1", PROTO_ERR_SCHEMA, "radius: missing km"},
        {"{3 s:t s:init s:token s:a s:token s:a", PROTO_ERR_SCHEMA, "init: duplicate token"},
        {"{5 s:t s:loc s:lat d:1 s:lng d:2 s:ts u:3 s:lat d:1", PROTO_ERR_SCHEMA,
         "loc: duplicate lat"},
        {"{5 s:t s:loc s:lat d:1 s:lng d:2 s:ts u:3 s:ts u:3", PROTO_ERR_SCHEMA,
         "loc: duplicate ts"},
        {"{3 s:t s:radius s:km d:1 s:km d:1", PROTO_ERR_SCHEMA, "radius: duplicate km"},
        /* Wrong types. */
        {"{2 s:t s:init s:token u:5", PROTO_ERR_SCHEMA, "init: token is not a string"},
        {"{2 s:t s:init s:token bin:abc", PROTO_ERR_SCHEMA, "init: token is not a string"},
        {"{2 s:t s:init s:token nil", PROTO_ERR_SCHEMA, "init: token is not a string"},
        {"{2 s:t s:init s:token x:c1", PROTO_ERR_MALFORMED, NULL},
        {LOC_WITH("s:1", "d:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lat is not a number"},
        {LOC_WITH("nil", "d:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lat is not a number"},
        {LOC_WITH("true", "d:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lat is not a number"},
        {LOC_WITH("false", "d:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lat is not a number"},
        {LOC_WITH("bin:1", "d:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lat is not a number"},
        {LOC_WITH("d:1", "s:2", "u:3"), PROTO_ERR_SCHEMA, "loc: lng is not a number"},
        {LOC_WITH("d:1", "nil", "u:3"), PROTO_ERR_SCHEMA, "loc: lng is not a number"},
        {LOC_WITH("d:1", "d:2", "s:3"), PROTO_ERR_SCHEMA, "loc: ts is not an unsigned integer"},
        {LOC_WITH("d:1", "d:2", "d:3"), PROTO_ERR_SCHEMA, "loc: ts is not an unsigned integer"},
        {LOC_WITH("d:1", "d:2", "f:3"), PROTO_ERR_SCHEMA, "loc: ts is not an unsigned integer"},
        {LOC_WITH("d:1", "d:2", "nil"), PROTO_ERR_SCHEMA, "loc: ts is not an unsigned integer"},
        {LOC_WITH("d:1", "d:2", "true"), PROTO_ERR_SCHEMA, "loc: ts is not an unsigned integer"},
        {"{2 s:t s:radius s:km s:5", PROTO_ERR_SCHEMA, "radius: km is not a number"},
        {"{2 s:t s:radius s:km nil", PROTO_ERR_SCHEMA, "radius: km is not a number"},
        /* Values out of range. */
        {"{2 s:t s:init s:token s:", PROTO_ERR_RANGE, "init: token out of range"},
        {"{2 s:t s:init s:token rep:2049:a", PROTO_ERR_RANGE, "init: token out of range"},
        {LOC_WITH("d:1", "d:2", "i:-1"), PROTO_ERR_RANGE, "loc: ts out of range"},
        {LOC_WITH("d:1", "d:2", "i64:-9223372036854775808"), PROTO_ERR_RANGE,
         "loc: ts out of range"},
        {LOC_WITH("d:90.00000000000001", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat out of range"},
        {LOC_WITH("d:-90.00000000000001", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat out of range"},
        {LOC_WITH("u:91", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat out of range"},
        {LOC_WITH("i:-91", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat out of range"},
        {LOC_WITH("u64:18446744073709551615", "d:2", "u:3"), PROTO_ERR_RANGE,
         "loc: lat out of range"},
        {LOC_WITH("f:1e30", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat out of range"},
        {LOC_WITH("d:1", "d:180.00000000000003", "u:3"), PROTO_ERR_RANGE, "loc: lng out of range"},
        {LOC_WITH("d:1", "d:-180.00000000000003", "u:3"), PROTO_ERR_RANGE,
         "loc: lng out of range"},
        {LOC_WITH("d:1", "i16:-181", "u:3"), PROTO_ERR_RANGE, "loc: lng out of range"},
        {LOC_WITH("d:nan", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("d:-nan", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("d:inf", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("d:-inf", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("f:nan", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("f:inf", "d:2", "u:3"), PROTO_ERR_RANGE, "loc: lat is not finite"},
        {LOC_WITH("d:1", "d:nan", "u:3"), PROTO_ERR_RANGE, "loc: lng is not finite"},
        {LOC_WITH("d:1", "f:-inf", "u:3"), PROTO_ERR_RANGE, "loc: lng is not finite"},
        {"{2 s:t s:radius s:km d:0", PROTO_ERR_RANGE, "radius: km out of range"},
        {"{2 s:t s:radius s:km d:-0", PROTO_ERR_RANGE, "radius: km out of range"},
        {"{2 s:t s:radius s:km u:0", PROTO_ERR_RANGE, "radius: km out of range"},
        {"{2 s:t s:radius s:km i:-5", PROTO_ERR_RANGE, "radius: km out of range"},
        {"{2 s:t s:radius s:km d:-1e-300", PROTO_ERR_RANGE, "radius: km out of range"},
        {"{2 s:t s:radius s:km d:nan", PROTO_ERR_RANGE, "radius: km is not finite"},
        {"{2 s:t s:radius s:km d:inf", PROTO_ERR_RANGE, "radius: km is not finite"},
        {"{2 s:t s:radius s:km f:inf", PROTO_ERR_RANGE, "radius: km is not finite"},
    };
    run_phone_cases(cases, sizeof(cases) / sizeof(cases[0]));

    /* Boundaries are inside. */
    struct proto_msg m;
    CHECK(phone_spec(LOC_WITH("i:-90", "u:180", "u:0"), &m, NULL) == 0);
    CHECK(phone_spec(LOC_WITH("d:90", "d:-180", "u:0"), &m, NULL) == 0);
    CHECK(phone_spec("{2 s:t s:radius s:km d:4.9e-324", &m, NULL) == 0);
    CHECK(phone_spec("{2 s:t s:init s:token s:a", &m, NULL) == 0);
    /* A NULL reason pointer is fine. */
    CHECK(phone_spec("{0", &m, NULL) == PROTO_ERR_SCHEMA);
}

static void test_frame_size(void)
{
    struct proto_msg m;
    const char *why = NULL;
    /* Exactly PROTO_FRAME_MAX bytes of valid message: {2 t radius km d:1 pad: <str>}. */
    size_t base = build(in, sizeof(in), "{3 s:t s:radius s:km d:1 s:pad");
    size_t pad = PROTO_FRAME_MAX - base - 3; /* str16 header */
    char spec[64];
    snprintf(spec, sizeof(spec), "{3 s:t s:radius s:km d:1 s:pad rep:%zu:p", pad);
    size_t n = build(in, sizeof(in), spec);
    CHECK(n == PROTO_FRAME_MAX);
    CHECK(from_phone(in, n, &m, &why) == 0);

    snprintf(spec, sizeof(spec), "{3 s:t s:radius s:km d:1 s:pad rep:%zu:p", pad + 1);
    n = build(in, sizeof(in), spec);
    CHECK(n == PROTO_FRAME_MAX + 1);
    CHECK(from_phone(in, n, &m, &why) == PROTO_ERR_TOO_LARGE);
    CHECK(strcmp(why, "frame too large") == 0);
    CHECK(proto_err_code(PROTO_ERR_TOO_LARGE) == PROTO_CODE_TOO_LARGE);
    /* Size is checked before anything is read. */
    CHECK(proto_msg_decode_from_phone(in, SIZE_MAX, &m, &why) == PROTO_ERR_TOO_LARGE);
    CHECK(proto_msg_decode_from_gateway(in, PROTO_GATEWAY_FRAME_MAX + 1u, &m, &why) ==
          PROTO_ERR_TOO_LARGE);
}

#define FRIEND_MAP(id, lat, lng, ts, dist) \
    "{5 s:id " id " s:lat " lat " s:lng " lng " s:ts " ts " s:dist_km " dist
#define GOOD_FRIEND FRIEND_MAP("u:1", "d:1", "d:2", "u:3", "d:4")

static void test_reject_gateway(void)
{
    static const struct bad_case cases[] = {
        {"x:dd x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, "not a map"},
        {"{2 s:t s:loc s:km d:1", PROTO_ERR_TYPE, "unknown t"},
        {"{2 s:t s:init s:token s:x", PROTO_ERR_TYPE, "unknown t"},
        {"{1 s:t s:gone", PROTO_ERR_SCHEMA, "gone: missing id"},
        {"{2 s:t s:gone s:id i:-1", PROTO_ERR_RANGE, "gone: id out of range"},
        {"{2 s:t s:gone s:id d:1", PROTO_ERR_SCHEMA, "gone: id is not an unsigned integer"},
        {"{2 s:t s:gone s:id [0", PROTO_ERR_SCHEMA, "gone: id is not an unsigned integer"},
        {"{3 s:t s:gone s:id u:1 s:id u:1", PROTO_ERR_SCHEMA, "gone: duplicate id"},
        {"{3 s:t s:gone s:id u:1 s:x [0", PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:gone s:id u:1 s:x [1 [1 [0", PROTO_ERR_MALFORMED, NULL},
        {"{6 s:t s:friend s:id u:1 s:lat d:91 s:lng d:2 s:ts u:3 s:dist_km d:4", PROTO_ERR_RANGE,
         "friend: lat out of range"},
        {"{6 s:t s:friend s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3 s:dist_km d:-1", PROTO_ERR_RANGE,
         "friend: dist_km out of range"},
        {"{6 s:t s:friend s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3 s:dist_km d:inf", PROTO_ERR_RANGE,
         "friend: dist_km is not finite"},
        {"{5 s:t s:friend s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3", PROTO_ERR_SCHEMA,
         "friend: missing dist_km"},
        {"{6 s:t s:friend s:id s:1 s:lat d:1 s:lng d:2 s:ts u:3 s:dist_km d:4", PROTO_ERR_SCHEMA,
         "friend: id is not an unsigned integer"},
        {"{3 s:t s:err s:code s: s:msg s:x", PROTO_ERR_RANGE, "err: code out of range"},
        {"{3 s:t s:err s:code rep:33:c s:msg s:x", PROTO_ERR_RANGE, "err: code out of range"},
        {"{3 s:t s:err s:code s:bad_frame s:msg rep:257:m", PROTO_ERR_RANGE,
         "err: msg out of range"},
        {"{3 s:t s:err s:code u:1 s:msg s:x", PROTO_ERR_SCHEMA, "err: code is not a string"},
        {"{2 s:t s:err s:code s:bad_frame", PROTO_ERR_SCHEMA, "err: missing msg"},
        {"{2 s:t s:nearby s:radius_km d:8", PROTO_ERR_SCHEMA, "nearby: missing friends"},
        {"{2 s:t s:nearby s:friends [0", PROTO_ERR_SCHEMA, "nearby: missing radius_km"},
        {"{3 s:t s:nearby s:radius_km d:0 s:friends [0", PROTO_ERR_RANGE,
         "nearby: radius_km out of range"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends {0", PROTO_ERR_SCHEMA,
         "nearby: friends is not an array of maps"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends nil", PROTO_ERR_SCHEMA,
         "nearby: friends is not an array of maps"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 u:1", PROTO_ERR_SCHEMA,
         "nearby: friends is not an array of maps"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [2 " GOOD_FRIEND " [0", PROTO_ERR_SCHEMA,
         "nearby: friends is not an array of maps"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 {4 s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3",
         PROTO_ERR_SCHEMA, "nearby friend: missing dist_km"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 " FRIEND_MAP("u:1", "d:1", "d:200", "u:3",
                                                                     "d:4"),
         PROTO_ERR_RANGE, "nearby friend: lng out of range"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 " FRIEND_MAP("u:1", "d:nan", "d:2", "u:3",
                                                                     "d:4"),
         PROTO_ERR_RANGE, "nearby friend: lat is not finite"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 " FRIEND_MAP("d:1", "d:1", "d:2", "u:3",
                                                                     "d:4"),
         PROTO_ERR_SCHEMA, "nearby friend: id is not an unsigned integer"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 {6 s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3 "
         "s:dist_km d:4 s:id u:2",
         PROTO_ERR_SCHEMA, "nearby friend: duplicate id"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 {6 s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3 "
         "s:dist_km d:4 s:x [0",
         PROTO_ERR_MALFORMED, NULL},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 {6 s:id u:1 s:lat d:1 s:lng d:2 s:ts u:3 "
         "s:dist_km d:4 u:7 u:7",
         PROTO_ERR_SCHEMA, "map key is not a string"},
        {"{4 s:t s:nearby s:radius_km d:8 s:friends [0 s:friends [0", PROTO_ERR_SCHEMA,
         "nearby: duplicate friends"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends a32:4294967295", PROTO_ERR_MALFORMED,
         "truncated"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 m32:4294967295", PROTO_ERR_MALFORMED,
         "truncated"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [2 " GOOD_FRIEND, PROTO_ERR_MALFORMED,
         "truncated"},
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 " GOOD_FRIEND " x:00", PROTO_ERR_MALFORMED,
         "trailing bytes after the map"},
        /* Only array -> map -> scalar: a deeper value anywhere is refused. */
        {"{3 s:t s:nearby s:radius_km d:8 s:friends [1 {1 s:x [0", PROTO_ERR_MALFORMED, NULL},
    };
    run_gateway_cases(cases, sizeof(cases) / sizeof(cases[0]));

    struct proto_msg m;
    CHECK(gateway_spec("{3 s:t s:nearby s:radius_km d:8 s:friends [2 " GOOD_FRIEND " " GOOD_FRIEND,
                       &m, NULL) == 0 &&
          m.nearby.count == 2);
    CHECK(gateway_spec("{3 s:t s:nearby s:radius_km d:8 s:friends [1 {7 s:id u:1 s:lat d:1 "
                       "s:lng d:2 s:ts u:3 s:dist_km d:0 s:name s:bob s:x nil",
                       &m, NULL) == 0);
    struct proto_nearby_iter it;
    struct proto_friend f;
    proto_nearby_iter_init(&it, &m.nearby);
    CHECK(proto_nearby_iter_next(&it, &f) == 1 && f.id == 1 && f.dist_km == 0.0);
    CHECK(proto_nearby_iter_next(&it, &f) == 0);
}

/* Every field of every message, systematically: each wrong type, each field
 * missing, each field twice, and all fields in reverse order. */
enum value_kind { V_TYPE, V_NUM, V_UINT, V_STR, V_FRIENDS };

struct template_field {
    const char *key;
    const char *value;
    enum value_kind kind;
};

struct template {
    int phone;
    const char *prefix; /* tokens before the map under test (the nearby around a friend) */
    struct template_field fields[6];
    size_t nfields;
};

static const struct template templates[] = {
    {1, "", {{"t", "s:init", V_TYPE}, {"token", "s:abc", V_STR}}, 2},
    {1, "",
     {{"t", "s:loc", V_TYPE}, {"lat", "d:1", V_NUM}, {"lng", "d:2", V_NUM}, {"ts", "u:3", V_UINT}},
     4},
    {1, "", {{"t", "s:radius", V_TYPE}, {"km", "d:5", V_NUM}}, 2},
    {0, "",
     {{"t", "s:nearby", V_TYPE}, {"radius_km", "d:8", V_NUM}, {"friends", "[1 " GOOD_FRIEND, V_FRIENDS}},
     3},
    {0, "{3 s:t s:nearby s:radius_km d:8 s:friends [1 ",
     {{"id", "u:1", V_UINT},
      {"lat", "d:1", V_NUM},
      {"lng", "d:2", V_NUM},
      {"ts", "u:3", V_UINT},
      {"dist_km", "d:4", V_NUM}},
     5},
    {0, "",
     {{"t", "s:friend", V_TYPE},
      {"id", "u:1", V_UINT},
      {"lat", "d:1", V_NUM},
      {"lng", "d:2", V_NUM},
      {"ts", "u:3", V_UINT},
      {"dist_km", "d:4", V_NUM}},
     6},
    {0, "", {{"t", "s:gone", V_TYPE}, {"id", "u:1", V_UINT}}, 2},
    {0, "", {{"t", "s:err", V_TYPE}, {"code", "s:bad_frame", V_STR}, {"msg", "s:m", V_STR}}, 3},
};

/* Builds the template's spec with field `swap` given `value`, field `drop`
 * left out and field `twice` repeated (-1: none); reverse reverses the order. */
static void template_spec(const struct template *t, char *spec, size_t cap, int swap,
                          const char *value, int drop, int twice, int reverse)
{
    size_t n = t->nfields - (drop >= 0) + (twice >= 0);
    size_t len = (size_t)snprintf(spec, cap, "%s{%zu", t->prefix, n);
    for (size_t i = 0; i < t->nfields; i++) {
        size_t k = reverse ? t->nfields - 1 - i : i;
        if ((int)k == drop)
            continue;
        const char *v = (int)k == swap ? value : t->fields[k].value;
        len += (size_t)snprintf(spec + len, cap - len, " s:%s %s", t->fields[k].key, v);
        if ((int)k == twice)
            len += (size_t)snprintf(spec + len, cap - len, " s:%s %s", t->fields[k].key, v);
    }
}

static int template_decode(const struct template *t, const char *spec, const char **why)
{
    struct proto_msg m;
    return t->phone ? phone_spec(spec, &m, why) : gateway_spec(spec, &m, why);
}

static void test_every_field(void)
{
    static const char *const wrong[][7] = {
        [V_TYPE] = {"u:1", "nil", "bin:x", "d:1", "true", NULL},
        [V_NUM] = {"s:x", "nil", "true", "false", "bin:x", "s:1", NULL},
        [V_UINT] = {"s:x", "nil", "false", "d:1", "f:1", "bin:x", NULL},
        [V_STR] = {"u:1", "nil", "d:1", "bin:x", "true", NULL},
        [V_FRIENDS] = {"u:1", "nil", "s:x", "{0", "[1 u:1", "[1 [0", NULL},
    };
    char spec[512];
    const char *why;
    for (size_t ti = 0; ti < sizeof(templates) / sizeof(templates[0]); ti++) {
        const struct template *t = &templates[ti];
        template_spec(t, spec, sizeof(spec), -1, NULL, -1, -1, 0);
        CHECK_IN(template_decode(t, spec, &why) == 0, spec);
        template_spec(t, spec, sizeof(spec), -1, NULL, -1, -1, 1);
        CHECK_IN(template_decode(t, spec, &why) == 0, spec);
        for (int k = 0; k < (int)t->nfields; k++) {
            for (size_t w = 0; wrong[t->fields[k].kind][w] != NULL; w++) {
                template_spec(t, spec, sizeof(spec), k, wrong[t->fields[k].kind][w], -1, -1, 0);
                CHECK_IN(template_decode(t, spec, &why) == PROTO_ERR_SCHEMA, spec);
            }
            /* An array or map value: nesting the schema does not allow where
             * the message must be flat (phone messages, friend maps), else a
             * type error; t is checked first and is always a type error. */
            if (t->fields[k].kind != V_FRIENDS) {
                int flat = t->phone || t->prefix[0] != '\0';
                int want = flat && t->fields[k].kind != V_TYPE ? PROTO_ERR_MALFORMED
                                                                : PROTO_ERR_SCHEMA;
                template_spec(t, spec, sizeof(spec), k, "[0", -1, -1, 0);
                CHECK_IN(template_decode(t, spec, &why) == want, spec);
                template_spec(t, spec, sizeof(spec), k, "{0", -1, -1, 0);
                CHECK_IN(template_decode(t, spec, &why) == want, spec);
            }
            template_spec(t, spec, sizeof(spec), -1, NULL, k, -1, 0);
            CHECK_IN(template_decode(t, spec, &why) == PROTO_ERR_SCHEMA, spec);
            CHECK_IN(strstr(why, "missing") != NULL, spec);
            template_spec(t, spec, sizeof(spec), -1, NULL, -1, k, 0);
            CHECK_IN(template_decode(t, spec, &why) == PROTO_ERR_SCHEMA, spec);
            CHECK_IN(strstr(why, "duplicate") != NULL, spec);
        }
    }
}

static void test_encoder_errors(void)
{
    struct proto_friend f = {1, 1, 2, 3, 4};
    const double bad_coords[] = {NAN, INFINITY, -INFINITY, 90.00000000000001, -91, 1e308};
    for (size_t k = 0; k < sizeof(bad_coords) / sizeof(bad_coords[0]); k++) {
        CHECK(proto_msg_encode_loc(out, sizeof(out), bad_coords[k], 0, 1) == PROTO_ERR_INVALID);
        CHECK(proto_msg_encode_loc(out, sizeof(out), 0, bad_coords[k] * 2, 1) ==
              PROTO_ERR_INVALID);
        struct proto_friend g = f;
        g.lat = bad_coords[k];
        CHECK(proto_msg_encode_friend(out, sizeof(out), &g) == PROTO_ERR_INVALID);
    }
    CHECK(proto_msg_encode_radius(out, sizeof(out), 0) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_radius(out, sizeof(out), -1) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_radius(out, sizeof(out), NAN) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_radius(out, sizeof(out), INFINITY) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_init(out, sizeof(out), "", 0) == PROTO_ERR_INVALID);
    static char token[PROTO_TOKEN_MAX + 1];
    CHECK(proto_msg_encode_init(out, sizeof(out), token, sizeof(token)) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_err(out, sizeof(out), PROTO_CODE_UNKNOWN, "x", 1) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_err(out, sizeof(out), (enum proto_code)99, "x", 1) ==
          PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_err(out, sizeof(out), PROTO_CODE_INTERNAL, NULL, 1) ==
          PROTO_ERR_INVALID);
    static char msg[PROTO_ERR_MSG_MAX + 1];
    CHECK(proto_msg_encode_err(out, sizeof(out), PROTO_CODE_INTERNAL, msg, sizeof(msg)) ==
          PROTO_ERR_INVALID);
    struct proto_friend g = f;
    g.dist_km = -0.5;
    CHECK(proto_msg_encode_friend(out, sizeof(out), &g) == PROTO_ERR_INVALID);
    g.dist_km = NAN;
    CHECK(proto_msg_encode_nearby(out, sizeof(out), 8, &g, 1) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_nearby(out, sizeof(out), 0, &f, 1) == PROTO_ERR_INVALID);

    /* The writer's first error sticks. */
    struct proto_nearby_writer w;
    CHECK(proto_nearby_begin(&w, out, sizeof(out), NAN) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_add(&w, &f) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_finish(&w) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_begin(&w, out, sizeof(out), 8) == 0);
    CHECK(proto_nearby_add(&w, &g) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_add(&w, &f) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_finish(&w) == PROTO_ERR_INVALID);
    CHECK(proto_nearby_begin(&w, out, sizeof(out), 8) == 0);
    CHECK(proto_nearby_add(&w, &f) == 0);
    CHECK(proto_nearby_finish(&w) > 0);
    CHECK(proto_nearby_finish(&w) < 0); /* finished once only */
}

/* Every encoder, at every capacity below the size it needs, fails cleanly
 * without writing past cap (the output ends right before the guard page). */
static int encode_one(int which, uint8_t *buf, size_t cap)
{
    static const struct proto_friend fr[3] = {
        {1, 1, 2, 3, 4}, {UINT64_MAX, -90, 180, UINT64_MAX, 0}, {300, 0.5, -0.5, 70000, 1e-9}};
    switch (which) {
    case 0: return proto_msg_encode_init(buf, cap, "token.part.sig", 14);
    case 1: return proto_msg_encode_loc(buf, cap, 52.52, 13.4, 1700000000000ull);
    case 2: return proto_msg_encode_radius(buf, cap, 8.047);
    case 3: return proto_msg_encode_friend(buf, cap, &fr[1]);
    case 4: return proto_msg_encode_gone(buf, cap, 5000000000ull);
    case 5: return proto_msg_encode_err(buf, cap, PROTO_CODE_RATE_LIMITED, "slow down", 9);
    case 6: return proto_msg_encode_nearby(buf, cap, 8.047, fr, 3);
    default: return proto_msg_encode_nearby(buf, cap, 8.047, NULL, 0);
    }
}

#define ENCODERS 8

static void test_encoder_capacity(void)
{
    for (int which = 0; which < ENCODERS; which++) {
        int need = encode_one(which, out, sizeof(out));
        CHECK(need > 0);
        for (size_t cap = 0; cap <= (size_t)need; cap++) {
            uint8_t *buf = guard.end - cap;
            int rc = encode_one(which, buf, cap);
            if (cap < (size_t)need) {
                CHECK(rc == PROTO_ERR_NOSPACE);
            } else {
                CHECK(rc == need);
                CHECK(memcmp(buf, out, (size_t)need) == 0);
            }
        }
    }
}

/* Every valid message cut short at every byte is an error, never a crash. */
static void test_truncation(void)
{
    for (int which = 0; which < ENCODERS; which++) {
        int n = encode_one(which, out, sizeof(out));
        int phone = which < 3;
        struct proto_msg m;
        const char *why;
        CHECK((phone ? from_phone(out, (size_t)n, &m, &why)
                     : from_gateway(out, (size_t)n, &m, &why)) == 0);
        for (int cut = 0; cut < n; cut++) {
            why = NULL;
            int rc = phone ? from_phone(out, (size_t)cut, &m, &why)
                           : from_gateway(out, (size_t)cut, &m, &why);
            CHECK(rc < 0 && why != NULL);
            /* A cut value is truncated, never misread as another type. */
            CHECK(rc == PROTO_ERR_MALFORMED);
        }
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    return xorshift64(&rng_state);
}

/* Mutated valid messages must decode to an error or to values that pass the
 * same validation; either way no crash and no read past the end. */
static void test_mutations(void)
{
    static const uint8_t interesting[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                          0xc0, 0xc1, 0xc4, 0xca, 0xcb, 0xcf, 0xd3, 0xd9,
                                          0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    uint8_t buf[512];
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        int which = (int)(rng() % ENCODERS);
        int n = encode_one(which, buf, sizeof(buf) / 2);
        size_t len = (size_t)n;
        int edits = 1 + (int)(rng() % 4);
        len = mutate_bytes(buf, len, sizeof(buf), edits, interesting, sizeof(interesting),
                           &rng_state);
        struct proto_msg m;
        const char *why = NULL;
        int rc = from_phone(buf, len, &m, &why);
        CHECK(rc == 0 || (rc < 0 && rc >= PROTO_ERR_VERSION && why != NULL));
        if (rc == 0) {
            accepted++;
            CHECK(m.type >= PROTO_MSG_INIT && m.type <= PROTO_MSG_RADIUS);
            if (m.type == PROTO_MSG_LOC)
                CHECK(fabs(m.loc.lat) <= 90 && fabs(m.loc.lng) <= 180);
            if (m.type == PROTO_MSG_RADIUS)
                CHECK(m.radius.km > 0 && isfinite(m.radius.km));
            if (m.type == PROTO_MSG_INIT)
                CHECK(m.init.token_len >= 1 && m.init.token_len <= PROTO_TOKEN_MAX);
        }
        rc = from_gateway(buf, len, &m, &why);
        CHECK(rc == 0 || (rc < 0 && rc >= PROTO_ERR_VERSION));
        if (rc == 0 && m.type == PROTO_MSG_NEARBY) {
            struct proto_nearby_iter it;
            struct proto_friend f;
            uint32_t seen = 0;
            proto_nearby_iter_init(&it, &m.nearby);
            while (proto_nearby_iter_next(&it, &f) == 1) {
                CHECK(fabs(f.lat) <= 90 && fabs(f.lng) <= 180 && f.dist_km >= 0);
                seen++;
            }
            CHECK(seen == m.nearby.count);
        }
    }
    CHECK(accepted > 0); /* some mutations keep the message valid: the check above ran */

    /* Pure random bytes too. */
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = rng() % 64;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rng();
        struct proto_msg m;
        CHECK(from_phone(buf, len, &m, NULL) <= 0);
        CHECK(from_gateway(buf, len, &m, NULL) <= 0);
    }
}

/* Strangers: the opt-in, the stranger frame (dist_km patched per phone like
 * friend's), stranger_gone, and every way their values can be wrong. */
static void test_strangers(void)
{
    static const char sid[] = "0123456789abcdef";
    struct proto_friend_frame ff;
    struct proto_msg m;
    const char *why = NULL;
    int n;

    n = proto_msg_encode_strangers(out, sizeof(out), 1);
    CHECK(n == 17 && hex_equal(out, (size_t)n,
                               "82 a1 74 a9 73 74 72 61 6e 67 65 72 73 a2 6f 6e c3"));
    CHECK(from_phone(out, (size_t)n, &m, &why) == 0 && m.type == PROTO_MSG_STRANGERS &&
          m.strangers.on == 1);
    n = proto_msg_encode_strangers(out, sizeof(out), 0);
    CHECK(n == 17 && out[n - 1] == 0xc2);
    CHECK(from_phone(out, (size_t)n, &m, &why) == 0 && m.strangers.on == 0);
    CHECK(phone_spec("{2 s:t s:strangers s:on u:1", &m, &why) == PROTO_ERR_SCHEMA &&
          strcmp(why, "strangers: on is not true or false") == 0);
    CHECK(phone_spec("{2 s:t s:strangers s:on nil", &m, &why) == PROTO_ERR_SCHEMA);
    CHECK(phone_spec("{2 s:t s:strangers s:on x:c1", &m, &why) == PROTO_ERR_MALFORMED);
    CHECK(phone_spec("{1 s:t s:strangers", &m, &why) == PROTO_ERR_SCHEMA &&
          strcmp(why, "strangers: missing on") == 0);
    CHECK(phone_spec("{3 s:t s:strangers s:on true s:on false", &m, &why) == PROTO_ERR_SCHEMA);
    /* The gateway's kinds are not the phone's to send, nor the other way. */
    CHECK(phone_spec("{2 s:t s:stranger_gone s:sid s:0123456789abcdef", &m, &why) ==
          PROTO_ERR_TYPE);
    CHECK(gateway_spec("{2 s:t s:strangers s:on true", &m, &why) == PROTO_ERR_TYPE);

    n = proto_msg_encode_stranger(out, sizeof(out), &(struct proto_stranger){sid, 48.5, 2.25, 1.2});
    CHECK(n > 0);
    CHECK(from_gateway(out, (size_t)n, &m, &why) == 0 && m.type == PROTO_MSG_STRANGER &&
          memcmp(m.stranger.sid, sid, PROTO_SID_LEN) == 0 && m.stranger.lat == 48.5 &&
          m.stranger.lng == 2.25 && m.stranger.dist_km == 1.2);
    CHECK(proto_stranger_frame_init(&ff, sid, 48.5, 2.25) == 0);
    CHECK(proto_friend_frame_finish(&ff, 1.2) == (size_t)n && memcmp(ff.buf, out, (size_t)n) == 0);
    CHECK(proto_stranger_frame_init(&ff, "0123456789ABCDEF", 48.5, 2.25) == PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_stranger(out, sizeof(out),
                                    &(struct proto_stranger){sid, 91, 2.25, 1.2}) ==
          PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_stranger(out, sizeof(out),
                                    &(struct proto_stranger){sid, 48, 2.25, -1}) ==
          PROTO_ERR_INVALID);
    CHECK(proto_msg_encode_stranger(out, 20, &(struct proto_stranger){sid, 48, 2, 1}) ==
          PROTO_ERR_NOSPACE);
    n = proto_msg_encode_stranger_gone(out, sizeof(out), sid);
    CHECK(n == 38);
    CHECK(hex_equal(out, (size_t)n,
                    "82 a1 74 ad 73 74 72 61 6e 67 65 72 5f 67 6f 6e 65 a3 73 69 64 b0"
                    " 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66"));
    CHECK(from_gateway(out, (size_t)n, &m, &why) == 0 && m.type == PROTO_MSG_STRANGER_GONE &&
          memcmp(m.stranger_gone.sid, sid, PROTO_SID_LEN) == 0);
    CHECK(proto_msg_encode_stranger_gone(out, sizeof(out), "0123") == PROTO_ERR_INVALID);
    CHECK(gateway_spec("{2 s:t s:stranger_gone s:sid s:0123456789abcde", &m, &why) ==
              PROTO_ERR_RANGE &&
          strcmp(why, "stranger_gone: sid out of range") == 0);
    CHECK(gateway_spec("{2 s:t s:stranger_gone s:sid s:0123456789abcdeg", &m, &why) ==
          PROTO_ERR_RANGE);
    CHECK(gateway_spec("{2 s:t s:stranger_gone s:sid u:5", &m, &why) == PROTO_ERR_SCHEMA);
    CHECK(gateway_spec("{5 s:t s:stranger s:sid s:0123456789abcdef s:lat d:1 s:lng d:181 "
                       "s:dist_km d:0",
                       &m, &why) == PROTO_ERR_RANGE);
    CHECK(proto_sid_valid(sid, 16) && !proto_sid_valid(sid, 15) && !proto_sid_valid("0123456789abcdeF", 16));
    CHECK(strcmp(proto_msg_type_name(PROTO_MSG_STRANGER_GONE), "stranger_gone") == 0);
}

int main(void)
{
    guard_map(&guard, BUF_MAX);
    test_codes();
    test_pinned();
    test_round_trip_phone();
    test_round_trip_gateway();
    test_friend_frame();
    test_nearby_array32();
    test_alternative_encodings();
    test_msgpack_c();
    test_msgpack_c_reads_all();
    test_reject_phone();
    test_frame_size();
    test_reject_gateway();
    test_every_field();
    test_encoder_errors();
    test_encoder_capacity();
    test_truncation();
    test_mutations();
    test_strangers();
    if (failures) {
        fprintf(stderr, "test-proto: %d failure(s)\n", failures);
        return 1;
    }
    printf("test-proto: ok\n");
    return 0;
}
