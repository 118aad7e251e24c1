/* cmd_show.c: the commands that read the ring: show, locate, status. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateways.h"
#include "ring_store.h"
#include "ringctl.h"

#define CHANNEL_MAX 256

static int run_show(struct ringctl *ctl, int argc, char **argv, void *state)
{
    zhandle_t *zh;
    struct ring *ring;
    int32_t version;

    if (argc != 1)
        return ringctl_usage_error(ctl, "show takes no arguments");
    zh = ringctl_connect(ctl);
    if (!zh)
        return RINGCTL_EXIT_FAILED;
    ring = ringctl_read_ring(ctl, zh, &version);
    zookeeper_close(zh);
    if (!ring)
        return RINGCTL_EXIT_FAILED;
    ringctl_print_ring(ctl, ring, version);
    ring_free(ring);
    return RINGCTL_EXIT_OK;
}

static void print_owner_json(const char *key, const struct ring_node *node)
{
    printf(",\"%s\":", key);
    if (!node) {
        printf("null");
        return;
    }
    printf("{\"id\":");
    ringctl_json_string(stdout, node->id);
    printf(",\"addr\":");
    ringctl_json_string(stdout, node->addr);
    printf("}");
}

static int run_locate(struct ringctl *ctl, int argc, char **argv, void *state)
{
    char channel[CHANNEL_MAX + 1];
    const struct ring_node *old_owner, *new_owner;
    struct ring *ring;
    zhandle_t *zh;
    uint64_t user, hash;

    if (argc != 2)
        return ringctl_usage_error(ctl, "want one USER_ID or channel name");
    if (ringctl_parse_uint(argv[1], 0, UINT64_MAX, &user) == 0)
        ring_user_channel(user, channel);
    else if (strlen(argv[1]) <= CHANNEL_MAX && !isdigit((unsigned char)argv[1][0]))
        snprintf(channel, sizeof(channel), "%s", argv[1]);
    else
        return ringctl_usage_error(ctl, "'%s' is neither a user id (0..2^64-1) nor a channel "
                                   "name of at most %d bytes", argv[1], CHANNEL_MAX);
    hash = ring_hash(channel, strlen(channel));

    zh = ringctl_connect(ctl);
    if (!zh)
        return RINGCTL_EXIT_FAILED;
    ring = ringctl_read_ring(ctl, zh, NULL);
    zookeeper_close(zh);
    if (!ring)
        return RINGCTL_EXIT_FAILED;
    old_owner = ring_owner(ring, RING_VIEW_OLD, hash);
    new_owner = ring_owner(ring, RING_VIEW_NEW, hash);
    if (ctl->json) {
        printf("{\"channel\":");
        ringctl_json_string(stdout, channel);
        printf(",\"hash\":\"0x%016" PRIx64 "\",\"epoch\":%" PRIu64, hash, ring_epoch(ring));
        print_owner_json("owner", new_owner);
        if (old_owner != new_owner)
            print_owner_json("old_owner", old_owner);
        printf("}\n");
    } else if (!new_owner) {
        printf("channel %s (hash 0x%016" PRIx64 ") has no owner: no node owns hash space\n",
               channel, hash);
    } else if (old_owner != new_owner) {
        printf("channel %s (hash 0x%016" PRIx64 ") moves from %s %s to %s %s (epoch %" PRIu64
               " in transition)\n", channel, hash, old_owner ? old_owner->id : "-",
               old_owner ? old_owner->addr : "-", new_owner->id, new_owner->addr, ring_epoch(ring));
    } else {
        printf("channel %s (hash 0x%016" PRIx64 ") is owned by %s at %s (epoch %" PRIu64 ")\n",
               channel, hash, new_owner->id, new_owner->addr, ring_epoch(ring));
    }
    ring_free(ring);
    return new_owner ? RINGCTL_EXIT_OK : RINGCTL_EXIT_FAILED;
}

static int run_status(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct ringctl_gateway *gws = NULL;
    struct ring *ring = NULL;
    size_t count = 0;
    zhandle_t *zh;
    long long ring_epoch_now = -1;
    int zrc;

    if (argc != 1)
        return ringctl_usage_error(ctl, "status takes no arguments");
    zh = ringctl_connect(ctl);
    if (!zh)
        return RINGCTL_EXIT_FAILED;
    ring = ringctl_read_nodes(ctl, zh, NULL);
    if (ring)
        ring_epoch_now = (long long)ring_epoch(ring);
    ring_free(ring);
    zrc = ringctl_gateways_read(zh, ctl->root, &gws, &count);
    zookeeper_close(zh);
    if (zrc != ZOK)
        return ringctl_fail(ctl, "cannot list the gateways under %s: %s", ctl->root, zerror(zrc));
    if (ctl->json)
        printf("{\"ring_epoch\":%lld,\"gateways\":[", ring_epoch_now);
    else if (count == 0)
        printf("no gateways registered under %s/gateways (ring %s at epoch %lld)\n",
               strcmp(ctl->root, "/") ? ctl->root : "", ctl->ring, ring_epoch_now);
    else
        printf("%-24s %-24s %8s %6s %s\n", "GATEWAY", "ADDRESS", "EPOCH", "LAG", "REPORTS DEAD");
    for (size_t i = 0; i < count; i++) {
        const struct ringctl_gateway *gw = &gws[i];
        long long lag = gw->epoch >= 0 && ring_epoch_now >= 0 ? ring_epoch_now - gw->epoch : -1;

        if (ctl->json) {
            printf("%s{\"id\":", i ? "," : "");
            ringctl_json_string(stdout, gw->id);
            printf(",\"addr\":");
            ringctl_json_string(stdout, gw->addr);
            printf(",\"epoch\":%lld,\"lag\":%lld,\"dead\":", gw->epoch, lag);
            ringctl_json_string(stdout, gw->dead);
            printf(",\"admin\":");
            ringctl_json_string(stdout, gw->admin);
            printf(",\"sessions\":%lld,\"pushes_per_s\":%lld", gw->sessions, gw->pushes_per_s);
            /* Which registration this is: a gateway that registers again (a new
             * session) shows a new session and czxid. */
            printf(",\"session\":\"0x%llx\",\"czxid\":\"0x%llx\"}",
                   (unsigned long long)gw->session, (unsigned long long)gw->czxid);
        } else {
            printf("%-24s %-24s %8lld %6lld %s\n", gw->id, gw->addr[0] ? gw->addr : "-",
                   gw->epoch, lag, gw->dead[0] ? gw->dead : "-");
        }
    }
    if (ctl->json)
        printf("]}\n");
    free(gws);
    return RINGCTL_EXIT_OK;
}

const struct ringctl_command ringctl_cmd_show = {
    .name = "show",
    .summary = "print the ring: epoch, and each node's address, weight, state and share",
    .usage = "show\n",
    .run = run_show,
};

const struct ringctl_command ringctl_cmd_locate = {
    .name = "locate",
    .summary = "print the node that owns a user's channel (or any channel name)",
    .usage = "locate USER_ID|CHANNEL\n"
             "  A number is a user id and stands for its channel u:USER_ID.\n",
    .run = run_locate,
};

const struct ringctl_command ringctl_cmd_status = {
    .name = "status",
    .summary = "list the gateways registered in ZooKeeper and the ring epoch each applied",
    .usage = "status\n",
    .run = run_status,
};
