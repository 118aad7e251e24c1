/* test-ordering.c: channel_apply, the ordering rule of positions and sharing changes, against the drops and leaks of the old seq rule. */
#include <string.h>

#define CHECK_STOP_AFTER 0
#include "ordering.h"
#include "test-util.h"

#define T0 1700000000000ull /* a gateway clock, ms */

/* The rule this replaces: every payload, off included, was dropped when its
 * seq (now_ms * 1000 on whichever gateway sent it) was not above the last
 * applied. Returns 1 when it would have applied the update. */
static int old_rule(uint64_t *last_seq, uint64_t seq)
{
    if (seq <= *last_seq)
        return 0;
    *last_seq = seq;
    return 1;
}

static struct channel fresh(void)
{
    struct channel ch;

    /* Synced, and sharing on at consent version 2. */
    memset(&ch, 0, sizeof(ch));
    ch.user = 42;
    ch.synced = 1;
    ch.consent = 2;
    ch.sharing = 1;
    return ch;
}

static struct channel_update pos(uint64_t seq, uint64_t ts, uint64_t consent)
{
    return (struct channel_update){.kind = CHANNEL_UPDATE_POSITION, .consent = consent,
                                   .lat = 48.85, .lng = 2.35, .ts = ts, .seq = seq};
}

static struct channel_update sharing(int on, uint64_t consent)
{
    return (struct channel_update){.kind = CHANNEL_UPDATE_SHARING, .on = on, .consent = consent};
}

static enum channel_verdict apply(struct channel *ch, struct channel_update u)
{
    return channel_apply(ch, &u);
}

/* A friend's gateway shows user 42, who switches sharing off on another
 * gateway: the off comes in the same millisecond as the last position, or
 * from a gateway whose clock is 50 ms behind. The old rule drops the off
 * (the friend keeps seeing 42 until the TTL); the new one applies it. */
static void test_off_is_never_a_duplicate(void)
{
    for (int behind_ms = 0; behind_ms <= 50; behind_ms += 50) {
        struct channel ch = fresh();
        uint64_t last = 0;
        uint64_t loc_seq = T0 * 1000u, off_seq = (T0 - (uint64_t)behind_ms) * 1000u;

        CHECK(old_rule(&last, loc_seq) == 1);
        CHECK(old_rule(&last, off_seq) == 0); /* today's drop */

        CHECK(apply(&ch, pos(loc_seq, T0, 2)) == CHANNEL_MOVED);
        CHECK(channel_visible(&ch));
        CHECK(apply(&ch, sharing(0, 3)) == CHANNEL_HIDDEN);
        CHECK(!channel_visible(&ch) && ch.ts == 0 && ch.consent == 3 && !ch.sharing);
        /* The same off again (two owners during a ring change): still off. */
        CHECK(apply(&ch, sharing(0, 3)) == CHANNEL_CHANGED);
        CHECK(!channel_visible(&ch));
    }
}

/* Positions sent before an off never show after it, however late they come
 * and whatever their seq or ts say. */
static void test_late_positions_after_off(void)
{
    struct channel ch = fresh();

    CHECK(apply(&ch, pos(1, T0, 2)) == CHANNEL_MOVED);
    CHECK(apply(&ch, sharing(0, 3)) == CHANNEL_HIDDEN);
    /* In flight from the user's own gateway, stamped with a far later seq and ts. */
    CHECK(apply(&ch, pos(UINT64_MAX, T0 + 60000, 2)) ==
          CHANNEL_STALE);
    /* The same from the cache (a SET that raced the DEL). */
    CHECK(apply(&ch, pos(0, T0 + 60000, 2)) == CHANNEL_STALE);
    CHECK(!channel_visible(&ch));
    /* Sharing on again: a position from before the off is still stale, one
     * taken under the new version shows. */
    CHECK(apply(&ch, sharing(1, 4)) == CHANNEL_CHANGED);
    CHECK(!channel_visible(&ch)); /* on alone shows nothing */
    CHECK(apply(&ch, pos(9, T0 + 70000, 2)) == CHANNEL_STALE);
    CHECK(apply(&ch, pos(10, T0 + 70000, 4)) == CHANNEL_MOVED);
    CHECK(channel_visible(&ch));
    /* An off older than the on is stale; nothing changes. */
    CHECK(apply(&ch, sharing(0, 3)) == CHANNEL_STALE);
    CHECK(channel_visible(&ch));
    /* An on older than what is known is stale too. */
    CHECK(apply(&ch, sharing(1, 2)) == CHANNEL_STALE);
}

