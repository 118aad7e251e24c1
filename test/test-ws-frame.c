/* test-ws-frame.c: unit tests of the RFC 6455 frame parser, assembler, encoder and UTF-8 validator. */
#include "ws_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0
#include "test-util.h"

#define LIMIT 4096

/* Parses src[0..len) placed against the guard page; on success the frame's
 * payload pointer is rebased onto src. */
static int parse_guarded(const uint8_t *src, size_t len, enum ws_role role, size_t limit,
                         struct ws_frame *f)
{
    struct guarded g;
    uint8_t *data = guard_place(&g, src, len);
    int r = ws_frame_parse(data, len, role, limit, f);
    if (r > 0)
        f->payload = src + (f->payload - data);
    guard_release(&g);
    return r;
}

/* --- RFC 6455 section 5.7 examples --------------------------------------- */

static void test_rfc_examples(void)
{
    struct ws_frame f;
    uint8_t payload[16];

    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ(parse_guarded(hello, sizeof hello, WS_ROLE_CLIENT, LIMIT, &f), 7);
    CHECK(f.fin && !f.masked);
    CHECK_EQ(f.opcode, WS_OP_TEXT);
    CHECK_EQ(f.header_len, 2);
    CHECK_EQ(f.payload_len, 5);
    CHECK(f.payload == hello + 2);
    CHECK(memcmp(f.payload, "Hello", 5) == 0);
    /* A server refuses it: clients must mask. */
    CHECK_EQ(parse_guarded(hello, sizeof hello, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_MASK_REQUIRED);

    static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                     0x9f, 0x4d, 0x51, 0x58};
    CHECK_EQ(parse_guarded(masked, sizeof masked, WS_ROLE_SERVER, LIMIT, &f), 11);
    CHECK(f.fin && f.masked);
    CHECK_EQ(f.header_len, 6);
    CHECK_EQ(f.payload_len, 5);
    CHECK(memcmp(f.mask, "\x37\xfa\x21\x3d", 4) == 0);
    memcpy(payload, f.payload, f.payload_len);
    ws_mask(payload, f.payload_len, f.mask, 0);
    CHECK(memcmp(payload, "Hello", 5) == 0);
    CHECK_EQ(parse_guarded(masked, sizeof masked, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_MASK_FORBIDDEN);

    static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
    CHECK_EQ(parse_guarded(frag1, sizeof frag1, WS_ROLE_CLIENT, LIMIT, &f), 5);
    CHECK(!f.fin);
    CHECK_EQ(f.opcode, WS_OP_TEXT);
    CHECK_EQ(parse_guarded(frag2, sizeof frag2, WS_ROLE_CLIENT, LIMIT, &f), 4);
    CHECK(f.fin);
    CHECK_EQ(f.opcode, WS_OP_CONTINUATION);

    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK_EQ(parse_guarded(ping, sizeof ping, WS_ROLE_CLIENT, LIMIT, &f), 7);
    CHECK_EQ(f.opcode, WS_OP_PING);
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                   0x9f, 0x4d, 0x51, 0x58};
    CHECK_EQ(parse_guarded(pong, sizeof pong, WS_ROLE_SERVER, LIMIT, &f), 11);
    CHECK_EQ(f.opcode, WS_OP_PONG);

    /* 256 bytes and 64 KiB of binary in one unmasked frame. */
    static uint8_t big[10 + 65536];
    memset(big, 0, sizeof big);
    big[0] = 0x82;
    big[1] = 0x7E;
    big[2] = 0x01;
    big[3] = 0x00;
    CHECK_EQ(parse_guarded(big, 4 + 256, WS_ROLE_CLIENT, LIMIT, &f), 260);
    CHECK_EQ(f.payload_len, 256);
    static const uint8_t len64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    memcpy(big, len64k, sizeof len64k);
    CHECK_EQ(parse_guarded(big, sizeof big, WS_ROLE_CLIENT, 65536, &f), 10 + 65536);
    CHECK_EQ(f.payload_len, 65536);
    CHECK_EQ(parse_guarded(big, sizeof big - 1, WS_ROLE_CLIENT, 65536, &f), WS_NEED_MORE);

    /* Encoder reproduces the RFC bytes. */
    uint8_t h[WS_FRAME_HEADER_MAX];
    CHECK_EQ(ws_frame_header(h, WS_OP_TEXT, 1, 5, NULL), 2);
    CHECK(memcmp(h, hello, 2) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_TEXT, 1, 5, (const uint8_t *)"\x37\xfa\x21\x3d"), 6);
    CHECK(memcmp(h, masked, 6) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_TEXT, 0, 3, NULL), 2);
    CHECK(memcmp(h, frag1, 2) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_CONTINUATION, 1, 2, NULL), 2);
    CHECK(memcmp(h, frag2, 2) == 0);
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, 1, 65536, NULL), 10);
    CHECK(memcmp(h, len64k, 10) == 0);
    uint8_t masked_out[5];
    ws_mask_copy(masked_out, (const uint8_t *)"Hello", 5, (const uint8_t *)"\x37\xfa\x21\x3d");
    CHECK(memcmp(masked_out, masked + 6, 5) == 0);
}

