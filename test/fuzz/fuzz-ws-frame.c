/* fuzz-ws-frame.c: libFuzzer target for proto/ws_frame.c: frames, unmasking, message assembly, UTF-8, close frames.
 *
 * Input: one byte of settings, then a stream of frames as a connection would
 * read them.
 *   bit 0     role: 0 server (reads masked frames), 1 client
 *   bits 1-3  size of the assembly buffer, from assembly_caps
 *   bits 4-6  max_payload, from payload_limits
 *   bit 7     also take the rest of the input as one close payload, and as the
 *             reason of a close frame to encode (code from its first two bytes)
 * Each frame is checked against the contract in ws_frame.h: what its prefixes
 * parse to, that its header is what ws_frame_header() writes for it, that
 * unmasking in pieces equals unmasking at once, and that the assembler does
 * what a model of RFC 6455 written here does, with a UTF-8 decoder of its own.
 */
#include "fuzz.h"
#include "ws_frame.h"

static const size_t assembly_caps[8] = {0, 1, 2, 16, 125, 126, 4096, 65536};
static const size_t payload_limits[8] = {0, 1, 125, 126, 4096, 65535, 65536, SIZE_MAX};

/* Prefix checks run on this many frames of a stream, and on where it stops:
 * they cost two parses per byte of header. */
#define PREFIX_FRAMES 8

/* --- a second UTF-8 validator --------------------------------------------- */

enum ref_utf8 {
    REF_INVALID,
    REF_PARTIAL,  /* valid, but cut inside its last character */
    REF_COMPLETE,
};

static int ref_code_point_ok(uint32_t cp, uint32_t min)
{
    return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

/* Writes into st[i], for every i in 0..len, what the prefix s[0..i) is.
 * Decodes the slow way: each sequence to its code point, then the rules on
 * the code point (shortest form, no surrogate, at most U+10FFFF), rather than
 * ws_frame.c's table of byte ranges. A sequence cut off by the end is valid
 * when some completion is; its completions span [lo, hi], and no invalid
 * range lies strictly inside such a span, so trying both ends is enough. */
static void ref_utf8_prefixes(const uint8_t *s, size_t len, uint8_t *st)
{
    size_t i = 0;

    st[0] = REF_COMPLETE;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;

        if (c < 0x80) {
            st[++i] = REF_COMPLETE;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto invalid;
        }
        for (size_t have = 1; have < n; have++) {
            uint32_t lo = cp, hi = cp;
            for (size_t k = have; k < n; k++) {
                lo = lo << 6;
                hi = hi << 6 | 0x3f;
            }
            if (!ref_code_point_ok(lo, min) && !ref_code_point_ok(hi, min))
                goto invalid;
            st[++i] = REF_PARTIAL;
            if (i == len)
                return;
            if ((s[i] & 0xc0) != 0x80)
                goto invalid;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if (!ref_code_point_ok(cp, min))
            goto invalid;
        st[++i] = REF_COMPLETE;
    }
    return;

invalid:
    while (i < len)
        st[++i] = REF_INVALID;
}

static enum ref_utf8 ref_utf8(const uint8_t *s, size_t len)
{
    uint8_t *st = fuzz_alloc(len + 1);
    ref_utf8_prefixes(s, len, st);
    enum ref_utf8 whole = st[len];
    free(st);
    return whole;
}

/* Checks ws_utf8_valid and ws_utf8_feed, fed in pieces whose sizes come from
 * the text itself, against the reference on every prefix fed. */
static void check_utf8(const uint8_t *s, size_t len)
{
    uint8_t *st = fuzz_alloc(len + 1);
    struct ws_utf8 u = {0, 0, 0};
    size_t at = 0;

    ref_utf8_prefixes(s, len, st);
    FUZZ_CHECK(ws_utf8_valid(s, len) == (st[len] == REF_COMPLETE));
    while (at < len) {
        size_t piece = (size_t)(s[at] % 11) + 1;
        if (piece > len - at)
            piece = len - at;
        uint8_t *copy = fuzz_copy(s + at, piece);
        int r = ws_utf8_feed(&u, copy, piece);
        free(copy);
        at += piece;
        FUZZ_CHECK(r == 0 || r == WS_ERR_UTF8);
        FUZZ_CHECK((r == 0) == (st[at] != REF_INVALID));
        if (r < 0)
            break;
        FUZZ_CHECK(ws_utf8_complete(&u) == (st[at] == REF_COMPLETE));
    }
    free(st);
}

/* --- frames ---------------------------------------------------------------- */

static int parse_error(int r)
{
    return r == WS_ERR_RSV || r == WS_ERR_OPCODE || r == WS_ERR_CONTROL_FRAGMENTED ||
           r == WS_ERR_CONTROL_TOO_BIG || r == WS_ERR_LENGTH || r == WS_ERR_MASK_REQUIRED ||
           r == WS_ERR_MASK_FORBIDDEN || r == WS_ERR_TOO_BIG;
}

static int control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}

