/* ledger.h: the ts of every loc each simulated user published, so receivers can count what they missed. No I/O.
 *
 * The phone protocol has no sequence number, but every phone of a run lives
 * in one load generator, which makes each user's loc ts rise strictly
 * (ledger_next_ts) and records it here when the frame goes out. The ts is
 * then the per-user sequence: a receiver that shows ts a of a friend and is
 * pushed ts b skipped exactly the friend's ts strictly between a and b.
 *
 * Each user keeps its last `depth` ts in a ring buffer, oldest first, so a
 * count is a binary search. A count that reaches back past what is kept is a
 * lower bound; ledger_short_counts says how many were.
 *
 * Users are 1..users; any other id is a user who never publishes (counts 0).
 * Nothing is allocated after ledger_new; the ledger is owned by its caller.
 */
#ifndef NEARBY_LOADGEN_LEDGER_H
#define NEARBY_LOADGEN_LEDGER_H

#include <stdint.h>

enum ledger_err {
    LEDGER_ERR_ORDER = -1, /* ts not above the user's last one */
    LEDGER_ERR_USER = -2,  /* user out of 1..users */
    LEDGER_ERR_EMPTY = -3, /* nothing to retract */
};

struct ledger;

/* Returns a ledger for users 1..users keeping depth (>= 1) ts each, or NULL
 * when out of memory. */
struct ledger *ledger_new(uint32_t users, uint32_t depth);

/* Frees l; ledger_free(NULL) does nothing. */
void ledger_free(struct ledger *l);

/* Returns the ts user's next loc should carry: now_ms, or one more than its
 * last ts when that is not below now_ms (a clock step, or two in one ms). */
uint64_t ledger_next_ts(const struct ledger *l, uint32_t user, uint64_t now_ms);

/* Records that user published ts. Returns 0, LEDGER_ERR_ORDER when ts is not
 * above its last ts, or LEDGER_ERR_USER (nothing recorded then). */
int ledger_publish(struct ledger *l, uint32_t user, uint64_t ts);

/* Takes back user's newest ts (the gateway refused it). Returns 0,
 * LEDGER_ERR_EMPTY when none is kept, or LEDGER_ERR_USER. */
int ledger_retract(struct ledger *l, uint32_t user);

/* Returns how many ts user published with after < ts < before. */
uint64_t ledger_count_between(struct ledger *l, uint32_t user, uint64_t after, uint64_t before);

/* Returns how many ts user published with ts > after. */
uint64_t ledger_count_after(struct ledger *l, uint32_t user, uint64_t after);

/* Returns user's newest ts that is <= as_of, or 0 when there is none. */
uint64_t ledger_latest(const struct ledger *l, uint32_t user, uint64_t as_of);

/* Returns how many ts are recorded (and not retracted) over all users. */
uint64_t ledger_published(const struct ledger *l);

/* Returns how many counts reached back past the kept ts (lower bounds). */
uint64_t ledger_short_counts(const struct ledger *l);

#endif