/* --- length encodings ----------------------------------------------------- */

static void test_lengths(void)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    static const uint8_t key[4] = {1, 2, 3, 4};
    size_t max = 70000;
    uint8_t *frame = malloc(WS_FRAME_HEADER_MAX + max);
    CHECK(frame != NULL);
    if (!frame)
        return;

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int m = 0; m < 2; m++) {
            uint64_t n = lens[i];
            size_t want = (n < 126 ? 2 : n <= 65535 ? 4 : 10) + (m ? 4 : 0);
            int h = ws_frame_header(frame, WS_OP_BINARY, 1, n, m ? key : NULL);
            CHECK_EQ(h, want);
            CHECK_EQ(ws_frame_header_len(n, m), want);
            for (size_t j = 0; j < n; j++)
                frame[h + j] = (uint8_t)j;
            enum ws_role role = m ? WS_ROLE_SERVER : WS_ROLE_CLIENT;
            struct ws_frame f;
            CHECK_EQ(parse_guarded(frame, (size_t)h + n, role, max, &f), (long long)(h + n));
            CHECK_EQ(f.payload_len, n);
            CHECK_EQ(f.header_len, h);
            CHECK_EQ(f.masked, m);
            /* Header only: every shorter prefix needs more. */
            CHECK_EQ(ws_frame_parse_header(frame, (size_t)h, role, max, &f), h);
            for (int k = 0; k < h; k++)
                CHECK_EQ(ws_frame_parse_header(frame, (size_t)k, role, max, &f), WS_NEED_MORE);
            if (n > 0)
                CHECK_EQ(parse_guarded(frame, (size_t)h + n - 1, role, max, &f), WS_NEED_MORE);
            /* One byte over the limit is refused; at the limit accepted. */
            if (n > 0) {
                CHECK_EQ(ws_frame_parse_header(frame, (size_t)h, role, n - 1, &f), WS_ERR_TOO_BIG);
                CHECK_EQ(ws_frame_parse_header(frame, (size_t)h, role, n, &f), h);
            }
        }
    }
    free(frame);

    /* 2^63 and above cannot be encoded. */
    uint8_t h[WS_FRAME_HEADER_MAX];
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, 1, UINT64_C(1) << 63, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_frame_header(h, WS_OP_BINARY, 1, (UINT64_C(1) << 63) - 1, NULL), 10);
}

