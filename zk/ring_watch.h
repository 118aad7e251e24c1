/* ring_watch.h: follow the ring in ZooKeeper from a libevent loop.
 *
 * A watcher owns its own ZooKeeper handle. ZooKeeper calls back on its own
 * threads; the watcher hands every event over to the loop through a pipe, so
 * the callbacks below always run on the loop thread, inside event_base_loop.
 * Watches fire once: each change re-arms the watch with zoo_awget, and a ring
 * is delivered only when the znode version is newer than the last delivered.
 *
 * Connection loss shorter than the session timeout keeps the session and the
 * cached ring. When the session expires (the server says so, or the watcher
 * has been disconnected for longer than the session timeout) the watcher
 * closes the handle, opens a new session and reads the ring again.
 */
#ifndef NEARBY_RING_WATCH_H
#define NEARBY_RING_WATCH_H

#include <stdint.h>

#include <event2/event.h>

#include "ring.h"

struct ring_watch;

enum ring_watch_event {
    RING_WATCH_CONNECTED,    /* a new session is up (first one, or after expiry) */
    RING_WATCH_RECONNECTED,  /* the same session came back after a connection loss */
    RING_WATCH_DISCONNECTED, /* connection lost; the session may still come back */
    RING_WATCH_EXPIRED,      /* the session is gone; a new one is being made */
    RING_WATCH_MISSING,      /* the ring znode does not exist (watching for it) */
    RING_WATCH_CORRUPT,      /* the ring znode holds text that does not parse */
    RING_WATCH_DENIED,       /* ZooKeeper refuses to let us read it (ACL; retrying) */
};

struct ring_watch_callbacks {
    /* A newer ring: ring is the watcher's to keep until it returns; call
     * ring_dup to keep it longer. version is the znode version. */
    void (*on_ring)(const struct ring *ring, int32_t version, void *arg);
    /* Session and znode events, with a readable detail (may be ""). */
    void (*on_event)(enum ring_watch_event event, const char *detail, void *arg);
    void *arg;
};

/* Returns a watcher that connects to hosts and follows ROOT/rings/NAME, or
 * NULL (with a reason in errbuf) when arguments are invalid or the ZooKeeper
 * handle cannot be made. Nothing is delivered before the loop runs. */
struct ring_watch *ring_watch_new(struct event_base *base, const char *hosts,
                                  const char *root, const char *name,
                                  int session_timeout_ms,
                                  const struct ring_watch_callbacks *cb,
                                  char *errbuf, size_t errlen);

/* Closes the ZooKeeper handle and frees the watcher; NULL does nothing. Must
 * not be called from inside one of its callbacks. */
void ring_watch_free(struct ring_watch *watch);

/* Returns 1 while the session is connected. */
int ring_watch_connected(const struct ring_watch *watch);

/* Returns 1 once the ring znode has been read in the current session (the
 * ring delivered last is then the newest, whether that read delivered it or
 * found it unchanged), 0 before, and again from an expiry until the new
 * session's first read: a gateway that rejoins must not report an epoch
 * before it has seen the newest. */
int ring_watch_current(const struct ring_watch *watch);

/* Returns the ZooKeeper session id of the current session (0 if none). */
int64_t ring_watch_session_id(const struct ring_watch *watch);

#endif
