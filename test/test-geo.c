/* test-geo.c: unit tests for geo/geo: pinned distances, symmetry, triangle inequality, unit-vector distance, pre-filter soundness. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "geo.h"

/* Within tol km; prints both values on failure. */
#define CHECK_NEAR(got, want, tol)                                                     \
    do {                                                                               \
        double g_ = (got), w_ = (want);                                                \
        if (!(fabs(g_ - w_) <= (tol))) {                                               \
            fprintf(stderr, "%s:%d: check failed: %s = %.20g, want %.20g +- %g\n",        \
                    __FILE__, __LINE__, #got, g_, w_, (double)(tol));                  \
            check_failed();                                                            \
        }                                                                              \
    } while (0)

#define PI 3.14159265358979323846
#define RAD (PI / 180.0)

/* splitmix64: a fixed seed keeps every run identical. */
static uint64_t rng_state = 0x6e656172627921ULL;

static uint64_t rng_next(void)
{
    return splitmix64(&rng_state);
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1.0p-53;
}

/* A point uniform on the sphere; now and then exactly on a pole or the
 * antimeridian, where the edge cases live. */
static void rng_point(double *lat, double *lng)
{
    uint64_t pick = rng_next() % 16;

    *lat = asin(2 * rng_unit() - 1) / RAD;
    *lng = 360 * rng_unit() - 180;
    if (pick == 0)
        *lat = 90;
    else if (pick == 1)
        *lat = -90;
    else if (pick == 2)
        *lng = 180;
    else if (pick == 3)
        *lng = -180;
    else if (pick == 4)
        *lat = 89.99 + 0.01 * rng_unit();
}

/* The point dist_km from (lat, lng) along initial bearing deg (spherical
 * direct problem), longitude folded into [-180, 180]. */
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

/* Reference values: the spherical Vincenty (atan2) formula on the same
 * radius in Python; the metre-scale ones in 40-digit mpmath, because the
 * double reference itself lost 6e-11 of relative precision there. */
static void test_known(void)
{
    double half = PI * GEO_EARTH_RADIUS_KM;

    /* Paris (Notre-Dame area) to London (Charing Cross area). */
    CHECK_NEAR(geo_distance_km(48.8566, 2.3522, 51.5074, -0.1278), 343.556535, 1e-5);
    /* JFK to LAX. 3974.34 on the mean sphere; the ellipsoid gives ~3983,
     * the 0.2 % a sphere costs at this latitude. */
    CHECK_NEAR(geo_distance_km(40.6413, -73.7781, 33.9416, -118.4085), 3974.341690, 1e-5);
    CHECK_NEAR(geo_distance_km(40.6413, -73.7781, 33.9416, -118.4085), 3983, 0.005 * 3983);

    CHECK(geo_distance_km(0, 0, 0, 0) == 0);
    CHECK(geo_distance_km(48.8566, 2.3522, 48.8566, 2.3522) == 0);
    /* The pole is one point; cos(90 deg) rounds to 6e-17, not 0. */
    CHECK_NEAR(geo_distance_km(90, 0, 90, 123), 0, 1e-9);

    /* Antipodes: h rounds to 1 or a hair over; the clamp keeps it finite. */
    CHECK_NEAR(geo_distance_km(0, 0, 0, 180), half, 1e-6);
    CHECK_NEAR(geo_distance_km(90, 0, -90, 0), half, 1e-6);
    CHECK_NEAR(geo_distance_km(48.8566, 2.3522, -48.8566, -177.6478), half, 1e-6);
    CHECK_NEAR(geo_distance_km(1e-300, 0, -1e-300, 180), half, 1e-6);
    /* A metre short of antipodal still resolves to the metre. */
    CHECK_NEAR(geo_distance_km(0, 0, 0, 180 - 1 / 111195.0), 20015.1134420352039, 1e-9);
    CHECK(half > 20015.11 && half < 20015.12);

    /* Across the antimeridian: 1 degree of the equator, not 359. */
    CHECK_NEAR(geo_distance_km(0, 179.5, 0, -179.5), GEO_EARTH_RADIUS_KM * RAD, 1e-9);
    CHECK_NEAR(geo_distance_km(0, 180, 0, -180), 0, 1e-9);
    CHECK_NEAR(geo_distance_km(-17.7134, 178.0650, -13.7590, -172.1046), 1139.984292, 1e-5);

    /* Near the poles: over the top is 0.2 degrees, not 180 along a parallel. */
    CHECK_NEAR(geo_distance_km(89.9, 0, 89.9, 180), 0.2 * GEO_EARTH_RADIUS_KM * RAD, 1e-9);
    CHECK_NEAR(geo_distance_km(-89.9, -90, -89.9, 90), 0.2 * GEO_EARTH_RADIUS_KM * RAD, 1e-9);

    /* Tiny: a metre and a nanodegree keep their relative precision. */
    CHECK_NEAR(geo_distance_km(52.0, 13.0, 52.0 + 1 / 111195.0, 13.0), 0.00100000072121345169, 1e-16);
    CHECK_NEAR(geo_distance_km(0, 0, 0, 1e-9), GEO_EARTH_RADIUS_KM * RAD * 1e-9, 1e-20);

    /* NaN in, NaN out; no trap. */
    CHECK(isnan(geo_distance_km(NAN, 0, 0, 0)));
}

static void test_random_metric(void)
{
    double half = PI * GEO_EARTH_RADIUS_KM;

    for (int i = 0; i < 20000; i++) {
        double a[2], b[2], c[2];
        rng_point(&a[0], &a[1]);
        rng_point(&b[0], &b[1]);
        rng_point(&c[0], &c[1]);
        double ab = geo_distance_km(a[0], a[1], b[0], b[1]);
        double ba = geo_distance_km(b[0], b[1], a[0], a[1]);
        double bc = geo_distance_km(b[0], b[1], c[0], c[1]);
        double ac = geo_distance_km(a[0], a[1], c[0], c[1]);
        CHECK(ab >= 0 && ab <= half + 1e-9);
        CHECK(fabs(ab - ba) <= 1e-9);
        CHECK(ac <= ab + bc + 1e-9);
    }
}

/* The unit-vector distance that fan-out uses agrees with the haversine one,
 * at random, near each other (metres apart) and near antipodes. */
static void test_point_distance(void)
{
    for (int i = 0; i < 20000; i++) {
        double a[2], b[2];
        struct geo_point pa, pb;

        rng_point(&a[0], &a[1]);
        if (i % 3 == 0)
            destination(a[0], a[1], 360 * rng_unit(), 1e-3 * rng_unit(), &b[0], &b[1]);
        else if (i % 3 == 1)
            destination(-a[0], a[1] + 180, 360 * rng_unit(), 50 * rng_unit(), &b[0], &b[1]);
        else
            rng_point(&b[0], &b[1]);
        geo_point_init(&pa, a[0], a[1]);
        geo_point_init(&pb, b[0], b[1]);
        CHECK_NEAR(geo_point_distance_km(&pa, &pb), geo_distance_km(a[0], a[1], b[0], b[1]), 1e-9);
        CHECK_NEAR(geo_point_distance_km(&pa, &pa), 0.0, 0.0);
    }
}

static void test_bound_known(void)
{
    struct geo_bound b, keep = { 1, 2, 3, 4 };

    /* 5 miles around Paris: Paris passes, London does not. */
    CHECK(geo_bound_init(&b, 48.8566, 2.3522, 8.047) == 0);
    CHECK(geo_bound_may_contain(&b, 48.8566, 2.3522) == 1);
    CHECK(geo_bound_may_contain(&b, 48.87, 2.33) == 1);
    CHECK(geo_bound_may_contain(&b, 51.5074, -0.1278) == 0);
    CHECK(geo_bound_may_contain(&b, 48.8566, 2.3522 + 180) == 0);
    CHECK(geo_bound_may_contain(&b, NAN, 2.3522) == 0);

    /* Across the antimeridian. */
    CHECK(geo_bound_init(&b, 0, 179.99, 8) == 0);
    CHECK(geo_bound_may_contain(&b, 0, -179.99) == 1);
    CHECK(geo_bound_may_contain(&b, 0, 0) == 0);

    /* A circle holding the pole takes every longitude near it. */
    CHECK(geo_bound_init(&b, 89.99, 0, 8) == 0);
    CHECK(geo_bound_may_contain(&b, 89.99, 180) == 1);
    CHECK(geo_bound_may_contain(&b, 80, 0) == 0);

    /* Half the globe or more: everything passes. */
    CHECK(geo_bound_init(&b, 10, 20, 20016) == 0);
    CHECK(geo_bound_may_contain(&b, -10, -160) == 1);

    /* Bad input leaves *b as it was. */
    b = keep;
    CHECK(geo_bound_init(&b, 0, 0, -1) == -1);
    CHECK(geo_bound_init(&b, 0, 0, NAN) == -1);
    CHECK(geo_bound_init(&b, 0, 0, INFINITY) == -1);
    CHECK(geo_bound_init(&b, NAN, 0, 1) == -1);
    CHECK(geo_bound_init(&b, 0, INFINITY, 1) == -1);
    CHECK(b.lat_min == 1 && b.lat_max == 2 && b.lng == 3 && b.lng_half == 4);
}

/* The pre-filter must never drop a point that geo_distance_km() puts within
 * the radius: try uniform points and points just inside the circle. */
static void test_bound_sound(void)
{
    static const double radii[] = { 0, 1e-6, 0.001, 1, 8.047, 50, 500, 2000, 8000, 15000, 20015 };

    for (int i = 0; i < 3000; i++) {
        double clat, clng;
        rng_point(&clat, &clng);
        for (size_t k = 0; k < sizeof radii / sizeof radii[0]; k++) {
            double r = radii[k];
            struct geo_bound b;
            CHECK(geo_bound_init(&b, clat, clng, r) == 0);
            CHECK(geo_bound_may_contain(&b, clat, clng) == 1);
            for (int j = 0; j < 8; j++) {
                double plat, plng;
                if (j < 4) {
                    rng_point(&plat, &plng);
                } else {
                    /* On or a rounding step inside the edge, any bearing. */
                    double frac = j == 4 ? 1 : 1 - 1e-12 * (double)j;
                    destination(clat, clng, 360 * rng_unit(), r * frac, &plat, &plng);
                }
                double d = geo_distance_km(clat, clng, plat, plng);
                int maybe = geo_bound_may_contain(&b, plat, plng);
                if (d <= r && !maybe) {
                    fprintf(stderr, "dropped: centre %.17g,%.17g r %g point %.17g,%.17g d %.17g\n",
                            clat, clng, r, plat, plng, d);
                    CHECK(maybe);
                }
            }
        }
    }
}

/* And it filters: at 5 miles next to no uniform point gets through (the
 * band and width cover ~1e-6 of the sphere), nor does one 10 km away. */
static void test_bound_filters(void)
{
    int passed = 0, passed_10km = 0;

    for (int i = 0; i < 100000; i++) {
        double clat = asin(2 * rng_unit() - 1) / RAD, clng = 360 * rng_unit() - 180;
        double plat = asin(2 * rng_unit() - 1) / RAD, plng = 360 * rng_unit() - 180;
        struct geo_bound b;
        CHECK(geo_bound_init(&b, clat, clng, 8.047) == 0);
        passed += geo_bound_may_contain(&b, plat, plng);
        /* Due north or south: the latitude band alone must drop it. */
        destination(clat, clng, i % 2 ? 0 : 180, 10, &plat, &plng);
        if (fabs(clat) < 89.8)
            passed_10km += geo_bound_may_contain(&b, plat, plng);
    }
    CHECK(passed <= 3);
    CHECK(passed_10km == 0);
}

int main(void)
{
    test_known();
    test_random_metric();
    test_point_distance();
    test_bound_known();
    test_bound_sound();
    test_bound_filters();
    if (failures) {
        fprintf(stderr, "test-geo: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
