/* ring.h: the consistent hash ring that maps pub/sub channels to Redis nodes.
 *
 * The library does no I/O and no logging. A ring is a list of nodes (id,
 * address, weight, state) plus, once built, a sorted array of virtual node
 * positions for each of its two views:
 *
 *   RING_VIEW_OLD  nodes that are active or leaving  (membership before a change)
 *   RING_VIEW_NEW  nodes that are active or joining  (membership after a change)
 *
 * When no node is joining or leaving the two views are the same. Standby nodes
 * own nothing in either view. A node with weight w has w * vnodes virtual
 * nodes; virtual node i sits at XXH3_64bits_withSeed(b, 8, i), where b holds
 * the 8 little-endian bytes of XXH3_64bits(id, strlen(id)), so a position
 * depends on the node id only: changing an address moves nothing. (Seeding
 * XXH3 on the id itself put 45 % of the vnodes of a ring of ids r0..r199 on
 * shared positions: for inputs of 1..3 bytes the seed is only xored in.)
 * A hash h belongs to the first virtual node at a position >= h, wrapping to
 * the lowest position past the top of the space. Should two virtual nodes land
 * on the same position, the one whose node id sorts first (strcmp) owns it.
 *
 * Ownership: a struct ring owns its nodes and tables. Pointers to nodes that
 * the getters return are borrowed and stay valid until the ring is mutated or
 * freed. Functions that return int give 0 on success or a negative RING_ERR_*;
 * out-parameters are written only on success.
 */
#ifndef NEARBY_RING_H
#define NEARBY_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_ID_MAX 63       /* node id: 1..63 of [A-Za-z0-9._-] */
#define RING_ADDR_MAX 255    /* "host:port", host of [A-Za-z0-9.-], port 1..65535 */
#define RING_NAME_MAX 63     /* ring name: same alphabet as node ids */
#define RING_NODES_MAX 4096
#define RING_WEIGHT_MAX 100
#define RING_VNODES_MAX 65536
/* 8192: the largest share is about 1.03 x the mean at 100 and 200 nodes
 * (1.042 the worst of 30 seeds); 4096 reached 1.059. See test/bench-ring. */
#define RING_VNODES_DEFAULT 8192
#define RING_TEXT_VERSION 1

enum ring_err {
    RING_OK = 0,
    RING_ERR_NOMEM = -1,
    RING_ERR_INVALID = -2,  /* an argument is malformed (id, address, weight) */
    RING_ERR_EXISTS = -3,   /* a node with that id or address is already there */
    RING_ERR_NOTFOUND = -4, /* no node with that id */
    RING_ERR_LIMIT = -5,    /* too many nodes or virtual nodes */
    RING_ERR_PARSE = -6,    /* ring text is malformed; see struct ring_parse_error */
};

enum ring_state {
    RING_STATE_ACTIVE,
    RING_STATE_JOINING,
    RING_STATE_LEAVING,
    RING_STATE_STANDBY,
};

enum ring_view {
    RING_VIEW_OLD,
    RING_VIEW_NEW,
};

struct ring_node {
    char id[RING_ID_MAX + 1];
    char addr[RING_ADDR_MAX + 1];
    uint32_t weight;
    enum ring_state state;
    /* During a two-phase replace, the address the node moves from: the old
     * view still reaches the node there, the new view at addr. "" otherwise. */
    char from[RING_ADDR_MAX + 1];
};

/* Returns the address at which node serves view: from in the old view while
 * the node moves, else addr. */
const char *ring_node_addr(const struct ring_node *node, enum ring_view view);

struct ring;

/* Returns a static, readable description of a RING_ERR_* value. */
const char *ring_strerror(int err);

/* Returns "active", "joining", "leaving" or "standby". */
const char *ring_state_name(enum ring_state state);

/* Parses a state name of len bytes; 0 and *out on success, RING_ERR_INVALID. */
int ring_state_parse(const char *s, size_t len, enum ring_state *out);

/* Validation of the pieces that appear in ring text and on the command line:
 * each returns 1 when s (NUL-terminated) is well formed, else 0. */
int ring_valid_id(const char *s);
int ring_valid_addr(const char *s);
int ring_valid_name(const char *s); /* ring name: 1..RING_NAME_MAX of the id alphabet */

