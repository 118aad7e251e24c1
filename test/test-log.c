/* test-log.c: unit tests for gateway/log: line format, path shortening, escaping, level filtering, libevent hook. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "log.h"

static int pipe_rd = -1;
static char got[LOG_LINE_MAX * 4];

/* Reads all the log has written since the last call into got. Returns its
 * length. */
static size_t drain(void)
{
    size_t len = 0;
    ssize_t n;

    while (len < sizeof got - 1 && (n = read(pipe_rd, got + len, sizeof got - 1 - len)) > 0)
        len += (size_t)n;
    got[len] = '\0';
    return len;
}

/* Checks that got is exactly one line "<timestamp> <rest>\n", with a UTC
 * timestamp of the right shape within a few seconds of now. */
#define CHECK_LINE(rest) check_line(__LINE__, rest)

static void check_line(int at, const char *rest)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    struct tm tm = { 0 };
    size_t len = strlen(got);
    int ok = len == sizeof shape - 1 + strlen(rest) + 1;

    for (size_t i = 0; ok && i < sizeof shape - 1; i++)
        ok = shape[i] == 'd' ? got[i] >= '0' && got[i] <= '9' : got[i] == shape[i];
    ok = ok && strncmp(got + sizeof shape - 1, rest, strlen(rest)) == 0 && got[len - 1] == '\n';
    if (ok) {
        ok = sscanf(got, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        ok = ok && labs((long)(timegm(&tm) - time(NULL))) <= 5;
    }
    if (!ok) {
        fprintf(stderr, "%s:%d: log line mismatch\n got: %s want: <time> %s\\n\n",
                __FILE__, at, got, rest);
        check_failed();
    }
}

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

static void test_format(void)
{
    char want[256];
    int line;

    log_set_level(LOG_LEVEL_INFO);
    /* meson compiles test/test-log.c as "../test/test-log.c". */
    line = __LINE__ + 1;
    LOG_INFO("hello %s %d", "world", 42);
    drain();
    snprintf(want, sizeof want, "info test/test-log.c:%d hello world 42", line);
    CHECK_LINE(want);

    log_write(LOG_LEVEL_INFO, "../gateway/x.c", 42, "message");
    drain();
    CHECK_LINE("info gateway/x.c:42 message");
    log_write(LOG_LEVEL_ERROR, "../../../gateway/x.c", 7, "deep build dir");
    drain();
    CHECK_LINE("error gateway/x.c:7 deep build dir");
    log_write(LOG_LEVEL_WARN, "./a.c", 1, "%s", "");
    drain();
    CHECK_LINE("warn a.c:1 ");
    log_write(LOG_LEVEL_WARN, "zookeeper", 0, "no position");
    drain();
    CHECK_LINE("warn zookeeper no position");
    log_write(LOG_LEVEL_WARN, NULL, 0, "no file");
    drain();
    CHECK_LINE("warn ? no file");

    /* One event, one line, whatever the message holds. */
    log_write(LOG_LEVEL_INFO, "f.c", 3, "a\nb\tc\r\x01\x7f%s", "\xc3\xa9");
    drain();
    CHECK_LINE("info f.c:3 a\\nb\\tc\\x0d\\x01\\x7f\xc3\xa9");
}

static void test_long_line(void)
{
    char *big = malloc(LOG_LINE_MAX * 2);
    size_t len;

    CHECK(big != NULL);
    memset(big, 'x', LOG_LINE_MAX * 2 - 1);
    big[LOG_LINE_MAX * 2 - 1] = '\0';
    log_write(LOG_LEVEL_ERROR, "f.c", 1, "%s", big);
    len = drain();
    CHECK(len <= LOG_LINE_MAX);
    CHECK(len > 5 && strcmp(got + len - 4, "...\n") == 0);
    CHECK(strchr(got, '\n') == got + len - 1);

    /* Escapes are not split at the cut: \n takes two bytes or none. */
    memset(big, '\n', LOG_LINE_MAX);
    big[LOG_LINE_MAX] = '\0';
    log_write(LOG_LEVEL_ERROR, "f.c", 1, "%s", big);
    len = drain();
    CHECK(len <= LOG_LINE_MAX && strcmp(got + len - 4, "...\n") == 0);
    CHECK(strstr(got, "\\n...\n") != NULL);

    /* A path too long for the line still yields one terminated line. */
    memset(big, 'p', LOG_LINE_MAX + 10);
    big[LOG_LINE_MAX + 10] = '\0';
    log_write(LOG_LEVEL_ERROR, big, 1, "m");
    len = drain();
    CHECK(len <= LOG_LINE_MAX && strcmp(got + len - 4, "...\n") == 0);
    free(big);
}

