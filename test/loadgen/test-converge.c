/* test-converge.c: convergence after an event: it must hold, a lucky early pass does not count, a later lapse does not move it, no event means no figure. */
#include "../test-util.h"

#include "converge.h"

int main(void)
{
    struct converge c;

    converge_init(&c, 1000);
    CHECK(converge_result_ms(&c) == -1);
    converge_record(&c, 500, 3); /* before any event: ignored */
    CHECK_EQ(c.checks, 0);

    converge_event(&c, 1000);
    CHECK(converge_result_ms(&c) == -1); /* nothing checked yet */
    converge_record(&c, 990, 5);          /* before the event: ignored */
    converge_record(&c, 1050, 0);         /* nothing lost was due yet */
    converge_record(&c, 1500, 0);
    CHECK(converge_result_ms(&c) == -1); /* clean, but not for 1000 ms */
    converge_record(&c, 1600, 40);
    converge_record(&c, 1700, 7);
    converge_record(&c, 2400, 0);
    converge_record(&c, 3000, 0);
    CHECK(converge_result_ms(&c) == -1); /* 600 ms clean */
    converge_record(&c, 3400, 0);
    CHECK(converge_result_ms(&c) == 1400); /* clean from 2400 for 1000 ms */
    converge_record(&c, 9000, 2);           /* a later lapse */
    converge_record(&c, 9050, 0);
    CHECK(converge_result_ms(&c) == 1400);
    CHECK_EQ(c.checks, 9);
    CHECK_EQ(c.bad_checks, 3);
    CHECK_EQ(c.behind_max, 40);

    converge_event(&c, 20000); /* a second event starts over */
    CHECK_EQ(c.checks, 0);
    CHECK(converge_result_ms(&c) == -1);
    CHECK(c.hold_ms == 1000);
    converge_record(&c, 20000, 0);
    converge_record(&c, 21000, 0);
    CHECK(converge_result_ms(&c) == 0);

    converge_init(&c, 0); /* no hold: the first clean check */
    converge_event(&c, 100);
    converge_record(&c, 150, 1);
    converge_record(&c, 200, 0);
    CHECK(converge_result_ms(&c) == 100);
    return 0;
}
