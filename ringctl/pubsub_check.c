/* pubsub_check.c: ask a Redis pub/sub node how many channels anyone still subscribes on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include <hiredis/hiredis.h>

#include "pubsub_check.h"
#include "ring.h"
#include "secret_file.h"

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

/* AUTH as ctl's Redis user, if it has one. Returns 0, or -1 with the reason in err. */
static int authenticate(const struct ringctl *ctl, redisContext *c, char *err, size_t errlen)
{
    char password[SECRET_FILE_MAX + 1];
    size_t n = 0;
    redisReply *reply;
    int rc;

    if (ctl->redis_user == NULL || ctl->redis_user[0] == '\0')
        return 0;
    if (ctl->redis_password_file == NULL) {
        snprintf(err, errlen, "--redis-user %s needs --redis-password-file", ctl->redis_user);
        return -1;
    }
    rc = secret_file_read(ctl->redis_password_file, (uint8_t *)password, sizeof(password) - 1, &n);
    if (rc < 0) {
        snprintf(err, errlen, "--redis-password-file %s: %s%s%s", ctl->redis_password_file,
                 secret_file_strerror(rc), rc == SECRET_FILE_ERR_IO ? ": " : "",
                 rc == SECRET_FILE_ERR_IO ? strerror(errno) : "");
        return -1;
    }
    password[n] = '\0';
    reply = redisCommand(c, "AUTH %s %b", ctl->redis_user, password, n);
    memset(password, 0, sizeof(password));
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "AUTH as '%s' refused: %s", ctl->redis_user,
                 reply ? reply->str : c->errstr);
        freeReplyObject(reply);
        return -1;
    }
    freeReplyObject(reply);
    return 0;
}

int ringctl_pubsub_count(const struct ringctl *ctl, const char *addr, int timeout_ms,
                         long long *count, char *err, size_t errlen)
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
    if (authenticate(ctl, c, err, errlen) < 0) {
        redisFree(c);
        return -1;
    }
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