static void test_levels(void)
{
    enum log_level l = LOG_LEVEL_INFO;

    log_set_level(LOG_LEVEL_WARN);
    CHECK(log_get_level() == LOG_LEVEL_WARN);
    evaluated = 0;
    LOG_INFO("dropped %d", side_effect());
    LOG_DEBUG("dropped %d", side_effect());
    CHECK(drain() == 0);
    CHECK(evaluated == 0); /* filtered: arguments not evaluated */
    LOG_WARN("kept %d", side_effect());
    CHECK(drain() > 0 && strstr(got, " warn ") != NULL && strstr(got, "kept 1\n") != NULL);
    LOG_ERROR("kept %d", side_effect());
    CHECK(drain() > 0 && strstr(got, " error ") != NULL && strstr(got, "kept 2\n") != NULL);

    /* At debug, log_write passes debug events, but LOG_DEBUG is compiled
     * out unless this file is built with NEARBY_DEBUG. */
    log_set_level(LOG_LEVEL_DEBUG);
    evaluated = 0;
    LOG_DEBUG("compiled out %d", side_effect());
#ifdef NEARBY_DEBUG
    CHECK(drain() > 0 && evaluated == 1 && strstr(got, " debug test/test-log.c:") != NULL);
#else
    CHECK(drain() == 0 && evaluated == 0);
#endif
    log_write(LOG_LEVEL_DEBUG, "f.c", 9, "runtime debug");
    drain();
    CHECK_LINE("debug f.c:9 runtime debug");

    log_set_level(LOG_LEVEL_ERROR);
    log_write(LOG_LEVEL_WARN, "f.c", 9, "dropped");
    CHECK(drain() == 0);
    CHECK(log_enabled(LOG_LEVEL_ERROR) && !log_enabled(LOG_LEVEL_WARN));

    log_set_level((enum log_level)99);
    CHECK(log_get_level() == LOG_LEVEL_DEBUG);
    log_set_level((enum log_level)-5);
    CHECK(log_get_level() == LOG_LEVEL_ERROR);

    CHECK(log_level_parse("debug", &l) == 0 && l == LOG_LEVEL_DEBUG);
    CHECK(log_level_parse("warn", &l) == 0 && l == LOG_LEVEL_WARN);
    CHECK(log_level_parse("WARN", &l) == -1 && l == LOG_LEVEL_WARN);
    CHECK(log_level_parse("warning", &l) == -1);
    CHECK(log_level_parse(NULL, &l) == -1 && l == LOG_LEVEL_WARN);
    CHECK(strcmp(log_level_name(LOG_LEVEL_ERROR), "error") == 0);
    CHECK(strcmp(log_level_name((enum log_level)4), "?") == 0);
    log_set_level(LOG_LEVEL_INFO);
}

/* libevent's warning for freeing no base arrives as one of our lines. */
static void test_libevent(void)
{
    log_install_libevent();
    log_set_level(LOG_LEVEL_INFO);
    event_base_free(NULL);
    drain();
    /* The function name in the text varies between libevent releases. */
    CHECK(strstr(got, "Z warn libevent event_base_free") == got + 23);
    CHECK(strstr(got, ": no base to free\n") != NULL && strchr(got, '\n')[1] == '\0');
    log_set_level(LOG_LEVEL_ERROR);
    event_base_free(NULL);
    CHECK(drain() == 0);
    log_set_level(LOG_LEVEL_INFO);
    event_set_log_callback(NULL);
}

int main(void)
{
    int fds[2];

    if (pipe(fds) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
        perror("test-log: pipe");
        return 1;
    }
    pipe_rd = fds[0];
    log_set_fd(fds[1]);
    test_format();
    test_long_line();
    test_levels();
    test_libevent();
    log_set_fd(2);
    close(fds[0]);
    close(fds[1]);
    if (failures) {
        fprintf(stderr, "test-log: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
