/* pubsub_node.c: a pub/sub Redis node's two hiredis connections, its wanted-channel set, batched (un)subscribes and heartbeat. */
#include "pubsub_node.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "proto_payload.h"
#include "redis_link.h"
#include "ring.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_HB_INTERVAL_MS 1000
#define DEFAULT_HB_MISSES 3
/* The liveness check runs this many times per heartbeat interval, so a node is
 * found dead at most interval / HB_CHECKS after its last heartbeat plus the
 * misses, not up to a whole interval later. */
#define HB_CHECKS 4
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000
#define DEFAULT_BATCH_CHANNELS 1000
#define DEFAULT_MAX_PENDING_PUBLISHES 262144

enum conn_role { CONN_PUB, CONN_SUB };

struct pubsub_conn {
    struct pubsub_node *node; /* ref: owner */
    enum conn_role role;
    struct redis_link *link;  /* reconnects on its own; backoff reset by heartbeats */
};

/* One channel in the wanted set. An entry stays while the owner wants it or
 * while a (UN)SUBSCRIBE for it is still unanswered, so that replies for it
 * can be told apart from replies for a later change of mind. */
struct pubsub_chan {
    uint64_t hash;
    uint32_t inflight;      /* SUBSCRIBE / UNSUBSCRIBE replies still due */
    unsigned wanted : 1;    /* the owner wants it */
    unsigned queued : 1;    /* in node->queue */
    unsigned sent_sub : 1;  /* the last command sent for it was SUBSCRIBE */
    unsigned live : 1;      /* Redis confirmed it and no UNSUBSCRIBE went since */
    unsigned confirmed : 1; /* wanted and on_subscribed told (counted in subscribed) */
    uint16_t len;
    char name[];
};

struct pubsub_node {
    struct event_base *base; /* ref: owned by the caller */
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    char gateway_id[PROTO_GATEWAY_ID_MAX + 1];
    size_t gateway_len;
    char hb_channel[3 + PROTO_GATEWAY_ID_MAX + 1];
    size_t hb_channel_len;
    unsigned hb_interval_ms, hb_misses;
    unsigned batch_channels, max_pending;

    struct pubsub_node_callbacks cbs;
    void *arg; /* ref: owned by the caller */

    struct pubsub_conn pub, sub;
    enum pubsub_node_state state;
    uint64_t last_hb_ms;       /* last heartbeat back (or the node's start) */
    uint64_t last_progress_ms; /* last heartbeat back or successful connect */
    uint64_t hb_counter;
    unsigned hb_ticks;         /* liveness checks since the start: a heartbeat every HB_CHECKS */
    struct event *hb_timer, *flush_event, *reap_event;
    int depth;        /* nesting of calls into the owner */
    int freeing;      /* pubsub_node_free was called: ignore everything */
    int resync;       /* subscriber was lost: tell the owner when all is confirmed */
    int hb_confirmed; /* the heartbeat channel is subscribed on this connection */

    struct pubsub_chan **slots; /* open addressing, linear probing */
    size_t slot_mask, nchans;
    struct pubsub_chan **queue; /* channels to (un)subscribe; cap >= nchans */
    size_t queue_len, queue_cap;
    size_t unconfirmed; /* wanted and not confirmed */
    const char **argv_sub, **argv_unsub;
    size_t *lens_sub, *lens_unsub;

