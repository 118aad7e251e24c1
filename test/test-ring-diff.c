/* test-ring-diff.c: unit tests of ring diffs: move ranges checked against owner lookups. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring-internal.h"
#include "ring.h"
#include "test-util.h"

struct moves {
    struct ring_move *v;
    size_t n;
};

static struct moves collect(const struct ring *a, enum ring_view va, const struct ring *b,
                            enum ring_view vb)
{
    struct moves m = { NULL, 0 };
    struct ring_diff diff;
    struct ring_move move;

    ring_diff_init(&diff, a, va, b, vb);
    while (ring_diff_next(&diff, &move)) {
        m.v = realloc(m.v, (m.n + 1) * sizeof(*m.v));
        CHECK(m.v != NULL);
        m.v[m.n++] = move;
    }
    CHECK(!ring_diff_next(&diff, &move)); /* stays finished */
    return m;
}

/* Returns the move containing hash, or NULL. */
static const struct ring_move *find_move(const struct moves *m, uint64_t hash)
{
    size_t lo = 0, hi = m->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->v[mid].last < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->v[lo].first <= hash ? &m->v[lo] : NULL;
}

static void check_hash(const struct ring *a, enum ring_view va, const struct ring *b,
                       enum ring_view vb, const struct moves *m, uint64_t hash)
{
    const struct ring_node *from, *to;
    const struct ring_move *move = find_move(m, hash);
    int moved = ring_owner_moved(a, va, b, vb, hash, &from, &to);

    CHECK(from == ring_owner(a, va, hash) && to == ring_owner(b, vb, hash));
    CHECK(moved == (move != NULL));
    if (move != NULL)
        CHECK(move->from == from && move->to == to);
}

/* Checks every property of the diff from a/va to b/vb; returns the moved
 * fraction summed from the ranges. */
static double check_diff(const struct ring *a, enum ring_view va, const struct ring *b,
                         enum ring_view vb)
{
    struct moves m = collect(a, va, b, vb);
    uint64_t lo = 0, hi = 0;
    double fraction;

    for (size_t k = 0; k < m.n; k++) {
        const struct ring_move *mv = &m.v[k];
        const struct ring_node *from, *to;

        CHECK(mv->first <= mv->last); /* never wraps */
        CHECK(k == 0 || mv->first > m.v[k - 1].last);
        CHECK(!ring_node_same(mv->from, va, mv->to, vb));
        CHECK(mv->from == ring_owner(a, va, mv->first) && mv->from == ring_owner(a, va, mv->last));
        CHECK(mv->to == ring_owner(b, vb, mv->first) && mv->to == ring_owner(b, vb, mv->last));
        /* Maximal: the hash on either side is not part of the same move. */
        if (mv->first > 0 && ring_owner_moved(a, va, b, vb, mv->first - 1, &from, &to))
            CHECK(from != mv->from || to != mv->to);
        if (mv->last < UINT64_MAX && ring_owner_moved(a, va, b, vb, mv->last + 1, &from, &to))
            CHECK(from != mv->from || to != mv->to);
        lo += mv->last - mv->first;
        if (lo < mv->last - mv->first)
            hi++;
        if (++lo == 0)
            hi++;
    }
    fraction = (double)hi + ldexp((double)lo, -64);
    CHECK(fabs(fraction - ring_moved_fraction(a, va, b, vb)) < 1e-15);

    /* Ownership is constant between vnode positions, so probing at, below
     * and above every position of both views covers every segment. */
    for (int side = 0; side < 2; side++) {
        const struct ring *r = side ? b : a;
        const struct ring_table *t = r->view[side ? vb : va];

        for (uint32_t k = 0; t != NULL && k < t->count; k++) {
            check_hash(a, va, b, vb, &m, t->pos[k]);
            check_hash(a, va, b, vb, &m, t->pos[k] - 1);
            check_hash(a, va, b, vb, &m, t->pos[k] + 1);
        }
    }
    check_hash(a, va, b, vb, &m, 0);
    check_hash(a, va, b, vb, &m, UINT64_MAX);
    for (int k = 0; k < 200; k++)
        check_hash(a, va, b, vb, &m, rnd());
    free(m.v);
    return fraction;
}

