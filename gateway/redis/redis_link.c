/* redis_link.c: connect with a timeout, AUTH, reconnect with jittered backoff, free safely from callbacks. */
#include "redis_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000
#define NAME_MAX_LEN 64

struct redis_link {
    struct event_base *base; /* ref: owned by the caller */
    char name[NAME_MAX_LEN];
    char host[REDIS_LINK_HOST_MAX + 1];
    int port;
    char user[REDIS_LINK_SECRET_MAX + 1];     /* "" : no AUTH */
    char password[REDIS_LINK_SECRET_MAX + 1];
    size_t user_len, password_len;
    unsigned connect_timeout_ms, backoff_min_ms, backoff_max_ms;
    struct redis_link_callbacks cbs;
    void *arg;

    redisAsyncContext *ac; /* NULL while down; freed by hiredis or by link_drop */
    int up;                /* connected and authenticated */
    unsigned attempt;
    uint64_t connects, disconnects, rng;
    struct event *connect_timer, *retry_timer, *reap_event;
    int freeing;
    char errstr[512];
};

static struct timeval ms_tv(uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void set_error(struct redis_link *link, const char *what, const char *detail)
{
    snprintf(link->errstr, sizeof link->errstr, "%s %s: %s", link->name, what,
             detail ? detail : "unknown");
}

int redis_link_parse_addr(const char *addr, char *host, int *port)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    size_t hlen;
    long p = 0;

    if (colon == NULL || colon == addr || colon[1] == '\0')
        return -1;
    hlen = (size_t)(colon - addr);
    if (hlen > REDIS_LINK_HOST_MAX)
        return -1;
    for (const char *s = colon + 1; *s; s++) {
        if (*s < '0' || *s > '9' || p > 65535)
            return -1;
        p = p * 10 + (*s - '0');
    }
    if (p < 1 || p > 65535)
        return -1;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return 0;
}

static void link_start(struct redis_link *link);

static void schedule_retry(struct redis_link *link)
{
    uint64_t base = link->backoff_min_ms;
    struct timeval tv;

    for (unsigned i = 0; i < link->attempt && base < link->backoff_max_ms; i++)
        base *= 2;
    if (base > link->backoff_max_ms)
        base = link->backoff_max_ms;
    /* xorshift64: jitter only, no need for a good generator. Half fixed, half
     * random, so that links cut together do not come back together. */
    link->rng ^= link->rng << 13;
    link->rng ^= link->rng >> 7;
    link->rng ^= link->rng << 17;
    tv = ms_tv(base / 2 + link->rng % (base / 2 + 1));
    if (link->attempt < 32)
        link->attempt++;
    evtimer_add(link->retry_timer, &tv);
}

/* The connection is gone, whoever noticed; tells the owner. */
static void link_down(struct redis_link *link, int was_up, int refused)
{
    link->ac = NULL;
    link->up = 0;
    evtimer_del(link->connect_timer);
    if (was_up)
        link->disconnects++;
    schedule_retry(link);
    if (link->cbs.on_down)
        link->cbs.on_down(link->arg, link, was_up, refused);
}

/* Frees the context now (hiredis defers it itself when inside one of its
 * callbacks); the callbacks it triggers see link->ac != ac and do nothing.
 * The connection is given up on, so it is reset, not closed: a graceful
 * close would leave what the kernel still holds unsent (commands written
 * while the server was cut off) to be delivered whenever the network heals,
 * to a server that may no longer be the owner of anything. */
static void link_drop(struct redis_link *link, const char *why, int refused)
{
    redisAsyncContext *ac = link->ac;
    int was_up = link->up;
    struct linger reset = {1, 0};

    if (ac == NULL)
        return;
    set_error(link, "dropped", why);
    link->ac = NULL;
    link->up = 0;
    if (ac->c.fd >= 0)
        (void)setsockopt(ac->c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    redisAsyncFree(ac);
    link_down(link, was_up, refused);
}

static void became_up(struct redis_link *link)
{
    evtimer_del(link->connect_timer);
    link->up = 1;
    link->connects++;
    if (link->cbs.on_up)
        link->cbs.on_up(link->arg, link);
}

static void auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_link *link = privdata;
    const redisReply *reply = r;
    char why[REDIS_LINK_SECRET_MAX + 96];

    if (link->ac != ac || link->freeing)
        return;
    if (reply == NULL)
        return; /* the connection went: on_disconnect deals with it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* A wrong password does not get better by hammering: backoff. */
        snprintf(why, sizeof why, "AUTH as '%s' refused: %s", link->user, reply->str);
        link_drop(link, why, 1);
        return;
    }
    became_up(link);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct redis_link *link = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;

    if (link->ac != ac || link->freeing)
        return;
    if (status != REDIS_OK) {
        set_error(link, "connect", ac->errstr);
        link_down(link, 0, 1); /* hiredis frees ac when this returns */
        return;
    }
    if (link->user[0] == '\0') {
        became_up(link);
        return;
    }
    const char *argv[3] = {"AUTH", link->user, link->password};
    size_t lens[3] = {4, link->user_len, link->password_len};

    if (redisAsyncCommandArgv(ac, auth_cb, link, 3, argv, lens) != REDIS_OK)
        set_error(link, "AUTH", ac->errstr); /* the connect timer drops it */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_link *link = ac->data;

    if (link->ac != ac)
        return; /* link_drop freed it and has dealt with it */
    if (link->freeing) {
        link->ac = NULL;
        link->up = 0;
        return;
    }
    set_error(link, "lost", ac->err ? ac->errstr : "connection closed");
    link_down(link, link->up, 0); /* hiredis frees ac when this returns */
}

