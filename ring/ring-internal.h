/* ring-internal.h: the layout of a ring and its lookup tables, shared by ring*.c. */
#ifndef NEARBY_RING_INTERNAL_H
#define NEARBY_RING_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define RING_VIEW_VNODES_MAX (UINT32_C(1) << 24)

/* Lookups go through a bucket array indexed by the top bits of the hash,
 * with about one bucket per vnode. A bucket entry is one word that answers
 * most lookups alone, so a lookup usually costs one cache miss, and without a
 * data-dependent branch, so the misses of consecutive lookups overlap.
 *   SPLIT  (top bit clear) the owner changes at most twice inside the bucket,
 *          at vnode positions P1 <= P2: the owner is o0 for hashes <= P1, o1
 *          up to P2, o2 above (12 bits each at bits 0, 12, 24). f1 and f2
 *          (RING_FP_BITS each at bits 36 and 49) are the bits of P1 and P2
 *          just below the bucket index; comparing the hash's bits with them
 *          picks the owner. On a tie (about 1 lookup in 4000) the exact
 *          positions decide, by binary search. With fewer changes the unused
 *          owners repeat and the unused fingerprints are RING_FP_TOP.
 *   SCAN   (top bit set) the owner changes three times or more (about 1 bucket
 *          in 20): bits 0..31 index the first vnode at or above the bucket's
 *          lowest hash; scan pos from there.
 * Node indexes fit 12 bits because RING_NODES_MAX is 4096. */
#define RING_BUCKET_SCAN (UINT64_C(1) << 63)
#define RING_FP_BITS 13
#define RING_FP_TOP ((UINT64_C(1) << RING_FP_BITS) - 1)
#define RING_OWNER_MASK UINT64_C(0xfff)

/* The lookup tables of one view. pos is strictly increasing (vnodes that land
 * on a position already taken own nothing and are dropped at build time) and
 * ends with a sentinel UINT64_MAX whose owner is owner[0], so a scan needs no
 * bounds check and the wrap-around past the highest vnode falls out of it. */
struct ring_table {
    uint32_t count;      /* vnodes with distinct positions, at least 1 */
    unsigned shift;      /* 64 - log2(number of buckets) */
    unsigned fp_shift;   /* shift - RING_FP_BITS: where a hash's fingerprint is */
    uint64_t *bucket;    /* 1 << (64 - shift) entries, see RING_BUCKET_* */
    uint64_t *pos;       /* count + 1 positions, sorted, sentinel last */
    uint16_t *owner;     /* count + 1 node indexes, parallel to pos */
    uint64_t *arc;       /* per node: hash space owned, in units of 2^-64 */
    uint32_t sole_owner; /* node index owning everything, or UINT32_MAX */
    size_t bytes;        /* memory held by this table */
};

/* Slots of each of the two open-addressing indexes (by id, by address) that
 * make ring_find and duplicate checks O(1): a power of two at least twice
 * RING_NODES_MAX keeps probe sequences short at the fullest. */
#define RING_INDEX_SLOTS 8192

struct ring {
    unsigned refs; /* ring_ref / ring_free */
    char name[RING_NAME_MAX + 1];
    uint64_t epoch;
    uint32_t vnodes;
    size_t node_count;
    size_t node_cap;
    struct ring_node *nodes;
    /* 2 * RING_INDEX_SLOTS entries, ids first then addresses: node index + 1,
     * or 0 for an empty slot. */
    uint16_t *slots;
    int built;
    /* NULL when the ring is not built or the view has no node; both point
     * at the same table when no node is joining or leaving. */
    struct ring_table *view[2];
};

/* Returns the node other than except (which may be NULL) that uses addr,
 * as its address or as the address it moves from, or NULL. */
const struct ring_node *ring_addr_user(const struct ring *ring, const char *addr,
                                       const struct ring_node *except);

/* Returns 1 when the two nodes are the same owner for the purpose of moves:
 * same id and same address. Either may be NULL (no owner). */
int ring_node_same(const struct ring_node *a, enum ring_view va, const struct ring_node *b,
                   enum ring_view vb);

/* A vnode while a table is being built. */
struct ring_vnode {
    uint64_t pos;
    uint32_t owner; /* node index */
    uint32_t rank;  /* the node's place in id order: breaks position ties */
};

/* Sorts the n vnodes of in into out by position, then rank, with a counting
 * sort on the top bits (1 <= bits <= 24) and start as scratch space of
 * (1 << bits) + 1 entries. */
void ring_sort_vnodes(const struct ring_vnode *in, struct ring_vnode *out, size_t n, unsigned bits,
                      uint32_t *start);

/* Returns the position of virtual node i of the node with this id. */
uint64_t ring_vnode_position(const char *id, uint32_t i);

/* Returns the number of bytes the lookup tables of both views hold. */
size_t ring_table_bytes(const struct ring *ring);

/* Frees a table; NULL does nothing. */
void ring_table_free(struct ring_table *table);

/* Returns a deep copy of table for a ring of node_count nodes, or NULL when
 * out of memory. */
struct ring_table *ring_table_dup(const struct ring_table *src, size_t node_count);

/* Drops both views' tables: the ring is unbuilt until ring_build. */
void ring_unbuild(struct ring *ring);

/* Returns a malloc'd copy of len bytes of src, or NULL when out of memory. */
void *ring_dup_bytes(const void *src, size_t len);

#endif
