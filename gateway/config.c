/* config.c: nearby-gateway's flags: one table, read from the command line and a --config file; --help lists each with its default. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellset.h"
#include "config.h"
#include "friends_db.h"
#include "http.h"
#include "nearby-version.h"
#include "pg_pool.h"
#include "proto_msg.h"
#include "ring.h"
#include "secret_file.h"
#include "zk_auth.h"
#include "token.h"

/* The output bound must hold the largest nearby frame and the soft limit
 * (phone.c) above which pushes are held back. */
#define CONFIG_OUTPUT_MIN (PROTO_NEARBY_SIZE_MAX(FRIENDS_DB_MAX_FRIENDS) + (64u << 10))

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
    OPT_JWT_PUBLIC_KEY_FILE,
    OPT_JWT_AUDIENCE,
    OPT_JWT_ISSUER,
    OPT_REDIS_USER,
    OPT_REDIS_PASSWORD_FILE,
    OPT_RADIUS,
    OPT_MAX_RADIUS,
    OPT_TTL,
    OPT_STRANGERS_PRECISION,
    OPT_STRANGERS_RADIUS,
    OPT_STRANGERS_MAX,
    OPT_STRANGERS_CELL_RATE,
    OPT_ORIGIN,
    OPT_DRAIN,
    OPT_LOC_RATE,
    OPT_LOC_BURST,
    OPT_OUTPUT_MAX,
    OPT_CONTROL_RATE,
    OPT_HANDSHAKE_TIMEOUT,
    OPT_WS_PING,
    OPT_WS_IDLE,
    OPT_TCP_KEEPALIVE,
    OPT_TRUSTED_PROXY,
    OPT_IP_MAX_CONNS,
    OPT_IP_HANDSHAKE_RATE,
    OPT_IP_HANDSHAKE_BURST,
    OPT_USER_MAX_SESSIONS,
    OPT_SESSION_START_RATE,
    OPT_SESSION_START_BURST,
    OPT_START_QUEUE,
    OPT_REST_RATE,
    OPT_REST_BURST,
    OPT_PG_POOL,
    OPT_ZK_SESSION,
    OPT_ZK_AUTH_FILE,
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
    {"jwt-public-key-file", required_argument, NULL, OPT_JWT_PUBLIC_KEY_FILE},
    {"jwt-audience", required_argument, NULL, OPT_JWT_AUDIENCE},
    {"jwt-issuer", required_argument, NULL, OPT_JWT_ISSUER},
    {"redis-user", required_argument, NULL, OPT_REDIS_USER},
    {"redis-password-file", required_argument, NULL, OPT_REDIS_PASSWORD_FILE},
    {"radius-km", required_argument, NULL, OPT_RADIUS},
    {"max-radius-km", required_argument, NULL, OPT_MAX_RADIUS},
    {"location-ttl", required_argument, NULL, OPT_TTL},
    {"strangers-precision", required_argument, NULL, OPT_STRANGERS_PRECISION},
    {"strangers-radius-km", required_argument, NULL, OPT_STRANGERS_RADIUS},
    {"strangers-max", required_argument, NULL, OPT_STRANGERS_MAX},
    {"strangers-cell-rate", required_argument, NULL, OPT_STRANGERS_CELL_RATE},
    {"allow-origin", required_argument, NULL, OPT_ORIGIN},
    {"drain-seconds", required_argument, NULL, OPT_DRAIN},
    {"loc-rate", required_argument, NULL, OPT_LOC_RATE},
    {"loc-burst", required_argument, NULL, OPT_LOC_BURST},
    {"output-max", required_argument, NULL, OPT_OUTPUT_MAX},
    {"control-rate", required_argument, NULL, OPT_CONTROL_RATE},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"ws-ping", required_argument, NULL, OPT_WS_PING},
    {"ws-idle", required_argument, NULL, OPT_WS_IDLE},
    {"tcp-keepalive", required_argument, NULL, OPT_TCP_KEEPALIVE},
    {"trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY},
    {"ip-max-conns", required_argument, NULL, OPT_IP_MAX_CONNS},
    {"ip-handshake-rate", required_argument, NULL, OPT_IP_HANDSHAKE_RATE},
    {"ip-handshake-burst", required_argument, NULL, OPT_IP_HANDSHAKE_BURST},
    {"user-max-sessions", required_argument, NULL, OPT_USER_MAX_SESSIONS},
    {"session-start-rate", required_argument, NULL, OPT_SESSION_START_RATE},
    {"session-start-burst", required_argument, NULL, OPT_SESSION_START_BURST},
    {"start-queue", required_argument, NULL, OPT_START_QUEUE},
    {"rest-rate", required_argument, NULL, OPT_REST_RATE},
    {"rest-burst", required_argument, NULL, OPT_REST_BURST},
    {"pg-pool", required_argument, NULL, OPT_PG_POOL},
    {"zk-session-timeout-ms", required_argument, NULL, OPT_ZK_SESSION},
    {"zk-auth-file", required_argument, NULL, OPT_ZK_AUTH_FILE},
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
           "  --jwt-secret-file FILE      HS256 key, at least 32 bytes, mode 600\n"
           "  --jwt-public-key-file FILE  Ed25519 public key (PEM): verify EdDSA tokens\n"
           "                              without being able to mint them; one of the\n"
           "                              two is required, both accept either kind\n"
           "  --jwt-audience AUD          accept only tokens whose aud is AUD (default: any)\n"
           "  --jwt-issuer ISS            accept only tokens whose iss is ISS (default: any)\n"
           "  --redis-user USER           Redis ACL user for the cache and the pub/sub nodes\n"
           "                              (default: none, no AUTH)\n"
           "  --redis-password-file FILE  that user's password, in a file only its owner\n"
           "                              may read (required with --redis-user)\n"
           "  --radius-km KM              default search radius (default 8.047)\n"
           "  --max-radius-km KM          largest radius a phone may ask for (default 50)\n"
           "  --location-ttl SECONDS      a position older than this is gone (default 600)\n"
           "  --strangers-precision P     geohash precision of the cell channels g:<cell>\n"
           "                              (default 5; 4.9 km cells); every gateway of a\n"
           "                              ring must use the same\n"
           "  --strangers-radius-km KM    strangers shown within this (default 2; at most\n"
           "                              what the 9 cells cover at the equator)\n"
           "  --strangers-max N           strangers shown to one phone, the nearest\n"
           "                              (default 20)\n"
           "  --strangers-cell-rate N     positions a second this gateway publishes on one\n"
           "                              cell, its sessions together; past it each\n"
           "                              session's latest waits its turn (default 50;\n"
           "                              0: no bound)\n"
           "  --allow-origin ORIGIN       browsers from this Origin may connect; repeatable;\n"
           "                              with none given every Origin is allowed\n"
           "  --drain-seconds S           on SIGTERM, spread session closes over S (default 10)\n"
           "  --loc-rate N                loc messages per second per phone (default 1)\n"
           "  --loc-burst N               burst above that rate (default 5); radius\n"
           "                              messages have a bucket of their own, the same\n"
           "  --zk-session-timeout-ms MS  ZooKeeper session timeout (default 10000)\n"
           "  --zk-auth-file FILE         ZooKeeper digest identity and role ids (see\n"
           "                              nearby-gateway(8)); without it znodes are open\n"
           "  --check-config              validate the flags and the key file, then exit\n"
           "  --config FILE               read flags from FILE first: one 'key = value' a line,\n"
           "                              keys the long flag names above without '--', '#'\n"
           "                              starts a comment line; flags given here win\n"
           "  --version                   print the version and exit\n"
           "  --help                      this help\n");
    /* Apart: one string literal may not pass 4095 bytes. */
    fputs("\n"
          "Limits (each refusal has a stable code and a counter in /metrics):\n"
           "  --output-max BYTES          bytes queued for one phone, every frame counted,\n"
           "                              before it is cut off with 1008 (default 1048576)\n"
           "  --control-rate N            ping/pong/close frames a second from one phone\n"
           "                              (bursts of N), above that 1008 (default 10)\n"
           "  --handshake-timeout S       the first request (the WebSocket upgrade) must\n"
           "                              be whole within S of connecting (default 10)\n"
           "  --ws-ping S                 ping a phone silent for S (default 30)\n"
           "  --ws-idle S                 close (1001) a phone silent for S (default 60)\n"
           "  --tcp-keepalive S           TCP keepalive probes after S of silence; 0 keeps\n"
           "                              the system's (default 60)\n"
           "  --trusted-proxy ADDR[/BITS] connections from ADDR must start with a PROXY v2\n"
           "                              header naming the phone; repeatable (default none)\n"
           "  --ip-max-conns N            open connections per client address; 0: no limit\n"
           "                              (default 200)\n"
           "  --ip-handshake-rate N       new connections a second per client address;\n"
           "                              0: no limit (default 20)\n"
           "  --ip-handshake-burst N      burst above that rate (default 200)\n"
           "  --user-max-sessions N       sessions per user; the newest wins, the oldest\n"
           "                              closes with 4002 (default 4)\n"
           "  --session-start-rate N      session starts a second per user (default 1)\n"
           "  --session-start-burst N     burst above that rate (default 10)\n"
           "  --start-queue N             sessions starting at once; past it init gets\n"
           "                              err busy and 1013 (default 1000)\n"
           "  --rest-rate N               REST calls a second per user, above that 429\n"
           "                              with Retry-After (default 5)\n"
           "  --rest-burst N              burst above that rate (default 20)\n"
           "  --pg-pool N                 PostgreSQL connections, 2..4: session starts,\n"
           "                              REST and history each on their own (default 3)\n",
          stdout);
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

