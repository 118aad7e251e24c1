/* fuzz-proxy-v2.c: libFuzzer target for proto/proxy_v2.c: the PROXY protocol v2 header in front of a connection.
 *
 * Input: the first bytes a connection sends. What proxy_v2_parse() says is
 * checked against its contract: every prefix of a good header is incomplete,
 * an error is either not proven yet or the same error and stays once proven,
 * a failure leaves the header alone. A PROXY header is taken round:
 * proxy_v2_encode() of its addresses parses back to the same header, and is
 * the very bytes read when they carried no TLV.
 */
#include "fuzz.h"
#include "proxy_v2.h"

static int known_error(int r)
{
    return r == PROXY_V2_ERR_SIGNATURE || r == PROXY_V2_ERR_VERSION ||
           r == PROXY_V2_ERR_COMMAND || r == PROXY_V2_ERR_FAMILY || r == PROXY_V2_ERR_LENGTH ||
           r == PROXY_V2_ERR_TLV;
}

/* proxy_v2_parse on an exact-size copy of buf[0..len). */
static int parse(const uint8_t *buf, size_t len, struct proxy_v2_header *hdr)
{
    uint8_t *copy = fuzz_copy(buf, len);
    FUZZ_POISON(*hdr);
    int r = proxy_v2_parse(copy, len, hdr);

    free(copy);
    if (r <= 0) {
        FUZZ_CHECK(r == PROXY_V2_NEED_MORE || known_error(r));
        FUZZ_CHECK(FUZZ_UNTOUCHED(*hdr));
        FUZZ_CHECK(strcmp(proxy_v2_strerror(r), "unknown error") != 0);
    }
    return r;
}

static int same_addr(const struct proxy_v2_addr *a, const struct proxy_v2_addr *b)
{
    return memcmp(a->ip, b->ip, 16) == 0 && a->port == b->port && a->v4 == b->v4;
}

/* An IPv4 address is kept as ::ffff:a.b.c.d. */
static void check_addr(const struct proxy_v2_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (a->v4)
        FUZZ_CHECK(memcmp(a->ip, mapped, sizeof mapped) == 0);
}

/* A header of r bytes was complete: all its prefixes are incomplete. */
static void check_prefixes(const uint8_t *buf, int r)
{
    struct proxy_v2_header h;

    for (size_t k = 0; k < (size_t)r; k++)
        FUZZ_CHECK(parse(buf, k, &h) == PROXY_V2_NEED_MORE);
}

/* An error r at len bytes: shorter prefixes are incomplete until the byte
 * that proves it, then fail the same way. */
static void check_error_prefixes(const uint8_t *buf, size_t len, int r)
{
    struct proxy_v2_header h;
    int proven = 0;
    size_t last = len < PROXY_V2_FIXED_LEN ? len : PROXY_V2_FIXED_LEN;

    for (size_t k = 0; k <= last; k++) {
        int rk = parse(buf, k, &h);
        FUZZ_CHECK(rk == r || (rk == PROXY_V2_NEED_MORE && !proven));
        proven = rk == r;
    }
    if (r != PROXY_V2_ERR_TLV)
        FUZZ_CHECK(proven); /* only the TLVs need more than the fixed part */
}

static void check_round_trip(const uint8_t *buf, int r, const struct proxy_v2_header *h)
{
    uint8_t out[PROXY_V2_FIXED_LEN + 36];
    const struct proxy_v2_addr *client = h->has_client ? &h->client : NULL;
    const struct proxy_v2_addr *server = h->has_client ? &h->server : NULL;
    int n = proxy_v2_encode(out, sizeof out, client, server);

    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(proxy_v2_encode(out, (size_t)n - 1, client, server) == PROXY_V2_ERR_INVALID);
    uint8_t *exact = fuzz_alloc((size_t)n);
    FUZZ_CHECK(proxy_v2_encode(exact, (size_t)n, client, server) == n);

    struct proxy_v2_header again;
    FUZZ_CHECK(parse(exact, (size_t)n, &again) == n);
    FUZZ_CHECK(again.has_client == h->has_client && again.tlv_len == 0);
    if (h->has_client) {
        FUZZ_CHECK(again.command == PROXY_V2_PROXY);
        FUZZ_CHECK(same_addr(&again.client, &h->client) && same_addr(&again.server, &h->server));
        /* Nothing of a PROXY header over INET or INET6 is left out but TLVs. */
        if (h->tlv_len == 0)
            FUZZ_CHECK(n == r && memcmp(exact, buf, (size_t)n) == 0);
    } else {
        FUZZ_CHECK(again.command == PROXY_V2_LOCAL);
    }
    free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_v2_header h;
    int r = parse(data, size, &h);

    if (r == PROXY_V2_NEED_MORE) {
        FUZZ_CHECK(size < PROXY_V2_HEADER_MAX);
        return 0;
    }
    if (r < 0) {
        check_error_prefixes(data, size, r);
        return 0;
    }
    FUZZ_CHECK((size_t)r <= size && r >= PROXY_V2_FIXED_LEN && r <= PROXY_V2_HEADER_MAX);
    FUZZ_CHECK(memcmp(data, PROXY_V2_SIGNATURE, PROXY_V2_SIGNATURE_LEN) == 0);
    FUZZ_CHECK((size_t)r == PROXY_V2_FIXED_LEN + ((size_t)data[14] << 8 | data[15]));
    FUZZ_CHECK(h.command == PROXY_V2_LOCAL || h.command == PROXY_V2_PROXY);
    FUZZ_CHECK(!h.has_client || h.command == PROXY_V2_PROXY);
    FUZZ_CHECK(h.tlv_len <= (size_t)r - PROXY_V2_FIXED_LEN);
    if (h.has_client) {
        check_addr(&h.client);
        check_addr(&h.server);
        FUZZ_CHECK(h.client.v4 == h.server.v4);
        FUZZ_CHECK((size_t)r == PROXY_V2_FIXED_LEN + (h.client.v4 ? 12 : 36) + h.tlv_len);
    }
    check_prefixes(data, r);
    check_round_trip(data, r, &h);
    return 0;
}
