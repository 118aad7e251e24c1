/* converge.c: the time from an event until every check found every phone up to date and kept finding so. */
#include "converge.h"

#include <string.h>

void converge_init(struct converge *c)
{
    memset(c, 0, sizeof(*c));
}

void converge_event(struct converge *c, double now_ms)
{
    converge_init(c);
    c->event_ms = now_ms > 0 ? now_ms : 1;
}

void converge_record(struct converge *c, double now_ms, uint64_t behind)
{
    if (c->event_ms == 0 || now_ms < c->event_ms)
        return;
    c->checks++;
    if (behind > 0) {
        c->bad_checks++;
        c->last_bad_ms = now_ms;
        c->good_since_ms = 0;
        if (behind > c->behind_max)
            c->behind_max = behind;
    } else if (c->good_since_ms == 0) {
        c->good_since_ms = now_ms;
    }
}

double converge_result_ms(const struct converge *c)
{
    if (c->event_ms == 0 || c->good_since_ms == 0)
        return -1;
    return c->good_since_ms - c->event_ms;
}
