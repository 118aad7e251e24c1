/* test-cellset.c: unit tests for geo/cellset: pinned 9-cell sets, the radius they cover, handover lists, and a phone walking across borders past strangers who stand still. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "cellset.h"
#include "geo.h"
#include "geohash.h"

#define PI 3.14159265358979323846
#define RAD (PI / 180.0)

#define CHECK_NEAR(got, want, tol)                                                     \
    do {                                                                               \
        double g_ = (got), w_ = (want);                                                \
        if (!(fabs(g_ - w_) <= (tol))) {                                               \
            fprintf(stderr, "%s:%d: check failed: %s = %.15g, want %.15g +- %g\n",     \
                    __FILE__, __LINE__, #got, g_, w_, (double)(tol));                  \
            check_failed();                                                            \
        }                                                                              \
    } while (0)

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

/* The point dist_km from (lat, lng) along initial bearing deg (spherical
 * direct problem), longitude folded into [-180, 180). */
static void destination(double lat, double lng, double bearing, double dist_km,
                        double *lat2, double *lng2)
{
    double d = dist_km / GEO_EARTH_RADIUS_KM, p1 = lat * RAD, t = bearing * RAD;
    double s = sin(p1) * cos(d) + cos(p1) * sin(d) * cos(t);
    double p2 = asin(s > 1 ? 1 : s < -1 ? -1 : s);
    double l2 = lng * RAD + atan2(sin(t) * sin(d) * cos(p1), cos(d) - sin(p1) * sin(p2));

    l2 = fmod(l2 + 3 * PI, 2 * PI) - PI;
    *lat2 = p2 / RAD;
    *lng2 = l2 / RAD;
}

static int has(const struct cellset *set, const char *cell)
{
    return cellset_contains(set, cell, strlen(cell));
}

/* Expected sets from the reference in test-geohash.c: enc() of the
 * position, then nb() in the order N, NE, E, SE, S, SW, W, NW, leaving out
 * None. */
static void test_sets_pinned(void)
{
    static const struct {
        double lat, lng;
        int precision;
        unsigned count;
        const char *cells[CELLSET_MAX];
    } vectors[] = {
        {42.6, -5.6, 5, 9,
         {"ezs42", "ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"}},
        /* the north pole: no row beyond, 6 cells */
        {90, 0, 5, 6, {"upbpb", "upbpc", "upbp9", "upbp8", "gzzzx", "gzzzz"}},
        /* the south pole at -180: east is column 1, west wraps to the last column */
        {-90, -180, 5, 6, {"00000", "00002", "00003", "00001", "pbpbp", "pbpbr"}},
        /* the antimeridian on the equator: east wraps to -180 */
        {0, 180, 5, 9,
         {"xbpbp", "xbpbr", "80002", "80000", "2pbpb", "rzzzz", "rzzzy", "xbpbn", "xbpbq"}},
        /* one row short of the pole: the top row is still there */
        {89.95, 10, 5, 9,
         {"upzpe", "upzpg", "upzpu", "upzps", "upzpk", "upzp7", "upzp6", "upzpd", "upzpf"}},
        /* precision 1 at the origin */
        {0, 0, 1, 9, {"s", "u", "v", "t", "m", "k", "7", "e", "g"}},
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        struct cellset set;

        CHECK(cellset_of(vectors[i].lat, vectors[i].lng, vectors[i].precision, &set) == 0);
        CHECK_EQ(set.count, vectors[i].count);
        for (unsigned c = 0; c < vectors[i].count && c < set.count; c++)
            CHECK_IN(strcmp(set.cell[c], vectors[i].cells[c]) == 0, vectors[i].cells[c]);
    }
}