static struct ring *random_ring(void)
{
    struct ring *ring = ring_new("rand", 1, 1 + rnd_below(6));
    uint32_t n = 1 + rnd_below(12);

    CHECK(ring != NULL);
    for (uint32_t i = 0; i < n; i++) {
        char id[16], addr[24];

        snprintf(id, sizeof(id), "n%" PRIu32, i);
        snprintf(addr, sizeof(addr), "h:%" PRIu32, i + 1);
        CHECK(ring_add_node(ring, id, addr, 1 + rnd_below(3), (enum ring_state)rnd_below(4)) == 0);
    }
    return ring;
}

/* A handful of random changes of every kind. */
static void mutate(struct ring *ring)
{
    int changes = 1 + (int)rnd_below(4);

    for (int c = 0; c < changes; c++) {
        size_t count = ring_node_count(ring);
        const char *id = count ? ring_node_at(ring, rnd_below((uint32_t)count))->id : "none";
        char new_id[16], new_addr[24];

        snprintf(new_id, sizeof(new_id), "m%" PRIu32, rnd_below(1000));
        snprintf(new_addr, sizeof(new_addr), "m:%" PRIu32, 1 + rnd_below(1000));
        switch (rnd_below(5)) {
        case 0:
            (void)ring_add_node(ring, new_id, new_addr, 1 + rnd_below(3),
                                (enum ring_state)rnd_below(4));
            break;
        case 1:
            (void)ring_remove_node(ring, id);
            break;
        case 2:
            (void)ring_set_state(ring, id, (enum ring_state)rnd_below(4));
            break;
        case 3:
            (void)ring_set_addr(ring, id, new_addr);
            break;
        default:
            (void)ring_set_weight(ring, id, 1 + rnd_below(3));
            break;
        }
    }
}

static void test_random(void)
{
    for (int round = 0; round < 300; round++) {
        struct ring *a = random_ring(), *b;

        CHECK(ring_build(a) == 0);
        b = ring_dup(a);
        CHECK(b != NULL);
        mutate(b);
        CHECK(ring_build(b) == 0);
        for (int va = RING_VIEW_OLD; va <= RING_VIEW_NEW; va++) {
            for (int vb = RING_VIEW_OLD; vb <= RING_VIEW_NEW; vb++) {
                check_diff(a, (enum ring_view)va, b, (enum ring_view)vb);
                check_diff(a, (enum ring_view)va, a, (enum ring_view)vb);
            }
        }
        ring_free(b);
        ring_free(a);
    }
}

static void test_no_change(void)
{
    struct ring *a = random_ring(), *copy;
    struct ring_diff diff;
    struct ring_move move;

    CHECK(ring_add_node(a, "always", "h:999", 1, RING_STATE_ACTIVE) == 0);
    /* Not built: nothing sound to compare, so nothing comes out. */
    ring_diff_init(&diff, a, RING_VIEW_OLD, a, RING_VIEW_NEW);
    CHECK(!ring_diff_next(&diff, &move));
    CHECK(ring_moved_fraction(a, RING_VIEW_OLD, a, RING_VIEW_NEW) == 0.0);

    CHECK(ring_build(a) == 0);
    copy = ring_dup(a);
    CHECK(copy != NULL);
    for (int v = RING_VIEW_OLD; v <= RING_VIEW_NEW; v++) {
        /* Equal ids and addresses are the same owner, whatever the pointers. */
        CHECK(check_diff(a, (enum ring_view)v, copy, (enum ring_view)v) == 0.0);
        CHECK(check_diff(a, (enum ring_view)v, a, (enum ring_view)v) == 0.0);
    }
    ring_free(copy);
    ring_free(a);
}

