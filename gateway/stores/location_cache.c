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

#include "redis_link.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 1000
#define DEFAULT_BACKOFF_MIN_MS 100
#define DEFAULT_BACKOFF_MAX_MS 5000
#define DEFAULT_MGET_CHUNK 500
#define DEFAULT_MAX_PENDING 65536
#define KEY_MAX 24 /* "loc:" + 20 digits */

struct location_cache {
    struct event_base *base; /* ref: owned by the caller */
    unsigned command_timeout_ms;
    unsigned mget_chunk, max_pending;

    struct redis_link *link;
    uint64_t last_progress_ms; /* last reply, or when the first pending command went out */
    struct event *watchdog, *reap_event;
    int depth;   /* nesting of calls into the owner */
    int freeing; /* location_cache_free was called */

    char *keys;         /* mget_chunk keys of KEY_MAX bytes, reused */
    const char **argv;  /* "MGET" + mget_chunk keys */
    size_t *lens;

    struct location_cache_stats st;
    char errstr[512];
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

int location_cache_encode(char *buf, size_t cap, double lat, double lng, uint64_t ts,
                          uint64_t consent)
{
    size_t n;

    if (cap < LOCATION_CACHE_VALUE_MAX || !coord_ok(lat, 90.0) || !coord_ok(lng, 180.0))
        return LOCATION_CACHE_ERR_INVALID;
    n = put_coord(buf, lat);
    buf[n++] = ',';
    n += put_coord(buf + n, lng);
    buf[n++] = ',';
    n += put_u64(buf + n, ts);
    buf[n++] = ',';
    n += put_u64(buf + n, consent);
    buf[n] = '\0';
    return (int)n;
}

/* Parses a decimal u64 without sign or leading zeros at *p (before end),
 * stopping at the first non-digit; advances *p. Returns 0 or -1. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;

    while (s < end && *s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');

        if ((digits == 1 && v == 0) || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
        digits++;
    }
    if (digits == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
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

int location_cache_decode(const char *buf, size_t len, double *lat, double *lng, uint64_t *ts,
                          uint64_t *consent)
{
    const char *p = buf, *end = buf + len;
    double la, ln;
    uint64_t t, v;

    if (buf == NULL || len == 0 || len > LOCATION_CACHE_VALUE_MAX)
        return LOCATION_CACHE_ERR_INVALID;
    if (parse_coord(&p, end, &la) != 0 || p >= end || *p++ != ',' ||
        parse_coord(&p, end, &ln) != 0 || p >= end || *p++ != ',' ||
        parse_u64(&p, end, &t) != 0 || p >= end || *p++ != ',' ||
        parse_u64(&p, end, &v) != 0 || p != end)
        return LOCATION_CACHE_ERR_INVALID;
    if (!coord_ok(la, 90.0) || !coord_ok(ln, 180.0))
        return LOCATION_CACHE_ERR_INVALID;
    *lat = la;
    *lng = ln;
    *ts = t;
    *consent = v;
    return 0;
}

/* ---- connection ---- */

static void on_link_up(void *arg, struct redis_link *link)
{
    ((struct location_cache *)arg)->st.connects++;
}

static void on_link_down(void *arg, struct redis_link *link, int was_up, int refused)
{
    struct location_cache *cache = arg;

    if (was_up)
        cache->st.disconnects++;
    snprintf(cache->errstr, sizeof cache->errstr, "%s", redis_link_error(link));
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    struct location_cache *cache = arg;

    if (cache->freeing || !redis_link_up(cache->link) || cache->st.pending == 0)
        return;
    if (now_ms() - cache->last_progress_ms >= cache->command_timeout_ms) {
        cache->st.timeouts++;
        redis_link_drop(cache->link, "command timed out");
    }
}

/* Bookkeeping for every reply (or NULL when the connection went). */
static void reply_seen(struct location_cache *cache, const redisReply *reply)
{
    cache->st.pending--;
    if (reply != NULL) {
        cache->last_progress_ms = now_ms();
        redis_link_reset_backoff(cache->link);
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
    if (cache->freeing || !redis_link_up(cache->link))
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
                       uint64_t ts, uint64_t consent, unsigned ttl_s)
{
    char key[KEY_MAX + 1], value[LOCATION_CACHE_VALUE_MAX], ttl[16];
    const char *argv[5] = { "SET", key, value, "EX", ttl };
    size_t lens[5] = { 3, 0, 0, 2, 0 };
    int n, err;

    n = location_cache_encode(value, sizeof value, lat, lng, ts, consent);
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
    if (redisAsyncCommandArgv(redis_link_context(cache->link), set_reply_cb, cache, 5, argv, lens) != REDIS_OK) {
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
    if (redisAsyncCommandArgv(redis_link_context(cache->link), del_reply_cb, cache, 2, argv, lens) != REDIS_OK) {
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
        if (location_cache_decode(v->str, v->len, &e->lat, &e->lng, &e->ts, &e->consent) != 0) {
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
        if (redisAsyncCommandArgv(redis_link_context(cache->link), mget_reply_cb, req, (int)count + 1, cache->argv,
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
    cache->freeing = 1;
    redis_link_free(cache->link); /* mget callbacks free their requests silently */
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
    struct redis_link_config link_cfg;
    static const struct redis_link_callbacks link_cbs = {on_link_up, on_link_down};
    char host[REDIS_LINK_HOST_MAX + 1];
    int port;
    struct timeval tv;

    if (base == NULL || config == NULL || config->addr == NULL ||
        redis_link_parse_addr(config->addr, host, &port) != 0)
        return NULL;
    cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return NULL;
    cache->base = base;
    cache->command_timeout_ms = or_default(config->command_timeout_ms, DEFAULT_COMMAND_TIMEOUT_MS);
    cache->mget_chunk = or_default(config->mget_chunk, DEFAULT_MGET_CHUNK);
    cache->max_pending = or_default(config->max_pending, DEFAULT_MAX_PENDING);

    cache->keys = malloc((size_t)cache->mget_chunk * (KEY_MAX + 1));
    cache->argv = malloc(((size_t)cache->mget_chunk + 1) * sizeof *cache->argv);
    cache->lens = malloc(((size_t)cache->mget_chunk + 1) * sizeof *cache->lens);
    cache->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, cache);
    cache->reap_event = event_new(base, -1, 0, reap_cb, cache);
    link_cfg = (struct redis_link_config){
        .name = "location cache", .addr = config->addr, .user = config->user,
        .password = config->password,
        .connect_timeout_ms = or_default(config->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
        .backoff_min_ms = or_default(config->backoff_min_ms, DEFAULT_BACKOFF_MIN_MS),
        .backoff_max_ms = or_default(config->backoff_max_ms, DEFAULT_BACKOFF_MAX_MS)};
    if (cache->keys && cache->argv && cache->lens && cache->watchdog && cache->reap_event)
        cache->link = redis_link_new(base, &link_cfg, &link_cbs, cache);
    if (cache->link == NULL) {
        cache_destroy(cache);
        return NULL;
    }
    cache->argv[0] = "MGET";
    cache->lens[0] = 4;
    /* a quarter of the timeout: a stuck command is found within 1.25 timeouts */
    tv = ms_tv(cache->command_timeout_ms / 4 ? cache->command_timeout_ms / 4 : 1);
    event_add(cache->watchdog, &tv);
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
    return !cache->freeing && redis_link_up(cache->link);
}

void location_cache_get_stats(const struct location_cache *cache, struct location_cache_stats *out)
{
    *out = cache->st;
    out->up = location_cache_is_up(cache);
}

const char *location_cache_last_error(const struct location_cache *cache)
{
    return cache->errstr;
}
