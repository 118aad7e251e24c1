/* ring_store.c: the ring in ZooKeeper, read and written synchronously (for tools). */
#include "ring_store.h"
#include "zk_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zk_glue.h"
#include "zk_probe.h"

/* What tools ask for. The client waits 2/3 of it for a server's handshake
 * before it tries the next one, so with 10 s a hung server of an ensemble
 * (SIGSTOP, cut off) made a third of all ringctl calls fail their 5 s connect
 * timeout; at 3 s the next server is tried after 2 s. The server raises it to
 * its minSessionTimeout (2 ticks). */
#define STORE_SESSION_TIMEOUT_MS 3000
#define STORE_UPDATE_TRIES 64
#define STORE_READ_TRIES 8
#define STORE_PROBE_MS 1000 /* per server, to explain a failed connect */
/* The longest ring text: RING_NODES_MAX node lines of at most 619 bytes and a
 * header. A znode whose stat claims more is refused, not allocated for. */
#define STORE_TEXT_MAX (4 << 20)

/* Every handle made by ring_store_connect shares this watcher: it only wakes
 * whoever waits for a session state. It uses no context pointer, so nothing
 * can dangle when the caller keeps the handle after ring_store_connect
 * returns. */
static pthread_once_t store_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t store_cond;

static void store_init_cond(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&store_cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void store_watcher(zhandle_t *zh, int type, int state, const char *path,
                          void *ctx)
{
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&store_lock);
    pthread_cond_broadcast(&store_cond);
    pthread_mutex_unlock(&store_lock);
}

int ring_store_path(const char *root, const char *name, char *path)
{
    return zk_glue_ring_path(root, name, path, NULL, 0);
}

static int store_connect(const char *hosts, int timeout_ms, int session_timeout_ms, int probe,
                         zhandle_t **out, char *errbuf, size_t errlen);

int ring_store_connect(const char *hosts, int timeout_ms, zhandle_t **out, char *errbuf,
                       size_t errlen)
{
    return store_connect(hosts, timeout_ms, STORE_SESSION_TIMEOUT_MS, 1, out, errbuf, errlen);
}

int ring_store_connect_session(const char *hosts, int timeout_ms, int session_timeout_ms,
                               zhandle_t **out, char *errbuf, size_t errlen)
{
    return store_connect(hosts, timeout_ms, session_timeout_ms, 0, out, errbuf, errlen);
}

/* Connects as the header says; with probe set, a failure asks every server
 * what it does (zk_probe.h) to say why. */
static int store_connect(const char *hosts, int timeout_ms, int session_timeout_ms, int probe,
                         zhandle_t **out, char *errbuf, size_t errlen)
{
    zhandle_t *zh;
    struct timespec deadline;
    int state, auth_added;

    if (hosts == NULL || hosts[0] == '\0') {
        zk_glue_err(errbuf, errlen, "no ZooKeeper hosts given (set --zk or NEARBY_ZK)");
        return RING_STORE_ERR_ZK;
    }
    if (timeout_ms <= 0) {
        zk_glue_err(errbuf, errlen, "the connect timeout must be positive, not %d ms",
                    timeout_ms);
        return RING_STORE_ERR_ZK;
    }
    if (session_timeout_ms <= 0) {
        zk_glue_err(errbuf, errlen, "the session timeout must be positive, not %d ms",
                    session_timeout_ms);
        return RING_STORE_ERR_ZK;
    }
    pthread_once(&store_once, store_init_cond);
    zk_glue_quiet_log();
    zh = zookeeper_init2(hosts, store_watcher, session_timeout_ms, NULL, NULL, 0, zk_glue_log);
    if (zh == NULL) {
        zk_glue_err(errbuf, errlen,
                    "cannot use ZooKeeper hosts '%s': %s (want host:port[,host:port...])",
                    hosts, strerror(errno));
        return RING_STORE_ERR_ZK;
    }
    /* Refused while the handle has no connection yet: then added below. */
    auth_added = zk_auth_apply(zh, zk_auth_process()) == ZOK;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    /* zoo_state is set by the client's I/O thread before the session event
     * that wakes us is queued, so checking it under store_lock loses no
     * wake-up. */
    pthread_mutex_lock(&store_lock);
    for (;;) {
        state = zoo_state(zh);
        if (state == ZOO_CONNECTED_STATE || state < 0)
            break;
        if (pthread_cond_timedwait(&store_cond, &store_lock, &deadline) == ETIMEDOUT) {
            state = zoo_state(zh);
            break;
        }
    }
    pthread_mutex_unlock(&store_lock);
    if (state != ZOO_CONNECTED_STATE) {
        zookeeper_close(zh);
        if (state == ZOO_AUTH_FAILED_STATE)
            zk_glue_err(errbuf, errlen, "ZooKeeper at %s refused to authenticate us", hosts);
        else if (probe)
            zk_probe_explain(hosts, timeout_ms, STORE_PROBE_MS, errbuf, errlen);
        else
            zk_glue_err(errbuf, errlen,
                        "cannot reach ZooKeeper at %s within %d ms: is it running? "
                        "(set --zk or NEARBY_ZK)",
                        hosts, timeout_ms);
        return RING_STORE_ERR_ZK;
    }
    /* Connected: sent at once, ahead of any request. */
    if (!auth_added && zk_auth_apply(zh, zk_auth_process()) != ZOK) {
        zookeeper_close(zh);
        zk_glue_err(errbuf, errlen, "cannot hand ZooKeeper at %s our identity", hosts);
        return RING_STORE_ERR_ZK;
    }
    *out = zh;
    return RING_STORE_OK;
}

