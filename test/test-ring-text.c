/* test-ring-text.c: unit tests of the ring text parser and printer, input against a guard page. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "test-util.h"

#define HEADER "nearby-ring v1 name=main epoch=12 vnodes=4\n"
#define NODE1 "node id=r1 addr=127.0.0.1:7001 weight=1 state=active\n"
#define NODE2 "node id=r2 addr=127.0.0.1:7002 weight=1 state=joining\n"

/* Parses len bytes placed so that the last one is followed by a page that
 * cannot be read: a parser reading past buf + len crashes the test. */
static int parse_guarded(const char *text, size_t len, struct ring **out,
                         struct ring_parse_error *err)
{
    struct guarded g;
    const char *buf = guard_place(&g, text, len);
    int rc;

    /* Read-only, too: the parser must not write into its input. */
    guard_readonly(&g);
    rc = ring_parse(buf, len, out, err);
    guard_release(&g);
    return rc;
}

static void test_valid(void)
{
    const char *text = HEADER NODE1 NODE2 "node id=r3 addr=h:1 weight=100 state=standby\n"
                                          "node id=r4 addr=h:2 weight=7 state=leaving\n";
    struct ring_parse_error err;
    struct ring *ring = NULL;
    char *back;
    size_t len;

    CHECK(parse_guarded(text, strlen(text), &ring, &err) == 0);
    CHECK(err.line == 0 && err.reason[0] == '\0');
    CHECK(ring != NULL && ring_is_built(ring));
    CHECK(strcmp(ring_name(ring), "main") == 0 && ring_epoch(ring) == 12 && ring_vnodes(ring) == 4);
    CHECK(ring_node_count(ring) == 4);
    CHECK(strcmp(ring_node_at(ring, 1)->id, "r2") == 0 &&
          strcmp(ring_node_at(ring, 1)->addr, "127.0.0.1:7002") == 0 &&
          ring_node_at(ring, 1)->state == RING_STATE_JOINING);
    CHECK(ring_node_at(ring, 2)->weight == 100 && ring_node_at(ring, 2)->state == RING_STATE_STANDBY);
    CHECK(ring_node_at(ring, 3)->weight == 7 && ring_node_at(ring, 3)->state == RING_STATE_LEAVING);
    CHECK(ring_owner(ring, RING_VIEW_NEW, 99) != NULL);
    back = ring_to_text(ring, &len);
    CHECK(back != NULL && len == strlen(text) && strcmp(back, text) == 0);
    free(back);
    ring_free(ring);

    /* A header alone is an empty ring; the extremes of every number. */
    text = "nearby-ring v1 name=a epoch=0 vnodes=1\n";
    CHECK(parse_guarded(text, strlen(text), &ring, NULL) == 0 && ring_node_count(ring) == 0);
    CHECK(ring_owner(ring, RING_VIEW_OLD, 1) == NULL);
    ring_free(ring);
    text = "nearby-ring v1 name=a epoch=18446744073709551615 vnodes=65536\n"
           "node id=x addr=h:65535 weight=1 state=active\n";
    CHECK(parse_guarded(text, strlen(text), &ring, NULL) == 0);
    CHECK(ring_epoch(ring) == UINT64_MAX && ring_vnodes(ring) == 65536);
    ring_free(ring);
}

struct bad_case {
    const char *text;
    unsigned line;
};

