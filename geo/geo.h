/* geo.h: great-circle distance between positions and a cheap "maybe near" pre-filter. No I/O.
 *
 * Positions are (lat, lng) in degrees, lat in [-90, 90], lng in [-180, 180];
 * callers validate them first (proto/ refuses anything else). Distances are
 * kilometres on a sphere of radius GEO_EARTH_RADIUS_KM. A sphere is off from
 * the WGS-84 ellipsoid by at most about 0.5 %, which is far below what a
 * phone's fix and a 5-mile radius care about.
 *
 * Typical use on fan-out: a session builds a struct geo_bound once for its own
 * position and radius; for each friend update it calls geo_bound_may_contain()
 * (a few comparisons), and only if that says 1 computes geo_distance_km() and
 * compares it with the radius. The pre-filter never says 0 for a point whose
 * geo_distance_km() is <= the radius, so skipping on 0 is always safe.
 */
#ifndef NEARBY_GEO_H
#define NEARBY_GEO_H

/* IUGG mean Earth radius R1 = (2a + b) / 3 of the WGS-84 ellipsoid, in km:
 * the radius of the sphere that minimises the mean distance error. */
#define GEO_EARTH_RADIUS_KM 6371.0088

/* Returns the haversine great-circle distance in km between two positions,
 * in [0, pi * GEO_EARTH_RADIUS_KM]. It takes asin(sqrt()) of the haversine
 * term or of its complement, whichever is smaller, each clamped to <= 1, so
 * it is accurate to full relative precision for tiny distances (no acos of a
 * value near 1), to well under a millimetre near antipodes, and never yields
 * NaN. Symmetric in its two points. Out-of-range or non-finite input gives an unspecified value (NaN
 * for NaN input); it never traps. */
double geo_distance_km(double lat1, double lng1, double lat2, double lng2);

/* A position as a unit vector in 3-D. Building it costs the trigonometry,
 * once per position; the distance between two of them then costs one sqrt
 * and one asin, which is what fan-out pays per recipient. */
struct geo_point {
    double x, y, z;
};

/* Fills *p for (lat, lng) in degrees. */
void geo_point_init(struct geo_point *p, double lat, double lng);

/* Great-circle distance in km from the chord between the unit vectors:
 * 2 R asin(|a - b| / 2), or, past a quarter circle where that loses
 * precision, R (pi - 2 asin(|a + b| / 2)). Agrees with geo_distance_km()
 * to within a micrometre (test-geo checks 1e-9 km). */
double geo_point_distance_km(const struct geo_point *a, const struct geo_point *b);

/* A latitude band and a longitude half-width around a centre, in degrees,
 * that enclose every point within a radius. Plain values: copy freely. */
struct geo_bound {
    double lat_min;
    double lat_max;
    double lng;       /* centre longitude */
    double lng_half;  /* >= 180 when every longitude is possible */
};

/* Fills *b for the circle of radius_km around (lat, lng). Returns 0, or
 * GEO_ERR_RANGE (-1, geo_err.h) without writing *b if radius_km is negative
 * or non-finite or the centre is not finite. The bound is widened by a small
 * margin so that rounding in geo_distance_km() never puts an inside point
 * outside it. */
int geo_bound_init(struct geo_bound *b, double lat, double lng, double radius_km);

/* Returns 0 if (lat, lng) is certainly farther than the radius from the
 * centre, 1 if it may be within it (then compute geo_distance_km()).
 * Handles the antimeridian and circles that contain a pole. */
int geo_bound_may_contain(const struct geo_bound *b, double lat, double lng);

#endif
