/* leader.c: leader election of ringctl autopilots: one ephemeral sequential znode per process, the lowest leads. */
#include "leader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring_store.h"
#include "zk_auth.h"

#define LEADER_DATA_MAX 256
#define LEADER_LOG_MAX 512

struct leader {
    struct leader_config cfg; /* hosts and root point at the copies below */
    char *hosts, *root;
    char dir[RING_STORE_PATH_MAX];     /* ROOT/autopilot */
    char data[LEADER_DATA_MAX];        /* "host=H pid=P start=NS": this process, unique */
    zhandle_t *zh;
    char own[RING_STORE_PATH_MAX];     /* our candidate's path in this session, "" if none */
    char followed[RING_STORE_PATH_MAX]; /* the lowest candidate when we last said whom we follow */
    double connected_at;               /* last poll that saw the session connected */
    enum leader_role role;
    int connect_failed;                /* said so already, until a session opens */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(struct leader *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct leader *l, const char *fmt, ...)
{
    char msg[LEADER_LOG_MAX];
    va_list ap;

    if (!l->cfg.log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->cfg.log(l->cfg.log_arg, msg);
}

/* Returns the candidate number of name, or -1 when name is not one. */
static long long candidate_number(const char *name)
{
    size_t plen = strlen(LEADER_PREFIX);
    unsigned long long n = 0;
    const char *p;

    if (strncmp(name, LEADER_PREFIX, plen) != 0 || name[plen] == '\0')
        return -1;
    for (p = name + plen; *p; p++) {
        if (*p < '0' || *p > '9' || n > 999999999999ULL)
            return -1;
        n = n * 10 + (unsigned long long)(*p - '0');
    }
    return (long long)n;
}

enum leader_role leader_rank(char *const *names, size_t count, const char *own,
                             const char **lowest)
{
    const char *low = NULL;
    long long low_n = -1;
    int own_found = 0;

    for (size_t i = 0; i < count; i++) {
        long long n = candidate_number(names[i]);

        if (n < 0)
            continue;
        if (!low || n < low_n) {
            low = names[i];
            low_n = n;
        }
        own_found |= strcmp(names[i], own) == 0;
    }
    if (lowest)
        *lowest = low;
    if (!own_found)
        return LEADER_NONE;
    return strcmp(low, own) == 0 ? LEADER_LEADER : LEADER_FOLLOWER;
}

struct leader *leader_new(const struct leader_config *cfg)
{
    struct leader *l;
    struct timespec start;
    char host[128] = "?";
    int n;

    if (!cfg->root || cfg->root[0] != '/' || !cfg->hosts)
        return NULL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->cfg = *cfg;
    l->hosts = strdup(cfg->hosts);
    l->root = strdup(cfg->root);
    n = snprintf(l->dir, sizeof(l->dir), "%s/" LEADER_DIR,
                 strcmp(cfg->root, "/") ? cfg->root : "");
    if (!l->hosts || !l->root || n < 0 || (size_t)n >= sizeof(l->dir)) {
        leader_free(l);
        return NULL;
    }
    l->cfg.hosts = l->hosts;
    l->cfg.root = l->root;
    gethostname(host, sizeof(host) - 1);
    clock_gettime(CLOCK_REALTIME, &start);
    snprintf(l->data, sizeof(l->data), "host=%s pid=%ld start=%lld%09ld", host, (long)getpid(),
             (long long)start.tv_sec, start.tv_nsec);
    return l;
}

/* Closes the session; its candidate goes with it (at once if the server
 * hears the close, else when the session times out). */
static void drop_session(struct leader *l)
{
    if (l->zh)
        zookeeper_close(l->zh);
    l->zh = NULL;
    l->own[0] = '\0';
}

void leader_free(struct leader *l)
{
    if (!l)
        return;
    drop_session(l);
    free(l->hosts);
    free(l->root);
    free(l);
}

zhandle_t *leader_handle(const struct leader *l)
{
    return l->zh && zoo_state(l->zh) == ZOO_CONNECTED_STATE ? l->zh : NULL;
}

/* Records role and says so when it changed (or, for a follower, when the
 * leader did). lowest is the lowest candidate's name; why says why not
 * acting. Returns role. */
static enum leader_role set_role(struct leader *l, enum leader_role role, const char *lowest,
                                 const char *why)
{
    char path[RING_STORE_PATH_MAX + 64], data[LEADER_DATA_MAX] = "";
    int len = sizeof(data) - 1;

    if (role == LEADER_LEADER && l->role != LEADER_LEADER) {
        say(l, "leader (%s, %s)", strrchr(l->own, '/') + 1, l->data);
    } else if (role == LEADER_FOLLOWER &&
               (l->role != LEADER_FOLLOWER || strcmp(l->followed, lowest) != 0)) {
        snprintf(path, sizeof(path), "%s/%s", l->dir, lowest);
        if (zoo_get(l->zh, path, 0, data, &len, NULL) == ZOK && len >= 0)
            data[len] = '\0';
        say(l, "follower of %s (%s)", lowest, data[0] ? data : "gone meanwhile");
        snprintf(l->followed, sizeof(l->followed), "%s", lowest);
    } else if (role == LEADER_NONE && l->role != LEADER_NONE) {
        say(l, "not acting: %s", why);
    }
    l->role = role;
    return role;
}

/* Creates ROOT's components and ROOT/autopilot where missing. Returns ZOK or
 * the error. */
static int ensure_dir(struct leader *l)
{
    char part[RING_STORE_PATH_MAX];
    int zrc = ZOK;

    for (size_t i = 1; zrc == ZOK || zrc == ZNODEEXISTS; i++) {
        if (l->dir[i] != '/' && l->dir[i] != '\0')
            continue;
        memcpy(part, l->dir, i);
        part[i] = '\0';
        zrc = zoo_create(l->zh, part, NULL, -1,
                         zk_auth_acl(zk_auth_process(),
                                     l->dir[i] == '\0' ? ZK_NODE_AUTOPILOT : ZK_NODE_ROOT),
                         ZOO_PERSISTENT, NULL, 0);
        /* ZNOAUTH: we may not create there (ZooKeeper says so before it says
         * the znode exists); the candidate's create tells whether it does. */
        if (zrc == ZNOAUTH)
            zrc = ZOK;
        if (l->dir[i] == '\0')
            break;
    }
    return zrc == ZNODEEXISTS ? ZOK : zrc;
}

/* Deletes the candidates that hold our data but are not own: left by an
 * earlier session of this process, they would lead with nobody behind them
 * until that session times out. Best effort. */
static void delete_leftovers(struct leader *l)
{
    struct String_vector names = {0, NULL};
    const char *own_name = strrchr(l->own, '/') + 1;

    if (zoo_get_children(l->zh, l->dir, 0, &names) != ZOK)
        return;
    for (int i = 0; i < names.count; i++) {
        char path[RING_STORE_PATH_MAX + 64], data[LEADER_DATA_MAX];
        int len = sizeof(data) - 1;

        if (strcmp(names.data[i], own_name) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", l->dir, names.data[i]);
        if (zoo_get(l->zh, path, 0, data, &len, NULL) != ZOK || len < 0)
            continue;
        data[len] = '\0';
        if (strcmp(data, l->data) == 0 && zoo_delete(l->zh, path, -1) == ZOK)
            say(l, "deleted %s, our candidate from an earlier session", names.data[i]);
    }
    deallocate_String_vector(&names);
}

/* Makes our candidate in the current session. Returns ZOK or the error; on
 * a lost connection the session is dropped, since the znode may exist
 * without our knowing its name. */
static int create_candidate(struct leader *l)
{
    char prefix[RING_STORE_PATH_MAX + 16];
    int zrc = ensure_dir(l);

    if (zrc != ZOK)
        return zrc;
    snprintf(prefix, sizeof(prefix), "%s/" LEADER_PREFIX, l->dir);
    zrc = zoo_create(l->zh, prefix, l->data, (int)strlen(l->data),
                     zk_auth_acl(zk_auth_process(), ZK_NODE_CANDIDATE),
                     ZOO_EPHEMERAL_SEQUENTIAL, l->own, sizeof(l->own));
    if (zrc != ZOK) {
        l->own[0] = '\0';
        if (zrc == ZCONNECTIONLOSS || zrc == ZOPERATIONTIMEOUT)
            drop_session(l);
        return zrc;
    }
    delete_leftovers(l);
    return ZOK;
}

/* Opens a session when there is none and checks the one there is. Returns
 * 1 when connected, else 0 after saying why through *why. */
static int keep_session(struct leader *l, const char **why)
{
    double now = now_s();
    char err[256];

    if (l->zh) {
        int state = zoo_state(l->zh);
        double timeout_s = zoo_recv_timeout(l->zh) / 1000.0;

        if (state == ZOO_CONNECTED_STATE) {
            l->connected_at = now;
            return 1;
        }
        if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE ||
            now - l->connected_at > timeout_s) {
            say(l, "ZooKeeper session %s; opening a new one",
                state == ZOO_EXPIRED_SESSION_STATE ? "expired"
                : state == ZOO_AUTH_FAILED_STATE   ? "refused authentication"
                                                   : "disconnected for longer than its timeout");
            drop_session(l);
        } else {
            *why = "lost the ZooKeeper connection; the session may still come back";
            return 0;
        }
    }
    if (ring_store_connect_session(l->hosts, l->cfg.connect_ms, l->cfg.session_ms, &l->zh, err,
                                   sizeof(err)) < 0) {
        if (!l->connect_failed)
            say(l, "%s (trying again)", err);
        l->connect_failed = 1;
        l->zh = NULL;
        *why = "no ZooKeeper session";
        return 0;
    }
    if (l->connect_failed)
        say(l, "ZooKeeper session open again");
    l->connect_failed = 0;
    l->connected_at = now_s();
    return 1;
}

enum leader_role leader_poll(struct leader *l)
{
    struct String_vector names = {0, NULL};
    const char *why = "", *lowest = NULL;
    enum leader_role role;
    int zrc;

    if (!keep_session(l, &why))
        return set_role(l, LEADER_NONE, NULL, why);
    if (l->cfg.observer)
        return LEADER_NONE;
    if (!l->own[0] && (zrc = create_candidate(l)) != ZOK) {
        say(l, "cannot create a candidate under %s: %s", l->dir, zerror(zrc));
        return set_role(l, LEADER_NONE, NULL, "not a candidate");
    }
    zrc = zoo_get_children(l->zh, l->dir, 0, &names);
    if (zrc != ZOK) {
        if (zrc == ZNONODE)
            l->own[0] = '\0'; /* someone deleted ROOT/autopilot, our candidate with it */
        return set_role(l, LEADER_NONE, NULL, zerror(zrc));
    }
    role = leader_rank(names.data, (size_t)names.count, strrchr(l->own, '/') + 1, &lowest);
    if (role == LEADER_NONE) {
        say(l, "our candidate %s is gone; joining again", l->own);
        l->own[0] = '\0';
    }
    role = set_role(l, role, lowest, "not a candidate");
    deallocate_String_vector(&names);
    return role;
}
