/* zk_glue.c: helpers shared by the ring store, the ring watcher and the gateway registry. */
#include "zk_glue.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "ring.h"
#include "ring_store.h"

#define ZK_GLUE_LOG_WINDOW_S 30
#define ZK_GLUE_LOG_BURST 3

static pthread_once_t zk_glue_log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t zk_glue_log_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t zk_glue_log_window; /* start of the current window (monotonic s) */
static unsigned zk_glue_log_lines; /* printed in the current window */
static unsigned zk_glue_log_held;  /* held back in the current window */

static void zk_glue_set_log(void)
{
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zoo_set_log_stream(stderr);
}

void zk_glue_quiet_log(void)
{
    pthread_once(&zk_glue_log_once, zk_glue_set_log);
}

void zk_glue_log(const char *message)
{
    struct timespec now;
    size_t len = strlen(message);

    while (len > 0 && message[len - 1] == '\n')
        len--;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&zk_glue_log_lock);
    if (now.tv_sec - zk_glue_log_window >= ZK_GLUE_LOG_WINDOW_S) {
        if (zk_glue_log_held > 0)
            fprintf(stderr, "(ZooKeeper client: %u more log lines held back)\n",
                    zk_glue_log_held);
        zk_glue_log_window = now.tv_sec;
        zk_glue_log_lines = 0;
        zk_glue_log_held = 0;
    }
    if (zk_glue_log_lines < ZK_GLUE_LOG_BURST) {
        zk_glue_log_lines++;
        fprintf(stderr, "%.*s\n", (int)len, message);
    } else {
        zk_glue_log_held++;
    }
    pthread_mutex_unlock(&zk_glue_log_lock);
}

/* Returns 1 when the len bytes at s make a plain znode name. */
static int zk_glue_valid_component(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Returns 1 when root is "/" or "/a/b..." with plain components. */
static int zk_glue_valid_root(const char *root)
{
    const char *p;

    if (root == NULL || root[0] != '/')
        return 0;
    if (root[1] == '\0')
        return 1;
    p = root + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!zk_glue_valid_component(p, len))
            return 0;
        if (slash == NULL)
            return 1;
        p = slash + 1;
    }
}

/* Writes ROOT/<dir>/<name> into path (RING_STORE_PATH_MAX bytes) after
 * checking root and name (what names: "ring name", "gateway id"); name is
 * checked against the id alphabet and at most max characters. */
static int child_path(const char *root, const char *dir, const char *name, size_t max,
                      const char *what, char *path, char *errbuf, size_t errlen)
{
    char full[RING_STORE_PATH_MAX];
    int n;

    if (!zk_glue_valid_root(root)) {
        zk_glue_err(errbuf, errlen,
                    "bad ZooKeeper root '%s': want an absolute path such as /nearby "
                    "(no trailing slash, no '//', names of [A-Za-z0-9._-])",
                    root ? root : "(null)");
        return RING_STORE_ERR_INVALID;
    }
    if (name == NULL || !ring_valid_id(name) || strlen(name) > max) {
        zk_glue_err(errbuf, errlen, "bad %s '%s': want 1 to %zu characters of [A-Za-z0-9._-]",
                    what, name ? name : "(null)", max);
        return RING_STORE_ERR_INVALID;
    }
    if (path == NULL) {
        zk_glue_err(errbuf, errlen, "no buffer for the %s's path", what);
        return RING_STORE_ERR_INVALID;
    }
    n = snprintf(full, sizeof(full), "%s/%s/%s", strcmp(root, "/") == 0 ? "" : root, dir, name);
    if (n < 0 || (size_t)n >= sizeof(full)) {
        zk_glue_err(errbuf, errlen, "ZooKeeper root '%s' and %s '%s' are too long", root, what,
                    name);
        return RING_STORE_ERR_INVALID;
    }
    memcpy(path, full, (size_t)n + 1);
    return RING_STORE_OK;
}

int zk_glue_ring_path(const char *root, const char *name, char *path, char *errbuf,
                      size_t errlen)
{
    return child_path(root, "rings", name, RING_NAME_MAX, "ring name", path, errbuf, errlen);
}

int zk_glue_gateway_path(const char *root, const char *id, char *path, char *errbuf,
                         size_t errlen)
{
    return child_path(root, "gateways", id, RING_ID_MAX, "gateway id", path, errbuf, errlen);
}

