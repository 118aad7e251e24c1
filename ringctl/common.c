/* common.c: helpers every ringctl command uses: ZooKeeper access, argument parsing, output. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring_store.h"
#include "ringctl.h"

zhandle_t *ringctl_connect(const struct ringctl *ctl)
{
    char err[1024]; /* a failure names every server and its state */
    zhandle_t *zh;

    if (ring_store_connect(ctl->zk, ctl->connect_ms, &zh, err, sizeof(err)) < 0) {
        ringctl_fail(ctl, "%s", err);
        return NULL;
    }
    return zh;
}

static struct ring *read_ring(const struct ringctl *ctl, zhandle_t *zh, int build,
                              int32_t *version)
{
    char err[256];
    struct ring *ring;
    int32_t v;

    if ((build ? ring_store_get : ring_store_get_nodes)(zh, ctl->root, ctl->ring, &ring, &v, err,
                                                       sizeof(err)) < 0) {
        ringctl_fail(ctl, "%s", err);
        return NULL;
    }
    if (version)
        *version = v;
    return ring;
}

struct ring *ringctl_read_ring(const struct ringctl *ctl, zhandle_t *zh, int32_t *version)
{
    return read_ring(ctl, zh, 1, version);
}

struct ring *ringctl_read_nodes(const struct ringctl *ctl, zhandle_t *zh, int32_t *version)
{
    return read_ring(ctl, zh, 0, version);
}

int ringctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int ringctl_parse_node_arg(const struct ringctl *ctl, const char *arg, char *id, char *addr)
{
    const char *eq = strchr(arg, '=');
    size_t idlen;

    if (!eq) {
        ringctl_usage_error(ctl, "'%s' is not ID=HOST:PORT", arg);
        return -1;
    }
    idlen = (size_t)(eq - arg);
    if (idlen == 0 || idlen > RING_ID_MAX) {
        ringctl_usage_error(ctl, "bad node id in '%s': use 1-%d of A-Z a-z 0-9 . _ -", arg,
                            RING_ID_MAX);
        return -1;
    }
    memcpy(id, arg, idlen);
    id[idlen] = '\0';
    if (!ring_valid_id(id)) {
        ringctl_usage_error(ctl, "bad node id '%s': use 1-%d of A-Z a-z 0-9 . _ -", id, RING_ID_MAX);
        return -1;
    }
    if (strlen(eq + 1) > RING_ADDR_MAX || !ring_valid_addr(eq + 1)) {
        ringctl_usage_error(ctl, "bad address '%s': want HOST:PORT, port 1-65535", eq + 1);
        return -1;
    }
    strcpy(addr, eq + 1);
    return 0;
}

void ringctl_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void ringctl_print_ring(const struct ringctl *ctl, struct ring *ring, int32_t version)
{
    size_t n = ring_node_count(ring);
    double *old_share = calloc(n ? n : 1, sizeof(double));
    double *new_share = calloc(n ? n : 1, sizeof(double));
    int transition = ring_in_transition(ring);

    if (!old_share || !new_share || ring_build(ring) < 0) {
        ringctl_fail(ctl, "out of memory");
        goto out;
    }
    ring_shares(ring, RING_VIEW_OLD, old_share);
    ring_shares(ring, RING_VIEW_NEW, new_share);
    if (ctl->json) {
        printf("{\"ring\":");
        ringctl_json_string(stdout, ring_name(ring));
        printf(",\"epoch\":%llu,\"version\":%d,\"vnodes\":%u,\"in_transition\":%s,\"nodes\":[",
               (unsigned long long)ring_epoch(ring), (int)version, ring_vnodes(ring),
               transition ? "true" : "false");
        for (size_t i = 0; i < n; i++) {
            const struct ring_node *node = ring_node_at(ring, i);

            printf("%s{\"id\":", i ? "," : "");
            ringctl_json_string(stdout, node->id);
            printf(",\"addr\":");
            ringctl_json_string(stdout, node->addr);
            printf(",\"weight\":%u,\"state\":\"%s\",\"share_percent\":%.4f", node->weight,
                   ring_state_name(node->state), new_share[i] * 100.0);
            if (node->from[0]) {
                printf(",\"from\":");
                ringctl_json_string(stdout, node->from);
            }
            if (transition)
                printf(",\"old_share_percent\":%.4f", old_share[i] * 100.0);
            printf("}");
        }
        printf("]}\n");
        goto out;
    }
    printf("ring %s  epoch %llu  vnodes %u  nodes %zu%s\n", ring_name(ring),
           (unsigned long long)ring_epoch(ring), ring_vnodes(ring), n,
           transition ? "  (in transition: share shown old -> new)" : "");
    printf("%-16s %-24s %6s %-8s %s\n", "ID", "ADDRESS", "WEIGHT", "STATE", "SHARE");
    for (size_t i = 0; i < n; i++) {
        const struct ring_node *node = ring_node_at(ring, i);

        printf("%-16s %-24s %6u %-8s ", node->id, node->addr, node->weight,
               node->from[0] ? "moving" : ring_state_name(node->state));
        if (transition)
            printf("%6.2f%% -> %6.2f%%", old_share[i] * 100.0, new_share[i] * 100.0);
        else
            printf("%6.2f%%", new_share[i] * 100.0);
        printf("%s%s\n", node->from[0] ? "  from " : "", node->from);
    }
out:
    free(old_share);
    free(new_share);
}
