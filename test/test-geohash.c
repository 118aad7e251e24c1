/* test-geohash.c: unit tests for geo/geohash: pinned encodings and bounds, neighbours at the poles and the antimeridian, validation, round trips at every precision. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "geohash.h"

#define CHECK_STR(got, want)                                                         \
    do {                                                                             \
        const char *g_ = (got), *w_ = (want);                                        \
        if (strcmp(g_, w_) != 0) {                                                   \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__,      \
                    __LINE__, #got, g_, w_);                                         \
            check_failed();                                                          \
        }                                                                            \
    } while (0)

/* One guard page for every string handed to the parser: its last byte sits
 * right before a PROT_NONE page, so a read past len faults. */
static struct guarded guard;

static const char *guarded(const char *s, size_t len)
{
    return guard_put(&guard, s, len);
}

/* The expected values below come from this reference, the textbook
 * string-bisection algorithm in exact rational arithmetic (Fraction of a
 * double is that double's exact value), written apart from geo/geohash.c,
 * which works on row and column integers instead:
 *
 *   from fractions import Fraction as F
 *   B32 = "0123456789bcdefghjkmnpqrstuvwxyz"
 *   def enc(lat, lng, p):
 *       lat, lng = F(lat), F(lng); la, lo = [F(-90), F(90)], [F(-180), F(180)]
 *       out, ch, bits, even = "", 0, 0, True
 *       while len(out) < p:
 *           r, v = (lo, lng) if even else (la, lat); mid = (r[0] + r[1]) / 2
 *           if v >= mid: ch = ch * 2 + 1; r[0] = mid
 *           else: ch = ch * 2; r[1] = mid
 *           even = not even; bits += 1
 *           if bits == 5: out += B32[ch]; bits = ch = 0
 *       return out
 *   def dec(h):   # the same halving driven by the bits of h; returns (la, lo)
 *   def nb(h, dlat, dlng):   # geometric: centre + (dlat, dlng) cell sizes,
 *       ...                  # None beyond a pole, longitude folded, enc() again
 *
 * "ezs42" for (42.6, -5.6) and "u4pruydqqvj" for (57.64911, 10.40744) are
 * also the examples of the Wikipedia article and geohash.org; the
 * neighbours of "dqcjq" are those pinned by the ngeohash JavaScript library's
 * tests. */
struct encode_vector {
    const char *what;
    double lat, lng;
    const char *hash; /* at precision 12; lower precisions are its prefixes */
};

static const struct encode_vector encode_vectors[] = {
    {"Wikipedia example", 42.6, -5.6, "ezs42e44yx96"},
    {"Wikipedia example", 57.64911, 10.40744, "u4pruydqqvj8"},
    {"Eiffel tower", 48.858370, 2.294481, "u09tunqu9k31"},
    {"Sydney opera", -33.856784, 151.215297, "r3gx2ux9gy1b"},
    {"Statue of Liberty", 40.689247, -74.044502, "dr5r7p62n13s"},
    {"north pole", 90, 0, "upbpbpbpbpbp"},
    {"south pole", -90, 0, "h00000000000"},
    {"north pole, lng 180", 90, 180, "zzzzzzzzzzzz"},
    {"south pole, lng -180", -90, -180, "000000000000"},
    {"equator at lng 180", 0, 180, "xbpbpbpbpbpb"},
    {"equator at lng -180", 0, -180, "800000000000"},
    {"west of the antimeridian", 10, 179.999, "xczbzurq0xn7"},
    {"east of the antimeridian", -10, -179.999, "2n0p0589z2cs"},
    {"origin", 0, 0, "s00000000000"},
    {"just south-west of the origin", -1e-7, -1e-7, "7zzzzzzzzzzz"},
    {"just west of the origin", 0, -1e-7, "ebpbpbpbpbpb"},
    {"just south of the origin", -1e-7, 0, "kpbpbpbpbpbp"},
};

static void test_encode_pinned(void)
{
    for (size_t i = 0; i < sizeof(encode_vectors) / sizeof(encode_vectors[0]); i++) {
        const struct encode_vector *v = &encode_vectors[i];

        for (int p = 1; p <= GEOHASH_PRECISION_MAX; p++) {
            char got[GEOHASH_SIZE], want[GEOHASH_SIZE];

            memcpy(want, v->hash, (size_t)p);
            want[p] = '\0';
            memset(got, '#', sizeof(got));
            CHECK_IN(geohash_encode(v->lat, v->lng, p, got) == 0, v->what);
            CHECK_STR(got, want);
        }
    }
}

