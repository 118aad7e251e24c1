/* ring_store.h: the ring kept in ZooKeeper, read and written synchronously.
 *
 * For tools such as ringctl that may block. The ring named NAME lives at
 * ROOT/rings/NAME as ring text (ring/ring.h); the znode's stat.version is the
 * compare-and-set token. The gateway's non-blocking watcher is ring_watch.h.
 *
 * Functions return 0 on success or a negative RING_STORE_ERR_*; out-parameters
 * are written only on success. A readable reason goes into errbuf (errlen
 * bytes, NUL-terminated) on failure when errbuf is not NULL.
 */
#ifndef NEARBY_RING_STORE_H
#define NEARBY_RING_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <zookeeper/zookeeper.h>

#include "ring.h"

#define RING_STORE_ROOT_DEFAULT "/nearby"
#define RING_STORE_PATH_MAX 512

enum ring_store_err {
    RING_STORE_OK = 0,
    RING_STORE_ERR_ZK = -1,       /* ZooKeeper unreachable or failed */
    RING_STORE_ERR_NOTFOUND = -2, /* the ring does not exist */
    RING_STORE_ERR_EXISTS = -3,   /* the ring exists already */
    RING_STORE_ERR_CORRUPT = -4,  /* the znode holds text that does not parse */
    RING_STORE_ERR_REFUSED = -5,  /* the apply callback refused the change */
    RING_STORE_ERR_CONFLICT = -6, /* still losing the version race after retries */
    RING_STORE_ERR_INVALID = -7,  /* bad root or ring name */
    RING_STORE_ERR_NOMEM = -8,
};

/* Connects to hosts ("h1:p1,h2:p2") and waits up to timeout_ms for the
 * session. Returns 0 and the handle in *out (close with zookeeper_close), or
 * RING_STORE_ERR_ZK. When no session came up, it then asks each server what
 * it does (up to 1 s each, zk_probe.h) and says in errbuf whether ZooKeeper
 * has no quorum or is unreachable, and each server's state: give errbuf
 * 1 KiB. */
int ring_store_connect(const char *hosts, int timeout_ms, zhandle_t **out,
                       char *errbuf, size_t errlen);

/* The same with the session timeout to ask for (the server bounds it to
 * 2..20 ticks); ring_store_connect asks for 3 s, so that a hung server
 * of an ensemble delays its connect by 2 s only. A daemon that holds
 * ephemeral znodes picks a short one so that they go soon after it dies.
 * It probes no server on failure, so a daemon's retries keep their pace. */
int ring_store_connect_session(const char *hosts, int timeout_ms, int session_timeout_ms,
                               zhandle_t **out, char *errbuf, size_t errlen);

/* Writes ROOT/rings/NAME into path (RING_STORE_PATH_MAX bytes). Returns 0 or
 * RING_STORE_ERR_INVALID when root is not an absolute znode path or name is
 * not a valid ring name. */
int ring_store_path(const char *root, const char *name, char *path);

/* Reads the ring: 0 with a new built ring in *out (caller frees) and the
 * znode version in *version (may be NULL). */
int ring_store_get(zhandle_t *zh, const char *root, const char *name,
                   struct ring **out, int32_t *version, char *errbuf, size_t errlen);

/* The same, leaving the ring unbuilt: for readers of the nodes alone (a
 * build costs a quarter of a second a view at 200 nodes). */
int ring_store_get_nodes(zhandle_t *zh, const char *root, const char *name,
                         struct ring **out, int32_t *version, char *errbuf, size_t errlen);

/* Creates ROOT/rings/NAME (and missing parents) holding ring. Fails with
 * RING_STORE_ERR_EXISTS when it is there already. */
int ring_store_create(zhandle_t *zh, const char *root, const char *name,
                      const struct ring *ring, char *errbuf, size_t errlen);

/* Called with a private copy of the current ring; changes it in place and
 * returns 0, or returns non-zero (after writing a reason into errbuf) to
 * refuse. It may run several times, once per version race lost. */
typedef int (*ring_store_apply_fn)(struct ring *ring, void *arg, char *errbuf,
                                   size_t errlen);

/* Read-modify-write with compare-and-set: reads the ring, lets apply change
 * it, bumps the epoch by one, and writes it only if the znode version is still
 * the one read; on a version conflict re-reads and re-applies (up to 64
 * times). apply gets the ring unbuilt (nodes only; ring_build it for
 * lookups). On success *out (may be NULL) gets the ring as written, unbuilt. */
int ring_store_update(zhandle_t *zh, const char *root, const char *name,
                      ring_store_apply_fn apply, void *arg, struct ring **out,
                      char *errbuf, size_t errlen);

#endif