static void test_refused(void)
{
    struct cellset set;
    double km = -7;

    memset(&set, 0x5a, sizeof(set));
    CHECK_EQ(cellset_of(0, 0, 0, &set), GEO_ERR_PRECISION);
    CHECK_EQ(cellset_of(0, 0, 13, &set), GEO_ERR_PRECISION);
    CHECK_EQ(cellset_of(91, 0, 5, &set), GEO_ERR_RANGE);
    CHECK_EQ(cellset_of(0, -180.5, 5, &set), GEO_ERR_RANGE);
    CHECK_EQ(cellset_of(NAN, 0, 5, &set), GEO_ERR_RANGE);
    CHECK(((unsigned char *)&set)[0] == 0x5a); /* untouched */
    CHECK_EQ(cellset_cover_km(0, 0, &km), GEO_ERR_PRECISION);
    CHECK_EQ(cellset_cover_km(5, 90.5, &km), GEO_ERR_RANGE);
    CHECK_EQ(cellset_cover_km(5, NAN, &km), GEO_ERR_RANGE);
    CHECK(km == -7);
}

static void test_contains(void)
{
    struct cellset set;
    static const char channel[] = "g:ezs49 and more";

    CHECK(cellset_of(42.6, -5.6, 5, &set) == 0);
    CHECK(cellset_contains(&set, channel + 2, 5)); /* "ezs49" inside a longer buffer */
    CHECK(!cellset_contains(&set, channel + 2, 4)); /* "ezs4": a prefix is another cell */
    CHECK(!cellset_contains(&set, channel + 2, 6));
    CHECK(!cellset_contains(&set, channel, 0));
    CHECK(!cellset_contains(&set, "ezs42ezs42ezs4", 14));
    CHECK(has(&set, "ezefx"));
    CHECK(!has(&set, "ezs4d"));
}

/* Random positions of every precision: cell[0] is the position's own cell,
 * the others are its neighbours, all distinct; 6 cells in the top and bottom
 * rows, 9 elsewhere. */
static void test_sets_random(void)
{
    for (int p = 1; p <= GEOHASH_PRECISION_MAX; p++) {
        for (int n = 0; n < 1000; n++) {
            double lat = asin(2 * rnd_unit() - 1) / RAD, lng = 360 * rnd_unit() - 180;
            char own[GEOHASH_SIZE];
            struct geohash_box box;
            struct cellset set;
            unsigned want = 9;

            if (n % 50 == 0)
                lat = n % 100 == 0 ? 90 : -90;
            if (n % 30 == 0)
                lng = n % 60 == 0 ? 180 : -180;
            CHECK(cellset_of(lat, lng, p, &set) == 0);
            CHECK(geohash_encode(lat, lng, p, own) == 0);
            CHECK(geohash_decode(own, (size_t)p, &box) == 0);
            if (box.lat_max == 90 || box.lat_min == -90)
                want = 6;
            CHECK_EQ(set.count, want);
            CHECK(strcmp(set.cell[0], own) == 0);
            for (unsigned i = 1; i < set.count; i++) {
                int found = 0;

                for (int d = 0; d < GEOHASH_DIRS; d++) {
                    char nb[GEOHASH_SIZE];

                    if (geohash_neighbour(own, (size_t)p, (enum geohash_dir)d, nb) == 0 &&
                        strcmp(nb, set.cell[i]) == 0)
                        found = 1;
                }
                CHECK_IN(found, set.cell[i]);
                CHECK(geohash_validate(set.cell[i], strlen(set.cell[i])) == 0);
                for (unsigned j = 0; j < i; j++)
                    CHECK(strcmp(set.cell[i], set.cell[j]) != 0);
            }
        }
    }
}

/* Pinned against the formula in Python (cellset.c's comment) with its 1e-9
 * shave: R min(h, 2 asin(cos(m) sin(w / 2))), m the top of the row of |lat|
 * plus one row. */
static void test_cover_pinned(void)
{
    static const struct {
        int precision;
        double lat, km;
    } vectors[] = {
        {5, 0, 4.886496800119},   {5, 45, 3.449974651538},  {5, -45, 3.449974651538},
        {5, 60, 2.437839606573},  {5, 65, 2.058706920857},  {5, 70, 1.667368465906},
        {5, 89.9, 0.003747900056}, {5, 89.95, 0},          {5, 90, 0},
        {5, -90, 0},              {4, 0, 19.546010197301},  {4, 60, 19.372624395100},
        {1, 0, 0},                {7, 0, 0.152703204491},   {12, 0, 0.000018640528},
        {3, 30, 132.107182096213},
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        double km = -1;

        CHECK(cellset_cover_km(vectors[i].precision, vectors[i].lat, &km) == 0);
        CHECK_NEAR(km, vectors[i].km, 1e-8 * vectors[i].km + 1e-12);
    }
    /* What geohash.h promises for the channels: 2 km up to 65 degrees. */
    for (double lat = 0; lat <= 65; lat += 0.01) {
        double km;

        CHECK(cellset_cover_km(GEOHASH_CHANNEL_PRECISION, lat, &km) == 0);
        CHECK(km >= 2.0);
    }
}

