/* ring_diff.c: the hash ranges whose owner differs between two rings or views. */
#include <math.h>

#include "ring-internal.h"

/* Ownership is constant between consecutive positions of the union of both
 * views' vnodes, so the diff is a merge walk over the two sorted position
 * arrays: each step covers one such segment, [cursor, min of the next
 * positions]. ia and ib index the next vnode at or above the cursor on each
 * side; the sentinel (UINT64_MAX, owner of index 0) closes the walk and
 * gives the wrap-around owner past the highest vnode. */

/* The view of ring, or NULL when the ring is not built or the view is empty. */
static const struct ring_table *side_table(const struct ring *ring, enum ring_view view)
{
    if (!ring->built || (unsigned)view > RING_VIEW_NEW)
        return NULL;
    return ring->view[view];
}

/* An empty view owns nothing; its walk is the sentinel alone. */
static uint64_t side_pos(const struct ring_table *t, size_t i)
{
    return t != NULL ? t->pos[i] : UINT64_MAX;
}

static const struct ring_node *side_owner(const struct ring *ring, const struct ring_table *t,
                                          size_t i)
{
    return t != NULL ? &ring->nodes[t->owner[i]] : NULL;
}

/* One step of the walk. */
struct segment {
    uint64_t last;
    const struct ring_node *from, *to;
};

static struct segment peek(const struct ring_diff *diff)
{
    const struct ring_table *ta = side_table(diff->a, diff->va);
    const struct ring_table *tb = side_table(diff->b, diff->vb);
    uint64_t pa = side_pos(ta, diff->ia), pb = side_pos(tb, diff->ib);
    struct segment seg;

    seg.last = pa < pb ? pa : pb;
    seg.from = side_owner(diff->a, ta, diff->ia);
    seg.to = side_owner(diff->b, tb, diff->ib);
    return seg;
}

static void advance(struct ring_diff *diff, const struct segment *seg)
{
    const struct ring_table *ta = side_table(diff->a, diff->va);
    const struct ring_table *tb = side_table(diff->b, diff->vb);

    /* Never step past the sentinel; the walk ends once UINT64_MAX is covered. */
    if (ta != NULL && diff->ia < ta->count && ta->pos[diff->ia] == seg->last)
        diff->ia++;
    if (tb != NULL && diff->ib < tb->count && tb->pos[diff->ib] == seg->last)
        diff->ib++;
    if (seg->last == UINT64_MAX)
        diff->done = 1;
    else
        diff->cursor = seg->last + 1;
}

/* Rings that are not built yield no moves: the caller broke the contract and
 * there is nothing sound to compare. */
void ring_diff_init(struct ring_diff *diff, const struct ring *a, enum ring_view va,
                    const struct ring *b, enum ring_view vb)
{
    diff->a = a;
    diff->b = b;
    diff->va = va;
    diff->vb = vb;
    diff->ia = 0;
    diff->ib = 0;
    diff->cursor = 0;
    diff->done = !a->built || !b->built || (unsigned)va > RING_VIEW_NEW ||
                 (unsigned)vb > RING_VIEW_NEW ||
                 (a == b && a->view[va] == a->view[vb] &&
                  !ring_in_transition(a)); /* same tables and addresses, no move */
}

int ring_diff_next(struct ring_diff *diff, struct ring_move *move)
{
    while (!diff->done) {
        uint64_t first = diff->cursor;
        struct segment seg = peek(diff);

        advance(diff, &seg);
        if (ring_node_same(seg.from, diff->va, seg.to, diff->vb))
            continue;
        /* Merge following segments with the very same owners; comparing
         * pointers is enough since both come from the same two tables. */
        while (!diff->done) {
            struct segment next = peek(diff);

            if (next.from != seg.from || next.to != seg.to)
                break;
            advance(diff, &next);
            seg.last = next.last;
        }
        move->first = first;
        move->last = seg.last;
        move->from = seg.from;
        move->to = seg.to;
        return 1;
    }
    return 0;
}

double ring_moved_fraction(const struct ring *a, enum ring_view va, const struct ring *b,
                           enum ring_view vb)
{
    struct ring_diff diff;
    struct ring_move move;
    uint64_t lo = 0, hi = 0; /* moved hashes = hi * 2^64 + lo, exactly */

    ring_diff_init(&diff, a, va, b, vb);
    while (ring_diff_next(&diff, &move)) {
        uint64_t span = move.last - move.first; /* size - 1, cannot overflow */

        lo += span;
        if (lo < span)
            hi++;
        lo += 1;
        if (lo == 0)
            hi++;
    }
    return (double)hi + ldexp((double)lo, -64);
}

int ring_owner_moved(const struct ring *a, enum ring_view va, const struct ring *b,
                     enum ring_view vb, uint64_t hash, const struct ring_node **from,
                     const struct ring_node **to)
{
    const struct ring_node *owner_a = ring_owner(a, va, hash);
    const struct ring_node *owner_b = ring_owner(b, vb, hash);

    if (from != NULL)
        *from = owner_a;
    if (to != NULL)
        *to = owner_b;
    return !ring_node_same(owner_a, va, owner_b, vb);
}