static void test_non_minimal(void)
{
    struct ws_frame f;
    /* 125 in the 16-bit form, 0 in the 16-bit form, 65535 and 126 in the 64-bit form. */
    static const uint8_t a[] = {0x82, 0x7E, 0x00, 0x7D};
    static const uint8_t b[] = {0x82, 0x7E, 0x00, 0x00};
    static const uint8_t c[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t d[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x7E};
    static const uint8_t msb[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t huge[] = {0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK_EQ(parse_guarded(a, sizeof a, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_LENGTH);
    CHECK_EQ(parse_guarded(b, sizeof b, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_LENGTH);
    CHECK_EQ(parse_guarded(c, sizeof c, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_LENGTH);
    CHECK_EQ(parse_guarded(d, sizeof d, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_LENGTH);
    CHECK_EQ(parse_guarded(msb, sizeof msb, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_LENGTH);
    CHECK_EQ(parse_guarded(huge, sizeof huge, WS_ROLE_CLIENT, SIZE_MAX, &f), WS_ERR_TOO_BIG);
    CHECK_EQ(ws_err_close_code(WS_ERR_LENGTH), 1002);
}

static void test_oversize_from_header(void)
{
    struct ws_frame f;
    /* A masked 4097-byte binary frame: the 4 header bytes are enough. */
    static const uint8_t over[] = {0x82, 0xFE, 0x10, 0x01};
    CHECK_EQ(parse_guarded(over, sizeof over, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_TOO_BIG);
    CHECK_EQ(ws_err_close_code(WS_ERR_TOO_BIG), 1009);
    static const uint8_t at[] = {0x82, 0xFE, 0x10, 0x00};
    CHECK_EQ(parse_guarded(at, sizeof at, WS_ROLE_SERVER, LIMIT, &f), WS_NEED_MORE);
    /* The 64-bit form, with no mask key nor payload yet. */
    static const uint8_t over64[] = {0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0};
    CHECK_EQ(parse_guarded(over64, sizeof over64, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_TOO_BIG);
    /* A continuation is bound by the limit too. */
    static const uint8_t cont[] = {0x00, 0xFE, 0x10, 0x01};
    CHECK_EQ(parse_guarded(cont, sizeof cont, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_TOO_BIG);
    /* Limits beyond WS_PAYLOAD_LIMIT_MAX are clamped so a length fits an int. */
    static const uint8_t gib2[] = {0x82, 0x7F, 0, 0, 0, 0, 0x80, 0, 0, 0};
    CHECK_EQ(parse_guarded(gib2, sizeof gib2, WS_ROLE_CLIENT, SIZE_MAX, &f), WS_ERR_TOO_BIG);
    static const uint8_t gib1[] = {0x82, 0x7F, 0, 0, 0, 0, 0x40, 0, 0, 0};
    CHECK_EQ(parse_guarded(gib1, sizeof gib1, WS_ROLE_CLIENT, SIZE_MAX, &f), WS_NEED_MORE);
    CHECK_EQ(ws_frame_parse_header(gib1, sizeof gib1, WS_ROLE_CLIENT, SIZE_MAX, &f), 10);
    CHECK_EQ(f.payload_len, (size_t)1 << 30);
}

/* --- header bits ---------------------------------------------------------- */

static void test_header_bits(void)
{
    struct ws_frame f;
    uint8_t frame[] = {0x82, 0x80, 1, 2, 3, 4};

    for (int rsv = 1; rsv < 8; rsv++) {
        frame[0] = (uint8_t)(0x82 | rsv << 4);
        /* The first byte alone is enough. */
        CHECK_EQ(parse_guarded(frame, 1, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_RSV);
        CHECK_EQ(parse_guarded(frame, sizeof frame, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_RSV);
    }
    for (int op = 0; op < 16; op++) {
        bool known = op <= 2 || (op >= 8 && op <= 10);
        frame[0] = (uint8_t)(0x80 | op);
        int r = parse_guarded(frame, sizeof frame, WS_ROLE_SERVER, LIMIT, &f);
        if (known) {
            CHECK_EQ(r, 6);
            CHECK_EQ(f.opcode, op);
        } else {
            CHECK_EQ(r, WS_ERR_OPCODE);
            CHECK_EQ(parse_guarded(frame, 1, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_OPCODE);
        }
        uint8_t h[WS_FRAME_HEADER_MAX];
        CHECK_EQ(ws_frame_header(h, op, 1, 0, NULL) > 0, known);
    }
    uint8_t h[WS_FRAME_HEADER_MAX];
    CHECK_EQ(ws_frame_header(h, -1, 1, 0, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_frame_header(h, 16, 1, 0, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_err_close_code(WS_ERR_RSV), 1002);
    CHECK_EQ(ws_err_close_code(WS_ERR_OPCODE), 1002);
}

static void test_control_rules(void)
{
    struct ws_frame f;
    static const int ops[] = {WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG};
    for (size_t i = 0; i < 3; i++) {
        uint8_t frame[2 + 126] = {0};
        /* Without FIN: refused from the first byte. */
        frame[0] = (uint8_t)ops[i];
        frame[1] = 0;
        CHECK_EQ(parse_guarded(frame, 1, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_CONTROL_FRAGMENTED);
        /* 125 bytes: fine, even with a limit below it. */
        frame[0] = (uint8_t)(0x80 | ops[i]);
        frame[1] = 125;
        CHECK_EQ(parse_guarded(frame, 127, WS_ROLE_CLIENT, 10, &f), 127);
        /* 126 in any encoding: refused from the second byte. */
        frame[1] = 126;
        CHECK_EQ(parse_guarded(frame, 2, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_CONTROL_TOO_BIG);
        frame[1] = 127;
        CHECK_EQ(parse_guarded(frame, 2, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_CONTROL_TOO_BIG);

        uint8_t h[WS_FRAME_HEADER_MAX];
        CHECK_EQ(ws_frame_header(h, ops[i], 0, 0, NULL), WS_ERR_INVALID);
        CHECK_EQ(ws_frame_header(h, ops[i], 1, 126, NULL), WS_ERR_INVALID);
        CHECK_EQ(ws_frame_header(h, ops[i], 1, 125, NULL), 2);
    }
    CHECK_EQ(ws_err_close_code(WS_ERR_CONTROL_FRAGMENTED), 1002);
    CHECK_EQ(ws_err_close_code(WS_ERR_CONTROL_TOO_BIG), 1002);
    CHECK_EQ(ws_err_close_code(WS_ERR_MASK_REQUIRED), 1002);
    CHECK_EQ(ws_err_close_code(WS_ERR_MASK_FORBIDDEN), 1002);

    /* A masked data frame that a client receives is refused at byte 2. */
    static const uint8_t m[] = {0x82, 0x80};
    CHECK_EQ(parse_guarded(m, 2, WS_ROLE_CLIENT, LIMIT, &f), WS_ERR_MASK_FORBIDDEN);
    static const uint8_t u[] = {0x82, 0x00};
    CHECK_EQ(parse_guarded(u, 2, WS_ROLE_SERVER, LIMIT, &f), WS_ERR_MASK_REQUIRED);
}

/* --- streams and byte splits ---------------------------------------------- */

/* Appends a frame to stream; returns its new length. */
static size_t put_frame(uint8_t *stream, size_t at, int opcode, int fin, const void *payload,
                        size_t n, const uint8_t *mask)
{
    int h = ws_frame_header(stream + at, opcode, fin, n, mask);
    CHECK(h > 0);
    if (n > 0)
        memcpy(stream + at + (size_t)h, payload, n);
    if (mask)
        ws_mask(stream + at + (size_t)h, n, mask, 0);
    return at + (size_t)h + n;
}

struct seen {
    uint8_t opcode[16];
    bool fin[16];
    size_t len[16];
    size_t count;
};

/* Parses everything in stream[0..len) in one pass; returns the bytes used. */
static size_t parse_all(const uint8_t *stream, size_t len, enum ws_role role, struct seen *s)
{
    size_t pos = 0;
    for (;;) {
        struct ws_frame f;
        int r = ws_frame_parse(stream + pos, len - pos, role, LIMIT, &f);
        if (r == WS_NEED_MORE)
            return pos;
        CHECK(r > 0);
        if (r <= 0 || s->count == 16)
            return pos;
        s->opcode[s->count] = f.opcode;
        s->fin[s->count] = f.fin;
        s->len[s->count] = f.payload_len;
        s->count++;
        pos += (size_t)r;
    }
}

static void test_byte_splits(void)
{
    static uint8_t stream[2 * 70000];
    static const uint8_t key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
    static uint8_t text[300];
    memset(text, 'x', sizeof text);
    size_t n = 0;
    n = put_frame(stream, n, WS_OP_TEXT, 0, "Hel", 3, key);
    n = put_frame(stream, n, WS_OP_PING, 1, "p", 1, key);
    n = put_frame(stream, n, WS_OP_CONTINUATION, 1, "lo", 2, key);
    n = put_frame(stream, n, WS_OP_BINARY, 1, text, 126, key);
    n = put_frame(stream, n, WS_OP_BINARY, 1, "", 0, key);
    n = put_frame(stream, n, WS_OP_PONG, 1, "", 0, key);
    n = put_frame(stream, n, WS_OP_TEXT, 1, text, 300, key);
    n = put_frame(stream, n, WS_OP_CLOSE, 1, "\x03\xe8", 2, key);

    struct seen whole = {0};
    CHECK_EQ(parse_all(stream, n, WS_ROLE_SERVER, &whole), n);
    CHECK_EQ(whole.count, 8);
    CHECK_EQ(whole.opcode[7], WS_OP_CLOSE);
    CHECK_EQ(whole.len[6], 300);

    /* One byte at a time, against the guard page each time. */
    struct seen trickle = {0};
    size_t start = 0;
    for (size_t have = 0; have <= n; have++) {
        struct guarded g;
        uint8_t *data = guard_place(&g, stream + start, have - start);
        struct ws_frame f;
        int r = ws_frame_parse(data, have - start, WS_ROLE_SERVER, LIMIT, &f);
        guard_release(&g);
        if (r == WS_NEED_MORE)
            continue;
        CHECK(r > 0);
        if (r <= 0)
            break;
        CHECK_EQ((size_t)r, have - start);
        trickle.opcode[trickle.count] = f.opcode;
        trickle.fin[trickle.count] = f.fin;
        trickle.len[trickle.count] = f.payload_len;
        trickle.count++;
        start = have;
    }
    CHECK_EQ(start, n);
    CHECK(memcmp(&trickle, &whole, sizeof whole) == 0);

    /* Every split into two reads gives the same frames. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct seen s = {0};
        size_t used = parse_all(stream, cut, WS_ROLE_SERVER, &s);
        /* Then the rest arrives: continue from the first unused byte. */
        size_t more = parse_all(stream + used, n - used, WS_ROLE_SERVER, &s);
        CHECK_EQ(used + more, n);
        CHECK(memcmp(&s, &whole, sizeof whole) == 0);
    }
}

/* --- masking -------------------------------------------------------------- */

static void test_mask(void)
{
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t orig[100], buf[110], ref[100], copy[110];
    for (size_t i = 0; i < sizeof orig; i++)
        orig[i] = (uint8_t)(i * 37 + 11);

    for (size_t align = 0; align < 8; align++) {
        for (size_t len = 0; len <= 80; len++) {
            for (size_t off = 0; off < 5; off++) {
                memcpy(buf + align, orig, len);
                for (size_t i = 0; i < len; i++)
                    ref[i] = orig[i] ^ key[(off + i) % 4];
                ws_mask(buf + align, len, key, off);
                CHECK(memcmp(buf + align, ref, len) == 0);
            }
            ws_mask_copy(copy + align, orig, len, key);
            for (size_t i = 0; i < len; i++)
                ref[i] = orig[i] ^ key[i % 4];
            CHECK(memcmp(copy + align, ref, len) == 0);
        }
    }
    /* In pieces, carrying the offset, equals all at once. */
    memcpy(buf, orig, 100);
    ws_mask(buf, 7, key, 0);
    ws_mask(buf + 7, 30, key, 7);
    ws_mask(buf + 37, 63, key, 37);
    ws_mask_copy(copy, orig, 100, key);
    CHECK(memcmp(buf, copy, 100) == 0);
    /* In place, masking twice is the identity. */
    ws_mask_copy(copy, copy, 100, key);
    CHECK(memcmp(copy, orig, 100) == 0);
}

/* --- UTF-8 ---------------------------------------------------------------- */

struct utf8_case {
    const char *bytes;
    size_t len;
    bool valid;
};

#define U(s, v) {s, sizeof(s) - 1, v}

static const struct utf8_case utf8_cases[] = {
    U("", true),
    U("hello, world", true),
    U("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true), /* κόσμε */
    U("\x00", true),
    U("\x7f", true),
    U("\xc2\x80", true),            /* U+0080 */
    U("\xdf\xbf", true),            /* U+07FF */
    U("\xe0\xa0\x80", true),        /* U+0800 */
    U("\xed\x9f\xbf", true),        /* U+D7FF */
    U("\xee\x80\x80", true),        /* U+E000 */
    U("\xef\xbf\xbd", true),        /* U+FFFD */
    U("\xef\xbf\xbf", true),        /* U+FFFF */
    U("\xf0\x90\x80\x80", true),    /* U+10000 */
    U("\xf4\x8f\xbf\xbf", true),    /* U+10FFFF */
    U("\x80", false),               /* lone continuation */
    U("\xbf", false),
    U("\xc0\x80", false),           /* overlong NUL */
    U("\xc1\xbf", false),           /* overlong U+007F */
    U("\xe0\x80\x80", false),       /* overlong */
    U("\xe0\x9f\xbf", false),       /* overlong U+07FF */
    U("\xf0\x80\x80\x80", false),   /* overlong */
    U("\xf0\x8f\xbf\xbf", false),   /* overlong U+FFFF */
    U("\xed\xa0\x80", false),       /* U+D800 */
    U("\xed\xbf\xbf", false),       /* U+DFFF */
    U("\xed\xa0\x80\xed\xb0\x80", false), /* surrogate pair */
    U("\xf4\x90\x80\x80", false),   /* U+110000 */
    U("\xf5\x80\x80\x80", false),
    U("\xf8\x88\x80\x80\x80", false),
    U("\xfe", false),
    U("\xff", false),
    U("\xc2", false),               /* truncated */
    U("\xe0\xa0", false),
    U("\xf0\x90\x80", false),
    U("\xc2\x41", false),           /* continuation missing */
    U("\xe2\x82\x41", false),
    U("a\xce\xbaz\x80", false),
};

static void test_utf8(void)
{
    for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
        const struct utf8_case *c = &utf8_cases[i];
        bool v = ws_utf8_valid((const uint8_t *)c->bytes, c->len);
        if (v != c->valid)
            fprintf(stderr, "utf8 case %zu\n", i);
        CHECK_EQ(v, c->valid);

        /* Fed one byte at a time it agrees. */
        struct ws_utf8 st = {0, 0, 0};
        bool ok = true;
        for (size_t j = 0; j < c->len && ok; j++)
            ok = ws_utf8_feed(&st, (const uint8_t *)c->bytes + j, 1) == 0;
        CHECK_EQ(ok && ws_utf8_complete(&st), c->valid);
    }

    /* Every code point: encode it and check validity against the rules. */
    for (uint32_t cp = 0; cp <= 0x110000; cp++) {
        uint8_t b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6);
            b[1] = (uint8_t)(0x80 | (cp & 63));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12);
            b[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
            b[2] = (uint8_t)(0x80 | (cp & 63));
            n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18);
            b[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
            b[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
            b[3] = (uint8_t)(0x80 | (cp & 63));
            n = 4;
        }
        bool want = cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ws_utf8_valid(b, n) != want) {
            CHECK_EQ(cp, ~0u);
            break;
        }
    }

    /* The 8-byte ASCII path: a bad byte at every position of a long text. */
    uint8_t text[64];
    for (size_t pos = 0; pos < sizeof text; pos++) {
        memset(text, 'a', sizeof text);
        CHECK(ws_utf8_valid(text, sizeof text));
        text[pos] = 0xFF;
        CHECK(!ws_utf8_valid(text, sizeof text));
        text[pos] = 0xC3;
        CHECK(!ws_utf8_valid(text, sizeof text));
        if (pos + 1 < sizeof text) {
            text[pos + 1] = 0xA9; /* é */
            CHECK(ws_utf8_valid(text, sizeof text));
        }
    }
    CHECK_EQ(ws_err_close_code(WS_ERR_UTF8), 1007);
}

/* --- message assembly ----------------------------------------------------- */

static struct ws_frame data_frame(int opcode, bool fin, size_t len)
{
    struct ws_frame f;
    memset(&f, 0, sizeof f);
    f.opcode = (uint8_t)opcode;
    f.fin = fin;
    f.payload_len = len;
    f.header_len = 2;
    return f;
}

static int feed(struct ws_message *m, int opcode, bool fin, const char *payload,
                struct ws_data *out)
{
    struct ws_frame f = data_frame(opcode, fin, strlen(payload));
    return ws_message_feed(m, &f, (const uint8_t *)payload, out);
}

static void test_assembly(void)
{
    uint8_t buf[16];
    struct ws_message m;
    struct ws_data d;
    ws_message_init(&m, buf, sizeof buf);

    /* One frame: handed back in place. */
    const char *one = "single";
    struct ws_frame f = data_frame(WS_OP_BINARY, true, 6);
    CHECK_EQ(ws_message_feed(&m, &f, (const uint8_t *)one, &d), WS_MESSAGE_DONE);
    CHECK(d.ptr == (const uint8_t *)one);
    CHECK_EQ(d.len, 6);
    CHECK_EQ(d.opcode, WS_OP_BINARY);

    /* Fragmented with control frames in between. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "Hel", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_PING, true, "x", &d), WS_MESSAGE_CONTROL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, false, "", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_PONG, true, "", &d), WS_MESSAGE_CONTROL);
    memset(&d, 0, sizeof d);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "lo", &d), WS_MESSAGE_DONE);
    CHECK_EQ(d.opcode, WS_OP_TEXT);
    CHECK_EQ(d.len, 5);
    CHECK(d.ptr == buf && memcmp(d.ptr, "Hello", 5) == 0);

    /* Continuation with nothing open. */
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "x", &d), WS_ERR_CONTINUATION);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, false, "x", &d), WS_ERR_CONTINUATION);
    CHECK_EQ(ws_err_close_code(WS_ERR_CONTINUATION), 1002);

    /* A new data frame while one is open, fragmented or not. */
    CHECK_EQ(feed(&m, WS_OP_BINARY, false, "a", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_BINARY, true, "b", &d), WS_ERR_FRAGMENT_OPEN);
    CHECK_EQ(m.opcode, 0);
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "a", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "b", &d), WS_ERR_FRAGMENT_OPEN);
    CHECK_EQ(ws_err_close_code(WS_ERR_FRAGMENT_OPEN), 1002);

    /* Exactly the buffer's size fits; one more byte does not. */
    CHECK_EQ(feed(&m, WS_OP_BINARY, false, "0123456789", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "abcdef", &d), WS_MESSAGE_DONE);
    CHECK_EQ(d.len, 16);
    CHECK_EQ(feed(&m, WS_OP_BINARY, false, "0123456789", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, false, "abcdefg", &d), WS_ERR_TOO_BIG);
    CHECK_EQ(m.opcode, 0);

    /* Text: a code point split across fragments is fine. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "\xce", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, false, "\xba\xe1\xbd", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "\xb9", &d), WS_MESSAGE_DONE);
    CHECK_EQ(d.len, 5);
    /* Invalid bytes fail at the fragment that has them. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "ok", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, false, "\xed\xa0\x80", &d), WS_ERR_UTF8);
    /* Unfinished at the final fragment. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "ok", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "\xe2\x82", &d), WS_ERR_UTF8);
    /* One-frame text. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, true, "\xc0\x80", &d), WS_ERR_UTF8);
    CHECK_EQ(feed(&m, WS_OP_TEXT, true, "\xc3\xa9", &d), WS_MESSAGE_DONE);
    /* Binary is never looked at. */
    CHECK_EQ(feed(&m, WS_OP_BINARY, true, "\xc0\x80", &d), WS_MESSAGE_DONE);
    CHECK_EQ(feed(&m, WS_OP_BINARY, false, "\xff", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "\xfe", &d), WS_MESSAGE_DONE);

    /* Empty message in empty fragments. */
    CHECK_EQ(feed(&m, WS_OP_TEXT, false, "", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "", &d), WS_MESSAGE_DONE);
    CHECK_EQ(d.len, 0);

    /* No buffer: one-frame messages only. */
    struct ws_message none;
    ws_message_init(&none, NULL, 0);
    CHECK_EQ(feed(&none, WS_OP_BINARY, true, "abc", &d), WS_MESSAGE_DONE);
    CHECK_EQ(feed(&none, WS_OP_BINARY, false, "", &d), WS_MESSAGE_PARTIAL);
    CHECK_EQ(feed(&none, WS_OP_CONTINUATION, true, "", &d), WS_MESSAGE_DONE);
    CHECK_EQ(feed(&none, WS_OP_BINARY, false, "a", &d), WS_ERR_TOO_BIG);

    /* Reset drops an open message. */
    CHECK_EQ(feed(&m, WS_OP_BINARY, false, "a", &d), WS_MESSAGE_PARTIAL);
    ws_message_reset(&m);
    CHECK_EQ(feed(&m, WS_OP_CONTINUATION, true, "b", &d), WS_ERR_CONTINUATION);
}

/* Parse + unmask + assemble a masked stream the way a gateway would. */
static void test_parse_and_assemble(void)
{
    static const uint8_t key[4] = {9, 8, 7, 6};
    uint8_t stream[256];
    size_t n = 0;
    n = put_frame(stream, n, WS_OP_BINARY, 0, "\x81\xa1t", 3, key);
    n = put_frame(stream, n, WS_OP_PING, 1, "hb", 2, key);
    n = put_frame(stream, n, WS_OP_CONTINUATION, 1, "\xa3loc", 4, key);

    uint8_t msgbuf[LIMIT];
    struct ws_message m;
    ws_message_init(&m, msgbuf, sizeof msgbuf);
    size_t pos = 0;
    int done = 0, pings = 0;
    while (pos < n) {
        struct ws_frame f;
        int r = ws_frame_parse(stream + pos, n - pos, WS_ROLE_SERVER, LIMIT, &f);
        CHECK(r > 0);
        if (r <= 0)
            break;
        ws_mask(stream + pos + f.header_len, f.payload_len, f.mask, 0);
        struct ws_data d;
        int a = ws_message_feed(&m, &f, stream + pos + f.header_len, &d);
        if (a == WS_MESSAGE_CONTROL) {
            pings++;
            CHECK(memcmp(stream + pos + f.header_len, "hb", 2) == 0);
        } else if (a == WS_MESSAGE_DONE) {
            done++;
            CHECK_EQ(d.len, 7);
            CHECK(memcmp(d.ptr, "\x81\xa1t\xa3loc", 7) == 0);
        } else {
            CHECK_EQ(a, WS_MESSAGE_PARTIAL);
        }
        pos += (size_t)r;
    }
    CHECK_EQ(done, 1);
    CHECK_EQ(pings, 1);
}

/* --- close frames --------------------------------------------------------- */

static void test_close_codes(void)
{
    for (unsigned code = 0; code < 70000; code++) {
        bool want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                    (code >= 3000 && code <= 4999);
        if (ws_close_code_valid(code) != want) {
            CHECK_EQ(code, ~0u);
            break;
        }
    }
    CHECK(!ws_close_code_valid(999));
    CHECK(ws_close_code_valid(1000));
    CHECK(ws_close_code_valid(1003));
    CHECK(!ws_close_code_valid(1004));
    CHECK(!ws_close_code_valid(1005));
    CHECK(!ws_close_code_valid(1006));
    CHECK(ws_close_code_valid(1007));
    CHECK(ws_close_code_valid(1011));
    CHECK(!ws_close_code_valid(1015));
    CHECK(!ws_close_code_valid(2999));
    CHECK(ws_close_code_valid(3000));
    CHECK(ws_close_code_valid(4999));
    CHECK(!ws_close_code_valid(5000));

    struct ws_close c;
    CHECK_EQ(ws_close_parse(NULL, 0, &c), 0);
    CHECK_EQ(c.code, WS_CLOSE_NO_STATUS);
    CHECK_EQ(c.reason_len, 0);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03", 1, &c), WS_ERR_CLOSE_PAYLOAD);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xe8", 2, &c), 0);
    CHECK_EQ(c.code, 1000);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xe9" "bye", 5, &c), 0);
    CHECK_EQ(c.code, 1001);
    CHECK_EQ(c.reason_len, 3);
    CHECK(memcmp(c.reason, "bye", 3) == 0);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xe7", 2, &c), WS_ERR_CLOSE_CODE);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xed", 2, &c), WS_ERR_CLOSE_CODE); /* 1005 */
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xee", 2, &c), WS_ERR_CLOSE_CODE); /* 1006 */
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xf7", 2, &c), WS_ERR_CLOSE_CODE); /* 1015 */
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x00\x00", 2, &c), WS_ERR_CLOSE_CODE);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x0b\xb8", 2, &c), 0);                 /* 3000 */
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xe8\xff", 3, &c), WS_ERR_UTF8);
    CHECK_EQ(ws_close_parse((const uint8_t *)"\x03\xe8\xce", 3, &c), WS_ERR_UTF8);
    CHECK_EQ(ws_err_close_code(WS_ERR_CLOSE_CODE), 1002);
    CHECK_EQ(ws_err_close_code(WS_ERR_CLOSE_PAYLOAD), 1002);
    uint8_t long_body[126] = {0x03, 0xe8};
    memset(long_body + 2, 'a', sizeof long_body - 2);
    CHECK_EQ(ws_close_parse(long_body, 126, &c), WS_ERR_CONTROL_TOO_BIG);
    CHECK_EQ(ws_close_parse(long_body, 125, &c), 0);
}

static void test_close_frame(void)
{
    uint8_t out[WS_CLOSE_FRAME_MAX];
    struct ws_frame f;
    struct ws_close c;

    int n = ws_close_frame(out, sizeof out, 1009, "too big", 7, NULL);
    CHECK_EQ(n, 2 + 2 + 7);
    CHECK_EQ(ws_frame_parse(out, (size_t)n, WS_ROLE_CLIENT, LIMIT, &f), n);
    CHECK_EQ(f.opcode, WS_OP_CLOSE);
    CHECK_EQ(ws_close_parse(f.payload, f.payload_len, &c), 0);
    CHECK_EQ(c.code, 1009);
    CHECK(c.reason_len == 7 && memcmp(c.reason, "too big", 7) == 0);

    /* Masked, from a client. */
    static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    n = ws_close_frame(out, sizeof out, 1000, "bye", 3, key);
    CHECK_EQ(n, 6 + 2 + 3);
    CHECK_EQ(ws_frame_parse(out, (size_t)n, WS_ROLE_SERVER, LIMIT, &f), n);
    ws_mask(out + f.header_len, f.payload_len, f.mask, 0);
    CHECK_EQ(ws_close_parse(out + f.header_len, f.payload_len, &c), 0);
    CHECK_EQ(c.code, 1000);

    /* Empty body. */
    CHECK_EQ(ws_close_frame(out, sizeof out, 0, NULL, 0, NULL), 2);
    CHECK(out[0] == 0x88 && out[1] == 0x00);
    CHECK_EQ(ws_close_frame(out, sizeof out, 0, "x", 1, NULL), WS_ERR_INVALID);

    /* Invalid codes and reasons. */
    CHECK_EQ(ws_close_frame(out, sizeof out, 1005, NULL, 0, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_close_frame(out, sizeof out, 999, NULL, 0, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_close_frame(out, sizeof out, 1000, "\xff", 1, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_close_frame(out, 5, 1000, "bye", 3, NULL), WS_ERR_INVALID);
    CHECK_EQ(ws_close_frame(out, 7, 1000, "bye", 3, NULL), 7);

    /* Long reasons are cut at a character boundary. */
    char reason[200];
    memset(reason, 'a', sizeof reason);
    n = ws_close_frame(out, sizeof out, 1008, reason, sizeof reason, NULL);
    CHECK_EQ(n, 2 + 125);
    /* "é" (2 bytes) straddling byte 123: cut before it. */
    memset(reason, 'a', sizeof reason);
    reason[122] = '\xc3';
    reason[123] = '\xa9';
    n = ws_close_frame(out, sizeof out, 1008, reason, sizeof reason, NULL);
    CHECK_EQ(n, 2 + 2 + 122);
    CHECK_EQ(ws_frame_parse(out, (size_t)n, WS_ROLE_CLIENT, LIMIT, &f), n);
    CHECK_EQ(ws_close_parse(f.payload, f.payload_len, &c), 0);
    /* A 4-byte character ending exactly at 123 stays. */
    memset(reason, 'a', sizeof reason);
    memcpy(reason + 119, "\xf0\x9f\x98\x80", 4);
    n = ws_close_frame(out, sizeof out, 1008, reason, sizeof reason, NULL);
    CHECK_EQ(n, 2 + 125);
}

static void test_errors(void)
{
    static const int errs[] = {
        WS_ERR_INVALID, WS_NEED_MORE, WS_ERR_RSV, WS_ERR_OPCODE,
        WS_ERR_CONTROL_FRAGMENTED, WS_ERR_CONTROL_TOO_BIG, WS_ERR_LENGTH,
        WS_ERR_MASK_REQUIRED, WS_ERR_MASK_FORBIDDEN, WS_ERR_TOO_BIG,
        WS_ERR_CONTINUATION, WS_ERR_FRAGMENT_OPEN, WS_ERR_UTF8,
        WS_ERR_CLOSE_PAYLOAD, WS_ERR_CLOSE_CODE,
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        const char *s = ws_strerror(errs[i]);
        CHECK(s != NULL && strlen(s) > 0 && strlen(s) <= WS_CLOSE_REASON_MAX);
        CHECK(strcmp(s, "unknown error") != 0);
        CHECK(ws_close_code_valid(ws_err_close_code(errs[i])));
    }
    CHECK_EQ(ws_err_close_code(WS_ERR_INVALID), 1011);
    CHECK(strcmp(ws_strerror(-999), "unknown error") == 0);
}

/* --- random input --------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    return xorshift64(&rng_state);
}

static void test_random(void)
{
    uint8_t msgbuf[256];
    uint8_t input[600];
    struct ws_message m;
    ws_message_init(&m, msgbuf, sizeof msgbuf);

    for (int round = 0; round < 20000; round++) {
        size_t len = rng() % sizeof input;
        for (size_t i = 0; i < len; i++)
            input[i] = (uint8_t)rng();
        /* Bias towards plausible headers now and then. */
        if (len >= 2 && round % 3 == 0) {
            input[0] &= 0x8F;
            input[1] = (uint8_t)(input[1] % 130) | (round % 2 ? 0x80 : 0);
        }
        enum ws_role role = round % 2 ? WS_ROLE_SERVER : WS_ROLE_CLIENT;
        struct guarded g;
        uint8_t *data = guard_place(&g, input, len);
        size_t pos = 0;
        for (;;) {
            struct ws_frame f;
            int r = ws_frame_parse(data + pos, len - pos, role, 200, &f);
            if (r <= 0) {
                CHECK(r == WS_NEED_MORE || (r < 0 && ws_err_close_code(r) != 1011));
                break;
            }
            CHECK((size_t)r <= len - pos);
            CHECK_EQ(f.header_len + f.payload_len, r);
            ws_mask(data + pos + f.header_len, f.payload_len, f.mask, 0);
            struct ws_data d;
            int a = ws_message_feed(&m, &f, data + pos + f.header_len, &d);
            CHECK(a >= 0 || ws_err_close_code(a) != 1011);
            if (f.opcode == WS_OP_CLOSE) {
                struct ws_close c;
                int cr = ws_close_parse(data + pos + f.header_len, f.payload_len, &c);
                CHECK(cr == 0 || ws_err_close_code(cr) != 1011);
            }
            ws_utf8_valid(data + pos, len - pos);
            pos += (size_t)r;
        }
        guard_release(&g);
    }
}

int main(void)
{
    test_rfc_examples();
    test_lengths();
    test_non_minimal();
    test_oversize_from_header();
    test_header_bits();
    test_control_rules();
    test_byte_splits();
    test_mask();
    test_utf8();
    test_assembly();
    test_parse_and_assemble();
    test_close_codes();
    test_close_frame();
    test_errors();
    test_random();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test-ws-frame: ok\n");
    return 0;
}
