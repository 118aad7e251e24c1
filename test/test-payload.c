/* test-payload.c: unit tests of the pub/sub payload: round trips, pinned bytes, every rejection, mutations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "msgpack-builder.h"
#include "proto.h"
#include "proto_payload.h"

/* Every case is independent: report up to 50 failures, then give up. */
#define CHECK_STOP_AFTER 51
#include "test-util.h"

/* One guard mapping for the whole test, reused by every decode. */
static struct guarded guard;

#define BUF_MAX (64u << 10)

static uint8_t in[BUF_MAX];
static uint8_t out[BUF_MAX];

static int decode(const uint8_t *buf, size_t len, struct proto_payload *p, const char **why)
{
    return proto_payload_decode(guard_put(&guard, buf, len), len, p, why);
}

static int decode_spec(const char *spec, struct proto_payload *p, const char **why)
{
    size_t n = build(in, sizeof(in), spec);
    return decode(in, n, p, why);
}

static int same_payload(const struct proto_payload *a, const struct proto_payload *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case PROTO_PAYLOAD_LOC:
        return a->user == b->user && a->seq == b->seq && a->loc.lat == b->loc.lat &&
               a->loc.lng == b->loc.lng && a->loc.ts == b->loc.ts &&
               a->loc.consent == b->loc.consent;
    case PROTO_PAYLOAD_OFF:
    case PROTO_PAYLOAD_ON:
        return a->user == b->user && a->seq == b->seq && a->sharing.consent == b->sharing.consent;
    case PROTO_PAYLOAD_FRIEND_ADD:
    case PROTO_PAYLOAD_FRIEND_DEL:
    case PROTO_PAYLOAD_BLOCK:
        return a->user == b->user && a->seq == b->seq && a->friend.other == b->friend.other;
    case PROTO_PAYLOAD_GONE:
    case PROTO_PAYLOAD_ERASED:
    case PROTO_PAYLOAD_STRANGER_ASK:
        return a->user == b->user && a->seq == b->seq;
    case PROTO_PAYLOAD_STRANGER:
        return a->user == b->user && a->seq == b->seq && a->stranger.sid == b->stranger.sid &&
               a->stranger.lat == b->stranger.lat && a->stranger.lng == b->stranger.lng &&
               a->stranger.ts == b->stranger.ts;
    case PROTO_PAYLOAD_STRANGER_GONE:
        return a->user == b->user && a->seq == b->seq &&
               a->stranger_gone.sid == b->stranger_gone.sid &&
               a->stranger_gone.next_len == b->stranger_gone.next_len &&
               memcmp(a->stranger_gone.next, b->stranger_gone.next, a->stranger_gone.next_len) == 0;
    case PROTO_PAYLOAD_HB:
        return a->hb.gateway_len == b->hb.gateway_len &&
               memcmp(a->hb.gateway, b->hb.gateway, a->hb.gateway_len) == 0 &&
               a->hb.counter == b->hb.counter && a->hb.ts == b->hb.ts;
    }
    return 0;
}

static const char gw_max[PROTO_GATEWAY_ID_MAX + 1] =
    "gw-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";

