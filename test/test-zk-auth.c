/* test-zk-auth.c: the ZooKeeper auth file, the digest ids and the ACL each kind of znode gets. */
#define CHECK_STOP_AFTER 0
#include "test-util.h"

#include <sys/stat.h>

#include "zk_auth.h"

static char dir[] = "/tmp/test-zk-auth.XXXXXX";

/* Writes text to dir/name with mode; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static const char good[] = "# the gateway's file\n"
                           "auth gw:secret\n"
                           "role admin ops:AAAA=\n"
                           "  role autopilot ap:BBBB=\n"
                           "role gateway gw:CCCC=\n";

static void test_digest(void)
{
    char out[ZK_AUTH_ID_MAX + 1];

    /* ZooKeeper's own example (DigestAuthenticationProvider): super:admin. */
    CHECK(zk_auth_digest("super:admin", out, sizeof(out)) == 0);
    CHECK(strcmp(out, "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=") == 0);
    CHECK(zk_auth_digest("nocolon", out, sizeof(out)) < 0);
    CHECK(zk_auth_digest(":pw", out, sizeof(out)) < 0);
    CHECK(zk_auth_digest("super:admin", out, 10) < 0);
}

static void test_load(void)
{
    struct zk_auth auth;
    char err[512];

    CHECK(zk_auth_load(NULL, &auth, err, sizeof(err)) == 0);
    CHECK(!auth.enabled);
    CHECK(zk_auth_load("", &auth, err, sizeof(err)) == 0);
    CHECK(!auth.enabled);

    CHECK(zk_auth_load(write_file("good", good, 0600), &auth, err, sizeof(err)) == 0);
    CHECK(auth.enabled);
    CHECK(strcmp(auth.identity, "gw:secret") == 0);
    CHECK(strcmp(auth.role_id[ZK_ROLE_ADMIN], "ops:AAAA=") == 0);
    CHECK(strcmp(auth.role_id[ZK_ROLE_AUTOPILOT], "ap:BBBB=") == 0);
    CHECK(strcmp(auth.role_id[ZK_ROLE_GATEWAY], "gw:CCCC=") == 0);

    /* Readable by others: refused, saying how to fix it. */
    CHECK(zk_auth_load(write_file("open", good, 0644), &auth, err, sizeof(err)) < 0);
    CHECK(strstr(err, "chmod 600") != NULL);
    CHECK(!auth.enabled);

    CHECK(zk_auth_load(write_file("norole", "auth gw:secret\nrole admin ops:AAAA=\n"
                                  "role gateway gw:CCCC=\n", 0600), &auth, err, sizeof(err)) < 0);
    CHECK(strstr(err, "role autopilot") != NULL);
    CHECK(zk_auth_load(write_file("noauth", "role admin a:A\nrole autopilot b:B\n"
                                  "role gateway c:C\n", 0600), &auth, err, sizeof(err)) < 0);
    CHECK(strstr(err, "auth USER:PASSWORD") != NULL);

    static const char *const bad[] = {
        "auth gw:secret extra\n",          /* two words */
        "auth gwsecret\n",                 /* no colon */
        "auth :secret\n",                  /* no user */
        "role root r:R\n",                 /* no such role */
        "role admin\n",                    /* no id */
        "authx gw:secret\n",               /* no such item */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];

        snprintf(text, sizeof(text), "%s%s", good, bad[i]);
        CHECK_IN(zk_auth_load(write_file("bad", text, 0600), &auth, err, sizeof(err)) < 0, bad[i]);
        CHECK_IN(strstr(err, ":6:") != NULL, err);
        CHECK_IN(!auth.enabled && auth.identity[0] == '\0', bad[i]);
    }
    CHECK(zk_auth_load("/nonexistent/zk.auth", &auth, err, sizeof(err)) < 0);
    CHECK(strstr(err, "/nonexistent/zk.auth") != NULL);
}

/* The perms role r has in acl, 0 when it has no entry. */
static int perms_of(const struct ACL_vector *acl, const struct zk_auth *auth, enum zk_role r)
{
    for (int i = 0; i < acl->count; i++)
        if (strcmp(acl->data[i].id.scheme, "digest") == 0 &&
            strcmp(acl->data[i].id.id, auth->role_id[r]) == 0)
            return acl->data[i].perms;
    return 0;
}

static void test_acl(void)
{
    struct zk_auth auth, none;
    char err[512];
    struct ACL_vector *acl;

    memset(&none, 0, sizeof(none));
    CHECK(zk_auth_acl(&none, ZK_NODE_RING) == &ZOO_OPEN_ACL_UNSAFE);
    CHECK(zk_auth_acl(NULL, ZK_NODE_RING) == &ZOO_OPEN_ACL_UNSAFE);

    CHECK(zk_auth_load(write_file("good", good, 0600), &auth, err, sizeof(err)) == 0);
    for (int k = 0; k < ZK_NODE_KINDS; k++) {
        acl = zk_auth_acl(&auth, (enum zk_node_kind)k);
        /* No world entry on anything, and admin may do everything. */
        for (int i = 0; i < acl->count; i++)
            CHECK(strcmp(acl->data[i].id.scheme, "digest") == 0);
        CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_ADMIN), ZOO_PERM_ALL);
    }
    /* A gateway reads the ring and may not write it; the autopilot may. */
    acl = zk_auth_acl(&auth, ZK_NODE_RING);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_GATEWAY), ZOO_PERM_READ);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_AUTOPILOT), ZOO_PERM_READ | ZOO_PERM_WRITE);
    /* A gateway may add itself under gateways (and delete its crashed run's
     * leftover), but create nothing under the root. */
    acl = zk_auth_acl(&auth, ZK_NODE_GATEWAYS);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_GATEWAY),
             ZOO_PERM_READ | ZOO_PERM_CREATE | ZOO_PERM_DELETE);
    acl = zk_auth_acl(&auth, ZK_NODE_ROOT);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_GATEWAY), ZOO_PERM_READ);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_AUTOPILOT), ZOO_PERM_READ);
    /* A gateway has no say in the autopilot's election. */
    acl = zk_auth_acl(&auth, ZK_NODE_CANDIDATE);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_GATEWAY), 0);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_AUTOPILOT), ZOO_PERM_ALL);
    acl = zk_auth_acl(&auth, ZK_NODE_REGISTRATION);
    CHECK_EQ(perms_of(acl, &auth, ZK_ROLE_GATEWAY), ZOO_PERM_READ | ZOO_PERM_WRITE);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_digest();
    test_load();
    test_acl();
    {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    if (failures == 0)
        printf("zk-auth: all checks passed\n");
    return failures != 0;
}