static void test_encode_refused(void)
{
    static const struct {
        double lat, lng;
        int precision, rc;
    } bad[] = {
        {0, 0, 0, GEO_ERR_PRECISION},
        {0, 0, 13, GEO_ERR_PRECISION},
        {0, 0, -1, GEO_ERR_PRECISION},
        {90.000001, 0, 5, GEO_ERR_RANGE},
        {-90.000001, 0, 5, GEO_ERR_RANGE},
        {0, 180.000001, 5, GEO_ERR_RANGE},
        {0, -180.000001, 5, GEO_ERR_RANGE},
        {NAN, 0, 5, GEO_ERR_RANGE},
        {0, NAN, 5, GEO_ERR_RANGE},
        {INFINITY, 0, 5, GEO_ERR_RANGE},
        {0, -INFINITY, 5, GEO_ERR_RANGE},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[GEOHASH_SIZE];

        memset(out, '#', sizeof(out));
        CHECK_EQ(geohash_encode(bad[i].lat, bad[i].lng, bad[i].precision, out), bad[i].rc);
        CHECK(out[0] == '#' && out[GEOHASH_SIZE - 1] == '#'); /* untouched */
    }
}

/* Bounds from dec() above: all dyadic, so exact as doubles. */
static void test_decode_pinned(void)
{
    static const struct {
        const char *hash;
        double lat_min, lat_max, lng_min, lng_max;
    } vectors[] = {
        /* 43605/1024, 21825/512, -45/8, -5715/1024 */
        {"ezs42", 42.5830078125, 42.626953125, -5.625, -5.5810546875},
        {"0", -90, -45, -180, -135},
        {"s", 0, 45, 0, 45},
        {"z", 45, 90, 135, 180},
        /* 483595785/2^23, 1934383185/2^25, 349215705/2^25, 174607875/2^24 */
        {"u4pruydqqvj", 483595785.0 / 8388608, 1934383185.0 / 33554432,
         349215705.0 / 33554432, 174607875.0 / 16777216},
        /* 24159190995/2^28, 90, 24159190995/2^27, 180 */
        {"zzzzzzzzzzzz", 24159190995.0 / 268435456, 90, 24159190995.0 / 134217728, 180},
    };

    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const char *h = vectors[i].hash;
        struct geohash_box box;

        CHECK_IN(geohash_decode(guarded(h, strlen(h)), strlen(h), &box) == 0, h);
        CHECK_IN(box.lat_min == vectors[i].lat_min && box.lat_max == vectors[i].lat_max, h);
        CHECK_IN(box.lng_min == vectors[i].lng_min && box.lng_max == vectors[i].lng_max, h);
        CHECK_IN(box.lat == (vectors[i].lat_min + vectors[i].lat_max) / 2, h);
        CHECK_IN(box.lng == (vectors[i].lng_min + vectors[i].lng_max) / 2, h);
    }
}

static void test_validate(void)
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
    static const struct {
        const char *s;
        size_t len;
        int rc;
    } cases[] = {
        {"", 0, GEO_ERR_LENGTH},
        {"0123456789bcd", 13, GEO_ERR_LENGTH},
        {"0123456789bc", 12, 0},
        {"ezs42", 5, 0},
        {"ezs42", 3, 0},   /* only len bytes count */
        {"a", 1, GEO_ERR_CHAR}, /* the four letters base32 leaves out */
        {"i", 1, GEO_ERR_CHAR},
        {"l", 1, GEO_ERR_CHAR},
        {"o", 1, GEO_ERR_CHAR},
        {"EZS42", 5, GEO_ERR_CHAR}, /* canonical is lowercase */
        {"ezS42", 5, GEO_ERR_CHAR},
        {"ezs4\0", 5, GEO_ERR_CHAR},
        {"ez 42", 5, GEO_ERR_CHAR},
        {"ezs4:", 5, GEO_ERR_CHAR},
        {"\xff", 1, GEO_ERR_CHAR},
        {"g:ezs42", 7, GEO_ERR_CHAR}, /* a channel name is not a geohash */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = guarded(cases[i].s, cases[i].len);
        struct geohash_box box;
        char out[GEOHASH_SIZE];

        CHECK_EQ(geohash_validate(s, cases[i].len), cases[i].rc);
        memset(&box, 0x5a, sizeof(box));
        memset(out, '#', sizeof(out));
        CHECK_EQ(geohash_decode(s, cases[i].len, &box), cases[i].rc);
        CHECK_EQ(geohash_neighbour(s, cases[i].len, GEOHASH_N, out),
                 cases[i].rc == 0 ? 0 : cases[i].rc);
        if (cases[i].rc != 0) {
            unsigned char *b = (unsigned char *)&box;

            CHECK(b[0] == 0x5a && b[sizeof(box) - 1] == 0x5a);
            CHECK(out[0] == '#');
        }
    }
    /* Every byte: exactly the 32 of the alphabet pass. */
    for (int c = 0; c < 256; c++) {
        char s = (char)c;
        int want = strchr(alphabet, c) != NULL && c != 0 ? 0 : GEO_ERR_CHAR;

        CHECK_EQ(geohash_validate(guarded(&s, 1), 1), want);
    }
}

