/* test-token.c: unit tests for auth/token: pinned vectors, every refusal, guard page, mutations. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "token.h"

/* 32 bytes: the shortest key the library takes. */
static const uint8_t key[] = "nearby-test-key-0123456789abcdef";
#define KEYLEN (sizeof key - 1)
static const uint8_t other_key[] = "nearby-test-key-0123456789abcdeg";

#define NOW 1900000000 /* a fixed "now" well before the exp of the tokens below */
#define EXP 2000000000

/* ------------------------------------------------------------------ helpers */

/* Inputs are copied against one guard page, room for the largest buffer below. */
static struct guarded guard;

/* verify: token_verify on a copy of TOK (LEN bytes) that ends at the guard
 * page. *ID is preset to a sentinel so that a write on failure shows. */
static int verify_n(const uint8_t *k, size_t klen, const char *tok, size_t len, int64_t now,
                    uint64_t *id)
{
    const char *copy = guard_put(&guard, tok, len);
    uint64_t before = *id;
    int r;

    r = token_verify(k, klen, copy, len, now, id);
    if (r != 0 && *id != before) {
        fprintf(stderr, "token_verify wrote *user_id on failure %d\n", r);
        failures++;
    }
    if (r > 0 || r < TOKEN_ERR_KEY_MODE) {
        fprintf(stderr, "token_verify returned %d, outside the enum\n", r);
        failures++;
    }
    return r;
}

static int verify(const char *tok, int64_t now, uint64_t *id)
{
    return verify_n(key, KEYLEN, tok, strlen(tok), now, id);
}

#define EXPECT(tok, now, want)                                                          \
    do {                                                                                \
        uint64_t id_ = 0xdeadbeef;                                                      \
        int r_ = verify((tok), (now), &id_);                                            \
        if (r_ != (want)) {                                                             \
            fprintf(stderr, "%s:%d: token %.120s: got %d (%s), want %d (%s)\n",         \
                    __FILE__, __LINE__, (tok), r_, token_strerror(r_), (want),          \
                    token_strerror(want));                                              \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

/* b64url: unpadded base64url via libcrypto's encoder, independent of ours. */
static size_t b64url(const void *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = '\0';
    return (size_t)len;
}

/* make_raw: a token from HEADER and PAYLOAD JSON (given lengths), HMAC'd
 * with K, into OUT (>= 4 * TOKEN_LEN_MAX bytes). */
static size_t make_raw(const uint8_t *k, size_t klen, const char *header, size_t hlen,
                       const char *payload, size_t plen, char *out)
{
    unsigned char mac[32];
    unsigned int maclen;
    size_t pos = b64url(header, hlen, out);

    out[pos++] = '.';
    pos += b64url(payload, plen, out + pos);
    HMAC(EVP_sha256(), k, (int)klen, (unsigned char *)out, pos, mac, &maclen);
    out[pos++] = '.';
    pos += b64url(mac, maclen, out + pos);
    return pos;
}

static const char *make(const char *header, const char *payload)
{
    static char buf[4 * TOKEN_LEN_MAX];
    make_raw(key, KEYLEN, header, strlen(header), payload, strlen(payload), buf);
    return buf;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ------------------------------------------------------------------ tests */

static void test_pinned_vectors(void)
{
    /* Our signer, pinned: computed outside this code with
     *   printf '%s.%s' H P | openssl dgst -sha256 -hmac nearby-test-key-0123456789abcdef -binary
     * so neither the encoding nor the claim order can drift unnoticed. */
    static const char pinned42[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6MjAwMDAwMDAwMH0."
        "KXWajbMVLtpt9lDw_aG32i-3p-sgnozHCHmBS2Dsr34";
    /* sub 2^63-1 (the largest user id) and exp 2^63-1, signed with Python's
     * hmac over the same key. */
    static const char pinned_max[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiI5MjIzMzcyMDM2ODU0Nzc1ODA3IiwiZXhwIjo5MjIzMzcyMDM2ODU0Nzc1ODA3fQ."
        "jR4AO4mAdZH9YECubv1_YFKT9UVHDBQyEkTKyE-rKMI";
    /* sub 2^64-1: validly signed, but no user id. */
    static const char pinned_u64max[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxODQ0Njc0NDA3MzcwOTU1MTYxNSIsImV4cCI6OTIyMzM3MjAzNjg1NDc3NTgwN30."
        "rXoy4jh2vGPAxBOSXWnHP99-NAuIAuRYWZPHIsTde4s";
    char out[TOKEN_LEN_MAX + 1];
    uint64_t id = 0;

    CHECK(token_sign(key, KEYLEN, 42, EXP, out, sizeof out) == (int)strlen(pinned42));
    CHECK(strcmp(out, pinned42) == 0);
    CHECK(verify(pinned42, NOW, &id) == 0 && id == 42);

    CHECK(token_sign(key, KEYLEN, (uint64_t)INT64_MAX, INT64_MAX, out, sizeof out) ==
          (int)strlen(pinned_max));
    CHECK(strcmp(out, pinned_max) == 0);
    CHECK(verify(pinned_max, INT64_MAX - 1, &id) == 0 && id == (uint64_t)INT64_MAX);
    id = 7;
    CHECK(verify(pinned_u64max, INT64_MAX - 1, &id) == TOKEN_ERR_NO_SUB && id == 7);
    CHECK(token_sign(key, KEYLEN, UINT64_MAX, EXP, out, sizeof out) == TOKEN_ERR_NO_SUB);
    CHECK(token_sign(key, KEYLEN, (uint64_t)INT64_MAX + 1, EXP, out, sizeof out) == TOKEN_ERR_NO_SUB);
    CHECK(token_sign(key, KEYLEN, 0, EXP, out, sizeof out) == TOKEN_ERR_NO_SUB);

    /* RFC 7515 appendix A.1: an external HS256 example (with CRLF inside its
     * JSON). Its signature must check out; it then fails only for lack of sub. */
    static const char rfc7515[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    static const uint8_t rfc_key[64] = {
        0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06, 0x65, 0x77,
        0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54, 0xc9, 0x28, 0xa9, 0x0f,
        0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3, 0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47,
        0xef, 0x96, 0x8a, 0xb4, 0xc3, 0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72,
        0x05, 0x2e, 0x4f, 0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3,
    };
    id = 7;
    CHECK(verify_n(rfc_key, sizeof rfc_key, rfc7515, strlen(rfc7515), 1300819379, &id) ==
          TOKEN_ERR_NO_SUB);
    CHECK(verify_n(key, KEYLEN, rfc7515, strlen(rfc7515), 1300819379, &id) ==
          TOKEN_ERR_BAD_SIGNATURE);
    CHECK(id == 7);
}

static void test_round_trip(void)
{
    static const uint64_t ids[] = { 1, 42, 1000000007, (uint64_t)INT64_MAX };
    char out[TOKEN_LEN_MAX + 1];

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint64_t id = 0xdeadbeef;
        int n = token_sign(key, KEYLEN, ids[i], EXP, out, sizeof out);
        CHECK(n > 0 && (size_t)n == strlen(out));
        CHECK(verify(out, NOW, &id) == 0);
        CHECK(id == ids[i]);
        id = 0xdeadbeef;
        CHECK(verify_n(other_key, KEYLEN, out, (size_t)n, NOW, &id) == TOKEN_ERR_BAD_SIGNATURE);
        CHECK(id == 0xdeadbeef);
    }
    /* Long keys are hashed by HMAC; still a round trip. */
    uint8_t long_key[200];
    memset(long_key, 0x5a, sizeof long_key);
    uint64_t id = 0;
    int n = token_sign(long_key, sizeof long_key, 9, EXP, out, sizeof out);
    CHECK(n > 0 && verify_n(long_key, sizeof long_key, out, (size_t)n, NOW, &id) == 0 && id == 9);
}

static void test_expiry(void)
{
    char out[TOKEN_LEN_MAX + 1];
    token_sign(key, KEYLEN, 5, EXP, out, sizeof out);

    EXPECT(out, EXP - 1, 0);
    EXPECT(out, EXP, TOKEN_ERR_EXPIRED); /* exactly at exp: no leeway */
    EXPECT(out, EXP + 1, TOKEN_ERR_EXPIRED);
    EXPECT(out, INT64_MAX, TOKEN_ERR_EXPIRED);
    EXPECT(out, INT64_MIN, 0);

    /* exp 0 is a valid, long expired, time. */
    token_sign(key, KEYLEN, 5, 0, out, sizeof out);
    EXPECT(out, 0, TOKEN_ERR_EXPIRED);
    EXPECT(out, -1, 0);

    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"nbf\":1900000001}"), NOW,
           TOKEN_ERR_NOT_YET_VALID);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"nbf\":1900000000}"), NOW, 0);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"nbf\":1.5}"), NOW,
           TOKEN_ERR_MALFORMED);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"nbf\":\"1\"}"), NOW,
           TOKEN_ERR_MALFORMED);
    EXPECT(make(HS256, "{\"iat\":1800000000,\"sub\":\"1\",\"exp\":2000000000}"), NOW, 0);
    EXPECT(make(HS256, "{\"iat\":-1,\"sub\":\"1\",\"exp\":2000000000}"), NOW,
           TOKEN_ERR_MALFORMED);
}

