/* test-ratelimit.c: unit tests for gateway/ratelimit with a fake clock (plain now_ms values). */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "ratelimit.h"

/* An arbitrary monotonic-clock origin far from 0. */
#define T0 UINT64_C(1764079200000)

static void test_init(void)
{
    struct ratelimit rl = { 7, 8, 9 };

    CHECK(sizeof(struct ratelimit) <= 16);
    CHECK(ratelimit_init(&rl, 0, 1) == RATELIMIT_ERR_INVALID);
    CHECK(ratelimit_init(&rl, -1, 1) == RATELIMIT_ERR_INVALID);
    CHECK(ratelimit_init(&rl, NAN, 1) == RATELIMIT_ERR_INVALID);
    CHECK(ratelimit_init(&rl, INFINITY, 1) == RATELIMIT_ERR_INVALID);
    CHECK(ratelimit_init(&rl, 1e7, 1) == RATELIMIT_ERR_INVALID);         /* 0.1 us a token */
    CHECK(ratelimit_init(&rl, 1 / 7200.0, 1) == RATELIMIT_ERR_INVALID);  /* 2 h a token */
    CHECK(ratelimit_init(&rl, 1, 0) == RATELIMIT_ERR_INVALID);
    CHECK(ratelimit_init(&rl, 1, RATELIMIT_BURST_MAX + 1) == RATELIMIT_ERR_INVALID);
    CHECK(rl.full_at_us == 7 && rl.interval_us == 8 && rl.burst == 9);

    CHECK(ratelimit_init(&rl, 1e6, 1) == 0 && rl.interval_us == 1);
    CHECK(ratelimit_init(&rl, 1 / 3600.0, RATELIMIT_BURST_MAX) == 0);
    CHECK(rl.interval_us == 3600000000u);
    CHECK(ratelimit_init(&rl, 3, 1) == 0 && rl.interval_us == 333333);
}

static void test_burst_then_refill(void)
{
    struct ratelimit rl;

    CHECK(ratelimit_init(&rl, 1, 3) == 0);
    /* Starts full: three at once, then nothing. */
    CHECK(ratelimit_wait_ms(&rl, T0) == 0);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0) == 0);
    CHECK(ratelimit_wait_ms(&rl, T0) == 1000);
    CHECK(ratelimit_wait_ms(&rl, T0 + 400) == 600);
    /* Refused calls take nothing: hammering does not push the refill back. */
    for (int i = 0; i < 1000; i++)
        CHECK(ratelimit_allow(&rl, T0 + 999) == 0);
    CHECK(ratelimit_allow(&rl, T0 + 1000) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 1000) == 0);
    CHECK(ratelimit_allow(&rl, T0 + 2000) == 1);
    /* A long idle refills to burst, no further. */
    CHECK(ratelimit_allow(&rl, T0 + 3600000) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 3600000) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 3600000) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 3600000) == 0);
}

/* 3/s: the third of a ms per token is kept, not lost to rounding. */
static void test_fractional_rate(void)
{
    struct ratelimit rl;
    int allowed = 0;

    CHECK(ratelimit_init(&rl, 3, 1) == 0);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 333) == 0);
    CHECK(ratelimit_allow(&rl, T0 + 334) == 1);
    /* Asked every ms with room for 2: two at t = 0, then 3 a second for
     * 60 s. (With room for 1 the bucket is full at each 334th ms and the
     * 2/3 ms past the token is lost: a bucket never holds more than burst.) */
    CHECK(ratelimit_init(&rl, 3, 2) == 0);
    for (uint64_t t = 0; t <= 60000; t++)
        allowed += ratelimit_allow(&rl, T0 + t);
    CHECK(allowed == 182);
}

