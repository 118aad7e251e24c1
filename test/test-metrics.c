/* test-metrics.c: unit tests for gateway/metrics: golden render, cumulative buckets, escaping, refusals. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "metrics.h"

/* Renders m and compares with want; prints both on a mismatch. */
#define CHECK_RENDER(m, want)                                                          \
    do {                                                                               \
        char *got_ = render(m);                                                        \
        if (got_ == NULL || strcmp(got_, (want)) != 0) {                               \
            fprintf(stderr, "%s:%d: render mismatch\n--- got\n%s--- want\n%s---\n",     \
                    __FILE__, __LINE__, got_ ? got_ : "(null)", (want));               \
            check_failed();                                                            \
        }                                                                              \
        free(got_);                                                                    \
    } while (0)

/* Returns the rendered text as a NUL-terminated malloc'd string, or NULL. */
static char *render(const struct metrics *m)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = NULL;
    size_t len;

    if (buf == NULL)
        return NULL;
    if (metrics_render(m, buf) == 0) {
        len = evbuffer_get_length(buf);
        text = malloc(len + 1);
        if (text != NULL) {
            evbuffer_copyout(buf, text, len);
            text[len] = '\0';
        }
    }
    evbuffer_free(buf);
    return text;
}

static void test_golden(void)
{
    struct metrics *m = metrics_new();
    struct metrics_counter *updates, *pub_r3, *pub_r3_again;
    struct metrics_gauge *sessions, *conn_r1, *conn_odd;
    struct metrics_histogram *latency, *lat_r3;
    struct metrics_family *conn, *pub, *idle, *lat_by_node;
    static const double small_bounds[] = { 0.25, 1.5 };

    CHECK(m != NULL);
    CHECK(metrics_counter_new(m, "nearby_updates_total", "Location updates accepted.",
                              &updates) == 0);
    CHECK(metrics_gauge_new(m, "nearby_sessions", "Open sessions.\nWebSocket \\ only.",
                            &sessions) == 0);
    CHECK(metrics_gauge_family_new(m, "nearby_pubsub_connected", "1 if the node's link is up.",
                                   "node", 4, &conn) == 0);
    CHECK(metrics_counter_family_new(m, "nearby_publishes_total", "PUBLISH commands sent.",
                                     "node", 2, &pub) == 0);
    CHECK(metrics_counter_family_new(m, "nearby_idle_total", "Nothing yet.", "node", 2,
                                     &idle) == 0);
    CHECK(metrics_histogram_new(m, "nearby_push_latency_seconds", "Publish to push, seconds.",
                                metrics_latency_seconds_bounds, METRICS_LATENCY_BOUNDS_N,
                                &latency) == 0);
    CHECK(metrics_histogram_family_new(m, "nearby_rtt_seconds", "Redis round trip.", "node", 1,
                                       small_bounds, 2, &lat_by_node) == 0);

    metrics_counter_inc(updates);
    metrics_counter_inc(updates);
    metrics_counter_add(updates, 5);
    metrics_gauge_set(sessions, 12);
    metrics_gauge_add(sessions, -2);
    CHECK(metrics_gauge_with(conn, "r1", &conn_r1) == 0);
    CHECK(metrics_gauge_with(conn, "a\"b\\c\nd", &conn_odd) == 0);
    metrics_gauge_set(conn_r1, 1);
    metrics_gauge_set(conn_odd, 0.1);
    CHECK(metrics_counter_with(pub, "r3", &pub_r3) == 0);
    CHECK(metrics_counter_with(pub, "r3", &pub_r3_again) == 0 && pub_r3_again == pub_r3);
    metrics_counter_add(pub_r3, 18446744073709551615u);
    /* Edges land in their own bucket (le is "<="), past the last in +Inf. */
    metrics_histogram_observe(latency, 0.0005);
    metrics_histogram_observe(latency, 0.001);
    metrics_histogram_observe(latency, 0.003);
    metrics_histogram_observe(latency, 0.00725);
    metrics_histogram_observe(latency, 5);
    metrics_histogram_observe(latency, 6);
    metrics_histogram_observe(latency, NAN);
    CHECK(metrics_histogram_with(lat_by_node, "r3", &lat_r3) == 0);
    metrics_histogram_observe(lat_r3, 0.125);
    metrics_histogram_observe(lat_r3, 2);

    CHECK(metrics_counter_value(updates) == 7);
    CHECK(metrics_gauge_value(sessions) == 10);
    CHECK(metrics_histogram_count(latency) == 6);

    CHECK_RENDER(m,
        "# HELP nearby_updates_total Location updates accepted.\n"
        "# TYPE nearby_updates_total counter\n"
        "nearby_updates_total 7\n"
        "# HELP nearby_sessions Open sessions.\\nWebSocket \\\\ only.\n"
        "# TYPE nearby_sessions gauge\n"
        "nearby_sessions 10\n"
        "# HELP nearby_pubsub_connected 1 if the node's link is up.\n"
        "# TYPE nearby_pubsub_connected gauge\n"
        "nearby_pubsub_connected{node=\"r1\"} 1\n"
        "nearby_pubsub_connected{node=\"a\\\"b\\\\c\\nd\"} 0.1\n"
        "# HELP nearby_publishes_total PUBLISH commands sent.\n"
        "# TYPE nearby_publishes_total counter\n"
        "nearby_publishes_total{node=\"r3\"} 18446744073709551615\n"
        "# HELP nearby_idle_total Nothing yet.\n"
        "# TYPE nearby_idle_total counter\n"
        "# HELP nearby_push_latency_seconds Publish to push, seconds.\n"
        "# TYPE nearby_push_latency_seconds histogram\n"
        "nearby_push_latency_seconds_bucket{le=\"0.001\"} 2\n"
        "nearby_push_latency_seconds_bucket{le=\"0.002\"} 2\n"
        "nearby_push_latency_seconds_bucket{le=\"0.005\"} 3\n"
        "nearby_push_latency_seconds_bucket{le=\"0.01\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"0.025\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"0.05\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"0.1\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"0.25\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"0.5\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"1\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"2.5\"} 4\n"
        "nearby_push_latency_seconds_bucket{le=\"5\"} 5\n"
        "nearby_push_latency_seconds_bucket{le=\"+Inf\"} 6\n"
        "nearby_push_latency_seconds_sum 11.01175\n"
        "nearby_push_latency_seconds_count 6\n"
        "# HELP nearby_rtt_seconds Redis round trip.\n"
        "# TYPE nearby_rtt_seconds histogram\n"
        "nearby_rtt_seconds_bucket{node=\"r3\",le=\"0.25\"} 1\n"
        "nearby_rtt_seconds_bucket{node=\"r3\",le=\"1.5\"} 1\n"
        "nearby_rtt_seconds_bucket{node=\"r3\",le=\"+Inf\"} 2\n"
        "nearby_rtt_seconds_sum{node=\"r3\"} 2.125\n"
        "nearby_rtt_seconds_count{node=\"r3\"} 2\n");
    metrics_free(m);
}