    uint8_t hb_buf[PROTO_PAYLOAD_MAX];
    struct pubsub_node_stats st;
    char errstr[512];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval ms_tv(uint64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

static void set_error(struct pubsub_node *node, const char *what, const char *detail)
{
    snprintf(node->errstr, sizeof node->errstr, "%s: %s", what, detail ? detail : "unknown");
}

const char *pubsub_node_state_name(enum pubsub_node_state state)
{
    switch (state) {
    case PUBSUB_NODE_CONNECTING: return "connecting";
    case PUBSUB_NODE_ALIVE: return "alive";
    case PUBSUB_NODE_DEAD: return "dead";
    }
    return "unknown";
}

/* Owner callbacks go through here so that pubsub_node_free inside them is deferred. */
#define NODE_CALL(node, fn, ...)                                   \
    do {                                                           \
        if ((node)->cbs.fn && !(node)->freeing) {                  \
            (node)->depth++;                                       \
            (node)->cbs.fn((node)->arg, (node), __VA_ARGS__);      \
            (node)->depth--;                                       \
        }                                                          \
    } while (0)

static void set_state(struct pubsub_node *node, enum pubsub_node_state state)
{
    if (node->state == state)
        return;
    node->state = state;
    NODE_CALL(node, on_state, state);
}

/* ---- the wanted set ---- */

static struct pubsub_chan *chan_find(const struct pubsub_node *node, uint64_t hash,
                                     const char *name, size_t len)
{
    size_t i = (size_t)hash & node->slot_mask;
    struct pubsub_chan *c;

    while ((c = node->slots[i]) != NULL) {
        if (c->hash == hash && c->len == len && memcmp(c->name, name, len) == 0)
            return c;
        i = (i + 1) & node->slot_mask;
    }
    return NULL;
}

static void slot_put(struct pubsub_chan **slots, size_t mask, struct pubsub_chan *c)
{
    size_t i = (size_t)c->hash & mask;

    while (slots[i] != NULL)
        i = (i + 1) & mask;
    slots[i] = c;
}

/* Makes room for one more channel in the table and the queue. Returns 0 or
 * PUBSUB_NODE_ERR_NOMEM (nothing changed then). */
static int chan_reserve(struct pubsub_node *node)
{
    size_t need = node->nchans + 1;

    if (need > node->queue_cap) {
        size_t cap = node->queue_cap * 2;
        struct pubsub_chan **q = realloc(node->queue, cap * sizeof *q);
        if (q == NULL)
            return PUBSUB_NODE_ERR_NOMEM;
        node->queue = q;
        node->queue_cap = cap;
    }
    if (need * 10 > (node->slot_mask + 1) * 7) {
        size_t nslots = (node->slot_mask + 1) * 2;
        struct pubsub_chan **slots = calloc(nslots, sizeof *slots);
        if (slots == NULL)
            return PUBSUB_NODE_ERR_NOMEM;
        for (size_t i = 0; i <= node->slot_mask; i++) {
            if (node->slots[i] != NULL)
                slot_put(slots, nslots - 1, node->slots[i]);
        }
        free(node->slots);
        node->slots = slots;
        node->slot_mask = nslots - 1;
    }
    return 0;
}

/* Removes c from the table (backward-shift deletion) and frees it. */
static void chan_remove(struct pubsub_node *node, struct pubsub_chan *c)
{
    size_t mask = node->slot_mask;
    size_t i = (size_t)c->hash & mask;

    while (node->slots[i] != c)
        i = (i + 1) & mask;
    node->slots[i] = NULL;
    for (size_t j = (i + 1) & mask; node->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)node->slots[j]->hash & mask;
        /* move slots[j] back to the hole unless its home lies in (i, j] */
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            node->slots[i] = node->slots[j];
            node->slots[j] = NULL;
            i = j;
        }
    }
    node->nchans--;
    free(c);
}

static void chan_enqueue(struct pubsub_node *node, struct pubsub_chan *c)
{
    if (c->queued)
        return;
    c->queued = 1;
    node->queue[node->queue_len++] = c; /* cap >= nchans: cannot overflow */
    event_active(node->flush_event, EV_TIMEOUT, 0);
}

/* The owner hears of channel c (wanted, live) being subscribed. */
static void chan_confirm(struct pubsub_node *node, struct pubsub_chan *c)
{
    c->confirmed = 1;
    node->unconfirmed--;
    node->st.channels_subscribed++;
    NODE_CALL(node, on_subscribed, c->name, c->len);
}

static void maybe_resynced(struct pubsub_node *node)
{
    if (node->resync && node->hb_confirmed && node->unconfirmed == 0 &&
        redis_link_up(node->sub.link)) {
        node->resync = 0;
        NODE_CALL(node, on_resubscribed, node->st.channels_wanted);
    }
}

/* ---- batched SUBSCRIBE / UNSUBSCRIBE ---- */

