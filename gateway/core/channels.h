/* channels.h: the gateway's table of watched users, one entry per channel u:<id> its local sessions need.
 *
 * An entry exists while some local session has the user as a friend (a
 * watcher) or is that user (an owner: control messages for a user, such as
 * a new friendship or sharing switched on elsewhere, arrive on the user's
 * own channel, and the owners are how the gateway finds the user's sessions).
 * The entry also caches the user's latest known position, shared by every
 * watcher, so a session moving can re-check all its friends without asking
 * Redis, and the user's consent as last heard (ordering.h).
 *
 * The gateway keeps one subscription per entry, whatever the number of
 * watchers: callers subscribe when channels_ref creates an entry and
 * unsubscribe when channels_release removes it.
 *
 * Ownership: the table owns its entries; sessions in watchers are borrowed
 * (a session removes itself before it is freed). Entry pointers stay valid
 * until channels_release removes the entry or channels_free. Single-threaded:
 * everything runs on the gateway's loop.
 */
#ifndef NEARBY_GATEWAY_CHANNELS_H
#define NEARBY_GATEWAY_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#include "geo.h"

struct session;
struct channels;

#define CHANNEL_RECENT_SEQS 4 /* position sequences remembered to drop duplicates */

struct channel {
    uint64_t user;
    /* Latest known position; ts == 0 when none (never seen, stopped sharing,
     * or expired). Set lat, lng and pt together with channels_set_position;
     * updates go through channel_apply (ordering.h), which decides. */
    double lat, lng;
    struct geo_point pt; /* lat, lng as a unit vector, for the distance to each watcher */
    uint64_t ts;
    /* The last few position sequences applied: a ring change publishes each
     * position to two owners, and the second copy is dropped by its seq. */
    uint64_t recent_seq[CHANNEL_RECENT_SEQS];
    /* The user's consent as this gateway knows it: the consent version
     * (schema/004_consent.sql; 0 before anything was heard) and whether it
     * says sharing is on. Unknown means off. */
    uint64_t consent;
    uint8_t sharing;
    /* 1 once the consent was read from PostgreSQL after the channel's
     * subscription was confirmed: only then may its position be shown,
     * since nothing published before can have been missed. */
    uint8_t synced;
    uint8_t recent_next;  /* where the next seq goes in recent_seq */
    uint64_t seen_ms;     /* gateway clock when the position arrived: expiry */
    uint8_t sync_queued;  /* waiting in the gateway's consent read queue */
    uint64_t sync_ticket; /* names the read queued last, so a reply to an older
                           * read (or one for an entry since freed) is ignored */
    uint32_t owner_count;
    uint32_t owner_cap;
    struct session **owners;   /* ref: local sessions of this very user */
    uint32_t watcher_count;
    uint32_t watcher_cap;
    struct session **watchers; /* ref: sessions that have user as a friend */
};

/* Records a new latest position of ch's user (ts 0 is stored as 1). */
void channels_set_position(struct channel *ch, double lat, double lng, uint64_t ts);

/* Returns an empty table, or NULL when out of memory. */
struct channels *channels_new(void);

/* Frees the table and every entry (not the sessions); NULL does nothing. */
void channels_free(struct channels *table);

/* Returns the entry of user, or NULL. */
struct channel *channels_get(const struct channels *table, uint64_t user);

/* Returns the entry of user, creating it (with no watcher and no position)
 * when missing; *created (may be NULL) says which. NULL when out of memory. */
struct channel *channels_ref(struct channels *table, uint64_t user, int *created);

/* Removes ch when it has no watcher and no owner left, and returns 1 (ch is
 * then freed: the caller unsubscribes); returns 0 when ch is still in use. */
int channels_release(struct channels *table, struct channel *ch);

/* Adds session to ch's watchers. Returns 0, or -1 when out of memory. */
int channel_add_watcher(struct channel *ch, struct session *session);

/* Removes session from ch's watchers (no-op when absent). */
void channel_remove_watcher(struct channel *ch, struct session *session);

/* Adds session, a session of ch's very user, to ch's owners. Returns 0, or
 * -1 when out of memory. */
int channel_add_owner(struct channel *ch, struct session *session);

/* Removes session from ch's owners (no-op when absent). */
void channel_remove_owner(struct channel *ch, struct session *session);

/* Number of entries. */
size_t channels_count(const struct channels *table);

/* Iterates the entries: start with *cursor = 0; returns the next entry or
 * NULL at the end. The table must not change during an iteration. */
struct channel *channels_next(const struct channels *table, size_t *cursor);

#endif
