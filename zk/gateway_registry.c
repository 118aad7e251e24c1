/* gateway_registry.c: keep a gateway's ephemeral znode, written from a libevent loop.
 *
 * ZooKeeper's callbacks only queue a struct reg_item through zk_glue's
 * hand-over; the loop thread alone issues requests. At most one request is
 * in flight: its kind is remembered in reg->op, and its completion decides
 * the next step (create parents, create, look at a leftover, delete it, set
 * data). A handle's generation tags its items, so those of a closed handle
 * are dropped.
 */
#include "gateway_registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <zookeeper/zookeeper.h>

#include "ring_store.h"
#include "zk_glue.h"

#define REG_RETRY_MS 1000

enum reg_kind {
    REG_SESSION, /* session state changed */
    REG_DONE,    /* the request in flight completed */
};

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
    struct zk_glue_item link; /* first: zk_glue frees items through it */
    enum reg_kind kind;
    int state;          /* REG_SESSION: ZOO_*_STATE */
    int64_t session_id; /* REG_SESSION, when connected */
    int timeout_ms;     /* REG_SESSION, when connected: negotiated timeout */
    int rc;             /* REG_DONE: ZooKeeper return code */
    int has_stat;       /* REG_DONE: stat is filled */
    struct Stat stat;
};

/* What the contexts handed to one ZooKeeper handle point at; freed only
 * after zookeeper_close has joined the client's threads. */
struct reg_handle {
    struct gateway_registry *reg; /* ref: owned by the application */
    unsigned gen;
};

struct gateway_registry {
    struct event_base *base; /* ref: owned by the application */
    char *hosts;
    char path[RING_STORE_PATH_MAX]; /* ROOT/gateways/ID */
    int session_timeout_ms;         /* what we ask for */
    struct zk_glue_handoff handoff;

    /* Everything below is the loop thread's alone. */
    struct event *expire_ev; /* disconnected for longer than the session timeout */
    struct event *retry_ev;  /* try again after a failed request or open */
    zhandle_t *zh;
    struct reg_handle *handle;
    unsigned gen;
    int connected;
    int64_t session_id;
    int negotiated_ms;

    char line[GATEWAY_REGISTRY_LINE_MAX]; /* the content wanted */
    uint64_t wanted;   /* bumped by every change of line; 0: nothing to write yet */
    uint64_t written;  /* the content (by wanted) the znode holds in this session */
    int created;       /* our ephemeral exists in this session */
    enum reg_op op;    /* in flight */
    uint64_t op_wanted; /* REG_OP_CREATE, REG_OP_SET: the content sent */
    size_t parent_end; /* REG_OP_PARENT: length of the prefix of path being made */
};

/* -- ZooKeeper threads ---------------------------------------------------- */

static void reg_push(const struct reg_handle *handle, struct reg_item *item)
{
    zk_glue_handoff_push(&handle->reg->handoff, item ? &item->link : NULL);
}

static struct reg_item *reg_item_new(enum reg_kind kind, const struct reg_handle *handle)
{
    struct reg_item *item = calloc(1, sizeof(*item));

    if (item != NULL) {
        item->kind = kind;
        item->link.gen = handle->gen;
    }
    return item;
}

/* The handle's global watcher: session events. */
static void reg_on_session(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    const struct reg_handle *handle = ctx;
    struct reg_item *item;

    if (type != ZOO_SESSION_EVENT)
        return;
    item = reg_item_new(REG_SESSION, handle);
    if (item != NULL) {
        item->state = state;
        if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
            const clientid_t *id = zoo_client_id(zh);
            item->session_id = id ? id->client_id : 0;
            item->timeout_ms = zoo_recv_timeout(zh);
        }
    }
    reg_push(handle, item);
}

static void reg_on_string(int rc, const char *value, const void *data)
{
    const struct reg_handle *handle = data;
    struct reg_item *item = reg_item_new(REG_DONE, handle);

    if (item != NULL)
        item->rc = rc;
    reg_push(handle, item);
}

static void reg_on_stat(int rc, const struct Stat *stat, const void *data)
{
    const struct reg_handle *handle = data;
    struct reg_item *item = reg_item_new(REG_DONE, handle);

    if (item != NULL) {
        item->rc = rc;
        if (rc == ZOK && stat != NULL) {
            item->stat = *stat;
            item->has_stat = 1;
        }
    }
    reg_push(handle, item);
}

static void reg_on_void(int rc, const void *data)
{
    reg_on_string(rc, NULL, data);
}

/* -- loop thread ---------------------------------------------------------- */

/* Makes a new ZooKeeper handle (a new session). Returns 0, or -1 with errno
 * set when zookeeper_init fails. */
static int reg_open(struct gateway_registry *reg)
{
    struct reg_handle *handle = malloc(sizeof(*handle));
    zhandle_t *zh;

    if (handle == NULL)
        return -1;
    handle->reg = reg;
    handle->gen = reg->gen + 1;
    zh = zookeeper_init2(reg->hosts, reg_on_session, reg->session_timeout_ms, NULL, handle, 0,
                         zk_glue_log);
    if (zh == NULL) {
        int err = errno;
        free(handle);
        errno = err;
        return -1;
    }
    reg->gen = handle->gen;
    reg->handle = handle;
    reg->zh = zh;
    reg->connected = 0;
    reg->negotiated_ms = 0;
    return 0;
}

