/* token.c: HS256 and EdDSA JWT signing and strict verification (base64url, a flat-JSON scanner, HMAC, Ed25519). */
#include "token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_LEN 32     /* HMAC-SHA256 output */
#define SIG_B64_LEN 43 /* base64url of 32 bytes, unpadded */
#define ED_SIG_LEN 64  /* an Ed25519 signature */
#define KEYS_MAX 4     /* token_check_keys: keys tried at most */
/* A part of a token within TOKEN_LEN_MAX decodes to at most this many bytes. */
#define PART_MAX (TOKEN_LEN_MAX / 4 * 3 + 2)

/* base64url of {"alg":"HS256","typ":"JWT"} and {"alg":"EdDSA","typ":"JWT"}:
 * the fixed headers of the tokens we sign. */
static const char hs256_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
static const char eddsa_header_b64[] = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9";

/* What a verifier holds of one key: HS256, the secret; EdDSA, the public key. */
struct key_view {
    enum token_alg alg;
    const uint8_t *bytes;
    size_t len;
};

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ------------------------------------------------------------------ base64url */

/* b64url_value: the 6-bit value of C, or -1 if C is not in the base64url alphabet. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* b64url_decode: decodes N characters of unpadded base64url into OUT (CAP
 * bytes). Returns the decoded length, or -1 for a character outside the
 * alphabet, a length that no encoding has (N % 4 == 1), non-zero unused bits
 * in the last character (a second spelling of the same bytes), or too little
 * room. */
static int b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t olen = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    if (n % 4 == 1 || olen > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits of the last character must be zero */
        return -1;
    return (int)o;
}

/* b64url_encode: writes the unpadded base64url of IN (N bytes) to OUT (CAP
 * bytes, no NUL). Returns the encoded length, or -1 if it does not fit. */
static int b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t olen = n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
    size_t o = 0, i = 0;

    if (olen > cap)
        return -1;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        out[o++] = b64url_alphabet[in[i] >> 2];
        out[o++] = b64url_alphabet[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        out[o++] = b64url_alphabet[v >> 10];
        out[o++] = b64url_alphabet[(v >> 4) & 63];
        out[o++] = b64url_alphabet[(v & 15) << 2];
    }
    return (int)o;
}

/* ------------------------------------------------------------------ flat JSON scanner */

/* Only what a JWT header or payload of ours can hold: one object whose values
 * are strings, numbers, true, false or null. Keys and string values are
 * decoded into small fixed buffers; anything longer than a buffer is noted as
 * not fitting, which is enough, since every name and value we compare against
 * is short. */
#define JSON_KEY_CAP 8
#define JSON_STR_CAP 256 /* room for aud and iss values */

enum json_type {
    JSON_STRING,
    JSON_NUMBER,
    JSON_LITERAL, /* true, false or null: never a valid claim for us */
};

struct json_scan {
    const uint8_t *p;
    const uint8_t *end;
};

struct json_number {
    bool negative;
    bool integer;  /* no fraction and no exponent */
    bool overflow; /* integer part does not fit in a uint64_t */
    uint64_t magnitude;
};

struct json_member {
    char key[JSON_KEY_CAP];
    size_t key_len; /* decoded length, even when it exceeds JSON_KEY_CAP */
    enum json_type type;
    char str[JSON_STR_CAP];
    size_t str_len; /* as key_len */
    struct json_number num;
};

