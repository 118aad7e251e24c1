/* gateway.c: the gateway's back end: the ring from ZooKeeper, pub/sub nodes, fan-out of updates to local sessions, expiry. */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "gateway-internal.h"
#include "log.h"
#include "zk_auth.h"

/* Keys remembered per limit table: about 48 bytes each, at most twice that
 * in slots; past it new keys are refused (limit_table.h). */
#define GATEWAY_LIMIT_KEYS (1u << 18)

#define GATEWAY_CHANNEL_MAX 32 /* "u:" and 20 digits */
#define GATEWAY_TRIM_EVERY_S 10

uint64_t gateway_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int gateway_token_check(const struct gateway *gw, const char *token, size_t len,
                        struct token_claims *claims)
{
    return token_check_keys(gw->cfg.jwt_keys, gw->cfg.jwt_key_count, token, len,
                            (int64_t)time(NULL), &gw->token_policy, claims);
}

/* -- the ring's nodes ----------------------------------------------------- */

static struct gw_node *node_find(struct gateway *gw, const char *id, const char *addr)
{
    for (size_t i = 0; i < gw->node_count; i++)
        if (strcmp(gw->nodes[i].id, id) == 0 && strcmp(gw->nodes[i].addr, addr) == 0)
            return &gw->nodes[i];
    return NULL;
}

/* Fills idx with the client of every node of ring in both views (NULL where
 * there is none). Returns 0, or -1 when out of memory (idx then empty). */
static int index_build(struct gateway *gw, struct node_index *idx, const struct ring *ring)
{
    size_t n = ring_node_count(ring);

    idx->ring = NULL;
    if (2 * n > idx->cap) {
        struct pubsub_node **grown = realloc(idx->client, 2 * n * sizeof(*grown));

        if (grown == NULL)
            return -1;
        idx->client = grown;
        idx->cap = 2 * n;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        const struct ring_node *rn = ring_node_at(ring, i / 2);
        enum ring_view view = i % 2 ? RING_VIEW_NEW : RING_VIEW_OLD;
        struct gw_node *node = node_find(gw, rn->id, ring_node_addr(rn, view));

        idx->client[i] = node ? node->node : NULL;
    }
    idx->ring = ring;
    return 0;
}

/* Returns the node client that owns hash in view, or NULL (no ring yet, or
 * the owner's client could not be made). */
static struct pubsub_node *owner(struct gateway *gw, const struct ring *ring, enum ring_view view,
                                 uint64_t hash)
{
    const struct ring_node *rn = ring ? ring_owner(ring, view, hash) : NULL;
    struct gw_node *n;

    if (rn == NULL)
        return NULL;
    for (int k = 0; k < 2; k++)
        if (gw->owners[k].ring == ring)
            return gw->owners[k].client[2 * ring_node_index(ring, rn) +
                                        (view == RING_VIEW_NEW ? 1 : 0)];
    n = node_find(gw, rn->id, ring_node_addr(rn, view));
    return n ? n->node : NULL;
}

int gateway_publish(struct gateway *gw, uint64_t user, const struct proto_payload *payload)
{
    char channel[GATEWAY_CHANNEL_MAX];
    size_t clen = ring_user_channel(user, channel);

    return gateway_publish_on(gw, channel, clen, payload);
}

int gateway_publish_on(struct gateway *gw, const char *channel, size_t clen,
                       const struct proto_payload *payload)
{
    uint64_t hash = ring_hash(channel, clen);
    struct pubsub_node *old_owner = owner(gw, gw->ring, RING_VIEW_OLD, hash);
    struct pubsub_node *new_owner = owner(gw, gw->ring, RING_VIEW_NEW, hash);
    int len = proto_payload_encode(gw->frame, sizeof(gw->frame), payload);
    int reached = 0;

    if (len < 0 || new_owner == NULL) {
        metrics_counter_inc(gw->m.publish_errors);
        return -1;
    }
    /* During a ring change the old and the new owner both get it, so gateways
     * on either epoch hear it; receivers drop the duplicate by seq. */
    if (pubsub_node_publish(new_owner, channel, clen, gw->frame, (size_t)len) < 0)
        metrics_counter_inc(gw->m.publish_errors);
    else
        reached++;
    if (old_owner != NULL && old_owner != new_owner) {
        if (pubsub_node_publish(old_owner, channel, clen, gw->frame, (size_t)len) < 0)
            metrics_counter_inc(gw->m.publish_errors);
        else
            reached++;
    }
    return reached ? 0 : -1;
}

/* Subscribes (on != 0) or unsubscribes channel on its owners in ring's two
 * views. */
static void subscription(struct gateway *gw, const struct ring *ring, const char *channel,
                         size_t clen, int on)
{
    uint64_t hash = ring_hash(channel, clen);
    struct pubsub_node *a = owner(gw, ring, RING_VIEW_OLD, hash);
    struct pubsub_node *b = owner(gw, ring, RING_VIEW_NEW, hash);

    for (int i = 0; i < 2; i++) {
        struct pubsub_node *n = i ? b : a;

        if (n == NULL || (i == 1 && b == a))
            continue;
        if (on)
            pubsub_node_subscribe(n, channel, clen);
        else
            pubsub_node_unsubscribe(n, channel, clen);
    }
}

void gateway_subscribe(struct gateway *gw, const char *channel, size_t clen, int on)
{
    subscription(gw, gw->ring, channel, clen, on);
}

int gateway_confirmed(struct gateway *gw, const char *channel, size_t clen)
{
    uint64_t hash = ring_hash(channel, clen);

    for (int view = 0; view < 2; view++) {
        struct pubsub_node *n = owner(gw, gw->ring, view ? RING_VIEW_NEW : RING_VIEW_OLD, hash);

        if (n != NULL && pubsub_node_state(n) != PUBSUB_NODE_DEAD &&
            !pubsub_node_confirmed(n, channel, clen))
            return 0;
    }
    return 1;
}

