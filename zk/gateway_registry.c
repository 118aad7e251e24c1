/* gateway_registry.c: keep a gateway's ephemeral znode, written from a libevent loop.
 *
 * The session (handle, hand-over to the loop, expiry) is zk_session's;
 * ZooKeeper's completions here only queue a struct reg_item, and the loop
 * thread alone issues requests. At most one request is in flight: its kind
 * is remembered in reg->op, and its completion decides the next step
 * (create parents, create, look at a leftover, delete it, set data).
 */
#include "gateway_registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zookeeper/zookeeper.h>

#include "ring_store.h"
#include "zk_auth.h"
#include "zk_glue.h"
#include "zk_session.h"

/* The only kind of item here (0 is zk_session's). */
#define REG_DONE 1 /* the request in flight completed */

/* The request in flight, if any. */
enum reg_op {
    REG_OP_NONE,
    REG_OP_PARENT, /* creating ROOT or ROOT/gateways (or one of ROOT's parents) */
    REG_OP_CREATE, /* creating our ephemeral */
    REG_OP_EXISTS, /* looking at who owns an existing znode at our path */
    REG_OP_DELETE, /* deleting a leftover of an older session */
    REG_OP_SET,    /* writing newer content into our ephemeral */
};

/* One thing that happened on a ZooKeeper thread, queued for the loop. */
struct reg_item {
    struct zk_session_item base; /* first */
    int rc;       /* ZooKeeper return code */
    int has_stat; /* stat is filled */
    struct Stat stat;
};

struct gateway_registry {
    struct event_base *base; /* ref: owned by the application */
    char path[RING_STORE_PATH_MAX]; /* ROOT/gateways/ID */
    struct zk_session zs;

    /* Everything below is the loop thread's alone. */
    char line[GATEWAY_REGISTRY_LINE_MAX]; /* the content wanted */
    /* What the line is made of (gateway_registry_set, _set_stats). */
    char addr[RING_ADDR_MAX + 1];
    char dead[GATEWAY_REGISTRY_LINE_MAX];
    uint64_t epoch, pending;
    char admin[RING_ADDR_MAX + 1];
    uint64_t sessions, pushes_per_s;
    int has_core, has_stats;
    uint64_t wanted;   /* bumped by every change of line; 0: nothing to write yet */
    uint64_t written;  /* the content (by wanted) the znode holds in this session */
    int created;       /* our ephemeral exists in this session */
    enum reg_op op;    /* in flight */
    uint64_t op_wanted; /* REG_OP_CREATE, REG_OP_SET: the content sent */
    size_t parent_end; /* REG_OP_PARENT: length of the prefix of path being made */
};

/* -- ZooKeeper threads ---------------------------------------------------- */

static void reg_on_string(int rc, const char *value, const void *data)
{
    struct reg_item *item = zk_session_item_new(data, REG_DONE, sizeof(*item));

    if (item != NULL)
        item->rc = rc;
    zk_session_push(data, item ? &item->base : NULL);
}

static void reg_on_stat(int rc, const struct Stat *stat, const void *data)
{
    struct reg_item *item = zk_session_item_new(data, REG_DONE, sizeof(*item));

    if (item != NULL) {
        item->rc = rc;
        if (rc == ZOK && stat != NULL) {
            item->stat = *stat;
            item->has_stat = 1;
        }
    }
    zk_session_push(data, item ? &item->base : NULL);
}

static void reg_on_void(int rc, const void *data)
{
    reg_on_string(rc, NULL, data);
}

/* -- loop thread ---------------------------------------------------------- */

/* Notes the outcome of issuing a request: on failure nothing is in flight,
 * and it is tried again later. ZINVALIDSTATE means the session is gone and
 * its event is on the way, which brings its own retry. */
static void reg_issued(struct gateway_registry *reg, enum reg_op op, int zrc)
{
    if (zrc == ZOK) {
        reg->op = op;
        return;
    }
    reg->op = REG_OP_NONE;
    if (zrc != ZINVALIDSTATE)
        zk_session_schedule_retry(&reg->zs);
}

