/* test-zk-probe.c: unit tests of zk_probe: what srvr answers mean, and each kind of server a probe can meet on 127.0.0.1. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zk_probe.h"
#define CHECK_STOP_AFTER 0
#include "test-util.h"

/* What ZooKeeper 3.8 answers to srvr: a follower, and any server without a
 * quorum (or still loading its data). */
static const char srvr_follower[] =
    "Zookeeper version: 3.8.0-debian, built on 2023-03-13 12:00 UTC\n"
    "Latency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\nConnections: 1\nOutstanding: 0\n"
    "Zxid: 0x100000000\nMode: follower\nNode count: 5\n";
static const char srvr_no_quorum[] = "This ZooKeeper instance is not currently serving requests\n";
static const char srvr_not_allowed[] = "srvr is not executed because it is not in the whitelist.\n";

static void test_classify(void)
{
    char mode[16] = "unset";
    char small[4] = "xyz";

    CHECK_EQ(zk_probe_classify(srvr_follower, strlen(srvr_follower), mode, sizeof(mode)),
             ZK_PROBE_SERVING);
    CHECK(strcmp(mode, "follower") == 0);
    /* A mode at the very end, not NUL-terminated, cut to the room given. */
    CHECK_EQ(zk_probe_classify("Mode: leader", 12, small, sizeof(small)), ZK_PROBE_SERVING);
    CHECK(strcmp(small, "lea") == 0);
    CHECK_EQ(zk_probe_classify("Mode: leader", 12, NULL, 0), ZK_PROBE_SERVING);
    strcpy(mode, "unset");
    CHECK_EQ(zk_probe_classify(srvr_no_quorum, strlen(srvr_no_quorum), mode, sizeof(mode)),
             ZK_PROBE_NO_QUORUM);
    CHECK(strcmp(mode, "unset") == 0);
    CHECK_EQ(zk_probe_classify(srvr_not_allowed, strlen(srvr_not_allowed), mode, sizeof(mode)),
             ZK_PROBE_OTHER);
    CHECK_EQ(zk_probe_classify("", 0, mode, sizeof(mode)), ZK_PROBE_OTHER);
    /* Only the bytes given count: the mode lies past len. */
    CHECK_EQ(zk_probe_classify(srvr_follower, 40, mode, sizeof(mode)), ZK_PROBE_OTHER);
}

/* A TCP socket on 127.0.0.1 at a port of the kernel's choice; listening
 * (backlog 4) when listening is set. Writes "127.0.0.1:PORT" into addr. */
static int tcp_socket(int listening, char *addr, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t salen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &salen) == 0);
    if (listening)
        CHECK(listen(fd, 4) == 0);
    snprintf(addr, len, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

/* A child that accepts one connection on fd, reads the four letters and
 * answers with answer (NULL: closes without a word). Returns its pid. */
static pid_t answer_once(int fd, const char *answer)
{
    pid_t pid = fork();

    CHECK(pid >= 0);
    if (pid == 0) {
        char word[4];
        int c = accept(fd, NULL, NULL);

        alarm(10);
        if (c >= 0 && read(c, word, sizeof(word)) == 4 && answer != NULL &&
            write(c, answer, strlen(answer)) < 0)
            _exit(1);
        _exit(0);
    }
    return pid;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_servers(void)
{
    char refused[32], silent[32], quorumless[32], serving[32], mute[32], mode[16] = "";
    int closed_fd = tcp_socket(0, refused, sizeof(refused));
    int silent_fd = tcp_socket(1, silent, sizeof(silent));
    int q_fd = tcp_socket(1, quorumless, sizeof(quorumless));
    int s_fd = tcp_socket(1, serving, sizeof(serving));
    int m_fd = tcp_socket(1, mute, sizeof(mute));
    pid_t kids[3];
    struct timespec t0;
    long ms;

    /* Bound but not listening: the kernel refuses connections to it. */
    CHECK_EQ(zk_probe_server(refused, 1000, mode, sizeof(mode)), ZK_PROBE_REFUSED);
    /* Listening but never accepting (a SIGSTOPped server): the kernel
     * completes the connection, nobody answers, the probe gives up in time. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(zk_probe_server(silent, 300, mode, sizeof(mode)), ZK_PROBE_SILENT);
    ms = ms_since(&t0);
    CHECK(ms >= 250 && ms < 1000);
    CHECK_EQ(zk_probe_server("no-port", 300, mode, sizeof(mode)), ZK_PROBE_UNREACHABLE);

    kids[0] = answer_once(s_fd, srvr_follower);
    CHECK_EQ(zk_probe_server(serving, 2000, mode, sizeof(mode)), ZK_PROBE_SERVING);
    CHECK(strcmp(mode, "follower") == 0);
    kids[1] = answer_once(m_fd, NULL);
    CHECK_EQ(zk_probe_server(mute, 2000, mode, sizeof(mode)), ZK_PROBE_OTHER);

    /* The message of an ensemble that lost its quorum: one survivor without
     * one, one hung server, one not running. */
    {
        char hosts[128], msg[1024], tiny[24];
        char *at_q, *at_s, *at_r;

        kids[2] = answer_once(q_fd, srvr_no_quorum);
        snprintf(hosts, sizeof(hosts), "%s,%s,%s/nearby-chroot", quorumless, silent, refused);
        zk_probe_explain(hosts, 5000, 300, msg, sizeof(msg));
        printf("no quorum: %s\n", msg);
        CHECK(strncmp(msg, "ZooKeeper has no quorum at ", 27) == 0);
        CHECK(strstr(msg, "chroot") == NULL);
        CHECK(strstr(msg, "(no session within 5000 ms)") != NULL);
        at_q = strstr(msg, quorumless);
        at_s = strstr(msg, silent);
        at_r = strstr(msg, refused);
        CHECK(at_q && strstr(at_q, "runs but serves no requests") != NULL);
        CHECK(at_s && strstr(at_s, "does not answer") != NULL);
        CHECK(at_r && strstr(at_r, "refuses connections") != NULL);
        CHECK(strstr(msg, "A majority of the servers must run") != NULL);

        snprintf(hosts, sizeof(hosts), "%s,%s", refused, silent);
        zk_probe_explain(hosts, 1000, 200, msg, sizeof(msg));
        printf("unreachable: %s\n", msg);
        CHECK(strncmp(msg, "ZooKeeper is unreachable at ", 28) == 0);
        CHECK(strstr(msg, "set --zk or NEARBY_ZK") != NULL);

        /* Cut to the room given, NUL-terminated; no room, nothing written. */
        zk_probe_explain(refused, 1000, 200, tiny, sizeof(tiny));
        CHECK_EQ(strlen(tiny), sizeof(tiny) - 1);
        zk_probe_explain(refused, 1000, 200, NULL, 0);
    }
    for (int i = 0; i < 3; i++) {
        int status = -1;

        CHECK(waitpid(kids[i], &status, 0) == kids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    close(closed_fd);
    close(silent_fd);
    close(q_fd);
    close(s_fd);
    close(m_fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_classify();
    test_servers();
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("zk-probe: all ok\n");
    return 0;
}