static void link_start(struct redis_link *link)
{
    redisAsyncContext *ac = redisAsyncConnect(link->host, link->port);
    struct timeval tv = ms_tv(link->connect_timeout_ms);

    if (ac == NULL || ac->err || redisLibeventAttach(ac, link->base) != REDIS_OK) {
        set_error(link, "connect", ac && ac->err ? ac->errstr : "cannot make a connection");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_retry(link);
        return;
    }
    ac->data = link;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    link->ac = ac;
    link->up = 0;
    evtimer_add(link->connect_timer, &tv);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis_link *link = arg;

    if (link->ac != NULL && !link->up && !link->freeing)
        link_drop(link, link->user[0] ? "connect or AUTH timed out" : "connect timed out", 0);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis_link *link = arg;

    if (link->ac == NULL && !link->freeing)
        link_start(link);
}

static void link_destroy(struct redis_link *link)
{
    redisAsyncContext *ac = link->ac;

    link->freeing = 1;
    link->ac = NULL;
    link->up = 0;
    if (ac != NULL)
        redisAsyncFree(ac); /* pending callbacks run now with NULL replies */
    if (link->connect_timer)
        event_free(link->connect_timer);
    if (link->retry_timer)
        event_free(link->retry_timer);
    if (link->reap_event)
        event_free(link->reap_event);
    /* The password does not outlive the link in freed memory. */
    memset(link->password, 0, sizeof link->password);
    free(link);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    link_destroy(arg);
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

struct redis_link *redis_link_new(struct event_base *base, const struct redis_link_config *cfg,
                                  const struct redis_link_callbacks *cbs, void *arg)
{
    struct redis_link *link;
    struct timespec now;

    if (base == NULL || cfg == NULL || cfg->addr == NULL)
        return NULL;
    if (cfg->user != NULL && (strlen(cfg->user) == 0 || strlen(cfg->user) > REDIS_LINK_SECRET_MAX ||
                              cfg->password == NULL ||
                              strlen(cfg->password) > REDIS_LINK_SECRET_MAX))
        return NULL;
    link = calloc(1, sizeof(*link));
    if (link == NULL)
        return NULL;
    if (redis_link_parse_addr(cfg->addr, link->host, &link->port) != 0) {
        free(link);
        return NULL;
    }
    link->base = base;
    snprintf(link->name, sizeof link->name, "%s", cfg->name ? cfg->name : "redis");
    if (cfg->user != NULL) {
        link->user_len = strlen(cfg->user);
        link->password_len = strlen(cfg->password);
        memcpy(link->user, cfg->user, link->user_len + 1);
        memcpy(link->password, cfg->password, link->password_len + 1);
    }
    link->connect_timeout_ms = or_default(cfg->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    link->backoff_min_ms = or_default(cfg->backoff_min_ms, DEFAULT_BACKOFF_MIN_MS);
    link->backoff_max_ms = or_default(cfg->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS);
    if (link->backoff_max_ms < link->backoff_min_ms)
        link->backoff_max_ms = link->backoff_min_ms;
    if (cbs != NULL)
        link->cbs = *cbs;
    link->arg = arg;
    clock_gettime(CLOCK_REALTIME, &now);
    link->rng = ((uint64_t)now.tv_nsec ^ (uint64_t)(uintptr_t)link) | 1;
    link->connect_timer = evtimer_new(base, connect_timeout_cb, link);
    link->retry_timer = evtimer_new(base, retry_cb, link);
    link->reap_event = event_new(base, -1, 0, reap_cb, link);
    if (!link->connect_timer || !link->retry_timer || !link->reap_event) {
        link_destroy(link);
        return NULL;
    }
    link_start(link);
    return link;
}

void redis_link_free(struct redis_link *link)
{
    if (link == NULL || link->freeing)
        return;
    link->freeing = 1;
    /* Inside one of hiredis's callbacks on this connection it still holds
     * the context and may call ours with link as their argument: free from
     * the loop once it has returned. */
    if (link->ac != NULL && (link->ac->c.flags & REDIS_IN_CALLBACK)) {
        event_active(link->reap_event, EV_TIMEOUT, 0);
        return;
    }
    link_destroy(link);
}

void redis_link_drop(struct redis_link *link, const char *why)
{
    if (link != NULL && !link->freeing)
        link_drop(link, why, 0);
}

redisAsyncContext *redis_link_context(const struct redis_link *link)
{
    return link->up && !link->freeing ? link->ac : NULL;
}

int redis_link_up(const struct redis_link *link)
{
    return link->up && !link->freeing;
}

void redis_link_reset_backoff(struct redis_link *link)
{
    link->attempt = 0;
}

const char *redis_link_error(const struct redis_link *link)
{
    return link->errstr;
}

uint64_t redis_link_connects(const struct redis_link *link)
{
    return link->connects;
}

uint64_t redis_link_disconnects(const struct redis_link *link)
{
    return link->disconnects;
}
