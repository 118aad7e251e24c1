/* minority.h: whether this gateway should leave the load balancer because it alone (or with a minority of its peers) finds a ring node dead (no I/O).
 *
 * A node that every gateway finds dead is the autopilot's to replace; one
 * that only some find dead is a partition between them and it, and the
 * autopilot leaves it alone (autopilot_decide.h: it acts on a strict
 * majority of the live gateways). The gateways that cannot reach it then
 * serve their phones worse than the others (updates on its channels neither
 * reach nor leave them), so they answer 503 on /healthz and the balancer
 * moves their phones to gateways that see the whole ring.
 *
 * The rule is the complement of the autopilot's: a node dead here for at
 * least grace_ms, in a peer list read at least grace_ms after it died here
 * (so that the peers have had the time to find it dead too), is a minority
 * report when at least one peer reaches it and the gateways finding it dead,
 * this one included, are no strict majority of the live ones (registered
 * with an applied epoch). A peer counts for or against the node only at an
 * epoch at least the one at which this gateway first served the node at its
 * address (since_epoch), as in autopilot_decide: a peer still on an older
 * ring speaks of another address.
 */
#ifndef NEARBY_MINORITY_H
#define NEARBY_MINORITY_H

#include <stddef.h>
#include <stdint.h>

/* A node this gateway finds dead. Strings are borrowed. */
struct minority_node {
    const char *id;
    uint64_t since_epoch;   /* ring epoch at which this gateway began to serve it at its address */
    uint64_t dead_since_ms; /* when this gateway found it dead */
};

/* A registered gateway as its znode says (gateway_registry.h). Strings are borrowed. */
struct minority_peer {
    const char *id;
    long long epoch;      /* -1: no ring applied (not live) */
    const char *dead_csv; /* comma-separated node ids */
};

struct minority_verdict {
    const char *node_id; /* borrowed from the node given */
    size_t reach;        /* live peers that reach it */
    size_t dead;         /* live gateways that find it dead, this one included */
    size_t live;         /* live gateways, this one included */
};

/* Looks at each dead node in order and returns 1 with *out written for the
 * first that is a minority report (see above), else 0 (out untouched).
 * peers_read_ms is when the peer list was read; peers may include this
 * gateway itself (self_id), which is left out. */
int minority_check(const char *self_id, const struct minority_node *dead, size_t dead_count,
                   const struct minority_peer *peers, size_t peer_count, uint64_t peers_read_ms,
                   uint64_t now_ms, uint64_t grace_ms, struct minority_verdict *out);

/* The fleet's brake on that rule: how many live gateways would step out if
 * each applied it to what its registration says (this one to dead, which it
 * is about to step out for), and how many are live (*live, this one
 * included). A gateway steps out only while at least half of the live ones
 * are left serving (2 * out <= live): crossed partitions, where every gateway is cut
 * from some node the others reach, would otherwise leave the balancer with
 * no gateway at all, and a degraded gateway serves better than none. Peers
 * are judged without this one's grace and epoch checks: an estimate, from
 * the same registrations every gateway reads, so they agree. */
size_t minority_fleet_out(const char *self_id, const struct minority_node *dead, size_t dead_count,
                          const struct minority_peer *peers, size_t peer_count, size_t *live);

/* Returns 1 when id is one of the comma-separated ids of csv, else 0. */
int minority_listed(const char *csv, const char *id);

#endif
