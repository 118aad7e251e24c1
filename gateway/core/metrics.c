/* metrics.c: metric families, their series, hot-path updates and Prometheus text rendering. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"

enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
};

struct metrics_counter {
    uint64_t value;
};

struct metrics_gauge {
    double value;
};

struct metrics_histogram {
    const double *bounds;  /* ref: owned by the family */
    size_t n_bounds;
    uint64_t *buckets;     /* ref: a slice of the family's store; n_bounds + 1
                            * per-bucket (not cumulative) counts, +Inf last */
    double sum;
    uint64_t count;
};

struct metrics_series {
    char *value; /* label value; NULL in an unlabelled family */
    union {
        struct metrics_counter counter;
        struct metrics_gauge gauge;
        struct metrics_histogram histogram;
    } u;
};

struct metrics_family {
    enum metrics_type type;
    char *name;
    char *help;
    char *label;          /* NULL: one unlabelled series */
    struct metrics_series *series;
    size_t n_series;
    size_t max_series;
    double *bounds;       /* histograms only */
    size_t n_bounds;
    uint64_t *bucket_store;
};

struct metrics {
    struct metrics_family **families;
    size_t n_families;
    size_t cap_families;
};

const double metrics_latency_seconds_bounds[METRICS_LATENCY_BOUNDS_N] = {
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

const char *metrics_strerror(int err)
{
    switch (err) {
    case METRICS_OK: return "success";
    case METRICS_ERR_NOMEM: return "out of memory";
    case METRICS_ERR_INVALID: return "invalid metric name, label, help or buckets";
    case METRICS_ERR_EXISTS: return "metric already registered";
    case METRICS_ERR_FULL: return "no room for another label value";
    case METRICS_ERR_TYPE: return "metric is of another type";
    default: return "unknown error";
    }
}

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void family_free(struct metrics_family *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_series; i++)
        free(f->series[i].value);
    free(f->series);
    free(f->bucket_store);
    free(f->bounds);
    free(f->label);
    free(f->help);
    free(f->name);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_families; i++)
        family_free(m->families[i]);
    free(m->families);
    free(m);
}

static int name_char(char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return 1;
    if (c == ':' && colon)
        return 1;
    return !first && c >= '0' && c <= '9';
}

/* Metric names may hold colons (recording rules use them); label names not. */
static int name_valid(const char *s, int colon)
{
    if (s == NULL || *s == '\0' || strlen(s) > METRICS_NAME_MAX)
        return 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (!name_char(s[i], i == 0, colon))
            return 0;
    }
    return 1;
}

static int bounds_valid(const double *bounds, size_t n)
{
    if (bounds == NULL || n == 0 || n > METRICS_BOUNDS_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return 0;
    }
    return 1;
}

static struct metrics_family *metrics_find(const struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n_families; i++) {
        if (strcmp(m->families[i]->name, name) == 0)
            return m->families[i];
    }
    return NULL;
}

/* Makes series i of f exist with label value `value` (copied; NULL for the
 * unlabelled series). Returns 0 or METRICS_ERR_NOMEM. */
static int series_init(struct metrics_family *f, size_t i, const char *value)
{
    struct metrics_series *s = &f->series[i];

    memset(s, 0, sizeof *s);
    if (value != NULL && (s->value = strdup(value)) == NULL)
        return METRICS_ERR_NOMEM;
    if (f->type == METRICS_HISTOGRAM) {
        s->u.histogram.bounds = f->bounds;
        s->u.histogram.n_bounds = f->n_bounds;
        s->u.histogram.buckets = f->bucket_store + i * (f->n_bounds + 1);
    }
    return METRICS_OK;
}

/* Validates and registers a family, taking all of its memory now. For an
 * unlabelled family (label NULL) its one series is created too. Returns 0
 * and the family in *out, or an error with nothing registered. */