/* Creates the next missing parent of our znode, starting after the prefix
 * of length from (0: from the top). */
static void reg_create_parent(struct gateway_registry *reg, size_t from)
{
    const char *slash = strchr(reg->path + from + 1, '/');
    char prefix[RING_STORE_PATH_MAX];

    if (slash == NULL) {
        /* Every parent is there: our own znode next. */
        reg->parent_end = 0;
        reg_issued(reg, REG_OP_NONE, ZOK);
        return;
    }
    reg->parent_end = (size_t)(slash - reg->path);
    memcpy(prefix, reg->path, reg->parent_end);
    prefix[reg->parent_end] = '\0';
    reg_issued(reg, REG_OP_PARENT,
               zoo_acreate(reg->zs.zh, prefix, "", 0,
                           zk_auth_acl(zk_auth_process(), slash == strrchr(reg->path, '/')
                                                              ? ZK_NODE_GATEWAYS
                                                              : ZK_NODE_ROOT),
                           0, reg_on_string,
                           reg->zs.handle));
}

/* Issues the next request that brings the znode to the wanted content,
 * unless one is in flight or there is nothing to do. */
static void reg_kick(struct gateway_registry *reg)
{
    int len = (int)strlen(reg->line);

    if (reg->zs.zh == NULL || !reg->zs.connected || reg->op != REG_OP_NONE || reg->wanted == 0)
        return;
    if (!reg->created) {
        reg->op_wanted = reg->wanted;
        reg_issued(reg, REG_OP_CREATE,
                   zoo_acreate(reg->zs.zh, reg->path, reg->line, len,
                               zk_auth_acl(zk_auth_process(), ZK_NODE_REGISTRATION),
                               ZOO_EPHEMERAL, reg_on_string, reg->zs.handle));
    } else if (reg->written != reg->wanted) {
        reg->op_wanted = reg->wanted;
        reg_issued(reg, REG_OP_SET,
                   zoo_aset(reg->zs.zh, reg->path, reg->line, len, -1, reg_on_stat, reg->zs.handle));
    }
}

/* The request in flight completed with rc: take the next step. */
static void reg_on_done(void *arg, struct zk_session_item *base)
{
    struct gateway_registry *reg = arg;
    const struct reg_item *item = (const struct reg_item *)base;
    enum reg_op op = reg->op;
    int rc = item->rc;

    reg->op = REG_OP_NONE;
    if (rc == ZCLOSING)
        return;
    switch (op) {
    case REG_OP_NONE:
        return;
    case REG_OP_PARENT:
        /* ZNOAUTH: we may not create there, which ZooKeeper says before it
         * says the znode exists; our own create tells whether it does. */
        if (rc == ZOK || rc == ZNODEEXISTS || rc == ZNOAUTH) {
            reg_create_parent(reg, reg->parent_end);
            break; /* reg_kick below creates ours once no parent is left */
        }
        zk_session_schedule_retry(&reg->zs);
        return;
    case REG_OP_CREATE:
        if (rc == ZOK) {
            reg->created = 1;
            reg->written = reg->op_wanted;
        } else if (rc == ZNONODE) {
            reg_create_parent(reg, 0);
        } else if (rc == ZNODEEXISTS) {
            /* Ours from a create whose reply a connection loss ate, or a
             * leftover of an older session that has not timed out yet. */
            reg_issued(reg, REG_OP_EXISTS,
                       zoo_aexists(reg->zs.zh, reg->path, 0, reg_on_stat, reg->zs.handle));
        } else {
            zk_session_schedule_retry(&reg->zs);
            return;
        }
        break;
    case REG_OP_EXISTS:
        if (rc == ZOK && item->has_stat && item->stat.ephemeralOwner == reg->zs.session_id &&
            reg->zs.session_id != 0) {
            reg->created = 1; /* with unknown content: write it */
            reg->written = 0;
        } else if (rc == ZOK && item->has_stat) {
            reg_issued(reg, REG_OP_DELETE,
                       zoo_adelete(reg->zs.zh, reg->path, item->stat.version, reg_on_void,
                                   reg->zs.handle));
        } else if (rc != ZNONODE) {
            zk_session_schedule_retry(&reg->zs);
            return;
        }
        break;
    case REG_OP_DELETE:
        /* ZBADVERSION: it changed meanwhile; look again. */
        if (rc != ZOK && rc != ZNONODE && rc != ZBADVERSION) {
            zk_session_schedule_retry(&reg->zs);
            return;
        }
        break;
    case REG_OP_SET:
        if (rc == ZOK) {
            reg->written = reg->op_wanted;
        } else if (rc == ZNONODE) {
            reg->created = 0; /* deleted behind our back: create it again */
        } else {
            zk_session_schedule_retry(&reg->zs);
            return;
        }
        break;
    }
    reg_kick(reg);
}

