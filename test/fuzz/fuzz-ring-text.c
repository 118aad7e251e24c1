/* fuzz-ring-text.c: libFuzzer target for ring/ring_text.c: the ring text parsers, taken round through ring_format, and the built ring's owners.
 *
 * Input: the bytes of a ring znode. ring_parse_unbuilt() must refuse them
 * with a reason, or give a ring whose text is the input itself (the format
 * has one spelling per ring: format(parse(text)) == text). A ring small
 * enough is also parsed built with ring_parse(), and its owner of every hash
 * next to a virtual node is checked against a sorted list of the virtual
 * nodes searched the plain way.
 */
#include "fuzz.h"
#include "ring-internal.h"
#include "ring.h"

/* Rings are built only up to this many virtual nodes per view. The text may
 * ask for far more within its limits (2^24 a view, hundreds of MB of
 * tables), which would only test malloc, and slowly. */
#define BUILD_VNODES_MAX 4096

/* Owner checks around this many virtual nodes at most, per view. */
#define CHECK_VNODES_MAX 512

static int in_view(enum ring_state state, enum ring_view view)
{
    return state == RING_STATE_ACTIVE ||
           state == (view == RING_VIEW_OLD ? RING_STATE_LEAVING : RING_STATE_JOINING);
}

static uint64_t view_vnodes(const struct ring *ring, enum ring_view view)
{
    uint64_t total = 0;

    for (size_t i = 0; i < ring_node_count(ring); i++) {
        const struct ring_node *node = ring_node_at(ring, i);
        if (in_view(node->state, view))
            total += (uint64_t)node->weight * ring_vnodes(ring);
    }
    return total;
}

/* --- owners the plain way --------------------------------------------------- */

struct ref_vnode {
    uint64_t pos;
    const char *id; /* ref: owned by the ring */
    size_t node;
};

/* By position; on the same position the node whose id sorts first owns it. */
static int ref_cmp(const void *a, const void *b)
{
    const struct ref_vnode *x = a, *y = b;

    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The node index owning hash: the first virtual node at or after it, else
 * (past the top) the first of all. */
static size_t ref_owner(const struct ref_vnode *v, size_t n, uint64_t hash)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].pos < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return v[lo < n ? lo : 0].node;
}

static void check_owner(const struct ring *ring, enum ring_view view, const struct ref_vnode *v,
                        size_t n, uint64_t hash)
{
    const struct ring_node *owner = ring_owner(ring, view, hash);

    if (n == 0) {
        FUZZ_CHECK(owner == NULL);
        return;
    }
    FUZZ_CHECK(owner != NULL && ring_node_index(ring, owner) == ref_owner(v, n, hash));
}

static void check_view(const struct ring *ring, enum ring_view view, uint64_t seed)
{
    size_t n = (size_t)view_vnodes(ring, view), k = 0;
    struct ref_vnode *v = (struct ref_vnode *)fuzz_alloc((n ? n : 1) * sizeof *v);

    for (size_t i = 0; i < ring_node_count(ring); i++) {
        const struct ring_node *node = ring_node_at(ring, i);
        if (!in_view(node->state, view))
            continue;
        for (uint32_t j = 0; j < node->weight * ring_vnodes(ring); j++)
            v[k++] = (struct ref_vnode){ring_vnode_position(node->id, j), node->id, i};
    }
    FUZZ_CHECK(k == n);
    qsort(v, n, sizeof *v, ref_cmp);

    check_owner(ring, view, v, n, 0);
    check_owner(ring, view, v, n, UINT64_MAX);
    size_t step = n > CHECK_VNODES_MAX ? n / CHECK_VNODES_MAX : 1;
    for (size_t i = 0; i < n; i += step) {
        check_owner(ring, view, v, n, v[i].pos - 1);
        check_owner(ring, view, v, n, v[i].pos);
        check_owner(ring, view, v, n, v[i].pos + 1);
    }
    for (int i = 0; i < 64; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        check_owner(ring, view, v, n, seed);
    }

    double *share = (double *)fuzz_alloc((ring_node_count(ring) + 1) * sizeof *share), sum = 0;
    FUZZ_CHECK(ring_shares(ring, view, share) == 0);
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        FUZZ_CHECK(share[i] >= 0.0 && share[i] <= 1.0);
        FUZZ_CHECK(share[i] == 0.0 || in_view(ring_node_at(ring, i)->state, view));
        sum += share[i];
    }
    FUZZ_CHECK(n == 0 ? sum == 0.0 : sum > 0.999999 && sum < 1.000001);
    free(share);
    free(v);
}

