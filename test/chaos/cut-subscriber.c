/* cut-subscriber.c: chaos helper: CLIENT KILLs a Redis node's one subscriber connection, then its replacement while it is still resubscribing.
 *
 * usage: cut-subscriber HOST:PORT [TRIES]
 *
 * The node must have exactly one client in pub/sub mode (one gateway's
 * subscriber). Its subscription count is what a finished resubscription
 * reaches. The helper kills it, then polls CLIENT LIST TYPE pubsub as fast as
 * Redis answers: the gateway's new connection shows up once Redis has read
 * its first SUBSCRIBE, and a resubscription of thousands of channels spans
 * several of Redis's reads, so a poll lands in between and the second kill
 * cuts it part-way. A replacement seen already complete counts as a new first
 * cut, up to TRIES (default 20) times. Prints one line:
 *   cut: channels=W first_id=A second_id=B second_at=N tries=T ms=M
 * where second_at is how many of the W subscriptions the second connection
 * held when it was cut. Exit status: 0 both cuts done, 1 not (message on
 * stderr), 2 bad usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../redis-admin.h"

#define CUT_WAIT_MS 10000 /* for the gateway's next connection */

struct subscriber {
    long long id;
    long long sub; /* channels it is subscribed to */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Reads the pub/sub clients of c. Returns how many there are (writing the
 * first with an id above after_id into *out, when one is), or -1 on error. */
static int list_subscribers(redisContext *c, long long after_id, struct subscriber *out,
                            int *found)
{
    redisReply *r = redisCommand(c, "CLIENT LIST TYPE pubsub");
    const char *line;
    int n = 0;

    *found = 0;
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "cut-subscriber: CLIENT LIST: %s\n", r ? r->str : c->errstr);
        freeReplyObject(r);
        return -1;
    }
    for (line = r->str; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
        const char *id, *sub;

        if (*line == '\n')
            line++;
        id = strstr(line, "id=");
        sub = strstr(line, " sub=");
        if (id == NULL || sub == NULL)
            continue;
        n++;
        if (!*found && strtoll(id + 3, NULL, 10) > after_id) {
            out->id = strtoll(id + 3, NULL, 10);
            out->sub = strtoll(sub + 5, NULL, 10);
            *found = 1;
        }
    }
    freeReplyObject(r);
    return n;
}

/* CLIENT KILL ID id. Returns 0 when it was killed, -1 otherwise. */
static int kill_client(redisContext *c, long long id)
{
    redisReply *r = redisCommand(c, "CLIENT KILL ID %lld", id);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 0 : -1;

    freeReplyObject(r);
    return rc;
}

int main(int argc, char **argv)
{
    struct subscriber first, next;
    redisContext *c;
    char host[256];
    const char *colon;
    int tries = argc > 2 ? atoi(argv[2]) : 20, found, n, rc = 1;
    double t0, deadline;

    if (argc < 2 || argc > 3 || (colon = strrchr(argv[1], ':')) == NULL ||
        (size_t)(colon - argv[1]) >= sizeof(host) || tries < 1) {
        fprintf(stderr, "usage: cut-subscriber HOST:PORT [TRIES]\n");
        return 2;
    }
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    c = redisConnect(host, atoi(colon + 1));
    if (c == NULL || c->err) {
        fprintf(stderr, "cut-subscriber: %s: %s\n", argv[1], c ? c->errstr : "out of memory");
        goto out;
    }
    if (redis_admin_auth(c, "cut-subscriber") < 0)
        goto out;
    n = list_subscribers(c, 0, &first, &found);
    if (n != 1 || !found) {
        fprintf(stderr, "cut-subscriber: %d pub/sub clients on %s, want exactly one\n", n,
                argv[1]);
        goto out;
    }
    t0 = now_ms();
    for (int attempt = 1; attempt <= tries; attempt++) {
        if (kill_client(c, first.id) < 0) {
            fprintf(stderr, "cut-subscriber: could not kill client %lld\n", first.id);
            goto out;
        }
        deadline = now_ms() + CUT_WAIT_MS;
        do {
            if (list_subscribers(c, first.id, &next, &found) < 0)
                goto out;
        } while (!found && now_ms() < deadline);
        if (!found) {
            fprintf(stderr, "cut-subscriber: no new subscriber within %d ms\n", CUT_WAIT_MS);
            goto out;
        }
        if (next.sub < first.sub && kill_client(c, next.id) == 0) {
            printf("cut: channels=%lld first_id=%lld second_id=%lld second_at=%lld tries=%d "
                   "ms=%.0f\n", first.sub, first.id, next.id, next.sub, attempt, now_ms() - t0);
            rc = 0;
            goto out;
        }
        /* Complete before we looked (or gone): cut this one as the next first. */
        first.id = next.id;
    }
    fprintf(stderr, "cut-subscriber: %d times the new subscriber was complete before the second cut\n",
            tries);
out:
    redisFree(c);
    return rc;
}
