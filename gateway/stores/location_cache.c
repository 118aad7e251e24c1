/* location_cache.c: SET/MGET/DEL of users' latest positions on the location-cache Redis over one hiredis async connection. */
#include "location_cache.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 1000
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000
#define DEFAULT_MGET_CHUNK 500
#define DEFAULT_MAX_PENDING 65536
#define HOST_MAX 255
#define KEY_MAX 24 /* "loc:" + 20 digits */

struct location_cache {
    struct event_base *base; /* ref: owned by the caller */
    char host[HOST_MAX + 1];
    int port;
    unsigned connect_timeout_ms, command_timeout_ms, backoff_min_ms, backoff_max_ms;
    unsigned mget_chunk, max_pending;

    redisAsyncContext *ac; /* NULL while down */
    int up;
    unsigned attempt;
    uint64_t last_progress_ms; /* last reply, or when the first pending command went out */
    struct event *connect_timer, *retry_timer, *watchdog, *reap_event;
    int depth;   /* nesting of calls into the owner */
    int freeing; /* location_cache_free was called */

    char *keys;         /* mget_chunk keys of KEY_MAX bytes, reused */
    const char **argv;  /* "MGET" + mget_chunk keys */
    size_t *lens;

    struct location_cache_stats st;
    uint64_t rng;
    char errstr[160];
};

