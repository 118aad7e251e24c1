/* leader.h: elect one acting `ringctl autopilot` among several through ZooKeeper.
 *
 * The standard recipe: each process keeps an ephemeral sequential znode
 * ROOT/autopilot/candidate-NNNNNNNNNN (holding "host=H pid=P") in its own
 * session; the lowest sequence number leads. Nobody watches: the daemon polls
 * leader_poll every interval, which lists the candidates (one
 * zoo_get_children) and keeps the session:
 *
 * - a session the server expired, or one disconnected for longer than its
 *   timeout, is closed and a new one opened (a standalone server that
 *   restarts revives old sessions, so it may never say "expired"); the new
 *   session deletes the candidate of the old one, which could otherwise lead
 *   from beyond the grave until the server lets it time out;
 * - while not connected the role is LEADER_NONE: a leader that cannot reach
 *   ZooKeeper may already have been replaced, and could not write anyway.
 *
 * A process that dies without closing its session (kill -9) stays leader
 * until the server expires the session: the takeover time is the session
 * timeout. leader_free closes the session, so a clean exit hands over at
 * once.
 *
 * Blocking: leader_poll uses ZooKeeper's synchronous calls and may wait up
 * to connect_ms to open a session. Transitions (leader, follower of whom,
 * session lost) are reported through the log callback.
 */
#ifndef NEARBY_LEADER_H
#define NEARBY_LEADER_H

#include <stddef.h>

#include <zookeeper/zookeeper.h>

#define LEADER_DIR "autopilot"
#define LEADER_PREFIX "candidate-"

enum leader_role {
    LEADER_NONE,     /* no session, or not a candidate (yet) */
    LEADER_FOLLOWER, /* a candidate with a lower sequence exists */
    LEADER_LEADER,   /* the lowest candidate: act */
};

struct leader_config {
    const char *hosts;  /* ZooKeeper servers */
    const char *root;   /* nearby's root znode, e.g. /nearby */
    int connect_ms;     /* give up one attempt to open a session after this long */
    int session_ms;     /* session timeout to ask for */
    int observer;       /* keep a session but never stand: a dry run must not take
                           the lead from an autopilot that acts */
    void (*log)(void *arg, const char *msg); /* a transition, one line without newline */
    void *log_arg;
};

struct leader;

/* Returns an elector with copies of cfg's strings, or NULL when out of
 * memory or root is not an absolute path. Opens nothing yet. */
struct leader *leader_new(const struct leader_config *cfg);

/* Closes the session (the candidate znode goes at once) and frees l; NULL
 * does nothing. */
void leader_free(struct leader *l);

/* Keeps the session and the candidate and returns the role now. Failures
 * (ZooKeeper down, a request failing) give LEADER_NONE and are retried on
 * the next call. */
enum leader_role leader_poll(struct leader *l);

/* Returns the connected handle of the current session (borrowed, valid
 * until the next leader_poll or leader_free), or NULL. */
zhandle_t *leader_handle(const struct leader *l);

/* The pure part: among names (count of them, children of ROOT/autopilot),
 * those "candidate-<digits>" are candidates, ordered by their number.
 * Returns LEADER_LEADER when own is the lowest, LEADER_FOLLOWER when it is
 * a candidate but not the lowest, LEADER_NONE when own is not among them.
 * *lowest (may be NULL) gets the lowest candidate's name (borrowed from
 * names), or NULL when there is none. */
enum leader_role leader_rank(char *const *names, size_t count, const char *own,
                             const char **lowest);

#endif