static void test_exp_claim(void)
{
    static const char *bad[] = {
        "{\"sub\":\"1\"}",
        "{\"sub\":\"1\",\"exp\":-1}",
        "{\"sub\":\"1\",\"exp\":-0}",
        "{\"sub\":\"1\",\"exp\":2000000000.0}",
        "{\"sub\":\"1\",\"exp\":2000000000.5}",
        "{\"sub\":\"1\",\"exp\":2e9}",
        "{\"sub\":\"1\",\"exp\":\"2000000000\"}",
        "{\"sub\":\"1\",\"exp\":true}",
        "{\"sub\":\"1\",\"exp\":null}",
        "{\"sub\":\"1\",\"exp\":9223372036854775808}",
        "{\"sub\":\"1\",\"exp\":99999999999999999999999}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(make(HS256, bad[i]), NOW, TOKEN_ERR_NO_EXP);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":9223372036854775807}"), NOW, 0);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":1,\"exp\":2000000000}"), NOW,
           TOKEN_ERR_MALFORMED);
}

static void test_sub_claim(void)
{
    static const struct {
        const char *payload;
        uint64_t id;
    } good[] = {
        { "{\"sub\":\"42\",\"exp\":2000000000}", 42 },
        { "{\"sub\":42,\"exp\":2000000000}", 42 },
        { "{\"sub\":1,\"exp\":2000000000}", 1 },
        { "{\"sub\":\"9223372036854775807\",\"exp\":2000000000}", (uint64_t)INT64_MAX },
        { "{\"sub\":9223372036854775807,\"exp\":2000000000}", (uint64_t)INT64_MAX },
        { "{\"exp\":2000000000,\"sub\":\"7\"}", 7 },
        { " {\r\n\t\"sub\" : \"7\" ,\n \"exp\" : 2000000000 } \n", 7 },
        { "{\"s\\u0075b\":\"\\u0038\",\"exp\":2000000000}", 8 }, /* escapes decoded */
        { "{\"sub\":\"9\",\"exp\":2000000000,\"name\":\"J\\u00f6rg \\ud83d\\ude00 \\\"q\\\"\","
          "\"admin\":false,\"x\":null,\"y\":-1.5e-3,\"z\":true,\"\":\"\"}", 9 },
        { "{\"sub\":\"10\",\"exp\":2000000000,\"name\":\"J\xc3\xb6rg \xf0\x9f\x98\x80\"}", 10 },
    };
    static const char *bad[] = {
        "{\"exp\":2000000000}",
        "{\"sub\":\"\",\"exp\":2000000000}",
        "{\"sub\":0,\"exp\":2000000000}",
        "{\"sub\":\"0\",\"exp\":2000000000}",
        "{\"sub\":\"9223372036854775808\",\"exp\":2000000000}",
        "{\"sub\":9223372036854775808,\"exp\":2000000000}",
        "{\"sub\":\"18446744073709551615\",\"exp\":2000000000}",
        "{\"sub\":\"18446744073709551616\",\"exp\":2000000000}",
        "{\"sub\":18446744073709551616,\"exp\":2000000000}",
        "{\"sub\":\"99999999999999999999999999999999999999999999\",\"exp\":2000000000}",
        "{\"sub\":\"-1\",\"exp\":2000000000}",
        "{\"sub\":-1,\"exp\":2000000000}",
        "{\"sub\":\"+1\",\"exp\":2000000000}",
        "{\"sub\":\"01\",\"exp\":2000000000}",
        "{\"sub\":\"1.0\",\"exp\":2000000000}",
        "{\"sub\":1.0,\"exp\":2000000000}",
        "{\"sub\":1e3,\"exp\":2000000000}",
        "{\"sub\":\" 1\",\"exp\":2000000000}",
        "{\"sub\":\"1 \",\"exp\":2000000000}",
        "{\"sub\":\"0x10\",\"exp\":2000000000}",
        "{\"sub\":true,\"exp\":2000000000}",
        "{\"sub\":null,\"exp\":2000000000}",
        "{\"Sub\":\"1\",\"exp\":2000000000}",
        "{\"sub\\u0000\":\"1\",\"exp\":2000000000}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t id = 0;
        int r = verify(make(HS256, good[i].payload), NOW, &id);
        if (r != 0 || id != good[i].id) {
            fprintf(stderr, "good sub #%zu (%s): got %d id %" PRIu64 "\n", i, good[i].payload, r,
                    id);
            failures++;
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(make(HS256, bad[i]), NOW, TOKEN_ERR_NO_SUB);
    /* Two subs could mean two users to two parsers. */
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"sub\":\"2\"}"), NOW,
           TOKEN_ERR_MALFORMED);
    EXPECT(make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"s\\u0075b\":\"2\"}"), NOW,
           TOKEN_ERR_MALFORMED);
}

