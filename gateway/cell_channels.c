/* cell_channels.c: strangers on the gateway: a session's cell channels held, handed over make before break, its coarse position published within the cell's bound, and what cell channels carry handed to the views.
 *
 * A session with strangers on has a view (core/strangers.h). Once it has a
 * position, the view holds the cell channels g:<geohash> of its cell set
 * (geo/cellset.h: its own cell and the 8 around it, at --strangers-precision)
 * in the gateway's cell table (core/cells.h), which keeps one subscription
 * per cell over the ring, whatever the number of views. When the session
 * crosses into another cell, the view first holds the new cells, and
 * releases the cells it no longer needs only once every new cell is
 * confirmed by each live owner (gateway_confirmed), so no update is missed in
 * between; a move before that only adds to what it holds.
 *
 * Publishing: each position goes out coarsened (geo/stranger.h) on the
 * session's own cell, as [stranger, user, seq, sid, lat, lng, ts]; leaving a
 * cell sends stranger_gone on the old one naming the new one, and switching
 * off or disconnecting sends it naming none. Positions (not the gone ones)
 * of all the gateway's sessions in one cell share a token bucket of
 * --strangers-cell-rate a second: past it the latest position of each
 * session waits in the cell's queue, oldest first, and goes out as tokens
 * come, so a stadium's cell carries a bounded rate from each gateway and
 * every session still gets its turn.
 *
 * Order across cells: two cell channels have two owners, so nothing orders
 * what goes out on one against the other (a stalled gateway catching up
 * publishes a session's last position in its old cell and its first in the
 * new one at once; a stalled receiver reads two sockets in any order). The
 * stranger_gone on the old cell names the new one, and a view holding both
 * keeps an update from the new cell waiting until that gone has come
 * (core/strangers.h, stranger_view_gone).
 *
 * The ring: cell channels are hashed and owned like user channels, so
 * gateway.c's apply_ring moves them in the same two phases, and publishing
 * reaches both owners while a node joins or leaves; views drop the second
 * copy by seq.
 *
 * Catching up: a cell channel confirmed on a node (first subscribed, moved,
 * or subscribed again after its subscriber connection was cut) is asked
 * (stranger_ask) for what it carries: every gateway publishes the last
 * position of each of its sessions in that cell again, with its seq, within
 * the cell's bound. Views that had it drop it; one that missed it while the
 * cell was cut off, or a view new to the cell, shows it now rather than at
 * the next move. The counterpart of channel_sync.c's cache read for user
 * channels. A cell is asked once per confirmation (subscriptions are few:
 * one per cell per node, again only after a cut or a move), and answered
 * within the cell's bound.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "log.h"

#define CELL_FLUSH_MS 100

/* A blocks read in flight; view is NULL once the view is gone. */
struct stranger_blocks_read {
    struct gateway *gw;          /* ref */
    struct stranger_view *view;  /* ref, or NULL */
};

struct cell_channels {
    struct gateway *gw;          /* ref: owner */
    struct stranger_view *views; /* every view */
    size_t view_count;
    struct event *flush;         /* drains the cells' queues */
    int flush_armed;
};

static void publish_gone(struct gateway *gw, struct stranger_view *v, const struct cell *from,
                         const char *next);

static const struct session_sink *sink_of(struct gateway *gw)
{
    return &gw->sink;
}

/* -- the cells a view holds -------------------------------------------------- */

static int holds(const struct stranger_view *v, const char *name, size_t len)
{
    for (unsigned i = 0; i < v->held_count; i++)
        if (strlen(v->held[i]->name) == len && memcmp(v->held[i]->name, name, len) == 0)
            return 1;
    return 0;
}

static void queue_remove(struct stranger_view *v)
{
    struct cell *cell = v->pub_cell;

    if (!v->pub_dirty || cell == NULL)
        return;
    if (v->qprev)
        v->qprev->qnext = v->qnext;
    else
        cell->queue_head = v->qnext;
    if (v->qnext)
        v->qnext->qprev = v->qprev;
    else
        cell->queue_tail = v->qprev;
    v->qprev = v->qnext = NULL;
    v->pub_dirty = 0;
    cell->queued--;
}

/* Lets go of held cell i: its strangers are hidden, and the cell is
 * unsubscribed when no view holds it any more. */
