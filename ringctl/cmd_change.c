/* cmd_change.c: the commands that change the ring: init, add, add-standby, drain, remove, replace.
 *
 * add and drain are planned changes in two phases (rollout.c); the others are
 * one compare-and-set write of epoch+1 (ring_store_update). The apply
 * functions below may run more than once when another operator wins the
 * race, so they check their preconditions against the ring they get.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_store.h"
#include "change.h"
#include "pubsub_check.h"
#include "ringctl.h"
#include "rollout.h"

int ringctl_on_change_option(int opt, const char *arg, void *state)
{
    struct ringctl_change *change = state;

    switch (opt) {
    case RINGCTL_OPT_WEIGHT:
        return ringctl_parse_uint(arg, 1, RING_WEIGHT_MAX, &change->weight);
    case RINGCTL_OPT_VNODES:
        return ringctl_parse_uint(arg, 1, RING_VNODES_MAX, &change->vnodes);
    case RINGCTL_OPT_FORCE:
        change->force = 1;
        return 0;
    case RINGCTL_OPT_NO_WAIT:
        change->no_wait = 1;
        return 0;
    case RINGCTL_OPT_TIMEOUT:
        return ringctl_parse_uint(arg, 1, 86400, &change->timeout_s);
    }
    return -1;
}

/* Returns the number of nodes that own hash space in the new view, not
 * counting skip (may be NULL). */
static size_t owning_nodes(const struct ring *ring, const char *skip)
{
    size_t count = 0;

    for (size_t i = 0; i < ring_node_count(ring); i++) {
        const struct ring_node *node = ring_node_at(ring, i);

        if ((node->state == RING_STATE_ACTIVE || node->state == RING_STATE_JOINING) &&
            (!skip || strcmp(node->id, skip) != 0))
            count++;
    }
    return count;
}

static int apply_add(struct ring *ring, void *arg, char *err, size_t errlen, enum ring_state state)
{
    struct ringctl_change *change = arg;
    const struct ring_node *same_id = ring_find(ring, change->id);
    const struct ring_node *same_addr = ring_find_addr(ring, change->addr);
    int rc;

    if (same_id) {
        snprintf(err, errlen,
                 "node %s is already in ring %s (%s, %s); use 'ringctl replace %s HOST:PORT' "
                 "to give it a new address",
                 same_id->id, ring_name(ring), same_id->addr, ring_state_name(same_id->state),
                 same_id->id);
        return -1;
    }
    if (same_addr) {
        snprintf(err, errlen, "address %s is already used by node %s (%s)", change->addr,
                 same_addr->id, ring_state_name(same_addr->state));
        return -1;
    }
    rc = ring_add_node(ring, change->id, change->addr, change->weight ? (uint32_t)change->weight : 1,
                       state);
    if (rc < 0) {
        snprintf(err, errlen, "cannot add node %s: %s", change->id, ring_strerror(rc));
        return -1;
    }
    return 0;
}

int ringctl_apply_add_active(struct ring *ring, void *arg, char *err, size_t errlen)
{
    return apply_add(ring, arg, err, errlen, RING_STATE_ACTIVE);
}

/* add, phase 1: the node joins (owns its share in the new view only). */
static int add_begin(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    snprintf(change->note, sizeof(change->note), "%s joining at %s", change->id, change->addr);
    return apply_add(ring, arg, err, errlen, RING_STATE_JOINING);
}

static int add_begun(const struct ring *ring, const struct ringctl_change *change)
{
    const struct ring_node *node = ring_find(ring, change->id);

    return node && node->state == RING_STATE_JOINING && strcmp(node->addr, change->addr) == 0;
}

/* Checks that node id is in state want; else explains and returns -1. */
static int expect_state(const struct ring *ring, const char *id, enum ring_state want, char *err,
                        size_t errlen)
{
    const struct ring_node *node = ring_find(ring, id);

    if (node && node->state == want)
        return 0;
    snprintf(err, errlen, "node %s is %s now, not %s: someone else changed it meanwhile "
             "(see 'ringctl show')", id, node ? ring_state_name(node->state) : "gone",
             ring_state_name(want));
    return -1;
}