static void test_header(void)
{
    static const char *bad_alg[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"HS256\\u0000\"}",
        "{\"alg\":null}",
        "{\"alg\":256}",
        "{\"typ\":\"JWT\"}",
        "{}",
        "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
        "{\"alg\":\"HS256\",\"crit\":\"exp\"}",
        "{\"alg\":\"HS256\",\"jku\":\"https://evil.example/k\"}",
    };
    static const char *malformed[] = {
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
        "{\"alg\":\"none\",\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\"",
        "{\"alg\":\"HS256\"}x",
        "[\"alg\",\"HS256\"]",
        "",
        "{\"alg\":\"HS256\",}",
        "{'alg':'HS256'}",
    };
    static const char payload[] = "{\"sub\":\"1\",\"exp\":2000000000}";
    for (size_t i = 0; i < sizeof bad_alg / sizeof bad_alg[0]; i++)
        EXPECT(make(bad_alg[i], payload), NOW, TOKEN_ERR_BAD_ALG);
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        EXPECT(make(malformed[i], payload), NOW, TOKEN_ERR_MALFORMED);

    EXPECT(make("{\"alg\":\"HS256\"}", payload), NOW, 0);
    EXPECT(make("{\"typ\":\"JWT\",\"kid\":\"2024-a\",\"alg\":\"HS256\"}", payload), NOW, 0);
    EXPECT(make("{\"alg\":\"HS\\u0032\\u00356\"}", payload), NOW, 0);

    /* alg none with an empty signature: the classic forgery. */
    char tok[4 * TOKEN_LEN_MAX];
    static const char none[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    size_t n = b64url(none, strlen(none), tok);
    tok[n++] = '.';
    n += b64url(payload, strlen(payload), tok + n);
    tok[n++] = '.';
    tok[n] = '\0';
    EXPECT(tok, NOW, TOKEN_ERR_BAD_ALG);
    tok[n - 1] = '\0'; /* and with the last dot dropped */
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
}

static void test_signature(void)
{
    char good[TOKEN_LEN_MAX + 1], tok[TOKEN_LEN_MAX + 1];
    int n = token_sign(key, KEYLEN, 42, EXP, good, sizeof good);
    const char *sig = strrchr(good, '.') + 1;
    size_t sig_at = (size_t)(sig - good);

    CHECK(n > 0 && strlen(sig) == 43);
    /* Each signature character replaced by every other alphabet character:
     * a different signature, or a non-canonical spelling in the last one. */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = sig_at; i < (size_t)n; i++) {
        for (const char *a = alphabet; *a; a++) {
            uint64_t id = 0xdeadbeef;
            int r;
            if (*a == good[i])
                continue;
            memcpy(tok, good, (size_t)n + 1);
            tok[i] = *a;
            r = verify(tok, NOW, &id);
            if (!(r == TOKEN_ERR_BAD_SIGNATURE ||
                  (i == (size_t)n - 1 && r == TOKEN_ERR_MALFORMED))) {
                fprintf(stderr, "sig char %zu -> %c: got %d\n", i - sig_at, *a, r);
                failures++;
            }
        }
    }
    /* Every byte of the whole token, each bit flipped: always refused. */
    for (size_t i = 0; i < (size_t)n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint64_t id = 0xdeadbeef;
            memcpy(tok, good, (size_t)n + 1);
            tok[i] = (char)(tok[i] ^ (1 << bit));
            if (verify_n(key, KEYLEN, tok, (size_t)n, NOW, &id) == 0) {
                fprintf(stderr, "bit %d of byte %zu flipped, still accepted\n", bit, i);
                failures++;
            }
        }
    }
    /* Signature cut short or extended. */
    memcpy(tok, good, (size_t)n + 1);
    tok[n - 3] = '\0'; /* 40 chars: decodes to 30 bytes */
    EXPECT(tok, NOW, TOKEN_ERR_BAD_SIGNATURE);
    tok[sig_at] = '\0';
    EXPECT(tok, NOW, TOKEN_ERR_BAD_SIGNATURE);
    memcpy(tok, good, (size_t)n + 1);
    strcat(tok, "AAAA");
    EXPECT(tok, NOW, TOKEN_ERR_BAD_SIGNATURE);

    /* Payload swapped for another user's, original signature kept. */
    char other[TOKEN_LEN_MAX + 1];
    token_sign(key, KEYLEN, 43, EXP, other, sizeof other);
    const char *p1 = strchr(good, '.'), *p2 = strchr(other, '.');
    CHECK(strlen(p1) == strlen(p2));
    memcpy(tok, good, (size_t)n + 1);
    memcpy(tok + (p1 - good), p2, (size_t)(strrchr(other, '.') - p2));
    CHECK(strcmp(tok, good) != 0);
    EXPECT(tok, NOW, TOKEN_ERR_BAD_SIGNATURE);
    /* A tampered payload that is also expired: the forgery is what we report. */
    memcpy(tok, good, (size_t)n + 1);
    memcpy(tok + (p1 - good), p2, (size_t)(strrchr(other, '.') - p2));
    EXPECT(tok, EXP + 10, TOKEN_ERR_BAD_SIGNATURE);

    /* Right signature, wrong key. */
    uint64_t id = 0xdeadbeef;
    CHECK(verify_n(other_key, KEYLEN, good, (size_t)n, NOW, &id) == TOKEN_ERR_BAD_SIGNATURE);
}

