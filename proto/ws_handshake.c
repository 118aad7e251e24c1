/* ws_handshake.c: HTTP/1.x head parsing and the RFC 6455 opening handshake, both sides. */
#include "ws_handshake.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_INPUT_MAX 64

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes the padded base64 of in[0..n) and a NUL; out needs 4*ceil(n/3)+1. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* Returns the 6-bit value of a base64 character, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* A nonce of 16 bytes is 22 base64 characters, the last carrying 4 zero pad
 * bits, then "==". */
static bool key_valid(struct ws_span k)
{
    if (k.len != WS_HS_KEY_LEN)
        return false;
    for (size_t i = 0; i < 22; i++) {
        if (b64_value(k.ptr[i]) < 0)
            return false;
    }
    return (b64_value(k.ptr[21]) & 0x0F) == 0 && k.ptr[22] == '=' && k.ptr[23] == '=';
}

int ws_accept_key(const char *key, size_t len, char out[WS_HS_ACCEPT_LEN + 1])
{
    if (len > WS_KEY_INPUT_MAX || (len > 0 && key == NULL))
        return WS_HS_ERR_INVALID;
    unsigned char input[WS_KEY_INPUT_MAX + sizeof WS_GUID];
    if (len > 0)
        memcpy(input, key, len);
    memcpy(input + len, WS_GUID, sizeof WS_GUID - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    if (SHA1(input, len + sizeof WS_GUID - 1, digest) == NULL)
        return WS_HS_ERR_INTERNAL;
    b64_encode(digest, sizeof digest, out);
    return 0;
}

void ws_handshake_client_key(const uint8_t nonce[16], char out[WS_HS_KEY_LEN + 1])
{
    b64_encode(nonce, 16, out);
}

/* --- head scanning -------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Returns true when s[0..n) equals the lower-case literal lit, ignoring case. */
static bool ieq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n; i++) {
        if (lit[i] == '\0' || ascii_lower(s[i]) != lit[i])
            return false;
    }
    return lit[i] == '\0';
}

static bool span_is(struct ws_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Returns true when the comma-separated list v holds the token tok (lower
 * case), ignoring case and spaces around elements. */
static bool list_has(struct ws_span v, const char *tok)
{
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        size_t b = i, e = j;
        while (b < e && (v.ptr[b] == ' ' || v.ptr[b] == '\t'))
            b++;
        while (e > b && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
            e--;
        if (ieq(v.ptr + b, e - b, tok))
            return true;
        i = j + 1;
    }
    return false;
}

/* Finds the CRLF ending the line that starts at pos in buf[0..len). Returns 1
 * and *eol (the index of its CR), 0 when the line is not all there, or
 * WS_HS_ERR_BAD_REQUEST at a control byte other than HTAB, a bare CR or a
 * bare LF. */
static int next_line(const char *buf, size_t len, size_t pos, size_t *eol)
{
    for (size_t i = pos; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (i + 1 == len)
                return 0;
            if (buf[i + 1] != '\n')
                return WS_HS_ERR_BAD_REQUEST;
            *eol = i;
            return 1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return WS_HS_ERR_BAD_REQUEST;
    }
    return 0;
}

/* What to return when next_line() gave r <= 0 with len bytes in hand. */
static int line_incomplete(int r, size_t len)
{
    if (r < 0)
        return r;
    return len >= WS_HS_HEAD_MAX ? WS_HS_ERR_TOO_LARGE : WS_HS_NEED_MORE;
}

/* Reads "HTTP/1.0" or "HTTP/1.1" exactly; returns 0 and *minor, else
 * WS_HS_ERR_HTTP_VERSION for another well-formed version, or
 * WS_HS_ERR_BAD_REQUEST. */
static int parse_http_version(const char *v, size_t n, int *minor)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return WS_HS_ERR_BAD_REQUEST;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return WS_HS_ERR_HTTP_VERSION;
    *minor = v[7] - '0';
    return 0;
}

/* Splits "name: value"; the value is trimmed of spaces and tabs. Returns 0,
 * or WS_HS_ERR_BAD_REQUEST (no name, space before the colon, folding). */
static int split_header(const char *line, size_t n, struct ws_span *name,
                        struct ws_span *value)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ':')
        return WS_HS_ERR_BAD_REQUEST;
    size_t b = i + 1, e = n;
    while (b < e && (line[b] == ' ' || line[b] == '\t'))
        b++;
    while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    *name = (struct ws_span){line, i};
    *value = (struct ws_span){line + b, e - b};
    return 0;
}

