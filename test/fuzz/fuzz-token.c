/* fuzz-token.c: libFuzzer target for auth/token.c: token_verify and token_check on raw tokens, and on tokens signed here around fuzzed JSON.
 *
 * Input: one byte of mode, then
 *   even   a token as a phone sends it, verified as it is. The fuzzer cannot
 *          forge a signature, so this reaches the base64url decoder, the
 *          header's JSON and the signature check.
 *   odd    the header's JSON, a NUL byte, and the payload's JSON: the target
 *          encodes both, signs them with the key and verifies that, which
 *          takes the fuzzer on into the payload's JSON and the claims.
 * Every token goes through token_verify, token_check without a policy (the
 * same answer, and the same user) and token_check with an audience and an
 * issuer (the same answer unless the token is good otherwise, since aud and
 * iss are checked last). A token that verifies must fail with any other key
 * (BAD_SIGNATURE) and once its exp has passed; token_sign for its user must
 * verify to the same user. A failure leaves the out-parameter alone.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "token.h"

#define NOW 1900000000 /* as test-token.c: a fixed "now" before its tokens' exp */

static const uint8_t key[] = "nearby-test-key-0123456789abcdef";
static const uint8_t other_key[] = "nearby-test-key-0123456789abcdeg";
#define KEYLEN (sizeof key - 1)

#define AUDIENCE "nearby"
#define ISSUER "https://auth.nearby.example"
static const struct token_policy policy = {AUDIENCE, sizeof AUDIENCE - 1, ISSUER,
                                           sizeof ISSUER - 1};

static int known_error(int r)
{
    return r == TOKEN_ERR_MALFORMED || r == TOKEN_ERR_BAD_ALG || r == TOKEN_ERR_BAD_SIGNATURE ||
           r == TOKEN_ERR_EXPIRED || r == TOKEN_ERR_NOT_YET_VALID || r == TOKEN_ERR_NO_SUB ||
           r == TOKEN_ERR_NO_EXP;
}

/* token_check on an exact-size copy; checks the failure half of the contract. */
static int check(const uint8_t *k, const char *token, size_t len, int64_t now,
                 const struct token_policy *pol, struct token_claims *out)
{
    char *copy = (char *)fuzz_copy(token, len);
    struct token_claims got;
    FUZZ_POISON(got);
    int r = token_check(k, KEYLEN, copy, len, now, pol, &got);

    free(copy);
    FUZZ_CHECK(r == 0 || known_error(r) ||
               (pol != NULL && (r == TOKEN_ERR_BAD_AUDIENCE || r == TOKEN_ERR_BAD_ISSUER)));
    FUZZ_CHECK(strcmp(token_strerror(r), "unknown token error") != 0);
    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(got));
        return r;
    }
    FUZZ_CHECK(got.user >= 1 && got.user <= (uint64_t)INT64_MAX);
    FUZZ_CHECK(got.exp > now);
    *out = got;
    return 0;
}

/* All three ways in; returns token_verify's answer, with the claims. */
static int verify(const uint8_t *k, const char *token, size_t len, int64_t now,
                  struct token_claims *out)
{
    char *copy = (char *)fuzz_copy(token, len);
    uint64_t user;
    FUZZ_POISON(user);
    int r = token_verify(k, KEYLEN, copy, len, now, &user);
    free(copy);

    struct token_claims plain, strict;
    FUZZ_CHECK(check(k, token, len, now, NULL, &plain) == r);
    int rs = check(k, token, len, now, &policy, &strict);
    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(user));
        FUZZ_CHECK(rs == r);
        return r;
    }
    FUZZ_CHECK(user == plain.user);
    FUZZ_CHECK(rs == 0 || rs == TOKEN_ERR_BAD_AUDIENCE || rs == TOKEN_ERR_BAD_ISSUER);
    if (rs == 0)
        FUZZ_CHECK(strict.user == plain.user && strict.exp == plain.exp);
    *out = plain;
    return 0;
}

/* Unpadded base64url through libcrypto's encoder, not token.c's. Returns the
 * length written to out, which needs 4 * ceil(n / 3) + 1 bytes. */
static size_t b64url(const uint8_t *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return (size_t)len;
}

/* Builds base64url(header) "." base64url(payload) "." signature in a malloc'd
 * string; *len gets its length. */
static char *sign_parts(const uint8_t *header, size_t hlen, const uint8_t *payload, size_t plen,
                        size_t *len)
{
    char *token = (char *)fuzz_alloc((hlen + plen) / 3 * 4 + 64 + 16);
    size_t n = b64url(header, hlen, token);
    uint8_t mac[32];
    unsigned mac_len = 0;

    token[n++] = '.';
    n += b64url(payload, plen, token + n);
    FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)KEYLEN, (const uint8_t *)token, n, mac, &mac_len) &&
               mac_len == sizeof mac);
    token[n++] = '.';
    n += b64url(mac, sizeof mac, token + n);
    *len = n;
    return token;
}

/* What must hold of a token that verified at NOW. */
static void check_verified(const char *token, size_t len, const struct token_claims *claims)
{
    struct token_claims again;

    FUZZ_CHECK(verify(other_key, token, len, NOW, &again) == TOKEN_ERR_BAD_SIGNATURE);
    FUZZ_CHECK(verify(key, token, len, claims->exp, &again) == TOKEN_ERR_EXPIRED);
    FUZZ_CHECK(verify(key, token, len, claims->exp - 1, &again) == 0 &&
               again.user == claims->user && again.exp == claims->exp);

    char signed_token[256];
    int n = token_sign(key, KEYLEN, claims->user, claims->exp, signed_token, sizeof signed_token);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(verify(key, signed_token, (size_t)n, NOW, &again) == 0);
    FUZZ_CHECK(again.user == claims->user && again.exp == claims->exp);
    /* token_sign writes no aud: the policy refuses what it signs. */
    FUZZ_CHECK(check(key, signed_token, (size_t)n, NOW, &policy, &again) ==
               TOKEN_ERR_BAD_AUDIENCE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token_claims claims;

    if (size < 1)
        return 0;
    const uint8_t *rest = data + 1;
    size_t len = size - 1;

    if ((data[0] & 1) == 0) {
        if (verify(key, (const char *)rest, len, NOW, &claims) == 0)
            check_verified((const char *)rest, len, &claims);
        return 0;
    }

    const uint8_t *nul = memchr(rest, '\0', len);
    size_t hlen = nul ? (size_t)(nul - rest) : len;
    const uint8_t *payload = nul ? nul + 1 : rest + len;
    size_t plen = nul ? len - hlen - 1 : 0;
    size_t tlen;
    char *token = sign_parts(rest, hlen, payload, plen, &tlen);
    int r = verify(key, token, tlen, NOW, &claims);

    /* Our own signature is right: whatever fails, it is not that. */
    FUZZ_CHECK(r != TOKEN_ERR_BAD_SIGNATURE);
    if (tlen > TOKEN_LEN_MAX || hlen == 0 || plen == 0)
        FUZZ_CHECK(r == TOKEN_ERR_MALFORMED);
    if (r == 0)
        check_verified(token, tlen, &claims);
    free(token);
    return 0;
}
