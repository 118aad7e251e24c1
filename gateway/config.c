/* config.c: nearby-gateway's flags: one table, read from the command line and a --config file; --help lists each with its default. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nearby-version.h"
#include "ring.h"
#include "secret_file.h"
#include "token.h"

enum config_opt {
    OPT_LISTEN = 0x100,
    OPT_ADMIN_LISTEN,
    OPT_ID,
    OPT_ZK,
    OPT_ROOT,
    OPT_RING,
    OPT_CACHE,
    OPT_PG,
    OPT_JWT_SECRET_FILE,
    OPT_JWT_AUDIENCE,
    OPT_JWT_ISSUER,
    OPT_REDIS_USER,
    OPT_REDIS_PASSWORD_FILE,
    OPT_RADIUS,
    OPT_MAX_RADIUS,
    OPT_TTL,
    OPT_ORIGIN,
    OPT_DRAIN,
    OPT_LOC_RATE,
    OPT_LOC_BURST,
    OPT_ZK_SESSION,
    OPT_CHECK,
    OPT_HELP,
    OPT_CONFIG,
    OPT_VERSION,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
    {"id", required_argument, NULL, OPT_ID},
    {"zk", required_argument, NULL, OPT_ZK},
    {"root", required_argument, NULL, OPT_ROOT},
    {"ring", required_argument, NULL, OPT_RING},
    {"cache", required_argument, NULL, OPT_CACHE},
    {"pg", required_argument, NULL, OPT_PG},
    {"jwt-secret-file", required_argument, NULL, OPT_JWT_SECRET_FILE},
    {"jwt-audience", required_argument, NULL, OPT_JWT_AUDIENCE},
    {"jwt-issuer", required_argument, NULL, OPT_JWT_ISSUER},
    {"redis-user", required_argument, NULL, OPT_REDIS_USER},
    {"redis-password-file", required_argument, NULL, OPT_REDIS_PASSWORD_FILE},
    {"radius-km", required_argument, NULL, OPT_RADIUS},
    {"max-radius-km", required_argument, NULL, OPT_MAX_RADIUS},
    {"location-ttl", required_argument, NULL, OPT_TTL},
    {"allow-origin", required_argument, NULL, OPT_ORIGIN},
    {"drain-seconds", required_argument, NULL, OPT_DRAIN},
    {"loc-rate", required_argument, NULL, OPT_LOC_RATE},
    {"loc-burst", required_argument, NULL, OPT_LOC_BURST},
    {"zk-session-timeout-ms", required_argument, NULL, OPT_ZK_SESSION},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, OPT_HELP},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void usage(void)
{
    printf("usage: nearby-gateway [FLAGS]\n\n"
           "Serves phones over WebSocket (GET /ws), /healthz, /metrics and the /v1 REST API on\n"
           "one port; fans location updates out through the Redis pub/sub nodes of the ring\n"
           "kept in ZooKeeper.\n\n"
           "  --listen HOST:PORT          phones' port: /ws, /v1, a bare /healthz\n"
           "                              (default 127.0.0.1:8080)\n"
           "  --admin-listen HOST:PORT    internal port: /metrics, /healthz with detail,\n"
           "                              /admin (default 127.0.0.1 and the --listen port\n"
           "                              + 1000, so gateways side by side never collide)\n"
           "  --id ID                     gateway id (default: the listen address)\n"
           "  --zk HOSTS                  ZooKeeper (default $NEARBY_ZK, else 127.0.0.1:2181)\n"
           "  --root PATH                 ZooKeeper root (default /nearby)\n"
           "  --ring NAME                 ring name (default main)\n"
           "  --cache HOST:PORT           location cache Redis (default 127.0.0.1:6379)\n"
           "  --pg CONNINFO               PostgreSQL (default $NEARBY_PG, else\n"
           "                              'host=127.0.0.1 port=5432 user=postgres dbname=nearby')\n"
           "  --jwt-secret-file FILE      HS256 key, at least 32 bytes (required)\n"
           "  --jwt-audience AUD          accept only tokens whose aud is AUD (default: any)\n"
           "  --jwt-issuer ISS            accept only tokens whose iss is ISS (default: any)\n"
           "  --redis-user USER           Redis ACL user for the cache and the pub/sub nodes\n"
           "                              (default: none, no AUTH)\n"
           "  --redis-password-file FILE  that user's password, in a file only its owner\n"
           "                              may read (required with --redis-user)\n"
           "  --radius-km KM              default search radius (default 8.047)\n"
           "  --max-radius-km KM          largest radius a phone may ask for (default 50)\n"
           "  --location-ttl SECONDS      a position older than this is gone (default 600)\n"
           "  --allow-origin ORIGIN       browsers from this Origin may connect; repeatable;\n"
           "                              with none given every Origin is allowed\n"
           "  --drain-seconds S           on SIGTERM, spread session closes over S (default 10)\n"
           "  --loc-rate N                loc messages per second per phone (default 1)\n"
           "  --loc-burst N               burst above that rate (default 5)\n"
           "  --zk-session-timeout-ms MS  ZooKeeper session timeout (default 10000)\n"
           "  --check-config              validate the flags and the key file, then exit\n"
           "  --config FILE               read flags from FILE first: one 'key = value' a line,\n"
           "                              keys the long flag names above without '--', '#'\n"
           "                              starts a comment line; flags given here win\n"
           "  --version                   print the version and exit\n"
           "  --help                      this help\n");
}

/* Copies s into dst (cap bytes). Returns 0, or -1 when it does not fit. */
static int copy_flag(char *dst, size_t cap, const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len >= cap)
        return -1;
    memcpy(dst, s, len + 1);
    return 0;
}

