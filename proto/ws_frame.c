/* ws_frame.c: RFC 6455 frame parsing, fragment assembly, UTF-8 and close frames. */
#include "ws_frame.h"

#include <string.h>

#define WS_FIN 0x80
#define WS_RSV 0x70
#define WS_OPCODE 0x0F
#define WS_MASKED 0x80
#define WS_LEN7 0x7F

static bool opcode_known(unsigned op)
{
    switch (op) {
    case WS_OP_CONTINUATION:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        return true;
    default:
        return false;
    }
}

static bool opcode_control(unsigned op)
{
    return (op & 0x8) != 0;
}

/* Reads n big-endian bytes. */
static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int ws_frame_parse_header(const uint8_t *buf, size_t len, enum ws_role role,
                          size_t max_payload, struct ws_frame *f)
{
    if (max_payload > WS_PAYLOAD_LIMIT_MAX)
        max_payload = WS_PAYLOAD_LIMIT_MAX;

    /* Each check runs as soon as the byte it needs is there, so a broken
     * stream fails at the earliest byte that proves it broken. */
    if (len < 1)
        return WS_NEED_MORE;
    uint8_t b0 = buf[0];
    if (b0 & WS_RSV)
        return WS_ERR_RSV;
    unsigned op = b0 & WS_OPCODE;
    if (!opcode_known(op))
        return WS_ERR_OPCODE;
    bool control = opcode_control(op);
    bool fin = (b0 & WS_FIN) != 0;
    if (control && !fin)
        return WS_ERR_CONTROL_FRAGMENTED;

    if (len < 2)
        return WS_NEED_MORE;
    uint8_t b1 = buf[1];
    bool masked = (b1 & WS_MASKED) != 0;
    if (role == WS_ROLE_SERVER && !masked)
        return WS_ERR_MASK_REQUIRED;
    if (role == WS_ROLE_CLIENT && masked)
        return WS_ERR_MASK_FORBIDDEN;
    unsigned len7 = b1 & WS_LEN7;
    if (control && len7 > WS_CONTROL_PAYLOAD_MAX)
        return WS_ERR_CONTROL_TOO_BIG;

    size_t pos = 2;
    uint64_t payload_len = len7;
    if (len7 == 126) {
        if (len < 4)
            return WS_NEED_MORE;
        payload_len = load_be(buf + 2, 2);
        if (payload_len < 126)
            return WS_ERR_LENGTH;
        pos = 4;
    } else if (len7 == 127) {
        if (len < 10)
            return WS_NEED_MORE;
        payload_len = load_be(buf + 2, 8);
        if ((payload_len >> 63) != 0 || payload_len <= 0xFFFF)
            return WS_ERR_LENGTH;
        pos = 10;
    }
    if (!control && payload_len > max_payload)
        return WS_ERR_TOO_BIG;

    uint8_t mask[4] = {0, 0, 0, 0};
    if (masked) {
        if (len < pos + 4)
            return WS_NEED_MORE;
        memcpy(mask, buf + pos, 4);
        pos += 4;
    }

    f->fin = fin;
    f->masked = masked;
    f->opcode = (uint8_t)op;
    memcpy(f->mask, mask, 4);
    f->header_len = pos;
    f->payload_len = (size_t)payload_len;
    f->payload = buf + pos;
    return (int)pos;
}

int ws_frame_parse(const uint8_t *buf, size_t len, enum ws_role role,
                   size_t max_payload, struct ws_frame *f)
{
    struct ws_frame frame;
    int r = ws_frame_parse_header(buf, len, role, max_payload, &frame);
    if (r < 0)
        return r;
    /* header_len <= 14 and payload_len <= WS_PAYLOAD_LIMIT_MAX or 125. */
    size_t total = frame.header_len + frame.payload_len;
    if (len < total)
        return WS_NEED_MORE;
    *f = frame;
    return (int)total;
}

void ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t offset)
{
    /* Eight key bytes rotated to the starting position; XOR a word at a time
     * through memcpy, which works at any alignment and in any byte order. */
    uint8_t key[8];
    for (size_t i = 0; i < 8; i++)
        key[i] = mask[(offset + i) & 3];
    uint64_t k;
    memcpy(&k, key, 8);

    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        w[0] ^= k;
        w[1] ^= k;
        w[2] ^= k;
        w[3] ^= k;
        memcpy(p + i, w, 32);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] ^= key[i & 7];
}

void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                  const uint8_t mask[4])
{
    uint64_t k;
    uint8_t key[8];
    for (size_t i = 0; i < 8; i++)
        key[i] = mask[i & 3];
    memcpy(&k, key, 8);

    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ key[i & 7];
}

size_t ws_frame_header_len(uint64_t len, bool masked)
{
    size_t n = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    return masked ? n + 4 : n;
}

