/* zk_session.c: keep one ZooKeeper session alive on a libevent loop for an owner object. */
#include "zk_auth.h"
#include "zk_session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZK_SESSION_RETRY_MS 1000

/* A session state change, queued for the loop. */
struct zk_session_event {
    struct zk_session_item base;
    int state;          /* ZOO_*_STATE */
    int64_t session_id; /* when connected */
    int timeout_ms;     /* when connected: negotiated timeout */
};

/* -- ZooKeeper threads ---------------------------------------------------- */

void *zk_session_item_new(const void *ctx, int kind, size_t size)
{
    const struct zk_session_handle *handle = ctx;
    struct zk_session_item *item = calloc(1, size);

    if (item != NULL) {
        item->kind = kind;
        item->link.gen = handle->gen;
    }
    return item;
}

void zk_session_push(const void *ctx, struct zk_session_item *item)
{
    const struct zk_session_handle *handle = ctx;

    zk_glue_handoff_push(&handle->session->handoff, item ? &item->link : NULL);
}

/* The handle's global watcher: session events. */
static void zk_session_on_watch(zhandle_t *zh, int type, int state, const char *path,
                                void *ctx)
{
    struct zk_session_event *item;

    if (type != ZOO_SESSION_EVENT)
        return;
    /* zoo_add_auth refuses while the handle has no connection yet (state 0,
     * e.g. the server is down when the session is made); then the identity
     * is added here, once connected and before the loop hears of it and
     * sends anything. Once added, the client sends it on every reconnect. */
    if ((state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE)) {
        struct zk_session_handle *handle = (struct zk_session_handle *)ctx;

        if (!handle->auth_added && zk_auth_apply(zh, zk_auth_process()) == ZOK)
            handle->auth_added = 1;
    }
    item = zk_session_item_new(ctx, ZK_SESSION_ITEM_EVENT, sizeof(*item));
    if (item != NULL) {
        item->state = state;
        if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
            const clientid_t *id = zoo_client_id(zh);
            item->session_id = id ? id->client_id : 0;
            item->timeout_ms = zoo_recv_timeout(zh);
        }
    }
    zk_session_push(ctx, item ? &item->base : NULL);
}

/* -- loop thread ---------------------------------------------------------- */

/* Makes a new ZooKeeper handle (a new session). Returns 0, or -1 with errno
 * set when zookeeper_init fails. */
static int zk_session_open(struct zk_session *s)
{
    struct zk_session_handle *handle = malloc(sizeof(*handle));
    zhandle_t *zh;

    if (handle == NULL)
        return -1;
    handle->session = s;
    handle->gen = s->gen + 1;
    handle->auth_added = 0;
    zh = zookeeper_init2(s->hosts, zk_session_on_watch, s->session_timeout_ms, NULL, handle, 0,
                         zk_glue_log);
    if (zh == NULL) {
        int err = errno;
        free(handle);
        errno = err;
        return -1;
    }
    /* Queued before anything else on the connection: every request of this
     * handle runs as the process's identity (or, if refused now, added on
     * connect by zk_session_on_watch). */
    if (zk_auth_apply(zh, zk_auth_process()) == ZOK)
        handle->auth_added = 1;
    s->gen = handle->gen;
    s->handle = handle;
    s->zh = zh;
    s->connected = 0;
    s->ever_connected = 0;
    s->negotiated_ms = 0;
    return 0;
}

/* Closes the current handle, if any, and drops whatever it left queued. */
static void zk_session_close(struct zk_session *s)
{
    if (s->zh == NULL)
        return;
    /* Joins the client's threads; callbacks may still run (on them, or on
     * this thread) until it returns, and only queue items. */
    zookeeper_close(s->zh);
    s->zh = NULL;
    free(s->handle);
    s->handle = NULL;
    s->connected = 0;
    s->session_id = 0;
    zk_glue_handoff_drop(&s->handoff, s->gen);
}

void zk_session_schedule_retry(struct zk_session *s)
{
    struct timeval tv = { ZK_SESSION_RETRY_MS / 1000, (ZK_SESSION_RETRY_MS % 1000) * 1000 };

    if (!evtimer_pending(s->retry_ev, NULL))
        evtimer_add(s->retry_ev, &tv);
}

static long zk_session_ms_since(const struct timeval *then)
{
    struct timeval now, d;

    evutil_gettimeofday(&now, NULL);
    evutil_timersub(&now, then, &d);
    return (long)d.tv_sec * 1000 + (long)(d.tv_usec / 1000);
}

/* Opens a new session after the old one expired; retries later on failure. */
static void zk_session_reopen(struct zk_session *s)
{
    if (zk_session_open(s) != 0)
        zk_session_schedule_retry(s);
}

void zk_session_expire(struct zk_session *s, const char *detail)
{
    evtimer_del(s->expire_ev);
    zk_session_close(s);
    if (s->ops->on_expired != NULL)
        s->ops->on_expired(s->arg, detail);
    if (s->free_requested)
        return;
    zk_session_reopen(s);
}

static void zk_session_on_connected(struct zk_session *s, const struct zk_session_event *ev)
{
    enum zk_session_up how = ZK_SESSION_STILL;

    evtimer_del(s->expire_ev);
    if (!s->ever_connected)
        how = ZK_SESSION_NEW;
    else if (!s->connected)
        how = ZK_SESSION_BACK;
    s->ever_connected = 1;
    s->connected = 1;
    s->session_id = ev->session_id;
    if (ev->timeout_ms > 0)
        s->negotiated_ms = ev->timeout_ms;
    if (s->ops->on_up != NULL)
        s->ops->on_up(s->arg, how, how == ZK_SESSION_BACK ? zk_session_ms_since(&s->lost_at) : 0);
}

