/* pubsub_check.c: ask a Redis pub/sub node how many channels anyone still subscribes on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "pubsub_check.h"
#include "ring.h"

/* Runs one command; returns its reply if it has the wanted type, else NULL
 * with the reason in err. */
static redisReply *ask(redisContext *c, const char *cmd, int type, char *err, size_t errlen)
{
    redisReply *reply = redisCommand(c, cmd);

    if (reply == NULL) {
        snprintf(err, errlen, "%s: %s", cmd, c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    if (reply->type != type) {
        snprintf(err, errlen, "%s: unexpected reply%s%s", cmd, reply->str ? ": " : "",
                 reply->str ? reply->str : "");
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int ringctl_pubsub_count(const char *addr, int timeout_ms, long long *count, char *err,
                         size_t errlen)
{
    char host[RING_ADDR_MAX + 1];
    const char *colon = strrchr(addr, ':');
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    redisReply *channels, *numpat;
    int rc = -1;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        snprintf(err, errlen, "bad address %s", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    c = redisConnectWithTimeout(host, atoi(colon + 1), tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "cannot connect: %s", c ? c->errstr : "out of memory");
        redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    channels = ask(c, "PUBSUB CHANNELS *", REDIS_REPLY_ARRAY, err, errlen);
    numpat = channels ? ask(c, "PUBSUB NUMPAT", REDIS_REPLY_INTEGER, err, errlen) : NULL;
    if (numpat != NULL) {
        *count = (long long)channels->elements + numpat->integer;
        rc = 0;
    }
    freeReplyObject(channels);
    freeReplyObject(numpat);
    redisFree(c);
    return rc;
}