void zk_glue_handoff_init(struct zk_glue_handoff *handoff)
{
    memset(handoff, 0, sizeof(*handoff));
    pthread_mutex_init(&handoff->lock, NULL);
    handoff->tail = &handoff->head;
    handoff->pipe_rd = handoff->pipe_wr = -1;
}

int zk_glue_handoff_start(struct zk_glue_handoff *handoff, struct event_base *base,
                          event_callback_fn cb, void *arg, char *errbuf, size_t errlen)
{
    int fds[2];

    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        zk_glue_err(errbuf, errlen, "cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    handoff->pipe_rd = fds[0];
    handoff->pipe_wr = fds[1];
    handoff->pipe_ev = event_new(base, handoff->pipe_rd, EV_READ | EV_PERSIST, cb, arg);
    if (handoff->pipe_ev == NULL || event_add(handoff->pipe_ev, NULL) != 0) {
        zk_glue_err(errbuf, errlen, "cannot set up libevent events");
        return -1;
    }
    return 0;
}

void zk_glue_handoff_push(struct zk_glue_handoff *handoff, struct zk_glue_item *item)
{
    pthread_mutex_lock(&handoff->lock);
    if (item == NULL) {
        handoff->lost = 1;
    } else {
        item->next = NULL;
        *handoff->tail = item;
        handoff->tail = &item->next;
    }
    if (!handoff->signalled) {
        ssize_t n = write(handoff->pipe_wr, "", 1);
        /* The pipe holds at most this one byte, so the write cannot find it
         * full; should it fail anyway, signalled stays 0 and the next item
         * tries again. */
        handoff->signalled = n == 1;
    }
    pthread_mutex_unlock(&handoff->lock);
}

struct zk_glue_item *zk_glue_handoff_take(struct zk_glue_handoff *handoff, int *lost)
{
    struct zk_glue_item *batch;
    char buf[64];

    /* Drain first, then take the queue: an item pushed after we unlock
     * writes a new byte, and one pushed before is in the batch. */
    while (read(handoff->pipe_rd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&handoff->lock);
    batch = handoff->head;
    handoff->head = NULL;
    handoff->tail = &handoff->head;
    handoff->signalled = 0;
    *lost = handoff->lost;
    handoff->lost = 0;
    pthread_mutex_unlock(&handoff->lock);
    return batch;
}

void zk_glue_handoff_drop(struct zk_glue_handoff *handoff, unsigned gen)
{
    struct zk_glue_item *dropped = NULL, **link;

    pthread_mutex_lock(&handoff->lock);
    link = &handoff->head;
    while (*link != NULL) {
        struct zk_glue_item *item = *link;
        if (item->gen == gen) {
            *link = item->next;
            item->next = dropped;
            dropped = item;
        } else {
            link = &item->next;
        }
    }
    handoff->tail = link;
    pthread_mutex_unlock(&handoff->lock);
    zk_glue_items_free(dropped);
}

void zk_glue_handoff_destroy(struct zk_glue_handoff *handoff)
{
    if (handoff->pipe_ev != NULL)
        event_free(handoff->pipe_ev);
    handoff->pipe_ev = NULL;
    zk_glue_items_free(handoff->head);
    handoff->head = NULL;
    handoff->tail = &handoff->head;
    if (handoff->pipe_rd >= 0)
        close(handoff->pipe_rd);
    if (handoff->pipe_wr >= 0)
        close(handoff->pipe_wr);
    handoff->pipe_rd = handoff->pipe_wr = -1;
    pthread_mutex_destroy(&handoff->lock);
}

void zk_glue_items_free(struct zk_glue_item *item)
{
    while (item != NULL) {
        struct zk_glue_item *next = item->next;

        if (item->dispose != NULL)
            item->dispose(item);
        free(item);
        item = next;
    }
}

void zk_glue_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

const char *zk_glue_strerror(int rc)
{
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT)
        return "lost the connection to ZooKeeper (try again; is the server up?)";
    if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE)
        return "the ZooKeeper session expired (reconnect and try again)";
    if (rc == ZNOAUTH)
        return "ZooKeeper refused: not authorized (this identity may not do that; check "
               "--zk-auth-file: its password, and that it is the role's own, e.g. admin "
               "for ringctl)";
    if (rc == ZCLOSING)
        return "the ZooKeeper handle is closing";
    return zerror(rc);
}
