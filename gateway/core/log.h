/* log.h: one-line log events with level, time and source position, for the gateway and the libraries it hosts.
 *
 * Each event is one line written with a single write(2):
 *
 *   2026-11-25T14:00:00.123Z info gateway/session.c:42 message text
 *
 * UTC time to the millisecond; level error, warn, info or debug; the source
 * file as the compiler saw it with leading "../" and "./" dropped (meson
 * compiles from the build directory), and its line. Control characters in
 * the message are escaped (\n, \t, \xHH) so an event never spans two lines;
 * a message longer than LOG_LINE_MAX is cut and ends in "...".
 *
 * LOG_ERROR/LOG_WARN/LOG_INFO take printf arguments, which are not evaluated
 * when the level is filtered out. LOG_DEBUG compiles to nothing unless
 * NEARBY_DEBUG is defined (its arguments are still type-checked), so debug
 * lines may sit on hot paths.
 *
 * Events go to fd 2 until log_set_fd(); the default level is info.
 * log_write() may be called from any thread (ZooKeeper's callbacks run on
 * its own): it keeps no shared buffer, and the level is read atomically.
 * log_set_fd() is for start-up, before other threads exist.
 *
 * The LOG_* macros share names with <syslog.h>'s priorities; do not include
 * both in one file.
 */
#ifndef NEARBY_LOG_H
#define NEARBY_LOG_H

#define LOG_LINE_MAX 2048 /* bytes per line, newline included */

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* Events above `level` (less severe) are dropped from now on. A value
 * outside the enum is clamped to the nearest level. */
void log_set_level(enum log_level level);

/* Returns the current level. */
enum log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug". Returns 0 and *out, or -1 for
 * anything else (*out untouched). For a --log-level flag. */
int log_level_parse(const char *name, enum log_level *out);

/* Returns "error", "warn", "info" or "debug"; "?" out of range. */
const char *log_level_name(enum log_level level);

/* Sends events to fd from now on (not owned: never closed here). */
void log_set_fd(int fd);

/* Returns 1 if an event at level would be written, else 0. */
int log_enabled(enum log_level level);

/* Writes one event at level if the level is enabled. file may be a source
 * path (shortened as above) or a subsystem name such as "libevent"; line <= 0
 * leaves ":line" out. Errors writing are ignored: there is nowhere to report
 * them, and logging must never stop the loop. */
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Routes libevent's own warnings and errors (and debug messages, if enabled
 * with event_enable_debug_logging()) through log_write(), with "libevent" in
 * place of file:line. Call once at start-up, before creating an event_base. */
void log_install_libevent(void);

#define LOG_AT_(level, ...)                                        \
    do {                                                           \
        if (log_enabled(level))                                    \
            log_write((level), __FILE__, __LINE__, __VA_ARGS__);   \
    } while (0)

#define LOG_ERROR(...) LOG_AT_(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT_(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT_(LOG_LEVEL_INFO, __VA_ARGS__)

#ifdef NEARBY_DEBUG
#define LOG_DEBUG(...) LOG_AT_(LOG_LEVEL_DEBUG, __VA_ARGS__)
#else
/* if (0): gone from the binary, but the format is still checked. */
#define LOG_DEBUG(...)                                                       \
    do {                                                                     \
        if (0)                                                               \
            log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __VA_ARGS__);     \
    } while (0)
#endif

#endif