/* One location_cache_mget: its chunks are answered in order on the one connection. */
struct mget_request {
    struct location_cache *cache; /* ref: owner */
    location_cache_mget_fn *cb;
    void *arg;
    size_t n, nchunks, replied;
    int status;
    struct location_cache_entry entries[];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval ms_tv(uint64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    return tv;
}

static void set_error(struct location_cache *cache, const char *what, const char *detail)
{
    snprintf(cache->errstr, sizeof cache->errstr, "%s: %s", what, detail ? detail : "unknown");
}

const char *location_cache_strerror(int err)
{
    switch (err) {
    case LOCATION_CACHE_OK: return "ok";
    case LOCATION_CACHE_ERR_NOMEM: return "out of memory";
    case LOCATION_CACHE_ERR_INVALID: return "invalid argument";
    case LOCATION_CACHE_ERR_DOWN: return "location cache connection is down";
    case LOCATION_CACHE_ERR_BUSY: return "too many commands pending";
    case LOCATION_CACHE_ERR_REDIS: return "redis error";
    case LOCATION_CACHE_ERR_LOST: return "connection lost before the reply";
    }
    return "unknown error";
}

/* ---- value codec ---- */

static int coord_ok(double v, double limit)
{
    return isfinite(v) && v >= -limit && v <= limit;
}

/* Writes v in decimal; returns the length. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0, len;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    len = n;
    while (n > 0)
        *p++ = tmp[--n];
    return len;
}

/* Writes v (|v| <= 180) with exactly 7 decimals, as "%.7f" would, without
 * printf's cost (it was a sixth of a location update's CPU); rounding goes
 * through v * 1e7, so the last digit may differ from printf's where v sits
 * within a rounding error of a tie. Returns the length. */
static size_t put_coord(char *p, double v)
{
    long long q = llround(v * 1e7);
    uint64_t u = q < 0 ? (uint64_t)-q : (uint64_t)q, frac = u % 10000000u;
    size_t len = 0;

    if (q < 0)
        p[len++] = '-';
    len += put_u64(p + len, u / 10000000u);
    p[len++] = '.';
    for (int i = 6; i >= 0; i--, frac /= 10)
        p[len + (size_t)i] = (char)('0' + frac % 10);
    return len + 7;
}

/* Longest value: two "-180.0000000", 20 digits, two commas and the NUL. */
_Static_assert(LOCATION_CACHE_VALUE_MAX >= 12 + 12 + 20 + 3, "cache value buffer too small");

int location_cache_encode(char *buf, size_t cap, double lat, double lng, uint64_t ts)
{
    size_t n;

    if (cap < LOCATION_CACHE_VALUE_MAX || !coord_ok(lat, 90.0) || !coord_ok(lng, 180.0))
        return LOCATION_CACHE_ERR_INVALID;
    n = put_coord(buf, lat);
    buf[n++] = ',';
    n += put_coord(buf + n, lng);
    buf[n++] = ',';
    n += put_u64(buf + n, ts);
    buf[n] = '\0';
    return (int)n;
}

/* Parses [-](0|[1-9][0-9]{0,2}).[0-9]{7} at *p (before end); advances *p.
 * Returns 0 or -1. */
static int parse_coord(const char **p, const char *end, double *out)
{
    const char *s = *p;
    int neg = 0;
    uint64_t ip = 0, fp = 0;
    int digits = 0;

    if (s < end && *s == '-') {
        neg = 1;
        s++;
    }
    while (s < end && *s >= '0' && *s <= '9') {
        if (digits == 3 || (digits == 1 && ip == 0))
            return -1; /* too long, or a leading zero */
        ip = ip * 10 + (uint64_t)(*s++ - '0');
        digits++;
    }
    if (digits == 0 || s >= end || *s++ != '.')
        return -1;
    for (int i = 0; i < 7; i++) {
        if (s >= end || *s < '0' || *s > '9')
            return -1;
        fp = fp * 10 + (uint64_t)(*s++ - '0');
    }
    /* exact integer / 1e7: one correctly rounded division, as strtod would give */
    *out = (double)(ip * 10000000u + fp) / 1e7;
    if (neg)
        *out = -*out;
    *p = s;
    return 0;
}

int location_cache_decode(const char *buf, size_t len, double *lat, double *lng, uint64_t *ts)
{
    const char *p = buf, *end = buf + len;
    double la, ln;
    uint64_t t = 0;
    int digits = 0;

    if (buf == NULL || len == 0 || len > LOCATION_CACHE_VALUE_MAX)
        return LOCATION_CACHE_ERR_INVALID;
    if (parse_coord(&p, end, &la) != 0 || p >= end || *p++ != ',' ||
        parse_coord(&p, end, &ln) != 0 || p >= end || *p++ != ',')
        return LOCATION_CACHE_ERR_INVALID;
    while (p < end) {
        uint64_t d;
        if (*p < '0' || *p > '9' || (digits == 1 && t == 0))
            return LOCATION_CACHE_ERR_INVALID;
        d = (uint64_t)(*p++ - '0');
        if (t > (UINT64_MAX - d) / 10)
            return LOCATION_CACHE_ERR_INVALID;
        t = t * 10 + d;
        digits++;
    }
    if (digits == 0 || !coord_ok(la, 90.0) || !coord_ok(ln, 180.0))
        return LOCATION_CACHE_ERR_INVALID;
    *lat = la;
    *lng = ln;
    *ts = t;
    return 0;
}

/* ---- connection ---- */

static void conn_start(struct location_cache *cache);

static void conn_schedule_retry(struct location_cache *cache)
{
    uint64_t base = cache->backoff_min_ms;
    struct timeval tv;

    for (unsigned i = 0; i < cache->attempt && base < cache->backoff_max_ms; i++)
        base *= 2;
    if (base > cache->backoff_max_ms)
        base = cache->backoff_max_ms;
    cache->rng ^= cache->rng << 13;
    cache->rng ^= cache->rng >> 7;
    cache->rng ^= cache->rng << 17;
    tv = ms_tv(base / 2 + cache->rng % (base / 2 + 1));
    if (cache->attempt < 32)
        cache->attempt++;
    evtimer_add(cache->retry_timer, &tv);
}

static void conn_down(struct location_cache *cache, int was_up)
{
    cache->ac = NULL;
    cache->up = 0;
    evtimer_del(cache->connect_timer);
    if (was_up)
        cache->st.disconnects++;
    conn_schedule_retry(cache);
}

/* Frees the context from a timer (never inside a hiredis callback): pending
 * callbacks run with NULL replies now; on_disconnect sees cache->ac != ac. */
static void conn_drop(struct location_cache *cache, const char *why)
{
    redisAsyncContext *ac = cache->ac;
    int was_up = cache->up;

    if (ac == NULL)
        return;
    set_error(cache, "location cache", why);
    cache->ac = NULL;
    cache->up = 0;
    redisAsyncFree(ac);
    conn_down(cache, was_up);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct location_cache *cache = ac->data;

    if (cache->ac != ac || cache->freeing)
        return;
    if (status != REDIS_OK) {
        set_error(cache, "location cache connect", ac->errstr);
        conn_down(cache, 0); /* hiredis frees ac when this returns */
        return;
    }
    evtimer_del(cache->connect_timer);
    cache->up = 1;
    cache->st.connects++;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct location_cache *cache = ac->data;

    if (cache->ac != ac)
        return;
    if (cache->freeing) {
        cache->ac = NULL;
        cache->up = 0;
        return;
    }
    set_error(cache, "location cache lost", ac->err ? ac->errstr : "connection closed");
    conn_down(cache, cache->up);
}

static void conn_start(struct location_cache *cache)
{
    redisAsyncContext *ac = redisAsyncConnect(cache->host, cache->port);
    struct timeval tv = ms_tv(cache->connect_timeout_ms);

    if (ac == NULL || ac->err || redisLibeventAttach(ac, cache->base) != REDIS_OK) {
        set_error(cache, "location cache connect", ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        conn_schedule_retry(cache);
        return;
    }
    ac->data = cache;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    cache->ac = ac;
    cache->up = 0;
    evtimer_add(cache->connect_timer, &tv);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct location_cache *cache = arg;

    if (cache->ac != NULL && !cache->up && !cache->freeing)
        conn_drop(cache, "connect timed out");
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct location_cache *cache = arg;

    if (cache->ac == NULL && !cache->freeing)
        conn_start(cache);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    struct location_cache *cache = arg;

    if (cache->freeing || !cache->up || cache->st.pending == 0)
        return;
    if (now_ms() - cache->last_progress_ms >= cache->command_timeout_ms) {
        cache->st.timeouts++;
        conn_drop(cache, "command timed out");
    }
}

/* Bookkeeping for every reply (or NULL when the connection went). */
static void reply_seen(struct location_cache *cache, const redisReply *reply)
{
    cache->st.pending--;
    if (reply != NULL) {
        cache->last_progress_ms = now_ms();
        cache->attempt = 0;
    }
}

static void command_sent(struct location_cache *cache)
{
    if (cache->st.pending++ == 0)
        cache->last_progress_ms = now_ms();
}

/* Returns 0 when a command may be sent now, else the error to return. */
static int can_send(const struct location_cache *cache)
{
    if (!cache->up || cache->freeing)
        return LOCATION_CACHE_ERR_DOWN;
    if (cache->st.pending >= cache->max_pending)
        return LOCATION_CACHE_ERR_BUSY;
    return 0;
}

static void set_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct location_cache *cache = privdata;
    const redisReply *reply = r;

    reply_seen(cache, reply);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cache->st.set_errors++;
        if (reply != NULL)
            set_error(cache, "SET", reply->str);
    }
}

