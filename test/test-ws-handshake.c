/* test-ws-handshake.c: unit tests of the HTTP head parser and the RFC 6455 opening handshake. */
#include "ws_handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0
#include "test-util.h"

/* Returns true when span s holds exactly the string lit. */
static bool span_eq(struct ws_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Parses s[0..len) placed against the guard page. On success the spans of
 * req are rebased onto s, so they can be compared after the guard is gone. */
static int parse_n(const char *s, size_t len, struct ws_request *req)
{
    struct guarded g;
    const char *data = guard_place(&g, s, len);
    struct ws_request r;
    int n = ws_handshake_parse(data, len, &r);
    if (n > 0) {
        struct ws_span *spans[] = {&r.method, &r.target, &r.path, &r.query, &r.host,
                                   &r.origin, &r.authorization, &r.key, &r.protocol};
        for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
            if (spans[i]->ptr)
                spans[i]->ptr = s + (spans[i]->ptr - data);
        }
        *req = r;
    }
    guard_release(&g);
    return n;
}

static int parse(const char *s, struct ws_request *req)
{
    return parse_n(s, strlen(s), req);
}

/* --- accept key ----------------------------------------------------------- */

static void test_accept_key(void)
{
    char out[WS_HS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK_EQ(ws_accept_key(key, strlen(key), out), 0);
    CHECK(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    /* Another pinned pair (computed with sha1sum | base64). */
    const char *key2 = "x3JJHMbDL1EzLkh9GBhXDw==";
    CHECK_EQ(ws_accept_key(key2, strlen(key2), out), 0);
    CHECK(strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0);
    char big[65];
    memset(big, 'A', sizeof big);
    CHECK_EQ(ws_accept_key(big, 65, out), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_accept_key(big, 64, out), 0);

    /* The RFC nonce "the sample nonce" encodes to the RFC key. */
    char k[WS_HS_KEY_LEN + 1];
    ws_handshake_client_key((const uint8_t *)"the sample nonce", k);
    CHECK(strcmp(k, key) == 0);

    char resp[WS_HS_RESPONSE_MAX];
    int n = ws_handshake_response(key, strlen(key), resp, sizeof resp);
    CHECK(n > 0 && (size_t)n == strlen(resp));
    CHECK(strcmp(resp, "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n") == 0);
    CHECK_EQ(ws_handshake_response(key, strlen(key), resp, (size_t)n), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_response(key, strlen(key), resp, (size_t)n + 1), n);
}

/* --- upgrade requests ----------------------------------------------------- */

#define RFC_REQUEST                              \
    "GET /chat HTTP/1.1\r\n"                     \
    "Host: server.example.com\r\n"               \
    "Upgrade: websocket\r\n"                     \
    "Connection: Upgrade\r\n"                    \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
    "Origin: http://example.com\r\n"             \
    "Sec-WebSocket-Protocol: chat, superchat\r\n" \
    "Sec-WebSocket-Version: 13\r\n"              \
    "\r\n"

static void test_valid_upgrade(void)
{
    struct ws_request r;
    const char *req = RFC_REQUEST;
    CHECK_EQ(parse(req, &r), strlen(req));
    CHECK(r.upgrade);
    CHECK(r.keep_alive);
    CHECK(span_eq(r.method, "GET"));
    CHECK(span_eq(r.target, "/chat"));
    CHECK(span_eq(r.path, "/chat"));
    CHECK(r.query.ptr == NULL && r.query.len == 0);
    CHECK_EQ(r.http_minor, 1);
    CHECK(span_eq(r.host, "server.example.com"));
    CHECK(span_eq(r.origin, "http://example.com"));
    CHECK(span_eq(r.key, "dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(span_eq(r.protocol, "chat, superchat"));
    CHECK(r.authorization.ptr == NULL);
    CHECK(!r.has_content_length);

    /* Frames right behind the head are not part of it. */
    char with_frame[512];
    snprintf(with_frame, sizeof with_frame, "%s\x82\x80\x01\x02\x03\x04", req);
    CHECK_EQ(parse(with_frame, &r), strlen(req));

    /* Odd case in names and tokens, lists, extra spaces, query, auth. */
    const char *odd =
        "GET /ws?v=1&x HTTP/1.1\r\n"
        "hOsT:gw.local:8080\r\n"
        "UPGRADE:   WebSocket  \r\n"
        "connection: keep-alive, \t UPGRADE\r\n"
        "SEC-WEBSOCKET-KEY:\tAAAAAAAAAAAAAAAAAAAAAA==\r\n"
        "sec-websocket-version: 13\r\n"
        "authorization: Bearer abc.def.ghi\r\n"
        "X-Other: \xc3\xa9t\xc3\xa9\r\n"
        "\r\n";
    CHECK_EQ(parse(odd, &r), strlen(odd));
    CHECK(r.upgrade);
    CHECK(span_eq(r.path, "/ws"));
    CHECK(span_eq(r.query, "v=1&x"));
    CHECK(span_eq(r.host, "gw.local:8080"));
    CHECK(span_eq(r.key, "AAAAAAAAAAAAAAAAAAAAAA=="));
    CHECK(span_eq(r.authorization, "Bearer abc.def.ghi"));
    CHECK(r.origin.ptr == NULL);

    /* Upgrade and Connection may come as several headers. */
    const char *split =
        "GET / HTTP/1.1\r\nHost: h\r\n"
        "Upgrade: h2c\r\nUpgrade: websocket\r\n"
        "Connection: keep-alive\r\nConnection: upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    CHECK_EQ(parse(split, &r), strlen(split));
    CHECK(r.upgrade);

    /* Empty lines before the request line are skipped. */
    const char *lead = "\r\n\r\n" RFC_REQUEST;
    CHECK_EQ(parse(lead, &r), strlen(lead));
    CHECK(r.upgrade);
}

struct bad_case {
    const char *request;
    int err;
};

#define H_HOST "Host: h\r\n"
#define H_UPG "Upgrade: websocket\r\n"
#define H_CONN "Connection: Upgrade\r\n"
#define H_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define H_VER "Sec-WebSocket-Version: 13\r\n"
#define GET "GET /ws HTTP/1.1\r\n"

static const struct bad_case bad_upgrades[] = {
    /* each required header missing */
    {GET H_UPG H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_HOST},
    {GET H_HOST H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_UPGRADE},
    {GET H_HOST H_UPG H_KEY H_VER "\r\n", WS_HS_ERR_CONNECTION},
    {GET H_HOST H_UPG H_CONN H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN H_KEY "\r\n", WS_HS_ERR_VERSION},
    /* each one wrong */
    {GET H_HOST "Upgrade: websockets\r\n" H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_UPGRADE},
    {GET H_HOST H_UPG "Connection: keep-alive\r\n" H_KEY H_VER "\r\n", WS_HS_ERR_CONNECTION},
    {GET H_HOST H_UPG "Connection: upgrade-ish\r\n" H_KEY H_VER "\r\n", WS_HS_ERR_CONNECTION},
    {GET H_HOST H_UPG H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n", WS_HS_ERR_VERSION},
    {GET H_HOST H_UPG H_CONN H_KEY "Sec-WebSocket-Version: 13, 8\r\n\r\n", WS_HS_ERR_VERSION},
    {GET H_HOST H_UPG H_CONN H_KEY "Sec-WebSocket-Version: 013\r\n\r\n", WS_HS_ERR_VERSION},
    {GET H_HOST H_UPG H_CONN H_KEY "Sec-WebSocket-Version:\r\n\r\n", WS_HS_ERR_VERSION},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key: c2hvcnQ=\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    {GET H_HOST H_UPG H_CONN "Sec-WebSocket-Key:\r\n" H_VER "\r\n", WS_HS_ERR_KEY},
    /* the request line and body */
    {"POST /ws HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_REQUEST_LINE},
    {"get /ws HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_REQUEST_LINE},
    {"GET /ws HTTP/1.0\r\n" H_HOST H_UPG H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_REQUEST_LINE},
    {GET H_HOST H_UPG H_CONN H_KEY H_VER "Content-Length: 3\r\n\r\n", WS_HS_ERR_REQUEST_LINE},
    /* repeated single-valued headers */
    {GET H_HOST H_HOST H_UPG H_CONN H_KEY H_VER "\r\n", WS_HS_ERR_HOST},
    {GET H_HOST H_UPG H_CONN H_KEY H_KEY H_VER "\r\n", WS_HS_ERR_DUPLICATE},
    {GET H_HOST H_UPG H_CONN H_KEY H_VER H_VER "\r\n", WS_HS_ERR_DUPLICATE},
    {GET H_HOST H_UPG H_CONN H_KEY H_VER "Origin: a\r\nOrigin: b\r\n\r\n", WS_HS_ERR_DUPLICATE},
    {GET H_HOST H_UPG H_CONN H_KEY H_VER "Authorization: a\r\nauthorization: b\r\n\r\n",
     WS_HS_ERR_DUPLICATE},
    /* a key or version alone makes it an attempt */
    {GET H_HOST H_KEY H_VER "\r\n", WS_HS_ERR_UPGRADE},
    {GET H_HOST H_VER "\r\n", WS_HS_ERR_UPGRADE},
    {GET H_HOST H_UPG H_CONN H_KEY H_VER "Transfer-Encoding: chunked\r\n\r\n",
     WS_HS_ERR_TRANSFER_ENCODING},
};

static void test_bad_upgrades(void)
{
    for (size_t i = 0; i < sizeof bad_upgrades / sizeof bad_upgrades[0]; i++) {
        struct ws_request r;
        memset(&r, 0x5A, sizeof r);
        struct ws_request before = r;
        int n = parse(bad_upgrades[i].request, &r);
        if (n != bad_upgrades[i].err)
            fprintf(stderr, "bad upgrade case %zu\n", i);
        CHECK_EQ(n, bad_upgrades[i].err);
        CHECK(memcmp(&r, &before, sizeof r) == 0); /* untouched on failure */
    }
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_VERSION), 426);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_KEY), 400);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_UPGRADE), 400);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_CONNECTION), 400);
}