/* Parses a finite number in (min, max]. Returns 0 and *out, or -1. */
static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A config file line longer than this is refused, not cut. */
#define CONFIG_LINE_MAX 4096

/* Where the options come from, in the order they are applied: the --config
 * file, line by line, then argv through getopt. */
struct option_source {
    int argc;
    char **argv;
    const char *path;      /* ref: argv; NULL without --config */
    FILE *file;            /* open while its lines are being read */
    unsigned line;
    int longindex;         /* of the current argv option */
    const struct option *current; /* the file's entry being applied; NULL for argv's */
    char buf[CONFIG_LINE_MAX + 2];
    char key_file[CONFIG_LINE_MAX]; /* --jwt-secret-file, read once all is parsed */
    char redis_password_file[CONFIG_LINE_MAX];
};

/* Returns the entry of long_options[] that a config file may set under name
 * (one that takes a value, but not config itself), or NULL. */
static const struct option *file_option(const char *name)
{
    for (const struct option *o = long_options; o->name != NULL; o++)
        if (strcmp(o->name, name) == 0)
            return o->has_arg == required_argument && o->val != OPT_CONFIG ? o : NULL;
    return NULL;
}

/* Strips blanks (and CR, LF) from both ends of s in place; returns the start. */
static char *trim(char *s)
{
    size_t len = strlen(s);

    while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL)
        s[--len] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Reads the file's next "key = value" line (the value is the rest of the
 * line, blanks around it dropped), skipping blank lines and comments (first
 * non-blank '#'). Returns 1 with *opt and *arg (in src->buf, valid until the
 * next call), 0 at the end of the file, or -1 after printing "PATH:LINE: what
 * is wrong" (or why the file cannot be read) on stderr. */
static int next_file_option(struct option_source *src, int *opt, const char **arg)
{
    while (fgets(src->buf, sizeof(src->buf), src->file) != NULL) {
        char *key, *value, *eq;

        src->line++;
        if (strlen(src->buf) > CONFIG_LINE_MAX) {
            fprintf(stderr, "nearby-gateway: %s:%u: line longer than %d bytes\n", src->path,
                    src->line, CONFIG_LINE_MAX);
            return -1;
        }
        key = trim(src->buf);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            fprintf(stderr, "nearby-gateway: %s:%u: want 'key = value', not '%s'\n", src->path,
                    src->line, key);
            return -1;
        }
        *eq = '\0';
        key = trim(key);
        value = trim(eq + 1);
        src->current = file_option(key);
        if (src->current == NULL) {
            fprintf(stderr, "nearby-gateway: %s:%u: unknown key '%s'%s (see --help)\n",
                    src->path, src->line, key,
                    strncmp(key, "--", 2) == 0 ? ": write it without the '--'" : "");
            return -1;
        }
        *opt = src->current->val;
        *arg = value;
        return 1;
    }
    if (ferror(src->file)) {
        fprintf(stderr, "nearby-gateway: --config %s: cannot read it\n", src->path);
        return -1;
    }
    return 0;
}

/* Returns 1 with the next option in *opt and its value (or NULL) in *arg:
 * the file's first, then argv's; 0 when there are no more; -1 after
 * printing what is wrong with the file. */
static int next_option(struct option_source *src, int *opt, const char **arg)
{
    int rc;

    if (src->path != NULL && src->file == NULL && src->line == 0) {
        src->file = fopen(src->path, "r");
        if (src->file == NULL) {
            fprintf(stderr, "nearby-gateway: --config %s: %s\n", src->path, strerror(errno));
            return -1;
        }
    }
    if (src->file != NULL) {
        rc = next_file_option(src, opt, arg);
        if (rc != 0)
            return rc;
        fclose(src->file);
        src->file = NULL;
        src->line = UINT_MAX; /* done with it */
        optind = 0;
    }
    src->current = NULL;
    do {
        *opt = getopt_long(src->argc, src->argv, "h", long_options, &src->longindex);
        *arg = optarg;
    } while (*opt == OPT_CONFIG);
    return *opt != -1;
}

