/* test-autopilot-decide.c: unit tests of the autopilot's decision: majority, grace, standby choice, holds. */
#include <stdio.h>
#include <string.h>

#include "autopilot_decide.h"
#include "ring.h"
#define CHECK_STOP_AFTER 0
#include "test-util.h"

#define MAX_ACTIONS 16

static const struct autopilot_config config = {
    .grace_s = 3.0, .retry_s = 1.0, .warn_every_s = 60.0, .max_gap_s = 1.5};

/* A ring at epoch 10: r1..r3 active, and the standbys listed in "id=addr ..." */
static struct ring *make_ring(const char *standbys)
{
    struct ring *ring = ring_new("main", 10, 4);
    char copy[256], *save = NULL;

    CHECK(ring != NULL);
    CHECK(ring_add_node(ring, "r1", "127.0.0.1:7001", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_add_node(ring, "r2", "127.0.0.1:7002", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_add_node(ring, "r3", "127.0.0.1:7003", 1, RING_STATE_LEAVING) == 0);
    snprintf(copy, sizeof(copy), "%s", standbys);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');

        *eq = '\0';
        CHECK(ring_add_node(ring, tok, eq + 1, 1, RING_STATE_STANDBY) == 0);
    }
    return ring;
}

/* Fills gws[i] from lines such as "epoch=10 dead=r1"; returns the count. */
static size_t make_gateways(struct ringctl_gateway *gws, const char *const *lines)
{
    size_t n = 0;

    for (; lines[n]; n++) {
        ringctl_gateway_parse(lines[n], &gws[n]);
        snprintf(gws[n].id, sizeof(gws[n].id), "gw%zu", n);
    }
    return n;
}

static int decide(struct autopilot *ap, const struct ring *ring, const char *const *lines,
                  double now, struct autopilot_action *out)
{
    struct ringctl_gateway gws[8];
    size_t n = make_gateways(gws, lines);

    memset(out, 0, MAX_ACTIONS * sizeof(*out));
    return autopilot_decide(ap, ring, gws, n, now, out, MAX_ACTIONS);
}

/* Observes every 0.25 s from from up to (not including) to; returns the
 * actions announced meanwhile. */
static int quiet_until(struct autopilot *ap, const struct ring *ring, const char *const *lines,
                       double from, double to)
{
    struct autopilot_action out[MAX_ACTIONS];
    int total = 0;

    for (double t = from; t < to - 1e-9; t += 0.25)
        total += decide(ap, ring, lines, t, out);
    return total;
}

static void test_majority(void)
{
    CHECK(!autopilot_majority(0, 0));
    CHECK(!autopilot_majority(1, 0));
    CHECK(autopilot_majority(1, 1));
    CHECK(!autopilot_majority(1, 2));
    CHECK(autopilot_majority(2, 2));
    CHECK(autopilot_majority(2, 3));
    CHECK(!autopilot_majority(2, 4));
    CHECK(autopilot_majority(3, 4));
    CHECK(!autopilot_majority(3, 2)); /* more votes than voters: nonsense, no */
}

/* Dead by 2 of 3 for the grace period: replaced by the first standby by id. */
static void test_replace_after_grace(void)
{
    const char *const gw[] = {"epoch=10 dead=r2", "epoch=10 dead=r1,r2", "epoch=10", NULL};
    struct ring *ring = make_ring("s2=127.0.0.1:7102 s1=127.0.0.1:7101");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    CHECK_EQ(quiet_until(ap, ring, gw, 100.0, 103.0), 0);
    CHECK_EQ(decide(ap, ring, gw, 102.99, out), 0);
    CHECK_EQ(decide(ap, ring, gw, 103.0, out), 1);
    CHECK_EQ(out[0].verdict, AUTOPILOT_REPLACE);
    CHECK(strcmp(out[0].node_id, "r2") == 0);
    CHECK(strcmp(out[0].node_addr, "127.0.0.1:7002") == 0);
    CHECK(strcmp(out[0].standby_id, "s1") == 0);
    CHECK(strcmp(out[0].standby_addr, "127.0.0.1:7101") == 0);
    CHECK_EQ(out[0].votes, 2);
    CHECK_EQ(out[0].live, 3);
    CHECK(out[0].dead_for_s > 2.99 && out[0].dead_for_s < 3.01);
    /* Announced once per retry period while the ring does not change. */
    CHECK_EQ(decide(ap, ring, gw, 103.5, out), 0);
    CHECK_EQ(decide(ap, ring, gw, 104.0, out), 1);
    autopilot_free(ap);
    ring_free(ring);
}

/* A minority, no live gateway, or gateways that applied no ring: nothing. */
static void test_no_majority(void)
{
    const char *const minority[] = {"epoch=10 dead=r1", "epoch=10", NULL};
    const char *const unapplied[] = {"dead=r1", "dead=r1", "epoch=10", NULL};
    const char *const none[] = {NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    for (double t = 0; t < 10; t += 0.25)
        CHECK_EQ(decide(ap, ring, minority, t, out), 0);
    /* Two gateways without a ring do not count: 0 of 1 live. */
    for (double t = 10; t < 20; t += 0.25)
        CHECK_EQ(decide(ap, ring, unapplied, t, out), 0);
    for (double t = 20; t < 30; t += 0.25)
        CHECK_EQ(decide(ap, ring, none, t, out), 0);
    autopilot_free(ap);
    ring_free(ring);
}

/* The dead timer restarts when the majority breaks, or when we stopped looking. */
static void test_grace_restarts(void)
{
    const char *const dead[] = {"epoch=10 dead=r1", NULL};
    const char *const alive[] = {"epoch=10", NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    CHECK_EQ(decide(ap, ring, dead, 0.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 1.0, out), 0);
    CHECK_EQ(decide(ap, ring, alive, 2.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 3.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 4.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 5.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 6.0, out), 1);
    /* A gap of 5 s (> max_gap_s): not known to have stayed dead. */
    CHECK_EQ(decide(ap, ring, dead, 11.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 12.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 13.0, out), 0);
    CHECK_EQ(decide(ap, ring, dead, 14.0, out), 1);
    autopilot_free(ap);
    ring_free(ring);
}

/* Two dead nodes get two different standbys; a standby a gateway calls dead is
 * skipped; with none left the rest get "no standby", once a minute. */
static void test_standby_choice(void)
{
    const char *const gw[] = {"epoch=10 dead=r1,r3,s0", "epoch=10 dead=r3,r1", NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101 s0=127.0.0.1:7100");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    int warnings = 0, replaces = 0;

    CHECK_EQ(quiet_until(ap, ring, gw, 0.0, 3.0), 0);
    CHECK_EQ(decide(ap, ring, gw, 3.0, out), 2);
    CHECK_EQ(out[0].verdict, AUTOPILOT_REPLACE);
    CHECK(strcmp(out[0].node_id, "r1") == 0 && strcmp(out[0].standby_id, "s1") == 0);
    CHECK_EQ(out[1].verdict, AUTOPILOT_NO_STANDBY);
    CHECK(strcmp(out[1].node_id, "r3") == 0);
    CHECK(out[1].standby_id[0] == '\0');
    /* r1 again once per retry period, r3's warning once a minute. */
    for (double t = 3.25; t < 63.0 + 1e-9; t += 0.25) {
        int n = decide(ap, ring, gw, t, out);

        for (int i = 0; i < n; i++) {
            if (out[i].verdict == AUTOPILOT_REPLACE) {
                CHECK(strcmp(out[i].node_id, "r1") == 0 && strcmp(out[i].standby_id, "s1") == 0);
                replaces++;
            } else {
                CHECK(strcmp(out[i].node_id, "r3") == 0);
                CHECK(t > 62.99);
                warnings++;
            }
        }
    }
    CHECK_EQ(replaces, 60);
    CHECK_EQ(warnings, 1);
    autopilot_free(ap);
    ring_free(ring);
}

/* After the replace, gateways still on the old epoch report the node dead:
 * their word about the new address does not count; once they apply the new
 * epoch it does again. */
static void test_new_address_needs_new_epoch(void)
{
    const char *const stale[] = {"epoch=10 dead=r2", "epoch=10 dead=r2", NULL};
    const char *const applied[] = {"epoch=11 dead=r2", "epoch=11 dead=r2", NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101 s2=127.0.0.1:7102");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    CHECK_EQ(quiet_until(ap, ring, stale, 0.0, 3.0), 0);
    CHECK_EQ(decide(ap, ring, stale, 3.0, out), 1);
    CHECK(strcmp(out[0].standby_id, "s1") == 0);
    /* What ringctl_apply_replace writes: r2 at s1's address, s1 gone, epoch+1. */
    CHECK(ring_remove_node(ring, "s1") == 0);
    CHECK(ring_set_addr(ring, "r2", "127.0.0.1:7101") == 0);
    ring_set_epoch(ring, 11);
    for (double t = 3.25; t < 10; t += 0.25)
        CHECK_EQ(decide(ap, ring, stale, t, out), 0);
    /* The standby is dead too: the gateways on epoch 11 say so; next standby. */
    CHECK_EQ(quiet_until(ap, ring, applied, 10.0, 13.0), 0);
    CHECK_EQ(decide(ap, ring, applied, 13.0, out), 1);
    CHECK(strcmp(out[0].node_id, "r2") == 0 && strcmp(out[0].node_addr, "127.0.0.1:7101") == 0);
    CHECK(strcmp(out[0].standby_id, "s2") == 0);
    autopilot_free(ap);
    ring_free(ring);
}

/* A node first seen at epoch 10: reports from gateways still on 9 do not count. */
static void test_lagging_gateways_at_start(void)
{
    const char *const gw[] = {"epoch=9 dead=r1", "epoch=9 dead=r1", "epoch=10", NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101");
    struct autopilot *ap = autopilot_new(&config);
    struct autopilot_action out[MAX_ACTIONS];

    for (double t = 0; t < 10; t += 0.25)
        CHECK_EQ(decide(ap, ring, gw, t, out), 0);
    autopilot_free(ap);
    ring_free(ring);
}

/* Room for fewer actions than are due: the first ones, and nothing lost. */
static void test_max(void)
{
    const char *const gw[] = {"epoch=10 dead=r1,r2", NULL};
    struct ring *ring = make_ring("s1=127.0.0.1:7101 s2=127.0.0.1:7102");
    struct autopilot *ap = autopilot_new(&config);
    struct ringctl_gateway gws[1];
    struct autopilot_action out[1];

    make_gateways(gws, gw);
    for (double t = 0; t < 3.0; t += 0.5)
        CHECK_EQ(autopilot_decide(ap, ring, gws, 1, t, out, 1), 0);
    CHECK_EQ(autopilot_decide(ap, ring, gws, 1, 3.0, out, 1), 1);
    CHECK(strcmp(out[0].node_id, "r1") == 0);
    CHECK_EQ(autopilot_decide(ap, ring, gws, 1, 3.25, out, 1), 1);
    CHECK(strcmp(out[0].node_id, "r2") == 0 && strcmp(out[0].standby_id, "s2") == 0);
    autopilot_free(ap);
    ring_free(ring);
}

int main(void)
{
    test_majority();
    test_replace_after_grace();
    test_no_majority();
    test_grace_restarts();
    test_standby_choice();
    test_new_address_needs_new_epoch();
    test_lagging_gateways_at_start();
    test_max();
    autopilot_free(NULL);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("autopilot-decide: all ok\n");
    return 0;
}
