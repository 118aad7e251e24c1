/* metrics.h: a small registry of counters, gauges and histograms rendered in the Prometheus text format.
 *
 * Everything is registered at start-up (allocation happens there and only
 * there); the hot path then holds a handle and updates it with no allocation,
 * no lock and no lookup. No locking at all: the registry, its updates and its
 * rendering all belong to the one loop thread that owns them. A gateway
 * thread that is not the loop must not touch it.
 *
 * A family is one metric name with its HELP text and TYPE. Without a label it
 * has exactly one series, returned at registration. With a label (one label
 * name, e.g. "node") it has room for a fixed number of series, created with
 * metrics_*_with() as label values appear (a ring node, say) and kept for the
 * registry's life. Names must start with "nearby_" and go on after it.
 *
 * Counters count up in uint64; gauges hold a double; histograms have fixed
 * upper bounds (le) plus +Inf, a double sum and a count. Rendering, in
 * registration order, to an evbuffer:
 *
 *   # HELP nearby_pushes_total Pushes sent to phones.
 *   # TYPE nearby_pushes_total counter
 *   nearby_pushes_total{node="r3"} 17
 *
 * Ownership: struct metrics owns its families and series. Handles are
 * borrowed pointers into it, valid until metrics_free(). Functions returning
 * int give 0 or a negative METRICS_ERR_*; out-parameters are written only on
 * success.
 */
#ifndef NEARBY_METRICS_H
#define NEARBY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define METRICS_NAME_MAX 127
#define METRICS_BOUNDS_MAX 32     /* histogram buckets, +Inf not counted */
#define METRICS_SERIES_MAX 4096   /* label values per family */

enum metrics_err {
    METRICS_OK = 0,
    METRICS_ERR_NOMEM = -1,
    METRICS_ERR_INVALID = -2, /* bad name, label name, help, bounds or size */
    METRICS_ERR_EXISTS = -3,  /* a family of that name is already registered */
    METRICS_ERR_FULL = -4,    /* a labelled family has no room for a new value */
    METRICS_ERR_TYPE = -5,    /* the family is of another type or label-ness */
};

struct metrics;
struct metrics_family;
struct metrics_counter;
struct metrics_gauge;
struct metrics_histogram;

/* Upper bounds in seconds (Prometheus's base unit) for publish-to-push
 * latency: 0.001 0.002 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 (+Inf is
 * implied). */
extern const double metrics_latency_seconds_bounds[];
#define METRICS_LATENCY_BOUNDS_N 12

/* Returns a static, readable description of a METRICS_ERR_* value. */
const char *metrics_strerror(int err);

/* Returns a new, empty registry, or NULL when out of memory. */
struct metrics *metrics_new(void);

/* Frees the registry and every handle in it; NULL is a no-op. */
void metrics_free(struct metrics *m);

/* Register an unlabelled family and return its one series in *out.
 * name: [a-zA-Z_:][a-zA-Z0-9_:]*, starting "nearby_", at most
 * METRICS_NAME_MAX bytes; help: any text, one line is rendered (backslash and
 * newline escaped). Both are copied. Histogram bounds must be finite and
 * strictly increasing, 1..METRICS_BOUNDS_MAX of them; they are copied.
 * Return 0, METRICS_ERR_INVALID, METRICS_ERR_EXISTS or METRICS_ERR_NOMEM. */
int metrics_counter_new(struct metrics *m, const char *name, const char *help,
                        struct metrics_counter **out);
int metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                      struct metrics_gauge **out);
int metrics_histogram_new(struct metrics *m, const char *name, const char *help,
                          const double *bounds, size_t n_bounds,
                          struct metrics_histogram **out);

/* Register a family with one label of the given name ([a-zA-Z_][a-zA-Z0-9_]*,
 * not starting "__", not "le" for a histogram) and room for max_series label
 * values (1..METRICS_SERIES_MAX); all its memory is taken here. Returns the
 * family in *out; same errors as above. */
int metrics_counter_family_new(struct metrics *m, const char *name, const char *help,
                               const char *label, size_t max_series,
                               struct metrics_family **out);
int metrics_gauge_family_new(struct metrics *m, const char *name, const char *help,
                             const char *label, size_t max_series,
                             struct metrics_family **out);
int metrics_histogram_family_new(struct metrics *m, const char *name, const char *help,
                                 const char *label, size_t max_series,
                                 const double *bounds, size_t n_bounds,
                                 struct metrics_family **out);

/* Return in *out the series of a labelled family for label value `value`
 * (any UTF-8; escaped when rendered), creating it at zero the first time:
 * the value is copied then, so this allocates only for a new value; call it
 * when the value appears (a node joins) and keep the handle. Returns 0,
 * METRICS_ERR_TYPE (family of another type), METRICS_ERR_FULL (max_series
 * values exist already) or METRICS_ERR_NOMEM. */
int metrics_counter_with(struct metrics_family *f, const char *value,
                         struct metrics_counter **out);
int metrics_gauge_with(struct metrics_family *f, const char *value,
                       struct metrics_gauge **out);
int metrics_histogram_with(struct metrics_family *f, const char *value,
                           struct metrics_histogram **out);

/* Hot-path updates: no allocation, no lock, cannot fail. */
void metrics_counter_add(struct metrics_counter *c, uint64_t n);
void metrics_counter_inc(struct metrics_counter *c);
void metrics_gauge_set(struct metrics_gauge *g, double v);
void metrics_gauge_add(struct metrics_gauge *g, double delta);
/* Counts v in the first bucket whose bound is >= v (+Inf past the last) and
 * adds it to the sum. A NaN is dropped, so that one bad sample cannot turn
 * the sum into NaN for the life of the process. */
void metrics_histogram_observe(struct metrics_histogram *h, double v);

/* Readers, for tests and /healthz. */
uint64_t metrics_counter_value(const struct metrics_counter *c);
double metrics_gauge_value(const struct metrics_gauge *g);
uint64_t metrics_histogram_count(const struct metrics_histogram *h);

/* Appends the whole registry in the Prometheus text exposition format
 * (version 0.0.4) to out. Returns 0, or METRICS_ERR_NOMEM if the evbuffer
 * could not grow (out may then hold part of the text). */
int metrics_render(const struct metrics *m, struct evbuffer *out);

#endif
