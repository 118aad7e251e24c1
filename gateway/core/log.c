/* log.c: formatting and writing log lines, level filtering, and the libevent hook. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* Atomic because ZooKeeper's thread may log while main changes the level. */
static _Atomic int log_level = LOG_LEVEL_INFO;
static int log_fd = 2;

static const char *const log_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
    int l = (int)level;

    if (l < LOG_LEVEL_ERROR)
        l = LOG_LEVEL_ERROR;
    if (l > LOG_LEVEL_DEBUG)
        l = LOG_LEVEL_DEBUG;
    atomic_store_explicit(&log_level, l, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++) {
        if (name != NULL && strcmp(name, log_names[l]) == 0) {
            *out = (enum log_level)l;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    if ((int)level < LOG_LEVEL_ERROR || (int)level > LOG_LEVEL_DEBUG)
        return "?";
    return log_names[level];
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

int log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* "../../gateway/x.c" -> "gateway/x.c": the position relative to the source
 * root, however deep the build directory sits. */
static const char *log_short_path(const char *file)
{
    for (;;) {
        if (strncmp(file, "../", 3) == 0)
            file += 3;
        else if (strncmp(file, "./", 2) == 0)
            file += 2;
        else
            return file;
    }
}

/* Appends msg to line[*len..cap) with control characters escaped; stops
 * where the next piece would not fit. Returns 1 if all of msg fit, else 0. */
static int log_append_escaped(char *line, size_t *len, size_t cap, const char *msg)
{
    static const char hex[] = "0123456789abcdef";

    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
        char esc[4];
        size_t n = 0;
        if (*p == '\n') {
            esc[n++] = '\\';
            esc[n++] = 'n';
        } else if (*p == '\t') {
            esc[n++] = '\\';
            esc[n++] = 't';
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[n++] = '\\';
            esc[n++] = 'x';
            esc[n++] = hex[*p >> 4];
            esc[n++] = hex[*p & 15];
        } else {
            esc[n++] = (char)*p;
        }
        if (*len + n > cap)
            return 0;
        memcpy(line + *len, esc, n);
        *len += n;
    }
    return 1;
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX], out[LOG_LINE_MAX];
    struct timespec now;
    struct tm tm;
    size_t len, room = sizeof out - 4; /* keep space for "...\n" */
    int n;
    va_list ap;

    if (!log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    len = strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(out + len, sizeof out - len, ".%03ldZ %s %s", now.tv_nsec / 1000000L,
                 log_level_name(level), log_short_path(file != NULL ? file : "?"));
    len += n > 0 ? (size_t)n : 0;
    if (line > 0 && len < room) {
        n = snprintf(out + len, room - len, ":%d", line);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < room)
        out[len++] = ' ';
    if (len > room)
        len = room;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (!log_append_escaped(out, &len, room, msg) || n >= (int)sizeof msg) {
        memcpy(out + len, "...", 3);
        len += 3;
    }
    out[len++] = '\n';

    for (size_t off = 0; off < len;) {
        ssize_t w = write(log_fd, out + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

static void log_libevent(int severity, const char *msg)
{
    enum log_level level = LOG_LEVEL_ERROR;

    if (severity == EVENT_LOG_DEBUG)
        level = LOG_LEVEL_DEBUG;
    else if (severity == EVENT_LOG_MSG)
        level = LOG_LEVEL_INFO;
    else if (severity == EVENT_LOG_WARN)
        level = LOG_LEVEL_WARN;
    log_write(level, "libevent", 0, "%s", msg);
}

void log_install_libevent(void)
{
    event_set_log_callback(log_libevent);
}