/* Returns a new empty ring, or NULL when out of memory or when name or
 * vnodes (1..RING_VNODES_MAX) is invalid. Free it with ring_free. */
struct ring *ring_new(const char *name, uint64_t epoch, uint32_t vnodes);

/* Drops a reference; the last one frees the ring and everything it owns.
 * ring_free(NULL) does nothing. */
void ring_free(struct ring *ring);

/* Adds a reference to ring (which must not be mutated while shared) and
 * returns it: a built ring of hundreds of nodes holds tens of MB of tables,
 * which ring_dup would copy. References are not thread-safe: one thread at
 * a time. */
struct ring *ring_ref(const struct ring *ring);

/* Returns a deep copy (built if ring is built), or NULL when out of memory. */
struct ring *ring_dup(const struct ring *ring);

const char *ring_name(const struct ring *ring);
uint64_t ring_epoch(const struct ring *ring);
void ring_set_epoch(struct ring *ring, uint64_t epoch);
uint32_t ring_vnodes(const struct ring *ring);
size_t ring_node_count(const struct ring *ring);

/* Returns node i (0 <= i < ring_node_count) in the order they were added. */
const struct ring_node *ring_node_at(const struct ring *ring, size_t i);

/* Returns the node with this id (or address), or NULL. */
const struct ring_node *ring_find(const struct ring *ring, const char *id);
const struct ring_node *ring_find_addr(const struct ring *ring, const char *addr);

/* Returns the index of node in ring (node must come from this ring). */
size_t ring_node_index(const struct ring *ring, const struct ring_node *node);

/* Mutations. Each leaves the ring unbuilt: call ring_build before lookups.
 * An address names one node: no node's addr or from is another node's addr
 * or from (a moving node is still at its from in the old view), and
 * ring_add_node, ring_set_addr and ring_set_from fail with RING_ERR_EXISTS
 * rather than break that. ring_add_node also fails with RING_ERR_EXISTS on a
 * duplicate id, RING_ERR_INVALID on a bad id, address or weight
 * (1..RING_WEIGHT_MAX), RING_ERR_LIMIT past RING_NODES_MAX nodes. */
int ring_add_node(struct ring *ring, const char *id, const char *addr,
                  uint32_t weight, enum ring_state state);
int ring_remove_node(struct ring *ring, const char *id);
int ring_set_state(struct ring *ring, const char *id, enum ring_state state);
int ring_set_addr(struct ring *ring, const char *id, const char *addr);
int ring_set_weight(struct ring *ring, const char *id, uint32_t weight);
/* Sets the address node id moves from ("" ends the move). RING_ERR_EXISTS
 * when another node uses that address. */
int ring_set_from(struct ring *ring, const char *id, const char *from);

/* Computes virtual node positions and lookup indexes for both views.
 * Returns 0, RING_ERR_NOMEM or RING_ERR_LIMIT (more than 2^24 virtual nodes
 * in a view). Building a built ring does nothing. */
int ring_build(struct ring *ring);

/* Returns 0 when ring_build would not fail with RING_ERR_LIMIT (at most
 * 2^24 virtual nodes in each view), else RING_ERR_LIMIT; builds nothing. */
int ring_check(const struct ring *ring);

/* Returns 1 when the ring is built and not mutated since. */
int ring_is_built(const struct ring *ring);

/* Returns 1 when some node is joining, leaving or moving (the views differ). */
int ring_in_transition(const struct ring *ring);

/* Hashes: XXH3_64bits of the bytes; ring_user_hash hashes the channel name
 * "u:<user_id>" in decimal, the channel a user's updates go out on. */
uint64_t ring_hash(const void *key, size_t len);
uint64_t ring_user_hash(uint64_t user_id);

/* Writes the channel name "u:<user_id>" into buf (at least 24 bytes) and
 * returns its length. */
size_t ring_user_channel(uint64_t user_id, char *buf);

/* The user id of a channel name exactly as ring_user_channel writes it
 * ("u:" and the decimal id, no leading zero); 0 for any other name. */
uint64_t ring_channel_user(const char *channel, size_t len);

/* Returns the node that owns hash in view, or NULL when the ring is not built
 * or no node owns space in that view. O(1) expected; allocates nothing. */