static void check_same_frame(const struct ws_frame *a, const struct ws_frame *b)
{
    FUZZ_CHECK(a->fin == b->fin && a->masked == b->masked && a->opcode == b->opcode);
    FUZZ_CHECK(memcmp(a->mask, b->mask, 4) == 0);
    FUZZ_CHECK(a->header_len == b->header_len && a->payload_len == b->payload_len);
}

/* What every prefix of the len bytes at buf must parse to, given what the
 * whole parses to (r, and rh for the header alone): a complete frame's
 * prefixes are incomplete; an error is either not proven yet or the same
 * error, and once proven it stays. Each prefix is an exact-size copy. */
static void check_prefixes(const uint8_t *buf, size_t len, enum ws_role role, size_t limit,
                           int r, int rh, size_t header_len)
{
    size_t last = len < WS_FRAME_HEADER_MAX + 1 ? len : WS_FRAME_HEADER_MAX + 1;
    int proven = 0;

    /* Every prefix through the longest header, and the frame less its last
     * byte. */
    for (size_t k = 0; k <= last + 1; k++) {
        size_t n = k;
        if (k == last + 1) {
            if (r <= 0 || (size_t)r - 1 <= last)
                break;
            n = (size_t)r - 1;
        }
        uint8_t *copy = fuzz_copy(buf, n);
        struct ws_frame f;
        int rk = ws_frame_parse(copy, n, role, limit, &f);
        int rhk = ws_frame_parse_header(copy, n, role, limit, &f);
        free(copy);

        if (r > 0) {
            FUZZ_CHECK(n >= (size_t)r ? rk == r : rk == WS_NEED_MORE);
            FUZZ_CHECK(n >= header_len ? rhk == (int)header_len : rhk == WS_NEED_MORE);
        } else if (r == WS_NEED_MORE) {
            FUZZ_CHECK(rk == WS_NEED_MORE);
            FUZZ_CHECK(rh > 0 && n >= header_len ? rhk == rh : rhk == WS_NEED_MORE);
        } else {
            FUZZ_CHECK(rk == r || (rk == WS_NEED_MORE && !proven));
            FUZZ_CHECK(rhk == rk);
            proven = rk == r;
        }
    }
}

/* The payload XORed with the key by the RFC's definition, next to ws_mask in
 * two pieces and ws_mask_copy at once. Returns the unmasked copy (malloc'd). */
static uint8_t *unmask(const struct ws_frame *f)
{
    size_t n = f->payload_len;
    uint8_t *piecewise = fuzz_copy(f->payload, n);

    if (!f->masked)
        return piecewise;
    uint8_t *whole = fuzz_alloc(n);
    size_t split = n ? f->mask[0] % (n + 1) : 0;
    ws_mask(piecewise, split, f->mask, 0);
    ws_mask(piecewise + split, n - split, f->mask, split);
    ws_mask_copy(whole, f->payload, n, f->mask);
    for (size_t i = 0; i < n; i++) {
        uint8_t want = f->payload[i] ^ f->mask[i % 4];
        FUZZ_CHECK(piecewise[i] == want && whole[i] == want);
    }
    free(whole);
    return piecewise;
}

/* --- close frames ---------------------------------------------------------- */

/* RFC 6455 7.4 and the IANA registry: what may be sent in a close frame. */
static int ref_close_code_ok(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    switch (code) {
    case 1000: case 1001: case 1002: case 1003:
    case 1007: case 1008: case 1009: case 1010: case 1011: case 1012: case 1013: case 1014:
        return 1;
    default:
        return 0;
    }
}

/* Parses a whole close frame that ws_close_frame wrote into *c. Returns its
 * unmasked body (malloc'd), into which c points. */
