/* pubsub_node.h: one Redis pub/sub node of the ring, as two async hiredis connections on the gateway's loop.
 *
 * A node holds a publisher and a subscriber connection to one Redis
 * (address from the ring), each a redis_link (redis_link.h): connect with a
 * timeout, AUTH with the ACL user when given, reconnect on its own with
 * exponential backoff and jitter (backoff_min_ms .. backoff_max_ms). Everything runs on the caller's libevent loop; nothing
 * blocks it (the address should be a numeric IP: hiredis resolves names with
 * a blocking getaddrinfo).
 *
 * Subscriptions: the node keeps the set of channels it should hold. Calls to
 * pubsub_node_subscribe / pubsub_node_unsubscribe only change that set and
 * queue the channel; once per loop iteration the queue goes out as
 * SUBSCRIBE ch1 .. chN (and UNSUBSCRIBE ...) commands of at most
 * batch_channels names each, pipelined. on_subscribed tells the owner when
 * Redis has confirmed a wanted channel. When the subscriber connection comes
 * back after a drop, every wanted channel is subscribed again and, once all
 * are confirmed, on_resubscribed tells the owner, who should re-read the
 * location cache for what was published meanwhile.
 *
 * Liveness: every hb_interval_ms the node publishes a proto `hb` payload on
 * "hb:<gateway id>", a channel its own subscriber holds. The node is ALIVE
 * while those come back; after hb_misses intervals without one it is DEAD,
 * checked four times an interval (a hung, e.g. SIGSTOPped, Redis is found this way: TCP stays up but nothing
 * answers). A DEAD node drops its connections and keeps reconnecting with
 * backoff; when heartbeats come back it is ALIVE again. on_state reports each
 * change. A new node starts CONNECTING.
 *
 * Ownership: the node copies the config strings. Channel and payload
 * pointers given to callbacks are borrowed for the duration of the call.
 * Callbacks may call any pubsub_node_* function, pubsub_node_free included
 * (the node is then freed once the callback has returned; no callback runs
 * after pubsub_node_free). Functions returning int give 0 or a negative
 * PUBSUB_NODE_ERR_*.
 */
#ifndef NEARBY_PUBSUB_NODE_H
#define NEARBY_PUBSUB_NODE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pubsub_node;

enum pubsub_node_err {
    PUBSUB_NODE_OK = 0,
    PUBSUB_NODE_ERR_NOMEM = -1,
    PUBSUB_NODE_ERR_INVALID = -2, /* bad address, id or channel name */
    PUBSUB_NODE_ERR_DOWN = -3,    /* the publisher connection is not up */
    PUBSUB_NODE_ERR_BUSY = -4,    /* too many publishes wait for a reply */
    PUBSUB_NODE_ERR_REDIS = -5,   /* hiredis refused the command */
};

enum pubsub_node_state {
    PUBSUB_NODE_CONNECTING, /* no heartbeat seen yet since the node was made */
    PUBSUB_NODE_ALIVE,      /* heartbeats come back */
    PUBSUB_NODE_DEAD,       /* hb_misses heartbeats missed, or a connect failed; reconnecting */
};

#define PUBSUB_NODE_CHANNEL_MAX 255 /* bytes in a channel name */

struct pubsub_node_config {
    const char *id;         /* node id from the ring, 1..63 bytes */
    const char *addr;       /* "host:port" */
    const char *gateway_id; /* this gateway, 1..64 bytes: names the heartbeat channel */
    const char *user;       /* Redis ACL user; NULL: no AUTH (redis_link.h) */
    const char *password;   /* with user */
    /* 0 means the default given in brackets */
    unsigned connect_timeout_ms;    /* [1000] */
    unsigned hb_interval_ms;        /* [1000] */
    unsigned hb_misses;             /* [3] */
    unsigned backoff_min_ms;        /* [100] */
    unsigned backoff_max_ms;        /* [5000] */
    unsigned batch_channels;        /* [1000] channels per SUBSCRIBE command */
    unsigned max_pending_publishes; /* [262144] publishes waiting for a reply */
};

