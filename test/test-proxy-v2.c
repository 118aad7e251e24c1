/* test-proxy-v2.c: unit tests of the PROXY protocol v2 reader: pinned headers as haproxy sends them, every prefix, every way to be wrong, and random input against a guard page. */
#include "proxy_v2.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0
#include "test-util.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* Parses p[0..n) placed against the guard page. */
static int parse(const void *p, size_t n, struct proxy_v2_header *h)
{
    struct guarded g;
    const uint8_t *data = guard_place(&g, p, n);
    int r = proxy_v2_parse(data, n, h);

    guard_release(&g);
    return r;
}

static struct proxy_v2_addr v4(const char *text, uint16_t port)
{
    struct proxy_v2_addr a = {.port = port, .v4 = true};

    a.ip[10] = a.ip[11] = 0xff;
    inet_pton(AF_INET, text, a.ip + 12);
    return a;
}

static struct proxy_v2_addr v6(const char *text, uint16_t port)
{
    struct proxy_v2_addr a = {.port = port};

    inet_pton(AF_INET6, text, a.ip);
    return a;
}

static bool addr_eq(const struct proxy_v2_addr *a, const struct proxy_v2_addr *b)
{
    return memcmp(a->ip, b->ip, 16) == 0 && a->port == b->port && a->v4 == b->v4;
}

/* 192.168.0.1:56324 -> 192.168.0.11:443, as haproxy's send-proxy-v2 writes it
 * (the example of doc/proxy-protocol.txt, addresses filled in by hand). */
static const uint8_t pinned_v4[] = {
    '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
    0x21, 0x11, 0x00, 0x0c,
    192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb,
};

/* [2001:db8::1]:40000 -> [2001:db8::2]:8080. */
static const uint8_t pinned_v6[] = {
    '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
    0x21, 0x21, 0x00, 0x24,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    0x9c, 0x40, 0x1f, 0x90,
};

/* haproxy's health checks: LOCAL, family UNSPEC, nothing after. */
static const uint8_t pinned_local[] = {
    '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
    0x20, 0x00, 0x00, 0x00,
};

static void test_pinned(void)
{
    struct proxy_v2_header h;
    struct proxy_v2_addr c = v4("192.168.0.1", 56324), s = v4("192.168.0.11", 443);

    CHECK_EQ(parse(pinned_v4, sizeof pinned_v4, &h), 28);
    CHECK(h.command == PROXY_V2_PROXY && h.has_client);
    CHECK(addr_eq(&h.client, &c));
    CHECK(addr_eq(&h.server, &s));
    CHECK_EQ(h.tlv_len, 0);

    c = v6("2001:db8::1", 40000);
    s = v6("2001:db8::2", 8080);
    CHECK_EQ(parse(pinned_v6, sizeof pinned_v6, &h), 52);
    CHECK(h.has_client && !h.client.v4);
    CHECK(addr_eq(&h.client, &c));
    CHECK(addr_eq(&h.server, &s));

    CHECK_EQ(parse(pinned_local, sizeof pinned_local, &h), 16);
    CHECK(h.command == PROXY_V2_LOCAL && !h.has_client);
}

/* What follows the header is the client's and is left alone. */
static void test_followed_by_request(void)
{
    uint8_t buf[128];
    const char *req = "GET /ws HTTP/1.1\r\n";
    struct proxy_v2_header h;

    memcpy(buf, pinned_v4, sizeof pinned_v4);
    memcpy(buf + sizeof pinned_v4, req, strlen(req));
    CHECK_EQ(parse(buf, sizeof pinned_v4 + strlen(req), &h), (int)sizeof pinned_v4);
}

/* Every proper prefix of a valid header needs more; none fills hdr. */
static void test_prefixes(void)
{
    const uint8_t *all[] = {pinned_v4, pinned_v6, pinned_local};
    size_t lens[] = {sizeof pinned_v4, sizeof pinned_v6, sizeof pinned_local};

    for (size_t k = 0; k < 3; k++) {
        for (size_t n = 0; n < lens[k]; n++) {
            struct proxy_v2_header h = {.tlv_len = 77};

            CHECK_EQ(parse(all[k], n, &h), PROXY_V2_NEED_MORE);
            CHECK_EQ(h.tlv_len, 77);
        }
    }
}

