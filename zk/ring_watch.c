/* ring_watch.c: follow the ring znode from a libevent loop.
 *
 * The session itself (handle, hand-over to the loop, expiry) is zk_session's;
 * ZooKeeper's completions here only copy what happened into a struct
 * rw_item for the loop thread, which alone touches the cached ring, issues
 * ZooKeeper requests and calls the application.
 */
#include "ring_watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zookeeper/zookeeper.h>

#include "ring_store.h"
#include "zk_glue.h"
#include "zk_session.h"

enum rw_kind {
    RW_NODE_EVENT = 1, /* the one-shot watch on the ring znode fired (0 is zk_session's) */
    RW_DATA,           /* zoo_awget completed */
    RW_EXISTS,         /* zoo_awexists completed */
};

/* One thing that happened on a ZooKeeper thread, queued for the loop. */
struct rw_item {
    struct zk_session_item base; /* first: kind is an enum rw_kind */
    int type;         /* RW_NODE_EVENT: ZOO_*_EVENT */
    int rc;           /* RW_DATA, RW_EXISTS: ZooKeeper return code */
    struct Stat stat; /* RW_DATA with rc == ZOK */
    /* RW_DATA with rc == ZOK: the text parsed and built on the ZooKeeper
     * thread, so that the loop never spends the build (a quarter of a second
     * per view for 200 nodes) on its own time. The item owns ring. */
    int parse_rc;
    struct ring *ring;
    struct ring_parse_error perr;
};

struct ring_watch {
    struct event_base *base; /* ref: owned by the application */
    char path[RING_STORE_PATH_MAX];
    char name[RING_NAME_MAX + 1];
    struct ring_watch_callbacks cb;
    struct zk_session zs;

    /* Everything below is the loop thread's alone. */
    int missing; /* RING_WATCH_MISSING reported and not yet resolved */
    int denied;  /* RING_WATCH_DENIED reported and not yet resolved */
    int current; /* the znode was read in this session (ring_watch_current) */
    struct ring *ring;
    int32_t version;
    int64_t mzxid; /* of the last znode state delivered or found corrupt */
};

/* -- ZooKeeper threads ---------------------------------------------------- */

/* The watcher set on the ring znode. ZooKeeper also hands session events to
 * every watcher; the global watcher reports those already. */
static void rw_on_node(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct rw_item *item;

    if (type == ZOO_SESSION_EVENT)
        return;
    item = zk_session_item_new(ctx, RW_NODE_EVENT, sizeof(*item));
    if (item != NULL)
        item->type = type;
    zk_session_push(ctx, item ? &item->base : NULL);
}

static void rw_item_dispose(struct zk_glue_item *link)
{
    ring_free(((struct rw_item *)link)->ring);
}

static void rw_on_data(int rc, const char *value, int value_len, const struct Stat *stat,
                       const void *data)
{
    size_t len = rc == ZOK && value != NULL && value_len > 0 ? (size_t)value_len : 0;
    struct rw_item *item = zk_session_item_new(data, RW_DATA, sizeof(*item));

    if (item != NULL) {
        item->rc = rc;
        item->base.link.dispose = rw_item_dispose;
        if (rc == ZOK && stat != NULL)
            item->stat = *stat;
        if (rc == ZOK)
            item->parse_rc = ring_parse(value ? value : "", len, &item->ring, &item->perr);
    }
    zk_session_push(data, item ? &item->base : NULL);
}

static void rw_on_exists(int rc, const struct Stat *stat, const void *data)
{
    struct rw_item *item = zk_session_item_new(data, RW_EXISTS, sizeof(*item));

    if (item != NULL)
        item->rc = rc;
    zk_session_push(data, item ? &item->base : NULL);
}

/* -- loop thread ---------------------------------------------------------- */

/* Reads the ring znode and (re-)arms the watch on it. */
static void rw_read(struct ring_watch *watch)
{
    int zrc;

    if (watch->zs.zh == NULL || !watch->zs.connected)
        return;
    zrc = zoo_awget(watch->zs.zh, watch->path, rw_on_node, watch->zs.handle, rw_on_data,
                    watch->zs.handle);
    /* ZINVALIDSTATE: the session is gone and its event is on the way. */
    if (zrc != ZOK && zrc != ZINVALIDSTATE)
        zk_session_schedule_retry(&watch->zs);
}

