/* token.h: the signed session tokens a phone presents in its `init` frame (HS256 or EdDSA JWT).
 *
 * A token is the JWS compact serialisation "HEADER.PAYLOAD.SIGNATURE": three
 * base64url parts without padding. We issue and accept exactly one shape:
 *
 *   header   {"alg":"HS256","typ":"JWT"}   alg must be "HS256" or "EdDSA"
 *            (or "EdDSA")                  (Ed25519, RFC 8037), and the verifier
 *                                          must hold a key of that algorithm:
 *                                          the header picks the key, never the
 *                                          other way round; typ, if present,
 *                                          must be "JWT"; kid is allowed and
 *                                          ignored; any other member (crit, jku,
 *                                          ...) is refused as TOKEN_ERR_BAD_ALG,
 *                                          since we implement no extension.
 *   payload  {"sub":"42","exp":1700000000}
 *            sub  required: the user id, either a decimal string ("42", the
 *                 RFC 7519 StringOrURI form that token_sign writes) or a JSON
 *                 integer (42); canonical decimal only (no sign, no leading
 *                 zero), 1..2^63-1: 0 is nobody and PostgreSQL's bigint holds
 *                 no more (schema/001_users.sql); others are NO_SUB.
 *            exp  required: integer seconds since the epoch, 0..INT64_MAX.
 *                 The token is expired when now >= exp, with no leeway: issuer
 *                 and verifier are our own servers on synchronised clocks.
 *            nbf  optional integer; the token is refused while now < nbf.
 *            iat  optional integer; checked for type only.
 *            aud  optional string (an array is refused as malformed); must
 *                 equal the policy's audience when one is given.
 *            iss  optional string; must equal the policy's issuer when one
 *                 is given.
 *            An nbf or iat that is not a non-negative integer is MALFORMED.
 *            Any other member is ignored if it is a string, number, true,
 *            false or null. Nested objects and arrays are refused (malformed).
 *
 * Both JSON objects are parsed strictly (RFC 8259: valid UTF-8, escapes
 * checked, no trailing garbage) and a member that is read (alg, typ, kid;
 * sub, exp, nbf, iat, aud, iss) given twice is malformed, so no two parsers
 * can disagree on which "alg" or "sub" counts. A payload member that is
 * ignored may repeat: nothing here depends on which of its copies counts.
 * Base64url must be canonical (unused trailing bits zero), so every token has
 * exactly one spelling. The signature is checked, in constant time, before
 * the payload is looked at.
 *
 * HS256 keys are raw bytes of at least TOKEN_KEY_MIN (32) bytes, the HS256
 * minimum of RFC 7518 section 3.2; shorter keys give TOKEN_ERR_WEAK_KEY.
 * EdDSA keys are Ed25519: whoever holds only the public key (a gateway with
 * --jwt-public-key-file) can verify tokens but never mint one.
 *
 * Nothing here logs or keeps state (libcrypto allocates for Ed25519); inputs
 * are read only within the lengths given (a token need not be
 * NUL-terminated). The functions that do I/O, token_key_load*, live in
 * token_key.c.
 */
#ifndef NEARBY_TOKEN_H
#define NEARBY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_LEN_MAX 2048 /* longer tokens are refused before any decoding */
#define TOKEN_KEY_MIN 32   /* bytes; RFC 7518: HS256 keys of at least 256 bits */
#define TOKEN_KEY_MAX 1024 /* bytes; token_key_load refuses bigger files */

enum token_err {
    TOKEN_OK = 0,
    TOKEN_ERR_MALFORMED = -1,     /* not three canonical base64url parts of strict JSON */
    TOKEN_ERR_BAD_ALG = -2,       /* header is not exactly HS256 */
    TOKEN_ERR_BAD_SIGNATURE = -3, /* HMAC mismatch (wrong key or tampered token) */
    TOKEN_ERR_EXPIRED = -4,       /* now >= exp */
    TOKEN_ERR_NOT_YET_VALID = -5, /* now < nbf */
    TOKEN_ERR_NO_SUB = -6,        /* sub missing or not a u64 user id */
    TOKEN_ERR_NO_EXP = -7,        /* exp missing or not a non-negative integer */
    TOKEN_ERR_WEAK_KEY = -8,      /* key shorter than TOKEN_KEY_MIN */
    TOKEN_ERR_NO_SPACE = -9,      /* token_sign: output buffer too small */
    TOKEN_ERR_CRYPTO = -10,       /* libcrypto failed to compute the HMAC */
    TOKEN_ERR_IO = -11,           /* token_key_load: open/read failed; errno says why */
    TOKEN_ERR_BAD_AUDIENCE = -12, /* aud missing or not the policy's audience */
    TOKEN_ERR_BAD_ISSUER = -13,   /* iss missing or not the policy's issuer */
    TOKEN_ERR_KEY_MODE = -14,     /* token_key_load: group or others may read the file */
    TOKEN_ERR_BAD_KEY = -15,      /* not an HS256 secret nor an Ed25519 PEM key (of the kind asked) */
    TOKEN_ERR_CANNOT_SIGN = -16,  /* token_sign_key with a public key */
};

enum token_alg {
    TOKEN_ALG_HS256 = 1,
    TOKEN_ALG_EDDSA = 2, /* Ed25519 */
};

#define TOKEN_ED25519_LEN 32 /* bytes of an Ed25519 public key, and of its private seed */