/* Bytes that cannot start the signature fail as soon as one is in. */
static void test_not_the_protocol(void)
{
    struct proxy_v2_header h;
    const char *v1 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    const char *http = "GET / HTTP/1.1\r\n";

    CHECK_EQ(parse(v1, strlen(v1), &h), PROXY_V2_ERR_SIGNATURE);
    CHECK_EQ(parse(v1, 1, &h), PROXY_V2_ERR_SIGNATURE);
    CHECK_EQ(parse(http, strlen(http), &h), PROXY_V2_ERR_SIGNATURE);
    /* A blank line is a valid prefix (HTTP would skip it), then not. */
    CHECK_EQ(parse("\r\n\r\n", 4, &h), PROXY_V2_NEED_MORE);
    CHECK_EQ(parse("\r\n\r\nGET", 7, &h), PROXY_V2_ERR_SIGNATURE);
    for (size_t i = 0; i < PROXY_V2_SIGNATURE_LEN; i++) {
        uint8_t buf[sizeof pinned_v4];

        memcpy(buf, pinned_v4, sizeof buf);
        buf[i] ^= 0x20;
        CHECK_EQ(parse(buf, i + 1, &h), PROXY_V2_ERR_SIGNATURE);
        CHECK_EQ(parse(buf, sizeof buf, &h), PROXY_V2_ERR_SIGNATURE);
    }
}

/* Builds sig + ver_cmd + fam + len + body. */
static size_t build(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t n)
{
    memcpy(out, SIG, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    if (n > 0)
        memcpy(out + 16, body, n);
    return 16 + n;
}

static void test_errors(void)
{
    uint8_t buf[2048], body[1200];
    struct proxy_v2_header h;
    size_t n;

    memset(body, 0, sizeof body);
    /* Version 1 in binary form, version 3; the error comes with byte 13. */
    n = build(buf, 0x11, 0x11, body, 12);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_VERSION);
    CHECK_EQ(parse(buf, 13, &h), PROXY_V2_ERR_VERSION);
    n = build(buf, 0x31, 0x11, body, 12);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_VERSION);
    /* Commands 2..15. */
    for (unsigned cmd = 2; cmd < 16; cmd++) {
        n = build(buf, (uint8_t)(0x20 | cmd), 0x11, body, 12);
        CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_COMMAND);
    }
    /* Families 4..15 and transports 3..15, with byte 14. */
    n = build(buf, 0x21, 0x41, body, 12);
    CHECK_EQ(parse(buf, 14, &h), PROXY_V2_ERR_FAMILY);
    n = build(buf, 0x21, 0x13, body, 12);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_FAMILY);
    /* PROXY over UNIX or UDP: not a TCP client. */
    n = build(buf, 0x21, 0x31, body, 216);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_FAMILY);
    n = build(buf, 0x21, 0x12, body, 12);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_FAMILY);
    n = build(buf, 0x21, 0x10, body, 12);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_FAMILY);
    /* Too short for the addresses: known as soon as the length is in. */
    n = build(buf, 0x21, 0x11, body, 11);
    CHECK_EQ(parse(buf, 16, &h), PROXY_V2_ERR_LENGTH);
    n = build(buf, 0x21, 0x21, body, 35);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_LENGTH);
    n = build(buf, 0x20, 0x31, body, 215);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_LENGTH);
    /* Too long, whatever is there. */
    buf[14] = 0xff;
    buf[15] = 0xff;
    CHECK_EQ(parse(buf, 16, &h), PROXY_V2_ERR_LENGTH);
    n = build(buf, 0x21, 0x21, body, PROXY_V2_HEADER_MAX - 16 + 1);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_LENGTH);
    /* TLVs: 1 or 2 stray bytes, a value past the end. */
    n = build(buf, 0x21, 0x11, body, 13);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_TLV);
    n = build(buf, 0x21, 0x11, body, 14);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_TLV);
    body[12] = 0x04; /* NOOP */
    body[13] = 0;
    body[14] = 5;
    n = build(buf, 0x21, 0x11, body, 12 + 3 + 4);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_ERR_TLV);
}