static void release_at(struct gateway *gw, struct stranger_view *v, unsigned i)
{
    struct cell *cell = v->held[i];

    stranger_view_drop_cell(v, cell, sink_of(gw));
    if (v->pub_cell == cell) {
        /* Moved out (or held too much): those who hear only this cell must
         * not keep the last position shown. */
        queue_remove(v);
        publish_gone(gw, v, cell, v->want.count ? v->want.cell[0] : NULL);
        v->pub_cell = NULL;
    }
    v->held[i] = v->held[--v->held_count];
    cell_remove_listener(cell, v);
    if (cell->listener_count == 0) {
        gateway_subscribe(gw, cell->channel, cell->channel_len, 0);
        cells_release(gw->cells, cell);
    }
}

/* Holds the cell name. Returns 0, or -1 when out of memory or when the view
 * holds as many cells as it can (the caller then releases what it can). */
static int hold(struct gateway *gw, struct stranger_view *v, const char *name)
{
    struct cell *cell;
    int created = 0;

    if (holds(v, name, strlen(name)))
        return 0;
    if (v->held_count == sizeof(v->held) / sizeof(v->held[0]))
        return -1;
    cell = cells_ref(gw->cells, name, &created);
    if (cell == NULL)
        return -1;
    if (cell_add_listener(cell, v) < 0) {
        cells_release(gw->cells, cell);
        return -1;
    }
    v->held[v->held_count++] = cell;
    if (created) {
        double rate = gw->cfg.strangers_cell_rate;

        ratelimit_init(&cell->publish, rate > 0 ? rate : 1, rate >= 1 ? (uint32_t)rate : 1);
        gateway_subscribe(gw, cell->channel, cell->channel_len, 1);
    }
    return 0;
}

/* Releases every held cell outside the view's set once each cell of the set
 * is confirmed on every live owner: the break after the make. */
static void try_release(struct gateway *gw, struct stranger_view *v)
{
    for (unsigned i = 0; i < v->want.count; i++) {
        struct cell *cell = cells_get(gw->cells, v->want.cell[i], strlen(v->want.cell[i]));

        if (cell == NULL || !gateway_confirmed(gw, cell->channel, cell->channel_len))
            return;
    }
    for (unsigned i = 0; i < v->held_count;) {
        const char *name = v->held[i]->name;

        if (cellset_contains(&v->want, name, strlen(name)))
            i++;
        else
            release_at(gw, v, i);
    }
}

/* Holds the cells of set, make before break. */
static void hand_over(struct gateway *gw, struct stranger_view *v, const struct cellset *set)
{
    struct cellset_handover plan;

    cellset_handover_plan(v->want.count ? &v->want : NULL, set, &plan);
    v->want = *set;
    for (unsigned i = 0; i < plan.subscribe_first.count; i++) {
        if (hold(gw, v, plan.subscribe_first.cell[i]) == 0)
            continue;
        /* Full (a phone jumping about faster than Redis confirms) or out of
         * memory: release what the set does not need, unconfirmed or not. */
        for (unsigned k = 0; k < v->held_count;) {
            const char *name = v->held[k]->name;

            if (cellset_contains(set, name, strlen(name)))
                k++;
            else
                release_at(gw, v, k);
        }
        if (hold(gw, v, plan.subscribe_first.cell[i]) < 0)
            LOG_WARN("user %" PRIu64 ": cannot hold cell %s", v->session->user,
                     plan.subscribe_first.cell[i]);
    }
    try_release(gw, v);
}

/* -- publishing ---------------------------------------------------------------- */

static uint64_t next_seq(struct stranger_view *v)
{
    uint64_t now_us = gateway_now_ms() * 1000u;

    v->pub_seq = now_us > v->pub_seq ? now_us : v->pub_seq + 1;
    return v->pub_seq;
}

static void publish_gone(struct gateway *gw, struct stranger_view *v, const struct cell *from,
                         const char *next)
{
    struct proto_payload p = {.kind = PROTO_PAYLOAD_STRANGER_GONE, .user = v->session->user};

    p.seq = next_seq(v);
    p.stranger_gone.sid = v->sid;
    p.stranger_gone.next = next;
    p.stranger_gone.next_len = next ? strlen(next) : 0;
    gateway_publish_on(gw, from->channel, from->channel_len, &p);
}