static void test_structure(void)
{
    char good[TOKEN_LEN_MAX + 1], tok[4 * TOKEN_LEN_MAX];
    int n = token_sign(key, KEYLEN, 42, EXP, good, sizeof good);
    const char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
    int h = (int)(d1 - good), p = (int)(d2 - d1 - 1);
    uint64_t id = 0xdeadbeef;

    EXPECT(good, NOW, 0);
    /* Padding, in each part. */
    snprintf(tok, sizeof tok, "%s=", good);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%.*s==.%s", h, good, d1 + 1);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%.*s=%s", h + p + 1, good, d2);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    /* Characters outside base64url, in each part. */
    static const char foreign[] = "+/= \t\n*\"\\\x7f\x80\xff";
    for (const char *c = foreign; *c; c++) {
        for (int at = 0; at < 3; at++) {
            int pos = at == 0 ? 3 : at == 1 ? h + 4 : n - 5;
            memcpy(tok, good, (size_t)n + 1);
            tok[pos] = *c;
            EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
        }
    }
    /* An embedded NUL inside the given length. */
    memcpy(tok, good, (size_t)n + 1);
    tok[5] = '\0';
    CHECK(verify_n(key, KEYLEN, tok, (size_t)n, NOW, &id) == TOKEN_ERR_MALFORMED);
    /* Extra and missing parts. */
    snprintf(tok, sizeof tok, "%s.", good);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%s.%s", good, d2 + 1);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%.*s", h + p + 1, good);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%.*s", h, good);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    EXPECT("", NOW, TOKEN_ERR_MALFORMED);
    EXPECT(".", NOW, TOKEN_ERR_MALFORMED);
    EXPECT("..", NOW, TOKEN_ERR_MALFORMED);
    EXPECT("...", NOW, TOKEN_ERR_MALFORMED);
    /* Empty parts. */
    snprintf(tok, sizeof tok, "%s", d1); /* .payload.sig */
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    snprintf(tok, sizeof tok, "%.*s.%s", h, good, d2); /* header..sig */
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    /* A part whose length no encoding has (4k+1), and non-zero unused bits. */
    CHECK(h % 4 == 0);
    snprintf(tok, sizeof tok, "%.*sA%s", h, good, d1);
    EXPECT(tok, NOW, TOKEN_ERR_MALFORMED);
    {
        /* The payload spelled with its last character's spare bits set decodes
         * to the same bytes; only the canonical spelling is accepted. */
        const char *t = make(HS256, "{\"sub\":\"1\",\"exp\":2000000000,\"a\":1}");
        char copy[4 * TOKEN_LEN_MAX];
        strcpy(copy, t);
        char *pd = strchr(copy, '.') + 1;
        char *pe = strchr(pd, '.');
        size_t plen = (size_t)(pe - pd);
        EXPECT(copy, NOW, 0);
        if (plen % 4 != 0) {
            /* Find the last character's value and set its lowest bit. */
            static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            int v = (int)(strchr(alphabet, pe[-1]) - alphabet);
            CHECK((v & 1) == 0);
            pe[-1] = alphabet[v | 1];
            EXPECT(copy, NOW, TOKEN_ERR_MALFORMED);
        } else {
            fprintf(stderr, "test payload length is a multiple of 4; spare-bit test skipped\n");
            failures++;
        }
    }
    /* The length cap: a valid token of exactly TOKEN_LEN_MAX passes, longer is refused. */
    {
        char payload[TOKEN_LEN_MAX * 2];
        bool hit_max = false, hit_over = false;
        for (size_t pad = 1400; pad < 1600; pad++) {
            static char big[4 * TOKEN_LEN_MAX];
            int pl = snprintf(payload, sizeof payload,
                              "{\"sub\":\"3\",\"exp\":2000000000,\"x\":\"%*s\"}", (int)pad, "");
            size_t len = make_raw(key, KEYLEN, HS256, strlen(HS256), payload, (size_t)pl, big);
            id = 0xdeadbeef;
            if (len == TOKEN_LEN_MAX) {
                hit_max = true;
                CHECK(verify_n(key, KEYLEN, big, len, NOW, &id) == 0 && id == 3);
            } else if (len > TOKEN_LEN_MAX) {
                hit_over = true;
                CHECK(verify_n(key, KEYLEN, big, len, NOW, &id) == TOKEN_ERR_MALFORMED);
            }
        }
        CHECK(hit_max && hit_over);
    }
    /* Arguments. */
    CHECK(token_verify(key, KEYLEN, NULL, 10, NOW, &id) == TOKEN_ERR_MALFORMED);
    CHECK(token_verify(key, KEYLEN, good, 0, NOW, &id) == TOKEN_ERR_MALFORMED);
    CHECK(token_verify(key, KEYLEN - 1, good, (size_t)n, NOW, &id) == TOKEN_ERR_WEAK_KEY);
    CHECK(token_verify(NULL, KEYLEN, good, (size_t)n, NOW, &id) == TOKEN_ERR_WEAK_KEY);
    CHECK(id == 0xdeadbeef);
}

