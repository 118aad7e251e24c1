/* test-channels.c: the watched-user table against a plain array, through random refs, watchers and releases. */
#include "channels.h"
#include "test-util.h"

#define USERS 3000
#define SESSIONS 16

/* What the table should hold, per user id 0..USERS-1. */
struct expect {
    int present;
    int owned[SESSIONS];
    int watched[SESSIONS];
};

static struct expect expect[USERS];
static struct session *sessions[SESSIONS]; /* fake, never dereferenced */

static void check_entry(struct channels *table, uint64_t user)
{
    struct channel *ch = channels_get(table, user);
    uint32_t want = 0, want_owners = 0;

    CHECK((ch != NULL) == expect[user].present);
    if (ch == NULL)
        return;
    CHECK(ch->user == user);
    for (int s = 0; s < SESSIONS; s++) {
        int seen = 0, owns = 0;

        for (uint32_t i = 0; i < ch->watcher_count; i++)
            seen += ch->watchers[i] == sessions[s];
        for (uint32_t i = 0; i < ch->owner_count; i++)
            owns += ch->owners[i] == sessions[s];
        CHECK(seen == expect[user].watched[s]);
        CHECK(owns == expect[user].owned[s]);
        want += (uint32_t)expect[user].watched[s];
        want_owners += (uint32_t)expect[user].owned[s];
    }
    CHECK(ch->watcher_count == want);
    CHECK(ch->owner_count == want_owners);
}

static void test_random_ops(void)
{
    struct channels *table = channels_new();
    size_t present = 0;

    CHECK(table != NULL);
    for (int s = 0; s < SESSIONS; s++)
        sessions[s] = (struct session *)(uintptr_t)(0x1000 + 16 * s);
    rnd_seed(7);
    for (int step = 0; step < 200000; step++) {
        uint64_t user = rnd_below(USERS);
        int s = (int)rnd_below(SESSIONS), created = -1;
        struct channel *ch;

        switch (rnd_below(4)) {
        case 0: /* a session adds user as a friend */
            if (expect[user].watched[s])
                break;
            ch = channels_ref(table, user, &created);
            CHECK(ch != NULL);
            CHECK(created == !expect[user].present);
            CHECK(channel_add_watcher(ch, sessions[s]) == 0);
            present += !expect[user].present;
            expect[user].present = 1;
            expect[user].watched[s] = 1;
            break;
        case 1: /* one of user's own sessions comes */
            if (expect[user].owned[s])
                break;
            ch = channels_ref(table, user, &created);
            CHECK(created == !expect[user].present);
            CHECK(channel_add_owner(ch, sessions[s]) == 0);
            present += !expect[user].present;
            expect[user].present = 1;
            expect[user].owned[s] = 1;
            break;
        case 2: /* a watcher leaves */
            ch = channels_get(table, user);
            if (ch == NULL || !expect[user].watched[s])
                break;
            channel_remove_watcher(ch, sessions[s]);
            expect[user].watched[s] = 0;
            goto release;
        case 3: /* one of the user's own sessions leaves */
            ch = channels_get(table, user);
            if (ch == NULL || !expect[user].owned[s])
                break;
            channel_remove_owner(ch, sessions[s]);
            expect[user].owned[s] = 0;
        release: {
            int in_use = 0;

            for (int k = 0; k < SESSIONS; k++)
                in_use |= expect[user].watched[k] | expect[user].owned[k];
            CHECK(channels_release(table, ch) == !in_use);
            if (!in_use) {
                expect[user].present = 0;
                present--;
            }
            break;
        }
        }
        if (step % 9973 == 0)
            for (uint64_t u = 0; u < USERS; u++)
                check_entry(table, u);
    }
    for (uint64_t u = 0; u < USERS; u++)
        check_entry(table, u);
    CHECK(channels_count(table) == present);

    /* Iteration visits every entry once. */
    size_t cursor = 0, seen = 0;
    for (struct channel *ch; (ch = channels_next(table, &cursor)) != NULL; seen++)
        CHECK(expect[ch->user].present);
    CHECK(seen == present);
    channels_free(table);
}

static void test_removing_a_missing_watcher(void)
{
    struct channels *table = channels_new();
    struct channel *ch = channels_ref(table, 42, NULL);

    channel_remove_watcher(ch, (struct session *)(uintptr_t)0x10);
    CHECK(ch->watcher_count == 0);
    CHECK(channels_get(table, 43) == NULL);
    CHECK(channels_release(table, ch) == 1);
    CHECK(channels_get(table, 42) == NULL);
    CHECK(channels_count(table) == 0);
    channels_free(table);
    channels_free(NULL);
}

int main(void)
{
    test_random_ops();
    test_removing_a_missing_watcher();
    return failures ? 1 : 0;
}
