/* test-session.c: what a phone is shown: nearby, friend, gone, and never anyone but a friend in range. */
#include <math.h>

#include "channels.h"
#include "geo.h"
#include "proto_msg.h"
#include "session.h"
#include "test-util.h"

#define MAX_SESSIONS 64
#define MAX_USERS 200

/* What each session's phone has been told, rebuilt from the frames alone. */
struct phone {
    int shown[MAX_USERS + 1];
    int frames;
    int foreign; /* frames about a user that is not a friend, or about itself */
};

static struct phone phones[MAX_SESSIONS];
static struct session sessions[MAX_SESSIONS];
static int slow[MAX_SESSIONS];        /* the phone does not read: the sink is busy */
static int friends_while_slow;        /* friend frames sent to a slow phone: must stay 0 */
static int created[MAX_USERS + 1], released[MAX_USERS + 1];

static void on_send(void *arg, struct session *s, const uint8_t *frame, size_t len)
{
    struct phone *p = &phones[s - sessions];
    struct proto_msg msg;
    const char *reason;
    uint64_t id;

    CHECK(proto_msg_decode_from_gateway(frame, len, &msg, &reason) == 0);
    p->frames++;
    if (msg.type == PROTO_MSG_FRIEND && slow[s - sessions])
        friends_while_slow++;
    if (msg.type == PROTO_MSG_FRIEND) {
        id = msg.friend.id;
        CHECK(msg.friend.dist_km <= s->radius_km);
    } else {
        CHECK(msg.type == PROTO_MSG_GONE);
        id = msg.gone.id;
    }
    if (id == s->user || session_find_friend(s, id) == NULL) {
        p->foreign++;
        return;
    }
    if (id <= MAX_USERS)
        p->shown[id] = msg.type == PROTO_MSG_FRIEND;
}

static void on_created(void *arg, struct channel *ch)
{
    if (ch->user <= MAX_USERS)
        created[ch->user]++;
}

static void on_released(void *arg, uint64_t user)
{
    if (user <= MAX_USERS)
        released[user]++;
}

static int on_busy(void *arg, struct session *s)
{
    return slow[s - sessions];
}

static const struct session_sink sink = {on_send, on_created, on_released, NULL, NULL};
static const struct session_sink slow_sink = {on_send, on_created, on_released, NULL, on_busy};

static void place(struct channels *table, uint64_t user, double lat, double lng, uint64_t ts)
{
    struct channel *ch = channels_get(table, user);
    struct proto_friend_frame frame; /* as the gateway does: encoded once per update */

    channels_set_position(ch, lat, lng, ts);
    ch->ts = ts; /* 0: no position */
    ch->synced = 1;
    ch->sharing = 1;
    CHECK(proto_friend_frame_init(&frame, user, lat, lng, ts) == 0);
    for (uint32_t i = 0; i < ch->watcher_count; i++) {
        struct session *s = ch->watchers[i];

        session_friend_changed(s, session_find_friend(s, user), &frame, &slow_sink);
    }
}