/* Returns 1 when every live owner of ch's channel (both views) has confirmed
 * its subscription: from then on nothing published there can be missed, so
 * a consent read now sees every change not heard of. */
static int channel_confirmed(struct gateway *gw, const struct channel *ch)
{
    char channel[GATEWAY_CHANNEL_MAX];
    size_t clen = ring_user_channel(ch->user, channel);

    return gateway_confirmed(gw, channel, clen);
}

/* Subscribes (on != 0) or unsubscribes the channel of user. */
static void user_subscription(struct gateway *gw, uint64_t user, int on)
{
    char channel[GATEWAY_CHANNEL_MAX];
    size_t clen = ring_user_channel(user, channel);

    gateway_subscribe(gw, channel, clen, on);
}

void gateway_channel_created(struct gateway *gw, struct channel *ch)
{
    user_subscription(gw, ch->user, 1);
    if (channel_confirmed(gw, ch))
        channel_sync_queue(gw, ch);
}

/* Queues a consent read for every channel not synced yet that is confirmed
 * now (a node was found dead: its channels will not confirm). */
static void sync_confirmed(struct gateway *gw)
{
    struct channel *ch;
    size_t cursor = 0;

    while ((ch = channels_next(gw->channels, &cursor)) != NULL)
        if (!ch->synced && !ch->sync_queued && channel_confirmed(gw, ch))
            channel_sync_queue(gw, ch);
}

void gateway_unsubscribe(struct gateway *gw, uint64_t user)
{
    user_subscription(gw, user, 0);
}

/* -- pub/sub node callbacks ----------------------------------------------- */

static void on_node_message(void *arg, struct pubsub_node *node, const char *channel,
                            size_t channel_len, const uint8_t *payload, size_t payload_len)
{
    fanout_on_message(arg, channel, channel_len, payload, payload_len);
}

/* Redis confirmed a channel on one owner (after each (re)subscription): once
 * every owner has, the channel's consent and position are read again, which
 * catches up whatever was published while it moved or was cut off. */
static void on_node_subscribed(void *arg, struct pubsub_node *node, const char *channel,
                               size_t channel_len)
{
    struct gateway *gw = arg;
    uint64_t user = ring_channel_user(channel, channel_len);
    struct channel *ch = user ? channels_get(gw->channels, user) : NULL;

    if (ch != NULL && !ch->sync_queued && channel_confirmed(gw, ch))
        channel_sync_queue(gw, ch);
    if (user == 0)
        cell_channels_confirmed(gw, channel, channel_len);
}

static void on_node_resubscribed(void *arg, struct pubsub_node *node, size_t count)
{
    LOG_INFO("node %s (%s): %zu channels subscribed again; their consent and positions are "
             "read again", pubsub_node_id(node), pubsub_node_addr(node), count);
}

/* Returns how many channels wanted on live nodes Redis has not confirmed
 * yet. A dead node cannot confirm anything: it is reported as dead instead
 * of holding the epoch back. */
static uint64_t pending_subscriptions(struct gateway *gw)
{
    uint64_t pending = 0;

    for (size_t i = 0; i < gw->node_count; i++) {
        struct pubsub_node_stats st;

        pubsub_node_get_stats(gw->nodes[i].node, &st);
        if (st.state != PUBSUB_NODE_DEAD && st.channels_subscribed < st.channels_wanted)
            pending += st.channels_wanted - st.channels_subscribed;
    }
    return pending;
}

/* Tells the registry what this gateway has applied and finds dead: node is
 * in state now (it may not be in gw->nodes yet, or report its state late). */
static void update_registry(struct gateway *gw, const struct pubsub_node *node,
                            enum pubsub_node_state state)
{
    char dead[GATEWAY_REGISTRY_LINE_MAX] = "";
    size_t len = 0;
    int found = 0;

    if (gw->registry == NULL)
        return;
    for (size_t i = 0; i <= gw->node_count; i++) {
        const char *id;
        int is_dead;
        int n;

        if (i < gw->node_count) {
            struct pubsub_node *each = gw->nodes[i].node;
            const struct ring_node *rn = gw->ring ? ring_find(gw->ring, gw->nodes[i].id) : NULL;

            found |= each == node;
            id = gw->nodes[i].id;
            /* A node moving away from an address is dead or alive at its new
             * one: the old address is often dead, which is why it moves. */
            if (rn != NULL && strcmp(rn->addr, gw->nodes[i].addr) != 0)
                continue;
            is_dead = each == node ? state == PUBSUB_NODE_DEAD
                                   : pubsub_node_state(each) == PUBSUB_NODE_DEAD;
        } else {
            if (found || node == NULL || state != PUBSUB_NODE_DEAD)
                break;
            id = pubsub_node_id(node);
            is_dead = 1;
        }
        if (!is_dead)
            continue;
        n = snprintf(dead + len, sizeof(dead) - len, "%s%s", len ? "," : "", id);
        if (n < 0 || (size_t)n >= sizeof(dead) - len) {
            dead[len] = '\0'; /* the registry line holds no more anyway */
            break;
        }
        len += (size_t)n;
    }
    gateway_registry_set(gw->registry, gw->cfg.listen,
                         gw->ring && !gw->rejoining ? gw->confirmed_epoch
                                                    : GATEWAY_REGISTRY_NO_EPOCH,
                         pending_subscriptions(gw), dead);
}

/* Ends rejoining once the new session has read the ring and its
 * subscriptions are confirmed: the registry reports that epoch from now on. */