static int add_finish(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (expect_state(ring, change->id, RING_STATE_JOINING, err, errlen) < 0)
        return -1;
    snprintf(change->note, sizeof(change->note), "%s active", change->id);
    return ring_set_state(ring, change->id, RING_STATE_ACTIVE) < 0 ? -1 : 0;
}

static int add_undo(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (expect_state(ring, change->id, RING_STATE_JOINING, err, errlen) < 0)
        return -1;
    return ring_remove_node(ring, change->id) < 0 ? -1 : 0;
}

int ringctl_apply_add_standby(struct ring *ring, void *arg, char *err, size_t errlen)
{
    return apply_add(ring, arg, err, errlen, RING_STATE_STANDBY);
}

/* Checks that the node named by change may be drained from ring. */
static int check_drain(const struct ring *ring, struct ringctl_change *change, char *err,
                       size_t errlen)
{
    const struct ring_node *node = ring_find(ring, change->id);

    if (!node) {
        snprintf(err, errlen, "no node %s in ring %s (see 'ringctl show')", change->id,
                 ring_name(ring));
        return -1;
    }
    if (node->state == RING_STATE_STANDBY) {
        snprintf(err, errlen, "node %s owns no hash space already (standby); remove it with "
                 "'ringctl remove %s'", node->id, node->id);
        return -1;
    }
    if (owning_nodes(ring, node->id) == 0) {
        snprintf(err, errlen, "node %s is the last node that owns hash space; add another "
                 "node before draining it", node->id);
        return -1;
    }
    if (node->state != RING_STATE_ACTIVE) {
        snprintf(err, errlen, "node %s is %s: let that change finish first (run it again to "
                 "resume it)", node->id, ring_state_name(node->state));
        return -1;
    }
    return 0;
}

/* drain, phase 1: the node leaves (owns its share in the old view only). */
static int drain_begin(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (check_drain(ring, change, err, errlen) < 0)
        return -1;
    snprintf(change->note, sizeof(change->note), "%s leaving", change->id);
    return ring_set_state(ring, change->id, RING_STATE_LEAVING) < 0 ? -1 : 0;
}

static int drain_begun(const struct ring *ring, const struct ringctl_change *change)
{
    const struct ring_node *node = ring_find(ring, change->id);

    return node && node->state == RING_STATE_LEAVING;
}

/* drain, phase 2: the node owns nothing and stays as a standby. */
static int drain_finish(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (expect_state(ring, change->id, RING_STATE_LEAVING, err, errlen) < 0)
        return -1;
    snprintf(change->note, sizeof(change->note), "%s standby; remove it with 'ringctl remove %s'",
             change->id, change->id);
    return ring_set_state(ring, change->id, RING_STATE_STANDBY) < 0 ? -1 : 0;
}

static int drain_undo(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (expect_state(ring, change->id, RING_STATE_LEAVING, err, errlen) < 0)
        return -1;
    return ring_set_state(ring, change->id, RING_STATE_ACTIVE) < 0 ? -1 : 0;
}

/* drain in one write, for plan: the node goes straight to standby. */
int ringctl_apply_drain(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (check_drain(ring, change, err, errlen) < 0)
        return -1;
    return ring_set_state(ring, change->id, RING_STATE_STANDBY) < 0 ? -1 : 0;
}

int ringctl_apply_remove(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;
    const struct ring_node *node = ring_find(ring, change->id);

    if (!node) {
        snprintf(err, errlen, "no node %s in ring %s (see 'ringctl show')", change->id,
                 ring_name(ring));
        return -1;
    }
    if (node->state != RING_STATE_STANDBY) {
        if (!change->force) {
            snprintf(err, errlen, "node %s still owns hash space (%s); drain it first with "
                     "'ringctl drain %s', or pass --force to drop it and move its channels "
                     "at once", node->id, ring_state_name(node->state), node->id);
            return -1;
        }
        if (owning_nodes(ring, node->id) == 0) {
            snprintf(err, errlen, "node %s is the last node that owns hash space; even with "
                     "--force a ring needs one", node->id);
            return -1;
        }
    }
    return ring_remove_node(ring, change->id) < 0 ? -1 : 0;
}

/* Gives node change->id the address change->addr, consuming the standby
 * that holds it if any (recorded in change->standby_id for a rollback), and
 * from as the address it moves from ("" for none). */
