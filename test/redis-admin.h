/* redis-admin.h: AUTH as a local cluster's Redis admin, for the test tools that talk to its Redis servers directly. */
#ifndef NEARBY_TEST_REDIS_ADMIN_H
#define NEARBY_TEST_REDIS_ADMIN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* When $NEARBY_REDIS_ADMIN_PASSWORD_FILE names the admin's password file (a
 * cluster's cluster.env records it), AUTH admin on c. Returns 0 (also when
 * unset: a Redis without ACL users), or -1 after saying why on stderr. */
static inline int redis_admin_auth(redisContext *c, const char *who)
{
    const char *path = getenv("NEARBY_REDIS_ADMIN_PASSWORD_FILE");
    char password[512];
    size_t n;
    FILE *f;
    redisReply *r;

    if (path == NULL || *path == '\0')
        return 0;
    f = fopen(path, "r");
    if (f == NULL || fgets(password, sizeof password, f) == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", who, path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    n = strcspn(password, "\r\n");
    r = redisCommand(c, "AUTH admin %b", password, n);
    memset(password, 0, sizeof password);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "%s: AUTH admin refused: %s\n", who, r ? r->str : c->errstr);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

#endif