/* Parses a rate: 0 (no limit) or a number in (0, 1000000]. */
static int parse_rate(const char *s, double *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return parse_double(s, 0.0, 1000000.0, out);
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
    char public_key_file[CONFIG_LINE_MAX]; /* --jwt-public-key-file, likewise */
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
    cfg->strangers_precision = GEOHASH_CHANNEL_PRECISION;
    cfg->strangers_radius_km = 2.0;
    cfg->strangers_max = 20;
    cfg->strangers_cell_rate = 50;
    cfg->drain_seconds = 10;
    cfg->loc_rate = 1.0;
    cfg->loc_burst = 5;
    cfg->output_max = 1u << 20;
    cfg->control_rate = 10;
    cfg->handshake_timeout_s = 10;
    cfg->ws_ping_s = 30;
    cfg->ws_idle_s = 60;
    cfg->tcp_keepalive_s = 60;
    cfg->ip_max_conns = 200;
    cfg->ip_handshake_rate = 20;
    cfg->ip_handshake_burst = 200;
    cfg->user_max_sessions = 4;
    cfg->session_start_rate = 1;
    cfg->session_start_burst = 10;
    cfg->start_queue = 1000;
    cfg->rest_rate = 5;
    cfg->rest_burst = 20;
    cfg->pg_pool = 3;
    cfg->session_timeout_ms = 10000;
}

