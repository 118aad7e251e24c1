/* proxy_v2.c: a strict reader (and a small writer) of PROXY protocol v2 headers. */
#include "proxy_v2.h"

#include <string.h>

#define PROXY_V2_VERSION 0x2
#define PROXY_V2_FAM_UNSPEC 0x0
#define PROXY_V2_FAM_INET 0x1
#define PROXY_V2_FAM_INET6 0x2
#define PROXY_V2_FAM_UNIX 0x3
#define PROXY_V2_PROTO_UNSPEC 0x0
#define PROXY_V2_PROTO_STREAM 0x1
#define PROXY_V2_PROTO_DGRAM 0x2
#define PROXY_V2_INET_LEN 12   /* 4 + 4 + 2 + 2 */
#define PROXY_V2_INET6_LEN 36  /* 16 + 16 + 2 + 2 */
#define PROXY_V2_UNIX_LEN 216  /* 108 + 108 */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

const char *proxy_v2_strerror(int err)
{
    switch (err) {
    case PROXY_V2_OK: return "ok";
    case PROXY_V2_ERR_SIGNATURE: return "not a PROXY v2 header";
    case PROXY_V2_NEED_MORE: return "incomplete PROXY v2 header";
    case PROXY_V2_ERR_VERSION: return "PROXY header version is not 2";
    case PROXY_V2_ERR_COMMAND: return "PROXY v2 command is neither LOCAL nor PROXY";
    case PROXY_V2_ERR_FAMILY: return "PROXY v2 family or transport not TCP over IPv4/IPv6";
    case PROXY_V2_ERR_LENGTH: return "PROXY v2 length does not fit the addresses or is too long";
    case PROXY_V2_ERR_TLV: return "PROXY v2 TLVs are malformed";
    case PROXY_V2_ERR_INVALID: return "invalid argument";
    default: return "unknown error";
    }
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Fills a from a raw address of n (4 or 16) bytes and a big-endian port. */
static void addr_read(struct proxy_v2_addr *a, const uint8_t *ip, size_t n, const uint8_t *port)
{
    if (n == 4) {
        memcpy(a->ip, v4_mapped_prefix, sizeof v4_mapped_prefix);
        memcpy(a->ip + 12, ip, 4);
    } else {
        memcpy(a->ip, ip, 16);
    }
    a->v4 = n == 4;
    a->port = be16(port);
}

/* Returns 0 when p[0..n) is a sequence of whole TLVs, else PROXY_V2_ERR_TLV. */
static int tlvs_check(const uint8_t *p, size_t n)
{
    size_t off = 0;

    while (off < n) {
        if (n - off < 3)
            return PROXY_V2_ERR_TLV;
        size_t vlen = be16(p + off + 1);
        if (vlen > n - off - 3)
            return PROXY_V2_ERR_TLV;
        off += 3 + vlen;
    }
    return 0;
}

int proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_header *hdr)
{
    struct proxy_v2_header h;
    size_t sig = len < PROXY_V2_SIGNATURE_LEN ? len : PROXY_V2_SIGNATURE_LEN;
    size_t body, total, addr_len = 0;
    unsigned version, command, family, proto;

    if (len == 0)
        return PROXY_V2_NEED_MORE;
    if (!buf)
        return PROXY_V2_ERR_SIGNATURE;
    if (memcmp(buf, PROXY_V2_SIGNATURE, sig) != 0)
        return PROXY_V2_ERR_SIGNATURE;
    if (len < 13)
        return PROXY_V2_NEED_MORE;
    /* Each byte is judged as soon as it is in: a bad one fails early. */
    version = buf[12] >> 4;
    command = buf[12] & 0xf;
    if (version != PROXY_V2_VERSION)
        return PROXY_V2_ERR_VERSION;
    if (command != PROXY_V2_LOCAL && command != PROXY_V2_PROXY)
        return PROXY_V2_ERR_COMMAND;
    if (len < 14)
        return PROXY_V2_NEED_MORE;
    family = buf[13] >> 4;
    proto = buf[13] & 0xf;
    if (family > PROXY_V2_FAM_UNIX || proto > PROXY_V2_PROTO_DGRAM)
        return PROXY_V2_ERR_FAMILY;
    if (len < PROXY_V2_FIXED_LEN)
        return PROXY_V2_NEED_MORE;
    body = be16(buf + 14);
    total = PROXY_V2_FIXED_LEN + body;
    if (total > PROXY_V2_HEADER_MAX)
        return PROXY_V2_ERR_LENGTH;
    memset(&h, 0, sizeof h);
    h.command = (enum proxy_v2_command)command;
    if (command == PROXY_V2_PROXY) {
        /* Only what a TCP listener can be told: a client over IPv4 or IPv6,
         * or UNSPEC (nothing to tell). */
        if (family == PROXY_V2_FAM_UNIX || (family != PROXY_V2_FAM_UNSPEC &&
                                            proto != PROXY_V2_PROTO_STREAM))
            return PROXY_V2_ERR_FAMILY;
        if (family == PROXY_V2_FAM_INET)
            addr_len = PROXY_V2_INET_LEN;
        else if (family == PROXY_V2_FAM_INET6)
            addr_len = PROXY_V2_INET6_LEN;
    } else {
        /* LOCAL: the sender speaks for itself; whatever addresses it gives
         * are to be ignored, but must still have the family's length. */
        if (family == PROXY_V2_FAM_INET)
            addr_len = PROXY_V2_INET_LEN;
        else if (family == PROXY_V2_FAM_INET6)
            addr_len = PROXY_V2_INET6_LEN;
        else if (family == PROXY_V2_FAM_UNIX)
            addr_len = PROXY_V2_UNIX_LEN;
    }
    if (body < addr_len)
        return PROXY_V2_ERR_LENGTH;
    if (len < total)
        return PROXY_V2_NEED_MORE;
    if (tlvs_check(buf + PROXY_V2_FIXED_LEN + addr_len, body - addr_len) < 0)
        return PROXY_V2_ERR_TLV;
    if (command == PROXY_V2_PROXY && addr_len > 0) {
        const uint8_t *a = buf + PROXY_V2_FIXED_LEN;
        size_t n = family == PROXY_V2_FAM_INET ? 4 : 16;

        addr_read(&h.client, a, n, a + 2 * n);
        addr_read(&h.server, a + n, n, a + 2 * n + 2);
        h.has_client = true;
    }
    h.tlv_len = body - addr_len;
    *hdr = h;
    return (int)total;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int proxy_v2_encode(uint8_t *out, size_t cap, const struct proxy_v2_addr *client,
                    const struct proxy_v2_addr *server)
{
    size_t n, total;

    if (!out || (client == NULL) != (server == NULL) ||
        (client && client->v4 != server->v4))
        return PROXY_V2_ERR_INVALID;
    n = client == NULL ? 0 : client->v4 ? 4 : 16;
    total = PROXY_V2_FIXED_LEN + (client == NULL ? 0 : 2 * n + 4);
    if (cap < total)
        return PROXY_V2_ERR_INVALID;
    memcpy(out, PROXY_V2_SIGNATURE, PROXY_V2_SIGNATURE_LEN);
    out[12] = (uint8_t)(PROXY_V2_VERSION << 4 | (client ? PROXY_V2_PROXY : PROXY_V2_LOCAL));
    out[13] = client == NULL ? 0
                             : (uint8_t)((client->v4 ? PROXY_V2_FAM_INET : PROXY_V2_FAM_INET6) << 4 |
                                         PROXY_V2_PROTO_STREAM);
    put16(out + 14, (unsigned)(total - PROXY_V2_FIXED_LEN));
    if (client != NULL) {
        size_t skip = client->v4 ? 12 : 0;

        memcpy(out + 16, client->ip + skip, n);
        memcpy(out + 16 + n, server->ip + skip, n);
        put16(out + 16 + 2 * n, client->port);
        put16(out + 18 + 2 * n, server->port);
    }
    return (int)total;
}