/* Reads the whole znode at path: 0 with a malloc'd, NUL-terminated copy in
 * *text, its length in *len and its stat in *stat; RING_STORE_ERR_NOTFOUND,
 * RING_STORE_ERR_ZK or RING_STORE_ERR_NOMEM with a reason in errbuf. */
static int store_read(zhandle_t *zh, const char *path, char **text, size_t *len,
                      struct Stat *stat, char *errbuf, size_t errlen)
{
    char *buf = NULL;
    struct Stat st;
    int tries, zrc = ZOK, got = 0;
    int rc = RING_STORE_OK;

    for (tries = 0; tries < STORE_READ_TRIES; tries++) {
        int cap;

        zrc = zoo_exists(zh, path, 0, &st);
        if (zrc != ZOK)
            break;
        if (st.dataLength > STORE_TEXT_MAX) {
            zk_glue_err(errbuf, errlen, "%s holds %d bytes, more than any ring text (%d)", path,
                        st.dataLength, STORE_TEXT_MAX);
            rc = RING_STORE_ERR_CORRUPT;
            goto out;
        }
        cap = st.dataLength > 0 ? st.dataLength + 1 : 1;
        free(buf);
        buf = malloc((size_t)cap);
        if (buf == NULL) {
            zk_glue_err(errbuf, errlen, "out of memory reading %s (%d bytes)", path, cap);
            rc = RING_STORE_ERR_NOMEM;
            goto out;
        }
        got = cap;
        zrc = zoo_get(zh, path, 0, buf, &got, &st);
        /* zoo_get copies at most cap bytes; when the znode grew between the
         * two calls, read it again with a bigger buffer. */
        if (zrc != ZOK || st.dataLength < cap)
            break;
    }
    if (zrc == ZNONODE) {
        rc = RING_STORE_ERR_NOTFOUND;
        goto out;
    }
    if (zrc != ZOK) {
        zk_glue_err(errbuf, errlen, "cannot read %s: %s", path, zk_glue_strerror(zrc));
        rc = RING_STORE_ERR_ZK;
        goto out;
    }
    if (tries == STORE_READ_TRIES) {
        zk_glue_err(errbuf, errlen, "cannot read %s: it keeps growing while being read", path);
        rc = RING_STORE_ERR_ZK;
        goto out;
    }
    if (got < 0)
        got = 0; /* a znode holding no data at all */
    buf[got] = '\0';
    *text = buf;
    *len = (size_t)got;
    *stat = st;
    buf = NULL;
out:
    free(buf);
    return rc;
}

/* Parses the text of ring name read from path (znode version in version):
 * 0 with the built ring in *out, or RING_STORE_ERR_CORRUPT / _NOMEM. */
