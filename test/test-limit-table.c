/* test-limit-table.c: unit tests of gateway/core/limit_table: counts, buckets, sweeping, a full table, and a random run against a plain array. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0
#include "test-util.h"
#include "limit_table.h"

#define T0 UINT64_C(1764079200000)

static void ip4(uint8_t key[LIMIT_KEY_LEN], unsigned a, unsigned b, unsigned c, unsigned d)
{
    memset(key, 0, LIMIT_KEY_LEN);
    key[10] = key[11] = 0xff;
    key[12] = (uint8_t)a, key[13] = (uint8_t)b, key[14] = (uint8_t)c, key[15] = (uint8_t)d;
}

static void test_counts(void)
{
    struct limit_table *t = limit_table_new(100, 0, 0, 1);
    struct limit_table_stats st;
    uint8_t a[LIMIT_KEY_LEN], b[LIMIT_KEY_LEN];

    ip4(a, 10, 0, 0, 1);
    ip4(b, 10, 0, 0, 2);
    CHECK(t != NULL);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(limit_table_acquire(t, a, 3), 1);
    CHECK_EQ(limit_table_acquire(t, a, 3), 0);
    CHECK_EQ(limit_table_count(t, a), 3);
    CHECK_EQ(limit_table_acquire(t, b, 3), 1);
    CHECK_EQ(limit_table_acquire(t, b, 0), 0); /* a limit of 0 holds nothing */
    limit_table_release(t, a);
    CHECK_EQ(limit_table_count(t, a), 2);
    CHECK_EQ(limit_table_acquire(t, a, 3), 1);
    /* Without a bucket take always allows; an entry holding nothing goes at once. */
    CHECK_EQ(limit_table_take(t, a, T0, NULL), 1);
    for (int i = 0; i < 3; i++)
        limit_table_release(t, a);
    limit_table_release(t, a); /* one too many: nothing */
    CHECK_EQ(limit_table_count(t, a), 0);
    limit_table_get_stats(t, &st);
    CHECK_EQ(st.entries, 1);
    limit_table_release(t, b);
    limit_table_get_stats(t, &st);
    CHECK_EQ(st.entries, 0);
    limit_table_free(t);
    limit_table_free(NULL);
}

static void test_buckets(void)
{
    struct limit_table *t = limit_table_new(100, 2, 3, 7);
    uint8_t u[LIMIT_KEY_LEN], v[LIMIT_KEY_LEN];
    uint64_t wait = 0;

    limit_key_user(u, 42);
    limit_key_user(v, 43);
    CHECK(t != NULL);
    CHECK(limit_table_new(100, 2, 0, 7) == NULL); /* no such bucket */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(limit_table_take(t, u, T0, &wait), 1);
    CHECK_EQ(limit_table_take(t, u, T0, &wait), 0);
    CHECK_EQ(wait, 500);
    CHECK_EQ(limit_table_take(t, u, T0 + 100, &wait), 0);
    CHECK_EQ(wait, 400);
    /* Another key has its own bucket. */
    CHECK_EQ(limit_table_take(t, v, T0, NULL), 1);
    CHECK_EQ(limit_table_take(t, u, T0 + 500, NULL), 1);
    CHECK_EQ(limit_table_take(t, u, T0 + 500, NULL), 0);
    /* A sweep forgets only buckets that are full again. */
    CHECK_EQ(limit_table_sweep(t, T0 + 400), 2);
    CHECK_EQ(limit_table_sweep(t, T0 + 600), 1); /* v: one token spent at T0, back by T0+500 */
    CHECK_EQ(limit_table_sweep(t, T0 + 1999), 1);
    CHECK_EQ(limit_table_sweep(t, T0 + 2000), 0);
    /* Forgotten is the same as full. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(limit_table_take(t, u, T0 + 2001, NULL), 1);
    CHECK_EQ(limit_table_take(t, u, T0 + 2001, NULL), 0);
    /* A key that holds something stays however full its bucket. */
    CHECK_EQ(limit_table_acquire(t, v, 1), 1);
    CHECK_EQ(limit_table_sweep(t, T0 + 100000), 1);
    CHECK_EQ(limit_table_count(t, v), 1);
    limit_table_release(t, v);
    CHECK_EQ(limit_table_sweep(t, T0 + 100000), 0);
    limit_table_free(t);
}

