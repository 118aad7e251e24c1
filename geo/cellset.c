/* cellset.c: a position's 3 x 3 block of geohash cells, the radius it covers, and the handover lists between two blocks. */
#include <math.h>
#include <string.h>

#include "cellset.h"
#include "geo.h"
#include "geohash-internal.h"

#define CELLSET_PI 3.14159265358979323846
#define CELLSET_RAD (CELLSET_PI / 180.0)

/* Relative shave of cellset_cover_km(): rounding in the bound and in a
 * distance is ~1e-15 relative, so this leaves a margin of a million. */
#define CELLSET_COVER_MARGIN 1e-9

/* Row and column offsets, own cell first and then N, NE, E, SE, S, SW, W, NW. */
static const int cellset_steps[CELLSET_MAX][2] = {
    {0, 0}, {1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1},
};

int cellset_contains(const struct cellset *set, const char *s, size_t len)
{
    if (len >= GEOHASH_SIZE)
        return 0;
    for (unsigned i = 0; i < set->count; i++) {
        if (memcmp(set->cell[i], s, len) == 0 && set->cell[i][len] == '\0')
            return 1;
    }
    return 0;
}

/* Appends a cell unless it is there already. The caller sees to room. */
static void cellset_add(struct cellset *set, const char *cell)
{
    size_t len = strlen(cell);

    if (cellset_contains(set, cell, len))
        return;
    memcpy(set->cell[set->count], cell, len + 1);
    set->count++;
}

/* With at least 8 columns and 4 rows (precision 1) the 3 x 3 block never
 * meets itself around the globe, so no cell comes twice; cellset_add() checks
 * anyway, so the promise of distinct cells does not rest on that count. */
int cellset_of(double lat, double lng, int precision, struct cellset *set)
{
    struct geohash_cell own, next;
    struct cellset out;
    char name[GEOHASH_SIZE];
    int rc = geohash_cell_of(lat, lng, precision, &own);

    if (rc < 0)
        return rc;
    memset(&out, 0, sizeof(out));
    for (unsigned i = 0; i < CELLSET_MAX; i++) {
        if (geohash_cell_step(&own, cellset_steps[i][0], cellset_steps[i][1], &next) < 0)
            continue; /* beyond a pole: there is no such cell */
        geohash_cell_format(&next, name);
        cellset_add(&out, name);
    }
    *set = out;
    return 0;
}

/* For a phone P in the middle cell of the block and a point Q outside it:
 * if Q is north or south of the block's 3 rows, |lat_Q - lat_P| >= one cell
 * height h, and a great circle is never shorter than its change in latitude.
 * Otherwise Q is in the band of the 3 rows but outside the 3 columns, so
 * dlng >= one cell width w (there are >= 8 columns), and with hav(x) =
 * sin^2(x/2), hav(d) = hav(dlat) + cos(lat_P) cos(lat_Q) hav(dlng) >=
 * cos^2(m) hav(w), m the largest |latitude| in the band: sin(d/2) >=
 * cos(m) sin(w/2). The worst position at |latitude| <= |lat| is in the row
 * holding |lat| (a row holds its southern edge, so the northern hemisphere
 * is the pole-ward one for an edge), whose band reaches its top plus h. */
int cellset_cover_km(int precision, double lat, double *km)
{
    struct geohash_cell row_cell;
    struct geohash_box box;
    double h, w, m, ew, ns;
    int rc;

    if (!(fabs(lat) <= 90))
        return GEO_ERR_RANGE;
    rc = geohash_cell_of(fabs(lat), 0, precision, &row_cell);
    if (rc < 0)
        return rc;
    geohash_cell_box(&row_cell, &box);
    h = geohash_cell_height_deg(precision);
    w = geohash_cell_width_deg(precision);
    m = box.lat_max + h;
    ns = h * CELLSET_RAD;
    if (m >= 90)
        ew = 0;
    else
        ew = 2 * asin(cos(m * CELLSET_RAD) * sin(w * CELLSET_RAD / 2));
    *km = GEO_EARTH_RADIUS_KM * fmin(ns, ew) * (1 - CELLSET_COVER_MARGIN);
    return 0;
}

/* The cells of *a that *b lacks, in *a's order; b == NULL is empty. */
static void cellset_minus(const struct cellset *a, const struct cellset *b, struct cellset *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < a->count; i++) {
        if (b == NULL || !cellset_contains(b, a->cell[i], strlen(a->cell[i])))
            cellset_add(out, a->cell[i]);
    }
}

void cellset_handover_plan(const struct cellset *from, const struct cellset *to,
                           struct cellset_handover *plan)
{
    static const struct cellset empty;

    cellset_minus(to != NULL ? to : &empty, from, &plan->subscribe_first);
    cellset_minus(from != NULL ? from : &empty, to, &plan->release_after);
}