static void del_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct location_cache *cache = privdata;
    const redisReply *reply = r;

    reply_seen(cache, reply);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        cache->st.del_errors++;
        if (reply != NULL)
            set_error(cache, "DEL", reply->str);
    }
}

static size_t format_key(char *buf, uint64_t user)
{
    return (size_t)snprintf(buf, KEY_MAX + 1, "loc:%" PRIu64, user);
}

int location_cache_set(struct location_cache *cache, uint64_t user, double lat, double lng,
                       uint64_t ts, unsigned ttl_s)
{
    char key[KEY_MAX + 1], value[LOCATION_CACHE_VALUE_MAX], ttl[16];
    const char *argv[5] = { "SET", key, value, "EX", ttl };
    size_t lens[5] = { 3, 0, 0, 2, 0 };
    int n, err;

    n = location_cache_encode(value, sizeof value, lat, lng, ts);
    if (n < 0 || ttl_s == 0) {
        cache->st.set_errors++;
        return LOCATION_CACHE_ERR_INVALID;
    }
    if ((err = can_send(cache)) != 0) {
        cache->st.set_errors++;
        return err;
    }
    lens[1] = format_key(key, user);
    lens[2] = (size_t)n;
    lens[4] = (size_t)snprintf(ttl, sizeof ttl, "%u", ttl_s);
    if (redisAsyncCommandArgv(cache->ac, set_reply_cb, cache, 5, argv, lens) != REDIS_OK) {
        cache->st.set_errors++;
        return LOCATION_CACHE_ERR_REDIS;
    }
    cache->st.sets++;
    command_sent(cache);
    return 0;
}

