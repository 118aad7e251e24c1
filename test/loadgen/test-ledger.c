/* test-ledger.c: the published-ts ledger: strictly rising ts, retraction, counts between and after, the ring buffer's wrap. */
#include "../test-util.h"

#include "ledger.h"

int main(void)
{
    struct ledger *l = ledger_new(3, 4);

    CHECK(l != NULL);
    /* next ts: the clock, or one past the last when the clock did not move */
    CHECK_EQ(ledger_next_ts(l, 1, 1000), 1000);
    CHECK_EQ(ledger_publish(l, 1, 1000), 0);
    CHECK_EQ(ledger_next_ts(l, 1, 1000), 1001);
    CHECK_EQ(ledger_next_ts(l, 1, 999), 1001); /* a clock step back */
    CHECK_EQ(ledger_next_ts(l, 1, 1500), 1500);
    CHECK_EQ(ledger_next_ts(l, 9, 1500), 1500); /* not a user here: the clock */

    CHECK_EQ(ledger_publish(l, 1, 1000), LEDGER_ERR_ORDER);
    CHECK_EQ(ledger_publish(l, 1, 999), LEDGER_ERR_ORDER);
    CHECK_EQ(ledger_publish(l, 0, 5), LEDGER_ERR_USER);
    CHECK_EQ(ledger_publish(l, 4, 5), LEDGER_ERR_USER);
    CHECK_EQ(ledger_publish(l, 1, 2000), 0);
    CHECK_EQ(ledger_publish(l, 1, 3000), 0);
    CHECK_EQ(ledger_published(l), 3);

    /* counts are strict on both sides */
    CHECK_EQ(ledger_count_between(l, 1, 1000, 3000), 1);
    CHECK_EQ(ledger_count_between(l, 1, 999, 3001), 3);
    CHECK_EQ(ledger_count_between(l, 1, 1000, 2000), 0);
    CHECK_EQ(ledger_count_between(l, 1, 3000, 1000), 0); /* backwards */
    CHECK_EQ(ledger_count_between(l, 1, 0, 1000), 0);
    CHECK_EQ(ledger_count_after(l, 1, 0), 3);
    CHECK_EQ(ledger_count_after(l, 1, 1999), 2);
    CHECK_EQ(ledger_count_after(l, 1, 3000), 0);
    CHECK_EQ(ledger_count_after(l, 2, 0), 0);   /* published nothing */
    CHECK_EQ(ledger_count_after(l, 77, 0), 0);  /* not a simulated phone */

    CHECK_EQ(ledger_latest(l, 1, 2999), 2000);
    CHECK_EQ(ledger_latest(l, 1, 3000), 3000);
    CHECK_EQ(ledger_latest(l, 1, 999), 0);
    CHECK_EQ(ledger_latest(l, 2, 5000), 0);

    /* a refused loc is taken back; the next ts still rises past it */
    CHECK_EQ(ledger_retract(l, 1), 0);
    CHECK_EQ(ledger_published(l), 2);
    CHECK_EQ(ledger_count_after(l, 1, 0), 2);
    CHECK_EQ(ledger_latest(l, 1, 5000), 2000);
    CHECK_EQ(ledger_next_ts(l, 1, 2500), 3001);
    CHECK_EQ(ledger_retract(l, 2), LEDGER_ERR_EMPTY);
    CHECK_EQ(ledger_retract(l, 0), LEDGER_ERR_USER);

    /* wrap: depth 4 keeps 4000..7000 of 1000..7000; 3000 was retracted */
    for (uint64_t ts = 3000; ts <= 7000; ts += 1000)
        CHECK_EQ(ledger_publish(l, 1, ts), 0);
    CHECK_EQ(ledger_published(l), 7);
    CHECK_EQ(ledger_short_counts(l), 0);
    CHECK_EQ(ledger_count_after(l, 1, 3500), 4);
    CHECK_EQ(ledger_short_counts(l), 0);
    CHECK_EQ(ledger_count_between(l, 1, 4000, 7000), 2);
    CHECK_EQ(ledger_short_counts(l), 0);
    CHECK_EQ(ledger_count_after(l, 1, 2500), 4); /* 3000 is forgotten: a lower bound */
    CHECK_EQ(ledger_short_counts(l), 1);
    CHECK_EQ(ledger_count_between(l, 1, 0, 4500), 1);
    CHECK_EQ(ledger_short_counts(l), 2);
    CHECK_EQ(ledger_latest(l, 1, 3500), 3000); /* the newest forgotten is known */
    CHECK_EQ(ledger_latest(l, 1, 2500), 0);    /* older ones are not */
    CHECK_EQ(ledger_publish(l, 1, 3500), LEDGER_ERR_ORDER);

    /* users do not share slots */
    CHECK_EQ(ledger_publish(l, 3, 10), 0);
    CHECK_EQ(ledger_count_after(l, 3, 0), 1);
    CHECK_EQ(ledger_count_after(l, 1, 6500), 1);

    ledger_free(l);
    ledger_free(NULL);
    CHECK(ledger_new(3, 0) == NULL);
    return 0;
}