/* One payload of every kind, with values at the edges of their ranges. */
static struct proto_payload sample(int which)
{
    struct proto_payload p;
    memset(&p, 0, sizeof(p));
    switch (which) {
    case 0:
        p.kind = PROTO_PAYLOAD_LOC;
        p.user = 42;
        p.seq = 7;
        p.loc.lat = 52.5;
        p.loc.lng = -13.25;
        p.loc.ts = 1700000000000ull;
        p.loc.consent = 3;
        break;
    case 1:
        p.kind = PROTO_PAYLOAD_LOC;
        p.user = UINT64_MAX;
        p.seq = UINT64_MAX;
        p.loc.lat = -90;
        p.loc.lng = 180;
        p.loc.ts = UINT64_MAX;
        p.loc.consent = UINT64_MAX;
        break;
    case 2:
        p.kind = PROTO_PAYLOAD_OFF;
        p.user = 0;
        p.seq = 128;
        p.sharing.consent = 2;
        break;
    case 3:
        p.kind = PROTO_PAYLOAD_FRIEND_ADD;
        p.user = 70000;
        p.seq = 1;
        p.friend.other = 4294967296ull;
        break;
    case 4:
        p.kind = PROTO_PAYLOAD_FRIEND_DEL;
        p.user = 255;
        p.seq = 65536;
        p.friend.other = 256;
        break;
    case 5:
        p.kind = PROTO_PAYLOAD_HB;
        p.hb.gateway = "gw-1";
        p.hb.gateway_len = 4;
        p.hb.counter = 300;
        p.hb.ts = 1700000000000ull;
        break;
    case 6:
        p.kind = PROTO_PAYLOAD_ON;
        p.user = 12;
        p.seq = 13;
        p.sharing.consent = 65536;
        break;
    case 7:
        p.kind = PROTO_PAYLOAD_BLOCK;
        p.user = 14;
        p.seq = 15;
        p.friend.other = 16;
        break;
    case 8:
        p.kind = PROTO_PAYLOAD_GONE;
        p.user = 17;
        p.seq = 18;
        break;
    case 9:
        p.kind = PROTO_PAYLOAD_ERASED;
        p.user = (uint64_t)INT64_MAX;
        p.seq = 19;
        break;
    case 10:
        p.kind = PROTO_PAYLOAD_STRANGER;
        p.user = 20;
        p.seq = 21;
        p.stranger.sid = UINT64_MAX;
        p.stranger.lat = 48.85;
        p.stranger.lng = -180;
        p.stranger.ts = 22;
        break;
    case 11:
        p.kind = PROTO_PAYLOAD_STRANGER_GONE;
        p.user = 23;
        p.seq = 24;
        p.stranger_gone.sid = 1;
        p.stranger_gone.next = "u09tvzzzzzzz";
        p.stranger_gone.next_len = 12;
        break;
    case 13:
        p.kind = PROTO_PAYLOAD_STRANGER_ASK;
        break;
    case 12:
        p.kind = PROTO_PAYLOAD_STRANGER_GONE;
        p.user = 25;
        p.seq = 26;
        p.stranger_gone.sid = 2;
        p.stranger_gone.next = "";
        p.stranger_gone.next_len = 0;
        break;
    default:
        p.kind = PROTO_PAYLOAD_HB;
        p.hb.gateway = gw_max;
        p.hb.gateway_len = PROTO_GATEWAY_ID_MAX;
        p.hb.counter = UINT64_MAX;
        p.hb.ts = 0;
        break;
    }
    return p;
}

#define SAMPLES 15

static void test_names(void)
{
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_LOC), "loc") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_OFF), "off") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_FRIEND_ADD), "friend_add") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_FRIEND_DEL), "friend_del") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_HB), "hb") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_ON), "on") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_BLOCK), "block") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_GONE), "gone") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_ERASED), "erased") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_STRANGER), "stranger") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_STRANGER_GONE), "stranger_gone") == 0);
    CHECK(strcmp(proto_payload_kind_name(PROTO_PAYLOAD_STRANGER_ASK), "stranger_ask") == 0);
    CHECK(proto_payload_kind_name((enum proto_payload_kind)12) == NULL);
}

/* The format other gateways (maybe of another version) parse must not drift. */
static void test_pinned(void)
{
    struct proto_payload p = sample(0);
    int n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 33);
    CHECK(hex_equal(out, (size_t)n,
                    "98 01 00 2a 07 cb 40 4a 40 00 00 00 00 00 cb c0 2a 80 00 00 00 00 00"
                    " cf 00 00 01 8b cf e5 68 00 03"));
    p = sample(5);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 20);
    CHECK(hex_equal(out, (size_t)n, "95 01 04 a4 67 77 2d 31 cd 01 2c cf 00 00 01 8b cf e5 68 00"));
    p = sample(2);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 7 && hex_equal(out, (size_t)n, "95 01 01 00 cc 80 02"));
    p = sample(6);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 10 && hex_equal(out, (size_t)n, "95 01 05 0c 0d ce 00 01 00 00"));
    p = sample(3);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 18);
    CHECK(hex_equal(out, (size_t)n, "95 01 02 ce 00 01 11 70 01 cf 00 00 00 01 00 00 00 00"));
    p = sample(10);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 33);
    CHECK(hex_equal(out, (size_t)n,
                    "98 01 09 14 15 cf ff ff ff ff ff ff ff ff cb 40 48 6c cc cc cc cc cd"
                    " cb c0 66 80 00 00 00 00 00 16"));
    p = sample(12);
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 7 && hex_equal(out, (size_t)n, "96 01 0a 19 1a 02 a0"));
    p.stranger_gone.next = NULL; /* none: allowed with length 0, the same bytes */
    n = proto_payload_encode(out, sizeof(out), &p);
    CHECK(n == 7 && hex_equal(out, (size_t)n, "96 01 0a 19 1a 02 a0"));
}

