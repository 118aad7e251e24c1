/* admin.c: the admin page's JSON on the internal port (/admin/api/ring, /admin/api/gateways), and the load each gateway publishes in its registration.
 *
 * The ring is the one this gateway applied, with each node's share of the
 * hash space and what this gateway sees of it (alive, channels subscribed,
 * messages per second). The gateways are their registrations in ZooKeeper,
 * the same lines `ringctl status` reads, listed on demand (zk/gateway_list)
 * at most once a second whoever asks: a request finds them at most a second
 * old, or waits for a read, or after ADMIN_WAIT_MS gets what was read last,
 * marked stale. Each gateway publishes its sessions and pushes per second
 * in its line every ADMIN_STATS_EVERY_S, a ZooKeeper write each time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway-internal.h"
#include "gateway_list.h"
#include "log.h"

#define ADMIN_FRESH_MS 1000   /* a list younger than this is answered as it is */
#define ADMIN_WAIT_MS 2000    /* how long a request waits for a read */
#define ADMIN_STATS_EVERY_S 5 /* how often the registration's load is refreshed */

enum admin_doc {
    ADMIN_RING,
    ADMIN_GATEWAYS,
};

/* A request waiting for the gateways to be read. */
struct admin_waiter {
    struct http_conn *conn; /* ref: owned by the HTTP server until http_reply */
    enum admin_doc doc;
    struct admin_waiter *next;
};

/* Messages per second from one pub/sub node (all its addresses). */
struct admin_node_rate {
    char id[RING_ID_MAX + 1];
    uint64_t messages;      /* at the last tick */
    double per_s;
    uint64_t sum;           /* scratch: this tick's count over its clients */
    int seen;               /* scratch: still a node this tick */
};

struct admin {
    struct gateway *gw;     /* ref: owner */
    struct gateway_list *list;
    struct admin_waiter *waiters;
    struct event *wait_timer;
    int reading;
    /* The last read of the gateways' registrations. */
    struct gateway_list_entry *peers;
    size_t peer_count;
    uint64_t peers_at_ms;   /* 0: never read */
    char peers_error[256];  /* why the last read failed, "" if it did not */
    /* Rates, sampled once a second. */
    struct admin_node_rate *rates;
    size_t rate_count;
    uint64_t rates_at_ms;
    uint64_t pushes;        /* nearby_pushes_out_total at the last stats */
    uint64_t pushes_at_ms;
    uint64_t pushes_per_s;
    unsigned ticks;
    /* Shares of the hash space of the ring of epoch shares_epoch. */
    uint64_t shares_epoch;
    size_t shares_n;
    double *old_share, *new_share;
};

/* -- JSON ----------------------------------------------------------------- */

/* Appends s as a JSON string: registrations come from ZooKeeper, where any
 * client may have written anything. */
static void json_string(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(out, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            evbuffer_add_printf(out, "\\u%04x", ch);
        else
            evbuffer_add(out, s, 1);
    }
    evbuffer_add(out, "\"", 1);
}