int gateway_config_parse(struct gateway_config *cfg, int argc, char **argv)
{
    /* Static: a config line is 4 KiB; the caller's stack need not hold it. */
    static struct option_source src;
    char *key_file = src.key_file;
    const char *arg;
    int opt, rc, bad = 0, origins_from_file = 0, proxies_from_file = 0;
    struct http_addr_range range;

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
        case OPT_JWT_PUBLIC_KEY_FILE:
            bad = copy_flag(src.public_key_file, sizeof(src.public_key_file), arg);
            break;
        case OPT_JWT_AUDIENCE: bad = copy_flag(cfg->jwt_audience, sizeof(cfg->jwt_audience), arg); break;
        case OPT_JWT_ISSUER: bad = copy_flag(cfg->jwt_issuer, sizeof(cfg->jwt_issuer), arg); break;
        case OPT_REDIS_USER: bad = copy_flag(cfg->redis_user, sizeof(cfg->redis_user), arg); break;
        case OPT_ZK_AUTH_FILE: bad = copy_flag(cfg->zk_auth_file, sizeof(cfg->zk_auth_file), arg); break;
        case OPT_REDIS_PASSWORD_FILE:
            bad = copy_flag(src.redis_password_file, sizeof(src.redis_password_file), arg);
            break;
        case OPT_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->radius_km); break;
        case OPT_MAX_RADIUS: bad = parse_double(arg, 0.0, 20037.6, &cfg->max_radius_km); break;
        case OPT_TTL: bad = parse_unsigned(arg, 1, 86400 * 7, &cfg->location_ttl_s); break;
        case OPT_STRANGERS_PRECISION: bad = parse_unsigned(arg, 1, 8, &cfg->strangers_precision); break;
        case OPT_STRANGERS_RADIUS: bad = parse_double(arg, 0.0, 5000.0, &cfg->strangers_radius_km); break;
        case OPT_STRANGERS_MAX: bad = parse_unsigned(arg, 1, 100000, &cfg->strangers_max); break;
        case OPT_STRANGERS_CELL_RATE: bad = parse_rate(arg, &cfg->strangers_cell_rate); break;
        case OPT_DRAIN: bad = parse_unsigned(arg, 0, 3600, &cfg->drain_seconds); break;
        case OPT_LOC_RATE: bad = parse_double(arg, 0.0, 1000.0, &cfg->loc_rate); break;
        case OPT_LOC_BURST: bad = parse_unsigned(arg, 1, 10000, &cfg->loc_burst); break;
        case OPT_ZK_SESSION: bad = parse_unsigned(arg, 1000, 600000, &cfg->session_timeout_ms); break;
        case OPT_OUTPUT_MAX: bad = parse_unsigned(arg, CONFIG_OUTPUT_MIN, 1u << 30, &cfg->output_max); break;
        case OPT_CONTROL_RATE: bad = parse_rate(arg, &cfg->control_rate); break;
        case OPT_HANDSHAKE_TIMEOUT: bad = parse_unsigned(arg, 1, 3600, &cfg->handshake_timeout_s); break;
        case OPT_WS_PING: bad = parse_unsigned(arg, 0, 86400, &cfg->ws_ping_s); break;
        case OPT_WS_IDLE: bad = parse_unsigned(arg, 0, 86400, &cfg->ws_idle_s); break;
        case OPT_TCP_KEEPALIVE: bad = parse_unsigned(arg, 0, 86400, &cfg->tcp_keepalive_s); break;
        case OPT_IP_MAX_CONNS: bad = parse_unsigned(arg, 0, 10000000, &cfg->ip_max_conns); break;
        case OPT_IP_HANDSHAKE_RATE: bad = parse_rate(arg, &cfg->ip_handshake_rate); break;
        case OPT_IP_HANDSHAKE_BURST: bad = parse_unsigned(arg, 1, 1000000, &cfg->ip_handshake_burst); break;
        case OPT_USER_MAX_SESSIONS: bad = parse_unsigned(arg, 1, 1000, &cfg->user_max_sessions); break;
        case OPT_SESSION_START_RATE: bad = parse_double(arg, 0.0, 1000.0, &cfg->session_start_rate); break;
        case OPT_SESSION_START_BURST: bad = parse_unsigned(arg, 1, 10000, &cfg->session_start_burst); break;
        case OPT_START_QUEUE: bad = parse_unsigned(arg, 1, 1000000, &cfg->start_queue); break;
        case OPT_REST_RATE: bad = parse_double(arg, 0.0, 10000.0, &cfg->rest_rate); break;
        case OPT_REST_BURST: bad = parse_unsigned(arg, 1, 100000, &cfg->rest_burst); break;
        case OPT_PG_POOL: bad = parse_unsigned(arg, PG_POOL_MIN, PG_POOL_MAX, &cfg->pg_pool); break;
        case OPT_TRUSTED_PROXY:
            /* As for --allow-origin: a list on the command line replaces the file's. */
            if (proxies_from_file && src.current == NULL)
                cfg->trusted_proxy_count = 0;
            proxies_from_file = src.current != NULL;
            bad = cfg->trusted_proxy_count == GATEWAY_PROXIES_MAX ||
                  http_addr_range_parse(arg, &range) < 0 ||
                  copy_flag(cfg->trusted_proxies[cfg->trusted_proxy_count],
                            sizeof(cfg->trusted_proxies[0]), arg);
            if (!bad)
                cfg->trusted_proxy_count++;
            break;
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
    {
        double cover = 0;

        cellset_cover_km((int)cfg->strangers_precision, 0, &cover);
        if (cfg->strangers_radius_km <= 0 || cfg->strangers_radius_km > cover) {
            fprintf(stderr, "nearby-gateway: --strangers-radius-km %.3f must be above 0 and at "
                            "most %.3f, what the 9 cells of --strangers-precision %u cover\n",
                    cfg->strangers_radius_km, cover, cfg->strangers_precision);
            return -1;
        }
    }
    if (cfg->ws_ping_s && cfg->ws_idle_s && cfg->ws_ping_s >= cfg->ws_idle_s) {
        fprintf(stderr, "nearby-gateway: --ws-ping %u must be below --ws-idle %u (or 0)\n",
                cfg->ws_ping_s, cfg->ws_idle_s);
        return -1;
    }
    if (key_file[0] == '\0' && src.public_key_file[0] == '\0') {
        fprintf(stderr, "nearby-gateway: --jwt-secret-file or --jwt-public-key-file is required "
                        "(make an HS256 key with 'openssl rand -hex 32 > FILE', or an Ed25519 "
                        "pair with 'openssl genpkey -algorithm ed25519 -out KEY' and "
                        "'openssl pkey -in KEY -pubout -out KEY.pub')\n");
        return -1;
    }
    cfg->jwt_key_count = 0;
    if (key_file[0] != '\0') {
        struct token_key *k = &cfg->jwt_keys[cfg->jwt_key_count];

        rc = token_key_load_secret(key_file, k);
        if (rc == 0 && k->alg != TOKEN_ALG_HS256) {
            token_key_wipe(k);
            fprintf(stderr, "nearby-gateway: --jwt-secret-file %s is an Ed25519 private key: a "
                            "gateway needs only the public key, so that it cannot mint tokens; "
                            "give --jwt-public-key-file with 'openssl pkey -in %s -pubout'\n",
                    key_file, key_file);
            return -1;
        }
        if (rc < 0) {
            fprintf(stderr, "nearby-gateway: --jwt-secret-file %s: %s%s%s\n", key_file,
                    token_strerror(rc), rc == TOKEN_ERR_IO ? ": " : "",
                    rc == TOKEN_ERR_IO ? strerror(errno) : "");
            return -1;
        }
        cfg->jwt_key_count++;
    }
    if (src.public_key_file[0] != '\0') {
        rc = token_key_load_public(src.public_key_file, &cfg->jwt_keys[cfg->jwt_key_count]);
        if (rc < 0) {
            fprintf(stderr, "nearby-gateway: --jwt-public-key-file %s: %s%s%s\n",
                    src.public_key_file,
                    rc == TOKEN_ERR_BAD_KEY ? "not an Ed25519 public key in PEM (make it from "
                                              "the private key: openssl pkey -in KEY -pubout)"
                                            : token_strerror(rc),
                    rc == TOKEN_ERR_IO ? ": " : "", rc == TOKEN_ERR_IO ? strerror(errno) : "");
            return -1;
        }
        cfg->jwt_key_count++;
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
    if (cfg->zk_auth_file[0] != '\0') {
        struct zk_auth auth;
        char why[512];

        rc = zk_auth_load(cfg->zk_auth_file, &auth, why, sizeof(why));
        memset(&auth, 0, sizeof(auth));
        if (rc < 0) {
            fprintf(stderr, "nearby-gateway: --zk-auth-file %s\n", why);
            return -1;
        }
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