static void sub_reply_cb(redisAsyncContext *ac, void *r, void *privdata);
static void hb_send(struct pubsub_node *node);

static void send_batch(struct pubsub_node *node, const char **argv, size_t *lens, size_t n)
{
    if (n <= 1)
        return;
    redisAsyncContext *ac = redis_link_context(node->sub.link);

    if (redisAsyncCommandArgv(ac, sub_reply_cb, node, (int)n, argv, lens) != REDIS_OK)
        set_error(node, "subscribe", ac->errstr);
    node->st.subscribe_commands++;
}

/* Sends what the queue asks for, batch_channels names per command. Nothing
 * happens while the subscriber is down: the queue waits for the connection. */
static void flush_queue(struct pubsub_node *node)
{
    size_t nsub = 1, nunsub = 1;

    if (!redis_link_up(node->sub.link) || node->freeing)
        return;
    /* on_subscribed below may queue more: queue_len is read each round */
    for (size_t i = 0; i < node->queue_len; i++) {
        struct pubsub_chan *c = node->queue[i];
        c->queued = 0;
        if (c->wanted && !c->sent_sub) {
            c->sent_sub = 1;
            c->inflight++;
            node->argv_sub[nsub] = c->name;
            node->lens_sub[nsub++] = c->len;
            if (nsub == node->batch_channels + 1) {
                send_batch(node, node->argv_sub, node->lens_sub, nsub);
                nsub = 1;
            }
        } else if (c->wanted && c->live && c->inflight == 0 && !c->confirmed) {
            chan_confirm(node, c); /* wanted again before its UNSUBSCRIBE went out */
        } else if (!c->wanted && c->sent_sub) {
            c->sent_sub = 0;
            c->live = 0;
            c->inflight++;
            node->argv_unsub[nunsub] = c->name;
            node->lens_unsub[nunsub++] = c->len;
            if (nunsub == node->batch_channels + 1) {
                send_batch(node, node->argv_unsub, node->lens_unsub, nunsub);
                nunsub = 1;
            }
        } else if (!c->wanted && c->inflight == 0) {
            chan_remove(node, c);
        }
    }
    node->queue_len = 0;
    send_batch(node, node->argv_sub, node->lens_sub, nsub);
    send_batch(node, node->argv_unsub, node->lens_unsub, nunsub);
    maybe_resynced(node);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    flush_queue(arg);
}

/* The subscriber connection is gone: nothing is subscribed any more. */
static void sub_reset(struct pubsub_node *node, int was_up)
{
    node->hb_confirmed = 0;
    if (was_up)
        node->resync = 1;
    for (size_t i = 0; i <= node->slot_mask; i++) {
        struct pubsub_chan *c = node->slots[i];
        if (c == NULL)
            continue;
        c->inflight = 0;
        c->sent_sub = 0;
        c->live = 0;
        if (c->confirmed) {
            c->confirmed = 0;
            node->st.channels_subscribed--;
            node->unconfirmed++;
        }
        if (!c->queued) {
            c->queued = 1;
            node->queue[node->queue_len++] = c;
        }
    }
}

static void on_heartbeat(struct pubsub_node *node, const redisReply *payload)
{
    struct proto_payload p;

    if (proto_payload_decode((const uint8_t *)payload->str, payload->len, &p, NULL) != 0 ||
        p.kind != PROTO_PAYLOAD_HB || p.hb.gateway_len != node->gateway_len ||
        memcmp(p.hb.gateway, node->gateway_id, node->gateway_len) != 0)
        return;
    node->st.heartbeats_received++;
    node->last_hb_ms = now_ms();
    node->last_progress_ms = node->last_hb_ms;
    redis_link_reset_backoff(node->pub.link);
    redis_link_reset_backoff(node->sub.link);
    set_state(node, PUBSUB_NODE_ALIVE);
}

static int str_is(const redisReply *r, const char *s, size_t len)
{
    return r->type == REDIS_REPLY_STRING && (size_t)r->len == len && memcmp(r->str, s, len) == 0;
}

