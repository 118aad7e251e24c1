/* test-redis-integration.c: the gateway's Redis modules (pubsub_node, location_cache) against real redis-servers.
 *
 * Run by test/integration/gateway-redis.sh, which starts the servers:
 *   test-redis-integration DIR REDIS_SCRIPT PUBSUB1_ADDR PUBSUB2_ADDR CACHE_ADDR
 * DIR holds redis-P.pid for each server (scripts/redis writes them); the
 * test sends SIGSTOP/SIGCONT to the first and stops/starts the second through
 * REDIS_SCRIPT. Every step has a deadline; the loop never waits unbounded.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "location_cache.h"
#include "pubsub_node.h"

#define NCHANNELS 20000
#define NORDER 200

static struct event_base *base;
static uint64_t last_tick_ms, max_gap_ms;
static const char *dir, *redis_script;
static char names[NCHANNELS][16];
static size_t name_lens[NCHANNELS];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t t_start;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    printf("[%6.2f s] ", (double)(now_ms() - t_start) / 1000.0);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* A 10 ms timer: the largest gap between its runs shows whether anything blocked the loop. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = now_ms();
    if (last_tick_ms != 0 && now - last_tick_ms > max_gap_ms)
        max_gap_ms = now - last_tick_ms;
    last_tick_ms = now;
}

/* Runs the loop until cond(arg) holds; returns the ms it took, or -1 at the deadline. */
static long run_until(int (*cond)(void *), void *arg, unsigned deadline_ms)
{
    uint64_t t0 = now_ms();
    while (!cond(arg)) {
        if (now_ms() - t0 >= deadline_ms)
            return -1;
        event_base_loop(base, EVLOOP_ONCE);
    }
    return (long)(now_ms() - t0);
}

static int never(void *arg)
{
    return 0;
}

static void run_for(unsigned ms)
{
    run_until(never, NULL, ms);
}

/* ---- blocking helpers (test side only) ---- */

static redisContext *blocking(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct timeval tv = { 2, 0 };
    redisContext *c;

    CHECK(colon && (size_t)(colon - addr) < sizeof host, "address %s", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    CHECK(c && !c->err, "connect %s: %s", addr, c ? c->errstr : "nomem");
    redisSetTimeout(c, tv);
    return c;
}

/* Asks PUBSUB NUMSUB for names[first..first+n) (or one extra channel when
 * extra is set); returns how many have at least one subscriber. */
static size_t numsub(redisContext *c, size_t first, size_t n, const char *extra)
{
    const char **argv = malloc((n + 3) * sizeof *argv);
    size_t *lens = malloc((n + 3) * sizeof *lens);
    size_t argc = 2, subscribed = 0;
    redisReply *r;

    argv[0] = "PUBSUB";
    lens[0] = 6;
    argv[1] = "NUMSUB";
    lens[1] = 6;
    for (size_t i = first; i < first + n; i++) {
        argv[argc] = names[i];
        lens[argc++] = name_lens[i];
    }
    if (extra) {
        argv[argc] = extra;
        lens[argc++] = strlen(extra);
    }
    r = redisCommandArgv(c, (int)argc, argv, lens);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 * (argc - 2), "PUBSUB NUMSUB: %s",
          r ? (r->type == REDIS_REPLY_ERROR ? r->str : "bad reply") : c->errstr);
    for (size_t i = 1; i < r->elements; i += 2)
        subscribed += r->element[i]->integer > 0;
    freeReplyObject(r);
    free(argv);
    free(lens);
    return subscribed;
}