/* --- syntax --------------------------------------------------------------- */

static const struct bad_case bad_syntax[] = {
    {"GET /ws HTTP/1.1\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},          /* bare LF */
    {"GET /ws HTTP/1.1\r\nHost: h\n\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws HTTP/1.1\rX", WS_HS_ERR_BAD_REQUEST},                        /* bare CR */
    {"GET /ws HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n", WS_HS_ERR_BAD_REQUEST}, /* control byte */
    {"GET /ws HTTP/1.1\r\nHost: a\x7f\r\n\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /w\x01s HTTP/1.1\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws HTTP/1.1\r\nHost : h\r\n\r\n", WS_HS_ERR_BAD_REQUEST},      /* space before colon */
    {"GET /ws HTTP/1.1\r\n: h\r\n\r\n", WS_HS_ERR_BAD_REQUEST},           /* empty name */
    {"GET /ws HTTP/1.1\r\nHost h\r\n\r\n", WS_HS_ERR_BAD_REQUEST},        /* no colon */
    {"GET /ws HTTP/1.1\r\nX-A: 1\r\n  folded\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws HTTP/1.1\r\nX(A): 1\r\n\r\n", WS_HS_ERR_BAD_REQUEST},       /* not a token */
    {"GET  /ws HTTP/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},       /* two spaces */
    {"GET /ws  HTTP/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {" GET /ws HTTP/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"G@T /ws HTTP/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws HTTP/1.1 \r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws http/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /ws HTTP/1.10\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},
    {"GET /\xc3\xa9 HTTP/1.1\r\n" H_HOST "\r\n", WS_HS_ERR_BAD_REQUEST},  /* non-ASCII target */
    {"GET /ws HTTP/2.0\r\n" H_HOST "\r\n", WS_HS_ERR_HTTP_VERSION},
    {"GET /ws HTTP/1.2\r\n" H_HOST "\r\n", WS_HS_ERR_HTTP_VERSION},
    {"GET /ws HTTP/0.9\r\n" H_HOST "\r\n", WS_HS_ERR_HTTP_VERSION},
    /* errors show before the head is complete */
    {"\x16\x03\x01\x02\x00", WS_HS_ERR_BAD_REQUEST},                       /* a TLS hello */
    {"GET /ws HTTP/1.1\r\nHost : h\r\n", WS_HS_ERR_BAD_REQUEST},
};

static void test_syntax(void)
{
    for (size_t i = 0; i < sizeof bad_syntax / sizeof bad_syntax[0]; i++) {
        struct ws_request r;
        int n = parse(bad_syntax[i].request, &r);
        if (n != bad_syntax[i].err)
            fprintf(stderr, "bad syntax case %zu\n", i);
        CHECK_EQ(n, bad_syntax[i].err);
    }
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_BAD_REQUEST), 400);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_HTTP_VERSION), 505);
}

