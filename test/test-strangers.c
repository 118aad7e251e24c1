/* test-strangers.c: the stranger rules (core/strangers.h): never oneself, a friend or a block, only in range, the nearest K, duplicates and late gones dropped, TTL, and no frame with a user id. */
#include <stdio.h>
#include <string.h>

#include "cells.h"
#include "channels.h"
#include "geo.h"
#include "proto_msg.h"
#include "session.h"
#include "stranger.h"
#include "strangers.h"
#include "test-util.h"

#define SHOWN_MAX 64

/* What the phone shows, rebuilt from the frames alone. */
static struct {
    char sid[SHOWN_MAX][PROTO_SID_LEN + 1];
    double dist[SHOWN_MAX];
    int count;
    int frames, gones;
} phone;
static int busy;

static int find(const char *sid)
{
    for (int i = 0; i < phone.count; i++)
        if (memcmp(phone.sid[i], sid, PROTO_SID_LEN) == 0)
            return i;
    return -1;
}

static void on_send(void *arg, struct session *s, const uint8_t *frame, size_t len)
{
    struct proto_msg m;
    const char *why;
    int i;

    CHECK(proto_msg_decode_from_gateway(frame, len, &m, &why) == 0);
    phone.frames++;
    if (m.type == PROTO_MSG_STRANGER) {
        i = find(m.stranger.sid);
        CHECK(m.stranger.dist_km * 10 == (double)(long)(m.stranger.dist_km * 10 + 0.5));
        if (i < 0) {
            CHECK(phone.count < SHOWN_MAX);
            i = phone.count++;
            memcpy(phone.sid[i], m.stranger.sid, PROTO_SID_LEN);
        }
        phone.dist[i] = m.stranger.dist_km;
    } else {
        CHECK(m.type == PROTO_MSG_STRANGER_GONE);
        i = find(m.stranger_gone.sid);
        CHECK(i >= 0); /* only what was shown goes */
        phone.gones++;
        if (i >= 0) {
            phone.count--;
            memmove(phone.sid[i], phone.sid[i + 1], (size_t)(phone.count - i) * sizeof(phone.sid[0]));
            memmove(&phone.dist[i], &phone.dist[i + 1], (size_t)(phone.count - i) * sizeof(double));
        }
    }
    /* The frame never holds a user id: no "id" key at all. */
    CHECK(memmem(frame, len, "\xa2id", 3) == NULL);
}

static int on_busy(void *arg, struct session *s)
{
    return busy;
}

static const struct session_sink sink = {on_send, NULL, NULL, NULL, on_busy};

static struct cell cell_a, cell_b;

/* A stranger heard at (lat, lng), coarsened as cell_channels.c does. */
static void hear(struct stranger_view *v, uint64_t user, uint64_t sid, uint64_t seq, double lat,
                 double lng, uint64_t now, const struct cell *cell)
{
    struct stranger_heard h = {.user = user, .sid = sid, .seq = seq, .now_ms = now, .cell = cell};

    CHECK(stranger_coarsen(lat, lng, &h.lat, &h.lng) == 0);
    geo_point_init(&h.pt, h.lat, h.lng);
    stranger_view_heard(v, &h, &sink);
}

static void reset_phone(void)
{
    memset(&phone, 0, sizeof(phone));
}

static void setup(struct session *s, struct channels *table, struct stranger_view *v, uint32_t max)
{
    static const uint64_t friends[] = {7};

    reset_phone();
    session_init(s, 1, 8);
    CHECK(session_set_friends(s, table, friends, 1, &sink) == 0);
    session_set_position(s, 48.8566, 2.3522, 1);
    stranger_view_init(v, s, 0xabcdef0123456789ull, max, 2.0);
}

