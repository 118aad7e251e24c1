/* cellset.h: the geohash cell channels a position needs (its cell and the 8 around it) and the make-before-break handover between two such sets. No I/O.
 *
 * A phone that has strangers on publishes its position to its own cell's
 * channel `g:<cell[0]>` and listens to every cell of its set, so that a
 * stranger just across a border is heard too. When the phone moves into
 * another cell its set changes; cellset_handover_plan() says which cells to
 * add and which to drop, and in which order: every cell of subscribe_first
 * is subscribed and its subscription confirmed before any cell of
 * release_after is released. Between the two steps the phone holds the union
 * of both sets, so a stranger in range of either position is never lost. The
 * library only computes the lists; the gateway does the I/O and counts
 * references per cell over its sessions, as it does for user channels.
 *
 * The precision and what radius 9 cells cover at which latitude: geohash.h
 * and cellset_cover_km().
 *
 * Everything here is plain values of fixed size: no allocation, copy freely.
 */
#ifndef NEARBY_CELLSET_H
#define NEARBY_CELLSET_H

#include <stddef.h>

#include "geo_err.h"
#include "geohash.h"

/* A cell and its 8 neighbours. */
#define CELLSET_MAX 9

/* Distinct geohash cells of one precision, as NUL-terminated strings. */
struct cellset {
    unsigned count; /* 0..CELLSET_MAX */
    char cell[CELLSET_MAX][GEOHASH_SIZE];
};

/* Fills *set with the cells a phone at (lat, lng) needs at precision 1..12:
 * cell[0] is its own cell (the one it publishes to), then its neighbours N,
 * NE, E, SE, S, SW, W, NW, wrapping east-west around the antimeridian and
 * leaving out those beyond a pole (so a cell in the top or bottom row has a
 * set of 6). The cells are distinct. Returns 0, GEO_ERR_PRECISION or
 * GEO_ERR_RANGE (lat outside [-90, 90], lng outside [-180, 180], NaN);
 * *set is written only on success. */
int cellset_of(double lat, double lng, int precision, struct cellset *set);

/* Returns 1 if the len bytes at s (no NUL needed) are a cell of *set, else 0. */
int cellset_contains(const struct cellset *set, const char *s, size_t len);

/* Writes to *km the radius of the disc that the cell set of every position
 * whose |latitude| is at most |lat| contains: a stranger at most that far from
 * the phone is in one of its cells. It is the smaller of one cell height and
 * one cell width at the pole-ward edge of the 3 rows, rounded down a hair so
 * rounding in geo_distance_km() cannot contradict it; 0 within 2 rows of a
 * pole. At precision 5: 4.89 km at the equator, 3.45 km at 45 degrees,
 * 2.44 km at 60, 2.06 km at 65. A gateway whose strangers radius is larger
 * than this at a phone's latitude misses strangers east and west of it
 * beyond this distance, and should show that phone only strangers within it.
 * Returns 0, GEO_ERR_PRECISION, or GEO_ERR_RANGE for |lat| > 90 or NaN;
 * *km is written only on success. */
int cellset_cover_km(int precision, double lat, double *km);

/* A handover from one cell set to the next, in the order it must run. */
struct cellset_handover {
    /* Step 1: cells of the new set that the old one lacks, in the new set's
     * order (own cell first if it is new). Subscribe each and wait until every
     * subscription is confirmed. */
    struct cellset subscribe_first;
    /* Step 2, only after step 1 is confirmed: cells of the old set that the
     * new one lacks, in the old set's order. Release each. */
    struct cellset release_after;
};

/* Fills *plan with the handover from *from to *to. NULL stands for the empty
 * set: from == NULL is a session switching strangers on (subscribe all of
 * *to, release nothing), to == NULL one switching off or closing (release all
 * of *from; there is nothing to make first, so it may run at once). When
 * both lists are empty the phone stayed in its cell and nothing is to do.
 *
 * A phone that moves again before step 1 is confirmed: plan the next move
 * from the set being moved to (the newer *to), and keep the earlier plan's
 * release_after until its own step 1 is confirmed; with references counted
 * per cell the phone then never holds less than the sets of its positions. */
void cellset_handover_plan(const struct cellset *from, const struct cellset *to,
                           struct cellset_handover *plan);

#endif
