/* fuzz-location-cache.c: libFuzzer target for the location cache's value codec (location_cache_decode and _encode).
 *
 * Input: a value as read from the cache with MGET. One that decodes must
 * encode to itself (the format has one spelling per position, but for a zero
 * written "-0.0000000", which decodes and is encoded "0.0000000"), and that
 * must decode to the same position. The first 24 bytes are also read as
 * (lat, lng, ts) to encode: a value the encoder writes must decode to within
 * half a unit of its last decimal, and encode again to itself.
 */
#include <math.h>

#include "fuzz.h"
#include "location_cache.h"

static int coord_ok(double v, double limit)
{
    return isfinite(v) && v >= -limit && v <= limit;
}

/* Decodes an exact-size copy; a failure must leave the out-parameters alone. */
static int decode(const char *buf, size_t len, double *lat, double *lng, uint64_t *ts)
{
    char *copy = (char *)fuzz_copy(buf, len);
    double la, ln;
    uint64_t t;
    FUZZ_POISON(la);
    FUZZ_POISON(ln);
    FUZZ_POISON(t);
    int r = location_cache_decode(copy, len, &la, &ln, &t);

    free(copy);
    if (r < 0) {
        FUZZ_CHECK(r == LOCATION_CACHE_ERR_INVALID);
        FUZZ_CHECK(FUZZ_UNTOUCHED(la) && FUZZ_UNTOUCHED(ln) && FUZZ_UNTOUCHED(t));
        return r;
    }
    FUZZ_CHECK(r == 0 && coord_ok(la, 90.0) && coord_ok(ln, 180.0));
    *lat = la;
    *lng = ln;
    *ts = t;
    return 0;
}

/* Encodes into a buffer of exactly LOCATION_CACHE_VALUE_MAX bytes, the
 * smallest the encoder takes. */
static int encode(char *out, double lat, double lng, uint64_t ts)
{
    char *exact = (char *)fuzz_alloc(LOCATION_CACHE_VALUE_MAX);
    int n = location_cache_encode(exact, LOCATION_CACHE_VALUE_MAX, lat, lng, ts);

    if (n >= 0) {
        FUZZ_CHECK(n > 0 && n < LOCATION_CACHE_VALUE_MAX && exact[n] == '\0');
        FUZZ_CHECK(strlen(exact) == (size_t)n);
        memcpy(out, exact, (size_t)n + 1);
    }
    FUZZ_CHECK(location_cache_encode(exact, LOCATION_CACHE_VALUE_MAX - 1, lat, lng, ts) ==
               LOCATION_CACHE_ERR_INVALID);
    free(exact);
    return n;
}

/* A value that decoded: the round trip through the encoder. */
static void check_decoded(const char *value, size_t len, double lat, double lng, uint64_t ts)
{
    char out[LOCATION_CACHE_VALUE_MAX], again_out[LOCATION_CACHE_VALUE_MAX];
    double lat2, lng2;
    uint64_t ts2;
    int n = encode(out, lat, lng, ts);

    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(decode(out, (size_t)n, &lat2, &lng2, &ts2) == 0);
    /* == and not the bits: "-0.0000000" comes back as 0. */
    FUZZ_CHECK(lat == lat2 && lng == lng2 && ts == ts2);
    FUZZ_CHECK(encode(again_out, lat2, lng2, ts2) == n && memcmp(out, again_out, (size_t)n) == 0);

    int negative_zero = (lat == 0.0 && signbit(lat)) || (lng == 0.0 && signbit(lng));
    if (!negative_zero)
        FUZZ_CHECK((size_t)n == len && memcmp(out, value, len) == 0);
    else
        FUZZ_CHECK((size_t)n < len);
}

/* (lat, lng, ts) from raw bytes: the encoder's side. */
static void check_encoded(double lat, double lng, uint64_t ts)
{
    char out[LOCATION_CACHE_VALUE_MAX];
    int n = encode(out, lat, lng, ts);

    if (!coord_ok(lat, 90.0) || !coord_ok(lng, 180.0)) {
        FUZZ_CHECK(n == LOCATION_CACHE_ERR_INVALID);
        return;
    }
    FUZZ_CHECK(n > 0);
    double lat2, lng2;
    uint64_t ts2;
    FUZZ_CHECK(decode(out, (size_t)n, &lat2, &lng2, &ts2) == 0);
    /* 7 decimals: within half of 1e-7, and a rounding error of the product. */
    FUZZ_CHECK(fabs(lat2 - lat) <= 0.5e-7 + 1e-13 && fabs(lng2 - lng) <= 0.5e-7 + 1e-13);
    FUZZ_CHECK(ts2 == ts);
    check_decoded(out, (size_t)n, lat2, lng2, ts2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double lat, lng;
    uint64_t ts;

    if (decode((const char *)data, size, &lat, &lng, &ts) == 0)
        check_decoded((const char *)data, size, lat, lng, ts);
    if (size >= 24) {
        memcpy(&lat, data, 8);
        memcpy(&lng, data + 8, 8);
        memcpy(&ts, data + 16, 8);
        check_encoded(lat, lng, ts);
    }
    return 0;
}
