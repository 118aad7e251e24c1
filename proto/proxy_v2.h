/* proxy_v2.h: the PROXY protocol version 2 header a load balancer puts before a client's bytes, so the server learns the client's address. No I/O.
 *
 * proxy_v2_parse(buf, len, &hdr) looks at the first len bytes a connection
 * sent and returns
 *   > 0                 the whole header is there and valid; that many bytes
 *                       were used and hdr is filled in. The client's own bytes
 *                       (an HTTP request) follow.
 *   PROXY_V2_NEED_MORE  (-2) a valid prefix; call again from the same start
 *                       with more bytes.
 *   < 0, != -2          a PROXY_V2_ERR_*: the connection is not speaking the
 *                       protocol (or speaks it wrongly); close it.
 * It reads nothing at or past buf + len, allocates nothing, keeps no state
 * between calls and writes hdr only when it returns > 0. A prefix that cannot
 * become the 12-byte signature fails at once, so garbage costs one call.
 *
 * Strict, after haproxy's doc/proxy-protocol.txt section 2.2: version 2 only
 * (the text version 1 is not accepted); command LOCAL or PROXY; for PROXY the
 * family is UNSPEC, INET or INET6 and the transport STREAM (TCP): UNIX and
 * DGRAM are refused, as is any nibble the spec does not define. The length
 * must cover the addresses of the family, and whatever follows them must be
 * whole TLVs (type, 16-bit length, value) ending exactly at the header's end;
 * TLVs are checked for shape only and otherwise ignored (NOOP padding, ALPN,
 * SSL, ...). A header is at most PROXY_V2_HEADER_MAX bytes.
 *
 * LOCAL (health checks of the balancer itself) and PROXY with family UNSPEC
 * carry no client: hdr.has_client is false and the connection's own peer
 * address stands.
 */
#ifndef NEARBY_PROXY_V2_H
#define NEARBY_PROXY_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROXY_V2_SIGNATURE "\r\n\r\n\0\r\nQUIT\n"
#define PROXY_V2_SIGNATURE_LEN 12
#define PROXY_V2_FIXED_LEN 16 /* signature, version/command, family, length */
/* The largest header accepted: the INET6 addresses and 1 KiB of TLVs, far
 * above what haproxy sends (no TLV unless proxy-v2-options asks for some). */
#define PROXY_V2_HEADER_MAX (PROXY_V2_FIXED_LEN + 36 + 1024)

enum proxy_v2_err {
    PROXY_V2_OK = 0,
    PROXY_V2_ERR_SIGNATURE = -1, /* not the v2 signature: not the protocol at all */
    PROXY_V2_NEED_MORE = -2,
    PROXY_V2_ERR_VERSION = -3,   /* version nibble other than 2 */
    PROXY_V2_ERR_COMMAND = -4,   /* command other than LOCAL or PROXY */
    PROXY_V2_ERR_FAMILY = -5,    /* unknown family or transport, or UNIX / DGRAM */
    PROXY_V2_ERR_LENGTH = -6,    /* too short for the addresses, or above PROXY_V2_HEADER_MAX */
    PROXY_V2_ERR_TLV = -7,       /* the bytes after the addresses are not whole TLVs */
    PROXY_V2_ERR_INVALID = -8,   /* proxy_v2_encode: bad argument or no room */
};

enum proxy_v2_command {
    PROXY_V2_LOCAL = 0,
    PROXY_V2_PROXY = 1,
};

/* An address as 16 bytes: IPv6 as is, IPv4 as ::ffff:a.b.c.d (RFC 4291
 * 2.5.5.2), so one comparison covers both families. */
struct proxy_v2_addr {
    uint8_t ip[16];
    uint16_t port; /* host byte order */
    bool v4;
};

struct proxy_v2_header {
    enum proxy_v2_command command;
    bool has_client;              /* PROXY over INET or INET6 */
    struct proxy_v2_addr client;  /* the source: the phone; when has_client */
    struct proxy_v2_addr server;  /* the destination the client dialled; when has_client */
    size_t tlv_len;               /* bytes of TLVs after the addresses */
};

/* Reads a header from buf[0..len) (see the file comment). */
int proxy_v2_parse(const uint8_t *buf, size_t len, struct proxy_v2_header *hdr);

/* Writes a PROXY (client, server non-NULL; both v4 or both v6) or, with
 * client NULL, a LOCAL header into out[0..cap) with no TLV. Returns its
 * length (28 for IPv4, 52 for IPv6, 16 for LOCAL), or PROXY_V2_ERR_INVALID
 * (families differ, or cap too small). For tests and clients. */
int proxy_v2_encode(uint8_t *out, size_t cap, const struct proxy_v2_addr *client,
                    const struct proxy_v2_addr *server);

/* A fixed English description of a PROXY_V2_ERR_* value. */
const char *proxy_v2_strerror(int err);

#endif