static long long kill_pubsub_clients(redisContext *c)
{
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE pubsub");
    long long n;
    CHECK(r && r->type == REDIS_REPLY_INTEGER, "CLIENT KILL: %s", r ? r->str : c->errstr);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

static pid_t redis_pid(const char *addr)
{
    char path[512];
    const char *colon = strrchr(addr, ':');
    FILE *f;
    long pid = 0;

    snprintf(path, sizeof path, "%s/redis-%s.pid", dir, colon + 1);
    f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    CHECK(fscanf(f, "%ld", &pid) == 1 && pid > 1, "pid in %s", path);
    fclose(f);
    return (pid_t)pid;
}

static void redis_script_run(const char *cmd, const char *addr)
{
    char line[1024];
    snprintf(line, sizeof line, "timeout 30 '%s' %s --dir '%s' --port %s >/dev/null", redis_script,
             cmd, dir, strrchr(addr, ':') + 1);
    CHECK(system(line) == 0, "%s", line);
}

/* ---- what the owner of a node sees ---- */

struct watch {
    enum pubsub_node_state state;
    uint64_t dead_at, alive_at;
    unsigned resubscribed;
    size_t subscribed_calls;
    size_t order_next; /* next expected "p-<n>" on t:order */
    size_t order_bad;
    size_t other_messages;
    int free_on_alive;
};

static void on_message(void *arg, struct pubsub_node *node, const char *channel, size_t channel_len,
                       const uint8_t *payload, size_t payload_len)
{
    struct watch *w = arg;
    char want[32];
    int n;

    if (channel_len == 7 && memcmp(channel, "t:order", 7) == 0) {
        n = snprintf(want, sizeof want, "p-%zu", w->order_next);
        if ((size_t)n == payload_len && memcmp(want, payload, payload_len) == 0)
            w->order_next++;
        else
            w->order_bad++;
        return;
    }
    w->other_messages++;
}

static void on_subscribed(void *arg, struct pubsub_node *node, const char *channel,
                          size_t channel_len)
{
    struct watch *w = arg;
    w->subscribed_calls++;
}

static void on_resubscribed(void *arg, struct pubsub_node *node, size_t channels)
{
    struct watch *w = arg;
    w->resubscribed++;
}

static void on_state(void *arg, struct pubsub_node *node, enum pubsub_node_state state)
{
    struct watch *w = arg;
    w->state = state;
    if (state == PUBSUB_NODE_DEAD)
        w->dead_at = now_ms();
    if (state == PUBSUB_NODE_ALIVE)
        w->alive_at = now_ms();
    if (state == PUBSUB_NODE_ALIVE && w->free_on_alive)
        pubsub_node_free(node);
}

static const struct pubsub_node_callbacks watch_cbs = {
    .on_message = on_message,
    .on_subscribed = on_subscribed,
    .on_resubscribed = on_resubscribed,
    .on_state = on_state,
};

static int is_alive(void *arg)
{
    return ((struct watch *)arg)->state == PUBSUB_NODE_ALIVE;
}

static int is_dead(void *arg)
{
    return ((struct watch *)arg)->state == PUBSUB_NODE_DEAD;
}

struct until_subscribed {
    struct pubsub_node *node;
    uint64_t n;
};

static int all_subscribed(void *arg)
{
    struct until_subscribed *u = arg;
    struct pubsub_node_stats st;
    pubsub_node_get_stats(u->node, &st);
    return st.channels_subscribed == u->n && st.channels_wanted == u->n;
}

struct until_count {
    size_t *value;
    size_t n;
};

static int count_reached(void *arg)
{
    struct until_count *u = arg;
    return *u->value >= u->n;
}

static int resubscribing(void *arg)
{
    struct pubsub_node_stats st;
    pubsub_node_get_stats(arg, &st);
    return st.subscriber_up && st.channels_subscribed < st.channels_wanted;
}

struct until_resub {
    struct watch *w;
    unsigned before;
    struct pubsub_node *node;
};

static int resubscribed_again(void *arg)
{
    struct until_resub *u = arg;
    struct pubsub_node_stats st;
    pubsub_node_get_stats(u->node, &st);
    return u->w->resubscribed > u->before && st.channels_subscribed == st.channels_wanted;
}

struct until_disconnects {
    struct pubsub_node *node;
    uint64_t n;
};

static int disconnects_reached(void *arg)
{
    struct until_disconnects *u = arg;
    struct pubsub_node_stats st;
    pubsub_node_get_stats(u->node, &st);
    return st.disconnects >= u->n;
}

static void publish_order(struct pubsub_node *node, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char p[32];
        int len = snprintf(p, sizeof p, "p-%zu", i);
        CHECK(pubsub_node_publish(node, "t:order", 7, (const uint8_t *)p, (size_t)len) == 0,
              "publish %zu", i);
    }
}

