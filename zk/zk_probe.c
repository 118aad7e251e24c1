/* zk_probe.c: ask each server of a ZooKeeper connect string `srvr`, to say why no session could be made. */
#include "zk_probe.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_ANSWER_MAX 4096

/* What a server says when it runs but has no data to serve: an ensemble
 * member without a quorum, or any server still starting. */
static const char probe_not_serving[] = "not currently serving requests";

/* Returns the first occurrence of the NUL-terminated needle in the len bytes
 * at hay, or NULL. */
static const char *probe_find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

enum zk_probe_state zk_probe_classify(const char *answer, size_t len, char *mode,
                                      size_t modelen)
{
    const char *m = probe_find(answer, len, "Mode: ");

    if (m != NULL) {
        const char *end = answer + len;
        size_t n = 0;

        m += strlen("Mode: ");
        while (m + n < end && m[n] >= 'a' && m[n] <= 'z')
            n++;
        if (modelen > 0) {
            if (n >= modelen)
                n = modelen - 1;
            memcpy(mode, m, n);
            mode[n] = '\0';
        }
        return ZK_PROBE_SERVING;
    }
    if (probe_find(answer, len, probe_not_serving) != NULL)
        return ZK_PROBE_NO_QUORUM;
    return ZK_PROBE_OTHER;
}

static long probe_ms_left(const struct timespec *deadline)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

/* Waits until fd is ready for events or the deadline passes. Returns 1 when
 * ready, 0 on timeout or error. */
static int probe_wait(int fd, short events, const struct timespec *deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    int rc;

    do {
        rc = poll(&p, 1, (int)probe_ms_left(deadline));
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
}

/* Splits "host:port" or "[v6]:port" into host (hostlen bytes) and a pointer
 * to the port inside addr. Returns 0, or -1 when addr has no port. */
static int probe_split(const char *addr, char *host, size_t hostlen, const char **port)
{
    const char *colon = strrchr(addr, ':');
    const char *start = addr;
    size_t n;

    if (colon == NULL || colon[1] == '\0')
        return -1;
    n = (size_t)(colon - addr);
    if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
        start++;
        n -= 2;
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, start, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

/* Connects fd to ai before the deadline. Returns ZK_PROBE_SILENT when
 * connected (the caller goes on), else ZK_PROBE_REFUSED or _UNREACHABLE. */
static enum zk_probe_state probe_connect(int fd, const struct addrinfo *ai,
                                         const struct timespec *deadline)
{
    socklen_t len = sizeof(int);
    int err = 0;

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return ZK_PROBE_SILENT;
    if (errno == ECONNREFUSED)
        return ZK_PROBE_REFUSED;
    if (errno != EINPROGRESS || !probe_wait(fd, POLLOUT, deadline))
        return ZK_PROBE_UNREACHABLE;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return ZK_PROBE_UNREACHABLE;
    if (err == ECONNREFUSED)
        return ZK_PROBE_REFUSED;
    return err == 0 ? ZK_PROBE_SILENT : ZK_PROBE_UNREACHABLE;
}

enum zk_probe_state zk_probe_server(const char *addr, int timeout_ms, char *mode,
                                    size_t modelen)
{
    char host[ZK_PROBE_ADDR_MAX + 1], answer[PROBE_ANSWER_MAX];
    struct addrinfo hints, *res = NULL;
    enum zk_probe_state state = ZK_PROBE_UNREACHABLE;
    struct timespec deadline;
    const char *port;
    size_t got = 0;
    int fd = -1, closed = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (probe_split(addr, host, sizeof(host), &port) != 0 ||
        getaddrinfo(host, port, &hints, &res) != 0)
        goto out;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    state = probe_connect(fd, res, &deadline);
    if (state != ZK_PROBE_SILENT)
        goto out;
    /* The server reads the four letters, answers and closes. */
    if (send(fd, "srvr", 4, MSG_NOSIGNAL) != 4)
        goto out;
    shutdown(fd, SHUT_WR);
    while (got < sizeof(answer)) {
        ssize_t n = recv(fd, answer + got, sizeof(answer) - got, 0);

        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            closed = 1;
            break;
        } else if (errno != EINTR && !probe_wait(fd, POLLIN, &deadline)) {
            break;
        }
    }
    /* Nothing said in time: hung or stopped. Closed without a word: not
     * ZooKeeper, or srvr not allowed. */
    if (got > 0)
        state = zk_probe_classify(answer, got, mode, modelen);
    else if (closed)
        state = ZK_PROBE_OTHER;
out:
    if (fd >= 0)
        close(fd);
    if (res != NULL)
        freeaddrinfo(res);
    return state;
}

/* Appends a formatted text at *pos in buf (len bytes), never past its end. */
static void probe_append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void probe_append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos = *pos + (size_t)n < len ? *pos + (size_t)n : len - 1;
}

