/* phone.h: one simulated phone: friend list, WebSocket session, walk, the checks on what it hears.
 *
 * A phone fetches its friend list once (GET /v1/friends on its first
 * target, or from --friends-file), then connects, sends init, waits at most
 * PHONE_NEARBY_DEADLINE_MS for `nearby`, and from then on sends `loc` every
 * interval (jittered by +-20 %) while walking, and checks every frame it
 * gets. When its connection ends it waits 100..1000 ms and reconnects to the
 * next target in the list.
 *
 * Speaking Socket.IO (eio.h) the session is the same with other words: the
 * server's open packet, then `40{"token"}` as init, the server's `40` and a
 * `nearby` event, then `loc` events out and `friend` events in, each checked
 * as the msgpack frames are; every ping is answered with a pong.
 *
 * What it keeps is compact: its friends as a sorted array of 4-byte ids and,
 * beside it, what it shows of each (position as two floats and ts; ts 0 means
 * not shown), so a check is one binary search and no map is allocated.
 *
 * Lost and duplicate updates: every loc it sends is recorded in the run's
 * ledger (ledger.h) with a ts that rises strictly per user. A `friend` frame
 * whose ts is not newer than the one shown is a dup (and a failed check); one
 * that is newer counts as lost every ts the friend published in between,
 * leaving out those sent before this connection's `nearby` arrived. A
 * friend's first appearance on a connection sets the baseline: what was
 * published before it is not counted, since a phone with no position yet is
 * shown nobody. What was published after the last frame is counted at the
 * end of a run by phone_unreceived.
 */
#ifndef NEARBY_LOADGEN_PHONE_H
#define NEARBY_LOADGEN_PHONE_H

#include <stdint.h>

#include "loadgen.h"

#define PHONE_NEARBY_DEADLINE_MS 10000
#define PHONE_FETCH_TIMEOUT_MS 10000

struct event;
struct http_get;
struct wsclient;

enum phone_state {
    PHONE_IDLE,        /* not started yet */
    PHONE_FETCHING,    /* GET /v1/friends in flight */
    PHONE_CONNECTING,  /* TCP connect or WebSocket handshake */
    PHONE_AWAIT_OPEN,  /* Socket.IO: WebSocket open, no Engine.IO open packet yet */
    PHONE_AWAIT_NEARBY,/* init sent */
    PHONE_LIVE,        /* got nearby; sending loc */
    PHONE_WAITING,     /* between a close and the next attempt */
    PHONE_DONE,        /* shutting down */
};

/* What the phone shows of one friend. */
struct phone_shown {
    float lat;
    float lng;
    uint64_t ts; /* 0: not shown */
};

struct phone {
    struct loadgen *lg;       /* ref: owned by main */
    struct wsclient *ws;
    struct http_get *fetch;   /* in flight, else NULL */
    struct event *timer;      /* deadline, next loc, or reconnect */
    enum phone_state state;
    uint32_t user;
    uint32_t target;          /* index into lg->targets */
    uint32_t friend_count;
    int has_friends;          /* the friend list was fetched */
    int stopping;             /* phone_stop started a close handshake */
    int sessions_before;      /* nearbys received before on earlier connections */
    int sio_connected;        /* Socket.IO: the server's 40 arrived on this connection */
    uint32_t *friends;        /* sorted ids */
    struct phone_shown *shown;/* beside friends */
    double lat, lng;
    double heading;           /* radians, 0 = north */
    double speed_mps;
    double moved_at_ms;       /* when lat/lng were last advanced */
    double radius_km;         /* from nearby */
    uint64_t nearby_at_ms;    /* when this connection's nearby arrived: updates of friends
                               * published before it are not this connection's to count */
    struct strangers_phone strangers; /* a member of --strangers-fraction's pairs */
};

/* Sets up phone p for user, first connecting to target; allocates its
 * client and timer. Returns 0 or -1 when out of memory (then phone_free). */
int phone_init(struct phone *p, struct loadgen *lg, uint32_t user, uint32_t target);

/* Starts the phone: the friend list fetch, then the session. */
void phone_start(struct phone *p);

/* Stops the phone for shutdown: an open session gets close 1000. Returns 1
 * when a close handshake is under way (loadgen_phone_closed follows), else 0. */
int phone_stop(struct phone *p);

/* Returns how many updates of p's friends, published after what p shows of
 * each (and after its nearby), p has not received: at the end of a run,
 * after a quiet period, they are lost. 0 when p is not online. */
uint64_t phone_unreceived(const struct phone *p);

/* Returns 1 when p is online (got its nearby on an open connection). */
int phone_online(const struct phone *p);

/* Returns how many of p's friends p shows older than due[friend - 1], what
 * it should show by now (0: nothing due; users above n are never due); 1
 * when p itself is not online. */
uint64_t phone_behind(const struct phone *p, const uint64_t *due, size_t n);

/* Frees what phone_init allocated (not p itself). */
void phone_free(struct phone *p);

#endif