/* The promise itself: every point within cellset_cover_km() of a random
 * position, in any direction, lies in one of the position's cells. Most
 * distances are drawn close to the limit, where a wrong bound would show. */
static void test_cover_sound(void)
{
    long checked = 0;

    for (int p = 1; p <= GEOHASH_PRECISION_MAX; p++) {
        for (int n = 0; n < 3000; n++) {
            double lat = asin(2 * rnd_unit() - 1) / RAD, lng = 360 * rnd_unit() - 180;
            double cover, qlat, qlng, dist;
            struct cellset set;
            char cell[GEOHASH_SIZE];

            if (n % 3 == 0)
                lat = (2 * rnd_unit() - 1) * 70; /* where people live */
            if (n % 7 == 0)
                lng = rnd_unit() < 0.5 ? 180 - 1e-9 * rnd_unit() : -180 + 1e-9 * rnd_unit();
            if (n % 4 == 1) {
                /* a corner of its cell, the worst place to stand, heading
                 * straight out across an edge or a corner */
                struct geohash_box box;

                CHECK(geohash_encode(lat, lng, p, cell) == 0);
                CHECK(geohash_decode(cell, (size_t)p, &box) == 0);
                lat = rnd_unit() < 0.5 ? box.lat_min : box.lat_max - 1e-12;
                lng = rnd_unit() < 0.5 ? box.lng_min : box.lng_max - 1e-12;
            }
            CHECK(cellset_cover_km(p, lat, &cover) == 0);
            if (cover <= 0)
                continue;
            CHECK(cellset_of(lat, lng, p, &set) == 0);
            dist = cover * (n % 2 ? pow(rnd_unit(), 0.05) : rnd_unit());
            destination(lat, lng, n % 4 == 1 ? 45.0 * rnd_below(8) : 360 * rnd_unit(), dist,
                        &qlat, &qlng);
            if (geo_distance_km(lat, lng, qlat, qlng) > cover)
                continue; /* rounding in destination() */
            CHECK(geohash_encode(qlat, qlng, p, cell) == 0);
            CHECK_IN(has(&set, cell), cell);
            checked++;
        }
    }
    CHECK(checked > 30000);
}

/* And it is not vacuous: just past one cell width east of a cell's east edge,
 * or one height north of its north edge, a point is outside the set though it
 * is barely farther than the cover. */
static void test_cover_tight(void)
{
    static const double lats[] = {0.01, 30, 45, 60, 65, 70};

    for (size_t i = 0; i < sizeof(lats) / sizeof(lats[0]); i++) {
        char own[GEOHASH_SIZE], cell[GEOHASH_SIZE];
        struct geohash_box box;
        struct cellset set;
        double cover, plat, plng, qlng, qlat;

        CHECK(geohash_encode(lats[i], 7.3, 5, own) == 0);
        CHECK(geohash_decode(own, 5, &box) == 0);
        CHECK(cellset_cover_km(5, lats[i], &cover) == 0);

        plat = box.lat_max - 1e-9; /* north-east corner of the cell */
        plng = box.lng_max - 1e-9;
        CHECK(cellset_of(plat, plng, 5, &set) == 0);
        qlng = plng + (box.lng_max - box.lng_min) * 1.001;
        CHECK(geohash_encode(plat, qlng, 5, cell) == 0);
        CHECK(!has(&set, cell));
        CHECK(geo_distance_km(plat, plng, plat, qlng) <= 1.01 * cover);
        qlat = plat + (box.lat_max - box.lat_min) * 1.001;
        CHECK(geohash_encode(qlat, plng, 5, cell) == 0);
        CHECK(!has(&set, cell));
        CHECK(geo_distance_km(plat, plng, qlat, plng) >= cover);
    }
}