static void rejoin_check(struct gateway *gw)
{
    if (!gw->rejoining || !ring_watch_current(gw->watch) || gw->ring == NULL ||
        gw->confirmed_epoch != ring_epoch(gw->ring))
        return;
    gw->rejoining = 0;
    LOG_INFO("zookeeper: rejoined at ring epoch %" PRIu64 ", the newest; reporting it", gw->confirmed_epoch);
    update_registry(gw, NULL, PUBSUB_NODE_CONNECTING);
}

/* Polls until the applied ring's subscriptions are confirmed, then records
 * its epoch in the registry; meanwhile reports every 250 ms how many
 * channels are still pending, for the progress line of ringctl. */
static void on_confirm_check(evutil_socket_t fd, short what, void *arg)
{
    struct gateway *gw = arg;
    struct timeval again = {0, 50000};
    uint64_t now = gateway_now_ms();

    if (gw->ring == NULL || gw->confirmed_epoch == ring_epoch(gw->ring)) {
        rejoin_check(gw);
        return;
    }
    if (pending_subscriptions(gw) != 0) {
        if (now >= gw->pending_reported_ms + 250) {
            gw->pending_reported_ms = now;
            update_registry(gw, NULL, PUBSUB_NODE_CONNECTING);
        }
        evtimer_add(gw->confirm_timer, &again);
        return;
    }
    gw->confirmed_epoch = ring_epoch(gw->ring);
    metrics_gauge_set(gw->m.ring_epoch_confirmed, (double)gw->confirmed_epoch);
    update_registry(gw, NULL, PUBSUB_NODE_CONNECTING);
    rejoin_check(gw);
}

static void on_node_state(void *arg, struct pubsub_node *node, enum pubsub_node_state state)
{
    struct gateway *gw = arg;

    for (size_t i = 0; i < gw->node_count; i++)
        if (gw->nodes[i].node == node)
            gw->nodes[i].dead_since_ms = state == PUBSUB_NODE_DEAD ? gateway_now_ms() : 0;
    update_registry(arg, node, state);
    if (state == PUBSUB_NODE_DEAD) {
        sync_confirmed(arg);
        cell_channels_check(arg); /* a dead owner confirms nothing, and need not */
    }
    if (state == PUBSUB_NODE_DEAD)
        LOG_WARN("pub/sub node %s (%s) is dead: %s", pubsub_node_id(node), pubsub_node_addr(node),
                 pubsub_node_last_error(node));
    else
        LOG_INFO("pub/sub node %s (%s) is %s", pubsub_node_id(node), pubsub_node_addr(node),
                 pubsub_node_state_name(state));
}

static const struct pubsub_node_callbacks node_callbacks = {
    .on_message = on_node_message,
    .on_subscribed = on_node_subscribed,
    .on_resubscribed = on_node_resubscribed,
    .on_state = on_node_state,
};

/* -- applying a ring ------------------------------------------------------ */

/* Makes sure a client exists for every node that owns space in ring, at
 * each address it serves (two while it moves). Returns 0, or -1 when out of
 * memory. */
