/* strangers.h: what one phone is shown of strangers, decided without I/O: who may be shown, the nearest K, and the frames that say so.
 *
 * A stranger is another opted-in session nearby (README "Strangers"). The
 * gateway hears strangers on cell channels (gateway/cell_channels.c) and
 * hands each one heard to the view of every local session listening to that
 * cell; the view decides, in this one place, what the phone sees:
 *
 *   - never its own user (another session of the same user included), never
 *     a friend (friends are shown as friends only, whether they share with
 *     this user or not), never a user it blocked or who blocked it;
 *   - only while the view is ready (its blocks were read) and the session has
 *     a position; only within range_km of that position, the distance taken
 *     to the stranger's coarse position (geo/stranger.h);
 *   - at most max strangers, the nearest: a stranger nearer than the farthest
 *     one shown takes its place (stranger_gone for that one), and a farther
 *     one is not shown until a place is free;
 *   - a stranger stays shown while it is heard within range; it goes
 *     (stranger_gone) when it leaves the range, switches off or disconnects,
 *     falls silent for the location TTL, becomes a friend, is blocked, is
 *     pushed out by a nearer one, or its cell is no longer heard.
 *
 * The phone sees sid as hex, the coarse position and the distance rounded to
 * 0.1 km; the user id stays in the view, for the rules above.
 *
 * Ownership: the view owns its arrays; session is borrowed (the view is
 * freed before it). Frames go out through the session's sink (session.h).
 */
#ifndef NEARBY_GATEWAY_STRANGERS_H
#define NEARBY_GATEWAY_STRANGERS_H

#include <stddef.h>
#include <stdint.h>

#include "cellset.h"
#include "geo.h"
#include "proto_payload.h"
#include "session.h"
#include "stranger.h"

struct cell;

#define STRANGERS_NEW_FRIENDS 16
#define STRANGERS_ORDER_WAIT_MS 1000

/* A stranger update as heard on a cell channel, already checked and coarsened. */
struct stranger_heard {
    uint64_t user, sid, seq;
    double lat, lng;         /* coarse */
    struct geo_point pt;     /* lat, lng as a unit vector */
    uint64_t now_ms;
    const struct cell *cell; /* ref: the cell it was heard on */
    /* The `stranger` frame of this update, encoded once for every view and
     * finished per phone with its distance (proto_stranger_frame_init);
     * NULL: each view encodes its own. */
    struct proto_friend_frame *frame;
};

/* One stranger shown to the phone. */
struct stranger_shown {
    uint64_t sid;
    uint64_t user;           /* the rules' alone: never sent */
    uint64_t seq;            /* the last update applied: duplicates are dropped */
    double lat, lng;         /* coarse */
    double dist_km;          /* to the coarse position, not rounded */
    uint64_t seen_ms;        /* gateway clock at the last update: the TTL */
    const struct cell *cell; /* ref: the cell it was heard on (cells.h) */
    /* Order across cells: the seq of the stranger_gone that ended its stream
     * on cell (it moved on to another cell this view hears); 0: open. An
     * update from another cell while it is open waits in pending (one, frame
     * NULL) until that stranger_gone comes, a newer update comes, or
     * pending_until. */
    uint64_t left_seq;
    int has_pending;
    struct stranger_heard pending;
    uint64_t pending_until;
    char hex[STRANGER_SID_HEX_SIZE];
};

struct stranger_view {
    struct session *session;  /* ref: the viewer, owned by the phone */
    uint64_t sid;             /* this session's own, shown to others */
    char sid_hex[STRANGER_SID_HEX_SIZE];
    int ready;                /* strangers may be shown: blocks read, friends known */
    int blocks_read;
    double range_km;          /* strangers shown within this of the session */
    uint32_t max;             /* at most this many shown */
    uint32_t count, cap;
    struct stranger_shown *shown; /* sorted by sid */
    uint64_t *blocks;         /* sorted: users blocked either way */
    size_t block_count, block_cap;
    /* New friends heard of, not yet in the session's friend list (read from
     * PostgreSQL meanwhile): hidden as if they were in it. */
    uint64_t new_friends[STRANGERS_NEW_FRIENDS];
    unsigned new_friend_count;