struct pubsub_node_callbacks {
    /* A message on a wanted channel. */
    void (*on_message)(void *arg, struct pubsub_node *node, const char *channel,
                       size_t channel_len, const uint8_t *payload, size_t payload_len);
    /* Redis confirmed a wanted channel (after each (re)subscription). */
    void (*on_subscribed)(void *arg, struct pubsub_node *node, const char *channel,
                          size_t channel_len);
    /* Every wanted channel is confirmed again after the subscriber
     * connection was lost; channels is how many there are. */
    void (*on_resubscribed)(void *arg, struct pubsub_node *node, size_t channels);
    /* The node changed state. */
    void (*on_state)(void *arg, struct pubsub_node *node, enum pubsub_node_state state);
};

struct pubsub_node_stats {
    enum pubsub_node_state state;
    int publisher_up;          /* 1 when the publisher connection is connected */
    int subscriber_up;         /* 1 when the subscriber connection is connected */
    uint64_t published;        /* PUBLISH replies received (heartbeats not counted) */
    uint64_t publish_errors;   /* publishes refused, failed or lost with a connection */
    uint64_t messages_in;      /* messages delivered to on_message */
    uint64_t channels_wanted;  /* channels the owner asked for */
    uint64_t channels_subscribed; /* of those, confirmed by Redis */
    uint64_t subscribe_commands;  /* SUBSCRIBE and UNSUBSCRIBE commands sent */
    uint64_t heartbeats_sent;
    uint64_t heartbeats_received;
    uint64_t connects;         /* successful connects, both connections */
    uint64_t disconnects;      /* connections lost or dropped, both connections */
    uint64_t pending_publishes; /* publishes waiting for a reply */
};

/* Returns "connecting", "alive" or "dead". */
const char *pubsub_node_state_name(enum pubsub_node_state state);

/* Makes a node and starts connecting both connections on base. cbs is copied;
 * any callback may be NULL. Returns the node, or NULL when out of memory or
 * when the config is invalid (bad address or ids). Free it with
 * pubsub_node_free. */
struct pubsub_node *pubsub_node_new(struct event_base *base,
                                    const struct pubsub_node_config *config,
                                    const struct pubsub_node_callbacks *cbs, void *arg);

/* Closes both connections and frees the node; NULL does nothing. Pending
 * publishes count as errors. No callback runs after this call. */
void pubsub_node_free(struct pubsub_node *node);

/* Publishes payload on channel. Returns 0 when the command is queued on the
 * publisher connection (its reply counts in published or publish_errors),
 * PUBSUB_NODE_ERR_DOWN when that connection is not up, PUBSUB_NODE_ERR_BUSY
 * when max_pending_publishes wait for a reply, PUBSUB_NODE_ERR_INVALID for an
 * empty or too long channel, PUBSUB_NODE_ERR_REDIS if hiredis refused it;
 * every error counts in publish_errors. */
int pubsub_node_publish(struct pubsub_node *node, const char *channel, size_t channel_len,
                        const uint8_t *payload, size_t payload_len);

/* Adds channel to the wanted set; it is subscribed within the current loop
 * iteration if the subscriber is up, else on reconnect. Returns 0 (also when
 * it was wanted already), PUBSUB_NODE_ERR_INVALID (empty, longer than
 * PUBSUB_NODE_CHANNEL_MAX, or the heartbeat channel) or
 * PUBSUB_NODE_ERR_NOMEM. */
int pubsub_node_subscribe(struct pubsub_node *node, const char *channel, size_t channel_len);

/* Removes channel from the wanted set and unsubscribes it within the current
 * loop iteration; on_message is not called for it afterwards. Returns 0 (also
 * when it was not wanted) or PUBSUB_NODE_ERR_INVALID. */
int pubsub_node_unsubscribe(struct pubsub_node *node, const char *channel, size_t channel_len);

/* Returns 1 when channel is wanted and Redis has confirmed its subscription
 * on the current subscriber connection (on_subscribed was told), else 0. */
int pubsub_node_confirmed(const struct pubsub_node *node, const char *channel,
                          size_t channel_len);

/* Fills *out with the node's state and counters. */
void pubsub_node_get_stats(const struct pubsub_node *node, struct pubsub_node_stats *out);

enum pubsub_node_state pubsub_node_state(const struct pubsub_node *node);
const char *pubsub_node_id(const struct pubsub_node *node);
const char *pubsub_node_addr(const struct pubsub_node *node);

/* Returns the last connection or reply error as text ("" if none yet); the
 * string stays valid until the next call into the node or the loop. */
const char *pubsub_node_last_error(const struct pubsub_node *node);

#endif