int location_cache_del(struct location_cache *cache, uint64_t user)
{
    char key[KEY_MAX + 1];
    const char *argv[2] = { "DEL", key };
    size_t lens[2] = { 3, 0 };
    int err;

    if ((err = can_send(cache)) != 0) {
        cache->st.del_errors++;
        return err;
    }
    lens[1] = format_key(key, user);
    if (redisAsyncCommandArgv(cache->ac, del_reply_cb, cache, 2, argv, lens) != REDIS_OK) {
        cache->st.del_errors++;
        return LOCATION_CACHE_ERR_REDIS;
    }
    cache->st.dels++;
    command_sent(cache);
    return 0;
}

/* Fills the entries of the request's next chunk from reply (NULL: lost). */
static void mget_fill(struct location_cache *cache, struct mget_request *req,
                      const redisReply *reply)
{
    size_t first = req->replied * cache->mget_chunk;
    size_t count = req->n - first < cache->mget_chunk ? req->n - first : cache->mget_chunk;

    if (reply == NULL) {
        if (req->status == 0)
            req->status = LOCATION_CACHE_ERR_LOST;
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) {
        if (reply->type == REDIS_REPLY_ERROR)
            set_error(cache, "MGET", reply->str);
        if (req->status == 0)
            req->status = LOCATION_CACHE_ERR_REDIS;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const redisReply *v = reply->element[i];
        struct location_cache_entry *e = &req->entries[first + i];
        if (v->type != REDIS_REPLY_STRING) {
            cache->st.misses++;
            continue;
        }
        if (location_cache_decode(v->str, v->len, &e->lat, &e->lng, &e->ts) != 0) {
            cache->st.bad_values++;
            cache->st.misses++;
            continue;
        }
        e->present = 1;
        cache->st.hits++;
    }
}

static void mget_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct mget_request *req = privdata;
    struct location_cache *cache = req->cache;

    reply_seen(cache, r);
    mget_fill(cache, req, r);
    if (++req->replied < req->nchunks)
        return;
    if (req->status != 0)
        cache->st.mget_errors++;
    if (!cache->freeing) {
        cache->depth++;
        req->cb(req->arg, req->status, req->entries, req->n);
        cache->depth--;
    }
    free(req);
}

int location_cache_mget(struct location_cache *cache, const uint64_t *users, size_t n,
                        location_cache_mget_fn *cb, void *arg)
{
    struct mget_request *req;
    int err;

    if (n == 0 || users == NULL || cb == NULL)
        return LOCATION_CACHE_ERR_INVALID;
    if ((err = can_send(cache)) != 0)
        return err;
    req = calloc(1, sizeof *req + n * sizeof req->entries[0]);
    if (req == NULL)
        return LOCATION_CACHE_ERR_NOMEM;
    req->cache = cache;
    req->cb = cb;
    req->arg = arg;
    req->n = n;
    req->nchunks = (n + cache->mget_chunk - 1) / cache->mget_chunk;
    for (size_t i = 0; i < n; i++)
        req->entries[i].user = users[i];
    for (size_t c = 0; c < req->nchunks; c++) {
        size_t first = c * cache->mget_chunk;
        size_t count = n - first < cache->mget_chunk ? n - first : cache->mget_chunk;
        for (size_t i = 0; i < count; i++) {
            char *key = cache->keys + i * (KEY_MAX + 1);
            cache->argv[i + 1] = key;
            cache->lens[i + 1] = format_key(key, users[first + i]);
        }
        if (redisAsyncCommandArgv(cache->ac, mget_reply_cb, req, (int)count + 1, cache->argv,
                                  cache->lens) != REDIS_OK) {
            /* only when out of memory; chunks already sent will answer */
            set_error(cache, "MGET", "hiredis refused the command");
            req->status = LOCATION_CACHE_ERR_REDIS;
            req->nchunks = c;
            break;
        }
        command_sent(cache);
    }
    cache->st.mgets++;
    if (req->nchunks == 0) {
        free(req);
        return LOCATION_CACHE_ERR_REDIS;
    }
    return 0;
}