static void reg_on_up(void *arg, enum zk_session_up how, long away_ms)
{
    reg_kick(arg);
}

/* The znode went with the session; the next one makes it again. */
static void reg_on_expired(void *arg, const char *detail)
{
    struct gateway_registry *reg = arg;

    reg->created = 0;
    reg->written = 0;
    reg->op = REG_OP_NONE;
}

/* A completion may be gone under memory pressure: start over in a new
 * session rather than wait for it forever. */
static void reg_on_lost(void *arg)
{
    struct gateway_registry *reg = arg;

    zk_session_expire(&reg->zs, "session lost while out of memory");
}

static void reg_on_retry(void *arg)
{
    reg_kick(arg);
}

static const struct zk_session_ops reg_ops = {
    .on_up = reg_on_up,
    .on_expired = reg_on_expired,
    .on_item = reg_on_done,
    .on_lost = reg_on_lost,
    .on_retry = reg_on_retry,
};

static void reg_destroy(struct gateway_registry *reg)
{
    zk_session_fini(&reg->zs);
    free(reg);
}

struct gateway_registry *gateway_registry_new(struct event_base *base, const char *hosts,
                                              const char *root, const char *gateway_id,
                                              int session_timeout_ms, char *errbuf,
                                              size_t errlen)
{
    struct gateway_registry *reg;

    if (zk_session_check("gateway_registry_new", base, hosts, session_timeout_ms, errbuf,
                         errlen) != 0)
        return NULL;
    reg = calloc(1, sizeof(*reg));
    if (reg == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    zk_session_init(&reg->zs);
    reg->base = base;
    if (zk_glue_gateway_path(root, gateway_id, reg->path, errbuf, errlen) != RING_STORE_OK)
        goto fail;
    if (zk_session_start(&reg->zs, base, hosts, session_timeout_ms, &reg_ops, reg, errbuf,
                         errlen) != 0)
        goto fail;
    return reg;
fail:
    reg_destroy(reg);
    return NULL;
}

/* Makes the line from the fields recorded and writes it if it changed. */
static void reg_format(struct gateway_registry *reg)
{
    char line[GATEWAY_REGISTRY_LINE_MAX], epoch_field[64] = "", pending_field[32] = "";
    char stats_field[RING_ADDR_MAX + 96] = "";
    int n;

    if (reg->epoch != GATEWAY_REGISTRY_NO_EPOCH)
        snprintf(epoch_field, sizeof(epoch_field), " epoch=%" PRIu64, reg->epoch);
    if (reg->pending != 0)
        snprintf(pending_field, sizeof(pending_field), " pending=%" PRIu64, reg->pending);
    if (reg->has_stats)
        snprintf(stats_field, sizeof(stats_field), "%s%s sessions=%" PRIu64 " pushes_per_s=%" PRIu64,
                 reg->admin[0] ? " admin=" : "", reg->admin, reg->sessions, reg->pushes_per_s);
    n = snprintf(line, sizeof(line), "addr=%s%s%s%s dead=%s", reg->addr, epoch_field,
                 pending_field, stats_field, reg->dead);
    if (n >= (int)sizeof(line)) {
        /* Too many dead nodes to list: keep whole ids only. */
        char *comma = strrchr(line, ',');
        if (comma != NULL && comma > strstr(line, " dead="))
            *comma = '\0';
    }
    if (reg->wanted != 0 && strcmp(line, reg->line) == 0)
        return;
    memcpy(reg->line, line, sizeof(line));
    reg->wanted++;
    reg_kick(reg);
}

void gateway_registry_set(struct gateway_registry *reg, const char *addr, uint64_t epoch,
                          uint64_t pending, const char *dead_csv)
{
    if (reg == NULL)
        return;
    snprintf(reg->addr, sizeof(reg->addr), "%s", addr ? addr : "");
    snprintf(reg->dead, sizeof(reg->dead), "%s", dead_csv ? dead_csv : "");
    reg->epoch = epoch;
    reg->pending = pending;
    reg->has_core = 1;
    reg_format(reg);
}

void gateway_registry_set_stats(struct gateway_registry *reg, const char *admin_addr,
                                uint64_t sessions, uint64_t pushes_per_s)
{
    if (reg == NULL)
        return;
    /* An address with a space would break the line into other fields. */
    snprintf(reg->admin, sizeof(reg->admin), "%s",
             admin_addr && !strpbrk(admin_addr, " \t\n") ? admin_addr : "");
    reg->sessions = sessions;
    reg->pushes_per_s = pushes_per_s;
    reg->has_stats = 1;
    /* Nothing is written before the gateway said what it applied. */
    if (reg->has_core)
        reg_format(reg);
}

/* Parses a plain decimal count. Returns 0 and *out, or -1. */
static int parse_count(const char *s, long long *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v > INT64_MAX)
        return -1;
    *out = (long long)v;
    return 0;
}

