/* zk_auth.c: the digest identity from a file, and the ACL table by znode kind. */
#include "zk_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "secret_file.h"

/* ZooKeeper's permission bits, as the protocol has them (the C client's
 * ZOO_PERM_* are variables, not constants, so no table can use them). */
enum {
    P_R = 1,
    P_W = 2,
    P_C = 4,
    P_D = 8,
    P_ALL = 31, /* and ADMIN, 16 */
};

/* What each role may do on each kind of znode; 0: no entry. */
static const int perms[ZK_NODE_KINDS][ZK_ROLES] = {
    [ZK_NODE_ROOT] = {P_ALL, P_R, P_R},
    [ZK_NODE_GATEWAYS] = {P_ALL, P_R, P_R | P_C | P_D},
    [ZK_NODE_AUTOPILOT] = {P_ALL, P_R | P_C | P_D, 0},
    [ZK_NODE_RING] = {P_ALL, P_R | P_W, P_R},
    [ZK_NODE_REGISTRATION] = {P_ALL, P_R, P_R | P_W},
    [ZK_NODE_CANDIDATE] = {P_ALL, P_ALL, 0},
};

static const char *const role_names[ZK_ROLES] = {"admin", "autopilot", "gateway"};

int zk_auth_digest(const char *user_password, char *out, size_t cap)
{
    const char *colon = strchr(user_password, ':');
    unsigned char sha[SHA_DIGEST_LENGTH];
    char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    size_t user_len;

    if (colon == NULL || colon == user_password)
        return -1;
    user_len = (size_t)(colon - user_password);
    SHA1((const unsigned char *)user_password, strlen(user_password), sha);
    EVP_EncodeBlock((unsigned char *)b64, sha, SHA_DIGEST_LENGTH);
    if (user_len + 1 + strlen(b64) + 1 > cap)
        return -1;
    memcpy(out, user_password, user_len + 1); /* "USER:" */
    strcpy(out + user_len + 1, b64);
    return 0;
}

/* Copies a USER:... token (no blanks) into out. Returns 0 or -1. */
static int take_id(const char *s, char *out)
{
    size_t n = strcspn(s, " \t\r\n");

    if (n == 0 || n > ZK_AUTH_ID_MAX || s[n + strspn(s + n, " \t\r\n")] != '\0' ||
        memchr(s, ':', n) == NULL || s[0] == ':')
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int zk_auth_load(const char *path, struct zk_auth *auth, char *err, size_t errlen)
{
    char text[SECRET_FILE_MAX + 1], *line, *save = NULL;
    size_t n = 0;
    unsigned lineno = 0;
    int rc;

    memset(auth, 0, sizeof(*auth));
    if (path == NULL || path[0] == '\0')
        return 0;
    rc = secret_file_read(path, (uint8_t *)text, sizeof(text) - 1, &n);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s%s%s", path, secret_file_strerror(rc),
                 rc == SECRET_FILE_ERR_IO ? ": " : "", rc == SECRET_FILE_ERR_IO ? strerror(errno) : "");
        return -1;
    }
    text[n] = '\0';
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        lineno++;
        if (line[0] == '#' || line[0] == '\0' || line[0] == '\r')
            continue;
        if (strncmp(line, "auth ", 5) == 0) {
            if (take_id(line + 5 + strspn(line + 5, " \t"), auth->identity) < 0)
                goto bad;
            continue;
        }
        if (strncmp(line, "role ", 5) == 0) {
            char *name = line + 5 + strspn(line + 5, " \t");
            size_t len = strcspn(name, " \t");
            int r;

            for (r = 0; r < ZK_ROLES; r++)
                if (strlen(role_names[r]) == len && strncmp(name, role_names[r], len) == 0)
                    break;
            if (r == ZK_ROLES || take_id(name + len + strspn(name + len, " \t"), auth->role_id[r]) < 0)
                goto bad;
            continue;
        }
        goto bad;
    }
    if (auth->identity[0] == '\0') {
        snprintf(err, errlen, "%s: no 'auth USER:PASSWORD' line", path);
        return -1;
    }
    for (int r = 0; r < ZK_ROLES; r++) {
        if (auth->role_id[r][0] == '\0') {
            snprintf(err, errlen, "%s: no 'role %s USER:DIGEST' line", path, role_names[r]);
            return -1;
        }
    }
    auth->enabled = 1;
    memset(text, 0, sizeof(text));
    return 0;
bad:
    snprintf(err, errlen, "%s:%u: want 'auth USER:PASSWORD' or 'role admin|autopilot|gateway "
                          "USER:DIGEST'", path, lineno);
    memset(text, 0, sizeof(text));
    memset(auth, 0, sizeof(*auth));
    return -1;
}

static struct zk_auth process_auth;

int zk_auth_use(const char *path, char *err, size_t errlen)
{
    return zk_auth_load(path, &process_auth, err, errlen);
}

struct zk_auth *zk_auth_process(void)
{
    return &process_auth;
}

int zk_auth_apply(zhandle_t *zh, const struct zk_auth *auth)
{
    if (auth == NULL || !auth->enabled)
        return ZOK;
    return zoo_add_auth(zh, "digest", auth->identity, (int)strlen(auth->identity), NULL, NULL);
}

struct ACL_vector *zk_auth_acl(struct zk_auth *auth, enum zk_node_kind kind)
{
    int n = 0;

    if (auth == NULL || !auth->enabled)
        return &ZOO_OPEN_ACL_UNSAFE;
    for (int r = 0; r < ZK_ROLES; r++) {
        if (perms[kind][r] == 0)
            continue;
        auth->acl[n].perms = perms[kind][r];
        auth->acl[n].id.scheme = (char *)"digest";
        auth->acl[n].id.id = auth->role_id[r];
        n++;
    }
    auth->acls.count = n;
    auth->acls.data = auth->acl;
    return &auth->acls;
}
