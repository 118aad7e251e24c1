/* ring_sim.h: balance and movement figures of synthetic rings, for ringctl and benchmarks.
 *
 * Pure computation on top of ring.h: no I/O. Used by `ringctl simulate` and
 * test/bench-ring.c to choose and check the number of virtual nodes.
 */
#ifndef NEARBY_RING_SIM_H
#define NEARBY_RING_SIM_H

#include <stdint.h>

struct ring_sim_result {
    uint32_t nodes;              /* nodes before the change */
    uint32_t vnodes;             /* virtual nodes per unit of weight */
    double max_over_mean;        /* largest exact share / mean share */
    double min_over_mean;        /* smallest exact share / mean share */
    double moved_fraction;       /* hash space whose owner changed */
    double ideal_moved_fraction; /* add / (nodes + add), or remove / nodes */
};

/* Builds a ring of `nodes` active nodes of weight 1 (ids "s<seed>-n<i>",
 * addresses 127.0.0.1:<10000 + i>) with `vnodes` virtual nodes each (0 means
 * RING_VNODES_DEFAULT), measures the balance, then adds `add` nodes or removes
 * the last `remove` nodes and measures the hash space that moved.
 * Returns 0 and fills *out; RING_ERR_INVALID when nodes is 0, vnodes is past
 * RING_VNODES_MAX, both add and remove are non-zero or remove >= nodes;
 * RING_ERR_LIMIT when nodes + add exceeds RING_NODES_MAX or a view exceeds
 * 2^24 virtual nodes; RING_ERR_NOMEM. */
int ring_simulate(uint32_t nodes, uint32_t vnodes, uint32_t add, uint32_t remove, uint64_t seed,
                  struct ring_sim_result *out);

#endif
