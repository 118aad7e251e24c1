/* graph.h: the benchmark's friend graph: users 1..P, each with exactly F friends, the same in every system. No I/O.
 *
 * Every system scripts/bench compares serves the same phones, so they must
 * agree on who is whose friend without sharing a database: the graph is a
 * function of P and F alone. Users are laid on a circle in a scrambled order
 * (position of user u is (u-1) * step mod P, step coprime to P and near
 * P / golden ratio, so neighbours on the circle are far apart in id) and each
 * user's friends are the F/2 users on either side: every user has exactly F
 * distinct friends, friendship is mutual, and no two phones with close ids
 * share many friends (as in a real graph, and unlike a plain ring, which
 * would flatter caches).
 *
 * Ownership: bench_graph_new() allocates two tables of P entries; free them
 * with bench_graph_free().
 */
#ifndef NEARBY_BENCH_GRAPH_H
#define NEARBY_BENCH_GRAPH_H

#include <stdint.h>

#define BENCH_GRAPH_USERS_MAX 10000000u

struct bench_graph {
    uint32_t users;    /* P */
    uint32_t friends;  /* F: even, < P */
    uint32_t step;     /* coprime to P */
    uint32_t *user_at; /* position -> user id */
};

/* Returns a graph of users 1..users with friends friends each, or NULL when
 * friends is odd, 0 or not below users, users exceeds BENCH_GRAPH_USERS_MAX,
 * or memory runs out. */
struct bench_graph *bench_graph_new(uint32_t users, uint32_t friends);

/* Frees g; NULL is a no-op. */
void bench_graph_free(struct bench_graph *g);

/* Returns friend k (0 <= k < F) of user (1..P); the F values are distinct,
 * none is user, and user is among the friends of each of them. */
uint32_t bench_graph_friend(const struct bench_graph *g, uint32_t user, uint32_t k);

#endif
