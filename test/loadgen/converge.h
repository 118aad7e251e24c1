/* converge.h: how long after an event (a killed node or gateway) every phone again shows every online friend's latest position. No I/O.
 *
 * The caller marks the event, then checks the phones every few ms and
 * records each check: how many (phone, friend) pairs were behind, counting a
 * phone that is not online as behind too. The phones have converged at the
 * first check that starts a run of checks finding nothing behind for at
 * least hold_ms. The hold keeps a check that passes by luck just after the
 * event (nothing lost had been due yet) from counting; a phone that falls
 * behind again long after (a latency spike) does not move the figure.
 * Times are wall-clock ms.
 */
#ifndef NEARBY_LOADGEN_CONVERGE_H
#define NEARBY_LOADGEN_CONVERGE_H

#include <stdint.h>

struct converge {
    double hold_ms;
    double event_ms;      /* 0: no event marked */
    double good_since_ms; /* start of the current run of clean checks; 0: none */
    double result_ms;     /* event to convergence; -1: not yet */
    uint64_t checks;      /* since the event */
    uint64_t bad_checks;
    uint64_t behind_max;  /* most pairs behind in one check */
};

/* Zeroes c: no event; convergence must hold for hold_ms. */
void converge_init(struct converge *c, double hold_ms);

/* Marks an event at now_ms; an earlier event and its checks are forgotten. */
void converge_event(struct converge *c, double now_ms);

/* Records a check at now_ms that found `behind` pairs behind. Ignored when
 * no event is marked or now_ms is before it. */
void converge_record(struct converge *c, double now_ms, uint64_t behind);

/* Returns ms from the event until the phones converged (and held so for
 * hold_ms), or -1 when no event is marked or they have not yet. */
double converge_result_ms(const struct converge *c);

#endif
