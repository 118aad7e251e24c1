/* gateway_list.c: list the gateways' registrations from a libevent loop, one ZooKeeper request at a time.
 *
 * A read is: getChildren ROOT/gateways, then a get of each child in turn.
 * ZooKeeper's completions only copy their answer into an item for the loop
 * (zk_session); the loop thread issues every request and keeps the state.
 */
#include "gateway_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zookeeper/zookeeper.h>

#include "ring_store.h"
#include "zk_glue.h"
#include "zk_session.h"

enum list_item_kind {
    LIST_CHILDREN = 1, /* the answer to getChildren */
    LIST_DATA,         /* the answer to one get */
};

struct list_children_item {
    struct zk_session_item base; /* first */
    int rc;
    size_t count;                /* names that fit an id, in names[] */
    char names[][RING_ID_MAX + 1];
};

struct list_data_item {
    struct zk_session_item base; /* first */
    int rc;
    int len;
    char data[GATEWAY_REGISTRY_LINE_MAX];
};

struct gateway_list {
    struct event_base *base; /* ref: owned by the application */
    char hosts[1024];
    int session_timeout_ms;
    char dir[RING_STORE_PATH_MAX]; /* ROOT/gateways */
    gateway_list_cb cb;
    void *arg;
    struct zk_session zs;
    int started;                   /* zs was started */

    /* The read in progress; the loop thread's alone. */
    int reading;                   /* a read is wanted */
    int in_flight;                 /* a request is out */
    char (*names)[RING_ID_MAX + 1]; /* the children listed, or NULL before */
    size_t name_count, next;       /* next: the child to get next */
    struct gateway_list_entry *entries;
    size_t count;
    char errstr[RING_STORE_PATH_MAX + 256];
};

/* -- ZooKeeper threads ---------------------------------------------------- */

static void list_on_children(int rc, const struct String_vector *strings, const void *data)
{
    size_t n = rc == ZOK && strings != NULL && strings->count > 0 ? (size_t)strings->count : 0;
    struct list_children_item *item =
        zk_session_item_new(data, LIST_CHILDREN, sizeof(*item) + n * (RING_ID_MAX + 1));

    if (item != NULL) {
        item->rc = rc;
        for (size_t i = 0; i < n; i++)
            if (strlen(strings->data[i]) <= RING_ID_MAX)
                memcpy(item->names[item->count++], strings->data[i], strlen(strings->data[i]) + 1);
    }
    zk_session_push(data, item ? &item->base : NULL);
}

static void list_on_data(int rc, const char *value, int value_len, const struct Stat *stat,
                         const void *data)
{
    struct list_data_item *item = zk_session_item_new(data, LIST_DATA, sizeof(*item));

    if (item != NULL) {
        item->rc = rc;
        if (rc == ZOK && value != NULL && value_len > 0) {
            item->len = value_len < (int)sizeof(item->data) - 1 ? value_len
                                                                 : (int)sizeof(item->data) - 1;
            memcpy(item->data, value, (size_t)item->len);
        }
    }
    zk_session_push(data, item ? &item->base : NULL);
}

/* -- loop thread ---------------------------------------------------------- */

/* Forgets the read's progress; the read itself stays wanted. */
static void list_reset(struct gateway_list *gl)
{
    free(gl->names);
    free(gl->entries);
    gl->names = NULL;
    gl->entries = NULL;
    gl->name_count = gl->next = gl->count = 0;
    gl->in_flight = 0;
}

/* Ends the read with err and tells the caller. */
static void list_finish(struct gateway_list *gl, int err)
{
    struct gateway_list_entry *entries = gl->entries;
    size_t count = err == GATEWAY_LIST_OK ? gl->count : 0;

    gl->entries = NULL;
    list_reset(gl);
    gl->reading = 0;
    gl->cb(gl->arg, err, entries, count);
    free(entries);
}

/* Notes how issuing a request went: on failure it is tried again later
 * (ZINVALIDSTATE: the session is going, and its next one starts over). */
static void list_issued(struct gateway_list *gl, int zrc)
{
    gl->in_flight = zrc == ZOK;
    if (zrc != ZOK && zrc != ZINVALIDSTATE)
        zk_session_schedule_retry(&gl->zs);
}

/* Issues the read's next request, unless one is out or the session is down. */
static void list_kick(struct gateway_list *gl)
{
    char path[RING_STORE_PATH_MAX + RING_ID_MAX + 2];

    if (!gl->reading || gl->in_flight || gl->zs.zh == NULL || !gl->zs.connected)
        return;
    if (gl->names == NULL) {
        list_issued(gl, zoo_aget_children(gl->zs.zh, gl->dir, 0, list_on_children,
                                          gl->zs.handle));
    } else if (gl->next < gl->name_count) {
        snprintf(path, sizeof(path), "%s/%s", gl->dir, gl->names[gl->next]);
        list_issued(gl, zoo_aget(gl->zs.zh, path, 0, list_on_data, gl->zs.handle));
    } else {
        list_finish(gl, GATEWAY_LIST_OK);
    }
}

/* Errors that a new connection or session cures: the read goes on then. */
static int list_transient(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZINVALIDSTATE || rc == ZSESSIONMOVED;
}