/* Sharing changes in any order end in the state of the newest version. */
static void test_sharing_changes_commute(void)
{
    /* on at 2, off at 3, on at 4, off at 5 in every order of arrival. */
    static const int order[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1},
                                   {3, 0, 1, 2}, {0, 3, 2, 1}};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        struct channel ch = fresh();

        for (int i = 0; i < 4; i++) {
            int v = order[k][i];
            struct channel_update u = sharing(v % 2 == 0, (uint64_t)v + 2);
            apply(&ch, u);
        }
        CHECK(ch.consent == 5 && !ch.sharing);
        CHECK(apply(&ch, pos(7, T0, 4)) == CHANNEL_STALE);
    }
}

static void test_duplicates_and_age(void)
{
    struct channel ch = fresh();

    CHECK(apply(&ch, pos(100, T0, 2)) == CHANNEL_MOVED);
    CHECK(apply(&ch, pos(100, T0, 2)) == CHANNEL_DUPLICATE);
    CHECK(apply(&ch, pos(101, T0 + 1000, 2)) == CHANNEL_MOVED);
    /* The first copy of 100 again, after 101: a duplicate, not a move back. */
    CHECK(apply(&ch, pos(100, T0, 2)) == CHANNEL_DUPLICATE);
    /* A reconnect to a gateway whose clock is behind: a smaller seq is no
     * duplicate and not dropped; the phone's own ts orders it. */
    CHECK(apply(&ch, pos(50, T0 + 2000, 2)) == CHANNEL_MOVED);
    CHECK(ch.ts == T0 + 2000);
    CHECK(apply(&ch, pos(51, T0 + 1500, 2)) == CHANNEL_OLDER);
    CHECK(ch.ts == T0 + 2000);
    /* Cached positions carry no seq: ordered by ts only. */
    CHECK(apply(&ch, pos(0, T0 + 2000, 2)) == CHANNEL_MOVED);
    CHECK(apply(&ch, pos(0, T0 + 1999, 2)) == CHANNEL_OLDER);
}

/* Before PostgreSQL was read the state is unknown, which counts as off:
 * nothing is held, and positions come only once the read says on at their
 * version. */
static void test_unsynced(void)
{
    struct channel ch;

    memset(&ch, 0, sizeof(ch));
    ch.user = 42;
    CHECK(apply(&ch, pos(1, T0, 2)) == CHANNEL_STALE);
    CHECK(ch.ts == 0);
    /* The read says on at 2: positions at 2 are taken, but not shown before
     * the channel counts as synced. */
    CHECK(apply(&ch, sharing(1, 2)) == CHANNEL_CHANGED);
    CHECK(apply(&ch, pos(2, T0, 2)) == CHANNEL_MOVED);
    CHECK(!channel_visible(&ch));
    ch.synced = 1;
    CHECK(channel_visible(&ch));
    /* A user with no row reads as off at version 0: nothing of the old
     * account shows, and a new account's positions come after its on. */
    ch = fresh();
    channel_apply(&ch, &(struct channel_update){.kind = CHANNEL_UPDATE_POSITION, .consent = 2,
                                                 .lat = 1, .lng = 1, .ts = T0, .seq = 9});
    CHECK(apply(&ch, sharing(0, 0)) == CHANNEL_STALE); /* older than what is known */
    memset(&ch, 0, sizeof(ch));
    ch.synced = 1;
    CHECK(apply(&ch, sharing(0, 0)) == CHANNEL_CHANGED);
    CHECK(apply(&ch, pos(1, T0, 1)) == CHANNEL_STALE);
    CHECK(apply(&ch, sharing(1, 2)) == CHANNEL_CHANGED);
    CHECK(apply(&ch, pos(2, T0, 2)) == CHANNEL_MOVED && channel_visible(&ch));
}

/* Only the version PostgreSQL (or an on heard on the channel) made counts:
 * a cache value or a node that stamps a newer version cannot show a user
 * who switched sharing off. */
static void test_made_up_versions(void)
{
    struct channel ch = fresh();

    CHECK(apply(&ch, sharing(0, 3)) == CHANNEL_CHANGED);
    CHECK(apply(&ch, pos(0, T0, 4)) == CHANNEL_STALE);
    CHECK(apply(&ch, pos(5, T0, UINT64_MAX)) == CHANNEL_STALE);
    CHECK(!channel_visible(&ch) && ch.consent == 3 && !ch.sharing);
    /* While on at 4, a position claiming 5 is dropped as well. */
    CHECK(apply(&ch, sharing(1, 4)) == CHANNEL_CHANGED);
    CHECK(apply(&ch, pos(6, T0, 5)) == CHANNEL_STALE);
    CHECK(apply(&ch, pos(7, T0, 4)) == CHANNEL_MOVED);
}

int main(void)
{
    test_off_is_never_a_duplicate();
    test_late_positions_after_off();
    test_sharing_changes_commute();
    test_duplicates_and_age();
    test_unsynced();
    test_made_up_versions();
    if (failures) {
        fprintf(stderr, "test-ordering: %d failure(s)\n", failures);
        return 1;
    }
    printf("test-ordering: ok\n");
    return 0;
}
