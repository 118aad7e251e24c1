/* ring.c: ring nodes: validation, life cycle, the id and address indexes, mutations. */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* lets the compiler specialise XXH3 for short keys */
#include <xxhash.h>

#include "ring-internal.h"

const char *ring_strerror(int err)
{
    switch (err) {
    case RING_OK: return "success";
    case RING_ERR_NOMEM: return "out of memory";
    case RING_ERR_INVALID: return "invalid argument";
    case RING_ERR_EXISTS: return "node id or address already exists";
    case RING_ERR_NOTFOUND: return "no such node";
    case RING_ERR_LIMIT: return "too many nodes or virtual nodes";
    case RING_ERR_PARSE: return "malformed ring text";
    default: return "unknown error";
    }
}

const char *ring_state_name(enum ring_state state)
{
    switch (state) {
    case RING_STATE_ACTIVE: return "active";
    case RING_STATE_JOINING: return "joining";
    case RING_STATE_LEAVING: return "leaving";
    case RING_STATE_STANDBY: return "standby";
    }
    return "unknown";
}

int ring_state_parse(const char *s, size_t len, enum ring_state *out)
{
    static const enum ring_state all[] = {
        RING_STATE_ACTIVE, RING_STATE_JOINING, RING_STATE_LEAVING, RING_STATE_STANDBY,
    };

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const char *name = ring_state_name(all[i]);

        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return RING_ERR_INVALID;
}

static int valid_state(enum ring_state state)
{
    return state == RING_STATE_ACTIVE || state == RING_STATE_JOINING ||
           state == RING_STATE_LEAVING || state == RING_STATE_STANDBY;
}

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static int host_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-';
}

/* Returns 1 when s is 1..max characters of the id alphabet. */
static int valid_token(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        if (n >= max || !id_char(s[n]))
            return 0;
    }
    return n > 0;
}

int ring_valid_id(const char *s)
{
    return valid_token(s, RING_ID_MAX);
}

int ring_valid_name(const char *s)
{
    return valid_token(s, RING_NAME_MAX);
}

int ring_valid_addr(const char *s)
{
    size_t n = 0, host_len;
    uint32_t port = 0;

    if (s == NULL)
        return 0;
    while (s[n] != '\0' && host_char(s[n]))
        n++;
    host_len = n;
    if (host_len == 0 || s[n] != ':')
        return 0;
    n++;
    /* No leading zeros: one spelling per port, so "h:7001" and "h:07001"
     * cannot both pass the duplicate-address check. */
    if (s[n] < '1' || s[n] > '9')
        return 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        port = port * 10 + (uint32_t)(s[n] - '0');
        if (port > 65535)
            return 0;
    }
    return s[n] == '\0' && n <= RING_ADDR_MAX;
}

struct ring *ring_new(const char *name, uint64_t epoch, uint32_t vnodes)
{
    struct ring *ring;

    if (!ring_valid_name(name) || vnodes < 1 || vnodes > RING_VNODES_MAX)
        return NULL;
    ring = calloc(1, sizeof(*ring));
    if (ring == NULL)
        return NULL;
    ring->refs = 1;
    ring->slots = calloc(2 * RING_INDEX_SLOTS, sizeof(*ring->slots));
    if (ring->slots == NULL) {
        free(ring);
        return NULL;
    }
    strcpy(ring->name, name);
    ring->epoch = epoch;
    ring->vnodes = vnodes;
    return ring;
}

struct ring *ring_ref(const struct ring *ring)
{
    struct ring *shared = (struct ring *)ring; /* the count is not the ring's content */

    shared->refs++;
    return shared;
}

void ring_free(struct ring *ring)
{
    if (ring == NULL || --ring->refs > 0)
        return;
    ring_unbuild(ring);
    free(ring->slots);
    free(ring->nodes);
    free(ring);
}

void *ring_dup_bytes(const void *src, size_t len)
{
    void *dst = malloc(len);

    if (dst != NULL)
        memcpy(dst, src, len);
    return dst;
}

struct ring *ring_dup(const struct ring *ring)
{
    struct ring *copy = calloc(1, sizeof(*copy));

