/* limit_table.c: per-key counts and token buckets in one open-addressing array (linear probing, backward-shift deletion). */
#include "limit_table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ratelimit.h"

#define LIMIT_TABLE_MIN_SLOTS 64

struct limit_entry {
    uint8_t key[LIMIT_KEY_LEN];
    uint64_t hash;
    struct ratelimit bucket;
    uint32_t count;
    uint32_t used; /* 0: an empty slot */
};

struct limit_table {
    struct limit_entry *slots;
    size_t mask;        /* slot count - 1, a power of two minus one */
    size_t entries;
    size_t max_entries;
    struct ratelimit proto; /* a fresh, full bucket; interval_us 0 without one */
    uint64_t seed;
    uint64_t full_refusals;
};

void limit_key_user(uint8_t key[LIMIT_KEY_LEN], uint64_t user)
{
    memset(key, 0, LIMIT_KEY_LEN);
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(user >> (8 * i));
}

static bool has_bucket(const struct limit_table *t)
{
    return t->proto.interval_us != 0;
}

struct limit_table *limit_table_new(size_t max_entries, double rate, uint32_t burst,
                                    uint64_t seed)
{
    struct limit_table *t;

    if (max_entries == 0 || max_entries > SIZE_MAX / 4 / sizeof(struct limit_entry))
        return NULL;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (rate > 0 && ratelimit_init(&t->proto, rate, burst) < 0) {
        free(t);
        return NULL;
    }
    t->slots = calloc(LIMIT_TABLE_MIN_SLOTS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->mask = LIMIT_TABLE_MIN_SLOTS - 1;
    t->max_entries = max_entries;
    t->seed = seed;
    return t;
}

void limit_table_free(struct limit_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

static uint64_t key_hash(const struct limit_table *t, const uint8_t *key)
{
    return XXH3_64bits_withSeed(key, LIMIT_KEY_LEN, t->seed);
}

/* Returns the slot holding key, or the empty slot where it would go. */
static struct limit_entry *slot_for(const struct limit_table *t, const uint8_t *key,
                                    uint64_t hash)
{
    size_t i = (size_t)hash & t->mask;

    while (t->slots[i].used &&
           (t->slots[i].hash != hash || memcmp(t->slots[i].key, key, LIMIT_KEY_LEN) != 0))
        i = (i + 1) & t->mask;
    return &t->slots[i];
}

/* Doubles the array (entries keep their order within each probe run).
 * Returns 0, or -1 when out of memory (the table is unchanged). */
static int grow(struct limit_table *t)
{
    size_t old_n = t->mask + 1, n = old_n * 2;
    struct limit_entry *old = t->slots, *fresh = calloc(n, sizeof *fresh);

    if (!fresh)
        return -1;
    t->slots = fresh;
    t->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].used)
            *slot_for(t, old[i].key, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* Returns key's entry, making one (bucket full, count 0) if create; NULL
 * when there is none, or no room for it (counted). */
static struct limit_entry *entry_get(struct limit_table *t, const uint8_t *key, bool create)
{
    uint64_t hash = key_hash(t, key);
    struct limit_entry *e = slot_for(t, key, hash);

    if (e->used || !create)
        return e->used ? e : NULL;
    if (t->entries >= t->max_entries) {
        t->full_refusals++;
        return NULL;
    }
    /* At most half full, so probe runs stay short. */
    if ((t->entries + 1) * 2 > t->mask + 1) {
        if (grow(t) < 0) {
            t->full_refusals++;
            return NULL;
        }
        e = slot_for(t, key, hash);
    }
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, LIMIT_KEY_LEN);
    e->hash = hash;
    e->bucket = t->proto;
    e->used = 1;
    t->entries++;
    return e;
}

/* Empties slot i and pulls later entries of its probe runs back, so that no
 * lookup ever meets a hole before its key (no tombstones). */
static void slot_delete(struct limit_table *t, size_t i)
{
    size_t j = i;

    for (;;) {
        size_t home;

        j = (j + 1) & t->mask;
        if (!t->slots[j].used)
            break;
        home = (size_t)t->slots[j].hash & t->mask;
        /* The entry at j may fill the hole at i unless its home lies
         * cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    memset(&t->slots[i], 0, sizeof t->slots[i]);
    t->entries--;
}

static bool forgettable(const struct limit_table *t, const struct limit_entry *e, uint64_t now_ms)
{
    return e->count == 0 && (!has_bucket(t) || ratelimit_full(&e->bucket, now_ms));
}

int limit_table_take(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN], uint64_t now_ms,
                     uint64_t *wait_ms)
{
    struct limit_entry *e;

    if (!has_bucket(t))
        return 1;
    e = entry_get(t, key, true);
    if (!e) {
        if (wait_ms)
            *wait_ms = 1000;
        return 0;
    }
    if (ratelimit_allow(&e->bucket, now_ms))
        return 1;
    if (wait_ms)
        *wait_ms = ratelimit_wait_ms(&e->bucket, now_ms);
    return 0;
}

int limit_table_acquire(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN], uint32_t max)
{
    struct limit_entry *e = entry_get(t, key, max > 0);

    if (!e || e->count >= max)
        return 0;
    e->count++;
    return 1;
}

void limit_table_release(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN])
{
    uint64_t hash = key_hash(t, key);
    struct limit_entry *e = slot_for(t, key, hash);

    if (!e->used || e->count == 0)
        return;
    if (--e->count == 0 && !has_bucket(t))
        slot_delete(t, (size_t)(e - t->slots));
}

uint32_t limit_table_count(const struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN])
{
    const struct limit_entry *e = slot_for(t, key, key_hash(t, key));

    return e->used ? e->count : 0;
}

size_t limit_table_sweep(struct limit_table *t, uint64_t now_ms)
{
    /* A deletion may pull a later entry into slot i: look at i again. An
     * entry pulled across the end of the array into a slot already passed
     * was looked at already, and is looked at once more: harmless. */
    for (size_t i = 0; i <= t->mask;) {
        if (t->slots[i].used && forgettable(t, &t->slots[i], now_ms))
            slot_delete(t, i);
        else
            i++;
    }
    return t->entries;
}

void limit_table_get_stats(const struct limit_table *t, struct limit_table_stats *out)
{
    out->entries = t->entries;
    out->slots = t->mask + 1;
    out->full_refusals = t->full_refusals;
}
