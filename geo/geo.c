/* geo.c: haversine distance and the latitude-band / longitude-width pre-filter. */
#include <math.h>

#include "geo.h"
#include "geo_err.h"

#define GEO_PI 3.14159265358979323846
#define GEO_RAD (GEO_PI / 180.0)

/* Widening of the pre-filter bound: relative and absolute (radians). Rounding
 * in either computation is ~1e-15 relative; 1e-6 leaves room to spare and
 * still costs nothing measurable in how many points pass. */
#define GEO_MARGIN_REL 1e-6
#define GEO_MARGIN_ABS 1e-9

/* When sin(d/2) / cos(lat) gets this close to 1, asin is too ill-conditioned
 * to trust and the circle nearly reaches a pole: accept every longitude. */
#define GEO_RATIO_ALL 0.999

/* hav(d) = hav(dlat) + cos(lat1) cos(lat2) hav(dlng) is rewritten with
 * cos(lat1) cos(lat2) = cos^2(sum/2) - sin^2(dlat/2) as a sum of squares, and
 * so is its complement 1 - hav(d): both are then accurate to the last bits
 * even where one of them is nearly 1. asin(sqrt()) is taken of the smaller
 * one, where asin is well conditioned: h near 0 gives tiny distances to full
 * relative precision, and near antipodes the distance comes out as
 * pi - 2 asin(sqrt(1 - h)) instead of losing ~1e-8 rad to asin's infinite
 * slope at 1. */
double geo_distance_km(double lat1, double lng1, double lat2, double lng2)
{
    double half_dlat = (lat2 - lat1) * GEO_RAD / 2;
    double half_sum = (lat2 + lat1) * GEO_RAD / 2;
    double half_dlng = (lng2 - lng1) * GEO_RAD / 2;
    double sd = sin(half_dlat), cd = cos(half_dlat);
    double ss = sin(half_sum), cs = cos(half_sum);
    double sl = sin(half_dlng), cl = cos(half_dlng);
    double h = sd * sd * cl * cl + cs * cs * sl * sl;
    double g = cd * cd * cl * cl + ss * ss * sl * sl;

    if (h <= g) {
        /* Rounding can leave h a hair past its bound; asin would give NaN. */
        return 2 * GEO_EARTH_RADIUS_KM * asin(sqrt(h > 1 ? 1 : h));
    }
    return GEO_EARTH_RADIUS_KM * (GEO_PI - 2 * asin(sqrt(g > 1 ? 1 : g)));
}

void geo_point_init(struct geo_point *p, double lat, double lng)
{
    double la = lat * GEO_RAD, lo = lng * GEO_RAD;
    double cla = cos(la);

    p->x = cla * cos(lo);
    p->y = cla * sin(lo);
    p->z = sin(la);
}

double geo_point_distance_km(const struct geo_point *a, const struct geo_point *b)
{
    double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
    double chord2 = dx * dx + dy * dy + dz * dz; /* |a - b|^2, 0..4 */
    double sx, sy, sz;

    if (chord2 <= 2.0) {
        double half = sqrt(chord2) / 2;
        return 2 * GEO_EARTH_RADIUS_KM * asin(half > 1 ? 1 : half);
    }
    sx = a->x + b->x;
    sy = a->y + b->y;
    sz = a->z + b->z;
    return GEO_EARTH_RADIUS_KM *
           (GEO_PI - 2 * asin(fmin(1.0, sqrt(sx * sx + sy * sy + sz * sz) / 2)));
}

/* Why the bound is sound, for a point P within angle d of the centre C:
 *   latitude:  a great circle is never shorter than the difference in
 *              latitude, so |lat_P - lat_C| <= d;
 *   longitude: with hav(x) = sin^2(x/2), hav(d) = hav(dlat) +
 *              cos(lat_C) cos(lat_P) hav(dlng) >= cos^2(m) hav(dlng), where m
 *              is the largest |latitude| in the band; hence
 *              sin(dlng/2) <= sin(d/2) / cos(m). */
int geo_bound_init(struct geo_bound *b, double lat, double lng, double radius_km)
{
    double d, dlat, m, ratio, half;

    if (!isfinite(lat) || !isfinite(lng) || !isfinite(radius_km) || radius_km < 0)
        return GEO_ERR_RANGE;
    d = radius_km / GEO_EARTH_RADIUS_KM;
    dlat = d * (1 + GEO_MARGIN_REL) + GEO_MARGIN_ABS;
    m = fabs(lat) * GEO_RAD + dlat;
    if (d >= GEO_PI / 2 || m >= GEO_PI / 2) {
        half = 180;
    } else {
        ratio = sin(d / 2) / cos(m);
        if (ratio >= GEO_RATIO_ALL)
            half = 180;
        else
            half = (2 * asin(ratio) * (1 + GEO_MARGIN_REL) + GEO_MARGIN_ABS) / GEO_RAD;
    }
    b->lat_min = lat - dlat / GEO_RAD;
    b->lat_max = lat + dlat / GEO_RAD;
    b->lng = lng;
    b->lng_half = half;
    return 0;
}

int geo_bound_may_contain(const struct geo_bound *b, double lat, double lng)
{
    double dl;

    if (!(lat >= b->lat_min && lat <= b->lat_max))
        return 0;
    if (b->lng_half >= 180)
        return 1;
    /* The shorter way round, so a circle across the antimeridian works. */
    dl = fabs(lng - b->lng);
    if (dl > 180)
        dl = 360 - dl;
    return dl <= b->lng_half;
}