static int ensure_nodes(struct gateway *gw, const struct ring *ring)
{
    size_t n = ring_node_count(ring);
    struct gw_node *grown = realloc(gw->nodes, (gw->node_count + 2 * n + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    gw->nodes = grown;
    for (size_t i = 0; i < gw->node_count; i++)
        gw->nodes[i].in_ring = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        const struct ring_node *rn = ring_node_at(ring, i / 2);
        const char *addr = ring_node_addr(rn, i % 2 ? RING_VIEW_OLD : RING_VIEW_NEW);
        struct gw_node *node;
        struct pubsub_node_config config = {
            .id = rn->id, .addr = addr, .gateway_id = gw->cfg.id,
            .user = gw->cfg.redis_user[0] ? gw->cfg.redis_user : NULL,
            .password = gw->cfg.redis_password};

        if (rn->state == RING_STATE_STANDBY || (i % 2 && strcmp(addr, rn->addr) == 0))
            continue;
        node = node_find(gw, rn->id, addr);
        if (node == NULL) {
            node = &gw->nodes[gw->node_count];
            memset(node, 0, sizeof(*node));
            node->node = pubsub_node_new(gw->base, &config, &node_callbacks, gw);
            if (node->node == NULL) {
                LOG_ERROR("cannot make a client for node %s at %s", rn->id, addr);
                continue;
            }
            snprintf(node->id, sizeof(node->id), "%s", rn->id);
            snprintf(node->addr, sizeof(node->addr), "%s", addr);
            node->since_epoch = ring_epoch(ring);
            gw->node_count++;
        }
        node->in_ring = 1;
    }
    return 0;
}

/* Subscribes channel where ring next has owners that prev had not, then
 * unsubscribes it where prev had owners next has not. Returns 1 when its new
 * owner changed. */
static int move_channel(struct gateway *gw, const struct ring *prev, const struct ring *next,
                        const char *channel, size_t clen)
{
    uint64_t hash = ring_hash(channel, clen);
    struct pubsub_node *was[2] = {owner(gw, prev, RING_VIEW_OLD, hash),
                                  owner(gw, prev, RING_VIEW_NEW, hash)};
    struct pubsub_node *now[2] = {owner(gw, next, RING_VIEW_OLD, hash),
                                  owner(gw, next, RING_VIEW_NEW, hash)};

    for (int i = 0; i < 2; i++)
        if (now[i] && now[i] != was[0] && now[i] != was[1])
            pubsub_node_subscribe(now[i], channel, clen);
    for (int i = 0; i < 2; i++)
        if (was[i] && was[i] != now[0] && was[i] != now[1])
            pubsub_node_unsubscribe(was[i], channel, clen);
    return was[1] != now[1];
}

static void apply_ring(struct gateway *gw, const struct ring *next)
{
    struct ring *prev = gw->ring, *copy;
    struct channel *ch;
    size_t cursor = 0, moved = 0, kept = 0;

    if (ensure_nodes(gw, next) < 0) {
        LOG_ERROR("out of memory applying ring epoch %" PRIu64 "; keeping epoch %" PRIu64,
                  ring_epoch(next), prev ? ring_epoch(prev) : 0);
        return;
    }
    copy = ring_ref(next); /* shared with the watcher, not copied: tens of MB at 200 nodes */
    /* owners[0] indexes prev (its clients all live until the loop below is
     * done); owners[1] the new ring; an index that cannot be made leaves
     * owner() to find the clients by name. */
    if (gw->owners[0].ring != prev)
        gw->owners[0].ring = NULL;
    if (index_build(gw, &gw->owners[1], copy) < 0)
        LOG_WARN("out of memory indexing ring epoch %" PRIu64 "'s nodes; finding them by name",
                 ring_epoch(copy));
    /* New owners first, then the old ones let go: a channel is never without
     * a subscription on the loop's side. A user channel that moved is read
     * again once its new owner confirms (on_node_subscribed), in case
     * something went to a dead owner; cell channels move the same way. */
    while ((ch = channels_next(gw->channels, &cursor)) != NULL) {
        char channel[GATEWAY_CHANNEL_MAX];
        size_t clen = ring_user_channel(ch->user, channel);

        if (move_channel(gw, prev, copy, channel, clen))
            moved++;
        else
            kept++;
    }
    for (size_t i = 0; i < cells_count(gw->cells); i++) {
        struct cell *cell = cells_at(gw->cells, i);

        if (move_channel(gw, prev, copy, cell->channel, cell->channel_len))
            moved++;
        else
            kept++;
    }
    /* Clients of nodes that left the ring go; their subscriptions with them. */
    for (size_t i = 0; i < gw->node_count;) {
        if (gw->nodes[i].in_ring) {
            i++;
            continue;
        }
        LOG_INFO("node %s (%s) left the ring", gw->nodes[i].id, gw->nodes[i].addr);
        pubsub_node_free(gw->nodes[i].node);
        gw->nodes[i] = gw->nodes[--gw->node_count];
    }
    gw->ring = copy;
    {
        struct node_index applied = gw->owners[1];

        gw->owners[1] = gw->owners[0];
        gw->owners[1].ring = NULL;
        gw->owners[0] = applied;
    }
    ring_free(prev);
    metrics_gauge_set(gw->m.ring_epoch, (double)ring_epoch(copy));
    on_confirm_check(-1, 0, gw);
    LOG_INFO("applied ring %s epoch %" PRIu64 ": %zu channels moved, %zu stayed", ring_name(copy),
             ring_epoch(copy), moved, kept);
}

static void on_ring(const struct ring *ring, int32_t version, void *arg)
{
    apply_ring(arg, ring);
}

static void on_ring_event(enum ring_watch_event event, const char *detail, void *arg)
{
    struct gateway *gw = arg;

    static const char *const names[] = {"connected", "reconnected", "disconnected",
                                        "expired", "missing", "corrupt", "denied"};

    if (event == RING_WATCH_CONNECTED || event == RING_WATCH_RECONNECTED)
        LOG_INFO("zookeeper: %s %s", names[event], detail ? detail : "");
    else
        LOG_WARN("zookeeper: %s %s", names[event], detail ? detail : "");
    if (event == RING_WATCH_EXPIRED && !gw->rejoining) {
        gw->rejoining = 1;
        update_registry(gw, NULL, PUBSUB_NODE_CONNECTING);
    }
}

/* -- once a second ------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct gateway *gw = arg;
    uint64_t now = gateway_now_ms();
    struct history_stats hs;

    /* Session starts leave holes in the heap (the nearby reply, the friend
     * rows, the cached positions: tens of KB each, freed at once); hand the
     * free pages back to the system now and then, or RSS keeps the peak. */
    if (++gw->ticks % GATEWAY_TRIM_EVERY_S == 0)
        malloc_trim(0);
    fanout_expire(gw, now);
    cell_channels_tick(gw, now);
    history_get_stats(gw->history, &hs);
    metrics_gauge_set(gw->m.sessions, (double)gw->phone_count);
    metrics_gauge_set(gw->m.channels, (double)channels_count(gw->channels));
    metrics_gauge_set(gw->m.history_queued, (double)hs.queued);
    metrics_counter_add(gw->m.history_written,
                        hs.written - metrics_counter_value(gw->m.history_written));
    metrics_counter_add(gw->m.history_dropped,
                        hs.dropped - metrics_counter_value(gw->m.history_dropped));
    metrics_gauge_set(gw->m.sessions_starting, (double)gw->starting);
    metrics_gauge_set(gw->m.connections, (double)http_server_connections(gw->http));
    limit_table_sweep(gw->ip_limits, now);
    limit_table_sweep(gw->start_limits, now);
    limit_table_sweep(gw->rest_limits, now);
    admin_tick(gw);
    peer_view_tick(gw->peers);
    rejoin_check(gw); /* the new session's read found the ring unchanged */
}

/* Raises counter to value (a total kept elsewhere that only grows). */
static void counter_sync(struct metrics_counter *counter, uint64_t value)
{
    if (value > metrics_counter_value(counter))
        metrics_counter_add(counter, value - metrics_counter_value(counter));
}

/* The limits' figures: the phones' port's counters, the tables, the
 * PostgreSQL queues. */