/* --- plain requests ------------------------------------------------------- */

static void test_plain(void)
{
    struct ws_request r;
    const char *health = "GET /healthz HTTP/1.1\r\nHost: gw1\r\nUser-Agent: curl/7.88\r\n"
                         "Accept: */*\r\n\r\n";
    CHECK_EQ(parse(health, &r), strlen(health));
    CHECK(!r.upgrade);
    CHECK(r.keep_alive);
    CHECK(span_eq(r.path, "/healthz"));
    CHECK(!r.has_content_length && r.content_length == 0);
    CHECK(r.key.ptr == NULL);

    const char *close = "GET /metrics HTTP/1.1\r\nHost: gw1\r\nConnection: close\r\n\r\n";
    CHECK_EQ(parse(close, &r), strlen(close));
    CHECK(!r.keep_alive);

    /* HTTP/1.0: no Host needed, closes unless asked to keep alive. */
    const char *old = "OPTIONS / HTTP/1.0\r\n\r\n";
    CHECK_EQ(parse(old, &r), strlen(old));
    CHECK(!r.upgrade && !r.keep_alive);
    CHECK_EQ(r.http_minor, 0);
    CHECK(span_eq(r.method, "OPTIONS"));
    const char *old_ka = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    CHECK_EQ(parse(old_ka, &r), strlen(old_ka));
    CHECK(r.keep_alive);
    CHECK(r.host.ptr == NULL);

    /* A body announced by Content-Length. */
    const char *post = "POST /v1/users/42/radius HTTP/1.1\r\nHost: gw1\r\n"
                       "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n"
                       "{\"km\": 2.5}";
    int n = parse(post, &r);
    CHECK_EQ(n, strlen(post) - 11);
    CHECK(span_eq(r.method, "POST"));
    CHECK(span_eq(r.path, "/v1/users/42/radius"));
    CHECK(r.has_content_length);
    CHECK_EQ(r.content_length, 11);

    char buf[256];
    snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %u\r\n\r\n",
             WS_HS_BODY_MAX);
    CHECK(parse(buf, &r) > 0);
    CHECK_EQ(r.content_length, WS_HS_BODY_MAX);
    snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %u\r\n\r\n",
             WS_HS_BODY_MAX + 1);
    CHECK_EQ(parse(buf, &r), WS_HS_ERR_BODY_TOO_BIG);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", &r),
             WS_HS_ERR_BODY_TOO_BIG);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0000000000000000000000007\r\n\r\n", &r),
             (long long)strlen("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0000000000000000000000007\r\n\r\n"));
    CHECK_EQ(r.content_length, 7);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", &r), WS_HS_ERR_LENGTH);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", &r), WS_HS_ERR_LENGTH);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", &r), WS_HS_ERR_LENGTH);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n", &r), WS_HS_ERR_LENGTH);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r),
             WS_HS_ERR_LENGTH);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
             WS_HS_ERR_TRANSFER_ENCODING);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ntransfer-encoding: gzip\r\n\r\n", &r),
             WS_HS_ERR_TRANSFER_ENCODING);
    CHECK_EQ(parse("GET / HTTP/1.1\r\n\r\n", &r), WS_HS_ERR_HOST);
    CHECK_EQ(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", &r), WS_HS_ERR_HOST);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_TRANSFER_ENCODING), 411);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_BODY_TOO_BIG), 413);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_LENGTH), 400);

    /* Upgrade to something else is a plain request. */
    const char *h2c = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
    CHECK_EQ(parse(h2c, &r), strlen(h2c));
    CHECK(!r.upgrade);
    /* Absolute-form and '*' targets are passed through for the caller to route. */
    const char *abs = "GET http://h/x?y HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ(parse(abs, &r), strlen(abs));
    CHECK(span_eq(r.path, "http://h/x"));
    CHECK(span_eq(r.query, "y"));
    const char *star = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ(parse(star, &r), strlen(star));
    CHECK(span_eq(r.path, "*"));
    /* An empty query is present but empty. */
    const char *q = "GET /x? HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ(parse(q, &r), strlen(q));
    CHECK(r.query.ptr != NULL && r.query.len == 0);
}

