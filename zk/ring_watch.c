/* ring_watch.c: follow the ring znode from a libevent loop.
 *
 * ZooKeeper calls back on its own threads (the client's completion thread,
 * and the caller of zookeeper_close while it closes). Those callbacks only
 * copy what happened into a struct rw_item and hand it over to the loop
 * through zk_glue's queue and pipe. The loop thread takes the whole queue
 * and acts on it: it alone
 * touches the cached ring, issues ZooKeeper requests and calls the
 * application. Each ZooKeeper handle has a generation number; items carry
 * it, so anything still queued from a closed handle is dropped.
 */
#include "ring_watch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <zookeeper/zookeeper.h>

#include "ring_store.h"
#include "zk_glue.h"

#define RW_RETRY_MS 1000

enum rw_kind {
    RW_SESSION,    /* session state changed */
    RW_NODE_EVENT, /* the one-shot watch on the ring znode fired */
    RW_DATA,       /* zoo_awget completed */
    RW_EXISTS,     /* zoo_awexists completed */
};

/* One thing that happened on a ZooKeeper thread, queued for the loop. */
struct rw_item {
    struct zk_glue_item link; /* first: zk_glue frees items through it */
    enum rw_kind kind;
    int state;          /* RW_SESSION: ZOO_*_STATE */
    int type;           /* RW_NODE_EVENT: ZOO_*_EVENT */
    int rc;             /* RW_DATA, RW_EXISTS: ZooKeeper return code */
    int64_t session_id; /* RW_SESSION, when connected */
    int timeout_ms;     /* RW_SESSION, when connected: negotiated timeout */
    struct Stat stat;   /* RW_DATA with rc == ZOK */
    size_t len;         /* RW_DATA with rc == ZOK: bytes in data */
    char data[];
};

/* What the contexts handed to one ZooKeeper handle point at. Never changed
 * after the handle is made, and freed only after zookeeper_close has joined
 * the client's threads. */
struct rw_handle {
    struct ring_watch *watch; /* ref: owned by the application */
    unsigned gen;
};

struct ring_watch {
    struct event_base *base; /* ref: owned by the application */
    char *hosts;
    char path[RING_STORE_PATH_MAX];
    char name[RING_NAME_MAX + 1];
    int session_timeout_ms; /* what we ask for */
    struct ring_watch_callbacks cb;

    /* Hand-over from ZooKeeper's threads. */
    struct zk_glue_handoff handoff;

    /* Everything below is the loop thread's alone. */
    struct event *expire_ev; /* disconnected for longer than the session timeout */
    struct event *retry_ev;  /* read again, or open a handle again, after a failure */
    zhandle_t *zh;
    struct rw_handle *handle;
    unsigned gen;
    int connected;
    int ever_connected; /* this handle's session has been up */
    int missing;        /* RING_WATCH_MISSING reported and not yet resolved */
    int64_t session_id;
    int negotiated_ms;
    struct timeval lost_at; /* when the connection was lost */
    struct ring *ring;
    int32_t version;
    int64_t mzxid; /* of the last znode state delivered or found corrupt */
    int depth;     /* our libevent callbacks on the stack */
    int free_requested;
};

/* -- ZooKeeper threads ---------------------------------------------------- */

static struct rw_item *rw_item_new(enum rw_kind kind, const struct rw_handle *handle,
                                   size_t len)
{
    struct rw_item *item = calloc(1, sizeof(*item) + len);

    if (item == NULL)
        return NULL;
    item->kind = kind;
    item->link.gen = handle->gen;
    return item;
}

/* Queues item (NULL when it could not be allocated) and wakes the loop. */
static void rw_push(const struct rw_handle *handle, struct rw_item *item)
{
    zk_glue_handoff_push(&handle->watch->handoff, item ? &item->link : NULL);
}

