/* test-converge.c: convergence after an event: a lucky early pass does not count, a late failure resets, no event means no figure. */
#include "../test-util.h"

#include "converge.h"

int main(void)
{
    struct converge c;

    converge_init(&c);
    CHECK(converge_result_ms(&c) == -1);
    converge_record(&c, 500, 3); /* before any event: ignored */
    CHECK_EQ(c.checks, 0);

    converge_event(&c, 1000);
    CHECK(converge_result_ms(&c) == -1); /* nothing checked yet */
    converge_record(&c, 990, 5);          /* before the event: ignored */
    converge_record(&c, 1050, 0);         /* nothing lost yet */
    CHECK(converge_result_ms(&c) == 50);
    converge_record(&c, 1100, 40);
    CHECK(converge_result_ms(&c) == -1);
    converge_record(&c, 1150, 7);
    converge_record(&c, 2400, 0);
    converge_record(&c, 2450, 0);
    CHECK(converge_result_ms(&c) == 1400);
    converge_record(&c, 2500, 1); /* behind again: not converged after all */
    CHECK(converge_result_ms(&c) == -1);
    converge_record(&c, 2550, 0);
    CHECK(converge_result_ms(&c) == 1550);
    CHECK_EQ(c.checks, 7);
    CHECK_EQ(c.bad_checks, 3);
    CHECK_EQ(c.behind_max, 40);
    CHECK(c.last_bad_ms == 2500);

    converge_event(&c, 5000); /* a second event starts over */
    CHECK_EQ(c.checks, 0);
    CHECK(converge_result_ms(&c) == -1);
    converge_record(&c, 5000, 0);
    CHECK(converge_result_ms(&c) == 0);
    return 0;
}
