/* test-friend-list.c: the strict parser of GET /v1/friends answers, each input against a guard page. */
#define CHECK_STOP_AFTER 0
#include "../test-util.h"

#include "friend_list.h"

/* Parses s placed against a guard page. Returns the parser's result. */
static int parse(const char *s, uint64_t *user, uint32_t **ids, size_t *count)
{
    struct guarded g;
    int rc;

    guard_map(&g, strlen(s) + 1);
    rc = friend_list_parse(guard_put(&g, s, strlen(s)), strlen(s), user, ids, count);
    guard_release(&g);
    return rc;
}

static void accepts(const char *s, uint64_t want_user, const uint32_t *want, size_t want_n)
{
    uint64_t user = 0;
    uint32_t *ids = NULL;
    size_t n = 99;

    CHECK_IN(parse(s, &user, &ids, &n) == 0, s);
    CHECK_EQ(user, want_user);
    CHECK_EQ(n, want_n);
    for (size_t i = 0; i < n && i < want_n; i++)
        CHECK_EQ(ids[i], want[i]);
    CHECK_IN((n == 0) == (ids == NULL), s);
    free(ids);
}

static void refuses(const char *s, int want_err)
{
    uint64_t user = 7;
    uint32_t *ids = (uint32_t *)&user;
    size_t n = 7;

    CHECK_EQ(parse(s, &user, &ids, &n), want_err);
    CHECK_IN(user == 7 && n == 7 && ids == (uint32_t *)&user, s); /* nothing written */
}

int main(void)
{
    static const uint32_t sorted[] = {3, 9, 10, 4294967295u};

    accepts("{\"user\":42,\"friends\":[]}\n", 42, NULL, 0);
    accepts("{\"user\":1,\"friends\":[10,3,4294967295,9]}\n", 1, sorted, 4);
    accepts(" { \"user\" : 5 , \"friends\" : [ 10 , 3 ] } ", 5, (const uint32_t[]){3, 10}, 2);

    refuses("", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":42,\"friends\":[]", FRIEND_LIST_ERR_SYNTAX);     /* cut short */
    refuses("{\"user\":42,\"friends\":[1,]}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":42,\"friends\":[01]}", FRIEND_LIST_ERR_SYNTAX);   /* leading zero */
    refuses("{\"user\":42,\"friends\":[1.0]}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":42,\"friends\":[-1]}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":\"42\",\"friends\":[]}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"friends\":[],\"user\":42}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":42,\"friends\":[]}x", FRIEND_LIST_ERR_SYNTAX);   /* trailing bytes */
    refuses("{\"user\":18446744073709551616,\"friends\":[]}", FRIEND_LIST_ERR_SYNTAX);
    refuses("{\"user\":42,\"friends\":[4294967296]}", FRIEND_LIST_ERR_RANGE);
    refuses("{\"user\":42,\"friends\":[0]}", FRIEND_LIST_ERR_RANGE);
    refuses("{\"user\":42,\"friends\":[5,6,5]}", FRIEND_LIST_ERR_RANGE); /* repeated */
    return failures ? 1 : 0;
}
