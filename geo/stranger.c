/* stranger.c: coarsened positions, rounded distances and random session ids for strangers. */
#include <errno.h>
#include <math.h>
#include <sys/random.h>

#include "geohash-internal.h"
#include "stranger.h"

int stranger_coarsen(double lat, double lng, double *coarse_lat, double *coarse_lng)
{
    struct geohash_cell cell;
    struct geohash_box box;
    int rc = geohash_cell_of(lat, lng, GEOHASH_COARSE_PRECISION, &cell);

    if (rc < 0)
        return rc;
    geohash_cell_box(&cell, &box);
    *coarse_lat = box.lat;
    *coarse_lng = box.lng;
    return 0;
}

double stranger_round_km(double km)
{
    /* Written so that NaN takes this branch too. */
    if (!(km > 0))
        return 0;
    return floor(km * 10 + 0.5) / 10;
}

int stranger_sid_new(uint64_t *sid)
{
    uint64_t v = 0;

    while (v == 0) {
        unsigned char *p = (unsigned char *)&v;
        size_t got = 0;

        /* Up to 256 bytes from an initialised pool come whole and are not
         * interrupted, but nothing is lost by looping on either. */
        while (got < sizeof(v)) {
            ssize_t n = getrandom(p + got, sizeof(v) - got, 0);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return GEO_ERR_RANDOM;
            }
            got += (size_t)n;
        }
    }
    *sid = v;
    return 0;
}

void stranger_sid_hex(uint64_t sid, char out[STRANGER_SID_HEX_SIZE])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--) {
        out[i] = digits[sid & 0xf];
        sid >>= 4;
    }
    out[16] = '\0';
}