static void reply_doc(struct http_conn *c, int status, struct evbuffer *out)
{
    http_reply_headers(c, status, "application/json",
                       "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                       (const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
}

/* -- what this gateway knows of the ring ---------------------------------- */

/* Recomputes the shares when the applied ring changed. Returns 0, or -1
 * when they are unknown (no ring, not built, out of memory). */
static int admin_shares(struct admin *a)
{
    const struct ring *ring = a->gw->ring;
    size_t n;

    if (ring == NULL || !ring_is_built(ring))
        return -1;
    n = ring_node_count(ring);
    if (a->old_share != NULL && a->shares_epoch == ring_epoch(ring) && a->shares_n == n)
        return 0;
    free(a->old_share);
    free(a->new_share);
    a->old_share = calloc(n ? n : 1, sizeof(double));
    a->new_share = calloc(n ? n : 1, sizeof(double));
    if (a->old_share == NULL || a->new_share == NULL ||
        ring_shares(ring, RING_VIEW_OLD, a->old_share) < 0 ||
        ring_shares(ring, RING_VIEW_NEW, a->new_share) < 0) {
        free(a->old_share);
        free(a->new_share);
        a->old_share = a->new_share = NULL;
        return -1;
    }
    a->shares_epoch = ring_epoch(ring);
    a->shares_n = n;
    return 0;
}

static struct admin_node_rate *rate_find(struct admin *a, const char *id)
{
    for (size_t i = 0; i < a->rate_count; i++)
        if (strcmp(a->rates[i].id, id) == 0)
            return &a->rates[i];
    return NULL;
}

/* Samples every node client's message count; nodes gone from the ring are
 * dropped from the table. */
static void sample_rates(struct admin *a, uint64_t now)
{
    struct gateway *gw = a->gw;
    double dt = a->rates_at_ms && now > a->rates_at_ms ? (double)(now - a->rates_at_ms) / 1000.0 : 0;
    struct admin_node_rate *grown;

    grown = realloc(a->rates, (a->rate_count + gw->node_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return;
    a->rates = grown;
    for (size_t i = 0; i < a->rate_count; i++)
        a->rates[i].seen = 0;
    /* Sum over a node's clients (two while it moves), then take the rate. */
    for (size_t i = 0; i < gw->node_count; i++) {
        struct admin_node_rate *r = rate_find(a, gw->nodes[i].id);
        struct pubsub_node_stats st;

        if (r == NULL) {
            r = &a->rates[a->rate_count++];
            memset(r, 0, sizeof(*r));
            snprintf(r->id, sizeof(r->id), "%s", gw->nodes[i].id);
            r->messages = UINT64_MAX; /* no sample yet */
        }
        if (!r->seen) {
            r->seen = 1;
            r->sum = 0;
        }
        pubsub_node_get_stats(gw->nodes[i].node, &st);
        r->sum += st.messages_in;
    }
    for (size_t i = 0; i < a->rate_count;) {
        struct admin_node_rate *r = &a->rates[i];
        uint64_t total = r->sum;

        if (!r->seen) {
            *r = a->rates[--a->rate_count];
            continue;
        }
        /* A client made anew starts counting from 0 again. */
        r->per_s = r->messages != UINT64_MAX && dt > 0 && total >= r->messages
                       ? (double)(total - r->messages) / dt : 0;
        r->messages = total;
        i++;
    }
    a->rates_at_ms = now;
}

/* Refreshes the load this gateway shows in its registration. */
static void publish_stats(struct admin *a, uint64_t now)
{
    struct gateway *gw = a->gw;
    uint64_t pushes = metrics_counter_value(gw->m.pushes_out);

    if (a->pushes_at_ms != 0 && now > a->pushes_at_ms && pushes >= a->pushes)
        a->pushes_per_s = (pushes - a->pushes) * 1000 / (now - a->pushes_at_ms);
    a->pushes = pushes;
    a->pushes_at_ms = now;
    gateway_registry_set_stats(gw->registry, gw->cfg.admin_listen, gw->phone_count,
                               a->pushes_per_s);
}

void admin_tick(struct gateway *gw)
{
    struct admin *a = gw->admin;
    uint64_t now = gateway_now_ms();

    if (a == NULL)
        return;
    sample_rates(a, now);
    if (a->ticks++ % ADMIN_STATS_EVERY_S == 0)
        publish_stats(a, now);
}

/* -- the documents -------------------------------------------------------- */

/* Fills what this gateway sees of node id: -1 for what it has no client for. */
static void node_seen(struct gateway *gw, const struct ring_node *rn, int *alive,
                      long long *channels)
{
    *alive = -1;
    *channels = -1;
    for (size_t i = 0; i < gw->node_count; i++) {
        struct pubsub_node_stats st;

        if (strcmp(gw->nodes[i].id, rn->id) != 0)
            continue;
        pubsub_node_get_stats(gw->nodes[i].node, &st);
        *channels = (*channels < 0 ? 0 : *channels) + (long long)st.channels_subscribed;
        if (strcmp(gw->nodes[i].addr, rn->addr) == 0)
            *alive = st.state == PUBSUB_NODE_ALIVE;
    }
}

static void peers_age(struct admin *a, struct evbuffer *out, uint64_t now)
{
    if (a->peers_at_ms == 0)
        evbuffer_add_printf(out, ",\"gateways_read_ms_ago\":null");
    else
        evbuffer_add_printf(out, ",\"gateways_read_ms_ago\":%" PRIu64,
                            now > a->peers_at_ms ? now - a->peers_at_ms : 0);
    evbuffer_add_printf(out, ",\"stale\":%s",
                        a->peers_at_ms == 0 || now - a->peers_at_ms > ADMIN_WAIT_MS ? "true" : "false");
    if (a->peers_error[0]) {
        evbuffer_add_printf(out, ",\"gateways_error\":");
        json_string(out, a->peers_error);
    }
}

/* The change in progress: phase 1 of 2 while nodes join, leave or move;
 * "final" while gateways have not all applied a ring that is not in
 * transition (phase 2, or a one-step change); null when everything is
 * applied and nothing moves. */
static void ring_change(struct admin *a, struct evbuffer *out, uint64_t epoch, int transition)
{
    size_t applied = 0;
    long long pending = 0;

    for (size_t i = 0; i < a->peer_count; i++) {
        if (a->peers[i].reg.epoch >= 0 && (uint64_t)a->peers[i].reg.epoch >= epoch)
            applied++;
        if (a->peers[i].reg.pending > 0)
            pending += a->peers[i].reg.pending;
    }
    if (!transition && (a->peers_at_ms == 0 || applied == a->peer_count)) {
        evbuffer_add_printf(out, ",\"change\":null");
        return;
    }
    evbuffer_add_printf(out, ",\"change\":{\"phase\":\"%s\",\"epoch\":%" PRIu64, transition ? "1/2" : "final",
                        epoch);
    if (a->peers_at_ms == 0)
        evbuffer_add_printf(out, ",\"gateways_applied\":null,\"gateways\":null,"
                                 "\"channels_subscribing\":null}");
    else
        evbuffer_add_printf(out, ",\"gateways_applied\":%zu,\"gateways\":%zu,"
                                 "\"channels_subscribing\":%lld}", applied, a->peer_count, pending);
}

static int render_ring(struct admin *a, struct evbuffer *out, uint64_t now)
{
    struct gateway *gw = a->gw;
    const struct ring *ring = gw->ring;
    int transition, shares;
    size_t n;

    if (ring == NULL)
        return -1;
    transition = ring_in_transition(ring);
    shares = admin_shares(a) == 0;
    n = ring_node_count(ring);
    evbuffer_add_printf(out, "{\"ring\":");
    json_string(out, ring_name(ring));
    evbuffer_add_printf(out, ",\"epoch\":%" PRIu64 ",\"vnodes\":%u,\"in_transition\":%s,\"gateway\":",
                        ring_epoch(ring), ring_vnodes(ring), transition ? "true" : "false");
    json_string(out, gw->cfg.id);
    evbuffer_add_printf(out, ",\"nodes\":[");
    for (size_t i = 0; i < n; i++) {
        const struct ring_node *rn = ring_node_at(ring, i);
        const struct admin_node_rate *r = rate_find(a, rn->id);
        long long channels;
        int alive;

        node_seen(gw, rn, &alive, &channels);
        evbuffer_add_printf(out, "%s{\"id\":", i ? "," : "");
        json_string(out, rn->id);
        evbuffer_add_printf(out, ",\"addr\":");
        json_string(out, rn->addr);
        evbuffer_add_printf(out, ",\"weight\":%u,\"state\":\"%s\"", rn->weight,
                            ring_state_name(rn->state));
        if (shares)
            evbuffer_add_printf(out, ",\"share_percent\":%.4f", a->new_share[i] * 100.0);
        else
            evbuffer_add_printf(out, ",\"share_percent\":null");
        if (shares && transition)
            evbuffer_add_printf(out, ",\"old_share_percent\":%.4f", a->old_share[i] * 100.0);
        if (rn->from[0]) {
            evbuffer_add_printf(out, ",\"from\":");
            json_string(out, rn->from);
        }
        evbuffer_add_printf(out, ",\"alive\":%s", alive < 0 ? "null" : alive ? "true" : "false");
        if (channels < 0)
            evbuffer_add_printf(out, ",\"channels\":null,\"messages_per_s\":null}");
        else
            evbuffer_add_printf(out, ",\"channels\":%lld,\"messages_per_s\":%.1f}", channels,
                                r ? r->per_s : 0.0);
    }
    evbuffer_add_printf(out, "]");
    ring_change(a, out, ring_epoch(ring), transition);
    peers_age(a, out, now);
    evbuffer_add_printf(out, "}\n");
    return 0;
}

/* As `ringctl status --json`, with each gateway's internal port and load. */
static void render_gateways(struct admin *a, struct evbuffer *out, uint64_t now)
{
    struct gateway *gw = a->gw;
    long long epoch = gw->ring ? (long long)ring_epoch(gw->ring) : -1;

    evbuffer_add_printf(out, "{\"ring_epoch\":%lld,\"self\":", epoch);
    json_string(out, gw->cfg.id);
    evbuffer_add_printf(out, ",\"gateways\":[");
    for (size_t i = 0; i < a->peer_count; i++) {
        const struct gateway_list_entry *e = &a->peers[i];
        long long lag = e->reg.epoch >= 0 && epoch >= 0 ? epoch - e->reg.epoch : -1;

        evbuffer_add_printf(out, "%s{\"id\":", i ? "," : "");
        json_string(out, e->id);
        evbuffer_add_printf(out, ",\"addr\":");
        json_string(out, e->reg.addr);
        evbuffer_add_printf(out, ",\"epoch\":%lld,\"lag\":%lld,\"pending\":%lld,\"dead\":",
                            e->reg.epoch, lag, e->reg.pending < 0 ? 0 : e->reg.pending);
        json_string(out, e->reg.dead);
        evbuffer_add_printf(out, ",\"admin\":");
        json_string(out, e->reg.admin);
        evbuffer_add_printf(out, ",\"sessions\":%lld,\"pushes_per_s\":%lld}", e->reg.sessions,
                            e->reg.pushes_per_s);
    }
    evbuffer_add_printf(out, "]");
    peers_age(a, out, now);
    evbuffer_add_printf(out, "}\n");
}

static void answer(struct admin *a, struct http_conn *c, enum admin_doc doc)
{
    struct evbuffer *out = evbuffer_new();
    uint64_t now = gateway_now_ms();

    if (out == NULL) {
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    if (doc == ADMIN_GATEWAYS) {
        render_gateways(a, out, now);
        reply_doc(c, 200, out);
    } else if (render_ring(a, out, now) == 0) {
        reply_doc(c, 200, out);
    } else {
        reply_error(c, 503, "unavailable", "no ring applied yet");
    }
    evbuffer_free(out);
}

static void answer_waiters(struct admin *a)
{
    struct admin_waiter *w = a->waiters;

    a->waiters = NULL;
    evtimer_del(a->wait_timer);
    while (w != NULL) {
        struct admin_waiter *next = w->next;

        answer(a, w->conn, w->doc);
        free(w);
        w = next;
    }
}

static void on_gateways_read(void *arg, int err, const struct gateway_list_entry *entries,
                             size_t count)
{
    struct admin *a = arg;
    struct gateway_list_entry *copy = NULL;

    a->reading = 0;
    if (err == GATEWAY_LIST_OK && (copy = malloc((count ? count : 1) * sizeof(*copy))) != NULL) {
        memcpy(copy, entries, count * sizeof(*copy));
        free(a->peers);
        a->peers = copy;
        a->peer_count = count;
        a->peers_at_ms = gateway_now_ms();
        a->peers_error[0] = '\0';
    } else {
        snprintf(a->peers_error, sizeof(a->peers_error), "%s",
                 err == GATEWAY_LIST_ERR_ZK ? gateway_list_errstr(a->list) : "out of memory");
        LOG_WARN("admin: cannot list the gateways: %s", a->peers_error);
    }
    answer_waiters(a);
}

/* Waited long enough: answer with what was read last. */
static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;

    if (a->reading)
        snprintf(a->peers_error, sizeof(a->peers_error),
                 "ZooKeeper did not answer within %d ms", ADMIN_WAIT_MS);
    answer_waiters(a);
}

void admin_api_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    struct admin *a = gw->admin;
    struct timeval wait = {ADMIN_WAIT_MS / 1000, (ADMIN_WAIT_MS % 1000) * 1000};
    struct admin_waiter *w;
    enum admin_doc doc;
    uint64_t now = gateway_now_ms();
    int rc;

    if (req->path_len == 15 && memcmp(req->path, "/admin/api/ring", 15) == 0) {
        doc = ADMIN_RING;
    } else if (req->path_len == 19 && memcmp(req->path, "/admin/api/gateways", 19) == 0) {
        doc = ADMIN_GATEWAYS;
    } else {
        reply_error(c, 404, "not_found", "the admin API has /admin/api/ring and /admin/api/gateways");
        return;
    }
    if (!(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) &&
        !(req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0)) {
        reply_error(c, 405, "method_not_allowed", "the admin API is read-only: GET");
        return;
    }
    if (doc == ADMIN_RING && gw->ring == NULL) {
        reply_error(c, 503, "unavailable", "no ring applied yet");
        return;
    }
    if (a->peers_at_ms != 0 && now - a->peers_at_ms < ADMIN_FRESH_MS) {
        answer(a, c, doc);
        return;
    }
    w = malloc(sizeof(*w));
    if (w == NULL) {
        answer(a, c, doc);
        return;
    }
    *w = (struct admin_waiter){c, doc, a->waiters};
    a->waiters = w;
    if (!a->reading) {
        rc = gateway_list_read(a->list);
        if (rc != GATEWAY_LIST_OK && rc != GATEWAY_LIST_ERR_BUSY) {
            snprintf(a->peers_error, sizeof(a->peers_error), "%s", gateway_list_errstr(a->list));
            answer_waiters(a);
            return;
        }
        a->reading = 1;
    }
    if (!evtimer_pending(a->wait_timer, NULL))
        evtimer_add(a->wait_timer, &wait);
}

struct admin *admin_new(struct gateway *gw, char *errbuf, size_t errlen)
{
    struct admin *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    a->gw = gw;
    a->wait_timer = evtimer_new(gw->base, on_wait_timeout, a);
    a->list = gateway_list_new(gw->base, gw->cfg.zk, gw->cfg.root, (int)gw->cfg.session_timeout_ms,
                               on_gateways_read, a, errbuf, errlen);
    if (a->wait_timer == NULL || a->list == NULL) {
        if (a->list != NULL)
            snprintf(errbuf, errlen, "out of memory");
        admin_free(a);
        return NULL;
    }
    return a;
}

void admin_free(struct admin *a)
{
    if (a == NULL)
        return;
    /* Requests still waiting are the HTTP server's, freed before us. */
    while (a->waiters != NULL) {
        struct admin_waiter *next = a->waiters->next;
        free(a->waiters);
        a->waiters = next;
    }
    gateway_list_free(a->list);
    if (a->wait_timer != NULL)
        event_free(a->wait_timer);
    free(a->peers);
    free(a->rates);
    free(a->old_share);
    free(a->new_share);
    free(a);
}
