/* autopilot_decide.c: track how long each node has been reported dead and pick standbys for the due ones. */
#include <stdlib.h>
#include <string.h>

#include "autopilot_decide.h"

/* What the tracker remembers about one node that owns hash space. */
struct suspect {
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    unsigned long long since_epoch; /* ring epoch when first seen at addr */
    double dead_since;              /* when a majority began to report it; < 0: not dead */
    double replace_at;              /* no replace announced before this */
    double warn_at;                 /* no "no standby" announced before this */
    int seen;                       /* in the ring of this observation */
};

struct autopilot {
    struct autopilot_config cfg;
    struct suspect *suspects;
    size_t count, cap;
    double last_now;
    int observed; /* last_now is set */
};

struct autopilot *autopilot_new(const struct autopilot_config *cfg)
{
    struct autopilot *ap = calloc(1, sizeof(*ap));

    if (ap)
        ap->cfg = *cfg;
    return ap;
}

void autopilot_free(struct autopilot *ap)
{
    if (!ap)
        return;
    free(ap->suspects);
    free(ap);
}

int autopilot_majority(size_t votes, size_t live)
{
    return live > 0 && votes <= live && 2 * votes > live;
}

static struct suspect *suspect_find(struct autopilot *ap, const char *id)
{
    for (size_t i = 0; i < ap->count; i++)
        if (strcmp(ap->suspects[i].id, id) == 0)
            return &ap->suspects[i];
    return NULL;
}

static int by_id(const void *a, const void *b)
{
    const struct ring_node *const *x = a, *const *y = b;

    return strcmp((*x)->id, (*y)->id);
}

/* Returns the live gateways (epoch >= 0); *votes gets those at since_epoch
 * or later that report id dead. */
static size_t count_votes(const struct ringctl_gateway *gws, size_t gw_count, const char *id,
                          unsigned long long since_epoch, size_t *votes)
{
    size_t live = 0;

    *votes = 0;
    for (size_t i = 0; i < gw_count; i++) {
        if (gws[i].epoch < 0)
            continue;
        live++;
        if ((unsigned long long)gws[i].epoch >= since_epoch &&
            ringctl_gateway_reports_dead(&gws[i], id))
            (*votes)++;
    }
    return live;
}

int autopilot_decide(struct autopilot *ap, const struct ring *ring,
                     const struct ringctl_gateway *gws, size_t gw_count, double now,
                     struct autopilot_action *out, size_t max)
{
    size_t nodes = ring_node_count(ring), due_count = 0, standby_count = 0, next_standby = 0;
    const struct ring_node **standbys = NULL;
    size_t *due = NULL;
    int written = 0;

    /* Everything that can fail first, so a failure leaves the tracker as it was. */
    if (ap->count + nodes > ap->cap) {
        size_t cap = ap->count + nodes;
        struct suspect *grown = realloc(ap->suspects, cap * sizeof(*grown));

        if (!grown)
            return -1;
        ap->suspects = grown;
        ap->cap = cap;
    }
    standbys = malloc((nodes ? nodes : 1) * sizeof(*standbys));
    due = malloc((nodes ? nodes : 1) * sizeof(*due));
    if (!standbys || !due) {
        written = -1;
        goto out;
    }

    if (ap->observed && now - ap->last_now > ap->cfg.max_gap_s)
        for (size_t i = 0; i < ap->count; i++)
            ap->suspects[i].dead_since = -1;
    ap->last_now = now;
    ap->observed = 1;
    for (size_t i = 0; i < ap->count; i++)
        ap->suspects[i].seen = 0;

    for (size_t i = 0; i < nodes; i++) {
        const struct ring_node *node = ring_node_at(ring, i);
        struct suspect *s;
        size_t votes, live;

        if (node->state == RING_STATE_STANDBY) {
            size_t votes_any;

            /* Any live gateway's word against a standby is enough to skip it. */
            count_votes(gws, gw_count, node->id, 0, &votes_any);
            if (votes_any == 0)
                standbys[standby_count++] = node;
            continue;
        }
        s = suspect_find(ap, node->id);
        if (!s) {
            s = &ap->suspects[ap->count++];
            memset(s, 0, sizeof(*s));
            memcpy(s->id, node->id, sizeof(s->id));
            s->addr[0] = '\0';
        }
        if (strcmp(s->addr, node->addr) != 0) {
            memcpy(s->addr, node->addr, sizeof(s->addr));
            s->since_epoch = ring_epoch(ring);
            s->dead_since = -1;
            s->replace_at = s->warn_at = 0;
        }
        s->seen = 1;
        live = count_votes(gws, gw_count, node->id, s->since_epoch, &votes);
        if (!autopilot_majority(votes, live)) {
            s->dead_since = -1;
            s->replace_at = s->warn_at = 0;
            continue;
        }
        if (s->dead_since < 0)
            s->dead_since = now;
        if (now - s->dead_since >= ap->cfg.grace_s - 1e-6) /* ticks add up inexactly */
            due[due_count++] = i;
    }

    /* Forget nodes that left the ring or became standby. */
    for (size_t i = 0; i < ap->count;) {
        if (ap->suspects[i].seen)
            i++;
        else
            ap->suspects[i] = ap->suspects[--ap->count];
    }

    qsort(standbys, standby_count, sizeof(*standbys), by_id);
    for (size_t d = 0; d < due_count && (size_t)written < max; d++) {
        const struct ring_node *node = ring_node_at(ring, due[d]);
        struct suspect *s = suspect_find(ap, node->id);
        struct autopilot_action *a = &out[written];

        if (next_standby < standby_count) {
            const struct ring_node *standby = standbys[next_standby++];

            /* The standby is spoken for this round even when the replace is
             * on hold, so that another node does not take it meanwhile. */
            if (now < s->replace_at)
                continue;
            s->replace_at = now + ap->cfg.retry_s;
            memset(a, 0, sizeof(*a));
            a->verdict = AUTOPILOT_REPLACE;
            memcpy(a->standby_id, standby->id, sizeof(a->standby_id));
            memcpy(a->standby_addr, standby->addr, sizeof(a->standby_addr));
        } else {
            if (now < s->warn_at)
                continue;
            s->warn_at = now + ap->cfg.warn_every_s;
            memset(a, 0, sizeof(*a));
            a->verdict = AUTOPILOT_NO_STANDBY;
        }
        memcpy(a->node_id, node->id, sizeof(a->node_id));
        memcpy(a->node_addr, node->addr, sizeof(a->node_addr));
        a->live = count_votes(gws, gw_count, node->id, s->since_epoch, &a->votes);
        a->dead_for_s = now - s->dead_since;
        written++;
    }
out:
    free(standbys);
    free(due);
    return written;
}