static void test_one_session(void)
{
    struct channels *table = channels_new();
    struct session *a = &sessions[0];
    uint64_t friends[] = {4, 2, 1, 3, 3};
    uint8_t buf[4096];
    struct proto_msg msg;
    struct proto_nearby_iter it;
    struct proto_friend f;
    const char *reason;
    int len, n = 0;

    session_init(a, 1, 8.047);
    CHECK(session_set_friends(a, table, friends, 5, &sink) == 0);
    CHECK(a->friend_count == 3); /* itself and the duplicate skipped */
    CHECK(created[2] == 1 && created[3] == 1 && created[4] == 1 && created[1] == 0);

    /* Paris; friend 2 about 1 km away, 3 about 100 km, 4 unknown. */
    session_set_position(a, 48.8566, 2.3522, 1);
    channels_set_position(channels_get(table, 2), 48.8656, 2.3522, 1000);
    channels_set_position(channels_get(table, 3), 49.75, 2.3522, 1000);
    channels_set_position(channels_get(table, 4), 48.8566, 2.3522, 1000);
    channels_get(table, 2)->synced = channels_get(table, 2)->sharing = 1;
    channels_get(table, 3)->synced = channels_get(table, 3)->sharing = 1;
    /* 4 is right here, but its consent is not read yet: never shown. */
    channels_get(table, 4)->sharing = 1;
    len = session_encode_nearby(a, buf, sizeof(buf));
    CHECK(len > 0);
    CHECK(proto_msg_decode_from_gateway(buf, (size_t)len, &msg, &reason) == 0);
    CHECK(msg.type == PROTO_MSG_NEARBY);
    CHECK(fabs(msg.nearby.radius_km - 8.047) < 1e-9);
    proto_nearby_iter_init(&it, &msg.nearby);
    while (proto_nearby_iter_next(&it, &f) == 1) {
        CHECK(f.id == 2);
        CHECK(fabs(f.dist_km - 1.0) < 0.01);
        n++;
    }
    CHECK(n == 1);
    CHECK(session_find_friend(a, 2)->sent_ts == 1000);

    phones[0].shown[2] = 1; /* what nearby told the phone */
    place(table, 3, 48.86, 2.36, 2000);  /* 3 comes into range */
    CHECK(phones[0].shown[3] == 1);
    place(table, 2, 40.0, 2.36, 2000);   /* 2 leaves */
    CHECK(phones[0].shown[2] == 0);
    place(table, 2, 41.0, 2.36, 3000);   /* out of range and not shown: nothing */
    CHECK(phones[0].frames == 2);
    place(table, 3, 48.86, 2.36, 0);     /* 3 stops sharing */
    CHECK(phones[0].shown[3] == 0);
    CHECK(phones[0].frames == 3);

    /* Friendship changes live. */
    CHECK(session_add_friend(a, table, 5, &sink) == 0);
    CHECK(created[5] == 1);
    CHECK(session_add_friend(a, table, 5, &sink) == 1);
    CHECK(session_add_friend(a, table, 1, &sink) == SESSION_ERR_INVALID);
    place(table, 5, 48.857, 2.353, 5000);
    CHECK(phones[0].shown[5] == 1);
    CHECK(session_remove_friend(a, table, 5, &sink) == 0);
    CHECK(phones[0].shown[5] == 0);
    CHECK(released[5] == 1);
    CHECK(channels_get(table, 5) == NULL);
    CHECK(session_remove_friend(a, table, 5, &sink) == 1);

    /* Moving far away hides everyone; coming back shows them again. */
    place(table, 3, 48.86, 2.36, 6000);
    CHECK(phones[0].shown[3] == 1);
    session_moved(a, 10.0, 10.0, 7000, &sink);
    CHECK(phones[0].shown[3] == 0);
    session_moved(a, 48.8566, 2.3522, 8000, &sink);
    CHECK(phones[0].shown[3] == 1);
    session_set_radius(a, 0.1, &sink);
    CHECK(phones[0].shown[3] == 0);
    CHECK(phones[0].foreign == 0);

    session_clear_friends(a, table, &sink);
    CHECK(channels_count(table) == 0);
    CHECK(released[2] == 1 && released[3] == 1 && released[4] == 1);
    channels_free(table);
}

/* A position is shown only while its channel is synced and says the friend
 * shares: the session asks channel_visible, whatever the position says. */
static void test_consent_gates(void)
{
    struct channels *table = channels_new();
    struct session *a = &sessions[2];
    uint64_t friend_id = 7;
    struct channel *ch;

    memset(&phones[2], 0, sizeof(phones[2]));
    session_init(a, 6, 8.047);
    CHECK(session_set_friends(a, table, &friend_id, 1, &sink) == 0);
    session_moved(a, 48.8566, 2.3522, 1, &sink);
    ch = channels_get(table, 7);
    channels_set_position(ch, 48.8567, 2.3522, 1000);
    ch->sharing = 1;
    session_friend_changed(a, session_find_friend(a, 7), NULL, &sink);
    CHECK(phones[2].frames == 0); /* not synced */
    ch->synced = 1;
    ch->sharing = 0;
    session_friend_changed(a, session_find_friend(a, 7), NULL, &sink);
    session_moved(a, 48.8566, 2.3523, 2, &sink);
    CHECK(phones[2].frames == 0); /* not sharing */
    ch->sharing = 1;
    session_friend_changed(a, session_find_friend(a, 7), NULL, &sink);
    CHECK(phones[2].frames == 1 && phones[2].shown[7] == 1);
    ch->sharing = 0; /* sharing off, the position still held: gone */
    session_friend_changed(a, session_find_friend(a, 7), NULL, &sink);
    CHECK(phones[2].frames == 2 && phones[2].shown[7] == 0);
    CHECK(phones[2].foreign == 0);
    session_clear_friends(a, table, &sink);
    channels_free(table);
}

