/* stats.c: counters and fixed-bucket latency histograms for the load generator. */
#include "stats.h"

#include <string.h>

void stats_init(struct stats *s)
{
    memset(s, 0, sizeof(*s));
}

/* Returns the bucket that holds a sample of ms (>= 0). */
static unsigned bucket_of(double ms)
{
    if (ms < STATS_FINE_MS)
        return (unsigned)ms;
    if (ms < STATS_COARSE_MS)
        return STATS_FINE_MS + (unsigned)((ms - STATS_FINE_MS) / 100.0);
    return STATS_BUCKETS - 1;
}

/* Returns the upper edge in ms of bucket b. */
static double bucket_edge(unsigned b)
{
    if (b < STATS_FINE_MS)
        return b + 1.0;
    if (b < STATS_BUCKETS - 1)
        return STATS_FINE_MS + (b - STATS_FINE_MS + 1) * 100.0;
    return STATS_COARSE_MS; /* overflow: at least this much */
}

static void histogram_add(struct stats_histogram *h, double ms)
{
    h->buckets[bucket_of(ms)]++;
    h->count++;
    if (ms > h->max_ms)
        h->max_ms = ms;
}

void stats_latency(struct stats *s, double ms)
{
    if (!(ms > 0))
        ms = 0; /* also NaN */
    histogram_add(&s->period_latency, ms);
}

double stats_percentile(const struct stats_histogram *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (unsigned b = 0; b < STATS_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen > rank)
            return bucket_edge(b);
    }
    return bucket_edge(STATS_BUCKETS - 1);
}

static void counts_add(struct stats_counts *to, const struct stats_counts *from)
{
    to->updates += from->updates;
    to->pushes += from->pushes;
    to->friends += from->friends;
    to->gones += from->gones;
    to->nearbys += from->nearbys;
    to->reconnects += from->reconnects;
    to->errors += from->errors;
    to->check_failures += from->check_failures;
    to->rate_limited += from->rate_limited;
    to->skipped += from->skipped;
    to->lost += from->lost;
    to->dups += from->dups;
}

void stats_period_end(struct stats *s)
{
    struct stats_histogram *p = &s->period_latency, *t = &s->total_latency;

    counts_add(&s->total, &s->period);
    memset(&s->period, 0, sizeof(s->period));
    for (unsigned b = 0; b < STATS_BUCKETS; b++)
        t->buckets[b] += p->buckets[b];
    t->count += p->count;
    if (p->max_ms > t->max_ms)
        t->max_ms = p->max_ms;
    memset(p, 0, sizeof(*p));
}