static void test_who(void)
{
    struct channels *table = channels_new();
    struct session s;
    struct stranger_view v;
    uint64_t blocked[] = {9, 9};

    setup(&s, table, &v, 20);
    /* Not ready (blocks not read): nobody. */
    hear(&v, 2, 100, 1, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 0);
    CHECK(stranger_view_add_blocks(&v, blocked, 2, 1, &sink) == 0 && v.ready && v.block_count == 1);
    /* Oneself (another session of user 1), a friend, a block: nobody. */
    hear(&v, 1, 101, 1, 48.857, 2.353, 1000, &cell_a);
    hear(&v, 7, 102, 1, 48.857, 2.353, 1000, &cell_a);
    hear(&v, 9, 103, 1, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 0 && phone.frames == 0);
    /* A stranger in range: shown with a coarse position and a rounded distance. */
    hear(&v, 2, 100, 1, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 1 && v.count == 1);
    CHECK(stranger_view_find(&v, 100) != NULL && stranger_view_find(&v, 100)->lat != 48.857);
    /* Out of range (5 km away): not shown, and a shown one leaving goes. */
    hear(&v, 3, 104, 1, 48.9, 2.40, 1000, &cell_a);
    CHECK(phone.count == 1);
    hear(&v, 2, 100, 2, 48.9, 2.40, 1000, &cell_a);
    CHECK(phone.count == 0 && phone.gones == 1);
    /* A block heard later hides at once. */
    hear(&v, 4, 105, 1, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 1);
    CHECK(stranger_view_add_blocks(&v, (uint64_t[]){4}, 1, 0, &sink) == 0 && phone.count == 0);
    hear(&v, 4, 105, 2, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 0);
    /* A new friend heard before the friend list is read again: hidden. */
    hear(&v, 5, 106, 1, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 1);
    stranger_view_friend_added(&v, 5, &sink);
    CHECK(phone.count == 0);
    hear(&v, 5, 106, 2, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 0);
    CHECK(session_add_friend(&s, table, 5, &sink) == 0);
    stranger_view_friends_read(&v, &sink);
    hear(&v, 5, 106, 3, 48.857, 2.353, 1000, &cell_a);
    CHECK(phone.count == 0 && v.new_friend_count == 0);
    stranger_view_clear(&v, &sink);
    stranger_view_release(&v);
    session_clear_friends(&s, table, &sink);
    channels_free(table);
}

static void test_nearest_k(void)
{
    struct channels *table = channels_new();
    struct session s;
    struct stranger_view v;

    setup(&s, table, &v, 3);
    stranger_view_add_blocks(&v, NULL, 0, 1, &sink);
    /* Four strangers 0.4, 0.8, 1.2, 1.6 km north: the three nearest stay. */
    for (int k = 4; k >= 1; k--)
        hear(&v, 10 + (uint64_t)k, 200 + (uint64_t)k, 1, 48.8566 + 0.0036 * k, 2.3522, 1000,
             &cell_a);
    CHECK(v.count == 3 && phone.count == 3);
    CHECK(stranger_view_find(&v, 204) == NULL && stranger_view_find(&v, 201) != NULL);
    /* A fifth farther than all: not shown; a nearer one pushes out the farthest. */
    hear(&v, 20, 300, 1, 48.8566 + 0.0036 * 5, 2.3522, 1000, &cell_a);
    CHECK(stranger_view_find(&v, 300) == NULL && phone.count == 3);
    hear(&v, 21, 301, 1, 48.8567, 2.3522, 1000, &cell_a);
    CHECK(stranger_view_find(&v, 301) != NULL && stranger_view_find(&v, 203) == NULL);
    CHECK(phone.count == 3);
    /* A copy (ring change: both owners) or an older update: dropped. */
    int frames = phone.frames;
    hear(&v, 21, 301, 1, 48.8567, 2.3522, 1000, &cell_a);
    CHECK(phone.frames == frames);
    /* A slow phone gets no refreshes, still its gones. */
    busy = 1;
    hear(&v, 21, 301, 2, 48.8568, 2.3522, 1000, &cell_a);
    CHECK(phone.frames == frames);
    stranger_view_gone(&v, 301, 3, 0, &cell_a, &sink);
    CHECK(phone.frames == frames + 1 && phone.count == 2);
    busy = 0;
    /* A late gone (older than the update shown) or one for a stranger moving
     * to a cell this view hears too: kept. */
    hear(&v, 11, 201, 5, 48.8567, 2.3522, 1000, &cell_a);
    stranger_view_gone(&v, 201, 4, 0, &cell_a, &sink);
    CHECK(stranger_view_find(&v, 201) != NULL);
    stranger_view_gone(&v, 201, 6, 1, &cell_a, &sink);
    CHECK(stranger_view_find(&v, 201) != NULL);
    stranger_view_gone(&v, 201, 6, 0, &cell_a, &sink);
    CHECK(stranger_view_find(&v, 201) == NULL);
    stranger_view_clear(&v, &sink);
    CHECK(phone.count == 0 && v.count == 0);
    stranger_view_release(&v);
    session_clear_friends(&s, table, &sink);
    channels_free(table);
}