static int take_address(struct ring *ring, struct ringctl_change *change, const char *from,
                        char *err, size_t errlen)
{
    const struct ring_node *node = ring_find(ring, change->id);
    const struct ring_node *holder = ring_find_addr(ring, change->addr);

    change->standby_id[0] = '\0';
    if (!node) {
        snprintf(err, errlen, "no node %s in ring %s (see 'ringctl show')", change->id,
                 ring_name(ring));
        return -1;
    }
    if (holder == node) {
        snprintf(err, errlen, "node %s has address %s already", node->id, node->addr);
        return -1;
    }
    if (holder && holder->state != RING_STATE_STANDBY) {
        snprintf(err, errlen, "address %s belongs to node %s (%s); only a standby node's "
                 "address can be taken over", change->addr, holder->id,
                 ring_state_name(holder->state));
        return -1;
    }
    if (holder) {
        /* Taking over a standby: the standby entry goes, its server now serves id. */
        snprintf(change->standby_id, sizeof(change->standby_id), "%s", holder->id);
        change->standby_weight = holder->weight;
        if (ring_remove_node(ring, change->standby_id) < 0)
            return -1;
    }
    if (ring_set_addr(ring, change->id, change->addr) < 0 || ring_set_from(ring, change->id, from) < 0) {
        snprintf(err, errlen, "cannot give %s the address %s", change->id, change->addr);
        return -1;
    }
    return 0;
}

int ringctl_apply_replace(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    change->note[0] = '\0';
    if (take_address(ring, change, "", err, errlen) < 0)
        return -1;
    if (change->standby_id[0])
        snprintf(change->note, sizeof(change->note), " (took over standby node %s)",
                 change->standby_id);
    return 0;
}

/* replace, phase 1: the node moves; the old view still reaches it at its
 * old address (from=), the new view at the new one. */
static int replace_begin(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;
    const struct ring_node *node = ring_find(ring, change->id);
    char old[RING_ADDR_MAX + 1];

    if (node && (node->state != RING_STATE_ACTIVE || node->from[0])) {
        snprintf(err, errlen, "node %s is %s%s%s: let that change finish first (run it again "
                 "to resume it)", node->id, node->from[0] ? "moving from " : "",
                 node->from[0] ? node->from : ring_state_name(node->state),
                 node->from[0] ? " already" : "");
        return -1;
    }
    snprintf(old, sizeof(old), "%s", node ? node->addr : "");
    if (take_address(ring, change, old, err, errlen) < 0)
        return -1;
    snprintf(change->note, sizeof(change->note), "%s moving from %s to %s%s%s%s", change->id, old,
             change->addr, change->standby_id[0] ? ", the address of standby " : "",
             change->standby_id, change->standby_id[0] ? ", which goes" : "");
    return 0;
}

static int replace_begun(const struct ring *ring, const struct ringctl_change *change)
{
    const struct ring_node *node = ring_find(ring, change->id);

    return node && node->from[0] && strcmp(node->addr, change->addr) == 0;
}

/* Checks that node id is moving to change->addr; else explains. */
static int expect_moving(const struct ring *ring, const struct ringctl_change *change, char *err,
                         size_t errlen)
{
    if (replace_begun(ring, change))
        return 0;
    snprintf(err, errlen, "node %s is no longer moving to %s: someone else changed it meanwhile "
             "(see 'ringctl show')", change->id, change->addr);
    return -1;
}

static int replace_finish(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;

    if (expect_moving(ring, change, err, errlen) < 0)
        return -1;
    snprintf(change->note, sizeof(change->note), "%s at %s only", change->id, change->addr);
    return ring_set_from(ring, change->id, "") < 0 ? -1 : 0;
}

static int replace_undo(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct ringctl_change *change = arg;
    char old[RING_ADDR_MAX + 1];

    if (expect_moving(ring, change, err, errlen) < 0)
        return -1;
    snprintf(old, sizeof(old), "%s", ring_find(ring, change->id)->from);
    if (ring_set_from(ring, change->id, "") < 0 || ring_set_addr(ring, change->id, old) < 0)
        return -1;
    /* The standby comes back; should its address be taken meanwhile, it stays gone. */
    if (change->standby_id[0])
        ring_add_node(ring, change->standby_id, change->addr, change->standby_weight,
                      RING_STATE_STANDBY);
    return 0;
}

