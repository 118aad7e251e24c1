/* gateway-internal.h: the gateway's state and the calls between its parts: gateway.c (ring, nodes, life cycle), fanout.c (what channels carry), channel_sync.c (consent reads), phone.c (sessions), rest.c, admin.c and routes.c (HTTP). */
#ifndef NEARBY_GATEWAY_INTERNAL_H
#define NEARBY_GATEWAY_INTERNAL_H

#include <stdint.h>

#include <event2/event.h>

#include "cells.h"
#include "channels.h"
#include "config.h"
#include "gateway_registry.h"
#include "gateway.h"
#include "history.h"
#include "http.h"
#include "limit_table.h"
#include "location_cache.h"
#include "metrics.h"
#include "pg_pool.h"
#include "proto_msg.h"
#include "proto_payload.h"
#include "pubsub_node.h"
#include "ring.h"
#include "ring_watch.h"
#include "session.h"
#include "strangers.h"
#include "token.h"

struct phone;         /* phone.c: one WebSocket session */
struct channel_sync;  /* channel_sync.c: the consent read queue */
struct control;       /* control.c: control messages still to publish */
struct rest;          /* rest.c: erasures still to finish */
struct admin;         /* admin.c: the admin page's API and published load */
struct cell_channels; /* cell_channels.c: stranger views, the cells' publish queues */
struct peer_view;     /* peer_view.c: the other gateways' view of the ring */

/* A pub/sub node of the ring the gateway talks to. */
struct gw_node {
    struct pubsub_node *node;
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    int in_ring;              /* scratch while applying a ring */
    uint64_t since_epoch;     /* the ring epoch that made this client (at this address) */
    uint64_t dead_since_ms;   /* when it was found dead; 0 while it is not */
};

struct gateway_metrics {
    struct metrics *registry;
    struct metrics_gauge *sessions, *channels, *ring_epoch, *history_queued;
    struct metrics_gauge *ring_epoch_confirmed; /* what the registry reports */
    struct metrics_counter *updates_in, *pushes_out, *bad_frames, *rate_limited;
    struct metrics_counter *publish_errors, *history_written, *history_dropped;
    struct metrics_histogram *latency; /* publish to push, seconds */
    struct metrics_counter *slow_closed, *coalesced;
    /* Consent: payloads not of their channel's user, positions dropped by the
     * ordering rule, consent reads that failed (the channel stays hidden),
     * sessions ended at their token's exp. */
    struct metrics_counter *misrouted, *stale, *consent_errors, *tokens_expired;
    /* Per pub/sub node, labelled node="<id>", refreshed when /metrics is read. */
    struct metrics_family *node_alive, *node_channels, *node_publish_errors, *node_messages;
    /* Limits (README "Limits"): the phones' port's counters (copied from the
     * HTTP server's when /metrics is read) and the gateway's own. */
    struct metrics_counter *control_floods, *idle_pings, *idle_closed, *handshake_timeouts;
    struct metrics_counter *proxy_headers, *proxy_errors, *proxy_untrusted;
    struct metrics_counter *ip_conns_refused, *ip_handshakes_refused;
    struct metrics_counter *sessions_replaced, *starts_limited, *starts_busy;
    struct metrics_counter *radius_limited, *rest_limited, *init_timeouts;
    struct metrics_gauge *sessions_starting, *connections;
    /* label table="ip"|"session_starts"|"rest", and kind="session"|"rest"|"history" */
    struct metrics_family *limit_table_entries, *limit_table_full, *pg_queued;
    /* Strangers: cell channels held, sessions with strangers on, positions
     * published on cell channels and held back by --strangers-cell-rate. */
    struct metrics_gauge *cells, *strangers_sessions;
    struct metrics_counter *strangers_published, *strangers_held;
};

