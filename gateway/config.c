/* config.c: nearby-gateway's flags: one table, --help lists each with its default. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ring.h"
#include "token.h"

enum config_opt {
    OPT_LISTEN = 0x100,
    OPT_ID,
    OPT_ZK,
    OPT_ROOT,
    OPT_RING,
    OPT_CACHE,
    OPT_PG,
    OPT_JWT_SECRET_FILE,
    OPT_JWT_AUDIENCE,
    OPT_JWT_ISSUER,
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
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"id", required_argument, NULL, OPT_ID},
    {"zk", required_argument, NULL, OPT_ZK},
    {"root", required_argument, NULL, OPT_ROOT},
    {"ring", required_argument, NULL, OPT_RING},
    {"cache", required_argument, NULL, OPT_CACHE},
    {"pg", required_argument, NULL, OPT_PG},
    {"jwt-secret-file", required_argument, NULL, OPT_JWT_SECRET_FILE},
    {"jwt-audience", required_argument, NULL, OPT_JWT_AUDIENCE},
    {"jwt-issuer", required_argument, NULL, OPT_JWT_ISSUER},
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
    {NULL, 0, NULL, 0},
};

static void usage(void)
{
    printf("usage: nearby-gateway [FLAGS]\n\n"
           "Serves phones over WebSocket (GET /ws), /healthz, /metrics and the /v1 REST API on\n"
           "one port; fans location updates out through the Redis pub/sub nodes of the ring\n"
           "kept in ZooKeeper.\n\n"
           "  --listen HOST:PORT          where to listen (default 127.0.0.1:8080)\n"
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
    const char *key_file = NULL;
    int opt, rc, longindex = 0, bad = 0;

    set_defaults(cfg);
    opterr = 0;
    while (!bad && (opt = getopt_long(argc, argv, "h", long_options, &longindex)) != -1) {
        const char *arg = optarg;

        switch (opt) {
        case OPT_LISTEN: bad = copy_flag(cfg->listen, sizeof(cfg->listen), arg) || !ring_valid_addr(arg); break;
        case OPT_ID: bad = copy_flag(cfg->id, sizeof(cfg->id), arg) || !ring_valid_id(arg); break;
        case OPT_ZK: bad = copy_flag(cfg->zk, sizeof(cfg->zk), arg); break;
        case OPT_ROOT: bad = copy_flag(cfg->root, sizeof(cfg->root), arg) || arg[0] != '/'; break;
        case OPT_RING: bad = copy_flag(cfg->ring, sizeof(cfg->ring), arg) || !ring_valid_id(arg); break;
        case OPT_CACHE: bad = copy_flag(cfg->cache, sizeof(cfg->cache), arg) || !ring_valid_addr(arg); break;
        case OPT_PG: bad = copy_flag(cfg->pg, sizeof(cfg->pg), arg); break;
        case OPT_JWT_SECRET_FILE: key_file = arg; break;
        case OPT_JWT_AUDIENCE: bad = copy_flag(cfg->jwt_audience, sizeof(cfg->jwt_audience), arg); break;
        case OPT_JWT_ISSUER: bad = copy_flag(cfg->jwt_issuer, sizeof(cfg->jwt_issuer), arg); break;
        case OPT_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->radius_km); break;
        case OPT_MAX_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->max_radius_km); break;
        case OPT_TTL: bad = parse_unsigned(arg, 1, 86400 * 7, &cfg->location_ttl_s); break;
        case OPT_DRAIN: bad = parse_unsigned(arg, 0, 3600, &cfg->drain_seconds); break;
        case OPT_LOC_RATE: bad = parse_double(arg, 0.0, 1000.0, &cfg->loc_rate); break;
        case OPT_LOC_BURST: bad = parse_unsigned(arg, 1, 10000, &cfg->loc_burst); break;
        case OPT_ZK_SESSION: bad = parse_unsigned(arg, 1000, 600000, &cfg->session_timeout_ms); break;
        case OPT_ORIGIN:
            bad = cfg->origin_count == GATEWAY_ORIGINS_MAX;
            if (!bad)
                cfg->origins[cfg->origin_count++] = arg;
            break;
        case OPT_CHECK: cfg->check_only = 1; break;
        case OPT_HELP:
        case 'h':
            usage();
            return 1;
        default:
            fprintf(stderr, "nearby-gateway: unknown flag or missing value: '%s' (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "nearby-gateway: bad value for --%s: '%s' (see --help)\n",
                    long_options[longindex].name, arg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nearby-gateway: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (cfg->radius_km > cfg->max_radius_km) {
        fprintf(stderr, "nearby-gateway: --radius-km %.3f is above --max-radius-km %.3f\n",
                cfg->radius_km, cfg->max_radius_km);
        return -1;
    }
    if (key_file == NULL) {
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
