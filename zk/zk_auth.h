/* zk_auth.h: who a program is to ZooKeeper (a digest identity), and the ACL every znode nearby creates gets, by kind.
 *
 * Without an auth file everything is as before: no identity, every znode
 * world-writable (ZOO_OPEN_ACL_UNSAFE); programs say so in their logs. With
 * one (--zk-auth-file), a program authenticates with the digest scheme and
 * creates each znode with the ACL of its kind, so that the world may do
 * nothing under the root:
 *
 *   kind          znode                          admin  autopilot        gateway
 *   ROOT          ROOT, ROOT/rings               all    read             read
 *   GATEWAYS      ROOT/gateways                  all    read             read, create,
 *                                                                         delete
 *   AUTOPILOT     ROOT/autopilot                 all    read, create,    -
 *                                                       delete
 *   RING          ROOT/rings/NAME                all    read, write      read
 *   REGISTRATION  ROOT/gateways/ID (ephemeral)   all    read             read, write
 *   CANDIDATE     ROOT/autopilot/... (ephemeral) all    all              -
 *
 * admin is ringctl (people), autopilot the failover daemon, gateway every
 * gateway. A gateway can thus read rings and keep its own registration (and
 * delete the one a crashed earlier run of it left) but never write a ring;
 * an anonymous client can do nothing. (One identity for every gateway: a
 * gateway could change or delete another's registration, never a ring.)
 *
 * The file, one item a line, '#' comments:
 *
 *   auth USER:PASSWORD        this program's identity
 *   role admin USER:DIGEST    the digest id of each role, as ZooKeeper's
 *   role autopilot USER:DIGEST  digest scheme has it: base64(sha1(USER:PASSWORD))
 *   role gateway USER:DIGEST
 *
 * Every role line is needed (a program must name the others in the ACLs it
 * sets); the file must be readable by its owner alone. scripts/cluster makes
 * one per role.
 */
#ifndef NEARBY_ZK_AUTH_H
#define NEARBY_ZK_AUTH_H

#include <stddef.h>

#include <zookeeper/zookeeper.h>

#define ZK_AUTH_ID_MAX 300 /* USER:PASSWORD or USER:DIGEST */

enum zk_role {
    ZK_ROLE_ADMIN,
    ZK_ROLE_AUTOPILOT,
    ZK_ROLE_GATEWAY,
    ZK_ROLES,
};

enum zk_node_kind {
    ZK_NODE_ROOT,
    ZK_NODE_GATEWAYS,
    ZK_NODE_AUTOPILOT,
    ZK_NODE_RING,
    ZK_NODE_REGISTRATION,
    ZK_NODE_CANDIDATE,
    ZK_NODE_KINDS,
};

/* May be copied (it holds no pointers until zk_auth_acl builds one). */
struct zk_auth {
    int enabled;                        /* 0: open ACLs, no identity */
    char identity[ZK_AUTH_ID_MAX + 1];  /* USER:PASSWORD */
    char role_id[ZK_ROLES][ZK_AUTH_ID_MAX + 1];
    /* Scratch for zk_auth_acl: points into role_id of this very struct. */
    struct ACL acl[ZK_ROLES];
    struct ACL_vector acls;
};

/* Reads path into *auth (zeroed first). NULL or "" path: disabled (open
 * ACLs). Returns 0, or -1 with the reason in err. */
int zk_auth_load(const char *path, struct zk_auth *auth, char *err, size_t errlen);

/* A process is one identity: zk_auth_use loads path (as zk_auth_load) as the
 * identity every handle the zk library opens authenticates with and every
 * znode it creates is ACLed for. Call it once, before any connection.
 * zk_auth_process returns it (disabled until zk_auth_use succeeded). */
int zk_auth_use(const char *path, char *err, size_t errlen);
struct zk_auth *zk_auth_process(void);

/* Authenticates zh (a new handle) as auth's identity; no-op when disabled.
 * ZooKeeper answers later; a wrong password shows as NoAuth on writes.
 * Returns 0 or a ZooKeeper error code. */
int zk_auth_apply(zhandle_t *zh, const struct zk_auth *auth);

/* The ACL a znode of kind gets: auth's, or ZOO_OPEN_ACL_UNSAFE when auth is
 * NULL or disabled. Valid until the next call with the same auth; hand it to
 * zoo_create/zoo_acreate at once (they copy it). */
struct ACL_vector *zk_auth_acl(struct zk_auth *auth, enum zk_node_kind kind);

/* Writes the digest id of "USER:PASSWORD" ("USER:base64(sha1(...))") into
 * out (ZK_AUTH_ID_MAX + 1 bytes). Returns 0, or -1 when it does not fit or
 * has no ':'. */
int zk_auth_digest(const char *user_password, char *out, size_t cap);

#endif