/* Runs one compare-and-set change and reports it. */
static int run_update(struct ringctl *ctl, ring_store_apply_fn apply, struct ringctl_change *change,
                      const char *verb, const char *prep)
{
    char err[512];
    struct ring *ring = NULL;
    zhandle_t *zh = ringctl_connect(ctl);
    int rc;

    if (!zh)
        return RINGCTL_EXIT_FAILED;
    rc = ring_store_update(zh, ctl->root, ctl->ring, apply, change, &ring, err, sizeof(err));
    zookeeper_close(zh);
    if (rc < 0)
        return ringctl_fail(ctl, "%s", err);
    if (ctl->json) {
        ringctl_print_ring(ctl, ring, -1);
    } else {
        printf("%s %s%s%s%s: ring %s is now at epoch %llu\n", verb, change->id,
               change->addr[0] ? prep : "", change->addr, change->note, ring_name(ring),
               (unsigned long long)ring_epoch(ring));
    }
    ring_free(ring);
    return RINGCTL_EXIT_OK;
}

static int run_init(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;
    struct ring *ring;
    zhandle_t *zh = NULL;
    char err[512];
    int rc;

    if (argc < 2)
        return ringctl_usage_error(ctl, "name at least one node: ID=HOST:PORT...");
    ring = ring_new(ctl->ring, 1, change->vnodes ? (uint32_t)change->vnodes : RING_VNODES_DEFAULT);
    if (!ring)
        return ringctl_fail(ctl, "out of memory");
    for (int i = 1; i < argc; i++) {
        rc = ringctl_parse_node_arg(ctl, argv[i], change->id, change->addr);
        if (rc < 0) {
            rc = RINGCTL_EXIT_USAGE;
            goto out;
        }
        rc = ring_add_node(ring, change->id, change->addr,
                           change->weight ? (uint32_t)change->weight : 1, RING_STATE_ACTIVE);
        if (rc < 0) {
            rc = ringctl_usage_error(ctl, "cannot add %s: %s", argv[i], ring_strerror(rc));
            goto out;
        }
    }
    rc = ring_build(ring);
    if (rc < 0) {
        rc = ringctl_fail(ctl, "cannot build the ring: %s", ring_strerror(rc));
        goto out;
    }
    zh = ringctl_connect(ctl);
    if (!zh) {
        rc = RINGCTL_EXIT_FAILED;
        goto out;
    }
    if (ring_store_create(zh, ctl->root, ctl->ring, ring, err, sizeof(err)) < 0) {
        rc = ringctl_fail(ctl, "%s", err);
        goto out;
    }
    if (ctl->json)
        ringctl_print_ring(ctl, ring, 0);
    else
        printf("created ring %s at epoch 1 with %zu nodes\n", ctl->ring, ring_node_count(ring));
    rc = RINGCTL_EXIT_OK;
out:
    if (zh)
        zookeeper_close(zh);
    ring_free(ring);
    return rc;
}

static const struct ringctl_rollout add_rollout = {
    "added", " at ", add_begun, add_begin, add_finish, add_undo, 1,
};

static const struct ringctl_rollout drain_rollout = {
    "drained", "", drain_begun, drain_begin, drain_finish, drain_undo, 0,
};

static const struct ringctl_rollout replace_rollout = {
    "moved", " to ", replace_begun, replace_begin, replace_finish, replace_undo, 1,
};

static int run_add(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;

    if (argc != 2)
        return ringctl_usage_error(ctl, "want exactly one ID=HOST:PORT");
    if (ringctl_parse_node_arg(ctl, argv[1], change->id, change->addr) < 0)
        return RINGCTL_EXIT_USAGE;
    return ringctl_rollout_run(ctl, &add_rollout, change);
}

static int run_add_standby(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;

    if (argc != 2)
        return ringctl_usage_error(ctl, "want exactly one ID=HOST:PORT");
    if (ringctl_parse_node_arg(ctl, argv[1], change->id, change->addr) < 0)
        return RINGCTL_EXIT_USAGE;
    return run_update(ctl, ringctl_apply_add_standby, change, "added standby", " at ");
}

