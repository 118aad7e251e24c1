/* gateway_list.h: read every gateway's registration (ROOT/gateways/<id>) from a libevent loop, read-only.
 *
 * For a gateway's admin page, which shows its peers as `ringctl status`
 * does: one read lists the children of ROOT/gateways and gets each child's
 * line (gateway_registry.h), one request at a time, issued from the loop
 * thread; ZooKeeper's completions are handed over to the loop (zk_session),
 * nothing is watched and nothing is written.
 *
 * The list has its own ZooKeeper session, opened by the first read and kept
 * from then on, so that a gateway whose admin page nobody opens costs
 * ZooKeeper nothing. While the session is down a read waits; when it expires
 * the read starts over in the next session. The caller bounds how long it
 * waits (the admin page answers from its last result after a while).
 *
 * Ownership: the list owns its session and the entries it hands to the
 * callback, which are valid only during the call. The callback must not free
 * the list.
 */
#ifndef NEARBY_GATEWAY_LIST_H
#define NEARBY_GATEWAY_LIST_H

#include <stddef.h>

#include <event2/event.h>

#include "gateway_registry.h"
#include "ring.h"

enum gateway_list_err {
    GATEWAY_LIST_OK = 0,
    GATEWAY_LIST_ERR_NOMEM = -1,
    GATEWAY_LIST_ERR_ZK = -2,  /* ZooKeeper refused a request (see errstr) */
    GATEWAY_LIST_ERR_BUSY = -3, /* a read is in flight: its answer will come */
};

/* One registered gateway. */
struct gateway_list_entry {
    char id[RING_ID_MAX + 1];
    struct gateway_registration reg;
};

/* Called on the loop thread when a read is over: err is GATEWAY_LIST_OK
 * with entries[0..count) in the order ZooKeeper listed them (a gateway that
 * went away between the listing and its get is left out), or an error with
 * count 0. */
typedef void (*gateway_list_cb)(void *arg, int err, const struct gateway_list_entry *entries,
                                size_t count);

struct gateway_list;

/* Returns a list that will read ROOT/gateways on hosts, calling cb(arg, ...)
 * after each read; or NULL with a reason in errbuf when an argument is
 * invalid or memory runs out. Connects nothing yet. base is borrowed and
 * must outlive the list. */
struct gateway_list *gateway_list_new(struct event_base *base, const char *hosts,
                                      const char *root, int session_timeout_ms,
                                      gateway_list_cb cb, void *arg, char *errbuf,
                                      size_t errlen);

/* Starts a read (opening the session the first time). Returns 0,
 * GATEWAY_LIST_ERR_BUSY when one is in flight already, or
 * GATEWAY_LIST_ERR_ZK when no ZooKeeper client can be made (see errstr). */
int gateway_list_read(struct gateway_list *gl);

/* Returns the reason for the last error, or "". */
const char *gateway_list_errstr(const struct gateway_list *gl);

/* Closes the session and frees the list; a read in flight is dropped
 * without a callback. NULL does nothing. Not from inside the callback. */
void gateway_list_free(struct gateway_list *gl);

#endif
