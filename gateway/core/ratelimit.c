/* ratelimit.c: token bucket kept as the time the bucket is full again (GCRA). */
#include <math.h>

#include "ratelimit.h"

/* now_ms * 1000 must not wrap: ms since 1970 are ~1.8e12, this is ~9e15. */
#define RATELIMIT_NOW_MS_MAX (UINT64_MAX / 1000 / 2)

int ratelimit_init(struct ratelimit *rl, double rate_per_sec, uint32_t burst)
{
    double interval;

    if (!isfinite(rate_per_sec) || rate_per_sec <= 0 || burst == 0 ||
        burst > RATELIMIT_BURST_MAX)
        return RATELIMIT_ERR_INVALID;
    interval = nearbyint(1e6 / rate_per_sec);
    if (!(interval >= 1 && interval <= RATELIMIT_INTERVAL_US_MAX))
        return RATELIMIT_ERR_INVALID;
    rl->full_at_us = 0;
    rl->interval_us = (uint32_t)interval;
    rl->burst = burst;
    return RATELIMIT_OK;
}

/* The bucket holds burst - (full_at - now) / interval tokens. Returns the
 * full_at to reckon with at *now_us (set to now_ms in us): never before now,
 * and never more than a whole bucket ahead, which only a clock that stepped
 * back can cause; the bucket then counts as just emptied. */
static uint64_t ratelimit_full_at(const struct ratelimit *rl, uint64_t now_ms,
                                  uint64_t *now_us)
{
    uint64_t cap = (uint64_t)rl->burst * rl->interval_us;
    uint64_t now = (now_ms > RATELIMIT_NOW_MS_MAX ? RATELIMIT_NOW_MS_MAX : now_ms) * 1000;
    uint64_t full_at = rl->full_at_us;

    if (full_at < now)
        full_at = now;
    if (full_at - now > cap)
        full_at = now + cap;
    *now_us = now;
    return full_at;
}

/* Taking a token moves full_at one interval later, which is allowed while it
 * stays within a whole bucket (burst intervals) of now. */
int ratelimit_allow(struct ratelimit *rl, uint64_t now_ms)
{
    uint64_t now, cap = (uint64_t)rl->burst * rl->interval_us;
    uint64_t full_at = ratelimit_full_at(rl, now_ms, &now);

    rl->full_at_us = full_at;
    if (full_at + rl->interval_us - now > cap)
        return 0;
    rl->full_at_us = full_at + rl->interval_us;
    return 1;
}

uint64_t ratelimit_wait_ms(const struct ratelimit *rl, uint64_t now_ms)
{
    uint64_t now, cap = (uint64_t)rl->burst * rl->interval_us;
    uint64_t full_at = ratelimit_full_at(rl, now_ms, &now);
    uint64_t wait_us;

    if (full_at + rl->interval_us - now <= cap)
        return 0;
    /* Allowed from t = full_at + interval - cap on. */
    wait_us = full_at + rl->interval_us - cap - now;
    return (wait_us + 999) / 1000;
}

int ratelimit_full(const struct ratelimit *rl, uint64_t now_ms)
{
    uint64_t now = (now_ms > RATELIMIT_NOW_MS_MAX ? RATELIMIT_NOW_MS_MAX : now_ms) * 1000;

    return rl->full_at_us <= now;
}