static int same_set(const struct cellset *a, const struct cellset *b)
{
    if (a->count != b->count)
        return 0;
    for (unsigned i = 0; i < a->count; i++) {
        if (!has(b, a->cell[i]))
            return 0;
    }
    return 1;
}

static void test_handover_pinned(void)
{
    struct cellset a, b, c;
    struct cellset_handover plan;

    CHECK(cellset_of(42.6, -5.6, 5, &a) == 0);              /* ezs42 */
    CHECK(cellset_of(42.6, -5.6 + 0.0439453125, 5, &b) == 0); /* ezs43, one cell east */
    CHECK(cellset_of(42.6 + 0.0439453125, -5.6 + 0.0439453125, 5, &c) == 0); /* ezs49 */
    CHECK(strcmp(b.cell[0], "ezs43") == 0 && strcmp(c.cell[0], "ezs49") == 0);

    cellset_handover_plan(&a, &b, &plan);
    CHECK_EQ(plan.subscribe_first.count, 3);
    CHECK(strcmp(plan.subscribe_first.cell[0], "ezs4d") == 0);
    CHECK(strcmp(plan.subscribe_first.cell[1], "ezs46") == 0);
    CHECK(strcmp(plan.subscribe_first.cell[2], "ezs44") == 0);
    CHECK_EQ(plan.release_after.count, 3);
    CHECK(strcmp(plan.release_after.cell[0], "ezefp") == 0);
    CHECK(strcmp(plan.release_after.cell[1], "ezefr") == 0);
    CHECK(strcmp(plan.release_after.cell[2], "ezefx") == 0);

    /* diagonally: 5 in, 5 out */
    cellset_handover_plan(&a, &c, &plan);
    CHECK_EQ(plan.subscribe_first.count, 5);
    CHECK(strcmp(plan.subscribe_first.cell[0], "ezs4c") == 0);
    CHECK(strcmp(plan.subscribe_first.cell[4], "ezs4b") == 0);
    CHECK_EQ(plan.release_after.count, 5);
    CHECK(strcmp(plan.release_after.cell[0], "ezs41") == 0);
    CHECK(strcmp(plan.release_after.cell[4], "ezefx") == 0);

    /* staying in the cell: nothing to do */
    CHECK(cellset_of(42.61, -5.59, 5, &b) == 0);
    cellset_handover_plan(&a, &b, &plan);
    CHECK_EQ(plan.subscribe_first.count, 0);
    CHECK_EQ(plan.release_after.count, 0);

    /* switching on: everything to subscribe, own cell first; off: all released */
    cellset_handover_plan(NULL, &a, &plan);
    CHECK(same_set(&plan.subscribe_first, &a));
    CHECK(strcmp(plan.subscribe_first.cell[0], "ezs42") == 0);
    CHECK_EQ(plan.release_after.count, 0);
    cellset_handover_plan(&a, NULL, &plan);
    CHECK_EQ(plan.subscribe_first.count, 0);
    CHECK(same_set(&plan.release_after, &a));
    cellset_handover_plan(NULL, NULL, &plan);
    CHECK_EQ(plan.subscribe_first.count + plan.release_after.count, 0);
}

/* ------------------------------------------------------------------------
 * A gateway's view of one phone: references per cell, as the gateway counts
 * them over its sessions. */
struct held {
    unsigned count;
    char cell[4 * CELLSET_MAX][GEOHASH_SIZE];
    int refs[4 * CELLSET_MAX];
};

static int held_refs(const struct held *h, const char *cell)
{
    for (unsigned i = 0; i < h->count; i++) {
        if (strcmp(h->cell[i], cell) == 0)
            return h->refs[i];
    }
    return 0;
}

static void held_add(struct held *h, const char *cell)
{
    for (unsigned i = 0; i < h->count; i++) {
        if (strcmp(h->cell[i], cell) == 0) {
            h->refs[i]++;
            return;
        }
    }
    if (h->count == 4 * CELLSET_MAX) {
        CHECK(!"held set overflows");
        return;
    }
    memcpy(h->cell[h->count], cell, GEOHASH_SIZE);
    h->refs[h->count++] = 1;
}

