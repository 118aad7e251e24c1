/* fuzz-token.c: libFuzzer target for auth/token.c: token_verify, token_check and token_check_keys (HS256 and EdDSA) on raw tokens and on tokens signed here around fuzzed JSON.
 *
 * Input: one byte of mode, then
 *   bit 0 clear  a token as a phone sends it, verified as it is. The fuzzer
 *                cannot forge a signature, so this reaches the base64url
 *                decoder, the header's JSON and the signature check.
 *   bit 0 set    the header's JSON, a NUL byte, and the payload's JSON: the
 *                target encodes both and signs them, with HMAC-SHA256 or,
 *                when bit 1 is set, Ed25519, which takes the fuzzer on into
 *                the payload's JSON and the claims.
 * Every token goes through every way in, which must agree: token_verify and
 * token_check with the HS256 secret; token_check_keys with that secret, with
 * the Ed25519 key (and its public half alone), and with both, where the
 * header's alg picks the key; and with an aud/iss policy, which only a token
 * good otherwise can fail (aud and iss are checked last). A token that
 * verifies must fail under other keys (BAD_SIGNATURE) and once its exp has
 * passed, and token_sign_key for its user must verify to the same claims. A
 * failure leaves the out-parameter alone.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "token.h"

#define NOW 1900000000 /* as test-token.c: a fixed "now" before its tokens' exp */

static const uint8_t secret[] = "nearby-test-key-0123456789abcdef";
static const uint8_t other_secret[] = "nearby-test-key-0123456789abcdeg";
static const uint8_t ed_seed[TOKEN_ED25519_LEN] = "nearby-fuzz-ed25519-seed-0123456";
static const uint8_t other_ed_seed[TOKEN_ED25519_LEN] = "nearby-fuzz-ed25519-seed-0123457";
#define SECRET_LEN (sizeof secret - 1)

#define AUDIENCE "nearby"
#define ISSUER "https://auth.nearby.example"
static const struct token_policy policy = {AUDIENCE, sizeof AUDIENCE - 1, ISSUER,
                                           sizeof ISSUER - 1};

/* The keys, made once: hs and ed sign, ed_public only verifies, the other_*
 * are wrong for every token the target signs. */
static struct token_key hs, ed, ed_public, other_hs, other_ed;

static void hs_key(struct token_key *k, const uint8_t *bytes)
{
    memset(k, 0, sizeof *k);
    k->alg = TOKEN_ALG_HS256;
    k->can_sign = 1;
    k->len = SECRET_LEN;
    memcpy(k->secret, bytes, SECRET_LEN);
}

static void ed_key(struct token_key *k, const uint8_t seed[TOKEN_ED25519_LEN], int can_sign)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
                                                  TOKEN_ED25519_LEN);
    size_t n = TOKEN_ED25519_LEN;

    memset(k, 0, sizeof *k);
    k->alg = TOKEN_ALG_EDDSA;
    k->can_sign = can_sign;
    if (can_sign) {
        k->len = TOKEN_ED25519_LEN;
        memcpy(k->secret, seed, TOKEN_ED25519_LEN);
    }
    FUZZ_CHECK(pkey != NULL && EVP_PKEY_get_raw_public_key(pkey, k->pub, &n) == 1 &&
               n == TOKEN_ED25519_LEN);
    EVP_PKEY_free(pkey);
}

static void make_keys(void)
{
    static int made;

    if (made)
        return;
    hs_key(&hs, secret);
    hs_key(&other_hs, other_secret);
    ed_key(&ed, ed_seed, 1);
    ed_key(&ed_public, ed_seed, 0);
    ed_key(&other_ed, other_ed_seed, 1);
    made = 1;
}

static int known_error(int r)
{
    return r == TOKEN_ERR_MALFORMED || r == TOKEN_ERR_BAD_ALG || r == TOKEN_ERR_BAD_SIGNATURE ||
           r == TOKEN_ERR_EXPIRED || r == TOKEN_ERR_NOT_YET_VALID || r == TOKEN_ERR_NO_SUB ||
           r == TOKEN_ERR_NO_EXP;
}

/* Checks one answer: a known error with *out untouched, or good claims. */
static int answer(int r, const struct token_claims *got, const struct token_policy *pol,
                  int64_t now)
{
    FUZZ_CHECK(r == 0 || known_error(r) ||
               (pol != NULL && (r == TOKEN_ERR_BAD_AUDIENCE || r == TOKEN_ERR_BAD_ISSUER)));
    FUZZ_CHECK(strcmp(token_strerror(r), "unknown token error") != 0);
    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(*got));
        return r;
    }
    FUZZ_CHECK(got->user >= 1 && got->user <= (uint64_t)INT64_MAX);
    FUZZ_CHECK(got->exp > now);
    return 0;
}

