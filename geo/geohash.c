/* geohash.c: geohash encode, decode, neighbours and validation by exact bisection on row and column indices. */
#include <math.h>
#include <stdint.h>

#include "geohash-internal.h"

static const char geohash_alphabet[33] = "0123456789bcdefghjkmnpqrstuvwxyz";

/* A character's 5-bit value plus one; 0 for every byte outside the alphabet. */
static const unsigned char geohash_value[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,
    ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14,
    ['f'] = 15, ['g'] = 16, ['h'] = 17, ['j'] = 18, ['k'] = 19, ['m'] = 20, ['n'] = 21,
    ['p'] = 22, ['q'] = 23, ['r'] = 24, ['s'] = 25, ['t'] = 26, ['u'] = 27, ['v'] = 28,
    ['w'] = 29, ['x'] = 30, ['y'] = 31, ['z'] = 32,
};

double geohash_cell_height_deg(int precision)
{
    return ldexp(180.0, -(int)geohash_lat_bits(precision));
}

double geohash_cell_width_deg(int precision)
{
    return ldexp(360.0, -(int)geohash_lng_bits(precision));
}

/* The index of v among 2^bits equal slices of [lo, hi], by halving: every
 * midpoint is a dyadic fraction of 180 with at most 38 significant bits, so
 * each is exact and so is every comparison. v == hi lands in the top slice. */
static uint32_t geohash_bisect(double v, double lo, double hi, unsigned bits)
{
    uint32_t index = 0;

    for (unsigned i = 0; i < bits; i++) {
        double mid = (lo + hi) / 2;

        index <<= 1;
        if (v >= mid) {
            index |= 1;
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return index;
}

int geohash_cell_of(double lat, double lng, int precision, struct geohash_cell *cell)
{
    if (precision < 1 || precision > GEOHASH_PRECISION_MAX)
        return GEO_ERR_PRECISION;
    /* Written so that NaN fails too. */
    if (!(lat >= -90 && lat <= 90) || !(lng >= -180 && lng <= 180))
        return GEO_ERR_RANGE;
    cell->row = geohash_bisect(lat, -90, 90, geohash_lat_bits(precision));
    cell->col = geohash_bisect(lng, -180, 180, geohash_lng_bits(precision));
    cell->precision = precision;
    return 0;
}

int geohash_validate(const char *s, size_t len)
{
    if (len == 0 || len > GEOHASH_PRECISION_MAX)
        return GEO_ERR_LENGTH;
    for (size_t i = 0; i < len; i++) {
        if (geohash_value[(unsigned char)s[i]] == 0)
            return GEO_ERR_CHAR;
    }
    return 0;
}

/* Bit i of the 5p-bit code, counted from the first (most significant): even
 * positions are longitude bits, odd ones latitude, each from its top bit. */
int geohash_cell_parse(const char *s, size_t len, struct geohash_cell *cell)
{
    uint32_t row = 0, col = 0;
    unsigned pos = 0;
    int rc = geohash_validate(s, len);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < len; i++) {
        unsigned v = geohash_value[(unsigned char)s[i]] - 1u;

        for (int k = 4; k >= 0; k--, pos++) {
            uint32_t bit = (v >> k) & 1u;

            if (pos % 2 == 0)
                col = (col << 1) | bit;
            else
                row = (row << 1) | bit;
        }
    }
    cell->row = row;
    cell->col = col;
    cell->precision = (int)len;
    return 0;
}

void geohash_cell_format(const struct geohash_cell *cell, char out[GEOHASH_SIZE])
{
    unsigned lat_left = geohash_lat_bits(cell->precision);
    unsigned lng_left = geohash_lng_bits(cell->precision);
    unsigned pos = 0;

    for (int i = 0; i < cell->precision; i++) {
        unsigned v = 0;

        for (int k = 0; k < 5; k++, pos++) {
            uint32_t bit;

            if (pos % 2 == 0)
                bit = (cell->col >> --lng_left) & 1u;
            else
                bit = (cell->row >> --lat_left) & 1u;
            v = (v << 1) | bit;
        }
        out[i] = geohash_alphabet[v];
    }
    out[cell->precision] = '\0';
}

int geohash_cell_step(const struct geohash_cell *cell, int drow, int dcol,
                      struct geohash_cell *out)
{
    int64_t rows = (int64_t)1 << geohash_lat_bits(cell->precision);
    int64_t cols = (int64_t)1 << geohash_lng_bits(cell->precision);
    int64_t row = (int64_t)cell->row + drow;
    int64_t col = ((int64_t)cell->col + dcol) % cols;

    if (row < 0 || row >= rows)
        return GEO_ERR_POLE;
    if (col < 0)
        col += cols;
    out->row = (uint32_t)row;
    out->col = (uint32_t)col;
    out->precision = cell->precision;
    return 0;
}

/* Index times step is at most 2^30 * 45 * 2^-28 in 36 significant bits and
 * the offsets are multiples of the step: all exact. */
void geohash_cell_box(const struct geohash_cell *cell, struct geohash_box *box)
{
    double h = geohash_cell_height_deg(cell->precision);
    double w = geohash_cell_width_deg(cell->precision);

    box->lat_min = -90 + cell->row * h;
    box->lat_max = box->lat_min + h;
    box->lng_min = -180 + cell->col * w;
    box->lng_max = box->lng_min + w;
    box->lat = box->lat_min + h / 2;
    box->lng = box->lng_min + w / 2;
}

int geohash_encode(double lat, double lng, int precision, char out[GEOHASH_SIZE])
{
    struct geohash_cell cell;
    int rc = geohash_cell_of(lat, lng, precision, &cell);

    if (rc < 0)
        return rc;
    geohash_cell_format(&cell, out);
    return 0;
}

int geohash_decode(const char *s, size_t len, struct geohash_box *box)
{
    struct geohash_cell cell;
    int rc = geohash_cell_parse(s, len, &cell);

    if (rc < 0)
        return rc;
    geohash_cell_box(&cell, box);
    return 0;
}

/* Row and column offsets of each direction, in enum order. */
static const int geohash_dir_step[GEOHASH_DIRS][2] = {
    [GEOHASH_N] = {1, 0},   [GEOHASH_NE] = {1, 1},   [GEOHASH_E] = {0, 1},
    [GEOHASH_SE] = {-1, 1}, [GEOHASH_S] = {-1, 0},   [GEOHASH_SW] = {-1, -1},
    [GEOHASH_W] = {0, -1},  [GEOHASH_NW] = {1, -1},
};

int geohash_neighbour(const char *s, size_t len, enum geohash_dir dir, char out[GEOHASH_SIZE])
{
    struct geohash_cell cell, next;
    int rc;

    if ((unsigned)dir >= GEOHASH_DIRS)
        return GEO_ERR_RANGE;
    rc = geohash_cell_parse(s, len, &cell);
    if (rc < 0)
        return rc;
    rc = geohash_cell_step(&cell, geohash_dir_step[dir][0], geohash_dir_step[dir][1], &next);
    if (rc < 0)
        return rc;
    geohash_cell_format(&next, out);
    return 0;
}
