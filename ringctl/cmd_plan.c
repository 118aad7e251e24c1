/* cmd_plan.c: `ringctl plan`, a dry run of a change: what fraction of channels moves, and each node's share before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "ring_store.h"
#include "ringctl.h"

/* Prints the plan for moving from before to after (both built). */
static void print_plan(const struct ringctl *ctl, const char *what, const struct ring *before,
                       const struct ring *after, const double *share_before,
                       const double *share_after)
{
    double moved = ring_moved_fraction(before, RING_VIEW_NEW, after, RING_VIEW_NEW);
    size_t nb = ring_node_count(before), na = ring_node_count(after);

    if (ctl->json) {
        printf("{\"change\":");
        ringctl_json_string(stdout, what);
        printf(",\"epoch\":%llu,\"moved_fraction\":%.6f,\"nodes\":[",
               (unsigned long long)ring_epoch(before), moved);
    } else {
        printf("plan: %s on ring %s (epoch %llu)\n", what, ring_name(before),
               (unsigned long long)ring_epoch(before));
        printf("channels that move: %.4f%% of the hash space\n", moved * 100.0);
        printf("%-16s %-24s %9s %9s\n", "ID", "ADDRESS", "BEFORE", "AFTER");
    }
    /* Every node of either ring, in before's order, then the new ones. */
    for (size_t i = 0; i < nb + na; i++) {
        const struct ring_node *node = i < nb ? ring_node_at(before, i) : ring_node_at(after, i - nb);
        const struct ring_node *b = ring_find(before, node->id), *a = ring_find(after, node->id);
        double sb = b ? share_before[ring_node_index(before, b)] : 0.0;
        double sa = a ? share_after[ring_node_index(after, a)] : 0.0;

        if (i >= nb && b)
            continue;
        if (ctl->json) {
            printf("%s{\"id\":", i ? "," : "");
            ringctl_json_string(stdout, node->id);
            printf(",\"addr\":");
            ringctl_json_string(stdout, a ? a->addr : node->addr);
            printf(",\"share_before_percent\":%.4f,\"share_after_percent\":%.4f}", sb * 100.0,
                   sa * 100.0);
        } else {
            printf("%-16s %-24s %8.3f%% %8.3f%%%s\n", node->id, a ? a->addr : node->addr,
                   sb * 100.0, sa * 100.0, !a ? "  (removed)" : !b ? "  (new)" : "");
        }
    }
    if (ctl->json)
        printf("]}\n");
}

static int run_plan(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_change *change = state;
    ring_store_apply_fn apply;
    struct ring *before = NULL, *after = NULL;
    double *share_before = NULL, *share_after = NULL;
    char what[512], err[512];
    zhandle_t *zh;
    int rc;

    if (argc != 3)
        return ringctl_usage_error(ctl, "want 'plan add ID=HOST:PORT', 'plan drain ID' or "
                                   "'plan remove ID'");
    if (strcmp(argv[1], "add") == 0) {
        if (ringctl_parse_node_arg(ctl, argv[2], change->id, change->addr) < 0)
            return RINGCTL_EXIT_USAGE;
        apply = ringctl_apply_add_active;
    } else if (strcmp(argv[1], "drain") == 0 || strcmp(argv[1], "remove") == 0) {
        if (!ring_valid_id(argv[2]))
            return ringctl_usage_error(ctl, "bad node id '%s'", argv[2]);
        snprintf(change->id, sizeof(change->id), "%s", argv[2]);
        change->force = 1; /* plan what removing it would do, drained or not */
        apply = argv[1][0] == 'd' ? ringctl_apply_drain : ringctl_apply_remove;
    } else {
        return ringctl_usage_error(ctl, "unknown change '%s': plan add, drain or remove", argv[1]);
    }
    snprintf(what, sizeof(what), "%s %s", argv[1], argv[2]);

    zh = ringctl_connect(ctl);
    if (!zh)
        return RINGCTL_EXIT_FAILED;
    before = ringctl_read_ring(ctl, zh, NULL);
    zookeeper_close(zh);
    if (!before)
        return RINGCTL_EXIT_FAILED;
    after = ring_dup(before);
    if (!after) {
        rc = ringctl_fail(ctl, "out of memory");
        goto out;
    }
    if (apply(after, change, err, sizeof(err)) != 0) {
        rc = ringctl_fail(ctl, "%s", err);
        goto out;
    }
    rc = ring_build(after);
    share_before = calloc(ring_node_count(before) + 1, sizeof(double));
    share_after = calloc(ring_node_count(after) + 1, sizeof(double));
    if (rc < 0 || !share_before || !share_after) {
        rc = ringctl_fail(ctl, "cannot build the planned ring: %s",
                          ring_strerror(rc < 0 ? rc : RING_ERR_NOMEM));
        goto out;
    }
    ring_shares(before, RING_VIEW_NEW, share_before);
    ring_shares(after, RING_VIEW_NEW, share_after);
    print_plan(ctl, what, before, after, share_before, share_after);
    rc = RINGCTL_EXIT_OK;
out:
    free(share_before);
    free(share_after);
    ring_free(before);
    ring_free(after);
    return rc;
}

static const struct option plan_options[] = {
    {"weight", required_argument, NULL, RINGCTL_OPT_WEIGHT},
    {NULL, 0, NULL, 0},
};

const struct ringctl_command ringctl_cmd_plan = {
    .name = "plan",
    .summary = "dry run: which share of channels a change moves, node shares before/after",
    .usage = "plan add [--weight W] ID=HOST:PORT | plan drain ID | plan remove ID\n"
             "  Reads the ring and changes nothing.\n",
    .options = plan_options,
    .on_option = ringctl_on_change_option,
    .run = run_plan,
    .state_size = sizeof(struct ringctl_change),
};
