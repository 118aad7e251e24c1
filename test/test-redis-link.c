/* test-redis-link.c: unit test of redis_link: a dropped link resets its connection, so what it still holds unsent never reaches the server later. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "redis_link.h"
#include "test-util.h"

static void on_up(void *arg, struct redis_link *link)
{
    (void)link;
    event_base_loopbreak(arg);
}

static void on_down(void *arg, struct redis_link *link, int was_up, int refused)
{
    (void)arg, (void)link, (void)was_up, (void)refused;
}

/* The peer of a link plays the server: a listening socket, nothing read. A
 * dropped link must reset (the peer reads ECONNRESET), never close cleanly
 * (a read of 0 after the bytes written). */
static void test_drop_resets(void)
{
    struct event_base *base = event_base_new();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, rc, err = 0;
    char addr[64], buf[4096];
    struct timeval limit = {5, 0};
    struct redis_link_callbacks cbs = {on_up, on_down};
    struct redis_link_config cfg = {.name = "test", .addr = addr};
    struct redis_link *link;
    ssize_t n, total = 0;

    CHECK(base != NULL && lfd >= 0);
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(lfd, 1) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
    link = redis_link_new(base, &cfg, &cbs, base);
    CHECK(link != NULL);
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);
    CHECK(redis_link_up(link));
    cfd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0);
    CHECK(redisAsyncCommand(redis_link_context(link), NULL, NULL, "PUBLISH u:1 hello") == REDIS_OK);
    event_base_loop(base, EVLOOP_NONBLOCK); /* hiredis writes it */
    redis_link_drop(link, "test");
    for (;;) {
        n = recv(cfd, buf, sizeof(buf), 0);
        if (n > 0) {
            total += n;
            continue;
        }
        rc = (int)n;
        err = errno;
        break;
    }
    CHECK_EQ(rc, -1);
    CHECK_EQ(err, ECONNRESET);
    printf("dropped link: peer got %zd bytes, then %s\n", total, rc < 0 ? strerror(err) : "EOF");
    close(cfd);
    close(lfd);
    redis_link_free(link);
    event_base_free(base);
}

int main(void)
{
    test_drop_resets();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("redis-link: all ok\n");
    return 0;
}
