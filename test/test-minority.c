/* test-minority.c: unit tests of the minority rule (gateway/core/minority.h): who steps out of the balancer, when, and that it is the autopilot's complement. */
#include <stdio.h>
#include <string.h>

#include "autopilot_decide.h"
#include "minority.h"
#include "test-util.h"

#define GRACE 2000

static const struct minority_node r2 = {"r2", 5, 10000}; /* dead here since t=10 s, served since epoch 5 */

static int check(const struct minority_peer *peers, size_t n, uint64_t read_ms, uint64_t now_ms,
                 struct minority_verdict *v)
{
    memset(v, 0, sizeof(*v));
    return minority_check("gw1", &r2, 1, peers, n, read_ms, now_ms, GRACE, v);
}

static void test_listed(void)
{
    CHECK(minority_listed("r2", "r2"));
    CHECK(minority_listed("r1,r2,r3", "r2"));
    CHECK(minority_listed("r1,r2", "r2"));
    CHECK(!minority_listed("r1,r22", "r2"));
    CHECK(!minority_listed("r22,r12", "r2"));
    CHECK(!minority_listed("", "r2"));
    CHECK(!minority_listed(NULL, "r2"));
    CHECK(!minority_listed("r", "r2"));
}

/* Three gateways, gw1 alone cut from r2: it steps out once the grace has passed and the
 * peers were read after it; itself in the list changes nothing. */
static void test_alone(void)
{
    const struct minority_peer peers[] = {
        {"gw1", 6, "r2"}, {"gw2", 6, ""}, {"gw3", 5, "r4"}};
    struct minority_verdict v;

    CHECK(!check(peers, 3, 11000, 11999, &v)); /* within the grace */
    CHECK(!check(peers, 3, 11999, 12000, &v)); /* the list is older than the grace */
    CHECK(check(peers, 3, 12000, 12000, &v));
    CHECK(strcmp(v.node_id, "r2") == 0);
    CHECK_EQ(v.reach, 2);
    CHECK_EQ(v.dead, 1);
    CHECK_EQ(v.live, 3);
    CHECK(check(peers + 1, 2, 12500, 20000, &v)); /* the same without its own line */
    CHECK_EQ(v.live, 3);
}

/* Every peer finds it dead too: the autopilot's case, nobody steps out. */
static void test_everyone(void)
{
    const struct minority_peer peers[] = {{"gw2", 6, "r1,r2"}, {"gw3", 6, "r2"}};
    struct minority_verdict v;

    CHECK(!check(peers, 2, 13000, 13000, &v));
}

/* Two of three find it dead: a majority, the autopilot replaces it; nobody steps out. */
static void test_majority_dead(void)
{
    const struct minority_peer peers[] = {{"gw2", 6, "r2"}, {"gw3", 6, ""}};
    struct minority_verdict v;

    CHECK(!check(peers, 2, 13000, 13000, &v));
}

/* Two gateways, one cut: a tie is no majority for the autopilot, so the one that finds it
 * dead steps out. */
static void test_tie(void)
{
    const struct minority_peer peers[] = {{"gw2", 6, ""}};
    struct minority_verdict v;

    CHECK(check(peers, 1, 13000, 13000, &v));
    CHECK_EQ(v.live, 2);
}

/* Peers that applied no ring are not live; peers on an older ring than the node's
 * address count as live but say nothing about it; no peer at all: nothing to compare. */
static void test_not_counted(void)
{
    const struct minority_peer unapplied[] = {{"gw2", -1, ""}, {"gw3", -1, ""}};
    const struct minority_peer older[] = {{"gw2", 4, ""}, {"gw3", 4, ""}};
    const struct minority_peer mixed[] = {{"gw2", 4, ""}, {"gw3", 5, ""}, {"gw4", 6, "r2"}};
    struct minority_verdict v;

    CHECK(!check(unapplied, 2, 13000, 13000, &v));
    CHECK(!check(older, 2, 13000, 13000, &v));
    CHECK(!check(NULL, 0, 13000, 13000, &v));
    /* gw3 reaches it, gw4 finds it dead, gw2 is on an older ring: 2 dead of 4 live. */
    CHECK(check(mixed, 3, 13000, 13000, &v));
    CHECK_EQ(v.reach, 1);
    CHECK_EQ(v.dead, 2);
    CHECK_EQ(v.live, 4);
}

