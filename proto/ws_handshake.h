/* ws_handshake.h: HTTP/1.1 request heads and the RFC 6455 opening handshake. No I/O.
 *
 * Server side. ws_handshake_parse(buf, len, &req) looks at the bytes
 * buf[0..len) that start an HTTP request and returns
 *   > 0               the head is complete (through its blank line) and
 *                     valid; that many bytes were used and req is filled in.
 *                     A body of req.content_length bytes may follow.
 *   WS_HS_NEED_MORE   (-2) a valid prefix; call again from the same start
 *                     with more bytes.
 *   < 0, != -2        a WS_HS_ERR_*: answer with ws_handshake_error_response()
 *                     (or ws_handshake_status()) and close.
 * It reads nothing at or past buf + len, copies and allocates nothing, keeps
 * no state between calls and writes req only when it returns > 0; every span
 * in req points into buf. A head, counting its blank line, may be at most
 * WS_HS_HEAD_MAX bytes: past that without a blank line it is
 * WS_HS_ERR_TOO_LARGE (431). Each call rescans from buf, so a caller fed a
 * few bytes at a time may wait until it holds "\r\n\r\n" or WS_HS_HEAD_MAX
 * bytes before calling, to keep the work linear.
 *
 * One port serves WebSocket upgrades and plain requests (/healthz, /metrics,
 * REST), so any method and request-target are accepted; the target is split
 * at the first '?' into path and query, neither decoded nor normalised.
 * Syntax is strict: lines end in CRLF (a bare CR or LF, or any other control
 * byte but HTAB, is an error); "HTTP/1.0" and "HTTP/1.1" only (other versions
 * are 505); header names are tokens followed directly by ':'; values are
 * trimmed of spaces and tabs; folded lines are refused; empty lines before
 * the request line are skipped. Header names match case-insensitively and so
 * do the tokens of Upgrade and Connection, which may be comma-separated lists
 * and may repeat. An HTTP/1.1 request needs exactly one Host.
 * Content-Length is decimal, at most WS_HS_BODY_MAX and appears once.
 * Transfer-Encoding is not supported at all: its presence is
 * WS_HS_ERR_TRANSFER_ENCODING, answered with 411 Length Required, which tells
 * the client to resend with a Content-Length (and closes the door on
 * Content-Length/Transfer-Encoding request smuggling).
 *
 * A request is a WebSocket upgrade attempt when its Upgrade header lists
 * "websocket" or it carries Sec-WebSocket-Key or Sec-WebSocket-Version. An
 * attempt must then be "GET <target> HTTP/1.1" without a body, with Upgrade
 * listing "websocket", Connection listing "upgrade", Sec-WebSocket-Version
 * exactly "13" (else WS_HS_ERR_VERSION: 426 with "Sec-WebSocket-Version: 13")
 * and Sec-WebSocket-Key the base64 of 16 bytes; otherwise the parse fails
 * with the matching error. A valid attempt sets req.upgrade; answer it with
 * ws_handshake_response(). Origin, Authorization and Sec-WebSocket-Protocol
 * are returned for the caller to judge; no extension or subprotocol is ever
 * negotiated here. Key, Version, Origin, Authorization and
 * Sec-WebSocket-Protocol may appear once each (else WS_HS_ERR_DUPLICATE).
 *
 * Client side (the load generator): ws_handshake_client_key() encodes a
 * 16-byte nonce the caller drew from a good random source,
 * ws_handshake_request() writes the request, and ws_handshake_parse_response()
 * checks the server's 101 reply under the same contract as the request parser.
 *
 * Ownership: nothing here allocates. Output buffers are the caller's.
 */
#ifndef NEARBY_WS_HANDSHAKE_H
#define NEARBY_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HS_HEAD_MAX 8192           /* request or response head, blank line included */
#define WS_HS_BODY_MAX (1u << 20)     /* largest Content-Length accepted */
#define WS_HS_KEY_LEN 24              /* base64 of 16 bytes */
#define WS_HS_ACCEPT_LEN 28           /* base64 of a SHA-1 */
#define WS_HS_RESPONSE_MAX 160        /* room for ws_handshake_response() */
#define WS_HS_ERROR_RESPONSE_MAX 192  /* room for ws_handshake_error_response() */