/* --- size limit and incremental arrival ----------------------------------- */

/* Builds a request whose head is exactly total bytes, padded by one header. */
static size_t sized_request(char *buf, size_t total)
{
    const char *start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    size_t n = strlen(start);
    memcpy(buf, start, n);
    size_t pad = total - n - 4;
    memset(buf + n, 'p', pad);
    memcpy(buf + n + pad, "\r\n\r\n", 4);
    return total;
}

static void test_limit(void)
{
    static char buf[WS_HS_HEAD_MAX + 64];
    struct ws_request r;

    size_t n = sized_request(buf, WS_HS_HEAD_MAX);
    CHECK_EQ(parse_n(buf, n, &r), WS_HS_HEAD_MAX);
    CHECK_EQ(parse_n(buf, n - 1, &r), WS_HS_NEED_MORE);

    n = sized_request(buf, WS_HS_HEAD_MAX + 1);
    CHECK_EQ(parse_n(buf, n, &r), WS_HS_ERR_TOO_LARGE);
    CHECK_EQ(parse_n(buf, WS_HS_HEAD_MAX, &r), WS_HS_ERR_TOO_LARGE);
    CHECK_EQ(parse_n(buf, WS_HS_HEAD_MAX - 1, &r), WS_HS_NEED_MORE);
    CHECK_EQ(ws_handshake_status(WS_HS_ERR_TOO_LARGE), 431);

    /* Many small headers, and empty lines in front, count too. */
    size_t pos = 0;
    memcpy(buf, "GET / HTTP/1.1\r\nHost: h\r\n", 25);
    pos = 25;
    while (pos + 6 <= sizeof buf) {
        memcpy(buf + pos, "A: b\r\n", 6);
        pos += 6;
    }
    CHECK_EQ(parse_n(buf, pos, &r), WS_HS_ERR_TOO_LARGE);
    memset(buf, 0, sizeof buf);
    for (pos = 0; pos + 2 <= sizeof buf; pos += 2)
        memcpy(buf + pos, "\r\n", 2);
    CHECK_EQ(parse_n(buf, pos, &r), WS_HS_ERR_TOO_LARGE);
}

