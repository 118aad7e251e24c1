/* fresh-subscribe.c: times subscribing one gateway's channels from nothing on the ring's nodes, as the gateway does it.
 *
 * usage: fresh-subscribe RING_TEXT_FILE CHANNEL_FILE [BATCH]
 *
 * CHANNEL_FILE holds one channel name a line (u:<id>, as a gateway holds
 * them). The tool parses the ring, opens one connection to each node that owns
 * at least one of the channels (RING_VIEW_NEW, as a gateway with no change in
 * progress), then starts the clock: groups the channels by owner with the ring
 * library, sends them as pipelined SUBSCRIBE commands of at most BATCH names
 * (default 1000, the gateway's batch_channels) to every node, and stops the
 * clock once Redis has confirmed every channel. It prints one line:
 *
 *   fresh-subscribe: nodes=N channels=C batch=B connect_ms=X subscribe_ms=Y
 *
 * Exit status: 0 done, 1 failure (a message on stderr), 2 bad usage. Closing
 * the connections at exit drops the subscriptions.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../redis-admin.h"
#include "ring.h"

#define RING_TEXT_MAX (4u << 20)
#define CONNECT_TIMEOUT_S 5
#define REPLY_TIMEOUT_S 60

/* One owner node: its connection and the channels it gets. */
struct owner {
    const struct ring_node *node; /* ref: owned by the ring */
    redisContext *redis;
    const char **channels; /* ref: names owned by struct channel_list */
    size_t count, cap;
};

struct channel_list {
    char *text;    /* the file, NULs in place of newlines */
    char **names;  /* into text */
    size_t count;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads the whole file into a NUL-terminated buffer; NULL on failure (message printed). */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        fprintf(stderr, "fresh-subscribe: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(max + 1);
    if (!buf) {
        fprintf(stderr, "fresh-subscribe: out of memory reading %s\n", path);
        goto cleanup;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        fprintf(stderr, "fresh-subscribe: %s: %s\n", path,
                n > max ? "too large" : "read error");
        free(buf);
        buf = NULL;
        goto cleanup;
    }
    buf[n] = '\0';
    *len = n;
cleanup:
    fclose(f);
    return buf;
}

/* Splits the channel file into names (empty lines skipped); 0 or -1 (message printed). */
static int channel_list_read(struct channel_list *list, const char *path)
{
    size_t len, cap = 0;
    char *line, *save = NULL;

    list->text = read_file(path, 256u << 20, &len);
    if (!list->text)
        return -1;
    for (size_t i = 0; i < len; i++)
        cap += list->text[i] == '\n';
    list->names = malloc((cap + 1) * sizeof(*list->names));
    if (!list->names) {
        fprintf(stderr, "fresh-subscribe: out of memory for %zu channels\n", cap + 1);
        return -1;
    }
    for (line = strtok_r(list->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);

        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n > 0)
            list->names[list->count++] = line;
    }
    return 0;
}

/* Adds channel to its owner's list; 0 or -1 when out of memory. */
static int owner_push(struct owner *o, const char *channel)
{
    if (o->count == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        const char **grown = realloc(o->channels, cap * sizeof(*grown));

        if (!grown)
            return -1;
        o->channels = grown;
        o->cap = cap;
    }
    o->channels[o->count++] = channel;
    return 0;
}