/* A new address moves exactly the node's own ranges, from it to itself. */
static void test_address_change(void)
{
    for (int round = 0; round < 50; round++) {
        struct ring *a = random_ring(), *b;
        const struct ring_node *victim;
        struct moves m;
        double share[16];

        CHECK(ring_add_node(a, "victim", "old.host:1", 2, RING_STATE_ACTIVE) == 0);
        CHECK(ring_build(a) == 0);
        victim = ring_find(a, "victim");
        b = ring_dup(a);
        CHECK(ring_set_addr(b, "victim", "new.host:1") == 0 && ring_build(b) == 0);
        m = collect(a, RING_VIEW_NEW, b, RING_VIEW_NEW);
        CHECK(m.n > 0);
        for (size_t k = 0; k < m.n; k++) {
            CHECK(m.v[k].from == victim && strcmp(m.v[k].to->id, "victim") == 0);
            CHECK(strcmp(m.v[k].to->addr, "new.host:1") == 0);
        }
        CHECK(ring_shares(a, RING_VIEW_NEW, share) == 0);
        CHECK(fabs(check_diff(a, RING_VIEW_NEW, b, RING_VIEW_NEW) -
                   share[ring_node_index(a, victim)]) < 1e-15);
        free(m.v);
        ring_free(b);
        ring_free(a);
    }
}

/* A node moving to another address (two-phase replace): its old view is at
 * from, its new view at addr; the views differ on exactly its own ranges,
 * and the text keeps from= across a round trip. */
static void test_moving_node(void)
{
    for (int round = 0; round < 20; round++) {
        struct ring *a = random_ring(), *parsed = NULL;
        const struct ring_node *victim;
        double share[16];
        char *text;
        size_t len;

        for (size_t i = 0; i < ring_node_count(a); i++) /* membership the same in both views */
            CHECK(ring_set_state(a, ring_node_at(a, i)->id, RING_STATE_ACTIVE) == 0);
        CHECK(ring_add_node(a, "victim", "new.host:1", 2, RING_STATE_ACTIVE) == 0);
        CHECK(ring_set_from(a, "victim", "old.host:1") == 0);
        CHECK(ring_build(a) == 0 && ring_in_transition(a));
        victim = ring_find(a, "victim");
        CHECK(strcmp(ring_node_addr(victim, RING_VIEW_OLD), "old.host:1") == 0);
        CHECK(strcmp(ring_node_addr(victim, RING_VIEW_NEW), "new.host:1") == 0);
        CHECK(ring_shares(a, RING_VIEW_NEW, share) == 0);
        CHECK(fabs(check_diff(a, RING_VIEW_OLD, a, RING_VIEW_NEW) -
                   share[ring_node_index(a, victim)]) < 1e-15);
        text = ring_to_text(a, &len);
        CHECK(text != NULL && strstr(text, " state=active from=old.host:1\n") != NULL);
        CHECK(ring_parse(text, len, &parsed, NULL) == 0);
        CHECK(strcmp(ring_find(parsed, "victim")->from, "old.host:1") == 0);
        CHECK(ring_set_from(parsed, "victim", "") == 0 && ring_build(parsed) == 0);
        CHECK(!ring_in_transition(parsed));
        free(text);
        ring_free(parsed);
        ring_free(a);
    }
}

/* The range that wraps past the top of the hash space comes out in two
 * pieces, [0, p] and [q, UINT64_MAX]. */
