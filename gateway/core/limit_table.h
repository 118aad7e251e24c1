/* limit_table.h: limits per key for keys a client chooses (an IP address, a user id): how many things the key holds now, and a token bucket for how fast it may start more. No I/O.
 *
 * A key is 16 bytes: an IPv6 address, an IPv4 address as ::ffff:a.b.c.d, or
 * a user id in its first 8 bytes (limit_key_user). Each key that holds
 * something, or whose bucket is not full, has an entry; an entry that holds
 * nothing and whose bucket has filled up again changes no answer, so
 * limit_table_sweep drops it. Entries live in one open-addressing array
 * (linear probing, backward-shift deletion) hashed with XXH3 under a seed
 * the caller draws at random, so a client cannot pick keys that collide.
 *
 * Memory is bounded: at most max_entries entries (about 48 bytes each, in an
 * array that grows by doubling up to twice that many slots). When it is
 * full, a key without an entry is refused (fail closed) and counted in
 * full_refusals; keys with an entry are served as usual.
 *
 * Times are milliseconds from the caller's clock (ratelimit.h). Not
 * thread-safe: one table belongs to one loop.
 */
#ifndef NEARBY_LIMIT_TABLE_H
#define NEARBY_LIMIT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define LIMIT_KEY_LEN 16

struct limit_table;

struct limit_table_stats {
    size_t entries;          /* keys remembered now */
    size_t slots;            /* size of the array */
    uint64_t full_refusals;  /* new keys refused because max_entries were in use */
};

/* Writes user's key (the id little-endian, then zeros) into key. */
void limit_key_user(uint8_t key[LIMIT_KEY_LEN], uint64_t user);

/* Makes a table of at most max_entries (>= 1) keys. With rate > 0 each key
 * has a token bucket of rate per second and burst tokens (ratelimit.h; it
 * starts full); with rate 0 there is none and limit_table_take always
 * allows. seed keys the hash. Returns NULL when out of memory or when rate
 * and burst are not a valid bucket. */
struct limit_table *limit_table_new(size_t max_entries, double rate, uint32_t burst,
                                    uint64_t seed);

/* Frees the table; NULL is a no-op. */
void limit_table_free(struct limit_table *t);

/* Takes one token of key's bucket at now_ms. Returns 1 when allowed, 0 when
 * the bucket is empty or the table is full; then *wait_ms (may be NULL) is
 * how long until a token would be there (1000 when the table is full). */
int limit_table_take(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN], uint64_t now_ms,
                     uint64_t *wait_ms);

/* Counts one more thing held by key, unless it holds max already (or the
 * table is full). Returns 1 when counted, 0 when refused. */
int limit_table_acquire(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN], uint32_t max);

/* Counts one thing fewer held by key (no-op when it holds none). An entry
 * left holding nothing is dropped at once when it has no bucket, else at the
 * next sweep. */
void limit_table_release(struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN]);

/* Returns how many things key holds. */
uint32_t limit_table_count(const struct limit_table *t, const uint8_t key[LIMIT_KEY_LEN]);

/* Drops every entry that holds nothing and whose bucket is full at now_ms.
 * O(slots); the gateway runs it once a second. Returns the entries left. */
size_t limit_table_sweep(struct limit_table *t, uint64_t now_ms);

/* Copies the counters to *out. */
void limit_table_get_stats(const struct limit_table *t, struct limit_table_stats *out);

#endif