/* Many observations: every bucket line is the count of values <= its bound. */
static void test_cumulative(void)
{
    struct metrics *m = metrics_new();
    struct metrics_histogram *h;
    uint64_t below[METRICS_LATENCY_BOUNDS_N + 1] = { 0 };
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    char *text, *line;

    CHECK(metrics_histogram_new(m, "nearby_h", "h", metrics_latency_seconds_bounds,
                                METRICS_LATENCY_BOUNDS_N, &h) == 0);
    for (int i = 0; i < 100000; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        double v = (double)(rng % 8000000) / 1e6; /* 0 .. 8 s */
        metrics_histogram_observe(h, v);
        for (size_t b = 0; b < METRICS_LATENCY_BOUNDS_N; b++)
            below[b] += v <= metrics_latency_seconds_bounds[b];
        below[METRICS_LATENCY_BOUNDS_N]++;
    }
    text = render(m);
    CHECK(text != NULL);
    line = text ? strstr(text, "nearby_h_bucket") : NULL;
    for (size_t b = 0; b <= METRICS_LATENCY_BOUNDS_N && line != NULL; b++) {
        unsigned long long got;
        CHECK(sscanf(strchr(line, '}') + 1, " %llu", &got) == 1);
        CHECK(got == below[b]);
        line = strstr(line + 1, "nearby_h_bucket");
    }
    CHECK(metrics_histogram_count(h) == 100000);
    free(text);
    metrics_free(m);
}