/* Many sessions, random friendships and moves: after every step, each phone
 * shows exactly its friends within its radius, and was never told about
 * anyone else. */
static void test_property(void)
{
    struct channels *table = channels_new();
    uint64_t ids[MAX_USERS];
    uint64_t flushed = 0;

    memset(phones, 0, sizeof(phones));
    rnd_seed(11);
    for (int i = 0; i < MAX_SESSIONS; i++) {
        size_t n = rnd_below(40);

        for (size_t k = 0; k < n; k++)
            ids[k] = 1 + rnd_below(MAX_USERS);
        session_init(&sessions[i], 1 + rnd_below(MAX_USERS), 1.0 + rnd_below(20));
        CHECK(session_set_friends(&sessions[i], table, ids, n, &sink) == 0);
        session_moved(&sessions[i], 48.0 + rnd_below(1000) / 5000.0,
                      2.0 + rnd_below(1000) / 5000.0, 1, &sink);
    }
    for (int step = 0; step < 20000; step++) {
        uint64_t user = 1 + rnd_below(MAX_USERS);
        int i = (int)rnd_below(MAX_SESSIONS);
        struct session *s = &sessions[i];

        switch (rnd_below(11)) {
        case 10: /* the phone stops reading, or reads again and gets what was held */
            slow[i] = !slow[i];
            if (!slow[i])
                flushed += session_flush_held(s, &slow_sink);
            break;
        case 0:
            session_moved(s, 48.0 + rnd_below(1000) / 5000.0, 2.0 + rnd_below(1000) / 5000.0,
                          (uint64_t)step + 2, &slow_sink);
            break;
        case 1:
            session_add_friend(s, table, user, &slow_sink);
            break;
        case 2:
            session_remove_friend(s, table, user, &slow_sink);
            break;
        case 3:
            session_set_radius(s, 1.0 + rnd_below(20), &slow_sink);
            break;
        default:
            if (channels_get(table, user) != NULL)
                place(table, user, 48.0 + rnd_below(1000) / 5000.0, 2.0 + rnd_below(1000) / 5000.0,
                      rnd_below(8) ? (uint64_t)step + 2 : 0);
        }
    }
    for (int i = 0; i < MAX_SESSIONS; i++) { /* every phone reads again */
        slow[i] = 0;
        flushed += session_flush_held(&sessions[i], &slow_sink);
    }
    CHECK(flushed > 1000);           /* the held path ran, and often */
    CHECK(friends_while_slow == 0);  /* nothing queued for a phone that does not read */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        struct session *s = &sessions[i];

        CHECK(phones[i].foreign == 0);
        for (uint64_t u = 1; u <= MAX_USERS; u++) {
            struct session_friend *f = session_find_friend(s, u);
            const struct channel *ch = f ? f->channel : NULL;
            int want = ch && ch->ts != 0 &&
                       geo_distance_km(s->lat, s->lng, ch->lat, ch->lng) <= s->radius_km;

            CHECK(phones[i].shown[u] == want);
        }
        session_clear_friends(s, table, &sink);
    }
    CHECK(channels_count(table) == 0);
    channels_free(table);
}

/* Real-sized values: ids near 2^63, ts in ms since the epoch, negative
 * coordinates; the frames must still go out. */
static void test_large_values(void)
{
    struct channels *table = channels_new();
    struct session *s = &sessions[1];
    uint64_t big = UINT64_C(9223372036854775807), friend_id = big - 1;

    memset(&phones[1], 0, sizeof(phones[1]));
    session_init(s, big, 8.047);
    CHECK(session_set_friends(s, table, &friend_id, 1, &sink) == 0);
    session_moved(s, -33.8688197, -151.2092955, UINT64_C(1795617062414), &sink);
    place(table, friend_id, -33.8688, -151.2093, UINT64_C(1795617062415));
    CHECK(phones[1].frames == 1); /* friend */
    session_moved(s, 33.0, 151.0, UINT64_C(1795617062416), &sink);
    CHECK(phones[1].frames == 2); /* gone */
    CHECK(phones[1].foreign == 0);
    session_clear_friends(s, table, &sink);
    channels_free(table);
}

int main(void)
{
    test_large_values();
    test_one_session();
    test_consent_gates();
    test_property();
    return failures ? 1 : 0;
}
