/* zk_glue.h: helpers shared by the ring store and the ring watcher (internal). */
#ifndef NEARBY_ZK_GLUE_H
#define NEARBY_ZK_GLUE_H

#include <stddef.h>

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

#endif