static void test_moves_cells_ttl(void)
{
    struct channels *table = channels_new();
    struct session s;
    struct stranger_view v;

    setup(&s, table, &v, 20);
    stranger_view_add_blocks(&v, NULL, 0, 1, &sink);
    hear(&v, 2, 100, 1, 48.8566, 2.3622, 1000, &cell_a); /* 0.7 km east */
    hear(&v, 3, 101, 1, 48.8566, 2.3322, 5000, &cell_b); /* 1.5 km west */
    CHECK(phone.count == 2);
    /* The viewer walks 1 km east: the west one is 2.5 km away now. */
    session_set_position(&s, 48.8566, 2.3659, 2);
    stranger_view_moved(&v, &sink);
    CHECK(phone.count == 1 && stranger_view_find(&v, 100) != NULL);
    CHECK(stranger_view_find(&v, 100)->dist_km < 0.3);
    /* Its cell is no longer heard: what was heard there goes. */
    stranger_view_drop_cell(&v, &cell_b, &sink);
    CHECK(phone.count == 1);
    stranger_view_drop_cell(&v, &cell_a, &sink);
    CHECK(phone.count == 0);
    /* Silent for the TTL: gone, not before. */
    hear(&v, 2, 100, 2, 48.8566, 2.3622, 1000, &cell_a);
    stranger_view_expire(&v, 1000 + 600000, 600000, &sink);
    CHECK(phone.count == 1);
    stranger_view_expire(&v, 1001 + 600000, 600000, &sink);
    CHECK(phone.count == 0);
    /* Without a position the viewer is shown nobody. */
    s.has_position = 0;
    hear(&v, 2, 100, 3, 48.8566, 2.3622, 2000, &cell_a);
    CHECK(phone.count == 0);
    stranger_view_release(&v);
    session_clear_friends(&s, table, &sink);
    channels_free(table);
}

/* A stranger crossing from cell a to cell b: what it sent on b can arrive
 * before the last of what it sent on a; the phone still sees them in order. */