static int family_add(struct metrics *m, enum metrics_type type, const char *name,
                      const char *help, const char *label, size_t max_series,
                      const double *bounds, size_t n_bounds, struct metrics_family **out)
{
    struct metrics_family *f = NULL;
    int err = METRICS_ERR_INVALID;

    if (m == NULL || help == NULL || !name_valid(name, 1) ||
        strncmp(name, "nearby_", 7) != 0 || name[7] == '\0')
        goto fail;
    if (label != NULL && (!name_valid(label, 0) || strncmp(label, "__", 2) == 0 ||
                          (type == METRICS_HISTOGRAM && strcmp(label, "le") == 0) ||
                          max_series == 0 || max_series > METRICS_SERIES_MAX))
        goto fail;
    if (type == METRICS_HISTOGRAM && !bounds_valid(bounds, n_bounds))
        goto fail;
    err = METRICS_ERR_EXISTS;
    if (metrics_find(m, name) != NULL)
        goto fail;

    err = METRICS_ERR_NOMEM;
    if (m->n_families == m->cap_families) {
        size_t cap = m->cap_families ? m->cap_families * 2 : 16;
        struct metrics_family **grown = realloc(m->families, cap * sizeof *grown);
        if (grown == NULL)
            goto fail;
        m->families = grown;
        m->cap_families = cap;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL)
        goto fail;
    f->type = type;
    f->max_series = label != NULL ? max_series : 1;
    f->name = strdup(name);
    f->help = strdup(help);
    f->label = label != NULL ? strdup(label) : NULL;
    f->series = calloc(f->max_series, sizeof *f->series);
    if (f->name == NULL || f->help == NULL || (label != NULL && f->label == NULL) ||
        f->series == NULL)
        goto fail;
    if (type == METRICS_HISTOGRAM) {
        f->n_bounds = n_bounds;
        f->bounds = malloc(n_bounds * sizeof *f->bounds);
        f->bucket_store = calloc(f->max_series * (n_bounds + 1), sizeof *f->bucket_store);
        if (f->bounds == NULL || f->bucket_store == NULL)
            goto fail;
        memcpy(f->bounds, bounds, n_bounds * sizeof *f->bounds);
    }
    if (label == NULL) {
        if (series_init(f, 0, NULL) != 0)
            goto fail;
        f->n_series = 1;
    }
    m->families[m->n_families++] = f;
    *out = f;
    return METRICS_OK;

fail:
    family_free(f);
    return err;
}

int metrics_counter_new(struct metrics *m, const char *name, const char *help,
                        struct metrics_counter **out)
{
    struct metrics_family *f;
    int err = family_add(m, METRICS_COUNTER, name, help, NULL, 1, NULL, 0, &f);

    if (err == 0)
        *out = &f->series[0].u.counter;
    return err;
}

int metrics_gauge_new(struct metrics *m, const char *name, const char *help,
                      struct metrics_gauge **out)
{
    struct metrics_family *f;
    int err = family_add(m, METRICS_GAUGE, name, help, NULL, 1, NULL, 0, &f);

    if (err == 0)
        *out = &f->series[0].u.gauge;
    return err;
}

int metrics_histogram_new(struct metrics *m, const char *name, const char *help,
                          const double *bounds, size_t n_bounds,
                          struct metrics_histogram **out)
{
    struct metrics_family *f;
    int err = family_add(m, METRICS_HISTOGRAM, name, help, NULL, 1, bounds, n_bounds, &f);

    if (err == 0)
        *out = &f->series[0].u.histogram;
    return err;
}

int metrics_counter_family_new(struct metrics *m, const char *name, const char *help,
                               const char *label, size_t max_series,
                               struct metrics_family **out)
{
    if (label == NULL)
        return METRICS_ERR_INVALID;
    return family_add(m, METRICS_COUNTER, name, help, label, max_series, NULL, 0, out);
}

