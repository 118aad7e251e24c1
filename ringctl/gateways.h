/* gateways.h: read the gateways' registrations (ROOT/gateways/<id>) for status, the two-phase wait and autopilot.
 *
 * Each znode holds one line of space-separated key=value fields, written and
 * parsed by zk/gateway_registry.c: "addr=127.0.0.1:8080 epoch=12 pending=512
 * admin=127.0.0.1:9080 sessions=40 pushes_per_s=120 dead=r3,r7" (pending left
 * out when 0; admin, sessions and pushes_per_s from gateways that publish
 * them). Unknown keys are ignored so that gateways can add fields.
 */
#ifndef NEARBY_RINGCTL_GATEWAYS_H
#define NEARBY_RINGCTL_GATEWAYS_H

#include <stddef.h>

#include <zookeeper/zookeeper.h>

#include "gateway_registry.h"
#include "ring.h"

struct ringctl_gateway {
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    char dead[GATEWAY_REGISTRY_LINE_MAX]; /* comma-separated node ids, "" when none */
    long long epoch;                      /* -1: no ring applied yet */
    long long pending;                    /* channels still waiting for Redis to confirm them */
    char admin[RING_ADDR_MAX + 1];        /* its internal port, "" when not published */
    long long sessions;                   /* -1: not published */
    long long pushes_per_s;               /* -1: not published */
    long long session;                    /* the ZooKeeper session holding the znode */
    long long czxid;                      /* the zxid that created it: a new one per registration */
};

/* Parses one znode's content into gw (id is left as it is). */
void ringctl_gateway_parse(const char *data, struct ringctl_gateway *gw);

/* Returns 1 when node_id is in gw's dead list, else 0. */
int ringctl_gateway_reports_dead(const struct ringctl_gateway *gw, const char *node_id);

/* Reads every registered gateway under root into a malloc'ed array (*out,
 * *count; free() it), with the session and czxid of each znode. A gateway that goes away while listed is skipped; no
 * gateways directory means none. Returns ZOK or the ZooKeeper error. */
int ringctl_gateways_read(zhandle_t *zh, const char *root, struct ringctl_gateway **out,
                          size_t *count);

#endif
