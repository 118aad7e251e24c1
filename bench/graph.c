/* graph.c: the benchmark's regular friend graph on a scrambled circle. */
#include "graph.h"

#include <stdlib.h>

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

struct bench_graph *bench_graph_new(uint32_t users, uint32_t friends)
{
    struct bench_graph *g;
    uint32_t step;

    if (friends == 0 || friends % 2 != 0 || friends >= users || users > BENCH_GRAPH_USERS_MAX)
        return NULL;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->user_at = malloc((size_t)users * sizeof(*g->user_at));
    if (g->user_at == NULL) {
        free(g);
        return NULL;
    }
    /* 0.618 P, moved up to the next value coprime to P (1 always is). */
    step = (uint32_t)((double)users * 0.6180339887);
    while (step > 1 && gcd(users, step) != 1)
        step++;
    if (step == 0 || step >= users)
        step = 1;
    g->users = users;
    g->friends = friends;
    g->step = step;
    for (uint32_t u = 1; u <= users; u++)
        g->user_at[(uint32_t)(((uint64_t)(u - 1) * step) % users)] = u;
    return g;
}

void bench_graph_free(struct bench_graph *g)
{
    if (g == NULL)
        return;
    free(g->user_at);
    free(g);
}

uint32_t bench_graph_friend(const struct bench_graph *g, uint32_t user, uint32_t k)
{
    uint64_t pos = ((uint64_t)(user - 1) * g->step) % g->users;
    uint32_t half = g->friends / 2;
    uint64_t at = k < half ? pos + k + 1 : pos + g->users - (k - half + 1);

    return g->user_at[at % g->users];
}