/* Closes the current handle, if any, and forgets what its session held. */
static void reg_close(struct gateway_registry *reg)
{
    if (reg->zh == NULL)
        return;
    /* Joins the client's threads; callbacks may still run until it returns,
     * and only queue items, dropped below. */
    zookeeper_close(reg->zh);
    reg->zh = NULL;
    free(reg->handle);
    reg->handle = NULL;
    reg->connected = 0;
    reg->session_id = 0;
    reg->created = 0;
    reg->written = 0;
    reg->op = REG_OP_NONE;
    zk_glue_handoff_drop(&reg->handoff, reg->gen);
}

static void reg_schedule_retry(struct gateway_registry *reg)
{
    struct timeval tv = { REG_RETRY_MS / 1000, (REG_RETRY_MS % 1000) * 1000 };

    if (!evtimer_pending(reg->retry_ev, NULL))
        evtimer_add(reg->retry_ev, &tv);
}

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
        reg_schedule_retry(reg);
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
               zoo_acreate(reg->zh, prefix, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, reg_on_string,
                           reg->handle));
}

/* Issues the next request that brings the znode to the wanted content,
 * unless one is in flight or there is nothing to do. */
static void reg_kick(struct gateway_registry *reg)
{
    int len = (int)strlen(reg->line);

    if (reg->zh == NULL || !reg->connected || reg->op != REG_OP_NONE || reg->wanted == 0)
        return;
    if (!reg->created) {
        reg->op_wanted = reg->wanted;
        reg_issued(reg, REG_OP_CREATE,
                   zoo_acreate(reg->zh, reg->path, reg->line, len, &ZOO_OPEN_ACL_UNSAFE,
                               ZOO_EPHEMERAL, reg_on_string, reg->handle));
    } else if (reg->written != reg->wanted) {
        reg->op_wanted = reg->wanted;
        reg_issued(reg, REG_OP_SET,
                   zoo_aset(reg->zh, reg->path, reg->line, len, -1, reg_on_stat, reg->handle));
    }
}

/* The request in flight completed with rc: take the next step. */
static void reg_on_done(struct gateway_registry *reg, const struct reg_item *item)
{
    enum reg_op op = reg->op;
    int rc = item->rc;

    reg->op = REG_OP_NONE;
    if (rc == ZCLOSING)
        return;
    switch (op) {
    case REG_OP_NONE:
        return;
    case REG_OP_PARENT:
        if (rc == ZOK || rc == ZNODEEXISTS) {
            reg_create_parent(reg, reg->parent_end);
            break; /* reg_kick below creates ours once no parent is left */
        }
        reg_schedule_retry(reg);
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
                       zoo_aexists(reg->zh, reg->path, 0, reg_on_stat, reg->handle));
        } else {
            reg_schedule_retry(reg);
            return;
        }
        break;
    case REG_OP_EXISTS:
        if (rc == ZOK && item->has_stat && item->stat.ephemeralOwner == reg->session_id &&
            reg->session_id != 0) {
            reg->created = 1; /* with unknown content: write it */
            reg->written = 0;
        } else if (rc == ZOK && item->has_stat) {
            reg_issued(reg, REG_OP_DELETE,
                       zoo_adelete(reg->zh, reg->path, item->stat.version, reg_on_void,
                                   reg->handle));
        } else if (rc != ZNONODE) {
            reg_schedule_retry(reg);
            return;
        }
        break;
    case REG_OP_DELETE:
        /* ZBADVERSION: it changed meanwhile; look again. */
        if (rc != ZOK && rc != ZNONODE && rc != ZBADVERSION) {
            reg_schedule_retry(reg);
            return;
        }
        break;
    case REG_OP_SET:
        if (rc == ZOK) {
            reg->written = reg->op_wanted;
        } else if (rc == ZNONODE) {
            reg->created = 0; /* deleted behind our back: create it again */
        } else {
            reg_schedule_retry(reg);
            return;
        }
        break;
    }
    reg_kick(reg);
}

/* Gives the session up and opens a new one; its znode is made again. */
static void reg_expire(struct gateway_registry *reg)
{
    evtimer_del(reg->expire_ev);
    reg_close(reg);
    if (reg_open(reg) != 0)
        reg_schedule_retry(reg);
}

static void reg_on_session_item(struct gateway_registry *reg, const struct reg_item *item)
{
    if (item->state == ZOO_CONNECTED_STATE || item->state == ZOO_READONLY_STATE) {
        evtimer_del(reg->expire_ev);
        reg->connected = 1;
        reg->session_id = item->session_id;
        if (item->timeout_ms > 0)
            reg->negotiated_ms = item->timeout_ms;
        reg_kick(reg);
    } else if (item->state == ZOO_EXPIRED_SESSION_STATE ||
               item->state == ZOO_AUTH_FAILED_STATE) {
        reg_expire(reg);
    } else if (reg->connected) {
        int keep_ms = reg->negotiated_ms > 0 ? reg->negotiated_ms : reg->session_timeout_ms;
        struct timeval tv = { keep_ms / 1000, (keep_ms % 1000) * 1000 };

        reg->connected = 0;
        /* A standalone server that restarts revives old sessions, so the
         * server may never say "expired": decide on our own, as ring_watch
         * does. */
        evtimer_add(reg->expire_ev, &tv);
    }
}