/* Every reply and message on the subscriber connection lands here. */
static void sub_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pubsub_node *node = privdata;
    const redisReply *reply = r;
    const redisReply *kind, *chan_r;
    struct pubsub_chan *c;

    if (reply == NULL || node->freeing)
        return; /* the connection is being freed */
    if (reply->type == REDIS_REPLY_ERROR) {
        set_error(node, "subscriber", reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    kind = reply->element[0];
    chan_r = reply->element[1];
    if (chan_r->type != REDIS_REPLY_STRING)
        return;
    if (str_is(kind, "message", 7)) {
        const redisReply *payload = reply->element[2];
        if (payload->type != REDIS_REPLY_STRING)
            return;
        if ((size_t)chan_r->len == node->hb_channel_len &&
            memcmp(chan_r->str, node->hb_channel, node->hb_channel_len) == 0) {
            on_heartbeat(node, payload);
            return;
        }
        c = chan_find(node, ring_hash(chan_r->str, (size_t)chan_r->len), chan_r->str,
                      (size_t)chan_r->len);
        if (c == NULL || !c->wanted)
            return;
        node->st.messages_in++;
        NODE_CALL(node, on_message, c->name, c->len, (const uint8_t *)payload->str,
                  (size_t)payload->len);
        return;
    }
    if (str_is(kind, "subscribe", 9)) {
        if ((size_t)chan_r->len == node->hb_channel_len &&
            memcmp(chan_r->str, node->hb_channel, node->hb_channel_len) == 0) {
            node->hb_confirmed = 1;
            hb_send(node); /* no need to wait for the next tick to be ALIVE */
            maybe_resynced(node);
            return;
        }
        c = chan_find(node, ring_hash(chan_r->str, (size_t)chan_r->len), chan_r->str,
                      (size_t)chan_r->len);
        if (c == NULL || c->inflight == 0)
            return;
        if (--c->inflight == 0 && c->sent_sub) {
            c->live = 1;
            if (c->wanted && !c->confirmed) {
                chan_confirm(node, c);
                maybe_resynced(node);
            }
        }
        return;
    }
    if (str_is(kind, "unsubscribe", 11)) {
        c = chan_find(node, ring_hash(chan_r->str, (size_t)chan_r->len), chan_r->str,
                      (size_t)chan_r->len);
        if (c == NULL || c->inflight == 0)
            return;
        if (--c->inflight == 0 && !c->wanted && !c->sent_sub && !c->queued)
            chan_remove(node, c);
    }
}

/* ---- connections ---- */

static void on_link_up(void *arg, struct redis_link *link)
{
    struct pubsub_conn *conn = arg;
    struct pubsub_node *node = conn->node;

    if (node->freeing)
        return;
    node->st.connects++;
    node->last_progress_ms = now_ms();
    if (conn->role == CONN_SUB) {
        const char *argv[2] = { "SUBSCRIBE", node->hb_channel };
        size_t lens[2] = { 9, node->hb_channel_len };
        redisAsyncContext *ac = redis_link_context(link);

        if (redisAsyncCommandArgv(ac, sub_reply_cb, node, 2, argv, lens) != REDIS_OK)
            set_error(node, "subscribe", ac->errstr);
        node->st.subscribe_commands++;
        flush_queue(node);
    } else if (node->hb_confirmed) {
        hb_send(node);
    }
}

static void on_link_down(void *arg, struct redis_link *link, int was_up, int refused)
{
    struct pubsub_conn *conn = arg;
    struct pubsub_node *node = conn->node;

    if (node->freeing)
        return;
    snprintf(node->errstr, sizeof node->errstr, "%s", redis_link_error(link));
    if (was_up)
        node->st.disconnects++;
    if (conn->role == CONN_SUB)
        sub_reset(node, was_up);
    /* A refused connect, or AUTH refused, is proof enough (a killed server, a
     * port nobody listens on): no need to wait for missed heartbeats. */
    if (refused && node->state != PUBSUB_NODE_DEAD && !node->freeing)
        set_state(node, PUBSUB_NODE_DEAD);
}

static void hb_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    /* the heartbeat's proof is its arrival on the subscriber, not this reply */
}

