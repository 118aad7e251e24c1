/* ring_sim.c: balance and movement figures of synthetic rings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"
#include "ring_sim.h"

int ring_simulate(uint32_t nodes, uint32_t vnodes, uint32_t add, uint32_t remove, uint64_t seed,
                  struct ring_sim_result *out)
{
    struct ring_sim_result result = { .nodes = nodes };
    struct ring *ring = NULL;
    double *share = NULL, max = 0.0, min = 1.0, mean;
    uint32_t total;
    int rc = RING_ERR_INVALID;

    if (vnodes == 0)
        vnodes = RING_VNODES_DEFAULT;
    if (nodes == 0 || vnodes > RING_VNODES_MAX || (add != 0 && remove != 0) || remove >= nodes)
        return RING_ERR_INVALID;
    if ((uint64_t)nodes + add > RING_NODES_MAX)
        return RING_ERR_LIMIT;
    result.vnodes = vnodes;
    total = nodes + add;

    /* One ring in transition holds both memberships: OLD is the ring before
     * the change, NEW after it, so a single build gives both figures and the
     * diff walks tables of the same ring, exactly as gateways see a change. */
    rc = RING_ERR_NOMEM;
    ring = ring_new("sim", 0, vnodes);
    share = malloc(total * sizeof(*share));
    if (ring == NULL || share == NULL)
        goto cleanup;
    for (uint32_t i = 0; i < total; i++) {
        char id[RING_ID_MAX + 1], addr[32];
        enum ring_state state = RING_STATE_ACTIVE;

        if (i >= nodes)
            state = RING_STATE_JOINING;
        else if (i >= nodes - remove)
            state = RING_STATE_LEAVING;
        snprintf(id, sizeof(id), "s%" PRIu64 "-n%" PRIu32, seed, i);
        snprintf(addr, sizeof(addr), "127.0.0.1:%" PRIu32, 10000 + i);
        rc = ring_add_node(ring, id, addr, 1, state);
        if (rc < 0)
            goto cleanup;
    }
    rc = ring_build(ring);
    if (rc < 0)
        goto cleanup;
    rc = ring_shares(ring, RING_VIEW_OLD, share);
    if (rc < 0)
        goto cleanup;
    mean = 1.0 / nodes;
    for (uint32_t i = 0; i < nodes; i++) {
        if (share[i] > max)
            max = share[i];
        if (share[i] < min)
            min = share[i];
    }
    result.max_over_mean = max / mean;
    result.min_over_mean = min / mean;
    result.moved_fraction = ring_moved_fraction(ring, RING_VIEW_OLD, ring, RING_VIEW_NEW);
    if (add != 0)
        result.ideal_moved_fraction = (double)add / total;
    else
        result.ideal_moved_fraction = (double)remove / nodes;
    *out = result;
    rc = 0;

cleanup:
    free(share);
    ring_free(ring);
    return rc;
}
