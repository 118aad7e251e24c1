/* redis-raw.c: nearby-bench-redis-raw: what one Redis pub/sub node carries for the benchmark's load, with no gateway and no WebSocket.
 *
 * G subscriber connections stand for G gateways: phone u sits on gateway
 * (u-1) mod G, and each connection subscribes once to u:<v> for every friend
 * v of its phones (bench/graph.h), as a gateway does. One publisher
 * connection PUBLISHes on u:<u> for users in turn, paced to --rate updates/s
 * or, with --rate 0, as fast as a pipeline of --pipeline commands allows.
 * Each payload carries its send time; subscribers time every message they
 * get. Counting starts after --warmup and lasts --duration; then one JSON
 * summary line goes to stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "graph.h"

#define RAW_GATEWAYS_MAX 64
#define RAW_PAYLOAD_BYTES 40      /* about the gateway's [1, kind, user, seq, lat, lng, ts] */
#define RAW_SUBSCRIBE_BATCH 1000
#define RAW_HIST_FINE_US 100000   /* 10 us buckets below 100 ms */
#define RAW_HIST_STEP_US 10
#define RAW_HIST_COARSE_MS 10000  /* then 1 ms buckets to 10 s, then one overflow */
#define RAW_HIST_BUCKETS (RAW_HIST_FINE_US / RAW_HIST_STEP_US + \
                          (RAW_HIST_COARSE_MS - RAW_HIST_FINE_US / 1000) + 1)
#define RAW_STOP_CHANNEL "bench:stop"

struct raw_histogram {
    uint64_t count;
    uint32_t buckets[RAW_HIST_BUCKETS];
};

struct raw_subscriber {
    pthread_t thread;
    redisContext *ctx;
    uint64_t channels;
    uint64_t messages;           /* counted while measuring */
    struct raw_histogram latency;
    int failed;
};

struct raw_flags {
    const char *host;
    int port;
    uint32_t users, friends, gateways, phones;
    int subscribe_only;
    double rate;
    unsigned warmup_s, duration_s, pipeline;
};

static atomic_int measuring;

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nearby-bench-redis-raw --users P --friends F [FLAGS]\n"
        "\n"
        "Pub/sub alone, for scripts/bench: G hiredis subscriber connections (one per\n"
        "simulated gateway, each subscribed to the channels its phones' friends need)\n"
        "and one pipelined publisher on one Redis. Prints one JSON line: updates\n"
        "(PUBLISHes), messages (delivered to subscribers), their rates and latency\n"
        "percentiles, all counted after the warmup.\n"
        "\n"
        "  --redis HOST:PORT   the Redis node (default 127.0.0.1:33450)\n"
        "  --users P           users 1..P, all of them phones (required)\n"
        "  --friends F         friends per user, even, below P (required)\n"
        "  --gateways G        subscriber connections (default 2)\n"
        "  --phones N          only users 1..N are phones (default: all)\n"
        "  --subscribe-only    time the subscriptions alone, print {\"subscribe_ms\",\n"
        "                      \"channels\"} and exit (scripts/bench --resize)\n"
        "  --rate R            PUBLISHes per second; 0: as fast as the pipeline goes (default 0)\n"
        "  --pipeline N        PUBLISHes in flight at most (default 256)\n"
        "  --warmup S          seconds before counting (default 2)\n"
        "  --duration S        seconds counted (default 10)\n"
        "  --help              this help\n");
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hist_add(struct raw_histogram *h, double us)
{
    unsigned b;

    if (!(us > 0))
        us = 0;
    if (us < RAW_HIST_FINE_US)
        b = (unsigned)(us / RAW_HIST_STEP_US);
    else if (us < RAW_HIST_COARSE_MS * 1000.0)
        b = RAW_HIST_FINE_US / RAW_HIST_STEP_US + (unsigned)(us / 1000.0) - RAW_HIST_FINE_US / 1000;
    else
        b = RAW_HIST_BUCKETS - 1;
    h->buckets[b]++;
    h->count++;
}

/* Returns the upper edge in ms of the bucket holding quantile q, or 0 when empty. */
static double hist_percentile(const struct raw_histogram *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (unsigned b = 0; b < RAW_HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen <= rank)
            continue;
        if (b < RAW_HIST_FINE_US / RAW_HIST_STEP_US)
            return (b + 1) * RAW_HIST_STEP_US / 1000.0;
        if (b < RAW_HIST_BUCKETS - 1)
            return (double)(b - RAW_HIST_FINE_US / RAW_HIST_STEP_US + RAW_HIST_FINE_US / 1000 + 1);
        break;
    }
    return RAW_HIST_COARSE_MS;
}

