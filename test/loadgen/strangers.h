/* strangers.h: --strangers-fraction: phones in pairs of strangers, each pair alone at a place of its own, each phone stepping through cells whose coarse centres number its steps, so the partner counts what it missed.
 *
 * The first fraction x P phones (rounded down to an even number) are members:
 * users 2i+1 and 2i+2 are pair i, far north of the friends' area (50 km and
 * more, pairs 5 km apart, so the only stranger in a member's 2 km range is its
 * partner and no friend of theirs is in range either). After its nearby a
 * member sends {t:strangers, on:true}; each loc it sends is its next step:
 * the centre of the next of STRANGERS_STEPS precision-7 cells along a row (one
 * cell a step, 1.6 km in all, then again from the first), its partner 300 m
 * north doing the same. The gateway shows that cell's centre, so the step of
 * every `stranger` frame is known: frames of one sid whose steps skip k steps
 * lost k updates (strangers_lost), one that repeats the step shown is a
 * duplicate (strangers_dup). A new sid (a reconnect) starts over. With
 * --strangers-dense the members stay among the others instead (a crowd in one
 * cell, for benchmarks): their stranger frames are only counted, as pushes
 * too. Members'
 * positions are kept out of the friends' ledger (no friend of theirs is in
 * range: nobody is due to see them) and they are never behind.
 */
#ifndef NEARBY_LOADGEN_STRANGERS_H
#define NEARBY_LOADGEN_STRANGERS_H

#include <stdint.h>

#include "proto_msg.h"

#define STRANGERS_STEPS 16

struct loadgen;

/* Counted over the run by every member. */
struct strangers_stats {
    uint64_t shown;   /* stranger frames received */
    uint64_t lost;    /* partner steps skipped between two frames of one sid */
    uint64_t dup;     /* frames repeating the step shown */
    uint64_t gone;    /* stranger_gone frames (a partner's reconnect: one each) */
    uint64_t foreign; /* frames of a stranger that is not the partner: a failed check */
};

/* One member phone's state. */
struct strangers_phone {
    uint32_t step;              /* the next step to walk to */
    int have_last;              /* a frame of last_sid was seen */
    char last_sid[PROTO_SID_LEN];
    uint32_t last_step;
};

/* Returns 1 when user is a member. */
int strangers_member(const struct loadgen *lg, uint32_t user);

/* Returns 1 when user is a member of a pair, walking its steps far away. */
int strangers_paired(const struct loadgen *lg, uint32_t user);

/* The position of member user's next step; advances its step. */
void strangers_next_position(const struct loadgen *lg, uint32_t user, struct strangers_phone *st,
                             double *lat, double *lng);

/* The last loc was refused (rate limited): the partner will not see that step. */
void strangers_retract(struct strangers_phone *st);

/* A new connection: the next frame starts a new count. */
void strangers_session(struct strangers_phone *st);

/* A stranger or stranger_gone frame m reached member user. */
void strangers_frame(struct loadgen *lg, uint32_t user, struct strangers_phone *st,
                     const struct proto_msg *m);

#endif
