/* config.h: nearby-gateway's settings, from command-line flags and a --config file, with defaults shown by --help. */
#ifndef NEARBY_GATEWAY_CONFIG_H
#define NEARBY_GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

#define GATEWAY_ORIGINS_MAX 16
#define GATEWAY_ORIGIN_MAX 256
#define GATEWAY_PROXIES_MAX 16
#define GATEWAY_PROXY_MAX 64 /* "ADDR/BITS" */

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
    struct token_key jwt_keys[2]; /* HS256 secret and/or Ed25519 public key */
    size_t jwt_key_count;
    char jwt_audience[256];  /* "" : aud not checked */
    char jwt_issuer[256];    /* "" : iss not checked */
    double radius_km;
    double max_radius_km;
    unsigned location_ttl_s;
    /* Strangers (README "Strangers"). */
    unsigned strangers_precision; /* geohash precision of g:<cell> channels */
    double strangers_radius_km;
    unsigned strangers_max;       /* shown to one phone, the nearest */
    double strangers_cell_rate;   /* positions a second per cell per gateway; 0: no bound */
    unsigned drain_seconds;
    double loc_rate;         /* loc messages per second per session, sustained */
    unsigned loc_burst;
    unsigned session_timeout_ms; /* ZooKeeper session */
    char zk_auth_file[1024]; /* "" : no ZooKeeper identity, open ACLs (zk_auth.h) */
    char origins[GATEWAY_ORIGINS_MAX][GATEWAY_ORIGIN_MAX];
    size_t origin_count;
    /* Limits (README "Limits"): what one connection, address or user may cost. */
    unsigned output_max;         /* bytes queued for one phone, every frame counted */
    double control_rate;         /* ping/pong/close frames a second from one phone */
    unsigned handshake_timeout_s; /* the first request (the upgrade) whole by then */
    unsigned ws_ping_s;          /* ping a phone silent this long */
    unsigned ws_idle_s;          /* close (1001) a phone silent this long */
    unsigned tcp_keepalive_s;    /* keepalive probes after this much silence; 0: system's */
    char trusted_proxies[GATEWAY_PROXIES_MAX][GATEWAY_PROXY_MAX]; /* send PROXY v2 */
    size_t trusted_proxy_count;
    unsigned ip_max_conns;       /* open connections per client address; 0: no limit */
    double ip_handshake_rate;    /* new connections a second per address; 0: no limit */
    unsigned ip_handshake_burst;
    unsigned user_max_sessions;  /* sessions per user; the newest wins (4002) */
    double session_start_rate;   /* session starts a second per user */
    unsigned session_start_burst;
    unsigned start_queue;        /* sessions starting at once; past it err busy */
    double rest_rate;            /* REST calls a second per user (429) */
    unsigned rest_burst;
    unsigned pg_pool;            /* PostgreSQL connections, 2..4 */
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