/* Arms a watch for the creation of the missing ring znode. */
static void rw_await_creation(struct ring_watch *watch)
{
    int zrc;

    if (watch->zs.zh == NULL || !watch->zs.connected)
        return;
    zrc = zoo_awexists(watch->zs.zh, watch->path, rw_on_node, watch->zs.handle, rw_on_exists,
                       watch->zs.handle);
    if (zrc != ZOK && zrc != ZINVALIDSTATE)
        zk_session_schedule_retry(&watch->zs);
}

/* Calls on_event; returns -1 when the application asked to free the watcher
 * from inside it (the caller must then touch nothing more), else 0. */
static int rw_emit(struct ring_watch *watch, enum ring_watch_event event, const char *detail)
{
    if (watch->cb.on_event != NULL)
        watch->cb.on_event(event, detail, watch->cb.arg);
    return watch->zs.free_requested ? -1 : 0;
}

static void rw_on_up(void *arg, enum zk_session_up how, long away_ms)
{
    struct ring_watch *watch = arg;
    char detail[160];

    if (how == ZK_SESSION_NEW) {
        watch->missing = 0;
        watch->current = 0;
        snprintf(detail, sizeof(detail), "session 0x%" PRIx64 ", timeout %d ms",
                 (uint64_t)watch->zs.session_id, watch->zs.negotiated_ms);
        if (rw_emit(watch, RING_WATCH_CONNECTED, detail) != 0)
            return;
    } else if (how == ZK_SESSION_BACK) {
        snprintf(detail, sizeof(detail), "session 0x%" PRIx64 " back after %ld ms",
                 (uint64_t)watch->zs.session_id, away_ms);
        if (rw_emit(watch, RING_WATCH_RECONNECTED, detail) != 0)
            return;
    }
    /* The watch may have fired while we were away, or never been armed. */
    rw_read(watch);
}

static void rw_on_down(void *arg, int keep_ms)
{
    struct ring_watch *watch = arg;
    char detail[160];

    snprintf(detail, sizeof(detail),
             "lost the connection to ZooKeeper; keeping session 0x%" PRIx64 " for up to %d ms",
             (uint64_t)watch->zs.session_id, keep_ms);
    rw_emit(watch, RING_WATCH_DISCONNECTED, detail);
}

/* The cached ring stays across sessions. */
static void rw_on_expired(void *arg, const char *detail)
{
    struct ring_watch *watch = arg;

    watch->current = 0;
    rw_emit(watch, RING_WATCH_EXPIRED, detail);
}

/* A read returned the znode: deliver it if it is newer than what we have. */
static void rw_on_ring_data(struct ring_watch *watch, struct rw_item *item)
{
    const struct ring_parse_error *perr = &item->perr;
    struct ring *ring = item->ring, *old;
    char detail[RING_STORE_PATH_MAX + 256];
    int rc = item->parse_rc;

    /* mzxid orders every change of the znode, across a delete and re-create
     * (where version starts again at 0) and across sessions that may land
     * on a server that is behind: an older or equal one is stale. */
    if (item->stat.mzxid <= watch->mzxid)
        return;
    item->ring = NULL; /* ours now */
    if (rc == RING_ERR_NOMEM) {
        /* Not the znode's fault: leave it unseen and read it again. */
        zk_session_schedule_retry(&watch->zs);
        return;
    }
    watch->mzxid = item->stat.mzxid;
    watch->missing = 0;
    watch->denied = 0;
    if (rc == RING_OK && strcmp(ring_name(ring), watch->name) != 0) {
        snprintf(detail, sizeof(detail), "%s version %d holds the ring named '%s', not '%s'",
                 watch->path, (int)item->stat.version, ring_name(ring), watch->name);
        ring_free(ring);
        rw_emit(watch, RING_WATCH_CORRUPT, detail);
        return;
    }
    if (rc != RING_OK) {
        if (rc == RING_ERR_PARSE)
            snprintf(detail, sizeof(detail), "%s version %d, line %u: %s", watch->path,
                     (int)item->stat.version, perr->line, perr->reason);
        else
            snprintf(detail, sizeof(detail), "%s version %d: %s", watch->path,
                     (int)item->stat.version, ring_strerror(rc));
        rw_emit(watch, RING_WATCH_CORRUPT, detail);
        return;
    }
    /* The ring delivered before stays valid until the callback returns, so
     * that the application may compare it with the new one. */
    old = watch->ring;
    watch->ring = ring;
    watch->version = item->stat.version;
    if (watch->cb.on_ring != NULL)
        watch->cb.on_ring(watch->ring, watch->version, watch->cb.arg);
    ring_free(old);
}