static void test_order_across_cells(void)
{
    struct channels *table = channels_new();
    struct session s;
    struct stranger_view v;
    const struct stranger_shown *e;
    int frames;

    setup(&s, table, &v, 20);
    stranger_view_add_blocks(&v, NULL, 0, 1, &sink);
    hear(&v, 2, 100, 9, 48.8566, 2.3600, 1000, &cell_a);   /* step 14, on a */
    CHECK(phone.frames == 1);
    /* Sent: 15 on a (seq 10), gone from a naming b (11), 0 on b (12). Heard: 12 first. */
    hear(&v, 2, 100, 12, 48.8566, 2.3400, 1100, &cell_b);
    CHECK(phone.frames == 1 && (e = stranger_view_find(&v, 100)) != NULL && e->seq == 9);
    hear(&v, 2, 100, 10, 48.8566, 2.3610, 1100, &cell_a);
    CHECK(phone.frames == 2 && stranger_view_find(&v, 100)->seq == 10);
    stranger_view_gone(&v, 100, 11, 1, &cell_a, &sink);
    e = stranger_view_find(&v, 100);
    CHECK(phone.frames == 3 && e != NULL && e->seq == 12 && e->cell == &cell_b && !e->has_pending);
    /* In order (the gone first): applied at once. */
    stranger_view_gone(&v, 100, 13, 1, &cell_b, &sink);
    hear(&v, 2, 100, 14, 48.8566, 2.3600, 1200, &cell_a);
    CHECK(phone.frames == 4 && stranger_view_find(&v, 100)->cell == &cell_a);
    /* A gone that never comes (lost in a cut): the update is applied after the wait. */
    hear(&v, 2, 100, 16, 48.8566, 2.3400, 2000, &cell_b);
    CHECK(phone.frames == 4);
    stranger_view_expire(&v, 2000 + STRANGERS_ORDER_WAIT_MS - 1, 600000, &sink);
    CHECK(phone.frames == 4);
    stranger_view_expire(&v, 2000 + STRANGERS_ORDER_WAIT_MS, 600000, &sink);
    CHECK(phone.frames == 5 && stranger_view_find(&v, 100)->seq == 16);
    /* A gone from a cell it no longer is in changes nothing. */
    stranger_view_gone(&v, 100, 17, 1, &cell_a, &sink);
    CHECK(stranger_view_find(&v, 100) != NULL && stranger_view_find(&v, 100)->left_seq == 0);
    CHECK(phone.count == 1);
    /* Dropping the cell an update waits from drops the update: it never shows. */
    hear(&v, 2, 100, 18, 48.8566, 2.3600, 3000, &cell_a);
    CHECK(stranger_view_find(&v, 100)->has_pending);
    stranger_view_drop_cell(&v, &cell_a, &sink);
    CHECK(!stranger_view_find(&v, 100)->has_pending);
    stranger_view_expire(&v, 3000 + STRANGERS_ORDER_WAIT_MS, 600000, &sink);
    CHECK(stranger_view_find(&v, 100)->seq == 16 && stranger_view_find(&v, 100)->cell == &cell_b);
    /* Two updates from the new cell before the old one's gone (a stalled receiver): both
     * shown, in order, none skipped; the late gone changes nothing. */
    frames = phone.frames;
    hear(&v, 2, 100, 20, 48.8566, 2.3600, 4000, &cell_a);
    CHECK(phone.frames == frames && stranger_view_find(&v, 100)->has_pending);
    hear(&v, 2, 100, 21, 48.8566, 2.3610, 4100, &cell_a);
    e = stranger_view_find(&v, 100);
    CHECK(phone.frames == frames + 2 && e->seq == 21 && e->cell == &cell_a && !e->has_pending);
    stranger_view_gone(&v, 100, 19, 1, &cell_b, &sink);
    CHECK(stranger_view_find(&v, 100)->seq == 21 && phone.frames == frames + 2);
    stranger_view_release(&v);
    session_clear_friends(&s, table, &sink);
    channels_free(table);
}

/* The cell table: one entry per cell, sorted, released with its last listener. */
static void test_cells(void)
{
    struct cells *t = cells_new();
    struct stranger_view a, b;
    struct cell *c1, *c2;
    int created;

    c1 = cells_ref(t, "u09tv", &created);
    CHECK(c1 != NULL && created && strcmp(c1->channel, "g:u09tv") == 0 && c1->channel_len == 7);
    CHECK(cells_ref(t, "u09tv", &created) == c1 && !created);
    c2 = cells_ref(t, "u09tu", &created);
    CHECK(c2 != NULL && created && cells_count(t) == 2 && cells_at(t, 0) == c2);
    CHECK(cells_get(t, "u09tvx", 5) == c1 && cells_get(t, "u09t", 4) == NULL);
    CHECK(cell_add_listener(c1, &a) == 0 && cell_add_listener(c1, &b) == 0);
    CHECK(cells_release(t, c1) == 0);
    cell_remove_listener(c1, &a);
    cell_remove_listener(c1, &a);
    CHECK(c1->listener_count == 1 && c1->listeners[0] == &b);
    cell_remove_listener(c1, &b);
    CHECK(cells_release(t, c1) == 1 && cells_count(t) == 1 && cells_get(t, "u09tv", 5) == NULL);
    cells_free(t);
}

int main(void)
{
    strcpy(cell_a.name, "u09tv");
    strcpy(cell_b.name, "u09tt");
    test_who();
    test_nearest_k();
    test_moves_cells_ttl();
    test_order_across_cells();
    test_cells();
    if (failures) {
        fprintf(stderr, "test-strangers: %d failure(s)\n", failures);
        return 1;
    }
    printf("test-strangers: ok\n");
    return 0;
}
