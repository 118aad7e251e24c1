/* test-stats.c: the load generator's latency histogram: bucket edges, percentiles, period folding. */
#include "../test-util.h"

#include "stats.h"

int main(void)
{
    static struct stats s; /* large: not on the stack */

    stats_init(&s);
    CHECK(stats_percentile(&s.period_latency, 0.5) == 0); /* no samples */
    for (int i = 0; i < 100; i++)
        stats_latency(&s, i + 0.5); /* 0.5 .. 99.5 ms: one per 1 ms bucket */
    CHECK(stats_percentile(&s.period_latency, 0.50) == 51);
    CHECK(stats_percentile(&s.period_latency, 0.99) == 100);
    CHECK(stats_percentile(&s.period_latency, 1.0) == 100);
    stats_latency(&s, -3);        /* a clock step: counts as 0 */
    stats_latency(&s, 2050);      /* coarse bucket 2000..2100 */
    stats_latency(&s, 1e9);       /* overflow */
    CHECK_EQ(s.period_latency.count, 103);
    CHECK(stats_percentile(&s.period_latency, 1.0) == STATS_COARSE_MS);
    CHECK(s.period_latency.max_ms == 1e9);
    s.period.updates = 5;
    stats_period_end(&s);
    CHECK_EQ(s.period.updates, 0);
    CHECK_EQ(s.total.updates, 5);
    CHECK_EQ(s.period_latency.count, 0);
    CHECK_EQ(s.total_latency.count, 103);
    stats_latency(&s, 2050);
    stats_period_end(&s);
    CHECK(stats_percentile(&s.total_latency, 0.99) == 2100);
    return 0;
}
