/* test-stranger.c: unit tests for geo/stranger: pinned coarse positions, idempotence, never the true position, distance rounding, sid randomness and hex. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "geo.h"
#include "geohash.h"
#include "stranger.h"

#define PI 3.14159265358979323846
#define RAD (PI / 180.0)

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

/* Centres of precision-7 cells from the reference in test-geohash.c
 * (dec() of enc(lat, lng, 7), the midpoints as exact fractions / 65536). */
static void test_coarsen_pinned(void)
{
    static const struct {
        double lat, lng, want_lat, want_lng;
    } vectors[] = {
        {42.6, -5.6, 2791845.0 / 65536, -366975.0 / 65536},          /* ezs42e4 */
        {48.858370, 2.294481, 3201975.0 / 65536, 150345.0 / 65536},  /* u09tunq */
        {90, 180, 5898195.0 / 65536, 11796435.0 / 65536},            /* zzzzzzz */
        {-90, -180, -5898195.0 / 65536, -11796435.0 / 65536},        /* 0000000 */
        {0, 0, 45.0 / 65536, 45.0 / 65536},                          /* s000000 */
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        double lat = -1000, lng = -1000;

        CHECK(stranger_coarsen(vectors[i].lat, vectors[i].lng, &lat, &lng) == 0);
        CHECK(lat == vectors[i].want_lat);
        CHECK(lng == vectors[i].want_lng);
    }
}

static void test_coarsen_refused(void)
{
    static const double bad[][2] = {
        {NAN, 0}, {0, NAN}, {90.5, 0}, {-91, 0}, {0, 181}, {0, -180.25}, {INFINITY, 0},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double lat = 7, lng = 8;

        CHECK_EQ(stranger_coarsen(bad[i][0], bad[i][1], &lat, &lng), GEO_ERR_RANGE);
        CHECK(lat == 7 && lng == 8);
    }
}

/* Random positions: the coarse one is the centre of the precision-7 cell, so
 * at most half a cell away (<= 108 m, the half diagonal at the equator), never
 * the true position, the same for every point of the cell, its own coarse
 * position (idempotent), and in the same precision-5 channel cell. */
static void test_coarsen_random(void)
{
    double h = 180.0 / (1 << 17), w = 360.0 / (1 << 18);
    double worst_m = 0;

    for (int n = 0; n < 200000; n++) {
        double lat = asin(2 * rnd_unit() - 1) / RAD, lng = 360 * rnd_unit() - 180;
        double clat, clng, again_lat, again_lng, olat, olng;
        char cell[GEOHASH_SIZE], coarse_cell[GEOHASH_SIZE];
        double d;

        if (n % 3 == 0)
            lat = (2 * rnd_unit() - 1) * 70;
        CHECK(stranger_coarsen(lat, lng, &clat, &clng) == 0);
        CHECK(clat != lat || clng != lng);
        CHECK(fabs(clat - lat) <= h / 2 && fabs(clng - lng) <= w / 2);
        d = geo_distance_km(lat, lng, clat, clng);
        CHECK(d <= 0.108);
        if (d > worst_m / 1000)
            worst_m = d * 1000;

        CHECK(stranger_coarsen(clat, clng, &again_lat, &again_lng) == 0);
        CHECK(again_lat == clat && again_lng == clng);

        /* another point of the same cell coarsens to the same place */
        {
            struct geohash_box box;

            CHECK(geohash_encode(lat, lng, GEOHASH_COARSE_PRECISION, cell) == 0);
            CHECK(geohash_decode(cell, GEOHASH_COARSE_PRECISION, &box) == 0);
            CHECK(stranger_coarsen(box.lat_min + rnd_unit() * h, box.lng_min + rnd_unit() * w,
                                   &olat, &olng) == 0);
            CHECK(olat == clat && olng == clng);
            CHECK(clat == box.lat && clng == box.lng);
        }

        CHECK(geohash_encode(lat, lng, GEOHASH_CHANNEL_PRECISION, cell) == 0);
        CHECK(geohash_encode(clat, clng, GEOHASH_CHANNEL_PRECISION, coarse_cell) == 0);
        CHECK(strcmp(cell, coarse_cell) == 0);
    }
    CHECK(worst_m > 100); /* the bound above is not loose: some points are that far */
}

