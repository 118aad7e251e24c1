/* loadgen.h: what every simulated phone of one load-generator run shares: targets, key, knobs, counters. */
#ifndef NEARBY_LOADGEN_H
#define NEARBY_LOADGEN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ledger.h"
#include "stats.h"
#include "token.h"

#define LOADGEN_HOST_MAX 64   /* "HOST:PORT" as the Host header */
#define LOADGEN_PATH_MAX 256
#define LOADGEN_REPORTED_MAX 10 /* failures and errors printed to stderr; the rest are counted */

/* One --url: where phones connect and fetch their friend list. */
struct loadgen_target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[LOADGEN_HOST_MAX];
    char path[LOADGEN_PATH_MAX];
};

struct loadgen {
    struct event_base *base;          /* ref: owned by main */
    struct loadgen_target *targets;   /* ref: owned by main */
    size_t target_count;
    struct sockaddr_in *sources;      /* ref: owned by main; NULL: the kernel picks */
    size_t source_count;
    size_t next_source;
    struct token_key key; /* HS256 secret or Ed25519 private key: signs the tokens */
    uint64_t rng;                     /* xorshift64* state, never 0 */
    double center_lat, center_lng;
    double spread_km;
    unsigned interval_ms;
    struct ledger *ledger;            /* ref: owned by main; the ts every phone published */
    int quiet;                        /* draining: phones read but send no more loc */
    int shutting_down;
    size_t closing;                   /* phones whose close handshake is still running */
    unsigned reported_checks;
    unsigned reported_errors;
    struct stats stats;
};

/* Returns a uniform double in [0, 1). */
double loadgen_random(struct loadgen *lg);

/* Returns the wall clock in ms since the epoch, with a fraction. */
double loadgen_now_ms(void);

/* Returns the next source address round-robin and writes its length, or
 * NULL when no --source-ips were given. */
const struct sockaddr *loadgen_next_source(struct loadgen *lg, socklen_t *len);

/* Called by a phone whose close handshake ended during shutdown; stops the
 * loop when it was the last. */
void loadgen_phone_closed(struct loadgen *lg);

#endif
