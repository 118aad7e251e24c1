/* ring_table.c: vnode positions, building the lookup tables of each view, owner lookup, shares, hashes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* lets the compiler specialise XXH3 for short keys */
#include <xxhash.h>

#include "ring-internal.h"

/* A bucket of the build-time counting sort holding more vnodes than this is
 * sorted with qsort instead of insertion sort. Positions are uniform hashes,
 * so a bucket holds about one vnode and this only guards the worst case. */
#define RING_SORT_INSERTION_MAX 32

void ring_table_free(struct ring_table *table)
{
    if (table == NULL)
        return;
    free(table->pos);
    free(table->owner);
    free(table->bucket);
    free(table->arc);
    free(table);
}

void ring_unbuild(struct ring *ring)
{
    if (ring->view[RING_VIEW_NEW] != ring->view[RING_VIEW_OLD])
        ring_table_free(ring->view[RING_VIEW_NEW]);
    ring_table_free(ring->view[RING_VIEW_OLD]);
    ring->view[RING_VIEW_OLD] = NULL;
    ring->view[RING_VIEW_NEW] = NULL;
    ring->built = 0;
}

/* Returns a deep copy of table for a ring of node_count nodes, or NULL. */
struct ring_table *ring_table_dup(const struct ring_table *src, size_t node_count)
{
    struct ring_table *dst = calloc(1, sizeof(*dst));
    size_t buckets = (size_t)1 << (64 - src->shift);

    if (dst == NULL)
        return NULL;
    *dst = *src;
    dst->pos = ring_dup_bytes(src->pos, (src->count + 1) * sizeof(*src->pos));
    dst->owner = ring_dup_bytes(src->owner, (src->count + 1) * sizeof(*src->owner));
    dst->bucket = ring_dup_bytes(src->bucket, buckets * sizeof(*src->bucket));
    dst->arc = ring_dup_bytes(src->arc, node_count * sizeof(*src->arc));
    if (dst->pos == NULL || dst->owner == NULL || dst->bucket == NULL || dst->arc == NULL) {
        ring_table_free(dst);
        return NULL;
    }
    return dst;
}

static int in_view(enum ring_state state, enum ring_view view)
{
    if (state == RING_STATE_ACTIVE)
        return 1;
    if (view == RING_VIEW_OLD)
        return state == RING_STATE_LEAVING;
    return state == RING_STATE_JOINING;
}

/* Returns 1 when the views have different members, so different tables. A
 * moving node is in both views at the same positions: one table serves both. */
static int members_differ(const struct ring *ring)
{
    for (size_t i = 0; i < ring->node_count; i++) {
        if (ring->nodes[i].state == RING_STATE_JOINING ||
            ring->nodes[i].state == RING_STATE_LEAVING)
            return 1;
    }
    return 0;
}

int ring_in_transition(const struct ring *ring)
{
    for (size_t i = 0; i < ring->node_count; i++)
        if (ring->nodes[i].from[0] != '\0')
            return 1;
    return members_differ(ring);
}

/* XXH3 with a small seed is weak on ids of 1..3 bytes: the seed is xored
 * into a 32-bit mix of the bytes before the final avalanche, so "r10" vnode i
 * and "r11" vnode i + 1 often land on one position (45 % of the vnodes of a
 * ring of r0..r199 collided). Hashing the id first and seeding the hash of
 * those 8 well-mixed bytes avoids that for every id length. */
static uint64_t position_at(const unsigned char base[8], uint32_t i)
{
    return XXH3_64bits_withSeed(base, 8, i);
}

/* Writes the little-endian bytes of the id's hash: positions must not depend
 * on the byte order of the machine. */
static void position_base(const char *id, unsigned char base[8])
{
    uint64_t h = XXH3_64bits(id, strlen(id));

    for (int k = 0; k < 8; k++)
        base[k] = (unsigned char)(h >> (8 * k));
}

uint64_t ring_vnode_position(const char *id, uint32_t i)
{
    unsigned char base[8];

    position_base(id, base);
    return position_at(base, i);
}

static int cmp_node_id(const void *a, const void *b)
{
    const struct ring_node *const *x = a, *const *y = b;

    return strcmp((*x)->id, (*y)->id);
}