/* One position per 30 s with a little slack, as a phone sends them. */
static void test_slow_rate(void)
{
    struct ratelimit rl;

    CHECK(ratelimit_init(&rl, 1 / 30.0, 2) == 0);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 1) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 2) == 0);
    CHECK(ratelimit_wait_ms(&rl, T0 + 2) == 29998);
    CHECK(ratelimit_allow(&rl, T0 + 29999) == 0);
    CHECK(ratelimit_allow(&rl, T0 + 30000) == 1);
    CHECK(ratelimit_allow(&rl, T0 + 30001) == 0);
}

static void test_clock_steps_back(void)
{
    struct ratelimit rl;

    CHECK(ratelimit_init(&rl, 1, 5) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0) == 0);
    /* Back by an hour: one interval of waiting, not an hour. */
    CHECK(ratelimit_allow(&rl, T0 - 3600000) == 0);
    CHECK(ratelimit_wait_ms(&rl, T0 - 3600000) == 1000);
    CHECK(ratelimit_allow(&rl, T0 - 3599000) == 1);
    CHECK(ratelimit_allow(&rl, T0 - 3599000) == 0);
    /* From 0 and to the far end of the clock, no wrap. */
    CHECK(ratelimit_init(&rl, 1, 1) == 0);
    CHECK(ratelimit_allow(&rl, 0) == 1);
    CHECK(ratelimit_allow(&rl, 0) == 0);
    CHECK(ratelimit_allow(&rl, UINT64_MAX) == 1);
    CHECK(ratelimit_allow(&rl, UINT64_MAX) == 0);
}

/* Over any run of calls the count allowed is at most burst + rate * elapsed,
 * and a caller that takes all it can every ms gets at least one less. */
static void test_long_run_bounds(void)
{
    static const struct { double rate; uint32_t burst; } cases[] = {
        { 1, 1 }, { 2.5, 4 }, { 10, 20 }, { 0.2, 3 }, { 333, 2 }, { 1000, 50 },
    };
    uint64_t rng = 88172645463325252ULL;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ratelimit rl;
        uint64_t t = T0, elapsed = 20000, every = 0, sparse = 0;
        CHECK(ratelimit_init(&rl, cases[i].rate, cases[i].burst) == 0);
        for (uint64_t dt = 0; dt <= elapsed; dt++) {
            while (ratelimit_allow(&rl, t + dt))
                every++;
        }
        double ideal = cases[i].burst + cases[i].rate * (double)elapsed / 1000;
        CHECK((double)every <= ideal + 1e-9);
        CHECK((double)every >= ideal - 1);

        /* Random gaps and bursts of calls: still never above the ideal. */
        CHECK(ratelimit_init(&rl, cases[i].rate, cases[i].burst) == 0);
        for (uint64_t now = t; now <= t + elapsed;) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            for (uint64_t k = 0; k < rng % 5; k++)
                sparse += (uint64_t)ratelimit_allow(&rl, now);
            now += (rng >> 8) % 300;
        }
        CHECK((double)sparse <= ideal + 1e-9);
    }
}

/* Full means: forgetting the bucket would change no answer. */
static void test_full(void)
{
    struct ratelimit rl;

    CHECK(ratelimit_init(&rl, 2, 4) == 0);
    CHECK(ratelimit_full(&rl, T0) == 1);
    CHECK(ratelimit_allow(&rl, T0) == 1);
    CHECK(ratelimit_full(&rl, T0) == 0);
    CHECK(ratelimit_full(&rl, T0 + 499) == 0);
    CHECK(ratelimit_full(&rl, T0 + 500) == 1);
    for (int i = 0; i < 4; i++)
        CHECK(ratelimit_allow(&rl, T0 + 1000) == 1);
    CHECK(ratelimit_full(&rl, T0 + 2999) == 0);
    CHECK(ratelimit_full(&rl, T0 + 3000) == 1);
}

int main(void)
{
    test_init();
    test_burst_then_refill();
    test_fractional_rate();
    test_slow_rate();
    test_clock_steps_back();
    test_long_run_bounds();
    test_full();
    if (failures) {
        fprintf(stderr, "test-ratelimit: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
