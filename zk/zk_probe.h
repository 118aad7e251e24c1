/* zk_probe.h: say why no ZooKeeper session could be made, by asking each server of a connect string what it does.
 *
 * The ZooKeeper client only ever says "not connected". An operator needs to
 * know more: is nothing running, is one server hung, or do the servers run
 * without a quorum (a majority of the ensemble down: the survivors answer
 * but serve no requests)? Each server is asked the four-letter word `srvr`
 * on a connection of its own, bounded in time; the server must allow it
 * (4lw.commands.whitelist, as scripts/zookeeper sets).
 *
 * Blocking, for tools (ringctl, the autopilot's start-up), never for a
 * gateway's loop. Nothing here allocates; no state is kept.
 */
#ifndef NEARBY_ZK_PROBE_H
#define NEARBY_ZK_PROBE_H

#include <stddef.h>

/* The longest "host:port" of one server that is probed. */
#define ZK_PROBE_ADDR_MAX 262

/* The most servers of one connect string that are probed; more are named
 * in no message. */
#define ZK_PROBE_SERVERS_MAX 16

enum zk_probe_state {
    ZK_PROBE_SERVING,     /* srvr reports a mode: leader, follower, standalone, ... */
    ZK_PROBE_NO_QUORUM,   /* it runs but "is not currently serving requests" */
    ZK_PROBE_SILENT,      /* it accepts a connection and says nothing in time */
    ZK_PROBE_REFUSED,     /* connection refused: nothing listens there */
    ZK_PROBE_UNREACHABLE, /* no route, no answer to connect, or the name does not resolve */
    ZK_PROBE_OTHER,       /* it answered something else (srvr not allowed there?) */
};

/* Classifies what a server answered to srvr (len bytes, not necessarily
 * NUL-terminated). When it serves, writes its mode ("leader") into mode
 * (modelen bytes, may be 0); otherwise mode is left as it is. Never fails. */
enum zk_probe_state zk_probe_classify(const char *answer, size_t len, char *mode,
                                      size_t modelen);

/* Asks the server at addr ("host:port", IPv6 as "[addr]:port") srvr, for at
 * most timeout_ms in all. Returns its state; writes its mode as
 * zk_probe_classify does. */
enum zk_probe_state zk_probe_server(const char *addr, int timeout_ms, char *mode,
                                    size_t modelen);

/* Writes into errbuf (errlen bytes, NUL-terminated; nothing when NULL or 0)
 * why no session could be made with hosts ("h1:p1,h2:p2", an optional
 * "/chroot" suffix is ignored) in waited_ms, after probing each server for
 * at most probe_ms: "ZooKeeper has no quorum at HOSTS (...)" when some
 * server runs without serving and none serves, "ZooKeeper is unreachable at
 * HOSTS (...)" when none answers; then each server's state, and what to do. */
void zk_probe_explain(const char *hosts, int waited_ms, int probe_ms, char *errbuf,
                      size_t errlen);

#endif
