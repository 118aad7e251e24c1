/* location_cache.h: the gateway's async client for the Redis that holds every sharing user's latest position with a TTL.
 *
 * Key "loc:<user id>" (decimal), value the text
 *
 *     <lat>,<lng>,<ts>,<consent>
 *
 * where lat and lng are degrees with an optional '-', an integer part
 * without leading zeros ("0" allowed) and exactly 7 decimals (1e-7 degree,
 * about 1 cm), lat in [-90, 90] and lng in [-180, 180]; ts is milliseconds
 * since the epoch and consent the user's consent version under which the
 * position was shared (schema/004_consent.sql), both decimal without sign
 * or leading zeros. Nothing else: no spaces, no exponent, no trailing bytes;
 * at most LOCATION_CACHE_VALUE_MAX bytes. E.g.
 * "37.7749295,-122.4194155,1700000000000,3". A value that does not decode
 * counts as absent (and in bad_values). A reader shows a cached position
 * only if its consent version is not older than the sharing state it knows
 * (ordering.h), so a SET that raced the DEL of "sharing off" stays unseen.
 *
 * One reconnecting, authenticated connection (redis_link.h) on the caller's
 * libevent loop, and a command timeout: when replies stop coming for command_timeout_ms while commands
 * wait, the connection is dropped (their callbacks see an error) and made
 * again. Nothing blocks the loop (use a numeric IP address: hiredis resolves
 * names with a blocking getaddrinfo).
 *
 * Ownership: callbacks get borrowed data valid during the call. A callback
 * may call location_cache_free; the cache is then freed once it returns, and
 * no callback runs after location_cache_free (pending MGETs are dropped
 * silently). Functions returning int give 0 or a negative
 * LOCATION_CACHE_ERR_*.
 */
#ifndef NEARBY_LOCATION_CACHE_H
#define NEARBY_LOCATION_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct location_cache;

#define LOCATION_CACHE_VALUE_MAX 80

enum location_cache_err {
    LOCATION_CACHE_OK = 0,
    LOCATION_CACHE_ERR_NOMEM = -1,
    LOCATION_CACHE_ERR_INVALID = -2, /* bad coordinates, ttl, value or config */
    LOCATION_CACHE_ERR_DOWN = -3,    /* the connection is not up */
    LOCATION_CACHE_ERR_BUSY = -4,    /* too many commands wait for a reply */
    LOCATION_CACHE_ERR_REDIS = -5,   /* hiredis refused the command, or an error reply */
    LOCATION_CACHE_ERR_LOST = -6,    /* the connection went away before the reply */
};

struct location_cache_config {
    const char *addr; /* "host:port" */
    const char *user;     /* Redis ACL user; NULL: no AUTH (redis_link.h) */
    const char *password; /* with user */
    /* 0 means the default given in brackets */
    unsigned connect_timeout_ms; /* [1000] */
    unsigned command_timeout_ms; /* [1000] */
    unsigned backoff_min_ms;     /* [100] */
    unsigned backoff_max_ms;     /* [5000] */
    unsigned mget_chunk;         /* [500] keys per MGET command */
    unsigned max_pending;        /* [65536] commands waiting for a reply */
};

struct location_cache_entry {
    uint64_t user;
    int present; /* 0: no entry (inactive user), or a value that did not decode */
    double lat, lng;
    uint64_t ts;
    uint64_t consent;
};

/* Called once per location_cache_mget with one entry per requested user, in
 * request order. status is 0, or the first error (LOCATION_CACHE_ERR_LOST,
 * _REDIS) when some chunk failed; the users of a failed chunk are absent. */
typedef void location_cache_mget_fn(void *arg, int status,
                                    const struct location_cache_entry *entries, size_t n);

struct location_cache_stats {
    int up;
    uint64_t sets, set_errors;
    uint64_t dels, del_errors;
    uint64_t mgets, mget_errors; /* calls, and calls that reported an error */
    uint64_t hits, misses, bad_values;
    uint64_t connects, disconnects, timeouts;
    uint64_t pending; /* commands waiting for a reply */
};

/* Returns a static description of a LOCATION_CACHE_ERR_* value. */
const char *location_cache_strerror(int err);

/* Writes the value for (lat, lng, ts, consent) into buf, NUL-terminated.
 * Returns its length, or LOCATION_CACHE_ERR_INVALID (coordinates not finite
 * or out of range, cap < LOCATION_CACHE_VALUE_MAX). */
int location_cache_encode(char *buf, size_t cap, double lat, double lng, uint64_t ts,
                          uint64_t consent);

/* Decodes len bytes of a value (need not be NUL-terminated). Returns 0 and
 * fills the out-parameters, or LOCATION_CACHE_ERR_INVALID. */
int location_cache_decode(const char *buf, size_t len, double *lat, double *lng, uint64_t *ts,
                          uint64_t *consent);

/* Makes a cache client and starts connecting on base. Returns it, or NULL
 * when out of memory or the address is invalid. */
struct location_cache *location_cache_new(struct event_base *base,
                                          const struct location_cache_config *config);

/* Closes the connection and frees the client; NULL does nothing. */
void location_cache_free(struct location_cache *cache);

/* SET loc:<user> <value> EX ttl_s (consent: the version under which the
 * user shares this position). Returns 0 when queued (failures of the
 * reply count in set_errors), or LOCATION_CACHE_ERR_INVALID (bad coordinates,
 * ttl_s 0), _DOWN, _BUSY, _REDIS; errors count in set_errors. */
int location_cache_set(struct location_cache *cache, uint64_t user, double lat, double lng,
                       uint64_t ts, uint64_t consent, unsigned ttl_s);

/* DEL loc:<user> (the user stopped sharing). Returns as location_cache_set. */
int location_cache_del(struct location_cache *cache, uint64_t user);

/* Reads the entries of n users (MGET, mget_chunk keys per command). Returns
 * 0 and calls cb exactly once later (never from inside this call), or
 * LOCATION_CACHE_ERR_DOWN, _BUSY, _NOMEM, _INVALID (n == 0) and never calls
 * cb. users is copied. */
int location_cache_mget(struct location_cache *cache, const uint64_t *users, size_t n,
                        location_cache_mget_fn *cb, void *arg);

/* Returns 1 when the connection is up. */
int location_cache_is_up(const struct location_cache *cache);

/* Fills *out with the counters. */
void location_cache_get_stats(const struct location_cache *cache,
                              struct location_cache_stats *out);

/* Returns the last error as text ("" if none yet), valid until the next call
 * into the cache or the loop. */
const char *location_cache_last_error(const struct location_cache *cache);

#endif
