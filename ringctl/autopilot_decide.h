/* autopilot_decide.h: when `ringctl autopilot` replaces a dead node with a standby (no I/O).
 *
 * The daemon reads the ring and the gateways' registrations every interval
 * and hands them to autopilot_decide with the time. A node that owns hash
 * space (active, joining or leaving) is dead when a strict majority of the
 * live gateways (those that applied some ring, epoch >= 0) report it in
 * their dead list; once it has been dead for grace_s seconds without a break
 * the decision is to replace its address with a standby's. Standbys are
 * taken in id order (strcmp), each at most once per decision, skipping any
 * that some live gateway reports dead.
 *
 * A report counts only from a gateway whose applied epoch is at least the
 * ring epoch at which the tracker first saw the node at its current address:
 * after a failover, gateways still on the older ring report the old address
 * dead, and must not make the new one look dead too.
 *
 * Every action is announced at most once per hold: retry_s for a replace
 * (the write failed, or a dry run), warn_every_s for "no standby left". A
 * gap between two observations longer than max_gap_s (the daemon could not
 * read) starts every dead timer again.
 */
#ifndef NEARBY_AUTOPILOT_DECIDE_H
#define NEARBY_AUTOPILOT_DECIDE_H

#include <stddef.h>

#include "gateways.h"
#include "ring.h"

struct autopilot_config {
    double grace_s;      /* dead this long before acting */
    double retry_s;      /* a replace announced again after this long if still due */
    double warn_every_s; /* "no standby left" again after this long */
    double max_gap_s;    /* observations further apart restart the timers */
};

enum autopilot_verdict {
    AUTOPILOT_REPLACE = 1, /* give node the standby's address */
    AUTOPILOT_NO_STANDBY,  /* node is due, but no usable standby is left */
};

struct autopilot_action {
    enum autopilot_verdict verdict;
    char node_id[RING_ID_MAX + 1];
    char node_addr[RING_ADDR_MAX + 1];
    char standby_id[RING_ID_MAX + 1];     /* AUTOPILOT_REPLACE only */
    char standby_addr[RING_ADDR_MAX + 1]; /* AUTOPILOT_REPLACE only */
    size_t votes;      /* live gateways that report the node dead */
    size_t live;       /* live gateways */
    double dead_for_s; /* since a majority first reported it */
};

struct autopilot;

/* Returns an empty tracker with a copy of cfg, or NULL when out of memory. */
struct autopilot *autopilot_new(const struct autopilot_config *cfg);

/* Frees the tracker; NULL does nothing. */
void autopilot_free(struct autopilot *ap);

/* Returns 1 when votes of live gateways make a strict majority (live > 0). */
int autopilot_majority(size_t votes, size_t live);

/* Feeds one observation at time now (seconds, monotonic) and writes the
 * actions due into out (room for max, at most one per node; a ring's node
 * count is always enough). Returns how many were written, or -1 when out
 * of memory (the tracker is then unchanged). ring and gws are borrowed. */
int autopilot_decide(struct autopilot *ap, const struct ring *ring,
                     const struct ringctl_gateway *gws, size_t gw_count, double now,
                     struct autopilot_action *out, size_t max);

#endif