static void check_order(struct watch *w, size_t n)
{
    struct until_count u = { &w->order_next, n };
    CHECK(run_until(count_reached, &u, 3000) >= 0, "got %zu of %zu ordered messages", w->order_next,
          n);
    run_for(100); /* nothing more may come */
    CHECK(w->order_next == n && w->order_bad == 0, "ordered messages: %zu good, %zu bad",
          w->order_next, w->order_bad);
}

static void test_pubsub(const char *addr1, const char *addr2)
{
    struct watch w = { .state = PUBSUB_NODE_CONNECTING };
    struct pubsub_node_config cfg = { .id = "r1", .addr = addr1, .gateway_id = "gw-test" };
    struct pubsub_node *node = pubsub_node_new(base, &cfg, &watch_cbs, &w);
    struct pubsub_node_stats st, st0;
    redisContext *blk = blocking(addr1);
    struct until_subscribed us;
    long ms;

    CHECK(node != NULL, "pubsub_node_new");
    ms = run_until(is_alive, &w, 5000);
    CHECK(ms >= 0, "node alive: state %s, error '%s'", pubsub_node_state_name(w.state),
          pubsub_node_last_error(node));
    note("node alive after %ld ms", ms);

    /* publish -> exactly the payloads, in order */
    CHECK(pubsub_node_subscribe(node, "t:order", 7) == 0, "subscribe t:order");
    us = (struct until_subscribed){ node, 1 };
    CHECK(run_until(all_subscribed, &us, 3000) >= 0, "t:order subscribed");
    CHECK(w.subscribed_calls == 1, "on_subscribed once, got %zu", w.subscribed_calls);
    publish_order(node, NORDER);
    check_order(&w, NORDER);
    pubsub_node_get_stats(node, &st);
    CHECK(st.published == NORDER && st.publish_errors == 0 && st.messages_in == NORDER,
          "counters: published %" PRIu64 " errors %" PRIu64 " in %" PRIu64, st.published,
          st.publish_errors, st.messages_in);
    note("publish/receive: %d payloads in order", NORDER);

    /* 20 000 channels in a handful of commands */
    pubsub_node_get_stats(node, &st0);
    uint64_t t0 = now_ms();
    for (size_t i = 0; i < NCHANNELS; i++)
        CHECK(pubsub_node_subscribe(node, names[i], name_lens[i]) == 0, "subscribe %s", names[i]);
    us = (struct until_subscribed){ node, NCHANNELS + 1 };
    CHECK(run_until(all_subscribed, &us, 10000) >= 0, "20000 subscribed");
    uint64_t took = now_ms() - t0;
    pubsub_node_get_stats(node, &st);
    uint64_t cmds = st.subscribe_commands - st0.subscribe_commands;
    CHECK(cmds <= 25, "%" PRIu64 " SUBSCRIBE commands for %d channels", cmds, NCHANNELS);
    CHECK(w.subscribed_calls == NCHANNELS + 1, "on_subscribed %zu", w.subscribed_calls);
    CHECK(numsub(blk, 0, NCHANNELS, NULL) == NCHANNELS, "PUBSUB NUMSUB after subscribe");
    note("subscribed %d channels in %" PRIu64 " ms with %" PRIu64 " commands (%.0f channels/s)",
         NCHANNELS, took, cmds, NCHANNELS * 1000.0 / (double)(took ? took : 1));

    /* unsubscribe the second half */
    pubsub_node_get_stats(node, &st0);
    for (size_t i = NCHANNELS / 2; i < NCHANNELS; i++)
        CHECK(pubsub_node_unsubscribe(node, names[i], name_lens[i]) == 0, "unsubscribe");
    t0 = now_ms();
    for (;;) {
        run_for(50);
        if (numsub(blk, NCHANNELS / 2, NCHANNELS / 2, NULL) == 0)
            break;
        CHECK(now_ms() - t0 < 5000, "unsubscribed channels still have subscribers");
    }
    pubsub_node_get_stats(node, &st);
    CHECK(st.channels_wanted == NCHANNELS / 2 + 1 && st.channels_subscribed == NCHANNELS / 2 + 1,
          "after unsubscribe: wanted %" PRIu64 " subscribed %" PRIu64, st.channels_wanted,
          st.channels_subscribed);
    CHECK(st.subscribe_commands - st0.subscribe_commands <= 12, "UNSUBSCRIBE commands %" PRIu64,
          st.subscribe_commands - st0.subscribe_commands);
    CHECK(numsub(blk, 0, NCHANNELS / 2, "t:order") == NCHANNELS / 2 + 1, "kept channels");
    note("unsubscribed %d channels in %" PRIu64 " ms", NCHANNELS / 2, now_ms() - t0);

    /* CLIENT KILL of the subscriber, twice in a row during resubscription */
    struct until_resub ur = { &w, w.resubscribed, node };
    pubsub_node_get_stats(node, &st);
    t0 = now_ms();
    CHECK(kill_pubsub_clients(blk) == 1, "first CLIENT KILL");
    int killed_during = 0;
    for (int tries = 0; tries < 200 && !killed_during; tries++) {
        CHECK(run_until(resubscribing, node, 3000) >= 0, "resubscription did not start");
        killed_during = kill_pubsub_clients(blk) >= 1;
        if (!killed_during)
            event_base_loop(base, EVLOOP_ONCE);
    }
    CHECK(killed_during, "second CLIENT KILL during resubscription");
    /* confirmations already in the socket may complete a resubscription
     * before the node reads the end of the killed connection: wait for it */
    struct until_disconnects ud = { node, st.disconnects + 2 };
    CHECK(run_until(disconnects_reached, &ud, 3000) >= 0, "node saw both kills");
    ur.before = w.resubscribed;
    CHECK(run_until(resubscribed_again, &ur, 5000) >= 0, "resubscribed after two kills");
    CHECK(numsub(blk, 0, NCHANNELS / 2, "t:order") == NCHANNELS / 2 + 1,
          "channels after resubscription");
    CHECK(numsub(blk, NCHANNELS / 2, NCHANNELS / 2, NULL) == 0, "removed channels came back");
    note("two CLIENT KILLs: all %d channels back in %" PRIu64 " ms (on_resubscribed %u)",
         NCHANNELS / 2 + 1, now_ms() - t0, w.resubscribed);
    w.order_next = 0;
    publish_order(node, NORDER);
    check_order(&w, NORDER);

    /* SIGSTOP: DEAD within ~3-4 s, loop never blocked, ALIVE after SIGCONT */
    pid_t pid = redis_pid(addr1);
    redisFree(blk);
    run_for(300);
    max_gap_ms = 0;
    ur = (struct until_resub){ &w, w.resubscribed, node };
    uint64_t t_stop = now_ms();
    CHECK(kill(pid, SIGSTOP) == 0, "SIGSTOP %ld", (long)pid);
    for (size_t i = 0; i < 100; i++)
        (void)pubsub_node_publish(node, "t:order", 7, (const uint8_t *)"x", 1);
    ms = run_until(is_dead, &w, 6000);
    if (ms < 0)
        kill(pid, SIGCONT);
    CHECK(ms >= 0, "node not dead 6 s after SIGSTOP (state %s)", pubsub_node_state_name(w.state));
    uint64_t detect = w.dead_at - t_stop;
    note("SIGSTOP detected after %" PRIu64 " ms (%s)", detect, pubsub_node_last_error(node));
    run_for(3000); /* reconnect attempts against the stopped server */
    CHECK(kill(pid, SIGCONT) == 0, "SIGCONT");
    uint64_t t_cont = now_ms();
    CHECK(detect <= 4500, "detection took %" PRIu64 " ms", detect);
    CHECK(run_until(is_alive, &w, 12000) >= 0, "not alive 12 s after SIGCONT");
    note("alive %" PRIu64 " ms after SIGCONT", w.alive_at - t_cont);
    CHECK(run_until(resubscribed_again, &ur, 5000) >= 0, "resubscribed after SIGCONT");
    CHECK(max_gap_ms < 200, "loop blocked for %" PRIu64 " ms", max_gap_ms);
    note("longest loop gap while stopped: %" PRIu64 " ms", max_gap_ms);
    blk = blocking(addr1);
    CHECK(numsub(blk, 0, NCHANNELS / 2, "t:order") == NCHANNELS / 2 + 1, "channels after SIGCONT");
    pubsub_node_get_stats(node, &st);
    CHECK(st.publish_errors >= 1, "publishes lost while stopped count as errors");
    note("publish errors while stopped: %" PRIu64, st.publish_errors);
    w.order_next = 0;
    w.order_bad = 0;
    publish_order(node, NORDER);
    check_order(&w, NORDER);
    redisFree(blk);
    pubsub_node_free(node);

    /* a Redis that is stopped and started again: reconnect and resubscribe */
    struct watch w2 = { .state = PUBSUB_NODE_CONNECTING };
    cfg = (struct pubsub_node_config){ .id = "r2", .addr = addr2, .gateway_id = "gw-test" };
    node = pubsub_node_new(base, &cfg, &watch_cbs, &w2);
    CHECK(node != NULL, "pubsub_node_new r2");
    CHECK(run_until(is_alive, &w2, 5000) >= 0, "r2 alive");
    for (size_t i = 0; i < 1000; i++)
        pubsub_node_subscribe(node, names[i], name_lens[i]);
    pubsub_node_subscribe(node, "t:order", 7);
    us = (struct until_subscribed){ node, 1001 };
    CHECK(run_until(all_subscribed, &us, 5000) >= 0, "r2 subscribed");
    redis_script_run("stop", addr2);
    t0 = now_ms();
    CHECK(run_until(is_dead, &w2, 6000) >= 0, "r2 dead after stop");
    note("stopped Redis reported dead after %" PRIu64 " ms (%s)", now_ms() - t0,
         pubsub_node_last_error(node));
    ur = (struct until_resub){ &w2, w2.resubscribed, node };
    redis_script_run("start", addr2);
    t0 = now_ms();
    CHECK(run_until(is_alive, &w2, 10000) >= 0, "r2 alive after restart");
    CHECK(run_until(resubscribed_again, &ur, 5000) >= 0, "r2 resubscribed after restart");
    note("restarted Redis: alive and resubscribed after %" PRIu64 " ms", now_ms() - t0);
    blk = blocking(addr2);
    CHECK(numsub(blk, 0, 1000, "t:order") == 1001, "r2 channels after restart");
    redisFree(blk);
    publish_order(node, NORDER);
    check_order(&w2, NORDER);
    pubsub_node_free(node);

    /* freeing a node from inside its own callback */
    struct watch w3 = { .state = PUBSUB_NODE_CONNECTING, .free_on_alive = 1 };
    cfg = (struct pubsub_node_config){ .id = "r1", .addr = addr1, .gateway_id = "gw-free" };
    node = pubsub_node_new(base, &cfg, &watch_cbs, &w3);
    CHECK(node != NULL, "pubsub_node_new");
    pubsub_node_subscribe(node, "t:free", 6);
    CHECK(run_until(is_alive, &w3, 5000) >= 0, "node alive before free");
    run_for(100);
    note("node freed inside on_state");
}