/* Orders by position, then by id. */
static int cmp_vnode(const void *a, const void *b)
{
    const struct ring_vnode *x = a, *y = b;

    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Sorts one counting-sort bucket by position, then id. Insertion sort is
 * stable and the vnodes arrive in id order, so it needs no rank compare. */
static void sort_bucket(struct ring_vnode *v, size_t n)
{
    if (n > RING_SORT_INSERTION_MAX) {
        qsort(v, n, sizeof(*v), cmp_vnode);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct ring_vnode cur = v[i];
        size_t j = i;

        while (j > 0 && v[j - 1].pos > cur.pos) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = cur;
    }
}

/* Positions are uniform, so a counting sort on the top bits leaves about
 * one vnode per bucket: linear time, where qsort took several times as long
 * on a 200-node ring. */
void ring_sort_vnodes(const struct ring_vnode *in, struct ring_vnode *out, size_t n, unsigned bits,
                      uint32_t *start)
{
    size_t buckets = (size_t)1 << bits;
    unsigned shift = 64 - bits;

    memset(start, 0, (buckets + 1) * sizeof(*start));
    for (size_t k = 0; k < n; k++)
        start[(in[k].pos >> shift) + 1]++;
    for (size_t b = 0; b < buckets; b++)
        start[b + 1] += start[b];
    for (size_t k = 0; k < n; k++)
        out[start[in[k].pos >> shift]++] = in[k];
    /* start[b] now holds the end of bucket b, which is the start of b + 1. */
    for (size_t b = 0; b < buckets; b++) {
        uint32_t lo = b ? start[b - 1] : 0;

        sort_bucket(out + lo, start[b] - lo);
    }
}

/* Returns log2 of the number of buckets for count vnodes: the next power of
 * two >= count, at least 2 so that the shift stays below 64. */
static unsigned bucket_bits(uint32_t count)
{
    unsigned bits = 1;

    while (((uint64_t)1 << bits) < count)
        bits++;
    return bits;
}

/* Returns the first index in t->pos at or above hash. */
static uint32_t lower_bound(const struct ring_table *t, uint64_t hash)
{
    uint32_t lo = 0, hi = t->count; /* the sentinel at count is >= anything */

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (t->pos[mid] < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Returns a SPLIT entry for owners o0, o1, o2 changing at fingerprints f1, f2. */
static uint64_t split_entry(uint64_t o0, uint64_t o1, uint64_t o2, uint64_t f1, uint64_t f2)
{
    return f2 << (36 + RING_FP_BITS) | f1 << 36 | o2 << 24 | o1 << 12 | o0;
}

/* Fills the bucket array; see RING_BUCKET_SCAN for the two kinds. Only the
 * positions where the owner changes matter: consecutive vnodes of one node
 * inside a bucket change nothing. */
static void table_index(struct ring_table *t, size_t buckets)
{
    uint64_t width_mask = ((uint64_t)1 << t->shift) - 1;
    uint32_t i = 0;

    t->fp_shift = t->shift - RING_FP_BITS;
    for (size_t b = 0; b < buckets; b++) {
        uint64_t lo = (uint64_t)b << t->shift, hi = lo | width_mask;
        uint64_t owners[3], fps[2] = { RING_FP_TOP, RING_FP_TOP };
        unsigned changes = 0;

        while (t->pos[i] < lo)
            i++;
        owners[0] = owners[1] = owners[2] = t->owner[i];
        /* The sentinel (UINT64_MAX >= hi) ends the loop. */
        for (uint32_t j = i; t->pos[j] < hi && changes < 3; j++) {
            if (t->owner[j] == t->owner[j + 1])
                continue;
            if (changes < 2) {
                fps[changes] = (t->pos[j] >> t->fp_shift) & RING_FP_TOP;
                for (unsigned k = changes + 1; k < 3; k++)
                    owners[k] = t->owner[j + 1];
            }
            changes++;
        }
        if (changes < 3)
            t->bucket[b] = split_entry(owners[0], owners[1], owners[2], fps[0], fps[1]);
        else
            t->bucket[b] = RING_BUCKET_SCAN | i;
    }
}

/* Sums each node's arcs: the arc below a vnode, back to the previous one,
 * is what that vnode owns. */
static void table_arcs(struct ring_table *t, size_t node_count)
{
    uint64_t prev = t->pos[t->count - 1];

    memset(t->arc, 0, node_count * sizeof(*t->arc));
    t->sole_owner = t->owner[0];
    for (uint32_t k = 0; k < t->count; k++) {
        t->arc[t->owner[k]] += t->pos[k] - prev; /* wraps correctly for k == 0 */
        prev = t->pos[k];
        if (t->owner[k] != t->sole_owner)
            t->sole_owner = UINT32_MAX;
    }
}

/* Returns the number of vnodes in view, before dropping shared positions. */
static uint64_t view_vnodes(const struct ring *ring, enum ring_view view)
{
    uint64_t total = 0;

    for (size_t i = 0; i < ring->node_count; i++) {
        if (in_view(ring->nodes[i].state, view))
            total += (uint64_t)ring->nodes[i].weight * ring->vnodes;
    }
    return total;
}

/* Builds the table of one view into *out (NULL when no node is in the view).
 * Returns 0, RING_ERR_NOMEM or RING_ERR_LIMIT. */
static int table_build(const struct ring *ring, enum ring_view view, struct ring_table **out)
{
    const struct ring_node **by_id = NULL;
    struct ring_vnode *gen = NULL, *sorted = NULL;
    uint32_t *start = NULL;
    struct ring_table *t = NULL;
    uint64_t total = view_vnodes(ring, view);
    size_t buckets, n = 0, members = 0;
    unsigned bits;
    int rc = RING_ERR_NOMEM;

    if (total > RING_VIEW_VNODES_MAX)
        return RING_ERR_LIMIT;
    if (total == 0) {
        *out = NULL;
        return 0;
    }

    /* Generate vnodes in id order so that the stable sort below leaves the
     * smallest id first among equal positions: ties resolve the same way on
     * every gateway whatever order the nodes were added in. */
    by_id = malloc(ring->node_count * sizeof(*by_id));
    gen = malloc(total * sizeof(*gen));
    sorted = malloc(total * sizeof(*sorted));
    bits = bucket_bits((uint32_t)total);
    buckets = (size_t)1 << bits;
    start = malloc((buckets + 1) * sizeof(*start));
    t = calloc(1, sizeof(*t));
    if (by_id == NULL || gen == NULL || sorted == NULL || start == NULL || t == NULL)
        goto cleanup;
    for (size_t i = 0; i < ring->node_count; i++) {
        if (in_view(ring->nodes[i].state, view))
            by_id[members++] = &ring->nodes[i];
    }
    qsort(by_id, members, sizeof(*by_id), cmp_node_id);
    for (size_t m = 0; m < members; m++) {
        const struct ring_node *node = by_id[m];
        uint32_t owner = (uint32_t)(node - ring->nodes);
        uint32_t count = node->weight * ring->vnodes;
        unsigned char base[8];

        position_base(node->id, base);
        for (uint32_t i = 0; i < count; i++) {
            gen[n].pos = position_at(base, i);
            gen[n].owner = owner;
            gen[n].rank = (uint32_t)m;
            n++;
        }
    }

    t->shift = 64 - bits;
    ring_sort_vnodes(gen, sorted, n, bits, start);

    t->pos = malloc((n + 1) * sizeof(*t->pos));
    t->owner = malloc((n + 1) * sizeof(*t->owner));
    t->bucket = malloc(buckets * sizeof(*t->bucket));
    t->arc = malloc(ring->node_count * sizeof(*t->arc));
    if (t->pos == NULL || t->owner == NULL || t->bucket == NULL || t->arc == NULL)
        goto cleanup;
    /* A vnode on a position already taken would own an empty arc. */
    for (size_t k = 0; k < n; k++) {
        if (t->count > 0 && sorted[k].pos == t->pos[t->count - 1])
            continue;
        t->pos[t->count] = sorted[k].pos;
        t->owner[t->count] = (uint16_t)sorted[k].owner;
        t->count++;
    }
    t->pos[t->count] = UINT64_MAX;
    t->owner[t->count] = t->owner[0];
    table_index(t, buckets);
    table_arcs(t, ring->node_count);
    t->bytes = sizeof(*t) + (t->count + 1) * (sizeof(*t->pos) + sizeof(*t->owner)) +
               buckets * sizeof(*t->bucket) + ring->node_count * sizeof(*t->arc);
    *out = t;
    t = NULL;
    rc = 0;

cleanup:
    ring_table_free(t);
    free(start);
    free(sorted);
    free(gen);
    free(by_id);
    return rc;
}

int ring_check(const struct ring *ring)
{
    if (view_vnodes(ring, RING_VIEW_OLD) > RING_VIEW_VNODES_MAX ||
        view_vnodes(ring, RING_VIEW_NEW) > RING_VIEW_VNODES_MAX)
        return RING_ERR_LIMIT;
    return 0;
}

int ring_build(struct ring *ring)
{
    struct ring_table *old_view = NULL, *new_view = NULL;
    int rc;

    if (ring->built)
        return 0;
    /* Check both views before spending time on either. */
    if (ring_check(ring) < 0)
        return RING_ERR_LIMIT;
    rc = table_build(ring, RING_VIEW_OLD, &old_view);
    if (rc < 0)
        return rc;
    if (members_differ(ring)) {
        rc = table_build(ring, RING_VIEW_NEW, &new_view);
        if (rc < 0) {
            ring_table_free(old_view);
            return rc;
        }
    } else {
        new_view = old_view;
    }
    ring->view[RING_VIEW_OLD] = old_view;
    ring->view[RING_VIEW_NEW] = new_view;
    ring->built = 1;
    return 0;
}

int ring_is_built(const struct ring *ring)
{
    return ring->built;
}

size_t ring_table_bytes(const struct ring *ring)
{
    size_t bytes = 0;

    if (ring->view[RING_VIEW_OLD] != NULL)
        bytes += ring->view[RING_VIEW_OLD]->bytes;
    if (ring->view[RING_VIEW_NEW] != NULL && ring->view[RING_VIEW_NEW] != ring->view[RING_VIEW_OLD])
        bytes += ring->view[RING_VIEW_NEW]->bytes;
    return bytes;
}

uint64_t ring_hash(const void *key, size_t len)
{
    return XXH3_64bits(key, len);
}

uint64_t ring_channel_user(const char *channel, size_t len)
{
    uint64_t id = 0;

    if (len < 3 || len > 22 || channel[0] != 'u' || channel[1] != ':' || channel[2] == '0')
        return 0;
    for (size_t i = 2; i < len; i++) {
        unsigned d = (unsigned char)channel[i] - '0';

        if (d > 9 || id > (UINT64_MAX - d) / 10)
            return 0;
        id = id * 10 + d;
    }
    return id;
}

size_t ring_user_channel(uint64_t user_id, char *buf)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t len = 3, end;

    /* By hand rather than snprintf, two digits a step and straight into
     * place: this runs once per published update. Counting digits by
     * comparison avoids a chain of dependent divisions. */
    for (uint64_t bound = 10; len < 22 && user_id >= bound; bound *= 10)
        len++;
    buf[0] = 'u';
    buf[1] = ':';
    buf[len] = '\0';
    end = len;
    while (user_id >= 100) {
        end -= 2;
        buf[end] = pairs[2 * (user_id % 100)];
        buf[end + 1] = pairs[2 * (user_id % 100) + 1];
        user_id /= 100;
    }
    if (user_id >= 10) {
        buf[end - 2] = pairs[2 * user_id];
        buf[end - 1] = pairs[2 * user_id + 1];
    } else {
        buf[end - 1] = (char)('0' + user_id);
    }
    return len;
}

uint64_t ring_user_hash(uint64_t user_id)
{
    /* "u:" and at most 20 digits need 22 bytes, but at -O3 GCC inlines XXH3's
     * paths for inputs up to 128 bytes without tying them to len and warns
     * (-Warray-bounds) about a smaller array; 128 costs nothing. */
    char channel[128];
    size_t len = ring_user_channel(user_id, channel);

    return XXH3_64bits(channel, len);
}

const struct ring_node *ring_owner(const struct ring *ring, enum ring_view view, uint64_t hash)
{
    const struct ring_table *t;
    const uint64_t *p;
    uint64_t entry, fp, f1, f2, owner;

    if ((unsigned)view > RING_VIEW_NEW)
        return NULL;
    t = ring->view[view];
    if (t == NULL)
        return NULL;
    entry = t->bucket[hash >> t->shift];
    if (!(entry & RING_BUCKET_SCAN)) {
        /* Counting the splits below the hash picks the owner without a
         * branch: a mispredicted branch on the entry would stall the next
         * lookups' loads, where arithmetic lets their misses overlap. */
        fp = (hash >> t->fp_shift) & RING_FP_TOP;
        f1 = (entry >> 36) & RING_FP_TOP;
        f2 = (entry >> (36 + RING_FP_BITS)) & RING_FP_TOP;
        owner = (entry >> (12 * ((fp > f1) + (fp > f2)))) & RING_OWNER_MASK;
        if (fp == f1 || fp == f2)
            owner = t->owner[lower_bound(t, hash)];
        return &ring->nodes[owner];
    }
    /* The sentinel stops the scan; its owner is the wrap-around owner. */
    p = t->pos + (uint32_t)entry;
    while (*p < hash)
        p++;
    return &ring->nodes[t->owner[p - t->pos]];
}

int ring_shares(const struct ring *ring, enum ring_view view, double *share)
{
    const struct ring_table *t;

    if (!ring->built || (unsigned)view > RING_VIEW_NEW)
        return RING_ERR_INVALID;
    t = ring->view[view];
    for (size_t i = 0; i < ring->node_count; i++)
        share[i] = 0.0;
    if (t == NULL)
        return 0;
    /* A node owning all of the space sums to 2^64, which wrapped to 0. */
    if (t->sole_owner != UINT32_MAX) {
        share[t->sole_owner] = 1.0;
        return 0;
    }
    for (size_t i = 0; i < ring->node_count; i++)
        share[i] = ldexp((double)t->arc[i], -64);
    return 0;
}