/* Checks the single ID argument of drain and remove into change->id. */
static int take_id(struct ringctl *ctl, int argc, char **argv, struct ringctl_change *change)
{
    if (argc != 2)
        return ringctl_usage_error(ctl, "want exactly one node ID");
    if (!ring_valid_id(argv[1]))
        return ringctl_usage_error(ctl, "bad node id '%s'", argv[1]);
    snprintf(change->id, sizeof(change->id), "%s", argv[1]);
    return RINGCTL_EXIT_OK;
}

static int run_drain(struct ringctl *ctl, int argc, char **argv, void *state)
{
    int rc = take_id(ctl, argc, argv, state);

    return rc ? rc : ringctl_rollout_run(ctl, &drain_rollout, state);
}

/* Before a standby node goes: nobody may still listen on it, or a gateway
 * that has not let go would lose what is published there. */
static int check_unused(struct ringctl *ctl, const struct ringctl_change *change)
{
    zhandle_t *zh = ringctl_connect(ctl);
    struct ring *ring = zh ? ringctl_read_nodes(ctl, zh, NULL) : NULL;
    const struct ring_node *node = ring ? ring_find(ring, change->id) : NULL;
    char err[512];
    long long count = 0;
    int rc = RINGCTL_EXIT_OK;

    if (zh)
        zookeeper_close(zh);
    if (!ring)
        return RINGCTL_EXIT_FAILED;
    if (node && node->state == RING_STATE_STANDBY) {
        if (ringctl_pubsub_count(ctl, node->addr, 2000, &count, err, sizeof(err)) < 0)
            rc = ringctl_fail(ctl, "cannot check that node %s at %s carries no subscriptions: "
                              "%s; if that server is gone for good, pass --force", node->id,
                              node->addr, err);
        else if (count > 0)
            rc = ringctl_fail(ctl, "node %s at %s still carries %lld subscribed channels "
                              "(PUBSUB CHANNELS): a gateway has not let go yet; see "
                              "'ringctl status', or pass --force", node->id, node->addr, count);
    }
    ring_free(ring);
    return rc;
}

static int run_remove(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;
    int rc = take_id(ctl, argc, argv, state);

    if (rc == RINGCTL_EXIT_OK && !change->force)
        rc = check_unused(ctl, change);
    return rc ? rc : run_update(ctl, ringctl_apply_remove, state, "removed", "");
}

static int run_replace(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;

    if (argc != 3)
        return ringctl_usage_error(ctl, "want ID HOST:PORT");
    if (!ring_valid_id(argv[1]))
        return ringctl_usage_error(ctl, "bad node id '%s'", argv[1]);
    if (strlen(argv[2]) > RING_ADDR_MAX || !ring_valid_addr(argv[2]))
        return ringctl_usage_error(ctl, "bad address '%s': want HOST:PORT, port 1-65535", argv[2]);
    snprintf(change->id, sizeof(change->id), "%s", argv[1]);
    snprintf(change->addr, sizeof(change->addr), "%s", argv[2]);
    return ringctl_rollout_run(ctl, &replace_rollout, change);
}

static const struct option weight_options[] = {
    {"weight", required_argument, NULL, RINGCTL_OPT_WEIGHT},
    {NULL, 0, NULL, 0},
};

