/* strangers.c: pairs of stranger phones far from the friends, stepping one coarse cell at a time, and the count of what each missed of the other. */
#include "strangers.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

#define STRANGERS_PAIRS_PER_ROW 40
#define STRANGERS_NORTH_DEG 0.5       /* the first row: 55 km north of the centre */
#define STRANGERS_ROW_DEG 0.05        /* 5.6 km between rows */
#define STRANGERS_COLUMN_DEG 0.08     /* 5-6 km between pairs of a row */
#define STRANGERS_PARTNER_DEG 0.0027  /* 300 m between the two of a pair */
/* A precision-7 geohash column: 2^18 columns over 360 degrees. */
#define STRANGERS_CELL_DEG (360.0 / 262144.0)

int strangers_member(const struct loadgen *lg, uint32_t user)
{
    return user >= 1 && user <= lg->stranger_phones;
}

int strangers_paired(const struct loadgen *lg, uint32_t user)
{
    return !lg->strangers_dense && strangers_member(lg, user);
}

/* The west edge of pair i's first cell, on a cell boundary, and its row's latitude. */
static void pair_origin(const struct loadgen *lg, uint32_t pair, double *lat, double *lng)
{
    double west = lg->center_lng + STRANGERS_COLUMN_DEG * (pair % STRANGERS_PAIRS_PER_ROW);

    *lat = lg->center_lat + STRANGERS_NORTH_DEG + STRANGERS_ROW_DEG * (pair / STRANGERS_PAIRS_PER_ROW);
    *lng = floor((west + 180.0) / STRANGERS_CELL_DEG) * STRANGERS_CELL_DEG - 180.0;
}

void strangers_next_position(const struct loadgen *lg, uint32_t user, struct strangers_phone *st,
                             double *lat, double *lng)
{
    double lat0, lng0;

    pair_origin(lg, (user - 1) / 2, &lat0, &lng0);
    *lat = lat0 + ((user - 1) % 2) * STRANGERS_PARTNER_DEG;
    *lng = lng0 + (st->step % STRANGERS_STEPS + 0.5) * STRANGERS_CELL_DEG;
    st->step++;
}

void strangers_retract(struct strangers_phone *st)
{
    if (st->step > 0)
        st->step--;
}

void strangers_session(struct strangers_phone *st)
{
    st->have_last = 0;
}

void strangers_frame(struct loadgen *lg, uint32_t user, struct strangers_phone *st,
                     const struct proto_msg *m)
{
    struct strangers_stats *s = &lg->strangers;
    uint32_t partner = user % 2 ? user + 1 : user - 1, step, skipped;
    double lat0, lng0, want_lat, k;

    if (m->type == PROTO_MSG_STRANGER_GONE) {
        s->gone++;
        if (st->have_last && memcmp(m->stranger_gone.sid, st->last_sid, PROTO_SID_LEN) == 0)
            st->have_last = 0;
        return;
    }
    s->shown++;
    if (lg->strangers_dense) {
        lg->stats.period.pushes++;
        return;
    }
    pair_origin(lg, (user - 1) / 2, &lat0, &lng0);
    want_lat = lat0 + ((partner - 1) % 2) * STRANGERS_PARTNER_DEG;
    k = (m->stranger.lng - lng0) / STRANGERS_CELL_DEG - 0.5;
    if (fabs(m->stranger.lat - want_lat) > 0.001 || k < -0.01 || k > STRANGERS_STEPS - 0.99 ||
        fabs(k - round(k)) > 0.01) {
        s->foreign++;
        return;
    }
    step = (uint32_t)round(k);
    if (st->have_last && memcmp(m->stranger.sid, st->last_sid, PROTO_SID_LEN) == 0) {
        skipped = (step + STRANGERS_STEPS - st->last_step) % STRANGERS_STEPS;
        if (skipped == 0)
            s->dup++;
        else
            s->lost += skipped - 1;
        if ((skipped == 0 || skipped > 1) && lg->reported_checks++ < LOADGEN_REPORTED_MAX)
            fprintf(stderr, "nearby-loadgen: %.3f: user %" PRIu32 " shown step %" PRIu32
                    " of its partner after step %" PRIu32 " (stranger %.16s)\n",
                    loadgen_now_ms() / 1000.0, user, step, st->last_step, m->stranger.sid);
    }
    memcpy(st->last_sid, m->stranger.sid, PROTO_SID_LEN);
    st->last_step = step;
    st->have_last = 1;
}
