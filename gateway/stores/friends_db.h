/* friends_db.h: users, friendships by consent, blocks and the sharing switch in PostgreSQL, asynchronously over a pg_conn.
 *
 * Every call queues one request on the pg_conn (pg_conn.h) and returns at
 * once: 0 when queued (the callback then runs exactly once, later, from the
 * event loop), or a negative FRIENDS_DB_ERR_* (the callback never runs).
 * While PostgreSQL is down calls fail fast with FRIENDS_DB_ERR_DOWN, either
 * here or in the callback. pg_conn_errstr() says more after FRIENDS_DB_ERR_DB.
 *
 * Each call is one statement calling one function of schema/004_consent.sql,
 * so one round trip and one transaction; calls that act for a user make the
 * user's row first (users exist from first sight). User ids are 1..2^63-1;
 * others are FRIENDS_DB_ERR_INVALID. A friendship is two rows of
 * friendships, one per direction.
 */
#ifndef NEARBY_FRIENDS_DB_H
#define NEARBY_FRIENDS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_conn.h"

/* Nobody has more friends than this: loads return at most this many ids and
 * friendships past it are refused (FRIENDS_DB_FRIEND_LIMIT). */
#define FRIENDS_DB_MAX_FRIENDS 5000
/* Ids in one friends_db_consent call. */
#define FRIENDS_DB_CONSENT_MAX 1000

enum friends_db_err {
    FRIENDS_DB_OK = 0,
    FRIENDS_DB_ERR_NOMEM = -1,
    FRIENDS_DB_ERR_INVALID = -2, /* id 0, above 2^63-1, or a user acting on themself */
    FRIENDS_DB_ERR_DOWN = -3,    /* PostgreSQL unreachable; nothing was changed */
    FRIENDS_DB_ERR_DB = -4,      /* the request failed in PostgreSQL or the connection
                                  * died with it in flight (outcome unknown) */
    FRIENDS_DB_ERR_BUSY = -5,    /* the connection's queue is full (pg_pool's session
                                  * bound): nothing was sent; try again later */
    FRIENDS_DB_ERR_CLOSED = -7,  /* the pg_conn was freed first */
};

/* What a friend request or an acceptance came to (the SQL function's answer). */
enum friends_db_status {
    FRIENDS_DB_REQUESTED,     /* pending (also for ids that are no user, or that block the caller) */
    FRIENDS_DB_FRIENDS,       /* friends now, or already */
    FRIENDS_DB_RATE_LIMITED,  /* 20 requests in the last minute */
    FRIENDS_DB_REQUEST_LIMIT, /* 100 requests pending */
    FRIENDS_DB_FRIEND_LIMIT,  /* one of the two has FRIENDS_DB_MAX_FRIENDS friends */
    FRIENDS_DB_BLOCKED,       /* the caller blocks the other */
    FRIENDS_DB_SELF,          /* asking oneself */
    FRIENDS_DB_NO_REQUEST,    /* accept: no (visible) request from the other */
};

/* One user's consent as PostgreSQL has it. */
struct friends_db_consent {
    uint64_t user;
    bool sharing;
    uint64_t version; /* consent_version; 0 for an id that is no user */
};

/* One pending request: incoming (other asked the user) or outgoing. */
struct friends_db_request {
    bool incoming;
    uint64_t other;
    int64_t at_ms; /* when it was made, ms since the epoch */
};

/* A list of ids (friends, blocks, former friends): on success err is 0 and
 * ids[0..n) are borrowed for the call; on failure ids is NULL and n 0. */
typedef void (*friends_db_ids_cb)(int err, const uint64_t *ids, size_t n, void *arg);

/* A change: err is 0 on success, and changed says whether anything was
 * different before. */
typedef void (*friends_db_done_cb)(int err, bool changed, void *arg);

/* The outcome of a request or an acceptance. */
typedef void (*friends_db_status_cb)(int err, enum friends_db_status status, void *arg);

/* The consent of users, in no particular order; ids that are no user come
 * back with version 0 and sharing false. rows are borrowed for the call. */
typedef void (*friends_db_consent_cb)(int err, const struct friends_db_consent *rows, size_t n,
                                      void *arg);

/* A sharing change: changed as for done, version the consent version now in
 * force (the one the change made, when it changed anything). */
typedef void (*friends_db_sharing_cb)(int err, bool changed, uint64_t version, void *arg);

/* A block: changed when the block is new, were_friends when it ended a
 * friendship. */
typedef void (*friends_db_block_cb)(int err, bool changed, bool were_friends, void *arg);

/* The caller's own record: sharing, consent version, number of friends. */
typedef void (*friends_db_me_cb)(int err, bool sharing, uint64_t version, uint64_t friends,
                                 void *arg);

/* Pending requests, oldest first; rows are borrowed for the call. */
typedef void (*friends_db_requests_cb)(int err, const struct friends_db_request *rows, size_t n,
                                       void *arg);

/* Makes user_id's row if missing and loads its friend ids, ascending, at most
 * FRIENDS_DB_MAX_FRIENDS (a primary-key prefix scan). */
int friends_db_load(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb, void *arg);

/* Reads the consent of n users (1..FRIENDS_DB_CONSENT_MAX). */
int friends_db_consent(struct pg_conn *pc, const uint64_t *users, size_t n,
                       friends_db_consent_cb cb, void *arg);

/* user_id's own record, made on first sight (user_me). */
int friends_db_me(struct pg_conn *pc, uint64_t user_id, friends_db_me_cb cb, void *arg);

/* Switches user_id's sharing on or off (set_sharing). */
int friends_db_set_sharing(struct pg_conn *pc, uint64_t user_id, bool sharing,
                           friends_db_sharing_cb cb, void *arg);

/* a asks b to be friends (friend_request). */
int friends_db_request(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_status_cb cb,
                       void *arg);

/* a accepts b's request (friend_accept). */
int friends_db_accept(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_status_cb cb,
                      void *arg);

/* a declines b's request or cancels its own to b (friend_request_delete). */
int friends_db_request_delete(struct pg_conn *pc, uint64_t a, uint64_t b,
                              friends_db_done_cb cb, void *arg);

/* a's pending requests, both ways (friend_requests_of). */
int friends_db_requests(struct pg_conn *pc, uint64_t user_id, friends_db_requests_cb cb,
                        void *arg);

/* Ends the friendship of a and b, both rows (unfriend_pair). */
int friends_db_unfriend(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                        void *arg);

/* a blocks b (block_user) / no longer blocks b (unblock_user). */
int friends_db_block(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_block_cb cb,
                     void *arg);
int friends_db_unblock(struct pg_conn *pc, uint64_t a, uint64_t b, friends_db_done_cb cb,
                       void *arg);

/* The ids user_id blocks, ascending. */
int friends_db_blocks(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb, void *arg);

/* The users user_id blocks or is blocked by (schema/007_strangers.sql), ascending: whom
 * a stranger view hides. */
int friends_db_blocks_either(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb,
                             void *arg);

/* Deletes user_id's account (account_delete); the ids are its former friends. */
int friends_db_account_delete(struct pg_conn *pc, uint64_t user_id, friends_db_ids_cb cb,
                              void *arg);

/* A fixed English name of a FRIENDS_DB_ERR_* value. */
const char *friends_db_strerror(int err);

#endif
