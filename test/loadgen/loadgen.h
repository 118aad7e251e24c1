/* loadgen.h: what every simulated phone of one load-generator run shares: targets, key, knobs, counters. */
#ifndef NEARBY_LOADGEN_H
#define NEARBY_LOADGEN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ledger.h"
#include "stats.h"
#include "strangers.h"
#include "token.h"

#define LOADGEN_HOST_MAX 64   /* "HOST:PORT" as the Host header */
#define LOADGEN_PATH_MAX 256
#define LOADGEN_REPORTED_MAX 10 /* failures and errors printed to stderr; the rest are counted */

struct friend_file;

/* What the phones speak: nearby's msgpack frames, or Socket.IO (Engine.IO v4
 * over WebSocket, eio.h) to the servers of bench/socketio. */
enum loadgen_protocol {
    LOADGEN_PROTOCOL_NEARBY,
    LOADGEN_PROTOCOL_SOCKETIO,
};

/* The counted window: every loc whose ts is in [from_ts, to_ts) should reach
 * every friend of its sender; what did, whenever it arrived (a quiet period
 * after the window lets the tail in), is delivered. So delivered / expected
 * is exact, with no edge effect at either end of the window. */
struct loadgen_window {
    uint64_t from_ts;   /* ms; the start, or the end of --warmup */
    uint64_t to_ts;     /* ms; UINT64_MAX until the run's end (--duration or a signal) */
    uint64_t updates;   /* locs sent in the window */
    uint64_t skipped;   /* locs not sent because the socket was backed up */
    uint64_t expected;  /* the friends of the senders of both, summed */
    uint64_t delivered; /* friend frames (not dups) about locs of the window */
    uint32_t sessions;  /* phones online when the window opened */
    uint64_t ts_max;    /* the highest ts any phone has used: an edge of the window is set
                         * above it, so no loc is counted as sent on one side of the edge
                         * and as delivered on the other */
};

/* One --url: where phones connect and fetch their friend list. */
struct tls_io_ctx;

struct loadgen_target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[LOADGEN_HOST_MAX];     /* HOST:PORT, for the Host header */
    char path[LOADGEN_PATH_MAX];
    struct tls_io_ctx *tls;          /* wss://: ref, owned by main; NULL for ws:// */
    char tls_name[LOADGEN_HOST_MAX]; /* HOST alone: what the certificate must name */
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
    enum loadgen_protocol protocol;
    const struct friend_file *friend_file; /* ref: owned by main; NULL: GET /v1/friends */
    int quiet;                        /* draining: phones read but send no more loc */
    int shutting_down;
    size_t closing;                   /* phones whose close handshake is still running */
    unsigned reported_checks;
    unsigned reported_errors;
    struct stats stats;
    struct loadgen_window window;
    uint32_t stranger_phones;         /* users 1..this are pairs of strangers (strangers.h) */
    struct strangers_stats strangers;
    int strangers_dense;              /* members walk among the others (strangers.h) */
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
