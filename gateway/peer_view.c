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
    size_t count;
    uint64_t read_ms;         /* when peers were read; 0: never */
    uint64_t started_ms;      /* when the read in flight started */
    int reading;
    int stepped_out;          /* the last verdict, to log changes once */
};

static void on_read(void *arg, int err, const struct gateway_list_entry *entries, size_t count)
{
    struct peer_view *pv = arg;
    struct peer *copy;

    pv->reading = 0;
    if (err != GATEWAY_LIST_OK) {
        LOG_WARN("cannot read the other gateways' registrations: %s",
                 err == GATEWAY_LIST_ERR_ZK ? gateway_list_errstr(pv->list) : "out of memory");
        return;
    }
    copy = calloc(count ? count : 1, sizeof(*copy));
    if (copy == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        memcpy(copy[i].id, entries[i].id, sizeof(copy[i].id));
        memcpy(copy[i].dead, entries[i].reg.dead, sizeof(copy[i].dead));
        copy[i].epoch = entries[i].reg.epoch;
    }
    free(pv->peers);
    pv->peers = copy;
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
    struct minority_node dead[64];
    struct minority_peer peers[64];
    struct minority_verdict v;
    size_t nd = 0, np = 0;
    uint64_t now = gateway_now_ms();
    int minority = 0;

    for (size_t i = 0; i < gw->node_count && nd < sizeof(dead) / sizeof(dead[0]); i++) {
        const struct gw_node *n = &gw->nodes[i];
        const struct ring_node *rn = gw->ring ? ring_find(gw->ring, n->id) : NULL;

        /* As in the registry: a node moving away from an address is judged at its new one. */
        if (n->dead_since_ms == 0 || (rn != NULL && strcmp(rn->addr, n->addr) != 0))
            continue;
        dead[nd++] = (struct minority_node){n->id, n->since_epoch, n->dead_since_ms};
    }
    if (nd > 0 && pv->read_ms != 0 && now <= pv->read_ms + PEER_VIEW_FRESH_MS) {
        for (size_t i = 0; i < pv->count && np < sizeof(peers) / sizeof(peers[0]); i++)
            peers[np++] = (struct minority_peer){pv->peers[i].id, pv->peers[i].epoch,
                                                 pv->peers[i].dead};
        minority = minority_check(gw->cfg.id, dead, nd, peers, np, pv->read_ms, now,
                                  PEER_VIEW_GRACE_MS, &v);
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