/* The handle's global watcher: session events. */
static void rw_on_session(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    const struct rw_handle *handle = ctx;
    struct rw_item *item;

    if (type != ZOO_SESSION_EVENT)
        return;
    item = rw_item_new(RW_SESSION, handle, 0);
    if (item != NULL) {
        item->state = state;
        if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
            const clientid_t *id = zoo_client_id(zh);
            item->session_id = id ? id->client_id : 0;
            item->timeout_ms = zoo_recv_timeout(zh);
        }
    }
    rw_push(handle, item);
}

/* The watcher set on the ring znode. ZooKeeper also hands session events to
 * every watcher; the global watcher reports those already. */
static void rw_on_node(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    const struct rw_handle *handle = ctx;
    struct rw_item *item;

    if (type == ZOO_SESSION_EVENT)
        return;
    item = rw_item_new(RW_NODE_EVENT, handle, 0);
    if (item != NULL)
        item->type = type;
    rw_push(handle, item);
}

static void rw_on_data(int rc, const char *value, int value_len, const struct Stat *stat,
                       const void *data)
{
    const struct rw_handle *handle = data;
    size_t len = rc == ZOK && value != NULL && value_len > 0 ? (size_t)value_len : 0;
    struct rw_item *item = rw_item_new(RW_DATA, handle, len);

    if (item != NULL) {
        item->rc = rc;
        if (rc == ZOK && stat != NULL)
            item->stat = *stat;
        if (len > 0)
            memcpy(item->data, value, len);
        item->len = len;
    }
    rw_push(handle, item);
}

static void rw_on_exists(int rc, const struct Stat *stat, const void *data)
{
    const struct rw_handle *handle = data;
    struct rw_item *item = rw_item_new(RW_EXISTS, handle, 0);

    if (item != NULL)
        item->rc = rc;
    rw_push(handle, item);
}

/* -- loop thread ---------------------------------------------------------- */

/* Makes a new ZooKeeper handle (a new session). Returns 0, or -1 with errno
 * set when zookeeper_init fails. */
static int rw_open(struct ring_watch *watch)
{
    struct rw_handle *handle = malloc(sizeof(*handle));
    zhandle_t *zh;

    if (handle == NULL)
        return -1;
    handle->watch = watch;
    handle->gen = watch->gen + 1;
    zh = zookeeper_init2(watch->hosts, rw_on_session, watch->session_timeout_ms, NULL, handle,
                         0, zk_glue_log);
    if (zh == NULL) {
        int err = errno;
        free(handle);
        errno = err;
        return -1;
    }
    watch->gen = handle->gen;
    watch->handle = handle;
    watch->zh = zh;
    watch->connected = 0;
    watch->ever_connected = 0;
    watch->negotiated_ms = 0;
    return 0;
}

/* Closes the current handle, if any, and drops whatever it left queued. */
static void rw_close(struct ring_watch *watch)
{

    if (watch->zh == NULL)
        return;
    /* Joins the client's threads; callbacks may still run (on them, or on
     * this thread) until it returns, and only queue items. */
    zookeeper_close(watch->zh);
    watch->zh = NULL;
    free(watch->handle);
    watch->handle = NULL;
    watch->connected = 0;
    watch->session_id = 0;
    zk_glue_handoff_drop(&watch->handoff, watch->gen);
}

static void rw_schedule_retry(struct ring_watch *watch)
{
    struct timeval tv = { RW_RETRY_MS / 1000, (RW_RETRY_MS % 1000) * 1000 };

    if (!evtimer_pending(watch->retry_ev, NULL))
        evtimer_add(watch->retry_ev, &tv);
}

/* Reads the ring znode and (re-)arms the watch on it. */
static void rw_read(struct ring_watch *watch)
{
    int zrc;

    if (watch->zh == NULL || !watch->connected)
        return;
    zrc = zoo_awget(watch->zh, watch->path, rw_on_node, watch->handle, rw_on_data,
                    watch->handle);
    /* ZINVALIDSTATE: the session is gone and its event is on the way. */
    if (zrc != ZOK && zrc != ZINVALIDSTATE)
        rw_schedule_retry(watch);
}