static void test_numbers(void)
{
    struct metrics *m = metrics_new();
    struct metrics_gauge *g;

    CHECK(metrics_gauge_new(m, "nearby_g", "g", &g) == 0);
    metrics_gauge_set(g, 1.0 / 3);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g 0.33333333333333331\n");
    metrics_gauge_set(g, -1e300);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g -1e+300\n");
    metrics_gauge_set(g, INFINITY);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g +Inf\n");
    metrics_gauge_set(g, -INFINITY);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g -Inf\n");
    metrics_gauge_set(g, NAN);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g NaN\n");
    metrics_gauge_set(g, 0);
    CHECK_RENDER(m, "# HELP nearby_g g\n# TYPE nearby_g gauge\nnearby_g 0\n");
    metrics_free(m);
}

static void test_refusals(void)
{
    struct metrics *m = metrics_new();
    struct metrics_counter *c = (struct metrics_counter *)&c, *sentinel = c;
    struct metrics_histogram *h = (struct metrics_histogram *)&h, *hsentinel = h;
    struct metrics_family *f = (struct metrics_family *)&f, *fsentinel = f, *fam, *gfam;
    struct metrics_gauge *g;
    static const double down[] = { 1, 1 }, with_nan[] = { 1, NAN };
    double many[METRICS_BOUNDS_MAX + 1];

    for (size_t i = 0; i <= METRICS_BOUNDS_MAX; i++)
        many[i] = (double)i;
    CHECK(metrics_counter_new(m, "updates_total", "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, "nearby_", "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, "nearby_bad-name", "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, "nearby_a b", "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, "", "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, NULL, "x", &c) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_new(m, "nearby_x", NULL, &c) == METRICS_ERR_INVALID);
    c = sentinel;
    CHECK(metrics_counter_new(m, "nearby_ok:rate1m", "x", &c) == 0 && c != sentinel);
    c = sentinel;
    CHECK(metrics_gauge_new(m, "nearby_ok:rate1m", "x", &g) == METRICS_ERR_EXISTS);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", "bad-label", 2, &f) ==
          METRICS_ERR_INVALID);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", "__reserved", 2, &f) ==
          METRICS_ERR_INVALID);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", "a:b", 2, &f) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", NULL, 2, &f) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", "node", 0, &f) == METRICS_ERR_INVALID);
    CHECK(metrics_counter_family_new(m, "nearby_l", "x", "node", METRICS_SERIES_MAX + 1, &f) ==
          METRICS_ERR_INVALID);
    CHECK(metrics_histogram_family_new(m, "nearby_l", "x", "le", 2, down + 1, 1, &f) ==
          METRICS_ERR_INVALID);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", down, 2, &h) == METRICS_ERR_INVALID);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", with_nan, 2, &h) == METRICS_ERR_INVALID);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", down, 0, &h) == METRICS_ERR_INVALID);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", NULL, 1, &h) == METRICS_ERR_INVALID);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", many, METRICS_BOUNDS_MAX + 1, &h) ==
          METRICS_ERR_INVALID);
    CHECK(c == sentinel && h == hsentinel && f == fsentinel);
    CHECK(metrics_histogram_new(m, "nearby_h", "x", many, METRICS_BOUNDS_MAX, &h) == 0);

    /* A family is full at max_series values; an existing value still works. */
    CHECK(metrics_counter_family_new(m, "nearby_f", "x", "node", 2, &fam) == 0);
    CHECK(metrics_gauge_family_new(m, "nearby_gf", "x", "node", 2, &gfam) == 0);
    CHECK(metrics_counter_with(fam, "a", &c) == 0);
    CHECK(metrics_counter_with(fam, "b", &c) == 0);
    c = sentinel;
    CHECK(metrics_counter_with(fam, "c", &c) == METRICS_ERR_FULL && c == sentinel);
    CHECK(metrics_counter_with(fam, NULL, &c) == METRICS_ERR_INVALID);
    CHECK(metrics_gauge_with(fam, "a", &g) == METRICS_ERR_TYPE);
    CHECK(metrics_histogram_with(gfam, "a", &h) == METRICS_ERR_TYPE);
    CHECK(metrics_counter_with(fam, "a", &c) == 0 && c != sentinel);
    CHECK(strcmp(metrics_strerror(METRICS_ERR_FULL), "no room for another label value") == 0);
    metrics_free(m);
    metrics_free(NULL);
}

int main(void)
{
    test_golden();
    test_cumulative();
    test_numbers();
    test_refusals();
    if (failures) {
        fprintf(stderr, "test-metrics: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