    if (copy == NULL)
        return NULL;
    *copy = *ring;
    copy->refs = 1;
    copy->nodes = NULL;
    copy->node_cap = ring->node_count;
    copy->slots = ring_dup_bytes(ring->slots, 2 * RING_INDEX_SLOTS * sizeof(*ring->slots));
    if (copy->slots == NULL) {
        free(copy);
        return NULL;
    }
    copy->view[RING_VIEW_OLD] = NULL;
    copy->view[RING_VIEW_NEW] = NULL;
    if (ring->node_count > 0) {
        copy->nodes = ring_dup_bytes(ring->nodes, ring->node_count * sizeof(*ring->nodes));
        if (copy->nodes == NULL)
            goto fail;
    }
    for (int v = RING_VIEW_OLD; v <= RING_VIEW_NEW; v++) {
        if (ring->view[v] == NULL)
            continue;
        if (v == RING_VIEW_NEW && ring->view[v] == ring->view[RING_VIEW_OLD]) {
            copy->view[v] = copy->view[RING_VIEW_OLD];
            continue;
        }
        copy->view[v] = ring_table_dup(ring->view[v], ring->node_count);
        if (copy->view[v] == NULL)
            goto fail;
    }
    return copy;

fail:
    ring_free(copy);
    return NULL;
}

const char *ring_name(const struct ring *ring)
{
    return ring->name;
}

uint64_t ring_epoch(const struct ring *ring)
{
    return ring->epoch;
}

void ring_set_epoch(struct ring *ring, uint64_t epoch)
{
    /* The epoch is not part of the tables, so the ring stays built. */
    ring->epoch = epoch;
}

uint32_t ring_vnodes(const struct ring *ring)
{
    return ring->vnodes;
}

size_t ring_node_count(const struct ring *ring)
{
    return ring->node_count;
}

const struct ring_node *ring_node_at(const struct ring *ring, size_t i)
{
    return i < ring->node_count ? &ring->nodes[i] : NULL;
}

enum index_kind { INDEX_ID, INDEX_ADDR };

static const char *index_key(const struct ring_node *node, enum index_kind kind)
{
    return kind == INDEX_ID ? node->id : node->addr;
}

/* Returns the slot holding key, or the empty slot where it would go. */
static uint16_t *index_probe(const struct ring *ring, enum index_kind kind, const char *key)
{
    uint16_t *slots = ring->slots + kind * RING_INDEX_SLOTS;
    size_t mask = RING_INDEX_SLOTS - 1, s = XXH3_64bits(key, strlen(key)) & mask;

    /* Never more than RING_NODES_MAX of the slots are taken, so an empty
     * slot ends every probe. */
    while (slots[s] != 0 && strcmp(index_key(&ring->nodes[slots[s] - 1], kind), key) != 0)
        s = (s + 1) & mask;
    return &slots[s];
}

static void index_insert(struct ring *ring, size_t i)
{
    *index_probe(ring, INDEX_ID, ring->nodes[i].id) = (uint16_t)(i + 1);
    *index_probe(ring, INDEX_ADDR, ring->nodes[i].addr) = (uint16_t)(i + 1);
}

/* Removal shifts node indexes and linear probing has no cheap delete, so
 * the rare removals and address changes rebuild the index. */
static void index_rebuild(struct ring *ring)
{
    memset(ring->slots, 0, 2 * RING_INDEX_SLOTS * sizeof(*ring->slots));
    for (size_t i = 0; i < ring->node_count; i++)
        index_insert(ring, i);
}

static struct ring_node *index_find(const struct ring *ring, enum index_kind kind, const char *key)
{
    uint16_t slot;

    if (key == NULL)
        return NULL;
    slot = *index_probe(ring, kind, key);
    return slot != 0 ? &ring->nodes[slot - 1] : NULL;
}

static struct ring_node *find_id(const struct ring *ring, const char *id)
{
    return index_find(ring, INDEX_ID, id);
}

const struct ring_node *ring_find(const struct ring *ring, const char *id)
{
    return find_id(ring, id);
}

const struct ring_node *ring_find_addr(const struct ring *ring, const char *addr)
{
    return index_find(ring, INDEX_ADDR, addr);
}

size_t ring_node_index(const struct ring *ring, const struct ring_node *node)
{
    return (size_t)(node - ring->nodes);
}

const struct ring_node *ring_addr_user(const struct ring *ring, const char *addr,
                                       const struct ring_node *except)
{
    const struct ring_node *holder = ring_find_addr(ring, addr);

    if (holder != NULL && holder != except)
        return holder;
    /* from is not indexed: only nodes in the middle of a replace have one. */
    for (size_t i = 0; i < ring->node_count; i++) {
        const struct ring_node *node = &ring->nodes[i];

        if (node != except && node->from[0] != '\0' && strcmp(node->from, addr) == 0)
            return node;
    }
    return NULL;
}

