/* seeds.c: writes the seed corpus of every fuzz target, made with the project's own encoders and the unit tests' vectors.
 *
 * Run from the source root as build-fuzz/test/fuzz/fuzz-seeds test/fuzz/corpus
 * after changing a format; it rewrites the seeds it makes and leaves every
 * other file (the regress-* inputs of crashes found) where it is. Each seed
 * is small and means one thing, named after it; the fuzzers find the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../msgpack-builder.h"
#include "location_cache.h"
#include "proto_msg.h"
#include "proto_payload.h"
#include "proxy_v2.h"
#include "token.h"
#include "ws_frame.h"
#include "ws_handshake.h"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "fuzz-seeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void seed(const char *target, const char *name, const void *bytes, size_t len)
{
    char path[512];

    if (mkdir(root, 0755) < 0 && errno != EEXIST)
        die(root);
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        die(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(bytes, 1, len, f) != len) || fclose(f) != 0)
        die(path);
}

static void seed_str(const char *target, const char *name, const char *text)
{
    seed(target, name, text, strlen(text));
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-seeds: could not encode %s\n", what);
        exit(1);
    }
}

/* --- ws-frame --------------------------------------------------------------- */

/* Settings byte of fuzz-ws-frame.c: role, assembly buffer 4096 (index 6),
 * max_payload 4096 (index 4), and bit 7 for the close-payload mode. */
#define WS_SERVER 0x4c
#define WS_CLIENT 0x4d
#define WS_CLOSE_MODE 0x80

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7 */

struct stream {
    uint8_t b[8192];
    size_t n;
};

static void stream_start(struct stream *s, uint8_t settings)
{
    s->b[0] = settings;
    s->n = 1;
}

/* Appends one frame, masked for a server's input (settings bit 0 clear). */
static void frame(struct stream *s, int opcode, int fin, const void *payload, size_t len)
{
    int masked = (s->b[0] & 1) == 0;
    int h = ws_frame_header(s->b + s->n, opcode, fin, len, masked ? mask_key : NULL);
    check(h > 0 && s->n + (size_t)h + len <= sizeof s->b, "a frame");
    s->n += (size_t)h;
    if (masked)
        ws_mask_copy(s->b + s->n, payload, len, mask_key);
    else if (len > 0)
        memcpy(s->b + s->n, payload, len);
    s->n += len;
}