/* Arms a watch for the creation of the missing ring znode. */
static void rw_await_creation(struct ring_watch *watch)
{
    int zrc;

    if (watch->zh == NULL || !watch->connected)
        return;
    zrc = zoo_awexists(watch->zh, watch->path, rw_on_node, watch->handle, rw_on_exists,
                       watch->handle);
    if (zrc != ZOK && zrc != ZINVALIDSTATE)
        rw_schedule_retry(watch);
}

/* Calls on_event; returns -1 when the application asked to free the watcher
 * from inside it (the caller must then touch nothing more), else 0. */
static int rw_emit(struct ring_watch *watch, enum ring_watch_event event, const char *detail)
{
    if (watch->cb.on_event != NULL)
        watch->cb.on_event(event, detail, watch->cb.arg);
    return watch->free_requested ? -1 : 0;
}

static long rw_ms_since(const struct timeval *then)
{
    struct timeval now, d;

    evutil_gettimeofday(&now, NULL);
    evutil_timersub(&now, then, &d);
    return (long)d.tv_sec * 1000 + (long)(d.tv_usec / 1000);
}

/* Opens a new session after the old one expired; retries later on failure. */
static void rw_reopen(struct ring_watch *watch)
{
    if (rw_open(watch) != 0)
        rw_schedule_retry(watch);
}

/* Gives the session up: closes the handle, reports RING_WATCH_EXPIRED and
 * opens a new session. The cached ring stays. */
static void rw_expire(struct ring_watch *watch, const char *detail)
{
    evtimer_del(watch->expire_ev);
    rw_close(watch);
    if (rw_emit(watch, RING_WATCH_EXPIRED, detail) != 0)
        return;
    rw_reopen(watch);
}

static void rw_on_connected(struct ring_watch *watch, const struct rw_item *item)
{
    char detail[160];
    int was_connected = watch->connected;

    evtimer_del(watch->expire_ev);
    watch->connected = 1;
    watch->session_id = item->session_id;
    if (item->timeout_ms > 0)
        watch->negotiated_ms = item->timeout_ms;
    if (!watch->ever_connected) {
        watch->ever_connected = 1;
        watch->missing = 0;
        snprintf(detail, sizeof(detail), "session 0x%" PRIx64 ", timeout %d ms",
                 (uint64_t)watch->session_id, watch->negotiated_ms);
        if (rw_emit(watch, RING_WATCH_CONNECTED, detail) != 0)
            return;
    } else if (!was_connected) {
        snprintf(detail, sizeof(detail), "session 0x%" PRIx64 " back after %ld ms",
                 (uint64_t)watch->session_id, rw_ms_since(&watch->lost_at));
        if (rw_emit(watch, RING_WATCH_RECONNECTED, detail) != 0)
            return;
    }
    /* The watch may have fired while we were away, or never been armed. */
    rw_read(watch);
}

static void rw_on_disconnected(struct ring_watch *watch)
{
    char detail[160];
    int keep_ms = watch->negotiated_ms > 0 ? watch->negotiated_ms : watch->session_timeout_ms;
    struct timeval tv = { keep_ms / 1000, (keep_ms % 1000) * 1000 };

    if (!watch->connected)
        return;
    watch->connected = 0;
    evutil_gettimeofday(&watch->lost_at, NULL);
    /* A standalone server that restarts revives old sessions, so the server
     * may never say "expired": decide on our own, as Curator does. */
    evtimer_add(watch->expire_ev, &tv);
    snprintf(detail, sizeof(detail),
             "lost the connection to ZooKeeper; keeping session 0x%" PRIx64 " for up to %d ms",
             (uint64_t)watch->session_id, keep_ms);
    rw_emit(watch, RING_WATCH_DISCONNECTED, detail);
}

