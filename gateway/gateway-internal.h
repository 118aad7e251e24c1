/* gateway-internal.h: the gateway's state, shared by gateway.c (ring, pub/sub, fan-out), phone.c (WebSocket sessions) and routes.c (HTTP). */
#ifndef NEARBY_GATEWAY_INTERNAL_H
#define NEARBY_GATEWAY_INTERNAL_H

#include <stdint.h>

#include <event2/event.h>

#include "channels.h"
#include "config.h"
#include "gateway_registry.h"
#include "gateway.h"
#include "history.h"
#include "http.h"
#include "location_cache.h"
#include "metrics.h"
#include "pg_conn.h"
#include "proto_msg.h"
#include "proto_payload.h"
#include "pubsub_node.h"
#include "ratelimit.h"
#include "ring.h"
#include "ring_watch.h"
#include "session.h"

enum phone_state {
    PHONE_AWAIT_INIT, /* connected, no valid init yet */
    PHONE_LOADING,    /* token good; friends and positions being read */
    PHONE_LIVE,
    PHONE_CLOSED,     /* the WebSocket is gone; freed when the last reference goes */
};

/* One connected phone. Reference counted: the connection holds one, each
 * request in flight (friends query, cache read) holds one. */
struct phone {
    struct session session;   /* session.transport is this phone */
    struct gateway *gw;       /* ref: owned by main */
    struct http_conn *conn;   /* ref: owned by the HTTP server; NULL once closed */
    enum phone_state state;
    unsigned refs;
    unsigned bad_frames;
    int closing;              /* phone_close was called */
    int sharing;              /* 0 after sharing/off: positions stay private */
    int self_ref;             /* holds a self reference on its own channel entry */
    uint64_t seq;             /* last sequence published */
    struct ratelimit rate;
    struct event *init_timer;
    struct phone *prev, *next; /* the gateway's list of phones */
};

/* A pub/sub node of the ring the gateway talks to. */
struct gw_node {
    struct pubsub_node *node;
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    int in_ring;              /* scratch while applying a ring */
};

struct gateway_metrics {
    struct metrics *registry;
    struct metrics_gauge *sessions, *channels, *ring_epoch, *history_queued;
    struct metrics_gauge *ring_epoch_confirmed; /* what the registry reports */
    struct metrics_counter *updates_in, *pushes_out, *bad_frames, *rate_limited;
    struct metrics_counter *publish_errors, *history_written, *history_dropped;
    struct metrics_histogram *latency; /* publish to push, seconds */
    struct metrics_counter *slow_closed, *coalesced;
    /* Per pub/sub node, labelled node="<id>", refreshed when /metrics is read. */
    struct metrics_family *node_alive, *node_channels, *node_publish_errors, *node_messages;
};

struct gateway {
    struct event_base *base;  /* ref: owned by main */
    struct gateway_config cfg;
    struct http_server *http;
    struct ring_watch *watch;
    struct gateway_registry *registry; /* NULL once draining: not to be waited for */
    struct ring *ring;        /* the ring applied, or NULL before the first */
    /* The epoch whose subscriptions Redis has confirmed: what the registry
     * reports, so that ringctl waits for real subscriptions, not intentions. */
    uint64_t confirmed_epoch;
    uint64_t pending_reported_ms; /* when the registry last heard the pending count */
    /* Users whose channels a ring change moved: once Redis confirmed the new
     * subscriptions, their positions are read from the cache, in case an
     * update went to a dead owner meanwhile. */
    uint64_t *catch_up;
    size_t catch_up_count, catch_up_cap;
    struct event *confirm_timer;
    struct gw_node *nodes;
    size_t node_count;
    struct channels *channels;
    struct location_cache *cache;
    struct pg_conn *pg;
    struct history *history;
    struct phone *phones;     /* list head */
    size_t phone_count;
    struct event *tick;       /* once a second: expiry, gauges */
    unsigned ticks;           /* seconds since start, for what runs less often */
    struct event *drain_timer;
    int draining;
    unsigned drain_steps_left;
    struct gateway_metrics m;
    /* Reused for every message: nothing on the hot path allocates. */
    uint8_t frame[PROTO_PAYLOAD_MAX > 4096 ? PROTO_PAYLOAD_MAX : 4096];
};

/* gateway.c */
uint64_t gateway_now_ms(void);
/* Publishes payload on the channel of user, to its owner in every view. */
void gateway_publish(struct gateway *gw, uint64_t user, const struct proto_payload *payload);
/* Subscribes / unsubscribes the channel of user on its owners. */
void gateway_subscribe(struct gateway *gw, uint64_t user);
void gateway_unsubscribe(struct gateway *gw, uint64_t user);
/* The sink sessions write frames and channel changes through. */
extern const struct session_sink gateway_session_sink;
/* Applies what a user's channel carried: a position, sharing off, a
 * friendship change, to every local session concerned. */
void gateway_apply_payload(struct gateway *gw, const struct proto_payload *payload);
/* Applies cached positions newer than what the channel entries hold. */
void gateway_apply_cached(struct gateway *gw, const struct location_cache_entry *entries, size_t n);
/* Reads the cached positions of users and applies the newer ones. */
void gateway_refresh_from_cache(struct gateway *gw, const uint64_t *users, size_t n);
/* Copies the pub/sub nodes' counters into the metrics, for /metrics. */
void gateway_refresh_metrics(struct gateway *gw);
/* Writes the reason the gateway is not ready into buf; returns 1 if ready. */
int gateway_ready(struct gateway *gw, char *buf, size_t cap);

/* phone.c */
extern const struct http_callbacks phone_http_callbacks;
void phone_release(struct phone *p);
void phone_send(struct phone *p, const uint8_t *frame, size_t len);
/* Returns 1 while the phone has more than PHONE_OUTPUT_SOFT unsent: its
 * friends' changes are then held back and flushed, latest only, once it has
 * read everything (counted in nearby_pushes_coalesced_total). */
int phone_busy(struct phone *p);
/* Closes the phone's WebSocket with code (the session ends in on_ws_close). */
void phone_close(struct phone *p, unsigned code, const char *reason);

/* routes.c */
void routes_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req);

#endif
