/* gateway_registry.h: keep a gateway's ephemeral znode ROOT/gateways/<id> from a libevent loop.
 *
 * The znode holds one line of space-separated key=value fields, read by
 * `ringctl status`, the two-phase wait of `ringctl add`/`drain` and the
 * gateways' admin pages: "addr=HOST:PORT epoch=N pending=K admin=HOST:PORT
 * sessions=S pushes_per_s=R dead=r3,r7" (epoch is left out before a ring was
 * applied; pending, the channels whose SUBSCRIBE Redis has not confirmed
 * yet, is left out when 0; admin, sessions and pushes_per_s, the internal
 * port and load, only once gateway_registry_set_stats gave them; dead is
 * empty when every node answers, and last, so that a long list is cut
 * there). Readers ignore keys they do not know.
 *
 * A registry owns its own ZooKeeper handle, apart from the ring watcher's.
 * That costs a second session per gateway, but keeps each object's session
 * logic small and lets the registration go away (on drain) while the
 * gateway goes on following the ring. As in ring_watch.h, ZooKeeper's
 * callbacks are handed over to the loop thread; nothing is called back.
 *
 * gateway_registry_set only records the wanted content; the registry writes
 * it while connected, one request at a time, so a burst of sets ends in at
 * most one write in flight plus the latest content pending. When the
 * session expires (the server says so, or the registry has been
 * disconnected for longer than the session timeout) it opens a new session
 * and creates the znode again with the latest content; a leftover ephemeral
 * of an older session is deleted first.
 */
#ifndef NEARBY_GATEWAY_REGISTRY_H
#define NEARBY_GATEWAY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "ring.h"

/* Bytes in the znode's line, NUL included; a longer dead list is cut at a
 * comma. ringctl status reads this much. */
#define GATEWAY_REGISTRY_LINE_MAX 1024

/* The epoch to pass before any ring has been applied. */
#define GATEWAY_REGISTRY_NO_EPOCH UINT64_MAX

struct gateway_registry;

/* Returns a registry that connects to hosts and will keep ROOT/gateways/ID,
 * or NULL (with a reason in errbuf) when arguments are invalid or the
 * ZooKeeper handle cannot be made. Nothing is written before the first
 * gateway_registry_set. base is borrowed and must outlive the registry. */
struct gateway_registry *gateway_registry_new(struct event_base *base, const char *hosts,
                                              const char *root, const char *gateway_id,
                                              int session_timeout_ms, char *errbuf,
                                              size_t errlen);

/* Records the content the znode should hold and writes it when it can.
 * addr and dead_csv (comma-separated node ids, may be NULL or "") are
 * copied; epoch is GATEWAY_REGISTRY_NO_EPOCH before a ring was applied. A
 * content equal to the last one recorded writes nothing. NULL registry does
 * nothing. */
void gateway_registry_set(struct gateway_registry *reg, const char *addr, uint64_t epoch,
                          uint64_t pending, const char *dead_csv);

/* Records the internal port's address (copied; NULL or "" leaves the field
 * out), the open sessions and the pushes per second to show with the line,
 * and writes it when it changed. The caller calls it every few seconds at
 * most: each change is a ZooKeeper write. NULL registry does nothing. */
void gateway_registry_set_stats(struct gateway_registry *reg, const char *admin_addr,
                                uint64_t sessions, uint64_t pushes_per_s);

/* A registration line, parsed. Numbers are -1 and strings "" when absent. */
struct gateway_registration {
    char addr[RING_ADDR_MAX + 1];
    char admin[RING_ADDR_MAX + 1];
    char dead[GATEWAY_REGISTRY_LINE_MAX]; /* comma-separated node ids */
    long long epoch;
    long long pending;
    long long sessions;
    long long pushes_per_s;
};

/* Parses one znode's content (NUL-terminated) into *out; unknown keys and
 * malformed numbers are skipped. Cannot fail. */
void gateway_registry_parse(const char *line, struct gateway_registration *out);

/* Returns the ZooKeeper session id of the current session (0 if none). */
int64_t gateway_registry_session_id(const struct gateway_registry *reg);

/* Closes the session, which makes ZooKeeper delete the ephemeral znode at
 * once (when the server cannot be reached, it goes when the session times
 * out), and frees the registry; NULL does nothing. */
void gateway_registry_free(struct gateway_registry *reg);

#endif