static int store_parse(const char *text, size_t len, const char *path, const char *name,
                       int32_t version, int build, struct ring **out, char *errbuf,
                       size_t errlen)
{
    struct ring_parse_error perr;
    struct ring *ring = NULL;
    int rc;

    memset(&perr, 0, sizeof(perr));
    rc = build ? ring_parse(text, len, &ring, &perr) : ring_parse_unbuilt(text, len, &ring, &perr);
    if (rc == RING_ERR_NOMEM) {
        zk_glue_err(errbuf, errlen, "out of memory parsing %s", path);
        return RING_STORE_ERR_NOMEM;
    }
    if (rc == RING_ERR_PARSE) {
        zk_glue_err(errbuf, errlen,
                    "%s (version %d) does not hold valid ring text: line %u: %s "
                    "(fix the znode, or delete the ring and create it again)",
                    path, (int)version, perr.line, perr.reason);
        return RING_STORE_ERR_CORRUPT;
    }
    if (rc != RING_OK) {
        zk_glue_err(errbuf, errlen, "%s (version %d) holds a ring that cannot be built: %s",
                    path, (int)version, ring_strerror(rc));
        return RING_STORE_ERR_CORRUPT;
    }
    if (strcmp(ring_name(ring), name) != 0) {
        zk_glue_err(errbuf, errlen,
                    "%s (version %d) holds the ring named '%s', not '%s' "
                    "(was text copied between znodes?)",
                    path, (int)version, ring_name(ring), name);
        ring_free(ring);
        return RING_STORE_ERR_CORRUPT;
    }
    *out = ring;
    return RING_STORE_OK;
}

static void store_not_found(const char *root, const char *name, char *errbuf, size_t errlen)
{
    zk_glue_err(errbuf, errlen,
                "ring '%s' does not exist under %s: create it with `ringctl init`", name,
                root);
}

/* Reads and parses the ring at path: 0 with a new ring in *out and the
 * znode's stat in *stat, or an error with the reason in errbuf (a missing
 * ring says how to create it). */
static int store_load(zhandle_t *zh, const char *root, const char *name, const char *path,
                      int build, struct ring **out, struct Stat *stat, char *errbuf,
                      size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = store_read(zh, path, &text, &len, stat, errbuf, errlen);

    if (rc == RING_STORE_ERR_NOTFOUND)
        store_not_found(root, name, errbuf, errlen);
    if (rc != RING_STORE_OK)
        return rc;
    rc = store_parse(text, len, path, name, stat->version, build, out, errbuf, errlen);
    free(text);
    return rc;
}

static int store_get(zhandle_t *zh, const char *root, const char *name, int build,
                     struct ring **out, int32_t *version, char *errbuf, size_t errlen)
{
    char path[RING_STORE_PATH_MAX];
    struct Stat stat;
    struct ring *ring = NULL;
    int rc;

    rc = zk_glue_ring_path(root, name, path, errbuf, errlen);
    if (rc != RING_STORE_OK)
        return rc;
    if (zh == NULL || out == NULL) {
        zk_glue_err(errbuf, errlen, "ring_store_get: no ZooKeeper handle or output");
        return RING_STORE_ERR_INVALID;
    }
    rc = store_load(zh, root, name, path, build, &ring, &stat, errbuf, errlen);
    if (rc != RING_STORE_OK)
        return rc;
    *out = ring;
    if (version != NULL)
        *version = stat.version;
    return RING_STORE_OK;
}

int ring_store_get(zhandle_t *zh, const char *root, const char *name, struct ring **out,
                   int32_t *version, char *errbuf, size_t errlen)
{
    return store_get(zh, root, name, 1, out, version, errbuf, errlen);
}

int ring_store_get_nodes(zhandle_t *zh, const char *root, const char *name, struct ring **out,
                         int32_t *version, char *errbuf, size_t errlen)
{
    return store_get(zh, root, name, 0, out, version, errbuf, errlen);
}

/* Checks that readers can build ring (so that a ring no reader could build
 * is never written) and formats it as text for the znode: 0 with the text in *text (malloc'd) and
 * its length in *len; on failure RING_STORE_ERR_NOMEM or fail_rc with a
 * reason. */
