/* gateways.c: read the gateways' registrations from ZooKeeper. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateways.h"
#include "ring_store.h"

void ringctl_gateway_parse(const char *data, struct ringctl_gateway *gw)
{
    struct gateway_registration reg;

    gateway_registry_parse(data, &reg);
    snprintf(gw->addr, sizeof(gw->addr), "%s", reg.addr);
    snprintf(gw->dead, sizeof(gw->dead), "%s", reg.dead);
    snprintf(gw->admin, sizeof(gw->admin), "%s", reg.admin);
    gw->epoch = reg.epoch;
    gw->pending = reg.pending;
    gw->sessions = reg.sessions;
    gw->pushes_per_s = reg.pushes_per_s;
}

int ringctl_gateway_reports_dead(const struct ringctl_gateway *gw, const char *node_id)
{
    size_t len = strlen(node_id);

    for (const char *p = gw->dead; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);

        if (n == len && memcmp(p, node_id, len) == 0)
            return 1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int ringctl_gateways_read(zhandle_t *zh, const char *root, struct ringctl_gateway **out,
                          size_t *count)
{
    char path[RING_STORE_PATH_MAX], child[RING_STORE_PATH_MAX + RING_ID_MAX + 2];
    struct String_vector children = {0, NULL};
    struct ringctl_gateway *list;
    size_t n = 0;
    int zrc;

    *out = NULL;
    *count = 0;
    snprintf(path, sizeof(path), "%s%sgateways", root, strcmp(root, "/") ? "/" : "");
    zrc = zoo_get_children(zh, path, 0, &children);
    if (zrc == ZNONODE)
        return ZOK;
    if (zrc != ZOK)
        return zrc;
    list = calloc((size_t)children.count + 1, sizeof(*list));
    if (list == NULL) {
        deallocate_String_vector(&children);
        return ZSYSTEMERROR;
    }
    for (int i = 0; i < children.count; i++) {
        char data[GATEWAY_REGISTRY_LINE_MAX];
        int len = sizeof(data) - 1;
        struct Stat stat;

        snprintf(child, sizeof(child), "%s/%s", path, children.data[i]);
        zrc = zoo_get(zh, child, 0, data, &len, &stat);
        if (zrc == ZNONODE)
            continue; /* went away while we listed */
        if (zrc != ZOK) {
            free(list);
            deallocate_String_vector(&children);
            return zrc;
        }
        data[len < 0 ? 0 : len] = '\0';
        ringctl_gateway_parse(data, &list[n]);
        list[n].session = (long long)stat.ephemeralOwner;
        list[n].czxid = (long long)stat.czxid;
        snprintf(list[n].id, sizeof(list[n].id), "%s", children.data[i]);
        n++;
    }
    deallocate_String_vector(&children);
    *out = list;
    *count = n;
    return ZOK;
}