static uint8_t *parse_close_frame(const uint8_t *frame, size_t len, int masked,
                                  struct ws_close *c)
{
    struct ws_frame f;
    int r = ws_frame_parse(frame, len, masked ? WS_ROLE_SERVER : WS_ROLE_CLIENT,
                           WS_CONTROL_PAYLOAD_MAX, &f);
    FUZZ_CHECK(r == (int)len && f.opcode == WS_OP_CLOSE && f.fin);
    uint8_t *body = unmask(&f);
    FUZZ_CHECK(ws_close_parse(body, f.payload_len, c) == 0);
    return body;
}

/* Encodes a close frame for code and reason, into a buffer of exactly the
 * right size (one byte less must be refused), and checks what it holds: the
 * code, and the reason cut at the last whole character within 123 bytes. */
static void check_close_encode(unsigned code, const uint8_t *reason, size_t len,
                               const uint8_t *mask)
{
    uint8_t out[WS_CLOSE_FRAME_MAX];
    int r = ws_close_frame(out, sizeof out, code, (const char *)reason, len, mask);
    int valid = (code == 0 ? len == 0 : ref_close_code_ok(code)) &&
                ref_utf8(reason, len) == REF_COMPLETE;

    if (!valid) {
        FUZZ_CHECK(r == WS_ERR_INVALID);
        return;
    }
    FUZZ_CHECK(r > 0);
    uint8_t *exact = fuzz_alloc((size_t)r);
    FUZZ_CHECK(ws_close_frame(exact, (size_t)r - 1, code, (const char *)reason, len, mask) ==
               WS_ERR_INVALID);
    FUZZ_CHECK(ws_close_frame(exact, (size_t)r, code, (const char *)reason, len, mask) == r);
    FUZZ_CHECK(memcmp(exact, out, (size_t)r) == 0);

    struct ws_close c;
    uint8_t *body = parse_close_frame(exact, (size_t)r, mask != NULL, &c);
    free(exact);
    FUZZ_CHECK(c.code == (code ? code : WS_CLOSE_NO_STATUS));
    FUZZ_CHECK(c.reason_len <= WS_CLOSE_REASON_MAX && c.reason_len <= len);
    FUZZ_CHECK(c.reason_len == 0 || memcmp(c.reason, reason, c.reason_len) == 0);
    if (len <= WS_CLOSE_REASON_MAX) {
        FUZZ_CHECK(c.reason_len == len);
    } else {
        /* Cut before the first byte left out when that byte starts a
         * character, else at most three bytes further back. */
        FUZZ_CHECK((reason[c.reason_len] & 0xc0) != 0x80);
        FUZZ_CHECK(c.reason_len + 3 >= WS_CLOSE_REASON_MAX);
    }
    free(body);
}

/* ws_close_parse of payload (unmasked) against the RFC; a good one is encoded
 * again and must come back the same. */
static void check_close_parse(const uint8_t *payload, size_t len, const uint8_t *mask)
{
    struct ws_close c;
    FUZZ_POISON(c);
    int r = ws_close_parse(payload, len, &c);
    int want = 0;
    unsigned code = len >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 0;

    if (len == 1)
        want = WS_ERR_CLOSE_PAYLOAD;
    else if (len > WS_CONTROL_PAYLOAD_MAX)
        want = WS_ERR_CONTROL_TOO_BIG;
    else if (len >= 2 && !ref_close_code_ok(code))
        want = WS_ERR_CLOSE_CODE;
    else if (len >= 2 && ref_utf8(payload + 2, len - 2) != REF_COMPLETE)
        want = WS_ERR_UTF8;
    FUZZ_CHECK(r == want);
    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(c));
        FUZZ_CHECK(ws_err_close_code(r) == (r == WS_ERR_UTF8 ? WS_CLOSE_BAD_DATA
                                                              : WS_CLOSE_PROTOCOL));
        return;
    }
    if (len == 0) {
        FUZZ_CHECK(c.code == WS_CLOSE_NO_STATUS && c.reason_len == 0);
        check_close_encode(0, NULL, 0, mask);
        return;
    }
    FUZZ_CHECK(c.code == code && c.reason == (const char *)payload + 2 && c.reason_len == len - 2);
    check_close_encode(code, payload + 2, len - 2, mask);
}

/* --- the assembler and its model ------------------------------------------ */

