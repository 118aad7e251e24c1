/* geohash.h: geohash cells: encode a position, decode a cell's bounds, step to a neighbour, validate a string. No I/O.
 *
 * A geohash of precision p (1..12) names a cell of a regular grid in degrees.
 * Its 5p bits alternate between longitude and latitude, longitude first, each
 * bit halving the interval it refines ([-180, 180] and [-90, 90]); the bits
 * are written 5 at a time in the base32 alphabet 0123456789bcdefghjkmnpqrstuvwxyz
 * (no a, i, l, o). So a cell is ceil(5p/2) bits of longitude by floor(5p/2)
 * of latitude: 2^ceil(5p/2) columns and 2^floor(5p/2) rows.
 *
 * Cells are half-open: a cell holds lat_min <= lat < lat_max and
 * lng_min <= lng < lng_max, except that lat = 90 falls in the top row and
 * lng = 180 in the last column. lng = -180 and lng = 180 are one meridian
 * but two cells' edges; both encode, to column 0 and the last column, which
 * are neighbours. Every bound is a dyadic fraction of 180, so encoding is
 * exact bisection with no rounding: the centre of a cell always encodes back
 * to that cell.
 *
 * Strings are canonical: lowercase only. "EZS42" is refused rather than read
 * as "ezs42", so a cell has exactly one channel name.
 *
 * Cell sizes (height, and width at the equator; width shrinks with the
 * cosine of the latitude, to cos(60 deg) = half at 60 degrees):
 *
 *   p   rows x columns     height      width at the equator
 *   1   4 x 8              5004 km     5004 km
 *   2   32 x 32            625 km      1251 km
 *   3   128 x 256          156 km      156 km
 *   4   1024 x 1024        19.5 km     39.1 km
 *   5   4096 x 8192        4.89 km     4.89 km
 *   6   2^15 x 2^15        611 m       1.22 km
 *   7   2^17 x 2^18        153 m       153 m
 *   8   2^20 x 2^20        19.1 m      38.2 m
 *   ...
 *   12  2^30 x 2^30        1.9 cm      3.7 cm
 *
 * How nearby uses them (strangers, issue 14):
 *
 * - Cell channels `g:<geohash>` are at GEOHASH_CHANNEL_PRECISION = 5, cells
 *   of 4.89 km x 4.89 km at the equator. A phone publishes to its own cell and
 *   listens to its cell and the 8 around it (geo/cellset.h). Those 9 cells
 *   hold every point within one cell height or width of the phone, which is
 *   what cellset_cover_km() computes: 4.89 km at the equator, 3.45 km at 45
 *   degrees, 2.44 km at 60, 2.06 km at 65, 1.67 km at 70, 0.84 km at 80. So
 *   a strangers radius of 2 km is always covered up to 65 degrees of latitude
 *   (every large city but a few in the far north: Murmansk at 69, Tromso at 70
 *   see strangers only to about 1.7 km east and west), and precision 5 is the
 *   coarsest whose 9 cells are not needlessly large for a radius of a few km:
 *   precision 4 would make each cell channel carry 8 times as many phones
 *   (19.5 x 39 km), precision 6 would cover only 611 m.
 * - Positions shown to strangers are snapped to the centre of their
 *   GEOHASH_COARSE_PRECISION = 7 cell: 153 m x 153 m at the equator (153 m
 *   north-south everywhere, narrower east-west: 108 m at 45 degrees), so a
 *   shown position is at most about 108 m from the true one and never more
 *   precise than a city block (geo/stranger.h).
 * - Antimeridian: east and west neighbours wrap around (column 0 and the last
 *   column are neighbours), so a phone at lng 179.99 hears one at -179.99.
 * - Poles: there is no cell beyond a pole. A neighbour north of the top row
 *   or south of the bottom row does not exist (geohash_neighbour() says
 *   GEO_ERR_POLE), and a cell set there has 6 cells, not 9. Cells near a pole
 *   are slivers a few metres wide, so within two rows of a pole (|lat| > 89.91
 *   degrees at precision 5) the 9 cells cover no useful radius at all; no
 *   city lies there.
 */
#ifndef NEARBY_GEOHASH_H
#define NEARBY_GEOHASH_H

#include <stddef.h>

#include "geo_err.h"

#define GEOHASH_PRECISION_MAX 12
/* Bytes of a geohash string buffer: up to 12 characters and a NUL. */
#define GEOHASH_SIZE (GEOHASH_PRECISION_MAX + 1)

/* The precision of `g:<geohash>` channels and of the coarsened position; why
 * these two, above. */
#define GEOHASH_CHANNEL_PRECISION 5
#define GEOHASH_COARSE_PRECISION 7

/* A cell's bounds and centre, in degrees. Plain values: copy freely. */
struct geohash_box {
    double lat_min, lat_max;
    double lng_min, lng_max;
    double lat, lng; /* the centre */
};

/* The 8 neighbours of a cell. */
enum geohash_dir {
    GEOHASH_N,
    GEOHASH_NE,
    GEOHASH_E,
    GEOHASH_SE,
    GEOHASH_S,
    GEOHASH_SW,
    GEOHASH_W,
    GEOHASH_NW,
};
#define GEOHASH_DIRS 8

/* Writes the geohash of (lat, lng) at precision 1..12 to out as a
 * NUL-terminated string of `precision` characters. Returns 0, or
 * GEO_ERR_PRECISION, or GEO_ERR_RANGE if lat is outside [-90, 90] or lng
 * outside [-180, 180] (NaN included); out is written only on success. */
int geohash_encode(double lat, double lng, int precision, char out[GEOHASH_SIZE]);

/* Returns 0 if the len bytes at s are a geohash (1..12 characters of the
 * lowercase alphabet; no NUL needed), GEO_ERR_LENGTH if len is 0 or above
 * 12, GEO_ERR_CHAR if a byte is outside the alphabet (uppercase and NUL
 * included). Its precision is len. */
int geohash_validate(const char *s, size_t len);

/* Fills *box with the bounds and centre of the cell named by the len bytes at
 * s. Returns 0, or what geohash_validate() says, without writing *box. */
int geohash_decode(const char *s, size_t len, struct geohash_box *box);

/* Writes the neighbour in direction dir of the cell named by the len bytes at
 * s, at the same precision, to out. East and west wrap around the
 * antimeridian. Returns 0; GEO_ERR_POLE if that neighbour would lie beyond a
 * pole (north of the top row, south of the bottom row: NE, NW, SE and SW
 * included), for there is no such cell; what geohash_validate() says; or
 * GEO_ERR_RANGE for a dir outside the enum. out is written only on success. */
int geohash_neighbour(const char *s, size_t len, enum geohash_dir dir, char out[GEOHASH_SIZE]);

#endif
