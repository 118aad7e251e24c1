/* geo_err.c: readable descriptions of the geo library's errors. */
#include "geo_err.h"

const char *geo_strerror(int err)
{
    switch (err) {
    case GEO_OK: return "success";
    case GEO_ERR_RANGE: return "coordinate or radius out of range";
    case GEO_ERR_PRECISION: return "geohash precision out of range";
    case GEO_ERR_LENGTH: return "geohash empty or too long";
    case GEO_ERR_CHAR: return "geohash has a character outside its alphabet";
    case GEO_ERR_POLE: return "no cell beyond the pole";
    case GEO_ERR_FULL: return "cell set full";
    case GEO_ERR_RANDOM: return "getrandom failed";
    default: return "unknown error";
    }
}