/* Says on stderr that the value arg of the current option is bad. */
static void option_bad(const struct option_source *src, const char *arg)
{
    if (src->current != NULL)
        fprintf(stderr, "nearby-gateway: %s:%u: bad value for %s: '%s' (see --help)\n",
                src->path, src->line, src->current->name, arg);
    else
        fprintf(stderr, "nearby-gateway: bad value for --%s: '%s' (see --help)\n",
                long_options[src->longindex].name, arg);
}

/* Finds --config FILE in argv (the last one counts), and answers --help and
 * --version. Returns 1 when one of those was printed, else 0. */
static int first_pass(struct option_source *src)
{
    int opt;

    optind = 0;
    while ((opt = getopt_long(src->argc, src->argv, "h", long_options, NULL)) != -1) {
        if (opt == OPT_HELP || opt == 'h') {
            usage();
            return 1;
        }
        if (opt == OPT_VERSION) {
            printf("nearby-gateway %s\n", NEARBY_VERSION);
            return 1;
        }
        if (opt == OPT_CONFIG)
            src->path = optarg;
    }
    optind = 0;
    return 0;
}

static void set_defaults(struct gateway_config *cfg)
{
    const char *zk = getenv("NEARBY_ZK"), *pg = getenv("NEARBY_PG");

    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->listen, "127.0.0.1:8080");
    snprintf(cfg->zk, sizeof(cfg->zk), "%s", zk && *zk ? zk : "127.0.0.1:2181");
    strcpy(cfg->root, "/nearby");
    strcpy(cfg->ring, "main");
    strcpy(cfg->cache, "127.0.0.1:6379");
    snprintf(cfg->pg, sizeof(cfg->pg), "%s",
             pg && *pg ? pg : "host=127.0.0.1 port=5432 user=postgres dbname=nearby");
    cfg->radius_km = 8.047;
    cfg->max_radius_km = 50.0;
    cfg->location_ttl_s = 600;
    cfg->drain_seconds = 10;
    cfg->loc_rate = 1.0;
    cfg->loc_burst = 5;
    cfg->session_timeout_ms = 10000;
}