static const struct option add_options[] = {
    {"weight", required_argument, NULL, RINGCTL_OPT_WEIGHT},
    {"no-wait", no_argument, NULL, RINGCTL_OPT_NO_WAIT},
    {"timeout", required_argument, NULL, RINGCTL_OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static const struct option wait_options[] = {
    {"no-wait", no_argument, NULL, RINGCTL_OPT_NO_WAIT},
    {"timeout", required_argument, NULL, RINGCTL_OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* The part of the usage that add and drain share. */
#define TWO_PHASE_USAGE                                                                        \
    "  --no-wait    return after phase 1; running the same command again resumes\n"           \
    "  --timeout S  give up after S seconds (default 300); while phase 1 waits, giving up\n"  \
    "               (or Ctrl-C) writes one more epoch with the old membership\n"              \
    "  Two phases: epoch e+1 with the node " 

static const struct option init_options[] = {
    {"weight", required_argument, NULL, RINGCTL_OPT_WEIGHT},
    {"vnodes", required_argument, NULL, RINGCTL_OPT_VNODES},
    {NULL, 0, NULL, 0},
};

static const struct option force_options[] = {
    {"force", no_argument, NULL, RINGCTL_OPT_FORCE},
    {NULL, 0, NULL, 0},
};

const struct ringctl_command ringctl_cmd_init = {
    .name = "init",
    .summary = "create the ring over the given nodes (refuses if it exists)",
    .usage = "init [--vnodes V] [--weight W] ID=HOST:PORT...\n"
             "  --vnodes V   virtual nodes per unit of weight (default " RINGCTL_STR(RING_VNODES_DEFAULT) ")\n"
             "  --weight W   weight of every node, 1..100 (default 1)\n",
    .options = init_options,
    .on_option = ringctl_on_change_option,
    .run = run_init,
    .state_size = sizeof(struct ringctl_change),
};

const struct ringctl_command ringctl_cmd_add = {
    .name = "add",
    .summary = "add a node in two phases, waiting for every gateway (no update lost)",
    .usage = "add [--weight W] [--no-wait] [--timeout S] ID=HOST:PORT\n"
             "  --weight W   the node's weight, 1..100 (default 1)\n"
             TWO_PHASE_USAGE "joining (gateways subscribe on it and publish\n"
             "  to both owners), then, once every gateway in 'ringctl status' applied it,\n"
             "  e+2 with the node active; waits for that too.\n",
    .options = add_options,
    .on_option = ringctl_on_change_option,
    .run = run_add,
    .state_size = sizeof(struct ringctl_change),
};

const struct ringctl_command ringctl_cmd_add_standby = {
    .name = "add-standby",
    .summary = "add a standby node that owns nothing until it replaces a dead one",
    .usage = "add-standby [--weight W] ID=HOST:PORT\n"
             "  --weight W   the node's weight, 1..100 (default 1)\n",
    .options = weight_options,
    .on_option = ringctl_on_change_option,
    .run = run_add_standby,
    .state_size = sizeof(struct ringctl_change),
};

const struct ringctl_command ringctl_cmd_drain = {
    .name = "drain",
    .summary = "move a node's hash space to the others in two phases (it becomes standby)",
    .usage = "drain [--no-wait] [--timeout S] ID\n"
             TWO_PHASE_USAGE "leaving (gateways subscribe on the new owners\n"
             "  and publish to both), then, once every gateway in 'ringctl status' applied\n"
             "  it, e+2 with the node standby; waits for that too. Then 'ringctl remove ID'.\n",
    .options = wait_options,
    .on_option = ringctl_on_change_option,
    .run = run_drain,
    .state_size = sizeof(struct ringctl_change),
};

const struct ringctl_command ringctl_cmd_remove = {
    .name = "remove",
    .summary = "delete a standby node once no gateway subscribes on it (--force: anyway)",
    .usage = "remove [--force] ID\n"
             "  A standby node (drained, or never used) is removed only when its Redis\n"
             "  answers PUBSUB CHANNELS with nothing: no gateway still listens there.\n"
             "  --force      remove it even while it owns hash space, or is unreachable\n",
    .options = force_options,
    .on_option = ringctl_on_change_option,
    .run = run_remove,
    .state_size = sizeof(struct ringctl_change),
};

const struct ringctl_command ringctl_cmd_replace = {
    .name = "replace",
    .summary = "give a node a new address in two phases (only its channels move)",
    .usage = "replace [--no-wait] [--timeout S] ID HOST:PORT\n"
             TWO_PHASE_USAGE "at both addresses (gateways subscribe at\n"
             "  the new one and publish to both), then, once every gateway in 'ringctl\n"
             "  status' applied it, e+2 with the new address only; waits for that too.\n"
             "  Vnode positions derive from the id, so nothing else moves. If HOST:PORT is\n"
             "  a standby node's address, that standby entry is consumed.\n",
    .options = wait_options,
    .on_option = ringctl_on_change_option,
    .run = run_replace,
    .state_size = sizeof(struct ringctl_change),
};
