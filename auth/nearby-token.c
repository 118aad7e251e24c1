/* nearby-token: issues (or checks) the HS256 or EdDSA session token a phone sends in its init frame. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "nearby-version.h"
#include "token.h"

#define TTL_DEFAULT 3600
#define TTL_MAX (366 * 86400)
/* PostgreSQL keeps user ids in a signed bigint (schema/001_users.sql). */
#define USER_ID_MAX INT64_MAX

static const struct option long_options[] = {
    { "secret-file", required_argument, NULL, 's' },
    { "public-key-file", required_argument, NULL, 'p' },
    { "ttl", required_argument, NULL, 't' },
    { "now", required_argument, NULL, 'n' },
    { "verify", required_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nearby-token --secret-file FILE [--ttl SECONDS] [--now SECONDS] USER_ID\n"
            "       nearby-token --secret-file FILE [--now SECONDS] --verify TOKEN\n"
            "       nearby-token --public-key-file FILE [--now SECONDS] --verify TOKEN\n"
            "\n"
            "Prints a JWT for USER_ID (1..%" PRId64 ") that the gateway accepts in the\n"
            "init frame, or, with --verify, checks TOKEN and prints its user id.\n"
            "\n"
            "  -s, --secret-file FILE  the signing key, a file only its owner may read:\n"
            "                          an Ed25519 private key in PEM (EdDSA tokens; make\n"
            "                          one with: openssl genpkey -algorithm ed25519 -out\n"
            "                          FILE), or else an HS256 secret, the file's bytes\n"
            "                          minus one trailing newline, at least %d bytes\n"
            "                          (make one with: openssl rand -hex 32 > FILE)\n"
            "  -p, --public-key-file FILE  an Ed25519 public key in PEM, to --verify only\n"
            "  -t, --ttl SECONDS       lifetime, 1..%d (default %d)\n"
            "  -n, --now SECONDS       the current time in seconds since the epoch\n"
            "                          (default: the clock; for tests and reproducible tokens)\n"
            "  -v, --verify TOKEN      check TOKEN instead of issuing one\n"
            "  -h, --help              this help\n"
            "  -V, --version           print the version and exit\n"
            "\n"
            "Exit status: 0 success, 1 refused or failed (reason on stderr), 2 usage error.\n",
            (int64_t)USER_ID_MAX, TOKEN_KEY_MIN, TTL_MAX, TTL_DEFAULT);
}

/* parse_int: reads a whole decimal integer in MIN..MAX from TEXT. Returns 0
 * and writes *OUT, or -1. */
static int parse_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct token_key key;
    const char *secret_file = NULL, *public_file = NULL, *verify = NULL;
    int64_t ttl = TTL_DEFAULT, now = (int64_t)time(NULL), user_id = 0;
    char token[TOKEN_LEN_MAX + 1];
    int opt, r, status = 1;

    while ((opt = getopt_long(argc, argv, "s:p:t:n:v:hV", long_options, NULL)) != -1) {
        switch (opt) {
        case 's':
            secret_file = optarg;
            break;
        case 'p':
            public_file = optarg;
            break;
        case 't':
            if (parse_int(optarg, 1, TTL_MAX, &ttl) < 0) {
                fprintf(stderr, "nearby-token: --ttl wants seconds in 1..%d, not '%s'\n",
                        TTL_MAX, optarg);
                return 2;
            }
            break;
        case 'n':
            if (parse_int(optarg, 0, INT64_MAX - TTL_MAX, &now) < 0) {
                fprintf(stderr, "nearby-token: --now wants seconds since the epoch, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'v':
            verify = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("nearby-token %s\n", NEARBY_VERSION);
            return 0;
        default:
            fprintf(stderr, "(see nearby-token --help)\n");
            return 2;
        }
    }
    if (!secret_file == !public_file) {
        fprintf(stderr, "nearby-token: give one of --secret-file FILE and --public-key-file FILE "
                        "(see --help)\n");
        return 2;
    }
    if (public_file && !verify) {
        fprintf(stderr, "nearby-token: a public key only verifies: signing needs --secret-file "
                        "with the private key (see --help)\n");
        return 2;
    }
    if (verify ? optind != argc : optind != argc - 1) {
        fprintf(stderr, "nearby-token: %s (see --help)\n",
                verify ? "--verify takes no USER_ID" : "give exactly one USER_ID");
        return 2;
    }
    if (!verify && parse_int(argv[optind], 1, USER_ID_MAX, &user_id) < 0) {
        fprintf(stderr, "nearby-token: USER_ID must be a decimal integer in 1..%" PRId64
                        " (user ids are a PostgreSQL bigint), not '%s'\n",
                (int64_t)USER_ID_MAX, argv[optind]);
        return 2;
    }

    if (public_file) {
        r = token_key_load_public(public_file, &key);
        if (r < 0) {
            fprintf(stderr, "nearby-token: %s: %s%s%s\n", public_file,
                    r == TOKEN_ERR_BAD_KEY ? "not an Ed25519 public key in PEM" : token_strerror(r),
                    r == TOKEN_ERR_IO ? ": " : "", r == TOKEN_ERR_IO ? strerror(errno) : "");
            goto out;
        }
    } else {
        r = token_key_load_secret(secret_file, &key);
        if (r == TOKEN_ERR_WEAK_KEY) {
            fprintf(stderr,
                    "nearby-token: %s: secret is shorter than %d bytes; HS256 needs at least 256 "
                    "bits. Make a new one with: openssl rand -hex 32 > %s\n",
                    secret_file, TOKEN_KEY_MIN, secret_file);
            goto out;
        }
        if (r == TOKEN_ERR_KEY_MODE || r == TOKEN_ERR_BAD_KEY) {
            fprintf(stderr, "nearby-token: %s: %s\n", secret_file, token_strerror(r));
            goto out;
        }
        if (r < 0) {
            fprintf(stderr, "nearby-token: cannot read secret file %s: %s\n", secret_file,
                    errno == EFBIG ? "too large for a key" : strerror(errno));
            goto out;
        }
    }

    if (verify) {
        struct token_claims claims;

        r = token_check_keys(&key, 1, verify, strlen(verify), now, NULL, &claims);
        if (r < 0) {
            fprintf(stderr, "nearby-token: rejected: %s\n", token_strerror(r));
            goto out;
        }
        printf("%" PRIu64 "\n", claims.user);
    } else {
        r = token_sign_key(&key, (uint64_t)user_id, now + ttl, token, sizeof token);
        if (r < 0) {
            fprintf(stderr, "nearby-token: cannot sign: %s\n", token_strerror(r));
            goto out;
        }
        printf("%s\n", token);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "nearby-token: cannot write to stdout: %s\n", strerror(errno));
        goto out;
    }
    status = 0;
out:
    token_key_wipe(&key);
    return status;
}