/* Parses a decimal Content-Length; returns 0 and *out, WS_HS_ERR_LENGTH or
 * WS_HS_ERR_BODY_TOO_BIG. */
static int parse_content_length(struct ws_span v, uint64_t *out)
{
    if (v.len == 0)
        return WS_HS_ERR_LENGTH;
    for (size_t i = 0; i < v.len; i++) {
        if (!is_digit(v.ptr[i]))
            return WS_HS_ERR_LENGTH;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
        if (n > WS_HS_BODY_MAX)
            return WS_HS_ERR_BODY_TOO_BIG;
    }
    *out = n;
    return 0;
}

/* Records a single-valued header; returns 0 or WS_HS_ERR_DUPLICATE. */
static int set_once(struct ws_span *slot, struct ws_span value)
{
    if (slot->ptr != NULL)
        return WS_HS_ERR_DUPLICATE;
    *slot = value;
    return 0;
}

/* --- server side ---------------------------------------------------------- */

struct request_scan {
    struct ws_request req;
    unsigned host_count;
    bool upgrade_websocket;     /* some Upgrade element is "websocket" */
    bool connection_upgrade;
    bool connection_close;
    bool connection_keep_alive;
    bool transfer_encoding;
    struct ws_span version;
};

static int request_line(const char *line, size_t n, struct ws_request *req)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == n || line[i] != ' ')
        return WS_HS_ERR_BAD_REQUEST;
    req->method = (struct ws_span){line, i};

    size_t t = ++i;
    while (i < n && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7F)
        i++;
    if (i == t || i == n || line[i] != ' ')
        return WS_HS_ERR_BAD_REQUEST;
    req->target = (struct ws_span){line + t, i - t};
    const char *q = memchr(line + t, '?', i - t);
    if (q) {
        req->path = (struct ws_span){line + t, (size_t)(q - (line + t))};
        req->query = (struct ws_span){q + 1, (size_t)(line + i - (q + 1))};
    } else {
        req->path = req->target;
    }
    i++;
    return parse_http_version(line + i, n - i, &req->http_minor);
}

static int request_header(struct request_scan *s, const char *line, size_t n)
{
    struct ws_span name, value;
    int r = split_header(line, n, &name, &value);
    if (r < 0)
        return r;

    if (ieq(name.ptr, name.len, "host")) {
        if (s->host_count++ == 0)
            s->req.host = value;
    } else if (ieq(name.ptr, name.len, "upgrade")) {
        s->upgrade_websocket |= list_has(value, "websocket");
    } else if (ieq(name.ptr, name.len, "connection")) {
        s->connection_upgrade |= list_has(value, "upgrade");
        s->connection_close |= list_has(value, "close");
        s->connection_keep_alive |= list_has(value, "keep-alive");
    } else if (ieq(name.ptr, name.len, "sec-websocket-version")) {
        return set_once(&s->version, value);
    } else if (ieq(name.ptr, name.len, "sec-websocket-key")) {
        return set_once(&s->req.key, value);
    } else if (ieq(name.ptr, name.len, "sec-websocket-protocol")) {
        return set_once(&s->req.protocol, value);
    } else if (ieq(name.ptr, name.len, "origin")) {
        return set_once(&s->req.origin, value);
    } else if (ieq(name.ptr, name.len, "authorization")) {
        return set_once(&s->req.authorization, value);
    } else if (ieq(name.ptr, name.len, "content-length")) {
        if (s->req.has_content_length)
            return WS_HS_ERR_LENGTH;
        r = parse_content_length(value, &s->req.content_length);
        if (r < 0)
            return r;
        s->req.has_content_length = true;
    } else if (ieq(name.ptr, name.len, "transfer-encoding")) {
        s->transfer_encoding = true;
    }
    return 0;
}