static void test_cache(const char *addr);

int main(int argc, char **argv)
{
    struct event *ticker;
    struct timeval ten_ms = { 0, 10000 };

    if (argc != 6) {
        fprintf(stderr, "usage: %s DIR REDIS_SCRIPT PUBSUB1_ADDR PUBSUB2_ADDR CACHE_ADDR\n",
                argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_start = now_ms();
    dir = argv[1];
    redis_script = argv[2];
    for (size_t i = 0; i < NCHANNELS; i++)
        name_lens[i] = (size_t)snprintf(names[i], sizeof names[i], "u:%zu", i + 1);
    base = event_base_new();
    CHECK(base != NULL, "event_base_new");
    ticker = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(ticker, &ten_ms);

    test_pubsub(argv[3], argv[4]);
    test_cache(argv[5]);

    event_free(ticker);
    event_base_free(base);
    note("all passed");
    return 0;
}

/* ---- location cache ---- */

struct mget_result {
    int done, status;
    size_t n;
    struct location_cache_entry entries[1200];
};

static void mget_cb(void *arg, int status, const struct location_cache_entry *entries, size_t n)
{
    struct mget_result *m = arg;
    m->done = 1;
    m->status = status;
    m->n = n;
    memcpy(m->entries, entries, n * sizeof *entries);
}

static int mget_done(void *arg)
{
    return ((struct mget_result *)arg)->done;
}

static int cache_up(void *arg)
{
    return location_cache_is_up(arg);
}

static struct mget_result *mget(struct location_cache *cache, const uint64_t *users, size_t n)
{
    static struct mget_result m;
    memset(&m, 0, sizeof m);
    CHECK(location_cache_mget(cache, users, n, mget_cb, &m) == 0, "mget");
    CHECK(m.done == 0, "mget called back from inside the call");
    CHECK(run_until(mget_done, &m, 3000) >= 0, "mget reply");
    CHECK(m.n == n, "mget entries %zu of %zu", m.n, n);
    return &m;
}

static double seven(double v)
{
    return round(v * 1e7) / 1e7;
}

struct free_ctx {
    struct location_cache *cache;
    int calls;
};

static void free_in_cb(void *arg, int status, const struct location_cache_entry *entries,
                       size_t n)
{
    struct free_ctx *ctx = arg;
    ctx->calls++;
    location_cache_free(ctx->cache);
}

static void test_cache(const char *addr)
{
    struct location_cache_config cfg = { .addr = addr };
    struct location_cache *cache = location_cache_new(base, &cfg);
    struct location_cache_stats st;
    uint64_t users[1200];
    struct mget_result *m;
    double lat, lng;
    uint64_t ts, consent;
    char buf[LOCATION_CACHE_VALUE_MAX];

    /* the value codec is strict */
    int n = location_cache_encode(buf, sizeof buf, -90.0, -180.0, 18446744073709551615u,
                                  18446744073709551615u);
    CHECK(n > 0 && strcmp(buf, "-90.0000000,-180.0000000,18446744073709551615,"
                               "18446744073709551615") == 0, "%s", buf);
    CHECK(location_cache_decode(buf, (size_t)n, &lat, &lng, &ts, &consent) == 0 && lat == -90.0 &&
              lng == -180.0 && ts == UINT64_MAX && consent == UINT64_MAX, "decode extremes");
    CHECK(location_cache_decode("0.0000000,0.0000000,0,0", 23, &lat, &lng, &ts, &consent) == 0 &&
              ts == 0 && consent == 0, "decode zeros");
    const char *bad[] = { "", "1.0,2.0,3,1", "01.0000000,2.0000000,3,1", "1.0000000,2.0000000,",
                          "1.0000000,2.0000000,03,1", "1.0000000,2.0000000,18446744073709551616,1",
                          "90.0000001,0.0000000,1,1", "1.0000000,2.0000000,3,1 ", "+1.0000000,2.0000000,3,1",
                          "1e1.0000000,2.0000000,3,1", "1.0000000;2.0000000,3,1", "nan",
                          "1.0000000,2.0000000,3", "1.0000000,2.0000000,3,", "1.0000000,2.0000000,3,01",
                          "1.0000000,2.0000000,3,1,1", "1.0000000,2.0000000,3,-1",
                          "1.0000000,2.0000000,3,18446744073709551616" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(location_cache_decode(bad[i], strlen(bad[i]), &lat, &lng, &ts, &consent) != 0,
              "accepted '%s'", bad[i]);
    CHECK(location_cache_encode(buf, sizeof buf, NAN, 0, 0, 1) < 0, "encode nan");

    CHECK(cache != NULL, "location_cache_new");
    CHECK(run_until(cache_up, cache, 5000) >= 0, "cache up: %s", location_cache_last_error(cache));

    /* set / mget round trip over three MGET chunks, with absent users */
    for (size_t i = 0; i < 1200; i++) {
        users[i] = 9000000000000000000u + i;
        if (i % 3 != 2)
            CHECK(location_cache_set(cache, users[i], -45.0 + (double)i * 0.0123456789,
                                     100.0 - (double)i * 0.0987654321, 1700000000000u + i, i + 1,
                                     600) == 0,
                  "set %zu", i);
    }
    uint64_t t0 = now_ms();
    m = mget(cache, users, 1200);
    CHECK(m->status == 0, "mget status %d", m->status);
    for (size_t i = 0; i < 1200; i++) {
        const struct location_cache_entry *e = &m->entries[i];
        CHECK(e->user == users[i], "entry %zu user", i);
        if (i % 3 == 2) {
            CHECK(!e->present, "entry %zu should be absent", i);
            continue;
        }
        CHECK(e->present && e->lat == seven(-45.0 + (double)i * 0.0123456789) &&
                  e->lng == seven(100.0 - (double)i * 0.0987654321) && e->ts == 1700000000000u + i &&
                  e->consent == i + 1,
              "entry %zu: present %d %.9f %.9f %" PRIu64, i, e->present, e->lat, e->lng, e->ts);
    }
    note("cache: 800 SET + MGET of 1200 (3 chunks) in %" PRIu64 " ms", now_ms() - t0);

    /* a malformed value counts as absent */
    redisContext *blk = blocking(addr);
    redisReply *r = redisCommand(blk, "SET loc:%llu %s", (unsigned long long)users[0], "12,34,56");
    CHECK(r && r->type == REDIS_REPLY_STATUS, "SET bad value");
    freeReplyObject(r);
    m = mget(cache, users, 2);
    CHECK(!m->entries[0].present && m->entries[1].present, "bad value is absent");
    location_cache_get_stats(cache, &st);
    CHECK(st.bad_values == 1, "bad_values %" PRIu64, st.bad_values);

    /* TTL expiry */
    CHECK(location_cache_set(cache, 42, 1.5, 2.5, 3, 1, 1) == 0, "set ttl 1");
    m = mget(cache, (const uint64_t[]){ 42 }, 1);
    CHECK(m->entries[0].present && m->entries[0].lat == 1.5 && m->entries[0].lng == 2.5 &&
              m->entries[0].ts == 3, "ttl entry before expiry");
    run_for(1200);
    m = mget(cache, (const uint64_t[]){ 42 }, 1);
    CHECK(!m->entries[0].present, "ttl entry after 1.2 s");

    /* del */
    CHECK(location_cache_del(cache, users[1]) == 0, "del");
    m = mget(cache, users, 3);
    CHECK(!m->entries[1].present, "deleted entry");
    location_cache_get_stats(cache, &st);
    CHECK(st.set_errors == 0 && st.del_errors == 0 && st.mget_errors == 0,
          "errors: set %" PRIu64 " del %" PRIu64 " mget %" PRIu64, st.set_errors, st.del_errors,
          st.mget_errors);

    /* CLIENT KILL of the cache connection: pending MGET fails, then reconnects */
    r = redisCommand(blk, "CLIENT KILL TYPE normal SKIPME yes");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "CLIENT KILL normal");
    freeReplyObject(r);
    t0 = now_ms();
    for (;;) {
        run_for(20);
        location_cache_get_stats(cache, &st);
        if (st.disconnects == 1 && st.up)
            break;
        CHECK(now_ms() - t0 < 5000, "cache reconnect");
    }
    m = mget(cache, users, 3);
    CHECK(m->status == 0 && m->entries[2].present == 0 && m->entries[0].present == 0, "after kill");
    note("cache reconnected %" PRIu64 " ms after CLIENT KILL", now_ms() - t0);

    /* a hung cache: the command timeout drops the connection, MGET reports an error */
    pid_t pid = redis_pid(addr);
    redisFree(blk);
    CHECK(kill(pid, SIGSTOP) == 0, "SIGSTOP cache");
    max_gap_ms = 0;
    static struct mget_result hung;
    memset(&hung, 0, sizeof hung);
    CHECK(location_cache_mget(cache, users, 10, mget_cb, &hung) == 0, "mget hung");
    long ms = run_until(mget_done, &hung, 4000);
    kill(pid, SIGCONT);
    CHECK(ms >= 0 && hung.status == LOCATION_CACHE_ERR_LOST, "hung mget: %ld ms status %d", ms,
          hung.status);
    note("hung cache: MGET failed after %ld ms (%s)", ms, location_cache_last_error(cache));
    CHECK(run_until(cache_up, cache, 8000) >= 0, "cache up after SIGCONT");
    m = mget(cache, users, 3);
    CHECK(m->status == 0 && m->entries[0].present == 0, "mget after SIGCONT");
    CHECK(max_gap_ms < 200, "loop blocked for %" PRIu64 " ms", max_gap_ms);

    /* free from inside the callback; the second MGET's callback never runs */
    struct free_ctx ctx = { cache, 0 };
    CHECK(location_cache_mget(cache, users, 1100, free_in_cb, &ctx) == 0, "mget");
    CHECK(location_cache_mget(cache, users, 10, free_in_cb, &ctx) == 0, "mget");
    run_for(300);
    CHECK(ctx.calls == 1, "callbacks after free: %d", ctx.calls);
    note("cache tests passed");
}
