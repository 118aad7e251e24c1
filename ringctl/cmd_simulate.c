/* cmd_simulate.c: `ringctl simulate`, offline balance and movement figures for choosing vnodes. */
#include <stdio.h>

#include "ring_sim.h"
#include "ringctl.h"

enum simulate_opt {
    OPT_NODES = 1,
    OPT_VNODES,
    OPT_KEYS,
    OPT_ADD,
    OPT_REMOVE,
    OPT_SEED,
};

struct simulate {
    uint64_t nodes, vnodes, keys, add, remove, seed;
    int seed_set;
};

static int on_simulate_option(int opt, const char *arg, void *state)
{
    struct simulate *sim = state;

    switch (opt) {
    case OPT_NODES:
        return ringctl_parse_uint(arg, 1, RING_NODES_MAX, &sim->nodes);
    case OPT_VNODES:
        return ringctl_parse_uint(arg, 1, RING_VNODES_MAX, &sim->vnodes);
    case OPT_KEYS:
        return ringctl_parse_uint(arg, 1, UINT32_MAX, &sim->keys);
    case OPT_ADD:
        return ringctl_parse_uint(arg, 1, RING_NODES_MAX, &sim->add);
    case OPT_REMOVE:
        return ringctl_parse_uint(arg, 1, RING_NODES_MAX, &sim->remove);
    case OPT_SEED:
        sim->seed_set = 1;
        return ringctl_parse_uint(arg, 0, UINT64_MAX, &sim->seed);
    }
    return -1;
}

static int run_simulate(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct simulate *sim = state;
    struct ring_sim_result result;
    int rc;

    if (argc != 1)
        return ringctl_usage_error(ctl, "simulate takes only flags");
    if (!sim->nodes)
        return ringctl_usage_error(ctl, "--nodes N is required");
    if (sim->add && sim->remove)
        return ringctl_usage_error(ctl, "give --add or --remove, not both");
    if (sim->remove >= sim->nodes)
        return ringctl_usage_error(ctl, "--remove must leave at least one of the %llu nodes",
                                   (unsigned long long)sim->nodes);
    if (sim->nodes + sim->add > RING_NODES_MAX)
        return ringctl_usage_error(ctl, "at most %d nodes in all", RING_NODES_MAX);
    if (!sim->vnodes)
        sim->vnodes = RING_VNODES_DEFAULT;
    if (!sim->keys)
        sim->keys = 1000000;
    if (!sim->seed_set)
        sim->seed = 1;

    rc = ring_simulate((uint32_t)sim->nodes, (uint32_t)sim->vnodes, (uint32_t)sim->add,
                       (uint32_t)sim->remove, sim->seed, &result);
    if (rc < 0)
        return ringctl_fail(ctl, "simulation failed: %s", ring_strerror(rc));
    if (ctl->json)
        printf("{\"nodes\":%u,\"vnodes\":%u,\"keys\":%llu,\"max_over_mean\":%.6f,"
               "\"min_over_mean\":%.6f,\"moved_fraction\":%.6f,\"ideal_moved_fraction\":%.6f}\n",
               result.nodes, result.vnodes, (unsigned long long)sim->keys, result.max_over_mean,
               result.min_over_mean, result.moved_fraction, result.ideal_moved_fraction);
    else
        printf("nodes=%u vnodes=%u keys=%llu max_over_mean=%.6f min_over_mean=%.6f "
               "moved_fraction=%.6f ideal_moved_fraction=%.6f\n",
               result.nodes, result.vnodes, (unsigned long long)sim->keys, result.max_over_mean,
               result.min_over_mean, result.moved_fraction, result.ideal_moved_fraction);
    return RINGCTL_EXIT_OK;
}

static const struct option simulate_options[] = {
    {"nodes", required_argument, NULL, OPT_NODES},
    {"vnodes", required_argument, NULL, OPT_VNODES},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"add", required_argument, NULL, OPT_ADD},
    {"remove", required_argument, NULL, OPT_REMOVE},
    {"seed", required_argument, NULL, OPT_SEED},
    {NULL, 0, NULL, 0},
};

const struct ringctl_command ringctl_cmd_simulate = {
    .name = "simulate",
    .summary = "offline: balance and movement of a ring of N nodes (no ZooKeeper)",
    .usage = "simulate --nodes N [--vnodes V] [--keys M] [--add K | --remove K] [--seed S]\n"
             "  --nodes N    nodes in the ring (required)\n"
             "  --vnodes V   virtual nodes per node (default " RINGCTL_STR(RING_VNODES_DEFAULT) ")\n"
             "  --keys M     reported as keys=M (shares are exact arc lengths, not samples;\n"
             "               default 1000000)\n"
             "  --add K      add K nodes and report the share of the hash space that moves\n"
             "  --remove K   remove K nodes instead\n"
             "  --seed S     node ids derive from S: another seed, another ring (default 1)\n"
             "Prints: nodes= vnodes= keys= max_over_mean= min_over_mean= moved_fraction=\n"
             "ideal_moved_fraction= (each node's exact share over the mean share).\n",
    .options = simulate_options,
    .on_option = on_simulate_option,
    .run = run_simulate,
    .state_size = sizeof(struct simulate),
};