/* Checks the head as a whole once the blank line is in. */
static int request_finish(struct request_scan *s)
{
    struct ws_request *req = &s->req;
    if (s->host_count > 1 || (req->http_minor == 1 && s->host_count == 0))
        return WS_HS_ERR_HOST;
    if (s->transfer_encoding)
        return WS_HS_ERR_TRANSFER_ENCODING;

    bool attempt = s->upgrade_websocket || req->key.ptr != NULL || s->version.ptr != NULL;
    if (!attempt) {
        req->keep_alive = req->http_minor == 1 ? !s->connection_close
                                               : s->connection_keep_alive;
        return 0;
    }
    /* Bytes after an upgrade head are frames, so a body cannot be told
     * apart from them. */
    if (!span_is(req->method, "GET") || req->http_minor != 1 || req->content_length > 0)
        return WS_HS_ERR_REQUEST_LINE;
    if (!s->upgrade_websocket)
        return WS_HS_ERR_UPGRADE;
    if (!s->connection_upgrade)
        return WS_HS_ERR_CONNECTION;
    if (!span_is(s->version, "13"))
        return WS_HS_ERR_VERSION;
    if (!key_valid(req->key))
        return WS_HS_ERR_KEY;
    req->upgrade = true;
    req->keep_alive = true;
    return 0;
}

int ws_handshake_parse(const char *buf, size_t len, struct ws_request *req)
{
    /* Nothing past the limit is looked at: a head must end within it. */
    size_t view = len < WS_HS_HEAD_MAX ? len : WS_HS_HEAD_MAX;
    struct request_scan s;
    memset(&s, 0, sizeof s);
    size_t pos = 0, eol = 0;
    int r;

    for (;;) {
        r = next_line(buf, view, pos, &eol);
        if (r <= 0)
            return line_incomplete(r, len);
        if (eol > pos)
            break;
        pos = eol + 2;          /* an empty line before the request line */
    }
    r = request_line(buf + pos, eol - pos, &s.req);
    if (r < 0)
        return r;
    pos = eol + 2;

    for (;;) {
        r = next_line(buf, view, pos, &eol);
        if (r <= 0)
            return line_incomplete(r, len);
        if (eol == pos)
            break;
        r = request_header(&s, buf + pos, eol - pos);
        if (r < 0)
            return r;
        pos = eol + 2;
    }
    r = request_finish(&s);
    if (r < 0)
        return r;
    *req = s.req;
    return (int)(eol + 2);
}

int ws_handshake_response(const char *key, size_t len, char *out, size_t cap)
{
    char accept[WS_HS_ACCEPT_LEN + 1];
    int r = ws_accept_key(key, len, accept);
    if (r < 0)
        return r;
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "\r\n",
                     accept);
    if (n < 0 || (size_t)n >= cap)
        return WS_HS_ERR_INVALID;
    return n;
}

int ws_handshake_status(int err)
{
    switch (err) {
    case WS_HS_ERR_TOO_LARGE: return 431;
    case WS_HS_ERR_HTTP_VERSION: return 505;
    case WS_HS_ERR_BODY_TOO_BIG: return 413;
    case WS_HS_ERR_TRANSFER_ENCODING: return 411;
    case WS_HS_ERR_VERSION: return 426;
    case WS_HS_ERR_INVALID:
    case WS_HS_ERR_INTERNAL: return 500;
    default: return 400;
    }
}

const char *ws_handshake_strerror(int err)
{
    switch (err) {
    case WS_HS_ERR_BAD_REQUEST: return "malformed request";
    case WS_HS_NEED_MORE: return "incomplete head";
    case WS_HS_ERR_TOO_LARGE: return "head too large";
    case WS_HS_ERR_HTTP_VERSION: return "HTTP version not supported";
    case WS_HS_ERR_HOST: return "missing or repeated Host";
    case WS_HS_ERR_LENGTH: return "bad Content-Length";
    case WS_HS_ERR_BODY_TOO_BIG: return "body too large";
    case WS_HS_ERR_TRANSFER_ENCODING: return "Transfer-Encoding not supported";
    case WS_HS_ERR_DUPLICATE: return "repeated header";
    case WS_HS_ERR_REQUEST_LINE: return "upgrade must be a bodiless GET over HTTP/1.1";
    case WS_HS_ERR_UPGRADE: return "Upgrade lacks websocket";
    case WS_HS_ERR_CONNECTION: return "Connection lacks upgrade";
    case WS_HS_ERR_VERSION: return "Sec-WebSocket-Version must be 13";
    case WS_HS_ERR_KEY: return "bad Sec-WebSocket-Key";
    case WS_HS_ERR_STATUS: return "status is not 101";
    case WS_HS_ERR_ACCEPT: return "bad Sec-WebSocket-Accept";
    case WS_HS_ERR_EXTENSION: return "unrequested extension";
    case WS_HS_ERR_INVALID: return "invalid argument";
    case WS_HS_ERR_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}

static const char *status_phrase(int status)
{
    switch (status) {
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Bad Request";
    }
}

int ws_handshake_error_response(int err, char *out, size_t cap)
{
    int status = ws_handshake_status(err);
    const char *extra = err == WS_HS_ERR_VERSION
                            ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                            : "";
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "Content-Length: 0\r\n"
                     "\r\n",
                     status, status_phrase(status), extra);
    if (n < 0 || (size_t)n >= cap)
        return WS_HS_ERR_INVALID;
    return n;
}