static const char *probe_phrase(enum zk_probe_state state)
{
    switch (state) {
    case ZK_PROBE_SERVING:
        return "serves";
    case ZK_PROBE_NO_QUORUM:
        return "runs but serves no requests";
    case ZK_PROBE_SILENT:
        return "accepts connections but does not answer (stopped or hung?)";
    case ZK_PROBE_REFUSED:
        return "refuses connections (not running?)";
    case ZK_PROBE_UNREACHABLE:
        return "cannot be reached (down, cut off, or a wrong address?)";
    case ZK_PROBE_OTHER:
        break;
    }
    return "answers, but not to srvr (not ZooKeeper, or srvr not in its 4lw.commands.whitelist?)";
}

void zk_probe_explain(const char *hosts, int waited_ms, int probe_ms, char *errbuf,
                      size_t errlen)
{
    char list[ZK_PROBE_SERVERS_MAX * (ZK_PROBE_ADDR_MAX + 1)];
    char addr[ZK_PROBE_SERVERS_MAX][ZK_PROBE_ADDR_MAX + 1];
    char mode[ZK_PROBE_SERVERS_MAX][16];
    enum zk_probe_state state[ZK_PROBE_SERVERS_MAX];
    size_t n = 0, pos = 0, cut;
    int serving = 0, no_quorum = 0;
    const char *p, *head, *tail;

    if (errbuf == NULL || errlen == 0)
        return;
    /* The connect string without its chroot suffix. */
    cut = strcspn(hosts, "/");
    if (cut >= sizeof(list))
        cut = sizeof(list) - 1;
    memcpy(list, hosts, cut);
    list[cut] = '\0';
    for (p = list; *p != '\0' && n < ZK_PROBE_SERVERS_MAX;) {
        size_t len = strcspn(p, ",");

        if (len > 0 && len <= ZK_PROBE_ADDR_MAX) {
            memcpy(addr[n], p, len);
            addr[n][len] = '\0';
            mode[n][0] = '\0';
            state[n] = zk_probe_server(addr[n], probe_ms, mode[n], sizeof(mode[n]));
            serving += state[n] == ZK_PROBE_SERVING;
            no_quorum += state[n] == ZK_PROBE_NO_QUORUM;
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }

    if (serving > 0) {
        head = "no ZooKeeper session at";
        tail = "A server serves but opens no session: its leader may be stopped or cut off "
               "(a follower notices after syncLimit ticks and stops serving), or it is "
               "overloaded; try again.";
    } else if (no_quorum > 0 && n == 1) {
        head = "ZooKeeper runs but serves no requests at";
        tail = "It is still starting, or an ensemble member without a quorum.";
    } else if (no_quorum > 0) {
        head = "ZooKeeper has no quorum at";
        tail = "A majority of the servers must run and reach each other.";
    } else {
        head = "ZooKeeper is unreachable at";
        tail = "Is it running? (set --zk or NEARBY_ZK)";
    }
    probe_append(errbuf, errlen, &pos, "%s %s (no session within %d ms)", head, list, waited_ms);
    for (size_t i = 0; i < n; i++) {
        probe_append(errbuf, errlen, &pos, "%s %s %s", i == 0 ? ":" : ",", addr[i],
                     probe_phrase(state[i]));
        if (state[i] == ZK_PROBE_SERVING && mode[i][0] != '\0')
            probe_append(errbuf, errlen, &pos, " (%s)", mode[i]);
    }
    probe_append(errbuf, errlen, &pos, ". %s", tail);
}
