/* test-util.h: one copy of the checks, generators and guard page the unit tests share, so a fix to one reaches them all. */
#ifndef NEARBY_TEST_UTIL_H
#define NEARBY_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------ checks */

/* After how many failed checks a test exits 1. A test that checks state it
 * built itself stops at the first (later checks would only report noise); one
 * of many independent cases defines it before the include, 0 for never, and
 * reports the count from main. */
#ifndef CHECK_STOP_AFTER
#define CHECK_STOP_AFTER 1
#endif

static int failures __attribute__((unused));

static inline void check_failed(void)
{
    failures++;
    if (CHECK_STOP_AFTER > 0 && failures >= CHECK_STOP_AFTER)
        exit(1);
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failed();                                                          \
        }                                                                            \
    } while (0)

/* Like CHECK, with the input that failed. */
#define CHECK_IN(cond, in)                                                                    \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s (input: %s)\n", __FILE__, __LINE__,     \
                    #cond, in);                                                               \
            check_failed();                                                                   \
        }                                                                                     \
    } while (0)

/* Like CHECK (a == b), with both values. */
#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) {                                                                    \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
                    #a, a_, #b, b_);                                                       \
            check_failed();                                                                \
        }                                                                                  \
    } while (0)

/* ------------------------------------------------------------- generators */

/* Deterministic, so a failure reproduces: each test owns its state and seed. */

static inline uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline uint64_t xorshift64(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static inline uint64_t xorshift64star(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(0x2545f4914f6cdd1d);
}

/* Makes up to edits random edits to buf[0..len) (room for cap), drawing from
 * xorshift64(state): flip a bit, set a random or an interesting byte, cut,
 * insert or delete a byte. Returns the new length. */
static inline size_t mutate_bytes(uint8_t *buf, size_t len, size_t cap, int edits,
                                  const uint8_t *interesting, size_t n_interesting,
                                  uint64_t *state)
{
    for (int e = 0; e < edits && len > 0; e++) {
        size_t at = xorshift64(state) % len;
        switch (xorshift64(state) % 6) {
        case 0: buf[at] ^= (uint8_t)(1u << (xorshift64(state) % 8)); break;
        case 1: buf[at] = (uint8_t)xorshift64(state); break;
        case 2: buf[at] = interesting[xorshift64(state) % n_interesting]; break;
        case 3: len = at; break;
        case 4:
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)xorshift64(state);
                len++;
            }
            break;
        default:
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
            break;
        }
    }
    return len;
}

/* rnd(), rnd_below(): splitmix64 on one stream per test, seeded by rnd_seed()
 * at the top of main. */
static uint64_t rnd_state __attribute__((unused));

static inline void rnd_seed(uint64_t seed)
{
    rnd_state = seed;
}

static inline uint64_t rnd(void)
{
    return splitmix64(&rnd_state);
}

static inline uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

/* ------------------------------------------------------------- guard page */

/* A read past the end of an input must crash, not pass unnoticed: the input is
 * copied so its last byte sits right before a PROT_NONE page. Either map once
 * (guard_map) and guard_put each input, or guard_place one input in a mapping
 * of its own; guard_release unmaps. */
struct guarded {
    uint8_t *map;
    size_t map_len;
    uint8_t *end; /* the PROT_NONE page */
};

static inline void guard_map(struct guarded *g, size_t room)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    room = (room + page - 1) / page * page;
    g->map_len = room + page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED || mprotect(g->map + room, page, PROT_NONE) != 0) {
        perror("guard page: mmap/mprotect");
        exit(1);
    }
    g->end = g->map + room;
}

/* Returns the copy of src[0..len), which ends at the guard page. */
static inline void *guard_put(struct guarded *g, const void *src, size_t len)
{
    uint8_t *dst;

    if (len > (size_t)(g->end - g->map)) {
        fprintf(stderr, "guard page: %zu bytes do not fit\n", len);
        exit(1);
    }
    dst = g->end - len;
    if (len > 0)
        memmove(dst, src, len);
    return dst;
}

static inline void *guard_place(struct guarded *g, const void *src, size_t len)
{
    guard_map(g, len);
    return guard_put(g, src, len);
}

/* Makes the copy read-only too: code that must not write into its input faults if it does. */
static inline void guard_readonly(struct guarded *g)
{
    if (mprotect(g->map, (size_t)(g->end - g->map), PROT_READ) != 0) {
        perror("guard page: mprotect");
        exit(1);
    }
}

static inline void guard_release(struct guarded *g)
{
    if (munmap(g->map, g->map_len) != 0) {
        perror("guard page: munmap");
        exit(1);
    }
}

#endif
