/* session.h: one phone's session: its friend list and what its screen shows, decided without I/O.
 *
 * A session holds the user's own position and radius and, per friend, a
 * pointer to the friend's entry in the channel table (which carries the
 * friend's latest position, shared by every session watching it) and the
 * timestamp of the position last sent to the phone (0 when the friend is not
 * shown). The functions here decide what the phone must be told and hand
 * encoded frames (proto_msg.h) to a sink; the gateway owns sockets, timers
 * and Redis. A phone never hears about itself nor about a non-friend: only
 * entries of the friend list are ever encoded.
 *
 * Ownership: the session owns its friend array; channel entries are borrowed
 * from the table and the session registers itself as their watcher, so
 * session_clear_friends must run before the session is freed.
 */
#ifndef NEARBY_GATEWAY_SESSION_H
#define NEARBY_GATEWAY_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "channels.h"
#include "proto_msg.h"

#define SESSION_FRIENDS_MAX 5000

enum session_err {
    SESSION_OK = 0,
    SESSION_ERR_NOMEM = -1,
    SESSION_ERR_LIMIT = -2,   /* SESSION_FRIENDS_MAX friends already */
    SESSION_ERR_INVALID = -3, /* the user itself */
    SESSION_ERR_NOSPACE = -4, /* the frame does not fit the buffer */
};

struct session_friend {
    struct channel *channel; /* ref: owned by the channel table; channel->user is the id */
    uint64_t sent_ts;        /* ts of the position last sent; 0: not shown */
};

struct session;

/* Where frames for a session's phone go, and what learns of channel entries
 * the session created or released (to subscribe or unsubscribe). */
struct session_sink {
    void (*send)(void *arg, struct session *s, const uint8_t *frame, size_t len);
    void (*channel_created)(void *arg, struct channel *ch);
    void (*channel_released)(void *arg, uint64_t user);
    void *arg;
    /* May be NULL. Returns 1 while s's phone is not reading what it is sent:
     * friends' changes are then held back (session_flush_held sends the
     * latest of each once it reads again), so a slow phone costs a bounded
     * buffer and never a queue of stale positions. */
    int (*busy)(void *arg, struct session *s);
};

struct session {
    uint64_t user;
    double radius_km;
    int has_position;
    uint32_t held;       /* friends' changes held back while the sink was busy */
    double lat, lng;     /* set with session_moved (or session_set_position) */
    struct geo_point pt; /* lat, lng as a unit vector */
    uint64_t ts;
    uint32_t friend_count;
    uint32_t friend_cap;
    struct session_friend *friends; /* sorted by channel->user */
    void *transport;                /* ref: the gateway's connection object */
};

/* Sets up an empty session of user with radius_km. */
void session_init(struct session *s, uint64_t user, double radius_km);

/* Replaces the friend list by ids (duplicates and the user itself are
 * skipped; at most SESSION_FRIENDS_MAX), referencing each friend's channel
 * entry and registering s as its watcher; sink->channel_created learns of
 * each entry made. Returns 0 or SESSION_ERR_NOMEM (the list is then empty). */
int session_set_friends(struct session *s, struct channels *table, const uint64_t *ids,
                        size_t n, const struct session_sink *sink);

/* Drops every friend: unregisters s as watcher and releases the entries;
 * sink->channel_released learns of each entry removed. Frees the array. */
void session_clear_friends(struct session *s, struct channels *table,
                           const struct session_sink *sink);

/* Returns the friend entry of user, or NULL when user is not a friend. */
struct session_friend *session_find_friend(const struct session *s, uint64_t user);

/* Adds user as a friend and, if its position is known and in range, sends
 * `friend`. Returns 0, 1 when already a friend, or a SESSION_ERR_*. */
int session_add_friend(struct session *s, struct channels *table, uint64_t user,
                       const struct session_sink *sink);

/* Removes user from the friends, sending `gone` first if it was shown.
 * Returns 0, or 1 when user was not a friend. */
int session_remove_friend(struct session *s, struct channels *table, uint64_t user,
                          const struct session_sink *sink);

/* Encodes the `nearby` reply into buf: every friend with a known position
 * within the radius (each then counts as shown, and every other friend as
 * not shown). Returns the bytes written,
 * or SESSION_ERR_NOSPACE. */
int session_encode_nearby(struct session *s, uint8_t *buf, size_t cap);

/* The friend's channel entry changed (a new position, or no position any
 * more): sends `friend` when it is in range and newer than what the phone
 * has, `gone` when it was shown and is not in range or has no position.
 * frame, when not NULL, is the entry's `friend` message encoded once for
 * every watcher (proto_friend_frame_init of its id, lat, lng, ts). */
void session_friend_changed(struct session *s, struct session_friend *f,
                            struct proto_friend_frame *frame, const struct session_sink *sink);

/* Records the user's own position without telling the phone anything (at
 * init, before the nearby reply). */
void session_set_position(struct session *s, double lat, double lng, uint64_t ts);

/* The user moved (or the radius changed): re-checks every friend, sending
 * `friend` for those that came into range and `gone` for those that left. */
void session_moved(struct session *s, double lat, double lng, uint64_t ts,
                   const struct session_sink *sink);

/* Sends what was held back while the sink was busy: for each friend, its
 * latest position if newer than what the phone has, or `gone`. Returns how
 * many changes had been held (0: nothing to do). */
uint32_t session_flush_held(struct session *s, const struct session_sink *sink);

/* Changes the radius and re-checks every friend as session_moved does. */
void session_set_radius(struct session *s, double radius_km, const struct session_sink *sink);

#endif