static void ws_frame_seeds(void)
{
    struct stream s;
    uint8_t bytes[300];

    stream_start(&s, WS_SERVER);
    frame(&s, WS_OP_TEXT, 1, "Hello", 5);
    seed("ws-frame", "server-text-hello", s.b, s.n);

    stream_start(&s, WS_CLIENT);
    frame(&s, WS_OP_TEXT, 1, "Hello", 5);
    seed("ws-frame", "client-text-hello", s.b, s.n);

    /* Fragments with a ping between them and a character split across them. */
    stream_start(&s, WS_SERVER);
    frame(&s, WS_OP_TEXT, 0, "Hel\xce", 4);
    frame(&s, WS_OP_PING, 1, "ping", 4);
    frame(&s, WS_OP_CONTINUATION, 0, "\xba", 1);
    frame(&s, WS_OP_CONTINUATION, 1, "lo", 2);
    seed("ws-frame", "server-fragments-ping", s.b, s.n);

    stream_start(&s, WS_CLIENT);
    frame(&s, WS_OP_BINARY, 0, "\x84\xa1", 2);
    frame(&s, WS_OP_CONTINUATION, 1, "t", 1);
    frame(&s, WS_OP_PONG, 1, "", 0);
    seed("ws-frame", "client-binary-fragments-pong", s.b, s.n);

    /* A phone's session: init, loc, radius, close. */
    uint8_t msg[256];
    stream_start(&s, WS_SERVER);
    int n = proto_msg_encode_init(msg, sizeof msg, "t0k3n", 5);
    check(n > 0, "init");
    frame(&s, WS_OP_BINARY, 1, msg, (size_t)n);
    n = proto_msg_encode_loc(msg, sizeof msg, 37.7749295, -122.4194155, 1700000000000);
    check(n > 0, "loc");
    frame(&s, WS_OP_BINARY, 1, msg, (size_t)n);
    n = proto_msg_encode_radius(msg, sizeof msg, 8.047);
    check(n > 0, "radius");
    frame(&s, WS_OP_BINARY, 1, msg, (size_t)n);
    frame(&s, WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5);
    seed("ws-frame", "server-phone-session", s.b, s.n);

    /* Lengths in 16 and 64 bits (the last frame's payload not all there). */
    memset(bytes, 'x', sizeof bytes);
    stream_start(&s, WS_CLIENT);
    frame(&s, WS_OP_BINARY, 1, bytes, 126);
    frame(&s, WS_OP_BINARY, 1, bytes, 300);
    seed("ws-frame", "client-length16", s.b, s.n);
    stream_start(&s, WS_CLIENT | 0x70); /* max_payload SIZE_MAX */
    n = ws_frame_header(s.b + s.n, WS_OP_BINARY, 1, 70000, NULL);
    s.n += (size_t)n;
    memcpy(s.b + s.n, bytes, 16);
    s.n += 16;
    seed("ws-frame", "client-length64-partial", s.b, s.n);

    stream_start(&s, WS_SERVER);
    frame(&s, WS_OP_CLOSE, 1, "\x0f\xa0" "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 13);
    seed("ws-frame", "server-close-4000-utf8", s.b, s.n);

    stream_start(&s, WS_CLIENT);
    frame(&s, WS_OP_CLOSE, 1, "", 0);
    seed("ws-frame", "client-close-empty", s.b, s.n);

    /* Text the validator must refuse (test-ws-frame.c's vectors). */
    static const char *const bad_utf8[] = {
        "\xc0\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82\x41",
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        char name[64];
        stream_start(&s, WS_CLIENT);
        frame(&s, WS_OP_TEXT, 1, bad_utf8[i], strlen(bad_utf8[i]));
        snprintf(name, sizeof name, "client-text-bad-utf8-%zu", i);
        seed("ws-frame", name, s.b, s.n);
    }

    /* Close mode: a code and a reason of 130 bytes whose 123rd byte is
     * inside a 3-byte character, so the encoder must cut before it. */
    size_t k = 0;
    bytes[k++] = WS_CLOSE_MODE | WS_CLIENT;
    bytes[k++] = 0x03;
    bytes[k++] = 0xe9; /* 1001 */
    memset(bytes + k, 'a', 121);
    k += 121;
    memcpy(bytes + k, "\xe2\x82\xac\xe2\x82\xac", 6); /* two euro signs */
    k += 6;
    seed("ws-frame", "close-mode-long-reason", bytes, k);
    seed("ws-frame", "close-mode-code-1005", "\x80\x03\xed", 3);
}

/* --- ws-handshake ---------------------------------------------------------- */

static void ws_handshake_seeds(void)
{
    char out[1024], key[WS_HS_KEY_LEN + 1];
    static const uint8_t nonce[16] = "the sample nonce";

    ws_handshake_client_key(nonce, key); /* dGhlIHNhbXBsZSBub25jZQ== */
    int n = ws_handshake_request(out, sizeof out, "127.0.0.1:28080", "/ws", key, NULL);
    check(n > 0, "request");
    seed("ws-handshake", "upgrade", out, (size_t)n);
    n = ws_handshake_request(out, sizeof out, "gw.example", "/ws?v=1", key,
                             "Origin: https://app.example\r\n"
                             "Authorization: Bearer abc\r\n"
                             "Sec-WebSocket-Protocol: nearby\r\n");
    check(n > 0, "request with headers");
    seed("ws-handshake", "upgrade-origin-auth-protocol", out, (size_t)n);
    seed_str("ws-handshake", "rfc6455-sample",
             "GET /chat HTTP/1.1\r\n"
             "Host: server.example.com\r\n"
             "Upgrade: websocket\r\n"
             "Connection: keep-alive, Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Origin: http://example.com\r\n"
             "Sec-WebSocket-Protocol: chat, superchat\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "\r\n");
    seed_str("ws-handshake", "healthz", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    seed_str("ws-handshake", "metrics-http10",
             "\r\nGET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    seed_str("ws-handshake", "post-body",
             "POST /v1/friends?user=42 HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n"
             "Connection: close\r\n\r\n{\"a\":1}");
    seed_str("ws-handshake", "transfer-encoding",
             "POST /v1/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n");
    seed_str("ws-handshake", "version-12",
             "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n");

    n = ws_handshake_response(key, strlen(key), out, sizeof out);
    check(n > 0, "response");
    memcpy(out + n, "\x82\x02hi", 4); /* a frame right behind the head */
    seed("ws-handshake", "response-101", out, (size_t)n + 4);
    n = ws_handshake_error_response(WS_HS_ERR_VERSION, out, sizeof out);
    check(n > 0, "error response");
    seed("ws-handshake", "response-426", out, (size_t)n);
}

/* --- proxy-v2 -------------------------------------------------------------- */

static void proxy_v2_seeds(void)
{
    static const char request[] = "GET /ws HTTP/1.1\r\nHost: gw\r\n\r\n";
    struct proxy_v2_addr client = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7},
                                   51234, true};
    struct proxy_v2_addr server = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2},
                                   28080, true};
    uint8_t b[256];
    int n;

    /* As HAProxy sends them, with the phone's request behind. */
    n = proxy_v2_encode(b, sizeof b, &client, &server);
    check(n > 0, "PROXY v4");
    memcpy(b + n, request, sizeof request - 1);
    seed("proxy-v2", "proxy-inet-then-request", b, (size_t)n + sizeof request - 1);
    memcpy(client.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    memcpy(server.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02", 16);
    client.v4 = server.v4 = false;
    n = proxy_v2_encode(b, sizeof b, &client, &server);
    check(n > 0, "PROXY v6");
    seed("proxy-v2", "proxy-inet6", b, (size_t)n);
    n = proxy_v2_encode(b, sizeof b, NULL, NULL);
    check(n > 0, "LOCAL");
    seed("proxy-v2", "local", b, (size_t)n);

    /* A v4 header with a NOOP and an ALPN TLV after the addresses (haproxy's
     * doc/proxy-protocol.txt, 2.2.1), and PROXY over UNSPEC. */
    static const uint8_t tlvs[] = {0x04, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x02, 'h', '2'};
    n = proxy_v2_encode(b, sizeof b, &(struct proxy_v2_addr){{0}, 1, true},
                        &(struct proxy_v2_addr){{0}, 2, true});
    check(n > 0, "PROXY v4");
    memcpy(b + n, tlvs, sizeof tlvs);
    b[15] = (uint8_t)(b[15] + sizeof tlvs);
    seed("proxy-v2", "proxy-inet-tlvs", b, (size_t)n + sizeof tlvs);
    memcpy(b, PROXY_V2_SIGNATURE, PROXY_V2_SIGNATURE_LEN);
    memcpy(b + 12, "\x21\x00\x00\x00", 4);
    seed("proxy-v2", "proxy-unspec", b, 16);
    seed_str("proxy-v2", "plain-http", request);
}

/* --- proto-msg ------------------------------------------------------------ */

static void proto_msg_seeds(void)
{
    uint8_t b[4096];
    char token[256];
    static const uint8_t key[] = "nearby-test-key-0123456789abcdef";
    int n;

    n = token_sign(key, sizeof key - 1, 42, 2000000000, token, sizeof token);
    check(n > 0, "token");
    n = proto_msg_encode_init(b, sizeof b, token, (size_t)n);
    check(n > 0, "init");
    seed("proto-msg", "init", b, (size_t)n);
    n = proto_msg_encode_loc(b, sizeof b, 37.7749295, -122.4194155, 1700000000000);
    check(n > 0, "loc");
    seed("proto-msg", "loc", b, (size_t)n);
    n = proto_msg_encode_radius(b, sizeof b, 8.047);
    check(n > 0, "radius");
    seed("proto-msg", "radius", b, (size_t)n);
    n = token_sign(key, sizeof key - 1, 42, 2000003600, token, sizeof token);
    check(n > 0, "token");
    n = proto_msg_encode_refresh(b, sizeof b, token, (size_t)n);
    check(n > 0, "refresh");
    seed("proto-msg", "refresh", b, (size_t)n);

    /* The other spellings a phone may use (test-proto.c's): float32, ints,
     * keys in another order, an unknown key with a scalar. */
    size_t len = build(b, sizeof b, "{5 s:ts u64:1700000000000 s:lng i:-122 s:lat f:37.5 "
                                    "s:t s:loc s:app s:ios-1.2");
    seed("proto-msg", "loc-mixed-forms", b, len);
    len = build(b, sizeof b, "{2 s:t S16:radius s:km u8:5");
    seed("proto-msg", "radius-int", b, len);

    struct proto_friend friends[17];
    for (int i = 0; i < 17; i++)
        friends[i] = (struct proto_friend){(uint64_t)i * 1000 + 7, 37.77 + i * 0.001,
                                           -122.41 - i * 0.001, 1700000000000 + i, i * 0.1};
    n = proto_msg_encode_nearby(b, sizeof b, 8.047, NULL, 0);
    check(n > 0, "nearby");
    seed("proto-msg", "nearby-empty", b, (size_t)n);
    n = proto_msg_encode_nearby(b, sizeof b, 8.047, friends, 2);
    check(n > 0, "nearby");
    seed("proto-msg", "nearby-2", b, (size_t)n);
    n = proto_msg_encode_nearby(b, sizeof b, 8.047, friends, 17);
    check(n > 0, "nearby");
    seed("proto-msg", "nearby-17", b, (size_t)n);
    n = proto_msg_encode_friend(b, sizeof b, &friends[3]);
    check(n > 0, "friend");
    seed("proto-msg", "friend", b, (size_t)n);
    n = proto_msg_encode_gone(b, sizeof b, UINT64_MAX);
    check(n > 0, "gone");
    seed("proto-msg", "gone", b, (size_t)n);
    n = proto_msg_encode_err(b, sizeof b, PROTO_CODE_RATE_LIMITED, "slow down", 9);
    check(n > 0, "err");
    seed("proto-msg", "err-rate-limited", b, (size_t)n);
    len = build(b, sizeof b, "{3 s:t s:err s:code s:teapot s:msg s:");
    seed("proto-msg", "err-unknown-code", b, len);

    /* Strangers: the phone's switch, a stranger shown and gone. */
    n = proto_msg_encode_strangers(b, sizeof b, 1);
    check(n > 0, "strangers");
    seed("proto-msg", "strangers-on", b, (size_t)n);
    n = proto_msg_encode_stranger(b, sizeof b,
                                  &(struct proto_stranger){"0123456789abcdef", 48.857, 2.352, 0.8});
    check(n > 0, "stranger");
    seed("proto-msg", "stranger", b, (size_t)n);
    n = proto_msg_encode_stranger_gone(b, sizeof b, "0123456789abcdef");
    check(n > 0, "stranger_gone");
    seed("proto-msg", "stranger-gone", b, (size_t)n);
}

/* --- proto-payload ---------------------------------------------------------- */

static void proto_payload_seeds(void)
{
    uint8_t b[PROTO_PAYLOAD_MAX];
    struct proto_payload p;
    int n;

    memset(&p, 0, sizeof p);
    p.kind = PROTO_PAYLOAD_LOC;
    p.user = 42;
    p.seq = 7;
    p.loc.lat = 37.7749295;
    p.loc.lng = -122.4194155;
    p.loc.ts = 1700000000000;
    p.loc.consent = 3;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload loc");
    seed("proto-payload", "loc", b, (size_t)n);

    /* One seed per user kind that carries one more number. */
    static const struct {
        const char *name;
        enum proto_payload_kind kind;
    } kinds[] = {
        {"off", PROTO_PAYLOAD_OFF},           {"on", PROTO_PAYLOAD_ON},
        {"friend-add", PROTO_PAYLOAD_FRIEND_ADD}, {"friend-del", PROTO_PAYLOAD_FRIEND_DEL},
        {"block", PROTO_PAYLOAD_BLOCK},       {"gone", PROTO_PAYLOAD_GONE},
        {"erased", PROTO_PAYLOAD_ERASED},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        memset(&p, 0, sizeof p);
        p.kind = kinds[i].kind;
        p.user = 42;
        p.seq = 8 + i;
        if (p.kind == PROTO_PAYLOAD_OFF || p.kind == PROTO_PAYLOAD_ON)
            p.sharing.consent = 4;
        else
            p.friend.other = UINT64_MAX;
        n = proto_payload_encode(b, sizeof b, &p);
        check(n > 0, kinds[i].name);
        seed("proto-payload", kinds[i].name, b, (size_t)n);
    }

    memset(&p, 0, sizeof p);
    p.kind = PROTO_PAYLOAD_HB;
    p.hb.gateway = "gw-127.0.0.1:28081";
    p.hb.gateway_len = strlen(p.hb.gateway);
    p.hb.counter = 123456;
    p.hb.ts = 1700000000000;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload hb");
    seed("proto-payload", "hb", b, (size_t)n);

    /* Strangers on a cell channel: a position, leaving for a cell, gone, the ask. */
    memset(&p, 0, sizeof p);
    p.kind = PROTO_PAYLOAD_STRANGER;
    p.user = 42;
    p.seq = 20;
    p.stranger.sid = 0x0123456789abcdefULL;
    p.stranger.lat = 48.857;
    p.stranger.lng = 2.352;
    p.stranger.ts = 1700000000000;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload stranger");
    seed("proto-payload", "stranger", b, (size_t)n);
    memset(&p, 0, sizeof p);
    p.kind = PROTO_PAYLOAD_STRANGER_GONE;
    p.user = 42;
    p.seq = 21;
    p.stranger_gone.sid = 0x0123456789abcdefULL;
    p.stranger_gone.next = "u09tvw0";
    p.stranger_gone.next_len = 7;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload stranger_gone");
    seed("proto-payload", "stranger-gone-next", b, (size_t)n);
    p.stranger_gone.next = NULL;
    p.stranger_gone.next_len = 0;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload stranger_gone");
    seed("proto-payload", "stranger-gone", b, (size_t)n);
    memset(&p, 0, sizeof p);
    p.kind = PROTO_PAYLOAD_STRANGER_ASK;
    p.user = 42;
    p.seq = 22;
    n = proto_payload_encode(b, sizeof b, &p);
    check(n > 0, "payload stranger_ask");
    seed("proto-payload", "stranger-ask", b, (size_t)n);

    /* A newer gateway's extra element, other number forms, another version. */
    size_t len = build(b, sizeof b, "[9 u:1 u:0 u64:42 u8:7 f:37.5 i:-122 u:1700000000000 u16:3 "
                                    "s:extra");
    seed("proto-payload", "loc-extra-element", b, len);
    len = build(b, sizeof b, "[3 u:2 u:0 u:1");
    seed("proto-payload", "version-2", b, len);
}

/* --- token ------------------------------------------------------------------- */

static void token_seeds(void)
{
    static const uint8_t key[] = "nearby-test-key-0123456789abcdef";
    char b[512];
    int n;

    /* Mode 0: a token as a phone sends it (fuzz-token.c's NOW is before its exp). */
    b[0] = 0;
    n = token_sign(key, sizeof key - 1, 42, 2000000000, b + 1, sizeof b - 1);
    check(n > 0, "token");
    seed("token", "raw-signed", b, (size_t)n + 1);
    n = token_sign(key, sizeof key - 1, INT64_MAX, 1800000000, b + 1, sizeof b - 1);
    check(n > 0, "token");
    seed("token", "raw-expired-max-user", b, (size_t)n + 1);

    /* The same with fuzz-token.c's Ed25519 key. */
    struct token_key ed;
    memset(&ed, 0, sizeof ed);
    ed.alg = TOKEN_ALG_EDDSA;
    ed.can_sign = 1;
    ed.len = TOKEN_ED25519_LEN;
    memcpy(ed.secret, "nearby-fuzz-ed25519-seed-0123456", TOKEN_ED25519_LEN);
    n = token_sign_key(&ed, 42, 2000000000, b + 1, sizeof b - 1);
    check(n > 0, "EdDSA token");
    seed("token", "raw-signed-eddsa", b, (size_t)n + 1);

    /* Mode 1 (3: Ed25519): header JSON, NUL, payload JSON, signed by the target. */
    static const struct {
        const char *name;
        char mode;
        const char *header, *payload;
    } parts[] = {
        {"json-plain", 1, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"42\",\"exp\":2000000000}"},
        {"json-numeric-sub-nbf-iat", 1, "{\"alg\":\"HS256\"}",
         "{\"sub\":42,\"exp\":2000000000,\"nbf\":1800000000,\"iat\":1800000000}"},
        {"json-kid-escapes", 1, "{ \"kid\" : \"k1\" ,\"alg\":\"HS\\u0032\\u00356\" }",
         "{\"sub\":\"\\u0034\\u0032\",\"exp\":2000000000,\"name\":\"\\ud83d\\ude00 \\n\","
         "\"admin\":false,\"x\":null,\"f\":-1.5e3}"},
        {"json-crit", 1, "{\"alg\":\"HS256\",\"crit\":\"exp\"}", "{\"sub\":\"1\",\"exp\":1}"},
        {"json-not-yet-valid", 1, "{\"alg\":\"HS256\"}",
         "{\"sub\":\"9223372036854775807\",\"exp\":9223372036854775807,\"nbf\":1999999999}"},
        {"json-sub-out-of-range", 1, "{\"alg\":\"HS256\"}",
         "{\"sub\":9223372036854775808,\"exp\":2000000000}"},
        {"json-aud-iss", 1, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
         "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\","
         "\"iss\":\"https://auth.nearby.example\"}"},
        {"json-aud-array", 1, "{\"alg\":\"HS256\"}",
         "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":[\"nearby\"]}"},
        {"json-eddsa", 3, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}",
         "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\"}"},
        {"json-eddsa-header-hmac-signed", 1, "{\"alg\":\"EdDSA\"}",
         "{\"sub\":\"42\",\"exp\":2000000000}"},
        {"json-duplicate-sub", 1, "{\"alg\":\"HS256\"}", "{\"sub\":\"1\",\"sub\":\"2\",\"exp\":2000000000}"},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t h = strlen(parts[i].header), p = strlen(parts[i].payload);
        b[0] = parts[i].mode;
        memcpy(b + 1, parts[i].header, h);
        b[1 + h] = '\0';
        memcpy(b + 2 + h, parts[i].payload, p);
        seed("token", parts[i].name, b, 2 + h + p);
    }
}

/* --- ring-text ------------------------------------------------------------- */

static void ring_text_seeds(void)
{
    seed_str("ring-text", "readme",
             "nearby-ring v1 name=main epoch=3 vnodes=4096\n"
             "node id=r1 addr=127.0.0.1:26401 weight=1 state=active\n"
             "node id=r2 addr=127.0.0.1:26402 weight=1 state=active\n");
    seed_str("ring-text", "every-state-and-from",
             "nearby-ring v1 name=main epoch=12 vnodes=16\n"
             "node id=r1 addr=127.0.0.1:7001 weight=1 state=active\n"
             "node id=r2 addr=127.0.0.1:7002 weight=2 state=joining\n"
             "node id=r3 addr=127.0.0.1:7103 weight=1 state=active from=127.0.0.1:7003\n"
             "node id=r4 addr=redis-4.internal:7004 weight=3 state=leaving\n"
             "node id=spare_1 addr=10.0.0.9:6379 weight=1 state=standby\n");
    seed_str("ring-text", "empty-ring", "nearby-ring v1 name=a epoch=0 vnodes=1\n");
    seed_str("ring-text", "limits",
             "nearby-ring v1 name=a epoch=18446744073709551615 vnodes=65536\n"
             "node id=a.b-c_d addr=h:65535 weight=100 state=standby\n");
    seed_str("ring-text", "one-vnode-each",
             "nearby-ring v1 name=t epoch=1 vnodes=1\n"
             "node id=x addr=1.1.1.1:1 weight=1 state=active\n"
             "node id=y addr=1.1.1.1:2 weight=1 state=leaving\n"
             "node id=z addr=1.1.1.1:3 weight=1 state=joining\n");
    seed_str("ring-text", "duplicate-addr",
             "nearby-ring v1 name=main epoch=1 vnodes=4\n"
             "node id=r1 addr=127.0.0.1:7001 weight=1 state=active\n"
             "node id=r2 addr=127.0.0.1:7001 weight=1 state=active\n");
}

/* --- location-cache ---------------------------------------------------------- */

static void location_cache_seeds(void)
{
    char v[LOCATION_CACHE_VALUE_MAX];
    int n;

    n = location_cache_encode(v, sizeof v, 37.7749295, -122.4194155, 1700000000000, 3);
    check(n > 0, "cache value");
    seed("location-cache", "san-francisco", v, (size_t)n);
    n = location_cache_encode(v, sizeof v, -90.0, 180.0, UINT64_MAX, UINT64_MAX);
    check(n > 0, "cache value");
    seed("location-cache", "limits", v, (size_t)n);
    n = location_cache_encode(v, sizeof v, 0.0, -0.00000004, 0, 0);
    check(n > 0, "cache value");
    seed("location-cache", "zero", v, (size_t)n);
    seed_str("location-cache", "negative-zero", "-0.0000000,-0.0000000,1700000000000000,1");

    /* 32 raw bytes: (lat, lng, ts, consent) for the encoder, at the rounding edges. */
    static const double edges[][2] = {
        {89.99999995, -179.99999995}, {-0.00000005, 0.00000005}, {45.12345675, 1e-300},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        uint8_t raw[32];
        uint64_t ts = 1700000000000 + i, consent = i;
        char name[32];
        memcpy(raw, &edges[i][0], 8);
        memcpy(raw + 8, &edges[i][1], 8);
        memcpy(raw + 16, &ts, 8);
        memcpy(raw + 24, &consent, 8);
        snprintf(name, sizeof name, "encode-edges-%zu", i);
        seed("location-cache", name, raw, sizeof raw);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-seeds CORPUS_DIR   (from the source root: test/fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    ws_frame_seeds();
    ws_handshake_seeds();
    proxy_v2_seeds();
    proto_msg_seeds();
    proto_payload_seeds();
    token_seeds();
    ring_text_seeds();
    location_cache_seeds();
    return 0;
}
