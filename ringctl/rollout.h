/* rollout.h: a planned ring change in two phases, waiting for every live gateway between them.
 *
 * DESIGN.md, "Changing the ring without losing an update": phase 1 writes
 * epoch e+1 with the node joining or leaving (gateways listen on both owners
 * and publish to both); once every gateway registered under ROOT/gateways
 * reports e+1 applied (its subscriptions confirmed by Redis), phase 2 writes
 * the change final and waits the same way. A phase-1 write only changes the
 * ring's new view and a phase-2 write only its old view, so gateways on two
 * neighbouring epochs always share an owner for every channel.
 *
 * Giving up (--timeout, SIGINT, SIGTERM) while waiting for phase 1 writes one
 * more epoch with the old membership (undo); once phase 2 is written the
 * change stands and giving up only stops the wait.
 */
#ifndef NEARBY_RINGCTL_ROLLOUT_H
#define NEARBY_RINGCTL_ROLLOUT_H

#include "change.h"
#include "ring_store.h"
#include "ringctl.h"

#define RINGCTL_TIMEOUT_DEFAULT_S 300

struct ringctl_rollout {
    const char *verb;     /* past tense for the report: "added", "drained", "moved" */
    const char *prep;     /* between the id and the address in the report: " at ", " to " */
    /* Returns 1 when ring already holds this change's phase 1 (an earlier
     * run with --no-wait, or one interrupted): the run then resumes. */
    int (*begun)(const struct ring *ring, const struct ringctl_change *change);
    ring_store_apply_fn begin;  /* phase 1 */
    ring_store_apply_fn finish; /* phase 2 */
    ring_store_apply_fn undo;   /* from phase 1 back to the old membership */
    /* 1 when the node must answer at its (new) address: a gateway that
     * applied phase 1 and finds it dead makes the change roll back. */
    int must_answer;
};

/* Runs the change described by change (its id, addr, no_wait, timeout_s)
 * and reports it. Returns a RINGCTL_EXIT_* status. */
int ringctl_rollout_run(struct ringctl *ctl, const struct ringctl_rollout *r,
                        struct ringctl_change *change);

#endif
