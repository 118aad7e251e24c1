/* gateway.h: nearby-gateway as one object on a libevent loop: build it, run the loop, drain it on SIGTERM. */
#ifndef NEARBY_GATEWAY_H
#define NEARBY_GATEWAY_H

#include <event2/event.h>

#include "config.h"

struct gateway;

/* Builds every part (listener, ZooKeeper ring watcher, location cache,
 * PostgreSQL, history writer) on base; connections are made in the
 * background and /healthz says when all are up. Returns NULL with the reason
 * in errbuf when the port cannot be bound or memory runs out. cfg is copied. */
struct gateway *gateway_new(struct event_base *base, const struct gateway_config *cfg,
                            char *errbuf, size_t errlen);

/* Starts the graceful stop: /healthz answers 503, the listener closes, open
 * sessions are closed with 1001 spread over cfg->drain_seconds. The loop
 * exits once the last session is gone. Idempotent. */
void gateway_drain(struct gateway *gw);

/* After the loop has exited: writes the queued history (bounded by
 * timeout_ms). Returns 0 when everything was written. */
int gateway_flush_history(struct gateway *gw, int timeout_ms);

/* Frees everything; NULL does nothing. Not from inside the loop's callbacks. */
void gateway_free(struct gateway *gw);

#endif