struct model {
    uint8_t opcode; /* of the open message, or 0 */
    size_t len;
    uint8_t *buf;   /* what the open message holds so far */
    size_t cap;
};

static void model_reset(struct model *mo)
{
    mo->opcode = 0;
    mo->len = 0;
}

/* Feeds one data frame (payload unmasked) to the assembler and to the model,
 * and compares what they say. */
static void check_feed(struct ws_message *m, struct model *mo, const struct ws_frame *f,
                       const uint8_t *payload)
{
    struct ws_data out;
    FUZZ_POISON(out);
    int r = ws_message_feed(m, f, payload, &out);
    size_t n = f->payload_len;

    if (control(f->opcode)) {
        FUZZ_CHECK(r == WS_MESSAGE_CONTROL && FUZZ_UNTOUCHED(out));
        return;
    }
    if (f->opcode == WS_OP_CONTINUATION && mo->opcode == 0) {
        FUZZ_CHECK(r == WS_ERR_CONTINUATION);
        goto failed;
    }
    if (f->opcode != WS_OP_CONTINUATION && mo->opcode != 0) {
        FUZZ_CHECK(r == WS_ERR_FRAGMENT_OPEN);
        goto failed;
    }
    if (f->opcode != WS_OP_CONTINUATION && f->fin) {
        /* One frame: handed back in place, bound by the parser's limit only. */
        if (f->opcode == WS_OP_TEXT && ref_utf8(payload, n) != REF_COMPLETE) {
            FUZZ_CHECK(r == WS_ERR_UTF8 && FUZZ_UNTOUCHED(out));
            return;
        }
        FUZZ_CHECK(r == WS_MESSAGE_DONE && out.opcode == f->opcode);
        FUZZ_CHECK(out.ptr == payload && out.len == n);
        return;
    }
    if (f->opcode != WS_OP_CONTINUATION) {
        mo->opcode = f->opcode;
        mo->len = 0;
    }

    int too_big = n > mo->cap - mo->len;
    uint8_t *joined = fuzz_alloc(mo->len + n);
    if (mo->len > 0)
        memcpy(joined, mo->buf, mo->len);
    if (n > 0)
        memcpy(joined + mo->len, payload, n);
    enum ref_utf8 text = mo->opcode == WS_OP_TEXT ? ref_utf8(joined, mo->len + n) : REF_COMPLETE;
    if (too_big || text == REF_INVALID) {
        /* The order of the two checks is ws_frame.c's business. */
        FUZZ_CHECK((too_big && r == WS_ERR_TOO_BIG) || (text == REF_INVALID && r == WS_ERR_UTF8));
        free(joined);
        goto failed;
    }
    if (n > 0)
        memcpy(mo->buf + mo->len, payload, n);
    mo->len += n;
    free(joined);
    if (!f->fin) {
        FUZZ_CHECK(r == WS_MESSAGE_PARTIAL && FUZZ_UNTOUCHED(out));
        return;
    }
    if (text != REF_COMPLETE) {
        FUZZ_CHECK(r == WS_ERR_UTF8);
        goto failed;
    }
    FUZZ_CHECK(r == WS_MESSAGE_DONE && out.opcode == mo->opcode && out.len == mo->len);
    FUZZ_CHECK(out.len == 0 || (out.ptr == m->buf && memcmp(out.ptr, mo->buf, out.len) == 0));
    model_reset(mo);
    FUZZ_CHECK(m->opcode == 0 && m->len == 0);
    return;

failed:
    FUZZ_CHECK(FUZZ_UNTOUCHED(out));
    FUZZ_CHECK(ws_err_close_code(r) == (r == WS_ERR_UTF8     ? WS_CLOSE_BAD_DATA
                                        : r == WS_ERR_TOO_BIG ? WS_CLOSE_TOO_BIG
                                                              : WS_CLOSE_PROTOCOL));
    model_reset(mo);
    FUZZ_CHECK(m->opcode == 0 && m->len == 0);
}

/* --- one frame of the stream ----------------------------------------------- */

/* Parses the frame at buf and checks it. Returns the bytes it took, or 0 when
 * the stream ends there (incomplete or broken). */