const struct ring_node *ring_owner(const struct ring *ring, enum ring_view view,
                                   uint64_t hash);

/* Writes into share[i], for each node i, the fraction of the hash space that
 * node owns in view (arc lengths, exact up to double rounding). share must
 * hold ring_node_count entries. Returns 0 or RING_ERR_INVALID if not built. */
int ring_shares(const struct ring *ring, enum ring_view view, double *share);

/* Text format (what the ZooKeeper znode holds):
 *
 *   nearby-ring v1 name=main epoch=12 vnodes=4096
 *   node id=r1 addr=127.0.0.1:7001 weight=1 state=active
 *   node id=r2 addr=127.0.0.1:7002 weight=1 state=joining
 *   node id=r3 addr=127.0.0.1:7103 weight=1 state=active from=127.0.0.1:7003
 *
 * Every line ends with '\n'; fields are separated by one space and appear in
 * exactly this order; from= is there only while a node moves; nothing else
 * is allowed. */
struct ring_parse_error {
    unsigned line;      /* 1-based line of the first error, 0 if none */
    char reason[160];   /* what is wrong, NUL-terminated */
};
/* reason does not repeat the line number: print "line %u: %s". Numbers are
 * plain decimal without sign or leading zeros ("0" itself is fine), so every
 * ring has exactly one text and format(parse(text)) == text. */

/* Parses len bytes of ring text (need not be NUL-terminated; never reads past
 * buf + len). On success returns 0 and a new built ring in *out. On malformed
 * text returns RING_ERR_PARSE and fills *err (if err is not NULL); may also
 * return RING_ERR_NOMEM or RING_ERR_LIMIT. */
int ring_parse(const char *buf, size_t len, struct ring **out,
               struct ring_parse_error *err);

/* The same, leaving the ring unbuilt (ring_check'ed): for readers that only
 * look at or change the nodes, such as ringctl's compare-and-set writes, and
 * need not spend the build (a quarter of a second a view at 200 nodes). */
int ring_parse_unbuilt(const char *buf, size_t len, struct ring **out,
                       struct ring_parse_error *err);

/* Formats the ring as text into buf (cap bytes, NUL-terminated when cap > 0).
 * Returns the text length without the NUL; when that is >= cap the output was
 * truncated, as with snprintf. */
size_t ring_format(const struct ring *ring, char *buf, size_t cap);

/* Returns the ring as a malloc'd NUL-terminated text (length in *len if len
 * is not NULL), or NULL when out of memory. */
char *ring_to_text(const struct ring *ring, size_t *len);

/* Diff between two built rings (or two views of one ring). A move is a range
 * of hashes [first, last] (inclusive, never wrapping) whose owner differs:
 * from is the owner in a/va, to in b/vb; either is NULL when that view has no
 * node. Owners differ when their id or their address in that view differs. */
struct ring_move {
    uint64_t first;
    uint64_t last;
    const struct ring_node *from; /* ref: owned by ring a */
    const struct ring_node *to;   /* ref: owned by ring b */
};

struct ring_diff {
    /* private: iteration state, use only through the functions below */
    const struct ring *a, *b;
    enum ring_view va, vb;
    size_t ia, ib;
    uint64_t cursor;
    int done;
};

/* Starts iterating the moves from a/va to b/vb. Both rings must be built and
 * outlive the iteration. */
void ring_diff_init(struct ring_diff *diff, const struct ring *a, enum ring_view va,
                    const struct ring *b, enum ring_view vb);

/* Writes the next move (adjacent ranges with the same from and to are merged)
 * into *move and returns 1, or returns 0 when there are no more. */
int ring_diff_next(struct ring_diff *diff, struct ring_move *move);

/* Returns the fraction of the hash space whose owner differs, in [0, 1]. */
double ring_moved_fraction(const struct ring *a, enum ring_view va,
                           const struct ring *b, enum ring_view vb);

/* Returns 1 when the owners of hash in a/va and b/vb differ (id or address),
 * writing them into *from and *to when those are not NULL. */
int ring_owner_moved(const struct ring *a, enum ring_view va, const struct ring *b,
                     enum ring_view vb, uint64_t hash, const struct ring_node **from,
                     const struct ring_node **to);

#endif