static void *subscriber_main(void *arg)
{
    struct raw_subscriber *sub = arg;
    redisReply *r;

    while (redisGetReply(sub->ctx, (void **)&r) == REDIS_OK) {
        int stop = 0;

        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[2]->type == REDIS_REPLY_STRING) {
            const redisReply *ch = r->element[1], *payload = r->element[2];

            if (ch->len == sizeof(RAW_STOP_CHANNEL) - 1 &&
                memcmp(ch->str, RAW_STOP_CHANNEL, ch->len) == 0) {
                stop = 1;
            } else if (payload->len >= sizeof(double) &&
                       atomic_load_explicit(&measuring, memory_order_relaxed)) {
                double sent;

                memcpy(&sent, payload->str, sizeof(sent));
                sub->messages++;
                hist_add(&sub->latency, (now_s() - sent) * 1e6);
            }
        }
        freeReplyObject(r);
        if (stop)
            return NULL;
    }
    fprintf(stderr, "nearby-bench-redis-raw: a subscriber lost its connection: %s\n", sub->ctx->errstr);
    sub->failed = 1;
    return NULL;
}

/* Queues SUBSCRIBE for the friends of gateway g's phones (users g+1, g+1+G,
 * ... up to phones) and for the stop channel, and writes them all out. Returns
 * 0, or -1 with a message printed. */
static int subscribe_send(struct raw_subscriber *sub, const struct bench_graph *graph, uint32_t g,
                          uint32_t gateways, uint32_t phones, uint8_t *seen)
{
    char name[32];
    int done = 0;

    memset(seen, 0, (size_t)graph->users + 1);
    for (uint32_t u = g + 1; u <= phones; u += gateways)
        for (uint32_t k = 0; k < graph->friends; k++)
            seen[bench_graph_friend(graph, u, k)] = 1;
    sub->channels = 0;
    for (uint32_t v = 1; v <= graph->users; v++) {
        if (!seen[v])
            continue;
        snprintf(name, sizeof(name), "u:%" PRIu32, v);
        redisAppendCommand(sub->ctx, "SUBSCRIBE %s", name);
        sub->channels++;
    }
    redisAppendCommand(sub->ctx, "SUBSCRIBE %s", RAW_STOP_CHANNEL);
    while (!done) {
        if (redisBufferWrite(sub->ctx, &done) != REDIS_OK) {
            fprintf(stderr, "nearby-bench-redis-raw: SUBSCRIBE: %s\n", sub->ctx->errstr);
            return -1;
        }
    }
    return 0;
}