static size_t check_frame(const uint8_t *buf, size_t len, enum ws_role role, size_t limit,
                          int prefixes, struct ws_message *m, struct model *mo)
{
    struct ws_frame f, h;
    FUZZ_POISON(f);
    FUZZ_POISON(h);
    int r = ws_frame_parse(buf, len, role, limit, &f);
    int rh = ws_frame_parse_header(buf, len, role, limit, &h);

    if (rh > 0) {
        FUZZ_CHECK(rh == (int)h.header_len && h.header_len >= 2 &&
                   h.header_len <= WS_FRAME_HEADER_MAX && h.payload == buf + h.header_len);
    } else {
        FUZZ_CHECK(rh == WS_NEED_MORE || parse_error(rh));
        FUZZ_CHECK(FUZZ_UNTOUCHED(h));
    }
    if (prefixes)
        check_prefixes(buf, len, role, limit, r, rh, rh > 0 ? h.header_len : 0);
    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(f));
        if (rh > 0)
            FUZZ_CHECK(r == WS_NEED_MORE && h.header_len + h.payload_len > len);
        else
            FUZZ_CHECK(r == rh);
        if (r != WS_NEED_MORE) {
            FUZZ_CHECK(ws_err_close_code(r) == (r == WS_ERR_TOO_BIG ? WS_CLOSE_TOO_BIG
                                                                    : WS_CLOSE_PROTOCOL));
            FUZZ_CHECK(strcmp(ws_strerror(r), "unknown error") != 0);
        }
        return 0;
    }

    FUZZ_CHECK(rh > 0);
    check_same_frame(&f, &h);
    FUZZ_CHECK((size_t)r == f.header_len + f.payload_len && (size_t)r <= len);
    FUZZ_CHECK(f.payload == buf + f.header_len);
    FUZZ_CHECK(f.masked == (role == WS_ROLE_SERVER));
    if (!f.masked)
        FUZZ_CHECK(memcmp(f.mask, "\0\0\0\0", 4) == 0);
    if (control(f.opcode))
        FUZZ_CHECK(f.fin && f.payload_len <= WS_CONTROL_PAYLOAD_MAX);
    else
        FUZZ_CHECK(f.payload_len <= limit && f.payload_len <= WS_PAYLOAD_LIMIT_MAX);

    /* The parser refuses every header but the shortest, so the encoder must
     * write the very same bytes for the frame. */
    uint8_t header[WS_FRAME_HEADER_MAX];
    int hn = ws_frame_header(header, f.opcode, f.fin, f.payload_len, f.masked ? f.mask : NULL);
    FUZZ_CHECK(hn == (int)f.header_len && memcmp(header, buf, f.header_len) == 0);
    FUZZ_CHECK(ws_frame_header_len(f.payload_len, f.masked) == f.header_len);

    uint8_t *payload = unmask(&f);
    if (f.opcode == WS_OP_TEXT)
        check_utf8(payload, f.payload_len);
    if (f.opcode == WS_OP_CLOSE)
        check_close_parse(payload, f.payload_len, f.masked ? f.mask : NULL);
    check_feed(m, mo, &f, payload);
    free(payload);
    return (size_t)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t settings = data[0];
    enum ws_role role = settings & 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
    size_t cap = assembly_caps[(settings >> 1) & 7];
    size_t limit = payload_limits[(settings >> 4) & 7];
    const uint8_t *stream = data + 1;
    size_t len = size - 1;

    if (settings & 0x80) {
        check_utf8(stream, len);
        check_close_parse(stream, len, NULL);
        if (len >= 2) {
            unsigned code = (unsigned)stream[0] << 8 | stream[1];
            check_close_encode(code, stream + 2, len - 2, NULL);
            check_close_encode(code, stream + 2, len - 2, (const uint8_t *)"\x12\x34\x56\x78");
        }
    }

    struct ws_message m;
    struct model mo = {0, 0, fuzz_alloc(cap), cap};
    uint8_t *assembly = cap ? fuzz_alloc(cap) : NULL;
    ws_message_init(&m, assembly, cap);
    size_t pos = 0;
    for (unsigned frames = 0;; frames++) {
        size_t used = check_frame(stream + pos, len - pos, role, limit, frames < PREFIX_FRAMES,
                                  &m, &mo);
        if (used == 0) {
            /* Where the stream stops is always worth its prefixes. */
            if (frames >= PREFIX_FRAMES)
                check_frame(stream + pos, len - pos, role, limit, 1, &m, &mo);
            break;
        }
        pos += used;
    }
    free(assembly);
    free(mo.buf);
    return 0;
}
