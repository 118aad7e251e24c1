/* test-eio.c: the Engine.IO / Socket.IO packet reader and encoders of nearby-loadgen, each input against a guard page. */
#define CHECK_STOP_AFTER 0
#include "../test-util.h"

#include <math.h>

#include "eio.h"

/* What socket.io 4.8 (engine.io 6.6) wrote to a phone of bench/socketio. */
#define OPEN "0{\"sid\":\"lv2MTAjz5T4VfWzVAAAB\",\"upgrades\":[],\"pingInterval\":25000," \
             "\"pingTimeout\":20000,\"maxPayload\":1000000}"
#define FRIEND "{\"id\":7,\"lat\":48.85661,\"lng\":2.3522,\"ts\":1733000000123,\"dist_km\":0}"

static struct guarded g;

static int parse(const char *s, struct eio_packet *pk)
{
    return eio_parse(guard_put(&g, s, strlen(s)), strlen(s), pk);
}

static int friend_of(const char *s, struct proto_friend *f)
{
    return eio_decode_friend(guard_put(&g, s, strlen(s)), strlen(s), f);
}

/* Parses s, expecting kind. */
static struct eio_packet accepts(const char *s, enum eio_kind kind)
{
    struct eio_packet pk;

    memset(&pk, 0, sizeof(pk));
    CHECK_IN(parse(s, &pk) == 0, s);
    CHECK_IN(pk.kind == kind, s);
    return pk;
}

static void refuses(const char *s, int want)
{
    struct eio_packet pk;

    memset(&pk, 0x5a, sizeof(pk));
    CHECK_IN(parse(s, &pk) == want, s);
    CHECK_IN(((unsigned char *)&pk)[0] == 0x5a, s); /* nothing written */
}

static void refuses_friend(const char *s, int want)
{
    struct proto_friend f = {99, 1, 2, 3, 4};

    CHECK_IN(friend_of(s, &f) == want, s);
    CHECK_IN(f.id == 99 && f.ts == 3, s);
}

static void test_engine_io(void)
{
    struct eio_packet pk;

    pk = accepts(OPEN, EIO_KIND_OPEN);
    CHECK_EQ(pk.open.ping_interval_ms, 25000);
    CHECK_EQ(pk.open.ping_timeout_ms, 20000);
    CHECK(eio_span_is(pk.open.sid, "lv2MTAjz5T4VfWzVAAAB"));
    accepts("0 { \"pingTimeout\" : 1 , \"sid\" : \"\\u0041\\\"\" , \"pingInterval\" : 2 } ",
            EIO_KIND_OPEN);
    pk = accepts("2", EIO_KIND_PING);
    CHECK_EQ(pk.ping.data.len, 0);
    CHECK(eio_span_is(pk.ns, "/"));
    pk = accepts("2probe", EIO_KIND_PING);
    CHECK(eio_span_is(pk.ping.data, "probe"));
    accepts("3", EIO_KIND_PONG);
    accepts("1", EIO_KIND_CLOSE);
    accepts("5", EIO_KIND_UPGRADE);
    accepts("6", EIO_KIND_NOOP);

    refuses("", EIO_ERR_SYNTAX);
    refuses("7", EIO_ERR_SYNTAX);
    refuses("x", EIO_ERR_SYNTAX);
    refuses("1x", EIO_ERR_SYNTAX);
    refuses("0", EIO_ERR_SYNTAX);
    refuses("0{}", EIO_ERR_VALUE);                                   /* no ping figures */
    refuses("0{\"sid\":\"a\",\"pingInterval\":25000}", EIO_ERR_VALUE);
    refuses("0{\"sid\":\"a\",\"pingInterval\":\"25000\",\"pingTimeout\":1}", EIO_ERR_VALUE);
    refuses("0{\"sid\":\"a\",\"pingInterval\":2.5,\"pingTimeout\":1}", EIO_ERR_VALUE);
    refuses("0{\"sid\":\"a\",\"pingInterval\":0,\"pingTimeout\":1}", EIO_ERR_VALUE);
    refuses("0{\"sid\":1,\"pingInterval\":1,\"pingTimeout\":1}", EIO_ERR_VALUE);
    refuses("0{\"sid\":\"a\",\"sid\":\"b\",\"pingInterval\":1,\"pingTimeout\":1}", EIO_ERR_VALUE);
    refuses(OPEN "x", EIO_ERR_SYNTAX);
    refuses("0{\"sid\":\"a\",\"pingInterval\":1,\"pingTimeout\":1,}", EIO_ERR_SYNTAX);
    refuses("0{\"sid\":\"a\\x\",\"pingInterval\":1,\"pingTimeout\":1}", EIO_ERR_SYNTAX);
    refuses("0{\"sid\":\"a\\u00g0\",\"pingInterval\":1,\"pingTimeout\":1}", EIO_ERR_SYNTAX);
    refuses("0{\"sid\":\"a\tb\",\"pingInterval\":1,\"pingTimeout\":1}", EIO_ERR_SYNTAX);
    refuses("0{\"sid\":\"a\",\"pingInterval\":01,\"pingTimeout\":1}", EIO_ERR_SYNTAX);
}