static void json_skip_ws(struct json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* utf8_seq_len: the length of the well-formed UTF-8 sequence at P (before
 * END), or 0 if it is not one (overlong, surrogate, above U+10FFFF, cut off). */
static size_t utf8_seq_len(const uint8_t *p, const uint8_t *end)
{
    size_t avail = (size_t)(end - p);
    uint8_t c = p[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        if (avail < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        if (avail < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* json_hex4: reads four hex digits at S into *V. Returns 0, or -1 if they are
 * not there. */
static int json_hex4(struct json_scan *s, uint32_t *v)
{
    uint32_t acc = 0;

    if (s->end - s->p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        uint8_t c = s->p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        acc = acc << 4 | d;
    }
    s->p += 4;
    *v = acc;
    return 0;
}

/* json_put: appends bytes to a decoded string, keeping count past CAP. */
static void json_put(char *out, size_t cap, size_t *len, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*len < cap)
            out[*len] = (char)bytes[i];
        (*len)++;
    }
}

/* json_escape_u: decodes the \uXXXX escape (or surrogate pair) whose 'u' is
 * at S and appends it as UTF-8. Returns 0, or -1 for bad hex or an unpaired
 * surrogate. */
static int json_escape_u(struct json_scan *s, char *out, size_t cap, size_t *len)
{
    uint32_t cp, lo;
    uint8_t u8[4];
    size_t n;

    s->p++; /* the 'u' */
    if (json_hex4(s, &cp) < 0)
        return -1;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return -1;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
            return -1;
        s->p += 2;
        if (json_hex4(s, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return -1;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp < 0x80) {
        u8[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u8[0] = (uint8_t)(0xc0 | cp >> 6);
        u8[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u8[0] = (uint8_t)(0xe0 | cp >> 12);
        u8[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u8[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u8[0] = (uint8_t)(0xf0 | cp >> 18);
        u8[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u8[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u8[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    json_put(out, cap, len, u8, n);
    return 0;
}

/* json_string: scans the string starting at S (which must be at '"'),
 * decoding it into OUT (CAP bytes; the rest is counted, not stored). Returns 0
 * and sets *LEN to the full decoded length, or -1 if the string is not valid
 * JSON (unterminated, raw control character, bad escape, bad UTF-8). */
static int json_string(struct json_scan *s, char *out, size_t cap, size_t *len)
{
    size_t n = 0;

    if (s->p >= s->end || *s->p != '"')
        return -1;
    s->p++;
    while (s->p < s->end) {
        uint8_t c = *s->p;
        if (c == '"') {
            s->p++;
            *len = n;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            uint8_t e;
            s->p++;
            if (s->p >= s->end)
                return -1;
            e = *s->p;
            if (e == 'u') {
                if (json_escape_u(s, out, cap, &n) < 0)
                    return -1;
                continue;
            }
            switch (e) {
            case '"': case '\\': case '/': break;
            case 'b': e = '\b'; break;
            case 'f': e = '\f'; break;
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            default: return -1;
            }
            json_put(out, cap, &n, &e, 1);
            s->p++;
            continue;
        }
        size_t seq = utf8_seq_len(s->p, s->end);
        if (seq == 0)
            return -1;
        json_put(out, cap, &n, s->p, seq);
        s->p += seq;
    }
    return -1;
}

/* json_number: scans a number at S per RFC 8259's grammar. Returns 0 and
 * fills *NUM, or -1 if what is there is not a JSON number. */
static int json_number(struct json_scan *s, struct json_number *num)
{
    struct json_number r = { .integer = true };

    if (s->p < s->end && *s->p == '-') {
        r.negative = true;
        s->p++;
    }
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return -1;
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            unsigned d = *s->p - '0';
            if (r.magnitude > (UINT64_MAX - d) / 10)
                r.overflow = true;
            else
                r.magnitude = r.magnitude * 10 + d;
            s->p++;
        }
    }
    if (s->p < s->end && *s->p == '.') {
        r.integer = false;
        s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return -1;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        r.integer = false;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return -1;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    *num = r;
    return 0;
}

/* json_literal: consumes WORD at S. Returns 0, or -1 if it is not there. */
static int json_literal(struct json_scan *s, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* json_value: scans one scalar value at S into M. Returns 0, or -1 for an
 * invalid value, an object or an array. */
static int json_value(struct json_scan *s, struct json_member *m)
{
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        m->type = JSON_STRING;
        return json_string(s, m->str, sizeof m->str, &m->str_len);
    case 't':
        m->type = JSON_LITERAL;
        return json_literal(s, "true");
    case 'f':
        m->type = JSON_LITERAL;
        return json_literal(s, "false");
    case 'n':
        m->type = JSON_LITERAL;
        return json_literal(s, "null");
    default:
        m->type = JSON_NUMBER;
        return json_number(s, &m->num);
    }
}

/* json_object_begin: consumes leading whitespace and '{'. Returns 0 or -1. */
static int json_object_begin(struct json_scan *s)
{
    json_skip_ws(s);
    if (s->p >= s->end || *s->p != '{')
        return -1;
    s->p++;
    return 0;
}

/* json_object_next: scans the next member of the object into M. Returns 1
 * for a member, 0 at the closing brace when only whitespace follows it (the
 * end of the document), -1 for anything malformed. FIRST tells whether any
 * member came before, which decides whether a comma is due. */
static int json_object_next(struct json_scan *s, bool first, struct json_member *m)
{
    json_skip_ws(s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == '}') {
        s->p++;
        json_skip_ws(s);
        return s->p == s->end ? 0 : -1;
    }
    if (!first) {
        if (*s->p != ',')
            return -1;
        s->p++;
        json_skip_ws(s);
    }
    if (json_string(s, m->key, sizeof m->key, &m->key_len) < 0)
        return -1;
    json_skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    s->p++;
    json_skip_ws(s);
    if (json_value(s, m) < 0)
        return -1;
    return 1;
}

static bool member_is(const struct json_member *m, const char *name)
{
    size_t n = strlen(name);
    return m->key_len == n && memcmp(m->key, name, n) == 0;
}

static bool string_is(const struct json_member *m, const char *value)
{
    size_t n = strlen(value);
    return m->type == JSON_STRING && m->str_len == n && memcmp(m->str, value, n) == 0;
}

/* ------------------------------------------------------------------ claims */

/* header_check: parses the decoded header. Returns 0 and *alg if it says
 * HS256 or EdDSA and nothing we do not understand, TOKEN_ERR_MALFORMED for
 * bad JSON or a repeated member, TOKEN_ERR_BAD_ALG otherwise. */
static int header_check(const uint8_t *json, size_t n, enum token_alg *alg)
{
    struct json_scan s = { json, json + n };
    struct json_member m;
    bool seen_alg = false, seen_typ = false, seen_kid = false, bad = false;
    int r;

    if (json_object_begin(&s) < 0)
        return TOKEN_ERR_MALFORMED;
    for (bool first = true; (r = json_object_next(&s, first, &m)) == 1; first = false) {
        bool *seen;
        if (member_is(&m, "alg")) {
            seen = &seen_alg;
            if (string_is(&m, "HS256"))
                *alg = TOKEN_ALG_HS256;
            else if (string_is(&m, "EdDSA"))
                *alg = TOKEN_ALG_EDDSA;
            else
                bad = true;
        } else if (member_is(&m, "typ")) {
            seen = &seen_typ;
            bad |= !string_is(&m, "JWT");
        } else if (member_is(&m, "kid")) {
            seen = &seen_kid;
        } else {
            /* crit, jku, x5u, b64...: each changes how a token must be
             * understood, and we implement none of them. */
            bad = true;
            continue;
        }
        if (*seen)
            return TOKEN_ERR_MALFORMED;
        *seen = true;
    }
    if (r < 0)
        return TOKEN_ERR_MALFORMED;
    return bad || !seen_alg ? TOKEN_ERR_BAD_ALG : 0;
}

/* A claim that must be an integer time: exp, nbf, iat. */
struct claim_time {
    bool seen;
    bool valid; /* a non-negative integer that fits int64_t */
    int64_t value;
};

/* A claim that must be a string: aud, iss. */
struct claim_string {
    bool seen;
    bool valid; /* a string of at most JSON_STR_CAP bytes */
    char value[JSON_STR_CAP];
    size_t len;
};

struct claims {
    bool sub_seen;
    bool sub_valid;
    uint64_t sub;
    struct claim_time exp, nbf, iat;
    struct claim_string aud, iss;
};

/* parse_sub_string: reads a canonical decimal u64 ("0" or no leading zero).
 * Returns 0 and writes *ID, or -1. */
static int parse_sub_string(const char *str, size_t n, uint64_t *id)
{
    uint64_t v = 0;

    if (n == 0 || n > 20 || (str[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)str[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *id = v;
    return 0;
}

/* A sub is a user id only in 1..2^63-1: 0 is nobody, and PostgreSQL's
 * bigint holds no more (schema/001_users.sql). */
static bool sub_in_range(uint64_t id)
{
    return id >= 1 && id <= (uint64_t)INT64_MAX;
}

static void claim_sub(struct claims *c, const struct json_member *m)
{
    uint64_t id;

    c->sub_seen = true;
    if (m->type == JSON_STRING) {
        /* Longer than the buffer means longer than any u64. */
        if (m->str_len <= sizeof m->str && parse_sub_string(m->str, m->str_len, &id) == 0 &&
            sub_in_range(id)) {
            c->sub_valid = true;
            c->sub = id;
        }
    } else if (m->type == JSON_NUMBER && m->num.integer && !m->num.negative &&
               !m->num.overflow && sub_in_range(m->num.magnitude)) {
        c->sub_valid = true;
        c->sub = m->num.magnitude;
    }
}

static void claim_string(struct claim_string *t, const struct json_member *m)
{
    t->seen = true;
    if (m->type == JSON_STRING && m->str_len <= sizeof m->str) {
        t->valid = true;
        memcpy(t->value, m->str, m->str_len);
        t->len = m->str_len;
    }
}

static void claim_time(struct claim_time *t, const struct json_member *m)
{
    t->seen = true;
    if (m->type == JSON_NUMBER && m->num.integer && !m->num.negative && !m->num.overflow &&
        m->num.magnitude <= INT64_MAX) {
        t->valid = true;
        t->value = (int64_t)m->num.magnitude;
    }
}

/* payload_parse: fills *C from the decoded payload. Returns 0, or
 * TOKEN_ERR_MALFORMED for bad JSON or a claim we read given twice. */
static int payload_parse(const uint8_t *json, size_t n, struct claims *c)
{
    struct json_scan s = { json, json + n };
    struct json_member m;
    int r;

    if (json_object_begin(&s) < 0)
        return TOKEN_ERR_MALFORMED;
    for (bool first = true; (r = json_object_next(&s, first, &m)) == 1; first = false) {
        if (member_is(&m, "sub")) {
            if (c->sub_seen)
                return TOKEN_ERR_MALFORMED;
            claim_sub(c, &m);
        } else if (member_is(&m, "exp") || member_is(&m, "nbf") || member_is(&m, "iat")) {
            struct claim_time *t = m.key[0] == 'e' ? &c->exp : m.key[0] == 'n' ? &c->nbf : &c->iat;
            if (t->seen)
                return TOKEN_ERR_MALFORMED;
            claim_time(t, &m);
        } else if (member_is(&m, "aud") || member_is(&m, "iss")) {
            struct claim_string *t = m.key[0] == 'a' ? &c->aud : &c->iss;
            if (t->seen)
                return TOKEN_ERR_MALFORMED;
            claim_string(t, &m);
        }
    }
    return r < 0 ? TOKEN_ERR_MALFORMED : 0;
}

/* ------------------------------------------------------------------ verify and sign */

/* hmac_sha256: MAC of DATA under KEY into OUT. Returns 0, or TOKEN_ERR_CRYPTO. */
static int hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t n,
                       uint8_t out[SIG_LEN])
{
    unsigned int mdlen = 0;

    if (keylen > INT32_MAX)
        return TOKEN_ERR_CRYPTO;
    if (!HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &mdlen) || mdlen != SIG_LEN)
        return TOKEN_ERR_CRYPTO;
    return 0;
}

/* Returns true when a policy value (NULL: not required) is met by claim t. */
static bool claim_matches(const char *want, size_t want_len, const struct claim_string *t)
{
    if (want == NULL)
        return true;
    return t->seen && t->valid && t->len == want_len && memcmp(t->value, want, want_len) == 0;
}

/* ed25519_verify: 1 when sig (n bytes) is pub's signature of data, 0 when it
 * is not, TOKEN_ERR_CRYPTO when libcrypto fails. */
static int ed25519_verify(const uint8_t *pub, const uint8_t *sig, size_t n, const void *data,
                          size_t len)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, TOKEN_ED25519_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int r = TOKEN_ERR_CRYPTO;

    if (pkey != NULL && ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1)
        r = n == ED_SIG_LEN && EVP_DigestVerify(ctx, sig, n, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

/* ed25519_sign: signs data with the private seed priv into sig. Returns 0 or
 * TOKEN_ERR_CRYPTO. */
static int ed25519_sign(const uint8_t *priv, const void *data, size_t len,
                        uint8_t sig[ED_SIG_LEN])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, TOKEN_ED25519_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = ED_SIG_LEN;
    int r = TOKEN_ERR_CRYPTO;

    if (pkey != NULL && ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestSign(ctx, sig, &n, data, len) == 1 && n == ED_SIG_LEN)
        r = 0;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

/* check_core: verifies a token against the keys in views (at most one per
 * algorithm): the header's alg picks the key, so a token is only ever
 * checked with a key of the algorithm it names and no HS256 token can be
 * made from a public key. */
static int check_core(const struct key_view *views, size_t nviews, const char *token, size_t len,
                      int64_t now_s, const struct token_policy *policy, struct token_claims *out)
{
    uint8_t header[PART_MAX], payload[PART_MAX], sig[PART_MAX], mac[SIG_LEN];
    const char *dot1, *dot2, *sig_b64;
    size_t header_b64_len, payload_b64_len, sig_b64_len;
    int header_len, payload_len, sig_len, r;
    enum token_alg alg = 0;
    const struct key_view *key = NULL;
    struct claims c = { 0 };

    if (!token || len == 0 || len > TOKEN_LEN_MAX)
        return TOKEN_ERR_MALFORMED;

    dot1 = memchr(token, '.', len);
    if (!dot1)
        return TOKEN_ERR_MALFORMED;
    header_b64_len = (size_t)(dot1 - token);
    dot2 = memchr(dot1 + 1, '.', len - header_b64_len - 1);
    if (!dot2)
        return TOKEN_ERR_MALFORMED;
    payload_b64_len = (size_t)(dot2 - dot1 - 1);
    sig_b64 = dot2 + 1;
    sig_b64_len = len - (size_t)(sig_b64 - token);
    /* A third dot fails in the decode below: '.' is not in the alphabet. */

    if (header_b64_len == 0 || payload_b64_len == 0)
        return TOKEN_ERR_MALFORMED;
    header_len = b64url_decode(token, header_b64_len, header, sizeof header);
    payload_len = b64url_decode(dot1 + 1, payload_b64_len, payload, sizeof payload);
    sig_len = b64url_decode(sig_b64, sig_b64_len, sig, sizeof sig);
    if (header_len < 0 || payload_len < 0 || sig_len < 0)
        return TOKEN_ERR_MALFORMED;

    r = header_check(header, (size_t)header_len, &alg);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nviews && key == NULL; i++)
        if (views[i].alg == alg)
            key = &views[i];
    if (key == NULL)
        return TOKEN_ERR_BAD_ALG; /* an algorithm this verifier has no key for */

    /* Nothing the payload says is believed before this. */
    if (alg == TOKEN_ALG_HS256) {
        r = hmac_sha256(key->bytes, key->len, token, (size_t)(dot2 - token), mac);
        if (r < 0)
            return r;
        if (sig_len != SIG_LEN || CRYPTO_memcmp(mac, sig, SIG_LEN) != 0)
            return TOKEN_ERR_BAD_SIGNATURE;
    } else {
        r = ed25519_verify(key->bytes, sig, (size_t)sig_len, token, (size_t)(dot2 - token));
        if (r < 0)
            return r;
        if (r == 0)
            return TOKEN_ERR_BAD_SIGNATURE;
    }

    r = payload_parse(payload, (size_t)payload_len, &c);
    if (r < 0)
        return r;
    if (!c.sub_seen || !c.sub_valid)
        return TOKEN_ERR_NO_SUB;
    if (!c.exp.seen || !c.exp.valid)
        return TOKEN_ERR_NO_EXP;
    if ((c.nbf.seen && !c.nbf.valid) || (c.iat.seen && !c.iat.valid))
        return TOKEN_ERR_MALFORMED;
    if (c.nbf.seen && now_s < c.nbf.value)
        return TOKEN_ERR_NOT_YET_VALID;
    if (now_s >= c.exp.value)
        return TOKEN_ERR_EXPIRED;
    if ((c.aud.seen && !c.aud.valid) || (c.iss.seen && !c.iss.valid))
        return TOKEN_ERR_MALFORMED;
    if (policy != NULL && !claim_matches(policy->audience, policy->audience_len, &c.aud))
        return TOKEN_ERR_BAD_AUDIENCE;
    if (policy != NULL && !claim_matches(policy->issuer, policy->issuer_len, &c.iss))
        return TOKEN_ERR_BAD_ISSUER;
    out->user = c.sub;
    out->exp = c.exp.value;
    return 0;
}

int token_check(const uint8_t *key, size_t keylen, const char *token, size_t len,
                int64_t now_s, const struct token_policy *policy, struct token_claims *out)
{
    struct key_view view = { TOKEN_ALG_HS256, key, keylen };

    if (!key || keylen < TOKEN_KEY_MIN)
        return TOKEN_ERR_WEAK_KEY;
    return check_core(&view, 1, token, len, now_s, policy, out);
}

int token_check_keys(const struct token_key *keys, size_t n, const char *token, size_t len,
                     int64_t now_s, const struct token_policy *policy, struct token_claims *out)
{
    struct key_view views[KEYS_MAX];

    if (keys == NULL || n == 0 || n > KEYS_MAX)
        return TOKEN_ERR_WEAK_KEY;
    for (size_t i = 0; i < n; i++) {
        if (keys[i].alg == TOKEN_ALG_HS256 && keys[i].len >= TOKEN_KEY_MIN)
            views[i] = (struct key_view){ TOKEN_ALG_HS256, keys[i].secret, keys[i].len };
        else if (keys[i].alg == TOKEN_ALG_EDDSA)
            views[i] = (struct key_view){ TOKEN_ALG_EDDSA, keys[i].pub, TOKEN_ED25519_LEN };
        else
            return TOKEN_ERR_WEAK_KEY;
        for (size_t j = 0; j < i; j++)
            if (views[j].alg == views[i].alg)
                return TOKEN_ERR_BAD_KEY; /* which one would a token mean? */
    }
    return check_core(views, n, token, len, now_s, policy, out);
}

int token_verify(const uint8_t *key, size_t keylen, const char *token, size_t len,
                 int64_t now_s, uint64_t *user_id)
{
    struct token_claims claims;
    int r = token_check(key, keylen, token, len, now_s, NULL, &claims);

    if (r == 0)
        *user_id = claims.user;
    return r;
}

/* sign_core: a token for user_id expiring at exp_s, signed with HS256 under
 * (secret, len) or with EdDSA under the private seed secret. */
static int sign_core(enum token_alg alg, const uint8_t *secret, size_t len, uint64_t user_id,
                     int64_t exp_s, char *out, size_t cap)
{
    /* Header, payload and signature of a token we sign fit in here. */
    char buf[320], payload[96];
    const char *header = alg == TOKEN_ALG_EDDSA ? eddsa_header_b64 : hs256_header_b64;
    uint8_t sig[ED_SIG_LEN];
    size_t pos, sig_len = alg == TOKEN_ALG_EDDSA ? ED_SIG_LEN : SIG_LEN;
    int n, r;

    if (exp_s < 0)
        return TOKEN_ERR_NO_EXP;
    if (!sub_in_range(user_id))
        return TOKEN_ERR_NO_SUB;

    n = snprintf(payload, sizeof payload, "{\"sub\":\"%" PRIu64 "\",\"exp\":%" PRId64 "}",
                 user_id, exp_s);
    if (n < 0 || (size_t)n >= sizeof payload)
        return TOKEN_ERR_NO_SPACE;

    pos = strlen(header);
    memcpy(buf, header, pos);
    buf[pos++] = '.';
    r = b64url_encode((const uint8_t *)payload, (size_t)n, buf + pos, sizeof buf - pos);
    if (r < 0)
        return TOKEN_ERR_NO_SPACE;
    pos += (size_t)r;

    r = alg == TOKEN_ALG_EDDSA ? ed25519_sign(secret, buf, pos, sig)
                               : hmac_sha256(secret, len, buf, pos, sig);
    if (r < 0)
        return r;
    buf[pos++] = '.';
    r = b64url_encode(sig, sig_len, buf + pos, sizeof buf - pos);
    OPENSSL_cleanse(sig, sizeof sig);
    if (r < 0)
        return TOKEN_ERR_NO_SPACE;
    pos += (size_t)r;

    if (!out || cap <= pos)
        return TOKEN_ERR_NO_SPACE;
    memcpy(out, buf, pos);
    out[pos] = '\0';
    return (int)pos;
}

int token_sign(const uint8_t *key, size_t keylen, uint64_t user_id, int64_t exp_s,
               char *out, size_t cap)
{
    if (!key || keylen < TOKEN_KEY_MIN)
        return TOKEN_ERR_WEAK_KEY;
    return sign_core(TOKEN_ALG_HS256, key, keylen, user_id, exp_s, out, cap);
}

int token_sign_key(const struct token_key *key, uint64_t user_id, int64_t exp_s, char *out,
                   size_t cap)
{
    if (key == NULL || (key->alg == TOKEN_ALG_HS256 && key->len < TOKEN_KEY_MIN))
        return TOKEN_ERR_WEAK_KEY;
    if (key->alg != TOKEN_ALG_HS256 && key->alg != TOKEN_ALG_EDDSA)
        return TOKEN_ERR_WEAK_KEY;
    if (!key->can_sign)
        return TOKEN_ERR_CANNOT_SIGN;
    return sign_core(key->alg, key->secret, key->len, user_id, exp_s, out, cap);
}

const char *token_strerror(int err)
{
    switch (err) {
    case TOKEN_OK: return "ok";
    case TOKEN_ERR_MALFORMED: return "token is not three base64url parts of well-formed JSON";
    case TOKEN_ERR_BAD_ALG:
        return "token header's alg is not that of a key this verifier has (HS256 or EdDSA)";
    case TOKEN_ERR_BAD_SIGNATURE: return "token signature does not match (wrong key or altered token)";
    case TOKEN_ERR_EXPIRED: return "token has expired";
    case TOKEN_ERR_NOT_YET_VALID: return "token is not valid yet (nbf is in the future)";
    case TOKEN_ERR_NO_SUB: return "token has no sub claim that is a user id in 1..2^63-1";
    case TOKEN_ERR_NO_EXP: return "token has no exp claim that is a non-negative integer";
    case TOKEN_ERR_WEAK_KEY: return "token key is shorter than 32 bytes";
    case TOKEN_ERR_NO_SPACE: return "output buffer too small for the token";
    case TOKEN_ERR_CRYPTO: return "libcrypto failed to compute the signature";
    case TOKEN_ERR_IO: return "cannot read the token key file";
    case TOKEN_ERR_BAD_AUDIENCE: return "token aud claim is not this service's audience";
    case TOKEN_ERR_BAD_ISSUER: return "token iss claim is not the expected issuer";
    case TOKEN_ERR_KEY_MODE:
        return "token key file may be read by group or others; make it the owner's alone (chmod 600)";
    case TOKEN_ERR_BAD_KEY:
        return "not a token key: want an HS256 secret of 32 bytes or more, or an Ed25519 key "
               "in PEM (openssl genpkey -algorithm ed25519)";
    case TOKEN_ERR_CANNOT_SIGN:
        return "this key verifies tokens only (an Ed25519 public key): signing needs the private key";
    }
    return "unknown token error";
}