int ws_frame_header(uint8_t *out, int opcode, int fin, uint64_t len,
                    const uint8_t *mask)
{
    if (opcode < 0 || !opcode_known((unsigned)opcode))
        return WS_ERR_INVALID;
    if (opcode_control((unsigned)opcode) && (!fin || len > WS_CONTROL_PAYLOAD_MAX))
        return WS_ERR_INVALID;
    if ((len >> 63) != 0)
        return WS_ERR_INVALID;

    uint8_t mask_bit = mask ? WS_MASKED : 0;
    size_t pos;
    out[0] = (uint8_t)((fin ? WS_FIN : 0) | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(mask_bit | len);
        pos = 2;
    } else if (len <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        pos = 4;
    } else {
        out[1] = mask_bit | 127;
        for (size_t i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        pos = 10;
    }
    if (mask) {
        memcpy(out + pos, mask, 4);
        pos += 4;
    }
    return (int)pos;
}

uint16_t ws_err_close_code(int err)
{
    switch (err) {
    case WS_ERR_RSV:
    case WS_ERR_OPCODE:
    case WS_ERR_CONTROL_FRAGMENTED:
    case WS_ERR_CONTROL_TOO_BIG:
    case WS_ERR_LENGTH:
    case WS_ERR_MASK_REQUIRED:
    case WS_ERR_MASK_FORBIDDEN:
    case WS_ERR_CONTINUATION:
    case WS_ERR_FRAGMENT_OPEN:
    case WS_ERR_CLOSE_PAYLOAD:
    case WS_ERR_CLOSE_CODE:
        return WS_CLOSE_PROTOCOL;
    case WS_ERR_UTF8:
        return WS_CLOSE_BAD_DATA;
    case WS_ERR_TOO_BIG:
        return WS_CLOSE_TOO_BIG;
    default:
        return WS_CLOSE_INTERNAL;
    }
}

const char *ws_strerror(int err)
{
    switch (err) {
    case WS_OK: return "ok";
    case WS_ERR_INVALID: return "invalid argument";
    case WS_NEED_MORE: return "incomplete frame";
    case WS_ERR_RSV: return "reserved bits set";
    case WS_ERR_OPCODE: return "reserved opcode";
    case WS_ERR_CONTROL_FRAGMENTED: return "fragmented control frame";
    case WS_ERR_CONTROL_TOO_BIG: return "control frame too big";
    case WS_ERR_LENGTH: return "bad payload length encoding";
    case WS_ERR_MASK_REQUIRED: return "client frame not masked";
    case WS_ERR_MASK_FORBIDDEN: return "server frame masked";
    case WS_ERR_TOO_BIG: return "message too big";
    case WS_ERR_CONTINUATION: return "continuation without a message";
    case WS_ERR_FRAGMENT_OPEN: return "new message inside a fragmented one";
    case WS_ERR_UTF8: return "invalid UTF-8";
    case WS_ERR_CLOSE_PAYLOAD: return "close payload of one byte";
    case WS_ERR_CLOSE_CODE: return "invalid close code";
    default: return "unknown error";
    }
}

/* --- UTF-8 ---------------------------------------------------------------- */

int ws_utf8_feed(struct ws_utf8 *st, const uint8_t *s, size_t len)
{
    /* The byte ranges of Unicode table 3-7: the first continuation byte's
     * range excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
    uint8_t need = st->need, lo = st->lo, hi = st->hi;
    size_t i = 0;
    while (i < len) {
        if (need == 0) {
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i == len)
                break;
            uint8_t c = s[i++];
            if (c < 0x80)
                continue;
            if (c < 0xC2) {
                return WS_ERR_UTF8;
            } else if (c < 0xE0) {
                need = 1;
                lo = 0x80;
                hi = 0xBF;
            } else if (c < 0xF0) {
                need = 2;
                lo = c == 0xE0 ? 0xA0 : 0x80;
                hi = c == 0xED ? 0x9F : 0xBF;
            } else if (c < 0xF5) {
                need = 3;
                lo = c == 0xF0 ? 0x90 : 0x80;
                hi = c == 0xF4 ? 0x8F : 0xBF;
            } else {
                return WS_ERR_UTF8;
            }
        } else {
            uint8_t c = s[i++];
            if (c < lo || c > hi)
                return WS_ERR_UTF8;
            need--;
            lo = 0x80;
            hi = 0xBF;
        }
    }
    st->need = need;
    st->lo = lo;
    st->hi = hi;
    return 0;
}

bool ws_utf8_complete(const struct ws_utf8 *st)
{
    return st->need == 0;
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    struct ws_utf8 st = {0, 0, 0};
    return ws_utf8_feed(&st, s, len) == 0 && ws_utf8_complete(&st);
}

/* --- message assembly ----------------------------------------------------- */

void ws_message_init(struct ws_message *m, uint8_t *buf, size_t cap)
{
    m->buf = buf;
    m->cap = buf ? cap : 0;
    ws_message_reset(m);
}

void ws_message_reset(struct ws_message *m)
{
    m->len = 0;
    m->opcode = 0;
    m->utf8 = (struct ws_utf8){0, 0, 0};
}

/* Drops the open message and passes err on. */
static int message_fail(struct ws_message *m, int err)
{
    ws_message_reset(m);
    return err;
}

int ws_message_feed(struct ws_message *m, const struct ws_frame *f,
                    const uint8_t *payload, struct ws_data *out)
{
    if (opcode_control(f->opcode))
        return WS_MESSAGE_CONTROL;

    if (f->opcode == WS_OP_CONTINUATION) {
        if (m->opcode == 0)
            return message_fail(m, WS_ERR_CONTINUATION);
    } else {
        if (m->opcode != 0)
            return message_fail(m, WS_ERR_FRAGMENT_OPEN);
        if (f->fin) {
            /* The common case: one frame, handed back in place. */
            if (f->opcode == WS_OP_TEXT && !ws_utf8_valid(payload, f->payload_len))
                return WS_ERR_UTF8;
            out->opcode = f->opcode;
            out->ptr = payload;
            out->len = f->payload_len;
            return WS_MESSAGE_DONE;
        }
        m->opcode = f->opcode;
        m->len = 0;
        m->utf8 = (struct ws_utf8){0, 0, 0};
    }

    if (f->payload_len > m->cap - m->len)
        return message_fail(m, WS_ERR_TOO_BIG);
    if (m->opcode == WS_OP_TEXT && ws_utf8_feed(&m->utf8, payload, f->payload_len) < 0)
        return message_fail(m, WS_ERR_UTF8);
    if (f->payload_len > 0) {
        memcpy(m->buf + m->len, payload, f->payload_len);
        m->len += f->payload_len;
    }
    if (!f->fin)
        return WS_MESSAGE_PARTIAL;
    if (m->opcode == WS_OP_TEXT && !ws_utf8_complete(&m->utf8))
        return message_fail(m, WS_ERR_UTF8);

    out->opcode = m->opcode;
    out->ptr = m->buf;
    out->len = m->len;
    ws_message_reset(m);
    return WS_MESSAGE_DONE;
}

/* --- close frames --------------------------------------------------------- */

bool ws_close_code_valid(unsigned code)
{
    /* 1004 is reserved, 1005/1006 are local-only, 1015 is TLS-local-only,
     * 1016-2999 are unassigned protocol codes, 1012-1014 are IANA-registered
     * (restart, try again later, bad gateway) and useful for a gateway. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int ws_close_parse(const uint8_t *payload, size_t len, struct ws_close *out)
{
    if (len == 0) {
        out->code = WS_CLOSE_NO_STATUS;
        out->reason = NULL;
        out->reason_len = 0;
        return 0;
    }
    if (len == 1)
        return WS_ERR_CLOSE_PAYLOAD;
    if (len > WS_CONTROL_PAYLOAD_MAX)
        return WS_ERR_CONTROL_TOO_BIG;
    unsigned code = (unsigned)load_be(payload, 2);
    if (!ws_close_code_valid(code))
        return WS_ERR_CLOSE_CODE;
    if (!ws_utf8_valid(payload + 2, len - 2))
        return WS_ERR_UTF8;
    out->code = (uint16_t)code;
    out->reason = (const char *)payload + 2;
    out->reason_len = len - 2;
    return 0;
}

int ws_close_frame(uint8_t *out, size_t cap, unsigned code,
                   const char *reason, size_t reason_len, const uint8_t *mask)
{
    if (reason_len > 0 && reason == NULL)
        return WS_ERR_INVALID;
    if (code == 0 && reason_len > 0)
        return WS_ERR_INVALID;
    if (code != 0 && !ws_close_code_valid(code))
        return WS_ERR_INVALID;
    if (!ws_utf8_valid((const uint8_t *)reason, reason_len))
        return WS_ERR_INVALID;

    size_t n = reason_len;
    if (n > WS_CLOSE_REASON_MAX) {
        /* reason[n] is the first byte left out; step back while it would
         * split a character. */
        n = WS_CLOSE_REASON_MAX;
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80)
            n--;
    }
    size_t body = code ? 2 + n : 0;
    size_t header = ws_frame_header_len(body, mask != NULL);
    if (cap < header + body)
        return WS_ERR_INVALID;

    int h = ws_frame_header(out, WS_OP_CLOSE, 1, body, mask);
    if (h < 0)
        return h;
    if (code) {
        out[h] = (uint8_t)(code >> 8);
        out[h + 1] = (uint8_t)code;
        if (n > 0)
            memcpy(out + h + 2, reason, n);
        if (mask)
            ws_mask(out + h, body, mask, 0);
    }
    return (int)(header + body);
}