/* Publishes the next heartbeat if the publisher is up. */
static void hb_send(struct pubsub_node *node)
{
    struct proto_payload p = { .kind = PROTO_PAYLOAD_HB };
    int n;

    if (!redis_link_up(node->pub.link) || node->freeing)
        return;
    p.hb.gateway = node->gateway_id;
    p.hb.gateway_len = node->gateway_len;
    p.hb.counter = ++node->hb_counter;
    p.hb.ts = wall_ms();
    n = proto_payload_encode(node->hb_buf, sizeof node->hb_buf, &p);
    if (n > 0) {
        const char *argv[3] = { "PUBLISH", node->hb_channel, (const char *)node->hb_buf };
        size_t lens[3] = { 7, node->hb_channel_len, (size_t)n };
        if (redisAsyncCommandArgv(redis_link_context(node->pub.link), hb_reply_cb, node, 3, argv,
                                  lens) == REDIS_OK)
            node->st.heartbeats_sent++;
    }
}

static void hb_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pubsub_node *node = arg;
    uint64_t now = now_ms();
    uint64_t dead_after = (uint64_t)node->hb_interval_ms * node->hb_misses;

    if (node->freeing)
        return;
    if (node->hb_ticks++ % HB_CHECKS == 0)
        hb_send(node);
    if (now - node->last_hb_ms >= dead_after && node->state != PUBSUB_NODE_DEAD) {
        char why[64];
        snprintf(why, sizeof why, "no heartbeat for %" PRIu64 " ms", now - node->last_hb_ms);
        set_error(node, "dead", why);
        set_state(node, PUBSUB_NODE_DEAD);
    }
    if (node->freeing)
        return;
    /* Connections that are up but carry no heartbeat lead to a hung server:
     * start over, with backoff. */
    if (now - node->last_progress_ms >= dead_after) {
        redis_link_drop(node->pub.link, "no heartbeat");
        redis_link_drop(node->sub.link, "no heartbeat");
    }
}

static void publish_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pubsub_node *node = privdata;
    const redisReply *reply = r;

    node->st.pending_publishes--;
    if (reply == NULL) {
        node->st.publish_errors++;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        node->st.publish_errors++;
        set_error(node, "publish", reply->str);
    } else {
        node->st.published++;
    }
}

/* ---- public ---- */

