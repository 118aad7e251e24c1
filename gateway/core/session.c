/* session.c: a phone's friend list and what it shows: visibility decisions and the frames they produce. */
#include <stdlib.h>
#include <string.h>

#include "geo.h"
#include "ordering.h"
#include "proto_msg.h"
#include "session.h"

/* A `friend` or `gone` frame: at most about 90 bytes (six keys, three
 * float64, two uint64), so 128 always fits. */
#define SESSION_SMALL_FRAME 128

void session_init(struct session *s, uint64_t user, double radius_km)
{
    memset(s, 0, sizeof(*s));
    s->user = user;
    s->radius_km = radius_km;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Returns the index where user is or would go in the sorted friend array. */
static uint32_t friend_slot(const struct session *s, uint64_t user)
{
    uint32_t lo = 0, hi = s->friend_count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (s->friends[mid].channel->user < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct session_friend *session_find_friend(const struct session *s, uint64_t user)
{
    uint32_t i = friend_slot(s, user);

    return i < s->friend_count && s->friends[i].channel->user == user ? &s->friends[i] : NULL;
}

/* References user's entry and registers s as its watcher. Returns the entry or
 * NULL when out of memory (nothing changed then). */
static struct channel *watch(struct session *s, struct channels *table, uint64_t user,
                             const struct session_sink *sink)
{
    int created = 0;
    struct channel *ch = channels_ref(table, user, &created);

    if (ch == NULL)
        return NULL;
    if (channel_add_watcher(ch, s) < 0) {
        channels_release(table, ch);
        return NULL;
    }
    if (created && sink->channel_created)
        sink->channel_created(sink->arg, ch);
    return ch;
}

static void unwatch(struct session *s, struct channels *table, struct channel *ch,
                    const struct session_sink *sink)
{
    uint64_t user = ch->user;

    channel_remove_watcher(ch, s);
    if (channels_release(table, ch) && sink->channel_released)
        sink->channel_released(sink->arg, user);
}

void session_clear_friends(struct session *s, struct channels *table,
                           const struct session_sink *sink)
{
    for (uint32_t i = 0; i < s->friend_count; i++)
        unwatch(s, table, s->friends[i].channel, sink);
    free(s->friends);
    s->friends = NULL;
    s->friend_count = s->friend_cap = 0;
}

int session_set_friends(struct session *s, struct channels *table, const uint64_t *ids,
                        size_t n, const struct session_sink *sink)
{
    uint64_t *sorted = NULL;
    int rc = SESSION_ERR_NOMEM;

    session_clear_friends(s, table, sink);
    if (n > SESSION_FRIENDS_MAX)
        n = SESSION_FRIENDS_MAX;
    if (n == 0)
        return SESSION_OK;
    sorted = malloc(n * sizeof(*sorted));
    s->friends = calloc(n, sizeof(*s->friends));
    if (sorted == NULL || s->friends == NULL)
        goto out;
    s->friend_cap = (uint32_t)n;
    memcpy(sorted, ids, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        struct channel *ch;

        if (sorted[i] == s->user || (i > 0 && sorted[i] == sorted[i - 1]))
            continue;
        ch = watch(s, table, sorted[i], sink);
        if (ch == NULL)
            goto out;
        s->friends[s->friend_count++].channel = ch;
    }
    rc = SESSION_OK;
out:
    free(sorted);
    if (rc != SESSION_OK)
        session_clear_friends(s, table, sink);
    return rc;
}

/* Returns 1 when f's position may be shown (channel_visible: synced, the
 * friend shares, a position is held) and is within the session's radius,
 * writing the distance into *dist_km. This is the one test every frame
 * carrying a friend's position passes. */
static int in_range(const struct session *s, const struct session_friend *f, double *dist_km)
{
    const struct channel *ch = f->channel;

    if (!s->has_position || !channel_visible(ch))
        return 0;
    *dist_km = geo_point_distance_km(&s->pt, &ch->pt);
    return *dist_km <= s->radius_km;
}

static void send_friend(struct session *s, struct session_friend *f, double dist_km,
                        struct proto_friend_frame *shared, const struct session_sink *sink)
{
    const struct channel *ch = f->channel;
    struct proto_friend_frame own;

    if (shared == NULL) {
        if (proto_friend_frame_init(&own, ch->user, ch->lat, ch->lng, ch->ts) < 0)
            return;
        shared = &own;
    }
    sink->send(sink->arg, s, shared->buf, proto_friend_frame_finish(shared, dist_km));
    f->sent_ts = ch->ts ? ch->ts : 1;
}

static void send_gone(struct session *s, struct session_friend *f, const struct session_sink *sink)
{
    uint8_t frame[SESSION_SMALL_FRAME];
    int len = proto_msg_encode_gone(frame, sizeof(frame), f->channel->user);

    if (len > 0) {
        sink->send(sink->arg, s, frame, (size_t)len);
        f->sent_ts = 0;
    }
}

void session_friend_changed(struct session *s, struct session_friend *f,
                            struct proto_friend_frame *frame, const struct session_sink *sink)
{
    double dist_km;

    if (sink->busy != NULL && sink->busy(sink->arg, s)) {
        s->held++;
        return;
    }
    if (in_range(s, f, &dist_km)) {
        if (f->channel->ts > f->sent_ts || f->sent_ts == 0)
            send_friend(s, f, dist_km, frame, sink);
    } else if (f->sent_ts != 0) {
        send_gone(s, f, sink);
    }
}

/* Re-checks every friend after the user's own position or radius changed:
 * only changes of visibility are sent; a shown friend that stays in range
 * has not moved, and the phone can work out the new distance itself. */
static void recheck(struct session *s, const struct session_sink *sink)
{
    if (sink->busy != NULL && sink->busy(sink->arg, s)) {
        s->held++; /* the flush re-checks every friend anyway */
        return;
    }
    for (uint32_t i = 0; i < s->friend_count; i++) {
        struct session_friend *f = &s->friends[i];
        double dist_km;
        int in = in_range(s, f, &dist_km);

        if (in && f->sent_ts == 0)
            send_friend(s, f, dist_km, NULL, sink);
        else if (!in && f->sent_ts != 0)
            send_gone(s, f, sink);
    }
}

void session_set_position(struct session *s, double lat, double lng, uint64_t ts)
{
    s->lat = lat;
    s->lng = lng;
    geo_point_init(&s->pt, lat, lng);
    s->ts = ts;
    s->has_position = 1;
}

void session_moved(struct session *s, double lat, double lng, uint64_t ts,
                   const struct session_sink *sink)
{
    session_set_position(s, lat, lng, ts);
    recheck(s, sink);
}

uint32_t session_flush_held(struct session *s, const struct session_sink *sink)
{
    uint32_t held = s->held;

    s->held = 0;
    /* sent_ts says what the phone has: re-checking every friend sends just
     * the changes, each friend's latest once. Should the phone fall behind
     * again midway, the rest is held anew. */
    for (uint32_t i = 0; held != 0 && i < s->friend_count && s->held == 0; i++)
        session_friend_changed(s, &s->friends[i], NULL, sink);
    return held;
}

void session_set_radius(struct session *s, double radius_km, const struct session_sink *sink)
{
    s->radius_km = radius_km;
    recheck(s, sink);
}

int session_add_friend(struct session *s, struct channels *table, uint64_t user,
                       const struct session_sink *sink)
{
    uint32_t i = friend_slot(s, user);
    struct channel *ch;

    if (user == s->user)
        return SESSION_ERR_INVALID;
    if (i < s->friend_count && s->friends[i].channel->user == user)
        return 1;
    if (s->friend_count >= SESSION_FRIENDS_MAX)
        return SESSION_ERR_LIMIT;
    if (s->friend_count == s->friend_cap) {
        uint32_t cap = s->friend_cap ? s->friend_cap * 2 : 8;
        struct session_friend *grown;

        if (cap > SESSION_FRIENDS_MAX)
            cap = SESSION_FRIENDS_MAX;
        grown = realloc(s->friends, cap * sizeof(*grown));
        if (grown == NULL)
            return SESSION_ERR_NOMEM;
        s->friends = grown;
        s->friend_cap = cap;
    }
    ch = watch(s, table, user, sink);
    if (ch == NULL)
        return SESSION_ERR_NOMEM;
    memmove(&s->friends[i + 1], &s->friends[i], (s->friend_count - i) * sizeof(s->friends[0]));
    s->friends[i].channel = ch;
    s->friends[i].sent_ts = 0;
    s->friend_count++;
    session_friend_changed(s, &s->friends[i], NULL, sink);
    return SESSION_OK;
}

int session_remove_friend(struct session *s, struct channels *table, uint64_t user,
                          const struct session_sink *sink)
{
    uint32_t i = friend_slot(s, user);
    struct channel *ch;

    if (i >= s->friend_count || s->friends[i].channel->user != user)
        return 1;
    if (s->friends[i].sent_ts != 0)
        send_gone(s, &s->friends[i], sink);
    ch = s->friends[i].channel;
    memmove(&s->friends[i], &s->friends[i + 1], (s->friend_count - i - 1) * sizeof(s->friends[0]));
    s->friend_count--;
    unwatch(s, table, ch, sink);
    return SESSION_OK;
}

int session_encode_nearby(struct session *s, uint8_t *buf, size_t cap)
{
    struct proto_nearby_writer w;
    int len;

    if (proto_nearby_begin(&w, buf, cap, s->radius_km) < 0)
        return SESSION_ERR_NOSPACE;
    for (uint32_t i = 0; i < s->friend_count; i++) {
        struct session_friend *f = &s->friends[i];
        const struct channel *ch = f->channel;
        double dist_km;

        if (!in_range(s, f, &dist_km))
            continue;
        struct proto_friend msg = {ch->user, ch->lat, ch->lng, ch->ts, dist_km};
        if (proto_nearby_add(&w, &msg) < 0)
            return SESSION_ERR_NOSPACE;
    }
    len = proto_nearby_finish(&w);
    if (len < 0)
        return SESSION_ERR_NOSPACE;
    /* Only now that the frame exists do the friends in it count as shown,
     * and exactly those: nearby replaces whatever the phone held. */
    for (uint32_t i = 0; i < s->friend_count; i++) {
        struct session_friend *f = &s->friends[i];
        double dist_km;

        f->sent_ts = in_range(s, f, &dist_km) ? (f->channel->ts ? f->channel->ts : 1) : 0;
    }
    return len;
}