/* Drops a reference; a cell's last reference gone means UNSUBSCRIBE. */
static void held_release(struct held *h, const char *cell)
{
    for (unsigned i = 0; i < h->count; i++) {
        if (strcmp(h->cell[i], cell) == 0) {
            CHECK(h->refs[i] > 0);
            if (--h->refs[i] == 0) {
                h->count--;
                memmove(h->cell[i], h->cell[h->count], GEOHASH_SIZE);
                h->refs[i] = h->refs[h->count];
            }
            return;
        }
    }
    CHECK(!"released a cell that was not held");
}

static int held_covers(const struct held *h, const struct cellset *set)
{
    for (unsigned i = 0; i < set->count; i++) {
        if (held_refs(h, set->cell[i]) <= 0)
            return 0;
    }
    return 1;
}

static int held_is(const struct held *h, const struct cellset *set)
{
    if (h->count != set->count || !held_covers(h, set))
        return 0;
    for (unsigned i = 0; i < h->count; i++) {
        if (h->refs[i] != 1)
            return 0;
    }
    return 1;
}

/* The lists are what they say: subscribe_first is new minus old, release_after
 * old minus new, nothing twice. */
static void check_plan(const struct cellset *from, const struct cellset *to,
                       const struct cellset_handover *plan)
{
    for (unsigned i = 0; i < plan->subscribe_first.count; i++) {
        CHECK(has(to, plan->subscribe_first.cell[i]));
        CHECK(!has(from, plan->subscribe_first.cell[i]));
        CHECK(!has(&plan->release_after, plan->subscribe_first.cell[i]));
    }
    for (unsigned i = 0; i < plan->release_after.count; i++) {
        CHECK(has(from, plan->release_after.cell[i]));
        CHECK(!has(to, plan->release_after.cell[i]));
    }
    for (unsigned i = 0; i < to->count; i++)
        CHECK(has(from, to->cell[i]) || has(&plan->subscribe_first, to->cell[i]));
    for (unsigned i = 0; i < from->count; i++)
        CHECK(has(to, from->cell[i]) || has(&plan->release_after, from->cell[i]));
}

#define WALK_STRANGERS_MAX 512

struct stranger_pos {
    double lat, lng;
    char cell[GEOHASH_SIZE]; /* the cell it publishes to */
};

/* A phone walks dist_km along a great circle in steps of step_km. Strangers
 * stand still: two beside every border the walk crosses (10 m either side, on
 * the walk), and two at the border but off the path by half and 0.95 of the
 * radius. At every step the gateway runs the handover as a gateway must:
 * subscribe_first, then (confirmed) release_after. In between and after, every
 * stranger within radius_km of the phone must be in a held cell, so the phone
 * never loses (no stranger_gone for) a stranger in range. Returns the number
 * of borders crossed. */
