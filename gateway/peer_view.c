/* peer_view.c: what the other gateways see of the ring, read while this gateway finds a node dead, for the minority rule of /healthz (core/minority.h). */
#include <stdlib.h>
#include <string.h>

#include "gateway-internal.h"
#include "gateway_list.h"
#include "log.h"
#include "minority.h"

/* A node dead here this long is compared with the peers: they find a node
 * dead within a second of each other (3 missed heartbeats, checked once a
 * second), and their registrations say so at once. */
#define PEER_VIEW_GRACE_MS 2000
/* The peers are read again this often while a node is dead here. */
#define PEER_VIEW_READ_EVERY_MS 1000
/* A list older than this (ZooKeeper away) says nothing any more. */
#define PEER_VIEW_FRESH_MS 10000

struct peer {
    char id[RING_ID_MAX + 1];
    char dead[GATEWAY_REGISTRY_LINE_MAX];
    long long epoch;
};

struct peer_view {
    struct gateway *gw;       /* ref: owned by main */
    struct gateway_list *list; /* its own ZooKeeper session, opened on the first read */
    struct peer *peers;
    struct minority_peer *view; /* the same, for minority_check: strings in peers */
    size_t count;
    struct minority_node *dead; /* scratch for peer_view_minority, room for dead_cap */
    size_t dead_cap;
    uint64_t read_ms;         /* when peers were read; 0: never */
    uint64_t started_ms;      /* when the read in flight started */
    int reading;
    int stepped_out;          /* the last verdict, to log changes once */
    int braked;               /* the last verdict was held back by minority_fleet_out */
};

static void on_read(void *arg, int err, const struct gateway_list_entry *entries, size_t count)
{
    struct peer_view *pv = arg;
    struct peer *copy;
    struct minority_peer *view;

    pv->reading = 0;
    if (err != GATEWAY_LIST_OK) {
        LOG_WARN("cannot read the other gateways' registrations: %s",
                 err == GATEWAY_LIST_ERR_ZK ? gateway_list_errstr(pv->list) : "out of memory");
        return;
    }
    copy = calloc(count ? count : 1, sizeof(*copy));
    view = calloc(count ? count : 1, sizeof(*view));
    if (copy == NULL || view == NULL) {
        free(copy);
        free(view);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(copy[i].id, entries[i].id, sizeof(copy[i].id));
        memcpy(copy[i].dead, entries[i].reg.dead, sizeof(copy[i].dead));
        copy[i].epoch = entries[i].reg.epoch;
        view[i] = (struct minority_peer){copy[i].id, copy[i].epoch, copy[i].dead};
    }
    free(pv->peers);
    free(pv->view);
    pv->peers = copy;
    pv->view = view;
    pv->count = count;
    pv->read_ms = pv->started_ms;
}

struct peer_view *peer_view_new(struct gateway *gw, char *errbuf, size_t errlen)
{
    struct peer_view *pv = calloc(1, sizeof(*pv));

    if (pv == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pv->gw = gw;
    pv->list = gateway_list_new(gw->base, gw->cfg.zk, gw->cfg.root, (int)gw->cfg.session_timeout_ms,
                                on_read, pv, errbuf, errlen);
    if (pv->list == NULL) {
        free(pv);
        return NULL;
    }
    return pv;
}

void peer_view_free(struct peer_view *pv)
{
    if (pv == NULL)
        return;
    gateway_list_free(pv->list);
    free(pv->peers);
    free(pv->view);
    free(pv->dead);
    free(pv);
}

void peer_view_tick(struct peer_view *pv)
{
    uint64_t now = gateway_now_ms();
    int any_dead = 0;

    for (size_t i = 0; i < pv->gw->node_count && !any_dead; i++)
        any_dead = pv->gw->nodes[i].dead_since_ms != 0;
    if (!any_dead || pv->reading || now < pv->started_ms + PEER_VIEW_READ_EVERY_MS)
        return;
    pv->started_ms = now;
    if (gateway_list_read(pv->list) == GATEWAY_LIST_OK)
        pv->reading = 1;
}

int peer_view_minority(struct peer_view *pv, char *buf, size_t cap)
{
    struct gateway *gw = pv->gw;
    struct minority_verdict v;
    size_t nd = 0;
    uint64_t now = gateway_now_ms();
    int minority = 0;

    if (gw->node_count > pv->dead_cap) {
        struct minority_node *grown = realloc(pv->dead, gw->node_count * sizeof(*grown));

        if (grown == NULL)
            return pv->stepped_out; /* out of memory: keep the last verdict */
        pv->dead = grown;
        pv->dead_cap = gw->node_count;
    }
    for (size_t i = 0; i < gw->node_count; i++) {
        const struct gw_node *n = &gw->nodes[i];
        const struct ring_node *rn = gw->ring ? ring_find(gw->ring, n->id) : NULL;

        /* As in the registry: a node moving away from an address is judged at its new one. */
        if (n->dead_since_ms == 0 || (rn != NULL && strcmp(rn->addr, n->addr) != 0))
            continue;
        pv->dead[nd++] = (struct minority_node){n->id, n->since_epoch, n->dead_since_ms};
    }
    if (nd > 0 && pv->read_ms != 0 && now <= pv->read_ms + PEER_VIEW_FRESH_MS)
        minority = minority_check(gw->cfg.id, pv->dead, nd, pv->view, pv->count, pv->read_ms,
                                  now, PEER_VIEW_GRACE_MS, &v);
    if (minority) {
        size_t live = 0, out = minority_fleet_out(gw->cfg.id, pv->dead, nd, pv->view, pv->count,
                                                  &live);

        /* Never so many that fewer than half would serve. */
        if (2 * out > live) {
            if (!pv->braked)
                LOG_WARN("pub/sub node %s is dead here but %zu of %zu live gateways reach it; "
                         "%zu of %zu would leave the balancer, so this one stays (crossed "
                         "partitions?)", v.node_id, v.reach, v.live, out, live);
            pv->braked = 1;
            minority = 0;
        } else {
            pv->braked = 0;
        }
    } else {
        pv->braked = 0;
    }
    if (minority)
        snprintf(buf, cap, "pub/sub node %s is dead here but %zu of %zu live gateways reach it: "
                 "leaving the phones to them", v.node_id, v.reach, v.live);
    if (minority != pv->stepped_out) {
        if (minority)
            LOG_WARN("/healthz 503: %s", buf);
        else
            LOG_INFO("/healthz: no node is dead here alone any more");
        pv->stepped_out = minority;
    }
    return minority;
}
