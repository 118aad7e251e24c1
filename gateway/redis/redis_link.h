/* redis_link.h: one reconnecting, authenticated hiredis async connection on a libevent loop; what the location cache and the pub/sub nodes are built on.
 *
 * A link connects to host:port with a connect timeout, sends
 * AUTH <user> <password> first when credentials are given (Redis 6+ ACL
 * users), and is up once that answered OK (at once without credentials).
 * When it goes down (refused, timed out, lost, or AUTH refused) it tries
 * again after an exponential backoff with full jitter between backoff_min_ms
 * and backoff_max_ms, doubling per failed attempt until
 * redis_link_reset_backoff says the server answered in earnest (the owner
 * knows when: a reply, a heartbeat).
 *
 * Commands go on redis_link_context() while the link is up. Their callbacks
 * get a NULL reply when the link goes down with them pending.
 *
 * Freeing: redisAsyncFree must not run inside one of hiredis's callbacks, so
 * redis_link_drop and redis_link_free, when called from inside one of the
 * link's own reply or connection callbacks, take effect once the callback
 * has returned (the context is marked and freed from the loop); outside
 * they act at once. No callback of the owner's runs after redis_link_free.
 *
 * Credentials are copied; the password is never logged, and errors name the
 * user only.
 */
#ifndef NEARBY_REDIS_LINK_H
#define NEARBY_REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>

struct event_base;
struct redis_link;

#define REDIS_LINK_HOST_MAX 255
#define REDIS_LINK_SECRET_MAX 256 /* bytes in a user name or a password */

/* Zero numbers take the defaults given in brackets. */
struct redis_link_config {
    const char *name;     /* for errors: "location cache", "r1 publisher" (copied) */
    const char *addr;     /* "host:port", a numeric address (hiredis resolves
                           * names with a blocking getaddrinfo) */
    const char *user;     /* NULL: no AUTH */
    const char *password; /* with user */
    unsigned connect_timeout_ms; /* [1000] */
    unsigned backoff_min_ms;     /* [100] */
    unsigned backoff_max_ms;     /* [5000] */
};

struct redis_link_callbacks {
    /* The link is up (connected and authenticated): commands may go. */
    void (*on_up)(void *arg, struct redis_link *link);
    /* The link went down or failed to come up; a retry is scheduled.
     * was_up: it had been up. refused: the server is not there (refused,
     * or AUTH refused), not merely slow. */
    void (*on_down)(void *arg, struct redis_link *link, int was_up, int refused);
};

/* Parses "host:port" into host (REDIS_LINK_HOST_MAX + 1 bytes) and *port.
 * Returns 0, or -1 when it is not one. */
int redis_link_parse_addr(const char *addr, char *host, int *port);

/* Makes a link and starts connecting on base. Returns NULL when out of
 * memory or the config is invalid (address, credential lengths). */
struct redis_link *redis_link_new(struct event_base *base, const struct redis_link_config *cfg,
                                  const struct redis_link_callbacks *cbs, void *arg);

/* Closes the connection and frees the link; NULL does nothing. Pending
 * commands' callbacks run with NULL replies (now, or after the current
 * callback returns). */
void redis_link_free(struct redis_link *link);

/* Drops the connection (why: for redis_link_error) and schedules a retry.
 * The connection is reset (SO_LINGER 0), not closed: what it still holds
 * unsent is discarded, never delivered once a cut network heals. */
void redis_link_drop(struct redis_link *link, const char *why);

/* The context to send commands on, or NULL while the link is not up. */
redisAsyncContext *redis_link_context(const struct redis_link *link);

/* Returns 1 while the link is up. */
int redis_link_up(const struct redis_link *link);

/* The server answered in earnest: the next retry starts from backoff_min_ms. */
void redis_link_reset_backoff(struct redis_link *link);

/* The last error as text ("" if none yet), valid until the next call into
 * the link or the loop. */
const char *redis_link_error(const struct redis_link *link);

/* Counters. */
uint64_t redis_link_connects(const struct redis_link *link);
uint64_t redis_link_disconnects(const struct redis_link *link);

#endif