static int store_format(struct ring *ring, const char *path, int fail_rc, char **text,
                        size_t *len, char *errbuf, size_t errlen)
{
    char *buf;
    size_t n = 0;
    int brc;

    brc = ring_check(ring);
    if (brc != RING_OK) {
        zk_glue_err(errbuf, errlen, "the ring cannot be built: %s", ring_strerror(brc));
        return fail_rc;
    }
    buf = ring_to_text(ring, &n);
    if (buf == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory formatting the ring for %s", path);
        return RING_STORE_ERR_NOMEM;
    }
    if (n > ZK_GLUE_DATA_MAX) {
        zk_glue_err(errbuf, errlen,
                    "the ring text is %zu bytes, more than the %d that fit in one znode "
                    "(ZooKeeper's jute.maxbuffer): use fewer nodes",
                    n, ZK_GLUE_DATA_MAX);
        free(buf);
        return fail_rc;
    }
    *text = buf;
    *len = n;
    return RING_STORE_OK;
}

/* Creates the persistent, empty znode at path, ACLed for its kind
 * (zk_auth.h), unless it exists: 0 or RING_STORE_ERR_ZK with a reason. */
static int store_ensure(zhandle_t *zh, const char *path, enum zk_node_kind kind, char *errbuf,
                        size_t errlen)
{
    int zrc = zoo_create(zh, path, NULL, -1, zk_auth_acl(zk_auth_process(), kind), ZOO_PERSISTENT,
                         NULL, 0);

    if (zrc == ZOK || zrc == ZNODEEXISTS)
        return RING_STORE_OK;
    zk_glue_err(errbuf, errlen, "cannot create %s: %s", path, zk_glue_strerror(zrc));
    return RING_STORE_ERR_ZK;
}

int ring_store_create(zhandle_t *zh, const char *root, const char *name,
                      const struct ring *ring, char *errbuf, size_t errlen)
{
    char path[RING_STORE_PATH_MAX];
    char parent[RING_STORE_PATH_MAX];
    struct ring *copy;
    char *text = NULL;
    size_t len = 0, i;
    int rc, zrc;

    rc = zk_glue_ring_path(root, name, path, errbuf, errlen);
    if (rc != RING_STORE_OK)
        return rc;
    if (zh == NULL || ring == NULL) {
        zk_glue_err(errbuf, errlen, "ring_store_create: no ZooKeeper handle or ring");
        return RING_STORE_ERR_INVALID;
    }
    if (strcmp(ring_name(ring), name) != 0) {
        zk_glue_err(errbuf, errlen, "the ring is named '%s' but would be stored as '%s'",
                    ring_name(ring), name);
        return RING_STORE_ERR_INVALID;
    }
    copy = ring_dup(ring);
    if (copy == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory copying the ring for %s", path);
        return RING_STORE_ERR_NOMEM;
    }
    rc = store_format(copy, path, RING_STORE_ERR_INVALID, &text, &len, errbuf, errlen);
    ring_free(copy);
    if (rc != RING_STORE_OK)
        return rc;
    /* Parents one level at a time: ROOT's own components, then ROOT/rings.
     * Someone else creating them at the same moment is fine. */
    for (i = 1; path[i] != '\0' && rc == RING_STORE_OK; i++) {
        if (path[i] != '/')
            continue;
        memcpy(parent, path, i);
        parent[i] = '\0';
        rc = store_ensure(zh, parent, ZK_NODE_ROOT, errbuf, errlen);
    }
    /* And the gateways' and the autopilot's folders, so that neither needs the
     * right to create anything under ROOT itself. */
    for (int k = 0; k < 2 && rc == RING_STORE_OK; k++) {
        snprintf(parent, sizeof(parent), "%s/%s", root, k ? "autopilot" : "gateways");
        rc = store_ensure(zh, parent, k ? ZK_NODE_AUTOPILOT : ZK_NODE_GATEWAYS, errbuf, errlen);
    }
    if (rc != RING_STORE_OK)
        goto out;
    zrc = zoo_create(zh, path, text, (int)len, zk_auth_acl(zk_auth_process(), ZK_NODE_RING),
                     ZOO_PERSISTENT, NULL, 0);
    if (zrc == ZNODEEXISTS) {
        zk_glue_err(errbuf, errlen,
                    "ring '%s' exists already under %s: change it with the other ringctl "
                    "commands, or delete it first",
                    name, root);
        rc = RING_STORE_ERR_EXISTS;
    } else if (zrc != ZOK) {
        zk_glue_err(errbuf, errlen, "cannot create %s: %s", path, zk_glue_strerror(zrc));
        rc = RING_STORE_ERR_ZK;
    }
out:
    free(text);
    return rc;
}