struct neighbour_vector {
    const char *hash;
    const char *want[GEOHASH_DIRS]; /* N, NE, E, SE, S, SW, W, NW; NULL beyond a pole */
};

/* From nb() above. */
static const struct neighbour_vector neighbour_vectors[] = {
    {"dqcjq", {"dqcjw", "dqcjx", "dqcjr", "dqcjp", "dqcjn", "dqcjj", "dqcjm", "dqcjt"}},
    {"ezs42", {"ezs48", "ezs49", "ezs43", "ezs41", "ezs40", "ezefp", "ezefr", "ezefx"}},
    /* the equator at the antimeridian, west side: east wraps to -180 */
    {"xbpbp", {"xbpbr", "80002", "80000", "2pbpb", "rzzzz", "rzzzy", "xbpbn", "xbpbq"}},
    /* north-east corner of the world: top row and last column */
    {"zzzzz", {NULL, NULL, "bpbpb", "bpbp8", "zzzzx", "zzzzw", "zzzzy", NULL}},
    /* south-west corner: bottom row and column 0 */
    {"00000", {"00002", "00003", "00001", NULL, NULL, NULL, "pbpbp", "pbpbr"}},
    {"pbpbp", {"pbpbr", "00002", "00000", NULL, NULL, NULL, "pbpbn", "pbpbq"}},
    /* the four cells that meet at (0, 0) */
    {"7zzzzz", {"ebpbpb", "s00000", "kpbpbp", "kpbpbn", "7zzzzy", "7zzzzw", "7zzzzx", "ebpbp8"}},
    {"s0000", {"s0002", "s0003", "s0001", "kpbpc", "kpbpb", "7zzzz", "ebpbp", "ebpbr"}},
    {"kpbpbpbp", {"s0000000", "s0000002", "kpbpbpbr", "kpbpbpbq", "kpbpbpbn", "7zzzzzzy",
                  "7zzzzzzz", "ebpbpbpb"}},
    /* top row at the prime meridian */
    {"gzzzz", {NULL, NULL, "upbpb", "upbp8", "gzzzx", "gzzzw", "gzzzy", NULL}},
    /* precision 1: 4 rows of 8 columns */
    {"u", {NULL, NULL, "v", "t", "s", "e", "g", NULL}},
    {"b", {NULL, NULL, "c", "9", "8", "x", "z", NULL}},
    {"0", {"2", "3", "1", NULL, NULL, NULL, "p", "r"}},
    {"z", {NULL, NULL, "b", "8", "x", "w", "y", NULL}},
};

static void test_neighbours_pinned(void)
{
    for (size_t i = 0; i < sizeof(neighbour_vectors) / sizeof(neighbour_vectors[0]); i++) {
        const struct neighbour_vector *v = &neighbour_vectors[i];
        size_t len = strlen(v->hash);
        const char *s = guarded(v->hash, len);

        for (int d = 0; d < GEOHASH_DIRS; d++) {
            char out[GEOHASH_SIZE];
            int rc;

            memset(out, '#', sizeof(out));
            rc = geohash_neighbour(s, len, (enum geohash_dir)d, out);
            if (v->want[d] == NULL) {
                CHECK_IN(rc == GEO_ERR_POLE, v->hash);
                CHECK_IN(out[0] == '#', v->hash);
            } else {
                CHECK_IN(rc == 0, v->hash);
                CHECK_STR(out, v->want[d]);
            }
        }
    }
    {
        char out[GEOHASH_SIZE];

        CHECK_EQ(geohash_neighbour("ezs42", 5, (enum geohash_dir)8, out), GEO_ERR_RANGE);
        CHECK_EQ(geohash_neighbour("ezs42", 5, (enum geohash_dir)-1, out), GEO_ERR_RANGE);
    }
}

/* A random string of precision p. */
static void random_hash(int p, char out[GEOHASH_SIZE])
{
    static const char alphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";

    for (int i = 0; i < p; i++)
        out[i] = alphabet[rnd_below(32)];
    out[p] = '\0';
}

/* Every precision: a random point lies in the box of its hash and the box has
 * the precision's size; the box's centre and its corners (half-open: min
 * edges in, max edges out) encode back to the same hash; and a random hash
 * decodes to a centre that encodes back to it. */