static void reg_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gateway_registry *reg = arg;
    struct zk_glue_item *batch, *link;
    int lost;

    batch = zk_glue_handoff_take(&reg->handoff, &lost);
    for (link = batch; link != NULL; link = link->next) {
        const struct reg_item *item = (const struct reg_item *)link;

        /* Items of a handle closed meanwhile (expiry) are stale. */
        if (link->gen != reg->gen || reg->zh == NULL)
            continue;
        if (item->kind == REG_SESSION)
            reg_on_session_item(reg, item);
        else
            reg_on_done(reg, item);
    }
    zk_glue_items_free(batch);
    if (lost && reg->zh != NULL) {
        /* A completion may be gone under memory pressure: start over in a
         * new session rather than wait for it forever. */
        reg_expire(reg);
    }
}

static void reg_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gateway_registry *reg = arg;

    if (reg->zh != NULL && !reg->connected)
        reg_expire(reg);
}

static void reg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gateway_registry *reg = arg;

    if (reg->zh == NULL) {
        if (reg_open(reg) != 0)
            reg_schedule_retry(reg);
        return;
    }
    reg_kick(reg);
}

static void reg_destroy(struct gateway_registry *reg)
{
    reg_close(reg);
    if (reg->expire_ev != NULL)
        event_free(reg->expire_ev);
    if (reg->retry_ev != NULL)
        event_free(reg->retry_ev);
    zk_glue_handoff_destroy(&reg->handoff);
    free(reg->hosts);
    free(reg);
}

struct gateway_registry *gateway_registry_new(struct event_base *base, const char *hosts,
                                              const char *root, const char *gateway_id,
                                              int session_timeout_ms, char *errbuf,
                                              size_t errlen)
{
    struct gateway_registry *reg;

    if (base == NULL || hosts == NULL || hosts[0] == '\0') {
        zk_glue_err(errbuf, errlen, "gateway_registry_new: %s",
                    base == NULL ? "no event base" : "no ZooKeeper hosts given");
        return NULL;
    }
    if (session_timeout_ms <= 0) {
        zk_glue_err(errbuf, errlen, "the session timeout must be positive, not %d ms",
                    session_timeout_ms);
        return NULL;
    }
    reg = calloc(1, sizeof(*reg));
    if (reg == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    zk_glue_handoff_init(&reg->handoff);
    reg->base = base;
    reg->session_timeout_ms = session_timeout_ms;
    if (zk_glue_gateway_path(root, gateway_id, reg->path, errbuf, errlen) != RING_STORE_OK)
        goto fail;
    reg->hosts = strdup(hosts);
    if (reg->hosts == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (zk_glue_handoff_start(&reg->handoff, base, reg_pipe_cb, reg, errbuf, errlen) != 0)
        goto fail;
    reg->expire_ev = evtimer_new(base, reg_expire_cb, reg);
    reg->retry_ev = evtimer_new(base, reg_retry_cb, reg);
    if (reg->expire_ev == NULL || reg->retry_ev == NULL) {
        zk_glue_err(errbuf, errlen, "cannot set up libevent events");
        goto fail;
    }
    zk_glue_quiet_log();
    if (reg_open(reg) != 0) {
        zk_glue_err(errbuf, errlen,
                    "cannot start a ZooKeeper client for '%s': %s "
                    "(want host:port[,host:port...])",
                    hosts, strerror(errno));
        goto fail;
    }
    return reg;
fail:
    reg_destroy(reg);
    return NULL;
}

void gateway_registry_set(struct gateway_registry *reg, const char *addr, uint64_t epoch,
                          const char *dead_csv)
{
    char line[GATEWAY_REGISTRY_LINE_MAX], epoch_field[32] = "";
    const char *dead = dead_csv ? dead_csv : "";
    int n;

    if (reg == NULL)
        return;
    if (epoch != GATEWAY_REGISTRY_NO_EPOCH)
        snprintf(epoch_field, sizeof(epoch_field), " epoch=%" PRIu64, epoch);
    n = snprintf(line, sizeof(line), "addr=%s%s dead=%s", addr ? addr : "", epoch_field, dead);
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

int gateway_registry_registered(const struct gateway_registry *reg)
{
    return reg->created && reg->wanted != 0 && reg->written == reg->wanted;
}

int64_t gateway_registry_session_id(const struct gateway_registry *reg)
{
    return reg->session_id;
}

void gateway_registry_free(struct gateway_registry *reg)
{
    if (reg == NULL)
        return;
    /* Closing the session deletes the ephemeral too; deleting it first
     * makes it go even when the close request does not get through. */
    if (reg->zh != NULL && reg->connected && reg->created)
        zoo_delete(reg->zh, reg->path, -1);
    reg_destroy(reg);
}
