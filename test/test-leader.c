/* test-leader.c: unit tests of the autopilot election's pure part: who leads among the candidates. */
#include <stdio.h>
#include <string.h>

#include "leader.h"
#define CHECK_STOP_AFTER 0
#include "test-util.h"

static void test_rank(void)
{
    char *names[] = {"candidate-0000000012", "candidate-0000000003", "lock", "candidate-",
                     "candidate-00000000x1", "candidate-0000000007"};
    size_t n = sizeof(names) / sizeof(names[0]);
    const char *lowest = "unset";

    CHECK_EQ(leader_rank(names, n, "candidate-0000000003", &lowest), LEADER_LEADER);
    CHECK(strcmp(lowest, "candidate-0000000003") == 0);
    CHECK_EQ(leader_rank(names, n, "candidate-0000000007", &lowest), LEADER_FOLLOWER);
    CHECK(strcmp(lowest, "candidate-0000000003") == 0);
    CHECK_EQ(leader_rank(names, n, "candidate-0000000012", NULL), LEADER_FOLLOWER);
    /* Not among them (our znode went with an expired session). */
    CHECK_EQ(leader_rank(names, n, "candidate-0000000001", &lowest), LEADER_NONE);
    /* Names that are not candidates never lead, even when they are "own". */
    CHECK_EQ(leader_rank(names, n, "lock", &lowest), LEADER_NONE);
    CHECK_EQ(leader_rank(names, n, "candidate-", &lowest), LEADER_NONE);
}

/* Ordered by number, not by text: past 2^31 the sequence counter's text
 * would still sort, but a shorter number must not win over a longer one. */
static void test_numeric_order(void)
{
    char *names[] = {"candidate-10", "candidate-9", "candidate-0000000011"};
    const char *lowest = NULL;

    CHECK_EQ(leader_rank(names, 3, "candidate-9", &lowest), LEADER_LEADER);
    CHECK(strcmp(lowest, "candidate-9") == 0);
    CHECK_EQ(leader_rank(names, 3, "candidate-0000000011", &lowest), LEADER_FOLLOWER);
}

static void test_empty(void)
{
    const char *lowest = "unset";

    CHECK_EQ(leader_rank(NULL, 0, "candidate-0000000001", &lowest), LEADER_NONE);
    CHECK(lowest == NULL);
}

int main(void)
{
    test_rank();
    test_numeric_order();
    test_empty();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("leader: all ok\n");
    return 0;
}
