/* geo_err.h: the error values every function of the geo library returns. */
#ifndef NEARBY_GEO_ERR_H
#define NEARBY_GEO_ERR_H

/* Functions of geo/ that return int give 0 on success or one of these, and
 * write their out-parameters only on success. */
enum geo_err {
    GEO_OK = 0,
    GEO_ERR_RANGE = -1,     /* a coordinate or radius is out of range or not finite */
    GEO_ERR_PRECISION = -2, /* a geohash precision outside 1..GEOHASH_PRECISION_MAX */
    GEO_ERR_LENGTH = -3,    /* a geohash string is empty or longer than GEOHASH_PRECISION_MAX */
    GEO_ERR_CHAR = -4,      /* a geohash string has a byte outside the lowercase base32 alphabet */
    GEO_ERR_POLE = -5,      /* the neighbour asked for lies beyond a pole: there is none */
    GEO_ERR_FULL = -6,      /* a cell set already holds CELLSET_MAX cells */
    GEO_ERR_RANDOM = -7,    /* getrandom(2) failed */
};

/* Returns a static, readable description of a GEO_ERR_* value. */
const char *geo_strerror(int err);

#endif