struct gateway {
    struct event_base *base;  /* ref: owned by main */
    struct gateway_config cfg;
    struct token_policy token_policy; /* aud/iss from cfg */
    struct http_server *http;       /* the phones' port */
    struct http_server *admin_http; /* the internal port */
    struct ring_watch *watch;
    struct gateway_registry *registry; /* NULL once draining: not to be waited for */
    struct ring *ring;        /* the ring applied, or NULL before the first */
    /* The epoch whose subscriptions Redis has confirmed: what the registry
     * reports, so that ringctl waits for real subscriptions, not intentions. */
    uint64_t confirmed_epoch;
    /* The ring watcher's session expired: the registry reports no epoch
     * until the new session has read the ring and its subscriptions are
     * confirmed, so that a gateway back from a long cut never reports an
     * epoch older than the newest as applied (ringctl stopped waiting for
     * it when its znode went). */
    int rejoining;
    uint64_t pending_reported_ms; /* when the registry last heard the pending count */
    struct event *confirm_timer;
    struct gw_node *nodes;
    size_t node_count;
    /* The client of each ring node in each view, by ring_node_index: the
     * owner of a channel in one step, not a scan of nodes by name. One for
     * the ring applied and one for the ring being applied. */
    struct node_index {
        const struct ring *ring;     /* ref: the ring it indexes; NULL: empty */
        struct pubsub_node **client; /* [2 * nodes of ring]: 2 * index + view */
        size_t cap;
    } owners[2];
    struct channels *channels;
    struct cells *cells;      /* cell channels g:<geohash> (strangers) */
    struct cell_channels *strangers;
    struct channel_sync *sync;
    struct control *control;
    struct rest *rest;
    struct admin *admin;
    struct peer_view *peers;  /* the other gateways' view, for the minority rule of /healthz */
    struct location_cache *cache;
    struct pg_pool *pg;       /* session starts, REST and history on connections of their own */
    struct history *history;
    /* Limits per client address (open connections, new ones a second) and
     * per user (session starts a second, REST calls a second). */
    struct limit_table *ip_limits, *start_limits, *rest_limits;
    /* phone.c's alone: every phone, and those waiting for their channels. */
    struct phone *phones;
    struct phone *waiting;
    size_t phone_count;
    size_t starting;          /* sessions between a good init and their nearby */
    uint64_t refusal_logged_ms;  /* per-address refusals: one log line a second at most */
    unsigned refusals_unlogged;
    uint64_t session_seq;     /* numbers sessions by start: a user's oldest is replaced */
    /* What sessions write frames and channel changes through; arg is the
     * gateway, the phone is the session's transport. */
    struct session_sink sink;
    struct event *tick;       /* once a second: expiry, gauges */
    unsigned ticks;           /* seconds since start, for what runs less often */
    struct event *drain_timer;
    int draining;
    unsigned drain_steps_left;
    struct gateway_metrics m;
    /* Reused for every message: nothing on the hot path allocates. */
    uint8_t frame[PROTO_PAYLOAD_MAX > 4096 ? PROTO_PAYLOAD_MAX : 4096];
};

/* -- gateway.c -- */
uint64_t gateway_now_ms(void);
/* The one check of a phone's or a REST caller's token: signature by one of
 * the configured keys (the header's alg picks it), times, aud and iss.
 * Returns 0 and *claims, or a negative TOKEN_ERR_*. */
int gateway_token_check(const struct gateway *gw, const char *token, size_t len,
                        struct token_claims *claims);
/* Publishes payload on the channel of user, to its owner in every view.
 * Returns 0, or -1 when it reached no owner (counted in publish errors). */
int gateway_publish(struct gateway *gw, uint64_t user, const struct proto_payload *payload);
/* The same on any channel (a cell's g:<geohash>). */
int gateway_publish_on(struct gateway *gw, const char *channel, size_t clen,
                       const struct proto_payload *payload);
/* Subscribes (on != 0) or unsubscribes channel on its owners in both views. */
void gateway_subscribe(struct gateway *gw, const char *channel, size_t clen, int on);
/* Returns 1 when every live owner of channel (both views) has confirmed its
 * subscription: from then on nothing published there can be missed. A dead
 * owner cannot deliver anything and counts as confirmed; so does having no
 * ring. */
int gateway_confirmed(struct gateway *gw, const char *channel, size_t clen);
/* Subscribes the channel of a new entry on its owners; once Redis confirms
 * (at once with no live owner) its consent is read (channel_sync). */
void gateway_channel_created(struct gateway *gw, struct channel *ch);
/* Unsubscribes the channel of user on its owners. */
void gateway_unsubscribe(struct gateway *gw, uint64_t user);
/* Copies the pub/sub nodes' counters into the metrics, for /metrics. */
void gateway_refresh_metrics(struct gateway *gw);
/* Writes the reason the gateway is not ready into buf; returns 1 if ready. */
int gateway_ready(struct gateway *gw, char *buf, size_t cap);

/* -- fanout.c -- */
/* A message on channel (a u:<user> channel of a pub/sub node): decoded,
 * believed only for the channel's own user, applied to the channel entry and
 * its local watchers and owners. */
void fanout_on_message(struct gateway *gw, const char *channel, size_t channel_len,
                       const uint8_t *payload, size_t payload_len);
/* Applies a payload about user (already known to be the channel's) as if it
 * had arrived: the REST gateway applies its own control messages at once. */
void fanout_apply(struct gateway *gw, uint64_t user, const struct proto_payload *payload);
/* Tells every local watcher of ch that its entry changed. */
void fanout_notify_watchers(struct gateway *gw, struct channel *ch);
/* Hides positions the cache would have let expire (once a second). */
void fanout_expire(struct gateway *gw, uint64_t now_ms);

