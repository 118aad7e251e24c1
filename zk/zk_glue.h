/* zk_glue.h: helpers shared by the ring store, the ring watcher and the gateway registry (internal). */
#ifndef NEARBY_ZK_GLUE_H
#define NEARBY_ZK_GLUE_H

#include <pthread.h>
#include <stddef.h>

#include <event2/event.h>

/* ZooKeeper accepts at most this much data in one znode (jute.maxbuffer,
 * 1 MiB by default, less some room for the request around it). */
#define ZK_GLUE_DATA_MAX (1024 * 1024 - 4096)

/* Checks root (absolute, "/" or "/a/b" with components of [A-Za-z0-9._-],
 * no trailing slash, no "//", no "." or "..") and name (ring_valid_id) and
 * writes ROOT/rings/NAME into path (RING_STORE_PATH_MAX bytes). Returns 0, or
 * RING_STORE_ERR_INVALID with a reason in errbuf (may be NULL). */
int zk_glue_ring_path(const char *root, const char *name, char *path, char *errbuf,
                      size_t errlen);

/* Lowers the ZooKeeper client's log level to errors only. The level is
 * process-wide; it is set once, on the first call, so an application that
 * wants the client's debug log can raise it afterwards. Handles made with
 * zk_glue_log as their log callback then print through it. */
void zk_glue_quiet_log(void);

/* The log callback for zookeeper_init2: the client's lines go to stderr, but
 * at most a few per half minute, so that a server that is down for a while
 * (the client logs every failed connect, several a second) does not flood
 * the log; how many were held back is said when the next window opens. */
void zk_glue_log(const char *message);

/* Writes a formatted reason into errbuf (errlen bytes, NUL-terminated) when
 * errbuf is not NULL and errlen > 0. */
void zk_glue_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns a readable phrase for a ZooKeeper return code, with a hint at what
 * to do where there is one (e.g. for lost connections). Static storage. */
const char *zk_glue_strerror(int rc);

/* Checks root as zk_glue_ring_path does and id (ring_valid_id) and writes
 * ROOT/gateways/ID into path (RING_STORE_PATH_MAX bytes). Returns 0, or
 * RING_STORE_ERR_INVALID with a reason in errbuf (may be NULL). */
int zk_glue_gateway_path(const char *root, const char *id, char *path, char *errbuf,
                         size_t errlen);

/* -- hand-over from ZooKeeper's threads to a libevent loop -----------------
 *
 * ZooKeeper calls back on its own threads. Those callbacks only copy what
 * happened into an item (a struct that starts with a struct zk_glue_item,
 * allocated with malloc in one block) and push it; the first push into an
 * empty queue writes one byte into a pipe, and the loop's callback for the
 * pipe takes the whole queue. Items carry the generation of the ZooKeeper
 * handle they came from, so that those of a closed handle can be dropped. */

struct zk_glue_item {
    struct zk_glue_item *next;
    unsigned gen; /* generation of the handle it came from */
    /* May be NULL: frees what the item owns beyond its own block, before
     * zk_glue_items_free frees the block. */
    void (*dispose)(struct zk_glue_item *item);
};

struct zk_glue_handoff {
    pthread_mutex_t lock; /* guards everything up to pipe_wr */
    struct zk_glue_item *head;
    struct zk_glue_item **tail;
    int signalled; /* a byte is in the pipe that the loop has not drained */
    int lost;      /* an item could not be allocated: the owner resynchronises */
    int pipe_rd, pipe_wr;
    struct event *pipe_ev; /* the loop thread's */
};

/* Makes handoff empty and safe to pass to zk_glue_handoff_destroy; cannot fail. */
void zk_glue_handoff_init(struct zk_glue_handoff *handoff);

/* Makes the pipe and adds an event on base that calls cb(fd, what, arg) when
 * items wait. Returns 0, or -1 with a reason in errbuf. */
int zk_glue_handoff_start(struct zk_glue_handoff *handoff, struct event_base *base,
                          event_callback_fn cb, void *arg, char *errbuf, size_t errlen);

/* Any thread: queues item, or notes a loss when item is NULL (it could not
 * be allocated), and wakes the loop. */
void zk_glue_handoff_push(struct zk_glue_handoff *handoff, struct zk_glue_item *item);

/* Loop thread, from the pipe callback: drains the pipe and returns the whole
 * queue (the caller frees it with zk_glue_items_free); *lost is set to 1 when
 * an item was lost since the last call, else 0. */
struct zk_glue_item *zk_glue_handoff_take(struct zk_glue_handoff *handoff, int *lost);

/* Loop thread: frees the queued items of generation gen (after its handle
 * was closed, when nothing can push them any more). */
void zk_glue_handoff_drop(struct zk_glue_handoff *handoff, unsigned gen);

/* Frees the queued items, the event and the pipe. Every handle pushing into
 * it must be closed first. */
void zk_glue_handoff_destroy(struct zk_glue_handoff *handoff);

/* Frees a list of items as zk_glue_handoff_take returns it. */
void zk_glue_items_free(struct zk_glue_item *item);

#endif