enum ws_hs_err {
    WS_HS_ERR_BAD_REQUEST = -1,       /* malformed line or header (400) */
    WS_HS_NEED_MORE = -2,             /* not an error: the head is not all there */
    WS_HS_ERR_TOO_LARGE = -3,         /* head over WS_HS_HEAD_MAX (431) */
    WS_HS_ERR_HTTP_VERSION = -4,      /* neither HTTP/1.0 nor HTTP/1.1 (505) */
    WS_HS_ERR_HOST = -5,              /* HTTP/1.1 without exactly one Host (400) */
    WS_HS_ERR_LENGTH = -6,            /* malformed or repeated Content-Length (400) */
    WS_HS_ERR_BODY_TOO_BIG = -7,      /* Content-Length over WS_HS_BODY_MAX (413) */
    WS_HS_ERR_TRANSFER_ENCODING = -8, /* any Transfer-Encoding (411) */
    WS_HS_ERR_DUPLICATE = -9,         /* a single-valued header repeated (400) */
    WS_HS_ERR_REQUEST_LINE = -10,     /* upgrade not "GET ... HTTP/1.1", or with a body (400) */
    WS_HS_ERR_UPGRADE = -11,          /* upgrade attempt: Upgrade lacks "websocket" (400) */
    WS_HS_ERR_CONNECTION = -12,       /* upgrade attempt: Connection lacks "upgrade" (400) */
    WS_HS_ERR_VERSION = -13,          /* Sec-WebSocket-Version missing or not 13 (426) */
    WS_HS_ERR_KEY = -14,              /* Sec-WebSocket-Key missing or malformed (400) */
    WS_HS_ERR_STATUS = -15,           /* client: response status is not 101 */
    WS_HS_ERR_ACCEPT = -16,           /* client: Sec-WebSocket-Accept missing or wrong */
    WS_HS_ERR_EXTENSION = -17,        /* client: server chose an extension we never offered */
    WS_HS_ERR_INVALID = -18,          /* bad argument or output buffer too small */
    WS_HS_ERR_INTERNAL = -19,         /* libcrypto failed (500) */
};

/* A piece of the caller's buffer; ptr is NULL and len 0 when absent. */
struct ws_span {
    const char *ptr;        /* ref: caller's buffer, not NUL-terminated */
    size_t len;
};

struct ws_request {
    struct ws_span method;
    struct ws_span target;        /* request-target as sent */
    struct ws_span path;          /* target before the first '?' */
    struct ws_span query;         /* target after the first '?'; absent if no '?' */
    int http_minor;               /* 0 or 1 */
    struct ws_span host;
    struct ws_span origin;
    struct ws_span authorization;
    struct ws_span key;           /* Sec-WebSocket-Key (upgrade only) */
    struct ws_span protocol;      /* Sec-WebSocket-Protocol, raw list */
    bool upgrade;                 /* a valid WebSocket upgrade request */
    bool keep_alive;              /* connection stays open after the response */
    bool has_content_length;
    uint64_t content_length;      /* 0 when absent */
};

/* Parses a request head; see the contract at the top. Returns bytes
 * consumed, WS_HS_NEED_MORE or a WS_HS_ERR_*; req written only on success. */
int ws_handshake_parse(const char *buf, size_t len, struct ws_request *req);

/* Writes base64(SHA-1(key + RFC 6455 GUID)) and a NUL to out. Returns 0, or
 * WS_HS_ERR_INVALID when len > 64, or WS_HS_ERR_INTERNAL when libcrypto
 * fails; out is then untouched. */
int ws_accept_key(const char *key, size_t len, char out[WS_HS_ACCEPT_LEN + 1]);

/* Writes the 101 Switching Protocols response for a request whose
 * Sec-WebSocket-Key is key[0..len) to out[0..cap), NUL-terminated. Returns its
 * length (without the NUL), WS_HS_ERR_INVALID (key too long, cap too small)
 * or WS_HS_ERR_INTERNAL. */
int ws_handshake_response(const char *key, size_t len, char *out, size_t cap);

/* Returns the HTTP status that answers a WS_HS_ERR_* (400, 411, 413, 426,
 * 431, 500 or 505), and a short static description of it. */
int ws_handshake_status(int err);
const char *ws_handshake_strerror(int err);

/* Writes a complete response for a WS_HS_ERR_* to out[0..cap),
 * NUL-terminated: status line, "Sec-WebSocket-Version: 13" for
 * WS_HS_ERR_VERSION, "Connection: close", an empty body. Returns its length or
 * WS_HS_ERR_INVALID when cap is too small. */
int ws_handshake_error_response(int err, char *out, size_t cap);

/* Client: writes the base64 of nonce (WS_HS_KEY_LEN chars) and a NUL. */
void ws_handshake_client_key(const uint8_t nonce[16], char out[WS_HS_KEY_LEN + 1]);

/* Client: writes "GET path HTTP/1.1" with Host, the upgrade headers, key (a
 * NUL-terminated key from ws_handshake_client_key()) and version 13, then
 * extra_headers verbatim (NULL or complete "Name: value\r\n" lines), then the
 * blank line, NUL-terminated, to out[0..cap). Returns the length, or
 * WS_HS_ERR_INVALID when host or path is empty or holds a space or control
 * byte, key is not a valid key, extra_headers does not end in CRLF, or cap is
 * too small. */
int ws_handshake_request(char *out, size_t cap, const char *host, const char *path,
                         const char *key, const char *extra_headers);

/* Client: parses the server's response head to a request sent with key.
 * Returns bytes consumed for a valid "HTTP/1.1 101" with Upgrade: websocket,
 * Connection: upgrade, the right Sec-WebSocket-Accept and no
 * Sec-WebSocket-Extensions; WS_HS_NEED_MORE; WS_HS_ERR_STATUS for any other
 * status (as soon as the status line is in); or another WS_HS_ERR_*. Frames
 * may follow the head in the same buffer. */
int ws_handshake_parse_response(const char *buf, size_t len, const char *key, size_t key_len);

#endif
