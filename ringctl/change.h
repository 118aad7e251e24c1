/* change.h: one requested change to the ring, shared by the commands that make it and plan. */
#ifndef NEARBY_RINGCTL_CHANGE_H
#define NEARBY_RINGCTL_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

enum ringctl_change_opt {
    RINGCTL_OPT_WEIGHT = 1,
    RINGCTL_OPT_VNODES,
    RINGCTL_OPT_FORCE,
    RINGCTL_OPT_NO_WAIT,
    RINGCTL_OPT_TIMEOUT,
};

struct ringctl_change {
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    uint64_t weight;   /* 0: the default of 1 */
    uint64_t vnodes;   /* 0: RING_VNODES_DEFAULT */
    int force;
    int no_wait;       /* --no-wait: return after the first write of a two-phase change */
    uint64_t timeout_s; /* --timeout: give up (and roll back) after this long; 0 = default */
    char note[2 * RING_ID_MAX + 2 * RING_ADDR_MAX + 96]; /* what the change did, for the report */
    /* A standby whose address replace took over, to give back on rollback. */
    char standby_id[RING_ID_MAX + 1];
    uint32_t standby_weight;
};

/* Takes --weight, --vnodes, --force, --no-wait, --timeout into a struct ringctl_change. */
int ringctl_on_change_option(int opt, const char *arg, void *state);

/* ring_store_apply_fn implementations: each checks its preconditions on the
 * ring it is given and changes it, or writes why not into err and returns -1. */
int ringctl_apply_add_active(struct ring *ring, void *change, char *err, size_t errlen);
int ringctl_apply_add_standby(struct ring *ring, void *change, char *err, size_t errlen);
int ringctl_apply_drain(struct ring *ring, void *change, char *err, size_t errlen);
int ringctl_apply_remove(struct ring *ring, void *change, char *err, size_t errlen);
int ringctl_apply_replace(struct ring *ring, void *change, char *err, size_t errlen);

#endif
