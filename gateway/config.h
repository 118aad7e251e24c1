/* config.h: nearby-gateway's settings, from command-line flags and a --config file, with defaults shown by --help. */
#ifndef NEARBY_GATEWAY_CONFIG_H
#define NEARBY_GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define GATEWAY_ORIGINS_MAX 16
#define GATEWAY_KEY_MAX 1024
#define GATEWAY_ORIGIN_MAX 256

struct gateway_config {
    char listen[256];        /* host:port: phones (/ws, /v1) and a bare /healthz */
    char admin_listen[256];  /* host:port: /metrics, /healthz with detail, /admin */
    char id[128];            /* this gateway in ZooKeeper and on heartbeat channels */
    char zk[512];
    char root[256];
    char ring[64];
    char cache[256];         /* location cache Redis, host:port */
    char redis_user[257];    /* ACL user for the cache and the pub/sub nodes; "" : no AUTH */
    char redis_password[257]; /* from --redis-password-file */
    char pg[1024];           /* libpq conninfo */
    uint8_t jwt_key[GATEWAY_KEY_MAX];
    size_t jwt_key_len;
    char jwt_audience[256];  /* "" : aud not checked */
    char jwt_issuer[256];    /* "" : iss not checked */
    double radius_km;
    double max_radius_km;
    unsigned location_ttl_s;
    unsigned drain_seconds;
    double loc_rate;         /* loc messages per second per session, sustained */
    unsigned loc_burst;
    unsigned session_timeout_ms; /* ZooKeeper session */
    char origins[GATEWAY_ORIGINS_MAX][GATEWAY_ORIGIN_MAX];
    size_t origin_count;
    int check_only;          /* --check-config: validate and exit */
};

/* Parses argv into *cfg: the defaults, then the --config FILE if one is given
 * (one "key = value" a line, keys the long flag names; '#' starts a comment
 * line), then the other flags, which win over the file (a repeatable flag
 * given on the command line replaces the file's list). Returns 0 to run, 1
 * when --help or --version was printed (exit 0), or -1 after printing what
 * is wrong on stderr, naming the file and line for the file's errors (exit 2).
 * Not thread-safe: it uses getopt and a static scratch area. */
int gateway_config_parse(struct gateway_config *cfg, int argc, char **argv);

#endif