int gateway_config_parse(struct gateway_config *cfg, int argc, char **argv)
{
    /* Static: a config line is 4 KiB; the caller's stack need not hold it. */
    static struct option_source src;
    char *key_file = src.key_file;
    const char *arg;
    int opt, rc, bad = 0, origins_from_file = 0;

    set_defaults(cfg);
    memset(&src, 0, sizeof(src));
    src.argc = argc;
    src.argv = argv;
    opterr = 0;
    if (first_pass(&src))
        return 1;
    while (!bad && (rc = next_option(&src, &opt, &arg)) > 0) {
        switch (opt) {
        case OPT_LISTEN: bad = copy_flag(cfg->listen, sizeof(cfg->listen), arg) || !ring_valid_addr(arg); break;
        case OPT_ADMIN_LISTEN: bad = copy_flag(cfg->admin_listen, sizeof(cfg->admin_listen), arg) || !ring_valid_addr(arg); break;
        case OPT_ID: bad = copy_flag(cfg->id, sizeof(cfg->id), arg) || !ring_valid_id(arg); break;
        case OPT_ZK: bad = copy_flag(cfg->zk, sizeof(cfg->zk), arg); break;
        case OPT_ROOT: bad = copy_flag(cfg->root, sizeof(cfg->root), arg) || arg[0] != '/'; break;
        case OPT_RING: bad = copy_flag(cfg->ring, sizeof(cfg->ring), arg) || !ring_valid_id(arg); break;
        case OPT_CACHE: bad = copy_flag(cfg->cache, sizeof(cfg->cache), arg) || !ring_valid_addr(arg); break;
        case OPT_PG: bad = copy_flag(cfg->pg, sizeof(cfg->pg), arg); break;
        case OPT_JWT_SECRET_FILE: bad = copy_flag(key_file, sizeof(src.key_file), arg); break;
        case OPT_JWT_AUDIENCE: bad = copy_flag(cfg->jwt_audience, sizeof(cfg->jwt_audience), arg); break;
        case OPT_JWT_ISSUER: bad = copy_flag(cfg->jwt_issuer, sizeof(cfg->jwt_issuer), arg); break;
        case OPT_REDIS_USER: bad = copy_flag(cfg->redis_user, sizeof(cfg->redis_user), arg); break;
        case OPT_REDIS_PASSWORD_FILE:
            bad = copy_flag(src.redis_password_file, sizeof(src.redis_password_file), arg);
            break;
        case OPT_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->radius_km); break;
        case OPT_MAX_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->max_radius_km); break;
        case OPT_TTL: bad = parse_unsigned(arg, 1, 86400 * 7, &cfg->location_ttl_s); break;
        case OPT_DRAIN: bad = parse_unsigned(arg, 0, 3600, &cfg->drain_seconds); break;
        case OPT_LOC_RATE: bad = parse_double(arg, 0.0, 1000.0, &cfg->loc_rate); break;
        case OPT_LOC_BURST: bad = parse_unsigned(arg, 1, 10000, &cfg->loc_burst); break;
        case OPT_ZK_SESSION: bad = parse_unsigned(arg, 1000, 600000, &cfg->session_timeout_ms); break;
        case OPT_ORIGIN:
            /* A list given on the command line replaces the file's. */
            if (origins_from_file && src.current == NULL)
                cfg->origin_count = 0;
            origins_from_file = src.current != NULL;
            bad = cfg->origin_count == GATEWAY_ORIGINS_MAX ||
                  copy_flag(cfg->origins[cfg->origin_count], sizeof(cfg->origins[0]), arg);
            if (!bad)
                cfg->origin_count++;
            break;
        case OPT_CHECK: cfg->check_only = 1; break;
        default:
            fprintf(stderr, "nearby-gateway: unknown flag or missing value: '%s' (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (bad) {
            option_bad(&src, arg);
            return -1;
        }
    }
    if (rc < 0)
        return -1;
    if (optind < argc) {
        fprintf(stderr, "nearby-gateway: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (cfg->radius_km > cfg->max_radius_km) {
        fprintf(stderr, "nearby-gateway: --radius-km %.3f is above --max-radius-km %.3f\n",
                cfg->radius_km, cfg->max_radius_km);
        return -1;
    }
    if (key_file[0] == '\0') {
        fprintf(stderr, "nearby-gateway: --jwt-secret-file is required (make one with "
                        "'openssl rand -hex 32 > FILE')\n");
        return -1;
    }
    rc = token_key_load(key_file, cfg->jwt_key, sizeof(cfg->jwt_key), &cfg->jwt_key_len);
    if (rc < 0) {
        fprintf(stderr, "nearby-gateway: --jwt-secret-file %s: %s%s%s\n", key_file,
                token_strerror(rc), rc == TOKEN_ERR_IO ? ": " : "",
                rc == TOKEN_ERR_IO ? strerror(errno) : "");
        return -1;
    }
    if ((cfg->redis_user[0] != '\0') != (src.redis_password_file[0] != '\0')) {
        fprintf(stderr, "nearby-gateway: --redis-user and --redis-password-file go together\n");
        return -1;
    }
    if (src.redis_password_file[0] != '\0') {
        size_t n = 0;

        rc = secret_file_read(src.redis_password_file, (uint8_t *)cfg->redis_password,
                              sizeof(cfg->redis_password) - 1, &n);
        if (rc < 0 || n == 0 || memchr(cfg->redis_password, '\0', n) != NULL) {
            fprintf(stderr, "nearby-gateway: --redis-password-file %s: %s%s%s\n",
                    src.redis_password_file,
                    rc < 0 ? secret_file_strerror(rc) : "an empty password, or a NUL in it",
                    rc == SECRET_FILE_ERR_IO ? ": " : "",
                    rc == SECRET_FILE_ERR_IO ? strerror(errno) : "");
            return -1;
        }
        cfg->redis_password[n] = '\0';
    }
    if (cfg->admin_listen[0] == '\0') {
        const char *colon = strrchr(cfg->listen, ':');
        unsigned long port = strtoul(colon + 1, NULL, 10);

        if (port + 1000 > 65535) {
            fprintf(stderr, "nearby-gateway: --listen port %lu + 1000 is no port; give "
                            "--admin-listen HOST:PORT\n", port);
            return -1;
        }
        snprintf(cfg->admin_listen, sizeof(cfg->admin_listen), "127.0.0.1:%lu", port + 1000);
    }
    if (strcmp(cfg->admin_listen, cfg->listen) == 0) {
        fprintf(stderr, "nearby-gateway: --admin-listen must not be the phones' --listen %s: "
                        "metrics and health detail stay off the phones' port\n", cfg->listen);
        return -1;
    }
    if (cfg->id[0] == '\0') {
        /* The listen address, with ':' made id-safe, cut to what an id may hold. */
        size_t n = strnlen(cfg->listen, RING_ID_MAX);

        memcpy(cfg->id, cfg->listen, n);
        cfg->id[n] = '\0';
        for (char *p = cfg->id; *p; p++)
            if (*p == ':')
                *p = '_';
    }
    return 0;
}