/* A completion arrived: take the next step. */
static void list_on_item(void *arg, struct zk_session_item *base)
{
    struct gateway_list *gl = arg;
    int rc;

    if (!gl->reading || !gl->in_flight)
        return;
    gl->in_flight = 0;
    if (base->kind == LIST_CHILDREN) {
        struct list_children_item *item = (struct list_children_item *)base;

        rc = item->rc == ZNONODE ? ZOK : item->rc; /* no gateway ever registered */
        if (rc == ZOK) {
            size_t n = item->rc == ZOK ? item->count : 0;

            gl->names = malloc((n ? n : 1) * sizeof(*gl->names));
            gl->entries = calloc(n ? n : 1, sizeof(*gl->entries));
            if (gl->names == NULL || gl->entries == NULL) {
                list_finish(gl, GATEWAY_LIST_ERR_NOMEM);
                return;
            }
            memcpy(gl->names, item->names, n * sizeof(*gl->names));
            gl->name_count = n;
        }
    } else {
        struct list_data_item *item = (struct list_data_item *)base;

        rc = item->rc == ZNONODE ? ZOK : item->rc; /* went away since the listing */
        if (item->rc == ZOK) {
            struct gateway_list_entry *e = &gl->entries[gl->count++];

            item->data[item->len] = '\0';
            snprintf(e->id, sizeof(e->id), "%s", gl->names[gl->next]);
            gateway_registry_parse(item->data, &e->reg);
        }
        if (rc == ZOK)
            gl->next++;
    }
    if (rc != ZOK && list_transient(rc)) {
        list_reset(gl); /* start over once connected again */
        zk_session_schedule_retry(&gl->zs);
        return;
    }
    if (rc != ZOK) {
        snprintf(gl->errstr, sizeof(gl->errstr), "reading %s: %s", gl->dir, zk_glue_strerror(rc));
        list_finish(gl, GATEWAY_LIST_ERR_ZK);
        return;
    }
    list_kick(gl);
}

static void list_on_up(void *arg, enum zk_session_up how, long away_ms)
{
    list_kick(arg);
}

/* The session went with whatever was in flight: start over in the next. */
static void list_on_expired(void *arg, const char *detail)
{
    list_reset(arg);
}

static void list_on_lost(void *arg)
{
    struct gateway_list *gl = arg;

    zk_session_expire(&gl->zs, "a completion was lost while out of memory");
}

static void list_on_retry(void *arg)
{
    list_kick(arg);
}

static const struct zk_session_ops list_ops = {
    .on_up = list_on_up,
    .on_expired = list_on_expired,
    .on_item = list_on_item,
    .on_lost = list_on_lost,
    .on_retry = list_on_retry,
};

struct gateway_list *gateway_list_new(struct event_base *base, const char *hosts,
                                      const char *root, int session_timeout_ms,
                                      gateway_list_cb cb, void *arg, char *errbuf,
                                      size_t errlen)
{
    struct gateway_list *gl;
    char *slash;

    if (zk_session_check("gateway_list_new", base, hosts, session_timeout_ms, errbuf,
                         errlen) != 0)
        return NULL;
    if (cb == NULL || strlen(hosts) >= sizeof(gl->hosts)) {
        zk_glue_err(errbuf, errlen, "gateway_list_new: %s",
                    cb == NULL ? "no callback" : "hosts too long");
        return NULL;
    }
    gl = calloc(1, sizeof(*gl));
    if (gl == NULL) {
        zk_glue_err(errbuf, errlen, "out of memory");
        return NULL;
    }
    zk_session_init(&gl->zs);
    /* ROOT/gateways/x, checked as the registry checks it, less the "/x". */
    if (zk_glue_gateway_path(root, "x", gl->dir, errbuf, errlen) != RING_STORE_OK) {
        gateway_list_free(gl);
        return NULL;
    }
    slash = strrchr(gl->dir, '/');
    *slash = '\0';
    gl->base = base;
    snprintf(gl->hosts, sizeof(gl->hosts), "%s", hosts);
    gl->session_timeout_ms = session_timeout_ms;
    gl->cb = cb;
    gl->arg = arg;
    return gl;
}

int gateway_list_read(struct gateway_list *gl)
{
    if (gl->reading)
        return GATEWAY_LIST_ERR_BUSY;
    if (!gl->started) {
        if (zk_session_start(&gl->zs, gl->base, gl->hosts, gl->session_timeout_ms, &list_ops, gl,
                             gl->errstr, sizeof(gl->errstr)) != 0) {
            /* Made anew on the next try: start leaves it half set up. */
            zk_session_fini(&gl->zs);
            zk_session_init(&gl->zs);
            return GATEWAY_LIST_ERR_ZK;
        }
        gl->started = 1;
    }
    gl->reading = 1;
    list_kick(gl);
    return GATEWAY_LIST_OK;
}

const char *gateway_list_errstr(const struct gateway_list *gl)
{
    return gl->errstr;
}

void gateway_list_free(struct gateway_list *gl)
{
    if (gl == NULL)
        return;
    zk_session_fini(&gl->zs);
    list_reset(gl);
    free(gl);
}
