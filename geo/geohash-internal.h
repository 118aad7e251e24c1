/* geohash-internal.h: a geohash cell as its row and column, for geo/ modules that step through cells without strings. */
#ifndef NEARBY_GEOHASH_INTERNAL_H
#define NEARBY_GEOHASH_INTERNAL_H

#include <stdint.h>

#include "geohash.h"

/* A cell as its row (latitude index, 0 at the south pole) and column
 * (longitude index, 0 at -180) at a precision of 1..12. */
struct geohash_cell {
    uint32_t row;
    uint32_t col;
    int precision;
};

/* Bits of latitude and of longitude at a precision. */
static inline unsigned geohash_lat_bits(int precision)
{
    return (unsigned)(5 * precision / 2);
}

static inline unsigned geohash_lng_bits(int precision)
{
    return (unsigned)(5 * precision) - geohash_lat_bits(precision);
}

/* Height and width of a cell at a precision, in degrees (exact). */
double geohash_cell_height_deg(int precision);
double geohash_cell_width_deg(int precision);

/* The cell holding (lat, lng). Returns 0, GEO_ERR_PRECISION or GEO_ERR_RANGE
 * as geohash_encode() does; *cell is written only on success. */
int geohash_cell_of(double lat, double lng, int precision, struct geohash_cell *cell);

/* Parses a geohash string; returns 0 or what geohash_validate() says. */
int geohash_cell_parse(const char *s, size_t len, struct geohash_cell *cell);

/* Writes the cell's geohash, precision characters and a NUL. */
void geohash_cell_format(const struct geohash_cell *cell, char out[GEOHASH_SIZE]);

/* The cell drow rows north and dcol columns east of *cell (each -1, 0 or 1;
 * columns wrap around the antimeridian). Returns 0, or GEO_ERR_POLE without
 * writing *out when the row would lie beyond a pole. */
int geohash_cell_step(const struct geohash_cell *cell, int drow, int dcol,
                      struct geohash_cell *out);

/* The cell's bounds and centre. */
void geohash_cell_box(const struct geohash_cell *cell, struct geohash_box *box);

#endif