static void rw_on_session_item(struct ring_watch *watch, const struct rw_item *item)
{
    char detail[160];

    if (item->state == ZOO_CONNECTED_STATE || item->state == ZOO_READONLY_STATE) {
        rw_on_connected(watch, item);
    } else if (item->state == ZOO_EXPIRED_SESSION_STATE) {
        snprintf(detail, sizeof(detail), "ZooKeeper expired session 0x%" PRIx64,
                 (uint64_t)watch->session_id);
        rw_expire(watch, detail);
    } else if (item->state == ZOO_AUTH_FAILED_STATE) {
        rw_expire(watch, "ZooKeeper refused to authenticate the session");
    } else {
        rw_on_disconnected(watch);
    }
}

/* A read returned the znode: deliver it if it is newer than what we have. */
static void rw_on_ring_data(struct ring_watch *watch, const struct rw_item *item)
{
    struct ring_parse_error perr;
    struct ring *ring = NULL;
    char detail[RING_STORE_PATH_MAX + 256];
    int rc;

    /* mzxid orders every change of the znode, across a delete and re-create
     * (where version starts again at 0) and across sessions that may land
     * on a server that is behind: an older or equal one is stale. */
    if (item->stat.mzxid <= watch->mzxid)
        return;
    memset(&perr, 0, sizeof(perr));
    rc = ring_parse(item->data, item->len, &ring, &perr);
    if (rc == RING_ERR_NOMEM) {
        /* Not the znode's fault: leave it unseen and read it again. */
        rw_schedule_retry(watch);
        return;
    }
    watch->mzxid = item->stat.mzxid;
    watch->missing = 0;
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
                     (int)item->stat.version, perr.line, perr.reason);
        else
            snprintf(detail, sizeof(detail), "%s version %d: %s", watch->path,
                     (int)item->stat.version, ring_strerror(rc));
        rw_emit(watch, RING_WATCH_CORRUPT, detail);
        return;
    }
    ring_free(watch->ring);
    watch->ring = ring;
    watch->version = item->stat.version;
    if (watch->cb.on_ring != NULL)
        watch->cb.on_ring(watch->ring, watch->version, watch->cb.arg);
}

static void rw_on_item(struct ring_watch *watch, const struct rw_item *item)
{
    char detail[RING_STORE_PATH_MAX + 64];

    switch (item->kind) {
    case RW_SESSION:
        rw_on_session_item(watch, item);
        break;
    case RW_NODE_EVENT:
        /* Changed, deleted or created: the watch is spent, read and re-arm. */
        rw_read(watch);
        break;
    case RW_DATA:
        if (item->rc == ZOK)
            rw_on_ring_data(watch, item);
        else if (item->rc == ZNONODE)
            rw_await_creation(watch);
        else if (item->rc != ZCLOSING)
            rw_schedule_retry(watch); /* e.g. connection loss: read again */
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
            rw_schedule_retry(watch);
        }
        break;
    }
}

static void rw_destroy(struct ring_watch *watch)
{
    rw_close(watch);
    if (watch->expire_ev != NULL)
        event_free(watch->expire_ev);
    if (watch->retry_ev != NULL)
        event_free(watch->retry_ev);
    zk_glue_handoff_destroy(&watch->handoff);
    ring_free(watch->ring);
    free(watch->hosts);
    free(watch);
}

static void rw_enter(struct ring_watch *watch)
{
    watch->depth++;
}

/* Leaves one of our libevent callbacks; frees the watcher when the
 * application asked for that from inside it. */
static void rw_leave(struct ring_watch *watch)
{
    if (--watch->depth == 0 && watch->free_requested)
        rw_destroy(watch);
}