int ring_add_node(struct ring *ring, const char *id, const char *addr, uint32_t weight,
                  enum ring_state state)
{
    struct ring_node *node;

    if (!ring_valid_id(id) || !ring_valid_addr(addr) || weight < 1 ||
        weight > RING_WEIGHT_MAX || !valid_state(state))
        return RING_ERR_INVALID;
    if (ring_find(ring, id) != NULL || ring_addr_user(ring, addr, NULL) != NULL)
        return RING_ERR_EXISTS;
    if (ring->node_count >= RING_NODES_MAX)
        return RING_ERR_LIMIT;
    if (ring->node_count == ring->node_cap) {
        size_t cap = ring->node_cap ? ring->node_cap * 2 : 16;
        struct ring_node *nodes;

        if (cap > RING_NODES_MAX)
            cap = RING_NODES_MAX;
        nodes = realloc(ring->nodes, cap * sizeof(*nodes));
        if (nodes == NULL)
            return RING_ERR_NOMEM;
        ring->nodes = nodes;
        ring->node_cap = cap;
    }
    ring_unbuild(ring);
    node = &ring->nodes[ring->node_count++];
    memset(node, 0, sizeof(*node));
    strcpy(node->id, id);
    strcpy(node->addr, addr);
    node->weight = weight;
    node->state = state;
    index_insert(ring, ring->node_count - 1);
    return 0;
}

int ring_remove_node(struct ring *ring, const char *id)
{
    struct ring_node *node = find_id(ring, id);
    size_t i;

    if (node == NULL)
        return RING_ERR_NOTFOUND;
    ring_unbuild(ring);
    /* Keep the order of addition: ring text and ring_node_at follow it. */
    i = (size_t)(node - ring->nodes);
    memmove(node, node + 1, (ring->node_count - i - 1) * sizeof(*node));
    ring->node_count--;
    index_rebuild(ring);
    return 0;
}

int ring_set_state(struct ring *ring, const char *id, enum ring_state state)
{
    struct ring_node *node;

    if (!valid_state(state))
        return RING_ERR_INVALID;
    node = find_id(ring, id);
    if (node == NULL)
        return RING_ERR_NOTFOUND;
    ring_unbuild(ring);
    node->state = state;
    return 0;
}

int ring_set_addr(struct ring *ring, const char *id, const char *addr)
{
    const struct ring_node *holder;
    struct ring_node *node;

    if (!ring_valid_addr(addr))
        return RING_ERR_INVALID;
    node = find_id(ring, id);
    if (node == NULL)
        return RING_ERR_NOTFOUND;
    holder = ring_addr_user(ring, addr, node);
    if (holder != NULL)
        return RING_ERR_EXISTS;
    ring_unbuild(ring);
    strcpy(node->addr, addr);
    index_rebuild(ring);
    return 0;
}

int ring_set_weight(struct ring *ring, const char *id, uint32_t weight)
{
    struct ring_node *node;

    if (weight < 1 || weight > RING_WEIGHT_MAX)
        return RING_ERR_INVALID;
    node = find_id(ring, id);
    if (node == NULL)
        return RING_ERR_NOTFOUND;
    ring_unbuild(ring);
    node->weight = weight;
    return 0;
}

int ring_set_from(struct ring *ring, const char *id, const char *from)
{
    const struct ring_node *holder;
    struct ring_node *node;

    if (from[0] != '\0' && !ring_valid_addr(from))
        return RING_ERR_INVALID;
    node = find_id(ring, id);
    if (node == NULL)
        return RING_ERR_NOTFOUND;
    holder = from[0] != '\0' ? ring_addr_user(ring, from, node) : NULL;
    if (holder != NULL)
        return RING_ERR_EXISTS;
    ring_unbuild(ring);
    strcpy(node->from, from);
    return 0;
}

const char *ring_node_addr(const struct ring_node *node, enum ring_view view)
{
    return view == RING_VIEW_OLD && node->from[0] != '\0' ? node->from : node->addr;
}

int ring_node_same(const struct ring_node *a, enum ring_view va, const struct ring_node *b,
                   enum ring_view vb)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a->id, b->id) == 0 && strcmp(ring_node_addr(a, va), ring_node_addr(b, vb)) == 0;
}