/* Publishes the session's latest position, coarse, on its cell. */
static void publish_loc(struct gateway *gw, struct stranger_view *v)
{
    const struct session *s = v->session;
    struct proto_payload p = {.kind = PROTO_PAYLOAD_STRANGER, .user = s->user};

    if (v->pub_cell == NULL ||
        stranger_coarsen(s->lat, s->lng, &p.stranger.lat, &p.stranger.lng) < 0)
        return;
    p.seq = next_seq(v);
    p.stranger.sid = v->sid;
    p.stranger.ts = s->ts;
    v->pub_last = p;
    memcpy(v->pub_last_cell, v->pub_cell->name, sizeof(v->pub_last_cell));
    metrics_counter_inc(gw->m.strangers_published);
    gateway_publish_on(gw, v->pub_cell->channel, v->pub_cell->channel_len, &p);
}

static void arm_flush(struct cell_channels *cc)
{
    struct timeval tv = {0, CELL_FLUSH_MS * 1000};

    if (!cc->flush_armed) {
        cc->flush_armed = 1;
        evtimer_add(cc->flush, &tv);
    }
}

/* Takes one of cell's tokens; always 1 without a bound. */
static int take_token(struct gateway *gw, struct cell *cell, uint64_t now)
{
    return gw->cfg.strangers_cell_rate <= 0 || ratelimit_allow(&cell->publish, now);
}

/* Publishes the position now, or queues it when the cell's bucket is empty
 * or others wait already (first come, first out). */
static void publish_position(struct gateway *gw, struct stranger_view *v)
{
    struct cell *cell = cells_get(gw->cells, v->want.cell[0], strlen(v->want.cell[0]));
    uint64_t now = gateway_now_ms();

    if (cell == NULL)
        return;
    if (v->pub_cell != cell) {
        if (v->pub_cell != NULL) {
            queue_remove(v);
            publish_gone(gw, v, v->pub_cell, cell->name);
        }
        v->pub_cell = cell;
    }
    if (cell->queued > 0 || !take_token(gw, cell, now)) {
        if (!v->pub_dirty) {
            v->pub_dirty = 1;
            v->qnext = NULL;
            v->qprev = cell->queue_tail;
            if (cell->queue_tail)
                cell->queue_tail->qnext = v;
            else
                cell->queue_head = v;
            cell->queue_tail = v;
            cell->queued++;
        }
        metrics_counter_inc(gw->m.strangers_held);
        arm_flush(gw->strangers);
        return;
    }
    publish_loc(gw, v);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct cell_channels *cc = arg;
    struct gateway *gw = cc->gw;
    uint64_t now = gateway_now_ms();
    int left = 0;

    cc->flush_armed = 0;
    for (size_t i = 0; i < cells_count(gw->cells); i++) {
        struct cell *cell = cells_at(gw->cells, i);

        while (cell->queue_head != NULL && take_token(gw, cell, now)) {
            struct stranger_view *v = cell->queue_head;

            queue_remove(v);
            publish_loc(gw, v);
        }
        left |= cell->queue_head != NULL;
    }
    if (left)
        arm_flush(cc);
}

/* -- a session's view ----------------------------------------------------------- */

static void on_blocks(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct stranger_blocks_read *r = arg;
    struct stranger_view *v = r->view;
    struct gateway *gw = r->gw;

    free(r);
    if (v == NULL)
        return;
    v->read = NULL;
    if (err < 0) {
        if (err != FRIENDS_DB_ERR_CLOSED)
            LOG_WARN("user %" PRIu64 ": cannot read blocks (%s): no strangers shown yet",
                     v->session->user, friends_db_strerror(err));
        return; /* not ready: shows nobody; the tick reads again */
    }
    stranger_view_add_blocks(v, ids, n, 1, sink_of(gw));
}

/* Reads the blocks either way of the view's user unless a read is in flight. */
static void read_blocks(struct gateway *gw, struct stranger_view *v)
{
    struct stranger_blocks_read *r;
    int rc;

    if (v->read != NULL)
        return;
    r = malloc(sizeof(*r));
    if (r == NULL)
        return;
    *r = (struct stranger_blocks_read){gw, v};
    v->read = r;
    rc = friends_db_blocks_either(pg_pool_conn(gw->pg, PG_POOL_SESSION), v->session->user,
                                  on_blocks, r);
    if (rc < 0) {
        v->read = NULL;
        free(r);
    }
}