/* --- text -------------------------------------------------------------------- */

/* ring_format must give the input back, whole or cut to any buffer. */
static void check_text(const struct ring *ring, const char *text, size_t len)
{
    FUZZ_CHECK(ring_format(ring, NULL, 0) == len);
    char *out = (char *)fuzz_alloc(len + 1);
    FUZZ_CHECK(ring_format(ring, out, len + 1) == len && out[len] == '\0');
    FUZZ_CHECK(memcmp(out, text, len) == 0);
    size_t cut = len / 2;
    FUZZ_CHECK(ring_format(ring, out, cut + 1) == len && out[cut] == '\0');
    FUZZ_CHECK(memcmp(out, text, cut) == 0);
    free(out);

    size_t n;
    char *dup = ring_to_text(ring, &n);
    FUZZ_CHECK(dup != NULL && n == len && memcmp(dup, text, len) == 0);
    free(dup);
}

static void check_nodes(const struct ring *ring)
{
    for (size_t i = 0; i < ring_node_count(ring); i++) {
        const struct ring_node *node = ring_node_at(ring, i);
        FUZZ_CHECK(ring_valid_id(node->id) && ring_valid_addr(node->addr));
        FUZZ_CHECK(node->weight >= 1 && node->weight <= RING_WEIGHT_MAX);
        FUZZ_CHECK(node->from[0] == '\0' || ring_valid_addr(node->from));
        FUZZ_CHECK(ring_find(ring, node->id) == node && ring_find_addr(ring, node->addr) == node);
        /* An address names one node: in the view where a moving node is
         * still at its from, no other node may be there too. */
        for (size_t j = 0; j < i; j++) {
            const struct ring_node *other = ring_node_at(ring, j);
            FUZZ_CHECK(strcmp(other->addr, node->addr) != 0);
            FUZZ_CHECK(node->from[0] == '\0' || strcmp(other->addr, node->from) != 0);
            FUZZ_CHECK(other->from[0] == '\0' || strcmp(other->from, node->addr) != 0);
            FUZZ_CHECK(node->from[0] == '\0' || strcmp(other->from, node->from) != 0);
        }
    }
}

static void check_refusal(int r, const struct ring_parse_error *err, const char *text, size_t len)
{
    unsigned lines = 1;

    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    FUZZ_CHECK(r == RING_ERR_PARSE || r == RING_ERR_LIMIT);
    FUZZ_CHECK(strnlen(err->reason, sizeof err->reason) < sizeof err->reason);
    FUZZ_CHECK(err->reason[0] != '\0');
    FUZZ_CHECK(err->line <= lines && (err->line >= 1 || r == RING_ERR_LIMIT));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = (char *)fuzz_copy(data, size);
    struct ring *ring, *built;
    struct ring_parse_error err;
    FUZZ_POISON(ring);
    int r = ring_parse_unbuilt(text, size, &ring, &err);

    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(ring));
        check_refusal(r, &err, text, size);
        free(text);
        return 0;
    }
    FUZZ_CHECK(r == 0 && ring != NULL && !ring_is_built(ring) && err.line == 0);
    check_text(ring, text, size);
    check_nodes(ring);

    if (view_vnodes(ring, RING_VIEW_OLD) <= BUILD_VNODES_MAX &&
        view_vnodes(ring, RING_VIEW_NEW) <= BUILD_VNODES_MAX) {
        FUZZ_CHECK(ring_parse(text, size, &built, &err) == 0 && ring_is_built(built));
        check_text(built, text, size);
        uint64_t seed = ring_hash(text, size);
        check_view(built, RING_VIEW_OLD, seed);
        check_view(built, RING_VIEW_NEW, seed);
        struct ring *copy = ring_dup(built);
        FUZZ_CHECK(copy != NULL && ring_is_built(copy));
        check_text(copy, text, size);
        check_view(copy, RING_VIEW_NEW, seed);
        ring_free(copy);
        ring_free(built);
    }
    ring_free(ring);
    free(text);
    return 0;
}