static void rw_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ring_watch *watch = arg;
    struct zk_glue_item *batch, *link;
    int lost;

    rw_enter(watch);
    batch = zk_glue_handoff_take(&watch->handoff, &lost);
    for (link = batch; link != NULL && !watch->free_requested; link = link->next) {
        /* Items of a handle closed meanwhile (expiry) are stale. */
        if (link->gen == watch->gen && watch->zh != NULL)
            rw_on_item(watch, (const struct rw_item *)link);
    }
    zk_glue_items_free(batch);
    if (lost && !watch->free_requested && watch->zh != NULL) {
        /* We missed something under memory pressure: look at the handle
         * again and read the znode again. */
        int state = zoo_state(watch->zh);
        if (state < 0)
            rw_expire(watch, "session lost while out of memory");
        else
            rw_schedule_retry(watch);
    }
    rw_leave(watch);
}

static void rw_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ring_watch *watch = arg;
    char detail[160];

    rw_enter(watch);
    if (watch->zh != NULL && !watch->connected) {
        snprintf(detail, sizeof(detail),
                 "no connection for %ld ms, longer than the session timeout: "
                 "giving up session 0x%" PRIx64,
                 rw_ms_since(&watch->lost_at), (uint64_t)watch->session_id);
        rw_expire(watch, detail);
    }
    rw_leave(watch);
}

static void rw_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ring_watch *watch = arg;

    rw_enter(watch);
    if (watch->zh == NULL)
        rw_reopen(watch);
    else
        rw_read(watch);
    rw_leave(watch);
}

struct ring_watch *ring_watch_new(struct event_base *base, const char *hosts,
                                  const char *root, const char *name,
                                  int session_timeout_ms,
                                  const struct ring_watch_callbacks *cb, char *errbuf,
                                  size_t errlen)
{
    struct ring_watch *watch = NULL;

    if (base == NULL || hosts == NULL || hosts[0] == '\0') {
        zk_glue_err(errbuf, errlen, "ring_watch_new: %s",
                    base == NULL ? "no event base" : "no ZooKeeper hosts given");
        return NULL;
    }
    if (session_timeout_ms <= 0) {
        zk_glue_err(errbuf, errlen, "the session timeout must be positive, not %d ms",
                    session_timeout_ms);
        return NULL;
    }
    watch = calloc(1, sizeof(*watch));
    if (watch == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    zk_glue_handoff_init(&watch->handoff);
    watch->base = base;
    watch->session_timeout_ms = session_timeout_ms;
    if (cb != NULL)
        watch->cb = *cb;
    if (zk_glue_ring_path(root, name, watch->path, errbuf, errlen) != RING_STORE_OK)
        goto fail;
    snprintf(watch->name, sizeof(watch->name), "%s", name);
    watch->hosts = strdup(hosts);
    if (watch->hosts == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (zk_glue_handoff_start(&watch->handoff, base, rw_pipe_cb, watch, errbuf, errlen) != 0)
        goto fail;
    watch->expire_ev = evtimer_new(base, rw_expire_cb, watch);
    watch->retry_ev = evtimer_new(base, rw_retry_cb, watch);
    if (watch->expire_ev == NULL || watch->retry_ev == NULL) {
        zk_glue_err(errbuf, errlen, "cannot set up libevent events");
        goto fail;
    }
    zk_glue_quiet_log();
    if (rw_open(watch) != 0) {
        zk_glue_err(errbuf, errlen,
                    "cannot start a ZooKeeper client for '%s': %s "
                    "(want host:port[,host:port...])",
                    hosts, strerror(errno));
        goto fail;
    }
    return watch;
fail:
    rw_destroy(watch);
    return NULL;
}

void ring_watch_free(struct ring_watch *watch)
{
    if (watch == NULL)
        return;
    if (watch->depth > 0) {
        /* Called from inside one of our callbacks: finish when it returns. */
        watch->free_requested = 1;
        return;
    }
    rw_destroy(watch);
}

const struct ring *ring_watch_ring(const struct ring_watch *watch)
{
    return watch->ring;
}

int ring_watch_connected(const struct ring_watch *watch)
{
    return watch->connected;
}

int64_t ring_watch_session_id(const struct ring_watch *watch)
{
    return watch->session_id;
}