int metrics_gauge_family_new(struct metrics *m, const char *name, const char *help,
                             const char *label, size_t max_series,
                             struct metrics_family **out)
{
    if (label == NULL)
        return METRICS_ERR_INVALID;
    return family_add(m, METRICS_GAUGE, name, help, label, max_series, NULL, 0, out);
}

int metrics_histogram_family_new(struct metrics *m, const char *name, const char *help,
                                 const char *label, size_t max_series,
                                 const double *bounds, size_t n_bounds,
                                 struct metrics_family **out)
{
    if (label == NULL)
        return METRICS_ERR_INVALID;
    return family_add(m, METRICS_HISTOGRAM, name, help, label, max_series, bounds,
                      n_bounds, out);
}

/* Finds or creates the series of labelled family f for value. Returns 0 and
 * the series in *out, or METRICS_ERR_TYPE / _INVALID / _FULL / _NOMEM. */
static int family_with(struct metrics_family *f, enum metrics_type type, const char *value,
                       struct metrics_series **out)
{
    int err;

    if (f == NULL || f->type != type || f->label == NULL)
        return METRICS_ERR_TYPE;
    if (value == NULL)
        return METRICS_ERR_INVALID;
    for (size_t i = 0; i < f->n_series; i++) {
        if (strcmp(f->series[i].value, value) == 0) {
            *out = &f->series[i];
            return METRICS_OK;
        }
    }
    if (f->n_series == f->max_series)
        return METRICS_ERR_FULL;
    err = series_init(f, f->n_series, value);
    if (err != 0)
        return err;
    *out = &f->series[f->n_series++];
    return METRICS_OK;
}

int metrics_counter_with(struct metrics_family *f, const char *value,
                         struct metrics_counter **out)
{
    struct metrics_series *s;
    int err = family_with(f, METRICS_COUNTER, value, &s);

    if (err == 0)
        *out = &s->u.counter;
    return err;
}

int metrics_gauge_with(struct metrics_family *f, const char *value,
                       struct metrics_gauge **out)
{
    struct metrics_series *s;
    int err = family_with(f, METRICS_GAUGE, value, &s);

    if (err == 0)
        *out = &s->u.gauge;
    return err;
}

int metrics_histogram_with(struct metrics_family *f, const char *value,
                           struct metrics_histogram **out)
{
    struct metrics_series *s;
    int err = family_with(f, METRICS_HISTOGRAM, value, &s);

    if (err == 0)
        *out = &s->u.histogram;
    return err;
}

void metrics_counter_add(struct metrics_counter *c, uint64_t n)
{
    c->value += n;
}

void metrics_counter_inc(struct metrics_counter *c)
{
    c->value++;
}

void metrics_gauge_set(struct metrics_gauge *g, double v)
{
    g->value = v;
}

void metrics_gauge_add(struct metrics_gauge *g, double delta)
{
    g->value += delta;
}

/* A linear scan: with a dozen bounds and latencies mostly in the first few
 * buckets it beats a binary search's unpredictable branches. */
void metrics_histogram_observe(struct metrics_histogram *h, double v)
{
    size_t i = 0;

    if (isnan(v))
        return;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->sum += v;
    h->count++;
}

uint64_t metrics_counter_value(const struct metrics_counter *c)
{
    return c->value;
}

double metrics_gauge_value(const struct metrics_gauge *g)
{
    return g->value;
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
    return h->count;
}

/* ---------------------------------------------------------------- rendering */

/* Writes v as Prometheus reads it (Go's ParseFloat): the shortest of %.15g
 * and %.17g that reads back exactly, or +Inf, -Inf, NaN. Assumes the "C"
 * numeric locale, which the daemon never changes. */
static void format_double(char buf[32], double v)
{
    if (isnan(v)) {
        strcpy(buf, "NaN");
    } else if (isinf(v)) {
        strcpy(buf, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, 32, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, 32, "%.17g", v);
    }
}

/* Appends s with the escapes the format wants: backslash and newline always,
 * the double quote too inside a label value. Returns 0 or -1. */
