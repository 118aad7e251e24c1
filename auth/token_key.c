/* token_key.c: reads token keys from files the same way for every program: the shared HS256 secret, an Ed25519 private or public key in PEM. */
#include "token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "secret_file.h"

#define PUBLIC_FILE_MAX 4096 /* bytes a public key file may hold */

int token_key_load(const char *path, uint8_t *key, size_t cap, size_t *keylen)
{
    size_t n = 0;
    int r = secret_file_read(path, key, cap < TOKEN_KEY_MAX ? cap : TOKEN_KEY_MAX, &n);

    if (r == SECRET_FILE_ERR_MODE)
        return TOKEN_ERR_KEY_MODE;
    if (r == SECRET_FILE_ERR_TOO_BIG) {
        errno = EFBIG;
        return TOKEN_ERR_IO;
    }
    if (r < 0)
        return TOKEN_ERR_IO;
    if (n < TOKEN_KEY_MIN)
        return TOKEN_ERR_WEAK_KEY;
    *keylen = n;
    return 0;
}

void token_key_wipe(struct token_key *key)
{
    OPENSSL_cleanse(key, sizeof(*key));
}

/* A passphrase callback that has none: an encrypted PEM fails instead of
 * prompting on a terminal a daemon does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

static int is_pem(const uint8_t *text, size_t n)
{
    static const char begin[] = "-----BEGIN ";

    return n >= sizeof(begin) - 1 && memcmp(text, begin, sizeof(begin) - 1) == 0;
}

/* Reads the Ed25519 key in pem (n bytes) into *key: the private one when
 * private is set (and then the public one derived from it), else the public
 * one. Returns 0 or TOKEN_ERR_BAD_KEY. */
static int pem_ed25519(const uint8_t *pem, size_t n, int private, struct token_key *key)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    EVP_PKEY *pkey = NULL;
    size_t len = TOKEN_ED25519_LEN;
    int r = TOKEN_ERR_BAD_KEY;

    if (bio == NULL)
        return TOKEN_ERR_BAD_KEY;
    pkey = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                   : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 &&
        EVP_PKEY_get_raw_public_key(pkey, key->pub, &len) == 1 && len == TOKEN_ED25519_LEN) {
        key->alg = TOKEN_ALG_EDDSA;
        r = 0;
        if (private) {
            len = TOKEN_ED25519_LEN;
            if (EVP_PKEY_get_raw_private_key(pkey, key->secret, &len) == 1 &&
                len == TOKEN_ED25519_LEN) {
                key->len = len;
                key->can_sign = 1;
            } else {
                r = TOKEN_ERR_BAD_KEY;
            }
        }
    }
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return r;
}

int token_key_load_secret(const char *path, struct token_key *key)
{
    uint8_t text[SECRET_FILE_MAX];
    size_t n = 0;
    int r;

    token_key_wipe(key);
    r = secret_file_read(path, text, sizeof(text), &n);
    if (r == SECRET_FILE_ERR_MODE) {
        r = TOKEN_ERR_KEY_MODE;
    } else if (r == SECRET_FILE_ERR_TOO_BIG) {
        errno = EFBIG;
        r = TOKEN_ERR_IO;
    } else if (r < 0) {
        r = TOKEN_ERR_IO;
    } else if (is_pem(text, n)) {
        r = pem_ed25519(text, n, 1, key);
    } else if (n > TOKEN_KEY_MAX) {
        errno = EFBIG;
        r = TOKEN_ERR_IO;
    } else if (n < TOKEN_KEY_MIN) {
        r = TOKEN_ERR_WEAK_KEY;
    } else {
        key->alg = TOKEN_ALG_HS256;
        key->can_sign = 1;
        key->len = n;
        memcpy(key->secret, text, n);
        r = 0;
    }
    OPENSSL_cleanse(text, sizeof(text));
    if (r < 0) {
        int saved = errno;

        token_key_wipe(key);
        errno = saved;
    }
    return r;
}

int token_key_load_public(const char *path, struct token_key *key)
{
    uint8_t text[PUBLIC_FILE_MAX + 1];
    size_t n;
    FILE *f;
    int r;

    token_key_wipe(key);
    f = fopen(path, "rb");
    if (f == NULL)
        return TOKEN_ERR_IO;
    n = fread(text, 1, sizeof(text), f);
    r = ferror(f);
    fclose(f);
    if (r) {
        errno = EIO;
        return TOKEN_ERR_IO;
    }
    if (n > PUBLIC_FILE_MAX) {
        errno = EFBIG;
        return TOKEN_ERR_IO;
    }
    if (!is_pem(text, n))
        return TOKEN_ERR_BAD_KEY;
    r = pem_ed25519(text, n, 0, key);
    if (r < 0)
        token_key_wipe(key);
    return r;
}
