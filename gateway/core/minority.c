/* minority.c: find a ring node that this gateway finds dead while most live peers reach it. */
#include <string.h>

#include "minority.h"

int minority_listed(const char *csv, const char *id)
{
    size_t len = strlen(id);

    for (const char *p = csv; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        if (n == len && memcmp(p, id, len) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int minority_check(const char *self_id, const struct minority_node *dead, size_t dead_count,
                   const struct minority_peer *peers, size_t peer_count, uint64_t peers_read_ms,
                   uint64_t now_ms, uint64_t grace_ms, struct minority_verdict *out)
{
    for (size_t d = 0; d < dead_count; d++) {
        const struct minority_node *node = &dead[d];
        struct minority_verdict v = {node->id, 0, 1, 1};

        if (now_ms < node->dead_since_ms + grace_ms ||
            peers_read_ms < node->dead_since_ms + grace_ms)
            continue;
        for (size_t i = 0; i < peer_count; i++) {
            const struct minority_peer *p = &peers[i];

            if (p->epoch < 0 || strcmp(p->id, self_id) == 0)
                continue;
            v.live++;
            if ((unsigned long long)p->epoch < node->since_epoch)
                continue;
            if (minority_listed(p->dead_csv, node->id))
                v.dead++;
            else
                v.reach++;
        }
        if (v.reach > 0 && 2 * v.dead <= v.live) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Live gateways that find node dead: this one by its list, the peers by theirs. */
static size_t dead_count_of(const char *node, int self_dead, const char *self_id,
                            const struct minority_peer *peers, size_t peer_count)
{
    size_t n = self_dead ? 1 : 0;

    for (size_t i = 0; i < peer_count; i++)
        if (peers[i].epoch >= 0 && strcmp(peers[i].id, self_id) != 0 &&
            minority_listed(peers[i].dead_csv, node))
            n++;
    return n;
}

static int self_finds_dead(const struct minority_node *dead, size_t dead_count, const char *node,
                           size_t len)
{
    for (size_t d = 0; d < dead_count; d++)
        if (strlen(dead[d].id) == len && memcmp(dead[d].id, node, len) == 0)
            return 1;
    return 0;
}

size_t minority_fleet_out(const char *self_id, const struct minority_node *dead, size_t dead_count,
                          const struct minority_peer *peers, size_t peer_count, size_t *live)
{
    size_t out = 1, n_live = 1; /* this one, about to step out */
    char id[128];

    for (size_t i = 0; i < peer_count; i++)
        if (peers[i].epoch >= 0 && strcmp(peers[i].id, self_id) != 0)
            n_live++;
    for (size_t i = 0; i < peer_count; i++) {
        const struct minority_peer *p = &peers[i];
        int leaves = 0;

        if (p->epoch < 0 || strcmp(p->id, self_id) == 0)
            continue;
        for (const char *c = p->dead_csv; !leaves && c != NULL && *c != '\0';) {
            const char *end = strchr(c, ',');
            size_t len = end ? (size_t)(end - c) : strlen(c), d;

            if (len > 0 && len < sizeof(id)) {
                memcpy(id, c, len);
                id[len] = '\0';
                d = dead_count_of(id, self_finds_dead(dead, dead_count, id, len), self_id, peers,
                                  peer_count);
                leaves = d < n_live && 2 * d <= n_live;
            }
            c = end ? end + 1 : NULL;
        }
        out += (size_t)leaves;
    }
    *live = n_live;
    return out;
}