static int add_escaped(struct evbuffer *out, const char *s, int quote)
{
    const char *run = s;

    for (; *s != '\0'; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (esc == NULL)
            continue;
        if (evbuffer_add(out, run, (size_t)(s - run)) != 0 ||
            evbuffer_add(out, esc, 2) != 0)
            return -1;
        run = s + 1;
    }
    return evbuffer_add(out, run, (size_t)(s - run));
}

/* Appends `name[suffix]{label="value",le="le"} ` (each part only when
 * given) up to the space before the sample value. Returns 0 or -1. */
static int add_series_name(struct evbuffer *out, const struct metrics_family *f,
                           const char *suffix, const struct metrics_series *s,
                           const char *le)
{
    int sep = 0;

    if (evbuffer_add_printf(out, "%s%s", f->name, suffix) < 0)
        return -1;
    if (s->value == NULL && le == NULL)
        return evbuffer_add(out, " ", 1);
    if (evbuffer_add(out, "{", 1) != 0)
        return -1;
    if (s->value != NULL) {
        if (evbuffer_add_printf(out, "%s=\"", f->label) < 0 ||
            add_escaped(out, s->value, 1) != 0 || evbuffer_add(out, "\"", 1) != 0)
            return -1;
        sep = 1;
    }
    if (le != NULL && evbuffer_add_printf(out, "%sle=\"%s\"", sep ? "," : "", le) < 0)
        return -1;
    return evbuffer_add(out, "} ", 2);
}

static int render_histogram(struct evbuffer *out, const struct metrics_family *f,
                            const struct metrics_series *s)
{
    const struct metrics_histogram *h = &s->u.histogram;
    uint64_t cumulative = 0;
    char num[32];

    for (size_t i = 0; i <= h->n_bounds; i++) {
        cumulative += h->buckets[i];
        if (i < h->n_bounds)
            format_double(num, h->bounds[i]);
        else
            strcpy(num, "+Inf");
        if (add_series_name(out, f, "_bucket", s, num) != 0 ||
            evbuffer_add_printf(out, "%" PRIu64 "\n", cumulative) < 0)
            return -1;
    }
    format_double(num, h->sum);
    if (add_series_name(out, f, "_sum", s, NULL) != 0 ||
        evbuffer_add_printf(out, "%s\n", num) < 0 ||
        add_series_name(out, f, "_count", s, NULL) != 0 ||
        evbuffer_add_printf(out, "%" PRIu64 "\n", h->count) < 0)
        return -1;
    return 0;
}

static int render_family(struct evbuffer *out, const struct metrics_family *f)
{
    static const char *const type_names[] = {
        [METRICS_COUNTER] = "counter",
        [METRICS_GAUGE] = "gauge",
        [METRICS_HISTOGRAM] = "histogram",
    };
    char num[32];

    if (evbuffer_add_printf(out, "# HELP %s ", f->name) < 0 ||
        add_escaped(out, f->help, 0) != 0 ||
        evbuffer_add_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]) < 0)
        return -1;
    for (size_t i = 0; i < f->n_series; i++) {
        const struct metrics_series *s = &f->series[i];
        switch (f->type) {
        case METRICS_COUNTER:
            if (add_series_name(out, f, "", s, NULL) != 0 ||
                evbuffer_add_printf(out, "%" PRIu64 "\n", s->u.counter.value) < 0)
                return -1;
            break;
        case METRICS_GAUGE:
            format_double(num, s->u.gauge.value);
            if (add_series_name(out, f, "", s, NULL) != 0 ||
                evbuffer_add_printf(out, "%s\n", num) < 0)
                return -1;
            break;
        case METRICS_HISTOGRAM:
            if (render_histogram(out, f, s) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

int metrics_render(const struct metrics *m, struct evbuffer *out)
{
    for (size_t i = 0; i < m->n_families; i++) {
        if (render_family(out, m->families[i]) != 0)
            return METRICS_ERR_NOMEM;
    }
    return METRICS_OK;
}