static void test_socket_io(void)
{
    struct eio_packet pk;
    struct proto_friend f;

    pk = accepts("40{\"sid\":\"x\"}", EIO_KIND_CONNECT);
    CHECK(eio_span_is(pk.ns, "/"));
    accepts("40", EIO_KIND_CONNECT);
    pk = accepts("40/admin,{\"sid\":\"x\"}", EIO_KIND_CONNECT);
    CHECK(eio_span_is(pk.ns, "/admin"));
    pk = accepts("44{\"message\":\"bad_token\"}", EIO_KIND_CONNECT_ERROR);
    CHECK(eio_span_is(pk.error.message, "bad_token"));
    pk = accepts("44{\"data\":{\"why\":[1,2,{}]},\"message\":\"no\"}", EIO_KIND_CONNECT_ERROR);
    CHECK(eio_span_is(pk.error.message, "no"));
    accepts("41", EIO_KIND_DISCONNECT);
    pk = accepts("43[\"ack\"]", EIO_KIND_OTHER);
    CHECK(eio_span_is(pk.ns, "/"));
    accepts("451-[\"bin\",{\"_placeholder\":true,\"num\":0}]", EIO_KIND_OTHER);

    pk = accepts("42[\"friend\"," FRIEND "]", EIO_KIND_EVENT);
    CHECK(eio_span_is(pk.event.name, "friend"));
    CHECK_EQ(pk.event.argc, 1);
    CHECK(!pk.has_ack_id);
    CHECK(eio_span_is(pk.event.arg, FRIEND));
    CHECK_EQ(eio_decode_friend(pk.event.arg.ptr, pk.event.arg.len, &f), 0);
    CHECK_EQ(f.id, 7);
    CHECK_EQ(f.ts, 1733000000123ULL);
    CHECK(f.lat == 48.85661 && f.lng == 2.3522 && f.dist_km == 0);
    pk = accepts("4212[\"hello\"]", EIO_KIND_EVENT);
    CHECK(pk.has_ack_id);
    CHECK_EQ(pk.ack_id, 12);
    CHECK_EQ(pk.event.argc, 0);
    CHECK_EQ(pk.event.arg.len, 0);
    pk = accepts("42/chat,[\"a\",1,[true,false,null],\"x\"]", EIO_KIND_EVENT);
    CHECK(eio_span_is(pk.ns, "/chat"));
    CHECK_EQ(pk.event.argc, 3);
    CHECK(eio_span_is(pk.event.arg, "1"));

    refuses("4", EIO_ERR_SYNTAX);
    refuses("47", EIO_ERR_SYNTAX);
    refuses("42", EIO_ERR_SYNTAX);
    refuses("42[]", EIO_ERR_VALUE);
    refuses("42[1]", EIO_ERR_VALUE);
    refuses("42[\"a\"", EIO_ERR_SYNTAX);
    refuses("42[\"a\",]", EIO_ERR_SYNTAX);
    refuses("42[\"a\"]x", EIO_ERR_SYNTAX);
    refuses("42/chat[\"a\"]", EIO_ERR_SYNTAX);                    /* namespace without comma */
    refuses("4299999999999999999999[\"a\"]", EIO_ERR_SYNTAX);     /* ack id overflows */
    refuses("42[\"a\",[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]", EIO_ERR_SYNTAX); /* too deep */
    refuses("44", EIO_ERR_SYNTAX);
    refuses("44{}", EIO_ERR_VALUE);
    refuses("44{\"message\":1}", EIO_ERR_VALUE);
    refuses("44\"no\"", EIO_ERR_VALUE);
    refuses("40{", EIO_ERR_SYNTAX);
    refuses("41x", EIO_ERR_SYNTAX);
}

