/* test-friend-file.c: the USER<TAB>FRIEND graph reader, each input against a guard page. */
#define CHECK_STOP_AFTER 0
#include "../test-util.h"

#include "friend_file.h"

static struct guarded g;

static int parse(const char *s, uint32_t users, struct friend_file **ff, size_t *bad)
{
    return friend_file_parse(guard_put(&g, s, strlen(s)), strlen(s), users, ff, bad);
}

static void refuses(const char *s, uint32_t users, int want, size_t want_line)
{
    struct friend_file *ff = (struct friend_file *)&g;
    size_t bad = 99;

    CHECK_IN(parse(s, users, &ff, &bad) == want, s);
    CHECK_IN(ff == (struct friend_file *)&g, s); /* nothing written */
    CHECK_IN(bad == want_line, s);
}

int main(void)
{
    struct friend_file *ff = NULL;
    const uint32_t *ids;
    size_t bad = 0;

    guard_map(&g, 4096);
    CHECK_EQ(parse("1\t3\n3\t1\n1\t2\n2\t1", 3, &ff, &bad), 0);
    CHECK_EQ(ff->lines, 4);
    CHECK_EQ(friend_file_get(ff, 1, &ids), 2);
    CHECK(ids[0] == 2 && ids[1] == 3);
    CHECK_EQ(friend_file_get(ff, 2, &ids), 1);
    CHECK_EQ(ids[0], 1);
    CHECK_EQ(friend_file_get(ff, 3, &ids), 1);
    CHECK_EQ(friend_file_get(ff, 0, &ids), 0);
    CHECK_EQ(friend_file_get(ff, 4, &ids), 0);
    friend_file_free(ff);

    CHECK_EQ(parse("", 5, &ff, &bad), 0); /* nobody has friends */
    CHECK_EQ(friend_file_get(ff, 5, &ids), 0);
    friend_file_free(ff);
    friend_file_free(NULL);

    refuses("1\t2\n2 1\n", 3, FRIEND_FILE_ERR_SYNTAX, 2);
    refuses("1\t2\n\n", 3, FRIEND_FILE_ERR_SYNTAX, 2);
    refuses("1\t02\n", 3, FRIEND_FILE_ERR_SYNTAX, 1);
    refuses("1\t2\r\n", 3, FRIEND_FILE_ERR_SYNTAX, 1);
    refuses("-1\t2\n", 3, FRIEND_FILE_ERR_SYNTAX, 1);
    refuses("1\t99999999999\n", 3, FRIEND_FILE_ERR_SYNTAX, 1);
    refuses("1\t2\n2\t4\n", 3, FRIEND_FILE_ERR_RANGE, 2);
    refuses("4\t2\n", 3, FRIEND_FILE_ERR_RANGE, 1);
    refuses("2\t2\n", 3, FRIEND_FILE_ERR_RANGE, 1);
    refuses("1\t2\n1\t3\n1\t2\n", 3, FRIEND_FILE_ERR_RANGE, 0); /* repeated */
    guard_release(&g);
    return failures ? 1 : 0;
}