static void test_incremental(void)
{
    const char *reqs[] = {
        RFC_REQUEST,
        "GET /healthz HTTP/1.1\r\nHost: gw1\r\n\r\n",
        "\r\nPOST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof reqs / sizeof reqs[0]; k++) {
        size_t len = strlen(reqs[k]);
        struct ws_request whole;
        CHECK_EQ(parse(reqs[k], &whole), len);
        for (size_t cut = 0; cut < len; cut++) {
            struct ws_request r;
            CHECK_EQ(parse_n(reqs[k], cut, &r), WS_HS_NEED_MORE);
        }
        struct ws_request again;
        CHECK_EQ(parse_n(reqs[k], len, &again), len);
        CHECK(memcmp(&again, &whole, sizeof whole) == 0);
    }
}

/* --- responses ------------------------------------------------------------ */

static void test_error_responses(void)
{
    char out[WS_HS_ERROR_RESPONSE_MAX];
    int n = ws_handshake_error_response(WS_HS_ERR_VERSION, out, sizeof out);
    CHECK(n > 0 && (size_t)n == strlen(out));
    CHECK(strcmp(out, "HTTP/1.1 426 Upgrade Required\r\n"
                      "Upgrade: websocket\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      "Connection: close\r\n"
                      "Content-Length: 0\r\n\r\n") == 0);
    n = ws_handshake_error_response(WS_HS_ERR_TRANSFER_ENCODING, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 411 Length Required\r\n", 30) == 0);
    CHECK(strstr(out, "Sec-WebSocket-Version") == NULL);
    CHECK_EQ(ws_handshake_error_response(WS_HS_ERR_KEY, out, 10), WS_HS_ERR_INVALID);

    static const int errs[] = {
        WS_HS_ERR_BAD_REQUEST, WS_HS_ERR_TOO_LARGE, WS_HS_ERR_HTTP_VERSION,
        WS_HS_ERR_HOST, WS_HS_ERR_LENGTH, WS_HS_ERR_BODY_TOO_BIG,
        WS_HS_ERR_TRANSFER_ENCODING, WS_HS_ERR_DUPLICATE, WS_HS_ERR_REQUEST_LINE,
        WS_HS_ERR_UPGRADE, WS_HS_ERR_CONNECTION, WS_HS_ERR_VERSION, WS_HS_ERR_KEY,
        WS_HS_ERR_STATUS, WS_HS_ERR_ACCEPT, WS_HS_ERR_EXTENSION, WS_HS_ERR_INVALID,
        WS_HS_ERR_INTERNAL,
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        n = ws_handshake_error_response(errs[i], out, sizeof out);
        CHECK(n > 0);
        CHECK(strcmp(ws_handshake_strerror(errs[i]), "unknown error") != 0);
        /* Our own response parser reads it as a non-101 status. */
        CHECK_EQ(ws_handshake_parse_response(out, (size_t)n, "k", 1), WS_HS_ERR_STATUS);
    }
}

/* --- client side ---------------------------------------------------------- */

static void test_client(void)
{
    char key[WS_HS_KEY_LEN + 1];
    ws_handshake_client_key((const uint8_t *)"0123456789abcdef", key);
    char req[512];
    int n = ws_handshake_request(req, sizeof req, "127.0.0.1:9000", "/ws", key,
                                 "Authorization: Bearer t\r\n");
    CHECK(n > 0 && (size_t)n == strlen(req));

    /* Our server side accepts what our client side sends. */
    struct ws_request r;
    CHECK_EQ(parse(req, &r), n);
    CHECK(r.upgrade);
    CHECK(span_eq(r.host, "127.0.0.1:9000"));
    CHECK(span_eq(r.authorization, "Bearer t"));
    CHECK(span_eq(r.key, key));

    CHECK_EQ(ws_handshake_request(req, sizeof req, "h ost", "/ws", key, NULL), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_request(req, sizeof req, "h", "/w\r\ns", key, NULL), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_request(req, sizeof req, "h", "", key, NULL), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_request(req, sizeof req, "h", "/", "short", NULL), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_request(req, sizeof req, "h", "/", key, "X: 1"), WS_HS_ERR_INVALID);
    CHECK_EQ(ws_handshake_request(req, 20, "h", "/", key, NULL), WS_HS_ERR_INVALID);

    /* The server's answer checks out; every prefix needs more. */
    char resp[WS_HS_RESPONSE_MAX + 8];
    n = ws_handshake_response(r.key.ptr, r.key.len, resp, WS_HS_RESPONSE_MAX);
    CHECK(n > 0);
    for (int cut = 0; cut < n; cut++) {
        struct guarded g;
        const char *data = guard_place(&g, resp, (size_t)cut);
        CHECK_EQ(ws_handshake_parse_response(data, (size_t)cut, key, strlen(key)),
                 WS_HS_NEED_MORE);
        guard_release(&g);
    }
    struct guarded g;
    const char *data = guard_place(&g, resp, (size_t)n);
    CHECK_EQ(ws_handshake_parse_response(data, (size_t)n, key, strlen(key)), n);
    guard_release(&g);
    /* With a frame behind it. */
    memcpy(resp + n, "\x82\x00", 2);
    CHECK_EQ(ws_handshake_parse_response(resp, (size_t)n + 2, key, strlen(key)), n);

    const char *other = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK_EQ(ws_handshake_parse_response(resp, (size_t)n, other, strlen(other)), WS_HS_ERR_ACCEPT);

    char accept[WS_HS_ACCEPT_LEN + 1];
    ws_accept_key(key, strlen(key), accept);
    char buf[512];
    snprintf(buf, sizeof buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), WS_HS_ERR_CONNECTION);
    snprintf(buf, sizeof buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), WS_HS_ERR_UPGRADE);
    snprintf(buf, sizeof buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), WS_HS_ERR_EXTENSION);
    snprintf(buf, sizeof buf, "HTTP/1.1 101\r\nupgrade: WebSocket\r\nconnection: Upgrade\r\n"
             "sec-websocket-accept: %s\r\nsec-websocket-accept: %s\r\n\r\n", accept, accept);
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), WS_HS_ERR_DUPLICATE);
    snprintf(buf, sizeof buf, "HTTP/1.1 101\r\nupgrade: WebSocket\r\nconnection: Upgrade\r\n"
             "sec-websocket-accept: %s\r\n\r\n", accept);
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), (long long)strlen(buf));
    snprintf(buf, sizeof buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: upgrade\r\n\r\n");
    CHECK_EQ(ws_handshake_parse_response(buf, strlen(buf), key, strlen(key)), WS_HS_ERR_ACCEPT);
    /* A refusal is known from its status line alone. */
    CHECK_EQ(ws_handshake_parse_response("HTTP/1.1 403 Forbidden\r\n", 24, key, strlen(key)),
             WS_HS_ERR_STATUS);
    CHECK_EQ(ws_handshake_parse_response("HTTP/1.1 1O1 X\r\n", 16, key, strlen(key)),
             WS_HS_ERR_BAD_REQUEST);
    CHECK_EQ(ws_handshake_parse_response("ICY 200 OK\r\n", 12, key, strlen(key)),
             WS_HS_ERR_BAD_REQUEST);
}