static void test_tlvs_and_local(void)
{
    uint8_t buf[2048], body[1100];
    struct proxy_v2_header h;
    size_t n;

    memset(body, 0, sizeof body);
    memcpy(body, pinned_v4 + 16, 12);
    /* ALPN "h2", then NOOP padding of 0 and of 4 bytes. */
    memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x00\x04\x00\x04" "abcd", 15);
    n = build(buf, 0x21, 0x11, body, 27);
    CHECK_EQ(parse(buf, n, &h), (int)n);
    CHECK(h.has_client && h.tlv_len == 15 && h.client.port == 56324);
    /* The largest header accepted: INET6 and 1024 bytes of one NOOP. */
    memcpy(body, pinned_v6 + 16, 36);
    body[36] = 0x04;
    body[37] = (uint8_t)((1024 - 3) >> 8);
    body[38] = (uint8_t)(1024 - 3);
    n = build(buf, 0x21, 0x21, body, 36 + 1024);
    CHECK_EQ(n, PROXY_V2_HEADER_MAX);
    CHECK_EQ(parse(buf, n, &h), PROXY_V2_HEADER_MAX);
    /* LOCAL with addresses (ignored), with UNIX addresses, with TLVs. */
    n = build(buf, 0x20, 0x11, pinned_v4 + 16, 12);
    CHECK_EQ(parse(buf, n, &h), 28);
    CHECK(h.command == PROXY_V2_LOCAL && !h.has_client);
    memset(body, 0, 216);
    n = build(buf, 0x20, 0x31, body, 216);
    CHECK_EQ(parse(buf, n, &h), 232);
    n = build(buf, 0x20, 0x00, (const uint8_t *)"\x04\x00\x01x", 4);
    CHECK_EQ(parse(buf, n, &h), 20);
    /* PROXY with family UNSPEC: nothing to tell, the peer stands. */
    n = build(buf, 0x21, 0x00, NULL, 0);
    CHECK_EQ(parse(buf, n, &h), 16);
    CHECK(h.command == PROXY_V2_PROXY && !h.has_client);
}

static void test_encode(void)
{
    uint8_t buf[64];
    struct proxy_v2_header h;
    struct proxy_v2_addr c = v4("192.168.0.1", 56324), s = v4("192.168.0.11", 443);
    struct proxy_v2_addr c6 = v6("2001:db8::1", 40000), s6 = v6("2001:db8::2", 8080);

    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, &c, &s), 28);
    CHECK(memcmp(buf, pinned_v4, 28) == 0);
    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, &c6, &s6), 52);
    CHECK(memcmp(buf, pinned_v6, 52) == 0);
    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, NULL, NULL), 16);
    CHECK(memcmp(buf, pinned_local, 16) == 0);
    CHECK_EQ(proxy_v2_encode(buf, 27, &c, &s), PROXY_V2_ERR_INVALID);
    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, &c, &s6), PROXY_V2_ERR_INVALID);
    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, &c, NULL), PROXY_V2_ERR_INVALID);
    CHECK_EQ(proxy_v2_encode(buf, sizeof buf, &c6, &s6), 52);
    CHECK_EQ(parse(buf, 52, &h), 52);
    CHECK(addr_eq(&h.client, &c6) && addr_eq(&h.server, &s6));
}

/* Random headers after a valid signature: whatever comes back is one of the
 * results, consistent with a second look, and a success used exactly the
 * length the header gives. */
static void test_random(void)
{
    uint64_t state = 0x70726f7879;
    uint8_t buf[PROXY_V2_HEADER_MAX + 64];

    for (int i = 0; i < 200000; i++) {
        size_t n = 12 + splitmix64(&state) % 80;
        struct proxy_v2_header h;
        int r, again;

        memcpy(buf, SIG, 12);
        for (size_t k = 12; k < n; k++)
            buf[k] = (uint8_t)splitmix64(&state);
        if (n > 15 && (splitmix64(&state) & 1))
            buf[14] = 0, buf[15] = (uint8_t)(splitmix64(&state) % 64);
        if (n > 13 && (splitmix64(&state) & 1))
            buf[12] = (uint8_t)(0x20 | (splitmix64(&state) & 1));
        r = parse(buf, n, &h);
        again = proxy_v2_parse(buf, n, &h);
        CHECK_EQ(r, again);
        CHECK(r == PROXY_V2_NEED_MORE || (r >= -8 && r < 0) ||
              (r >= 16 && (size_t)r <= n && (size_t)r == 16u + ((size_t)buf[14] << 8 | buf[15])));
    }
}

int main(void)
{
    test_pinned();
    test_followed_by_request();
    test_prefixes();
    test_not_the_protocol();
    test_errors();
    test_tlvs_and_local();
    test_encode();
    test_random();
    if (failures) {
        fprintf(stderr, "test-proxy-v2: %d checks failed\n", failures);
        return 1;
    }
    printf("test-proxy-v2: ok\n");
    return 0;
}