static void rw_on_item(void *arg, struct zk_session_item *base)
{
    struct ring_watch *watch = arg;
    struct rw_item *item = (struct rw_item *)base;
    char detail[RING_STORE_PATH_MAX + 256];

    switch ((enum rw_kind)item->base.kind) {
    case RW_NODE_EVENT:
        /* Changed, deleted or created: the watch is spent, read and re-arm. */
        rw_read(watch);
        break;
    case RW_DATA:
        if (item->rc == ZOK) {
            watch->current = 1; /* newer or not, what is delivered is the newest */
            rw_on_ring_data(watch, item);
        }
        else if (item->rc == ZNONODE)
            rw_await_creation(watch);
        else if (item->rc == ZNOAUTH) {
            /* Said once; the retry keeps trying, in case the ACL is fixed. */
            if (!watch->denied) {
                watch->denied = 1;
                snprintf(detail, sizeof(detail), "cannot read %s: %s", watch->path,
                         zk_glue_strerror(ZNOAUTH));
                if (rw_emit(watch, RING_WATCH_DENIED, detail) != 0)
                    return;
            }
            zk_session_schedule_retry(&watch->zs);
        } else if (item->rc != ZCLOSING)
            zk_session_schedule_retry(&watch->zs); /* e.g. connection loss: read again */
        break;
    case RW_EXISTS:
        if (item->rc == ZOK) {
            rw_read(watch); /* created meanwhile */
        } else if (item->rc == ZNONODE) {
            if (!watch->missing) {
                watch->missing = 1;
                snprintf(detail, sizeof(detail), "%s does not exist; waiting for it",
                         watch->path);
                rw_emit(watch, RING_WATCH_MISSING, detail);
            }
        } else if (item->rc != ZCLOSING) {
            zk_session_schedule_retry(&watch->zs);
        }
        break;
    }
}

/* We missed something under memory pressure: look at the handle again and
 * read the znode again. */
static void rw_on_lost(void *arg)
{
    struct ring_watch *watch = arg;

    if (zoo_state(watch->zs.zh) < 0)
        zk_session_expire(&watch->zs, "session lost while out of memory");
    else
        zk_session_schedule_retry(&watch->zs);
}

static void rw_on_retry(void *arg)
{
    rw_read(arg);
}

static void rw_destroy(void *arg)
{
    struct ring_watch *watch = arg;

    zk_session_fini(&watch->zs);
    ring_free(watch->ring);
    free(watch);
}

static const struct zk_session_ops rw_ops = {
    .on_up = rw_on_up,
    .on_down = rw_on_down,
    .on_expired = rw_on_expired,
    .on_item = rw_on_item,
    .on_lost = rw_on_lost,
    .on_retry = rw_on_retry,
    .on_free = rw_destroy,
};

struct ring_watch *ring_watch_new(struct event_base *base, const char *hosts,
                                  const char *root, const char *name,
                                  int session_timeout_ms,
                                  const struct ring_watch_callbacks *cb, char *errbuf,
                                  size_t errlen)
{
    struct ring_watch *watch = NULL;

    if (zk_session_check("ring_watch_new", base, hosts, session_timeout_ms, errbuf, errlen) != 0)
        return NULL;
    watch = calloc(1, sizeof(*watch));
    if (watch == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    zk_session_init(&watch->zs);
    watch->base = base;
    if (cb != NULL)
        watch->cb = *cb;
    if (zk_glue_ring_path(root, name, watch->path, errbuf, errlen) != RING_STORE_OK)
        goto fail;
    snprintf(watch->name, sizeof(watch->name), "%s", name);
    if (zk_session_start(&watch->zs, base, hosts, session_timeout_ms, &rw_ops, watch, errbuf,
                         errlen) != 0)
        goto fail;
    return watch;
fail:
    rw_destroy(watch);
    return NULL;
}

void ring_watch_free(struct ring_watch *watch)
{
    if (watch == NULL)
        return;
    /* From inside one of our callbacks, it finishes when that returns. */
    if (zk_session_free_later(&watch->zs))
        return;
    rw_destroy(watch);
}

int ring_watch_connected(const struct ring_watch *watch)
{
    return watch->zs.connected;
}

int ring_watch_current(const struct ring_watch *watch)
{
    return watch->current;
}

int64_t ring_watch_session_id(const struct ring_watch *watch)
{
    return watch->zs.session_id;
}