/* token_check_keys on an exact-size copy. */
static int check_keys(const struct token_key *keys, size_t n, const char *token, size_t len,
                      int64_t now, const struct token_policy *pol, struct token_claims *out)
{
    char *copy = (char *)fuzz_copy(token, len);
    struct token_claims got;
    FUZZ_POISON(got);
    int r = answer(token_check_keys(keys, n, copy, len, now, pol, &got), &got, pol, now);

    free(copy);
    if (r == 0)
        *out = got;
    return r;
}

/* token_check with the HS256 secret, on an exact-size copy. */
static int check_secret(const char *token, size_t len, int64_t now,
                        const struct token_policy *pol, struct token_claims *out)
{
    char *copy = (char *)fuzz_copy(token, len);
    struct token_claims got;
    FUZZ_POISON(got);
    int r = answer(token_check(secret, SECRET_LEN, copy, len, now, pol, &got), &got, pol, now);

    free(copy);
    if (r == 0)
        *out = got;
    return r;
}

static int same_claims(const struct token_claims *a, const struct token_claims *b)
{
    return a->user == b->user && a->exp == b->exp;
}

/* Every way in, which must agree. Returns what a gateway holding both keys
 * answers, with the claims in *out, and in *alg which key took it. */
static int verify(const char *token, size_t len, int64_t now, struct token_claims *out,
                  enum token_alg *alg)
{
    struct token_claims c_secret, c_hs, c_ed, c_pub, c_both, c_swapped, c_strict;
    const struct token_key both[2] = {hs, ed}, swapped[2] = {ed, hs};

    char *copy = (char *)fuzz_copy(token, len);
    uint64_t user;
    FUZZ_POISON(user);
    int r_verify = token_verify(secret, SECRET_LEN, copy, len, now, &user);
    free(copy);

    int r_secret = check_secret(token, len, now, NULL, &c_secret);
    int r_hs = check_keys(&hs, 1, token, len, now, NULL, &c_hs);
    int r_ed = check_keys(&ed, 1, token, len, now, NULL, &c_ed);
    int r_pub = check_keys(&ed_public, 1, token, len, now, NULL, &c_pub);
    int r_both = check_keys(both, 2, token, len, now, NULL, &c_both);
    int r_swapped = check_keys(swapped, 2, token, len, now, NULL, &c_swapped);
    int r_strict = check_keys(both, 2, token, len, now, &policy, &c_strict);

    /* One HS256 secret, three ways. */
    FUZZ_CHECK(r_secret == r_verify && r_hs == r_verify);
    if (r_verify < 0)
        FUZZ_CHECK(FUZZ_UNTOUCHED(user));
    else
        FUZZ_CHECK(c_secret.user == user && same_claims(&c_secret, &c_hs));
    /* A public key verifies what its private key does. */
    FUZZ_CHECK(r_pub == r_ed && (r_ed < 0 || same_claims(&c_pub, &c_ed)));
    /* The header's alg picks the key: a token one key refuses as an alg it
     * does not have is the other key's to judge; the order of keys is nobody's. */
    int want = r_hs != TOKEN_ERR_BAD_ALG ? r_hs : r_ed;
    FUZZ_CHECK(r_both == want && r_swapped == want);
    FUZZ_CHECK(r_hs == TOKEN_ERR_BAD_ALG || r_ed == TOKEN_ERR_BAD_ALG || r_hs == r_ed);
    FUZZ_CHECK(r_hs < 0 || r_ed < 0);
    if (r_both == 0)
        FUZZ_CHECK(same_claims(&c_both, r_hs == 0 ? &c_hs : &c_ed) &&
                   same_claims(&c_both, &c_swapped));
    /* The policy comes last. */
    if (r_both < 0)
        FUZZ_CHECK(r_strict == r_both);
    else
        FUZZ_CHECK(r_strict != 0 || same_claims(&c_strict, &c_both));
    if (r_both == 0) {
        *out = c_both;
        *alg = r_hs == 0 ? TOKEN_ALG_HS256 : TOKEN_ALG_EDDSA;
    }
    return r_both;
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

/* Builds base64url(header) "." base64url(payload) "." signature (HS256 with
 * secret, or Ed25519 with ed_seed) in a malloc'd string of *len bytes. */
static char *sign_parts(const uint8_t *header, size_t hlen, const uint8_t *payload, size_t plen,
                        enum token_alg alg, size_t *len)
{
    char *token = (char *)fuzz_alloc((hlen + plen) / 3 * 4 + 128);
    size_t n = b64url(header, hlen, token), sig_len = 64;
    uint8_t sig[64];