static void test_round_trips(void)
{
    for (int p = 1; p <= GEOHASH_PRECISION_MAX; p++) {
        double h = 180.0 / (double)(1ull << (5 * p / 2));
        double w = 360.0 / (double)(1ull << (5 * p - 5 * p / 2));

        for (int n = 0; n < 2000; n++) {
            double lat = (double)(rnd() >> 11) * 0x1.0p-53 * 180 - 90;
            double lng = (double)(rnd() >> 11) * 0x1.0p-53 * 360 - 180;
            char hash[GEOHASH_SIZE], again[GEOHASH_SIZE], random[GEOHASH_SIZE];
            struct geohash_box box;

            CHECK(geohash_encode(lat, lng, p, hash) == 0);
            CHECK_EQ(strlen(hash), p);
            CHECK(geohash_decode(hash, (size_t)p, &box) == 0);
            CHECK(box.lat_min <= lat && lat < box.lat_max);
            CHECK(box.lng_min <= lng && lng < box.lng_max);
            CHECK(box.lat_max - box.lat_min == h && box.lng_max - box.lng_min == w);
            CHECK(geohash_encode(box.lat, box.lng, p, again) == 0);
            CHECK_STR(again, hash);
            CHECK(geohash_encode(box.lat_min, box.lng_min, p, again) == 0);
            CHECK_STR(again, hash);
            if (box.lat_max < 90 && box.lng_max < 180) {
                CHECK(geohash_encode(box.lat_max, box.lng_max, p, again) == 0);
                CHECK(strcmp(again, hash) != 0);
            }

            random_hash(p, random);
            CHECK(geohash_decode(random, (size_t)p, &box) == 0);
            CHECK(geohash_encode(box.lat, box.lng, p, again) == 0);
            CHECK_STR(again, random);
        }
    }
}

/* Random cells of every precision: each neighbour shares the right edge or
 * corner with the cell (east of the last column is column 0 at -180), the
 * opposite step leads back, and the cells that exist are distinct. */
static void test_neighbours_random(void)
{
    static const int drow[GEOHASH_DIRS] = {1, 1, 0, -1, -1, -1, 0, 1};
    static const int dcol[GEOHASH_DIRS] = {0, 1, 1, 1, 0, -1, -1, -1};

    for (int p = 1; p <= GEOHASH_PRECISION_MAX; p++) {
        for (int n = 0; n < 500; n++) {
            char hash[GEOHASH_SIZE], nb[GEOHASH_DIRS][GEOHASH_SIZE];
            int have[GEOHASH_DIRS];
            struct geohash_box self;

            random_hash(p, hash);
            /* Now and then a cell in the top or bottom row or at either end. */
            if (n % 10 < 4) {
                double lat = n % 10 == 0 ? 90 : n % 10 == 1 ? -90 : 0;
                double lng = n % 10 == 2 ? 180 : n % 10 == 3 ? -180 : 0;

                CHECK(geohash_encode(lat, lng, p, hash) == 0);
            }
            CHECK(geohash_decode(hash, (size_t)p, &self) == 0);
            for (int d = 0; d < GEOHASH_DIRS; d++) {
                struct geohash_box b;
                int beyond = (drow[d] > 0 && self.lat_max == 90) ||
                             (drow[d] < 0 && self.lat_min == -90);
                double want_lng_min;

                have[d] = geohash_neighbour(hash, (size_t)p, (enum geohash_dir)d, nb[d]) == 0;
                CHECK_IN(have[d] == !beyond, hash);
                if (!have[d])
                    continue;
                CHECK(geohash_decode(nb[d], (size_t)p, &b) == 0);
                if (drow[d] > 0)
                    CHECK_IN(b.lat_min == self.lat_max, hash);
                else if (drow[d] < 0)
                    CHECK_IN(b.lat_max == self.lat_min, hash);
                else
                    CHECK_IN(b.lat_min == self.lat_min, hash);
                want_lng_min = self.lng_min + dcol[d] * (self.lng_max - self.lng_min);
                if (want_lng_min >= 180)
                    want_lng_min -= 360;
                if (want_lng_min < -180)
                    want_lng_min += 360;
                CHECK_IN(b.lng_min == want_lng_min, hash);
                {
                    char back[GEOHASH_SIZE];

                    CHECK(geohash_neighbour(nb[d], (size_t)p,
                                            (enum geohash_dir)((d + 4) % GEOHASH_DIRS),
                                            back) == 0);
                    CHECK_STR(back, hash);
                }
            }
            for (int a = 0; a < GEOHASH_DIRS; a++) {
                if (!have[a])
                    continue;
                CHECK_IN(strcmp(nb[a], hash) != 0, hash);
                for (int b = a + 1; b < GEOHASH_DIRS; b++)
                    CHECK_IN(!have[b] || strcmp(nb[a], nb[b]) != 0, hash);
            }
        }
    }
}

int main(void)
{
    rnd_seed(0x67656f68617368ULL);
    guard_map(&guard, 64);
    test_encode_pinned();
    test_encode_refused();
    test_decode_pinned();
    test_validate();
    test_neighbours_pinned();
    test_round_trips();
    test_neighbours_random();
    guard_release(&guard);
    if (failures) {
        fprintf(stderr, "test-geohash: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