/* JSON the scanner must refuse, inside a correctly signed payload. */
static void test_json_strictness(void)
{
    static const char *bad[] = {
        "{\"sub\":\"1\",\"exp\":2000000000,}",
        "{\"sub\":\"1\" \"exp\":2000000000}",
        "{\"sub\":\"1\",\"exp\":2000000000",
        "{\"sub\":\"1\",\"exp\":2000000000}}",
        "{\"sub\":\"1\",\"exp\":2000000000} x",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":{}}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":[1]}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":tru}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":True}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":01}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":1.}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":.5}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":1e}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":+1}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":-}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":NaN}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\x01\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\\x41\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\\u12\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\\ud800\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\\udc00\\ud800\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\\ud800\\u0041\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\xff\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\xc0\xaf\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\xed\xa0\x80\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"\xe2\x82\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"abc}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":\"abc\\",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\"}",
        "{\"sub\":\"1\",\"exp\":2000000000,\"a\":}",
        "{\"sub\":\"1\",\"exp\":2000000000,a:1}",
        "{,\"sub\":\"1\",\"exp\":2000000000}",
        "\xef\xbb\xbf{\"sub\":\"1\",\"exp\":2000000000}",
        "\"sub\"",
        "{",
        "}",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(make(HS256, bad[i]), NOW, TOKEN_ERR_MALFORMED);
    /* The signed payload may contain NUL bytes: give lengths explicitly. */
    static char tok[4 * TOKEN_LEN_MAX];
    static const char with_nul[] = "{\"sub\":\"1\",\"exp\":2000000000}\0";
    size_t n = make_raw(key, KEYLEN, HS256, strlen(HS256), with_nul, sizeof with_nul - 1, tok);
    uint64_t id = 0xdeadbeef;
    CHECK(verify_n(key, KEYLEN, tok, n, NOW, &id) == TOKEN_ERR_MALFORMED);
}

static void test_sign_errors(void)
{
    char out[TOKEN_LEN_MAX + 1];
    int n = token_sign(key, KEYLEN, 42, EXP, out, sizeof out);

    CHECK(n > 0);
    for (size_t cap = 0; cap <= (size_t)n; cap++) {
        memset(out, 'Z', sizeof out);
        CHECK(token_sign(key, KEYLEN, 42, EXP, out, cap) == TOKEN_ERR_NO_SPACE);
        CHECK(out[0] == 'Z');
    }
    CHECK(token_sign(key, KEYLEN, 42, EXP, out, (size_t)n + 1) == n);
    CHECK(token_sign(key, KEYLEN, 42, EXP, NULL, 0) == TOKEN_ERR_NO_SPACE);
    CHECK(token_sign(key, KEYLEN - 1, 42, EXP, out, sizeof out) == TOKEN_ERR_WEAK_KEY);
    CHECK(token_sign(NULL, KEYLEN, 42, EXP, out, sizeof out) == TOKEN_ERR_WEAK_KEY);
    CHECK(token_sign(key, KEYLEN, 42, -1, out, sizeof out) == TOKEN_ERR_NO_EXP);
    CHECK(token_sign(key, KEYLEN, 42, INT64_MIN, out, sizeof out) == TOKEN_ERR_NO_EXP);

    for (int e = TOKEN_ERR_KEY_MODE; e <= 0; e++) {
        const char *s = token_strerror(e);
        CHECK(s && strcmp(s, "unknown token error") != 0);
        for (int f = TOKEN_ERR_KEY_MODE; f < e; f++)
            CHECK(strcmp(s, token_strerror(f)) != 0);
    }
    CHECK(strcmp(token_strerror(-100), "unknown token error") == 0);
    CHECK(strcmp(token_strerror(5), "unknown token error") == 0);
}

/* check: token_check of TOK with POLICY; the claims are written only on success. */
static int check(const char *tok, const struct token_policy *policy, struct token_claims *out)
{
    size_t len = strlen(tok);
    const char *copy = guard_put(&guard, tok, len);
    struct token_claims before = *out;
    int r = token_check(key, KEYLEN, copy, len, NOW, policy, out);

    if (r != 0 && (out->user != before.user || out->exp != before.exp)) {
        fprintf(stderr, "token_check wrote the claims on failure %d\n", r);
        failures++;
    }
    return r;
}