    token[n++] = '.';
    n += b64url(payload, plen, token + n);
    if (alg == TOKEN_ALG_HS256) {
        unsigned mac_len = 0;
        FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)SECRET_LEN, (const uint8_t *)token, n, sig,
                        &mac_len) && mac_len == 32);
        sig_len = mac_len;
    } else {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed,
                                                      TOKEN_ED25519_LEN);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        FUZZ_CHECK(pkey != NULL && ctx != NULL &&
                   EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
                   EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)token, n) == 1 &&
                   sig_len == 64);
        EVP_MD_CTX_free(ctx);
        EVP_PKEY_free(pkey);
    }
    token[n++] = '.';
    n += b64url(sig, sig_len, token + n);
    *len = n;
    return token;
}

/* What must hold of a token that verified at NOW under the key of alg. */
static void check_verified(const char *token, size_t len, const struct token_claims *claims,
                           enum token_alg alg)
{
    const struct token_key others[2] = {other_hs, other_ed};
    struct token_claims again;
    enum token_alg again_alg;

    FUZZ_CHECK(check_keys(others, 2, token, len, NOW, NULL, &again) == TOKEN_ERR_BAD_SIGNATURE);
    FUZZ_CHECK(verify(token, len, claims->exp, &again, &again_alg) == TOKEN_ERR_EXPIRED);
    FUZZ_CHECK(verify(token, len, claims->exp - 1, &again, &again_alg) == 0 &&
               same_claims(&again, claims) && again_alg == alg);

    /* Signed again by token.c itself, for the same user and exp. */
    char signed_token[320];
    int n = token_sign_key(alg == TOKEN_ALG_HS256 ? &hs : &ed, claims->user, claims->exp,
                           signed_token, sizeof signed_token);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(verify(signed_token, (size_t)n, NOW, &again, &again_alg) == 0);
    FUZZ_CHECK(same_claims(&again, claims) && again_alg == alg);
    /* It writes no aud, so the policy refuses it. */
    const struct token_key both[2] = {hs, ed};
    FUZZ_CHECK(check_keys(both, 2, signed_token, (size_t)n, NOW, &policy, &again) ==
               TOKEN_ERR_BAD_AUDIENCE);
    FUZZ_CHECK(token_sign_key(&ed_public, claims->user, claims->exp, signed_token,
                              sizeof signed_token) == TOKEN_ERR_CANNOT_SIGN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct token_claims claims;
    enum token_alg alg;

    if (size < 1)
        return 0;
    make_keys();
    const uint8_t *rest = data + 1;
    size_t len = size - 1;

    if ((data[0] & 1) == 0) {
        if (verify((const char *)rest, len, NOW, &claims, &alg) == 0)
            check_verified((const char *)rest, len, &claims, alg);
        return 0;
    }

    const uint8_t *nul = memchr(rest, '\0', len);
    size_t hlen = nul ? (size_t)(nul - rest) : len;
    const uint8_t *payload = nul ? nul + 1 : rest + len;
    size_t plen = nul ? len - hlen - 1 : 0;
    enum token_alg signer = data[0] & 2 ? TOKEN_ALG_EDDSA : TOKEN_ALG_HS256;
    size_t tlen;
    char *token = sign_parts(rest, hlen, payload, plen, signer, &tlen);
    int r = verify(token, tlen, NOW, &claims, &alg);

    /* Our own signature is right for a key of the signer's alg: whatever
     * fails, it is not that. */
    struct token_claims unused;
    int r_signer = check_keys(signer == TOKEN_ALG_HS256 ? &hs : &ed, 1, token, tlen, NOW, NULL,
                              &unused);
    FUZZ_CHECK(r_signer != TOKEN_ERR_BAD_SIGNATURE);
    if (tlen > TOKEN_LEN_MAX || hlen == 0 || plen == 0)
        FUZZ_CHECK(r == TOKEN_ERR_MALFORMED);
    if (r == 0) {
        FUZZ_CHECK(alg == signer);
        check_verified(token, tlen, &claims, alg);
    }
    free(token);
    return 0;
}