static void test_round_trip(void)
{
    for (int which = 0; which < SAMPLES; which++) {
        struct proto_payload p = sample(which);
        struct proto_payload q;
        const char *why = NULL;
        int n = proto_payload_encode(out, sizeof(out), &p);
        CHECK(n > 0 && n <= PROTO_PAYLOAD_MAX);
        CHECK(decode(out, (size_t)n, &q, &why) == 0);
        CHECK(same_payload(&p, &q));
    }
}

/* Numbers in every msgpack encoding, and extra trailing scalars, are accepted. */
static void test_alternative_encodings(void)
{
    struct proto_payload p;
    const char *why = NULL;
    CHECK(decode_spec("[8 u8:1 u64:0 i32:42 u16:7 f:52.5 i:-13 i64:5 u8:4", &p, &why) == 0);
    CHECK(p.kind == PROTO_PAYLOAD_LOC && p.user == 42 && p.seq == 7 && p.loc.lat == 52.5 &&
          p.loc.lng == -13.0 && p.loc.ts == 5 && p.loc.consent == 4);
    CHECK(decode_spec("a32:5 i8:1 i16:1 u32:9 u64:10 i16:3", &p, &why) == 0);
    CHECK(p.kind == PROTO_PAYLOAD_OFF && p.user == 9 && p.seq == 10 && p.sharing.consent == 3);
    CHECK(decode_spec("a16:5 u:1 u:4 S16:gw u:1 u:2", &p, &why) == 0);
    CHECK(p.kind == PROTO_PAYLOAD_HB && p.hb.gateway_len == 2 && p.hb.counter == 1);
    /* A later minor addition to a kind: ignored by this decoder. */
    CHECK(decode_spec("[8 u:1 u:2 u:1 u:2 u:3 nil s:later d:1.5", &p, &why) == 0);
    CHECK(p.kind == PROTO_PAYLOAD_FRIEND_ADD && p.friend.other == 3);
    CHECK(decode_spec("[6 u:1 u:1 u:1 u:2 u:3 bin:xyz", &p, &why) == 0);
    CHECK(decode_spec("[4 u:1 u:7 u:1 u:2", &p, &why) == 0 && p.kind == PROTO_PAYLOAD_GONE);
}

struct bad_case {
    const char *spec;
    int err;
    const char *reason; /* NULL: any */
};

#define LOC_WITH(user, seq, lat, lng, ts) "[8 u:1 u:0 " user " " seq " " lat " " lng " " ts " u:1"