/* Reads the confirmations of subscribe_send(). Returns 0, or -1 with a message printed. */
static int subscribe_wait(struct raw_subscriber *sub)
{
    redisReply *r;

    for (uint64_t i = 0; i <= sub->channels; i++) {
        if (redisGetReply(sub->ctx, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "nearby-bench-redis-raw: SUBSCRIBE: %s\n", sub->ctx->errstr);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* Reads n PUBLISH replies. Returns the subscriber count they report, or -1. */
static long read_replies(redisContext *pub, unsigned n)
{
    long receivers = 0;
    redisReply *r;

    for (unsigned i = 0; i < n; i++) {
        if (redisGetReply(pub, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "nearby-bench-redis-raw: PUBLISH: %s\n", pub->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_INTEGER)
            receivers += (long)r->integer;
        freeReplyObject(r);
    }
    return receivers;
}

static void publish_one(redisContext *pub, uint32_t user)
{
    uint8_t payload[RAW_PAYLOAD_BYTES];
    double t = now_s();

    memset(payload, 0, sizeof(payload));
    memcpy(payload, &t, sizeof(t));
    memcpy(payload + sizeof(t), &user, sizeof(user));
    redisAppendCommand(pub, "PUBLISH u:%" PRIu32 " %b", user, payload, sizeof(payload));
}

static int parse_flags(int argc, char **argv, struct raw_flags *f)
{
    static const struct option long_options[] = {
        {"redis", required_argument, NULL, 'r'},
        {"users", required_argument, NULL, 'u'},
        {"friends", required_argument, NULL, 'f'},
        {"gateways", required_argument, NULL, 'g'},
        {"phones", required_argument, NULL, 'P'},
        {"subscribe-only", no_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'R'},
        {"pipeline", required_argument, NULL, 'p'},
        {"warmup", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char host[64];
    const char *colon;
    int opt;

    *f = (struct raw_flags){.host = "127.0.0.1", .port = 33450, .gateways = 2, .warmup_s = 2,
                            .duration_s = 10, .pipeline = 256};
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof(host))
                return -1;
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            f->host = host;
            f->port = atoi(colon + 1);
            break;
        case 'u':
            f->users = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            f->friends = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'g':
            f->gateways = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'P':
            f->phones = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'S':
            f->subscribe_only = 1;
            break;
        case 'R':
            f->rate = strtod(optarg, NULL);
            break;
        case 'p':
            f->pipeline = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            f->warmup_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            f->duration_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (f->gateways < 1 || f->gateways > RAW_GATEWAYS_MAX || f->pipeline < 1 || !(f->rate >= 0) ||
        f->duration_s < 1 || f->port <= 0)
        return -1;
    if (f->phones == 0 || f->phones > f->users)
        f->phones = f->users;
    return 0;
}

int main(int argc, char **argv)
{
    static struct raw_subscriber subs[RAW_GATEWAYS_MAX];
    static struct raw_histogram all;
    struct raw_flags f;
    struct bench_graph *graph = NULL;
    redisContext *pub = NULL;
    uint8_t *seen = NULL;
    uint64_t published = 0, counted = 0, receivers = 0, messages = 0, channels = 0;
    uint32_t next_user = 1;
    double t0, t_start = 0, t_end = 0;
    int rc = parse_flags(argc, argv, &f), started = 0, failed = 0;

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    graph = bench_graph_new(f.users, f.friends);
    seen = malloc((size_t)f.users + 1);
    if (graph == NULL || seen == NULL) {
        fprintf(stderr, "nearby-bench-redis-raw: need --users P and --friends F (even, below P)\n");
        return 2;
    }
    rc = 1;
    t0 = now_s();
    for (uint32_t g = 0; g < f.gateways; g++) {
        subs[g].ctx = redisConnect(f.host, f.port);
        if (subs[g].ctx == NULL || subs[g].ctx->err) {
            fprintf(stderr, "nearby-bench-redis-raw: cannot connect to %s:%d\n", f.host, f.port);
            goto out;
        }
        if (subscribe_send(&subs[g], graph, g, f.gateways, f.phones, seen) < 0)
            goto out;
    }
    /* All connections' SUBSCRIBEs are out before any reply is read: the
     * simulated gateways subscribe at the same time, as real ones would. */
    for (uint32_t g = 0; g < f.gateways; g++) {
        if (subscribe_wait(&subs[g]) < 0)
            goto out;
        channels += subs[g].channels;
    }
    if (f.subscribe_only) {
        printf("{\"subscribe_ms\":%.1f,\"channels\":%" PRIu64 "}\n", (now_s() - t0) * 1000, channels);
        rc = 0;
        goto out;
    }
    for (uint32_t g = 0; g < f.gateways; g++) {
        if (pthread_create(&subs[g].thread, NULL, subscriber_main, &subs[g]) != 0)
            goto out;
        started++;
    }
    pub = redisConnect(f.host, f.port);
    if (pub == NULL || pub->err) {
        fprintf(stderr, "nearby-bench-redis-raw: publisher cannot connect\n");
        goto out;
    }
    t0 = now_s();
    for (;;) {
        double now = now_s(), elapsed = now - t0;
        unsigned batch = f.pipeline;
        long got;

        if (elapsed >= f.warmup_s + f.duration_s)
            break;
        if (!atomic_load(&measuring) && elapsed >= f.warmup_s) {
            atomic_store(&measuring, 1);
            t_start = now;
        }
        if (f.rate > 0) {
            double due = f.rate * elapsed - (double)published;

            if (due < 1) {
                struct timespec nap = {0, 200000};

                nanosleep(&nap, NULL);
                continue;
            }
            if (due < batch)
                batch = (unsigned)due;
        }
        for (unsigned i = 0; i < batch; i++) {
            publish_one(pub, next_user);
            next_user = next_user == f.users ? 1 : next_user + 1;
        }
        got = read_replies(pub, batch);
        if (got < 0)
            goto out;
        published += batch;
        if (atomic_load_explicit(&measuring, memory_order_relaxed)) {
            counted += batch;
            receivers += (uint64_t)got;
        }
    }
    atomic_store(&measuring, 0);
    t_end = now_s();
    /* Every subscriber reads up to the stop message, then ends. */
    redisAppendCommand(pub, "PUBLISH %s stop", RAW_STOP_CHANNEL);
    if (read_replies(pub, 1) < 0)
        goto out;
    rc = 0;
out:
    for (int g = 0; g < started; g++) {
        if (rc != 0)
            pthread_cancel(subs[g].thread);
        pthread_join(subs[g].thread, NULL);
        failed |= subs[g].failed;
        messages += subs[g].messages;
        all.count += subs[g].latency.count;
        for (unsigned b = 0; b < RAW_HIST_BUCKETS; b++)
            all.buckets[b] += subs[g].latency.buckets[b];
    }
    if (rc == 0 && !f.subscribe_only) {
        double secs = t_end - t_start;

        printf("{\"kind\":\"summary\",\"seconds\":%.3f,\"channels\":%" PRIu64 ",\"updates\":%" PRIu64
               ",\"updates_per_s\":%.0f,\"messages\":%" PRIu64 ",\"pushes\":%" PRIu64
               ",\"messages_per_s\":%.0f,\"expected\":%" PRIu64 ",\"p50_ms\":%.3f,\"p99_ms\":%.3f"
               ",\"p999_ms\":%.3f,\"subscriber_failed\":%d}\n",
               secs, channels, counted, counted / secs, messages, messages, messages / secs,
               receivers, hist_percentile(&all, 0.50), hist_percentile(&all, 0.99),
               hist_percentile(&all, 0.999), failed);
    }
    for (uint32_t g = 0; g < f.gateways; g++)
        if (subs[g].ctx != NULL)
            redisFree(subs[g].ctx);
    if (pub != NULL)
        redisFree(pub);
    bench_graph_free(graph);
    free(seen);
    return rc;
}
