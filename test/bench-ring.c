/* bench-ring.c: lookup speed, build time, memory and balance of the ring; prints, asserts nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ring-internal.h"
#include "ring.h"
#include "ring_sim.h"

#define BENCH_NODES 200
#define BENCH_KEYS (1u << 20)
#define BENCH_SECONDS 1.0

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Returns a built ring of n active nodes, or exits. */
static struct ring *make_ring(uint32_t n, uint32_t vnodes)
{
    struct ring *ring = ring_new("bench", 1, vnodes);

    if (ring == NULL)
        exit(1);
    for (uint32_t i = 0; i < n; i++) {
        char id[32], addr[32];

        snprintf(id, sizeof(id), "r%" PRIu32, i);
        snprintf(addr, sizeof(addr), "10.0.%" PRIu32 ".%" PRIu32 ":6379", i / 250, i % 250 + 1);
        if (ring_add_node(ring, id, addr, 1, RING_STATE_ACTIVE) < 0)
            exit(1);
    }
    if (ring_build(ring) < 0)
        exit(1);
    return ring;
}

struct rate {
    double best; /* lookups/s of the fastest pass: least disturbed by other load */
    double mean; /* lookups/s over all passes */
};

/* Runs whole passes over the keys for about BENCH_SECONDS. The owner
 * pointers are folded into *sink so the compiler keeps every lookup. */
static struct rate bench_lookup(const struct ring *ring, const uint64_t *keys, int by_user,
                                uintptr_t *sink)
{
    struct rate rate = { 0.0, 0.0 };
    double start = now(), elapsed;
    uint64_t done = 0;
    uintptr_t acc = 0;

    do {
        double pass_start = now(), pass;

        /* Two loops rather than a test per key: the loop body is part of
         * what limits how many lookups the CPU overlaps. */
        if (by_user) {
            for (uint32_t k = 0; k < BENCH_KEYS; k++)
                acc += (uintptr_t)ring_owner(ring, RING_VIEW_NEW, ring_user_hash(keys[k]));
        } else {
            for (uint32_t k = 0; k < BENCH_KEYS; k++)
                acc += (uintptr_t)ring_owner(ring, RING_VIEW_NEW, keys[k]);
        }
        pass = now() - pass_start;
        if (BENCH_KEYS / pass > rate.best)
            rate.best = BENCH_KEYS / pass;
        done += BENCH_KEYS;
        elapsed = now() - start;
    } while (elapsed < BENCH_SECONDS);
    rate.mean = (double)done / elapsed;
    *sink += acc;
    return rate;
}

static void bench_build(uint32_t vnodes)
{
    struct ring *ring = make_ring(BENCH_NODES, vnodes);
    double start = now(), elapsed, best = 1e9;
    unsigned builds = 0;

    do {
        double build_start = now();

        /* A weight change drops the tables (an epoch change would not). */
        if (ring_set_weight(ring, "r0", 1) < 0 || ring_build(ring) < 0)
            exit(1);
        if (now() - build_start < best)
            best = now() - build_start;
        builds++;
        elapsed = now() - start;
    } while (elapsed < BENCH_SECONDS);
    printf("build nodes=%d vnodes=%" PRIu32 " build_ms=%.1f build_ms_best=%.1f table_bytes=%zu\n",
           BENCH_NODES, vnodes, elapsed * 1e3 / builds, best * 1e3, ring_table_bytes(ring));
    ring_free(ring);
}

static void bench_sim(uint32_t nodes, uint32_t vnodes)
{
    struct ring_sim_result add, rm;

    if (ring_simulate(nodes, vnodes, 1, 0, 1, &add) < 0 ||
        ring_simulate(nodes, vnodes, 0, 1, 1, &rm) < 0)
        exit(1);
    printf("simulate nodes=%" PRIu32 " vnodes=%" PRIu32 " max_over_mean=%.4f min_over_mean=%.4f"
           " add1_moved=%.6f add1_ideal=%.6f add1_ratio=%.3f"
           " remove1_moved=%.6f remove1_ideal=%.6f remove1_ratio=%.3f\n",
           nodes, vnodes, add.max_over_mean, add.min_over_mean, add.moved_fraction,
           add.ideal_moved_fraction, add.moved_fraction / add.ideal_moved_fraction,
           rm.moved_fraction, rm.ideal_moved_fraction,
           rm.moved_fraction / rm.ideal_moved_fraction);
}

int main(int argc, char **argv)
{
    uint32_t vnodes = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : RING_VNODES_DEFAULT;
    uint64_t *keys = malloc(BENCH_KEYS * sizeof(*keys));
    uint64_t rng = 42;
    uintptr_t sink = 0;
    struct rate owner, user;
    struct ring *ring;

    if (keys == NULL || vnodes < 1 || vnodes > RING_VNODES_MAX)
        return 1;
    ring = make_ring(BENCH_NODES, vnodes);
    for (uint32_t k = 0; k < BENCH_KEYS; k++)
        keys[k] = splitmix64(&rng);
    owner = bench_lookup(ring, keys, 0, &sink);
    /* User ids of a 100 M user service: random below 10^8. */
    for (uint32_t k = 0; k < BENCH_KEYS; k++)
        keys[k] = splitmix64(&rng) % 100000000;
    user = bench_lookup(ring, keys, 1, &sink);
    printf("lookup nodes=%d vnodes=%" PRIu32 " owner_per_s=%.3g owner_per_s_best=%.3g"
           " user_hash_owner_per_s=%.3g user_hash_owner_per_s_best=%.3g\n",
           BENCH_NODES, vnodes, owner.mean, owner.best, user.mean, user.best);
    ring_free(ring);
    free(keys);

    bench_build(vnodes);
    bench_sim(100, vnodes);
    bench_sim(200, vnodes);
    return sink == 1; /* never true in practice; keeps the sink alive */
}