    /* cell_channels.c's: the cells held and the position published. */
    struct cellset want;      /* the cells of the session's position (0: none yet) */
    struct cell *held[4 * CELLSET_MAX]; /* ref: cells listened to (want and, during a
                                         * handover, cells still to release) */
    unsigned held_count;
    struct cell *pub_cell;    /* ref: the cell last published in, NULL: none */
    uint64_t pub_seq;
    struct proto_payload pub_last; /* the last position published (kind 0: none) */
    char pub_last_cell[GEOHASH_SIZE]; /* the cell it went out on */
    int pub_dirty;            /* a position waits in pub_cell's queue */
    struct stranger_view *qprev, *qnext; /* pub_cell's queue */
    struct stranger_view *prev, *next;   /* every view of the gateway */
    struct stranger_blocks_read *read;   /* the blocks read in flight, or NULL */
};

/* Sets up a view of session with its own sid (stranger_sid_new), showing at
 * most max (>= 1) strangers within range_km. Not ready: nothing is shown
 * before stranger_view_add_blocks(..., ready = 1). */
void stranger_view_init(struct stranger_view *v, struct session *session, uint64_t sid,
                        uint32_t max, double range_km);

/* Frees what the view allocated; sends nothing. */
void stranger_view_release(struct stranger_view *v);

/* Adds users blocked either way (any order, duplicates fine) and hides any
 * of them shown. ready != 0 makes the view ready. Returns 0, or -1 when out
 * of memory: then the view is made not ready and shows nobody (fail closed). */
int stranger_view_add_blocks(struct stranger_view *v, const uint64_t *users, size_t n, int ready,
                             const struct session_sink *sink);

/* Returns 1 when the rules let v show user at all (distance aside). */
int stranger_view_may_show(const struct stranger_view *v, uint64_t user);

/* A stranger was heard: shows it, updates it, pushes out the farthest, or
 * hides it, as the rules say. */
void stranger_view_heard(struct stranger_view *v, const struct stranger_heard *h,
                         const struct session_sink *sink);

/* The stranger sid, heard on cell from, went off, disconnected or left for
 * another cell: hidden, unless seq is older than the update shown (it came
 * late) or keep is set (it moved to a cell this view hears too: its update
 * from there, waiting or to come, says where; nothing more comes from from).
 *
 * Two cells have two owners, so what a stranger sends on its new cell may
 * arrive before the last of what it sent on the old one: an update from
 * another cell than the one shown waits until the old cell's stranger_gone
 * has come (everything sent there before it has then been heard), at most
 * STRANGERS_ORDER_WAIT_MS (stranger_view_expire applies it then). One
 * update waits at most: a newer one while it waits (the stranger went on)
 * shows the waiting one first, so none is skipped. */
void stranger_view_gone(struct stranger_view *v, uint64_t sid, uint64_t seq, int keep,
                        const struct cell *from, const struct session_sink *sink);

/* The session moved or range_km changed: re-measures every stranger shown
 * and hides those now out of range. */
void stranger_view_moved(struct stranger_view *v, const struct session_sink *sink);

/* user became a friend (heard on the session's own channel before the
 * friend list is read again): hidden now and until stranger_view_friends_read. */
void stranger_view_friend_added(struct stranger_view *v, uint64_t user,
                                const struct session_sink *sink);

/* The session's friend list was read again: it now holds every new friend. */
void stranger_view_friends_read(struct stranger_view *v, const struct session_sink *sink);

/* cell is no longer heard: hides the strangers heard on it. */
void stranger_view_drop_cell(struct stranger_view *v, const struct cell *cell,
                             const struct session_sink *sink);

/* Hides strangers not heard for ttl_ms, and applies updates from another
 * cell that waited STRANGERS_ORDER_WAIT_MS for their old cell's gone. */
void stranger_view_expire(struct stranger_view *v, uint64_t now_ms, uint64_t ttl_ms,
                          const struct session_sink *sink);

/* Hides every stranger shown (strangers switched off). */
void stranger_view_clear(struct stranger_view *v, const struct session_sink *sink);

/* Returns the stranger shown as sid, or NULL. */
const struct stranger_shown *stranger_view_find(const struct stranger_view *v, uint64_t sid);

#endif