/* At max_entries a new key is refused; known keys still work. */
static void test_full(void)
{
    struct limit_table *t = limit_table_new(10, 1, 1, 3);
    struct limit_table_stats st;
    uint8_t k[LIMIT_KEY_LEN];
    uint64_t wait = 0;

    for (unsigned i = 0; i < 10; i++) {
        ip4(k, 192, 0, 2, i);
        CHECK_EQ(limit_table_acquire(t, k, 5), 1);
    }
    ip4(k, 192, 0, 2, 10);
    CHECK_EQ(limit_table_acquire(t, k, 5), 0);
    CHECK_EQ(limit_table_take(t, k, T0, &wait), 0);
    CHECK_EQ(wait, 1000);
    ip4(k, 192, 0, 2, 3);
    CHECK_EQ(limit_table_acquire(t, k, 5), 1);
    CHECK_EQ(limit_table_take(t, k, T0, NULL), 1);
    limit_table_get_stats(t, &st);
    CHECK_EQ(st.full_refusals, 2);
    CHECK_EQ(st.entries, 10);
    limit_table_free(t);
}

/* Random acquire/release/take against a plain array, in a table small
 * enough to grow, wrap around and shift back often. */
#define MODEL_KEYS 3000
static uint32_t model[MODEL_KEYS];

static void test_random(void)
{
    uint64_t rng = 99;
    struct limit_table *t = limit_table_new(MODEL_KEYS, 0, 0, 12345);
    struct limit_table_stats st;
    size_t live = 0;

    memset(model, 0, sizeof model);
    for (int step = 0; step < 400000; step++) {
        unsigned id = (unsigned)(splitmix64(&rng) % MODEL_KEYS);
        uint8_t k[LIMIT_KEY_LEN];

        limit_key_user(k, id + 1);
        if (splitmix64(&rng) % 3) {
            int got = limit_table_acquire(t, k, 4);

            CHECK_EQ(got, model[id] < 4);
            if (got && model[id]++ == 0)
                live++;
        } else {
            limit_table_release(t, k);
            if (model[id] > 0 && --model[id] == 0)
                live--;
        }
        if (step % 997 == 0) {
            for (unsigned i = 0; i < MODEL_KEYS; i++) {
                limit_key_user(k, i + 1);
                CHECK_EQ(limit_table_count(t, k), model[i]);
            }
            limit_table_get_stats(t, &st);
            CHECK_EQ(st.entries, live);
        }
    }
    limit_table_get_stats(t, &st);
    CHECK(st.slots <= 2 * 4096);
    limit_table_free(t);
}

/* Sweeping a large table with entries in every state keeps exactly those
 * that hold something or have a bucket not yet full. */
static void test_sweep_random(void)
{
    uint64_t rng = 5;
    struct limit_table *t = limit_table_new(20000, 1, 2, 77);
    static uint8_t held[10000], spent[10000];
    uint8_t k[LIMIT_KEY_LEN];
    size_t want = 0;

    for (unsigned i = 0; i < 10000; i++) {
        limit_key_user(k, (uint64_t)i * 2654435761u + 1);
        held[i] = splitmix64(&rng) % 2;
        spent[i] = splitmix64(&rng) % 2;
        if (held[i])
            CHECK_EQ(limit_table_acquire(t, k, 1), 1);
        if (spent[i])
            CHECK_EQ(limit_table_take(t, k, T0, NULL), 1);
        else if (!held[i])
            CHECK_EQ(limit_table_take(t, k, T0 - 10000, NULL), 1); /* full again by T0 */
        want += held[i] || spent[i];
    }
    CHECK_EQ(limit_table_sweep(t, T0), want);
    for (unsigned i = 0; i < 10000; i++) {
        limit_key_user(k, (uint64_t)i * 2654435761u + 1);
        CHECK_EQ(limit_table_count(t, k), held[i]);
        /* The spent ones have one token left of two. */
        CHECK_EQ(limit_table_take(t, k, T0, NULL), 1);
        CHECK_EQ(limit_table_take(t, k, T0, NULL), !spent[i]);
    }
    limit_table_free(t);
}

int main(void)
{
    test_counts();
    test_buckets();
    test_full();
    test_random();
    test_sweep_random();
    if (failures) {
        fprintf(stderr, "test-limit-table: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