static void test_policy(void)
{
    static const char aud[] = "nearby", iss[] = "https://auth.example.com/very/long/issuer/name/"
                                                 "that/needs/more/than/thirty/two/bytes";
    struct token_policy none = {0}, with_aud = {aud, sizeof aud - 1, NULL, 0},
                        both = {aud, sizeof aud - 1, iss, sizeof iss - 1};
    struct token_claims c = {0, 0};
    char payload[512];

    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000}"), NULL, &c) == 0);
    CHECK(c.user == 42 && c.exp == 2000000000);
    c = (struct token_claims){7, 7};
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000}"), &none, &c) == 0 && c.user == 42);
    /* A required aud must be there and equal; without a policy any aud is fine. */
    c = (struct token_claims){7, 7};
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000}"), &with_aud, &c) ==
          TOKEN_ERR_BAD_AUDIENCE && c.user == 7);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearbyx\"}"), &with_aud, &c) ==
          TOKEN_ERR_BAD_AUDIENCE);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearb\"}"), &with_aud, &c) ==
          TOKEN_ERR_BAD_AUDIENCE);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\"}"), &with_aud, &c) == 0);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"other\"}"), NULL, &c) == 0);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":7}"), NULL, &c) ==
          TOKEN_ERR_MALFORMED);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":[\"nearby\"]}"), &with_aud, &c) ==
          TOKEN_ERR_MALFORMED);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"a\",\"aud\":\"nearby\"}"),
                &with_aud, &c) == TOKEN_ERR_MALFORMED);
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\",\"iss\":\"%s\"}", iss);
    CHECK(check(make(HS256, payload), &both, &c) == 0);
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\",\"iss\":\"%.*s\"}",
             (int)sizeof iss - 2, iss);
    CHECK(check(make(HS256, payload), &both, &c) == TOKEN_ERR_BAD_ISSUER);
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":2000000000,\"aud\":\"nearby\"}"), &both, &c) ==
          TOKEN_ERR_BAD_ISSUER);
    /* Expiry is reported before the policy. */
    CHECK(check(make(HS256, "{\"sub\":\"42\",\"exp\":1000}"), &both, &c) == TOKEN_ERR_EXPIRED);
}

/* Writes a key file as it should be: the owner's alone. */
static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0 || chmod(path, 0600) != 0) {
        perror(path);
        exit(1);
    }
}

static void test_key_load(void)
{
    char dir[] = "/tmp/test-token.XXXXXX", path[64];
    uint8_t k[TOKEN_KEY_MAX], big[TOKEN_KEY_MAX + 10];
    size_t klen = 12345;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof path, "%s/secret", dir);

    write_file(path, "0123456789abcdef0123456789abcdef\n", 33);
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == 32 &&
          memcmp(k, "0123456789abcdef0123456789abcdef", 32) == 0);
    write_file(path, "0123456789abcdef0123456789abcdef\r\n", 34);
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == 32);
    write_file(path, "0123456789abcdef0123456789abcdef\n\n", 34); /* only one newline goes */
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == 33 && k[32] == '\n');
    write_file(path, "\0\1\2\3\4\5\6\7\0\1\2\3\4\5\6\7\0\1\2\3\4\5\6\7\0\1\2\3\4\5\6\7", 32);
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == 32 && k[8] == 0);
    /* A key the group or others may read or write mints tokens for anyone. */
    static const mode_t refused[] = {0640, 0604, 0620, 0602, 0660, 0644, 0666};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        klen = 12345;
        CHECK(chmod(path, refused[i]) == 0);
        CHECK(token_key_load(path, k, sizeof k, &klen) == TOKEN_ERR_KEY_MODE && klen == 12345);
    }
    CHECK(chmod(path, 0400) == 0);
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == 32);
    CHECK(chmod(path, 0600) == 0);

    klen = 12345;
    write_file(path, "0123456789abcdef0123456789abcde\n", 32); /* 31 bytes of key */
    CHECK(token_key_load(path, k, sizeof k, &klen) == TOKEN_ERR_WEAK_KEY);
    write_file(path, "", 0);
    CHECK(token_key_load(path, k, sizeof k, &klen) == TOKEN_ERR_WEAK_KEY);
    memset(big, 'k', sizeof big);
    write_file(path, big, TOKEN_KEY_MAX);
    CHECK(token_key_load(path, k, sizeof k, &klen) == 0 && klen == TOKEN_KEY_MAX);
    klen = 12345;
    write_file(path, big, TOKEN_KEY_MAX + 1);
    errno = 0;
    CHECK(token_key_load(path, k, sizeof k, &klen) == TOKEN_ERR_IO && errno == EFBIG);
    write_file(path, big, 64);
    errno = 0;
    CHECK(token_key_load(path, k, 40, &klen) == TOKEN_ERR_IO && errno == EFBIG);
    CHECK(klen == 12345);
    unlink(path);
    errno = 0;
    CHECK(token_key_load(path, k, sizeof k, &klen) == TOKEN_ERR_IO && errno == ENOENT);
    CHECK(token_key_load(dir, k, sizeof k, &klen) == TOKEN_ERR_IO); /* a directory */
    CHECK(klen == 12345);
    rmdir(dir);
}

/* ------------------------------------------------------------------ mutations */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    return xorshift64star(&rng_state);
}

/* mutate: 1..4 random edits of BUF (LEN bytes, room for CAP) using bytes
 * from POOL; returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap, const char *pool, size_t pool_len)
{
    int edits = 1 + (int)(rng() % 4);
    for (int e = 0; e < edits; e++) {
        size_t at = len ? rng() % len : 0;
        char c = (rng() % 4 == 0) ? (char)(rng() & 0xff) : pool[rng() % pool_len];
        switch (rng() % 5) {
        case 0: /* replace */
            if (len)
                buf[at] = c;
            break;
        case 1: /* insert */
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            }
            break;
        case 2: /* delete */
            if (len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        case 3: /* truncate */
            len = at;
            break;
        default: /* flip a bit */
            if (len)
                buf[at] = (char)(buf[at] ^ (1 << (rng() % 8)));
            break;
        }
    }
    return len;
}