/* The first dead node that is a minority report is named; one still in its grace is not. */
static void test_several(void)
{
    const struct minority_node dead[] = {{"r1", 5, 11000}, {"r3", 5, 9000}};
    const struct minority_peer peers[] = {{"gw2", 6, "r3"}, {"gw3", 6, ""}};
    struct minority_verdict v;

    CHECK(!minority_check("gw1", dead, 2, peers, 2, 12000, 12000, GRACE, &v));
    CHECK(minority_check("gw1", dead, 2, peers, 2, 13000, 13000, GRACE, &v));
    CHECK(strcmp(v.node_id, "r1") == 0);
    CHECK(!minority_check("gw1", dead + 1, 1, peers, 2, 13000, 13000, GRACE, &v));
}

/* For every split of live gateways, exactly one of the two acts: the autopilot (a strict
 * majority finds the node dead) or the gateways that find it dead (the others reach it). */
static void test_complement(void)
{
    struct minority_peer peers[9];
    char ids[9][8];

    for (size_t live = 1; live <= 9; live++) {
        for (size_t dead = 1; dead <= live; dead++) {
            struct minority_verdict v;
            int steps_out;

            for (size_t i = 0; i + 1 < live; i++) {
                snprintf(ids[i], sizeof(ids[i]), "gw%zu", i + 2);
                peers[i] = (struct minority_peer){ids[i], 6, i + 1 < dead ? "r2" : ""};
            }
            steps_out = check(peers, live - 1, 13000, 13000, &v);
            CHECK_IN(steps_out != autopilot_majority(dead, live), "live and dead gateways");
        }
    }
}

/* The brake: crossed partitions (each gateway cut from a node the others reach) would
 * take every gateway out of the balancer; at most half of the live ones step out. */
static void test_fleet_brake(void)
{
    const struct minority_node r2_dead[] = {{"r2", 5, 10000}};
    const struct minority_peer one_cut[] = {{"gw2", 6, ""}, {"gw3", 6, ""}};
    const struct minority_peer crossed2[] = {{"gw2", 6, "r3"}};
    const struct minority_peer crossed3[] = {{"gw2", 6, "r3"}, {"gw3", 6, ""}};
    const struct minority_peer all_dead[] = {{"gw2", 6, "r2"}, {"gw3", 6, "r2"}};
    const struct minority_peer stale[] = {{"gw2", -1, "r3"}, {"gw3", 6, ""}};
    size_t live = 0;

    /* gw1 alone cut from r2 of three: one of three out. */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, one_cut, 2, &live), 1);
    CHECK_EQ(live, 3);
    /* Of two, gw1 cut from r2 and gw2 from r3: both would leave; 2 * 2 > 2, brake. */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, crossed2, 1, &live), 2);
    CHECK_EQ(live, 2);
    /* Of three, two crossed: 2 * 2 > 3, brake; the third alone would serve everyone. */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, crossed3, 2, &live), 2);
    /* A node dead for everyone is the autopilot's: nobody else counts as leaving. */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, all_dead, 2, &live), 1);
    /* A peer with no ring applied is not live and does not count. */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, stale, 2, &live), 1);
    CHECK_EQ(live, 2);
    /* Of two, one cut: 2 * 1 <= 2, it may step out (the other serves everyone). */
    CHECK_EQ(minority_fleet_out("gw1", r2_dead, 1, one_cut, 1, &live), 1);
    CHECK_EQ(live, 2);
}

int main(void)
{
    test_listed();
    test_alone();
    test_everyone();
    test_majority_dead();
    test_tie();
    test_not_counted();
    test_several();
    test_complement();
    test_fleet_brake();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("minority: all ok\n");
    return 0;
}