static void zk_session_on_disconnected(struct zk_session *s)
{
    int keep_ms = s->negotiated_ms > 0 ? s->negotiated_ms : s->session_timeout_ms;
    struct timeval tv = { keep_ms / 1000, (keep_ms % 1000) * 1000 };

    if (!s->connected)
        return;
    s->connected = 0;
    evutil_gettimeofday(&s->lost_at, NULL);
    /* The server may never say "expired" (see zk_session.h): decide on our own. */
    evtimer_add(s->expire_ev, &tv);
    if (s->ops->on_down != NULL)
        s->ops->on_down(s->arg, keep_ms);
}

static void zk_session_on_event(struct zk_session *s, const struct zk_session_event *ev)
{
    char detail[160];

    if (ev->state == ZOO_CONNECTED_STATE || ev->state == ZOO_READONLY_STATE) {
        zk_session_on_connected(s, ev);
    } else if (ev->state == ZOO_EXPIRED_SESSION_STATE) {
        snprintf(detail, sizeof(detail), "ZooKeeper expired session 0x%" PRIx64,
                 (uint64_t)s->session_id);
        zk_session_expire(s, detail);
    } else if (ev->state == ZOO_AUTH_FAILED_STATE) {
        zk_session_expire(s, "ZooKeeper refused to authenticate the session");
    } else {
        zk_session_on_disconnected(s);
    }
}

static void zk_session_enter(struct zk_session *s)
{
    s->depth++;
}

/* Leaves one of our libevent callbacks; frees the owner when it asked for
 * that from inside it. */
static void zk_session_leave(struct zk_session *s)
{
    if (--s->depth == 0 && s->free_requested && s->ops->on_free != NULL)
        s->ops->on_free(s->arg);
}

static void zk_session_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk_session *s = arg;
    struct zk_glue_item *batch, *link;
    int lost;

    zk_session_enter(s);
    batch = zk_glue_handoff_take(&s->handoff, &lost);
    for (link = batch; link != NULL && !s->free_requested; link = link->next) {
        struct zk_session_item *item = (struct zk_session_item *)link;

        /* Items of a handle closed meanwhile (expiry) are stale. */
        if (link->gen != s->gen || s->zh == NULL)
            continue;
        if (item->kind == ZK_SESSION_ITEM_EVENT)
            zk_session_on_event(s, (const struct zk_session_event *)item);
        else if (s->ops->on_item != NULL)
            s->ops->on_item(s->arg, item);
    }
    zk_glue_items_free(batch);
    if (lost && !s->free_requested && s->zh != NULL && s->ops->on_lost != NULL)
        s->ops->on_lost(s->arg);
    zk_session_leave(s);
}

static void zk_session_expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk_session *s = arg;
    char detail[160];

    zk_session_enter(s);
    if (s->zh != NULL && !s->connected) {
        snprintf(detail, sizeof(detail),
                 "no connection for %ld ms, longer than the session timeout: "
                 "giving up session 0x%" PRIx64,
                 zk_session_ms_since(&s->lost_at), (uint64_t)s->session_id);
        zk_session_expire(s, detail);
    }
    zk_session_leave(s);
}

static void zk_session_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk_session *s = arg;

    zk_session_enter(s);
    if (s->zh == NULL)
        zk_session_reopen(s);
    else if (s->ops->on_retry != NULL)
        s->ops->on_retry(s->arg);
    zk_session_leave(s);
}

int zk_session_check(const char *fn, const struct event_base *base, const char *hosts,
                     int session_timeout_ms, char *errbuf, size_t errlen)
{
    if (base == NULL || hosts == NULL || hosts[0] == '\0') {
        zk_glue_err(errbuf, errlen, "%s: %s", fn,
                    base == NULL ? "no event base" : "no ZooKeeper hosts given");
        return -1;
    }
    if (session_timeout_ms <= 0) {
        zk_glue_err(errbuf, errlen, "the session timeout must be positive, not %d ms",
                    session_timeout_ms);
        return -1;
    }
    return 0;
}

void zk_session_init(struct zk_session *s)
{
    memset(s, 0, sizeof(*s));
    zk_glue_handoff_init(&s->handoff);
}

int zk_session_start(struct zk_session *s, struct event_base *base, const char *hosts,
                     int session_timeout_ms, const struct zk_session_ops *ops, void *arg,
                     char *errbuf, size_t errlen)
{
    s->ops = ops;
    s->arg = arg;
    s->session_timeout_ms = session_timeout_ms;
    s->hosts = strdup(hosts);
    if (s->hosts == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return -1;
    }
    if (zk_glue_handoff_start(&s->handoff, base, zk_session_pipe_cb, s, errbuf, errlen) != 0)
        return -1;
    s->expire_ev = evtimer_new(base, zk_session_expire_cb, s);
    s->retry_ev = evtimer_new(base, zk_session_retry_cb, s);
    if (s->expire_ev == NULL || s->retry_ev == NULL) {
        zk_glue_err(errbuf, errlen, "cannot set up libevent events");
        return -1;
    }
    zk_glue_quiet_log();
    if (zk_session_open(s) != 0) {
        zk_glue_err(errbuf, errlen,
                    "cannot start a ZooKeeper client for '%s': %s "
                    "(want host:port[,host:port...])",
                    hosts, strerror(errno));
        return -1;
    }
    return 0;
}

void zk_session_fini(struct zk_session *s)
{
    zk_session_close(s);
    if (s->expire_ev != NULL)
        event_free(s->expire_ev);
    if (s->retry_ev != NULL)
        event_free(s->retry_ev);
    zk_glue_handoff_destroy(&s->handoff);
    free(s->hosts);
}

int zk_session_free_later(struct zk_session *s)
{
    if (s->depth == 0)
        return 0;
    s->free_requested = 1;
    return 1;
}