/* -- cell_channels.c -- */
struct cell_channels *cell_channels_new(struct gateway *gw);
void cell_channels_free(struct cell_channels *cc);
/* Switches strangers on for session s: a view with a new sid, its blocks
 * read, its cells held once it has a position. NULL when out of memory or
 * the kernel gave no random sid. */
struct stranger_view *strangers_on(struct gateway *gw, struct session *s);
/* Switches them off: stranger_gone to others at once and to this phone for
 * each shown, the cells released; frees v. */
void strangers_off(struct gateway *gw, struct stranger_view *v);
/* The session moved: hand over its cells, re-measure, publish. */
void strangers_moved(struct gateway *gw, struct stranger_view *v);
/* The view's user blocked other or was blocked by other. */
void strangers_blocked(struct gateway *gw, struct stranger_view *v, uint64_t other);
/* A message on a g:<geohash> channel. */
void cell_channels_on_message(struct gateway *gw, const char *channel, size_t channel_len,
                              const uint8_t *payload, size_t payload_len);
/* Redis confirmed channel on one owner: handovers waiting for it may finish. */
void cell_channels_confirmed(struct gateway *gw, const char *channel, size_t channel_len);
/* A node died: handovers waiting for it finish. */
void cell_channels_check(struct gateway *gw);
/* Once a second: strangers silent for the location TTL go; blocks read again
 * where they failed. */
void cell_channels_tick(struct gateway *gw, uint64_t now_ms);

/* -- channel_sync.c -- */
struct channel_sync *channel_sync_new(struct gateway *gw);
void channel_sync_free(struct channel_sync *sync);
/* Reads ch's consent (PostgreSQL) and cached position, batched with others,
 * then marks it synced and tells its watchers; phones waiting for it go on. */
void channel_sync_queue(struct gateway *gw, struct channel *ch);

/* -- control.c -- */
struct control *control_new(struct gateway *gw);
void control_free(struct control *c);
/* Sends a control message about user (its seq is set here): applied to this
 * gateway's own sessions at once, published on user's channel to every
 * owner, and while none takes it, published again every 500 ms for a minute
 * (a failover replaces a dead owner in seconds). Receivers apply it however
 * often it comes. */
void control_publish(struct gateway *gw, uint64_t user, struct proto_payload *payload);

/* -- phone.c -- */
extern const struct http_callbacks phone_http_callbacks;
/* Sets gw->sink. */
void phone_sink_init(struct gateway *gw);
/* The friendships of ch's user changed (other added, or removed when
 * removed; other 0: unknown, after a resync): each of the user's local
 * sessions drops other at once if removed, then re-reads its friends from
 * PostgreSQL, where the change is confirmed. */
void phones_friends_changed(struct gateway *gw, struct channel *self, uint64_t other, int removed);
/* ch's user blocked other or was blocked by other: the user's sessions
 * never show other as a stranger. */
void phones_blocked(struct gateway *gw, struct channel *self, uint64_t other);
/* Closes every local session of ch's user with code and reason. */
void phones_close_user(struct gateway *gw, struct channel *self, unsigned code, const char *reason);
/* Channels were synced: phones waiting for theirs go on. */
void phones_synced(struct gateway *gw);
/* Closes up to n open phones with 1001 (drain); returns how many are open. */
size_t phones_close_some(struct gateway *gw, size_t n);
/* At gateway_free: every phone counts as closed, then all are freed. */
void phones_detach_all(struct gateway *gw);
void phones_free_all(struct gateway *gw);

/* -- routes.c / rest.c / admin.c -- */
extern const struct http_callbacks admin_http_callbacks;
void routes_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req);
/* The /v1 REST API (rest.c). */
struct rest *rest_new(struct gateway *gw);
void rest_free(struct rest *r);
void rest_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req);
/* The internal port's /admin/api/ring and /admin/api/gateways (admin.c). */
struct admin *admin_new(struct gateway *gw, char *errbuf, size_t errlen);
void admin_free(struct admin *a);
void admin_api_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req);
/* Once a second: samples the rates the admin page shows, and now and then
 * refreshes the load in the gateway's registration. */
void admin_tick(struct gateway *gw);

/* -- peer_view.c -- */
/* The other gateways' registrations, read (its own ZooKeeper session,
 * opened on the first read) once a second while some node is dead here. */
struct peer_view *peer_view_new(struct gateway *gw, char *errbuf, size_t errlen);
void peer_view_free(struct peer_view *pv);
void peer_view_tick(struct peer_view *pv);
/* Returns 1, with the reason in buf, when a node is dead here but a
 * majority of the live gateways reach it (core/minority.h); logs each change. */
int peer_view_minority(struct peer_view *pv, char *buf, size_t cap);
/* Answers with a JSON body, or with {"error":code,"message":message}. */
void reply_json(struct http_conn *c, int status, const char *body);
void reply_error(struct http_conn *c, int status, const char *code, const char *message);

#endif
