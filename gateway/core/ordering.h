/* ordering.h: the one rule that decides whether an update of a user's channel entry is applied: positions, sharing changes, duplicates.
 *
 * A channel entry (channels.h) holds a user's latest position and the
 * user's consent as this gateway knows it: the consent version (a counter
 * in PostgreSQL, bumped by every sharing change) and whether sharing is on
 * at it. Updates reach the entry from pub/sub (loc, off, on), from the
 * location cache and from PostgreSQL (the consent read after subscribing),
 * in any order, some twice. The rule:
 *
 *   - a sharing change (off or on at version v) is applied when v is newer
 *     than the version known (off also at the same version: it is
 *     idempotent). It is never taken for a duplicate: a later position must
 *     not hide an off, whatever the clocks of the gateways that sent them.
 *     Off clears the position.
 *   - a position stamped with version v is applied only while this gateway
 *     knows sharing to be on at exactly v. One with an older version was
 *     taken before a change already known, and is dropped: after `off`,
 *     nothing sent before it is shown, even if it arrives late. One with a
 *     newer version is dropped too, though its publisher had sharing on: the
 *     `on` itself is on its way on the same channel (and the next position
 *     after it is shown), while a cache or a node that made up a version
 *     must not be able to show a user who switched sharing off.
 *   - a position whose seq was applied lately is a duplicate (the same
 *     message through a second owner during a ring change); one older than
 *     the position held (by ts) is dropped too.
 *
 * Nothing here does I/O; the gateway tells watchers what the verdict says.
 */
#ifndef NEARBY_GATEWAY_ORDERING_H
#define NEARBY_GATEWAY_ORDERING_H

#include <stdint.h>

#include "channels.h"

enum channel_update_kind {
    CHANNEL_UPDATE_POSITION, /* lat, lng, ts, seq (0: from the cache, no seq), consent */
    CHANNEL_UPDATE_SHARING,  /* on, consent */
};

struct channel_update {
    enum channel_update_kind kind;
    uint64_t consent;
    int on;           /* SHARING */
    double lat, lng;  /* POSITION */
    uint64_t ts;
    uint64_t seq;
};

enum channel_verdict {
    CHANNEL_MOVED = 0,      /* a new position: tell the watchers */
    CHANNEL_HIDDEN = 1,     /* the position was cleared (sharing off): tell the watchers */
    CHANNEL_CHANGED = 2,    /* the consent changed, the position did not (on; off without one) */
    CHANNEL_DUPLICATE = -1, /* a position seen already */
    CHANNEL_STALE = -2,     /* sent before a sharing change already applied */
    CHANNEL_OLDER = -3,     /* a position older than the one held */
};

/* Applies u to ch under the rule above. Returns the verdict: >= 0 when ch
 * changed, < 0 when u was dropped (ch is then unchanged). */
enum channel_verdict channel_apply(struct channel *ch, const struct channel_update *u);

/* Returns 1 when ch's position may be shown: synced, sharing on, and a
 * position held. */
int channel_visible(const struct channel *ch);

#endif