static void refresh_limit_metrics(struct gateway *gw)
{
    static const char *const tables[] = {"ip", "session_starts", "rest"};
    static const char *const kinds[] = {"session", "rest", "history"};
    struct limit_table *t[] = {gw->ip_limits, gw->start_limits, gw->rest_limits};
    struct http_server_stats st;

    http_server_get_stats(gw->http, &st);
    counter_sync(gw->m.slow_closed, st.output_overflows);
    counter_sync(gw->m.control_floods, st.control_floods);
    counter_sync(gw->m.idle_pings, st.pings_sent);
    counter_sync(gw->m.idle_closed, st.idle_closed);
    counter_sync(gw->m.handshake_timeouts, st.handshake_timeouts);
    counter_sync(gw->m.proxy_headers, st.proxy_headers);
    counter_sync(gw->m.proxy_errors, st.proxy_errors);
    counter_sync(gw->m.proxy_untrusted, st.proxy_untrusted);
    for (size_t i = 0; i < 3; i++) {
        struct limit_table_stats ls;
        struct metrics_gauge *entries;
        struct metrics_counter *full;

        limit_table_get_stats(t[i], &ls);
        if (metrics_gauge_with(gw->m.limit_table_entries, tables[i], &entries) == 0)
            metrics_gauge_set(entries, (double)ls.entries);
        if (metrics_counter_with(gw->m.limit_table_full, tables[i], &full) == 0)
            counter_sync(full, ls.full_refusals);
    }
    for (int k = PG_POOL_SESSION; k <= PG_POOL_HISTORY; k++) {
        struct metrics_gauge *queued;

        if (metrics_gauge_with(gw->m.pg_queued, kinds[k], &queued) == 0)
            metrics_gauge_set(queued, (double)pg_pool_queued(gw->pg, (enum pg_pool_kind)k));
    }
}

void gateway_refresh_metrics(struct gateway *gw)
{
    refresh_limit_metrics(gw);
    for (size_t i = 0; i < gw->node_count; i++) {
        struct pubsub_node_stats st;
        struct metrics_gauge *alive, *channels;
        struct metrics_counter *errors, *messages;
        const char *id = gw->nodes[i].id;

        pubsub_node_get_stats(gw->nodes[i].node, &st);
        if (metrics_gauge_with(gw->m.node_alive, id, &alive) < 0 ||
            metrics_gauge_with(gw->m.node_channels, id, &channels) < 0 ||
            metrics_counter_with(gw->m.node_publish_errors, id, &errors) < 0 ||
            metrics_counter_with(gw->m.node_messages, id, &messages) < 0)
            continue;
        metrics_gauge_set(alive, st.state == PUBSUB_NODE_ALIVE);
        metrics_gauge_set(channels, (double)st.channels_subscribed);
        /* Counters only grow: a node client made anew restarts its own
         * count, so add what is above the series' value. */
        if (st.publish_errors > metrics_counter_value(errors))
            metrics_counter_add(errors, st.publish_errors - metrics_counter_value(errors));
        if (st.messages_in > metrics_counter_value(messages))
            metrics_counter_add(messages, st.messages_in - metrics_counter_value(messages));
    }
}

/* Ready means: this gateway serves phones as well as any other would. What
 * every gateway suffers alike (ZooKeeper away while the ring is cached, a
 * dead pub/sub node that autopilot is replacing) is said but does not take
 * it out of the balancer, which would only move the phones around; a node
 * dead here that most other gateways reach (a partition between this
 * gateway and it, which the autopilot leaves alone) does. */
int gateway_ready(struct gateway *gw, char *buf, size_t cap)
{
    int len;

    if (gw->draining)
        return snprintf(buf, cap, "draining"), 0;
    if (gw->ring == NULL)
        return snprintf(buf, cap, "no ring '%s' read yet", gw->cfg.ring), 0;
    if (!location_cache_is_up(gw->cache))
        return snprintf(buf, cap, "location cache %s unreachable: %s", gw->cfg.cache,
                        location_cache_last_error(gw->cache)), 0;
    if (!pg_pool_healthy(gw->pg))
        return snprintf(buf, cap, "postgresql unreachable: %s", pg_pool_errstr(gw->pg)), 0;
    for (size_t i = 0; i < gw->node_count; i++)
        if (pubsub_node_state(gw->nodes[i].node) == PUBSUB_NODE_CONNECTING)
            return snprintf(buf, cap, "pub/sub node %s (%s) is connecting", gw->nodes[i].id,
                            gw->nodes[i].addr), 0;
    if (peer_view_minority(gw->peers, buf, cap))
        return 0;
    len = snprintf(buf, cap, "ok");
    if (!ring_watch_connected(gw->watch) && len >= 0 && (size_t)len < cap)
        len += snprintf(buf + len, cap - (size_t)len, "; zookeeper not connected, serving "
                        "ring epoch %" PRIu64, ring_epoch(gw->ring));
    for (size_t i = 0; i < gw->node_count && len >= 0 && (size_t)len < cap; i++)
        if (pubsub_node_state(gw->nodes[i].node) == PUBSUB_NODE_DEAD)
            len += snprintf(buf + len, cap - (size_t)len, "; pub/sub node %s (%s) is dead",
                            gw->nodes[i].id, gw->nodes[i].addr);
    return 1;
}

/* -- life cycle ----------------------------------------------------------- */