static void test_mutations(int rounds)
{
    static const char token_pool[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/";
    static const char json_pool[] = "{}[]\":,\\u0123456789-+.eE \t\ntruefalsenull\xc3\xb6\xed\xf0";
    static const char *seeds[] = {
        "{\"sub\":\"42\",\"exp\":2000000000}",
        "{\"sub\":42,\"exp\":2000000000,\"nbf\":1800000000,\"iat\":1800000000}",
        "{\"sub\":\"\\u0034\\u0032\",\"exp\":2000000000,\"n\":\"\\ud83d\\ude00\xc3\xb6\"}",
        "{\"exp\":2000000000,\"a\":[],\"b\":-1.5e+3,\"c\":true,\"d\":null,\"sub\":\"1\"}",
    };
    static const char *headers[] = {
        HS256,
        "{\"alg\":\"HS256\"}",
        "{\"typ\":\"JWT\",\"kid\":\"k\\u0031\",\"alg\":\"HS\\u00325\\u0036\"}",
    };
    char good[TOKEN_LEN_MAX + 1];
    static char buf[4 * TOKEN_LEN_MAX], json[TOKEN_LEN_MAX], tok[4 * TOKEN_LEN_MAX];
    int n = token_sign(key, KEYLEN, 42, EXP, good, sizeof good);
    int accepted = 0;

    /* The token text: anything that verifies must be the original token. */
    for (int i = 0; i < rounds; i++) {
        uint64_t id = 0xdeadbeef;
        memcpy(buf, good, (size_t)n);
        size_t len = mutate(buf, (size_t)n, TOKEN_LEN_MAX, token_pool, sizeof token_pool - 1);
        if (verify_n(key, KEYLEN, buf, len, NOW, &id) == 0 &&
            (len != (size_t)n || memcmp(buf, good, len) != 0)) {
            fprintf(stderr, "mutated token accepted: %.*s\n", (int)len, buf);
            failures++;
        }
    }
    /* The JSON behind a valid signature, so the scanner itself is exercised. */
    for (int i = 0; i < rounds; i++) {
        uint64_t id = 0xdeadbeef;
        bool in_header = rng() % 4 == 0;
        const char *seed = in_header ? headers[rng() % 3] : seeds[rng() % 4];
        size_t len = strlen(seed);
        memcpy(json, seed, len);
        len = mutate(json, len, sizeof json, json_pool, sizeof json_pool - 1);
        const char *h = in_header ? json : HS256, *p = in_header ? seeds[0] : json;
        size_t hl = in_header ? len : strlen(HS256), pl = in_header ? strlen(seeds[0]) : len;
        size_t tl = make_raw(key, KEYLEN, h, hl, p, pl, tok);
        if (verify_n(key, KEYLEN, tok, tl, NOW, &id) == 0)
            accepted++;
    }
    /* Some mutations keep the JSON valid; if none do, the mutator is broken. */
    CHECK(accepted > 0);
}

/* ------------------------------------------------------------------ EdDSA */

/* RFC 8037 appendix A.1: the Ed25519 key, as openssl writes it in PEM. */
static const char ed_private_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                     "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                                     "-----END PRIVATE KEY-----\n";
static const char ed_public_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                                    "-----END PUBLIC KEY-----\n";
/* Its public key x, base64url: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo. */
static const uint8_t ed_x[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};
/* sub 42, exp NOW, signed by `openssl pkeyutl -sign -rawin` with that key: an
 * independent signer (Ed25519 is deterministic). */
static const char ed_openssl_token[] =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6MTkwMDAwMDAwMH0."
    "EDPDGV-yhfy7h5iGnpGh-xh6EwnOhDlgtdHr94mYE03-JR4bVrvW0CflUnoejDbRfrsTrbEibNixlZTRkaduAg";

static void test_eddsa(void)
{
    char dir[] = "/tmp/test-token-ed.XXXXXX", priv[64], pub[64], tok[512], hs[512];
    struct token_key sk, pk, hk, keys[2];
    struct token_claims c;
    int n;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(priv, sizeof priv, "%s/ed.key", dir);
    snprintf(pub, sizeof pub, "%s/ed.pub", dir);
    write_file(priv, ed_private_pem, strlen(ed_private_pem));
    write_file(pub, ed_public_pem, strlen(ed_public_pem));
    CHECK(chmod(pub, 0644) == 0); /* a public key may be read by anyone */

    CHECK(token_key_load_secret(priv, &sk) == 0);
    CHECK(sk.alg == TOKEN_ALG_EDDSA && sk.can_sign && memcmp(sk.pub, ed_x, 32) == 0);
    CHECK(token_key_load_public(pub, &pk) == 0);
    CHECK(pk.alg == TOKEN_ALG_EDDSA && !pk.can_sign && memcmp(pk.pub, ed_x, 32) == 0);
    for (size_t i = 0; i < sizeof pk.secret; i++)
        CHECK(pk.secret[i] == 0);

    /* The public key alone verifies openssl's token, and cannot sign. */
    CHECK(token_check_keys(&pk, 1, ed_openssl_token, strlen(ed_openssl_token), NOW - 1, NULL, &c) == 0);
    CHECK(c.user == 42 && c.exp == NOW);
    CHECK(token_check_keys(&pk, 1, ed_openssl_token, strlen(ed_openssl_token), NOW, NULL, &c) ==
          TOKEN_ERR_EXPIRED);
    CHECK(token_sign_key(&pk, 42, EXP, tok, sizeof tok) == TOKEN_ERR_CANNOT_SIGN);

    /* We sign exactly what openssl signs. */
    n = token_sign_key(&sk, 42, NOW, tok, sizeof tok);
    CHECK(n == (int)strlen(ed_openssl_token) && strcmp(tok, ed_openssl_token) == 0);
    n = token_sign_key(&sk, UINT64_C(9223372036854775807), EXP, tok, sizeof tok);
    CHECK(n > 0);
    CHECK(token_check_keys(&pk, 1, tok, (size_t)n, NOW, NULL, &c) == 0 &&
          c.user == UINT64_C(9223372036854775807));
    CHECK(token_sign_key(&sk, UINT64_C(9223372036854775807), EXP, tok, (size_t)n) == TOKEN_ERR_NO_SPACE);

    /* Every one-character change of a good token is refused. */
    n = token_sign_key(&sk, 7, EXP, tok, sizeof tok);
    for (int i = 0; i < n; i++) {
        char saved = tok[i];

        tok[i] = saved == 'A' ? 'B' : 'A';
        CHECK_IN(token_check_keys(&pk, 1, tok, (size_t)n, NOW, NULL, &c) < 0, tok);
        tok[i] = saved;
    }
    CHECK(token_check_keys(&pk, 1, tok, (size_t)n - 1, NOW, NULL, &c) < 0);

    /* Algorithm confusion: an HS256 token "signed" with the public key's bytes
     * is no token to a verifier that holds that public key... */
    CHECK(token_sign(ed_x, 32, 42, EXP, hs, sizeof hs) > 0);
    CHECK(token_check_keys(&pk, 1, hs, strlen(hs), NOW, NULL, &c) == TOKEN_ERR_BAD_ALG);
    /* ...nor to one that also has an HS256 secret (its own). */
    memset(&hk, 0, sizeof hk);
    hk.alg = TOKEN_ALG_HS256;
    hk.can_sign = 1;
    hk.len = KEYLEN;
    memcpy(hk.secret, key, KEYLEN);
    keys[0] = hk;
    keys[1] = pk;
    CHECK(token_check_keys(keys, 2, hs, strlen(hs), NOW, NULL, &c) == TOKEN_ERR_BAD_SIGNATURE);
    /* With both keys, each algorithm's token verifies against its own key. */
    n = token_sign_key(&hk, 5, EXP, hs, sizeof hs);
    CHECK(n > 0 && token_check_keys(keys, 2, hs, (size_t)n, NOW, NULL, &c) == 0 && c.user == 5);
    CHECK(token_check_keys(keys, 2, ed_openssl_token, strlen(ed_openssl_token), NOW - 1, NULL,
                           &c) == 0 && c.user == 42);
    /* An HS256-only verifier knows no EdDSA token. */
    CHECK(token_check(key, KEYLEN, ed_openssl_token, strlen(ed_openssl_token), NOW - 1, NULL, &c) ==
          TOKEN_ERR_BAD_ALG);
    /* Two keys of one algorithm: which would a token mean? */
    keys[0] = pk;
    CHECK(token_check_keys(keys, 2, ed_openssl_token, strlen(ed_openssl_token), NOW - 1, NULL,
                           &c) == TOKEN_ERR_BAD_KEY);
    CHECK(token_check_keys(keys, 0, ed_openssl_token, strlen(ed_openssl_token), NOW - 1, NULL,
                           &c) == TOKEN_ERR_WEAK_KEY);

    /* A verifier is never handed what mints tokens, nor a signer a public key. */
    CHECK(token_key_load_public(priv, &pk) == TOKEN_ERR_BAD_KEY);
    CHECK(chmod(pub, 0600) == 0);
    CHECK(token_key_load_secret(pub, &sk) == TOKEN_ERR_BAD_KEY);
    CHECK(sk.alg == 0 && !sk.can_sign);
    /* The private key must be the owner's alone; an HS256 secret still loads. */
    CHECK(chmod(priv, 0640) == 0);
    CHECK(token_key_load_secret(priv, &sk) == TOKEN_ERR_KEY_MODE);
    write_file(priv, key, KEYLEN);
    CHECK(token_key_load_secret(priv, &sk) == 0 && sk.alg == TOKEN_ALG_HS256 && sk.len == KEYLEN);
    /* Not an Ed25519 key: garbage PEM, an encrypted key (no prompt), a missing file. */
    write_file(priv, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
    CHECK(token_key_load_secret(priv, &sk) == TOKEN_ERR_BAD_KEY);
    write_file(priv, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", 78);
    CHECK(token_key_load_secret(priv, &sk) == TOKEN_ERR_BAD_KEY);
    write_file(pub, "not a key at all, but long enough to be a secret\n", 49);
    CHECK(token_key_load_public(pub, &pk) == TOKEN_ERR_BAD_KEY);
    errno = 0;
    CHECK(token_key_load_public("/nonexistent/ed.pub", &pk) == TOKEN_ERR_IO && errno == ENOENT);
    token_key_wipe(&sk);
    CHECK(sk.len == 0 && sk.secret[0] == 0);

    unlink(priv);
    unlink(pub);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 100000;

    guard_map(&guard, 4 * TOKEN_LEN_MAX);
    test_pinned_vectors();
    test_round_trip();
    test_expiry();
    test_exp_claim();
    test_sub_claim();
    test_header();
    test_signature();
    test_structure();
    test_json_strictness();
    test_sign_errors();
    test_policy();
    test_key_load();
    test_eddsa();
    test_mutations(rounds);

    if (failures) {
        fprintf(stderr, "test-token: %d failure(s)\n", failures);
        return 1;
    }
    printf("test-token: all passed (%d mutation rounds each)\n", rounds);
    return 0;
}
