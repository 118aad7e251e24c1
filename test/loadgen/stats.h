/* stats.h: the load generator's counters and latency histograms, per report period and for the whole run.
 *
 * Counters are plain integers bumped from the one event-loop thread. Latency
 * is kept in a fixed histogram (1 ms buckets to 2 s, 100 ms buckets to 60 s,
 * one overflow bucket), so recording allocates nothing and a percentile is
 * exact to its bucket's width. stats_period_end() folds the period into the
 * run totals and starts a new period.
 */
#ifndef NEARBY_LOADGEN_STATS_H
#define NEARBY_LOADGEN_STATS_H

#include <stdint.h>

#define STATS_FINE_MS 2000    /* 1 ms buckets below this */
#define STATS_COARSE_MS 60000 /* 100 ms buckets below this, then one overflow */
#define STATS_BUCKETS (STATS_FINE_MS + (STATS_COARSE_MS - STATS_FINE_MS) / 100 + 1)

struct stats_histogram {
    uint64_t count;
    double max_ms;
    uint32_t buckets[STATS_BUCKETS];
};

/* The counters of one period or of the whole run. */
struct stats_counts {
    uint64_t updates;        /* loc frames sent */
    uint64_t pushes;         /* friend + gone frames received */
    uint64_t friends;        /* friend frames received */
    uint64_t gones;          /* gone frames received */
    uint64_t nearbys;        /* nearby frames received */
    uint64_t reconnects;     /* connections re-established after a close or drop */
    uint64_t errors;         /* failed connects, handshakes, late nearbys, unexpected err frames */
    uint64_t check_failures; /* protocol or privacy checks that failed */
    uint64_t rate_limited;   /* err frames with code rate_limited */
    uint64_t skipped;        /* loc frames not sent because the socket was backed up */
    uint64_t lost;           /* updates of a shown friend that its receiver skipped */
    uint64_t dups;           /* friend frames whose ts was not newer than the one shown */
};

struct stats {
    struct stats_counts period;
    struct stats_counts total;
    struct stats_histogram period_latency;
    struct stats_histogram total_latency;
    uint32_t sessions; /* phones whose connection is up and got its nearby, now */
};

/* Zeroes everything. */
void stats_init(struct stats *s);

/* Records one latency sample in ms (negative values count as 0). */
void stats_latency(struct stats *s, double ms);

/* Returns the latency at quantile q (0..1) of h in ms: the upper edge of the
 * bucket that holds it, or 0 when h holds no sample. */
double stats_percentile(const struct stats_histogram *h, double q);

/* Adds the period's counts and latencies to the totals and zeroes the period. */
void stats_period_end(struct stats *s);

#endif
