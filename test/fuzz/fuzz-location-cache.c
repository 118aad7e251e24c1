/* fuzz-location-cache.c: libFuzzer target for the location cache's value codec (location_cache_decode and _encode).
 *
 * Input: a value as read from the cache with MGET. One that decodes must
 * encode to itself (the format has one spelling per position, but for a zero
 * written "-0.0000000", which decodes and is encoded "0.0000000"), and that
 * must decode to the same position. The first 32 bytes are also read as
 * (lat, lng, ts, consent) to encode: a value the encoder writes must decode
 * to within half a unit of its last decimal, and encode again to itself.
 */
#include <math.h>

#include "fuzz.h"
#include "location_cache.h"

static int coord_ok(double v, double limit)
{
    return isfinite(v) && v >= -limit && v <= limit;
}

/* A decoded value. */
struct value {
    double lat, lng;
    uint64_t ts, consent;
};

/* Decodes an exact-size copy; a failure must leave the out-parameters alone. */
static int decode(const char *buf, size_t len, struct value *out)
{
    char *copy = (char *)fuzz_copy(buf, len);
    struct value v;
    FUZZ_POISON(v);
    int r = location_cache_decode(copy, len, &v.lat, &v.lng, &v.ts, &v.consent);

    free(copy);
    if (r < 0) {
        FUZZ_CHECK(r == LOCATION_CACHE_ERR_INVALID);
        FUZZ_CHECK(FUZZ_UNTOUCHED(v));
        return r;
    }
    FUZZ_CHECK(r == 0 && coord_ok(v.lat, 90.0) && coord_ok(v.lng, 180.0));
    *out = v;
    return 0;
}

/* Encodes into a buffer of exactly LOCATION_CACHE_VALUE_MAX bytes, the
 * smallest the encoder takes. */
static int encode(char *out, const struct value *v)
{
    char *exact = (char *)fuzz_alloc(LOCATION_CACHE_VALUE_MAX);
    int n = location_cache_encode(exact, LOCATION_CACHE_VALUE_MAX, v->lat, v->lng, v->ts,
                                  v->consent);

    if (n >= 0) {
        FUZZ_CHECK(n > 0 && n < LOCATION_CACHE_VALUE_MAX && exact[n] == '\0');
        FUZZ_CHECK(strlen(exact) == (size_t)n);
        memcpy(out, exact, (size_t)n + 1);
    }
    FUZZ_CHECK(location_cache_encode(exact, LOCATION_CACHE_VALUE_MAX - 1, v->lat, v->lng, v->ts,
                                     v->consent) == LOCATION_CACHE_ERR_INVALID);
    free(exact);
    return n;
}

/* A value that decoded: the round trip through the encoder. */
static void check_decoded(const char *text, size_t len, const struct value *v)
{
    char out[LOCATION_CACHE_VALUE_MAX], again_out[LOCATION_CACHE_VALUE_MAX];
    struct value again;
    int n = encode(out, v);

    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(decode(out, (size_t)n, &again) == 0);
    /* == and not the bits: "-0.0000000" comes back as 0. */
    FUZZ_CHECK(v->lat == again.lat && v->lng == again.lng);
    FUZZ_CHECK(v->ts == again.ts && v->consent == again.consent);
    FUZZ_CHECK(encode(again_out, &again) == n && memcmp(out, again_out, (size_t)n) == 0);

    int negative_zero = (v->lat == 0.0 && signbit(v->lat)) || (v->lng == 0.0 && signbit(v->lng));
    if (!negative_zero)
        FUZZ_CHECK((size_t)n == len && memcmp(out, text, len) == 0);
    else
        FUZZ_CHECK((size_t)n < len);
}

/* A value from raw bytes: the encoder's side. */
static void check_encoded(const struct value *v)
{
    char out[LOCATION_CACHE_VALUE_MAX];
    int n = encode(out, v);

    if (!coord_ok(v->lat, 90.0) || !coord_ok(v->lng, 180.0)) {
        FUZZ_CHECK(n == LOCATION_CACHE_ERR_INVALID);
        return;
    }
    FUZZ_CHECK(n > 0);
    struct value back;
    FUZZ_CHECK(decode(out, (size_t)n, &back) == 0);
    /* 7 decimals: within half of 1e-7, and a rounding error of the product. */
    FUZZ_CHECK(fabs(back.lat - v->lat) <= 0.5e-7 + 1e-13);
    FUZZ_CHECK(fabs(back.lng - v->lng) <= 0.5e-7 + 1e-13);
    FUZZ_CHECK(back.ts == v->ts && back.consent == v->consent);
    check_decoded(out, (size_t)n, &back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct value v;

    if (decode((const char *)data, size, &v) == 0)
        check_decoded((const char *)data, size, &v);
    if (size >= 32) {
        memcpy(&v.lat, data, 8);
        memcpy(&v.lng, data + 8, 8);
        memcpy(&v.ts, data + 16, 8);
        memcpy(&v.consent, data + 24, 8);
        check_encoded(&v);
    }
    return 0;
}