void gateway_registry_parse(const char *line, struct gateway_registration *out)
{
    char copy[GATEWAY_REGISTRY_LINE_MAX];
    char *save = NULL;

    out->addr[0] = out->admin[0] = out->dead[0] = '\0';
    out->epoch = out->pending = out->sessions = out->pushes_per_s = -1;
    snprintf(copy, sizeof(copy), "%s", line);
    for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        long long value;

        if (strncmp(tok, "addr=", 5) == 0)
            snprintf(out->addr, sizeof(out->addr), "%s", tok + 5);
        else if (strncmp(tok, "admin=", 6) == 0)
            snprintf(out->admin, sizeof(out->admin), "%s", tok + 6);
        else if (strncmp(tok, "dead=", 5) == 0)
            snprintf(out->dead, sizeof(out->dead), "%s", tok + 5);
        else if (strncmp(tok, "epoch=", 6) == 0 && parse_count(tok + 6, &value) == 0)
            out->epoch = value;
        else if (strncmp(tok, "pending=", 8) == 0 && parse_count(tok + 8, &value) == 0)
            out->pending = value;
        else if (strncmp(tok, "sessions=", 9) == 0 && parse_count(tok + 9, &value) == 0)
            out->sessions = value;
        else if (strncmp(tok, "pushes_per_s=", 13) == 0 && parse_count(tok + 13, &value) == 0)
            out->pushes_per_s = value;
    }
}

int64_t gateway_registry_session_id(const struct gateway_registry *reg)
{
    return reg->zs.session_id;
}

void gateway_registry_free(struct gateway_registry *reg)
{
    if (reg == NULL)
        return;
    /* Closing the session deletes the ephemeral too; deleting it first
     * makes it go even when the close request does not get through. */
    if (reg->zs.zh != NULL && reg->zs.connected && reg->created)
        zoo_delete(reg->zs.zh, reg->path, -1);
    reg_destroy(reg);
}