/* A key of either algorithm. May be copied; wipe it with token_key_wipe. */
struct token_key {
    enum token_alg alg;
    int can_sign;                   /* HS256: always; EdDSA: the private key was loaded */
    size_t len;                     /* bytes of secret: HS256 >= 32; EdDSA 32 or 0 */
    uint8_t secret[TOKEN_KEY_MAX];  /* HS256: the secret; EdDSA: the private seed */
    uint8_t pub[TOKEN_ED25519_LEN]; /* EdDSA: the public key */
};

/* What a verifier requires beyond signature and times. A NULL member is not
 * checked; the strings need not be NUL-terminated. */
struct token_policy {
    const char *audience;
    size_t audience_len;
    const char *issuer;
    size_t issuer_len;
};

/* What a valid token says. */
struct token_claims {
    uint64_t user; /* sub, 1..2^63-1 */
    int64_t exp;   /* seconds since the epoch: the session ends then */
};

/* token_check: token_verify with a policy (may be NULL: no aud/iss checks),
 * returning every claim a session needs. On success writes *OUT; on failure
 * returns a negative TOKEN_ERR_* (aud and iss are checked last, after
 * expiry) and leaves *OUT untouched. */
int token_check(const uint8_t *key, size_t keylen, const char *token, size_t len,
                int64_t now_s, const struct token_policy *policy, struct token_claims *out);

/* token_check_keys: token_check against up to 4 keys, at most one of each
 * algorithm (two of one: TOKEN_ERR_BAD_KEY): the header's alg picks the key;
 * a token whose alg no key has is TOKEN_ERR_BAD_ALG. */
int token_check_keys(const struct token_key *keys, size_t n, const char *token, size_t len,
                     int64_t now_s, const struct token_policy *policy, struct token_claims *out);

/* token_sign_key: token_sign with a key of either algorithm (EdDSA headers
 * are {"alg":"EdDSA","typ":"JWT"}); TOKEN_ERR_CANNOT_SIGN for a public key. */
int token_sign_key(const struct token_key *key, uint64_t user_id, int64_t exp_s, char *out,
                   size_t cap);

/* token_verify: checks TOKEN (LEN bytes, at most TOKEN_LEN_MAX) against KEY
 * at time NOW_S (seconds since the epoch). Returns 0 and writes *USER_ID on
 * success; on failure returns a negative TOKEN_ERR_* and leaves *USER_ID
 * untouched. Checks run in this order, and the first failure is reported:
 * structure and alphabet, header, signature, payload syntax, sub, exp, nbf,
 * expiry. So a forged token reports BAD_SIGNATURE whatever its claims say. */
int token_verify(const uint8_t *key, size_t keylen, const char *token, size_t len,
                 int64_t now_s, uint64_t *user_id);

/* token_sign: writes a NUL-terminated token for USER_ID expiring at EXP_S
 * (seconds since the epoch, >= 0) into OUT (CAP bytes). The header is always
 * {"alg":"HS256","typ":"JWT"} and the payload {"sub":"<id>","exp":<exp>}, in
 * that order, so the same inputs always give the same token. Returns the token
 * length (without the NUL), or a negative TOKEN_ERR_* (WEAK_KEY, NO_EXP for a
 * negative exp, NO_SUB for a user id outside 1..2^63-1, NO_SPACE, CRYPTO); on
 * failure OUT holds no token. */
int token_sign(const uint8_t *key, size_t keylen, uint64_t user_id, int64_t exp_s,
               char *out, size_t cap);

/* token_key_load: reads the secret file PATH into KEY (CAP bytes). The key is
 * the file's bytes, except that one trailing "\n" or "\r\n" is dropped, so a
 * file made by `openssl rand -hex 32 > F` works (its 64 hex characters, as
 * text, are the key). Returns 0 and writes *KEYLEN on success; TOKEN_ERR_IO
 * (errno set; EFBIG if the file exceeds CAP or TOKEN_KEY_MAX),
 * TOKEN_ERR_KEY_MODE (group or others may read or write it: a key anyone on
 * the machine can read mints tokens for every user) or TOKEN_ERR_WEAK_KEY
 * (under TOKEN_KEY_MIN bytes) on failure, with *KEYLEN untouched and KEY's
 * contents unspecified. */
int token_key_load(const char *path, uint8_t *key, size_t cap, size_t *keylen);

/* token_key_load_secret: reads a signing key from PATH, a file its owner
 * alone may read: an Ed25519 private key in PEM ("-----BEGIN PRIVATE KEY",
 * as openssl genpkey -algorithm ed25519 writes it; EdDSA, can sign and
 * verify) or else an HS256 secret as token_key_load reads it. Returns 0, or
 * TOKEN_ERR_IO (errno set), TOKEN_ERR_KEY_MODE, TOKEN_ERR_WEAK_KEY or
 * TOKEN_ERR_BAD_KEY (a PEM that is not an unencrypted Ed25519 private key),
 * with *key wiped. */
int token_key_load_secret(const char *path, struct token_key *key);

/* token_key_load_public: reads an Ed25519 public key in PEM ("-----BEGIN
 * PUBLIC KEY", openssl pkey -pubout) from PATH, which anyone may read. The
 * key verifies only. Returns 0, or TOKEN_ERR_IO (errno set) or
 * TOKEN_ERR_BAD_KEY (not an Ed25519 public key: a private key is refused, so
 * a verifier is never handed what mints tokens). */
int token_key_load_public(const char *path, struct token_key *key);

/* token_key_wipe: zeroes *key (OPENSSL_cleanse: not optimised away). */
void token_key_wipe(struct token_key *key);

/* token_strerror: a static, human-readable reason for a TOKEN_ERR_* value
 * (never NULL; "unknown token error" for values it does not know). */
const char *token_strerror(int err);

#endif