static int walk(const char *what, double lat, double lng, double bearing, double dist_km,
                double step_km, int precision, double radius_km)
{
    static struct stranger_pos strangers[WALK_STRANGERS_MAX];
    unsigned n_strangers = 0;
    long steps = (long)(dist_km / step_km);
    struct cellset now, next;
    struct held held;
    int crossings = 0;
    long seen_across = 0;

    /* First pass: where the borders are. */
    {
        double plat = lat, plng = lng;
        char cell[GEOHASH_SIZE], prev[GEOHASH_SIZE];

        CHECK(geohash_encode(plat, plng, precision, prev) == 0);
        for (long s = 1; s <= steps; s++) {
            double qlat, qlng;

            destination(lat, lng, bearing, s * step_km, &qlat, &qlng);
            CHECK(geohash_encode(qlat, qlng, precision, cell) == 0);
            if (strcmp(cell, prev) != 0 && n_strangers + 4 <= WALK_STRANGERS_MAX) {
                /* the border lies between plat/plng and qlat/qlng */
                double at = (s - 0.5) * step_km;
                double offsets[4][2] = {
                    {-0.010, 0}, {0.010, 0}, {0, 0.5 * radius_km}, {0, -0.95 * radius_km},
                };

                for (int k = 0; k < 4; k++) {
                    struct stranger_pos *st = &strangers[n_strangers++];
                    double blat, blng;

                    destination(lat, lng, bearing, at + offsets[k][0], &blat, &blng);
                    if (offsets[k][1] != 0)
                        destination(blat, blng, bearing + 90, offsets[k][1], &blat, &blng);
                    st->lat = blat;
                    st->lng = blng;
                    CHECK(geohash_encode(st->lat, st->lng, precision, st->cell) == 0);
                }
            }
            memcpy(prev, cell, sizeof(prev));
            plat = qlat;
            plng = qlng;
        }
    }

    memset(&held, 0, sizeof(held));
    CHECK(cellset_of(lat, lng, precision, &now) == 0);
    for (unsigned i = 0; i < now.count; i++)
        held_add(&held, now.cell[i]);

    for (long s = 1; s <= steps; s++) {
        double plat, plng, cover;
        struct cellset_handover plan;

        destination(lat, lng, bearing, s * step_km, &plat, &plng);
        CHECK(cellset_cover_km(precision, plat, &cover) == 0);
        CHECK_IN(cover >= radius_km, what); /* the walk is where the radius is promised */
        CHECK(cellset_of(plat, plng, precision, &next) == 0);
        cellset_handover_plan(&now, &next, &plan);
        check_plan(&now, &next, &plan);
        if (plan.subscribe_first.count > 0 || plan.release_after.count > 0)
            crossings++;

        /* step 1: make */
        for (unsigned i = 0; i < plan.subscribe_first.count; i++)
            held_add(&held, plan.subscribe_first.cell[i]);
        /* the subscriptions are confirmed; before the break both sets are held */
        CHECK_IN(held_covers(&held, &now), what);
        CHECK_IN(held_covers(&held, &next), what);
        /* step 2: break */
        for (unsigned i = 0; i < plan.release_after.count; i++)
            held_release(&held, plan.release_after.cell[i]);
        CHECK_IN(held_is(&held, &next), what);

        for (unsigned k = 0; k < n_strangers; k++) {
            const struct stranger_pos *st = &strangers[k];

            if (geo_distance_km(plat, plng, st->lat, st->lng) > radius_km)
                continue;
            CHECK_IN(held_refs(&held, st->cell) > 0, what);
            if (strcmp(st->cell, next.cell[0]) != 0)
                seen_across++;
        }
        now = next;
    }
    CHECK_IN(seen_across > 0, what); /* strangers across a border were in range */
    return crossings;
}

static void test_walks(void)
{
    /* east along 45.3 N, 30 km: about 8 cells of 3.45 km */
    CHECK(walk("east at 45 N", 45.3, -5.7, 90, 30, 0.01, 5, 2.0) >= 6);
    /* diagonally from the Wikipedia point, crossing rows and columns */
    CHECK(walk("north-east from ezs42", 42.6, -5.6, 37, 40, 0.01, 5, 2.0) >= 10);
    /* across the antimeridian */
    CHECK(walk("across the antimeridian", 10, 179.9, 100, 30, 0.01, 5, 2.0) >= 5);
    /* across the equator and the prime meridian at once */
    CHECK(walk("across (0, 0)", -0.1, -0.1, 45, 30, 0.01, 5, 2.0) >= 5);
    /* far north, where 2 km is still promised */
    CHECK(walk("east at 65 N", 64.9, 25.4, 80, 20, 0.01, 5, 2.0) >= 6);
    /* southward, at the friends' radius with precision-4 cells */
    CHECK(walk("south at precision 4", 50.2, 8.6, 200, 120, 0.05, 4, 8.047) >= 5);
}

/* A phone that moves again before its first handover is confirmed: the
 * second plan starts from the first one's target; subscriptions of both are
 * made before either release, and the releases come in either order. The
 * references never go below zero, the newest set is held from its
 * confirmation on, and at the end exactly it is held. */