static int metrics_setup(struct gateway_metrics *m)
{
    int rc = 0;

    m->registry = metrics_new();
    if (m->registry == NULL)
        return -1;
    rc |= metrics_gauge_new(m->registry, "nearby_sessions", "Open phone sessions.", &m->sessions);
    rc |= metrics_gauge_new(m->registry, "nearby_channels", "Channels subscribed (one per watched user).", &m->channels);
    rc |= metrics_gauge_new(m->registry, "nearby_ring_epoch", "Newest ring epoch read from ZooKeeper and applied.", &m->ring_epoch);
    rc |= metrics_gauge_new(m->registry, "nearby_ring_epoch_confirmed", "Ring epoch whose subscriptions Redis has confirmed (reported in ZooKeeper); below nearby_ring_epoch while channels move.", &m->ring_epoch_confirmed);
    rc |= metrics_gauge_new(m->registry, "nearby_history_queued", "History rows waiting for PostgreSQL.", &m->history_queued);
    rc |= metrics_counter_new(m->registry, "nearby_updates_in_total", "Payloads received from pub/sub.", &m->updates_in);
    rc |= metrics_counter_new(m->registry, "nearby_pushes_out_total", "Frames pushed to phones.", &m->pushes_out);
    rc |= metrics_counter_new(m->registry, "nearby_bad_frames_total", "Malformed frames from phones.", &m->bad_frames);
    rc |= metrics_counter_new(m->registry, "nearby_rate_limited_total", "loc messages refused by the rate limit.", &m->rate_limited);
    rc |= metrics_counter_new(m->registry, "nearby_publish_errors_total", "Publishes that failed.", &m->publish_errors);
    rc |= metrics_counter_new(m->registry, "nearby_history_written_total", "History rows written.", &m->history_written);
    rc |= metrics_counter_new(m->registry, "nearby_history_dropped_total", "History rows dropped (queue full).", &m->history_dropped);
    rc |= metrics_counter_new(m->registry, "nearby_slow_phones_closed_total", "Phones reset (1008) for not reading: a frame of any kind (push, pong, err, close) would have passed --output-max.", &m->slow_closed);
    rc |= metrics_counter_new(m->registry, "nearby_pushes_coalesced_total", "Friend changes held back for a phone not reading; it gets each friend's latest once it reads.", &m->coalesced);
    rc |= metrics_counter_new(m->registry, "nearby_payloads_misrouted_total", "Pub/sub payloads dropped for naming another user than their channel's.", &m->misrouted);
    rc |= metrics_counter_new(m->registry, "nearby_positions_stale_total", "Positions dropped as sent before a sharing change already applied.", &m->stale);
    rc |= metrics_counter_new(m->registry, "nearby_consent_read_errors_total", "Consent reads from PostgreSQL that failed; the users stay hidden until one succeeds.", &m->consent_errors);
    rc |= metrics_counter_new(m->registry, "nearby_sessions_expired_total", "Sessions closed with 4001 when their token expired.", &m->tokens_expired);
    rc |= metrics_gauge_family_new(m->registry, "nearby_node_alive", "1 when the pub/sub node answers its heartbeats.", "node", METRICS_SERIES_MAX, &m->node_alive);
    rc |= metrics_gauge_family_new(m->registry, "nearby_node_channels", "Channels subscribed on the pub/sub node.", "node", METRICS_SERIES_MAX, &m->node_channels);
    rc |= metrics_counter_family_new(m->registry, "nearby_node_publish_errors_total", "Publishes to the pub/sub node that failed.", "node", METRICS_SERIES_MAX, &m->node_publish_errors);
    rc |= metrics_counter_family_new(m->registry, "nearby_node_messages_total", "Messages received from the pub/sub node.", "node", METRICS_SERIES_MAX, &m->node_messages);
    rc |= metrics_counter_new(m->registry, "nearby_control_floods_total", "Phones closed (1008) for more ping, pong or close frames a second than --control-rate.", &m->control_floods);
    rc |= metrics_counter_new(m->registry, "nearby_idle_pings_total", "Pings sent to phones silent for --ws-ping seconds.", &m->idle_pings);
    rc |= metrics_counter_new(m->registry, "nearby_idle_closed_total", "Phones closed (1001) after --ws-idle seconds of silence.", &m->idle_closed);
    rc |= metrics_counter_new(m->registry, "nearby_handshake_timeouts_total", "Connections closed before their first request (the upgrade) was whole within --handshake-timeout.", &m->handshake_timeouts);
    rc |= metrics_counter_new(m->registry, "nearby_proxy_headers_total", "PROXY v2 headers read from --trusted-proxy peers.", &m->proxy_headers);
    rc |= metrics_counter_new(m->registry, "nearby_proxy_errors_total", "Connections from --trusted-proxy peers closed for a missing or bad PROXY v2 header.", &m->proxy_errors);
    rc |= metrics_counter_new(m->registry, "nearby_proxy_untrusted_total", "Connections closed for a PROXY header from a peer that is no --trusted-proxy.", &m->proxy_untrusted);
    rc |= metrics_counter_new(m->registry, "nearby_ip_conns_refused_total", "Connections closed at once: their client address had --ip-max-conns open.", &m->ip_conns_refused);
    rc |= metrics_counter_new(m->registry, "nearby_ip_handshakes_refused_total", "Connections closed at once: their client address was above --ip-handshake-rate.", &m->ip_handshakes_refused);
    rc |= metrics_counter_new(m->registry, "nearby_sessions_replaced_total", "Sessions closed with 4002 replaced by a newer session of the same user past --user-max-sessions.", &m->sessions_replaced);
    rc |= metrics_counter_new(m->registry, "nearby_session_starts_limited_total", "init refused (err rate_limited, 1013): the user started sessions faster than --session-start-rate.", &m->starts_limited);
    rc |= metrics_counter_new(m->registry, "nearby_session_starts_busy_total", "init refused (err busy, 1013): --start-queue sessions were starting, or the session connection's queue was full.", &m->starts_busy);
    rc |= metrics_counter_new(m->registry, "nearby_radius_rate_limited_total", "radius messages refused by the rate limit (the loc rate, a bucket of their own).", &m->radius_limited);
    rc |= metrics_counter_new(m->registry, "nearby_init_timeouts_total", "WebSockets closed (1008) for sending no good init within 10 s.", &m->init_timeouts);
    rc |= metrics_counter_new(m->registry, "nearby_rest_rate_limited_total", "REST calls answered 429 for a user above --rest-rate.", &m->rest_limited);
    rc |= metrics_gauge_new(m->registry, "nearby_connections", "Open connections on the phones' port: WebSockets, REST, and those not past their first request yet.", &m->connections);
    rc |= metrics_gauge_new(m->registry, "nearby_sessions_starting", "Sessions between a good init and their nearby (bounded by --start-queue).", &m->sessions_starting);
    rc |= metrics_gauge_family_new(m->registry, "nearby_limit_table_entries", "Keys remembered by a limit table (client addresses, users).", "table", 8, &m->limit_table_entries);
    rc |= metrics_counter_family_new(m->registry, "nearby_limit_table_full_total", "New keys refused because a limit table was full (fail closed).", "table", 8, &m->limit_table_full);
    rc |= metrics_gauge_family_new(m->registry, "nearby_pg_queued", "PostgreSQL requests waiting, by the kind of work of the pool's connections.", "kind", 8, &m->pg_queued);
    rc |= metrics_gauge_new(m->registry, "nearby_cells", "Cell channels g:<geohash> subscribed for the sessions with strangers on.", &m->cells);
    rc |= metrics_gauge_new(m->registry, "nearby_strangers_sessions", "Sessions with strangers on.", &m->strangers_sessions);
    rc |= metrics_counter_new(m->registry, "nearby_strangers_published_total", "Coarse positions published on cell channels.", &m->strangers_published);
    rc |= metrics_counter_new(m->registry, "nearby_strangers_held_total", "Positions held back by --strangers-cell-rate (the latest of each session goes out later).", &m->strangers_held);
    rc |= metrics_histogram_new(m->registry, "nearby_publish_to_push_seconds",
                                "From the phone's ts to the push, in seconds.",
                                metrics_latency_seconds_bounds, METRICS_LATENCY_BOUNDS_N,
                                &m->latency);
    return rc ? -1 : 0;
}

