/* ring-owner.c: test helper: the owner of users' channels computed by the library from ring text in a file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ring.h"

int main(int argc, char **argv)
{
    static char text[1 << 20];
    struct ring_parse_error perr;
    struct ring *ring;
    size_t len;
    FILE *f;

    if (argc < 3) {
        fprintf(stderr, "usage: ring-owner RING_TEXT_FILE USER_ID...\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    len = fread(text, 1, sizeof(text), f);
    fclose(f);
    if (ring_parse(text, len, &ring, &perr) < 0) {
        fprintf(stderr, "%s: line %u: %s\n", argv[1], perr.line, perr.reason);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        uint64_t user = strtoull(argv[i], NULL, 10);
        const struct ring_node *owner = ring_owner(ring, RING_VIEW_NEW, ring_user_hash(user));

        printf("u:%" PRIu64 " %s %s\n", user, owner ? owner->id : "-", owner ? owner->addr : "-");
    }
    ring_free(ring);
    return 0;
}