/* --- client side ---------------------------------------------------------- */

/* Returns true when s is non-empty printable ASCII without spaces. */
static bool plain_word(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7F)
            return false;
    }
    return true;
}

int ws_handshake_request(char *out, size_t cap, const char *host, const char *path,
                         const char *key, const char *extra_headers)
{
    if (!plain_word(host) || !plain_word(path) || key == NULL ||
        !key_valid((struct ws_span){key, strnlen(key, WS_HS_KEY_LEN + 1)}))
        return WS_HS_ERR_INVALID;
    if (extra_headers == NULL)
        extra_headers = "";
    size_t extra_len = strlen(extra_headers);
    if (extra_len > 0 && (extra_len < 2 || strcmp(extra_headers + extra_len - 2, "\r\n") != 0))
        return WS_HS_ERR_INVALID;
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s"
                     "\r\n",
                     path, host, key, extra_headers);
    if (n < 0 || (size_t)n >= cap)
        return WS_HS_ERR_INVALID;
    return n;
}

/* Reads "HTTP/1.x NNN[ reason]"; returns 0 and *status or a WS_HS_ERR_*. */
static int status_line(const char *line, size_t n, int *status)
{
    int minor;
    if (n < 12 || line[8] != ' ')
        return WS_HS_ERR_BAD_REQUEST;
    int r = parse_http_version(line, 8, &minor);
    if (r < 0)
        return r;
    if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
        (n > 12 && line[12] != ' '))
        return WS_HS_ERR_BAD_REQUEST;
    *status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    return 0;
}

int ws_handshake_parse_response(const char *buf, size_t len, const char *key, size_t key_len)
{
    size_t view = len < WS_HS_HEAD_MAX ? len : WS_HS_HEAD_MAX;
    size_t pos = 0, eol = 0;
    int status = 0;
    int r = next_line(buf, view, pos, &eol);
    if (r <= 0)
        return line_incomplete(r, len);
    r = status_line(buf, eol, &status);
    if (r < 0)
        return r;
    if (status != 101)
        return WS_HS_ERR_STATUS;
    pos = eol + 2;

    bool upgrade_websocket = false, connection_upgrade = false, extension = false;
    struct ws_span accept = {NULL, 0};
    for (;;) {
        r = next_line(buf, view, pos, &eol);
        if (r <= 0)
            return line_incomplete(r, len);
        if (eol == pos)
            break;
        struct ws_span name, value;
        r = split_header(buf + pos, eol - pos, &name, &value);
        if (r < 0)
            return r;
        if (ieq(name.ptr, name.len, "upgrade")) {
            upgrade_websocket |= list_has(value, "websocket");
        } else if (ieq(name.ptr, name.len, "connection")) {
            connection_upgrade |= list_has(value, "upgrade");
        } else if (ieq(name.ptr, name.len, "sec-websocket-extensions")) {
            extension = true;
        } else if (ieq(name.ptr, name.len, "sec-websocket-accept")) {
            r = set_once(&accept, value);
            if (r < 0)
                return r;
        }
        pos = eol + 2;
    }

    if (!upgrade_websocket)
        return WS_HS_ERR_UPGRADE;
    if (!connection_upgrade)
        return WS_HS_ERR_CONNECTION;
    if (extension)
        return WS_HS_ERR_EXTENSION;
    char expected[WS_HS_ACCEPT_LEN + 1];
    r = ws_accept_key(key, key_len, expected);
    if (r < 0)
        return r;
    if (accept.len != WS_HS_ACCEPT_LEN || memcmp(accept.ptr, expected, WS_HS_ACCEPT_LEN) != 0)
        return WS_HS_ERR_ACCEPT;
    return (int)(eol + 2);
}
