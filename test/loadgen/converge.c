/* converge.c: the time from an event until every check found every phone up to date, for long enough to trust it. */
#include "converge.h"

#include <string.h>

void converge_init(struct converge *c, double hold_ms)
{
    memset(c, 0, sizeof(*c));
    c->hold_ms = hold_ms;
    c->result_ms = -1;
}

void converge_event(struct converge *c, double now_ms)
{
    converge_init(c, c->hold_ms);
    c->event_ms = now_ms > 0 ? now_ms : 1;
}

void converge_record(struct converge *c, double now_ms, uint64_t behind)
{
    if (c->event_ms == 0 || now_ms < c->event_ms)
        return;
    c->checks++;
    if (behind > 0) {
        c->bad_checks++;
        if (behind > c->behind_max)
            c->behind_max = behind;
        c->good_since_ms = 0;
        return;
    }
    if (c->good_since_ms == 0)
        c->good_since_ms = now_ms;
    if (c->result_ms < 0 && now_ms - c->good_since_ms >= c->hold_ms)
        c->result_ms = c->good_since_ms - c->event_ms;
}

double converge_result_ms(const struct converge *c)
{
    return c->result_ms;
}