/* One case per rule; each must fail on the given line with a reason. */
static const struct bad_case bad_cases[] = {
    { "", 1 },
    { "\n", 1 },
    { "nearby-ring v1 name=main epoch=12 vnodes=4", 1 },          /* no newline */
    { "nearby-rings v1 name=main epoch=12 vnodes=4\n", 1 },       /* unknown header */
    { "ring v1 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v2 name=main epoch=12 vnodes=4\n", 1 },        /* version */
    { "nearby-ring v0 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1x name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v01 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring 1 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1 epoch=12 name=main vnodes=4\n", 1 },        /* key order */
    { "nearby-ring v1 name=main vnodes=4 epoch=12\n", 1 },
    { "nearby-ring v1 name=main epoch=12\n", 1 },                 /* missing field */
    { "nearby-ring v1 name=main epoch=12 vnodes=4 extra=1\n", 1 },
    { "nearby-ring v1  name=main epoch=12 vnodes=4\n", 1 },       /* spaces */
    { " nearby-ring v1 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=12 vnodes=4 \n", 1 },
    { "nearby-ring\tv1 name=main epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1 name= epoch=12 vnodes=4\n", 1 },            /* name */
    { "nearby-ring v1 name=ma/in epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1 name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      " epoch=12 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch= vnodes=4\n", 1 },          /* numbers */
    { "nearby-ring v1 name=main epoch=012 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=-1 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=+1 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=1e3 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=0x10 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=18446744073709551616 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=99999999999999999999999 vnodes=4\n", 1 },
    { "nearby-ring v1 name=main epoch=12 vnodes=0\n", 1 },
    { "nearby-ring v1 name=main epoch=12 vnodes=65537\n", 1 },
    { "nearby-ring v1 name=main epoch=12 vnodes=04\n", 1 },
    { "NEARBY-RING v1 name=main epoch=12 vnodes=4\n", 1 },
    { HEADER "\n", 2 },                                            /* empty line */
    { HEADER "nodes id=r1 addr=h:1 weight=1 state=active\n", 2 },  /* unknown line */
    { HEADER "# comment\n", 2 },
    { HEADER "node addr=h:1 id=r1 weight=1 state=active\n", 2 },   /* key order */
    { HEADER "node id=r1 weight=1 addr=h:1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 state=active weight=1\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1\n", 2 },                /* missing field */
    { HEADER "node id=r1 addr=h:1 weight=1 state=active extra=1\n", 2 },
    { HEADER "node  id=r1 addr=h:1 weight=1 state=active\n", 2 },  /* spaces */
    { HEADER "node id=r1  addr=h:1 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1 state=active \n", 2 },
    { HEADER "node id=r1 addr=h:1 weight= 1 state=active\n", 2 },
    { HEADER "node id= addr=h:1 weight=1 state=active\n", 2 },     /* id */
    { HEADER "node id=r\xc3\xa9 addr=h:1 weight=1 state=active\n", 2 },
    { HEADER "node id=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      " addr=h:1 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h weight=1 state=active\n", 2 },     /* addr */
    { HEADER "node id=r1 addr=h: weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=:1 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:0 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:65536 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:07001 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h_x:1 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1:2 weight=1 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=0 state=active\n", 2 },   /* weight */
    { HEADER "node id=r1 addr=h:1 weight=101 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=01 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=x state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=18446744073709551617 state=active\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1 state=Active\n", 2 },   /* state */
    { HEADER "node id=r1 addr=h:1 weight=1 state=gone\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1 state=\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1 state=activ\n", 2 },
    { HEADER "node id=r1 addr=h:1 weight=1 state=activee\n", 2 },
    { HEADER NODE1 "node id=r1 addr=h:9 weight=1 state=active\n", 3 }, /* duplicates */
    { HEADER NODE1 "node id=r9 addr=127.0.0.1:7001 weight=1 state=active\n", 3 },
    { HEADER NODE1 NODE2 "node id=r3 addr=h:3 weight=1 state=active", 4 }, /* no newline */
    { HEADER NODE1 "node id=r2 addr=h:2 weight=1 state=active\r\n", 3 },   /* CR */
    { "nearby-ring v1 name=main epoch=12 vnodes=4\r\n" NODE1, 1 },
    { HEADER "node id=r2 addr=h:2 weight=1 state=active\r", 2 },
    { HEADER NODE1 "\r\n", 3 },
};

static void check_bad(const char *text, size_t len, unsigned line)
{
    struct ring_parse_error err = { 77, "stale" };
    struct ring *out = (struct ring *)&err; /* must stay untouched */
    int rc = parse_guarded(text, len, &out, &err);

    if (rc != RING_ERR_PARSE || err.line != line) {
        fprintf(stderr, "text %.*s: rc %d, line %u: %s\n", (int)len, text, rc, err.line,
                err.reason);
    }
    CHECK(rc == RING_ERR_PARSE);
    CHECK(err.line == line);
    CHECK(err.reason[0] != '\0' && strlen(err.reason) < sizeof(err.reason));
    CHECK(strncmp(err.reason, "line ", 5) != 0); /* the caller prints the line */
    CHECK(out == (struct ring *)&err);
    CHECK(parse_guarded(text, len, &out, NULL) == RING_ERR_PARSE); /* err is optional */
}

static void test_errors(void)
{
    struct ring_parse_error err;
    struct ring *out = NULL;
    const char *text;
    static const char nul_text[] = HEADER "node id=r1\0 addr=h:1 weight=1 state=active\n";

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
        check_bad(bad_cases[i].text, strlen(bad_cases[i].text), bad_cases[i].line);
    check_bad(nul_text, sizeof(nul_text) - 1, 2);
    CHECK(ring_parse(NULL, 0, &out, &err) == RING_ERR_PARSE && err.line == 1 && out == NULL);
    check_bad(HEADER "\0", strlen(HEADER) + 1, 2);
    check_bad("\0" HEADER, strlen(HEADER) + 1, 1);

    /* Readable reasons for the common mistakes. */
    text = HEADER NODE1 "node id=r2 addr=h:2 weight=0 state=active\n";
    CHECK(parse_guarded(text, strlen(text), &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 3 && strcmp(err.reason, "weight must be 1..100") == 0);
    CHECK(parse_guarded(HEADER NODE1 NODE1, strlen(HEADER NODE1 NODE1), &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 3 && strcmp(err.reason, "duplicate id r1 (first on line 2)") == 0);
    text = HEADER NODE1 NODE2 "node id=r3 addr=127.0.0.1:7002 weight=1 state=active\n";
    CHECK(parse_guarded(text, strlen(text), &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 4 && strcmp(err.reason, "duplicate addr 127.0.0.1:7002 (first on line 3)") == 0);
    /* A moving node's from is its address too, whichever line comes first. */
    text = HEADER "node id=r1 addr=h:1 weight=1 state=active from=h:2\n"
                  "node id=r2 addr=h:2 weight=1 state=active\n";
    CHECK(parse_guarded(text, strlen(text), &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 3 && strcmp(err.reason, "duplicate addr h:2 (first on line 2)") == 0);
    text = HEADER "node id=r1 addr=h:1 weight=1 state=active from=h:3\n"
                  "node id=r2 addr=h:2 weight=1 state=active from=h:3\n";
    CHECK(parse_guarded(text, strlen(text), &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 3 && strcmp(err.reason, "from address h:3 is used by another node") == 0);
    CHECK(parse_guarded(HEADER "x\n", strlen(HEADER) + 2, &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 2 && strstr(err.reason, "node") != NULL);
    CHECK(parse_guarded(HEADER NODE1 "x", strlen(HEADER NODE1) + 1, &out, &err) == RING_ERR_PARSE);
    CHECK(err.line == 3 && strstr(err.reason, "newline") != NULL);
}

/* Well-formed text for rings too big to hold: RING_ERR_LIMIT. */
static void test_limits(void)
{
    const char *big = "nearby-ring v1 name=big epoch=1 vnodes=65536\n"
                      "node id=a addr=h:1 weight=100 state=active\n"
                      "node id=b addr=h:2 weight=100 state=active\n"
                      "node id=c addr=h:3 weight=57 state=active\n";
    struct ring_parse_error err;
    struct ring *out = NULL;
    size_t cap = 64 + (size_t)(RING_NODES_MAX + 1) * 64, len;
    char *text = malloc(cap);

    CHECK(parse_guarded(big, strlen(big), &out, &err) == RING_ERR_LIMIT && out == NULL);
    CHECK(err.line == 0 && err.reason[0] != '\0');

    CHECK(text != NULL);
    len = (size_t)snprintf(text, cap, "nearby-ring v1 name=many epoch=1 vnodes=1\n");
    for (int i = 0; i < RING_NODES_MAX; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "node id=n%d addr=10.0.0.1:%d weight=1 state=active\n", i, i + 1);
    CHECK(parse_guarded(text, len, &out, &err) == 0 && ring_node_count(out) == RING_NODES_MAX);
    ring_free(out);
    out = NULL;
    len += (size_t)snprintf(text + len, cap - len, "node id=last addr=h:1 weight=1 state=active\n");
    CHECK(parse_guarded(text, len, &out, &err) == RING_ERR_LIMIT && out == NULL);
    CHECK(err.line == RING_NODES_MAX + 2 && err.reason[0] != '\0');
    free(text);
}

static struct ring *random_ring(void)
{
    struct ring *ring = ring_new(rnd() % 2 ? "main" : "x.y-z_9", rnd() >> (rnd() % 64),
                                 1 + (uint32_t)(rnd() % 8));
    int n = (int)(rnd() % 12);

    CHECK(ring != NULL);
    for (int i = 0; i < n; i++) {
        char id[RING_ID_MAX + 1], addr[64];
        static const char alphabet[] = "abcXYZ019._-";
        size_t id_len = 1 + rnd() % RING_ID_MAX;

        for (size_t k = 0; k < id_len; k++)
            id[k] = alphabet[rnd() % (sizeof(alphabet) - 1)];
        id[id_len] = '\0';
        snprintf(addr, sizeof(addr), "host-%d.example:%d", i, 1 + (int)(rnd() % 65535));
        int rc = ring_add_node(ring, id, addr, 1 + (uint32_t)(rnd() % RING_WEIGHT_MAX),
                               (enum ring_state)(rnd() % 4));

        CHECK(rc == 0 || rc == RING_ERR_EXISTS); /* a random id may repeat */
    }
    return ring;
}

static void test_round_trip(void)
{
    for (int round = 0; round < 300; round++) {
        struct ring *ring = random_ring(), *back = NULL;
        size_t len, full;
        char *text = ring_to_text(ring, &len), small[40];

        CHECK(text != NULL && strlen(text) == len);
        CHECK(ring_format(ring, NULL, 0) == len);
        /* Truncation behaves like snprintf. */
        full = ring_format(ring, small, sizeof(small));
        CHECK(full == len && strlen(small) == sizeof(small) - 1 &&
              memcmp(small, text, sizeof(small) - 1) == 0);
        small[0] = 'q';
        CHECK(ring_format(ring, small, 1) == len && small[0] == '\0');

        CHECK(parse_guarded(text, len, &back, NULL) == 0);
        CHECK(ring_node_count(back) == ring_node_count(ring) && ring_epoch(back) == ring_epoch(ring));
        {
            size_t len2;
            char *text2 = ring_to_text(back, &len2);

            CHECK(text2 != NULL && len2 == len && memcmp(text, text2, len) == 0);
            free(text2);
        }
        free(text);
        ring_free(back);
        ring_free(ring);
    }
}

/* Random damage to valid text never crashes the parser; whatever it accepts
 * prints back to exactly the same bytes, as the format has one spelling. */
static void test_mutations(void)
{
    static const char specials[] = { ' ', '\n', '\0', '\r', '0', '1', '9', '=', 'a', '-', ':', '\t',
                                     (char)0xff };
    const char *base = "nearby-ring v1 name=main epoch=12 vnodes=2\n"
                       "node id=r1 addr=127.0.0.1:7001 weight=1 state=active\n"
                       "node id=r2 addr=127.0.0.1:7002 weight=2 state=joining\n"
                       "node id=r3 addr=h:3 weight=1 state=leaving\n";
    size_t base_len = strlen(base);
    char buf[512];
    int accepted = 0;

    for (int round = 0; round < 20000; round++) {
        size_t len = base_len, pos;
        int edits = 1 + (int)(rnd() % 3);
        struct ring *out = NULL;
        int rc;

        memcpy(buf, base, base_len);
        for (int e = 0; e < edits; e++) {
            char c = rnd() % 2 ? specials[rnd() % sizeof(specials)] : (char)(rnd() & 0xff);

            pos = len ? rnd() % len : 0;
            switch (rnd() % 4) {
            case 0: /* replace */
                if (len)
                    buf[pos] = c;
                break;
            case 1: /* insert */
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
                break;
            case 2: /* delete */
                if (len) {
                    memmove(buf + pos, buf + pos + 1, len - pos - 1);
                    len--;
                }
                break;
            default: /* truncate */
                len = pos;
                break;
            }
        }
        rc = parse_guarded(buf, len, &out, NULL);
        CHECK(rc == 0 || rc == RING_ERR_PARSE || rc == RING_ERR_LIMIT);
        if (rc == 0) {
            size_t back_len;
            char *back = ring_to_text(out, &back_len);

            CHECK(back != NULL && back_len == len && memcmp(back, buf, len) == 0);
            free(back);
            ring_free(out);
            accepted++;
        }
    }
    CHECK(accepted > 0);
}

/* The unbuilt parse reads the same nodes and builds to the same owners. */
static void test_unbuilt(void)
{
    const char *text = "nearby-ring v1 name=main epoch=3 vnodes=64\n"
                       "node id=r1 addr=h:1 weight=1 state=active\n"
                       "node id=r2 addr=h:2 weight=2 state=joining\n";
    struct ring *built = NULL, *nodes = NULL;

    CHECK(ring_parse(text, strlen(text), &built, NULL) == 0 && ring_is_built(built));
    CHECK(ring_parse_unbuilt(text, strlen(text), &nodes, NULL) == 0 && !ring_is_built(nodes));
    CHECK(ring_node_count(nodes) == 2 && ring_epoch(nodes) == 3 && ring_check(nodes) == 0);
    CHECK(ring_owner(nodes, RING_VIEW_NEW, 42) == NULL); /* not built: no lookups */
    CHECK(ring_build(nodes) == 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t h = rnd();

        CHECK(ring_node_index(built, ring_owner(built, RING_VIEW_NEW, h)) ==
              ring_node_index(nodes, ring_owner(nodes, RING_VIEW_NEW, h)));
    }
    text = "nearby-ring v1 name=main epoch=3 vnodes=64\nnode id=r1\n";
    CHECK(ring_parse_unbuilt(text, strlen(text), &nodes, NULL) == RING_ERR_PARSE);
    ring_free(built);
    ring_free(nodes);
}

int main(void)
{
    rnd_seed(0x7e57);
    test_unbuilt();
    test_valid();
    test_errors();
    test_limits();
    test_round_trip();
    test_mutations();
    return 0;
}
