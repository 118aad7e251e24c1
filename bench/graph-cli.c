/* graph-cli.c: nearby-bench-graph: prints the benchmark's friend graph as "user<TAB>friend" rows for COPY and Node.js. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "graph.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nearby-bench-graph --users P --friends F\n"
        "\n"
        "Prints users 1..P, each with exactly F friends (F even, < P), as one\n"
        "\"user<TAB>friend\" line per direction of every friendship (P*F lines), the\n"
        "graph bench/graph.h defines; floor and redis-raw compute the same one.\n"
        "\n"
        "  --users P    number of users (2..%u)\n"
        "  --friends F  friends per user, even, below P\n"
        "  --help       this help\n", BENCH_GRAPH_USERS_MAX);
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"users", required_argument, NULL, 'u'},
        {"friends", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long users = 0, friends = 0;
    struct bench_graph *g;
    int opt;

    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'u':
            users = strtoul(optarg, NULL, 10);
            break;
        case 'f':
            friends = strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    g = users <= BENCH_GRAPH_USERS_MAX ? bench_graph_new((uint32_t)users, (uint32_t)friends) : NULL;
    if (g == NULL) {
        fprintf(stderr, "nearby-bench-graph: need --users P (2..%u) and --friends F (even, 2..P-1)\n",
                BENCH_GRAPH_USERS_MAX);
        return 2;
    }
    for (uint32_t u = 1; u <= g->users; u++)
        for (uint32_t k = 0; k < g->friends; k++)
            printf("%" PRIu32 "\t%" PRIu32 "\n", u, bench_graph_friend(g, u, k));
    bench_graph_free(g);
    return fflush(stdout) == 0 ? 0 : 1;
}