static void test_payloads(void)
{
    static const char nearby[] =
        "{\"radius_km\":8.047,\"friends\":[" FRIEND ",{\"dist_km\":1.5e0,\"ts\":5,"
        "\"lng\":-180,\"lat\":-90,\"id\":9007199254740992,\"extra\":{\"a\":[]}}]}";
    struct eio_nearby n;
    struct eio_nearby_iter it;
    struct proto_friend f;
    const char *in;

    in = guard_put(&g, nearby, strlen(nearby));
    CHECK_EQ(eio_decode_nearby(in, strlen(nearby), &n), 0);
    CHECK(n.radius_km == 8.047);
    CHECK_EQ(n.count, 2);
    eio_nearby_iter_init(&it, &n);
    CHECK_EQ(eio_nearby_iter_next(&it, &f), 1);
    CHECK_EQ(f.id, 7);
    CHECK_EQ(eio_nearby_iter_next(&it, &f), 1);
    CHECK_EQ(f.id, 9007199254740992ULL);
    CHECK(f.lat == -90 && f.lng == -180 && f.dist_km == 1.5 && f.ts == 5);
    CHECK_EQ(eio_nearby_iter_next(&it, &f), 0);

    in = guard_put(&g, "{\"friends\":[],\"radius_km\":1}", 28);
    CHECK_EQ(eio_decode_nearby(in, 28, &n), 0);
    CHECK_EQ(n.count, 0);
    eio_nearby_iter_init(&it, &n);
    CHECK_EQ(eio_nearby_iter_next(&it, &f), 0);
    in = guard_put(&g, "{\"radius_km\":1}", 15);
    CHECK_EQ(eio_decode_nearby(in, 15, &n), EIO_ERR_VALUE);
    in = guard_put(&g, "{\"radius_km\":0,\"friends\":[]}", 28);
    CHECK_EQ(eio_decode_nearby(in, 28, &n), EIO_ERR_VALUE);
    in = guard_put(&g, "{\"radius_km\":1,\"friends\":[{}]}", 30);
    CHECK_EQ(eio_decode_nearby(in, 30, &n), EIO_ERR_VALUE);
    in = guard_put(&g, "{\"radius_km\":1,\"friends\":[1]}", 29);
    CHECK_EQ(eio_decode_nearby(in, 29, &n), EIO_ERR_VALUE);
    in = guard_put(&g, "{\"radius_km\":1,\"friends\":{}}", 28);
    CHECK_EQ(eio_decode_nearby(in, 28, &n), EIO_ERR_VALUE);

    CHECK_EQ(friend_of(" " FRIEND " ", &f), 0);
    refuses_friend("{\"id\":7,\"lat\":1,\"lng\":1,\"ts\":1}", EIO_ERR_VALUE);          /* no dist_km */
    refuses_friend("{\"id\":7,\"id\":7,\"lat\":1,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":0,\"lat\":1,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":9007199254740993,\"lat\":1,\"lng\":1,\"ts\":1,\"dist_km\":0}",
                   EIO_ERR_VALUE);
    refuses_friend("{\"id\":-7,\"lat\":1,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":1,\"lng\":1,\"ts\":1.5,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":1,\"lng\":1,\"ts\":1e3,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":90.5,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":1,\"lng\":1,\"ts\":1,\"dist_km\":-1}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":\"1\",\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":1e999,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_VALUE);
    refuses_friend("{\"id\":7,\"lat\":1.,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_SYNTAX);
    refuses_friend("{\"id\":7,\"lat\":.5,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_SYNTAX);
    refuses_friend("{\"id\":7,\"lat\":-,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_SYNTAX);
    refuses_friend("{\"id\":7,\"lat\":1e,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_SYNTAX);
    refuses_friend("{\"id\":7,\"lat\":tru,\"lng\":1,\"ts\":1,\"dist_km\":0}", EIO_ERR_SYNTAX);
    refuses_friend(FRIEND ",", EIO_ERR_SYNTAX);
    refuses_friend("[" FRIEND "]", EIO_ERR_VALUE);
    refuses_friend("", EIO_ERR_SYNTAX);
}

static void test_encoders(void)
{
    char buf[128];
    struct eio_packet pk;
    struct proto_friend f;
    char token[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln";
    double lat = 48.856613, lng = -2.352222;

    CHECK_EQ(eio_encode_connect(buf, sizeof(buf), token, strlen(token)), 56);
    CHECK(strcmp(buf, "40{\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln\"}") == 0);
    CHECK_EQ(eio_encode_connect(buf, 56, token, strlen(token)), EIO_ERR_NOSPACE); /* no room for the NUL */
    CHECK_EQ(eio_encode_connect(buf, 57, token, strlen(token)), 56);
    CHECK_EQ(eio_encode_connect(buf, sizeof(buf), "a\"b", 3), EIO_ERR_INVALID);
    CHECK_EQ(eio_encode_connect(buf, sizeof(buf), "a\\b", 3), EIO_ERR_INVALID);
    CHECK_EQ(eio_encode_connect(buf, sizeof(buf), "", 0), EIO_ERR_INVALID);

    CHECK_EQ(eio_encode_loc(buf, sizeof(buf), 48.5, 2.25, 1733000000000ULL), 52);
    CHECK(strcmp(buf, "42[\"loc\",{\"lat\":48.5,\"lng\":2.25,\"ts\":1733000000000}]") == 0);
    /* A loc read back by the same reader gives the very doubles sent. */
    CHECK(eio_encode_loc(buf, sizeof(buf), lat, lng, 77) > 0);
    CHECK_EQ(parse(buf, &pk), 0);
    CHECK(eio_span_is(pk.event.name, "loc"));
    {
        char with[160];
        int n = snprintf(with, sizeof(with), "{\"id\":1,\"dist_km\":0,%.*s",
                         (int)pk.event.arg.len - 1, pk.event.arg.ptr + 1);

        CHECK_EQ(eio_decode_friend(with, (size_t)n, &f), 0);
        CHECK(f.lat == lat && f.lng == lng && f.ts == 77);
    }
    CHECK_EQ(eio_encode_loc(buf, 20, 48.5, 2.25, 1), EIO_ERR_NOSPACE);
    CHECK_EQ(eio_encode_loc(buf, sizeof(buf), NAN, 2.25, 1), EIO_ERR_INVALID);
    CHECK_EQ(eio_encode_loc(buf, sizeof(buf), 91, 2.25, 1), EIO_ERR_INVALID);
    CHECK_EQ(eio_encode_loc(buf, sizeof(buf), 1, 2.25, EIO_INT_MAX + 1), EIO_ERR_INVALID);

    CHECK_EQ(eio_encode_pong(buf, sizeof(buf), (struct eio_span){NULL, 0}), 1);
    CHECK(strcmp(buf, "3") == 0);
    CHECK_EQ(eio_encode_pong(buf, sizeof(buf), (struct eio_span){"probe", 5}), 6);
    CHECK(strcmp(buf, "3probe") == 0);
    CHECK_EQ(eio_encode_pong(buf, 1, (struct eio_span){NULL, 0}), EIO_ERR_NOSPACE);
}

/* Random edits of valid packets: the reader answers and never reads past its input. */
static void test_mutations(void)
{
    static const char *seeds[] = {
        OPEN, "40{\"sid\":\"x\"}", "44{\"message\":\"bad_token\"}", "42[\"friend\"," FRIEND "]",
        "42[\"nearby\",{\"radius_km\":8.047,\"friends\":[" FRIEND "]}]",
    };
    static const uint8_t interesting[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '-', '.',
                                          'e', '0', '9', ' ', 0, 0x1f, 0x80};
    uint64_t state = 0x5eed;
    uint8_t buf[512];
    struct eio_packet pk;
    struct proto_friend f;
    struct eio_nearby n;

    for (int i = 0; i < 200000; i++) {
        const char *seed = seeds[i % (sizeof(seeds) / sizeof(seeds[0]))];
        size_t len = strlen(seed);
        const char *in;

        memcpy(buf, seed, len);
        len = mutate_bytes(buf, len, sizeof(buf), 1 + (int)(xorshift64(&state) % 4), interesting,
                           sizeof(interesting), &state);
        in = guard_put(&g, buf, len);
        if (eio_parse(in, len, &pk) == 0 && pk.kind == EIO_KIND_EVENT && pk.event.arg.len > 0) {
            if (eio_decode_nearby(pk.event.arg.ptr, pk.event.arg.len, &n) == 0) {
                struct eio_nearby_iter it;
                uint32_t seen = 0;

                eio_nearby_iter_init(&it, &n);
                while (eio_nearby_iter_next(&it, &f) == 1)
                    seen++;
                CHECK_EQ(seen, n.count);
            }
            eio_decode_friend(pk.event.arg.ptr, pk.event.arg.len, &f);
        }
    }
}

int main(void)
{
    guard_map(&g, 4096);
    test_engine_io();
    test_socket_io();
    test_payloads();
    test_encoders();
    test_mutations();
    guard_release(&g);
    return failures ? 1 : 0;
}