/* Connects to a node's address; the context, or NULL (message printed). */
static redisContext *connect_node(const struct ring_node *node)
{
    struct timeval connect_tv = {CONNECT_TIMEOUT_S, 0}, reply_tv = {REPLY_TIMEOUT_S, 0};
    char host[RING_ADDR_MAX + 1];
    const char *colon = strrchr(node->addr, ':');
    redisContext *c;

    if (!colon || (size_t)(colon - node->addr) >= sizeof(host)) {
        fprintf(stderr, "fresh-subscribe: node %s: bad address %s\n", node->id, node->addr);
        return NULL;
    }
    memcpy(host, node->addr, (size_t)(colon - node->addr));
    host[colon - node->addr] = '\0';
    c = redisConnectWithTimeout(host, atoi(colon + 1), connect_tv);
    if (!c || c->err) {
        fprintf(stderr, "fresh-subscribe: node %s at %s: %s\n", node->id, node->addr,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, reply_tv);
    if (redis_admin_auth(c, "fresh-subscribe") < 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Queues SUBSCRIBE commands of at most batch names for all of o's channels; 0 or -1. */
static int append_subscribes(struct owner *o, size_t batch, const char **argv, size_t *lens)
{
    for (size_t i = 0; i < o->count; i += batch) {
        size_t n = o->count - i < batch ? o->count - i : batch;

        argv[0] = "SUBSCRIBE";
        lens[0] = 9;
        for (size_t k = 0; k < n; k++) {
            argv[k + 1] = o->channels[i + k];
            lens[k + 1] = strlen(o->channels[i + k]);
        }
        if (redisAppendCommandArgv(o->redis, (int)n + 1, argv, lens) != REDIS_OK)
            return -1;
    }
    return 0;
}

/* Reads one confirmation per channel from o; 0 or -1 (message printed). */
static int read_confirmations(struct owner *o)
{
    for (size_t i = 0; i < o->count; i++) {
        redisReply *r = NULL;
        int ok;

        if (redisGetReply(o->redis, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "fresh-subscribe: node %s: %s\n", o->node->id, o->redis->errstr);
            return -1;
        }
        ok = r->type == REDIS_REPLY_ARRAY;
        ok = ok && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(r->element[0]->str, "subscribe") == 0;
        if (!ok) {
            fprintf(stderr, "fresh-subscribe: node %s: unexpected reply to SUBSCRIBE%s%s\n",
                    o->node->id, r->type == REDIS_REPLY_ERROR ? ": " : "",
                    r->type == REDIS_REPLY_ERROR ? r->str : "");
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ring_parse_error perr;
    struct channel_list list = {0};
    struct owner *owners = NULL;
    struct ring *ring = NULL;
    const char **cmd_argv = NULL;
    size_t *cmd_lens = NULL, len, nodes = 0, batch = 1000;
    double t0, t_connected, t_done;
    char *ring_text = NULL;
    int rc = 1;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: fresh-subscribe RING_TEXT_FILE CHANNEL_FILE [BATCH]\n");
        return 2;
    }
    if (argc == 4) {
        char *end;
        unsigned long b = strtoul(argv[3], &end, 10);

        if (*end != '\0' || b < 1 || b > 100000) {
            fprintf(stderr, "fresh-subscribe: BATCH wants 1..100000, not '%s'\n", argv[3]);
            return 2;
        }
        batch = b;
    }
    ring_text = read_file(argv[1], RING_TEXT_MAX, &len);
    if (!ring_text)
        goto cleanup;
    if (ring_parse(ring_text, len, &ring, &perr) < 0) {
        fprintf(stderr, "fresh-subscribe: %s: line %u: %s\n", argv[1], perr.line, perr.reason);
        goto cleanup;
    }
    if (ring_build(ring) < 0) {
        fprintf(stderr, "fresh-subscribe: cannot build the ring\n");
        goto cleanup;
    }
    if (channel_list_read(&list, argv[2]) < 0)
        goto cleanup;
    owners = calloc(ring_node_count(ring), sizeof(*owners));
    cmd_argv = malloc((batch + 1) * sizeof(*cmd_argv));
    cmd_lens = malloc((batch + 1) * sizeof(*cmd_lens));
    if (!owners || !cmd_argv || !cmd_lens) {
        fprintf(stderr, "fresh-subscribe: out of memory\n");
        goto cleanup;
    }
    for (size_t i = 0; i < ring_node_count(ring); i++)
        owners[i].node = ring_node_at(ring, i);

    /* Connections first, as a running gateway has them before it subscribes: a
     * dry pass over the channels finds which nodes own any. */
    t0 = now_ms();
    for (size_t i = 0; i < list.count; i++) {
        const struct ring_node *n = ring_owner(ring, RING_VIEW_NEW,
                                               ring_hash(list.names[i], strlen(list.names[i])));
        struct owner *o;

        if (!n) {
            fprintf(stderr, "fresh-subscribe: the ring has no owner for %s\n", list.names[i]);
            goto cleanup;
        }
        o = &owners[ring_node_index(ring, n)];
        if (!o->redis) {
            o->redis = connect_node(n);
            if (!o->redis)
                goto cleanup;
            nodes++;
        }
    }
    t_connected = now_ms();

    /* Timed: look the owners up, send every batch to every node, then read every
     * confirmation (the nodes work in parallel while we read one after another). */
    for (size_t i = 0; i < list.count; i++) {
        const struct ring_node *n = ring_owner(ring, RING_VIEW_NEW,
                                               ring_hash(list.names[i], strlen(list.names[i])));

        if (owner_push(&owners[ring_node_index(ring, n)], list.names[i]) < 0) {
            fprintf(stderr, "fresh-subscribe: out of memory\n");
            goto cleanup;
        }
    }
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        struct owner *o = &owners[i];
        int done = 0;

        if (o->count == 0)
            continue;
        if (append_subscribes(o, batch, cmd_argv, cmd_lens) < 0) {
            fprintf(stderr, "fresh-subscribe: node %s: out of memory\n", o->node->id);
            goto cleanup;
        }
        while (!done) {
            if (redisBufferWrite(o->redis, &done) != REDIS_OK) {
                fprintf(stderr, "fresh-subscribe: node %s: %s\n", o->node->id, o->redis->errstr);
                goto cleanup;
            }
        }
    }
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        if (owners[i].count > 0 && read_confirmations(&owners[i]) < 0)
            goto cleanup;
    }
    t_done = now_ms();
    printf("fresh-subscribe: nodes=%zu channels=%zu batch=%zu connect_ms=%.1f subscribe_ms=%.1f\n",
           nodes, list.count, batch, t_connected - t0, t_done - t_connected);
    rc = 0;
cleanup:
    if (owners) {
        for (size_t i = 0; i < ring_node_count(ring); i++) {
            redisFree(owners[i].redis);
            free(owners[i].channels);
        }
    }
    free(owners);
    free(cmd_argv);
    free(cmd_lens);
    free(list.names);
    free(list.text);
    ring_free(ring);
    free(ring_text);
    return rc;
}
