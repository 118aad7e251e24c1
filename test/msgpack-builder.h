/* msgpack-builder.h: test inputs written as readable msgpack tokens, kept apart from the codec under test so a bug there cannot hide in both. */
#ifndef NEARBY_TEST_MSGPACK_BUILDER_H
#define NEARBY_TEST_MSGPACK_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tiny msgpack builder driven by a token string, so a test message reads
 * like its content: "{2 s:t s:gone s:id u:42". Tokens: {N and [N (shortest
 * map/array header), m16:N m32:N a16:N a32:N, s:TEXT (shortest str),
 * S8:/S16:/S32:TEXT, rep:N:C (str of N times C), bin:TEXT, u:N (shortest),
 * u8: u16: u32: u64:, i:N (shortest signed), i8: i16: i32: i64:, d:X
 * (float64), f:X (float32), nil, true, false, x:HH (one raw byte). */
struct builder {
    uint8_t *b;
    size_t n;
    size_t cap;
};

static inline void put(struct builder *bd, uint8_t byte)
{
    if (bd->n >= bd->cap) {
        fprintf(stderr, "builder overflow\n");
        exit(1);
    }
    bd->b[bd->n++] = byte;
}

static inline void put_be(struct builder *bd, uint64_t v, int bytes)
{
    for (int k = bytes - 1; k >= 0; k--)
        put(bd, (uint8_t)(v >> (8 * k)));
}

static inline void put_tag_be(struct builder *bd, uint8_t tag, uint64_t v, int bytes)
{
    put(bd, tag);
    put_be(bd, v, bytes);
}

static inline void put_str_hdr(struct builder *bd, size_t len, int width)
{
    if (width == 0)
        width = len <= 31 ? -1 : len <= 0xff ? 1 : len <= 0xffff ? 2 : 4;
    if (width == -1)
        put(bd, (uint8_t)(0xa0 | len));
    else
        put_tag_be(bd, width == 1 ? 0xd9 : width == 2 ? 0xda : 0xdb, len, width);
}

static inline void put_uint(struct builder *bd, uint64_t v, int width)
{
    if (width == 0)
        width = v <= 0x7f ? -1 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    if (width == -1)
        put(bd, (uint8_t)v);
    else
        put_tag_be(bd, (uint8_t)(width == 1 ? 0xcc : width == 2 ? 0xcd : width == 4 ? 0xce : 0xcf),
                   v, width);
}

static inline void put_int(struct builder *bd, int64_t v, int width)
{
    if (width == 0) {
        if (v >= -32 && v <= 127)
            width = -1;
        else
            width = (v >= INT8_MIN && v <= INT8_MAX)     ? 1
                    : (v >= INT16_MIN && v <= INT16_MAX) ? 2
                    : (v >= INT32_MIN && v <= INT32_MAX) ? 4
                                                         : 8;
    }
    if (width == -1)
        put(bd, (uint8_t)(int8_t)v);
    else
        put_tag_be(bd, (uint8_t)(width == 1 ? 0xd0 : width == 2 ? 0xd1 : width == 4 ? 0xd2 : 0xd3),
                   (uint64_t)v, width);
}

static inline int width_of(const char *tok)
{
    const char *colon = strchr(tok, ':');
    int bits = atoi(tok + 1);
    return colon == tok + 1 ? 0 : bits / 8;
}

static inline size_t build(uint8_t *out, size_t cap, const char *spec)
{
    struct builder bd = {out, 0, cap};
    char *copy = strdup(spec);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        const char *arg = strchr(tok, ':') ? strchr(tok, ':') + 1 : "";
        if (strcmp(tok, "nil") == 0) {
            put(&bd, 0xc0);
        } else if (strcmp(tok, "true") == 0) {
            put(&bd, 0xc3);
        } else if (strcmp(tok, "false") == 0) {
            put(&bd, 0xc2);
        } else if (tok[0] == '{') {
            unsigned long n = strtoul(tok + 1, NULL, 10);
            if (n <= 15)
                put(&bd, (uint8_t)(0x80 | n));
            else
                put_tag_be(&bd, n <= 0xffff ? 0xde : 0xdf, n, n <= 0xffff ? 2 : 4);
        } else if (tok[0] == '[') {
            unsigned long n = strtoul(tok + 1, NULL, 10);
            if (n <= 15)
                put(&bd, (uint8_t)(0x90 | n));
            else
                put_tag_be(&bd, n <= 0xffff ? 0xdc : 0xdd, n, n <= 0xffff ? 2 : 4);
        } else if (strncmp(tok, "m16:", 4) == 0) {
            put_tag_be(&bd, 0xde, strtoul(arg, NULL, 10), 2);
        } else if (strncmp(tok, "m32:", 4) == 0) {
            put_tag_be(&bd, 0xdf, strtoul(arg, NULL, 10), 4);
        } else if (strncmp(tok, "a16:", 4) == 0) {
            put_tag_be(&bd, 0xdc, strtoul(arg, NULL, 10), 2);
        } else if (strncmp(tok, "a32:", 4) == 0) {
            put_tag_be(&bd, 0xdd, strtoul(arg, NULL, 10), 4);
        } else if (tok[0] == 's' && tok[1] == ':') {
            put_str_hdr(&bd, strlen(arg), 0);
            for (const char *c = arg; *c; c++)
                put(&bd, (uint8_t)*c);
        } else if (tok[0] == 'S') {
            put_str_hdr(&bd, strlen(arg), width_of(tok));
            for (const char *c = arg; *c; c++)
                put(&bd, (uint8_t)*c);
        } else if (strncmp(tok, "rep:", 4) == 0) {
            char *end;
            unsigned long n = strtoul(arg, &end, 10);
            put_str_hdr(&bd, n, 0);
            for (unsigned long k = 0; k < n; k++)
                put(&bd, (uint8_t)end[1]);
        } else if (strncmp(tok, "bin:", 4) == 0) {
            put_tag_be(&bd, 0xc4, strlen(arg), 1);
            for (const char *c = arg; *c; c++)
                put(&bd, (uint8_t)*c);
        } else if (tok[0] == 'u') {
            put_uint(&bd, strtoull(arg, NULL, 10), width_of(tok));
        } else if (tok[0] == 'i') {
            put_int(&bd, strtoll(arg, NULL, 10), width_of(tok));
        } else if (tok[0] == 'd') {
            double d = strtod(arg, NULL);
            uint64_t bits;
            memcpy(&bits, &d, sizeof(bits));
            put_tag_be(&bd, 0xcb, bits, 8);
        } else if (tok[0] == 'f') {
            float f = strtof(arg, NULL);
            uint32_t bits;
            memcpy(&bits, &f, sizeof(bits));
            put_tag_be(&bd, 0xca, bits, 4);
        } else if (tok[0] == 'x') {
            put(&bd, (uint8_t)strtoul(arg, NULL, 16));
        } else {
            fprintf(stderr, "build: bad token %s\n", tok);
            exit(1);
        }
    }
    free(copy);
    return bd.n;
}

/* Whether got[0..len) is exactly the bytes of hex ("82 a1 74", spaces ignored). */
static inline int hex_equal(const uint8_t *got, size_t len, const char *hex)
{
    size_t k = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned byte;
        if (sscanf(p, "%2x", &byte) != 1 || k >= len || got[k] != byte)
            return 0;
        k++;
        p += 2;
    }
    return k == len;
}

#endif