static void test_handover_chained(void)
{
    for (int n = 0; n < 5000; n++) {
        double lat = (2 * rnd_unit() - 1) * 60, lng = 360 * rnd_unit() - 180;
        double blat, blng, clat, clng;
        struct cellset a, b, c;
        struct cellset_handover ab, bc;
        struct held held;

        destination(lat, lng, 360 * rnd_unit(), 12 * rnd_unit(), &blat, &blng);
        destination(blat, blng, 360 * rnd_unit(), 12 * rnd_unit(), &clat, &clng);
        CHECK(cellset_of(lat, lng, 5, &a) == 0);
        CHECK(cellset_of(blat, blng, 5, &b) == 0);
        CHECK(cellset_of(clat, clng, 5, &c) == 0);
        cellset_handover_plan(&a, &b, &ab);
        cellset_handover_plan(&b, &c, &bc);
        check_plan(&a, &b, &ab);
        check_plan(&b, &c, &bc);

        memset(&held, 0, sizeof(held));
        for (unsigned i = 0; i < a.count; i++)
            held_add(&held, a.cell[i]);
        for (unsigned i = 0; i < ab.subscribe_first.count; i++)
            held_add(&held, ab.subscribe_first.cell[i]);
        for (unsigned i = 0; i < bc.subscribe_first.count; i++)
            held_add(&held, bc.subscribe_first.cell[i]);
        CHECK(held_covers(&held, &a) && held_covers(&held, &b) && held_covers(&held, &c));
        if (n % 2) {
            for (unsigned i = 0; i < bc.release_after.count; i++)
                held_release(&held, bc.release_after.cell[i]);
            CHECK(held_covers(&held, &c));
            for (unsigned i = 0; i < ab.release_after.count; i++)
                held_release(&held, ab.release_after.cell[i]);
        } else {
            for (unsigned i = 0; i < ab.release_after.count; i++)
                held_release(&held, ab.release_after.cell[i]);
            CHECK(held_covers(&held, &c));
            for (unsigned i = 0; i < bc.release_after.count; i++)
                held_release(&held, bc.release_after.cell[i]);
        }
        CHECK(held_is(&held, &c));
    }
}

/* Random pairs near and far: the lists are exact differences, and far apart
 * (no shared cell) everything moves. */
static void test_handover_random(void)
{
    for (int n = 0; n < 20000; n++) {
        int p = 1 + (int)rnd_below(GEOHASH_PRECISION_MAX);
        double lat = asin(2 * rnd_unit() - 1) / RAD, lng = 360 * rnd_unit() - 180;
        double h = 180.0 / (double)(1ull << (5 * p / 2));
        double lat2 = lat + (2 * rnd_unit() - 1) * 3 * h;
        double lng2 = lng + (2 * rnd_unit() - 1) * 6 * h;
        struct cellset a, b;
        struct cellset_handover plan;
        unsigned shared = 0;

        if (n % 10 == 0) {
            lat2 = asin(2 * rnd_unit() - 1) / RAD;
            lng2 = 360 * rnd_unit() - 180;
        }
        lat2 = fmax(-90, fmin(90, lat2));
        if (lng2 > 180)
            lng2 -= 360;
        if (lng2 < -180)
            lng2 += 360;
        CHECK(cellset_of(lat, lng, p, &a) == 0);
        CHECK(cellset_of(lat2, lng2, p, &b) == 0);
        cellset_handover_plan(&a, &b, &plan);
        check_plan(&a, &b, &plan);
        for (unsigned i = 0; i < a.count; i++)
            shared += (unsigned)has(&b, a.cell[i]);
        CHECK_EQ(plan.subscribe_first.count, b.count - shared);
        CHECK_EQ(plan.release_after.count, a.count - shared);
        if (plan.subscribe_first.count > 0 && !has(&a, b.cell[0]))
            CHECK(strcmp(plan.subscribe_first.cell[0], b.cell[0]) == 0); /* own cell first */
    }
}

int main(void)
{
    rnd_seed(0x63656c6c736574ULL);
    test_sets_pinned();
    test_refused();
    test_contains();
    test_sets_random();
    test_cover_pinned();
    test_cover_sound();
    test_cover_tight();
    test_handover_pinned();
    test_walks();
    test_handover_chained();
    test_handover_random();
    if (failures) {
        fprintf(stderr, "test-cellset: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