static void node_destroy(struct pubsub_node *node)
{
    struct pubsub_conn *conns[2] = { &node->pub, &node->sub };

    node->freeing = 1;
    for (int i = 0; i < 2; i++)
        redis_link_free(conns[i]->link); /* callbacks run now, see freeing and do nothing */
    if (node->hb_timer)
        event_free(node->hb_timer);
    if (node->flush_event)
        event_free(node->flush_event);
    if (node->reap_event)
        event_free(node->reap_event);
    if (node->slots != NULL) {
        for (size_t i = 0; i <= node->slot_mask; i++)
            free(node->slots[i]);
    }
    free(node->slots);
    free(node->queue);
    free(node->argv_sub);
    free(node->argv_unsub);
    free(node->lens_sub);
    free(node->lens_unsub);
    free(node);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    node_destroy(arg);
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

struct pubsub_node *pubsub_node_new(struct event_base *base,
                                    const struct pubsub_node_config *config,
                                    const struct pubsub_node_callbacks *cbs, void *arg)
{
    struct pubsub_node *node = NULL;
    size_t id_len, gw_len, addr_len;
    struct timeval tv;

    if (base == NULL || config == NULL || config->id == NULL || config->addr == NULL ||
        config->gateway_id == NULL)
        return NULL;
    id_len = strlen(config->id);
    gw_len = strlen(config->gateway_id);
    addr_len = strlen(config->addr);
    if (id_len == 0 || id_len > RING_ID_MAX || gw_len == 0 || gw_len > PROTO_GATEWAY_ID_MAX ||
        addr_len > RING_ADDR_MAX)
        return NULL;
    node = calloc(1, sizeof *node);
    if (node == NULL)
        return NULL;
    node->base = base;
    memcpy(node->id, config->id, id_len + 1);
    memcpy(node->addr, config->addr, addr_len + 1);
    memcpy(node->gateway_id, config->gateway_id, gw_len + 1);
    node->gateway_len = gw_len;
    node->hb_channel_len = (size_t)snprintf(node->hb_channel, sizeof node->hb_channel, "hb:%s",
                                            config->gateway_id);
    node->hb_interval_ms = or_default(config->hb_interval_ms, DEFAULT_HB_INTERVAL_MS);
    node->hb_misses = or_default(config->hb_misses, DEFAULT_HB_MISSES);
    node->batch_channels = or_default(config->batch_channels, DEFAULT_BATCH_CHANNELS);
    node->max_pending = or_default(config->max_pending_publishes, DEFAULT_MAX_PENDING_PUBLISHES);
    if (cbs != NULL)
        node->cbs = *cbs;
    node->arg = arg;
    node->state = PUBSUB_NODE_CONNECTING;
    node->last_hb_ms = now_ms();
    node->last_progress_ms = node->last_hb_ms;

    node->slot_mask = 63;
    node->slots = calloc(node->slot_mask + 1, sizeof *node->slots);
    node->queue_cap = 64;
    node->queue = malloc(node->queue_cap * sizeof *node->queue);
    node->argv_sub = malloc((node->batch_channels + 1) * sizeof *node->argv_sub);
    node->argv_unsub = malloc((node->batch_channels + 1) * sizeof *node->argv_unsub);
    node->lens_sub = malloc((node->batch_channels + 1) * sizeof *node->lens_sub);
    node->lens_unsub = malloc((node->batch_channels + 1) * sizeof *node->lens_unsub);
    if (!node->slots || !node->queue || !node->argv_sub || !node->argv_unsub ||
        !node->lens_sub || !node->lens_unsub)
        goto fail;
    node->argv_sub[0] = "SUBSCRIBE";
    node->lens_sub[0] = 9;
    node->argv_unsub[0] = "UNSUBSCRIBE";
    node->lens_unsub[0] = 11;

    node->pub.node = node;
    node->pub.role = CONN_PUB;
    node->sub.node = node;
    node->sub.role = CONN_SUB;
    node->hb_timer = event_new(base, -1, EV_PERSIST, hb_tick_cb, node);
    node->flush_event = event_new(base, -1, 0, flush_cb, node);
    node->reap_event = event_new(base, -1, 0, reap_cb, node);
    if (!node->hb_timer || !node->flush_event || !node->reap_event)
        goto fail;
    tv = ms_tv(node->hb_interval_ms / HB_CHECKS ? node->hb_interval_ms / HB_CHECKS : 1);
    event_add(node->hb_timer, &tv);
    for (int i = 0; i < 2; i++) {
        static const struct redis_link_callbacks link_cbs = {on_link_up, on_link_down};
        struct pubsub_conn *conn = i ? &node->sub : &node->pub;
        char name[RING_ID_MAX + 16];
        struct redis_link_config link_cfg = {
            .name = name, .addr = config->addr, .user = config->user,
            .password = config->password,
            .connect_timeout_ms = or_default(config->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
            .backoff_min_ms = or_default(config->backoff_min_ms, DEFAULT_BACKOFF_MIN_MS),
            .backoff_max_ms = or_default(config->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS)};

        snprintf(name, sizeof name, "%s %s", node->id, i ? "subscriber" : "publisher");
        conn->link = redis_link_new(base, &link_cfg, &link_cbs, conn);
        if (conn->link == NULL)
            goto fail;
    }
    return node;

fail:
    node_destroy(node);
    return NULL;
}

void pubsub_node_free(struct pubsub_node *node)
{
    if (node == NULL || node->freeing)
        return;
    if (node->depth > 0) {
        /* inside one of our callbacks: hiredis may still hold the node */
        node->freeing = 1;
        event_active(node->reap_event, EV_TIMEOUT, 0);
        return;
    }
    node_destroy(node);
}

int pubsub_node_publish(struct pubsub_node *node, const char *channel, size_t channel_len,
                        const uint8_t *payload, size_t payload_len)
{
    const char *argv[3] = { "PUBLISH", channel, (const char *)payload };
    size_t lens[3] = { 7, channel_len, payload_len };

    if (channel_len == 0 || channel_len > PUBSUB_NODE_CHANNEL_MAX) {
        node->st.publish_errors++;
        return PUBSUB_NODE_ERR_INVALID;
    }
    if (!redis_link_up(node->pub.link) || node->freeing) {
        node->st.publish_errors++;
        return PUBSUB_NODE_ERR_DOWN;
    }
    if (node->st.pending_publishes >= node->max_pending) {
        node->st.publish_errors++;
        return PUBSUB_NODE_ERR_BUSY;
    }
    if (redisAsyncCommandArgv(redis_link_context(node->pub.link), publish_reply_cb, node, 3, argv,
                              lens) != REDIS_OK) {
        node->st.publish_errors++;
        return PUBSUB_NODE_ERR_REDIS;
    }
    node->st.pending_publishes++;
    return 0;
}

static int channel_ok(const struct pubsub_node *node, const char *channel, size_t len)
{
    if (channel == NULL || len == 0 || len > PUBSUB_NODE_CHANNEL_MAX)
        return 0;
    return !(len == node->hb_channel_len && memcmp(channel, node->hb_channel, len) == 0);
}

int pubsub_node_subscribe(struct pubsub_node *node, const char *channel, size_t channel_len)
{
    uint64_t hash;
    struct pubsub_chan *c;

    if (!channel_ok(node, channel, channel_len))
        return PUBSUB_NODE_ERR_INVALID;
    hash = ring_hash(channel, channel_len);
    c = chan_find(node, hash, channel, channel_len);
    if (c == NULL) {
        if (chan_reserve(node) != 0)
            return PUBSUB_NODE_ERR_NOMEM;
        c = calloc(1, sizeof *c + channel_len + 1);
        if (c == NULL)
            return PUBSUB_NODE_ERR_NOMEM;
        c->hash = hash;
        c->len = (uint16_t)channel_len;
        memcpy(c->name, channel, channel_len);
        slot_put(node->slots, node->slot_mask, c);
        node->nchans++;
    } else if (c->wanted) {
        return 0;
    }
    c->wanted = 1;
    node->unconfirmed++;
    node->st.channels_wanted++;
    chan_enqueue(node, c);
    return 0;
}

int pubsub_node_unsubscribe(struct pubsub_node *node, const char *channel, size_t channel_len)
{
    struct pubsub_chan *c;

    if (!channel_ok(node, channel, channel_len))
        return PUBSUB_NODE_ERR_INVALID;
    c = chan_find(node, ring_hash(channel, channel_len), channel, channel_len);
    if (c == NULL || !c->wanted)
        return 0;
    c->wanted = 0;
    node->st.channels_wanted--;
    if (c->confirmed) {
        c->confirmed = 0;
        node->st.channels_subscribed--;
    } else {
        node->unconfirmed--;
    }
    chan_enqueue(node, c);
    return 0;
}

int pubsub_node_confirmed(const struct pubsub_node *node, const char *channel,
                          size_t channel_len)
{
    const struct pubsub_chan *c;

    if (channel == NULL || channel_len == 0 || channel_len > PUBSUB_NODE_CHANNEL_MAX)
        return 0;
    c = chan_find(node, ring_hash(channel, channel_len), channel, channel_len);
    return c != NULL && c->wanted && c->confirmed;
}

void pubsub_node_get_stats(const struct pubsub_node *node, struct pubsub_node_stats *out)
{
    *out = node->st;
    out->state = node->state;
    out->publisher_up = redis_link_up(node->pub.link);
    out->subscriber_up = redis_link_up(node->sub.link);
}

enum pubsub_node_state pubsub_node_state(const struct pubsub_node *node)
{
    return node->state;
}

const char *pubsub_node_id(const struct pubsub_node *node)
{
    return node->id;
}

const char *pubsub_node_addr(const struct pubsub_node *node)
{
    return node->addr;
}

const char *pubsub_node_last_error(const struct pubsub_node *node)
{
    return node->errstr;
}
