/* friends_db.h: the friend graph and the sharing switch in PostgreSQL, asynchronously over a pg_conn.
 *
 * Every call queues one request on the pg_conn (pg_conn.h) and returns at
 * once: 0 when queued (the callback then runs exactly once, later, from the
 * event loop), or a negative FRIENDS_DB_ERR_* (the callback never runs).
 * While PostgreSQL is down calls fail fast with FRIENDS_DB_ERR_DOWN, either
 * here or in the callback. pg_conn_errstr() says more after FRIENDS_DB_ERR_DB.
 *
 * User ids are 1..2^63-1 (schema/001_users.sql); others are
 * FRIENDS_DB_ERR_INVALID. A friendship is two rows of friendships, one per
 * direction; add and remove change both in one transaction.
 */
#ifndef NEARBY_FRIENDS_DB_H
#define NEARBY_FRIENDS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_conn.h"

/* Nobody has more friends than this: loads return at most this many ids and
 * adds past it are refused with FRIENDS_DB_ERR_LIMIT. */
#define FRIENDS_DB_MAX_FRIENDS 5000

enum friends_db_err {
    FRIENDS_DB_OK = 0,
    FRIENDS_DB_ERR_NOMEM = -1,
    FRIENDS_DB_ERR_INVALID = -2, /* id 0, above 2^63-1, or a user befriending themself */
    FRIENDS_DB_ERR_DOWN = -3,    /* PostgreSQL unreachable; nothing was changed */
    FRIENDS_DB_ERR_DB = -4,      /* the request failed in PostgreSQL or the connection
                                  * died with it in flight (outcome unknown) */
    FRIENDS_DB_ERR_LIMIT = -5,   /* one of the two already has FRIENDS_DB_MAX_FRIENDS friends */
    FRIENDS_DB_ERR_NO_USER = -6, /* a user id not in users */
    FRIENDS_DB_ERR_CLOSED = -7,  /* the pg_conn was freed first */
};

/* The friends of a user: on success err is 0 and ids[0..n) (borrowed for the
 * call) are the friend ids in ascending order, at most FRIENDS_DB_MAX_FRIENDS;
 * a user without friends or without a row gets n == 0. On failure ids is
 * NULL and n 0. */
typedef void (*friends_db_load_cb)(int err, const uint64_t *ids, size_t n, void *arg);

/* A change: err is 0 on success, and changed says whether anything was
 * different before (false: already friends, were not friends, or sharing
 * already had that value). */
typedef void (*friends_db_done_cb)(int err, bool changed, void *arg);

/* Loads the friend ids of user_id (a primary-key prefix scan). */
int friends_db_load(struct pg_conn *pc, uint64_t user_id, friends_db_load_cb cb, void *arg);

/* Makes a and b friends (both rows, one transaction, both users' rows locked
 * so concurrent adds cannot pass the cap). Fails with FRIENDS_DB_ERR_LIMIT
 * when either has FRIENDS_DB_MAX_FRIENDS friends already, with
 * FRIENDS_DB_ERR_NO_USER when either is not a user. */
int friends_db_add(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb, void *arg);

/* Ends the friendship of a and b (both rows, one statement). */
int friends_db_remove(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                      void *arg);

/* Called with whether the user shares its location (false when err != 0). */
typedef void (*friends_db_sharing_cb)(int err, bool sharing, void *arg);

/* Reads whether user_id shares its location. FRIENDS_DB_ERR_NO_USER when
 * there is no such user. */
int friends_db_get_sharing(struct pg_conn *pc, uint64_t user_id, friends_db_sharing_cb cb,
                           void *arg);

/* Switches location sharing of user_id on or off. FRIENDS_DB_ERR_NO_USER when
 * there is no such user. */
int friends_db_set_sharing(struct pg_conn *pc, uint64_t user_id, bool sharing,
                           friends_db_done_cb cb, void *arg);

/* A fixed English name of a FRIENDS_DB_ERR_* value. */
const char *friends_db_strerror(int err);

#endif