/* Applies the per-connection limits of the configuration to the phones'
 * port. Returns 0, or -1 with the reason in errbuf. */
static int gateway_set_limits(struct gateway *gw, char *errbuf, size_t errlen)
{
    const struct gateway_config *cfg = &gw->cfg;
    struct http_limits limits = {
        .output_max = cfg->output_max,
        .control_rate = cfg->control_rate,
        .control_burst = cfg->control_rate >= 1 ? (unsigned)cfg->control_rate : 1,
        .handshake_ms = cfg->handshake_timeout_s * 1000u,
        .ws_ping_ms = cfg->ws_ping_s * 1000u,
        .ws_idle_ms = cfg->ws_idle_s * 1000u,
        .keepalive_s = cfg->tcp_keepalive_s,
    };

    http_server_set_limits(gw->http, &limits);
    for (size_t i = 0; i < cfg->trusted_proxy_count; i++) {
        if (http_server_add_trusted_proxy(gw->http, cfg->trusted_proxies[i]) < 0) {
            snprintf(errbuf, errlen, "--trusted-proxy %s: cannot add it", cfg->trusted_proxies[i]);
            return -1;
        }
    }
    return 0;
}

struct gateway *gateway_new(struct event_base *base, const struct gateway_config *cfg,
                            char *errbuf, size_t errlen)
{
    struct gateway *gw = calloc(1, sizeof(*gw));
    struct ring_watch_callbacks watch_cb = {on_ring, on_ring_event, NULL};
    struct location_cache_config cache_cfg = {
        .addr = cfg->cache, .user = cfg->redis_user[0] ? cfg->redis_user : NULL,
        .password = cfg->redis_password};
    struct pg_conn_options pg_opt = {.conninfo = cfg->pg};
    struct timeval second = {1, 0};
    uint64_t seeds[3] = {0, 0, 0};

    if (gw == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    gw->base = base;
    gw->cfg = *cfg;
    if (gw->cfg.jwt_audience[0] != '\0') {
        gw->token_policy.audience = gw->cfg.jwt_audience;
        gw->token_policy.audience_len = strlen(gw->cfg.jwt_audience);
    }
    if (gw->cfg.jwt_issuer[0] != '\0') {
        gw->token_policy.issuer = gw->cfg.jwt_issuer;
        gw->token_policy.issuer_len = strlen(gw->cfg.jwt_issuer);
    }
    phone_sink_init(gw);
    watch_cb.arg = gw;
    /* Keys of the limit tables are the clients' to choose: hash them under
     * seeds they cannot know. */
    if (getrandom(seeds, sizeof(seeds), 0) != (ssize_t)sizeof(seeds))
        LOG_WARN("getrandom failed; limit tables hashed with a weak seed");
    gw->ip_limits = limit_table_new(GATEWAY_LIMIT_KEYS, cfg->ip_handshake_rate,
                                    cfg->ip_handshake_burst, seeds[0]);
    gw->start_limits = limit_table_new(GATEWAY_LIMIT_KEYS, cfg->session_start_rate,
                                       cfg->session_start_burst, seeds[1]);
    gw->rest_limits = limit_table_new(GATEWAY_LIMIT_KEYS, cfg->rest_rate, cfg->rest_burst,
                                      seeds[2]);
    gw->channels = channels_new();
    gw->cells = cells_new();
    gw->strangers = cell_channels_new(gw);
    gw->sync = channel_sync_new(gw);
    gw->control = control_new(gw);
    gw->rest = rest_new(gw);
    if (gw->channels == NULL || gw->cells == NULL || gw->strangers == NULL || gw->sync == NULL || gw->control == NULL || gw->rest == NULL ||
        gw->ip_limits == NULL || gw->start_limits == NULL || gw->rest_limits == NULL ||
        metrics_setup(&gw->m) < 0) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    gw->http = http_server_new(base, cfg->listen, &phone_http_callbacks, gw, PROTO_FRAME_MAX,
                               errbuf, errlen);
    if (gw->http == NULL || gateway_set_limits(gw, errbuf, errlen) < 0)
        goto fail;
    gw->admin_http = http_server_new(base, cfg->admin_listen, &admin_http_callbacks, gw,
                                     PROTO_FRAME_MAX, errbuf, errlen);
    if (gw->admin_http == NULL)
        goto fail;
    gw->admin = admin_new(gw, errbuf, errlen);
    if (gw->admin == NULL)
        goto fail;
    gw->peers = peer_view_new(gw, errbuf, errlen);
    if (gw->peers == NULL)
        goto fail;
    gw->cache = location_cache_new(base, &cache_cfg);
    /* The session connections' queue: the sessions that may be starting,
     * each one friend list, and room for the batched consent reads. */
    gw->pg = pg_pool_new(base, &pg_opt, cfg->pg_pool, (size_t)cfg->start_queue + 100);
    if (gw->cache == NULL || gw->pg == NULL) {
        snprintf(errbuf, errlen, "cannot set up the location cache %s or PostgreSQL", cfg->cache);
        goto fail;
    }
    gw->history = history_new(base, pg_pool_conn(gw->pg, PG_POOL_HISTORY), NULL);
    if (zk_auth_use(cfg->zk_auth_file, errbuf, errlen) < 0)
        goto fail;
    if (cfg->zk_auth_file[0] == '\0')
        LOG_WARN("no --zk-auth-file: this gateway has no ZooKeeper identity, so the rings it "
                 "reads must be open to the world");
    gw->watch = ring_watch_new(base, cfg->zk, cfg->root, cfg->ring, (int)cfg->session_timeout_ms,
                               &watch_cb, errbuf, errlen);
    if (gw->watch != NULL)
        gw->registry = gateway_registry_new(base, cfg->zk, cfg->root, cfg->id,
                                            (int)cfg->session_timeout_ms, errbuf, errlen);
    gw->tick = event_new(base, -1, EV_PERSIST, on_tick, gw);
    gw->confirm_timer = evtimer_new(base, on_confirm_check, gw);
    if (gw->history == NULL || gw->watch == NULL || gw->registry == NULL || gw->tick == NULL ||
        gw->confirm_timer == NULL ||
        event_add(gw->tick, &second) < 0) {
        if (gw->watch != NULL && gw->registry != NULL)
            snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    update_registry(gw, NULL, PUBSUB_NODE_CONNECTING);
    return gw;

fail:
    gateway_free(gw);
    return NULL;
}

/* Closes a share of the remaining phones every 100 ms, so that they do not
 * all reconnect to the other gateways at the same instant; the loop exits
 * once the last one is gone. */
static void on_drain_step(evutil_socket_t fd, short what, void *arg)
{
    struct gateway *gw = arg;
    struct timeval step = {0, 100000};
    size_t open = phones_close_some(gw, 0), batch;

    if (gw->phone_count == 0) {
        event_base_loopexit(gw->base, NULL);
        return;
    }
    batch = gw->drain_steps_left > 1 ? (open + gw->drain_steps_left - 1) / gw->drain_steps_left : open;
    if (gw->drain_steps_left > 1)
        gw->drain_steps_left--;
    phones_close_some(gw, batch);
    evtimer_add(gw->drain_timer, &step);
}

void gateway_drain(struct gateway *gw)
{
    struct timeval now = {0, 0};

    if (gw->draining)
        return;
    gw->draining = 1;
    gw->drain_steps_left = gw->cfg.drain_seconds * 10u;
    LOG_INFO("draining: %zu sessions over %u s", gw->phone_count, gw->cfg.drain_seconds);
    http_server_stop_listening(gw->http);
    /* Off the list at once, so that nobody waits for a gateway that goes. */
    gateway_registry_free(gw->registry);
    gw->registry = NULL;
    gw->drain_timer = evtimer_new(gw->base, on_drain_step, gw);
    if (gw->drain_timer == NULL || evtimer_add(gw->drain_timer, &now) < 0)
        event_base_loopexit(gw->base, NULL);
}

int gateway_flush_history(struct gateway *gw, int timeout_ms)
{
    return history_flush_and_wait(gw->history, timeout_ms);
}

void gateway_free(struct gateway *gw)
{
    if (gw == NULL)
        return;
    /* The server first: no callback may reach a half-freed gateway. Phones
     * then count as closed, so the completions that the back ends deliver as
     * they shut down only drop their references. */
    http_server_free(gw->http);
    http_server_free(gw->admin_http);
    phones_detach_all(gw);
    gateway_registry_free(gw->registry);
    gw->registry = NULL;
    ring_watch_free(gw->watch);
    channel_sync_free(gw->sync);
    control_free(gw->control);
    rest_free(gw->rest);
    admin_free(gw->admin);
    peer_view_free(gw->peers);
    history_free(gw->history);
    pg_pool_free(gw->pg);
    location_cache_free(gw->cache);
    for (size_t i = 0; i < gw->node_count; i++)
        pubsub_node_free(gw->nodes[i].node);
    gw->node_count = 0;
    free(gw->nodes);
    free(gw->owners[0].client);
    free(gw->owners[1].client);
    phones_free_all(gw);
    if (gw->tick)
        event_free(gw->tick);
    if (gw->confirm_timer)
        event_free(gw->confirm_timer);
    if (gw->drain_timer)
        event_free(gw->drain_timer);
    channels_free(gw->channels);
    cell_channels_free(gw->strangers);
    cells_free(gw->cells);
    limit_table_free(gw->ip_limits);
    limit_table_free(gw->start_limits);
    limit_table_free(gw->rest_limits);
    metrics_free(gw->m.registry);
    ring_free(gw->ring);
    free(gw);
}