static void test_round_km(void)
{
    static const struct {
        double km, want;
    } vectors[] = {
        {0, 0},           {0.04, 0},          {0.0499, 0},      {0.05, 0.1},
        {0.1, 0.1},       {1.23, 1.2},        {1.25, 1.3},      {1.2499999, 1.2},
        {7.96, 8.0},      {8.047, 8.0},       {12345.67, 12345.7}, {20015.08, 20015.1},
        {-1, 0},          {-0.0, 0},          {NAN, 0},         {-INFINITY, 0},
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        double got = stranger_round_km(vectors[i].km);

        if (got != vectors[i].want) {
            fprintf(stderr, "round_km(%.17g) = %.17g, want %.17g\n", vectors[i].km, got,
                    vectors[i].want);
            check_failed();
        }
    }
    /* the double nearest the decimal, as a literal would be */
    CHECK(stranger_round_km(1.2) == 1.2);
    CHECK(stranger_round_km(0.3) == 0.3);
    for (int n = 0; n < 100000; n++) {
        double km = 30 * rnd_unit(), km2 = km + rnd_unit();
        double got = stranger_round_km(km);
        double tenths = got * 10;

        CHECK(fabs(got - km) <= 0.05 + 1e-12);
        CHECK(fabs(tenths - nearbyint(tenths)) < 1e-9);
        CHECK(got == nearbyint(tenths) / 10);
        CHECK(stranger_round_km(km2) >= got); /* monotonic */
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* 4096 sids: none 0, all distinct (a repeat has odds of 2^-41), and every
 * bit set in about half of them: 2048 +- 8 standard deviations (32), so a
 * stuck bit, a counter or a narrow value fails and chance practically never
 * does. */
#define SIDS 4096

static void test_sid(void)
{
    static uint64_t sids[SIDS];
    unsigned ones[64] = {0};

    for (int i = 0; i < SIDS; i++) {
        CHECK(stranger_sid_new(&sids[i]) == 0);
        CHECK(sids[i] != 0);
        for (int b = 0; b < 64; b++)
            ones[b] += (unsigned)((sids[i] >> b) & 1);
    }
    for (int b = 0; b < 64; b++) {
        if (ones[b] < 2048 - 256 || ones[b] > 2048 + 256) {
            fprintf(stderr, "sid bit %d set in %u of %d\n", b, ones[b], SIDS);
            check_failed();
        }
    }
    qsort(sids, SIDS, sizeof(sids[0]), cmp_u64);
    for (int i = 1; i < SIDS; i++)
        CHECK(sids[i] != sids[i - 1]);
}

static void test_sid_hex(void)
{
    static const struct {
        uint64_t sid;
        const char *hex;
    } vectors[] = {
        {0, "0000000000000000"},
        {1, "0000000000000001"},
        {UINT64_C(0x0123456789abcdef), "0123456789abcdef"},
        {UINT64_C(0xfedcba9876543210), "fedcba9876543210"},
        {UINT64_MAX, "ffffffffffffffff"},
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char out[STRANGER_SID_HEX_SIZE];

        stranger_sid_hex(vectors[i].sid, out);
        CHECK_IN(strcmp(out, vectors[i].hex) == 0, vectors[i].hex);
    }
    for (int n = 0; n < 1000; n++) {
        uint64_t sid = rnd();
        char out[STRANGER_SID_HEX_SIZE], want[STRANGER_SID_HEX_SIZE];

        stranger_sid_hex(sid, out);
        snprintf(want, sizeof(want), "%016" PRIx64, sid);
        CHECK(strcmp(out, want) == 0);
    }
}

int main(void)
{
    rnd_seed(0x737472616e676572ULL);
    test_coarsen_pinned();
    test_coarsen_refused();
    test_coarsen_random();
    test_round_km();
    test_sid();
    test_sid_hex();
    if (failures) {
        fprintf(stderr, "test-stranger: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
