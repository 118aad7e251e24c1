/* ratelimit.h: a per-session token bucket, small enough to embed, driven by the caller's clock. No I/O.
 *
 * The bucket holds up to `burst` tokens and refills one token every
 * `interval` (1 / rate); each allowed event takes one. It is kept in the
 * equivalent "theoretical arrival time" form (GCRA): instead of a token count
 * and a last-refill time it stores the time at which the bucket will be full
 * again, so an update is one comparison and one addition, with no division.
 * Times are microseconds internally so that rates like 3/s keep their
 * fraction; callers pass milliseconds from a monotonic clock.
 *
 * A new bucket starts full. Not thread-safe; a session lives on one loop.
 */
#ifndef NEARBY_RATELIMIT_H
#define NEARBY_RATELIMIT_H

#include <stdint.h>

#define RATELIMIT_BURST_MAX 1000000u
/* The longest refill interval: one token an hour. */
#define RATELIMIT_INTERVAL_US_MAX 3600000000u

enum ratelimit_err {
    RATELIMIT_OK = 0,
    RATELIMIT_ERR_INVALID = -1, /* rate not finite, too slow or too fast; burst 0 or too big */
};

/* 16 bytes; embed it by value. Fields are private to ratelimit.c. */
struct ratelimit {
    uint64_t full_at_us;  /* when the bucket is full again; <= now means full */
    uint32_t interval_us; /* time to earn one token, >= 1 */
    uint32_t burst;       /* bucket size in tokens, >= 1 */
};

/* Sets *rl up for rate_per_sec events a second on average with bursts of up
 * to burst events, bucket full. The rate may be below 1 (1/30.0 is one event
 * per 30 s) and is rounded to a whole number of microseconds per token.
 * Returns 0, or RATELIMIT_ERR_INVALID (and leaves *rl alone) if rate_per_sec
 * is not finite, needs an interval outside [1 us, RATELIMIT_INTERVAL_US_MAX],
 * or burst is 0 or above RATELIMIT_BURST_MAX. */
int ratelimit_init(struct ratelimit *rl, double rate_per_sec, uint32_t burst);

/* Takes one token at time now_ms. Returns 1 if the event is allowed, 0 if the
 * bucket is empty; a refused event takes nothing, so a client that keeps
 * sending while refused is served again as soon as a token is earned. A
 * clock that steps back counts as having just emptied the bucket: the next
 * token comes one interval after the new time, never later. */
int ratelimit_allow(struct ratelimit *rl, uint64_t now_ms);

/* Returns how many ms from now_ms until ratelimit_allow() would next return
 * 1: 0 if it would now. Does not change the bucket. */
uint64_t ratelimit_wait_ms(const struct ratelimit *rl, uint64_t now_ms);

/* Returns 1 when the bucket is full at now_ms (as if new: forgetting it
 * would change no answer), else 0. */
int ratelimit_full(const struct ratelimit *rl, uint64_t now_ms);

#endif