static void test_wrap(void)
{
    struct ring *a = ring_new("a", 1, 1), *b = ring_new("b", 1, 1), *c = ring_new("c", 1, 1);
    uint64_t px = ring_vnode_position("x", 0), py = 0;
    char y[16] = "";
    struct moves m;

    /* A second node whose one vnode sits below x's, so that it owns the
     * wrapping range (px, UINT64_MAX] + [0, py]. */
    for (int i = 0; py == 0 || py >= px; i++) {
        snprintf(y, sizeof(y), "y%d", i);
        py = ring_vnode_position(y, 0);
    }
    CHECK(ring_add_node(a, "x", "h:1", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_add_node(b, "x", "h:1", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_add_node(b, y, "h:2", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_add_node(c, y, "h:2", 1, RING_STATE_ACTIVE) == 0);
    CHECK(ring_build(a) == 0 && ring_build(b) == 0 && ring_build(c) == 0);

    m = collect(a, RING_VIEW_NEW, b, RING_VIEW_NEW);
    CHECK(m.n == 2);
    CHECK(m.v[0].first == 0 && m.v[0].last == py);
    CHECK(m.v[1].first == px + 1 && m.v[1].last == UINT64_MAX);
    CHECK(strcmp(m.v[0].from->id, "x") == 0 && strcmp(m.v[0].to->id, y) == 0);
    CHECK(m.v[1].from == m.v[0].from && m.v[1].to == m.v[0].to);
    free(m.v);
    check_diff(a, RING_VIEW_NEW, b, RING_VIEW_NEW);

    /* Everything moves: one range, the whole space. */
    m = collect(a, RING_VIEW_NEW, c, RING_VIEW_NEW);
    CHECK(m.n == 1 && m.v[0].first == 0 && m.v[0].last == UINT64_MAX);
    free(m.v);
    CHECK(ring_moved_fraction(a, RING_VIEW_NEW, c, RING_VIEW_NEW) == 1.0);
    ring_free(a);
    ring_free(b);
    ring_free(c);
}

/* A view with no node has no owner: everything moves to or from NULL. */
static void test_empty_views(void)
{
    struct ring *a = ring_new("a", 1, 4), *none = ring_new("none", 1, 4);
    struct moves m;

    CHECK(ring_add_node(a, "p", "h:1", 1, RING_STATE_JOINING) == 0);
    CHECK(ring_add_node(a, "q", "h:2", 2, RING_STATE_JOINING) == 0);
    CHECK(ring_add_node(a, "s", "h:3", 2, RING_STATE_STANDBY) == 0);
    CHECK(ring_build(a) == 0 && ring_build(none) == 0);
    m = collect(a, RING_VIEW_OLD, a, RING_VIEW_NEW);
    CHECK(m.n >= 2 && m.v[0].first == 0 && m.v[m.n - 1].last == UINT64_MAX);
    for (size_t k = 0; k < m.n; k++) {
        CHECK(m.v[k].from == NULL && m.v[k].to != NULL);
        CHECK(k == 0 || m.v[k].first == m.v[k - 1].last + 1);
    }
    free(m.v);
    CHECK(check_diff(a, RING_VIEW_OLD, a, RING_VIEW_NEW) == 1.0);
    CHECK(check_diff(a, RING_VIEW_NEW, none, RING_VIEW_NEW) == 1.0);
    CHECK(check_diff(none, RING_VIEW_OLD, a, RING_VIEW_OLD) == 0.0);
    CHECK(check_diff(none, RING_VIEW_OLD, none, RING_VIEW_NEW) == 0.0);
    ring_free(a);
    ring_free(none);
}

/* A planned change: the moved fraction of one joining node is about its
 * share, and every move goes to it. */
static void test_transition(void)
{
    struct ring *ring = ring_new("t", 1, 64);
    double share[11], fraction;
    struct moves m;

    for (int i = 0; i < 10; i++) {
        char id[16], addr[16];

        snprintf(id, sizeof(id), "r%d", i);
        snprintf(addr, sizeof(addr), "h:%d", i + 1);
        CHECK(ring_add_node(ring, id, addr, 1, RING_STATE_ACTIVE) == 0);
    }
    CHECK(ring_add_node(ring, "new", "h:99", 1, RING_STATE_JOINING) == 0);
    CHECK(ring_build(ring) == 0);
    fraction = check_diff(ring, RING_VIEW_OLD, ring, RING_VIEW_NEW);
    CHECK(ring_shares(ring, RING_VIEW_NEW, share) == 0);
    CHECK(fabs(fraction - share[10]) < 1e-15);
    m = collect(ring, RING_VIEW_OLD, ring, RING_VIEW_NEW);
    for (size_t k = 0; k < m.n; k++)
        CHECK(strcmp(m.v[k].to->id, "new") == 0);
    free(m.v);
    ring_free(ring);
}

int main(void)
{
    rnd_seed(0xd1ff);
    test_random();
    test_no_change();
    test_address_change();
    test_moving_node();
    test_wrap();
    test_empty_views();
    test_transition();
    return 0;
}