static void cache_destroy(struct location_cache *cache)
{
    redisAsyncContext *ac = cache->ac;

    cache->freeing = 1;
    cache->ac = NULL;
    cache->up = 0;
    if (ac != NULL)
        redisAsyncFree(ac); /* mget callbacks free their requests silently */
    if (cache->connect_timer)
        event_free(cache->connect_timer);
    if (cache->retry_timer)
        event_free(cache->retry_timer);
    if (cache->watchdog)
        event_free(cache->watchdog);
    if (cache->reap_event)
        event_free(cache->reap_event);
    free(cache->keys);
    free(cache->argv);
    free(cache->lens);
    free(cache);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    cache_destroy(arg);
}

static unsigned or_default(unsigned v, unsigned def)
{
    return v ? v : def;
}

struct location_cache *location_cache_new(struct event_base *base,
                                          const struct location_cache_config *config)
{
    struct location_cache *cache;
    const char *colon;
    size_t hlen;
    long port = 0;
    struct timeval tv;

    if (base == NULL || config == NULL || config->addr == NULL)
        return NULL;
    colon = strrchr(config->addr, ':');
    if (colon == NULL || colon == config->addr || colon[1] == '\0')
        return NULL;
    hlen = (size_t)(colon - config->addr);
    if (hlen > HOST_MAX)
        return NULL;
    for (const char *s = colon + 1; *s; s++) {
        if (*s < '0' || *s > '9' || port > 65535)
            return NULL;
        port = port * 10 + (*s - '0');
    }
    if (port < 1 || port > 65535)
        return NULL;
    cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return NULL;
    memcpy(cache->host, config->addr, hlen);
    cache->host[hlen] = '\0';
    cache->port = (int)port;
    cache->base = base;
    cache->connect_timeout_ms = or_default(config->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    cache->command_timeout_ms = or_default(config->command_timeout_ms, DEFAULT_COMMAND_TIMEOUT_MS);
    cache->backoff_min_ms = or_default(config->backoff_min_ms, DEFAULT_BACKOFF_MIN_MS);
    cache->backoff_max_ms = or_default(config->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS);
    if (cache->backoff_max_ms < cache->backoff_min_ms)
        cache->backoff_max_ms = cache->backoff_min_ms;
    cache->mget_chunk = or_default(config->mget_chunk, DEFAULT_MGET_CHUNK);
    cache->max_pending = or_default(config->max_pending, DEFAULT_MAX_PENDING);
    cache->rng = ((uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)cache) | 1;

    cache->keys = malloc((size_t)cache->mget_chunk * (KEY_MAX + 1));
    cache->argv = malloc(((size_t)cache->mget_chunk + 1) * sizeof *cache->argv);
    cache->lens = malloc(((size_t)cache->mget_chunk + 1) * sizeof *cache->lens);
    cache->connect_timer = evtimer_new(base, connect_timeout_cb, cache);
    cache->retry_timer = evtimer_new(base, retry_cb, cache);
    cache->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, cache);
    cache->reap_event = event_new(base, -1, 0, reap_cb, cache);
    if (!cache->keys || !cache->argv || !cache->lens || !cache->connect_timer ||
        !cache->retry_timer || !cache->watchdog || !cache->reap_event) {
        cache_destroy(cache);
        return NULL;
    }
    cache->argv[0] = "MGET";
    cache->lens[0] = 4;
    /* a quarter of the timeout: a stuck command is found within 1.25 timeouts */
    tv = ms_tv(cache->command_timeout_ms / 4 ? cache->command_timeout_ms / 4 : 1);
    event_add(cache->watchdog, &tv);
    conn_start(cache);
    return cache;
}

void location_cache_free(struct location_cache *cache)
{
    if (cache == NULL || cache->freeing)
        return;
    if (cache->depth > 0) {
        /* inside an mget callback: hiredis still holds the cache */
        cache->freeing = 1;
        event_active(cache->reap_event, EV_TIMEOUT, 0);
        return;
    }
    cache_destroy(cache);
}

int location_cache_is_up(const struct location_cache *cache)
{
    return cache->up;
}

void location_cache_get_stats(const struct location_cache *cache, struct location_cache_stats *out)
{
    *out = cache->st;
    out->up = cache->up;
}

const char *location_cache_last_error(const struct location_cache *cache)
{
    return cache->errstr;
}