/* --- random input --------------------------------------------------------- */

static uint64_t rng_state = 0x243F6A8885A308D3u;

static uint64_t rng(void)
{
    return xorshift64(&rng_state);
}

static void test_random(void)
{
    static const char alphabet[] = "GET /HTP1.\r\n:, \tabcdefghijklmnopqrstuvwxyz0123456789=?"
                                   "UpgradeConnectionwebsocketSec-WebSocket-KeyVersionHost";
    static char input[WS_HS_HEAD_MAX + 100];
    static const char *seeds[] = {
        RFC_REQUEST,
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n",
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
    };
    for (int round = 0; round < 30000; round++) {
        size_t len;
        if (round % 3 == 0) {
            /* Pure noise. */
            len = rng() % 300;
            for (size_t i = 0; i < len; i++)
                input[i] = (char)rng();
        } else if (round % 3 == 1) {
            /* Noise from HTTP-ish characters. */
            len = rng() % (round % 100 == 1 ? sizeof input : 400);
            for (size_t i = 0; i < len; i++)
                input[i] = alphabet[rng() % (sizeof alphabet - 1)];
        } else {
            /* A valid head with a few bytes changed and a random cut. */
            const char *s = seeds[rng() % 3];
            len = strlen(s);
            memcpy(input, s, len);
            for (int k = (int)(rng() % 4); k > 0; k--)
                input[rng() % len] = (char)rng();
            len = rng() % (len + 1);
        }
        struct guarded g;
        const char *data = guard_place(&g, input, len);
        struct ws_request r;
        int n = ws_handshake_parse(data, len, &r);
        CHECK(n == WS_HS_NEED_MORE || (n < 0 && n >= WS_HS_ERR_EXTENSION) ||
              (n > 0 && (size_t)n <= len && n <= WS_HS_HEAD_MAX));
        if (n > 0) {
            CHECK(r.method.ptr >= data && r.method.ptr + r.method.len <= data + n);
            CHECK(!r.host.ptr || (r.host.ptr >= data && r.host.ptr + r.host.len <= data + n));
        }
        n = ws_handshake_parse_response(data, len, "dGhlIHNhbXBsZSBub25jZQ==", 24);
        CHECK(n == WS_HS_NEED_MORE || n < 0 || (size_t)n <= len);
        guard_release(&g);
    }
}

int main(void)
{
    test_accept_key();
    test_valid_upgrade();
    test_bad_upgrades();
    test_syntax();
    test_plain();
    test_limit();
    test_incremental();
    test_error_responses();
    test_client();
    test_random();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test-ws-handshake: ok\n");
    return 0;
}