struct stranger_view *strangers_on(struct gateway *gw, struct session *s)
{
    struct cell_channels *cc = gw->strangers;
    struct stranger_view *v;
    uint64_t sid;

    if (stranger_sid_new(&sid) < 0)
        return NULL;
    v = malloc(sizeof(*v));
    if (v == NULL)
        return NULL;
    stranger_view_init(v, s, sid, gw->cfg.strangers_max, gw->cfg.strangers_radius_km);
    v->next = cc->views;
    if (cc->views)
        cc->views->prev = v;
    cc->views = v;
    cc->view_count++;
    read_blocks(gw, v);
    if (s->has_position)
        strangers_moved(gw, v);
    return v;
}

void strangers_off(struct gateway *gw, struct stranger_view *v)
{
    struct cell_channels *cc = gw->strangers;

    if (v->pub_cell != NULL)
        publish_gone(gw, v, v->pub_cell, NULL);
    queue_remove(v);
    v->pub_cell = NULL;
    stranger_view_clear(v, sink_of(gw));
    while (v->held_count > 0)
        release_at(gw, v, v->held_count - 1);
    if (v->prev)
        v->prev->next = v->next;
    else
        cc->views = v->next;
    if (v->next)
        v->next->prev = v->prev;
    cc->view_count--;
    if (v->read != NULL)
        v->read->view = NULL;
    stranger_view_release(v);
    free(v);
}

void strangers_moved(struct gateway *gw, struct stranger_view *v)
{
    const struct session *s = v->session;
    int precision = (int)gw->cfg.strangers_precision;
    struct cellset set;
    double cover;

    if (!s->has_position || cellset_of(s->lat, s->lng, precision, &set) < 0)
        return;
    /* Beyond what the 9 cells cover at this latitude nobody can be heard:
     * show nobody there rather than some (cellset_cover_km). */
    if (cellset_cover_km(precision, s->lat, &cover) < 0)
        cover = 0;
    v->range_km = cover < gw->cfg.strangers_radius_km ? cover : gw->cfg.strangers_radius_km;
    if (v->want.count == 0 || strcmp(v->want.cell[0], set.cell[0]) != 0)
        hand_over(gw, v, &set);
    stranger_view_moved(v, sink_of(gw));
    publish_position(gw, v);
}

void strangers_blocked(struct gateway *gw, struct stranger_view *v, uint64_t other)
{
    stranger_view_add_blocks(v, &other, 1, 0, sink_of(gw));
}

/* -- what cell channels carry ----------------------------------------------------- */

/* A stranger's position on cell: believed only inside that cell, and
 * coarsened again whatever its publisher did. */
static void heard_stranger(struct gateway *gw, struct cell *cell, const struct proto_payload *p)
{
    struct stranger_heard h = {.user = p->user, .sid = p->stranger.sid, .seq = p->seq,
                               .now_ms = gateway_now_ms(), .cell = cell};
    struct proto_friend_frame frame;
    char hex[STRANGER_SID_HEX_SIZE], own[GEOHASH_SIZE];
    size_t len = strlen(cell->name);

    if (stranger_coarsen(p->stranger.lat, p->stranger.lng, &h.lat, &h.lng) < 0 ||
        geohash_encode(h.lat, h.lng, (int)len, own) < 0 || memcmp(own, cell->name, len) != 0) {
        metrics_counter_inc(gw->m.misrouted);
        return;
    }
    geo_point_init(&h.pt, h.lat, h.lng);
    stranger_sid_hex(h.sid, hex);
    if (proto_stranger_frame_init(&frame, hex, h.lat, h.lng) == 0)
        h.frame = &frame;
    for (uint32_t i = 0; i < cell->listener_count; i++)
        stranger_view_heard(cell->listeners[i], &h, sink_of(gw));
}

static void heard_gone(struct gateway *gw, struct cell *cell, const struct proto_payload *p)
{
    const char *next = p->stranger_gone.next;
    size_t next_len = p->stranger_gone.next_len;

    if (next_len > 0 && geohash_validate(next, next_len) < 0) {
        metrics_counter_inc(gw->m.misrouted);
        return;
    }
    for (uint32_t i = 0; i < cell->listener_count; i++) {
        struct stranger_view *v = cell->listeners[i];
        int keep = next_len > 0 && holds(v, next, next_len);

        stranger_view_gone(v, p->stranger_gone.sid, p->seq, keep, cell, sink_of(gw));
    }
}