/* Sleeps a random 1..2^min(attempt,5) ms so that racing writers spread out. */
static void store_backoff(unsigned attempt, uint64_t *seed)
{
    struct timespec ts;
    uint64_t x = *seed;
    unsigned span = 1u << (attempt < 5 ? attempt : 5);

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *seed = x;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(1 + x % span) * 1000000L;
    nanosleep(&ts, NULL);
}

int ring_store_update(zhandle_t *zh, const char *root, const char *name,
                      ring_store_apply_fn apply, void *arg, struct ring **out, char *errbuf,
                      size_t errlen)
{
    char path[RING_STORE_PATH_MAX];
    struct timespec now;
    uint64_t seed;
    unsigned attempt;
    int rc;

    rc = zk_glue_ring_path(root, name, path, errbuf, errlen);
    if (rc != RING_STORE_OK)
        return rc;
    if (zh == NULL || apply == NULL) {
        zk_glue_err(errbuf, errlen, "ring_store_update: no ZooKeeper handle or change");
        return RING_STORE_ERR_INVALID;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    seed = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^ ((uint64_t)getpid() << 40) ^
           (uint64_t)(uintptr_t)&seed;
    if (seed == 0)
        seed = 0x9e3779b97f4a7c15ULL;

    for (attempt = 0; attempt < STORE_UPDATE_TRIES; attempt++) {
        struct ring *ring = NULL;
        char *next = NULL;
        size_t next_len = 0;
        struct Stat stat;
        uint64_t epoch;
        int zrc;

        if (attempt > 0)
            store_backoff(attempt, &seed);
        /* ring is a private copy parsed afresh on every attempt: apply may
         * change it freely and a lost race re-applies to the new state. */
        rc = store_load(zh, root, name, path, 0, &ring, &stat, errbuf, errlen);
        if (rc != RING_STORE_OK)
            return rc;
        epoch = ring_epoch(ring);
        if (errbuf != NULL && errlen > 0)
            errbuf[0] = '\0';
        if (apply(ring, arg, errbuf, errlen) != 0) {
            if (errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
                zk_glue_err(errbuf, errlen, "the change to ring '%s' was refused", name);
            ring_free(ring);
            return RING_STORE_ERR_REFUSED;
        }
        ring_set_epoch(ring, epoch + 1);
        rc = store_format(ring, path, RING_STORE_ERR_REFUSED, &next, &next_len, errbuf, errlen);
        if (rc != RING_STORE_OK) {
            ring_free(ring);
            return rc;
        }
        zrc = zoo_set(zh, path, next, (int)next_len, stat.version);
        free(next);
        if (zrc == ZOK) {
            if (out != NULL)
                *out = ring;
            else
                ring_free(ring);
            return RING_STORE_OK;
        }
        ring_free(ring);
        if (zrc == ZBADVERSION)
            continue;
        if (zrc == ZNONODE) {
            zk_glue_err(errbuf, errlen,
                        "ring '%s' under %s was deleted while being changed: create it "
                        "again with `ringctl init`",
                        name, root);
            return RING_STORE_ERR_NOTFOUND;
        }
        if (zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT) {
            zk_glue_err(errbuf, errlen,
                        "lost the connection to ZooKeeper while writing %s: the change may "
                        "or may not have been applied; look at the ring before trying again",
                        path);
            return RING_STORE_ERR_ZK;
        }
        zk_glue_err(errbuf, errlen, "cannot write %s: %s", path, zk_glue_strerror(zrc));
        return RING_STORE_ERR_ZK;
    }
    zk_glue_err(errbuf, errlen,
                "gave up after %d attempts: %s kept changing under us (other writers?); "
                "try again",
                STORE_UPDATE_TRIES, path);
    return RING_STORE_ERR_CONFLICT;
}

