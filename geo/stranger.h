/* stranger.h: what a phone may learn of a stranger: a coarsened position, a rounded distance and a random per-session id. No I/O but getrandom(2).
 *
 * A stranger is an opted-in phone that is not a friend. It is shown as
 *   - a position snapped to the centre of its geohash cell of precision
 *     GEOHASH_COARSE_PRECISION (7): 153 m north-south, 153 m east-west at the
 *     equator and narrower towards the poles (108 m at 45 degrees), so the
 *     shown position is at most about 108 m from the true one and the same
 *     for every true position in that cell. The coarse cell lies inside the
 *     stranger's channel cell (precision 5), as a finer geohash always lies
 *     inside its prefixes.
 *   - a distance rounded to 0.1 km. Compute it from the viewer's own position
 *     to the stranger's *coarsened* position, not to the true one: the viewer
 *     can work that out from what it is shown anyway, so it tells nothing
 *     more, whereas true distances rounded to 100 m, taken from a few places,
 *     narrow the stranger down to well inside the 153 m cell.
 *   - a sid: 64 random bits from the kernel's CSPRNG, drawn once per session,
 *     never derived from the user id, so nothing links two sessions of one
 *     user or a sid to an account.
 * Limit: a grid leaks when its line is crossed. A stranger walking across a
 * coarse cell border shows the moment it was on that line; the shown position
 * changes at most once per update, and the 9-cell set and the radius decide
 * who sees it at all.
 */
#ifndef NEARBY_STRANGER_H
#define NEARBY_STRANGER_H

#include <stdint.h>

#include "geo_err.h"
#include "geohash.h"

/* Bytes of a sid as text: 16 lowercase hex digits and a NUL. */
#define STRANGER_SID_HEX_SIZE 17

/* Writes the centre of the precision-7 geohash cell holding (lat, lng) to
 * *coarse_lat and *coarse_lng. Idempotent: a centre coarsens to itself.
 * Returns 0, or GEO_ERR_RANGE (lat outside [-90, 90], lng outside
 * [-180, 180], NaN) without writing either. */
int stranger_coarsen(double lat, double lng, double *coarse_lat, double *coarse_lng);

/* Returns km rounded to the nearest 0.1 (halves up), as the double nearest to
 * that multiple of 0.1 (so 1.2, not 1.2000000000000002). NaN or a negative
 * distance gives 0. */
double stranger_round_km(double km);

/* Draws a new sid from getrandom(2) into *sid: 64 uniformly random bits,
 * never 0 (0 is free to mean "none"). Blocks only if the kernel's pool is
 * not yet initialised, early at boot. Returns 0, or GEO_ERR_RANDOM (errno
 * says why) without writing *sid. */
int stranger_sid_new(uint64_t *sid);

/* Writes sid as 16 lowercase hex digits and a NUL: the form for clients that
 * cannot hold a 64-bit integer (JavaScript numbers stop at 2^53). */
void stranger_sid_hex(uint64_t sid, char out[STRANGER_SID_HEX_SIZE]);

#endif