/* A gateway asked cell for its strangers: the last position of each local
 * session published there goes out again, with its seq, within the cell's
 * bound. */
static void heard_ask(struct gateway *gw, struct cell *cell)
{
    uint64_t now = gateway_now_ms();

    for (uint32_t i = 0; i < cell->listener_count; i++) {
        struct stranger_view *v = cell->listeners[i];

        if (v->pub_cell != cell || v->pub_last.kind != PROTO_PAYLOAD_STRANGER || v->pub_dirty ||
            strcmp(v->pub_last_cell, cell->name) != 0)
            continue; /* nothing here yet, or a newer position waits its turn anyway */
        if (!take_token(gw, cell, now))
            break;
        gateway_publish_on(gw, cell->channel, cell->channel_len, &v->pub_last);
    }
}

void cell_channels_on_message(struct gateway *gw, const char *channel, size_t channel_len,
                              const uint8_t *data, size_t len)
{
    struct cell *cell = cells_get(gw->cells, channel + 2, channel_len - 2);
    struct proto_payload p;
    const char *reason;

    if (cell == NULL)
        return; /* released meanwhile */
    if (proto_payload_decode(data, len, &p, &reason) < 0) {
        LOG_WARN("dropped a payload on %.*s: %s", (int)channel_len, channel, reason);
        return;
    }
    metrics_counter_inc(gw->m.updates_in);
    if (p.kind == PROTO_PAYLOAD_STRANGER)
        heard_stranger(gw, cell, &p);
    else if (p.kind == PROTO_PAYLOAD_STRANGER_GONE)
        heard_gone(gw, cell, &p);
    else if (p.kind == PROTO_PAYLOAD_STRANGER_ASK)
        heard_ask(gw, cell);
    else
        metrics_counter_inc(gw->m.misrouted); /* a user's kinds go on u:<user> only */
}

void cell_channels_confirmed(struct gateway *gw, const char *channel, size_t channel_len)
{
    struct stranger_view **views;
    struct cell *cell;
    uint32_t n;

    if (channel_len < 3 || memcmp(channel, "g:", 2) != 0)
        return;
    cell = cells_get(gw->cells, channel + 2, channel_len - 2);
    if (cell == NULL || cell->listener_count == 0)
        return;
    {
        struct proto_payload ask = {.kind = PROTO_PAYLOAD_STRANGER_ASK};

        gateway_publish_on(gw, cell->channel, cell->channel_len, &ask);
    }
    /* try_release may release cells, this one too: walk a copy. */
    n = cell->listener_count;
    views = malloc(n * sizeof(*views));
    if (views == NULL) {
        cell_channels_check(gw);
        return;
    }
    memcpy(views, cell->listeners, n * sizeof(*views));
    for (uint32_t i = 0; i < n; i++)
        try_release(gw, views[i]);
    free(views);
}

void cell_channels_check(struct gateway *gw)
{
    for (struct stranger_view *v = gw->strangers->views; v != NULL; v = v->next)
        try_release(gw, v);
}

void cell_channels_tick(struct gateway *gw, uint64_t now_ms)
{
    uint64_t ttl_ms = (uint64_t)gw->cfg.location_ttl_s * 1000u;

    for (struct stranger_view *v = gw->strangers->views; v != NULL; v = v->next) {
        stranger_view_expire(v, now_ms, ttl_ms, sink_of(gw));
        if (!v->blocks_read)
            read_blocks(gw, v);
    }
    metrics_gauge_set(gw->m.cells, (double)cells_count(gw->cells));
    metrics_gauge_set(gw->m.strangers_sessions, (double)gw->strangers->view_count);
}

struct cell_channels *cell_channels_new(struct gateway *gw)
{
    struct cell_channels *cc = calloc(1, sizeof(*cc));

    if (cc == NULL)
        return NULL;
    cc->gw = gw;
    cc->flush = evtimer_new(gw->base, on_flush, cc);
    if (cc->flush == NULL) {
        free(cc);
        return NULL;
    }
    return cc;
}

void cell_channels_free(struct cell_channels *cc)
{
    if (cc == NULL)
        return;
    event_free(cc->flush);
    free(cc);
}
