/* zk_session.h: one ZooKeeper session kept alive on a libevent loop (internal).
 *
 * Shared by the ring watcher and the gateway registry: the owner embeds a
 * struct zk_session and keeps only its own requests. The
 * session opens a handle (tagged with a generation), hands ZooKeeper's
 * callbacks over to the loop through zk_glue, follows the session state and
 * gives the session up on its own after a disconnection longer than the
 * session timeout: a standalone server that restarts revives old sessions,
 * so the server may never say "expired" (Curator decides the same way).
 * Then it closes the handle and opens a new one.
 */
#ifndef NEARBY_ZK_SESSION_H
#define NEARBY_ZK_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>
#include <zookeeper/zookeeper.h>

#include "zk_glue.h"

/* How the session came up, for on_up. */
enum zk_session_up {
    ZK_SESSION_NEW,   /* first time for this handle (a new session) */
    ZK_SESSION_BACK,  /* the same session, after a connection loss */
    ZK_SESSION_STILL, /* connected again while connected (e.g. read-only to full) */
};

/* Kind 0 is the session's own; owners number theirs from 1. */
#define ZK_SESSION_ITEM_EVENT 0

/* What owners' items start with (they are allocated by zk_session_item_new). */
struct zk_session_item {
    struct zk_glue_item link; /* first: zk_glue frees items through it */
    int kind;
};

/* Called on the loop thread, with arg. Any may be NULL. */
struct zk_session_ops {
    /* Connected; away_ms is the time since the loss for ZK_SESSION_BACK. */
    void (*on_up)(void *arg, enum zk_session_up how, long away_ms);
    /* The connection was lost; the session is kept for up to keep_ms. */
    void (*on_down)(void *arg, int keep_ms);
    /* The handle was closed for good (detail says why); a new one follows. */
    void (*on_expired)(void *arg, const char *detail);
    /* One of the owner's items, of the current handle. */
    void (*on_item)(void *arg, struct zk_session_item *item); /* may take what item owns */
    /* An item could not be allocated since the last batch. */
    void (*on_lost)(void *arg);
    /* The retry timer fired while a handle is open. */
    void (*on_retry)(void *arg);
    /* zk_session_free_later was called from inside a callback, and it
     * returned: free the owner now. */
    void (*on_free)(void *arg);
};

/* What the contexts handed to one ZooKeeper handle point at; freed only
 * after zookeeper_close has joined the client's threads. */
struct zk_session_handle {
    struct zk_session *session;
    unsigned gen;
    int auth_added; /* the process's identity is in the handle's auth list */
};

struct zk_session {
    const struct zk_session_ops *ops;
    void *arg;
    char *hosts;
    int session_timeout_ms; /* what we ask for */
    struct zk_glue_handoff handoff;

    /* Everything below is the loop thread's alone. */
    struct event *expire_ev; /* disconnected for longer than the session timeout */
    struct event *retry_ev;  /* try again after a failed request or open */
    zhandle_t *zh;
    struct zk_session_handle *handle; /* the context to give requests */
    unsigned gen;
    int connected;
    int ever_connected; /* this handle's session has been up */
    int64_t session_id;
    int negotiated_ms;
    struct timeval lost_at; /* when the connection was lost */
    int depth;              /* our libevent callbacks on the stack */
    int free_requested;
};

/* Checks new()'s common arguments; fn names the caller in the reason.
 * Returns 0, or -1 with a reason in errbuf. */
int zk_session_check(const char *fn, const struct event_base *base, const char *hosts,
                     int session_timeout_ms, char *errbuf, size_t errlen);

/* Makes s safe to pass to zk_session_fini; cannot fail. */
void zk_session_init(struct zk_session *s);

/* Sets the session up on base and opens the first handle. Returns 0, or -1
 * with a reason in errbuf (then zk_session_fini still must be called). */
int zk_session_start(struct zk_session *s, struct event_base *base, const char *hosts,
                     int session_timeout_ms, const struct zk_session_ops *ops, void *arg,
                     char *errbuf, size_t errlen);

/* Closes the handle and frees what start made. */
void zk_session_fini(struct zk_session *s);

/* Returns 1 when called from inside one of the session's callbacks: the
 * owner is freed through on_free once it returns. Else 0: free it now. */
int zk_session_free_later(struct zk_session *s);

/* Gives the session up: closes the handle, calls on_expired and opens a new
 * session (or retries that later). */
void zk_session_expire(struct zk_session *s, const char *detail);

/* Arms the retry timer unless it is armed. */
void zk_session_schedule_retry(struct zk_session *s);

/* ZooKeeper threads: an item of size bytes (at least a struct
 * zk_session_item) for the handle ctx, zeroed, or NULL. */
void *zk_session_item_new(const void *ctx, int kind, size_t size);

/* ZooKeeper threads: queues item (NULL when it could not be allocated) for
 * the handle ctx and wakes the loop. */
void zk_session_push(const void *ctx, struct zk_session_item *item);

#endif