static void test_reject(void)
{
    static const struct bad_case cases[] = {
        {"", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"x:dd x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"x:dc x:ff x:ff", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"x:dc x:00 x:07 u:1 u:0", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"x:df x:ff x:ff x:ff x:ff", PROTO_ERR_MALFORMED, "payload: not an array"},
        {"{2 u:1 u:0", PROTO_ERR_MALFORMED, "payload: not an array"},
        {"u:1", PROTO_ERR_MALFORMED, "payload: not an array"},
        {"x:c1", PROTO_ERR_MALFORMED, "payload: not an array"},
        {"[0", PROTO_ERR_SCHEMA, "payload: missing version or kind"},
        {"[1 u:1", PROTO_ERR_SCHEMA, "payload: missing version or kind"},
        /* Version and kind come first, so newer payloads are recognised as such. */
        {"[4 u:2 u:1 u:1 u:1", PROTO_ERR_VERSION, "payload: unknown version"},
        {"[4 u:0 u:1 u:1 u:1", PROTO_ERR_VERSION, "payload: unknown version"},
        {"[4 i:-1 u:1 u:1 u:1", PROTO_ERR_VERSION, "payload: unknown version"},
        {"[3 u:2 u:1 {1 s:new [0", PROTO_ERR_VERSION, "payload: unknown version"},
        {"[4 s:1 u:1 u:1 u:1", PROTO_ERR_SCHEMA, "payload: version is not an unsigned integer"},
        {"[4 d:1 u:1 u:1 u:1", PROTO_ERR_SCHEMA, "payload: version is not an unsigned integer"},
        {"[4 u:1 u:12 u:1 u:1", PROTO_ERR_TYPE, "payload: unknown kind"},
        {"[4 u:1 u64:18446744073709551615 u:1 u:1", PROTO_ERR_TYPE, "payload: unknown kind"},
        {"[4 u:1 i:-1 u:1 u:1", PROTO_ERR_TYPE, "payload: unknown kind"},
        {"[3 u:1 u:13 [1 [0", PROTO_ERR_TYPE, "payload: unknown kind"},
        {"[3 u:1 u:11 u:0", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        /* Strangers: sid never 0, next a short str. */
        {"[8 u:1 u:9 u:1 u:1 u:0 d:1 d:2 u:3", PROTO_ERR_RANGE, "payload: sid is 0"},
        {"[8 u:1 u:9 u:1 u:1 s:ab d:1 d:2 u:3", PROTO_ERR_SCHEMA, "payload: sid is not an unsigned integer"},
        {"[8 u:1 u:9 u:1 u:1 u:5 d:91 d:2 u:3", PROTO_ERR_RANGE, "payload stranger: lat out of range or not finite"},
        {"[7 u:1 u:9 u:1 u:1 u:5 d:1 d:2", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[6 u:1 u:10 u:1 u:1 u:5 s:u09tvzzzzzzzz", PROTO_ERR_RANGE, "payload stranger_gone: next is longer than a geohash"},
        {"[6 u:1 u:10 u:1 u:1 u:5 u:7", PROTO_ERR_SCHEMA, "payload stranger_gone: next is not a string"},
        {"[6 u:1 u:10 u:1 u:1 u:0 s:", PROTO_ERR_RANGE, "payload: sid is 0"},
        {"[4 u:1 s:loc u:1 u:1", PROTO_ERR_SCHEMA, "payload: kind is not an unsigned integer"},
        {"[4 u:1 nil u:1 u:1", PROTO_ERR_SCHEMA, "payload: kind is not an unsigned integer"},
        /* Structure. */
        {"[4 u:1 u:1 u:1 u:1 x:00", PROTO_ERR_MALFORMED, "payload: trailing bytes after the array"},
        {"[3 u:1 u:1 u:1 u:1", PROTO_ERR_MALFORMED, "payload: trailing bytes after the array"},
        {"[5 u:1 u:1 u:1 u:1 [0", PROTO_ERR_MALFORMED, "payload: nested or invalid element"},
        {"[5 u:1 u:1 u:1 u:1 {0", PROTO_ERR_MALFORMED, "payload: nested or invalid element"},
        {"[5 u:1 u:1 u:1 u:1 x:c1", PROTO_ERR_MALFORMED, "payload: nested or invalid element"},
        {"[5 u:1 u:1 u:1 u:1 x:d4 x:00 x:00", PROTO_ERR_MALFORMED,
         "payload: nested or invalid element"},
        {"[4 u:1 u:1 u:1 [1 u:1", PROTO_ERR_MALFORMED, "payload: nested or invalid element"},
        {"[5 u:1 u:1 u:1 u:1 x:db x:00 x:00 x:01 x:00", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"[5 u:1 u:1 u:1 u:1 x:cf x:00", PROTO_ERR_MALFORMED, "payload: truncated"},
        {"[4 u:1 u:1 u:1 u:1 [4 u:1 u:1 u:1 u:1", PROTO_ERR_MALFORMED,
         "payload: trailing bytes after the array"},
        /* Too few elements for the kind. */
        {"[3 u:1 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[6 u:1 u:0 u:1 u:1 d:1 d:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[7 u:1 u:0 u:1 u:1 d:1 d:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:1 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:5 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:6 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[3 u:1 u:7 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[3 u:1 u:8 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:2 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:3 u:1 u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        {"[4 u:1 u:4 s:gw u:1", PROTO_ERR_SCHEMA, "payload: too few elements for its kind"},
        /* Wrong types. */
        {LOC_WITH("s:1", "u:1", "d:1", "d:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload: user is not an unsigned integer"},
        {LOC_WITH("d:1", "u:1", "d:1", "d:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload: user is not an unsigned integer"},
        {LOC_WITH("i:-1", "u:1", "d:1", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload: user is not an unsigned integer"},
        {LOC_WITH("u:1", "nil", "d:1", "d:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload: seq is not an unsigned integer"},
        {LOC_WITH("u:1", "i:-5", "d:1", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload: seq is not an unsigned integer"},
        {LOC_WITH("u:1", "u:1", "s:1", "d:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload loc: lat is not a number"},
        {LOC_WITH("u:1", "u:1", "true", "d:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload loc: lat is not a number"},
        {LOC_WITH("u:1", "u:1", "d:1", "bin:1", "u:1"), PROTO_ERR_SCHEMA,
         "payload loc: lng is not a number"},
        {LOC_WITH("u:1", "u:1", "d:1", "d:1", "d:1"), PROTO_ERR_SCHEMA,
         "payload loc: ts is not an unsigned integer"},
        {LOC_WITH("u:1", "u:1", "d:1", "d:1", "i:-1"), PROTO_ERR_RANGE,
         "payload loc: ts is not an unsigned integer"},
        {"[5 u:1 u:2 u:1 u:1 s:9", PROTO_ERR_SCHEMA, "payload: other is not an unsigned integer"},
        {"[5 u:1 u:3 u:1 u:1 f:9", PROTO_ERR_SCHEMA, "payload: other is not an unsigned integer"},
        {"[5 u:1 u:6 u:1 u:1 i:-1", PROTO_ERR_RANGE, "payload: other is not an unsigned integer"},
        {"[5 u:1 u:1 u:1 u:1 s:1", PROTO_ERR_SCHEMA, "payload: consent is not an unsigned integer"},
        {"[5 u:1 u:5 u:1 u:1 i:-1", PROTO_ERR_RANGE, "payload: consent is not an unsigned integer"},
        {"[8 u:1 u:0 u:1 u:1 d:1 d:1 u:1 d:1", PROTO_ERR_SCHEMA,
         "payload loc: consent is not an unsigned integer"},
        {"[5 u:1 u:4 u:1 u:1 u:1", PROTO_ERR_SCHEMA, "payload hb: gateway is not a string"},
        {"[5 u:1 u:4 bin:gw u:1 u:1", PROTO_ERR_SCHEMA, "payload hb: gateway is not a string"},
        {"[5 u:1 u:4 s:gw s:1 u:1", PROTO_ERR_SCHEMA,
         "payload hb: counter is not an unsigned integer"},
        {"[5 u:1 u:4 s:gw u:1 d:1", PROTO_ERR_SCHEMA, "payload hb: ts is not an unsigned integer"},
        /* Ranges. */
        {"[5 u:1 u:4 s: u:1 u:1", PROTO_ERR_RANGE, "payload hb: gateway length out of range"},
        {"[5 u:1 u:4 rep:65:g u:1 u:1", PROTO_ERR_RANGE, "payload hb: gateway length out of range"},
        {LOC_WITH("u:1", "u:1", "d:90.00000000000001", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lat out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "i:-91", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lat out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "d:nan", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lat out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "f:inf", "d:1", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lat out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "d:1", "d:-180.00000000000003", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lng out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "d:1", "d:-inf", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lng out of range or not finite"},
        {LOC_WITH("u:1", "u:1", "d:1", "f:-nan", "u:1"), PROTO_ERR_RANGE,
         "payload loc: lng out of range or not finite"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct proto_payload p;
        memset(&p, 0x5a, sizeof(p));
        struct proto_payload before = p;
        const char *why = NULL;
        int rc = decode_spec(cases[k].spec, &p, &why);
        CHECK_IN(rc == cases[k].err, cases[k].spec);
        if (rc != cases[k].err)
            fprintf(stderr, "  got %d (%s), want %d\n", rc, why ? why : "-", cases[k].err);
        CHECK_IN(why != NULL && (cases[k].reason == NULL || strcmp(why, cases[k].reason) == 0),
                 cases[k].spec);
        if (why && cases[k].reason && strcmp(why, cases[k].reason) != 0)
            fprintf(stderr, "  reason '%s', want '%s'\n", why, cases[k].reason);
        CHECK_IN(memcmp(&p, &before, sizeof(p)) == 0, cases[k].spec); /* untouched on failure */
    }

    /* Boundaries are inside; NULL reason is fine. */
    struct proto_payload p;
    CHECK(decode_spec(LOC_WITH("u:0", "u:0", "d:90", "d:-180", "u:0"), &p, NULL) == 0);
    CHECK(decode_spec(LOC_WITH("u:0", "u:0", "i:-90", "u:180", "u:0"), &p, NULL) == 0);
    CHECK(decode_spec("[5 u:1 u:4 rep:64:g u:1 u:1", &p, NULL) == 0);
    CHECK(decode_spec("[0", &p, NULL) == PROTO_ERR_SCHEMA);

    /* Size limit, checked before anything is read. */
    size_t n = build(in, sizeof(in), "[5 u:1 u:7 u:1 u:1 rep:504:z");
    CHECK(n == PROTO_PAYLOAD_MAX);
    CHECK(decode(in, n, &p, NULL) == 0);
    n = build(in, sizeof(in), "[5 u:1 u:7 u:1 u:1 rep:505:z");
    const char *why = NULL;
    CHECK(decode(in, n, &p, &why) == PROTO_ERR_TOO_LARGE && why != NULL);
    CHECK(proto_payload_decode(in, SIZE_MAX, &p, NULL) == PROTO_ERR_TOO_LARGE);
}

static void test_encoder_errors(void)
{
    struct proto_payload p = sample(0);
    const double bad[] = {NAN, INFINITY, -INFINITY, 180.00000000000003, -1000};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        p = sample(0);
        p.loc.lat = bad[k];
        CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
        p = sample(0);
        p.loc.lng = bad[k];
        CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    }
    p = sample(0);
    p.kind = (enum proto_payload_kind)12;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p = sample(10);
    p.stranger.sid = 0;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p = sample(10);
    p.stranger.lat = NAN;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p = sample(11);
    p.stranger_gone.next_len = PROTO_CELL_MAX + 1;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p = sample(5);
    p.hb.gateway_len = 0;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p.hb.gateway = gw_max;
    p.hb.gateway_len = PROTO_GATEWAY_ID_MAX + 1;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    p.hb.gateway = NULL;
    p.hb.gateway_len = 3;
    CHECK(proto_payload_encode(out, sizeof(out), &p) == PROTO_ERR_INVALID);
    /* lat/lng of kinds that carry none are not looked at. */
    p = sample(2);
    p.loc.lat = NAN;
    CHECK(proto_payload_encode(out, sizeof(out), &p) > 0);

    /* Every capacity below the size needed fails, writing nothing past cap. */
    for (int which = 0; which < SAMPLES; which++) {
        struct proto_payload s = sample(which);
        int need = proto_payload_encode(out, sizeof(out), &s);
        CHECK(need > 0);
        for (size_t cap = 0; cap <= (size_t)need; cap++) {
            uint8_t *buf = guard.end - cap;
            int rc = proto_payload_encode(buf, cap, &s);
            CHECK(cap < (size_t)need ? rc == PROTO_ERR_NOSPACE : rc == need);
        }
    }
}

static void test_truncation(void)
{
    for (int which = 0; which < SAMPLES; which++) {
        struct proto_payload p = sample(which);
        struct proto_payload q;
        int n = proto_payload_encode(out, sizeof(out), &p);
        for (int cut = 0; cut < n; cut++) {
            const char *why = NULL;
            CHECK(decode(out, (size_t)cut, &q, &why) == PROTO_ERR_MALFORMED && why != NULL);
        }
    }
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    return xorshift64(&rng_state);
}

static void test_mutations(void)
{
    static const uint8_t interesting[] = {0x00, 0x01, 0x04, 0x05, 0x7f, 0x80, 0x90, 0x9f,
                                          0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xca, 0xcb, 0xcf,
                                          0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xdf, 0xe0, 0xff};
    uint8_t buf[256];
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        struct proto_payload p = sample((int)(rng() % SAMPLES));
        int n = proto_payload_encode(buf, sizeof(buf) / 2, &p);
        size_t len = (size_t)n;
        int edits = 1 + (int)(rng() % 3);
        len = mutate_bytes(buf, len, sizeof(buf), edits, interesting, sizeof(interesting),
                           &rng_state);
        struct proto_payload q;
        const char *why = NULL;
        int rc = decode(buf, len, &q, &why);
        CHECK(rc == 0 || (rc < 0 && rc >= PROTO_ERR_VERSION && why != NULL));
        if (rc == 0) {
            accepted++;
            CHECK((unsigned)q.kind <= PROTO_PAYLOAD_STRANGER_ASK);
            if (q.kind == PROTO_PAYLOAD_LOC)
                CHECK(fabs(q.loc.lat) <= 90 && fabs(q.loc.lng) <= 180);
            if (q.kind == PROTO_PAYLOAD_HB)
                CHECK(q.hb.gateway_len >= 1 && q.hb.gateway_len <= PROTO_GATEWAY_ID_MAX);
        }
    }
    CHECK(accepted > 0);
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = rng() % 48;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rng();
        struct proto_payload q;
        CHECK(decode(buf, len, &q, NULL) <= 0);
    }
}

/* What the gateway publishes, as msgpack-c reads it (our own output: trusted
 * bytes, so msgpack-c's unpacker may read them here). */
static void test_msgpack_c_reads_all(void)
{
    static const struct {
        enum proto_payload_kind kind;
        uint32_t elements;
    } kinds[] = {
        {PROTO_PAYLOAD_LOC, 8}, {PROTO_PAYLOAD_OFF, 5}, {PROTO_PAYLOAD_ON, 5},
        {PROTO_PAYLOAD_FRIEND_ADD, 5}, {PROTO_PAYLOAD_FRIEND_DEL, 5}, {PROTO_PAYLOAD_BLOCK, 5},
        {PROTO_PAYLOAD_GONE, 4}, {PROTO_PAYLOAD_ERASED, 4}, {PROTO_PAYLOAD_HB, 5},
    };
    uint8_t buf[PROTO_PAYLOAD_MAX];
    msgpack_unpacked u;

    msgpack_unpacked_init(&u);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        struct proto_payload p;
        const msgpack_object *a;
        size_t off = 0;
        int n;

        memset(&p, 0, sizeof(p));
        p.kind = kinds[k].kind;
        p.user = UINT64_C(9223372036854775807);
        p.seq = 1234567;
        if (p.kind == PROTO_PAYLOAD_LOC) {
            p.loc.lat = -89.999999;
            p.loc.lng = 179.5;
            p.loc.ts = UINT64_C(1700000000000);
            p.loc.consent = 3;
        } else if (p.kind == PROTO_PAYLOAD_OFF || p.kind == PROTO_PAYLOAD_ON) {
            p.sharing.consent = 9;
        } else if (p.kind == PROTO_PAYLOAD_HB) {
            p.hb.gateway = "gw-7";
            p.hb.gateway_len = 4;
            p.hb.counter = 77;
            p.hb.ts = 5;
        } else if (p.kind != PROTO_PAYLOAD_GONE && p.kind != PROTO_PAYLOAD_ERASED) {
            p.friend.other = 42;
        }
        n = proto_payload_encode(buf, sizeof(buf), &p);
        CHECK(n > 0);
        if (n <= 0)
            continue;
        CHECK(msgpack_unpack_next(&u, (const char *)buf, (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS &&
              off == (size_t)n);
        a = &u.data;
        CHECK(a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size == kinds[k].elements);
        if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != kinds[k].elements)
            continue;
        CHECK(a->via.array.ptr[0].via.u64 == PROTO_PAYLOAD_VERSION);
        CHECK(a->via.array.ptr[1].via.u64 == (uint64_t)p.kind);
        if (p.kind == PROTO_PAYLOAD_HB) {
            CHECK(a->via.array.ptr[2].type == MSGPACK_OBJECT_STR &&
                  a->via.array.ptr[2].via.str.size == 4 &&
                  memcmp(a->via.array.ptr[2].via.str.ptr, "gw-7", 4) == 0);
            CHECK(a->via.array.ptr[3].via.u64 == 77);
            continue;
        }
        CHECK(a->via.array.ptr[2].via.u64 == p.user && a->via.array.ptr[3].via.u64 == p.seq);
        if (p.kind == PROTO_PAYLOAD_LOC) {
            CHECK(a->via.array.ptr[4].type == MSGPACK_OBJECT_FLOAT64 &&
                  a->via.array.ptr[4].via.f64 == p.loc.lat);
            CHECK(a->via.array.ptr[5].via.f64 == 179.5);
            CHECK(a->via.array.ptr[6].via.u64 == p.loc.ts && a->via.array.ptr[7].via.u64 == 3);
        }
    }
    msgpack_unpacked_destroy(&u);
}

int main(void)
{
    guard_map(&guard, BUF_MAX);
    test_names();
    test_pinned();
    test_round_trip();
    test_alternative_encodings();
    test_reject();
    test_encoder_errors();
    test_truncation();
    test_mutations();
    test_msgpack_c_reads_all();
    if (failures) {
        fprintf(stderr, "test-payload: %d failure(s)\n", failures);
        return 1;
    }
    printf("test-payload: ok\n");
    return 0;
}
