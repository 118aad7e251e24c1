/* strangers.c: the stranger rules: who one phone may be shown, the nearest K of them, and the stranger / stranger_gone frames. */
#include <stdlib.h>
#include <string.h>

#include "proto_msg.h"
#include "strangers.h"

#define STRANGERS_MIN_CAP 8
#define STRANGERS_SMALL_FRAME 128

void stranger_view_init(struct stranger_view *v, struct session *session, uint64_t sid,
                        uint32_t max, double range_km)
{
    memset(v, 0, sizeof(*v));
    v->session = session;
    v->sid = sid;
    stranger_sid_hex(sid, v->sid_hex);
    v->max = max ? max : 1;
    v->range_km = range_km;
}

void stranger_view_release(struct stranger_view *v)
{
    free(v->shown);
    free(v->blocks);
    v->shown = NULL;
    v->blocks = NULL;
    v->count = v->cap = 0;
    v->block_count = v->block_cap = 0;
}

/* Returns where sid is, or would go, in the sorted shown array. */
static uint32_t slot_of(const struct stranger_view *v, uint64_t sid)
{
    uint32_t lo = 0, hi = v->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (v->shown[mid].sid < sid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct stranger_shown *stranger_view_find(const struct stranger_view *v, uint64_t sid)
{
    uint32_t i = slot_of(v, sid);

    return i < v->count && v->shown[i].sid == sid ? &v->shown[i] : NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static int blocked(const struct stranger_view *v, uint64_t user)
{
    return v->block_count > 0 &&
           bsearch(&user, v->blocks, v->block_count, sizeof(*v->blocks), cmp_u64) != NULL;
}

/* The one rule of who may be shown at all; distance and K come after. */
int stranger_view_may_show(const struct stranger_view *v, uint64_t user)
{
    const struct session *s = v->session;

    if (!v->ready || !s->has_position || user == 0 || user == s->user ||
        session_find_friend(s, user) != NULL || blocked(v, user))
        return 0;
    for (unsigned i = 0; i < v->new_friend_count; i++)
        if (v->new_friends[i] == user)
            return 0;
    return 1;
}

static void send_shown(struct stranger_view *v, const struct stranger_shown *e,
                       struct proto_friend_frame *frame, const struct session_sink *sink)
{
    double km = stranger_round_km(e->dist_km);
    uint8_t buf[STRANGERS_SMALL_FRAME];
    int len;

    if (frame != NULL) {
        size_t n = proto_friend_frame_finish(frame, km);

        sink->send(sink->arg, v->session, frame->buf, n);
        return;
    }
    len = proto_msg_encode_stranger(buf, sizeof(buf),
                                    &(struct proto_stranger){e->hex, e->lat, e->lng, km});
    if (len > 0)
        sink->send(sink->arg, v->session, buf, (size_t)len);
}

/* Removes entry i, telling the phone. */
static void hide_at(struct stranger_view *v, uint32_t i, const struct session_sink *sink)
{
    uint8_t buf[STRANGERS_SMALL_FRAME];
    int len = proto_msg_encode_stranger_gone(buf, sizeof(buf), v->shown[i].hex);

    if (len > 0)
        sink->send(sink->arg, v->session, buf, (size_t)len);
    memmove(&v->shown[i], &v->shown[i + 1], (v->count - i - 1) * sizeof(v->shown[0]));
    v->count--;
}

/* Hides every entry for which drop() says so. */
static void hide_where(struct stranger_view *v, int (*drop)(const struct stranger_view *,
                                                            const struct stranger_shown *,
                                                            const void *),
                       const void *arg, const struct session_sink *sink)
{
    for (uint32_t i = 0; i < v->count;) {
        if (drop(v, &v->shown[i], arg))
            hide_at(v, i, sink);
        else
            i++;
    }
}

static int not_allowed(const struct stranger_view *v, const struct stranger_shown *e,
                       const void *arg)
{
    return !stranger_view_may_show(v, e->user);
}

int stranger_view_add_blocks(struct stranger_view *v, const uint64_t *users, size_t n, int ready,
                             const struct session_sink *sink)
{
    size_t out = 0;

    if (v->block_count + n > v->block_cap) {
        size_t cap = v->block_count + n + 16;
        uint64_t *grown = realloc(v->blocks, cap * sizeof(*grown));

        if (grown == NULL) {
            v->ready = v->blocks_read = 0; /* fail closed: without its blocks, nobody */
            stranger_view_clear(v, sink);
            return -1;
        }
        v->blocks = grown;
        v->block_cap = cap;
    }
    if (n > 0)
        memcpy(v->blocks + v->block_count, users, n * sizeof(*users));
    v->block_count += n;
    if (v->block_count > 1)
        qsort(v->blocks, v->block_count, sizeof(*v->blocks), cmp_u64);
    for (size_t i = 0; i < v->block_count; i++)
        if (out == 0 || v->blocks[out - 1] != v->blocks[i])
            v->blocks[out++] = v->blocks[i];
    v->block_count = out;
    if (ready) {
        v->blocks_read = 1;
        v->ready = v->new_friend_count < STRANGERS_NEW_FRIENDS;
    }
    hide_where(v, not_allowed, NULL, sink);
    return 0;
}

/* Returns the index of the farthest stranger shown (count > 0). */
static uint32_t farthest(const struct stranger_view *v)
{
    uint32_t far = 0;

    for (uint32_t i = 1; i < v->count; i++)
        if (v->shown[i].dist_km > v->shown[far].dist_km)
            far = i;
    return far;
}

/* Makes room for one more entry. Returns 0 or -1 when out of memory. */
static int reserve(struct stranger_view *v)
{
    uint32_t cap;
    struct stranger_shown *grown;

    if (v->count < v->cap)
        return 0;
    cap = v->cap ? v->cap * 2 : STRANGERS_MIN_CAP;
    if (cap > v->max)
        cap = v->max;
    grown = realloc(v->shown, cap * sizeof(*grown));
    if (grown == NULL)
        return -1;
    v->shown = grown;
    v->cap = cap;
    return 0;
}

/* Applies h, in order: shows, updates, pushes out or hides. */
static void apply(struct stranger_view *v, const struct stranger_heard *h,
                  const struct session_sink *sink)
{
    uint32_t i = slot_of(v, h->sid);
    int shown = i < v->count && v->shown[i].sid == h->sid;
    struct stranger_shown *e;
    double km;

    if (shown && h->seq <= v->shown[i].seq)
        return; /* a copy (both owners during a ring change) or late */
    km = v->session->has_position ? geo_point_distance_km(&v->session->pt, &h->pt) : 0;
    if (!stranger_view_may_show(v, h->user) || km > v->range_km) {
        if (shown)
            hide_at(v, i, sink);
        return;
    }
    if (!shown) {
        if (v->count >= v->max) {
            uint32_t far = farthest(v);

            if (v->shown[far].dist_km <= km)
                return; /* the nearest max are shown already */
            hide_at(v, far, sink);
            i = slot_of(v, h->sid);
        }
        if (reserve(v) < 0)
            return;
        memmove(&v->shown[i + 1], &v->shown[i], (v->count - i) * sizeof(v->shown[0]));
        v->count++;
        e = &v->shown[i];
        memset(e, 0, sizeof(*e));
        e->sid = h->sid;
        stranger_sid_hex(h->sid, e->hex);
    } else {
        e = &v->shown[i];
    }
    if (e->cell != h->cell)
        e->left_seq = 0; /* a new cell's stream */
    if (e->has_pending && e->pending.seq <= h->seq)
        e->has_pending = 0;
    e->user = h->user;
    e->seq = h->seq;
    e->lat = h->lat;
    e->lng = h->lng;
    e->dist_km = km;
    e->seen_ms = h->now_ms;
    e->cell = h->cell;
    /* A phone not reading gets no refreshes of strangers it shows already;
     * appearances and stranger_gone still go out (the output bound holds). */
    if (shown && sink->busy != NULL && sink->busy(sink->arg, v->session))
        return;
    send_shown(v, e, h->frame, sink);
}

/* Applies what entry i held back. */
static void apply_pending(struct stranger_view *v, uint32_t i, const struct session_sink *sink)
{
    struct stranger_heard h = v->shown[i].pending;

    v->shown[i].has_pending = 0;
    apply(v, &h, sink);
}

void stranger_view_heard(struct stranger_view *v, const struct stranger_heard *h,
                         const struct session_sink *sink)
{
    uint32_t i = slot_of(v, h->sid);
    struct stranger_shown *e = i < v->count && v->shown[i].sid == h->sid ? &v->shown[i] : NULL;

    if (e != NULL && h->cell != e->cell && e->left_seq == 0 && h->seq > e->seq) {
        if (e->has_pending && h->seq > e->pending.seq) {
            /* A second update while one waits: the stranger went on. The one waiting is
             * the older: shown now, then this one as the rules say (one wait at most). */
            apply_pending(v, i, sink);
            stranger_view_heard(v, h, sink);
            return;
        }
        /* From its new cell before the old one said it left: wait for that. */
        if (!e->has_pending) {
            e->pending = *h;
            e->pending.frame = NULL;
            e->pending_until = h->now_ms + STRANGERS_ORDER_WAIT_MS;
            e->has_pending = 1;
        }
        return;
    }
    apply(v, h, sink);
}

void stranger_view_gone(struct stranger_view *v, uint64_t sid, uint64_t seq, int keep,
                        const struct cell *from, const struct session_sink *sink)
{
    uint32_t i = slot_of(v, sid);
    struct stranger_shown *e = i < v->count && v->shown[i].sid == sid ? &v->shown[i] : NULL;

    if (e == NULL || seq < e->seq)
        return;
    if (!keep) {
        hide_at(v, i, sink);
        return;
    }
    if (from != e->cell)
        return;
    e->left_seq = seq; /* everything it sent on from has been heard */
    if (e->has_pending)
        apply_pending(v, i, sink);
}

static int out_of_range(const struct stranger_view *v, const struct stranger_shown *e,
                        const void *arg)
{
    struct geo_point pt;

    if (!stranger_view_may_show(v, e->user))
        return 1;
    geo_point_init(&pt, e->lat, e->lng);
    return geo_point_distance_km(&v->session->pt, &pt) > v->range_km;
}

void stranger_view_moved(struct stranger_view *v, const struct session_sink *sink)
{
    hide_where(v, out_of_range, NULL, sink);
    for (uint32_t i = 0; i < v->count; i++) {
        struct geo_point pt;

        geo_point_init(&pt, v->shown[i].lat, v->shown[i].lng);
        v->shown[i].dist_km = geo_point_distance_km(&v->session->pt, &pt);
    }
}

void stranger_view_friend_added(struct stranger_view *v, uint64_t user,
                                const struct session_sink *sink)
{
    if (v->new_friend_count == STRANGERS_NEW_FRIENDS) {
        /* More than can wait for one read: until it comes, show nobody. */
        v->ready = 0;
    } else {
        v->new_friends[v->new_friend_count++] = user;
    }
    hide_where(v, not_allowed, NULL, sink);
}

void stranger_view_friends_read(struct stranger_view *v, const struct session_sink *sink)
{
    if (v->new_friend_count == STRANGERS_NEW_FRIENDS && v->blocks_read)
        v->ready = 1;
    v->new_friend_count = 0;
    hide_where(v, not_allowed, NULL, sink);
}

static int heard_on(const struct stranger_view *v, const struct stranger_shown *e,
                    const void *cell)
{
    return e->cell == cell;
}

void stranger_view_drop_cell(struct stranger_view *v, const struct cell *cell,
                             const struct session_sink *sink)
{
    /* An update waiting from cell goes too: nothing of cell may outlive it. */
    for (uint32_t i = 0; i < v->count; i++) {
        if (v->shown[i].has_pending && v->shown[i].pending.cell == cell)
            v->shown[i].has_pending = 0;
    }
    hide_where(v, heard_on, cell, sink);
}

struct expiry {
    uint64_t now_ms, ttl_ms;
};

static int expired(const struct stranger_view *v, const struct stranger_shown *e,
                   const void *arg)
{
    const struct expiry *x = arg;

    return x->now_ms > e->seen_ms + x->ttl_ms;
}

void stranger_view_expire(struct stranger_view *v, uint64_t now_ms, uint64_t ttl_ms,
                          const struct session_sink *sink)
{
    struct expiry x = {now_ms, ttl_ms};

    /* apply may move entries: start over after each, one fewer waits each time. */
    for (uint32_t i = 0; i < v->count; i++) {
        if (v->shown[i].has_pending && now_ms >= v->shown[i].pending_until) {
            apply_pending(v, i, sink);
            i = (uint32_t)-1;
        }
    }
    hide_where(v, expired, &x, sink);
}

static int always(const struct stranger_view *v, const struct stranger_shown *e, const void *arg)
{
    return 1;
}

void stranger_view_clear(struct stranger_view *v, const struct session_sink *sink)
{
    hide_where(v, always, NULL, sink);
}
